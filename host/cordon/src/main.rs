//! `cordon`: run untrusted tools and code as sandboxed WebAssembly components.
//!
//! ```text
//! cordon run fs --fn read-file --json '{"path":"notes.txt"}' --dir ./ws:/ws:ro
//! cordon exec python -c 'print(1+1)'
//! cordon tools list
//! cordon tools inspect text-analysis
//! cordon serve --listen 127.0.0.1:8787
//! cordon policy test
//! cordon audit tail --follow
//! cordon token create --tenant acme --role developer
//! cordon serve --redis redis://127.0.0.1:6379
//! cordon hosts --redis redis://127.0.0.1:6379
//! ```

mod audit;
mod author;
mod config;
mod doctor;
mod exec;
mod fleet;
mod mcp;
mod policy;
mod run;
mod serve;
mod telemetry;
mod token;
mod tools;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Run untrusted tools and code as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "cordon", version, about)]
struct Cli {
    /// State directory: precompile cache, audit log (audit.db), tokens (identity.db).
    #[arg(long, global = true, env = "CORDON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The tool catalog: a directory of `NAME/tool.toml`. Default: the built first-party tools.
    #[arg(long, global = true, env = "CORDON_TOOLS_DIR")]
    tools_dir: Option<PathBuf>,
    /// Policy directory (*.rego, *.json). Default: ./policies when it holds a policy, else
    /// the default policy built into cordon.
    #[arg(long, global = true, env = "CORDON_POLICY_DIR")]
    policy_dir: Option<PathBuf>,
    /// Configuration file. Default: ./cordon.toml when it exists.
    #[arg(long, global = true, env = "CORDON_CONFIG")]
    config: Option<PathBuf>,
    /// Where compiled components are cached. Default: DATA_DIR/cache/precompiled.
    #[arg(long, global = true, env = "CORDON_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Export traces to this OTLP/HTTP collector (e.g. http://127.0.0.1:4318).
    #[arg(long, global = true, env = "CORDON_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Call one function of a tool or component and print its result as JSON.
    Run(Box<run::RunArgs>),
    /// Run Python or JavaScript in the interpreter tools' sandbox, like the interpreter.
    Exec(exec::ExecArgs),
    /// List, inspect and add tools.
    #[command(subcommand)]
    Tools(tools::ToolsCommand),
    /// Scaffold a new tool.
    #[command(subcommand)]
    New(author::NewCommand),
    /// Build the tool in the current directory into its component.
    Build(author::BuildArgs),
    /// Serve the HTTP API and MCP over Streamable HTTP (`/mcp`).
    Serve(serve::ServeArgs),
    /// Serve MCP over stdio, for clients that launch a command.
    Mcp(mcp::McpArgs),
    /// Test and evaluate Rego policy.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Read and verify the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// What this host can run: each backend's availability, and why not.
    Doctor(doctor::DoctorArgs),
    /// List the hosts of a federation (reads its Redis).
    Hosts(fleet::HostsArgs),
    /// List, release or discard quarantined jobs of a federation (reads its Redis).
    #[command(subcommand)]
    Quarantine(fleet::QuarantineCommand),
}

/// Settings every command shares, resolved from flags, environment and config file.
pub struct Settings {
    /// State directory (`--data-dir`, `CORDON_DATA_DIR`, `data_dir`, `./.cordon`).
    pub data_dir: PathBuf,
    /// Catalog directory (`--tools-dir`, `CORDON_TOOLS_DIR`, `tools_dir`, built tools).
    pub tools_dir: PathBuf,
    /// Policy directory, or `None` for the built-in default policy.
    pub policy_dir: Option<PathBuf>,
    /// Precompiled components (`--cache-dir`, `CORDON_CACHE_DIR`, under the data dir).
    pub cache_dir: PathBuf,
    /// The rest of the config file.
    pub file: config::FileConfig,
}

