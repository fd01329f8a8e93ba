//! The decision input built from a caller's principal and arguments, evaluated by the
//! shipped policy. Whatever the arguments, the decision comes back (never a panic), the
//! same twice, the same as the policy's whole `data.cordon.decision` gives (the host
//! evaluates it in two parts and keeps one), and a path-named argument that climbs out with
//! `..` or names `/etc` is never allowed.
#![no_main]

use cordon_core::{Grants, Limits, Principal};
use cordon_policy::{DecisionInput, Policy, RequestInput, ToolInput};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static POLICY: LazyLock<Policy> = LazyLock::new(|| Policy::embedded().expect("the shipped policy"));

const ROLES: [&str; 4] = ["guest", "developer", "admin", "auditor"];
const TOOLS: [&str; 4] = ["fs", "text-analysis", "python", "hostile"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let Ok(arguments) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let principal = Principal {
        tenant: "acme".into(),
        subject: "fuzz".into(),
        roles: vec![ROLES[usize::from(pick & 3)].into()],
    };
    let tool = TOOLS[usize::from((pick >> 2) & 3)];
    let input = DecisionInput {
        principal: &principal,
        tool: ToolInput {
            name: tool,
            function: "read-file",
            registered: pick & 0x10 != 0,
            manifest: None,
            command: None,
        },
        arguments: &arguments,
        request: RequestInput::new(&Grants::default(), &Limits::default()),
    };
    let first = POLICY.decide(&input).decision;
    let second = POLICY.decide(&input).decision;
    assert_eq!(first, second, "the same input decided twice differently");
    let document = serde_json::to_value(&input).expect("the input is JSON");
    let whole = POLICY.decide_json(&document).decision;
    assert_eq!(first, whole, "the two-part decision differs from data.cordon.decision");
    if let Some(path) = arguments.get("path").and_then(|p| p.as_str())
        && (path.starts_with("/etc") || path.split('/').next() == Some(".."))
    {
        assert!(!first.allow, "allowed a call with path {path:?}");
    }
});
