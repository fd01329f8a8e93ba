//! `cordon run`: one call from a shell.

use crate::Settings;
use anyhow::Result;
use cordon_core::{
    CallError, DirMode, ErrorCode, Grants, HostRule, Limits, Principal, parse_duration, parse_size,
};
use cordon_host::{Call, Target};
use cordon_wasm::catalog::{self, Admit, Tool};
use cordon_wasm::{Executor, LoadedComponent};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct RunArgs {
    /// A tool in the catalog (e.g. `fs`) or the path of a component (`.wasm`).
    target: String,
    /// The function to call; may be omitted when the component exports only one.
    #[arg(long = "fn", value_name = "NAME")]
    function: Option<String>,
    /// Arguments as a JSON object keyed by parameter name.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    json: String,
    /// Grant a directory: HOST[:GUEST][:ro|:rw]. GUEST defaults to /NAME; mode to ro.
    /// The first one is the tool's workspace.
    #[arg(long = "dir", value_name = "HOST[:GUEST][:MODE]")]
    dirs: Vec<String>,
    /// Grant an environment variable (only those the tool's manifest asks for pass).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Give the guest this file on stdin (`-` for this process's stdin).
    #[arg(long, value_name = "FILE")]
    stdin: Option<PathBuf>,
    /// Fuel budget (overrides the tool's default).
    #[arg(long)]
    fuel: Option<u64>,
    /// Wall-clock deadline, e.g. 500ms, 5s.
    #[arg(long)]
    timeout: Option<String>,
    /// Linear memory cap, e.g. 64MiB.
    #[arg(long)]
    memory: Option<String>,
    /// Cap on each of stdout and stderr, e.g. 1MiB.
    #[arg(long)]
    output: Option<String>,
    /// Allow wasi:http requests to this host ([scheme://]host[:port]); only for a component
    /// run by path (a tool's hosts come from its manifest). Policy still decides.
    #[arg(long = "allow-host", value_name = "HOST")]
    hosts: Vec<HostRule>,
    /// Print the whole outcome (value, stdout, stderr, logs, receipt) instead of the value.
    #[arg(long)]
    receipt: bool,
    #[command(flatten)]
    who: WhoArgs,
}

/// Who a CLI call runs as: a token's principal, or the local principal (config `[local]`,
/// default: role admin on tenant local) with these overrides.
#[derive(clap::Args)]
pub struct WhoArgs {
    /// Run as this token's principal instead of the local one.
    #[arg(long, env = "CORDON_TOKEN", hide_env_values = true, conflicts_with_all = ["tenant", "subject", "roles"])]
    token: Option<String>,
    /// Tenant of the local principal.
    #[arg(long)]
    tenant: Option<String>,
    /// Subject of the local principal (default: $USER).
    #[arg(long)]
    subject: Option<String>,
    /// Role of the local principal (repeatable); replaces the configured roles.
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
}

impl WhoArgs {
    pub(crate) fn principal(self, settings: &Settings) -> Result<Principal> {
        match self.token {
            Some(token) => {
                let store = cordon_identity::TokenStore::open(&settings.identity_path())
                    .map_err(|e| CallError::new(e.code(), e.to_string()))?;
                Ok(store
                    .authenticate(&token)
                    .map_err(|e| CallError::new(e.code(), e.to_string()))?)
            }
            None => Ok(settings.local_principal(self.tenant, self.subject, self.roles)),
        }
    }
}

fn bad(message: impl Into<String>) -> anyhow::Error {
    CallError::new(ErrorCode::BadRequest, message).into()
}

/// Parses `HOST[:GUEST][:ro|:rw]`.
fn parse_dir(spec: &str) -> Result<(PathBuf, String, DirMode)> {
    let mut parts: Vec<&str> = spec.split(':').collect();
    let mode = match parts.last().copied() {
        Some("ro") if parts.len() > 1 => {
            parts.pop();
            DirMode::ReadOnly
        }
        Some("rw") if parts.len() > 1 => {
            parts.pop();
            DirMode::ReadWrite
        }
        _ => DirMode::ReadOnly,
    };
    let (host, guest) = match parts.as_slice() {
        [host] => {
            let name = Path::new(host)
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "ws".into());
            (*host, format!("/{name}"))
        }
        [host, guest] => (*host, (*guest).to_owned()),
        _ => {
            return Err(bad(format!(
                "--dir {spec:?}: expected HOST[:GUEST][:ro|:rw]"
            )));
        }
    };
    if !guest.starts_with('/') {
        return Err(bad(format!(
            "--dir {spec:?}: the guest path must be absolute"
        )));
    }
    Ok((PathBuf::from(host), guest, mode))
}

fn grants(args: &RunArgs) -> Result<Grants> {
    let mut b = Grants::builder();
    for h in &args.hosts {
        b = b.host(h.clone());
    }
    for spec in &args.dirs {
        let (host, guest, mode) = parse_dir(spec)?;
        b = b.dir(host, guest, mode);
    }
    for kv in &args.env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| bad(format!("--env {kv:?}: expected KEY=VALUE")))?;
        b = b.env(k, v);
    }
    if let Some(path) = &args.stdin {
        let mut bytes = Vec::new();
        if path.as_os_str() == "-" {
            std::io::stdin().read_to_end(&mut bytes)?;
        } else {
            bytes =
                std::fs::read(path).map_err(|e| bad(format!("--stdin {}: {e}", path.display())))?;
        }
        b = b.stdin(bytes);
    }
    Ok(b.build())
}

