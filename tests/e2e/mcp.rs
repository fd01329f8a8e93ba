//! MCP with clients nobody here wrote: the official MCP Python SDK (`pip install mcp`,
//! installed by `make test` into `.cache/venv-mcp`) drives `cordon mcp` over stdio and
//! `cordon serve`'s `/mcp` over Streamable HTTP. `tests/mcp/python_client.py` only speaks
//! MCP and prints what it saw; the assertions are here.

use super::*;

fn python() -> PathBuf {
    let p = repo().join(".cache/venv-mcp/bin/python");
    assert!(
        p.is_file(),
        "the MCP Python SDK is not installed: run `make test` (it creates {})",
        p.display()
    );
    p
}

/// Runs the SDK client; `transport` is `["stdio", command...]` or `["http", url, token]`.
fn python_client(env: &Env, calls: &Value, transport: &[&str]) -> Value {
    python_client_with(env, &tools_dir(), calls, transport)
}

/// The Python SDK client as a command: `transport` is `["stdio", command...]` or
/// `["http", url, token]`.
fn python_command(env: &Env, tools: &Path, calls: &Value, transport: &[&str]) -> Command {
    let mut c = Command::new(python());
    c.arg(repo().join("tests/mcp/python_client.py"))
        .arg(transport[0])
        .arg(calls.to_string())
        .args(&transport[1..])
        // The stdio server inherits this environment: the test's data and tools dirs.
        .env_remove("CORDON_CONFIG")
        .env("CORDON_DATA_DIR", env.data.path())
        .env("CORDON_TOOLS_DIR", tools)
        .current_dir(env.ws.path());
    c
}

