//! `cordon exec python|js`: run untrusted code the way the real interpreter would be run,
//! but in the `python` or `javascript` tool's sandbox. `cordon exec --backend TIER -- ARGV`:
//! run an allow-listed native command in a native tier.
//!
//! ```text
//! cordon exec python -c 'print(1+1)'
//! cordon exec python script.py
//! echo 'console.log(6*7)' | cordon exec js -
//! cordon exec --backend process -- python3 -c 'print(1)'
//! ```
//!
//! The program's stdout goes to stdout and its stderr to stderr; an uncaught exception
//! prints its traceback to stderr and exits 1, a native command exits with its own status
//! (128 + N when signal N ended it); a limit or refusal prints the host's coded error and
//! exits with its class's status (4 for limits, 3 for refusals).

use crate::Settings;
use crate::run::WhoArgs;
use anyhow::{Context, Result};
use cordon_core::{Backend, CallError, ErrorCode};
use cordon_host::{CommandCall, ToolCall};
use serde_json::{Value, json};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Language {
    /// CPython (the `python` tool).
    #[value(alias = "py", alias = "python3")]
    Python,
    /// JavaScript (the `javascript` tool).
    #[value(alias = "javascript", alias = "node")]
    Js,
}

impl Language {
    fn tool(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Js => "javascript",
        }
    }
}

#[derive(clap::Args)]
pub struct ExecArgs {
    /// The interpreter (leave out with --backend).
    #[arg(required_unless_present = "backend")]
    language: Option<Language>,
    /// The program as text (`python -c`, `node -e`).
    #[arg(short = 'c', short_alias = 'e', long = "code", conflicts_with = "file")]
    code: Option<String>,
    /// The program's file, or `-` to read it from stdin.
    file: Option<PathBuf>,
    /// Keep /workspace across runs: files written under this session id are there next
    /// time (same tenant).
    #[arg(long)]
    session: Option<String>,
    /// Run the command after `--` natively, in this tier (`process`, `container`, `gvisor`,
    /// `microvm`); policy may choose a stronger one.
    #[arg(long, conflicts_with_all = ["language", "code", "file", "session"], requires = "argv")]
    backend: Option<String>,
    /// The native command and its arguments (after `--`); never run through a shell.
    #[arg(last = true)]
    argv: Vec<String>,
    #[command(flatten)]
    who: WhoArgs,
}

fn bad(message: String) -> anyhow::Error {
    CallError::new(ErrorCode::BadRequest, message).into()
}

pub async fn exec(settings: &Settings, args: ExecArgs) -> Result<ExitCode> {
    if let Some(backend) = args.backend {
        return native(settings, &backend, args.argv, args.who).await;
    }
    let Some(language) = args.language else {
        return Err(bad("give an interpreter (python, js) or --backend".into()));
    };
    let mut program_from_stdin = false;
    let code = match (args.code, args.file) {
        (Some(code), _) => code,
        (None, Some(file)) if file.as_os_str() == "-" => {
            program_from_stdin = true;
            let mut code = String::new();
            std::io::stdin()
                .read_to_string(&mut code)
                .context("cannot read the program from stdin")?;
            code
        }
        (None, Some(file)) => std::fs::read_to_string(&file)
            .map_err(|e| bad(format!("cannot read {}: {e}", file.display())))?,
        (None, None) => {
            return Err(bad(
                "give the program: -c CODE, a FILE, or - to read it from stdin".into(),
            ));
        }
    };
    // A program given as text or file reads our stdin, as `python -c` would, unless it
    // is a terminal (there is no interactive input inside the sandbox).
    let stdin = if program_from_stdin || std::io::stdin().is_terminal() {
        None
    } else {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .context("cannot read stdin")?;
        Some(input)
    };
    let principal = args.who.principal(settings)?;
    let runtime = settings.runtime()?;
    let mut arguments = json!({"code": code, "stdin": stdin});
    if let Some(session) = args.session {
        arguments["session"] = json!(session);
    }
    let outcome = runtime
        .call_tool(ToolCall {
            principal: &principal,
            tool: language.tool(),
            function: Some("run"),
            arguments: &arguments,
            trace_id: None,
            cancel: None,
            request_id: None,
        })
        .await;
    runtime.host.flush_audit()?;
    match outcome {
        Ok(out) => {
            print_streams(&out.stdout, &out.stderr);
            Ok(report_exception(&out.value))
        }
        Err(mut e) => {
            // What the program wrote before it was stopped goes where it was written;
            // the host's error follows on stderr.
            print_streams(
                &std::mem::take(&mut e.stdout),
                &std::mem::take(&mut e.stderr),
            );
            if e.code == ErrorCode::NotFound {
                e.message = format!(
                    "{} (the `{}` tool is built by `make components`)",
                    e.message,
                    language.tool()
                );
            }
            Err(e.into())
        }
    }
}

/// `cordon exec --backend TIER -- ARGV`.
async fn native(
    settings: &Settings,
    backend: &str,
    argv: Vec<String>,
    who: WhoArgs,
) -> Result<ExitCode> {
    let backend = Backend::parse(backend)
        .filter(|b| *b != Backend::Wasm)
        .ok_or_else(|| {
            bad(format!(
                "--backend {backend:?}: one of process, container, gvisor, microvm"
            ))
        })?;
    let stdin = if std::io::stdin().is_terminal() {
        None
    } else {
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .context("cannot read stdin")?;
        Some(input)
    };
    let principal = who.principal(settings)?;
    let host = settings.one_shot_host()?;
    let outcome = host
        .run_command(CommandCall {
            principal: &principal,
            tool: None,
            offered: cordon_core::Grants::default(),
            argv: &argv,
            stdin,
            backend: Some(backend),
            limits: settings.file.limits()?,
            trace_id: None,
            request_id: None,
        })
        .await;
    host.flush_audit()?;
    match outcome {
        Ok(out) => {
            let _ = std::io::stdout().write_all(&out.stdout);
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().write_all(&out.stderr);
            let status = match (out.code, out.signal) {
                (Some(code), _) => code,
                (None, Some(signal)) => 128 + signal,
                (None, None) => 1,
            };
            Ok(ExitCode::from(u8::try_from(status & 0xff).unwrap_or(1)))
        }
        Err(mut e) => {
            print_streams(
                &std::mem::take(&mut e.stdout),
                &std::mem::take(&mut e.stderr),
            );
            Err(e.into())
        }
    }
}

fn print_streams(stdout: &str, stderr: &str) {
    let _ = std::io::stdout().write_all(stdout.as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(stderr.as_bytes());
}

/// Exit 0, or print the uncaught exception's traceback and exit 1.
fn report_exception(value: &Value) -> ExitCode {
    let error = &value["error"];
    if error.is_null() {
        return ExitCode::SUCCESS;
    }
    let traceback = error["traceback"].as_str().unwrap_or_default();
    if traceback.is_empty() {
        eprintln!(
            "{}: {}",
            error["kind"].as_str().unwrap_or("Error"),
            error["message"].as_str().unwrap_or_default()
        );
    } else {
        eprintln!("{}", traceback.trim_end());
    }
    ExitCode::FAILURE
}
