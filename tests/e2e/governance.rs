//! Policy, identity and audit through the real binary: refusals with reasons, tokens,
//! admission, decisions at use, the audit trail and its verification, hot policy reloads.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn audit_json(env: &Env, args: &[&str]) -> Vec<Value> {
    let out = env
        .cordon()
        .arg("audit")
        .args(args)
        .arg("--json")
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
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verify(env: &Env) -> Output {
    env.cordon().args(["audit", "verify"]).output().unwrap()
}

#[test]
fn a_guest_writing_is_refused_with_the_reason_and_the_refusal_is_audited() {
    let env = Env::new();
    let rw = env.dir("rw");
    let write = [
        "fs",
        "--fn",
        "write-file",
        "--json",
        r#"{"path":"out.txt","contents":"x"}"#,
        "--dir",
        &rw,
    ];
    let mut as_guest = write.to_vec();
    as_guest.extend(["--tenant", "acme", "--role", "guest"]);
    let out = env.run(&as_guest);
    assert_eq!(out.status.code(), Some(3));
    let e = error_json(&out);
    assert_eq!(e["code"], json!("policy_denied"));
    assert_eq!(
        e["message"],
        json!(
            r#"denied by policy: role ["guest"] has no "write" permission on tool "fs", which function "files#write-file" needs"#
        )
    );
    assert!(e["request_id"].as_str().unwrap().starts_with("req_"));
    assert_eq!(e["trace_id"].as_str().unwrap().len(), 32);
    assert!(!env.ws.path().join("out.txt").exists());

    // A developer may write; the local default (admin) may too.
    let mut as_dev = write.to_vec();
    as_dev.extend(["--tenant", "acme", "--role", "developer"]);
    assert_eq!(stdout_json(&env.run(&as_dev)), json!(1));
    assert_eq!(stdout_json(&env.run(&write)), json!(1));

    let denied = audit_json(&env, &["query", "--outcome", "policy_denied"]);
    assert_eq!(denied.len(), 1);
    let r = &denied[0];
    assert_eq!(r["tenant"], json!("acme"));
    assert_eq!(r["tool"], json!("fs"));
    assert_eq!(r["function"], json!("files#write-file"));
    assert_eq!(r["allowed"], json!(false));
    assert_eq!(r["request_id"], e["request_id"]);
    assert!(
        r["reasons"][0]
            .as_str()
            .unwrap()
            .contains("no \"write\" permission")
    );
    assert_eq!(r["policy_hash"].as_str().unwrap().len(), 64);
    assert_eq!(r["args_digest"].as_str().unwrap().len(), 64);
    assert!(
        r.get("arguments").is_none(),
        "raw arguments are off by default"
    );
    let all = audit_json(&env, &["tail", "-n", "10"]);
    assert_eq!(all.len(), 3);
    assert_eq!(all[2]["outcome"], json!("ok"));
    assert_eq!(all[2]["tenant"], json!("local"));
    assert!(all[2]["fuel_used"].as_u64().unwrap() > 0);
    let out = verify(&env);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: 3 records verified"));
}

#[test]
fn path_arguments_are_refused_before_the_call_counted_and_audited() {
    let env = Env::new();
    let ro = env.dir("ro");
    for (path, kind) in [
        ("../../etc/passwd", "path_traversal"),
        ("/etc/passwd", "sensitive_path"),
        ("/proc/self/environ", "sensitive_path"),
        ("/srv/elsewhere", "absolute_path"),
    ] {
        let args = json!({ "path": path }).to_string();
        let out = env.run(&["fs", "--fn", "read-file", "--json", &args, "--dir", &ro]);
        assert_eq!(out.status.code(), Some(3), "{path}");
        let e = error_json(&out);
        assert_eq!(e["code"], json!("path_escape"), "{path}");
        assert_eq!(e["violations"][0]["kind"], json!(kind), "{path}");
        assert_eq!(e["receipt"]["fuel_used"], json!(0), "{path}: nothing ran");
    }
    let escapes = audit_json(&env, &["query", "--outcome", "path_escape"]);
    assert_eq!(escapes.len(), 4);
    assert_eq!(escapes[1]["violations"][0]["path"], json!("/etc/passwd"));
}

