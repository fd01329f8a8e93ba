//! Native code: a Python program in the process tier (bubblewrap) trying what a native
//! program can. System calls that reach past the sandbox kill it (`syscall_denied`); the
//! tier's watcher stops a connection to another machine (`network_denied`), a change to
//! another user or group, a set-id bit and a session of its own (`syscall_denied`), a write
//! where the sandbox is read-only (`read_only`) and a host's credential store named by any
//! path (`path_escape`); its limits stop bombs and floods. What is simply not there (a host
//! file that holds no credentials, the host's port on the sandbox's own loopback) reaches
//! nothing and is shown to.

use super::*;

/// Runs its first argument as Python.
const PY: &str = "[native]\ncommand = \"python3\"\nargs = [\"-c\", \"import sys; exec(sys.argv[1])\"]\ntier = \"process\"\n[capabilities]\nworkspace = \"rw\"\n[limits]\ntimeout = \"3s\"\nmemory = \"128MiB\"\noutput = \"64KiB\"\n";

fn py(t: &Target, code: &str) -> Answer {
    t.call("py", "run", json!({"args": [code], "session": "native"}))
}

/// A call that is no attempt: it must succeed and print exactly `stdout`.
fn prints(t: &Target, code: &str, stdout: &str, why: &str) {
    let (status, v) = py(t, code);
    assert_eq!(
        (status, &v["value"]["stdout"]),
        (200, &json!(stdout)),
        "{why}: {v}"
    );
}

/// A libc call through ctypes, then a line that must never run.
fn libc_call(call: &str) -> String {
    format!(
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nr = {call}\nprint('survived', r, ctypes.get_errno())"
    )
}

/// A leak, for a native program: it exited 0 (the attempt worked) or printed `needle`.
fn succeeded_or_printed(needle: &'static str) -> impl FnOnce(&Answer) -> Option<String> {
    move |a: &Answer| {
        let v = &a.1["value"];
        (a.0 != 200
            || v["code"] == json!(0)
            || v["stdout"].as_str().unwrap_or_default().contains(needle))
        .then(|| a.1.to_string())
    }
}

