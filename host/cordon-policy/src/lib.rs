//! Policy: Rego compiled to regorus's RVM decides every call.
//!
//! A [`Policy`] holds the compiled form of a policy directory (or of the default policy
//! built into the binary) and answers two questions:
//!
//! - [`Policy::decide`]: may this principal call this function with these arguments, and if
//!   so with which grants, limits and backend? (`data.cordon.decision`)
//! - [`Policy::admit`]: may this tool join the catalog at all? (`data.cordon.admission`)
//!
//! A policy may define its decision in two parts, as the default policy does:
//! `data.cordon.call`, everything that does not depend on the call's arguments, and
//! `data.cordon.argument_check`, the reasons and violations the arguments add. The part
//! without arguments is evaluated on an input that has none, so its answer is kept per
//! principal, tool and request and reused; only the argument rules run on every call. A
//! policy that defines only `decision` is evaluated whole on every call.
//!
//! Both default to *deny*: an evaluation error, an undefined result or an answer that does
//! not decode is a refusal that says why, never an allow.
//!
//! Policies are reloaded when their files change ([`Policy::watch`]): the new files are
//! compiled beside the old program, and only a successful compile replaces it, so calls in
//! flight finish on the version they started with and a broken edit changes nothing.
//!
//! ```
//! use cordon_core::{Grants, Limits, Principal};
//! use cordon_policy::{DecisionInput, Policy, RequestInput, ToolInput};
//!
//! let policy = Policy::embedded()?;
//! let guest = Principal::new("acme", "bot", ["guest"]);
//! let args = serde_json::json!({"path": "report.txt", "contents": "hi"});
//! let verdict = policy.decide(&DecisionInput {
//!     principal: &guest,
//!     tool: ToolInput { name: "fs", function: "files#write-file", registered: true,
//!                       manifest: None, command: None },
//!     arguments: &args,
//!     request: RequestInput::new(&Grants::default(), &Limits::default()),
//! });
//! assert!(!verdict.decision.allow);
//! assert!(verdict.decision.reasons[0].contains("no \"write\" permission"));
//! # Ok::<(), cordon_policy::PolicyError>(())
//! ```

mod compiled;
mod input;
mod source;
mod testing;

pub use compiled::{ADMISSION_RULE, ARGUMENT_CHECK_RULE, CALL_RULE, CompiledPolicy, DECISION_RULE};
pub use input::{
    AdmissionComponent, AdmissionInput, AdmissionTool, DecisionInput, PolicyValue, RequestInput,
    RequestedDir, RequestedHost, RequestedLimits, ToolInput,
};
pub use source::{PolicyFile, PolicySource};
pub use testing::{TestOutcome, TestResult, run_tests};

use compiled::Entry;
use cordon_core::{Decision, ErrorCode, Violation};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

/// Why policy could not be loaded or compiled.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The directory holds no Rego module.
    #[error("{} holds no .rego policy module", dir.display())]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
    /// A module does not parse or compile, or a data document is not a JSON object.
    #[error("policy from {origin} does not compile: {message}")]
    Compile {
        /// Where the policy came from.
        origin: String,
        /// What is wrong, naming the file or rule.
        message: String,
    },
}

impl PolicyError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PolicyError + '_ {
        move |source| PolicyError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// The stable code: a policy that cannot load is bad input to Cordon.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::BadRequest
    }
}

/// A decision and the version of the policy that made it.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// Content hash of the policy that decided (recorded in the audit log).
    pub policy_hash: Arc<str>,
}

/// Whether a tool may join the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Admission {
    /// Whether it may.
    pub allow: bool,
    /// Why not.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// What [`Policy::reload_if_changed`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The files are as they were.
    Unchanged,
    /// The files changed and compiled; this hash now decides.
    Reloaded(String),
    /// The files changed but do not compile; the previous policy stays in force.
    Rejected(String),
}

/// The live policy: the compiled program in force, and where to reload it from.
pub struct Policy {
    current: RwLock<Arc<Current>>,
    dir: Option<PathBuf>,
    seen: Mutex<Option<Vec<(PathBuf, u64, SystemTime)>>>,
    /// Told when a change on disk is rejected (`cordon serve` raises an alert).
    on_rejected: std::sync::OnceLock<RejectedHook>,
}

/// What [`Policy::on_rejected`] calls with the rejection's message.
type RejectedHook = Box<dyn Fn(&str) + Send + Sync>;

struct Current {
    compiled: CompiledPolicy,
    hash: Arc<str>,
    /// Answers of `data.cordon.call` by input, when the policy splits its decision and they
    /// may be reused. Belongs to this compilation: a reload starts with none.
    kept: Option<KeptCalls>,
}

/// Distinct principal × tool × request combinations kept before starting over: a bound on
/// memory that a real workload (a few callers, a catalog of tools) stays far below.
const MAX_KEPT_CALLS: usize = 4_096;

