//! The filesystem boundary: a guest with a read-write workspace (and one with a read-only
//! one) reaching for the host's files, through arguments policy sees and through paths it
//! hides from policy (`fs-op`'s `a` and `b`), so both layers are tried: policy before the
//! call, the filesystem guard during it.

use super::*;

const HOSTILE_RW: &str =
    "[capabilities]\nworkspace = \"rw\"\nscratch = true\n[limits]\ntimeout = \"5s\"\n";
const HOSTILE_RO: &str = "[capabilities]\nworkspace = \"ro\"\n[limits]\ntimeout = \"5s\"\n";

/// Calls of the hostile tool share one session workspace, so a case can prepare files.
fn op(t: &Target, tool: &str, op: &str, a: &str, b: &str) -> Answer {
    t.call(
        tool,
        "fs-op",
        json!({"op": op, "a": a, "b": b, "session": "escape-fs"}),
    )
}

fn with_path(t: &Target, function: &str, path: &str) -> Answer {
    t.call(
        "hostile",
        function,
        json!({"path": path, "session": "escape-fs"}),
    )
}

#[test]
fn filesystem_escapes_are_refused_counted_and_audited() {
    let t = Target::start(
        "filesystem",
        catalog(&[
            ("hostile", Some("hostile.wasm"), HOSTILE_RW),
            ("hostile-ro", Some("hostile.wasm"), HOSTILE_RO),
        ]),
        "",
    );
    // Something to aim at inside the workspace.
    let (status, v) = with_path(&t, "create-raw", "notes.txt");
    assert_eq!(status, 200, "{v}");
    let (status, v) = op(&t, "hostile", "mkdir", "sub", "");
    assert_eq!(status, 200, "{v}");

    // Paths in arguments that policy sees (`path`): refused before anything runs.
    let policy_cases: &[(&str, &str, &str, Refusal)] = &[
        (
            "argument climbs out with ..",
            "open-raw",
            "../../etc/passwd",
            refused("path_escape", "path_traversal"),
        ),
        (
            "argument climbs out from a subdirectory",
            "open-raw",
            "sub/../../x",
            refused("path_escape", "path_traversal"),
        ),
        (
            "argument is /etc/passwd",
            "open-raw",
            "/etc/passwd",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument is /etc/shadow",
            "read-std",
            "/etc/shadow",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument is /proc/self/environ",
            "open-raw",
            "/proc/self/environ",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument reaches pid 1's root through /proc",
            "open-raw",
            "/proc/1/root/etc/hostname",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument is /proc/self/mem",
            "open-raw",
            "/proc/self/mem",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument is the /dev/mem device",
            "open-raw",
            "/dev/mem",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument is the /dev/sda block device",
            "open-raw",
            "/dev/sda",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument is under /sys",
            "open-raw",
            "/sys/kernel/notes",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument is root's ssh key",
            "open-raw",
            "/root/.ssh/id_rsa",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument is a user's cloud credentials",
            "read-std",
            "/home/dev/.aws/credentials",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument is home-relative",
            "open-raw",
            "~/.ssh/id_ed25519",
            refused("path_escape", "absolute_path"),
        ),
        (
            "argument is the docker socket",
            "open-raw",
            "/var/run/docker.sock",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument is an absolute path outside every grant",
            "open-raw",
            "/usr/bin/env",
            refused("path_escape", "absolute_path"),
        ),
        (
            "argument creates a file above the workspace",
            "create-raw",
            "../escaped",
            refused("path_escape", "path_traversal"),
        ),
        (
            "argument writes a cron job",
            "write-std",
            "/etc/cron.d/evil",
            refused("path_escape", "sensitive_path"),
        ),
        (
            "argument climbs out of /workspace through libc",
            "read-std",
            "/workspace/../../etc/hostname",
            refused("path_escape", "path_traversal"),
        ),
    ];
    for (case, function, path, expect) in policy_cases {
        t.refused(case, *expect, |t| {
            if *function == "write-std" {
                t.call(
                    "hostile",
                    function,
                    json!({"path": path, "contents": "* * * * * root sh", "session": "escape-fs"}),
                )
            } else {
                with_path(t, function, path)
            }
        });
    }

    // Paths the guest hides from policy, caught by the filesystem guard at the host call.
    let long_climb = format!("{}{}etc/passwd", "a/".repeat(2000), "../".repeat(2001));
    let guard_cases: Vec<(&str, &str, String, String, Refusal)> = vec![
        (
            "stat climbs out",
            "stat",
            "../../etc".into(),
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "stat of an absolute path",
            "stat",
            "/etc/passwd".into(),
            String::new(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "stat without following, absolute",
            "stat-nofollow",
            "/".into(),
            String::new(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "readlink above the workspace",
            "readlink",
            "../link".into(),
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "mkdir above the workspace",
            "mkdir",
            "../evil".into(),
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "rmdir of the parent",
            "rmdir",
            "..".into(),
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "unlink of a host file",
            "unlink",
            "../../etc/passwd".into(),
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "unlink of an absolute path",
            "unlink",
            "/tmp/victim".into(),
            String::new(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "rename a workspace file out",
            "rename",
            "notes.txt".into(),
            "../stolen".into(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "rename a host file in",
            "rename",
            "/etc/passwd".into(),
            "mine".into(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "hard link to a host file by absolute path",
            "link",
            "/etc/passwd".into(),
            "passwd".into(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "hard link to a host file by climbing",
            "link",
            "../../../../etc/shadow".into(),
            "shadow".into(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "hard link out of the workspace",
            "link",
            "notes.txt".into(),
            "../../notes-out".into(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "symlink to an absolute target",
            "symlink",
            "/etc/passwd".into(),
            "passwd-link".into(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "symlink whose target climbs out",
            "symlink",
            "../../../../etc".into(),
            "etc-link".into(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "symlink placed above the workspace",
            "symlink",
            "notes.txt".into(),
            "../planted".into(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "list the parent directory",
            "readdir",
            "..".into(),
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "open the root directory",
            "open-dir",
            "/".into(),
            String::new(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "open /proc as a directory",
            "open-dir",
            "/proc/self/fd".into(),
            String::new(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "open /dev as a directory",
            "open-dir",
            "/dev".into(),
            String::new(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "stat a device file",
            "stat",
            "/dev/kvm".into(),
            String::new(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "set times above the workspace",
            "set-times",
            "../x".into(),
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "create a file outside",
            "create-excl",
            "../../tmp/dropped".into(),
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "truncate a host file",
            "truncate",
            "/etc/passwd".into(),
            String::new(),
            refused("path_escape", "absolute_path"),
        ),
        (
            "a path 8 KB long that climbs out",
            "stat",
            long_climb,
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "a NUL byte hiding a climb",
            "stat",
            "notes.txt\0/../../../etc".into(),
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
        (
            "climb through . and //",
            "stat",
            ".//sub/.//..//..//etc".into(),
            String::new(),
            refused("path_escape", "path_traversal"),
        ),
    ];
    for (case, name, a, b, expect) in guard_cases {
        t.refused(case, expect, |t| op(t, "hostile", name, &a, &b));
    }

    // A symlink that stays inside when it is made, then leads out once its directory is
    // moved up (the rename-after-link trick), then followed: the guard judges the outcome
    // (the sandbox's not-permitted) as a symlink escape.
    t.refused(
        "follow a symlink moved so that it leads out",
        refused("path_escape", "symlink"),
        |t| {
            for (name, a, b) in [
                ("mkdir", "sub/deeper", ""),
                ("symlink", "../..", "sub/deeper/x"),
                ("rename", "sub/deeper", "deeper"),
            ] {
                let (status, v) = op(t, "hostile", name, a, b);
                assert_eq!(status, 200, "{name} {a} {b}: {v}");
            }
            op(t, "hostile", "stat", "deeper/x/etc", "")
        },
    );

    // Writes of every kind under a read-only workspace.
    let read_only: &[(&str, &str, &str, &str)] = &[
        (
            "create under a read-only grant",
            "create-excl",
            "new.txt",
            "",
        ),
        ("mkdir under a read-only grant", "mkdir", "newdir", ""),
        ("unlink under a read-only grant", "unlink", "notes.txt", ""),
        ("rename under a read-only grant", "rename", "a", "b"),
        (
            "truncate under a read-only grant",
            "truncate",
            "notes.txt",
            "",
        ),
        (
            "set times under a read-only grant",
            "set-times",
            "notes.txt",
            "",
        ),
    ];
    for (case, name, a, b) in read_only {
        t.refused(case, refused("read_only", "read_only_write"), |t| {
            t.call("hostile-ro", "fs-op", json!({"op": name, "a": a, "b": b}))
        });
    }

    // Names that only look like escapes are names: the guest finds nothing, and nothing
    // reached the host's files.
    let lookalikes = [
        (
            "a division slash is not a separator",
            "..\u{2215}..\u{2215}etc\u{2215}passwd",
        ),
        (
            "fullwidth dots are not dots",
            "\u{ff0e}\u{ff0e}/\u{ff0e}\u{ff0e}/etc/passwd",
        ),
        ("a backslash is not a separator", "..\\..\\etc\\passwd"),
        ("percent-encoding is not decoded", "..%2f..%2fetc%2fpasswd"),
    ];
    for (case, path) in lookalikes {
        t.contained(case, |t| op(t, "hostile", "stat", path, ""), found);
    }
    // libc resolves absolute paths against the preopens itself: /etc matches none, so the
    // host is never asked.
    t.contained(
        "libc finds no /etc to open",
        |t| op(t, "hostile", "std-read", "/etc/hostname", ""),
        found,
    );

    t.done(50);
}

/// A leak, for a lookalike: the guest found something (its error is a 422 `tool_error`).
fn found(a: &Answer) -> Option<String> {
    (a.0 == 200).then(|| value_text(a))
}
