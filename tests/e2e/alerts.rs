//! Alerts leave the host: a webhook receiver this test starts gets an escape attempt, a
//! quarantined job and a rejected policy reload, as JSON and as a Slack message, and the
//! first delivery, answered 503, is retried.

use super::*;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// An HTTP receiver on loopback: answers the first `fail_first` requests with 503, the
/// rest with 200, and keeps every request's path and JSON body.
struct Receiver {
    addr: String,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            let mut served = 0;
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap_or_default();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap_or_default();
                served += 1;
                let status = if served <= fail_first {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                if served > fail_first {
                    let path = request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    seen.lock().unwrap().push((path, body));
                }
            }
        });
        Receiver { addr, got }
    }

    /// Waits until a delivered body on `path` satisfies `pred`.
    fn wait_for(&self, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((_, body)) = self
                .got
                .lock()
                .unwrap()
                .iter()
                .find(|(p, b)| p == path && pred(b))
            {
                return body.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {what} on {path}; got {:?}",
                self.got.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn escape_attempts_quarantines_and_rejected_policies_reach_the_webhooks_with_retries() {
    let receiver = Receiver::start(1);
    let env = Env::new();
    let config = env.data.path().join("cordon.toml");
    std::fs::write(
        &config,
        format!(
            "[[alerts.webhooks]]\nurl = \"http://{0}/json\"\n\n[[alerts.webhooks]]\nurl = \"http://{0}/slack\"\nformat = \"slack\"\n",
            receiver.addr
        ),
    )
    .unwrap();
    let policies = tempfile::tempdir().unwrap();
    for f in ["cordon.rego", "cordon_test.rego", "data.json"] {
        std::fs::copy(repo().join("policies").join(f), policies.path().join(f)).unwrap();
    }
    let server = serve_with(
        &env,
        &tools_dir(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--policy-dir",
            policies.path().to_str().unwrap(),
        ],
    );

    // An escape attempt: refused, and reported with who, what and which request.
    let call = json!({"function": "read-file", "arguments": {"path": "../../etc/shadow"}});
    let (status, v) = server.call("POST", "/v1/tools/fs/call", Some(&call));
    assert_eq!(status, 403, "{v}");
    let request_id = v["error"]["request_id"].as_str().unwrap().to_owned();
    let alert = receiver.wait_for("/json", "escape alert", |b| b["kind"] == "escape_attempt");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["details"]["tenant"], "acme");
    assert_eq!(alert["details"]["request_id"], request_id.as_str());
    assert_eq!(alert["details"]["violations"][0]["kind"], "path_traversal");
    let slack = receiver.wait_for("/slack", "slack escape alert", |b| {
        b["text"]
            .as_str()
            .is_some_and(|t| t.contains("escape_attempt"))
    });
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("path_traversal by acme/"),
        "{slack}"
    );

    // A quarantined job.
    let job = json!({"tool": "fs", "function": "read-file", "args": {"path": "../x"}});
    let (status, v) = server.call("POST", "/v1/jobs", Some(&job));
    assert_eq!(status, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let alert = receiver.wait_for("/json", "quarantine alert", |b| b["kind"] == "quarantine");
    assert_eq!(alert["details"]["job"], id.as_str());
    assert_eq!(alert["details"]["code"], "path_escape");

    // A broken policy edit: rejected, the old policy stays, and the operator hears of it.
    std::fs::write(
        policies.path().join("broken.rego"),
        "package cordon\nthis is not rego\n",
    )
    .unwrap();
    let alert = receiver.wait_for("/json", "policy alert", |b| {
        b["kind"] == "policy_reload_failed"
    });
    assert!(
        alert["details"]["error"]
            .as_str()
            .unwrap()
            .contains("broken.rego"),
        "{alert}"
    );
    let ok = json!({"function": "sentiment", "arguments": {"text": "fine"}});
    let (status, _) = server.call("POST", "/v1/tools/text-analysis/call", Some(&ok));
    assert_eq!(status, 200, "the previous policy still decides");
}
