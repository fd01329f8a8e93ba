//! Native commands through `cordon exec --backend`: allow-listed programs run in their tier
//! and exit with their own status; anything else never starts, with `command_not_allowed`,
//! and is audited; hostile programs stop with their limit's code.

use super::*;

/// `cordon exec --backend process -- ARGV` with `config` (TOML) as cordon.toml.
fn exec(env: &Env, config: &str, argv: &[&str]) -> Output {
    exec_in(env, "process", config, argv)
}

/// `cordon exec --backend BACKEND -- ARGV` with `config` (TOML) as cordon.toml.
fn exec_in(env: &Env, backend: &str, config: &str, argv: &[&str]) -> Output {
    let path = env.data.path().join("native.toml");
    std::fs::write(&path, config).unwrap();
    env.cordon()
        .arg("--config")
        .arg(&path)
        .args(["exec", "--backend", backend, "--"])
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `None` (after printing why) when the process tier cannot run on this machine.
fn process_tier(env: &Env) -> Option<()> {
    tier_available(env, "process")
}

/// `None` (after printing why) when `tier` cannot run on this machine.
pub(crate) fn tier_available(env: &Env, tier: &str) -> Option<()> {
    let out = env.cordon().args(["doctor", "--json"]).output().unwrap();
    let report = stdout_json(&out);
    let b = &report["backends"][tier];
    if b["available"] == true {
        Some(())
    } else {
        println!("SKIPPED: the {tier} tier cannot run here: {}", b["detail"]);
        None
    }
}

#[test]
fn doctor_reports_every_backend_with_a_reason() {
    let env = Env::new();
    let out = env.cordon().args(["doctor", "--json"]).output().unwrap();
    let report = stdout_json(&out);
    for backend in ["wasm", "process", "container", "gvisor", "microvm"] {
        let b = &report["backends"][backend];
        assert!(b["available"].is_boolean(), "{backend}: {report}");
        assert!(
            b["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{backend}: {report}"
        );
    }
    assert_eq!(report["backends"]["wasm"]["available"], true);
    let text = env.cordon().arg("doctor").output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("process"));
}

#[test]
fn an_allowed_command_runs_and_exits_with_its_own_status() {
    let env = Env::new();
    if process_tier(&env).is_none() {
        return;
    }
    let out = exec(
        &env,
        "",
        &[
            "python3",
            "-c",
            "import sys; print(6 * 7); print('warn', file=sys.stderr)",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "warn\n");
    let out = exec(&env, "", &["python3", "-c", "import sys; sys.exit(3)"]);
    assert_eq!(out.status.code(), Some(3));
    let records = audit_records(&env, &["--tool", "exec"]);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["backend"], "process");
    assert_eq!(records[1]["outcome"], "exit 3");
}

#[test]
fn commands_off_the_allow_list_never_start_however_they_are_named() {
    let env = Env::new();
    if process_tier(&env).is_none() {
        return;
    }
    let marker = env.ws.path().join("marker");
    let link = env.ws.path().join("python3");
    std::os::unix::fs::symlink("/usr/bin/rm", &link).unwrap();
    let marker_s = marker.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["rm", "-f", marker_s],
        vec!["curl", "http://127.0.0.1/"],
        vec!["sudo", "id"],
        vec!["shutdown", "now"],
        vec!["/usr/bin/env", "rm", marker_s],
        vec!["env", "rm", marker_s],
        vec!["./rm", marker_s],
        vec![link.to_str().unwrap(), marker_s],
        vec!["python3;rm", marker_s],
        vec!["python3 -c 1", marker_s],
        vec!["sh", "-c", "rm -f marker"],
    ];
    for argv in &cases {
        std::fs::write(&marker, "still here").unwrap();
        let out = exec(&env, "", argv);
        assert_eq!(error_json(&out)["code"], "command_not_allowed", "{argv:?}");
        assert_eq!(out.status.code(), Some(3), "{argv:?}");
        assert!(marker.exists(), "{argv:?} ran");
    }
    let records = audit_records(&env, &["--outcome", "command_not_allowed"]);
    assert_eq!(records.len(), cases.len(), "every refusal is audited");
    assert!(
        records
            .iter()
            .all(|r| r["violations"][0]["kind"] == "command"),
        "{records:?}"
    );
}

