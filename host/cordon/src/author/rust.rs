//! Rust tools: `cargo build --target wasm32-wasip2` with the `cordon-sdk` crate.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Builds the crate in `dir` and returns its component's bytes.
pub fn build(dir: &Path) -> Result<Vec<u8>> {
    let cargo_toml = dir.join("Cargo.toml");
    let crate_name = crate_name(&cargo_toml)?;
    let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&cargo_toml)
        .status()
        .context("cannot run cargo (is the Rust toolchain installed?)")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| dir.join("target"), PathBuf::from);
    let built = target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    std::fs::read(&built).with_context(|| format!("cannot read {}", built.display()))
}

fn crate_name(cargo_toml: &Path) -> Result<String> {
    let text = std::fs::read_to_string(cargo_toml)
        .with_context(|| format!("cannot read {}", cargo_toml.display()))?;
    let value: toml::Value =
        toml::from_str(&text).with_context(|| format!("{}", cargo_toml.display()))?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("{}: no [package] name", cargo_toml.display()))
}
