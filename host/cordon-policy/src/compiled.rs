//! Rego text → regorus RVM programs, one per entry point, plus the data they read.

use crate::{PolicyError, PolicySource};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::vm::RegoVM;
use regorus::{Engine, Rc, Value};
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The package that holds the entry points.
const PACKAGE: &str = "data.cordon";

/// The rule that decides a call.
pub const DECISION_RULE: &str = "data.cordon.decision";
/// The rule that decides whether a tool may join the catalog.
pub const ADMISSION_RULE: &str = "data.cordon.admission";
/// The part of a decision that does not depend on the call's arguments: evaluated without
/// them and reused for the same principal, tool and request (see [`Split`]).
pub const CALL_RULE: &str = "data.cordon.call";
/// The part of a decision the arguments add: reasons and violations.
pub const ARGUMENT_CHECK_RULE: &str = "data.cordon.argument_check";

/// Builtins whose answer is not a function of their arguments (regorus's own list of
/// builtins it must not re-evaluate within one query): a `call` that uses one is evaluated
/// on every call instead of being reused.
const UNREPEATABLE_BUILTINS: [&str; 4] =
    ["opa.runtime", "rand.intn", "time.now_ns", "uuid.rfc4122"];

/// A policy can loop or build huge values; evaluation stops after this many RVM
/// instructions (the default policy uses a few thousand per decision).
const MAX_INSTRUCTIONS: usize = 1_000_000;

/// Policy compiled to RVM programs: what evaluation runs. Immutable; a reload builds a new
/// one and swaps it in.
pub struct CompiledPolicy {
    decision: Arc<Program>,
    admission: Arc<Program>,
    split: Option<Split>,
    data: Value,
    hash: String,
    origin: String,
    /// Distinguishes this compilation from every other in the process, so per-thread VMs
    /// know when to load the new programs.
    generation: u64,
}

/// A decision in two parts, for a policy that defines [`CALL_RULE`] and
/// [`ARGUMENT_CHECK_RULE`]. Most of a decision's cost is in rules that never look at the
/// arguments (roles, the permission matrix, grants, limits, backend); evaluated apart, that
/// part's answer can be kept per principal, tool and request, and only the argument rules run
/// on every call.
pub(crate) struct Split {
    call: Arc<Program>,
    argument_check: Arc<Program>,
    /// Why the `call` answer may not be reused, if it may not: it uses a builtin whose answer
    /// changes from one evaluation to the next.
    unrepeatable: Option<String>,
    /// Whether either part names the directories' host paths: only then are they given
    /// (and the kept answers keyed by them).
    host_paths: bool,
}

impl Split {
    /// Why the `call` part's answer may not be kept, if it may not.
    pub(crate) fn unrepeatable(&self) -> Option<&str> {
        self.unrepeatable.as_deref()
    }

    /// Whether the parts are given `request.dirs[].host_path`.
    pub(crate) fn host_paths(&self) -> bool {
        self.host_paths
    }
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
        // The modules of package `cordon`, where the entry points are declared.
        let mut cordon_modules = Vec::new();
        let mut data = serde_json::Value::Object(serde_json::Map::new());
        for f in &source.files {
            if f.is_rego() {
                if f.is_test() {
                    // Parsed for errors only; tests are not part of the deciding program.
                    Engine::new()
                        .add_policy(f.name.clone(), f.text.clone())
                        .map_err(|e| err(&f.name, &e))?;
                } else {
                    let package = engine
                        .add_policy(f.name.clone(), f.text.clone())
                        .map_err(|e| err(&f.name, &e))?;
                    if package == PACKAGE {
                        cordon_modules.push(f.name.clone());
                    }
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
        let declares = |rule: &str| {
            let name = rule.trim_start_matches(PACKAGE).trim_start_matches('.');
            cordon_modules
                .iter()
                .any(|m| engine.has_declared_rule_rooted_at(m, name).unwrap_or(false))
        };
        let split = match (declares(CALL_RULE), declares(ARGUMENT_CHECK_RULE)) {
            (false, false) => None,
            (true, true) => {
                let call = program(&mut engine, CALL_RULE)?;
                if names(&call, "arguments") {
                    return Err(err(
                        CALL_RULE,
                        &format!(
                            "reads input.arguments, which it is never given (the host evaluates it \
                             without the arguments and reuses its answer); move the rule into \
                             {ARGUMENT_CHECK_RULE}"
                        ),
                    ));
                }
                let unrepeatable = call
                    .builtin_info_table
                    .iter()
                    .find(|b| UNREPEATABLE_BUILTINS.contains(&b.name.as_str()))
                    .map(|b| {
                        format!(
                            "{CALL_RULE} uses {}, whose answer changes from call to call",
                            b.name
                        )
                    });
                let argument_check = program(&mut engine, ARGUMENT_CHECK_RULE)?;
                let host_paths = names(&call, crate::input::HOST_PATH)
                    || names(&argument_check, crate::input::HOST_PATH);
                Some(Split {
                    call,
                    argument_check,
                    unrepeatable,
                    host_paths,
                })
            }
            (call, _) => {
                let (has, lacks) = if call {
                    (CALL_RULE, ARGUMENT_CHECK_RULE)
                } else {
                    (ARGUMENT_CHECK_RULE, CALL_RULE)
                };
                return Err(err(
                    has,
                    &format!("is defined but {lacks} is not: a policy defines both or neither"),
                ));
            }
        };
        Ok(CompiledPolicy {
            decision,
            admission,
            split,
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

    /// The decision in two parts, if the policy defines them.
    pub(crate) fn split(&self) -> Option<&Split> {
        self.split.as_ref()
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
                    split: match &self.split {
                        Some(s) => Some((self.vm(&s.call)?, self.vm(&s.argument_check)?)),
                        None => None,
                    },
                }),
            };
            let vm = match (entry, &mut vms.split) {
                (Entry::Decision, _) => &mut vms.decision,
                (Entry::Admission, _) => &mut vms.admission,
                (Entry::Call, Some((call, _))) => call,
                (Entry::ArgumentCheck, Some((_, argument_check))) => argument_check,
                (Entry::Call | Entry::ArgumentCheck, None) => {
                    return Err("the policy does not split its decision".to_owned());
                }
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

/// Whether `program` may read an input field called `field` (`arguments`, `host_path`): a
/// field is read by its name, which is then one of the program's literals. (A rule that finds
/// the field by iterating over its whole parent is not caught; the policy tests hold the
/// shipped `call` to the same answer with and without arguments.)
fn names(program: &Program, field: &str) -> bool {
    program
        .literals
        .iter()
        .any(|l| matches!(l, Value::String(s) if &**s == field))
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
    Call,
    ArgumentCheck,
}

/// A VM is cheap to reuse (its registers and caches are reset per run) but not to share
/// between threads, so each thread keeps one per entry point for the current compilation.
struct ThreadVms {
    generation: u64,
    decision: RegoVM,
    admission: RegoVM,
    /// `call` and `argument_check`, when the policy splits its decision.
    split: Option<(RegoVM, RegoVM)>,
}

thread_local! {
    static VMS: RefCell<Option<ThreadVms>> = const { RefCell::new(None) };
}
