//! The tool catalog: every `*/tool.toml` under a directory.

use crate::manifest::Manifest;
use crate::{Executor, FunctionInfo, LoadedComponent, WasmError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A tool: a manifest and what runs when it is called.
pub struct Tool {
    /// The manifest.
    pub manifest: Manifest,
    /// The manifest as JSON, built once: policy sees it on every call.
    pub manifest_json: serde_json::Value,
    /// Where the manifest was found.
    pub manifest_path: PathBuf,
    /// What runs.
    pub body: ToolBody,
}

/// What runs when a tool is called.
pub enum ToolBody {
    /// A WebAssembly component, compiled and linked.
    Component(Arc<LoadedComponent>),
    /// The native command of the manifest's `[native]`, called through its one function
    /// ([`FunctionInfo::command_run`]) in a native tier.
    Command(Box<FunctionInfo>),
}

impl Tool {
    /// The tool's callable functions.
    pub fn functions(&self) -> &[FunctionInfo] {
        match &self.body {
            ToolBody::Component(c) => c.functions(),
            ToolBody::Command(run) => std::slice::from_ref(&**run),
        }
    }

    /// A function by name (see [`LoadedComponent::function`]); without a name, the only one.
    ///
    /// # Errors
    ///
    /// A message listing the available functions.
    pub fn function(&self, name: Option<&str>) -> Result<&FunctionInfo, String> {
        match &self.body {
            ToolBody::Component(c) => c.function(name),
            ToolBody::Command(run) => match name {
                None | Some("run") => Ok(run),
                Some(other) => Err(format!(
                    "{} has no function {other:?}; a command tool has one: run",
                    self.manifest.name
                )),
            },
        }
    }

    /// The component, for a component tool.
    pub fn component(&self) -> Option<&Arc<LoadedComponent>> {
        match &self.body {
            ToolBody::Component(c) => Some(c),
            ToolBody::Command(_) => None,
        }
    }

    /// What identifies this version of the tool: the component's SHA-256, or for a command
    /// tool the SHA-256 of its manifest (the command and everything it is granted).
    pub fn digest(&self) -> String {
        match &self.body {
            ToolBody::Component(c) => c.digest.clone(),
            ToolBody::Command(_) => {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(self.manifest_json.to_string()))
            }
        }
    }
}

/// Tools found under a directory, by name.
#[derive(Default)]
pub struct Catalog {
    tools: BTreeMap<String, Arc<Tool>>,
    /// Tools taken out of service ([`Catalog::hold_back`]), with why.
    held: BTreeMap<String, String>,
}

/// Lists the manifests under `dir`: `dir/*/tool.toml`, sorted. Hidden directories (`.x`)
/// are not tools: `cordon tools add` stages a tool in one before moving it into place.
///
/// # Errors
///
/// [`WasmError::Io`] when `dir` cannot be read.
pub fn manifests(dir: &Path) -> Result<Vec<PathBuf>, WasmError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(WasmError::io(dir))? {
        let entry = entry.map_err(WasmError::io(dir))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let manifest = entry.path().join("tool.toml");
        if manifest.is_file() {
            found.push(manifest);
        }
    }
    found.sort();
    Ok(found)
}

/// Decides whether a tool may join the catalog, given its manifest and (for component
/// tools) the loaded component; `Err` holds the reasons it may not. Admission policy
/// implements this; the catalog only asks.
pub type Admit<'a> = &'a dyn Fn(&Manifest, Option<&LoadedComponent>) -> Result<(), Vec<String>>;

/// Loads one tool from its manifest and asks `admit` whether it may be added.
///
/// # Errors
///
/// When the manifest is invalid, its component does not load, or admission refuses it
/// ([`WasmError::Refused`]).
pub fn load_tool(
    executor: &Executor,
    manifest_path: &Path,
    admit: Admit<'_>,
) -> Result<Tool, WasmError> {
    let manifest = Manifest::load(manifest_path)?;
    let refused = |reasons: Vec<String>| WasmError::Refused {
        tool: manifest.name.clone(),
        reasons,
    };
    let Some(component_path) = &manifest.component else {
        // A command tool: admission weighs its command; a native tier runs it per call.
        admit(&manifest, None).map_err(refused)?;
        let run = FunctionInfo::command_run(&manifest.description);
        let manifest_json = serde_json::to_value(&manifest).unwrap_or_default();
        return Ok(Tool {
            manifest,
            manifest_json,
            manifest_path: manifest_path.to_owned(),
            body: ToolBody::Command(Box::new(run)),
        });
    };
    let base = manifest_path.parent().unwrap_or(Path::new("."));
    let wasm = base.join(component_path);
    let bytes = std::fs::read(&wasm).map_err(WasmError::io(&wasm))?;
    let mut component = executor.load(&manifest.name, &bytes)?;
    if let Some(names) = &manifest.functions {
        component
            .retain_functions(names)
            .map_err(|reason| WasmError::Manifest {
                path: manifest_path.to_owned(),
                reason: format!("functions: {reason}"),
            })?;
    }
    admit(&manifest, Some(&component)).map_err(refused)?;
    let manifest_json = serde_json::to_value(&manifest).unwrap_or_default();
    Ok(Tool {
        manifest,
        manifest_json,
        manifest_path: manifest_path.to_owned(),
        body: ToolBody::Component(Arc::new(component)),
    })
}

impl Catalog {
    /// Loads every tool under `dir` that `admit` accepts. A broken or refused tool does not
    /// stop the others: it is returned beside the catalog with its error.
    ///
    /// # Errors
    ///
    /// [`WasmError::Io`] when `dir` cannot be read.
    pub fn load(
        executor: &Executor,
        dir: &Path,
        admit: Admit<'_>,
    ) -> Result<(Catalog, Vec<(PathBuf, WasmError)>), WasmError> {
        let mut catalog = Catalog::default();
        let mut failures = Vec::new();
        for path in manifests(dir)? {
            match load_tool(executor, &path, admit) {
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

    /// Takes out of service every tool `hold` gives a reason for: it is neither listed nor
    /// callable, and [`Catalog::held`] says why.
    pub fn hold_back(&mut self, hold: impl Fn(&Tool) -> Option<String>) {
        let held: Vec<(String, String)> = self
            .tools
            .values()
            .filter_map(|t| hold(t).map(|why| (t.manifest.name.clone(), why)))
            .collect();
        for (name, why) in held {
            self.tools.remove(&name);
            self.held.insert(name, why);
        }
    }

    /// Why the tool named `name` is out of service, if it is.
    pub fn held(&self, name: &str) -> Option<&str> {
        self.held.get(name).map(String::as_str)
    }

    /// Every tool out of service, by name, with why.
    pub fn held_tools(&self) -> impl Iterator<Item = (&str, &str)> {
        self.held.iter().map(|(n, w)| (n.as_str(), w.as_str()))
    }

    /// All tools, by name.
    pub fn tools(&self) -> impl Iterator<Item = &Arc<Tool>> {
        self.tools.values()
    }
}