/// The JSON report an SDK client printed, or a panic with its stderr.
fn report(sdk: &str, out: &Output) -> Value {
    assert!(
        out.status.success(),
        "the MCP {sdk} SDK client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

pub(super) fn python_client_with(
    env: &Env,
    tools: &Path,
    calls: &Value,
    transport: &[&str],
) -> Value {
    let out = python_command(env, tools, calls, transport)
        .output()
        .unwrap();
    report("Python", &out)
}

/// Runs the Python client with one `@await-list-changed` step; `change` runs once the
/// client says it is waiting (its session is open and its first listing done).
fn python_client_awaiting_change(
    env: &Env,
    tools: &Path,
    transport: &[&str],
    change: impl FnOnce(),
) -> Value {
    let calls = json!([["@await-list-changed", {"seconds": 30}]]);
    let mut child = python_command(env, tools, &calls, transport)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in stderr.by_ref() {
        if line.unwrap().contains("waiting for tools/list_changed") {
            break;
        }
    }
    change();
    // The rest of stderr is drained so the client never blocks on it; `report` shows
    // nothing of it, but a failure here is the client's exit status.
    std::thread::spawn(move || for _ in stderr {});
    report("Python", &child.wait_with_output().unwrap())
}

/// Runs the TypeScript SDK client over Streamable HTTP against `url` with `token`.
fn ts_client(calls: &Value, url: &str, token: &str) -> Value {
    let modules = repo().join(".cache/node-mcp");
    assert!(
        modules
            .join("node_modules/@modelcontextprotocol/sdk")
            .is_dir(),
        "the MCP TypeScript SDK is not installed: run `make test` (it installs it into {})",
        modules.display()
    );
    let out = Command::new("node")
        .arg(repo().join("tests/mcp/ts_client.mjs"))
        .arg(&modules)
        .arg(calls.to_string())
        .args([url, token])
        .output()
        .unwrap();
    report("TypeScript", &out)
}

fn tool_names(report: &Value) -> Vec<String> {
    report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The calls both transports make: one that runs, one policy refuses for a guest (write),
/// one whose path argument climbs out of the workspace.
fn calls() -> Value {
    json!([
        ["text-analysis__sentiment", {"text": "I love this, it is great"}],
        ["fs__write-file", {"path": "out.txt", "contents": "x"}],
        ["fs__read-file", {"path": "../../etc/passwd"}],
    ])
}

fn check_success(call: &Value) {
    assert_eq!(call["is_error"], false, "{call}");
    assert!(
        call["structured"]["result"]["score"].as_f64().unwrap() > 0.0,
        "{call}"
    );
    let receipt = &call["meta"]["cordon/receipt"];
    assert!(
        receipt["request_id"].as_str().unwrap().starts_with("req_"),
        "{call}"
    );
    assert_eq!(receipt["backend"], "wasm");
    assert!(receipt["fuel_used"].as_u64().unwrap() > 0, "{call}");
    assert!(receipt["peak_memory_bytes"].as_u64().unwrap() > 0, "{call}");
    assert!(receipt.get("wall_time_us").is_some(), "{call}");
}

/// A refusal is a tool error whose text names the code and the request id.
fn check_refusal(call: &Value, code: &str) {
    assert_eq!(call["is_error"], true, "{call}");
    let text = call["text"].as_str().unwrap();
    assert!(text.starts_with(&format!("{code}: ")), "{text}");
    let request_id = call["meta"]["cordon/error"]["request_id"].as_str().unwrap();
    assert!(text.contains(&format!("(request {request_id})")), "{text}");
    assert_eq!(call["meta"]["cordon/error"]["code"], code);
}

#[test]
fn the_python_sdk_over_stdio_lists_calls_and_sees_refusals() {
    let env = Env::new();
    let cordon = env!("CARGO_BIN_EXE_cordon");
    let report = python_client(
        &env,
        &calls(),
        &[
            "stdio", cordon, "mcp", "--tenant", "acme", "--role", "guest",
        ],
    );
    assert_eq!(report["server"], "cordon");
    let names = tool_names(&report);
    // A guest sees what it may call: reads and pure tools, not writes.
    assert!(
        names.contains(&"text-analysis__sentiment".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"fs__read-file".to_owned()), "{names:?}");
    assert!(!names.contains(&"fs__write-file".to_owned()), "{names:?}");
    let sentiment = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "text-analysis__sentiment")
        .unwrap();
    assert_eq!(
        sentiment["input_schema"]["properties"]["text"]["type"],
        "string"
    );
    assert!(
        sentiment["description"]
            .as_str()
            .unwrap()
            .contains("sentiment"),
        "{sentiment}"
    );

    let results = report["calls"].as_array().unwrap();
    check_success(&results[0]);
    check_refusal(&results[1], "policy_denied");
    check_refusal(&results[2], "path_escape");
    assert_eq!(
        results[2]["meta"]["cordon/error"]["violations"][0]["kind"],
        "path_traversal"
    );

    // Every call, refused or not, is on the record under the guest's tenant.
    let audit = env
        .cordon()
        .args(["audit", "query", "--tenant", "acme", "--json"])
        .output()
        .unwrap();
    let audit = String::from_utf8_lossy(&audit.stdout);
    for call in results {
        let id = call["meta"]["cordon/receipt"]["request_id"]
            .as_str()
            .unwrap();
        assert!(audit.contains(id), "{id} not in the audit log:\n{audit}");
    }
}

#[test]
fn the_python_sdk_over_streamable_http_needs_a_token_and_runs_as_its_owner() {
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    let url = format!("http://{}/mcp", server.addr);

    // No token: refused before MCP is spoken.
    let (status, body) = http(
        &server.addr,
        "POST",
        "/mcp",
        Some(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
        None,
    );
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated");

    // A developer token: writes are listed; the traversal is still refused.
    let report = python_client(&env, &calls(), &["http", &url, &server.token]);
    let names = tool_names(&report);
    assert!(names.contains(&"fs__write-file".to_owned()), "{names:?}");
    let results = report["calls"].as_array().unwrap();
    check_success(&results[0]);
    check_refusal(&results[2], "path_escape");

    // A guest token on another tenant sees less and is refused the write.
    let guest = create_token(&env, "other", "guest");
    let report = python_client(&env, &calls(), &["http", &url, &guest]);
    assert!(!tool_names(&report).contains(&"fs__write-file".to_owned()));
    check_refusal(&report["calls"][1], "policy_denied");
}

#[test]
fn clients_hear_that_the_tool_list_changed_when_the_catalog_does() {
    let env = Env::new();
    let tools = tempfile::tempdir().unwrap();
    add_tool(tools.path(), "adder", Some("trivial.wasm"), "");

    // stdio: a tool added while the session is open.
    let cordon = env!("CARGO_BIN_EXE_cordon");
    let report =
        python_client_awaiting_change(&env, tools.path(), &["stdio", cordon, "mcp"], || {
            add_tool(tools.path(), "summer", Some("trivial.wasm"), "");
        });
    assert_eq!(tool_names(&report), ["adder"], "the first listing");
    let step = &report["calls"][0];
    assert_eq!(step["notified"], true, "{report}");
    assert_eq!(step["tools"], json!(["adder", "summer"]));

    // Streamable HTTP: a tool removed while the session is open.
    let server = serve(&env, tools.path());
    let url = format!("http://{}/mcp", server.addr);
    let report =
        python_client_awaiting_change(&env, tools.path(), &["http", &url, &server.token], || {
            std::fs::remove_dir_all(tools.path().join("summer")).unwrap();
        });
    let step = &report["calls"][0];
    assert_eq!(step["notified"], true, "{report}");
    assert_eq!(step["tools"], json!(["adder"]));
    // And a call of the removed tool is refused as unknown.
    let (status, v) = server.call(
        "POST",
        "/v1/tools/summer/call",
        Some(&json!({"arguments": {"a": 1, "b": 2}})),
    );
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (404, json!("not_found"))
    );
}

#[test]
fn the_typescript_sdk_over_streamable_http_lists_calls_and_sees_refusals() {
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    let url = format!("http://{}/mcp", server.addr);
    let report = ts_client(&calls(), &url, &server.token);
    assert_eq!(report["server"], "cordon");
    let names = tool_names(&report);
    assert!(
        names.contains(&"text-analysis__sentiment".to_owned()),
        "{names:?}"
    );
    let sentiment = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "text-analysis__sentiment")
        .unwrap();
    assert_eq!(
        sentiment["input_schema"]["properties"]["text"]["type"],
        "string"
    );
    let results = report["calls"].as_array().unwrap();
    check_success(&results[0]);
    check_refusal(&results[2], "path_escape");

    // A guest on another tenant: the write is not listed and is refused when called.
    let guest = create_token(&env, "other", "guest");
    let report = ts_client(&calls(), &url, &guest);
    assert!(!tool_names(&report).contains(&"fs__write-file".to_owned()));
    check_refusal(&report["calls"][1], "policy_denied");
}

/// A raw MCP `initialize` with the given `Host` and optional `Origin`; the status line.
fn raw_initialize(server: &Server, host: &str, origin: Option<&str>) -> String {
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}})
    .to_string();
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\n{origin}Authorization: Bearer {}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.token,
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn streamable_http_refuses_a_foreign_origin_and_accepts_its_own() {
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    // A page on another site, run in the user's browser, sends its own Origin.
    let status = raw_initialize(&server, &server.addr, Some("https://evil.example"));
    assert!(status.starts_with("HTTP/1.1 403"), "{status}");
    let own = format!("http://{}", server.addr);
    let status = raw_initialize(&server, &server.addr, Some(&own));
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // Clients that are not browsers send no Origin.
    let status = raw_initialize(&server, &server.addr, None);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
}

