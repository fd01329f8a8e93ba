//! Python tools: plain functions in `app.py`, made a component by componentize-py against
//! the tool's world, with `cordon_sdk` (guest-sdks/python) on the module path.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The componentize-py release the SDK is written and tested against (the Makefile's).
const COMPONENTIZE_PY: &str = "0.25.1";

/// Builds `dir/app.py` (world `world`) and returns the component's bytes.
pub fn build(dir: &Path, world: &str, sdks: &Path) -> Result<Vec<u8>> {
    let out = super::scratch(dir, "componentized.wasm")?;
    let componentize = componentize_py(sdks)?;
    let status = std::process::Command::new(&componentize)
        // The SDK imports the host's logging under one name whatever the tool's world is
        // called; the option is global, so it comes before `componentize`.
        .args(["-d", "wit", "-w", world])
        .args([
            "--import-interface-name",
            "cordon:tool/logging@0.1.0=cordon_tool_logging",
        ])
        .args(["componentize", "-p", "."])
        .arg("-p")
        .arg(sdks.join("python"))
        .arg("app")
        .arg("-o")
        .arg(&out)
        .current_dir(dir)
        .status()
        .with_context(|| format!("cannot run {}", componentize.display()))?;
    if !status.success() {
        bail!("componentize-py failed ({status})");
    }
    std::fs::read(&out).with_context(|| format!("cannot read {}", out.display()))
}

/// `CORDON_COMPONENTIZE_PY`, else `componentize-py` on PATH, else the one `make run`
/// installs in the checkout (.cache/venv-interp).
fn componentize_py(sdks: &Path) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CORDON_COMPONENTIZE_PY") {
        return Ok(path.into());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("componentize-py"))
        .find(|p| p.is_file());
    let in_checkout = sdks.join("../.cache/venv-interp/bin/componentize-py");
    on_path
        .or_else(|| in_checkout.is_file().then_some(in_checkout))
        .with_context(|| {
            format!(
                "componentize-py is not installed: pip install componentize-py=={COMPONENTIZE_PY} (or `make run` in a Cordon checkout), or set CORDON_COMPONENTIZE_PY"
            )
        })
}
