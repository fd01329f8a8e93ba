//! The HTTP API beyond single calls: request ids and traces on every response, one error
//! shape, jobs, admin audit reads, quotas, the body cap, readiness and metrics, draining
//! on SIGTERM, TLS, and traces exported to an OTLP collector.

use super::*;
use std::net::TcpListener;
use std::sync::mpsc;

fn write_config(env: &Env, toml: &str) -> String {
    let path = env.data.path().join("cordon.toml");
    std::fs::write(&path, toml).unwrap();
    path.display().to_string()
}

fn token_header(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn every_response_carries_its_ids_and_every_error_has_one_shape() {
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    let auth = token_header(&server.token);

    // A caller's trace is continued: the same trace id comes back and lands in the receipt.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("00-{trace}-00f067aa0ba902b7-01");
    let body = json!({"function": "sentiment", "arguments": {"text": "great"}}).to_string();
    let ok = http_raw(
        &server.addr,
        "POST",
        "/v1/tools/text-analysis/call",
        &[("Authorization", &auth), ("traceparent", &parent)],
        Some(&body),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let request_id = ok.header("x-request-id").unwrap().to_owned();
    let traceparent = ok.header("traceparent").unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{trace}-")),
        "{traceparent}"
    );
    assert_ne!(traceparent, parent, "the server answers with its own span");
    let receipt = &ok.json()["receipt"];
    assert_eq!(receipt["request_id"], json!(request_id));
    assert_eq!(receipt["trace_id"], json!(trace));

    // Errors from handlers, from axum's router and from the auth layer share one shape,
    // with the ids of the response they came in.
    let cases: [(&str, &str, Option<&str>, u16, &str); 5] = [
        ("POST", "/v1/tools/nope/call", Some("{}"), 404, "not_found"),
        ("GET", "/v1/no-such-route", None, 404, "not_found"),
        ("DELETE", "/v1/tools", None, 400, "bad_request"),
        (
            "POST",
            "/v1/tools/fs/call",
            Some("{not json"),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/v1/tools/fs/call",
            Some(r#"{"extra": 1}"#),
            400,
            "bad_request",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let r = http_raw(
            &server.addr,
            method,
            path,
            &[("Authorization", &auth)],
            body,
        );
        let e = &r.json()["error"];
        let expected = if method == "DELETE" { 405 } else { status };
        assert_eq!(r.status, expected, "{method} {path}: {}", r.body);
        assert_eq!(e["code"], json!(code), "{method} {path}: {}", r.body);
        assert_eq!(e["request_id"], json!(r.header("x-request-id").unwrap()));
        let trace_id = e["trace_id"].as_str().unwrap();
        assert_eq!(trace_id.len(), 32);
        assert!(r.header("traceparent").unwrap().contains(trace_id));
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    let r = http_raw(&server.addr, "GET", "/v1/tools", &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        r.json()["error"]["request_id"],
        json!(r.header("x-request-id").unwrap())
    );

    // The audit record carries the request id the caller was answered with.
    server_audit_contains(&env, &request_id);
}

fn server_audit_contains(env: &Env, request_id: &str) {
    for _ in 0..50 {
        let out = env.cordon().args(["audit", "query"]).output().unwrap();
        if String::from_utf8_lossy(&out.stdout).contains(request_id) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{request_id} never reached the audit log");
}

/// Polls a job until it has finished.
fn wait_for_job(server: &Server, token: &str, id: &str) -> Value {
    for _ in 0..300 {
        let (status, job) = http(
            &server.addr,
            "GET",
            &format!("/v1/jobs/{id}"),
            None,
            Some(token),
        );
        assert_eq!(status, 200, "{job}");
        if job.get("finished_ms").is_some() {
            return job;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("job {id} did not finish");
}

#[test]
fn jobs_run_asynchronously_once_per_key_and_only_their_tenant_sees_them() {
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    let submit =
        |body: Value, token: &str| http(&server.addr, "POST", "/v1/jobs", Some(&body), Some(token));

    let job = json!({"tool": "text-analysis", "function": "sentiment", "args": {"text": "I love it"}, "priority": "high", "idempotency_key": "order-1"});
    let (status, created) = submit(job.clone(), &server.token);
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("job_"));
    let done = wait_for_job(&server, &server.token, &id);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["label"], "positive");
    assert_eq!(done["priority"], "high");
    let request_id = done["receipt"]["request_id"].as_str().unwrap().to_owned();
    server_audit_contains(&env, &request_id);

    // The same key again: the same job, not a second run.
    let (status, again) = submit(job, &server.token);
    assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())));

    // Another tenant cannot see it; to them it does not exist.
    let other = create_token(&env, "globex", "developer");
    let (status, v) = http(
        &server.addr,
        "GET",
        &format!("/v1/jobs/{id}"),
        None,
        Some(&other),
    );
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (404, json!("not_found"))
    );

    // A refused call is a failed job carrying the refusal.
    let guest = create_token(&env, "acme", "guest");
    let (status, created) = submit(
        json!({"tool": "fs", "function": "write-file", "args": {"path": "x", "contents": "y"}}),
        &guest,
    );
    assert_eq!(status, 202, "{created}");
    let failed = wait_for_job(&server, &guest, created["id"].as_str().unwrap());
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "policy_denied");
    assert!(
        failed["error"]["request_id"]
            .as_str()
            .unwrap()
            .starts_with("req_")
    );

    // Unknown tools and malformed submissions are refused at once.
    let (status, v) = submit(json!({"tool": "nope"}), &server.token);
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, v) = submit(json!({"tool": "fs", "priority": "urgent"}), &server.token);
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("bad_request"))
    );
}

