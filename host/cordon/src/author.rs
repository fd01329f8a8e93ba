//! For tool authors: `cordon new tool NAME --lang rust` writes a working tool,
//! `cordon build` turns the tool in the current directory into its component.
//!
//! ```text
//! cordon new tool demo --lang rust     demo/{tool.toml, Cargo.toml, src/lib.rs, wit/...}
//! cd demo && cordon build              cargo build --target wasm32-wasip2, WIT docs embedded,
//!                                      demo.wasm next to tool.toml, loaded once to check it
//! cordon tools add .                   into the catalog (see `tools.rs`)
//! ```

use crate::Settings;
use anyhow::{Context, Result, bail};
use cordon_core::{CallError, ErrorCode};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `cordon:tool` WIT package every tool's world includes.
const TOOL_WIT: &str = include_str!("../../../wit/tool.wit");

/// The Rust template, `{{name}}` and `{{sdk}}` filled in by `cordon new`.
const RUST_TEMPLATE: &[(&str, &str)] = &[
    ("tool.toml", include_str!("../templates/rust/tool.toml")),
    ("Cargo.toml", include_str!("../templates/rust/Cargo.toml")),
    (".gitignore", include_str!("../templates/rust/gitignore")),
    ("src/lib.rs", include_str!("../templates/rust/src/lib.rs")),
    (
        "wit/world.wit",
        include_str!("../templates/rust/wit/world.wit"),
    ),
];

#[derive(clap::Subcommand)]
pub enum NewCommand {
    /// Scaffold a tool in a new directory NAME: manifest, source, WIT world and a test.
    Tool {
        /// The tool's name: lower-case letters, digits and `-`, starting with a letter.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: Language,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Language {
    /// Rust, with the `cordon-sdk` crate (guest-sdks/rust).
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
    /// C, built with clang and wasm-tools.
    C,
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The tool's directory (the one holding tool.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

fn bad(message: String) -> anyhow::Error {
    CallError::new(ErrorCode::BadRequest, message).into()
}

pub fn new(cmd: NewCommand) -> Result<ExitCode> {
    let NewCommand::Tool { name, lang } = cmd;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !valid {
        return Err(bad(format!(
            "tool name {name:?}: lower-case letters, digits and single `-`, starting with a letter (it names the WIT world too)"
        )));
    }
    let template = match lang {
        Language::Rust => RUST_TEMPLATE,
        Language::Python | Language::Js | Language::C => {
            return Err(bad(
                "only --lang rust is scaffolded so far; Python, JavaScript and C tools are built as in components/ (see docs/sdk-rust.md)".into(),
            ));
        }
    };
    let dir = PathBuf::from(&name);
    if dir.exists() {
        return Err(bad(format!("{} already exists", dir.display())));
    }
    let sdk = sdk_dir()?;
    for (path, text) in template {
        let text = text
            .replace("{{name}}", &name)
            .replace("{{sdk}}", &sdk.display().to_string());
        write(&dir.join(path), &text)?;
    }
    write(&dir.join("wit/deps/cordon-tool/tool.wit"), TOOL_WIT)?;
    println!(
        "created {name}/ (Rust). Next: cd {name} && cordon build && cordon tools add . && cordon run {name} --json '{{\"csv\": \"a,b\\n1,2\\n\"}}'"
    );
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The Rust SDK: `CORDON_SDK_DIR`, else `guest-sdks/rust` of the checkout this binary was
/// built in (`target/release/cordon` → the repository root two levels up).
fn sdk_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("CORDON_SDK_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()?
            .canonicalize()?
            .ancestors()
            .nth(3)
            .map(|root| root.join("guest-sdks/rust"))
            .context("cannot tell where this binary's checkout is; set CORDON_SDK_DIR")?,
    };
    if !dir.join("Cargo.toml").is_file() {
        bail!(
            "no Rust SDK at {} (set CORDON_SDK_DIR to guest-sdks/rust of a Cordon checkout)",
            dir.display()
        );
    }
    Ok(dir)
}

pub async fn build(settings: &Settings, args: BuildArgs) -> Result<ExitCode> {
    let manifest_path = args.dir.join("tool.toml");
    let manifest = cordon_wasm::Manifest::load(&manifest_path).map_err(crate::run::wasm_error)?;
    let Some(component) = &manifest.component else {
        return Err(bad(format!(
            "{}: a command tool ([native]) has nothing to build",
            manifest_path.display()
        )));
    };
    let cargo_toml = args.dir.join("Cargo.toml");
    if !cargo_toml.is_file() {
        return Err(bad(format!(
            "{}: cordon build knows Rust tools (a Cargo.toml) so far",
            args.dir.display()
        )));
    }
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
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| args.dir.join("target"), PathBuf::from);
    let built = target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    let bytes =
        std::fs::read(&built).with_context(|| format!("cannot read {}", built.display()))?;
    let bytes = cordon_wasm::embed_wit(&bytes, &args.dir.join("wit")).map_err(bad)?;
    let out = args.dir.join(component);
    std::fs::write(&out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    // Load it as the catalog will: it must compile, and its functions must be callable.
    let host = settings.host()?;
    let loaded = host
        .executor()
        .load(&manifest.name, &bytes)
        .map_err(crate::run::wasm_error)?;
    let functions: Vec<&str> = loaded.functions().iter().map(|f| f.name.as_str()).collect();
    println!(
        "built {} (sha256:{}, {} bytes): {}",
        out.display(),
        loaded.digest,
        bytes.len(),
        functions.join(", ")
    );
    Ok(ExitCode::SUCCESS)
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
