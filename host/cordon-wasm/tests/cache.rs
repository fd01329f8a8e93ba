//! The precompile cache: hits across executors, misses on config change, heals corruption.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cordon_core::{Grants, Limits};
use cordon_wasm::{CacheStatus, EngineConfig, Executor};
use serde_json::json;

#[tokio::test]
async fn a_restart_loads_from_cache_and_a_config_change_recompiles() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::component_path("fixtures/trivial.wasm");
    let first = Executor::new(&EngineConfig::default(), Some(dir.path())).unwrap();
    assert_eq!(
        first.load_file(&path).unwrap().cache_status,
        CacheStatus::Compiled
    );
    drop(first);
    let second = Executor::new(&EngineConfig::default(), Some(dir.path())).unwrap();
    let c = second.load_file(&path).unwrap();
    assert_eq!(c.cache_status, CacheStatus::Hit);
    let out = second
        .call(
            &c,
            Some("add"),
            &json!({"a": 2, "b": 3}),
            &Grants::default(),
            &Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.value, json!(5));

    let other = EngineConfig {
        max_wasm_stack: 256 << 10,
        ..EngineConfig::default()
    };
    let third = Executor::new(&other, Some(dir.path())).unwrap();
    assert_eq!(
        third.load_file(&path).unwrap().cache_status,
        CacheStatus::Compiled
    );
}

#[tokio::test]
async fn a_corrupted_artifact_is_detected_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::component_path("fixtures/trivial.wasm");
    let ex = Executor::new(&EngineConfig::default(), Some(dir.path())).unwrap();
    ex.load_file(&path).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "cwasm") {
            let mut bytes = std::fs::read(&p).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            std::fs::write(&p, bytes).unwrap();
        }
    }
    let c = ex.load_file(&path).unwrap();
    assert_eq!(c.cache_status, CacheStatus::Recompiled);
    let out = ex
        .call(
            &c,
            Some("add"),
            &json!({"a": 40, "b": 2}),
            &Grants::default(),
            &Limits::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.value, json!(42));
    assert_eq!(ex.load_file(&path).unwrap().cache_status, CacheStatus::Hit);
}

#[test]
fn malformed_components_are_refused_with_invalid_component() {
    let ex = common::executor();
    for bytes in [
        &b""[..],
        b"\0asm\x01\0\0\0garbage",
        b"not wasm at all",
        b"\0asm\x0d\0\x01\0\xff\x05junk",
    ] {
        let err = ex.load("bad", bytes).err().expect("loaded garbage");
        assert_eq!(
            err.code(),
            cordon_core::ErrorCode::InvalidComponent,
            "{err}"
        );
    }
}