fn apply_flags(args: &RunArgs, mut limits: Limits) -> Result<Limits> {
    if let Some(f) = args.fuel {
        limits.fuel = f;
    }
    if let Some(t) = &args.timeout {
        limits.timeout = parse_duration(t).map_err(|e| bad(format!("--timeout: {e}")))?;
    }
    if let Some(m) = &args.memory {
        limits.memory_bytes = parse_size(m).map_err(|e| bad(format!("--memory: {e}")))?;
    }
    if let Some(o) = &args.output {
        limits.output_bytes = parse_size(o).map_err(|e| bad(format!("--output: {e}")))?;
    }
    Ok(limits)
}

/// What a command line names: a catalog tool, or a component file.
pub(crate) enum Resolved {
    Tool(Box<Tool>),
    Component(LoadedComponent),
}

impl Resolved {
    pub(crate) fn target(&self) -> Target<'_> {
        match self {
            Resolved::Tool(t) => Target::Tool(t),
            Resolved::Component(c) => Target::Component(c),
        }
    }

    /// The component that runs; `None` for a native command tool.
    pub(crate) fn component(&self) -> Option<&LoadedComponent> {
        match self {
            Resolved::Tool(t) => t.component().map(|c| &**c),
            Resolved::Component(c) => Some(c),
        }
    }

    /// `base` with the tool's manifest limits applied.
    pub(crate) fn limits(&self, base: Limits) -> Limits {
        match self {
            Resolved::Tool(t) => t.manifest.limits(base),
            Resolved::Component(_) => base,
        }
    }
}

/// A component named by path, or a tool from the catalog (which `admit` must accept).
pub(crate) fn resolve(
    settings: &Settings,
    executor: &Executor,
    admit: Admit<'_>,
    target: &str,
) -> Result<Resolved> {
    let as_path = Path::new(target);
    if target.ends_with(".wasm") || target.contains('/') {
        if !as_path.is_file() {
            return Err(
                CallError::new(ErrorCode::NotFound, format!("no component at {target}")).into(),
            );
        }
        let component = executor.load_file(as_path).map_err(wasm_error)?;
        return Ok(Resolved::Component(component));
    }
    let manifest = settings.tools_dir.join(target).join("tool.toml");
    if !manifest.is_file() {
        let known = catalog::manifests(&settings.tools_dir)
            .map(|m| {
                m.iter()
                    .filter_map(|p| {
                        p.parent()?
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        return Err(CallError::new(
            ErrorCode::NotFound,
            format!(
                "no tool {target:?} in {} (tools: {known}); pass a .wasm path to run a component directly",
                settings.tools_dir.display()
            ),
        )
        .into());
    }
    let tool = catalog::load_tool(executor, &manifest, admit).map_err(wasm_error)?;
    Ok(Resolved::Tool(Box::new(tool)))
}

/// Writes what the guest wrote (stdout, then stderr) to this process's stderr, ending on a
/// newline so whatever cordon prints next starts a line of its own. Nothing is dropped.
pub(crate) fn print_guest_output(stdout: &str, stderr: &str) {
    let guest = format!("{stdout}{stderr}");
    if !guest.is_empty() {
        eprint!("{guest}");
        if !guest.ends_with('\n') {
            eprintln!();
        }
    }
}

pub(crate) fn wasm_error(e: cordon_wasm::WasmError) -> anyhow::Error {
    CallError::new(e.code(), e.to_string()).into()
}

pub async fn run(settings: &Settings, args: RunArgs) -> Result<ExitCode> {
    let json: serde_json::Value = serde_json::from_str(&args.json)
        .map_err(|e| bad(format!("--json is not valid JSON: {e}")))?;
    let offered = grants(&args)?;
    let host = settings.one_shot_host()?;
    let resolved = resolve(
        settings,
        host.executor(),
        &|m, c| host.admit(m, c),
        &args.target,
    )?;
    // A catalog tool is served as approved, here as by the server.
    if let (Resolved::Tool(tool), Some(pins)) = (&resolved, host.pins()) {
        pins.check(tool)
            .map_err(|why| pins.refusal(&tool.manifest.name, why))?;
    }
    let limits = apply_flags(&args, resolved.limits(settings.file.limits()?))?;
    let RunArgs {
        function,
        receipt,
        who,
        ..
    } = args;
    let principal = who.principal(settings)?;
    let outcome = host
        .call(Call {
            principal: &principal,
            target: resolved.target(),
            function: function.as_deref(),
            arguments: &json,
            offered,
            limits,
            trace_id: None,
            cancel: None,
            request_id: None,
        })
        .await;
    // The record is committed before this process exits, whatever the outcome.
    if let Err(e) = host.flush_audit() {
        tracing::error!(error = %e, "audit log not flushed");
    }
    match outcome {
        Ok(out) => {
            if receipt {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                print_guest_output(&out.stdout, &out.stderr);
                println!("{}", serde_json::to_string(&out.value)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
    }
}
