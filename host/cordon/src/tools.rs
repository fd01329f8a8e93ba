//! `cordon tools list|inspect|add|push|approve`.

use crate::Settings;
use anyhow::{Context, Result};
use cordon_core::{CallError, ErrorCode, Grants};
use cordon_wasm::catalog::Tool;
use cordon_wasm::{FunctionInfo, LoadedComponent};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ToolsCommand {
    /// List the catalog's tools and their functions, with JSON Schemas.
    List {
        /// Catalog directory (default: --tools-dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Describe one tool or component file: functions, schemas, manifest.
    Inspect {
        /// A tool name or the path of a component.
        target: String,
    },
    /// Approve a tool as it is now: one held because its description or schemas changed
    /// since its last approval is served again (a running `cordon serve` picks it up).
    Approve {
        /// The tool's name.
        name: String,
        /// Catalog directory (default: --tools-dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Take a tool out of service on this host: it is held (calls get `tool_blocked`) until
    /// unblocked. A running `cordon serve` picks it up without a restart.
    Block {
        /// The tool's name.
        name: String,
        /// Catalog directory (default: --tools-dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Put a blocked tool back in service.
    Unblock {
        /// The tool's name.
        name: String,
    },
    /// Install a tool into the catalog, after admission policy accepts it, and approve it
    /// as it is. A running `cordon serve` picks it up without a restart.
    ///
    /// From an OCI registry (`oci://REGISTRY/REPO:TAG` or `…@sha256:DIGEST`), every blob is
    /// checked against its digest, and the signature against `[registry] trusted_keys`.
    Add {
        /// The tool's directory (its tool.toml and the component it names), or an
        /// `oci://` reference.
        source: String,
        /// Catalog directory (default: --tools-dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Push a built tool (its tool.toml and component) to an OCI registry as a wasm OCI
    /// artefact, optionally signed; prints the reference with its digest.
    Push {
        /// The tool's directory.
        source: PathBuf,
        /// Where: `oci://REGISTRY/REPO:TAG` (TAG defaults to the tool's version).
        reference: String,
        /// Sign with this P-256 private key (PKCS#8 PEM), cosign-style.
        #[arg(long)]
        sign: Option<PathBuf>,
    },
}

/// A registry's refusal as the error code callers match on.
fn oci_error(e: cordon_oci::OciError) -> anyhow::Error {
    use cordon_oci::OciError;
    let code = match &e {
        OciError::BadReference(_) | OciError::Key(_) => ErrorCode::BadRequest,
        OciError::DigestMismatch { .. } => ErrorCode::DigestMismatch,
        OciError::Signature(_) => ErrorCode::SignatureInvalid,
        OciError::NotFound(_) => ErrorCode::NotFound,
        OciError::Malformed(_) => ErrorCode::InvalidComponent,
        OciError::Refused(_) | OciError::Transport(_) => ErrorCode::Unavailable,
    };
    CallError::new(code, e.to_string()).into()
}

pub(crate) fn function_json(f: &FunctionInfo) -> Value {
    let mut v = json!({
        "name": f.name,
        "description": f.description,
        "input_schema": f.input_schema,
        "output_schema": f.output_schema,
    });
    if let Some(reason) = &f.unsupported {
        v["unsupported"] = json!(reason);
    }
    v
}

/// A tool's digest and functions; a command tool also says what it runs.
fn tool_json(t: &Tool) -> Value {
    let mut v = json!({
        "digest": format!("sha256:{}", t.digest()),
        "functions": t.functions().iter().map(function_json).collect::<Vec<_>>(),
    });
    if let Some(native) = &t.manifest.native {
        v["command"] = json!(native);
    }
    v
}

fn component_json(c: &LoadedComponent) -> Value {
    json!({
        "digest": format!("sha256:{}", c.digest),
        "functions": c.functions().iter().map(function_json).collect::<Vec<_>>(),
    })
}

pub async fn tools(settings: &Settings, cmd: ToolsCommand) -> Result<ExitCode> {
    let host = settings.host()?;
    let executor = host.executor();
    let admit = |m: &cordon_wasm::Manifest, c: Option<&LoadedComponent>| host.admit(m, c);
    match cmd {
        ToolsCommand::List { dir } => {
            let dir = dir.unwrap_or_else(|| settings.tools_dir.clone());
            let catalog = settings.load_catalog(&host, &dir)?;
            let tools: Vec<Value> = catalog
                .tools()
                .map(|t| {
                    let mut v = tool_json(t);
                    v["name"] = json!(t.manifest.name);
                    v["version"] = json!(t.manifest.version);
                    v["description"] = json!(t.manifest.description);
                    v
                })
                .collect();
            let held: Vec<Value> = catalog
                .held_tools()
                .map(|(name, why)| json!({"name": name, "reason": why}))
                .collect();
            let mut listing = json!({ "tools": tools });
            if !held.is_empty() {
                listing["held"] = json!(held);
            }
            println!("{}", serde_json::to_string_pretty(&listing)?);
        }
        ToolsCommand::Inspect { target } => {
            let resolved = crate::run::resolve(settings, executor, &admit, &target)?;
            let mut v = match &resolved {
                crate::run::Resolved::Tool(t) => {
                    let mut v = tool_json(t);
                    v["name"] = json!(t.manifest.name);
                    v
                }
                crate::run::Resolved::Component(c) => {
                    let mut v = component_json(c);
                    v["name"] = json!(c.name);
                    v
                }
            };
            if let Some(component) = resolved.component() {
                v["imports"] = json!(component.imports());
            }
            v["default_limits"] = serde_json::to_value(resolved.limits(settings.file.limits()?))?;
            if let crate::run::Resolved::Tool(t) = &resolved {
                v["default_grants"] =
                    serde_json::to_value(t.manifest.grants_for(Grants::default()))?;
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        ToolsCommand::Add { source, dir } => {
            let catalog = dir.unwrap_or_else(|| settings.tools_dir.clone());
            let tool = if source.starts_with("oci://") {
                let pulled = tempfile::tempdir()?;
                pull(settings, &source, pulled.path()).await?;
                add(executor, &admit, pulled.path(), &catalog)?
            } else {
                add(executor, &admit, Path::new(&source), &catalog)?
            };
            // Adding a tool is approving it, as it is now.
            if let Some(pins) = host.pins() {
                pins.approve(&tool, &approver(settings))
                    .map_err(anyhow::Error::msg)?;
            }
        }
        ToolsCommand::Push {
            source,
            reference,
            sign,
        } => push(settings, executor, &source, &reference, sign.as_deref()).await?,
        ToolsCommand::Block { name, dir } => {
            let catalog = dir.unwrap_or_else(|| settings.tools_dir.clone());
            let manifest = catalog.join(&name).join("tool.toml");
            let tool = cordon_wasm::catalog::load_tool(executor, &manifest, &admit)
                .map_err(crate::run::wasm_error)?;
            let pins = host.pins().context("this host does not pin tools")?;
            pins.set_blocked(&tool, true, &approver(settings))
                .map_err(anyhow::Error::msg)?;
            println!("blocked {name}: held until `cordon tools unblock {name}`");
        }
        ToolsCommand::Unblock { name } => {
            let pins = host.pins().context("this host does not pin tools")?;
            pins.unblock(&name)
                .map_err(|e| CallError::new(ErrorCode::NotFound, e))?;
            println!("unblocked {name}");
        }
        ToolsCommand::Approve { name, dir } => {
            let catalog = dir.unwrap_or_else(|| settings.tools_dir.clone());
            let manifest = catalog.join(&name).join("tool.toml");
            let tool = cordon_wasm::catalog::load_tool(executor, &manifest, &admit)
                .map_err(crate::run::wasm_error)?;
            let pins = host.pins().context("this host does not pin tools")?;
            let before = pins.get(&name);
            let pin = pins
                .approve(&tool, &approver(settings))
                .map_err(anyhow::Error::msg)?;
            match before {
                Some(old) if old.surface != pin.surface => println!(
                    "approved {name} {} (sha256:{}), replacing {} approved by {}",
                    pin.version, pin.digest, old.version, old.approved_by
                ),
                _ => println!("approved {name} {} (sha256:{})", pin.version, pin.digest),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Pushes the tool in `source` (loaded first: it must be a valid tool) to `reference`.
async fn push(
    settings: &Settings,
    executor: &cordon_wasm::Executor,
    source: &Path,
    reference: &str,
    sign: Option<&Path>,
) -> Result<()> {
    let manifest_path = source.join("tool.toml");
    // No admission here: the pulling host's policy decides; this host only publishes.
    let tool = cordon_wasm::catalog::load_tool(executor, &manifest_path, &|_, _| Ok(()))
        .map_err(crate::run::wasm_error)?;
    let (Some(component), Some(file)) = (tool.component(), &tool.manifest.component) else {
        return Err(CallError::new(
            ErrorCode::BadRequest,
            format!(
                "{}: a command tool has no component to push",
                manifest_path.display()
            ),
        )
        .into());
    };
    let text = reference;
    let mut reference = cordon_oci::Reference::parse(text).map_err(oci_error)?;
    // No tag given: the tool's version is the tag.
    if !text
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
    {
        reference.tag.clone_from(&tool.manifest.version);
    }
    let artifact = cordon_oci::Artifact {
        component: std::fs::read(source.join(file))?,
        tool_manifest: std::fs::read_to_string(&manifest_path)?,
        imports: component.imports().to_vec(),
        exports: tool.functions().iter().map(|f| f.name.clone()).collect(),
    };
    let signer = sign
        .map(cordon_oci::Signer::from_pem_file)
        .transpose()
        .map_err(oci_error)?;
    let annotations = [
        (
            "org.opencontainers.image.title",
            tool.manifest.name.as_str(),
        ),
        (
            "org.opencontainers.image.version",
            tool.manifest.version.as_str(),
        ),
        (
            "org.opencontainers.image.description",
            tool.manifest.description.as_str(),
        ),
    ];
    let digest = settings
        .registry()?
        .push(&reference, &artifact, &annotations, signer.as_ref())
        .await
        .map_err(oci_error)?;
    println!(
        "pushed {} {} to {reference}@{digest}{}",
        tool.manifest.name,
        tool.manifest.version,
        if signer.is_some() { " (signed)" } else { "" }
    );
    Ok(())
}

/// Refuses a manifest's component path that could leave the tool's directory (absolute,
/// `..`, `.`): `whose` names the manifest in the error.
fn inside_tool_dir(component: &Path, whose: &str) -> Result<()> {
    let inside = !component.is_absolute()
        && component
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if inside {
        return Ok(());
    }
    Err(CallError::new(
        ErrorCode::BadRequest,
        format!("{whose}: component {component:?} must be a path inside the tool's directory"),
    )
    .into())
}

/// Pulls `reference` into `into` (its tool.toml and component), digests and signature
/// checked.
async fn pull(settings: &Settings, reference: &str, into: &Path) -> Result<()> {
    let reference = cordon_oci::Reference::parse(reference).map_err(oci_error)?;
    let trust = settings.trust_policy()?;
    let pulled = settings
        .registry()?
        .pull(&reference, &trust)
        .await
        .map_err(oci_error)?;
    let manifest_path = into.join("tool.toml");
    std::fs::write(&manifest_path, &pulled.artifact.tool_manifest)?;
    let manifest = cordon_wasm::Manifest::load(&manifest_path).map_err(crate::run::wasm_error)?;
    // The component goes where its manifest says; `add` refuses any path leaving the
    // directory, so a hostile tool.toml cannot place it elsewhere.
    let component = manifest.component.clone().ok_or_else(|| {
        CallError::new(
            ErrorCode::InvalidComponent,
            format!("{reference}: its tool.toml names no component"),
        )
    })?;
    inside_tool_dir(&component, &reference.to_string())?;
    let to = into.join(&component);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&to, &pulled.artifact.component)?;
    println!(
        "pulled {reference}@{}{}",
        pulled.digest,
        pulled
            .signed_by
            .map(|key| format!(" (signature verified with {key})"))
            .unwrap_or_default()
    );
    Ok(())
}

/// Loads the tool at `source` as the catalog would (manifest valid, component compiled,
/// admitted), then copies its manifest and component into `catalog/NAME/`, replacing an
/// earlier version. It is staged in a hidden directory the catalog ignores and moved into
/// place whole, so a watching server never sees half a tool.
/// Who approves from this command line: the local principal (`[local]`, `$USER`).
fn approver(settings: &Settings) -> String {
    settings.local_principal(None, None, Vec::new()).subject
}

fn add(
    executor: &cordon_wasm::Executor,
    admit: cordon_wasm::catalog::Admit<'_>,
    source: &Path,
    catalog: &Path,
) -> Result<Tool> {
    let manifest_path = if source.is_dir() {
        source.join("tool.toml")
    } else {
        source.to_owned()
    };
    let tool = cordon_wasm::catalog::load_tool(executor, &manifest_path, admit)
        .map_err(crate::run::wasm_error)?;
    let name = &tool.manifest.name;
    let base = manifest_path.parent().unwrap_or(Path::new("."));
    let mut files = vec![PathBuf::from("tool.toml")];
    if let Some(component) = &tool.manifest.component {
        // The component must sit beside (or under) its manifest: it is copied by that path.
        inside_tool_dir(component, &manifest_path.display().to_string())?;
        files.push(component.clone());
    }
    std::fs::create_dir_all(catalog)?;
    let staging = catalog.join(format!(".{name}.adding"));
    let _ = std::fs::remove_dir_all(&staging);
    for file in &files {
        let to = staging.join(file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(base.join(file), &to)
            .with_context(|| format!("cannot copy {}", base.join(file).display()))?;
    }
    let target = catalog.join(name);
    let replaced = target.exists();
    if replaced {
        let old = catalog.join(format!(".{name}.replaced"));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&target, &old)?;
        std::fs::rename(&staging, &target)?;
        std::fs::remove_dir_all(&old)?;
    } else {
        std::fs::rename(&staging, &target)?;
    }
    println!(
        "{} {name} {} (sha256:{}) in {}",
        if replaced { "updated" } else { "added" },
        tool.manifest.version,
        tool.digest(),
        catalog.display()
    );
    Ok(tool)
}