#[test]
fn tokens_authenticate_until_revoked_and_are_never_listed() {
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    let guest = create_token(&env, "beta", "guest");
    let (status, v) = http(
        &server.addr,
        "POST",
        "/v1/tools/text-analysis/call",
        Some(&json!({"function": "sentiment", "arguments": {"text": "great"}})),
        Some(&guest),
    );
    assert_eq!(status, 200, "{v}");
    let list = env
        .cordon()
        .args(["token", "list", "--json"])
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert_eq!(list.lines().count(), 2);
    assert!(!list.contains(&guest) && !list.contains(&server.token));
    let id = list
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|t| t["tenant"] == json!("beta"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = env
        .cordon()
        .args(["token", "revoke", &id])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (status, v) = http(&server.addr, "GET", "/v1/tools", None, Some(&guest));
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (401, json!("unauthenticated"))
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("revoked"));
    // The same token on the CLI is refused the same way.
    let out = env.run(&[
        "text-analysis",
        "--fn",
        "sentiment",
        "--json",
        r#"{"text":"x"}"#,
        "--token",
        &guest,
    ]);
    assert_eq!(error_json(&out)["code"], json!("unauthenticated"));
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn tools_that_policy_could_never_run_are_refused_when_added() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    add_tool(dir.path(), "raw-net", Some("sockets.wasm"), "");
    add_tool(
        dir.path(),
        "net",
        None,
        "[native]\ncommand = \"/usr/bin/curl\"\n",
    );
    let run = |tool: &str| {
        env.cordon()
            .env("CORDON_TOOLS_DIR", dir.path())
            .args(["run", tool, "--json", "{}"])
            .output()
            .unwrap()
    };
    let out = run("raw-net");
    let e = error_json(&out);
    assert_eq!(e["code"], json!("policy_denied"));
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains(r#"tool "raw-net" imports wasi:sockets/"#),
        "{message}"
    );
    let out = run("net");
    let e = error_json(&out);
    assert_eq!(e["code"], json!("policy_denied"));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(r#"Blocked tool "curl" in tool "net""#),
        "{e}"
    );
    // The catalog lists neither.
    let out = env
        .cordon()
        .env("CORDON_TOOLS_DIR", dir.path())
        .args(["tools", "list"])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out)["tools"], json!([]));
}

#[test]
fn outbound_http_is_decided_at_use_and_refusals_are_audited() {
    let env = Env::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
        }
    });
    let net = fixture("net.wasm");
    let net = net.to_str().unwrap();
    let url = json!({ "url": format!("http://127.0.0.1:{port}/") }).to_string();
    let allow = format!("http://127.0.0.1:{port}");
    let out = env.run(&[net, "--fn", "fetch", "--json", &url, "--allow-host", &allow]);
    assert_eq!(stdout_json(&out), json!("200 hi"));
    let out = env.run(&[net, "--fn", "fetch", "--json", &url]);
    assert_eq!(out.status.code(), Some(3));
    let e = error_json(&out);
    assert_eq!(e["code"], json!("network_denied"));
    assert_eq!(e["violations"][0]["kind"], json!("network_egress"));
    let denied = audit_json(&env, &["query", "--outcome", "network_denied"]);
    assert_eq!(denied[0]["violations"][0]["kind"], json!("network_egress"));
}

#[test]
fn audit_verify_names_the_first_tampered_record() {
    let env = Env::new();
    for _ in 0..5 {
        stdout_json(&env.run(&[
            "text-analysis",
            "--fn",
            "sentiment",
            "--json",
            r#"{"text":"fine"}"#,
        ]));
    }
    assert!(verify(&env).status.success());
    let db = rusqlite::Connection::open(env.data.path().join("audit.db")).unwrap();
    db.execute("UPDATE audit SET body = replace(body, '\"outcome\":\"ok\"', '\"outcome\":\"oops\"') WHERE seq = 3", [])
        .unwrap();
    drop(db);
    let out = verify(&env);
    assert_eq!(out.status.code(), Some(1));
    let e = error_json(&out);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("audit chain broken at record 3"),
        "{e}"
    );
}

#[test]
fn policy_test_passes_on_the_shipped_policies_and_fails_on_a_broken_test() {
    let env = Env::new();
    let shipped = repo().join("policies");
    let out = env
        .cordon()
        .args(["policy", "test"])
        .arg(&shipped)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("PASS  cordon_test.test_guest_may_not_write"),
        "{stdout}"
    );
    assert!(
        stdout.lines().last().unwrap().starts_with("PASS: "),
        "{stdout}"
    );

    let broken = tempfile::tempdir().unwrap();
    for f in ["cordon.rego", "cordon_test.rego", "data.json"] {
        std::fs::copy(shipped.join(f), broken.path().join(f)).unwrap();
    }
    std::fs::write(
        broken.path().join("wrong_test.rego"),
        "package wrong_test\nimport rego.v1\nimport data.cordon\n\
         test_guest_may_write if cordon.decision.allow with input as {\"principal\": {\"roles\": [\"guest\"]}}\n",
    )
    .unwrap();
    let out = env
        .cordon()
        .args(["policy", "test"])
        .arg(broken.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  wrong_test.test_guest_may_write"),
        "{stdout}"
    );
}

