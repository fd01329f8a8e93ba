//! The escape suite: real attempts to cross every boundary of a running `cordon serve`, by
//! guests (hostile components, native programs) and by callers (tokens, tenants, bodies).
//!
//! Every case is one attempt against the real server over a real socket, and asserts four
//! things: the refusal code the caller got, that
//! `cordon_sandbox_escape_attempts_total{kind}` moved for the attempt's kind, that the audit
//! log holds the attempt's record (same request id, that outcome, that violation kind), and
//! that the server still serves the next call.
//!
//! A few attempts reach nothing without anything to refuse: the guest asks its own
//! environment for `HOME` and there is none, looks for `/etc` and its libc finds no such
//! directory. Those are *contained* cases: they assert that nothing leaked, that the call is
//! on the audit log, that no escape was counted (nothing was attempted on the host), and
//! that the server still serves.
//!
//! Each boundary is a test of its own (one server each); a case that fails does not stop
//! the others, and the test fails at the end naming every failed case.

use super::*;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

mod api;
mod components;
mod environment;
mod filesystem;
mod native;
mod network;
mod resources;

/// A server under attack, and what it counted and recorded.
struct Target {
    env: Env,
    server: Server,
    /// An admin of the operator tenant: reads every tenant's audit records.
    operator: String,
    /// The catalog the server serves; kept for as long as it runs.
    tools: tempfile::TempDir,
    boundary: &'static str,
    cases: RefCell<Vec<String>>,
    /// How many of the cases are contained ones (nothing to refuse).
    contained: Cell<usize>,
    failures: RefCell<Vec<String>>,
}

/// What a refused attempt must end with.
#[derive(Clone, Copy)]
struct Refusal {
    /// The error code the caller gets.
    code: &'static str,
    /// The escape kind counted and audited.
    kind: &'static str,
}

const fn refused(code: &'static str, kind: &'static str) -> Refusal {
    Refusal { code, kind }
}

/// The response to an attempt: its status and JSON body (`{}` when it had none).
type Answer = (u16, Value);

