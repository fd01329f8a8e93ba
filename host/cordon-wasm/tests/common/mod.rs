//! Shared set-up: fixture components built by `make fixtures` / `make components`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use cordon_wasm::{EngineConfig, Executor, LoadedComponent};
use std::path::PathBuf;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A built fixture or tool component. Missing ones are a build error, not a skip: every
/// fixture builds on every machine (`make fixtures components`).
pub fn component_path(rel: &str) -> PathBuf {
    let p = repo().join("target").join(rel);
    assert!(
        p.is_file(),
        "{} is missing: run `make fixtures components` first",
        p.display()
    );
    p
}

pub fn executor() -> Executor {
    Executor::new(&EngineConfig::default(), None).unwrap()
}

pub fn load(executor: &Executor, rel: &str) -> LoadedComponent {
    executor.load_file(&component_path(rel)).unwrap()
}