#[test]
fn hostile_commands_stop_with_their_limits_code_in_every_tier() {
    let env = Env::new();
    let config = "[limits]\ntimeout = \"3s\"\nmemory = \"64MiB\"\noutput = \"64KiB\"\n";
    // The fork bomb gets memory to spare, so that what stops it is the pids limit (under
    // gVisor each guest process also costs the user-space kernel memory).
    let roomy = "[limits]\ntimeout = \"3s\"\nmemory = \"512MiB\"\n";
    let cases = [
        ("import time; time.sleep(30)", config, "deadline_exceeded"),
        (
            "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass",
            roomy,
            "process_limit",
        ),
        ("x = b'a' * (1 << 30)", config, "memory_limit"),
        (
            "import sys\nwhile True: sys.stdout.write('x' * 4096)",
            config,
            "output_limit",
        ),
    ];
    for tier in ["process", "container", "gvisor", "microvm"] {
        if tier_available(&env, tier).is_none() {
            continue;
        }
        // A one-shot `cordon exec` in the microVM tier boots its VM (seconds with an emulated
        // CPU, twice when the call needs a bigger machine than the pool's); the others start
        // in milliseconds. Either way the deadline, not the sleep, must end the call.
        let bound = Duration::from_secs(if tier == "microvm" { 45 } else { 15 });
        // An emulated CPU on a busy machine needs seconds to start Python and fill 64 MiB;
        // a 3 s deadline there would stop the memory bomb before its memory limit could.
        let stretch = |config: &str| match tier {
            "microvm" => config.replace("timeout = \"3s\"", "timeout = \"15s\""),
            _ => config.to_owned(),
        };
        let out = exec_in(&env, tier, config, &["python3", "-c", "print(6 * 7)"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "42\n",
            "{tier}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (code, config, expected) in cases {
            let started = Instant::now();
            let out = exec_in(&env, tier, &stretch(config), &["python3", "-c", code]);
            assert_eq!(error_json(&out)["code"], expected, "{tier}: {code}");
            assert_eq!(out.status.code(), Some(4), "{tier}: {code}");
            assert!(
                started.elapsed() < bound,
                "{tier}: {code}: {:?}",
                started.elapsed()
            );
        }
        let out = exec_in(&env, tier, "", &["curl", "http://127.0.0.1/"]);
        assert_eq!(error_json(&out)["code"], "command_not_allowed", "{tier}");
    }
    // The receipt and the audit log name the tier that ran each call.
    let backends: std::collections::BTreeSet<String> = audit_records(&env, &["--tool", "exec"])
        .iter()
        .filter_map(|r| r["backend"].as_str().map(str::to_owned))
        .collect();
    assert!(backends.contains("process"), "{backends:?}");
    // A tier this host cannot run (here: no VM image) is refused with the reason, not
    // silently replaced by a weaker one.
    let out = env
        .cordon()
        .env("CORDON_VM_IMAGE", env.data.path().join("no-such-image"))
        .args(["exec", "--backend", "microvm", "--", "python3", "-c", "1"])
        .output()
        .unwrap();
    let error = error_json(&out);
    assert_eq!(error["code"], "backend_unavailable");
    assert!(
        error["message"].as_str().unwrap().contains("make vm-image"),
        "{error}"
    );
}

/// A catalog tool that is a command (`[native]`): listed with the schema of its one function,
/// `run(args?, stdin?)`, and called over HTTP and MCP like any tool, in the tier its manifest
/// asks for, with its workspace grant; the receipt names the tier (and for a microVM, whether
/// KVM or QEMU's emulator ran it); arguments that are not strings never reach the command.
#[test]
fn command_tools_are_called_over_http_and_mcp_in_their_tier() {
    let env = Env::new();
    if process_tier(&env).is_none() {
        return;
    }
    let tools = tempfile::tempdir().unwrap();
    // Words on stdin, then each argument: a workspace file's word count.
    let program = "import sys\nprint(len(sys.stdin.read().split()), *(len(open(n).read().split()) for n in sys.argv[1:]))";
    for (name, tier) in [("count-words", "process"), ("count-words-vm", "microvm")] {
        add_tool(
            tools.path(),
            name,
            None,
            &format!(
                "[native]\ncommand = \"python3\"\nargs = [\"-c\", {program:?}]\ntier = \"{tier}\"\n[capabilities]\nworkspace = \"ro\"\n"
            ),
        );
    }
    // One-shot pool: this test makes one microVM call; a pool would boot VMs nobody uses.
    let config = env.data.path().join("pool.toml");
    std::fs::write(&config, "microvm_pool = 0\n").unwrap();
    let server = serve_with(&env, tools.path(), &["--config", config.to_str().unwrap()]);

    let (status, detail) = server.call("GET", "/v1/tools/count-words", None);
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["functions"][0]["name"], "run");
    assert_eq!(
        detail["functions"][0]["input_schema"]["properties"]["args"]["items"]["type"],
        "string"
    );

    let call = json!({"arguments": {"stdin": "a b c"}});
    let (status, body) = server.call("POST", "/v1/tools/count-words/call", Some(&call));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"]["stdout"], "3\n", "{body}");
    assert_eq!(body["value"]["code"], 0);
    assert_eq!(body["receipt"]["backend"], "process");
    assert!(body["receipt"].get("accel").is_none(), "{body}");

    for bad in [
        json!({"args": [1]}),
        json!({"args": "x"}),
        json!({"argv": ["rm"]}),
    ] {
        let (status, body) = server.call(
            "POST",
            "/v1/tools/count-words/call",
            Some(&json!({ "arguments": bad })),
        );
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
    }

    if tier_available(&env, "microvm").is_some() {
        let (status, body) = server.call("POST", "/v1/tools/count-words-vm/call", Some(&call));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["value"]["stdout"], "3\n", "{body}");
        assert_eq!(body["receipt"]["backend"], "microvm");
        let accel = body["receipt"]["accel"].as_str().unwrap();
        assert!(["kvm", "tcg"].contains(&accel), "{body}");
    }

    // MCP over Streamable HTTP with the official Python SDK.
    let url = format!("http://{}/mcp", server.addr);
    let report = super::mcp::python_client_with(
        &env,
        tools.path(),
        &json!([["count-words", {"stdin": "one two"}]]),
        &["http", &url, &server.token],
    );
    let listed = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "count-words")
        .unwrap_or_else(|| panic!("count-words not listed: {report}"));
    assert_eq!(
        listed["input_schema"]["properties"]["stdin"]["type"],
        "string"
    );
    let result = &report["calls"][0];
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["structured"]["result"]["stdout"], "2\n", "{result}");
    assert_eq!(result["meta"]["cordon/receipt"]["backend"], "process");

    // The CLI, with a workspace granted read-only: the command reads a file in it.
    let out = env
        .cordon()
        .env("CORDON_TOOLS_DIR", tools.path())
        .args(["run", "count-words", "--dir", &env.dir("rw")])
        .args(["--json", r#"{"args": ["notes.txt"]}"#])
        .output()
        .unwrap();
    assert_eq!(
        stdout_json(&out)["stdout"],
        "0 4\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every call is on the record under the tool's own name.
    let records = audit_records(&env, &["--tool", "count-words"]);
    assert!(
        records
            .iter()
            .any(|r| r["function"] == "run" && r["backend"] == "process" && r["outcome"] == "ok"),
        "{records:?}"
    );
    assert!(
        records.iter().any(|r| r["outcome"] == "bad_request"),
        "{records:?}"
    );
}

/// QEMU processes whose command line holds `marker`, by pid.
fn qemu_processes(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.contains("qemu-system") && cmdline.contains(marker)
        })
        .collect()
}

