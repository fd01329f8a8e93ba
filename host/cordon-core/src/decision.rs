use crate::{DirMode, Violation};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a call runs. Policy names it; the host refuses a call whose backend it cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A WebAssembly component under wasmtime (the default).
    #[default]
    Wasm,
    /// A native command under bubblewrap: namespaces, seccomp, cgroup limits.
    Process,
    /// A native command in an OCI container (crun).
    Container,
    /// The same container under gVisor (runsc): a user-space kernel in between.
    Gvisor,
    /// A native command in a microVM (QEMU microvm): its own kernel.
    Microvm,
}

impl Backend {
    /// The native tiers, weakest first.
    pub const NATIVE: [Backend; 4] = [
        Backend::Process,
        Backend::Container,
        Backend::Gvisor,
        Backend::Microvm,
    ];

    /// The stable name (`wasm`, `process`, `container`, `gvisor`, `microvm`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Wasm => "wasm",
            Backend::Process => "process",
            Backend::Container => "container",
            Backend::Gvisor => "gvisor",
            Backend::Microvm => "microvm",
        }
    }

    /// The backend named `name`.
    pub fn parse(name: &str) -> Option<Backend> {
        [Backend::Wasm]
            .into_iter()
            .chain(Backend::NATIVE)
            .find(|b| b.as_str() == name)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Policy's answer for one call. The executor sees this, never the policy engine.
///
/// Grants and limits here can only narrow what was requested: the host intersects them
/// with the request, so a policy bug can refuse too much but never grant more than asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Whether the call may run.
    pub allow: bool,
    /// Why not, one sentence each; empty when allowed.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Boundary crossings the arguments attempted (paths outside grants, ...). Any of these
    /// makes the call a `path_escape`, counted and audited as an escape attempt.
    #[serde(default)]
    pub violations: Vec<Violation>,
    /// What the call is granted.
    #[serde(default)]
    pub grants: DecidedGrants,
    /// How much the call may use; absent fields keep the requested value.
    #[serde(default)]
    pub limits: DecidedLimits,
    /// Where it runs.
    #[serde(default)]
    pub backend: Backend,
}

impl Decision {
    /// The decision used whenever policy gives no usable answer: deny, saying why.
    pub fn deny(reason: impl Into<String>) -> Self {
        Decision {
            allow: false,
            reasons: vec![reason.into()],
            violations: Vec::new(),
            grants: DecidedGrants::default(),
            limits: DecidedLimits::default(),
            backend: Backend::Wasm,
        }
    }
}

/// Directories, environment and hosts policy grants a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecidedGrants {
    /// Directories by guest path, each with the mode granted.
    #[serde(default)]
    pub dirs: Vec<DecidedDir>,
    /// Names of environment variables passed through.
    #[serde(default)]
    pub env: Vec<String>,
    /// Outbound hosts the guest may reach through wasi:http (`https://api.example.com`,
    /// `http://127.0.0.1:8080`, `*.example.com`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Whether the per-call scratch directory is granted.
    #[serde(default)]
    pub scratch: bool,
}

/// One granted directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecidedDir {
    /// The guest path of a requested directory.
    pub guest: String,
    /// The mode granted (never wider than requested).
    pub mode: DirMode,
}

/// Limits policy sets; each only lowers the requested one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecidedLimits {
    /// Fuel units.
    pub fuel: Option<u64>,
    /// Wall-clock deadline in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Linear memory in bytes.
    pub memory_bytes: Option<u64>,
    /// Bytes of stdout and of stderr.
    pub output_bytes: Option<u64>,
}
