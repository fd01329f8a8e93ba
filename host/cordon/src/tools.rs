//! `cordon tools list|inspect`.

use crate::Settings;
use anyhow::Result;
use cordon_core::Grants;
use cordon_wasm::catalog::Tool;
use cordon_wasm::{FunctionInfo, LoadedComponent};
use serde_json::{Value, json};
use std::path::PathBuf;
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
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "tools": tools }))?
            );
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
    }
    Ok(ExitCode::SUCCESS)
}