#[test]
fn audit_reads_stay_in_the_tenant_unless_the_reader_is_an_operator() {
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    let call = json!({"function": "sentiment", "arguments": {"text": "fine"}});
    let (status, _) = server.call("POST", "/v1/tools/text-analysis/call", Some(&call));
    assert_eq!(status, 200);
    let globex = create_token(&env, "globex", "developer");
    let (status, _) = http(
        &server.addr,
        "POST",
        "/v1/tools/text-analysis/call",
        Some(&call),
        Some(&globex),
    );
    assert_eq!(status, 200);

    // Any role reads its own tenant's records (the panel's call list).
    let admin = create_token(&env, "acme", "admin");
    let mut records = Vec::new();
    for _ in 0..50 {
        let (status, v) = http(
            &server.addr,
            "GET",
            "/v1/audit?tool=text-analysis&limit=10",
            None,
            Some(&admin),
        );
        assert_eq!(status, 200, "{v}");
        records = v["records"].as_array().unwrap().clone();
        if !records.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(records.len(), 1, "only acme's record: {records:?}");
    assert_eq!(records[0]["tenant"], "acme");
    let (status, v) = server.call("GET", "/v1/audit?tool=text-analysis", None);
    assert_eq!(status, 200, "a developer reads its tenant's records: {v}");
    assert!(
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant"] == "acme"),
        "{v}"
    );
    assert!(records[0]["seq"].as_u64().is_some() && records[0]["hash"].is_string());
    let (status, v) = http(&server.addr, "GET", "/v1/audit?limit=0", None, Some(&admin));
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("bad_request"))
    );
    let (status, v) = http(
        &server.addr,
        "GET",
        "/v1/audit?tenant=globex",
        None,
        Some(&admin),
    );
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("bad_request")),
        "an admin of acme cannot name another tenant"
    );
    // An admin of the operator tenant (`local` by default) reads every tenant, or one.
    let operator = create_token(&env, "local", "admin");
    let tenants = |query: &str| -> Vec<String> {
        let (status, v) = http(&server.addr, "GET", query, None, Some(&operator));
        assert_eq!(status, 200, "{v}");
        let mut t: Vec<String> = v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["tenant"].as_str().unwrap().to_owned())
            .collect();
        t.dedup();
        t
    };
    assert_eq!(
        tenants("/v1/audit?tool=text-analysis&tenant=*"),
        ["acme", "globex"]
    );
    assert_eq!(
        tenants("/v1/audit?tool=text-analysis&tenant=globex"),
        ["globex"]
    );
}

