//! The tool catalog: every `*/tool.toml` under a directory.

use crate::manifest::Manifest;
use crate::{Executor, LoadedComponent, WasmError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A tool: a manifest and its loaded component.
pub struct Tool {
    /// The manifest.
    pub manifest: Manifest,
    /// Where the manifest was found.
    pub manifest_path: PathBuf,
    /// The component, compiled and linked.
    pub component: Arc<LoadedComponent>,
}

/// Tools found under a directory, by name.
#[derive(Default)]
pub struct Catalog {
    tools: BTreeMap<String, Arc<Tool>>,
}

/// Lists the manifests under `dir`: `dir/*/tool.toml`, sorted.
///
/// # Errors
///
/// [`WasmError::Io`] when `dir` cannot be read.
pub fn manifests(dir: &Path) -> Result<Vec<PathBuf>, WasmError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(WasmError::io(dir))? {
        let entry = entry.map_err(WasmError::io(dir))?;
        let manifest = entry.path().join("tool.toml");
        if manifest.is_file() {
            found.push(manifest);
        }
    }
    found.sort();
    Ok(found)
}

/// Loads one tool from its manifest.
///
/// # Errors
///
/// When the manifest is invalid or its component does not load.
pub fn load_tool(executor: &Executor, manifest_path: &Path) -> Result<Tool, WasmError> {
    let manifest = Manifest::load(manifest_path)?;
    let base = manifest_path.parent().unwrap_or(Path::new("."));
    let wasm = base.join(&manifest.component);
    let bytes = std::fs::read(&wasm).map_err(WasmError::io(&wasm))?;
    let component = executor.load(&manifest.name, &bytes)?;
    Ok(Tool {
        manifest,
        manifest_path: manifest_path.to_owned(),
        component: Arc::new(component),
    })
}

impl Catalog {
    /// Loads every tool under `dir`. A broken tool does not stop the others: it is
    /// returned beside the catalog with its error.
    ///
    /// # Errors
    ///
    /// [`WasmError::Io`] when `dir` cannot be read.
    pub fn load(
        executor: &Executor,
        dir: &Path,
    ) -> Result<(Catalog, Vec<(PathBuf, WasmError)>), WasmError> {
        let mut catalog = Catalog::default();
        let mut failures = Vec::new();
        for path in manifests(dir)? {
            match load_tool(executor, &path) {
                Ok(tool) => {
                    if catalog.tools.contains_key(&tool.manifest.name) {
                        failures.push((
                            path,
                            WasmError::Manifest {
                                path: tool.manifest_path.clone(),
                                reason: format!("duplicate tool name {:?}", tool.manifest.name),
                            },
                        ));
                    } else {
                        catalog
                            .tools
                            .insert(tool.manifest.name.clone(), Arc::new(tool));
                    }
                }
                Err(e) => failures.push((path, e)),
            }
        }
        Ok((catalog, failures))
    }

    /// The tool named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Tool>> {
        self.tools.get(name)
    }

    /// All tools, by name.
    pub fn tools(&self) -> impl Iterator<Item = &Arc<Tool>> {
        self.tools.values()
    }
}
