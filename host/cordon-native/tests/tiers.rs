//! Every native tier (process, container, gvisor, microvm) against the same hostile programs:
//! each is stopped, with its code where the host stops it, and leaves nothing running.
//!
//! Needs root (or delegated cgroups), `bwrap`, `crun`, `runsc`, `qemu-system-x86_64`,
//! `make rootfs` and `make vm-image`; a tier that cannot run here prints `SKIPPED: <reason>`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use cordon_core::Backend;
use cordon_native::{
    NativeCall, NativeLimits, NativeOutput, Sandbox, Stopped, TierSettings, Workspace, resolve,
};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::OnceCell;

fn rootfs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/rootfs/debian")
}

/// Each tier probed once for all the tests (the microVM tier's pool then serves them all).
async fn tier(backend: Backend) -> Option<&'static Sandbox> {
    static TIERS: [OnceCell<Result<Sandbox, String>>; 4] = [const { OnceCell::const_new() }; 4];
    let i = Backend::NATIVE.iter().position(|b| *b == backend).unwrap();
    let probed = TIERS[i]
        .get_or_init(
            || async move { Sandbox::probe(backend, &TierSettings::beside(rootfs())).await },
        )
        .await;
    match probed {
        Ok(t) => Some(t),
        Err(why) => {
            println!("SKIPPED: the {backend} tier cannot run here: {why}");
            None
        }
    }
}

/// A workspace the sandboxed user (uid 1001, mapped or not) may write.
fn workspace() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let ws = tempfile::tempdir().unwrap();
    std::fs::set_permissions(ws.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    ws
}

