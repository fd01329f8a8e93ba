use serde::{Deserialize, Serialize};
use std::fmt;

/// A stable, machine-readable reason a call did not succeed.
///
/// The string form ([`ErrorCode::as_str`]) is part of Cordon's public interface: clients
/// match on it, so a code is never renamed or reused for another meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The caller's input is malformed: bad JSON, a value of the wrong type, a bad flag.
    BadRequest,
    /// The named tool, function or file does not exist.
    NotFound,
    /// The bytes given as a component are not a valid, loadable component.
    InvalidComponent,
    /// The function uses a type Cordon cannot call dynamically (resources, streams, futures).
    UnsupportedType,
    /// Policy refused the call (or refused to admit a tool).
    PolicyDenied,
    /// No valid credentials: a missing, unknown, expired or revoked token.
    Unauthenticated,
    /// The guest tried to reach a network host its call was not granted.
    NetworkDenied,
    /// Policy chose a backend this host cannot run.
    BackendUnavailable,
    /// The guest tried to reach a path outside what it was granted (`..`, absolute paths,
    /// symlinks leading out).
    PathEscape,
    /// The guest tried to modify a directory it was granted read-only.
    ReadOnly,
    /// The guest used up its fuel (its deterministic instruction budget).
    FuelExhausted,
    /// The call ran past its wall-clock deadline.
    DeadlineExceeded,
    /// The guest tried to grow linear memory or tables past its limit.
    MemoryLimit,
    /// The guest overflowed its wasm stack (typically unbounded recursion).
    StackOverflow,
    /// The guest wrote more to stdout or stderr than its output cap allows.
    OutputLimit,
    /// A native command tried to start more processes than its limit (a fork bomb).
    ProcessLimit,
    /// A native command made a system call that reaches past its sandbox (mount, ptrace,
    /// module loading, ...) and was killed for it.
    SyscallDenied,
    /// A guest held more files and directories open at once than its limit.
    DescriptorLimit,
    /// A native command that is not on policy's allow-list, or names its program in a way
    /// that could get around it (a relative path, a disguised symlink, shell syntax).
    CommandNotAllowed,
    /// The tool changed its description or schemas since an admin approved it (a possible
    /// "rug pull"); it is held out of service until approved again.
    ToolChanged,
    /// An admin took the tool out of service; it is held until unblocked.
    ToolBlocked,
    /// Bytes fetched for a tool (from an OCI registry) do not hash to the digest that
    /// names them: tampered or corrupted on the way, and not used.
    DigestMismatch,
    /// A tool pulled from a registry lacks a valid signature by a trusted key, and the
    /// host requires one.
    SignatureInvalid,
    /// The caller cancelled the call (an MCP client's cancellation); the instance was
    /// stopped where it was.
    Cancelled,
    /// The caller sent more than a request may carry (the HTTP body cap).
    TooLarge,
    /// The caller (its tenant) is over its request rate or its calls in flight; retry later.
    RateLimited,
    /// The tenant's session workspaces hold more than its disk quota.
    QuotaExceeded,
    /// The tenant already has as many jobs waiting as it may; retry when some have run.
    QueueFull,
    /// The server cannot take the request now: it is starting, shutting down, or a
    /// dependency (the audit log) is unhealthy.
    Unavailable,
    /// The guest trapped for another reason (unreachable, a panic, a bad memory access).
    Trap,
    /// The tool ran to completion and returned an error value of its own.
    ToolError,
    /// Something failed inside Cordon itself.
    Internal,
}

