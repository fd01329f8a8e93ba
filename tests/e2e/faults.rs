//! Faults: the disk under the audit log fills up, and the host is killed mid-call. Calls
//! fail closed with a clear error, the caller never gets a half answer, and the audit chain
//! stays verifiable with nothing that ran left out.

use super::*;

/// The records `cordon audit verify` (run by `cordon`) counts; fails the test unless the
/// chain verifies.
fn verified_records(mut cordon: Command) -> u64 {
    let out = cordon.args(["audit", "verify"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "audit verify failed: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "ok: N records verified (#1..#N), head …"
    said.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"))
}

/// A 4 MiB tmpfs mounted for the test, unmounted when dropped; `None` when this process
/// cannot mount (not root, no mount namespace rights).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4M", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_under_the_audit_log_refuses_calls_until_there_is_room_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount() else {
        println!("SKIPPED: cannot mount a small tmpfs for the audit log (needs root)");
        return;
    };
    let env = Env::new();
    let data = disk.0.path().join("data");
    let serve_env = |c: &mut Command| {
        c.env("CORDON_DATA_DIR", &data);
    };
    let mut token_cmd = env.cordon();
    serve_env(&mut token_cmd);
    let out = token_cmd
        .args(["token", "create", "--tenant", "acme", "--role", "developer"])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let addr = free_local_addr();
    let mut server = env.cordon();
    serve_env(&mut server);
    let mut server = server
        .args(["serve", "--listen", &addr])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let body = json!({"function": "sentiment", "arguments": {"text": "fine"}});
    let call = || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(&addr).is_ok() {
                return http(
                    &addr,
                    "POST",
                    "/v1/tools/text-analysis/call",
                    Some(&body),
                    Some(&token),
                );
            }
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut ran = 0;
    assert_eq!(call().0, 200);
    ran += 1;

    // Fill the disk.
    let filler = disk.0.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    // The first calls may run before the writer finds the disk full: they are kept and
    // committed later. Then every call is refused, clearly.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refusal = loop {
        let (status, v) = call();
        if status == 200 {
            ran += 1;
        } else {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "calls still run with the audit log's disk full"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(refusal["error"]["code"], "unavailable", "{refusal}");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audit log cannot record calls"),
        "{refusal}"
    );
    for _ in 0..3 {
        assert_eq!(
            call().1["error"]["code"],
            "unavailable",
            "still refused while full"
        );
    }

    // Room again: calls resume once a commit succeeds.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while call().0 != 200 {
        assert!(
            Instant::now() < deadline,
            "calls did not resume after the disk had room"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ran += 1;
    // Stopped as an operator stops it (SIGTERM drains and commits what is queued).
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();

    // Every call that ran is on the record, and the chain verifies.
    let mut verify = env.cordon();
    serve_env(&mut verify);
    assert_eq!(
        verified_records(verify),
        ran,
        "every call that ran is on the record"
    );
}

#[test]
fn killing_the_host_mid_call_gives_the_caller_no_half_answer_and_keeps_the_chain() {
    let env = Env::new();
    let tools = tempfile::tempdir().unwrap();
    let hostile = tools.path().join("hostile");
    std::fs::create_dir(&hostile).unwrap();
    std::fs::copy(fixture("hostile.wasm"), hostile.join("hostile.wasm")).unwrap();
    std::fs::write(
        hostile.join("tool.toml"),
        "name = \"hostile\"\nversion = \"0\"\ndescription = \"Sleeps.\"\ncomponent = \"hostile.wasm\"\n\n[limits]\ntimeout = \"20s\"\n",
    )
    .unwrap();
    let mut server = serve(&env, tools.path());
    let (status, _) = server.call(
        "POST",
        "/v1/tools/hostile/call",
        Some(&json!({"function": "sleep", "arguments": {"millis": 1}})),
    );
    assert_eq!(status, 200);

    // A call that sleeps 10 s, and the host killed one second into it.
    let addr = server.addr.clone();
    let token = server.token.clone();
    let caller = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let body = json!({"function": "sleep", "arguments": {"millis": 10_000}}).to_string();
        write!(
            s,
            "POST /v1/tools/hostile/call HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = Vec::new();
        let read = s.read_to_end(&mut answer);
        (read.is_ok(), answer)
    });
    std::thread::sleep(Duration::from_secs(1));
    let _ = server.child.kill();
    let _ = server.child.wait();
    let (_, answer) = caller.join().unwrap();
    // The connection ends with nothing, or a reset: never a status line claiming success.
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.starts_with("HTTP/1.1 200"),
        "a killed host answered 200: {text}"
    );
    assert!(
        answer.is_empty(),
        "a killed host sent part of an answer: {text}"
    );

    // The chain holds what was committed and verifies.
    assert!(verified_records(env.cordon()) >= 1);
}