impl Settings {
    fn resolve(cli: &Cli) -> Result<Settings> {
        let file = config::FileConfig::load(cli.config.as_deref())?;
        let data_dir = cli
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(".cordon"));
        let tools_dir = cli
            .tools_dir
            .clone()
            .or_else(|| file.tools_dir.clone())
            .unwrap_or_else(config::default_tools_dir);
        let policy_dir = cli
            .policy_dir
            .clone()
            .or_else(|| file.policy_dir.clone())
            .or_else(|| {
                let local = PathBuf::from("policies");
                cordon_policy::PolicySource::read_dir(&local)
                    .is_ok()
                    .then_some(local)
            });
        let cache_dir =
            (cli.cache_dir.clone()).unwrap_or_else(|| data_dir.join("cache").join("precompiled"));
        Ok(Settings {
            data_dir,
            tools_dir,
            policy_dir,
            cache_dir,
            file,
        })
    }

    /// The policy in force: the policy directory's, else the built-in default.
    pub fn policy(&self) -> Result<Arc<cordon_policy::Policy>> {
        let policy = match &self.policy_dir {
            Some(dir) => cordon_policy::Policy::load_dir(dir),
            None => cordon_policy::Policy::embedded(),
        }
        .map_err(|e| cordon_core::CallError::new(e.code(), e.to_string()))?;
        Ok(Arc::new(policy))
    }

    /// What each tool looked like when approved (DATA_DIR/pins.json).
    pub fn pins_path(&self) -> PathBuf {
        self.data_dir.join("pins.json")
    }

    /// The audit log's database.
    pub fn audit_path(&self) -> PathBuf {
        self.data_dir.join("audit.db")
    }

    /// The container tiers' root filesystem (`CORDON_ROOTFS`, `rootfs`, else `make rootfs`'s
    /// `target/rootfs/debian` next to the `target/release` holding this binary).
    pub fn rootfs(&self) -> PathBuf {
        std::env::var_os("CORDON_ROOTFS")
            .map(PathBuf::from)
            .or_else(|| self.file.rootfs.clone())
            .unwrap_or_else(|| {
                std::env::current_exe()
                    .ok()
                    .and_then(|exe| Some(exe.parent()?.parent()?.join("rootfs/debian")))
                    .unwrap_or_else(|| PathBuf::from("target/rootfs/debian"))
            })
    }

    /// The native tiers' images and microVM pool: the rootfs above, the VM image
    /// (`CORDON_VM_IMAGE`, `vm_image`, else `make vm-image`'s `vm` beside the rootfs), and the
    /// pool (`CORDON_MICROVM_POOL`, `microvm_pool`, else 2).
    pub fn tiers(&self) -> Result<cordon_host::TierSettings> {
        let mut tiers = cordon_host::TierSettings::beside(self.rootfs());
        if let Some(image) = std::env::var_os("CORDON_VM_IMAGE")
            .map(PathBuf::from)
            .or_else(|| self.file.vm_image.clone())
        {
            tiers.vm_image = image;
        }
        let pool = match std::env::var("CORDON_MICROVM_POOL") {
            Ok(v) => Some(
                v.parse()
                    .with_context(|| format!("CORDON_MICROVM_POOL={v:?}: not a number"))?,
            ),
            Err(_) => self.file.microvm_pool,
        };
        if let Some(pool) = pool {
            tiers.microvm_pool = pool;
        }
        Ok(tiers)
    }

    /// Which signatures a pull trusts, and whether it requires one: `CORDON_TRUSTED_KEYS`
    /// and `CORDON_REQUIRE_SIGNATURES` over `[registry]`.
    pub fn trust_policy(&self) -> Result<cordon_oci::TrustPolicy> {
        let keys: Vec<PathBuf> = match std::env::var_os("CORDON_TRUSTED_KEYS") {
            Some(paths) => std::env::split_paths(&paths).collect(),
            None => self.file.registry.trusted_keys.clone(),
        };
        let require = match std::env::var("CORDON_REQUIRE_SIGNATURES") {
            Ok(v) => matches!(v.as_str(), "1" | "true" | "yes"),
            Err(_) => self.file.registry.require_signatures,
        };
        Ok(cordon_oci::TrustPolicy::from_files(&keys, require)?)
    }

    /// A registry client with `CORDON_REGISTRY_USERNAME`/`_PASSWORD`, when set.
    pub fn registry(&self) -> Result<cordon_oci::Registry> {
        let credentials = std::env::var("CORDON_REGISTRY_USERNAME").ok().map(|user| {
            (
                user,
                std::env::var("CORDON_REGISTRY_PASSWORD").unwrap_or_default(),
            )
        });
        Ok(cordon_oci::Registry::new(credentials)?)
    }

    /// The token store's database (`CORDON_IDENTITY_DB`, `identity_db`, DATA_DIR/identity.db).
    pub fn identity_path(&self) -> PathBuf {
        std::env::var_os("CORDON_IDENTITY_DB")
            .map(PathBuf::from)
            .or_else(|| self.file.identity_db.clone())
            .unwrap_or_else(|| self.data_dir.join("identity.db"))
    }

    /// The whole call path: executor, policy (watched for changes), audit log.
    pub fn host(&self) -> Result<cordon_host::Host> {
        self.host_with(self.tiers()?)
    }

    /// The host of a command that makes one call and exits: it keeps no microVM booted for
    /// calls that will never come.
    pub fn one_shot_host(&self) -> Result<cordon_host::Host> {
        let mut tiers = self.tiers()?;
        tiers.microvm_pool = 0;
        self.host_with(tiers)
    }

    fn host_with(&self, tiers: cordon_host::TierSettings) -> Result<cordon_host::Host> {
        let policy = self.policy()?;
        policy.watch(std::time::Duration::from_millis(250));
        let audit = cordon_audit::AuditLog::open(
            &self.audit_path(),
            cordon_audit::AuditConfig {
                retention: self.file.audit.retention()?,
                ..cordon_audit::AuditConfig::default()
            },
        )?;
        Ok(cordon_host::Host::new(
            self.executor()?,
            policy,
            audit,
            cordon_host::HostOptions {
                audit_arguments: self.file.audit.record_arguments,
                tiers,
                pins: Some(Arc::new(
                    cordon_host::Pins::open(self.pins_path()).map_err(anyhow::Error::msg)?,
                )),
            },
        ))
    }

    /// The catalog in `dir`, each tool admitted by `host`'s policy. Tools that fail to load
    /// or are refused admission are skipped with a warning.
    pub fn load_catalog(
        &self,
        host: &cordon_host::Host,
        dir: &std::path::Path,
    ) -> Result<cordon_wasm::catalog::Catalog> {
        cordon_host::load_catalog(host, dir).map_err(run::wasm_error)
    }

    /// The host and the catalog it serves (`cordon serve`, `cordon mcp`), the catalog
    /// reloaded when a file under the tools directory changes.
    pub fn runtime(&self) -> Result<std::sync::Arc<cordon_host::Runtime>> {
        let host = self.host()?;
        let catalog = self.load_catalog(&host, &self.tools_dir)?;
        let runtime = std::sync::Arc::new(cordon_host::Runtime {
            host,
            catalog: cordon_host::LiveCatalog::new(catalog),
            limits: self.file.limits()?,
            workspaces: cordon_host::Workspaces::new(
                self.data_dir.join("workspaces"),
                self.file.sessions.ttl()?,
                self.file.sessions.quota()?,
            ),
        });
        runtime.watch_catalog(
            self.tools_dir.clone(),
            std::time::Duration::from_millis(500),
        );
        Ok(runtime)
    }

    /// Who local CLI calls run as: the `[local]` principal, with any flags applied.
    pub fn local_principal(
        &self,
        tenant: Option<String>,
        subject: Option<String>,
        roles: Vec<String>,
    ) -> cordon_core::Principal {
        let local = &self.file.local;
        let subject = subject
            .or_else(|| local.subject.clone())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "local".into());
        cordon_core::Principal {
            tenant: tenant.unwrap_or_else(|| local.tenant.clone()),
            subject,
            roles: if roles.is_empty() {
                local.roles.clone()
            } else {
                roles
            },
        }
    }

    /// The executor, with its precompile cache.
    pub fn executor(&self) -> Result<cordon_wasm::Executor> {
        Ok(cordon_wasm::Executor::new(
            &self.file.engine,
            Some(&self.cache_dir),
        )?)
    }
}