/// `data.cordon.call` answers, by [`DecisionInput::call_key`].
#[derive(Default)]
struct KeptCalls {
    by_input: RwLock<HashMap<Box<[u8]>, Arc<CallPart>>>,
}

/// One `data.cordon.call` answer and the input it was given (the whole input of
/// `argument_check` is that plus the arguments).
struct CallPart {
    input: regorus::Value,
    decision: Decision,
}

/// What `data.cordon.argument_check` answers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Findings {
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    violations: Vec<Violation>,
}

impl Policy {
    /// Compiles the policy in `dir`; [`Policy::reload_if_changed`] and [`Policy::watch`]
    /// read it again when its files change.
    ///
    /// # Errors
    ///
    /// The directory cannot be read, holds no module, or does not compile.
    pub fn load_dir(dir: &Path) -> Result<Policy, PolicyError> {
        let seen = source::fingerprint(dir);
        let compiled = CompiledPolicy::compile(&PolicySource::read_dir(dir)?)?;
        Ok(Policy {
            current: RwLock::new(Arc::new(Current::new(compiled))),
            dir: Some(dir.to_owned()),
            seen: Mutex::new(seen),
            on_rejected: std::sync::OnceLock::new(),
        })
    }

    /// The default policy built into this binary.
    ///
    /// # Errors
    ///
    /// Only if the built-in policy does not compile (a build defect; tests catch it).
    pub fn embedded() -> Result<Policy, PolicyError> {
        let compiled = CompiledPolicy::compile(&PolicySource::embedded())?;
        Ok(Policy {
            current: RwLock::new(Arc::new(Current::new(compiled))),
            dir: None,
            seen: Mutex::new(None),
            on_rejected: std::sync::OnceLock::new(),
        })
    }

    fn current(&self) -> Arc<Current> {
        // A poisoned lock only means a reload panicked mid-swap; the Arc inside is whole.
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Content hash of the policy in force.
    pub fn hash(&self) -> Arc<str> {
        self.current().hash.clone()
    }

    /// Where the policy in force came from.
    pub fn origin(&self) -> String {
        self.current().compiled.origin().to_owned()
    }

    /// Decides one call. Never fails: anything but a well-formed answer is a denial.
    pub fn decide(&self, input: &DecisionInput<'_>) -> Verdict {
        let current = self.current();
        if current.compiled.split().is_none() {
            return self.decide_value(input.to_value());
        }
        let call = current.call_part(input);
        let findings = decode_findings(current.compiled.eval(
            Entry::ArgumentCheck,
            input.with_arguments(call.input.clone()),
        ));
        let decision = match findings {
            Ok(f) => combine(call.decision.clone(), f),
            Err(reason) => Decision::deny(reason),
        };
        Verdict {
            decision,
            policy_hash: current.hash.clone(),
        }
    }

    /// [`Policy::decide`] for an input document given as JSON (`cordon policy eval`).
    pub fn decide_json(&self, input: &serde_json::Value) -> Verdict {
        self.decide_value(input::json_value(input))
    }

    fn decide_value(&self, input: regorus::Value) -> Verdict {
        let current = self.current();
        let decision = decode(current.compiled.eval(Entry::Decision, input), DECISION_RULE)
            .unwrap_or_else(Decision::deny);
        Verdict {
            decision,
            policy_hash: current.hash.clone(),
        }
    }

    /// Decides whether a tool may be added. Anything but a well-formed answer refuses it.
    pub fn admit(&self, input: &AdmissionInput<'_>) -> Admission {
        match serde_json::to_value(input) {
            Ok(json) => self.admit_json(&json),
            Err(e) => Admission {
                allow: false,
                reasons: vec![format!("cannot build the admission input: {e}")],
            },
        }
    }

    /// [`Policy::admit`] for an input document given as JSON.
    pub fn admit_json(&self, input: &serde_json::Value) -> Admission {
        let current = self.current();
        decode(
            current
                .compiled
                .eval(Entry::Admission, input::json_value(input)),
            ADMISSION_RULE,
        )
        .unwrap_or_else(|reason| Admission {
            allow: false,
            reasons: vec![reason],
        })
    }

    /// Reads the policy directory again if its files changed, and swaps in the new program
    /// only if it compiles. A policy from [`Policy::embedded`] never changes.
    pub fn reload_if_changed(&self) -> Reload {
        let Some(dir) = &self.dir else {
            return Reload::Unchanged;
        };
        let now = source::fingerprint(dir);
        {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *seen == now {
                return Reload::Unchanged;
            }
            *seen = now;
        }
        let compiled = PolicySource::read_dir(dir).and_then(|s| {
            if *s.hash() == *self.hash() {
                return Ok(None);
            }
            CompiledPolicy::compile(&s).map(Some)
        });
        match compiled {
            Ok(None) => Reload::Unchanged,
            Ok(Some(compiled)) => {
                let next = Arc::new(Current::new(compiled));
                let hash = next.hash.to_string();
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
                tracing::info!(policy = %hash, dir = %dir.display(), "policy reloaded");
                Reload::Reloaded(hash)
            }
            Err(e) => {
                tracing::error!(error = %e, "policy change rejected; the previous policy stays in force");
                if let Some(hook) = self.on_rejected.get() {
                    hook(&e.to_string());
                }
                Reload::Rejected(e.to_string())
            }
        }
    }

    /// Calls `hook` with the message of every rejected change from now on (set once).
    pub fn on_rejected(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        let _ = self.on_rejected.set(Box::new(hook));
    }

    /// Polls the policy directory every `every` on a background thread and reloads on
    /// change. The thread ends when the policy is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        if self.dir.is_none() {
            return;
        }
        let weak: Weak<Policy> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("cordon-policy-watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    match weak.upgrade() {
                        Some(policy) => {
                            policy.reload_if_changed();
                        }
                        None => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the policy watcher; policy changes need a restart");
        }
    }
}