#[test]
fn native_escapes_are_killed_stopped_or_reach_nothing() {
    let probe = Env::new();
    if crate::native::tier_available(&probe, "process").is_none() {
        return;
    }
    let t = Target::start("native", catalog(&[("py", None, PY)]), "microvm_pool = 0\n");
    prints(&t, "print('ok')", "ok\n", "the tier runs Python");

    let syscall = refused("syscall_denied", "syscall");
    let syscalls = [
        (
            "mount a filesystem",
            "libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)",
        ),
        ("umount the root", "libc.umount2(b'/', 2)"),
        ("ptrace another process", "libc.ptrace(16, 1, 0, 0)"),
        ("load a kernel module", "libc.syscall(175, None, 0, b'')"),
        (
            "load a kernel module from a file",
            "libc.syscall(313, 0, b'', 0)",
        ),
        ("kexec a new kernel", "libc.syscall(246, 0, 0, None, 0)"),
        ("load a bpf program", "libc.syscall(321, 5, None, 0)"),
        ("unshare a new user namespace", "libc.unshare(0x10000000)"),
        ("join the host's namespaces", "libc.setns(0, 0)"),
        ("chroot", "libc.chroot(b'/tmp')"),
        (
            "reboot the machine",
            "libc.syscall(169, 0xfee1dead, 672274793, 0x1234567, None)",
        ),
        (
            "read the kernel keyring",
            "libc.syscall(250, 0, -4, 0, 0, 0)",
        ),
        ("set the clock", "libc.syscall(227, 0, None)"),
        ("open a file by handle", "libc.syscall(304, -100, None, 0)"),
        (
            "set up io_uring",
            "libc.syscall(425, 8, ctypes.create_string_buffer(120))",
        ),
        (
            "read another process's memory",
            "libc.syscall(310, 1, None, 0, None, 0, 0)",
        ),
        (
            "mount through the x32 system-call table",
            "libc.syscall(0x40000000 | 165, b'none', b'/tmp', b'tmpfs', 0, None)",
        ),
    ];
    for (case, call) in syscalls {
        t.refused(case, syscall, |t| py(t, &libc_call(call)));
    }

    let limits = [
        (
            "a fork bomb",
            "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)",
            refused("process_limit", "processes"),
        ),
        (
            "a memory bomb",
            "x = [b'a' * (1 << 20) for _ in range(1 << 12)]",
            refused("memory_limit", "memory"),
        ),
        (
            "a sleep past the deadline",
            "import time; time.sleep(60)",
            refused("deadline_exceeded", "deadline"),
        ),
        (
            "a busy loop past the deadline",
            "while True: pass",
            refused("deadline_exceeded", "deadline"),
        ),
        (
            "stdout flooded",
            "import sys\nwhile True: sys.stdout.write('x' * 65536)",
            refused("output_limit", "output"),
        ),
    ];
    for (case, code, expect) in limits {
        t.refused(case, expect, |t| py(t, code));
    }

    // Writes where the sandbox is read-only: its root, the host's /usr bound into it.
    let read_only = refused("read_only", "read_only_write");
    let writes = [
        (
            "write to the root filesystem",
            "open('/etc/cordon-was-here', 'w').write('x')",
        ),
        (
            "plant a program in /usr",
            "open('/usr/local/bin/pwn', 'w').write('#!/bin/sh')",
        ),
        (
            "make a directory at the root",
            "import os; os.mkdir('/pwn')",
        ),
        (
            "replace a system program",
            "import os; os.rename('/usr/bin/env', '/usr/bin/env.old')",
        ),
        (
            "delete a system program",
            "import os; os.unlink('/usr/bin/env')",
        ),
        (
            "empty a system program through a relative path",
            "import os; os.truncate('../usr/bin/env', 0)",
        ),
        (
            "hard-link a system program to the root",
            "import os; os.link('/usr/bin/env', '/env')",
        ),
    ];
    for (case, code) in writes {
        t.refused(case, read_only, |t| py(t, code));
    }
    // A host's credential stores, however the path reaches them.
    let secret = refused("path_escape", "sensitive_path");
    let secrets = [
        (
            "read the host's shadow file",
            "print(open('/etc/shadow').read())",
        ),
        (
            "read root's SSH key",
            "print(open('/root/.ssh/id_ed25519').read())",
        ),
        (
            "read a user's cloud credentials",
            "print(open('/home/alice/.aws/credentials').read())",
        ),
        (
            "reach the shadow file by climbing out of the workspace",
            "print(open('../../../etc/shadow').read())",
        ),
        (
            "reach a host key through a symlink",
            "import os\nos.symlink('/etc/ssh/ssh_host_ed25519_key', '/tmp/k')\nprint(open('/tmp/k').read())",
        ),
    ];
    for (case, code) in secrets {
        t.refused(case, secret, |t| py(t, code));
    }
    // What it may write and read is untouched: /tmp, the workspace, /dev/null, /usr.
    prints(
        &t,
        "import os\nfor d in ('/tmp', '/workspace'):\n    open(f'{d}/a', 'w').write('x'); os.mkdir(f'{d}/d'); os.rename(f'{d}/a', f'{d}/d/b'); os.unlink(f'{d}/d/b'); os.rmdir(f'{d}/d')\nopen('/dev/null', 'w').write('x')\nprint(len(open('/usr/bin/env', 'rb').read(4)))",
        "4\n",
        "writes where the sandbox may write must keep working",
    );
    // The sandbox's environment is its own: PATH, HOME=/tmp, PYTHONDONTWRITEBYTECODE and PWD
    // set by the tier, LC_CTYPE by Python itself; nothing of the server's (CORDON_*, its
    // HOME, its PATH).
    t.contained(
        "read the host's environment",
        |t| py(t, "import os; print(sorted((k, v) for k, v in os.environ.items() if k not in ('PATH', 'LC_CTYPE')))"),
        |a| {
            let own = json!(
                "[('HOME', '/tmp'), ('PWD', '/workspace'), ('PYTHONDONTWRITEBYTECODE', '1')]\n"
            );
            (a.1["value"]["stdout"] != own).then(|| a.1.to_string())
        },
    );
    // The sandbox's own loopback is its own: the host's port there is not reached, and a
    // program may still use loopback for itself.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    t.contained(
        "connect to the host's port on the sandbox's own loopback",
        |t| {
            py(
                t,
                &format!(
                    "import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
                ),
            )
        },
        succeeded_or_printed("never"),
    );
    prints(
        &t,
        "import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\nc = socket.create_connection(s.getsockname())\nc.sendall(b'own'); print(s.accept()[0].recv(3).decode())",
        "own\n",
        "a program's own loopback must keep working",
    );
    // Another machine, and the host by its own address: stopped, whatever the namespace
    // would have answered.
    let host = host_address().unwrap_or(std::net::Ipv4Addr::new(198, 51, 100, 1));
    let network = refused("network_denied", "network_egress");
    let reaches = [
        (
            "connect to the host by its own address",
            format!("import socket; socket.create_connection(('{host}', {port}), timeout=2)"),
        ),
        (
            "send a datagram to a public name server",
            "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53))".to_owned(),
        ),
        (
            "connect to another machine over IPv6",
            "import socket; s = socket.socket(socket.AF_INET6); s.settimeout(2); s.connect(('2001:db8::1', 80))".to_owned(),
        ),
        (
            "connect through an IPv4-mapped IPv6 address",
            format!("import socket; s = socket.socket(socket.AF_INET6); s.settimeout(2); s.connect(('::ffff:{host}', {port}))"),
        ),
    ];
    for (case, code) in &reaches {
        t.refused(case, network, |t| py(t, code));
    }
    assert!(
        listener.accept().is_err(),
        "the host's listener was reached"
    );
    t.contained(
        "resolve a name",
        |t| {
            py(
                t,
                "import socket; print(socket.getaddrinfo('example.com', 80))",
            )
        },
        succeeded_or_printed("never"),
    );
    let privilege = [
        ("become root", "import os; os.setuid(0); print('never')"),
        (
            "join the root group",
            "import os; os.setgid(0); print('never')",
        ),
        (
            "take root as the saved user id",
            "import os; os.setresuid(-1, -1, 0); print('never')",
        ),
        (
            "make a workspace file setuid",
            "import os\nopen('/workspace/suid', 'w').close()\nos.chmod('/workspace/suid', 0o4755)",
        ),
        (
            "create a setgid file",
            "import os; os.close(os.open('/workspace/sgid', os.O_CREAT | os.O_WRONLY, 0o2755))",
        ),
    ];
    for (case, code) in privilege {
        t.refused(case, syscall, |t| py(t, code));
    }
    // Setting the ids it already has is no attempt.
    prints(
        &t,
        "import os; os.setuid(os.getuid()); os.setgid(os.getgid()); print('same')",
        "same\n",
        "setting its own ids must work",
    );
    // A daemon detaches (a session of its own) to outlive its call, and would write the
    // marker later.
    t.refused("escape the call's end by daemonising", syscall, |t| {
        py(
            t,
            "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(1)\n        open('/workspace/escaped', 'w').write('alive')\n    os._exit(0)\ntime.sleep(1)\nprint('parent done')",
        )
    });
    std::thread::sleep(Duration::from_millis(2000));
    prints(
        &t,
        "import os; print(os.path.exists('/workspace/escaped'))",
        "False\n",
        "the daemon must not survive its call",
    );

    t.done(47);
}

/// This host's first IPv4 address other than loopback: where a program would look for
/// the host's services.
fn host_address() -> Option<std::net::Ipv4Addr> {
    // Connecting a UDP socket sends nothing; it only picks the address a packet would
    // leave from.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.1:9").ok()?;
    match probe.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_loopback() => Some(ip),
        _ => None,
    }
}
