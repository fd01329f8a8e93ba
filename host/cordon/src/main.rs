//! `cordon`: run untrusted tools and code as sandboxed WebAssembly components.
//!
//! ```text
//! cordon run fs --fn read-file --json '{"path":"notes.txt"}' --dir ./ws:/ws:ro
//! cordon tools list
//! cordon tools inspect text-analysis
//! cordon serve --listen 127.0.0.1:8787
//! ```

mod config;
mod run;
mod serve;
mod tools;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run untrusted tools and code as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "cordon", version, about)]
struct Cli {
    /// State directory: precompile cache now; audit, tokens and queues as they arrive.
    #[arg(long, global = true, env = "CORDON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The tool catalog: a directory of `NAME/tool.toml`. Default: the built first-party tools.
    #[arg(long, global = true, env = "CORDON_TOOLS_DIR")]
    tools_dir: Option<PathBuf>,
    /// Configuration file. Default: ./cordon.toml when it exists.
    #[arg(long, global = true, env = "CORDON_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Call one function of a tool or component and print its result as JSON.
    Run(Box<run::RunArgs>),
    /// List and inspect tools.
    #[command(subcommand)]
    Tools(tools::ToolsCommand),
    /// Serve the HTTP API.
    Serve(serve::ServeArgs),
}

/// Settings every command shares, resolved from flags, environment and config file.
pub struct Settings {
    /// State directory (`--data-dir`, `CORDON_DATA_DIR`, `data_dir`, `./.cordon`).
    pub data_dir: PathBuf,
    /// Catalog directory (`--tools-dir`, `CORDON_TOOLS_DIR`, `tools_dir`, built tools).
    pub tools_dir: PathBuf,
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
        Ok(Settings {
            data_dir,
            tools_dir,
            file,
        })
    }

    /// The executor, with its precompile cache under the data directory.
    pub fn executor(&self) -> Result<cordon_wasm::Executor> {
        let cache = self.data_dir.join("cache").join("precompiled");
        Ok(cordon_wasm::Executor::new(&self.file.engine, Some(&cache))?)
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CORDON_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = Settings::resolve(&cli).and_then(|settings| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            match cli.command {
                Command::Run(args) => run::run(&settings, *args).await,
                Command::Tools(cmd) => tools::tools(&settings, cmd).await,
                Command::Serve(args) => serve::serve(&settings, args).await,
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
