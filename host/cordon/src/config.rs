//! `cordon.toml`, overridden by `CORDON_*` environment variables and flags.
//!
//! Precedence, highest first: command-line flag, environment variable, config file,
//! built-in default. Unknown keys in the file are errors.

use anyhow::{Context, Result};
use cordon_core::Limits;
use cordon_wasm::{EngineConfig, LimitSettings};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file's shape. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub tools_dir: Option<PathBuf>,
    pub policy_dir: Option<PathBuf>,
    /// The token database; by default DATA_DIR/identity.db. Hosts of a federation on one
    /// machine may share one file.
    pub identity_db: Option<PathBuf>,
    /// The container tiers' root filesystem; by default `make rootfs`'s.
    pub rootfs: Option<PathBuf>,
    /// The microVM image; by default `make vm-image`'s, beside the rootfs.
    pub vm_image: Option<PathBuf>,
    /// Booted microVMs kept ready for calls (2 by default; 0 boots one per call).
    pub microvm_pool: Option<usize>,
    #[serde(default)]
    pub local: LocalPrincipal,
    #[serde(default)]
    pub audit: AuditSettings,
    #[serde(default)]
    pub serve: ServeConfig,
    #[serde(default)]
    pub sessions: SessionSettings,
    #[serde(default)]
    pub federation: FederationConfig,
    #[serde(default)]
    pub limits: LimitSettings,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub registry: RegistryConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
}

/// `[alerts]`: where escape attempts, quarantines and rejected policy reloads are posted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// `[[alerts.webhooks]] url = "https://…", format = "json" | "slack"`.
    #[serde(default)]
    pub webhooks: Vec<cordon_alerts::Webhook>,
}

/// `[registry]`: pulling tools from OCI registries (`cordon tools add oci://…`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Public keys (PEM, P-256) whose signatures a pull verifies (`CORDON_TRUSTED_KEYS`,
    /// paths separated by `:`).
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// Refuse a tool no trusted key signed (`CORDON_REQUIRE_SIGNATURES=1`).
    #[serde(default)]
    pub require_signatures: bool,
}

/// `[sessions]`: workspaces that outlive a call.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// A session is removed this long after its last call, e.g. "1h" (the default).
    pub ttl: Option<String>,
    /// Bytes one tenant's sessions may hold, e.g. "256MiB" (the default).
    pub quota: Option<String>,
}

impl SessionSettings {
    pub fn ttl(&self) -> Result<std::time::Duration> {
        match &self.ttl {
            None => Ok(std::time::Duration::from_secs(3600)),
            Some(s) => cordon_core::parse_duration(s)
                .map_err(|e| anyhow::anyhow!("config: sessions.ttl: {e}")),
        }
    }

    pub fn quota(&self) -> Result<u64> {
        match &self.quota {
            None => Ok(256 << 20),
            Some(s) => cordon_core::parse_size(s)
                .map_err(|e| anyhow::anyhow!("config: sessions.quota: {e}")),
        }
    }
}

/// `[federation]`: share jobs with other hosts through Redis (see docs/federation.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    /// `redis://HOST:PORT`: join the federation on this Redis (`--redis`).
    pub redis: Option<String>,
    /// This host's id; by default HOSTNAME-PID.
    pub host_id: Option<String>,
    /// The API address other hosts and operators see; by default the listening one.
    pub advertise: Option<String>,
    /// Key prefix; federations sharing one Redis use different ones ("cordon").
    pub prefix: Option<String>,
    /// A running job's claim lapses after this without renewal, e.g. "10s" (the default).
    pub lease: Option<String>,
    /// Starts after which a job whose hosts keep dying is quarantined (3).
    pub max_attempts: Option<u32>,
    /// How long finished jobs stay readable, e.g. "1h" (the default).
    pub result_ttl: Option<String>,
}

