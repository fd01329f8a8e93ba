//! `tool.toml`: what a tool is, what it asks for, and its default limits.

use crate::WasmError;
use cordon_core::{DirMode, Grants, HostRule, Limits, ToolName, parse_duration, parse_size};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A tool's manifest. Unknown keys are errors, so a typo never silently drops a setting.
///
/// ```toml
/// name = "fs"
/// version = "0.1.0"
/// description = "Read, write, list, stat and search files inside the granted workspace."
/// component = "fs.wasm"          # relative to this file
/// secret_arguments = ["token"]   # never written to the audit log, at any depth
///
/// [capabilities]
/// workspace = "rw"               # "ro", "rw", or absent for none
/// env = ["LANG"]                 # names of variables the tool may receive
/// scratch = true                 # a fresh writable /tmp for each call
/// hosts = ["api.example.com"]    # wasi:http destinations ([scheme://]host[:port])
///
/// [limits]
/// fuel = 2_000_000_000
/// timeout = "10s"
/// memory = "128MiB"
/// output = "1MiB"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The tool's name (MCP rules: letters, digits, `_`, `-`).
    pub name: String,
    /// The tool's version.
    pub version: String,
    /// One or two sentences for people and models choosing a tool.
    pub description: String,
    /// Path of the component, relative to the manifest. Exactly one of `component` and
    /// `[native]` is given.
    pub component: Option<PathBuf>,
    /// A native command tool: runs on the container backend, not as a component.
    pub native: Option<NativeSettings>,
    /// The exported functions callers see, when not all of them: the rest can be
    /// neither listed nor called.
    pub functions: Option<Vec<String>>,
    /// Argument names whose values are redacted wherever they appear in audit records.
    #[serde(default)]
    pub secret_arguments: Vec<String>,
    /// What the tool asks to be granted.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Default limits for the tool's calls.
    #[serde(default)]
    pub limits: LimitSettings,
}

/// Capabilities a tool requests. A call never gets more than this, whatever it is offered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// A workspace directory, read-only or read-write.
    pub workspace: Option<DirMode>,
    /// Names of environment variables the tool may receive.
    #[serde(default)]
    pub env: Vec<String>,
    /// A fresh scratch directory at `/tmp` for each call.
    #[serde(default)]
    pub scratch: bool,
    /// Hosts the tool may reach through wasi:http, if policy grants them.
    #[serde(default)]
    pub hosts: Vec<HostRule>,
}

/// A native command tool's program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeSettings {
    /// The program (a name looked up on the sandbox's PATH, or a path).
    pub command: String,
    /// Fixed arguments before the call's own.
    #[serde(default)]
    pub args: Vec<String>,
    /// The weakest tier it may run in (`process`, `container`, `gvisor`, `microvm`); policy
    /// may choose a stronger one. Absent: policy's default.
    pub tier: Option<String>,
}

impl NativeSettings {
    /// The command's canonical name, what allow- and block-lists match: the file name
    /// without its directory (`/usr/bin/curl` → `curl`).
    pub fn command_name(&self) -> &str {
        Path::new(&self.command)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&self.command)
    }
}

/// Limits as written in a manifest or config file; absent ones keep their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Fuel units.
    pub fuel: Option<u64>,
    /// Wall-clock deadline, e.g. `"5s"`.
    pub timeout: Option<String>,
    /// Linear memory cap, e.g. `"128MiB"`.
    pub memory: Option<String>,
    /// Cap on each of stdout and stderr, e.g. `"1MiB"`.
    pub output: Option<String>,
    /// Cap on table elements.
    pub table_elements: Option<u32>,
}

impl LimitSettings {
    /// `base` with these settings applied on top.
    ///
    /// # Errors
    ///
    /// A message naming the setting that does not parse.
    pub fn apply(&self, base: Limits) -> Result<Limits, String> {
        let mut l = base;
        if let Some(f) = self.fuel {
            l.fuel = f;
        }
        if let Some(t) = &self.timeout {
            l.timeout = parse_duration(t).map_err(|e| format!("limits.timeout: {e}"))?;
        }
        if let Some(m) = &self.memory {
            l.memory_bytes = parse_size(m).map_err(|e| format!("limits.memory: {e}"))?;
        }
        if let Some(o) = &self.output {
            l.output_bytes = parse_size(o).map_err(|e| format!("limits.output: {e}"))?;
        }
        if let Some(t) = self.table_elements {
            l.table_elements = t;
        }
        Ok(l)
    }
}

/// Where a per-call scratch directory appears in the guest.
pub const SCRATCH_GUEST_PATH: &str = "/tmp";

impl Manifest {
    /// Reads and validates `path`.
    ///
    /// # Errors
    ///
    /// [`WasmError::Manifest`] for bad TOML, unknown keys, an invalid name or limits that
    /// do not parse; [`WasmError::Io`] when the file cannot be read.
    pub fn load(path: &Path) -> Result<Self, WasmError> {
        let text = std::fs::read_to_string(path).map_err(WasmError::io(path))?;
        Manifest::parse(&text, path)
    }

