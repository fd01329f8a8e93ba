//! `cordon policy test|eval`.

use crate::Settings;
use anyhow::{Context, Result};
use cordon_core::{CallError, ErrorCode};
use cordon_policy::{PolicySource, TestOutcome, run_tests};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Run every `test_*` rule in the policy directory (as `opa test` does). Exits 1 when
    /// any test fails or errors.
    Test {
        /// Policy directory (default: --policy-dir, else ./policies, else the built-in policy).
        dir: Option<PathBuf>,
        /// Only tests whose `package.rule` contains this.
        #[arg(long = "run", value_name = "FILTER")]
        filter: Option<String>,
        /// One JSON object per test instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate the policy on an input document and print the answer.
    Eval {
        /// The input document (JSON): what the host sends for a call (see docs/policy.md).
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Evaluate `data.cordon.admission` (a tool being added) instead of the decision.
        #[arg(long)]
        admission: bool,
    },
}

pub fn policy(settings: &Settings, cmd: PolicyCommand) -> Result<ExitCode> {
    match cmd {
        PolicyCommand::Test { dir, filter, json } => {
            let source = match dir.as_ref().or(settings.policy_dir.as_ref()) {
                Some(d) => PolicySource::read_dir(d),
                None => Ok(PolicySource::embedded()),
            }
            .map_err(|e| CallError::new(e.code(), e.to_string()))?;
            let results = run_tests(&source, filter.as_deref())
                .map_err(|e| CallError::new(e.code(), e.to_string()))?;
            let mut failed = 0;
            for r in &results {
                if r.outcome != TestOutcome::Pass {
                    failed += 1;
                }
                if json {
                    println!("{}", serde_json::to_string(r)?);
                    continue;
                }
                let (label, detail) = match &r.outcome {
                    TestOutcome::Pass => ("PASS", String::new()),
                    TestOutcome::Fail => ("FAIL", String::new()),
                    TestOutcome::Error(e) => ("ERROR", format!(": {e}")),
                };
                println!(
                    "{label:5} {}.{} ({:.1?}){detail}",
                    r.package, r.name, r.duration
                );
            }
            if !json {
                println!(
                    "{}: {} passed, {failed} failed ({})",
                    if failed == 0 { "PASS" } else { "FAIL" },
                    results.len() - failed,
                    source.origin
                );
            }
            if results.is_empty() {
                return Err(CallError::new(
                    ErrorCode::NotFound,
                    format!("no test_* rules in {}", source.origin),
                )
                .into());
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        PolicyCommand::Eval { input, admission } => {
            let text = std::fs::read_to_string(&input)
                .with_context(|| format!("cannot read {}", input.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                CallError::new(
                    ErrorCode::BadRequest,
                    format!("{} is not JSON: {e}", input.display()),
                )
            })?;
            let policy = settings.policy()?;
            let answer = if admission {
                serde_json::to_value(policy.admit_json(&value))?
            } else {
                let verdict = policy.decide_json(&value);
                let mut v = serde_json::to_value(&verdict.decision)?;
                v["policy_hash"] = serde_json::json!(verdict.policy_hash.as_ref());
                v
            };
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
