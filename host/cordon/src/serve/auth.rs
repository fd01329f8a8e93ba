//! Who is calling: the bearer token's owner (or, with `--no-auth` on loopback, the local
//! principal), charged one request against their tenant's rate.

use super::AppState;
use super::error::ApiError;
use super::quota::Limited;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cordon_core::{ErrorCode, EscapeKind, Principal};
use cordon_identity::IdentityError;
use std::sync::Arc;

/// An authenticated caller within their tenant's rate.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state).map_err(IntoResponse::into_response)?;
        state
            .quotas
            .admit(&principal.tenant)
            .map_err(limited_response)?;
        Ok(Caller(principal))
    }
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    if let Some(principal) = &state.anonymous {
        return Ok(principal.clone());
    }
    // No credentials at all is a client not set up yet: refused, not counted. Credentials
    // that are wrong (malformed, unknown, expired, revoked) are an attempt: counted and
    // audited by the edge.
    let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "send a token as `Authorization: Bearer <token>` (create one with `cordon token create`)",
        )
    })?;
    let route = format!("{} {}", parts.method, parts.uri.path());
    let refused = |m: String, attempt: &str| {
        ApiError::refused(
            ErrorCode::Unauthenticated,
            m,
            EscapeKind::Token,
            attempt,
            route.clone(),
        )
    };
    // Two credentials are an ambiguity a proxy and this server could read differently
    // (one checks the first, the other the last): refuse both.
    if parts.headers.get_all(header::AUTHORIZATION).iter().count() > 1 {
        return Err(refused(
            "send one Authorization header, not several".to_owned(),
            "several Authorization headers",
        ));
    }
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| {
            refused(
                "the Authorization header must be `Bearer <token>`".to_owned(),
                "malformed Authorization header",
            )
        })?;
    state.tokens.authenticate(token.trim()).map_err(|e| {
        let attempt = match &e {
            IdentityError::Expired { .. } => "expired token",
            IdentityError::Revoked { .. } => "revoked token",
            IdentityError::Unknown => "unknown token",
            // The token store itself failed: the caller did nothing wrong.
            _ => return ApiError::new(e.code(), e.to_string()),
        };
        refused(e.to_string(), attempt)
    })
}

/// A 429 with `retry-after`.
pub fn limited_response(l: Limited) -> Response {
    let mut response = l.error.into_response();
    if let Ok(v) = HeaderValue::from_str(&l.retry_after_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// For `/mcp`: authenticates and rate-limits each request, hands the MCP server the
/// caller's [`Principal`] in the request's extensions, and holds one of the tenant's
/// call slots until the response (an SSE stream for a `tools/call`) has been sent.
pub async fn mcp_caller(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let principal = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(Caller(p)) => p,
        Err(response) => return response,
    };
    let slot = if parts.method == axum::http::Method::POST {
        match state.quotas.enter(&principal.tenant) {
            Ok(permit) => Some(permit),
            Err(l) => return limited_response(l),
        }
    } else {
        // GET opens the server's notification stream and DELETE ends a session: neither
        // runs a call.
        None
    };
    parts.extensions.insert(principal);
    let response = next.run(Request::from_parts(parts, body)).await;
    match slot {
        None => response,
        Some(permit) => {
            let (parts, body) = response.into_parts();
            let body = futures_util::StreamExt::map(body.into_data_stream(), move |chunk| {
                let _held = &permit;
                chunk
            });
            Response::from_parts(parts, axum::body::Body::from_stream(body))
        }
    }
}

/// Refuses a caller without the admin role: `policy_denied`, naming what needed it.
pub fn require_admin(principal: &cordon_core::Principal, what: &str) -> Result<(), ApiError> {
    if principal.roles.iter().any(|r| r == "admin") {
        Ok(())
    } else {
        Err(ApiError::new(
            cordon_core::ErrorCode::PolicyDenied,
            format!("{what} needs the admin role"),
        ))
    }
}
