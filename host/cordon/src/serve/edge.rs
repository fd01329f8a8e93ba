//! What every request goes through first and last: its request id and trace, the body-size
//! cap, the refusal of new work while draining, the uniform error body, the `x-request-id`
//! and `traceparent` response headers, and the request counter.

use super::AppState;
use super::error::{ApiError, code_for_status, render};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cordon_core::{ErrorCode, EscapeKind, RequestId};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// One request's identity, for handlers (`Extension<RequestContext>`).
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Also the call's request id: its receipt and audit record carry it.
    pub request_id: RequestId,
    /// W3C trace id: the caller's (from `traceparent`) or a fresh one.
    pub trace_id: String,
    /// This server's span in that trace (the `traceparent` answered).
    pub span_id: String,
}

impl RequestContext {
    fn from_request(request: &Request) -> RequestContext {
        let trace_id = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(cordon_core::trace::trace_id_from_traceparent)
            .unwrap_or_else(cordon_host::new_trace_id);
        RequestContext {
            request_id: RequestId::new(),
            trace_id,
            span_id: cordon_host::new_trace_id()[..16].to_owned(),
        }
    }

    fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

pub async fn edge(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let ctx = RequestContext::from_request(&request);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| route_label(p.as_str()));
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{} {route}", request.method()),
        http.method = %request.method(),
        http.route = route,
        request_id = %ctx.request_id,
        trace_id = %ctx.trace_id,
    );
    crate::telemetry::continue_trace(&span, &ctx.trace_id, request.headers());
    let response = {
        let _entered = span.enter();
        let max = state.max_body;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if state.draining.load(Ordering::Relaxed) && route != "/healthz" {
            ApiError::new(
                ErrorCode::Unavailable,
                "the server is shutting down; retry against another instance",
            )
            .into_response()
        } else if declared.is_some_and(|n| n > max as u64) {
            declared_too_large(
                max,
                format!("{} {}", request.method(), request.uri().path()),
            )
            .into_response()
        } else {
            request.extensions_mut().insert(ctx.clone());
            // A body without a length (chunked) is cut off at the cap while it streams.
            let request = request.map(|b| Body::new(http_body_util::Limited::new(b, max)));
            drop(_entered);
            let fut = next.run(request);
            tracing::Instrument::instrument(fut, span.clone()).await
        }
    };
    finish(&state, response, &ctx, route)
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::TooLarge,
        format!("the request body is larger than the {max} bytes accepted"),
    )
}

/// A declared body over the cap, refused before it is read: an attempt, counted and
/// audited (before authentication, so under no caller).
fn declared_too_large(max: usize, route: String) -> ApiError {
    let e = too_large(max).0;
    ApiError::refused(
        e.code,
        e.message,
        EscapeKind::OversizedInput,
        "declared content-length",
        route,
    )
}

/// Renders a pending error under the request's ids, gives every other error response the
/// same body, and stamps the headers.
fn finish(state: &AppState, mut response: Response, ctx: &RequestContext, route: &str) -> Response {
    let request_id = ctx.request_id.as_str();
    if let Some(mut e) = response.extensions_mut().remove::<ApiError>() {
        if let Some(attempt) = e.1.take() {
            e.0 = state.runtime.host.refuse_request(
                attempt.who.as_ref(),
                &attempt.tool,
                &ctx.request_id,
                &ctx.trace_id,
                e.0,
            );
        }
        // Headers set beside the error (`retry-after`) stay.
        let kept = std::mem::take(response.headers_mut());
        response = render(e, request_id, &ctx.trace_id);
        for (name, value) in &kept {
            if !response.headers().contains_key(name) {
                response.headers_mut().insert(name, value.clone());
            }
        }
    } else if is_bare_error(&response, route) {
        let status = response.status();
        let code = code_for_status(status);
        let message = match status {
            StatusCode::NOT_FOUND => {
                "no such route; the API is described at /v1/openapi.json".to_owned()
            }
            StatusCode::METHOD_NOT_ALLOWED => "this route does not take that method".to_owned(),
            StatusCode::PAYLOAD_TOO_LARGE => too_large(state.max_body).0.message,
            s => s.canonical_reason().unwrap_or("error").to_owned(),
        };
        let mut rendered = render(ApiError::new(code, message), request_id, &ctx.trace_id);
        *rendered.status_mut() = status;
        response = rendered;
    }
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.traceparent()) {
        headers.insert("traceparent", v);
    }
    state
        .metrics
        .http_requests
        .with_label_values(&[route, response.status().as_str()])
        .inc();
    response
}

/// An error response without our body: axum's 404/405, a rejection's text. `/mcp`
/// answers in JSON-RPC, which its clients expect, so it is left as it is.
fn is_bare_error(response: &Response, route: &str) -> bool {
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    (status.is_client_error() || status.is_server_error()) && !json && route != "/mcp"
}

/// The route label: the matched pattern (bounded), `/mcp` for everything under it.
fn route_label(path: &str) -> &'static str {
    super::api::ROUTES
        .iter()
        .find(|r| path == **r || (**r == "/mcp" && path.starts_with("/mcp")))
        .copied()
        .unwrap_or("other")
}
