//! What an operator does from the panel besides releasing jobs: take a tool out of service
//! (and back), and list and revoke tokens.
//!
//! ```text
//! POST   /v1/tools/{name}/block     operators: held on this host (tool_blocked) until unblocked
//! DELETE /v1/tools/{name}/block     operators: back in service
//! GET    /v1/tokens                 admins: their tenant's tokens; operators: every tenant's
//! DELETE /v1/tokens/{id}            admins of the token's tenant, or operators
//! ```

use super::AppState;
use super::auth::{Caller, require_admin};
use super::error::{ApiError, ErrorBody};
use axum::Json;
use axum::extract::{Path, State};
use cordon_core::{ErrorCode, Principal};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::ToSchema;

fn require_operator(state: &AppState, p: &Principal, what: &str) -> Result<(), ApiError> {
    if state.is_operator(p) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::PolicyDenied,
            format!(
                "{what} needs an operator: an admin of tenant {:?}",
                state.operator_tenant
            ),
        ))
    }
}

/// What happened to a tool.
#[derive(Serialize, ToSchema)]
pub struct ToolAction {
    /// The tool.
    name: String,
    /// `blocked` or `unblocked`.
    status: String,
}

/// Takes a tool out of service on this host: from the catalog watcher's next look (a
/// fraction of a second) calls get `tool_blocked` and listings leave it out, until it is
/// unblocked. Operators only.
#[utoipa::path(post, path = "/v1/tools/{name}/block", tag = "panel", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tool")),
    responses(
        (status = 200, description = "Blocked", body = ToolAction),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an operator", body = ErrorBody),
        (status = 404, description = "No such tool", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
        (status = 500, description = "The pins file could not be written", body = ErrorBody),
    ))]
pub async fn block_tool(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> Result<Json<ToolAction>, ApiError> {
    require_operator(&state, &p, "blocking a tool")?;
    let runtime = &state.runtime;
    let pins = pins(&state)?;
    let catalog = runtime.catalog.current();
    let tool = catalog.get(&name).ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound, format!("no tool {name:?} in service"))
    })?;
    pins.set_blocked(tool, true, &format!("{}/{}", p.tenant, p.subject))
        .map_err(|e| ApiError::new(ErrorCode::Internal, e))?;
    // The catalog watcher sees the pins file change and holds the tool back (within its
    // polling interval); calls already running finish.
    tracing::warn!(tool = %name, by = %p.subject, "tool blocked");
    Ok(Json(ToolAction {
        name,
        status: "blocked".into(),
    }))
}

/// Puts a blocked tool back in service. Operators only.
#[utoipa::path(delete, path = "/v1/tools/{name}/block", tag = "panel", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tool")),
    responses(
        (status = 200, description = "Unblocked", body = ToolAction),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an operator", body = ErrorBody),
        (status = 404, description = "No such pinned tool", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
    ))]
pub async fn unblock_tool(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> Result<Json<ToolAction>, ApiError> {
    require_operator(&state, &p, "unblocking a tool")?;
    pins(&state)?
        .unblock(&name)
        .map_err(|e| ApiError::new(ErrorCode::NotFound, e))?;
    Ok(Json(ToolAction {
        name,
        status: "unblocked".into(),
    }))
}

fn pins(state: &AppState) -> Result<&cordon_host::Pins, ApiError> {
    state.runtime.host.pins().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unavailable,
            "this host does not pin tools, so it cannot block one",
        )
    })
}

/// Tokens (never their secrets).
#[derive(Serialize, ToSchema)]
pub struct TokenList {
    /// `{id, tenant, subject, roles, created_ms, expires_ms, revoked_ms}` each.
    tokens: Vec<Value>,
}

/// The caller's tenant's tokens; every tenant's for operators. Admins only.
#[utoipa::path(get, path = "/v1/tokens", tag = "panel", security(("bearer" = [])),
    responses(
        (status = 200, description = "The tokens", body = TokenList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
        (status = 500, description = "The token store could not be read", body = ErrorBody),
    ))]
pub async fn list_tokens(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
) -> Result<Json<TokenList>, ApiError> {
    require_admin(&p, "listing tokens")?;
    let everyone = state.is_operator(&p);
    let tokens = state
        .tokens
        .list()
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?
        .into_iter()
        .filter(|t| everyone || t.tenant == p.tenant)
        .map(|t| json!(t))
        .collect();
    Ok(Json(TokenList { tokens }))
}

/// A revoked token.
#[derive(Serialize, ToSchema)]
pub struct TokenAction {
    /// The token's id.
    id: String,
    /// `revoked`.
    status: String,
}

/// Revokes a token: every later request with it gets 401. An admin revokes their
/// tenant's tokens; an operator any.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "panel", security(("bearer" = [])),
    params(("id" = String, Path, description = "The token's id (tok_…)")),
    responses(
        (status = 200, description = "Revoked", body = TokenAction),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
        (status = 404, description = "No such token in the caller's reach", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
        (status = 500, description = "The token store could not be written", body = ErrorBody),
    ))]
pub async fn revoke_token(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<TokenAction>, ApiError> {
    require_admin(&p, "revoking a token")?;
    let everyone = state.is_operator(&p);
    let store = |e: cordon_identity::IdentityError| ApiError::new(e.code(), e.to_string());
    // Another tenant's token is "not found", not "forbidden": its existence is not ours
    // to confirm.
    let reachable = state
        .tokens
        .list()
        .map_err(store)?
        .into_iter()
        .any(|t| t.id == id && (everyone || t.tenant == p.tenant));
    if !reachable {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no token {id:?}"),
        ));
    }
    state.tokens.revoke(&id).map_err(store)?;
    tracing::warn!(token = %id, by = %p.subject, "token revoked");
    Ok(Json(TokenAction {
        id,
        status: "revoked".into(),
    }))
}