#[test]
fn a_tenant_over_its_quota_gets_429_and_other_tenants_do_not() {
    let env = Env::new();
    // The hostile fixture again as `sleepy`, allowed to sleep for seconds.
    let tools = catalog_with_hostile();
    add_tool(
        tools.path(),
        "sleepy",
        Some("hostile.wasm"),
        "[limits]\ntimeout = \"5s\"\n",
    );
    let config = write_config(
        &env,
        "[serve.tenants.slow]\nrequests_per_second = 1\nburst = 3\n\n[serve.tenants.acme]\nconcurrent_calls = 1\n",
    );
    let server = serve_with(&env, tools.path(), &["--config", &config]);
    let slow = create_token(&env, "slow", "developer");
    let statuses: Vec<u16> = (0..5)
        .map(|_| http(&server.addr, "GET", "/v1/tools", None, Some(&slow)).0)
        .collect();
    assert_eq!(&statuses[..3], &[200, 200, 200]);
    assert_eq!(statuses[3], 429, "{statuses:?}");
    let auth = token_header(&slow);
    let r = http_raw(
        &server.addr,
        "GET",
        "/v1/tools",
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    assert_eq!(
        server.call("GET", "/v1/tools", None).0,
        200,
        "acme is not slowed by slow"
    );

    // acme may have one call in flight: a second, while a slow one runs, is refused.
    let (tx, rx) = mpsc::channel();
    let (addr, token) = (server.addr.clone(), server.token.clone());
    let long = std::thread::spawn(move || {
        tx.send(()).unwrap();
        http(
            &addr,
            "POST",
            "/v1/tools/sleepy/call",
            Some(&json!({"function": "sleep", "arguments": {"millis": 1500}})),
            Some(&token),
        )
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let call = json!({"function": "sentiment", "arguments": {"text": "hi"}});
    let (status, v) = server.call("POST", "/v1/tools/text-analysis/call", Some(&call));
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (429, json!("rate_limited")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in flight")
    );
    long.join().unwrap();
    let (status, _) = server.call("POST", "/v1/tools/text-analysis/call", Some(&call));
    assert_eq!(status, 200, "the slot is free again");
    let (_, metrics) = http(&server.addr, "GET", "/metrics", None, None);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(r#"cordon_rate_limited_total{reason="rate",tenant="slow"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"cordon_rate_limited_total{reason="concurrency",tenant="acme"} 1"#),
        "{metrics}"
    );
}

#[test]
fn bodies_over_the_cap_are_refused_with_413_declared_or_streamed() {
    let env = Env::new();
    let config = write_config(&env, "[serve]\nmax_body = \"64KiB\"\n");
    let server = serve_with(&env, &tools_dir(), &["--config", &config]);
    let text = "a".repeat(100 * 1024);
    let body = json!({"function": "sentiment", "arguments": {"text": text}}).to_string();
    let auth = token_header(&server.token);
    let r = http_raw(
        &server.addr,
        "POST",
        "/v1/tools/text-analysis/call",
        &[("Authorization", &auth)],
        Some(&body),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "too_large");

    // Chunked, with no length declared: cut off while it streams.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "POST /v1/tools/text-analysis/call HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", server.addr).unwrap();
    for chunk in body.as_bytes().chunks(8192) {
        if write!(s, "{:x}\r\n", chunk.len()).is_err()
            || s.write_all(chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(resp.contains("too_large"), "{resp}");

    // Under the cap, the same call runs.
    let call = json!({"function": "sentiment", "arguments": {"text": "a".repeat(1000)}});
    assert_eq!(
        server
            .call("POST", "/v1/tools/text-analysis/call", Some(&call))
            .0,
        200
    );
}

#[test]
fn readiness_and_metrics_report_calls_decisions_and_requests() {
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    let (status, v) = http(&server.addr, "GET", "/readyz", None, None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["status"].clone(), v["audit"].clone(), v["tools"].clone()),
        (json!("ready"), json!("ok"), json!(2))
    );
    let call = json!({"function": "sentiment", "arguments": {"text": "good"}});
    assert_eq!(
        server
            .call("POST", "/v1/tools/text-analysis/call", Some(&call))
            .0,
        200
    );
    let escape = json!({"function": "read-file", "arguments": {"path": "../../etc/passwd"}});
    assert_eq!(
        server.call("POST", "/v1/tools/fs/call", Some(&escape)).0,
        403
    );
    let (_, metrics) = http(&server.addr, "GET", "/metrics", None, None);
    let metrics = metrics.as_str().unwrap();
    for line in [
        r#"cordon_tool_calls_total{backend="wasm",outcome="ok",tenant="acme",tool="text-analysis"} 1"#,
        r#"cordon_tool_calls_total{backend="wasm",outcome="path_escape",tenant="acme",tool="fs"} 1"#,
        r#"cordon_policy_decisions_total{result="allow"} 1"#,
        r#"cordon_policy_decisions_total{result="deny"} 1"#,
        r#"cordon_sandbox_escape_attempts_total{kind="path_traversal"} 1"#,
        r#"cordon_tool_call_duration_seconds_count{backend="wasm",tool="text-analysis"} 1"#,
        "cordon_policy_eval_duration_seconds_count 2",
        "cordon_fuel_consumed_count 1",
        "cordon_memory_peak_bytes_count 1",
        "cordon_instances_active 0",
        r#"cordon_http_requests_total{route="/v1/tools/{name}/call",status="200"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line}:\n{metrics}");
    }
}

#[test]
fn sigterm_drains_calls_in_flight_then_exits_cleanly() {
    let env = Env::new();
    let long = tempfile::tempdir().unwrap();
    add_tool(
        long.path(),
        "sleepy",
        Some("hostile.wasm"),
        "[limits]\ntimeout = \"5s\"\n",
    );
    let mut server = serve(&env, long.path());
    let (addr, token) = (server.addr.clone(), server.token.clone());
    let call = std::thread::spawn(move || {
        http(
            &addr,
            "POST",
            "/v1/tools/sleepy/call",
            Some(&json!({"function": "sleep", "arguments": {"millis": 1500}})),
            Some(&token),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (status, v) = call.join().unwrap();
    assert_eq!(status, 200, "the call in flight finished: {v}");
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    // Nothing is lost: the drained call is in the audit log.
    server_audit_contains(&env, v["receipt"]["request_id"].as_str().unwrap());
}

#[test]
fn tls_serves_https_and_allows_addresses_off_loopback() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    let Ok(made) = made.map_err(|e| {
        eprintln!("SKIPPED: openssl is not available to make a test certificate: {e}")
    }) else {
        return;
    };
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let server = serve_with(
        &env,
        &tools_dir(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let port = server.addr.rsplit(':').next().unwrap();
    let curl = |url: &str, extra: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(&cert)
            .args(extra)
            .arg(url)
            .output()
    };
    let out = match curl(&format!("https://localhost:{port}/healthz"), &[]) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: curl is not available as a TLS client: {e}");
            return;
        }
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"status":"ok"}"#,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let auth = format!("Authorization: Bearer {}", server.token);
    let out = curl(
        &format!("https://127.0.0.1:{port}/v1/tools"),
        &["-H", &auth],
    )
    .unwrap();
    let tools: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tools["tools"].as_array().unwrap().len(), 2);
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    assert!(!resp.starts_with(b"HTTP/1.1 200"));

    // With TLS, a non-loopback address is accepted.
    let port = TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = env
        .cordon()
        .args([
            "serve",
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        banner.contains("cordon serving on https://0.0.0.0:"),
        "{banner}"
    );
}

/// A minimal OTLP/HTTP collector: answers 200 to every POST and hands over the bodies.
fn fake_collector() -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((n, v)) = line.split_once(':')
                    && n.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send((request_line, body));
        }
    });
    (addr, rx)
}

#[test]
fn traces_reach_an_otlp_collector_in_the_callers_trace() {
    let env = Env::new();
    let (collector, bodies) = fake_collector();
    let endpoint = format!("http://{collector}");
    let token = create_token(&env, "acme", "developer");
    let addr = free_local_addr();
    let mut child = env
        .cordon()
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .args(["serve", "--listen", &addr, "--otlp-endpoint", &endpoint])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = lines.next().unwrap().unwrap();
    assert!(banner.contains("cordon serving on"), "{banner}");
    std::thread::spawn(move || for _ in lines {});

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let parent = format!("00-{trace}-b7ad6b7169203331-01");
    let auth = token_header(&token);
    let body = json!({"function": "sentiment", "arguments": {"text": "nice"}}).to_string();
    let r = http_raw(
        &addr,
        "POST",
        "/v1/tools/text-analysis/call",
        &[("Authorization", &auth), ("traceparent", &parent)],
        Some(&body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());

    // Protobuf carries the trace id as 16 raw bytes and span names as plain strings.
    let trace_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut exported = Vec::new();
    while let Ok((line, body)) = bodies.recv_timeout(Duration::from_secs(10)) {
        assert!(line.starts_with("POST /v1/traces "), "{line}");
        exported.extend(body);
        let has = |needle: &[u8]| exported.windows(needle.len()).any(|w| w == needle);
        if has(&trace_bytes) && has(b"policy") && has(b"executor") && has(b"audit") {
            return;
        }
    }
    panic!(
        "the collector never got the request's spans in trace {trace} ({} bytes)",
        exported.len()
    );
}
