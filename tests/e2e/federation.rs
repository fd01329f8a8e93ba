//! Federation: several `cordon serve` processes share one real `redis-server` (started
//! here, AOF on). Jobs run exactly once by their result, spread over the hosts; a host
//! killed with SIGKILL loses nothing; Redis restarting loses nothing acknowledged; a job
//! that keeps killing its hosts, or tries to escape, lands in quarantine.

use super::*;
use cordon_federation::testing::RedisServer;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc;

/// Hosts sharing one Redis and one token database.
struct Federation {
    redis: RedisServer,
    identity: tempfile::TempDir,
    /// A developer and an admin of tenant `acme`.
    developer: String,
    admin: String,
}

/// One host: its data directory (audit log) and its server.
struct Member {
    env: Env,
    server: Server,
    id: String,
}

impl Federation {
    fn start() -> Option<Federation> {
        let redis = RedisServer::start()?;
        let identity = tempfile::tempdir().unwrap();
        let mut fed = Federation {
            redis,
            identity,
            developer: String::new(),
            admin: String::new(),
        };
        let env = Env::new();
        fed.developer = fed.token(&env, "developer");
        fed.admin = fed.token(&env, "admin");
        Some(fed)
    }

    fn identity_db(&self) -> PathBuf {
        self.identity.path().join("identity.db")
    }

    fn token(&self, env: &Env, role: &str) -> String {
        let out = env
            .cordon()
            .env("CORDON_IDENTITY_DB", self.identity_db())
            .args(["token", "create", "--tenant", "acme", "--role", role])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned()
    }

    /// Starts a host named `id` serving the catalog `tools`, with `config` (TOML) if any.
    fn host(&self, id: &str, tools: &Path, config: &str) -> Member {
        let env = Env::new();
        let config_path = env.data.path().join("cordon.toml");
        std::fs::write(&config_path, config).unwrap();
        let addr = free_local_addr();
        let mut child = env
            .cordon()
            .env("CORDON_TOOLS_DIR", tools)
            .env("CORDON_IDENTITY_DB", self.identity_db())
            .arg("--config")
            .arg(&config_path)
            .args([
                "serve",
                "--listen",
                &addr,
                "--redis",
                &self.redis.url(),
                "--host-id",
                id,
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = lines.next().unwrap().unwrap();
        assert!(banner.contains("cordon serving on"), "{banner}");
        std::thread::spawn(move || for _ in lines {});
        let server = Server {
            child,
            addr,
            token: self.developer.clone(),
        };
        Member {
            env,
            server,
            id: id.to_owned(),
        }
    }
}

impl Member {
    /// SIGKILL: no drain, no goodbye to Redis.
    fn kill(&mut self) {
        self.server.child.kill().unwrap();
        self.server.child.wait().unwrap();
    }

    /// Request ids of this host's audit records for `tool`.
    fn audited(&self, tool: &str) -> Vec<String> {
        audit_records(&self.env, &["--tool", tool, "--limit", "100000"])
            .iter()
            .filter_map(|r| r["request_id"].as_str().map(str::to_owned))
            .collect()
    }
}

fn submit(host: &Server, body: &Value) -> (u16, Value) {
    host.call("POST", "/v1/jobs", Some(body))
}

fn sentiment(i: usize) -> Value {
    json!({"tool": "text-analysis", "function": "sentiment",
           "args": {"text": format!("job {i} is great")}})
}

/// Waits (long polling) until the job has finished; panics past `limit`.
fn finished(host: &Server, id: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, job) = host.call("GET", &format!("/v1/jobs/{id}?wait_ms=5000"), None);
        assert_eq!(status, 200, "{job}");
        if !matches!(job["status"].as_str(), Some("queued" | "running")) {
            return job;
        }
        assert!(Instant::now() < deadline, "{id} still {}", job["status"]);
    }
}

