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
    #[serde(default)]
    pub serve: ServeConfig,
    #[serde(default)]
    pub limits: LimitSettings,
    #[serde(default)]
    pub engine: EngineConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    pub listen: Option<String>,
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
        toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))
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
