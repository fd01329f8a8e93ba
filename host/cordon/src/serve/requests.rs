//! The bodies callers send, decoded before anything else looks at them: unknown fields are
//! refused, and what no type can say (a key's length) is checked by [`JobRequest::check`].
//! Fuzzed on its own (`fuzz/fuzz_targets/api_request.rs` includes this file).

use cordon_core::{CallError, ErrorCode};
use cordon_jobs::Priority;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The longest idempotency key accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// A synchronous call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// The function; may be left out when the tool has one.
    pub function: Option<String>,
    /// The arguments by name.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: Map<String, Value>,
}

/// An asynchronous call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The catalog tool.
    pub tool: String,
    /// The function; may be left out when the tool has one.
    pub function: Option<String>,
    /// The arguments by name.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub args: Map<String, Value>,
    /// `high`, `normal` (the default) or `low`.
    #[serde(default)]
    pub priority: Priority,
    /// Submitting again with the same key returns the first job instead of a second run.
    #[schema(max_length = 200)]
    pub idempotency_key: Option<String>,
}

impl JobRequest {
    /// What the type cannot say: the idempotency key's length.
    ///
    /// # Errors
    ///
    /// `bad_request` naming the field.
    pub fn check(&self) -> Result<(), CallError> {
        if self
            .idempotency_key
            .as_ref()
            .is_some_and(|k| k.len() > MAX_IDEMPOTENCY_KEY)
        {
            return Err(CallError::new(
                ErrorCode::BadRequest,
                format!("idempotency_key: at most {MAX_IDEMPOTENCY_KEY} bytes"),
            ));
        }
        Ok(())
    }
}
