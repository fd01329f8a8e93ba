//! Shared helpers for the benchmarks: where the built fixtures are.

use std::path::PathBuf;

/// A component built by `make fixtures` (`target/fixtures/NAME.wasm`).
///
/// # Panics
///
/// When the fixture has not been built: run `make fixtures` first.
pub fn fixture(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/fixtures")
        .join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "{} is missing: run `make fixtures`",
        p.display()
    );
    p
}
