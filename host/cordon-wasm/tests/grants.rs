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
    let sockets = common::load(&ex, "fixtures/sockets.wasm");
    let err = ex
        .call(
            &sockets,
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

/// A one-shot HTTP server on loopback answering `hello` to whatever it is sent; returns its
/// port and a handle giving how many requests it served.
fn hello_server() -> (u16, std::thread::JoinHandle<usize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut served = 0;
        while std::time::Instant::now() < deadline && served < 1 {
            match listener.accept() {
                Ok((mut conn, _)) => {
                    conn.set_nonblocking(false).unwrap();
                    let mut buf = [0u8; 4096];
                    let _ = conn.read(&mut buf);
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                    );
                    served += 1;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
        served
    });
    (port, handle)
}

#[tokio::test]
async fn outbound_http_reaches_granted_hosts_only_and_refusals_end_the_call() {
    let ex = common::executor();
    let net = common::load(&ex, "fixtures/net.wasm");
    let (port, server) = hello_server();
    let url = format!("http://127.0.0.1:{port}/greeting");
    let rule = |s: String| s.parse::<cordon_core::HostRule>().unwrap();

    // Nothing granted: refused at use, recorded, and the call ends as network_denied even
    // though the guest itself would have returned its error value.
    let err = ex
        .call(
            &net,
            Some("fetch"),
            &json!({"url": url}),
            &Grants::default(),
            &Limits::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NetworkDenied, "{}", err.message);
    assert_eq!(err.violations.len(), 1);
    assert_eq!(err.violations[0].kind, EscapeKind::NetworkEgress);
    assert_eq!(err.violations[0].path, url);

    // The same host on another port, or over https, is not the granted host.
    let other_port = Grants::builder()
        .host(rule(format!("http://127.0.0.1:{}", port + 1)))
        .build();
    let err = ex
        .call(
            &net,
            Some("fetch"),
            &json!({"url": url}),
            &other_port,
            &Limits::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NetworkDenied);

    // Granted: the request goes out and the answer comes back.
    let granted = Grants::builder()
        .host(rule(format!("http://127.0.0.1:{port}")))
        .build();
    let out = ex
        .call(
            &net,
            Some("fetch"),
            &json!({"url": url}),
            &granted,
            &Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.value, json!("200 hello"));
    assert_eq!(
        server.join().unwrap(),
        1,
        "only the granted request reached the server"
    );
}
