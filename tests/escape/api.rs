//! The API's own boundary: credentials that are not what they claim, callers reaching into
//! another tenant, and bodies built to break the decoder or the memory behind it.

use super::*;

/// A request with `headers` (and no token unless one is among them).
fn raw(
    t: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let r = http_raw(&t.server.addr, method, path, headers, body);
    (r.status, r.json())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Sends `request` as it is, ignoring a server that answers and closes before it has all
/// of it (as it does for a body it refuses by its declared length).
fn lenient(t: &Target, request: &[u8]) -> Answer {
    let mut s = connect(t);
    let _ = s.write_all(request);
    answer(s)
}

/// A chunked body of `size` bytes that never declares its length.
fn chunked(t: &Target, path: &str, token: &str, size: usize) -> Answer {
    let mut s = connect(t);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        t.server.addr
    );
    let _ = s.write_all(head.as_bytes());
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < size {
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .is_err()
            || s.write_all(&chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
        sent += chunk.len();
    }
    let _ = s.write_all(b"0\r\n\r\n");
    answer(s)
}

fn connect(t: &Target) -> TcpStream {
    let s = TcpStream::connect(&t.server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Whatever the server answered before it closed.
fn answer(mut s: TcpStream) -> Answer {
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    let (headline, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = headline
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|_| json!({})),
    )
}

#[test]
fn api_abuse_is_refused_counted_and_audited() {
    let t = Target::start("api", catalog(&[]), "[serve]\nmax_body = \"1MiB\"\n");
    let call_path = "/v1/tools/text-analysis/call";
    let body = json!({"function": "sentiment", "arguments": {"text": "a b"}}).to_string();
    let token = refused("unauthenticated", "token");

    // Credentials.
    let forged = format!("cdn_{}", "ab".repeat(32));
    let valid = t.server.token.clone();
    let mut flipped = valid.clone();
    let last = if flipped.ends_with('0') { "1" } else { "0" };
    flipped.replace_range(flipped.len() - 1.., last);
    let (expired, _) = create_token_with(&t.env, "acme", "developer", &["--ttl", "1s"]);
    let (revoked, revoked_id) = create_token_with(&t.env, "acme", "developer", &[]);
    let out = t
        .env
        .cordon()
        .args(["token", "revoke", &revoked_id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(1500));
    let credential_cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "a forged token of the right shape",
            vec![("Authorization", bearer(&forged))],
        ),
        (
            "a token without the cdn_ prefix",
            vec![("Authorization", bearer(&"ab".repeat(32)))],
        ),
        (
            "a valid token with its last character changed",
            vec![("Authorization", bearer(&flipped))],
        ),
        (
            "an expired token",
            vec![("Authorization", bearer(&expired))],
        ),
        ("a revoked token", vec![("Authorization", bearer(&revoked))]),
        (
            "an empty bearer token",
            vec![("Authorization", "Bearer ".to_owned())],
        ),
        (
            "basic credentials instead of a bearer token",
            vec![("Authorization", "Basic YWRtaW46YWRtaW4=".to_owned())],
        ),
        (
            "a token followed by a second one",
            vec![("Authorization", format!("Bearer {valid} {forged}"))],
        ),
        (
            "two Authorization headers, the forged one second",
            vec![
                ("Authorization", bearer(&valid)),
                ("Authorization", bearer(&forged)),
            ],
        ),
        (
            "two Authorization headers, the forged one first",
            vec![
                ("Authorization", bearer(&forged)),
                ("Authorization", bearer(&valid)),
            ],
        ),
        (
            "a bearer token of 8 KiB",
            vec![(
                "Authorization",
                bearer(&format!("cdn_{}", "a".repeat(8192))),
            )],
        ),
    ];
    for (case, headers) in &credential_cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        t.refused(case, token, |t| {
            raw(t, "POST", call_path, &headers, Some(&body))
        });
    }
    t.refused("a forged token on /mcp", token, |t| {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "0"}}}).to_string();
        let auth = bearer(&forged);
        raw(t, "POST", "/mcp", &[("Authorization", &auth), ("Accept", "application/json, text/event-stream")], Some(&init))
    });
    t.refused("a forged token reading the audit log", token, |t| {
        let auth = bearer(&forged);
        raw(
            t,
            "GET",
            "/v1/audit?tenant=*",
            &[("Authorization", &auth)],
            None,
        )
    });

    // Tenants: `other` has a job; `acme` reaches for it.
    let (other, _) = create_token_with(&t.env, "other", "developer", &[]);
    let (acme_admin, _) = create_token_with(&t.env, "acme", "admin", &[]);
    let (status, job) = http(
        &t.server.addr,
        "POST",
        "/v1/jobs",
        Some(
            &json!({"tool": "text-analysis", "function": "sentiment", "args": {"text": "theirs"}}),
        ),
        Some(&other),
    );
    assert!(status == 202, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();
    let crossing = |code| refused(code, "tenant_crossing");
    t.refused("read another tenant's job", crossing("not_found"), |t| {
        t.server.call("GET", &format!("/v1/jobs/{job_id}"), None)
    });
    t.refused("wait on another tenant's job", crossing("not_found"), |t| {
        t.server
            .call("GET", &format!("/v1/jobs/{job_id}?wait_ms=50"), None)
    });
    t.refused(
        "release another tenant's job from quarantine",
        crossing("not_found"),
        |t| {
            http(
                &t.server.addr,
                "POST",
                &format!("/v1/quarantine/{job_id}/release"),
                None,
                Some(&acme_admin),
            )
        },
    );
    t.refused("discard another tenant's job", crossing("not_found"), |t| {
        http(
            &t.server.addr,
            "DELETE",
            &format!("/v1/quarantine/{job_id}"),
            None,
            Some(&acme_admin),
        )
    });
    t.refused(
        "read another tenant's audit records",
        crossing("bad_request"),
        |t| t.server.call("GET", "/v1/audit?tenant=other", None),
    );
    t.refused(
        "read every tenant's audit records without being an operator",
        crossing("bad_request"),
        |t| {
            http(
                &t.server.addr,
                "GET",
                "/v1/audit?tenant=*",
                None,
                Some(&acme_admin),
            )
        },
    );

    // Bodies.
    let auth = bearer(&valid);
    let oversized = refused("too_large", "oversized_input");
    let malformed = refused("bad_request", "malformed_request");
    t.refused("a declared body of 1 GiB", oversized, |t| {
        let head = format!(
            "POST {call_path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\nConnection: close\r\n\r\n{{",
            t.server.addr
        );
        lenient(t, head.as_bytes())
    });
    t.refused("a chunked body past the cap", oversized, |t| {
        chunked(t, call_path, &valid, 4 << 20)
    });
    t.refused("an argument of 2 MiB", oversized, |t| {
        let big = json!({"function": "sentiment", "arguments": {"text": "x".repeat(2 << 20)}})
            .to_string();
        let request = format!(
            "POST {call_path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
            t.server.addr,
            big.len()
        );
        lenient(t, request.as_bytes())
    });
    let nested = format!(
        "{{\"function\":\"sentiment\",\"arguments\":{{\"text\":{}1{}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let body_cases: Vec<(&str, &str, String)> = vec![
        (
            "JSON cut off",
            call_path,
            "{\"function\": \"sentiment\", \"argu".to_owned(),
        ),
        (
            "not JSON at all",
            call_path,
            "<?xml version=\"1.0\"?><call/>".to_owned(),
        ),
        (
            "arguments of the wrong type",
            call_path,
            "{\"function\": \"sentiment\", \"arguments\": [1, 2]}".to_owned(),
        ),
        (
            "an unknown field",
            call_path,
            "{\"function\": \"sentiment\", \"arguments\": {}, \"grants\": {\"dirs\": [\"/\"]}}"
                .to_owned(),
        ),
        ("JSON nested 100,000 deep", call_path, nested),
        (
            "invalid UTF-8 escapes",
            call_path,
            "{\"function\": \"sentiment\", \"arguments\": {\"text\": \"\\udc00\\ud800\"}}"
                .to_owned(),
        ),
        (
            "a job body with its tool missing",
            "/v1/jobs",
            "{\"args\": {}}".to_owned(),
        ),
        (
            "a job body asking for a priority that does not exist",
            "/v1/jobs",
            "{\"tool\": \"text-analysis\", \"priority\": \"root\"}".to_owned(),
        ),
    ];
    for (case, path, body) in &body_cases {
        t.refused(case, malformed, |t| {
            raw(t, "POST", path, &[("Authorization", &auth)], Some(body))
        });
    }
    t.refused("a body sent as text/plain", malformed, |t| {
        let request = format!(
            "POST {call_path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        lenient(t, request.as_bytes())
    });

    // Refused requests called no tool: they are escape attempts, not tool calls.
    let metrics = http_raw(&t.server.addr, "GET", "/metrics", &[], None).body;
    let toolless: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("cordon_tool_calls_total{") && l.contains("tool=\"\""))
        .collect();
    assert!(toolless.is_empty(), "{toolless:?}");

    t.done(31);
}

