//! For tool authors: `cordon new tool NAME --lang rust|python|js|c` writes a working tool,
//! `cordon build` turns the tool in the current directory into its component.
//!
//! ```text
//! cordon new tool demo --lang python   demo/{tool.toml, wit/..., the source and a test}
//! cd demo && cordon build              the language's tool chain → component, WIT docs
//!                                      embedded, demo.wasm next to tool.toml, loaded once
//! cordon tools add .                   into the catalog (see `tools.rs`)
//! ```
//!
//! Every language writes the same tool (a CSV summariser) against the same world, so an
//! author can compare them and a caller cannot tell them apart.

mod c;
mod js;
mod python;
mod rust;

use crate::Settings;
use anyhow::{Context, Result, bail};
use cordon_core::{CallError, ErrorCode};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `cordon:tool` WIT package every tool's world includes.
const TOOL_WIT: &str = include_str!("../../../../wit/tool.wit");

/// A template: (path in the tool's directory, text with `{{name}}` and `{{sdk}}` to fill).
type Template = &'static [(&'static str, &'static str)];

/// What every language's tool has: the manifest and the world.
const COMMON: Template = &[
    (
        "tool.toml",
        include_str!("../../templates/common/tool.toml"),
    ),
    (
        "wit/world.wit",
        include_str!("../../templates/common/wit/world.wit"),
    ),
    ("wit/deps/cordon-tool/tool.wit", TOOL_WIT),
];

const RUST: Template = &[
    (
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml"),
    ),
    (".gitignore", include_str!("../../templates/rust/gitignore")),
    (
        "src/lib.rs",
        include_str!("../../templates/rust/src/lib.rs"),
    ),
];