impl FederationConfig {
    /// The options for `redis`, with this file's settings applied.
    pub fn options(
        &self,
        redis: &str,
        host_id: String,
    ) -> Result<cordon_federation::FederationOptions> {
        let mut o = cordon_federation::FederationOptions::new(redis, host_id);
        let duration = |key: &str, v: &Option<String>| -> Result<Option<std::time::Duration>> {
            v.as_deref()
                .map(cordon_core::parse_duration)
                .transpose()
                .map_err(|e| anyhow::anyhow!("config: federation.{key}: {e}"))
        };
        if let Some(p) = &self.prefix {
            o.prefix.clone_from(p);
        }
        if let Some(d) = duration("lease", &self.lease)? {
            o.lease = d;
        }
        if let Some(d) = duration("result_ttl", &self.result_ttl)? {
            o.result_ttl = d;
        }
        if let Some(n) = self.max_attempts {
            anyhow::ensure!(n >= 1, "config: federation.max_attempts: at least 1");
            o.max_attempts = n;
        }
        Ok(o)
    }
}

/// `[serve]`: the HTTP API and MCP over HTTP.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    pub listen: Option<String>,
    /// The largest request body accepted, e.g. "1MiB" (the default).
    pub max_body: Option<String>,
    /// PEM certificate chain and private key: serve HTTPS (required off loopback).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Host names (besides loopback's) MCP clients may use: the `Host` header check.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://panel.example.com:443`) allowed to call `/mcp`; by
    /// default only the server's own.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Workers running asynchronous jobs.
    pub job_workers: Option<usize>,
    /// Every tenant's quota, unless `[serve.tenants.NAME]` says otherwise.
    #[serde(default)]
    pub quota: QuotaConfig,
    #[serde(default)]
    pub tenants: std::collections::HashMap<String, QuotaConfig>,
    /// OTLP/HTTP collector for traces, e.g. "http://127.0.0.1:4318".
    pub otlp_endpoint: Option<String>,
    /// The operators' tenant: its admins see every tenant's calls, queues and escape
    /// attempts (the panel, `/v1/audit?tenant=`). Other admins see their own tenant.
    /// Default `local`, the tenant of this machine's own CLI.
    pub operator_tenant: Option<String>,
}

/// One tenant's quota at the edge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Sustained requests per second (token bucket refill).
    pub requests_per_second: u32,
    /// Requests allowed at once above the sustained rate (bucket size).
    pub burst: u32,
    /// Synchronous calls in flight at once.
    pub concurrent_calls: u32,
    /// Jobs waiting in the queue at once.
    pub queued_jobs: u32,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            requests_per_second: 2_000,
            burst: 4_000,
            concurrent_calls: 64,
            queued_jobs: 1_000,
        }
    }
}

/// Who local CLI calls run as, unless a token or flags say otherwise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalPrincipal {
    pub tenant: String,
    pub subject: Option<String>,
    pub roles: Vec<String>,
}

impl Default for LocalPrincipal {
    fn default() -> Self {
        LocalPrincipal {
            tenant: "local".into(),
            subject: None,
            roles: vec!["admin".into()],
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// How long records are kept, e.g. "7d"; "forever" keeps everything.
    pub retention: Option<String>,
    /// Record raw arguments (secret fields redacted), not only their digest.
    #[serde(default)]
    pub record_arguments: bool,
}

impl AuditSettings {
    pub fn retention(&self) -> Result<Option<std::time::Duration>> {
        match self.retention.as_deref() {
            None => Ok(Some(std::time::Duration::from_secs(7 * 24 * 3600))),
            Some("forever") => Ok(None),
            Some(s) => cordon_core::parse_duration(s)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("config: audit.retention: {e}")),
        }
    }
}

impl FileConfig {
    /// Loads `explicit` (which must exist), else `./cordon.toml` when present, else defaults.
    pub fn load(explicit: Option<&Path>) -> Result<FileConfig> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from("cordon.toml");
                if !p.is_file() {
                    return Ok(FileConfig::default());
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        FileConfig::parse(&text).with_context(|| format!("invalid config {}", path.display()))
    }

    /// Parses a configuration file's text.
    pub fn parse(text: &str) -> Result<FileConfig> {
        Ok(toml::from_str(text)?)
    }

    /// Default limits for calls: built-in defaults with the file's `[limits]` applied.
    pub fn limits(&self) -> Result<Limits> {
        self.limits
            .apply(Limits::default())
            .map_err(|e| anyhow::anyhow!("config: {e}"))
    }
}

/// Where the first-party tools are when nothing else is said: `target/tools` next to the
/// `target/release` directory holding this binary, else `./target/tools`.
pub fn default_tools_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|t| t.join("tools")))
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from("target/tools"))
}
