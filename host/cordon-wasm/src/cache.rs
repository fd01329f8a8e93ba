//! Precompiled components on disk, so a restart does not recompile.
//!
//! The key is the SHA-256 of the engine's compatibility hash (wasmtime version, target,
//! every setting that changes generated code), Cordon's own [`EngineConfig`] (so any
//! configuration change recompiles, even one wasmtime would not need to), and the
//! component's own SHA-256.
//! Each artifact sits beside a digest of itself: wasmtime trusts a precompiled artifact
//! completely (it is native code), so one that does not match its digest, truncated or
//! corrupted, is deleted and recompiled rather than loaded.

use crate::{EngineConfig, WasmError};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where precompiled artifacts live.
#[derive(Debug, Clone)]
pub struct PrecompileCache {
    dir: PathBuf,
    engine_key: String,
}

/// How a component was obtained, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Loaded from a verified artifact on disk.
    Hit,
    /// Compiled now (and stored when a cache is configured).
    Compiled,
    /// An artifact was found but failed verification; compiled again and replaced.
    Recompiled,
}

/// Feeds `Hash` output into SHA-256, so the engine key is stable across processes.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl PrecompileCache {
    /// A cache under `dir` for artifacts of `engine`, built from `config`.
    ///
    /// # Errors
    ///
    /// [`WasmError::Io`] when the directory cannot be created.
    pub fn new(
        dir: impl Into<PathBuf>,
        engine: &Engine,
        config: &EngineConfig,
    ) -> Result<Self, WasmError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(WasmError::io(&dir))?;
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        h.0.update(serde_json::to_vec(config).unwrap_or_default());
        Ok(PrecompileCache {
            dir,
            engine_key: hex::encode(h.0.finalize()),
        })
    }

    fn paths(&self, component_digest: &str) -> (PathBuf, PathBuf) {
        let key = sha256_hex(format!("{}:{}", self.engine_key, component_digest).as_bytes());
        (
            self.dir.join(format!("{key}.cwasm")),
            self.dir.join(format!("{key}.sha256")),
        )
    }

    /// Loads the component whose source has SHA-256 `digest`, from the cache when a
    /// verified artifact exists, else by compiling `bytes` and storing the result.
    ///
    /// # Errors
    ///
    /// [`WasmError::InvalidComponent`] when `bytes` do not compile. Cache write failures
    /// are logged, not returned: the component still loads.
    pub fn load(
        &self,
        engine: &Engine,
        name: &str,
        bytes: &[u8],
        digest: &str,
    ) -> Result<(Component, CacheStatus), WasmError> {
        let (artifact, sidecar) = self.paths(digest);
        let mut status = CacheStatus::Compiled;
        if let (Ok(code), Ok(expected)) =
            (std::fs::read(&artifact), std::fs::read_to_string(&sidecar))
        {
            if sha256_hex(&code) == expected.trim() {
                // SAFETY: wasmtime requires that deserialized bytes came from
                // `Engine::precompile_component` of a compatible engine. We wrote this file
                // ourselves from that function (see `store`), under a key that includes the
                // engine's compatibility hash, and we just verified it byte for byte against
                // the digest written alongside it; wasmtime additionally checks the header's
                // version and configuration and errors (rather than misbehaving) on mismatch.
                #[allow(unsafe_code)]
                let loaded = unsafe { Component::deserialize(engine, &code) };
                match loaded {
                    Ok(c) => return Ok((c, CacheStatus::Hit)),
                    Err(e) => {
                        tracing::warn!(component = name, error = %e, "cached artifact rejected; recompiling")
                    }
                }
            } else {
                tracing::warn!(component = name, path = %artifact.display(), "cached artifact does not match its digest; recompiling");
            }
            status = CacheStatus::Recompiled;
            let _ = std::fs::remove_file(&artifact);
            let _ = std::fs::remove_file(&sidecar);
        }
        let code = engine
            .precompile_component(bytes)
            .map_err(|e| WasmError::InvalidComponent {
                name: name.to_owned(),
                reason: format!("{e:#}"),
            })?;
        if let Err(e) = store(&artifact, &sidecar, &code) {
            tracing::warn!(component = name, error = %e, "could not write the precompile cache");
        }
        // SAFETY: `code` was produced by `precompile_component` on this very engine just now.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &code) }.map_err(|e| {
            WasmError::InvalidComponent {
                name: name.to_owned(),
                reason: format!("{e:#}"),
            }
        })?;
        Ok((component, status))
    }
}

/// Writes artifact then digest, each through a temporary file renamed into place, so a
/// crash leaves either nothing or a complete, verifiable pair.
fn store(artifact: &Path, sidecar: &Path, code: &[u8]) -> std::io::Result<()> {
    let dir = artifact.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, code)?;
    tmp.persist(artifact)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, sha256_hex(code).as_bytes())?;
    tmp.persist(sidecar)?;
    Ok(())
}