#[test]
fn streamable_http_refuses_a_foreign_host_header() {
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    // A page on evil.example whose name resolves to 127.0.0.1 (DNS rebinding) still sends
    // its own Host; rmcp answers 403.
    let port = server.addr.rsplit(':').next().unwrap();
    let status = raw_initialize(&server, &format!("evil.example:{port}"), None);
    assert!(status.starts_with("HTTP/1.1 403"), "{status}");
}

#[test]
fn a_long_call_reports_progress_and_a_cancelled_one_stops_and_is_audited() {
    let env = Env::new();
    // The hostile fixture's `sleep` and `spin`, with limits that would let them run for
    // seconds (on tenant `local`, whose fuel ceiling is high enough).
    let tools = tempfile::tempdir().unwrap();
    add_tool(
        tools.path(),
        "hostile",
        Some("hostile.wasm"),
        "[limits]\ntimeout = \"60s\"\nfuel = 50_000_000_000\n",
    );
    let cordon = env!("CARGO_BIN_EXE_cordon");
    let started = Instant::now();
    let report = python_client_with(
        &env,
        tools.path(),
        &json!([
            ["hostile__sleep", {"millis": 30000}, 2.5],
            ["hostile__spin", {}, 0.5],
        ]),
        &[
            "stdio",
            cordon,
            "mcp",
            "--tenant",
            "local",
            "--role",
            "developer",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls[0]["abandoned"], true, "{report}");
    assert_eq!(calls[1]["abandoned"], true, "{report}");
    // One progress notification a second while the sleep ran.
    let progress = report["progress"].as_array().unwrap();
    assert!(!progress.is_empty(), "{report}");
    assert!(
        progress[0]["message"]
            .as_str()
            .unwrap()
            .contains("hostile__sleep"),
        "{report}"
    );

    // Both were stopped where they were and recorded as cancelled: the sleep after about
    // 2.5 s of its 30, the spin (a busy loop only the epoch can interrupt) after 0.5 s.
    let records = audit_records(&env, &["--tenant", "local", "--outcome", "cancelled"]);
    assert_eq!(records.len(), 2, "{records:?}");
    for (r, most_us) in records.iter().zip([10_000_000, 5_000_000]) {
        let wall = r["wall_time_us"].as_u64().unwrap();
        assert!(wall > 0 && wall < most_us, "{r}");
    }
}
