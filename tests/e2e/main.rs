//! End-to-end tests: the real `cordon` binary, real components, real sockets.
//!
//! Needs `make components fixtures` (which `make test` runs first).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod alerts;
mod api;
#[path = "../escape/mod.rs"]
mod escape;
mod faults;
mod federation;
mod governance;
mod interpreters;
mod mcp;
mod native;
mod oci;
mod openapi;
mod panel;
mod pins;
mod sdk;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The built first-party tools (`make components`).
fn built_tools() -> PathBuf {
    let d = repo().join("target/tools");
    assert!(
        d.join("fs/tool.toml").is_file(),
        "run `make components` first"
    );
    d
}

/// A catalog of the `fs` and `text-analysis` tools, which most tests are written against
/// (the interpreters have tests of their own, in interpreters.rs).
fn tools_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = repo().join("target/e2e-catalog");
        let _ = std::fs::remove_dir_all(&d);
        for t in ["fs", "text-analysis"] {
            let to = d.join(t);
            std::fs::create_dir_all(&to).unwrap();
            for f in ["tool.toml", &format!("{t}.wasm")] {
                std::fs::copy(built_tools().join(t).join(f), to.join(f)).unwrap();
            }
        }
        d
    })
    .clone()
}

fn fixture(name: &str) -> PathBuf {
    let p = repo().join("target/fixtures").join(name);
    assert!(p.is_file(), "run `make fixtures` first ({})", p.display());
    p
}

struct Env {
    data: tempfile::TempDir,
    ws: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("notes.txt"), "alpha\nbeta TODO\ngamma\n").unwrap();
        std::fs::create_dir(ws.path().join("sub")).unwrap();
        std::fs::write(ws.path().join("sub/deep.md"), "# TODO later\n").unwrap();
        Env {
            data: tempfile::tempdir().unwrap(),
            ws,
        }
    }

    fn cordon(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cordon"));
        c.env_remove("CORDON_CONFIG")
            .env("CORDON_DATA_DIR", self.data.path())
            .env("CORDON_TOOLS_DIR", tools_dir())
            .current_dir(self.ws.path());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cordon().arg("run").args(args).output().unwrap()
    }

    fn dir(&self, mode: &str) -> String {
        format!("{}:/ws:{mode}", self.ws.path().display())
    }
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `cordon audit query FILTERS --json`: the matching records, oldest first.
fn audit_records(env: &Env, filters: &[&str]) -> Vec<Value> {
    let out = env
        .cordon()
        .args(["audit", "query", "--json"])
        .args(filters)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `{"error": ...}` line on stderr.
fn error_json(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"error\""))
        .unwrap_or_else(|| {
            // The tail only (a flooding guest writes megabytes), cut on a character boundary.
            let tail: Vec<char> = stderr.chars().rev().take(2000).collect();
            panic!(
                "no error line in: {}",
                tail.iter().rev().collect::<String>()
            )
        });
    serde_json::from_str::<Value>(line).unwrap()["error"].clone()
}

#[test]
fn every_fs_function_works_through_cordon_run() {
    let env = Env::new();
    let ro = env.dir("ro");
    let rw = env.dir("rw");
    let v = stdout_json(&env.run(&[
        "fs",
        "--fn",
        "read-file",
        "--json",
        r#"{"path":"notes.txt"}"#,
        "--dir",
        &ro,
    ]));
    assert_eq!(v, json!("alpha\nbeta TODO\ngamma\n"));
    let v = stdout_json(&env.run(&[
        "fs",
        "--fn",
        "write-file",
        "--json",
        r#"{"path":"out.txt","contents":"hi"}"#,
        "--dir",
        &rw,
    ]));
    assert_eq!(v, json!(2));
    let v = stdout_json(&env.run(&[
        "fs",
        "--fn",
        "write-file",
        "--json",
        r#"{"path":"out.txt","contents":"!","append":true}"#,
        "--dir",
        &rw,
    ]));
    assert_eq!(v, json!(1));
    assert_eq!(
        std::fs::read_to_string(env.ws.path().join("out.txt")).unwrap(),
        "hi!"
    );
    let v = stdout_json(&env.run(&[
        "fs",
        "--fn",
        "list-dir",
        "--json",
        r#"{"path":"."}"#,
        "--dir",
        &ro,
    ]));
    let names: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["notes.txt", "out.txt", "sub"]);
    assert_eq!(v[2]["kind"], json!("directory"));
    let v = stdout_json(&env.run(&[
        "fs",
        "--fn",
        "stat",
        "--json",
        r#"{"path":"notes.txt"}"#,
        "--dir",
        &ro,
    ]));
    assert_eq!(v["kind"], json!("file"));
    assert_eq!(v["size"], json!(22));
    let v = stdout_json(&env.run(&[
        "fs",
        "--fn",
        "search",
        "--json",
        r#"{"pattern":"TODO"}"#,
        "--dir",
        &ro,
    ]));
    assert_eq!(
        v,
        json!([{"path": "notes.txt", "line": 2, "text": "beta TODO"},
                         {"path": "sub/deep.md", "line": 1, "text": "# TODO later"}])
    );
    let v = stdout_json(&env.run(&[
        "fs",
        "--fn",
        "search",
        "--json",
        r#"{"pattern":"^g.mma$","regex":true}"#,
        "--dir",
        &ro,
    ]));
    assert_eq!(v[0]["line"], json!(3));
}

