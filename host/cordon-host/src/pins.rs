//! Pins: what each tool told callers when it was approved. A model chooses and calls tools by
//! their descriptions and schemas, so a tool that earns trust and then changes what it says
//! (a "rug pull") is held out of the catalog until an admin approves the new version.
//!
//! ```text
//! first sight of a tool            pinned as it is (trust on first use), or by `cordon tools add`
//! same description and schemas     served; a new component digest (a rebuild) is re-pinned
//! description or a schema changed  held: listed as held, calls refused with `tool_changed`,
//!                                  until `cordon tools approve NAME`
//! ```
//!
//! The pins live in one JSON file (`DATA_DIR/pins.json`), replaced whole on every change.

use cordon_audit::now_ms;
use cordon_wasm::catalog::Tool;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a tool looked like when it was approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// Its version then.
    pub version: String,
    /// Its digest then (the component's SHA-256, or a command tool's manifest's).
    pub digest: String,
    /// The SHA-256 of what it told callers ([`surface_hash`]).
    pub surface: String,
    /// Who approved it (`first-use` for a tool pinned when first seen).
    pub approved_by: String,
    /// When, in milliseconds since the epoch.
    pub approved_at_ms: u64,
    /// Set when an admin took the tool out of service (the panel's "block"): it stays
    /// held, whatever it looks like, until unblocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Block>,
}

/// Who blocked a tool, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The admin (`tenant/subject`).
    pub by: String,
    /// When, in milliseconds since the epoch.
    pub at_ms: u64,
}

/// The pins of one host, kept in a file.
#[derive(Debug)]
pub struct Pins {
    path: PathBuf,
    pins: Mutex<BTreeMap<String, Pin>>,
}

/// The SHA-256 of what a tool tells callers: its description, and each function's name,
/// description and input and output schemas.
pub fn surface_hash(tool: &Tool) -> String {
    use sha2::Digest;
    let functions: Vec<Value> = tool
        .functions()
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "description": f.description,
                "input_schema": f.input_schema,
                "output_schema": f.output_schema,
            })
        })
        .collect();
    let surface = json!({
        "description": tool.manifest.description,
        "functions": functions,
    });
    hex::encode(sha2::Sha256::digest(surface.to_string()))
}

impl Pins {
    /// The pins in `path` (none yet when it does not exist).
    ///
    /// # Errors
    ///
    /// When the file exists but cannot be read or is not a pins file.
    pub fn open(path: PathBuf) -> Result<Pins, String> {
        let pins = read(&path)?;
        Ok(Pins {
            path,
            pins: Mutex::new(pins),
        })
    }

    /// Reads the file again: another process (`cordon tools approve`) may have changed it.
    ///
    /// # Errors
    ///
    /// When the file cannot be read; the pins in memory stay.
    pub fn refresh(&self) -> Result<(), String> {
        let pins = read(&self.path)?;
        *self.lock() = pins;
        Ok(())
    }

    /// The file the pins are kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pin of the tool named `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<Pin> {
        self.lock().get(name).cloned()
    }

    /// Whether `tool` may be served. A tool seen for the first time is pinned as it is; one
    /// whose description and schemas are as approved is served (a new digest re-pinned);
    /// one whose description or a schema changed is refused, with why.
    ///
    /// # Errors
    ///
    /// Why the tool is held.
    pub fn check(&self, tool: &Tool) -> Result<(), String> {
        let name = &tool.manifest.name;
        let surface = surface_hash(tool);
        let digest = tool.digest();
        let mut pins = self.lock();
        match pins.get(name) {
            Some(Pin {
                blocked: Some(block),
                ..
            }) => Err(format!(
                "tool {name:?} is blocked: {} took it out of service; it is held until unblocked (cordon tools unblock {name}, or the panel)",
                block.by
            )),
            Some(pin) if pin.surface != surface => Err(format!(
                "tool {name:?} ({}) changed its description or schemas since {} approved version {}; it is held until an admin approves it again (cordon tools approve {name})",
                tool.manifest.version, pin.approved_by, pin.version
            )),
            Some(pin) if pin.digest == digest => Ok(()),
            Some(pin) => {
                tracing::warn!(tool = %name, from = %pin.digest, to = %digest, "a tool's component changed, its description and schemas did not: re-pinned");
                let pin = Pin {
                    version: tool.manifest.version.clone(),
                    digest,
                    ..pin.clone()
                };
                pins.insert(name.clone(), pin);
                self.save(&pins)
            }
            None => {
                pins.insert(name.clone(), pin_of(tool, surface, "first-use"));
                self.save(&pins)
            }
        }
    }

    /// Approves `tool` as it is now, by `who`.
    ///
    /// # Errors
    ///
    /// When the pins file cannot be written.
    pub fn approve(&self, tool: &Tool, who: &str) -> Result<Pin, String> {
        let pin = pin_of(tool, surface_hash(tool), who);
        let mut pins = self.lock();
        pins.insert(tool.manifest.name.clone(), pin.clone());
        self.save(&pins)?;
        Ok(pin)
    }

    /// The error a call of the held tool `name` gets: `tool_blocked` when an admin blocked
    /// it, else `tool_changed`, with `why`.
    pub fn refusal(&self, name: &str, why: String) -> cordon_core::CallError {
        let blocked = self.get(name).is_some_and(|p| p.blocked.is_some());
        let code = if blocked {
            cordon_core::ErrorCode::ToolBlocked
        } else {
            cordon_core::ErrorCode::ToolChanged
        };
        cordon_core::CallError::new(code, why)
    }

    /// Takes `tool` out of service (`blocked`) or back in (`!blocked`), by `who`; a
    /// running server notices the pins file change and reloads its catalog.
    ///
    /// # Errors
    ///
    /// When the pins file cannot be written.
    pub fn set_blocked(&self, tool: &Tool, blocked: bool, who: &str) -> Result<(), String> {
        let mut pins = self.lock();
        let pin = pins
            .entry(tool.manifest.name.clone())
            .or_insert_with(|| pin_of(tool, surface_hash(tool), who));
        pin.blocked = blocked.then(|| Block {
            by: who.to_owned(),
            at_ms: now_ms(),
        });
        self.save(&pins)
    }

    /// Unblocks the tool named `name`, if it is pinned (a blocked tool is not in the
    /// catalog, so it is known by name only).
    ///
    /// # Errors
    ///
    /// When it is not pinned, or the pins file cannot be written.
    pub fn unblock(&self, name: &str) -> Result<(), String> {
        let mut pins = self.lock();
        let pin = pins
            .get_mut(name)
            .ok_or_else(|| format!("no pinned tool {name:?}"))?;
        pin.blocked = None;
        self.save(&pins)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Pin>> {
        self.pins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the pins to a temporary file beside the real one, then renames it over.
    fn save(&self, pins: &BTreeMap<String, Pin>) -> Result<(), String> {
        let json = serde_json::to_vec_pretty(pins).map_err(|e| e.to_string())?;
        let tmp = self.path.with_extension("json.tmp");
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

fn read(path: &Path) -> Result<BTreeMap<String, Pin>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: not a pins file: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn pin_of(tool: &Tool, surface: String, who: &str) -> Pin {
    Pin {
        version: tool.manifest.version.clone(),
        digest: tool.digest(),
        surface,
        approved_by: who.to_owned(),
        approved_at_ms: now_ms(),
        blocked: None,
    }
}