/// Anyone who can reach the port can send a forged token, as fast as they like. Every such
/// refusal is counted, but the audit log grows only by its budget (a burst of 100, then 5 a
/// second); the rest are one summary record every few seconds whose counts make up the
/// difference, so nothing is lost and nobody without credentials can fill the disk.
#[test]
fn a_flood_without_credentials_is_counted_in_full_and_audited_within_a_budget() {
    const FLOOD: u64 = 2_000;
    let t = Target::start("api-flood", catalog(&[]), "");
    let forged = format!("cdn_{}", "cd".repeat(32));
    let counted = |t: &Target| t.escapes().get("token").copied().unwrap_or(0);
    let before = counted(&t);
    let started = Instant::now();
    for _ in 0..FLOOD {
        let (status, _) = http(&t.server.addr, "GET", "/v1/tools", None, Some(&forged));
        assert_eq!(status, 401);
    }
    let flooded_for = started.elapsed();
    assert_eq!(counted(&t) - before, FLOOD, "every refusal is counted");

    let records = |outcome: &str| -> Vec<Value> {
        let (status, page) = http(
            &t.server.addr,
            "GET",
            &format!("/v1/audit?tenant=*&outcome={outcome}&limit=1000"),
            None,
            Some(&t.operator),
        );
        assert_eq!(status, 200, "{page}");
        page["records"].as_array().unwrap().clone()
    };
    // The last summary is written within 5 s of the flood's end.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (alone, summarized) = loop {
        let alone = records("unauthenticated").len() as u64;
        let summaries = records("refusals_summarized");
        let summarized: u64 = summaries
            .iter()
            .map(|r| {
                let reason = r["reasons"][0].as_str().unwrap_or_default();
                assert!(reason.contains("× unauthenticated [token]"), "{reason}");
                reason.split(' ').next().unwrap().parse::<u64>().unwrap()
            })
            .sum();
        if alone + summarized >= FLOOD || Instant::now() > deadline {
            break (alone, summarized);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alone + summarized, FLOOD, "recorded alone + summarized");
    let budget = 100 + 5 * (flooded_for.as_secs() + 1);
    assert!(
        alone <= budget,
        "{alone} records of their own for {FLOOD} refusals in {flooded_for:?} (budget {budget})"
    );
    assert!(summarized > 0, "nothing was summarized");
    // And the server still serves the holder of a real token.
    let (status, v) = t.server.call("GET", "/v1/tools", None);
    assert_eq!(status, 200, "{v}");
}