#[test]
fn every_text_analysis_function_works_through_cordon_run() {
    let env = Env::new();
    let text = "Cordon is a great sandbox. It is fast and very reliable. The old runner was slow and buggy. Sandboxes keep agents safe.";
    let args = json!({ "text": text }).to_string();
    let v = stdout_json(&env.run(&["text-analysis", "--fn", "sentiment", "--json", &args]));
    assert_eq!(v["label"], json!("positive"));
    assert_eq!(v["negative-words"], json!(["slow", "buggy"]));
    let v = stdout_json(&env.run(&[
        "text-analysis",
        "--fn",
        "keywords",
        "--json",
        &json!({"text": "wasm wasm sandbox wasm sandbox tool", "limit": 2}).to_string(),
    ]));
    assert_eq!(
        v,
        json!([{"word": "wasm", "count": 3, "score": 0.5}, {"word": "sandbox", "count": 2, "score": 0.333}])
    );
    let v = stdout_json(&env.run(&[
        "text-analysis",
        "--fn",
        "summarize",
        "--json",
        &json!({"text": text, "sentences": 1}).to_string(),
    ]));
    assert!(v.as_str().unwrap().ends_with('.'));
    let out = env.run(&[
        "text-analysis",
        "--fn",
        "analyze",
        "--json",
        &args,
        "--receipt",
    ]);
    let v = stdout_json(&out);
    assert_eq!(v["value"]["sentence-count"], json!(4));
    assert_eq!(v["logs"][0]["message"], json!("analyzing text"));
    assert_eq!(v["receipt"]["backend"], json!("wasm"));
    assert!(v["receipt"]["fuel_used"].as_u64().unwrap() > 0);
    assert!(v["receipt"]["peak_memory_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn refusals_print_a_coded_error_and_exit_with_their_class() {
    let env = Env::new();
    let ro = env.dir("ro");
    let cases: &[(&[&str], &str, i32)] = &[
        (
            &[
                "fs",
                "--fn",
                "read-file",
                "--json",
                r#"{"path":"../../etc/passwd"}"#,
                "--dir",
                &ro,
            ],
            "path_escape",
            3,
        ),
        (
            &[
                "fs",
                "--fn",
                "write-file",
                "--json",
                r#"{"path":"x","contents":"y"}"#,
                "--dir",
                &ro,
            ],
            "read_only",
            3,
        ),
        (
            &[
                "fs",
                "--fn",
                "read-file",
                "--json",
                r#"{"path":"missing.txt"}"#,
                "--dir",
                &ro,
            ],
            "tool_error",
            5,
        ),
        (
            &[
                "fs",
                "--fn",
                "read-file",
                "--json",
                r#"{"path":7}"#,
                "--dir",
                &ro,
            ],
            "bad_request",
            2,
        ),
        (
            &["fs", "--fn", "read-file", "--json", "not json"],
            "bad_request",
            2,
        ),
        (&["fs", "--fn", "no-such-fn"], "not_found", 2),
        (&["no-such-tool"], "not_found", 2),
    ];
    for (args, code, exit) in cases {
        let out = env.run(args);
        let err = error_json(&out);
        assert_eq!(err["code"], json!(code), "{args:?}: {err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(out.status.code(), Some(*exit), "{args:?}");
    }
    let out = env.run(&[
        "fs",
        "--fn",
        "read-file",
        "--json",
        r#"{"path":7}"#,
        "--dir",
        &ro,
    ]);
    assert_eq!(
        error_json(&out)["message"],
        json!("path: expected string, found number 7")
    );
    let out = env.run(&[
        "fs",
        "--fn",
        "read-file",
        "--json",
        r#"{"path":"../x"}"#,
        "--dir",
        &ro,
    ]);
    assert!(
        error_json(&out)["request_id"]
            .as_str()
            .unwrap()
            .starts_with("req_")
    );
}

#[test]
fn each_misbehaving_fixture_is_stopped_with_its_own_code() {
    let env = Env::new();
    let hostile = fixture("hostile.wasm");
    let h = hostile.to_str().unwrap();
    let rw = env.dir("rw");
    std::os::unix::fs::symlink("/etc/passwd", env.ws.path().join("passwd-link")).unwrap();
    let cases: &[(&[&str], &str, i32)] = &[
        (
            &[
                h,
                "--fn",
                "spin",
                "--timeout",
                "200ms",
                "--fuel",
                "100000000000000",
            ],
            "deadline_exceeded",
            4,
        ),
        (
            &[h, "--fn", "spin", "--fuel", "10000000"],
            "fuel_exhausted",
            4,
        ),
        (
            &[h, "--fn", "grow-memory", "--memory", "32MiB"],
            "memory_limit",
            4,
        ),
        (
            &[
                h,
                "--fn",
                "recurse",
                "--json",
                r#"{"depth":18446744073709551615}"#,
            ],
            "stack_overflow",
            4,
        ),
        (&[h, "--fn", "spew", "--output", "1MiB"], "output_limit", 4),
        (
            &[
                h,
                "--fn",
                "sleep",
                "--json",
                r#"{"millis":60000}"#,
                "--timeout",
                "200ms",
            ],
            "deadline_exceeded",
            4,
        ),
        (&[h, "--fn", "crash"], "trap", 5),
        (
            &[
                h,
                "--fn",
                "open-raw",
                "--json",
                r#"{"path":"../../etc/passwd"}"#,
                "--dir",
                &rw,
            ],
            "path_escape",
            3,
        ),
        (
            &[
                h,
                "--fn",
                "open-raw",
                "--json",
                r#"{"path":"/etc/passwd"}"#,
                "--dir",
                &rw,
            ],
            "path_escape",
            3,
        ),
        (
            &[
                h,
                "--fn",
                "open-raw",
                "--json",
                r#"{"path":"passwd-link"}"#,
                "--dir",
                &rw,
            ],
            "path_escape",
            3,
        ),
    ];
    for (args, code, exit) in cases {
        let out = env.run(args);
        let err = error_json(&out);
        assert_eq!(err["code"], json!(code), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(*exit), "{args:?}");
        assert!(
            err["receipt"]["wall_time_us"].is_u64(),
            "{args:?}: no receipt"
        );
    }
    // An env var that was not granted reads as absent; one that was, reads.
    let v = stdout_json(&env.run(&[h, "--fn", "read-env", "--json", r#"{"name":"HOME"}"#]));
    assert_eq!(v, json!(null));
    let v = stdout_json(&env.run(&[
        h,
        "--fn",
        "read-env",
        "--json",
        r#"{"name":"K"}"#,
        "--env",
        "K=v",
    ]));
    assert_eq!(v, json!("v"));
    // A socket is refused.
    let sockets = fixture("sockets.wasm");
    let sockets = sockets.to_str().unwrap();
    let out = env.run(&[
        sockets,
        "--fn",
        "connect",
        "--json",
        r#"{"addr":"127.0.0.1:9"}"#,
    ]);
    assert_eq!(error_json(&out)["code"], json!("tool_error"));
}

#[test]
fn tools_list_and_inspect_show_functions_with_schemas_and_docs() {
    let env = Env::new();
    let out = env.cordon().args(["tools", "list"]).output().unwrap();
    let v = stdout_json(&out);
    let names: Vec<_> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fs", "text-analysis"]);
    let fs = &v["tools"][0];
    let read = fs["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "files#read-file")
        .unwrap();
    assert_eq!(
        read["description"],
        json!("Reads a UTF-8 text file from the workspace and returns its contents.")
    );
    assert_eq!(
        read["input_schema"]["properties"]["path"],
        json!({"type": "string"})
    );
    assert_eq!(read["input_schema"]["required"], json!(["path"]));

    let out = env
        .cordon()
        .args(["tools", "inspect", "text-analysis"])
        .output()
        .unwrap();
    let v = stdout_json(&out);
    let kw = v["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "keywords")
        .unwrap();
    assert_eq!(
        kw["input_schema"]["properties"]["limit"]["anyOf"][1],
        json!({"type": "integer", "minimum": 0, "maximum": 4294967295u64})
    );
    assert_eq!(
        kw["output_schema"]["items"]["properties"]["word"]["description"],
        json!("The word, lower-cased.")
    );
    assert_eq!(v["default_limits"]["timeout"], json!(5000));

    let out = env
        .cordon()
        .args(["tools", "inspect"])
        .arg(fixture("types.wasm"))
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out)["functions"].as_array().unwrap().len(), 13);
}

struct Server {
    child: Child,
    addr: String,
    /// A developer token on tenant `acme`.
    token: String,
}

impl Server {
    /// An authenticated request with the server's developer token.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        http(&self.addr, method, path, body, Some(&self.token))
    }
}

/// `cordon token create`: the token is the last line of stdout.
fn create_token(env: &Env, tenant: &str, role: &str) -> String {
    create_token_as(env, tenant, role, None)
}

/// [`create_token`] for a named subject.
fn create_token_as(env: &Env, tenant: &str, role: &str, subject: Option<&str>) -> String {
    let subject: Vec<&str> = subject
        .map(|s| ["--subject", s])
        .into_iter()
        .flatten()
        .collect();
    create_token_with(env, tenant, role, &subject).0
}

/// `cordon token create` with `extra` flags (`--ttl 1s`, `--subject S`): the token and
/// its id (`tok_...`, the first word of the facts line).
fn create_token_with(env: &Env, tenant: &str, role: &str, extra: &[&str]) -> (String, String) {
    let out = env
        .cordon()
        .args(["token", "create", "--tenant", tenant, "--role", role])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap().to_owned();
    assert!(token.starts_with("cdn_") && token.len() == 68, "{stdout}");
    let id = stdout.split_whitespace().next().unwrap().to_owned();
    (token, id)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(env: &Env, tools: &Path) -> Server {
    serve_with(env, tools, &[])
}

fn serve_with(env: &Env, tools: &Path, extra: &[&str]) -> Server {
    let token = create_token(env, "acme", "developer");
    let addr = free_local_addr();
    let mut child = env
        .cordon()
        .env("CORDON_TOOLS_DIR", tools)
        .args(["serve", "--listen", &addr])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let banner = lines.next().unwrap().unwrap();
    assert!(banner.contains("cordon serving on"), "{banner}");
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr, token }
}

/// A loopback address with a port nothing listens on (free when asked).
fn free_local_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let body = body.map(Value::to_string);
    let r = http_raw(addr, method, path, &headers, body.as_deref());
    (r.status, r.json())
}

/// A response as it came over the wire.
struct Raw {
    status: u16,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or as a JSON string when it is not JSON.
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::String(self.body.clone()))
    }
}

/// One HTTP/1.1 request on a fresh connection, with the given extra headers.
fn http_raw(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Raw {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or_default();
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Raw {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Adds tool `name` to catalog directory `catalog`: the fixture `component` (if any) copied
/// in, and a manifest of the name, placeholder version and description, and `rest`.
fn add_tool(catalog: &Path, name: &str, component: Option<&str>, rest: &str) {
    let dir = catalog.join(name);
    std::fs::create_dir(&dir).unwrap();
    let mut manifest =
        format!("name = \"{name}\"\nversion = \"0\"\ndescription = \"{name} (test)\"\n");
    if let Some(file) = component {
        std::fs::copy(fixture(file), dir.join(file)).unwrap();
        manifest.push_str(&format!("component = \"{file}\"\n"));
    }
    manifest.push_str(rest);
    std::fs::write(dir.join("tool.toml"), manifest).unwrap();
}

/// A catalog with the first-party tools plus the hostile fixture as a tool.
fn catalog_with_hostile() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for t in ["fs", "text-analysis"] {
        let to = dir.path().join(t);
        std::fs::create_dir(&to).unwrap();
        for f in ["tool.toml", &format!("{t}.wasm")] {
            std::fs::copy(built_tools().join(t).join(f), to.join(f)).unwrap();
        }
    }
    add_tool(
        dir.path(),
        "hostile",
        Some("hostile.wasm"),
        "[capabilities]\nscratch = true\n[limits]\nfuel = 20_000_000\ntimeout = \"50ms\"\nmemory = \"16MiB\"\noutput = \"4KiB\"\n",
    );
    dir
}

#[test]
fn the_server_survives_a_thousand_hostile_calls_and_serves_the_next() {
    let env = Env::new();
    let tools = catalog_with_hostile();
    let server = serve(&env, tools.path());
    let (status, v) = http(&server.addr, "GET", "/healthz", None, None);
    assert_eq!((status, v), (200, json!({"status": "ok"})));
    let attacks = [
        ("spin", json!({}), "fuel_exhausted"),
        ("grow-memory", json!({}), "memory_limit"),
        ("recurse", json!({"depth": u64::MAX}), "stack_overflow"),
        ("spew", json!({}), "output_limit"),
        ("sleep", json!({"millis": 10_000}), "deadline_exceeded"),
        ("crash", json!({}), "trap"),
        (
            "open-raw",
            json!({"path": "../../../etc/passwd"}),
            "path_escape",
        ),
        ("open-raw", json!({"path": "/etc/passwd"}), "path_escape"),
    ];
    let started = Instant::now();
    for i in 0..1000 {
        let (f, args, code) = &attacks[i % attacks.len()];
        let (status, v) = server.call(
            "POST",
            "/v1/tools/hostile/call",
            Some(&json!({"function": f, "arguments": args})),
        );
        assert_eq!(v["error"]["code"], json!(code), "call {i} ({f}): {v}");
        let expected = match *code {
            "deadline_exceeded" => 408,
            "path_escape" => 403,
            _ => 422,
        };
        assert_eq!(status, expected, "call {i} ({f})");
    }
    eprintln!("1000 hostile calls over HTTP in {:?}", started.elapsed());
    let (status, v) = server.call(
        "POST",
        "/v1/tools/text-analysis/call",
        Some(&json!({"function": "sentiment", "arguments": {"text": "all good, great even"}})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["value"]["label"], json!("positive"));
    let (_, metrics) = http(&server.addr, "GET", "/metrics", None, None);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(
        metrics.contains("cordon_sandbox_escape_attempts_total{kind=\"path_traversal\"} 125"),
        "{metrics}"
    );
    // `/etc/passwd` is refused by policy before the call, as a sensitive path.
    assert!(
        metrics.contains("cordon_sandbox_escape_attempts_total{kind=\"sensitive_path\"} 125"),
        "{metrics}"
    );
}

#[test]
fn the_server_answers_bad_requests_with_coded_errors() {
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    // /v1 needs a token: none, or a forged one, is refused.
    let (status, v) = http(&server.addr, "GET", "/v1/tools", None, None);
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (401, json!("unauthenticated"))
    );
    let forged = format!("cdn_{}", "0".repeat(64));
    let (status, _) = http(&server.addr, "GET", "/v1/tools", None, Some(&forged));
    assert_eq!(status, 401);
    let (status, v) = server.call("GET", "/v1/tools", None);
    assert_eq!(status, 200);
    assert_eq!(v["tools"].as_array().unwrap().len(), 2);
    let (status, v) = server.call("GET", "/v1/tools/fs", None);
    assert_eq!(status, 200);
    assert!(v["functions"].as_array().unwrap().len() == 5);
    let (status, v) = server.call("POST", "/v1/tools/nope/call", Some(&json!({})));
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, v) = server.call(
        "POST",
        "/v1/tools/text-analysis/call",
        Some(&json!({"function": "sentiment", "arguments": {"text": 1}})),
    );
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("bad_request"))
    );
    assert_eq!(
        v["error"]["message"],
        json!("text: expected string, found number 1")
    );
    // Over HTTP a call gets a fresh, empty workspace (no host directory of the server's):
    // the file is not there, and the tool says so as its own error.
    let (status, v) = server.call(
        "POST",
        "/v1/tools/fs/call",
        Some(&json!({"function": "read-file", "arguments": {"path": "notes.txt"}})),
    );
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (422, json!("tool_error")),
        "{v}"
    );
    // A session's workspace keeps what one call wrote for the next.
    let write = json!({"function": "write-file", "arguments": {"path": "n.txt", "contents": "kept", "session": "s"}});
    assert_eq!(
        server.call("POST", "/v1/tools/fs/call", Some(&write)).0,
        200
    );
    let read = json!({"function": "read-file", "arguments": {"path": "n.txt", "session": "s"}});
    let (status, v) = server.call("POST", "/v1/tools/fs/call", Some(&read));
    assert_eq!((status, v["value"].clone()), (200, json!("kept")), "{v}");
}

#[test]
fn serve_refuses_non_loopback_addresses_until_tls() {
    let env = Env::new();
    let out = env
        .cordon()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(error_json(&out)["code"], json!("bad_request"));
}
