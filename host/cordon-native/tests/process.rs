//! The process tier (bubblewrap) against hostile programs: each is stopped, with its code
//! where the host stops it, and leaves nothing running.
//!
//! Needs root (or delegated cgroups) and `bwrap`; prints `SKIPPED: <reason>` otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use cordon_native::{
    NativeCall, NativeLimits, NativeOutput, ProcessTier, Stopped, Workspace, resolve,
};
use std::path::Path;
use std::time::Duration;

async fn tier() -> Option<ProcessTier> {
    match ProcessTier::probe().await {
        Ok(t) => Some(t),
        Err(why) => {
            println!("SKIPPED: the process tier cannot run here: {why}");
            None
        }
    }
}

fn python(code: &str) -> NativeCall {
    let program = resolve("python3", Path::new("/")).unwrap().program;
    let mut call = NativeCall::new(program, vec!["-c".into(), code.into()]);
    call.limits = NativeLimits {
        timeout: Duration::from_secs(10),
        memory_bytes: 128 << 20,
        pids: 32,
        ..NativeLimits::default()
    };
    call
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn refused(out: &NativeOutput, expect: &str) {
    assert_ne!(
        out.code,
        Some(0),
        "stdout {} stderr {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains(expect),
        "expected {expect:?} in {}",
        text(&out.stderr)
    );
    assert_eq!(out.survivors, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_command_runs_with_nothing_of_the_host_but_usr() {
    let Some(tier) = tier().await else { return };
    let out = tier
        .run(&python("import os, sys; print(sorted(os.listdir('/')), os.getuid(), dict(os.environ)); print('err', file=sys.stderr)"))
        .await
        .unwrap();
    assert_eq!(out.code, Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // /etc holds only the loader's cache and the alternatives links.
    assert!(
        stdout.starts_with("['bin', 'dev', 'etc', 'lib', 'lib64', 'proc', 'sbin', 'tmp', 'usr']"),
        "{stdout}"
    );
    assert!(stdout.contains(" 1001 "), "runs as uid 1001: {stdout}");
    // Nothing of the host's environment: PATH and HOME set here, PWD by bwrap, LC_CTYPE by
    // Python itself (PEP 538).
    assert!(
        stdout.contains("{'PATH': '/usr/local/bin:/usr/bin:/bin', 'HOME': '/tmp', 'PWD': '/tmp'"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("CARGO") && !stdout.contains("USER"),
        "host env leaked: {stdout}"
    );
    let etc = tier
        .run(&python("import os; print(sorted(os.listdir('/etc')))"))
        .await
        .unwrap();
    assert_eq!(text(&etc.stdout), "['alternatives', 'ld.so.cache']\n");
    assert_eq!(text(&out.stderr), "err\n");
    assert!(out.stopped.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_to_root_and_reads_of_host_files_fail() {
    let Some(tier) = tier().await else { return };
    refused(
        &tier.run(&python("open('/pwned', 'w')")).await.unwrap(),
        "Read-only file system",
    );
    refused(
        &tier.run(&python("open('/usr/pwned', 'w')")).await.unwrap(),
        "Read-only file system",
    );
    refused(
        &tier
            .run(&python("print(open('/etc/shadow').read())"))
            .await
            .unwrap(),
        "No such file",
    );
    refused(
        &tier
            .run(&python("print(open('/root/.bash_history').read())"))
            .await
            .unwrap(),
        "No such file",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_connection_reaches_a_port_open_on_the_host() {
    let Some(tier) = tier().await else { return };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!("import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)");
    refused(
        &tier.run(&python(&code)).await.unwrap(),
        "Connection refused",
    );
    assert!(
        listener.accept().is_err(),
        "the host's listener was reached"
    );
    refused(
        &tier
            .run(&python(
                "import socket; socket.getaddrinfo('example.com', 80)",
            ))
            .await
            .unwrap(),
        "socket.gaierror",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn privileged_calls_are_refused() {
    let Some(tier) = tier().await else { return };
    // uid 0 does not exist in the sandbox's user namespace, and no capability is left.
    let code = "import os, sys\ntry:\n    os.setuid(0)\nexcept OSError as e:\n    sys.exit(f'refused: {e}')";
    refused(&tier.run(&python(code)).await.unwrap(), "refused: [Errno");
    // mount, ptrace and init_module through libc: each answered EPERM by the seccomp filter.
    for (name, call) in [
        ("mount", "libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)"),
        ("ptrace", "libc.ptrace(16, 1, 0, 0)"),
        ("init_module", "libc.syscall(175, None, 0, b'')"),
        ("unshare", "libc.unshare(0x10000000)"),
    ] {
        let code = format!(
            "import ctypes, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nr = {call}\ne = ctypes.get_errno()\nprint(r, os.strerror(e), file=sys.stderr)\nsys.exit(0 if r == 0 else 1)"
        );
        let out = tier.run(&python(&code)).await.unwrap();
        refused(&out, "-1 Operation not permitted");
        let _ = name;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_bomb_stops_at_the_pids_limit() {
    let Some(tier) = tier().await else { return };
    let mut call = python(
        "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)",
    );
    call.limits.timeout = Duration::from_secs(3);
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.stopped, Some(Stopped::Processes), "{out:?}");
    assert_eq!(out.survivors, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_stops_at_the_memory_limit() {
    let Some(tier) = tier().await else { return };
    let mut call = python("x = b'a' * (1 << 30)");
    call.limits.memory_bytes = 64 << 20;
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.stopped, Some(Stopped::Memory), "{out:?}");
    assert!(out.peak_memory.unwrap_or(0) <= 64 << 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_deadline_the_whole_tree_dies_daemons_included() {
    let Some(tier) = tier().await else { return };
    let ws = tempfile::tempdir().unwrap();
    let mut call = python("import time; time.sleep(60)");
    call.limits.timeout = Duration::from_millis(500);
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.stopped, Some(Stopped::Deadline));
    assert!(out.wall < Duration::from_secs(3), "{:?}", out.wall);
    assert_eq!(out.survivors, 0);

    // A daemon that detaches to outlive the call is gone with it.
    let mut call = python(
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(2)\n        open('/workspace/escaped', 'w').write('alive')\n    os._exit(0)\nprint('parent done')",
    );
    call.workspace = Some(Workspace {
        host: ws.path().to_path_buf(),
        writable: true,
    });
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.code, Some(0), "{}", text(&out.stderr));
    assert_eq!(out.survivors, 0);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !ws.path().join("escaped").exists(),
        "the daemon outlived its call"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_past_the_cap_ends_the_call() {
    let Some(tier) = tier().await else { return };
    let mut call = python("import sys\nwhile True: sys.stdout.write('x' * 65536)");
    call.limits.output_bytes = 100_000;
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.stopped, Some(Stopped::Output));
    assert_eq!(out.stdout.len(), 100_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workspace_is_bound_per_its_grant() {
    let Some(tier) = tier().await else { return };
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("in.txt"), "hello").unwrap();
    let mut call = python("print(open('in.txt').read()); open('out.txt', 'w').write('bye')");
    call.workspace = Some(Workspace {
        host: ws.path().to_path_buf(),
        writable: false,
    });
    let out = tier.run(&call).await.unwrap();
    refused(&out, "Read-only file system");
    assert_eq!(text(&out.stdout), "hello\n");
    call.workspace = Some(Workspace {
        host: ws.path().to_path_buf(),
        writable: true,
    });
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.code, Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(ws.path().join("out.txt")).unwrap(),
        "bye"
    );
}
