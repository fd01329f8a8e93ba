//! Rego text → regorus RVM programs, one per entry point, plus the data they read.

use crate::{PolicyError, PolicySource};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::vm::RegoVM;
use regorus::{Engine, Rc, Value};
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The rule that decides a call.
pub const DECISION_RULE: &str = "data.cordon.decision";
/// The rule that decides whether a tool may join the catalog.
pub const ADMISSION_RULE: &str = "data.cordon.admission";

/// A policy can loop or build huge values; evaluation stops after this many RVM
/// instructions (the default policy uses a few thousand per decision).
const MAX_INSTRUCTIONS: usize = 1_000_000;

/// Policy compiled to RVM programs: what evaluation runs. Immutable; a reload builds a new
/// one and swaps it in.
pub struct CompiledPolicy {
    decision: Arc<Program>,
    admission: Arc<Program>,
    data: Value,
    hash: String,
    origin: String,
    /// Distinguishes this compilation from every other in the process, so per-thread VMs
    /// know when to load the new programs.
    generation: u64,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

impl CompiledPolicy {
    /// Parses every module (tests included, so a broken test file is caught too), merges
    /// the data documents and compiles the two entry points.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Compile`] naming the file and the problem.
    pub fn compile(source: &PolicySource) -> Result<CompiledPolicy, PolicyError> {
        let err = |what: &str, e: &dyn std::fmt::Display| PolicyError::Compile {
            origin: source.origin.clone(),
            message: format!("{what}: {e}"),
        };
        let mut engine = Engine::new();
        let mut data = serde_json::Value::Object(serde_json::Map::new());
        for f in &source.files {
            if f.is_rego() {
                if f.is_test() {
                    // Parsed for errors only; tests are not part of the deciding program.
                    Engine::new()
                        .add_policy(f.name.clone(), f.text.clone())
                        .map_err(|e| err(&f.name, &e))?;
                } else {
                    engine
                        .add_policy(f.name.clone(), f.text.clone())
                        .map_err(|e| err(&f.name, &e))?;
                }
            } else {
                let doc: serde_json::Value =
                    serde_json::from_str(&f.text).map_err(|e| err(&f.name, &e))?;
                if !doc.is_object() {
                    return Err(err(&f.name, &"a data document must be a JSON object"));
                }
                merge(&mut data, doc).map_err(|path| {
                    err(
                        &f.name,
                        &format!("{path} is already defined by another file"),
                    )
                })?;
            }
        }
        let data = Value::from(data);
        engine.add_data(data.clone()).map_err(|e| err("data", &e))?;
        let program = |engine: &mut Engine, rule: &str| -> Result<Arc<Program>, PolicyError> {
            let compiled = engine
                .compile_with_entrypoint(&Rc::from(rule))
                .map_err(|e| err(rule, &e))?;
            Compiler::compile_from_policy(&compiled, &[rule]).map_err(|e| err(rule, &e))
        };
        let decision = program(&mut engine, DECISION_RULE)?;
        let admission = program(&mut engine, ADMISSION_RULE)?;
        Ok(CompiledPolicy {
            decision,
            admission,
            data,
            hash: source.hash(),
            origin: source.origin.clone(),
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The content hash of the source this was compiled from.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Where the source came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Evaluates `entry` with `input` on this thread's VM for this compilation.
    pub(crate) fn eval(&self, entry: Entry, input: Value) -> Result<Value, String> {
        VMS.with(|cell| {
            let mut slot = cell.borrow_mut();
            let vms = match slot.as_mut() {
                Some(v) if v.generation == self.generation => v,
                _ => slot.insert(ThreadVms {
                    generation: self.generation,
                    decision: self.vm(&self.decision)?,
                    admission: self.vm(&self.admission)?,
                }),
            };
            let vm = match entry {
                Entry::Decision => &mut vms.decision,
                Entry::Admission => &mut vms.admission,
            };
            vm.set_input(input);
            vm.execute().map_err(|e| e.to_string())
        })
    }

    fn vm(&self, program: &Arc<Program>) -> Result<RegoVM, String> {
        let mut vm = RegoVM::new();
        vm.load_program(program.clone());
        vm.set_max_instructions(MAX_INSTRUCTIONS);
        vm.set_data(self.data.clone()).map_err(|e| e.to_string())?;
        Ok(vm)
    }
}

/// Merges data document `doc` into `into` as OPA does: objects merge key by key; any other
/// value may be defined once. Returns the conflicting path.
fn merge(into: &mut serde_json::Value, doc: serde_json::Value) -> Result<(), String> {
    fn go(into: &mut serde_json::Value, doc: serde_json::Value, path: &str) -> Result<(), String> {
        match (into, doc) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    let p = format!("{path}.{k}");
                    match a.get_mut(&k) {
                        Some(existing) => go(existing, v, &p)?,
                        None => {
                            a.insert(k, v);
                        }
                    }
                }
                Ok(())
            }
            _ => Err(path.to_owned()),
        }
    }
    go(into, doc, "data")
}

/// Which compiled entry point to run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entry {
    Decision,
    Admission,
}

/// A VM is cheap to reuse (its registers and caches are reset per run) but not to share
/// between threads, so each thread keeps one per entry point for the current compilation.
struct ThreadVms {
    generation: u64,
    decision: RegoVM,
    admission: RegoVM,
}

thread_local! {
    static VMS: RefCell<Option<ThreadVms>> = const { RefCell::new(None) };
}
