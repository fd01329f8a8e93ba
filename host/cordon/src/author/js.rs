//! JavaScript tools: plain functions in `app.js`, made a component by componentize-js
//! (StarlingMonkey) against the tool's world, through guest-sdks/js/build.mjs.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The componentize-js release the SDK is written and tested against (the Makefile's).
const COMPONENTIZE_JS: &str = "0.23.0";

/// Builds `dir/app.js` (world `world`) and returns the component's bytes.
/// `http` keeps `fetch()` (and its wasi:http import), for a tool whose manifest asks for hosts.
pub fn build(dir: &Path, world: &str, sdks: &Path, http: bool) -> Result<Vec<u8>> {
    let out = super::scratch(dir, "componentized.wasm")?;
    let modules = componentize_js(sdks)?;
    let status = std::process::Command::new("node")
        .arg(sdks.join("js/build.mjs"))
        .arg(&modules)
        .args(["app.js", "wit", world])
        .arg(&out)
        .args(http.then_some("--http"))
        .current_dir(dir)
        .status()
        .context("cannot run node (apt-get install nodejs npm)")?;
    if !status.success() {
        bail!("componentize-js failed ({status})");
    }
    std::fs::read(&out).with_context(|| format!("cannot read {}", out.display()))
}

/// The directory whose node_modules holds componentize-js: `CORDON_COMPONENTIZE_JS`, else
/// the one `make run` installs in the checkout (.cache/node-interp).
fn componentize_js(sdks: &Path) -> Result<PathBuf> {
    let dir = std::env::var_os("CORDON_COMPONENTIZE_JS")
        .map_or_else(|| sdks.join("../.cache/node-interp"), PathBuf::from);
    if !dir
        .join("node_modules/@bytecodealliance/componentize-js")
        .is_dir()
    {
        bail!(
            "componentize-js is not installed in {}: npm install --prefix DIR @bytecodealliance/componentize-js@{COMPONENTIZE_JS} and set CORDON_COMPONENTIZE_JS=DIR (or `make run` in a Cordon checkout)",
            dir.display()
        );
    }
    Ok(dir)
}
