use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of boundary a guest tried to cross; the label of
/// `cordon_sandbox_escape_attempts_total{kind}`.
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
        }
    }

    /// Every kind, in label order; metrics list each one even at zero.
    pub const ALL: [EscapeKind; 7] = [
        EscapeKind::PathTraversal,
        EscapeKind::AbsolutePath,
        EscapeKind::Symlink,
        EscapeKind::ReadOnlyWrite,
        EscapeKind::SensitivePath,
        EscapeKind::NetworkEgress,
        EscapeKind::Command,
    ];
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