impl ErrorCode {
    /// The stable string clients match on.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidComponent => "invalid_component",
            ErrorCode::UnsupportedType => "unsupported_type",
            ErrorCode::PolicyDenied => "policy_denied",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::NetworkDenied => "network_denied",
            ErrorCode::BackendUnavailable => "backend_unavailable",
            ErrorCode::PathEscape => "path_escape",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::FuelExhausted => "fuel_exhausted",
            ErrorCode::DeadlineExceeded => "deadline_exceeded",
            ErrorCode::MemoryLimit => "memory_limit",
            ErrorCode::StackOverflow => "stack_overflow",
            ErrorCode::OutputLimit => "output_limit",
            ErrorCode::ProcessLimit => "process_limit",
            ErrorCode::SyscallDenied => "syscall_denied",
            ErrorCode::DescriptorLimit => "descriptor_limit",
            ErrorCode::CommandNotAllowed => "command_not_allowed",
            ErrorCode::ToolChanged => "tool_changed",
            ErrorCode::ToolBlocked => "tool_blocked",
            ErrorCode::DigestMismatch => "digest_mismatch",
            ErrorCode::SignatureInvalid => "signature_invalid",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::QueueFull => "queue_full",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Trap => "trap",
            ErrorCode::ToolError => "tool_error",
            ErrorCode::Internal => "internal",
        }
    }

    /// Which broad class of failure this is; the CLI turns the class into its exit status.
    pub fn class(self) -> ErrorClass {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::NotFound
            | ErrorCode::InvalidComponent
            | ErrorCode::UnsupportedType
            | ErrorCode::TooLarge => ErrorClass::BadInput,
            ErrorCode::PolicyDenied
            | ErrorCode::Unauthenticated
            | ErrorCode::NetworkDenied
            | ErrorCode::PathEscape
            | ErrorCode::ReadOnly
            | ErrorCode::CommandNotAllowed
            | ErrorCode::SyscallDenied
            | ErrorCode::ToolChanged
            | ErrorCode::ToolBlocked
            | ErrorCode::DigestMismatch
            | ErrorCode::SignatureInvalid => ErrorClass::Refused,
            ErrorCode::FuelExhausted
            | ErrorCode::DeadlineExceeded
            | ErrorCode::MemoryLimit
            | ErrorCode::StackOverflow
            | ErrorCode::OutputLimit
            | ErrorCode::ProcessLimit
            | ErrorCode::DescriptorLimit
            | ErrorCode::Cancelled
            | ErrorCode::RateLimited
            | ErrorCode::QuotaExceeded
            | ErrorCode::QueueFull => ErrorClass::LimitHit,
            ErrorCode::Trap | ErrorCode::ToolError => ErrorClass::GuestFault,
            ErrorCode::Internal | ErrorCode::BackendUnavailable | ErrorCode::Unavailable => {
                ErrorClass::Internal
            }
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Broad classes of failure, each with its own process exit status in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Cordon itself failed (exit 1).
    Internal,
    /// The input was wrong: fix the request (exit 2).
    BadInput,
    /// A boundary refused the call: credentials, policy, a path escape, a read-only grant,
    /// a network host (exit 3).
    Refused,
    /// A resource limit, or the caller, stopped the call (exit 4).
    LimitHit,
    /// The guest failed: it trapped or returned an error (exit 5).
    GuestFault,
}

impl ErrorClass {
    /// The process exit status `cordon` uses for this class.
    pub fn exit_status(self) -> i32 {
        match self {
            ErrorClass::Internal => 1,
            ErrorClass::BadInput => 2,
            ErrorClass::Refused => 3,
            ErrorClass::LimitHit => 4,
            ErrorClass::GuestFault => 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_stable_strings() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::PathEscape,
            ErrorCode::FuelExhausted,
            ErrorCode::DeadlineExceeded,
            ErrorCode::MemoryLimit,
            ErrorCode::OutputLimit,
            ErrorCode::StackOverflow,
            ErrorCode::ToolError,
            ErrorCode::TooLarge,
            ErrorCode::RateLimited,
            ErrorCode::QuotaExceeded,
            ErrorCode::QueueFull,
            ErrorCode::Unavailable,
        ] {
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn every_limit_code_exits_with_the_limit_status() {
        for code in [
            ErrorCode::FuelExhausted,
            ErrorCode::DeadlineExceeded,
            ErrorCode::MemoryLimit,
            ErrorCode::StackOverflow,
            ErrorCode::OutputLimit,
        ] {
            assert_eq!(code.class().exit_status(), 4, "{code}");
        }
        assert_eq!(ErrorCode::PathEscape.class().exit_status(), 3);
        assert_eq!(ErrorCode::BadRequest.class().exit_status(), 2);
        assert_eq!(ErrorCode::Trap.class().exit_status(), 5);
    }
}
