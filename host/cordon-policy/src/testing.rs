//! `cordon policy test`: every `test_*` rule, run as `opa test` runs them.

use crate::{PolicyError, PolicySource};
use regorus::{Engine, Value};
use serde::Serialize;
use std::time::{Duration, Instant};

/// How one test rule ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "outcome", content = "message")]
pub enum TestOutcome {
    /// The rule evaluated to `true`.
    Pass,
    /// The rule was undefined or not `true`.
    Fail,
    /// Evaluating the rule raised an error.
    Error(String),
}

/// One test rule's result.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// The package, e.g. `cordon_test`.
    pub package: String,
    /// The rule, e.g. `test_guest_may_read`.
    pub name: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: TestOutcome,
    /// How long it took.
    #[serde(skip)]
    pub duration: Duration,
}

/// Runs every rule whose name starts with `test_` in every module of `source` (with the
/// interpreter, which supports `with`, as tests need), optionally only those whose
/// `package.name` contains `filter`.
///
/// # Errors
///
/// [`PolicyError::Compile`] when a module does not parse or a data document is invalid.
pub fn run_tests(
    source: &PolicySource,
    filter: Option<&str>,
) -> Result<Vec<TestResult>, PolicyError> {
    let err = |what: &str, e: &dyn std::fmt::Display| PolicyError::Compile {
        origin: source.origin.clone(),
        message: format!("{what}: {e}"),
    };
    // Compiling first gives the same errors a load would, data merging included.
    crate::CompiledPolicy::compile(source)?;
    let mut engine = Engine::new();
    let mut tests = Vec::new();
    for f in source.files.iter() {
        if f.is_rego() {
            let package = engine
                .add_policy(f.name.clone(), f.text.clone())
                .map_err(|e| err(&f.name, &e))?;
            let package = package.trim_start_matches("data.").to_owned();
            for name in test_rules(&f.text) {
                tests.push((package.clone(), name));
            }
        } else {
            let doc = Value::from_json_str(&f.text).map_err(|e| err(&f.name, &e))?;
            engine.add_data(doc).map_err(|e| err(&f.name, &e))?;
        }
    }
    tests.dedup();
    let mut results = Vec::new();
    for (package, name) in tests {
        let full = format!("{package}.{name}");
        if filter.is_some_and(|f| !full.contains(f)) {
            continue;
        }
        let started = Instant::now();
        let outcome = match engine.eval_rule(format!("data.{full}")) {
            Ok(Value::Bool(true)) => TestOutcome::Pass,
            Ok(_) => TestOutcome::Fail,
            Err(e) => TestOutcome::Error(e.to_string()),
        };
        results.push(TestResult {
            package,
            name,
            outcome,
            duration: started.elapsed(),
        });
    }
    Ok(results)
}

/// Names of rules defined at the start of a line as `test_...` (how `opa fmt` writes rule
/// heads), in order, each once.
fn test_rules(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        if !line.starts_with("test_") {
            continue;
        }
        let name: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_rules_at_line_start_once() {
        let text = "package p\ntest_a if true\ntest_a if false\n  test_b if true\ntest_c := true\nnot_test_d if true\n";
        assert_eq!(test_rules(text), ["test_a", "test_c"]);
    }
}
