//! `cordon serve`: the HTTP API (health, the catalog, synchronous calls, escape metrics)
//! and MCP over Streamable HTTP at `/mcp`. Both require a bearer token (unless started
//! with `--no-auth` on loopback); every call goes through policy and the audit log.

use crate::Settings;
use crate::tools::function_json;
use anyhow::{Context, Result};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cordon_core::{CallError, ErrorClass, ErrorCode, Principal};
use cordon_host::{Runtime, ToolCall};
use cordon_identity::TokenStore;
use cordon_mcp::McpServer;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Only loopback addresses are accepted until TLS lands.
    #[arg(long, env = "CORDON_LISTEN")]
    listen: Option<String>,
    /// Serve without bearer tokens: every request runs as the local principal (`[local]`
    /// in cordon.toml). For a desktop MCP client on this machine only; loopback only.
    #[arg(long)]
    no_auth: bool,
}

struct AppState {
    runtime: Arc<Runtime>,
    tokens: TokenStore,
    /// `--no-auth`: who every request runs as instead of a token's owner.
    anonymous: Option<Principal>,
}

/// The uniform error body: `{"error": {code, message, request_id}}`.
struct ApiError(CallError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match (self.0.code, self.0.code.class()) {
            (ErrorCode::NotFound, _) => StatusCode::NOT_FOUND,
            (ErrorCode::Unauthenticated, _) => StatusCode::UNAUTHORIZED,
            (_, ErrorClass::BadInput) => StatusCode::BAD_REQUEST,
            (_, ErrorClass::Refused) => StatusCode::FORBIDDEN,
            (_, ErrorClass::LimitHit | ErrorClass::GuestFault) => StatusCode::UNPROCESSABLE_ENTITY,
            (_, ErrorClass::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut body = json!({"error": {"code": self.0.code, "message": self.0.message}});
        if let Some(r) = &self.0.receipt {
            body["error"]["request_id"] = json!(r.request_id);
            if !r.trace_id.is_empty() {
                body["error"]["trace_id"] = json!(r.trace_id);
            }
            body["receipt"] = json!(r);
        }
        if !self.0.violations.is_empty() {
            body["error"]["violations"] = json!(self.0.violations);
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

fn app(state: Arc<AppState>, shutdown: &CancellationToken) -> Router {
    let runtime = state.runtime.clone();
    // rmcp checks `Host` against this list (DNS-rebinding protection: a web page whose name
    // resolves to 127.0.0.1 still sends its own name) and answers 403 otherwise.
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(["localhost", "127.0.0.1", "::1", "[::1]"])
        .with_cancellation_token(shutdown.child_token());
    let mcp = StreamableHttpService::new(
        move || Ok(McpServer::for_http(runtime.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mcp = Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate_mcp,
        ));
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
        .route("/v1/tools", get(list_tools))
        .route("/v1/tools/{name}", get(describe_tool))
        .route("/v1/tools/{name}/call", post(call_tool))
        .with_state(state)
        .merge(mcp)
}

/// MCP requests carry the caller's [`Principal`] in their extensions; the MCP server
/// refuses a request without one.
async fn authenticate_mcp(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match Authenticated::from_request_parts(&mut parts, &state).await {
        Ok(Authenticated(principal)) => {
            parts.extensions.insert(principal);
            next.run(axum::extract::Request::from_parts(parts, body))
                .await
        }
        Err(e) => e.into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    let mut out = String::from(
        "# HELP cordon_sandbox_escape_attempts_total Refused attempts to cross a sandbox boundary.\n\
         # TYPE cordon_sandbox_escape_attempts_total counter\n",
    );
    for (kind, n) in state.runtime.host.escapes().snapshot() {
        out.push_str(&format!(
            "cordon_sandbox_escape_attempts_total{{kind=\"{kind}\"}} {n}\n"
        ));
    }
    out
}

/// The caller, from `Authorization: Bearer <token>`.
struct Authenticated(Principal);

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(principal) = &state.anonymous {
            return Ok(Authenticated(principal.clone()));
        }
        let unauthenticated =
            |m: &str| ApiError(CallError::new(ErrorCode::Unauthenticated, m.to_owned()));
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                unauthenticated("send a token as `Authorization: Bearer <token>` (create one with `cordon token create`)")
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer <token>`"))?;
        state
            .tokens
            .authenticate(token.trim())
            .map(Authenticated)
            .map_err(|e| ApiError(CallError::new(e.code(), e.to_string())))
    }
}

/// The trace id of a W3C `traceparent` header, if valid.
fn trace_id(headers: &HeaderMap) -> Option<String> {
    cordon_core::trace::trace_id_from_traceparent(headers.get("traceparent")?.to_str().ok()?)
}

async fn list_tools(State(state): State<Arc<AppState>>, _who: Authenticated) -> Json<Value> {
    let tools: Vec<Value> = state
        .runtime
        .catalog
        .tools()
        .map(|t| json!({"name": t.manifest.name, "version": t.manifest.version, "description": t.manifest.description}))
        .collect();
    Json(json!({ "tools": tools }))
}

async fn describe_tool(
    State(state): State<Arc<AppState>>,
    _who: Authenticated,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tool = state.runtime.catalog.get(&name).ok_or_else(|| {
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
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<CallRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) =
        body.map_err(|e| ApiError(CallError::new(ErrorCode::BadRequest, e.body_text())))?;
    let out = state
        .runtime
        .call_tool(ToolCall {
            principal: &principal,
            tool: &name,
            function: req.function.as_deref(),
            arguments: &req.arguments,
            trace_id: trace_id(&headers),
            cancel: None,
        })
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
    if args.no_auth && !addr.ip().is_loopback() {
        return Err(CallError::new(
            ErrorCode::BadRequest,
            format!("refusing --no-auth on {addr}: without tokens only loopback is allowed"),
        )
        .into());
    }
    if !addr.ip().is_loopback() {
        return Err(CallError::new(
            ErrorCode::BadRequest,
            format!("refusing to listen on {addr}: until TLS and rate limits arrive (the serving issue) only loopback is allowed"),
        )
        .into());
    }
    let runtime = Arc::new(settings.runtime()?);
    let tokens = TokenStore::open(&settings.identity_path())
        .map_err(|e| CallError::new(e.code(), e.to_string()))?;
    let anonymous = args
        .no_auth
        .then(|| settings.local_principal(None, None, Vec::new()));
    let state = Arc::new(AppState {
        runtime,
        tokens,
        anonymous,
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let names: Vec<_> = state
        .runtime
        .catalog
        .tools()
        .map(|t| t.manifest.name.clone())
        .collect();
    eprintln!(
        "cordon serving on http://{local} ({} tools: {}; policy {} from {})",
        names.len(),
        names.join(", "),
        &state.runtime.host.policy().hash()[..12],
        state.runtime.host.policy().origin(),
    );
    if let Some(p) = &state.anonymous {
        eprintln!(
            "authentication is OFF (--no-auth): every request runs as {}/{} with roles {:?}",
            p.tenant, p.subject, p.roles
        );
    }
    let shutdown = CancellationToken::new();
    let app = app(state.clone(), &shutdown);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Ends MCP sessions too; their open streams would otherwise hold the drain.
            shutdown.cancel();
        })
        .await?;
    state.runtime.host.flush_audit()?;
    Ok(ExitCode::SUCCESS)
}