impl Current {
    fn new(compiled: CompiledPolicy) -> Current {
        let hash = Arc::from(compiled.hash());
        let kept = match compiled.split().map(compiled::Split::unrepeatable) {
            Some(None) => Some(KeptCalls::default()),
            Some(Some(why)) => {
                tracing::warn!(policy = %hash, "{why}: it is evaluated on every call");
                None
            }
            None => None,
        };
        Current {
            compiled,
            hash,
            kept,
        }
    }

    /// `data.cordon.call`'s answer for `input`: the kept one, or evaluated now (and kept).
    fn call_part(&self, input: &DecisionInput<'_>) -> Arc<CallPart> {
        let Some(kept) = &self.kept else {
            return Arc::new(self.eval_call_part(input));
        };
        let key = input.call_key(self.host_paths());
        if let Some(part) = kept
            .by_input
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key.as_slice())
        {
            return part.clone();
        }
        let part = Arc::new(self.eval_call_part(input));
        let mut by_input = kept
            .by_input
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if by_input.len() >= MAX_KEPT_CALLS {
            by_input.clear();
        }
        by_input.insert(key.into_boxed_slice(), part.clone());
        part
    }

    /// Whether the split policy's parts are given the directories' host paths.
    fn host_paths(&self) -> bool {
        self.compiled
            .split()
            .is_some_and(compiled::Split::host_paths)
    }

    fn eval_call_part(&self, input: &DecisionInput<'_>) -> CallPart {
        let value = input.call_value(self.host_paths());
        let decision = decode(self.compiled.eval(Entry::Call, value.clone()), CALL_RULE)
            .unwrap_or_else(Decision::deny);
        CallPart {
            input: value,
            decision,
        }
    }
}

/// The decision of a split policy, exactly as the default policy's `decision` rule puts it
/// together: allowed only if `call` allows and the arguments add nothing against it; reasons
/// merged, sorted and without repeats; the call's violations first.
fn combine(mut decision: Decision, findings: Findings) -> Decision {
    if findings.reasons.is_empty() && findings.violations.is_empty() {
        return decision;
    }
    decision.allow = false;
    decision.reasons.extend(findings.reasons);
    decision.reasons.sort_unstable();
    decision.reasons.dedup();
    decision.violations.extend(findings.violations);
    decision
}

/// [`decode`] for `argument_check`, which on almost every call answers that the arguments
/// add nothing: that answer is recognised without the JSON round trip.
fn decode_findings(result: Result<regorus::Value, String>) -> Result<Findings, String> {
    let nothing = |(k, v): (&regorus::Value, &regorus::Value)| {
        let named =
            matches!(k, regorus::Value::String(s) if &**s == "reasons" || &**s == "violations");
        let empty = match v {
            regorus::Value::Array(a) => a.is_empty(),
            regorus::Value::Set(s) => s.is_empty(),
            _ => false,
        };
        named && empty
    };
    if let Ok(regorus::Value::Object(fields)) = &result
        && fields.iter().all(nothing)
    {
        return Ok(Findings::default());
    }
    decode(result, ARGUMENT_CHECK_RULE)
}

/// Turns an RVM result into `T`, or a one-line reason why it is not usable.
fn decode<T: for<'de> Deserialize<'de>>(
    result: Result<regorus::Value, String>,
    rule: &str,
) -> Result<T, String> {
    let value = result.map_err(|e| format!("policy evaluation of {rule} failed: {e}"))?;
    if value == regorus::Value::Undefined {
        return Err(format!("policy defines no {rule}"));
    }
    let json = serde_json::to_value(&value)
        .map_err(|e| format!("policy answer for {rule} is not JSON: {e}"))?;
    serde_json::from_value(json).map_err(|e| format!("policy answer for {rule} is malformed: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The shipped policy takes the fast path: its decision is split, and the part without
    /// arguments is kept (a rule added to `call` that reads the clock would silently lose that).
    #[test]
    fn the_shipped_policy_keeps_its_call_answers() {
        let current = Policy::embedded().unwrap().current();
        assert!(current.compiled.split().is_some());
        assert!(current.kept.is_some());
    }
}
