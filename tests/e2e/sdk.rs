//! A tool author's first hour, in each language: from an empty directory, `cordon new tool`,
//! the tests it came with, `cordon build`, `cordon tools add` and a call through `cordon run`
//! and through MCP, with the real tool chains (cargo, componentize-py, componentize-js,
//! clang) building against the real SDKs. The four tools answer identically.

use super::*;

#[test]
fn a_rust_tool_goes_from_an_empty_directory_to_calls_over_the_cli_and_mcp() {
    first_hour("rust", |demo, target| {
        let mut test = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        test.arg("test")
            .current_dir(demo)
            .env("CARGO_TARGET_DIR", target);
        test
    });
}

#[test]
fn a_python_tool_goes_from_an_empty_directory_to_calls_over_the_cli_and_mcp() {
    first_hour("python", |demo, _| {
        let mut test = Command::new("python3");
        test.args(["-m", "unittest"]).current_dir(demo);
        test
    });
}

#[test]
fn a_javascript_tool_goes_from_an_empty_directory_to_calls_over_the_cli_and_mcp() {
    first_hour("js", |demo, _| {
        let mut test = Command::new("node");
        test.arg("--test").current_dir(demo);
        test
    });
}

#[test]
fn a_c_tool_goes_from_an_empty_directory_to_calls_over_the_cli_and_mcp() {
    first_hour("c", |demo, _| {
        // The logic's tests run on the host with the host's compiler, as docs/sdk-c.md says.
        let mut test = Command::new("sh");
        test.args([
            "-c",
            "cc -Wall -Wextra -Werror -I src -I \"$SDK\" src/summarize.c tests/summarize_test.c -lm -o target/summarize_test && target/summarize_test",
        ])
        .env("SDK", repo().join("guest-sdks/c"))
        .current_dir(demo);
        std::fs::create_dir_all(demo.join("target")).unwrap();
        test
    });
}

/// `cordon new tool demo --lang LANG`, its own tests (`own_tests(dir, cargo target dir)`),
/// then build, add, list, and calls over the CLI and MCP.
fn first_hour(lang: &str, own_tests: impl Fn(&Path, &Path) -> Command) {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    // Builds share one target directory across runs, as an author's machine would keep one.
    let target = repo().join("target/sdk-tools");
    let cordon = |dir: &Path| {
        let mut c = env.cordon();
        c.current_dir(dir)
            .env("CORDON_TOOLS_DIR", tools.path())
            .env("CARGO_TARGET_DIR", &target);
        c
    };
    let ok = |out: Output| {
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    let created = ok(cordon(work.path())
        .args(["new", "tool", "demo", "--lang", lang])
        .output()
        .unwrap());
    assert!(created.contains("created demo/"), "{created}");
    let demo = work.path().join("demo");
    // The tests it came with pass, on the host: the tool's logic needs no bindings.
    let tested = own_tests(&demo, &target).output().unwrap();
    assert!(
        tested.status.success(),
        "{lang}: {}\n{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
    let built = ok(cordon(&demo).arg("build").output().unwrap());
    assert!(
        built.contains("demo.wasm") && built.contains("summarize"),
        "{built}"
    );
    let added = ok(cordon(&demo).args(["tools", "add", "."]).output().unwrap());
    assert!(added.starts_with("added demo 0.1.0 (sha256:"), "{added}");

    // The catalog lists it with the descriptions its WIT doc comments give.
    let listed: Value = serde_json::from_str(&ok(cordon(work.path())
        .args(["tools", "list"])
        .output()
        .unwrap()))
    .unwrap();
    let summarize = &listed["tools"][0]["functions"][0];
    assert_eq!(summarize["name"], "summarize", "{listed}");
    assert!(
        summarize["description"]
            .as_str()
            .unwrap()
            .starts_with("Summarises a CSV table"),
        "{summarize}"
    );

    let csv = "city,population\nOslo,709000\nBergen,291000\n";
    let out = cordon(work.path())
        .args(["run", "demo", "--json", &json!({ "csv": csv }).to_string()])
        .output()
        .unwrap();
    let value = stdout_json(&out);
    assert_eq!(value["rows"], 2, "{value}");
    assert_eq!(value["columns"][1]["numeric"]["max"], 709000.0, "{value}");
    // The SDK's typed error reaches the caller as tool_error, kind first.
    let out = cordon(work.path())
        .args(["run", "demo", "--json", r#"{"csv": "a,b\n1\n"}"#])
        .output()
        .unwrap();
    let error = error_json(&out);
    assert_eq!(error["code"], "tool_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid_input: row 1 has 1 fields"),
        "{error}"
    );

    // Through MCP (the official Python SDK over stdio), as an agent would call it.
    let report = super::mcp::python_client_with(
        &env,
        tools.path(),
        &json!([["demo", { "csv": csv }]]),
        &["stdio", env!("CARGO_BIN_EXE_cordon"), "mcp"],
    );
    let call = &report["calls"][0];
    assert_eq!(call["is_error"], false, "{call}");
    assert_eq!(call["structured"]["result"]["rows"], 2, "{call}");
    let logs = &call["meta"]["cordon/logs"];
    assert!(
        logs.to_string().contains("summarised a table"),
        "the SDK's log record reached the caller: {call}"
    );
}
