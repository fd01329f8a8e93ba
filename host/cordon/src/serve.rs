//! `cordon serve`: the HTTP API (a first slice: health, the catalog, synchronous calls,
//! escape metrics). MCP, auth and the panel arrive with the serving issue.

use crate::Settings;
use crate::tools::function_json;
use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cordon_core::{CallError, ErrorClass, ErrorCode, EscapeKind, Grants, Limits};
use cordon_wasm::Executor;
use cordon_wasm::catalog::Catalog;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Only loopback addresses are accepted until authentication lands.
    #[arg(long, env = "CORDON_LISTEN")]
    listen: Option<String>,
}

struct AppState {
    executor: Executor,
    catalog: Catalog,
    limits: Limits,
}

/// The uniform error body: `{"error": {code, message, request_id}}`.
struct ApiError(CallError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match (self.0.code, self.0.code.class()) {
            (ErrorCode::NotFound, _) => StatusCode::NOT_FOUND,
            (_, ErrorClass::BadInput) => StatusCode::BAD_REQUEST,
            (_, ErrorClass::Refused) => StatusCode::FORBIDDEN,
            (_, ErrorClass::LimitHit | ErrorClass::GuestFault) => StatusCode::UNPROCESSABLE_ENTITY,
            (_, ErrorClass::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let request_id = self.0.receipt.as_ref().map(|r| r.request_id.to_string());
        let mut body = json!({"error": {"code": self.0.code, "message": self.0.message}});
        if let Some(id) = request_id {
            body["error"]["request_id"] = json!(id);
        }
        if let Some(r) = &self.0.receipt {
            body["receipt"] = json!(r);
        }
        (status, Json(body)).into_response()
    }
}

fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
        .route("/v1/tools", get(list_tools))
        .route("/v1/tools/{name}", get(describe_tool))
        .route("/v1/tools/{name}/call", post(call_tool))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    let counts = state.executor.escape_attempts();
    let mut out = String::from(
        "# HELP cordon_sandbox_escape_attempts_total Refused attempts to cross a sandbox boundary.\n\
         # TYPE cordon_sandbox_escape_attempts_total counter\n",
    );
    for kind in [
        EscapeKind::PathTraversal,
        EscapeKind::AbsolutePath,
        EscapeKind::Symlink,
        EscapeKind::ReadOnlyWrite,
    ] {
        let n = counts.get(&kind).copied().unwrap_or(0);
        out.push_str(&format!(
            "cordon_sandbox_escape_attempts_total{{kind=\"{kind}\"}} {n}\n"
        ));
    }
    out
}

async fn list_tools(State(state): State<Arc<AppState>>) -> Json<Value> {
    let tools: Vec<Value> = state
        .catalog
        .tools()
        .map(|t| json!({"name": t.manifest.name, "version": t.manifest.version, "description": t.manifest.description}))
        .collect();
    Json(json!({ "tools": tools }))
}

async fn describe_tool(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tool = state.catalog.get(&name).ok_or_else(|| {
        ApiError(CallError::new(
            ErrorCode::NotFound,
            format!("no tool {name:?}"),
        ))
    })?;
    Ok(Json(json!({
        "name": tool.manifest.name,
        "version": tool.manifest.version,
        "description": tool.manifest.description,
        "functions": tool.component.functions().iter().map(function_json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallRequest {
    function: Option<String>,
    #[serde(default)]
    arguments: Value,
}

async fn call_tool(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Result<Json<CallRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) =
        body.map_err(|e| ApiError(CallError::new(ErrorCode::BadRequest, e.body_text())))?;
    let tool = state.catalog.get(&name).ok_or_else(|| {
        ApiError(CallError::new(
            ErrorCode::NotFound,
            format!("no tool {name:?}"),
        ))
    })?;
    // No directories are granted over HTTP until policy decides grants: a call gets only
    // what its manifest gives every call (a scratch directory, if requested).
    let grants = tool.manifest.grants_for(Grants::default());
    let limits = tool.manifest.limits(state.limits);
    let out = state
        .executor
        .call(
            &tool.component,
            req.function.as_deref(),
            &req.arguments,
            &grants,
            &limits,
        )
        .await
        .map_err(ApiError)?;
    Ok(Json(serde_json::to_value(out).unwrap_or_default()))
}

pub async fn serve(settings: &Settings, args: ServeArgs) -> Result<ExitCode> {
    let listen = args
        .listen
        .or_else(|| settings.file.serve.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8787".into());
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?} is not an address"))?;
    if !addr.ip().is_loopback() {
        return Err(CallError::new(
            ErrorCode::BadRequest,
            format!("refusing to listen on {addr}: without authentication (coming with the serving issue) only loopback is allowed"),
        )
        .into());
    }
    let executor = settings.executor()?;
    let (catalog, failures) = Catalog::load(&executor, &settings.tools_dir)
        .with_context(|| format!("cannot load tools from {}", settings.tools_dir.display()))?;
    for (path, err) in &failures {
        tracing::warn!(manifest = %path.display(), error = %err, "tool skipped");
    }
    let state = Arc::new(AppState {
        executor,
        catalog,
        limits: settings.file.limits()?,
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let names: Vec<_> = state
        .catalog
        .tools()
        .map(|t| t.manifest.name.clone())
        .collect();
    eprintln!(
        "cordon serving on http://{local} ({} tools: {})",
        names.len(),
        names.join(", ")
    );
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}
