//! The catalog a server serves, replaced whole when its directory changes: a call takes
//! the catalog of the moment it starts and keeps it to its end, and MCP clients hear
//! `notifications/tools/list_changed` when the set of tools changed.

use crate::Host;
use cordon_wasm::WasmError;
use cordon_wasm::catalog::Catalog;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// A catalog that can be swapped while it serves.
pub struct LiveCatalog {
    current: RwLock<Arc<Catalog>>,
    /// Bumped on every change that clients can see.
    generation: watch::Sender<u64>,
}

impl LiveCatalog {
    /// Serves `catalog` until it is replaced.
    pub fn new(catalog: Catalog) -> LiveCatalog {
        LiveCatalog {
            current: RwLock::new(Arc::new(catalog)),
            generation: watch::Sender::new(0),
        }
    }

    /// The catalog now.
    pub fn current(&self) -> Arc<Catalog> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Serves `catalog` from now on. Returns whether the tools changed (names, components or
    /// manifests); only then are subscribers told.
    pub fn replace(&self, catalog: Catalog) -> bool {
        let changed = !same_tools(&self.current(), &catalog);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog);
        if changed {
            self.generation.send_modify(|g| *g += 1);
        }
        changed
    }

    /// Wakes on every visible change after this call.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

fn same_tools(a: &Catalog, b: &Catalog) -> bool {
    let key = |c: &Catalog| -> Vec<(String, String, serde_json::Value)> {
        c.tools()
            .map(|t| (t.manifest.name.clone(), t.digest(), t.manifest_json.clone()))
            .collect()
    };
    key(a) == key(b)
}

/// Loads the catalog under `dir`, each tool admitted by `host`'s policy. A tool that fails
/// to load or is refused is skipped with a warning naming it and why.
///
/// # Errors
///
/// When `dir` cannot be read.
pub fn load_catalog(host: &Host, dir: &Path) -> Result<Catalog, WasmError> {
    let (mut catalog, failures) = Catalog::load(host.executor(), dir, &|m, c| host.admit(m, c))?;
    for (path, err) in &failures {
        tracing::warn!(manifest = %path.display(), error = %err, "tool skipped");
        let tool = path.parent().and_then(Path::file_name).map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        host.refuse_component(
            &tool,
            &cordon_core::CallError::new(err.code(), err.to_string()),
        );
    }
    if let Some(pins) = host.pins() {
        if let Err(e) = pins.refresh() {
            tracing::warn!(error = %e, "pins not re-read; the ones in memory stay");
        }
        catalog.hold_back(|tool| {
            let held = pins.check(tool).err();
            if let Some(why) = &held {
                tracing::warn!(tool = %tool.manifest.name, reason = %why, "tool held");
            }
            held
        });
    }
    Ok(catalog)
}

/// What the watcher compares: every file of every tool directory, and the pins file (an
/// approval brings a held tool back), with size and mtime.
fn fingerprint(dir: &Path, pins: Option<&Path>) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut seen = Vec::new();
    if let Some(pins) = pins
        && let Ok(meta) = std::fs::metadata(pins)
    {
        seen.push((pins.to_owned(), meta.len(), meta.modified().ok()));
    }
    let Ok(tools) = std::fs::read_dir(dir) else {
        return seen;
    };
    for tool in tools.flatten() {
        let Ok(files) = std::fs::read_dir(tool.path()) else {
            continue;
        };
        for file in files.flatten() {
            if let Ok(meta) = file.metadata() {
                seen.push((file.path(), meta.len(), meta.modified().ok()));
            }
        }
    }
    seen.sort();
    seen
}

impl crate::Runtime {
    /// Reloads the catalog from `dir` whenever a file under it changes (checked every
    /// `every`), until the runtime is dropped. A reload that cannot read `dir` keeps the
    /// catalog in force; a tool that no longer loads drops out of it.
    pub fn watch_catalog(self: &Arc<Self>, dir: PathBuf, every: Duration) {
        let runtime: Weak<crate::Runtime> = Arc::downgrade(self);
        let pins = self.host.pins().map(|p| p.path().to_owned());
        let spawned = std::thread::Builder::new()
            .name("cordon-catalog-watch".into())
            .spawn(move || {
                let mut seen = fingerprint(&dir, pins.as_deref());
                loop {
                    std::thread::sleep(every);
                    let Some(runtime) = runtime.upgrade() else {
                        return;
                    };
                    let now = fingerprint(&dir, pins.as_deref());
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    match load_catalog(&runtime.host, &dir) {
                        Ok(catalog) => {
                            let count = catalog.tools().count();
                            if runtime.catalog.replace(catalog) {
                                tracing::info!(tools = count, dir = %dir.display(), "catalog changed");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(dir = %dir.display(), error = %e, "catalog not reloaded; the previous one stays");
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the catalog watcher; catalog changes need a restart");
        }
    }
}
