//! Every limit stops a hostile guest with its own code, and the executor keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cordon_core::{DirMode, ErrorCode, EscapeKind, Grants, Limits};
use serde_json::json;
use std::time::{Duration, Instant};

fn quick() -> Limits {
    Limits {
        timeout: Duration::from_millis(200),
        memory_bytes: 32 << 20,
        output_bytes: 64 << 10,
        ..Limits::default()
    }
}

#[tokio::test]
async fn each_hostile_function_ends_with_its_own_code() {
    let ex = common::executor();
    let h = common::load(&ex, "fixtures/hostile.wasm");
    let cases = [
        (
            "spin",
            json!({}),
            Limits {
                fuel: 50_000_000,
                ..quick()
            },
            ErrorCode::FuelExhausted,
        ),
        (
            "spin",
            json!({}),
            Limits {
                fuel: u64::MAX,
                ..quick()
            },
            ErrorCode::DeadlineExceeded,
        ),
        (
            "grow-memory",
            json!({}),
            // The deadline is not what this case tests: on a loaded machine (CI, two cores)
            // growing to 32 MiB once took longer than quick()'s 200 ms.
            Limits {
                timeout: Duration::from_secs(10),
                ..quick()
            },
            ErrorCode::MemoryLimit,
        ),
        (
            "recurse",
            json!({"depth": u64::MAX}),
            quick(),
            ErrorCode::StackOverflow,
        ),
        ("spew", json!({}), quick(), ErrorCode::OutputLimit),
        (
            "sleep",
            json!({"millis": 10_000}),
            quick(),
            ErrorCode::DeadlineExceeded,
        ),
        ("crash", json!({}), quick(), ErrorCode::Trap),
    ];
    for (f, args, limits, code) in cases {
        let err = ex
            .call(&h, Some(f), &args, &Grants::default(), &limits)
            .await
            .expect_err(f);
        assert_eq!(err.code, code, "{f}: {}", err.message);
        let receipt = err.receipt.expect("a limited call still has a receipt");
        assert!(receipt.fuel_used > 0 || f == "sleep", "{f}");
    }
}

#[tokio::test]
async fn a_spinning_guest_stops_within_50ms_of_its_deadline() {
    let ex = common::executor();
    let h = common::load(&ex, "fixtures/hostile.wasm");
    let limits = Limits {
        fuel: u64::MAX,
        timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    for _ in 0..5 {
        let start = Instant::now();
        let err = ex
            .call(&h, Some("spin"), &json!({}), &Grants::default(), &limits)
            .await
            .unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.code, ErrorCode::DeadlineExceeded);
        assert!(took < Duration::from_millis(150), "stopped after {took:?}");
    }
}

#[tokio::test]
async fn output_past_the_cap_is_refused_but_what_fit_is_kept() {
    let ex = common::executor();
    let h = common::load(&ex, "fixtures/hostile.wasm");
    let err = ex
        .call(&h, Some("spew"), &json!({}), &Grants::default(), &quick())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::OutputLimit);
    assert_eq!(err.stdout.len(), 64 << 10);
    assert!(err.stdout.bytes().all(|b| b == b'x'));
}

#[tokio::test]
async fn a_thousand_hostile_calls_leave_the_executor_serving() {
    let ex = common::executor();
    let h = common::load(&ex, "fixtures/hostile.wasm");
    let ws = tempfile::tempdir().unwrap();
    let grants = Grants::builder()
        .dir(ws.path(), "/ws", DirMode::ReadOnly)
        .build();
    let fast = Limits {
        timeout: Duration::from_millis(20),
        fuel: 5_000_000,
        memory_bytes: 16 << 20,
        output_bytes: 4096,
        ..Limits::default()
    };
    let attacks = [
        ("spin", json!({})),
        ("grow-memory", json!({})),
        ("recurse", json!({"depth": u64::MAX})),
        ("spew", json!({})),
        ("crash", json!({})),
        ("open-raw", json!({"path": "../../etc/passwd"})),
        ("open-raw", json!({"path": "/etc/shadow"})),
        ("create-raw", json!({"path": "planted"})),
    ];
    let mut attempts = std::collections::BTreeMap::<EscapeKind, u64>::new();
    for i in 0..1000 {
        let (f, args) = &attacks[i % attacks.len()];
        let err = ex
            .call(&h, Some(f), args, &grants, &fast)
            .await
            .expect_err(f);
        assert_ne!(err.code, ErrorCode::Internal, "{f}: {}", err.message);
        for v in &err.violations {
            *attempts.entry(v.kind).or_default() += 1;
        }
    }
    assert_eq!(attempts.get(&EscapeKind::PathTraversal), Some(&125));
    assert_eq!(attempts.get(&EscapeKind::AbsolutePath), Some(&125));
    assert_eq!(attempts.get(&EscapeKind::ReadOnlyWrite), Some(&125));
    assert!(!ws.path().join("planted").exists());
    let ta = common::load(&ex, "tools/text-analysis/text-analysis.wasm");
    let out = ex
        .call(
            &ta,
            Some("sentiment"),
            &json!({"text": "a great day"}),
            &Grants::default(),
            &Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.value["label"], json!("positive"));
}