/// A server killed outright (SIGKILL: none of its destructors run) takes the microVMs it
/// booted with it. QEMU is started bound to the server's life, so a pool VM does not go on
/// emulating a CPU under init after its server is gone.
#[test]
fn booted_microvms_die_with_a_killed_server() {
    let env = Env::new();
    if tier_available(&env, "microvm").is_none() {
        return;
    }
    let tools = tempfile::tempdir().unwrap();
    add_tool(
        tools.path(),
        "vm-true",
        None,
        "[native]\ncommand = \"python3\"\nargs = [\"-c\", \"pass\"]\ntier = \"microvm\"\n",
    );
    let config = env.data.path().join("pool.toml");
    std::fs::write(&config, "microvm_pool = 2\n").unwrap();
    // The VMs' directories go under a temporary directory of this test's own: its path in
    // QEMU's command line tells this server's VMs from any other's.
    let vm_tmp = tempfile::tempdir().unwrap();
    let marker = vm_tmp.path().to_str().unwrap().to_owned();
    let token = create_token(&env, "acme", "developer");
    let addr = free_local_addr();
    let mut child = env
        .cordon()
        .env("CORDON_TOOLS_DIR", tools.path())
        .env("TMPDIR", vm_tmp.path())
        .args(["serve", "--listen", &addr])
        .args(["--config", config.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Killed if this test fails before it kills the server itself.
    let mut server = Server { child, addr, token };
    let banner = lines.next().unwrap().unwrap();
    assert!(banner.contains("cordon serving on"), "{banner}");
    std::thread::spawn(move || for _ in lines {});
    // The tier starts with its first call, which then refills the pool.
    let (status, v) = server.call(
        "POST",
        "/v1/tools/vm-true/call",
        Some(&json!({"function": "run", "arguments": {}})),
    );
    assert_eq!(status, 200, "{v}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while qemu_processes(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the server kept no VM booted 60 s after a call"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left = qemu_processes(&marker);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left = qemu_processes(&marker);
    }
    for pid in &left {
        // Leave nothing emulating for the tests after this one.
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(
        left.is_empty(),
        "QEMU {left:?} outlived its killed server by 10 s"
    );
}