const PYTHON: Template = &[
    ("app.py", include_str!("../../templates/python/app.py")),
    (
        "test_app.py",
        include_str!("../../templates/python/test_app.py"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/python/gitignore"),
    ),
];

const JS: Template = &[
    ("app.js", include_str!("../../templates/js/app.js")),
    (
        "app.test.js",
        include_str!("../../templates/js/app.test.js"),
    ),
    // componentize-js resolves modules only under the tool's directory: the SDK is copied.
    (
        "cordon-sdk.js",
        include_str!("../../../../guest-sdks/js/cordon-sdk.js"),
    ),
    (".gitignore", include_str!("../../templates/js/gitignore")),
];

const C: Template = &[
    (
        "src/summarize.h",
        include_str!("../../templates/c/src/summarize.h"),
    ),
    (
        "src/summarize.c",
        include_str!("../../templates/c/src/summarize.c"),
    ),
    ("src/tool.c", include_str!("../../templates/c/src/tool.c")),
    (
        "tests/summarize_test.c",
        include_str!("../../templates/c/tests/summarize_test.c"),
    ),
    (".gitignore", include_str!("../../templates/c/gitignore")),
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

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust, with the `cordon-sdk` crate (guest-sdks/rust).
    Rust,
    /// Python, built with componentize-py (guest-sdks/python).
    Python,
    /// JavaScript, built with componentize-js (guest-sdks/js).
    Js,
    /// C, built with clang; bindings from wit-bindgen c (guest-sdks/c).
    C,
}

impl Language {
    fn template(self) -> Template {
        match self {
            Language::Rust => RUST,
            Language::Python => PYTHON,
            Language::Js => JS,
            Language::C => C,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
            Language::C => "C",
        }
    }

    /// Which language the tool in `dir` is written in, from the files its template wrote.
    fn of(dir: &Path) -> Option<Language> {
        [
            ("Cargo.toml", Language::Rust),
            ("app.py", Language::Python),
            ("app.js", Language::Js),
            ("src/tool.c", Language::C),
        ]
        .into_iter()
        .find_map(|(file, lang)| dir.join(file).is_file().then_some(lang))
    }
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
    let dir = PathBuf::from(&name);
    if dir.exists() {
        return Err(bad(format!("{} already exists", dir.display())));
    }
    let sdk = sdks_dir()?.join(match lang {
        Language::Rust => "rust",
        Language::Python => "python",
        Language::Js => "js",
        Language::C => "c",
    });
    for (path, text) in COMMON.iter().chain(lang.template()) {
        let text = text
            .replace("{{name}}", &name)
            .replace("{{ident}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk.display().to_string());
        write(&dir.join(path), &text)?;
    }
    if lang == Language::C {
        // So an editor finds the generated header before the first build.
        c::generate_bindings(&dir)?;
    }
    println!(
        "created {name}/ ({}). Next: cd {name} && cordon build && cordon tools add . && cordon run {name} --json '{{\"csv\": \"a,b\\n1,2\\n\"}}'",
        lang.title()
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

/// A file under the tool's `target/` (build output the author does not edit).
fn scratch(dir: &Path, name: &str) -> Result<PathBuf> {
    let target = dir.join("target");
    std::fs::create_dir_all(&target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    Ok(target.join(name))
}

/// The SDKs: `CORDON_SDK_DIR`, else `guest-sdks/` of the checkout this binary was built in
/// (`target/release/cordon` → the repository root three levels up).
fn sdks_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("CORDON_SDK_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()?
            .canonicalize()?
            .ancestors()
            .nth(3)
            .map(|root| root.join("guest-sdks"))
            .context("cannot tell where this binary's checkout is; set CORDON_SDK_DIR")?,
    };
    if !dir.join("rust/Cargo.toml").is_file() {
        bail!(
            "no SDKs at {} (set CORDON_SDK_DIR to guest-sdks/ of a Cordon checkout)",
            dir.display()
        );
    }
    Ok(dir)
}

/// The tool's WIT and its world: the only world of the package in `dir/wit`.
fn tool_world(dir: &Path) -> Result<(wit_parser::Resolve, wit_parser::WorldId)> {
    let wit = dir.join("wit");
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(&wit)
        .with_context(|| format!("{}: the tool's WIT does not resolve", wit.display()))?;
    let world = resolve.select_world(&[package], None)?;
    Ok((resolve, world))
}

/// The name of the tool's world.
fn world_name(dir: &Path) -> Result<String> {
    let (resolve, world) = tool_world(dir)?;
    Ok(resolve.worlds[world].name.clone())
}

pub async fn build(settings: &Settings, args: BuildArgs) -> Result<ExitCode> {
    // Tool chains run in the tool's directory; every path handed to them is absolute.
    let dir = &std::fs::canonicalize(&args.dir)
        .with_context(|| format!("{}: no such directory", args.dir.display()))?;
    let manifest_path = dir.join("tool.toml");
    let manifest = cordon_wasm::Manifest::load(&manifest_path).map_err(crate::run::wasm_error)?;
    let Some(component) = &manifest.component else {
        return Err(bad(format!(
            "{}: a command tool ([native]) has nothing to build",
            manifest_path.display()
        )));
    };
    let Some(lang) = Language::of(dir) else {
        return Err(bad(format!(
            "{}: not a tool cordon build knows (Cargo.toml, app.py, app.js or src/tool.c; see cordon new)",
            dir.display()
        )));
    };
    let bytes = match lang {
        Language::Rust => rust::build(dir)?,
        Language::Python => python::build(dir, &world_name(dir)?, &sdks_dir()?)?,
        Language::Js => {
            let http = !manifest.capabilities.hosts.is_empty();
            js::build(dir, &world_name(dir)?, &sdks_dir()?, http)?
        }
        Language::C => c::build(dir, &sdks_dir()?.join("c"))?,
    };
    let bytes = cordon_wasm::embed_wit(&bytes, &dir.join("wit")).map_err(bad)?;
    let out = dir.join(component);
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
        // As the author named it (`./demo.wasm`), not the absolute path used to build.
        args.dir.join(component).display(),
        loaded.digest,
        bytes.len(),
        functions.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
