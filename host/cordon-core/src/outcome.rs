use crate::{ErrorCode, Violation};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies one request end to end: in logs, errors, receipts and (later) audit records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh random id, `req_` followed by 32 hex digits.
    pub fn new() -> Self {
        RequestId(format!("req_{}", uuid::Uuid::new_v4().simple()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl Receipt {
    /// The receipt of a call refused before anything ran: it consumed nothing.
    pub fn nothing_ran(request_id: RequestId, trace_id: String, backend: &str) -> Receipt {
        Receipt {
            request_id,
            trace_id,
            backend: backend.to_owned(),
            accel: String::new(),
            fuel_used: 0,
            peak_memory_bytes: 0,
            wall_time_us: 0,
            stdout_bytes: 0,
            stderr_bytes: 0,
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a call consumed. Returned with every result, success or failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The request this receipt belongs to.
    pub request_id: RequestId,
    /// The trace the request ran under (W3C trace id, 32 hex digits), when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trace_id: String,
    /// Which backend ran the call: `wasm`, `process`, `container`, `gvisor` or `microvm`.
    pub backend: String,
    /// How a microVM ran the guest's CPU: `kvm`, or `tcg` where QEMU emulated it (seconds to
    /// boot instead of a fraction of one). Absent for the other backends.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub accel: String,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// The most linear memory the instance held at once, in bytes.
    pub peak_memory_bytes: u64,
    /// Wall time from instantiation to the end of the call, in microseconds.
    pub wall_time_us: u64,
    /// Bytes the guest wrote to stdout.
    pub stdout_bytes: u64,
    /// Bytes the guest wrote to stderr.
    pub stderr_bytes: u64,
}

/// A structured log line the guest sent through `cordon:tool/logging`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogRecord {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The message.
    pub message: String,
    /// Key-value context.
    pub fields: Vec<(String, String)>,
}

/// A call that ran to completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallOutput {
    /// The function's return value as JSON (a top-level `result` is unwrapped to its `ok`).
    pub value: serde_json::Value,
    /// What the guest wrote to stdout (lossy UTF-8).
    pub stdout: String,
    /// What the guest wrote to stderr (lossy UTF-8).
    pub stderr: String,
    /// Structured logs the guest emitted.
    pub logs: Vec<LogRecord>,
    /// What the call consumed.
    pub receipt: Receipt,
}

/// A call that did not complete. Carries the receipt too: a refused or limited call still
/// says what it consumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CallError {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// For `tool_error`: the error value the tool returned, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Boundary crossings the guest attempted during the call.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub violations: Vec<Violation>,
    /// What the guest wrote to stdout before it stopped.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub stdout: String,
    /// What the guest wrote to stderr before it stopped.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub stderr: String,
    /// What the call consumed, when it got as far as running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

impl CallError {
    /// An error that happened before anything ran.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CallError {
            code,
            message: message.into(),
            detail: None,
            violations: Vec::new(),
            stdout: String::new(),
            stderr: String::new(),
            receipt: None,
        }
    }
}
