//! Jobs through Redis (`make bench-jobs`): how many jobs per second three hosts sharing one
//! `redis-server` complete, and how much latency the Redis path adds over the in-process
//! queue for a trivial tool (the `trivial` fixture's `add`). Measured end to end over HTTP
//! with keep-alive connections: submit, then wait for the result (`wait_ms` long polling).
//!
//! Needs `make build fixtures` and `redis-server` (which `make bench-jobs` provides).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use cordon_federation::testing::RedisServer;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    reader: BufReader<TcpStream>,
    token: String,
}

impl Conn {
    fn open(addr: &str, token: &str) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            reader: BufReader::new(stream),
            token: token.to_owned(),
        }
    }

    fn request(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.token,
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
        }
        let mut buf = vec![0; length];
        self.reader.read_exact(&mut buf).unwrap();
        (status, serde_json::from_slice(&buf).unwrap_or(Value::Null))
    }

    /// Submits `add(1, 2)` as a job and waits for its result.
    fn job(&mut self) -> String {
        let (status, v) = self.request("POST", "/v1/jobs", Some(&add()));
        assert_eq!(status, 202, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    fn wait(&mut self, id: &str) {
        loop {
            let (status, v) = self.request("GET", &format!("/v1/jobs/{id}?wait_ms=10000"), None);
            assert_eq!(status, 200, "{v}");
            match v["status"].as_str() {
                Some("succeeded") => return,
                Some("queued" | "running") => {}
                _ => panic!("{v}"),
            }
        }
    }
}

fn add() -> Value {
    json!({"tool": "trivial", "function": "add", "args": {"a": 1, "b": 2}})
}

struct Host {
    child: Child,
    addr: String,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Bench {
    data: tempfile::TempDir,
    catalog: tempfile::TempDir,
    token: String,
}

impl Bench {
    fn new() -> Bench {
        let catalog = tempfile::tempdir().unwrap();
        let tool = catalog.path().join("trivial");
        std::fs::create_dir(&tool).unwrap();
        let wasm = repo().join("target/fixtures/trivial.wasm");
        assert!(wasm.is_file(), "run `make fixtures` first");
        std::fs::copy(&wasm, tool.join("trivial.wasm")).unwrap();
        std::fs::write(
            tool.join("tool.toml"),
            "name = \"trivial\"\nversion = \"1\"\ndescription = \"adds\"\ncomponent = \"trivial.wasm\"\n",
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut bench = Bench {
            data,
            catalog,
            token: String::new(),
        };
        let out = bench
            .cordon(bench.data.path())
            .args([
                "token",
                "create",
                "--tenant",
                "bench",
                "--role",
                "developer",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        bench.token = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned();
        bench
    }

    fn cordon(&self, data: &Path) -> Command {
        let mut c = Command::new(repo().join("target/release/cordon"));
        c.env_remove("CORDON_CONFIG")
            .env("CORDON_DATA_DIR", data)
            .env("CORDON_IDENTITY_DB", self.data.path().join("identity.db"))
            .env("CORDON_TOOLS_DIR", self.catalog.path())
            .env("CORDON_CACHE_DIR", self.data.path().join("cache"));
        c
    }

    fn host(&self, redis: Option<&str>) -> (Host, tempfile::TempDir) {
        let data = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        // Quotas out of the way: the bench measures the queue, not the edge's limits.
        let config = data.path().join("cordon.toml");
        std::fs::write(
            &config,
            "[serve.quota]\nrequests_per_second = 1000000\nburst = 1000000\nconcurrent_calls = 1000\nqueued_jobs = 1000000\n",
        )
        .unwrap();
        let mut cmd = self.cordon(data.path());
        cmd.arg("--config")
            .arg(&config)
            .args(["serve", "--listen", &addr]);
        if let Some(url) = redis {
            cmd.args(["--redis", url]);
        }
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = lines.next().unwrap().unwrap();
        assert!(banner.contains("cordon serving on"), "{banner}");
        std::thread::spawn(move || for _ in lines {});
        (Host { child, addr }, data)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// One job at a time through `addr`: submit, wait; p50 and p99 of the round trip. The
/// synchronous call of the same function, on the same connection, for comparison.
fn latency(label: &str, addr: &str, token: &str) {
    let mut conn = Conn::open(addr, token);
    for _ in 0..200 {
        let id = conn.job();
        conn.wait(&id);
    }
    let mut jobs = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        let id = conn.job();
        conn.wait(&id);
        jobs.push(t.elapsed());
    }
    let mut calls = Vec::new();
    let call = json!({"function": "add", "arguments": {"a": 1, "b": 2}});
    for _ in 0..2000 {
        let t = Instant::now();
        let (status, _) = conn.request("POST", "/v1/tools/trivial/call", Some(&call));
        assert_eq!(status, 200);
        calls.push(t.elapsed());
    }
    jobs.sort();
    calls.sort();
    println!(
        "{label:<34} job submit+result p50 {:>8.2?} p99 {:>8.2?} | sync call p50 {:>8.2?} p99 {:>8.2?}",
        percentile(&jobs, 0.5),
        percentile(&jobs, 0.99),
        percentile(&calls, 0.5),
        percentile(&calls, 0.99),
    );
}

/// `jobs` jobs submitted over `clients` connections spread over `addrs`, then every
/// result awaited: jobs per second from the first submission to the last result.
fn throughput(label: &str, addrs: &[String], token: &str, jobs: usize, clients: usize) {
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let addr = addrs[c % addrs.len()].clone();
            let token = token.to_owned();
            std::thread::spawn(move || {
                let mut conn = Conn::open(&addr, &token);
                let ids: Vec<String> = (0..jobs / clients).map(|_| conn.job()).collect();
                for id in &ids {
                    conn.wait(id);
                }
                ids.len()
            })
        })
        .collect();
    let done: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let elapsed = started.elapsed();
    println!(
        "{label:<34} {done} jobs in {elapsed:.2?}: {:.0} jobs/s",
        done as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would run this too, and must not.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let bench = Bench::new();
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let (local, _d0) = bench.host(None);
    latency("in-process queue, one host", &local.addr, &bench.token);
    throughput(
        "in-process queue, one host",
        std::slice::from_ref(&local.addr),
        &bench.token,
        20_000,
        8,
    );
    drop(local);

    let url = redis.url();
    let (one, _d1) = bench.host(Some(&url));
    latency("redis queue, one host", &one.addr, &bench.token);
    let (two, _d2) = bench.host(Some(&url));
    let (three, _d3) = bench.host(Some(&url));
    latency("redis queue, three hosts", &one.addr, &bench.token);
    let addrs = [one.addr.clone(), two.addr.clone(), three.addr.clone()];
    throughput("redis queue, three hosts", &addrs, &bench.token, 20_000, 9);
}
