//! `cordon serve`: the HTTP API (a first slice: health, the catalog, synchronous calls,
//! escape metrics). `/v1` requires a bearer token; every call goes through policy and the
//! audit log. MCP, rate limits and the panel arrive with the serving issue.

use crate::Settings;
use crate::tools::function_json;
use anyhow::{Context, Result};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cordon_core::{CallError, ErrorClass, ErrorCode, Grants, Limits, Principal};
use cordon_host::{Call, Host, Target};
use cordon_identity::TokenStore;
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
    host: Host,
    catalog: Catalog,
    tokens: TokenStore,
    limits: Limits,
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
    let mut out = String::from(
        "# HELP cordon_sandbox_escape_attempts_total Refused attempts to cross a sandbox boundary.\n\
         # TYPE cordon_sandbox_escape_attempts_total counter\n",
    );
    for (kind, n) in state.host.escapes().snapshot() {
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

/// The trace id of a W3C `traceparent` header (`00-<trace id>-<span id>-<flags>`), if valid.
fn trace_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    let mut parts = value.split('-');
    let (_version, id) = (parts.next()?, parts.next()?);
    let valid = id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && id.bytes().any(|b| b != b'0');
    valid.then(|| id.to_owned())
}

async fn list_tools(State(state): State<Arc<AppState>>, _who: Authenticated) -> Json<Value> {
    let tools: Vec<Value> = state
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
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
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
    // HTTP offers no host directories: a call gets what its manifest gives every call
    // (a scratch directory, outbound hosts), as far as policy grants it.
    let out = state
        .host
        .call(Call {
            principal: &principal,
            target: Target::Tool(tool),
            function: req.function.as_deref(),
            arguments: &req.arguments,
            offered: Grants::default(),
            limits: tool.manifest.limits(state.limits),
            trace_id: trace_id(&headers),
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
    if !addr.ip().is_loopback() {
        return Err(CallError::new(
            ErrorCode::BadRequest,
            format!("refusing to listen on {addr}: until TLS and rate limits arrive (the serving issue) only loopback is allowed"),
        )
        .into());
    }
    let host = settings.host()?;
    let (catalog, failures) = Catalog::load(host.executor(), &settings.tools_dir, &|m, c| {
        host.admit(m, c)
    })
    .with_context(|| format!("cannot load tools from {}", settings.tools_dir.display()))?;
    for (path, err) in &failures {
        tracing::warn!(manifest = %path.display(), error = %err, "tool skipped");
    }
    let tokens = TokenStore::open(&settings.identity_path())
        .map_err(|e| CallError::new(e.code(), e.to_string()))?;
    let state = Arc::new(AppState {
        host,
        catalog,
        tokens,
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
        "cordon serving on http://{local} ({} tools: {}; policy {} from {})",
        names.len(),
        names.join(", "),
        &state.host.policy().hash()[..12],
        state.host.policy().origin(),
    );
    axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    state.host.flush_audit()?;
    Ok(ExitCode::SUCCESS)
}