fn python_in(tier: &Sandbox, code: &str) -> NativeCall {
    let program = resolve("python3", tier.root()).unwrap().program;
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

/// Failed, with one of `expect` in its stderr (kernels word the same refusal differently:
/// gVisor answers a write to a read-only root with EACCES, Linux with EROFS).
fn refused_with(out: &NativeOutput, expect: &[&str]) {
    let stderr = text(&out.stderr);
    assert_ne!(
        out.code,
        Some(0),
        "stdout {} stderr {stderr}",
        text(&out.stdout)
    );
    assert!(
        expect.iter().any(|e| stderr.contains(e)),
        "expected one of {expect:?} in {stderr}"
    );
    assert_eq!(out.survivors, 0);
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

async fn a_plain_command_sees_nothing_of_the_host(backend: Backend) {
    let Some(tier) = tier(backend).await else {
        return;
    };
    let code = "import os, sys; print(os.getuid(), os.environ['PATH'], os.environ['HOME'], os.path.exists('/work'), os.path.exists('/root/.cargo')); print(' '.join(sorted(os.environ))); print('err', file=sys.stderr)";
    let out = tier.run(&python_in(tier, code)).await.unwrap();
    assert_eq!(out.code, Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (first, names) = stdout.split_once('\n').unwrap();
    // uid 1001, PATH and HOME as set, the host's directories absent.
    assert_eq!(first, "1001 /usr/local/bin:/usr/bin:/bin /tmp False False");
    // Nothing of the host's environment: besides the tier's own (PATH, HOME,
    // PYTHONDONTWRITEBYTECODE) only PWD (bwrap sets it) and LC_CTYPE (Python sets it
    // itself, PEP 538).
    for name in names.split_whitespace() {
        assert!(
            ["HOME", "LC_CTYPE", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE"].contains(&name),
            "{name} leaked in: {names}"
        );
    }
    assert_eq!(text(&out.stderr), "err\n");
    assert!(out.stopped.is_none());

    // It holds its standard streams and nothing else of whoever started it (the process
    // tier hands bwrap and cordon-enter four more descriptors: none may reach the command).
    // The fourth one listed is the listing's own.
    let code = "import os; print(sorted(os.listdir('/proc/self/fd'), key=int))";
    let out = tier.run(&python_in(tier, code)).await.unwrap();
    assert_eq!(
        (out.code, text(&out.stdout)),
        (Some(0), "['0', '1', '2', '3']\n".to_owned()),
        "{}",
        text(&out.stderr)
    );
}

async fn writes_to_root_and_reads_of_host_files_fail(backend: Backend) {
    let Some(tier) = tier(backend).await else {
        return;
    };
    let run = async |code: &str| tier.run(&python_in(tier, code)).await;
    // Where a watcher runs, a write where the sandbox is read-only stops the call, and so
    // does opening a place where hosts keep credentials, however the path gets there.
    // Elsewhere the kernel refuses inside (gVisor's wording differs: EACCES).
    for (code, target) in [
        ("open('/pwned', 'w')", "/pwned"),
        ("open('/usr/pwned', 'w')", "/usr/pwned"),
        ("import os; os.mkdir('/usr/lib/pwned')", "/usr/lib/pwned"),
    ] {
        let out = run(&format!("{code}\nprint('survived')")).await.unwrap();
        if watched(backend) {
            stopped_as(&out, Stopped::ReadOnly, operation_of(code), target);
        } else {
            refused_with(&out, &["Read-only file system", "Permission denied"]);
        }
    }
    for (code, target) in [
        (
            "print(open('/root/.ssh/id_rsa').read())",
            "/root/.ssh/id_rsa",
        ),
        ("print(open('/etc/shadow').read())", "/etc/shadow"),
        (
            "import os; os.chdir('/tmp'); print(open('../../etc/shadow').read())",
            "/etc/shadow",
        ),
        (
            "import os; os.symlink('/etc/ssh/ssh_host_ed25519_key', '/tmp/k'); print(open('/tmp/k').read())",
            "/etc/ssh/ssh_host_ed25519_key",
        ),
        (
            "print(open('/home/alice/.aws/credentials').read())",
            "/home/alice/.aws/credentials",
        ),
    ] {
        let out = run(&format!("{code}\nprint('survived')")).await.unwrap();
        if watched(backend) {
            stopped_as(&out, Stopped::HostFile, "openat", target);
        } else {
            refused_with(
                &out,
                &["No such file", "Permission denied", "FileNotFoundError"],
            );
        }
    }
    // A host path that is no credential store is simply not there.
    refused(
        &run("print(open('/work/main/Cargo.toml').read())")
            .await
            .unwrap(),
        "No such file",
    );
    // Writes where the sandbox may write, and reads of what it is shown, go on.
    let out = run("import os\nopen('/tmp/a', 'w').write('x'); os.mkdir('/tmp/d'); os.rename('/tmp/a', '/tmp/d/b'); os.unlink('/tmp/d/b'); os.rmdir('/tmp/d')\nopen('/dev/null', 'w').write('x')\nprint(len(open('/usr/bin/python3', 'rb').read(4)))").await.unwrap();
    assert_eq!(
        (out.code, text(&out.stdout)),
        (Some(0), "4\n".to_owned()),
        "{out:?}"
    );
}

/// The system call Python makes for `code`'s attempt.
fn operation_of(code: &str) -> &'static str {
    if code.contains("mkdir") {
        "mkdir"
    } else {
        "openat"
    }
}

async fn no_connection_reaches_a_port_open_on_the_host(backend: Backend) {
    let Some(tier) = tier(backend).await else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!("import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)");
    refused(
        &tier.run(&python_in(tier, &code)).await.unwrap(),
        "Connection refused",
    );
    assert!(
        listener.accept().is_err(),
        "the host's listener was reached"
    );
    // Another machine: where a watcher runs, the call stops at the connect.
    if watched(backend) {
        let code = "import socket; socket.create_connection(('192.0.2.7', 80), timeout=2)";
        let out = tier.run(&python_in(tier, code)).await.unwrap();
        assert_eq!(out.stopped, Some(Stopped::Network), "{out:?}");
        let attempt = out.attempt.as_ref().expect("the watcher's attempt");
        assert_eq!(
            (attempt.operation, attempt.target.as_str()),
            ("connect", "192.0.2.7:80")
        );
    }
    // No name resolves. Where the image names a name server (make rootfs keeps the build
    // machine's resolv.conf), the query itself is an attempt on another machine.
    let out = tier
        .run(&python_in(
            tier,
            "import socket; socket.getaddrinfo('example.com', 80)",
        ))
        .await
        .unwrap();
    if out.stopped == Some(Stopped::Network) {
        assert!(
            watched(backend)
                && out
                    .attempt
                    .as_ref()
                    .is_some_and(|a| a.target.ends_with(":53")),
            "{out:?}"
        );
    } else {
        refused(&out, "socket.gaierror");
    }
}

async fn privileged_calls_are_refused(backend: Backend) {
    let Some(tier) = tier(backend).await else {
        return;
    };
    // uid 0 does not exist in the sandbox's user namespace, and no capability is left: the
    // kernel refuses, and in the process tier the watcher stops the call first.
    let code = "import os, sys\ntry:\n    os.setuid(0)\nexcept OSError as e:\n    sys.exit(f'refused: {e}')";
    let out = tier.run(&python_in(tier, code)).await.unwrap();
    if watched(backend) {
        stopped_by_the_watcher(&out, "setuid", "uid 0");
    } else {
        refused(&out, "refused: [Errno");
    }
    // mount, ptrace, init_module and unshare through libc: the seccomp filter kills the
    // process at the call, in every tier (runsc applies it with --oci-seccomp); the
    // line after it never runs.
    for (name, call) in [
        ("mount", "libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)"),
        ("ptrace", "libc.ptrace(16, 1, 0, 0)"),
        ("init_module", "libc.syscall(175, None, 0, b'')"),
        ("unshare", "libc.unshare(0x10000000)"),
    ] {
        let code = format!(
            "import ctypes, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nr = {call}\nprint('survived', r, file=sys.stderr)"
        );
        let out = tier.run(&python_in(tier, &code)).await.unwrap();
        assert_eq!(out.stopped, Some(Stopped::Syscall), "{name}: {out:?}");
        assert!(
            !text(&out.stderr).contains("survived"),
            "{name}: {}",
            text(&out.stderr)
        );
    }
    // Making a file setuid is answered EPERM, and the program goes on; in the process
    // tier the watcher stops the call.
    let code = "import os, sys\nopen('/tmp/f', 'w').close()\ntry:\n    os.chmod('/tmp/f', 0o4755)\nexcept OSError as e:\n    sys.exit(f'refused: {e}')";
    let out = tier.run(&python_in(tier, code)).await.unwrap();
    if watched(backend) {
        stopped_by_the_watcher(&out, "chmod", "mode 4755");
    } else {
        refused(&out, "refused: [Errno 1]");
    }
}

/// Whether the tier runs the watcher (bubblewrap, and crun through its profile's
/// `SCMP_ACT_NOTIFY`; Debian 12's runsc has no such action, the microVM no host to ask).
fn watched(backend: Backend) -> bool {
    matches!(backend, Backend::Process | Backend::Container)
}

/// The watcher stopped the call at `operation` asking for `target`, before
/// the program's next line.
fn stopped_by_the_watcher(out: &NativeOutput, operation: &str, target: &str) {
    stopped_as(out, Stopped::Syscall, operation, target);
}

/// The watcher stopped the call, `how`, at `operation` naming `target`, before the
/// program's next line (which would print "refused" or "survived").
fn stopped_as(out: &NativeOutput, how: Stopped, operation: &str, target: &str) {
    assert_eq!(out.stopped, Some(how), "{out:?}");
    let attempt = out.attempt.as_ref().expect("the watcher's attempt");
    assert_eq!(
        (attempt.operation, attempt.target.as_str()),
        (operation, target)
    );
    for line in ["refused", "survived"] {
        assert!(
            !text(&out.stderr).contains(line) && !text(&out.stdout).contains(line),
            "{out:?}"
        );
    }
    assert_eq!(out.survivors, 0);
}

async fn a_fork_bomb_stops_at_the_pids_limit(backend: Backend) {
    let Some(tier) = tier(backend).await else {
        return;
    };
    let mut call = python_in(
        tier,
        "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)",
    );
    call.limits.timeout = Duration::from_secs(3);
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.stopped, Some(Stopped::Processes), "{out:?}");
    assert_eq!(out.survivors, 0);
}

async fn a_memory_bomb_stops_at_the_memory_limit(backend: Backend) {
    let Some(tier) = tier(backend).await else {
        return;
    };
    let mut call = python_in(tier, "x = b'a' * (1 << 30)");
    call.limits.memory_bytes = 64 << 20;
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.stopped, Some(Stopped::Memory), "{out:?}");
    // gVisor's own kernel is charged to the call's cgroup on top of the command's limit.
    if backend != Backend::Gvisor {
        assert!(out.peak_memory.unwrap_or(0) <= 64 << 20);
    }
}

async fn past_the_deadline_the_whole_tree_dies_daemons_included(backend: Backend) {
    let Some(tier) = tier(backend).await else {
        return;
    };
    let ws = workspace();
    let mut call = python_in(tier, "import time; time.sleep(60)");
    call.limits.timeout = Duration::from_millis(500);
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.stopped, Some(Stopped::Deadline));
    assert!(out.wall < Duration::from_secs(3), "{:?}", out.wall);
    assert_eq!(out.survivors, 0);

    // A daemon that double-forks to outlive the call is gone with it.
    let daemon = |detach: &str| {
        format!(
            "import os, time\nif os.fork() == 0:\n    {detach}\n    if os.fork() == 0:\n        time.sleep(2)\n        open('/workspace/escaped', 'w').write('alive')\n    os._exit(0)\ntime.sleep(0.5)\nprint('parent done')"
        )
    };
    let mut call = python_in(tier, &daemon("pass"));
    call.workspace = workspace_grant(&ws);
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.code, Some(0), "{}", text(&out.stderr));
    assert_eq!(out.survivors, 0);
    // One that asks for a session of its own (setsid) asks to outlive the call: where a
    // watcher runs, it is stopped there.
    let mut call = python_in(tier, &daemon("os.setsid()"));
    call.workspace = workspace_grant(&ws);
    let out = tier.run(&call).await.unwrap();
    if watched(backend) {
        stopped_by_the_watcher(&out, "setsid", "a session of its own, to outlive its call");
    } else {
        assert_eq!(out.code, Some(0), "{}", text(&out.stderr));
    }
    assert_eq!(out.survivors, 0);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !ws.path().join("escaped").exists(),
        "a daemon outlived its call"
    );
}

