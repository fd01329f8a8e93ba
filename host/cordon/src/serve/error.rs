//! The one error shape of the HTTP API and the status each code answers with.
//!
//! A handler returns [`ApiError`]; the edge middleware (which knows the request and trace
//! ids) renders it as `{"error": {code, message, request_id, trace_id, ...}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cordon_core::{CallError, ErrorCode, EscapeKind, Principal, Receipt, Violation};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Every error response's body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
    /// What the call consumed, when it got as far as policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

/// The error itself; `code` is stable, match on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// This request's id (also the `x-request-id` header and the audit record's id).
    pub request_id: String,
    /// The W3C trace id the request ran under (also in the `traceparent` header).
    pub trace_id: String,
    /// Boundary crossings that were refused (`path_escape`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// For `tool_error`: the error value the tool returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl ErrorDetail {
    /// The detail of `e`, under the ids of the request that failed.
    pub fn of(e: CallError, request_id: &str, trace_id: &str) -> ErrorDetail {
        ErrorDetail {
            code: e.code,
            message: e.message,
            request_id: request_id.to_owned(),
            trace_id: trace_id.to_owned(),
            violations: e.violations,
            detail: e.detail,
        }
    }
}

/// A failed request, waiting for the edge to give it its ids; with [`Unrecorded`] when it
/// is an attempt the edge must still count and audit (a call's own refusals the host has
/// recorded already).
#[derive(Debug, Clone)]
pub struct ApiError(pub CallError, pub Option<Box<Unrecorded>>);

/// Who made a refused attempt and at what, for its audit record.
#[derive(Debug, Clone, Default)]
pub struct Unrecorded {
    /// The caller, once their token was accepted.
    pub who: Option<Principal>,
    /// The tool the request named, if any.
    pub tool: String,
}

impl ApiError {
    /// An error with no receipt.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError(CallError::new(code, message), None)
    }

    /// An attempt to cross a boundary of the API itself (`kind`, refused with `code`):
    /// the edge counts it in `cordon_sandbox_escape_attempts_total{kind}` and audits it.
    /// `attempt` says what was tried (`GET /v1/jobs/{id}`, `Authorization header`, ...).
    pub fn refused(
        code: ErrorCode,
        message: impl Into<String>,
        kind: EscapeKind,
        attempt: impl Into<String>,
        target: impl Into<String>,
    ) -> ApiError {
        let mut e = CallError::new(code, message);
        e.violations.push(Violation {
            kind,
            operation: attempt.into(),
            path: target.into(),
        });
        ApiError(e, Some(Box::default()))
    }

    /// The same refusal, recorded under the caller `who`.
    pub fn by(mut self, who: &Principal) -> ApiError {
        if let Some(u) = &mut self.1 {
            u.who = Some(who.clone());
        }
        self
    }

    /// The same refusal, recorded against `tool`.
    pub fn at_tool(mut self, tool: &str) -> ApiError {
        if let Some(u) = &mut self.1 {
            tool.clone_into(&mut u.tool);
        }
        self
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        ApiError(e, None)
    }
}

/// The HTTP status for a code. Refusals are 4xx, the server's own trouble 5xx; a guest that
/// hit a limit or failed is 422 (the request was understood, the tool could not do it),
/// except the wall-clock deadline, which is 408.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest | ErrorCode::InvalidComponent | ErrorCode::UnsupportedType => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::PolicyDenied
        | ErrorCode::PathEscape
        | ErrorCode::NetworkDenied
        | ErrorCode::ReadOnly
        | ErrorCode::CommandNotAllowed
        | ErrorCode::SyscallDenied
        | ErrorCode::ToolChanged
        | ErrorCode::ToolBlocked
        | ErrorCode::DigestMismatch
        | ErrorCode::SignatureInvalid => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::DeadlineExceeded => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited | ErrorCode::QuotaExceeded | ErrorCode::QueueFull => {
            StatusCode::TOO_MANY_REQUESTS
        }
        ErrorCode::Unavailable | ErrorCode::BackendUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::FuelExhausted
        | ErrorCode::MemoryLimit
        | ErrorCode::StackOverflow
        | ErrorCode::OutputLimit
        | ErrorCode::ProcessLimit
        | ErrorCode::DescriptorLimit
        | ErrorCode::Cancelled
        | ErrorCode::Trap
        | ErrorCode::ToolError => StatusCode::UNPROCESSABLE_ENTITY,
        // `ErrorCode` is non-exhaustive: a code added later is the server's to place.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.0.code);
        let mut response = status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders `e` as the final response under the request's ids.
pub fn render(e: ApiError, request_id: &str, trace_id: &str) -> Response {
    let mut e = e.0;
    let status = status_of(e.code);
    let receipt = e.receipt.take();
    // A call's receipt carries the ids the host recorded it under; they are this
    // request's, since the edge handed its request id to the call.
    let body = ErrorBody {
        error: ErrorDetail::of(e, request_id, trace_id),
        receipt,
    };
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// The code for an error response something other than a handler produced (axum's own
/// 404 and 405, a layer's 413).
pub fn code_for_status(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::PolicyDenied,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::DeadlineExceeded,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        s if s.is_client_error() => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_of_code_answers_with_its_status() {
        let cases = [
            (ErrorCode::BadRequest, 400),
            (ErrorCode::Unauthenticated, 401),
            (ErrorCode::PathEscape, 403),
            (ErrorCode::NotFound, 404),
            (ErrorCode::DeadlineExceeded, 408),
            (ErrorCode::TooLarge, 413),
            (ErrorCode::FuelExhausted, 422),
            (ErrorCode::RateLimited, 429),
            (ErrorCode::QueueFull, 429),
            (ErrorCode::Internal, 500),
            (ErrorCode::Unavailable, 503),
        ];
        for (code, status) in cases {
            assert_eq!(status_of(code).as_u16(), status, "{code}");
        }
        assert_eq!(
            code_for_status(StatusCode::METHOD_NOT_ALLOWED),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code_for_status(StatusCode::PAYLOAD_TOO_LARGE),
            ErrorCode::TooLarge
        );
    }
}
