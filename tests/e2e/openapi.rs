//! The HTTP API against its own contract: schemathesis (installed by `make test` into
//! `.cache/venv-st`) reads `/v1/openapi.json`, generates requests from it (valid and
//! invalid), and fails on any 5xx and any response the document does not describe.

use super::*;

#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_schema() {
    let st = repo().join(".cache/venv-st/bin/schemathesis");
    assert!(
        st.is_file(),
        "schemathesis is not installed: run `make test` (it creates {})",
        st.parent().unwrap().display()
    );
    let env = Env::new();
    let server = serve(&env, &tools_dir());
    // An admin token reaches every route (the audit read included).
    let admin = create_token(&env, "acme", "admin");

    let (status, doc) = http(&server.addr, "GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    for path in [
        "/v1/tools/{name}/call",
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/audit",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }

    let reports = tempfile::tempdir().unwrap();
    let out = Command::new(&st)
        .args(["run", &format!("http://{}/v1/openapi.json", server.addr)])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection,unsupported_method",
        ])
        // One worker: schemathesis's generator, run in threads, trips a CPython 3.11 bug
        // in `ast.parse` ("AST constructor recursion depth mismatch") now and then.
        .args(["--max-examples", "25", "--seed", "1", "--workers", "1"])
        .args(["--request-timeout", "30", "--generation-deterministic"])
        .arg("--report-dir")
        .arg(reports.path())
        // Its cache (.schemathesis/) goes there too, not into the checkout.
        .current_dir(reports.path())
        .env("SCHEMATHESIS_HOOKS", "")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