async fn output_past_the_cap_ends_the_call(backend: Backend) {
    let Some(tier) = tier(backend).await else {
        return;
    };
    let mut call = python_in(
        tier,
        "import sys\nwhile True: sys.stdout.write('x' * 65536)",
    );
    call.limits.output_bytes = 100_000;
    let out = tier.run(&call).await.unwrap();
    assert_eq!(out.stopped, Some(Stopped::Output));
    assert_eq!(out.stdout.len(), 100_000);
}

async fn the_workspace_is_bound_per_its_grant(backend: Backend) {
    let Some(tier) = tier(backend).await else {
        return;
    };
    let ws = workspace();
    std::fs::write(ws.path().join("in.txt"), "hello").unwrap();
    let mut call = python_in(
        tier,
        "print(open('in.txt').read()); open('out.txt', 'w').write('bye')",
    );
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

async fn no_file_gets_a_setuid_or_setgid_bit(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let Some(tier) = tier(backend).await else {
        return;
    };
    let ws = workspace();
    let code = "import os\nout = []\nopen('f', 'w').close()\nfor mode in (0o4755, 0o2755):\n    for call in (lambda: os.chmod('f', mode), lambda: os.close(os.open(f'new{mode}', os.O_CREAT | os.O_WRONLY, mode))):\n        try:\n            call()\n            out.append('allowed')\n        except OSError as e:\n            out.append(e.strerror)\nos.chmod('f', 0o755)\nprint(out)";
    let mut call = python_in(tier, code);
    call.workspace.clone_from(&workspace_grant(&ws));
    if watched(backend) {
        // The watcher stops each attempt: one program per attempt.
        for (attempt, operation, mode) in [
            ("os.chmod('f', 0o4755)", "chmod", "mode 4755"),
            ("os.chmod('f', 0o2755)", "chmod", "mode 2755"),
            (
                "os.close(os.open('new', os.O_CREAT | os.O_WRONLY, 0o4755))",
                "openat",
                "mode 4755",
            ),
            (
                "os.close(os.open('new', os.O_CREAT | os.O_WRONLY, 0o2755))",
                "openat",
                "mode 2755",
            ),
        ] {
            let mut call = python_in(
                tier,
                &format!("import os\nopen('f', 'w').close()\n{attempt}\nprint('allowed')"),
            );
            call.workspace.clone_from(&workspace_grant(&ws));
            let out = tier.run(&call).await.unwrap();
            assert!(!text(&out.stdout).contains("allowed"), "{attempt}: {out:?}");
            stopped_by_the_watcher(&out, operation, mode);
        }
    } else {
        let out = tier.run(&call).await.unwrap();
        assert_eq!(out.code, Some(0), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            format!("[{}]\n", ["'Operation not permitted'"; 4].join(", "))
        );
    }
    // And on the host, nothing the command left carries either bit.
    for entry in std::fs::read_dir(ws.path()).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o6000, 0, "{:?} {mode:o}", entry.path());
    }
    assert!(ws.path().join("f").exists());
}

/// `ws`, granted read-write.
fn workspace_grant(ws: &tempfile::TempDir) -> Option<Workspace> {
    Some(Workspace {
        host: ws.path().to_path_buf(),
        writable: true,
    })
}

/// Each hostile program as its own test, in each tier.
macro_rules! in_every_tier {
    ($($case:ident),* $(,)?) => {
        mod process {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $case() { super::$case(Backend::Process).await })*
        }
        mod container {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $case() { super::$case(Backend::Container).await })*
        }
        mod gvisor {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $case() { super::$case(Backend::Gvisor).await })*
        }
        mod microvm {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $case() { super::$case(Backend::Microvm).await })*
        }
    };
}

in_every_tier!(
    a_plain_command_sees_nothing_of_the_host,
    writes_to_root_and_reads_of_host_files_fail,
    no_connection_reaches_a_port_open_on_the_host,
    privileged_calls_are_refused,
    a_fork_bomb_stops_at_the_pids_limit,
    a_memory_bomb_stops_at_the_memory_limit,
    past_the_deadline_the_whole_tree_dies_daemons_included,
    output_past_the_cap_ends_the_call,
    the_workspace_is_bound_per_its_grant,
    no_file_gets_a_setuid_or_setgid_bit,
);
