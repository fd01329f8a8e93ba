//! `cordon mcp`: the MCP server over stdio, for clients that launch a command (desktop
//! clients, agent frameworks). stdout carries only MCP messages; logs go to stderr.

use crate::Settings;
use crate::run::WhoArgs;
use anyhow::{Context, Result};
use cordon_mcp::McpServer;
use rmcp::ServiceExt;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct McpArgs {
    #[command(flatten)]
    who: WhoArgs,
}

pub async fn mcp(settings: &Settings, args: McpArgs) -> Result<ExitCode> {
    let principal = args.who.principal(settings)?;
    let runtime = settings.runtime()?;
    tracing::info!(
        tenant = %principal.tenant,
        subject = %principal.subject,
        tools = runtime.catalog.current().tools().count(),
        "serving MCP on stdio"
    );
    let running = McpServer::for_principal(runtime.clone(), principal)
        .serve(rmcp::transport::stdio())
        .await
        .context("MCP initialization over stdio failed")?;
    running
        .waiting()
        .await
        .context("the MCP session ended abnormally")?;
    runtime.host.flush_audit()?;
    Ok(ExitCode::SUCCESS)
}
