//! What policy is asked: the input documents for `decision` and `admission`.

use cordon_core::{DirMode, Grants, HostRule, Limits, Principal};
use serde::Serialize;

/// Everything policy sees about one call.
#[derive(Debug, Serialize)]
pub struct DecisionInput<'a> {
    /// Who is calling.
    pub principal: &'a Principal,
    /// What is called.
    pub tool: ToolInput<'a>,
    /// The call's arguments, as given.
    pub arguments: &'a serde_json::Value,
    /// The capabilities and limits the call would run with if policy granted all of them.
    pub request: RequestInput,
}

/// The tool and function being called.
#[derive(Debug, Serialize)]
pub struct ToolInput<'a> {
    /// The tool's name (a catalog name, or the file name of a component run by path).
    pub name: &'a str,
    /// The resolved function (`func` or `interface#func`).
    pub function: &'a str,
    /// Whether the tool came from the catalog, with a manifest (else: a component by path).
    pub registered: bool,
    /// The tool's manifest, as JSON, when registered.
    pub manifest: Option<&'a serde_json::Value>,
    /// For native command tools: the command's canonical name (no directory).
    pub command: Option<&'a str>,
}

/// Requested capabilities and limits.
#[derive(Debug, Serialize)]
pub struct RequestInput {
    /// Directories requested, by guest path.
    pub dirs: Vec<RequestedDir>,
    /// Names of environment variables requested.
    pub env: Vec<String>,
    /// The scratch directory's guest path, when requested.
    pub scratch: Option<String>,
    /// Outbound hosts requested.
    pub hosts: Vec<RequestedHost>,
    /// Limits requested.
    pub limits: RequestedLimits,
}

/// One requested directory.
#[derive(Debug, Serialize)]
pub struct RequestedDir {
    /// Where the guest would see it.
    pub guest: String,
    /// Where it is on the host.
    pub host: String,
    /// The mode requested.
    pub mode: DirMode,
}

/// One requested outbound host, split so policy need not parse it.
#[derive(Debug, Serialize)]
pub struct RequestedHost {
    /// The rule as the host writes it (`https://api.example.com:443`); grants name this.
    pub rule: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or IP literal (may start with `*.`).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Limits in the units policy compares.
#[derive(Debug, Serialize)]
pub struct RequestedLimits {
    /// Fuel units.
    pub fuel: u64,
    /// Milliseconds.
    pub timeout_ms: u64,
    /// Bytes of linear memory.
    pub memory_bytes: u64,
    /// Bytes of stdout and of stderr.
    pub output_bytes: u64,
}

impl RequestInput {
    /// The request for running with `grants` and `limits`.
    pub fn new(grants: &Grants, limits: &Limits) -> RequestInput {
        RequestInput {
            dirs: grants
                .dirs()
                .iter()
                .map(|d| RequestedDir {
                    guest: d.guest.clone(),
                    host: d.host.display().to_string(),
                    mode: d.mode,
                })
                .collect(),
            env: grants.env().iter().map(|(k, _)| k.clone()).collect(),
            scratch: grants.scratch().map(str::to_owned),
            hosts: grants.hosts().iter().map(RequestedHost::from).collect(),
            limits: RequestedLimits {
                fuel: limits.fuel,
                timeout_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
                memory_bytes: limits.memory_bytes,
                output_bytes: limits.output_bytes,
            },
        }
    }
}

impl From<&HostRule> for RequestedHost {
    fn from(r: &HostRule) -> Self {
        RequestedHost {
            rule: r.to_string(),
            scheme: r.scheme().to_owned(),
            host: r.host().to_owned(),
            port: r.port(),
        }
    }
}

/// What policy sees when a tool is added to the catalog.
#[derive(Debug, Serialize)]
pub struct AdmissionInput<'a> {
    /// The tool.
    pub tool: AdmissionTool<'a>,
    /// Every interface the component imports (`wasi:sockets/tcp@0.2.12`, ...).
    pub imports: Vec<String>,
}

/// The tool being admitted.
#[derive(Debug, Serialize)]
pub struct AdmissionTool<'a> {
    /// Its name.
    pub name: &'a str,
    /// For native command tools: the command's canonical name.
    pub command: Option<&'a str>,
    /// Its manifest as JSON.
    pub manifest: Option<&'a serde_json::Value>,
}