fn main() -> ExitCode {
    // Every TLS client in the process (OTLP export, registries, alert webhooks) uses ring,
    // already in the tree; reqwest is built without a provider of its own.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = Settings::resolve(&cli).and_then(|settings| {
        let endpoint =
            (cli.otlp_endpoint.as_deref()).or(settings.file.serve.otlp_endpoint.as_deref());
        // Dropped last: the final spans are flushed after the command ends.
        let _traces = telemetry::init(endpoint)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            match cli.command {
                Command::Run(args) => run::run(&settings, *args).await,
                Command::Exec(args) => exec::exec(&settings, args).await,
                Command::Tools(cmd) => tools::tools(&settings, cmd).await,
                Command::New(cmd) => author::new(cmd),
                Command::Build(args) => author::build(&settings, args).await,
                Command::Serve(args) => serve::serve(&settings, args).await,
                Command::Mcp(args) => mcp::mcp(&settings, args).await,
                Command::Policy(cmd) => policy::policy(&settings, cmd),
                Command::Audit(cmd) => audit::audit(&settings, cmd).await,
                Command::Token(cmd) => token::token(&settings, cmd),
                Command::Doctor(args) => doctor::doctor(&settings, args).await,
                Command::Hosts(args) => fleet::hosts(&settings, args).await,
                Command::Quarantine(cmd) => fleet::quarantine(&settings, cmd).await,
            }
        })
    });
    match result {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

/// Prints `{"error": {...}}` on stderr and picks the exit status of the error's class:
/// 1 internal, 2 bad input, 3 refused, 4 limit hit, 5 guest fault.
fn report(e: &anyhow::Error) -> ExitCode {
    let (code, body) = match e.downcast_ref::<cordon_core::CallError>() {
        Some(ce) => {
            let mut err = serde_json::json!({"code": ce.code, "message": ce.message});
            if let Some(r) = &ce.receipt {
                err["request_id"] = serde_json::json!(r.request_id);
                if !r.trace_id.is_empty() {
                    err["trace_id"] = serde_json::json!(r.trace_id);
                }
                err["receipt"] = serde_json::json!(r);
            }
            if let Some(d) = &ce.detail {
                err["detail"] = d.clone();
            }
            if !ce.violations.is_empty() {
                err["violations"] = serde_json::json!(ce.violations);
            }
            // Whatever the guest wrote before it stopped is kept; the error object below
            // then starts a line of its own.
            run::print_guest_output(&ce.stdout, &ce.stderr);
            (ce.code, err)
        }
        None => (
            cordon_core::ErrorCode::Internal,
            serde_json::json!({"code": "internal", "message": format!("{e:#}")}),
        ),
    };
    eprintln!("{}", serde_json::json!({ "error": body }));
    let status = code.class().exit_status();
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}
