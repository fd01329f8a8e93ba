use crate::ErrorCode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of boundary a guest or a caller tried to cross; the label of
/// `cordon_sandbox_escape_attempts_total{kind}`.
///
/// Two families: *containment* (a path, a host, a command, a system call, a credential or
/// another tenant's data the attempt must never reach; each one raises an alert) and
/// *exhaustion* (a limit the attempt ran into: fuel, memory, stack, time, output,
/// processes, descriptors, input size, or input the host could not parse). Both are refused, counted
/// and audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EscapeKind {
    /// A path climbing out of its directory with `..`.
    PathTraversal,
    /// An absolute path handed to a directory descriptor.
    AbsolutePath,
    /// A path that resolves outside its directory through a symlink.
    Symlink,
    /// A write, create, rename or delete under a read-only grant.
    ReadOnlyWrite,
    /// An argument naming a host path that is never granted (`/proc`, `/etc/passwd`, ...).
    SensitivePath,
    /// An outbound request to a host, scheme or port the call was not granted.
    NetworkEgress,
    /// A native command that is blocked, not on the allow-list, or disguised (a relative
    /// path, a symlink to another program, shell syntax).
    Command,
    /// A native command's system call that reaches past its sandbox (mount, ptrace, module
    /// loading, kexec, bpf, ...): the kernel killed the command.
    Syscall,
    /// A missing, forged, malformed, expired or revoked API token.
    Token,
    /// A caller reaching for another tenant's jobs or records.
    TenantCrossing,
    /// The call ran out of fuel.
    Fuel,
    /// The call reached its memory limit.
    Memory,
    /// The guest's stack overflowed.
    Stack,
    /// The call ran past its deadline.
    Deadline,
    /// The call wrote more than its output cap.
    Output,
    /// A native command tried to start more processes than it may (a fork bomb).
    Processes,
    /// A guest tried to hold more files open than it may.
    Descriptors,
    /// A request body, argument or component over its size cap.
    OversizedInput,
    /// A request body the host could not decode (bad JSON, wrong types, unknown fields,
    /// nesting past the decoder's depth).
    MalformedRequest,
    /// A component that is not a valid component, imports what no call may have, or was
    /// refused by admission policy.
    MalformedComponent,
}

impl EscapeKind {
    /// The stable label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EscapeKind::PathTraversal => "path_traversal",
            EscapeKind::AbsolutePath => "absolute_path",
            EscapeKind::Symlink => "symlink",
            EscapeKind::ReadOnlyWrite => "read_only_write",
            EscapeKind::SensitivePath => "sensitive_path",
            EscapeKind::NetworkEgress => "network_egress",
            EscapeKind::Command => "command",
            EscapeKind::Syscall => "syscall",
            EscapeKind::Token => "token",
            EscapeKind::TenantCrossing => "tenant_crossing",
            EscapeKind::Fuel => "fuel",
            EscapeKind::Memory => "memory",
            EscapeKind::Stack => "stack",
            EscapeKind::Deadline => "deadline",
            EscapeKind::Output => "output",
            EscapeKind::Processes => "processes",
            EscapeKind::Descriptors => "descriptors",
            EscapeKind::OversizedInput => "oversized_input",
            EscapeKind::MalformedRequest => "malformed_request",
            EscapeKind::MalformedComponent => "malformed_component",
        }
    }

    /// Every kind, in label order; metrics list each one even at zero.
    pub const ALL: [EscapeKind; 20] = [
        EscapeKind::PathTraversal,
        EscapeKind::AbsolutePath,
        EscapeKind::Symlink,
        EscapeKind::ReadOnlyWrite,
        EscapeKind::SensitivePath,
        EscapeKind::NetworkEgress,
        EscapeKind::Command,
        EscapeKind::Syscall,
        EscapeKind::Token,
        EscapeKind::TenantCrossing,
        EscapeKind::Fuel,
        EscapeKind::Memory,
        EscapeKind::Stack,
        EscapeKind::Deadline,
        EscapeKind::Output,
        EscapeKind::Processes,
        EscapeKind::Descriptors,
        EscapeKind::OversizedInput,
        EscapeKind::MalformedRequest,
        EscapeKind::MalformedComponent,
    ];

    /// Whether this is an attempt on containment (something the attempt must never reach)
    /// rather than a limit it ran into. Only these raise alerts: a slow tool hitting its
    /// deadline is counted and audited, but it pages nobody.
    pub fn breaches_containment(self) -> bool {
        matches!(
            self,
            EscapeKind::PathTraversal
                | EscapeKind::AbsolutePath
                | EscapeKind::Symlink
                | EscapeKind::ReadOnlyWrite
                | EscapeKind::SensitivePath
                | EscapeKind::NetworkEgress
                | EscapeKind::Command
                | EscapeKind::Syscall
                | EscapeKind::Token
                | EscapeKind::TenantCrossing
                | EscapeKind::MalformedComponent
        )
    }

    /// The kind a call stopped with `code` counts as, for the codes that are a limit or a
    /// refused input rather than a guard's own violation (those carry their kind already).
    pub fn of_limit(code: ErrorCode) -> Option<EscapeKind> {
        Some(match code {
            ErrorCode::FuelExhausted => EscapeKind::Fuel,
            ErrorCode::MemoryLimit => EscapeKind::Memory,
            ErrorCode::StackOverflow => EscapeKind::Stack,
            ErrorCode::DeadlineExceeded => EscapeKind::Deadline,
            ErrorCode::OutputLimit => EscapeKind::Output,
            ErrorCode::ProcessLimit => EscapeKind::Processes,
            ErrorCode::DescriptorLimit => EscapeKind::Descriptors,
            ErrorCode::SyscallDenied => EscapeKind::Syscall,
            ErrorCode::TooLarge => EscapeKind::OversizedInput,
            ErrorCode::InvalidComponent => EscapeKind::MalformedComponent,
            _ => return None,
        })
    }
}

impl fmt::Display for EscapeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refused attempt to cross a boundary, as recorded on the call's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Violation {
    /// What kind of crossing was attempted.
    pub kind: EscapeKind,
    /// The operation attempted (`open-at`, `unlink-file-at`, `argument path`,
    /// `outgoing-handler.handle`, ...).
    pub operation: String,
    /// The path (or URL) as the guest or caller gave it.
    pub path: String,
}
