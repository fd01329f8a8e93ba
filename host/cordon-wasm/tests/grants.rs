//! Capabilities come from grants and nothing else: files, environment, stdin, network.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cordon_core::{DirMode, ErrorCode, EscapeKind, Grants, Limits};
use serde_json::json;

fn workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("notes.txt"), "inside").unwrap();
    ws
}

#[tokio::test]
async fn no_path_outside_a_preopen_is_reachable() {
    let ex = common::executor();
    let h = common::load(&ex, "fixtures/hostile.wasm");
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret.txt"), "secret").unwrap();
    let ws = outer.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    std::os::unix::fs::symlink(outer.path().join("secret.txt"), ws.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", ws.join("rel-link")).unwrap();
    let grants = Grants::builder()
        .dir(&ws, "/ws", DirMode::ReadWrite)
        .build();
    let cases = [
        ("../secret.txt", EscapeKind::PathTraversal),
        ("a/../../secret.txt", EscapeKind::PathTraversal),
        ("/etc/passwd", EscapeKind::AbsolutePath),
        ("abs-link", EscapeKind::Symlink),
        ("rel-link", EscapeKind::Symlink),
    ];
    for (path, kind) in cases {
        let err = ex
            .call(
                &h,
                Some("open-raw"),
                &json!({"path": path}),
                &grants,
                &Limits::default(),
            )
            .await
            .expect_err(path);
        assert_eq!(err.code, ErrorCode::PathEscape, "{path}: {}", err.message);
        assert_eq!(err.violations.len(), 1);
        assert_eq!(err.violations[0].kind, kind, "{path}");
        assert!(
            !err.message.contains("secret\""),
            "content leaked: {}",
            err.message
        );
    }
    // Writing through a symlink that leads out, or planting one that does, fails too.
    for (f, args) in [
        ("create-raw", json!({"path": "../planted"})),
        ("symlink-raw", json!({"target": "/etc", "link": "etc"})),
        ("symlink-raw", json!({"target": "../../..", "link": "up"})),
    ] {
        let err = ex
            .call(&h, Some(f), &args, &grants, &Limits::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PathEscape, "{f} {args}");
    }
    assert!(!outer.path().join("planted").exists());
    // libc-level access by absolute path never even reaches a preopen.
    let err = ex
        .call(
            &h,
            Some("read-std"),
            &json!({"path": "/etc/passwd"}),
            &grants,
            &Limits::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ToolError);
}

#[tokio::test]
async fn a_read_only_grant_refuses_writes_and_a_read_write_one_allows_them() {
    let ex = common::executor();
    let fs = common::load(&ex, "tools/fs/fs.wasm");
    let ws = workspace();
    let ro = Grants::builder()
        .dir(ws.path(), "/ws", DirMode::ReadOnly)
        .build();
    let args = json!({"path": "new.txt", "contents": "x"});
    let err = ex
        .call(&fs, Some("write-file"), &args, &ro, &Limits::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ReadOnly);
    assert_eq!(err.violations[0].kind, EscapeKind::ReadOnlyWrite);
    assert!(!ws.path().join("new.txt").exists());

    let rw = Grants::builder()
        .dir(ws.path(), "/ws", DirMode::ReadWrite)
        .build();
    let out = ex
        .call(&fs, Some("write-file"), &args, &rw, &Limits::default())
        .await
        .unwrap();
    assert_eq!(out.value, json!(1));
    assert_eq!(
        std::fs::read_to_string(ws.path().join("new.txt")).unwrap(),
        "x"
    );
    assert_eq!(out.logs[0].message, "wrote file");
}

#[tokio::test]
async fn the_guest_sees_only_granted_env_and_no_host_env() {
    let ex = common::executor();
    let h = common::load(&ex, "fixtures/hostile.wasm");
    let grants = Grants::builder().env("GRANTED", "yes").build();
    let out = ex
        .call(&h, Some("env-all"), &json!({}), &grants, &Limits::default())
        .await
        .unwrap();
    assert_eq!(out.value, json!([["GRANTED", "yes"]]));
    let out = ex
        .call(
            &h,
            Some("read-env"),
            &json!({"name": "PATH"}),
            &grants,
            &Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.value, json!(null));
}

#[tokio::test]
async fn no_preopens_no_stdin_and_no_sockets_unless_granted() {
    let ex = common::executor();
    let h = common::load(&ex, "fixtures/hostile.wasm");
    let none = Grants::default();
    let out = ex
        .call(&h, Some("preopens"), &json!({}), &none, &Limits::default())
        .await
        .unwrap();
    assert_eq!(out.value, json!([]));
    let out = ex
        .call(
            &h,
            Some("read-stdin"),
            &json!({}),
            &none,
            &Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.value, json!(""));
    let with_stdin = Grants::builder().stdin("piped").build();
    let out = ex
        .call(
            &h,
            Some("read-stdin"),
            &json!({}),
            &with_stdin,
            &Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.value, json!("piped"));
    // A real listener the guest must not reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let err = ex
        .call(
            &h,
            Some("connect"),
            &json!({"addr": addr}),
            &none,
            &Limits::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ToolError);
    assert!(
        err.message.contains("access-denied")
            || err.message.contains("AccessDenied")
            || err.message.contains("code: 1"),
        "{}",
        err.message
    );
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "the guest connected");
}

#[tokio::test]
async fn the_scratch_directory_is_fresh_per_call_and_removed_afterwards() {
    let ex = common::executor();
    let h = common::load(&ex, "fixtures/hostile.wasm");
    let grants = Grants::builder().scratch("/tmp").build();
    let before = scratch_dirs();
    let out = ex
        .call(
            &h,
            Some("write-std"),
            &json!({"path": "/tmp/left-behind", "contents": "x"}),
            &grants,
            &Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.value, json!(1));
    let err = ex
        .call(
            &h,
            Some("read-std"),
            &json!({"path": "/tmp/left-behind"}),
            &grants,
            &Limits::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::ToolError,
        "a second call saw the first call's scratch"
    );
    assert_eq!(
        scratch_dirs(),
        before,
        "scratch directories were left behind"
    );
}

fn scratch_dirs() -> usize {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("cordon-scratch-")
        })
        .count()
}