/// A catalog with the first-party tools and the hostile fixture as `sleepy`.
fn catalog_with_sleepy(timeout: &str) -> tempfile::TempDir {
    let tools = catalog_with_hostile();
    add_tool(
        tools.path(),
        "sleepy",
        Some("hostile.wasm"),
        &format!("[capabilities]\nscratch = true\n[limits]\ntimeout = \"{timeout}\"\n"),
    );
    tools
}

#[test]
fn three_hosts_run_a_thousand_jobs_exactly_once_spread_over_all_three() {
    let Some(fed) = Federation::start() else {
        return;
    };
    let tools = tools_dir();
    let only_c = catalog_with_sleepy("5s");
    let hosts = [
        fed.host("host-a", &tools, ""),
        fed.host("host-b", &tools, ""),
        fed.host("host-c", only_c.path(), ""),
    ];
    let ids: Vec<String> = (0..1000)
        .map(|i| {
            let (status, v) = submit(&hosts[i % 3].server, &sentiment(i));
            assert_eq!(status, 202, "{v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut per_host: HashMap<String, usize> = HashMap::new();
    let mut request_ids = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        let job = finished(&hosts[(i + 1) % 3].server, id, Duration::from_secs(120));
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["result"]["label"], "positive");
        assert_eq!(job["attempts"], 1, "{job}");
        *per_host
            .entry(job["host"].as_str().unwrap().to_owned())
            .or_default() += 1;
        request_ids.insert(job["receipt"]["request_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(request_ids.len(), 1000, "one receipt per job");
    assert_eq!(per_host.len(), 3, "spread over every host: {per_host:?}");
    // Exactly once: each job's call is in exactly one host's audit log, once.
    let audited: Vec<String> = hosts
        .iter()
        .flat_map(|h| h.audited("text-analysis"))
        .collect();
    assert_eq!(audited.len(), 1000, "calls audited across the hosts");
    assert_eq!(audited.into_iter().collect::<HashSet<_>>(), request_ids);

    // A tool only host-c carries may be submitted anywhere and runs on host-c.
    let (status, v) = submit(
        &hosts[0].server,
        &json!({"tool": "sleepy", "function": "sleep", "args": {"millis": 1}}),
    );
    assert_eq!(status, 202, "{v}");
    let job = finished(
        &hosts[1].server,
        v["id"].as_str().unwrap(),
        Duration::from_secs(30),
    );
    assert_eq!(
        (job["status"].as_str(), job["host"].as_str()),
        (Some("succeeded"), Some("host-c"))
    );
    let (status, v) = submit(&hosts[0].server, &json!({"tool": "nowhere"}));
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // An idempotency key names the same job on every host.
    let keyed = json!({"tool": "text-analysis", "function": "sentiment",
                       "args": {"text": "fine"}, "idempotency_key": "once"});
    let (first, a) = submit(&hosts[0].server, &keyed);
    let (again, b) = submit(&hosts[2].server, &keyed);
    assert_eq!((first, again), (202, 200));
    assert_eq!(a["id"], b["id"]);

    // Every host is listed, with the tools it carries; admins only.
    let (status, v) = http(
        &hosts[1].server.addr,
        "GET",
        "/v1/hosts",
        None,
        Some(&fed.admin),
    );
    assert_eq!(status, 200, "{v}");
    let listed: Vec<&str> = v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["host-a", "host-b", "host-c"]);
    assert!(
        v["hosts"][2]["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("sleepy"))
    );
    assert!(
        !v["hosts"][0]["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("sleepy"))
    );
    assert_eq!(hosts[1].server.call("GET", "/v1/hosts", None).0, 403);
    let out = hosts[0]
        .env
        .cordon()
        .args(["hosts", "--redis", &fed.redis.url()])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out).as_array().map(Vec::len), Some(3));
}

#[test]
fn jobs_held_by_a_host_killed_with_sigkill_finish_on_the_others_within_30_s() {
    let Some(fed) = Federation::start() else {
        return;
    };
    let tools = catalog_with_sleepy("10s");
    let mut hosts = [
        fed.host("victim", tools.path(), ""),
        fed.host("survivor-1", tools.path(), ""),
        fed.host("survivor-2", tools.path(), ""),
    ];
    let sleep = json!({"tool": "sleepy", "function": "sleep", "args": {"millis": 2000}});
    let ids: Vec<String> = (0..24)
        .map(|i| {
            let (status, v) = submit(&hosts[i % 3].server, &sleep);
            assert_eq!(status, 202, "{v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    // Wait until the victim is running some of them, then kill it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let held: Vec<String> = loop {
        let held: Vec<String> = (ids.iter())
            .filter(|id| {
                let (_, job) = hosts[1].server.call("GET", &format!("/v1/jobs/{id}"), None);
                job["status"] == "running" && job["host"] == "victim"
            })
            .cloned()
            .collect();
        if !held.is_empty() {
            break held;
        }
        assert!(Instant::now() < deadline, "the victim never ran a job");
        std::thread::sleep(Duration::from_millis(50));
    };
    hosts[0].kill();
    let killed = Instant::now();
    for id in &ids {
        let job = finished(&hosts[1].server, id, Duration::from_secs(60));
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    let recovered = killed.elapsed();
    let mut taken_over = 0;
    for id in &ids {
        let (_, job) = hosts[2].server.call("GET", &format!("/v1/jobs/{id}"), None);
        if job["attempts"] == 2 {
            assert_ne!(job["host"], "victim", "{job}");
            taken_over += 1;
        }
    }
    println!(
        "{taken_over} jobs taken over from the killed host; all done {recovered:?} after the kill"
    );
    assert!(taken_over >= 1, "the victim held {held:?} when it died");
    assert!(recovered < Duration::from_secs(30), "{recovered:?}");
}

#[test]
fn restarting_redis_loses_no_acknowledged_job() {
    let Some(mut fed) = Federation::start() else {
        return;
    };
    let tools = tools_dir();
    let hosts = [fed.host("one", &tools, ""), fed.host("two", &tools, "")];
    let (tx, rx) = mpsc::channel();
    let (addrs, token) = (
        [hosts[0].server.addr.clone(), hosts[1].server.addr.clone()],
        fed.developer.clone(),
    );
    let submitter = std::thread::spawn(move || {
        let (mut accepted, mut refused) = (Vec::new(), 0);
        for i in 0..600 {
            let (status, v) = http(
                &addrs[i % 2],
                "POST",
                "/v1/jobs",
                Some(&sentiment(i)),
                Some(&token),
            );
            match status {
                202 => accepted.push(v["id"].as_str().unwrap().to_owned()),
                503 => {
                    assert_eq!(v["error"]["code"], "unavailable", "{v}");
                    refused += 1;
                }
                _ => panic!("{status}: {v}"),
            }
            if i == 150 {
                tx.send(()).unwrap();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (accepted, refused)
    });
    rx.recv().unwrap();
    fed.redis.stop();
    // While Redis is down, a submission fails fast with 503.
    let started = Instant::now();
    let (status, v) = submit(&hosts[0].server, &sentiment(0));
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{v}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(500));
    fed.redis.restart();
    let (accepted, refused) = submitter.join().unwrap();
    println!(
        "{} jobs accepted, {refused} refused with 503 while Redis was down",
        accepted.len()
    );
    for id in &accepted {
        let job = finished(&hosts[(id.len()) % 2].server, id, Duration::from_secs(60));
        assert_eq!(job["status"], "succeeded", "{job}");
    }
}

#[test]
fn a_job_that_keeps_killing_its_hosts_or_tries_to_escape_is_quarantined() {
    let Some(fed) = Federation::start() else {
        return;
    };
    let tools = catalog_with_sleepy("25s");
    let config = "[federation]\nlease = \"2s\"\nmax_attempts = 2\n";
    let mut hosts = [
        fed.host("h1", tools.path(), config),
        fed.host("h2", tools.path(), config),
        fed.host("h3", tools.path(), config),
    ];
    let (status, v) = submit(
        &hosts[0].server,
        &json!({"tool": "sleepy", "function": "sleep", "args": {"millis": 20000}}),
    );
    assert_eq!(status, 202, "{v}");
    let poison = v["id"].as_str().unwrap().to_owned();
    // Kill whichever host runs it, twice.
    for attempt in 1..=2 {
        let deadline = Instant::now() + Duration::from_secs(20);
        let runner = loop {
            let alive = (hosts.iter_mut())
                .position(|h| h.server.child.try_wait().unwrap().is_none())
                .unwrap();
            let (_, job) = hosts[alive]
                .server
                .call("GET", &format!("/v1/jobs/{poison}"), None);
            if job["status"] == "running" && job["attempts"] == attempt {
                break job["host"].as_str().unwrap().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "attempt {attempt} never started: {job}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        hosts.iter_mut().find(|h| h.id == runner).unwrap().kill();
    }
    let alive = (hosts.iter_mut())
        .position(|h| h.server.child.try_wait().unwrap().is_none())
        .unwrap();
    let last = &hosts[alive];
    let job = finished(&last.server, &poison, Duration::from_secs(20));
    assert_eq!(job["status"], "quarantined", "{job}");
    assert_eq!(job["attempts"], 2);
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("started 2 times"),
        "{job}"
    );
    // Not retried: it stays quarantined while leases come and go.
    std::thread::sleep(Duration::from_secs(5));
    let (_, job) = last.server.call("GET", &format!("/v1/jobs/{poison}"), None);
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_u64()),
        (Some("quarantined"), Some(2))
    );

    // A job that tries to escape is quarantined at once, with its code.
    let (status, v) = submit(
        &last.server,
        &json!({"tool": "sleepy", "function": "open-raw", "args": {"path": "../../../etc/passwd"}}),
    );
    assert_eq!(status, 202, "{v}");
    let escaper = v["id"].as_str().unwrap().to_owned();
    let job = finished(&last.server, &escaper, Duration::from_secs(20));
    assert_eq!(
        (job["status"].as_str(), job["error"]["code"].as_str()),
        (Some("quarantined"), Some("path_escape")),
        "{job}"
    );

    // The operator's view: admins only; the CLI reads Redis directly.
    let admin =
        |method: &str, path: &str| http(&last.server.addr, method, path, None, Some(&fed.admin));
    assert_eq!(last.server.call("GET", "/v1/quarantine", None).0, 403);
    let (status, v) = admin("GET", "/v1/quarantine");
    assert_eq!(status, 200, "{v}");
    let listed: Vec<&str> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [poison.as_str(), escaper.as_str()]);
    let out = last
        .env
        .cordon()
        .args(["quarantine", "list", "--redis", &fed.redis.url()])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out).as_array().map(Vec::len), Some(2));

    // Released, the escaper runs once more and its outcome stands; discarded, the poison is gone.
    let (status, v) = admin("POST", &format!("/v1/quarantine/{escaper}/release"));
    assert_eq!(
        (status, v["action"].as_str()),
        (200, Some("released")),
        "{v}"
    );
    let job = finished(&last.server, &escaper, Duration::from_secs(20));
    assert_eq!(
        (job["status"].as_str(), job["error"]["code"].as_str()),
        (Some("failed"), Some("path_escape")),
        "{job}"
    );
    let (status, v) = admin("DELETE", &format!("/v1/quarantine/{poison}"));
    assert_eq!(
        (status, v["action"].as_str()),
        (200, Some("discarded")),
        "{v}"
    );
    assert_eq!(
        last.server
            .call("GET", &format!("/v1/jobs/{poison}"), None)
            .0,
        404
    );
    assert_eq!(admin("DELETE", &format!("/v1/quarantine/{poison}")).0, 404);
    assert_eq!(admin("GET", "/v1/quarantine").1["jobs"], json!([]));
}