#[test]
fn policy_eval_prints_the_decision_for_an_input() {
    let env = Env::new();
    let input = env.data.path().join("input.json");
    std::fs::write(
        &input,
        json!({
            "principal": {"tenant": "acme", "subject": "a", "roles": ["guest"]},
            "tool": {"name": "fs", "function": "files#read-file", "registered": true},
            "arguments": {"path": "/etc/passwd"},
            "request": {"dirs": [], "env": [], "scratch": null, "hosts": [], "limits": {}}
        })
        .to_string(),
    )
    .unwrap();
    let out = env
        .cordon()
        .args(["policy", "eval", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    let v = stdout_json(&out);
    assert_eq!(v["allow"], json!(false));
    assert_eq!(v["violations"][0]["kind"], json!("sensitive_path"));
    assert_eq!(v["policy_hash"].as_str().unwrap().len(), 64);
}

/// Editing the policy while 1,000 calls run: later calls see the new decision, none fails
/// for any other reason, and a broken edit changes nothing.
#[test]
fn policy_edits_under_load_change_later_decisions_and_fail_no_call() {
    let env = Env::new();
    let policies = tempfile::tempdir().unwrap();
    let shipped = repo().join("policies");
    for f in ["cordon.rego", "cordon_test.rego", "data.json"] {
        std::fs::copy(shipped.join(f), policies.path().join(f)).unwrap();
    }
    let server = serve_with(
        &env,
        &tools_dir(),
        &["--policy-dir", policies.path().to_str().unwrap()],
    );
    let server = std::sync::Arc::new(server);
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let denied_seen = std::sync::Arc::new(AtomicBool::new(false));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    // Workers stop when this test ends, even by a failed assertion.
    struct StopOnDrop(std::sync::Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _stop_workers = StopOnDrop(stop.clone());
    // Workers call until told to stop; the main thread edits the policy meanwhile.
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (server, calls) = (server.clone(), calls.clone());
            let (denied_seen, stop) = (denied_seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let (status, v) = server.call(
                        "POST",
                        "/v1/tools/text-analysis/call",
                        Some(
                            &json!({"function": "sentiment", "arguments": {"text": "a good day"}}),
                        ),
                    );
                    let outcome = match status {
                        200 => "ok",
                        403 if v["error"]["code"] == json!("policy_denied") => {
                            denied_seen.store(true, Ordering::Relaxed);
                            "denied"
                        }
                        _ => panic!("call failed: {status} {v}"),
                    };
                    seen.push(outcome);
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    // After 200 calls, break the policy, and give the watcher time to see (and reject) it
    // while calls go on; then take text-analysis away from developers.
    wait_for("200 calls", &|| calls.load(Ordering::Relaxed) >= 200);
    std::fs::write(
        policies.path().join("cordon.rego"),
        "package cordon\nallow if {",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let before_change = calls.load(Ordering::Relaxed);
    std::fs::copy(
        shipped.join("cordon.rego"),
        policies.path().join("cordon.rego"),
    )
    .unwrap();
    let data = std::fs::read_to_string(shipped.join("data.json")).unwrap();
    let data = data.replace(
        r#""developer": {"*": ["read", "write", "execute"]}"#,
        r#""developer": {"*": ["read", "write", "execute"], "text-analysis": []}"#,
    );
    assert!(
        data.contains(r#""text-analysis": []"#),
        "data.json changed shape"
    );
    std::fs::write(policies.path().join("data.json"), data).unwrap();
    wait_for("the change to take effect", &|| {
        denied_seen.load(Ordering::Relaxed)
    });
    wait_for("1,000 calls", &|| calls.load(Ordering::Relaxed) >= 1000);
    stop.store(true, Ordering::Relaxed);
    let mut total = (0, 0);
    for w in workers {
        let seen = w.join().unwrap();
        // Per worker, once denied, never allowed again: the change took effect once.
        let first_denied = seen
            .iter()
            .position(|o| *o == "denied")
            .unwrap_or(seen.len());
        assert!(
            seen[first_denied..].iter().all(|o| *o == "denied"),
            "{seen:?}"
        );
        total.0 += first_denied;
        total.1 += seen.len() - first_denied;
    }
    assert!(total.0 + total.1 >= 1000, "{total:?}");
    // Every call finished before the real edit was allowed: the broken edit changed nothing.
    assert!(
        total.0 >= before_change,
        "the broken edit changed decisions: {total:?}"
    );
    assert!(total.1 > 0, "the change never took effect: {total:?}");
    // Every call is on the record (the server commits within its 50 ms linger), and the
    // records name both policy versions.
    let calls = total.0 + total.1;
    let deadline = Instant::now() + Duration::from_secs(10);
    let records = loop {
        let records = audit_json(&env, &["query"]);
        if records.len() >= calls || Instant::now() > deadline {
            break records;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(records.len(), calls);
    let mut hashes: Vec<&str> = records
        .iter()
        .map(|r| r["policy_hash"].as_str().unwrap())
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), 2, "{hashes:?}");
}