impl Target {
    /// `cordon serve` on a loopback port over `tools`, with `config` as its configuration
    /// file (when not empty).
    fn start(boundary: &'static str, tools: tempfile::TempDir, config: &str) -> Target {
        let env = Env::new();
        let mut extra: Vec<String> = Vec::new();
        if !config.is_empty() {
            let path = env.data.path().join("cordon.toml");
            std::fs::write(&path, config).unwrap();
            extra.extend(["--config".to_owned(), path.display().to_string()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let server = serve_with(&env, tools.path(), &extra);
        let operator = create_token(&env, "local", "admin");
        Target {
            env,
            server,
            operator,
            tools,
            boundary,
            cases: RefCell::new(Vec::new()),
            contained: Cell::new(0),
            failures: RefCell::new(Vec::new()),
        }
    }

    /// Calls `function` of `tool` as the server's developer (tenant `acme`).
    fn call(&self, tool: &str, function: &str, arguments: Value) -> Answer {
        self.server.call(
            "POST",
            &format!("/v1/tools/{tool}/call"),
            Some(&json!({"function": function, "arguments": arguments})),
        )
    }

    /// Every escape counter, by kind.
    fn escapes(&self) -> BTreeMap<String, u64> {
        let r = http_raw(&self.server.addr, "GET", "/metrics", &[], None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
            .lines()
            .filter_map(|l| l.strip_prefix("cordon_sandbox_escape_attempts_total{kind=\""))
            .filter_map(|l| {
                let (kind, rest) = l.split_once("\"}")?;
                Some((kind.to_owned(), rest.trim().parse().ok()?))
            })
            .collect()
    }

    /// The audit record of `request_id`, once it is committed (records are written in
    /// batches off the call's path).
    fn audit_record(&self, request_id: &str) -> Option<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, page) = http(
                &self.server.addr,
                "GET",
                &format!("/v1/audit?tenant=*&request_id={request_id}"),
                None,
                Some(&self.operator),
            );
            assert_eq!(status, 200, "{page}");
            if let Some(r) = page["records"].as_array().and_then(|r| r.first()) {
                return Some(r.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the server still answers a benign call correctly.
    fn still_serves(&self) -> Result<(), String> {
        let (status, v) = self.call(
            "text-analysis",
            "keywords",
            json!({"text": "serving serving still", "limit": 1}),
        );
        if status == 200 && v["value"][0]["word"] == json!("serving") {
            Ok(())
        } else {
            Err(format!("the next call got {status} {v}"))
        }
    }

    /// One attempt that must be refused with `expect.code`, counted under `expect.kind`
    /// and audited.
    fn refused(&self, case: &str, expect: Refusal, attempt: impl FnOnce(&Target) -> Answer) {
        let before = self.escapes();
        let (status, body) = attempt(self);
        let outcome = (|| {
            let code = body["error"]["code"].as_str().unwrap_or_default();
            if code != expect.code {
                return Err(format!(
                    "expected {}, got {status} {}",
                    expect.code,
                    truncated(&body)
                ));
            }
            let after = self.escapes();
            let moved =
                |k: &str| after.get(k).copied().unwrap_or(0) > before.get(k).copied().unwrap_or(0);
            if !moved(expect.kind) {
                let moved: Vec<_> = after.keys().filter(|k| moved(k)).collect();
                return Err(format!(
                    "escape counter {:?} did not move (moved: {moved:?}); body {}",
                    expect.kind,
                    truncated(&body)
                ));
            }
            let request_id = body["error"]["request_id"].as_str().unwrap_or_default();
            let record = self
                .audit_record(request_id)
                .ok_or_else(|| format!("no audit record for {request_id}"))?;
            let kinds: Vec<&str> = record["violations"]
                .as_array()
                .map(|v| v.iter().filter_map(|v| v["kind"].as_str()).collect())
                .unwrap_or_default();
            if record["outcome"] != json!(expect.code) || !kinds.contains(&expect.kind) {
                return Err(format!(
                    "audit record of {request_id} says {} {kinds:?}",
                    record["outcome"]
                ));
            }
            self.still_serves()
        })();
        self.finish(case, outcome);
    }

    /// One attempt that reaches nothing: `leak` says what leaked in the answer, if
    /// anything. Nothing may be counted, the call must be on the audit log, and the server
    /// must still serve.
    fn contained(
        &self,
        case: &str,
        attempt: impl FnOnce(&Target) -> Answer,
        leak: impl FnOnce(&Answer) -> Option<String>,
    ) {
        self.contained.set(self.contained.get() + 1);
        let before = self.escapes();
        let answer = attempt(self);
        let outcome = (|| {
            if let Some(what) = leak(&answer) {
                return Err(format!(
                    "leaked {what}: {} {}",
                    answer.0,
                    truncated(&answer.1)
                ));
            }
            if self.escapes() != before {
                return Err("an escape was counted for an attempt that reached nothing".into());
            }
            let request_id = answer.1["receipt"]["request_id"]
                .as_str()
                .or_else(|| answer.1["error"]["request_id"].as_str())
                .unwrap_or_default();
            self.audit_record(request_id)
                .ok_or_else(|| format!("no audit record for {request_id:?}"))?;
            self.still_serves()
        })();
        self.finish(case, outcome);
    }

    fn finish(&self, case: &str, outcome: Result<(), String>) {
        assert!(
            !self.cases.borrow().iter().any(|c| c == case),
            "case names must be distinct: {case}"
        );
        self.cases.borrow_mut().push(case.to_owned());
        match outcome {
            Ok(()) => println!("escape/{}: {case}: ok", self.boundary),
            Err(why) => {
                println!("escape/{}: {case}: FAILED: {why}", self.boundary);
                self.failures.borrow_mut().push(format!("{case}: {why}"));
            }
        }
    }

    /// Ends the boundary's test: fails naming every failed case; `at_least` guards against
    /// cases silently dropping out.
    fn done(self, at_least: usize) {
        let cases = self.cases.borrow().len();
        let failures = self.failures.borrow();
        let contained = self.contained.get();
        println!(
            "escape/{}: {cases} cases ({} refused, {contained} contained), {} failed",
            self.boundary,
            cases - contained,
            failures.len()
        );
        assert!(
            failures.is_empty(),
            "{} of {cases} cases failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert!(cases >= at_least, "only {cases} cases ran");
    }
}

fn truncated(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 600 {
        format!("{}…", s.chars().take(600).collect::<String>())
    } else {
        s
    }
}

/// The guest's answer as text, `Ok` or `Err` side, for contained cases.
fn value_text(answer: &Answer) -> String {
    answer.1["value"].to_string()
}

/// A catalog with text-analysis (the benign call after every case) and `extra` tools:
/// (name, fixture component, manifest lines).
fn catalog(extra: &[(&str, Option<&str>, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("text-analysis");
    std::fs::create_dir(&to).unwrap();
    for f in ["tool.toml", "text-analysis.wasm"] {
        std::fs::copy(built_tools().join("text-analysis").join(f), to.join(f)).unwrap();
    }
    for (name, component, rest) in extra {
        add_tool(dir.path(), name, *component, rest);
    }
    dir
}
