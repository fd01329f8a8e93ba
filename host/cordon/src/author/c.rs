//! C tools: bindings from `wit-bindgen c` (in-process), clang for wasm32-wasi, and the
//! component made in-process with the WASI preview-1 adapter, so an author needs clang,
//! lld and wasi-libc (Debian: `clang lld wasi-libc libclang-rt-14-dev-wasm32`) and nothing
//! else.
//!
//! ```text
//! wit/  --wit-bindgen-c-->  bindings/{world}.h, {world}.c, {world}_component_type.o
//! src/*.c + bindings  --clang --target=wasm32-wasi -mexec-model=reactor-->  core module
//! core module + wasi_snapshot_preview1 adapter  --wit-component-->  component
//! ```

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Where `cordon new` and `cordon build` write the generated bindings (not to be edited).
pub const BINDINGS: &str = "bindings";

/// Generates the C bindings of the tool's world (its only world in `wit/`) into
/// `dir/bindings`, replacing what was there. Returns the world's C name (`demo-tool` →
/// `demo_tool`), the prefix of every generated name.
pub fn generate_bindings(dir: &Path) -> Result<String> {
    let (mut resolve, world) = super::tool_world(dir)?;
    let mut files = Default::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .context("wit-bindgen c")?;
    let out = dir.join(BINDINGS);
    if out.exists() {
        std::fs::remove_dir_all(&out)
            .with_context(|| format!("cannot replace {}", out.display()))?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    for (name, bytes) in files.iter() {
        std::fs::write(out.join(name), bytes)
            .with_context(|| format!("cannot write {}/{name}", out.display()))?;
    }
    Ok(resolve.worlds[world].name.replace('-', "_"))
}

/// Compiles `src/*.c` with the bindings and the SDK's header into a core module, and makes
/// it a component. Returns the component's bytes (without embedded WIT docs).
pub fn build(dir: &Path, sdk: &Path) -> Result<Vec<u8>> {
    let world = generate_bindings(dir)?;
    let bindings = dir.join(BINDINGS);
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir.join("src"))
        .with_context(|| format!("{}: a C tool keeps its sources in src/", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    if sources.is_empty() {
        bail!("{}: no .c files in src/", dir.display());
    }
    let core = super::scratch(dir, &format!("{world}.core.wasm"))?;
    let clang = std::env::var_os("CORDON_CLANG").unwrap_or("clang".into());
    // Debian's clang finds wasi-libc's headers and libraries itself (/usr/include/wasm32-wasi,
    // /usr/lib/wasm32-wasi); a --sysroot would hide them. A reactor has no main: the
    // component's exports are its entry points.
    let status = std::process::Command::new(&clang)
        .args([
            "--target=wasm32-wasi",
            "-mexec-model=reactor",
            "-O2",
            "-Wall",
            "-Wextra",
        ])
        .arg("-I")
        .arg(&bindings)
        .arg("-I")
        .arg(sdk)
        .args(&sources)
        .arg(bindings.join(format!("{world}.c")))
        .arg(bindings.join(format!("{world}_component_type.o")))
        .arg("-o")
        .arg(&core)
        .current_dir(dir)
        .status()
        .with_context(|| {
            format!(
                "cannot run {} (C tools need clang, lld and wasi-libc: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)",
                clang.to_string_lossy()
            )
        })?;
    if !status.success() {
        bail!("clang failed ({status})");
    }
    let module = std::fs::read(&core).with_context(|| format!("cannot read {}", core.display()))?;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .context("the compiled module")?
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .context("the WASI preview-1 adapter")?
        .validate(true)
        .encode()
        .context("making the component")
}