    /// Parses and validates `text`, a manifest read from `path` (named in errors).
    ///
    /// # Errors
    ///
    /// [`WasmError::Manifest`] for bad TOML, unknown keys, an invalid name or limits that
    /// do not parse.
    pub fn parse(text: &str, path: &Path) -> Result<Self, WasmError> {
        let bad = |reason: String| WasmError::Manifest {
            path: path.to_owned(),
            reason,
        };
        let m: Manifest = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        ToolName::new(m.name.as_str()).map_err(|e| bad(e.to_string()))?;
        if m.component.is_some() == m.native.is_some() {
            return Err(bad(
                "give exactly one of `component` (a WebAssembly tool) and `[native]` (a command)"
                    .into(),
            ));
        }
        if let Some(tier) = m.native.as_ref().and_then(|n| n.tier.as_deref())
            && !matches!(tier, "process" | "container" | "gvisor" | "microvm")
        {
            return Err(bad(format!(
                "native.tier {tier:?}: one of process, container, gvisor, microvm"
            )));
        }
        m.limits.apply(Limits::default()).map_err(bad)?;
        Ok(m)
    }

    /// The tool's limits: `base` with the manifest's settings applied.
    pub fn limits(&self, base: Limits) -> Limits {
        // Validated in `load`.
        self.limits.apply(base).unwrap_or(base)
    }

    /// Narrows `offered` to what this tool requested: the first directory becomes the
    /// workspace (read-only unless both sides say read-write) when a workspace was
    /// requested, and is dropped otherwise; other directories are dropped; only requested
    /// environment variables pass; a scratch directory is added when requested; the
    /// outbound hosts are the manifest's (policy then decides which are granted).
    pub fn grants_for(&self, offered: Grants) -> Grants {
        let wanted = self.capabilities.workspace;
        let mut first = true;
        let b = offered
            .into_builder()
            .retain_dirs(|d| {
                let keep = first;
                first = false;
                match (keep, wanted) {
                    (true, Some(mode)) => Some(d.mode.min(mode)),
                    _ => None,
                }
            })
            .retain_env(|k| self.capabilities.env.iter().any(|e| e == k))
            .retain_hosts(|_| false)
            .without_scratch();
        let b = self
            .capabilities
            .hosts
            .iter()
            .fold(b, |b, h| b.host(h.clone()));
        if self.capabilities.scratch {
            b.scratch(SCRATCH_GUEST_PATH).build()
        } else {
            b.build()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_of_component_and_native() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("tool.toml");
        for (body, ok) in [
            ("component='t.wasm'", true),
            ("[native]\ncommand='/usr/bin/python3'", true),
            ("", false),
            ("component='t.wasm'\n[native]\ncommand='x'", false),
            ("[native]\ncommand='grep'\ntier='microvm'", true),
            ("[native]\ncommand='grep'\ntier='vm'", false),
        ] {
            std::fs::write(
                &path,
                format!("name='t'\nversion='1'\ndescription='d'\n{body}"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(Manifest::load(&path).is_ok(), ok, "{body}");
        }
        let native = NativeSettings {
            command: "/usr/bin/curl".into(),
            args: vec![],
            tier: None,
        };
        assert_eq!(native.command_name(), "curl");
    }

    #[test]
    fn hosts_come_from_the_manifest_only() {
        let m = manifest("hosts = ['api.example.com']");
        let g = m.grants_for(
            Grants::builder()
                .host(
                    "evil.example"
                        .parse()
                        .unwrap_or_else(|e: String| panic!("{e}")),
                )
                .build(),
        );
        let hosts: Vec<String> = g.hosts().iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["https://api.example.com:443"]);
    }

    fn manifest(caps: &str) -> Manifest {
        toml::from_str(&format!(
            "name='t'\nversion='1'\ndescription='d'\ncomponent='t.wasm'\n[capabilities]\n{caps}"
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_read_only_request_narrows_a_read_write_offer() {
        let m = manifest("workspace = 'ro'");
        let g = m.grants_for(
            Grants::builder()
                .dir("/a", "/ws", DirMode::ReadWrite)
                .build(),
        );
        assert_eq!(g.dirs()[0].mode, DirMode::ReadOnly);
    }

    #[test]
    fn a_tool_without_a_workspace_request_gets_no_directory_or_env() {
        let m = manifest("");
        let g = m.grants_for(
            Grants::builder()
                .dir("/a", "/ws", DirMode::ReadWrite)
                .env("SECRET", "x")
                .build(),
        );
        assert!(g.dirs().is_empty());
        assert!(g.env().is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<Manifest, _> = toml::from_str(
            "name='t'\nversion='1'\ndescription='d'\ncomponent='t.wasm'\nnetwrok=true",
        );
        assert!(r.is_err());
    }
}
