//! The shipped policy through the real decision path (RVM), its tests, reloads, and
//! default-deny when a policy answers badly.

use cordon_core::{Backend, DirMode, EscapeKind, Grants, HostRule, Limits, Principal};
use cordon_policy::{
    AdmissionInput, AdmissionTool, DecisionInput, Policy, PolicySource, Reload, RequestInput,
    TestOutcome, ToolInput, run_tests,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

fn grants() -> Grants {
    Grants::builder()
        .dir("/srv/ws", "/ws", DirMode::ReadWrite)
        .env("LANG", "C")
        .scratch("/tmp")
        .host(parse_rule("https://api.example.com"))
        .build()
}

fn parse_rule(s: &str) -> HostRule {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// The input for calling `fs`'s `function` with `args` and the standard grants.
fn input<'a>(principal: &'a Principal, function: &'a str, args: &'a Value) -> DecisionInput<'a> {
    input_for(principal, "fs", function, args)
}

/// The input for calling `tool`'s `function` with `args` and the standard grants.
fn input_for<'a>(
    principal: &'a Principal,
    tool: &'a str,
    function: &'a str,
    args: &'a Value,
) -> DecisionInput<'a> {
    DecisionInput {
        principal,
        tool: ToolInput {
            name: tool,
            function,
            registered: true,
            manifest: None,
            command: None,
        },
        arguments: args,
        request: RequestInput::new(&grants(), &Limits::default()),
    }
}

fn decide(policy: &Policy, roles: &[&str], function: &str, args: Value) -> cordon_core::Decision {
    let principal = Principal::new("acme", "alice", roles.iter().copied());
    policy.decide(&input(&principal, function, &args)).decision
}

fn load(dir: &Path) -> Policy {
    Policy::load_dir(dir).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn shipped_policy_tests_all_pass() {
    let source = PolicySource::read_dir(&shipped_dir()).unwrap_or_else(|e| panic!("{e}"));
    let results = run_tests(&source, None).unwrap_or_else(|e| panic!("{e}"));
    assert!(results.len() >= 30, "only {} tests found", results.len());
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.outcome != TestOutcome::Pass)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn embedded_policy_is_the_shipped_policy() {
    let embedded = Policy::embedded().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(embedded.hash(), load(&shipped_dir()).hash());
}

#[test]
fn guest_write_is_denied_with_the_reason_developer_write_allowed() {
    let policy = load(&shipped_dir());
    let args = json!({"path": "out.txt", "contents": "x"});
    let d = decide(&policy, &["guest"], "files#write-file", args.clone());
    assert!(!d.allow);
    assert_eq!(
        d.reasons,
        [
            r#"role ["guest"] has no "write" permission on tool "fs", which function "files#write-file" needs"#
        ]
    );
    let d = decide(&policy, &["developer"], "files#write-file", args);
    assert!(d.allow, "{:?}", d.reasons);
    assert_eq!(d.grants.dirs[0].mode, DirMode::ReadWrite);
    assert_eq!(d.grants.env, ["LANG"]);
    assert_eq!(d.grants.hosts, ["https://api.example.com:443"]);
    assert!(d.grants.scratch);
    assert_eq!(d.backend, Backend::Wasm);
    // The tenant ceiling (30 s for unknown tenants) lowers nothing below the request (10 s).
    assert_eq!(d.limits.timeout_ms, Some(10_000));
}

#[test]
fn path_rules_give_violations_of_each_kind() {
    let policy = load(&shipped_dir());
    for (path, kind) in [
        ("../secret", EscapeKind::PathTraversal),
        ("/etc/passwd", EscapeKind::SensitivePath),
        ("/proc/self/environ", EscapeKind::SensitivePath),
        ("/srv/ws/x", EscapeKind::AbsolutePath),
    ] {
        let d = decide(
            &policy,
            &["admin"],
            "files#read-file",
            json!({ "path": path }),
        );
        assert!(!d.allow, "{path}");
        assert_eq!(d.violations.len(), 1, "{path}: {:?}", d.violations);
        assert_eq!(d.violations[0].kind, kind, "{path}");
        assert_eq!(d.violations[0].path, path);
    }
    let d = decide(
        &policy,
        &["admin"],
        "files#read-file",
        json!({"path": "/ws/a"}),
    );
    assert!(d.allow, "{:?}", d.reasons);
}

/// The RVM (which decides calls) and the interpreter (which runs `cordon policy test`)
/// must agree, or the tests would be testing a different engine than production.
#[test]
fn rvm_and_interpreter_agree_on_the_shipped_policy() {
    let policy = load(&shipped_dir());
    let source = PolicySource::read_dir(&shipped_dir()).unwrap_or_else(|e| panic!("{e}"));
    let mut engine = regorus::Engine::new();
    for f in source.files.iter().filter(|f| !f.is_test()) {
        if f.is_rego() {
            engine
                .add_policy(f.name.clone(), f.text.clone())
                .unwrap_or_else(|e| panic!("{e}"));
        } else {
            engine
                .add_data(regorus::Value::from_json_str(&f.text).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let cases = [
        (vec!["guest"], "files#read-file", json!({"path": "a"})),
        (
            vec!["guest"],
            "files#write-file",
            json!({"path": "a", "contents": ""}),
        ),
        (
            vec!["developer"],
            "files#write-file",
            json!({"path": "/ws/a", "contents": ""}),
        ),
        (
            vec!["admin"],
            "files#read-file",
            json!({"path": "../../etc/shadow"}),
        ),
        (
            vec!["admin", "guest"],
            "files#search",
            json!({"root_dir": "/proc"}),
        ),
        (vec!["nobody"], "files#stat", json!({"path": "~/x"})),
        (vec![], "files#stat", json!({})),
        // A tool with limit ceilings of its own (policy data `tools.python.limits`).
        (vec!["developer"], "run", json!({"code": "print(1)"})),
    ];
    for (roles, function, args) in cases {
        let principal = Principal::new("acme", "alice", roles.iter().copied());
        let tool = if function == "run" { "python" } else { "fs" };
        let input = input_for(&principal, tool, function, &args);
        let rvm = policy.decide(&input).decision;
        engine.set_input(
            regorus::Value::from_json_str(&serde_json::to_string(&input).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let interpreted = engine
            .eval_rule("data.cordon.decision".into())
            .unwrap_or_else(|e| panic!("{e}"));
        let interpreted: cordon_core::Decision =
            serde_json::from_value(serde_json::to_value(&interpreted).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rvm, interpreted, "{roles:?} {function} {args}");
    }
}

#[test]
fn admission_refuses_sockets_and_blocked_commands() {
    let policy = load(&shipped_dir());
    let a = policy.admit(&AdmissionInput {
        tool: AdmissionTool {
            name: "net",
            command: Some("curl"),
            manifest: None,
        },
        imports: vec!["wasi:sockets/tcp@0.2.12".into()],
        component: Default::default(),
    });
    assert!(!a.allow);
    assert_eq!(a.reasons.len(), 2, "{:?}", a.reasons);
    assert!(
        a.reasons
            .contains(&r#"Blocked tool "curl" in tool "net""#.to_owned())
    );
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"));
}

const MINIMAL: &str = r#"package cordon
import rego.v1
default allow := false
allow if input.principal.subject == data.who
decision := {"allow": allow, "reasons": [r | not allow; r := "not you"]}
admission := {"allow": true}
"#;

#[test]
fn a_changed_policy_is_picked_up_and_a_broken_one_rejected() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "p.rego", MINIMAL);
    write(dir.path(), "data.json", r#"{"who": "alice"}"#);
    let policy = load(dir.path());
    let first = policy.hash();
    assert!(decide(&policy, &[], "f", json!({})).allow);
    assert_eq!(policy.reload_if_changed(), Reload::Unchanged);

    write(dir.path(), "data.json", r#"{"who": "bob"}"#);
    assert!(matches!(policy.reload_if_changed(), Reload::Reloaded(_)));
    assert_ne!(policy.hash(), first);
    let d = decide(&policy, &[], "f", json!({}));
    assert!(!d.allow);
    assert_eq!(d.reasons, ["not you"]);

    // A syntax error: rejected with the file named; the previous policy stays in force.
    let in_force = policy.hash();
    write(dir.path(), "p.rego", "package cordon\nallow if {");
    match policy.reload_if_changed() {
        Reload::Rejected(e) => assert!(e.contains("p.rego"), "{e}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(policy.hash(), in_force);
    assert_eq!(decide(&policy, &[], "f", json!({})).reasons, ["not you"]);
}

#[test]
fn the_watcher_reloads_without_being_asked() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "p.rego", MINIMAL);
    write(dir.path(), "data.json", r#"{"who": "alice"}"#);
    let policy = std::sync::Arc::new(load(dir.path()));
    policy.watch(Duration::from_millis(20));
    write(dir.path(), "data.json", r#"{"who": "carol"}"#);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while decide(&policy, &[], "f", json!({})).allow {
        assert!(
            std::time::Instant::now() < deadline,
            "policy change not picked up in 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn malformed_or_missing_answers_are_denials() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (text, expect) in [
        (
            "package cordon\nimport rego.v1\ndecision := {\"allow\": \"yes\"}\nadmission := {\"allow\": true}\n",
            "malformed",
        ),
        (
            "package cordon\nimport rego.v1\ndecision := {\"allow\": true} if input.never\nadmission := {\"allow\": true}\n",
            "defines no data.cordon.decision",
        ),
        (
            "package cordon\nimport rego.v1\ndecision := {\"allow\": true, \"surprise\": 1}\nadmission := {\"allow\": true}\n",
            "malformed",
        ),
    ] {
        write(dir.path(), "p.rego", text);
        let policy = load(dir.path());
        let d = decide(&policy, &["admin"], "f", json!({}));
        assert!(!d.allow, "{text}");
        assert!(d.reasons[0].contains(expect), "{:?}", d.reasons);
    }
}

#[test]
fn a_failing_test_fails_and_a_broken_module_is_an_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "p.rego", MINIMAL);
    write(dir.path(), "data.json", r#"{"who": "alice"}"#);
    write(
        dir.path(),
        "p_test.rego",
        "package p_test\nimport rego.v1\nimport data.cordon\ntest_alice if cordon.allow with input as {\"principal\": {\"subject\": \"alice\"}}\ntest_bob if cordon.allow with input as {\"principal\": {\"subject\": \"bob\"}}\n",
    );
    let source = PolicySource::read_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let results = run_tests(&source, None).unwrap_or_else(|e| panic!("{e}"));
    let outcomes: Vec<_> = results
        .iter()
        .map(|r| (r.name.as_str(), r.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("test_alice", TestOutcome::Pass),
            ("test_bob", TestOutcome::Fail)
        ]
    );
    write(dir.path(), "p_test.rego", "package p_test\ntest_x if {");
    let source = PolicySource::read_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(run_tests(&source, None).is_err());
}

/// A split policy whose `call` answer names its whole input, so two inputs that share a kept
/// answer would show it.
const ECHO_SPLIT: &str = r#"package cordon
import rego.v1
call := {"allow": true, "reasons": [json.marshal(input)]}
argument_check := {"reasons": [r | some r in refusals]}
refusals contains "no" if input.arguments.no
decision := {"allow": false}
admission := {"allow": true}
"#;

/// Kept `call` answers are keyed by everything the part without arguments is given: a
/// principal, tool or request differing in any one field never gets another's answer.
#[test]
fn kept_call_answers_never_cross_inputs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "p.rego", ECHO_SPLIT);
    let warm = load(dir.path());
    let manifest = cordon_policy::PolicyValue::from_json(&json!({"name": "fs"}));
    let other_manifest =
        cordon_policy::PolicyValue::from_json(&json!({"name": "fs", "version": "2"}));
    let no_args = json!({});
    let alice = Principal::new("acme", "alice", ["developer"]);
    let principals = [
        alice.clone(),
        Principal::new("acme", "bob", ["developer"]),
        Principal::new("other", "alice", ["developer"]),
        Principal::new("acme", "alice", ["developer", "admin"]),
        Principal::new("acme", "alice", Vec::<String>::new()),
        // Boundaries move, the bytes do not: "ab"+"c" is not "a"+"bc".
        Principal::new("acmea", "lice", ["developer"]),
    ];
    let limits = Limits::default();
    let tight = Limits {
        fuel: 7,
        ..Limits::default()
    };
    // Each differs from `grants()`, which the first input has.
    let grants_variants = [
        Grants::default(),
        Grants::builder()
            .dir("/srv/ws", "/ws", DirMode::ReadOnly)
            .env("LANG", "C")
            .scratch("/tmp")
            .host(parse_rule("https://api.example.com"))
            .build(),
        Grants::builder().env("HOME", "/").build(),
        Grants::builder().scratch("/scratch").build(),
        Grants::builder()
            .host(parse_rule("http://api.example.com:8080"))
            .build(),
    ];
    let mut inputs = Vec::new();
    for p in &principals {
        inputs.push(DecisionInput {
            principal: p,
            tool: ToolInput {
                name: "fs",
                function: "read",
                registered: true,
                manifest: Some(&manifest),
                command: None,
            },
            arguments: &no_args,
            request: RequestInput::new(&grants(), &limits),
        });
    }
    let tools = [
        ("fs", "write", true, Some(&manifest), None),
        ("fs", "read", false, Some(&manifest), None),
        ("fs", "read", true, None, None),
        ("fs", "read", true, Some(&other_manifest), None),
        ("fs", "read", true, Some(&manifest), Some("python3")),
        ("fsx", "read", true, Some(&manifest), None),
    ];
    for (name, function, registered, manifest, command) in tools {
        inputs.push(DecisionInput {
            principal: &alice,
            tool: ToolInput {
                name,
                function,
                registered,
                manifest,
                command,
            },
            arguments: &no_args,
            request: RequestInput::new(&grants(), &limits),
        });
    }
    let tool = || ToolInput {
        name: "fs",
        function: "read",
        registered: true,
        manifest: Some(&manifest),
        command: None,
    };
    for g in &grants_variants {
        inputs.push(DecisionInput {
            principal: &alice,
            tool: tool(),
            arguments: &no_args,
            request: RequestInput::new(g, &limits),
        });
    }
    inputs.push(DecisionInput {
        principal: &alice,
        tool: tool(),
        arguments: &no_args,
        request: RequestInput::new(&grants(), &tight),
    });
    inputs.push(DecisionInput {
        principal: &alice,
        tool: tool(),
        arguments: &no_args,
        request: RequestInput::new(&grants(), &limits).with_backend("gvisor"),
    });
    // Twice over on one policy: the second round is served from kept answers.
    for round in 0..2 {
        for input in &inputs {
            let fresh = load(dir.path()).decide(input).decision;
            let kept = warm.decide(input).decision;
            assert_eq!(
                kept,
                fresh,
                "round {round}: {}",
                serde_json::to_string(input).unwrap_or_default()
            );
        }
    }
    let distinct: std::collections::BTreeSet<_> = inputs
        .iter()
        .map(|i| warm.decide(i).decision.reasons)
        .collect();
    assert_eq!(
        distinct.len(),
        inputs.len(),
        "every input is told apart by its answer"
    );
}

/// The arguments are checked on every call, kept `call` answer or not.
#[test]
fn arguments_are_checked_on_every_call() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "p.rego", ECHO_SPLIT);
    let policy = load(dir.path());
    let principal = Principal::new("acme", "alice", ["developer"]);
    for _ in 0..3 {
        let plain = json!({"no": false});
        assert!(
            policy
                .decide(&input(&principal, "f", &plain))
                .decision
                .allow
        );
        let refused = json!({"no": true});
        let d = policy.decide(&input(&principal, "f", &refused)).decision;
        assert!(!d.allow);
        assert!(d.reasons.contains(&"no".to_owned()), "{:?}", d.reasons);
    }
}

#[test]
fn a_call_part_that_reads_the_arguments_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "p.rego",
        &ECHO_SPLIT.replace(
            r#"call := {"allow": true, "reasons": [json.marshal(input)]}"#,
            r#"call := {"allow": true} if not input.arguments.danger"#,
        ),
    );
    let e = Policy::load_dir(dir.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("data.cordon.call") && e.contains("reads input.arguments"),
        "{e}"
    );
}

#[test]
fn one_part_without_the_other_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "p.rego",
        &ECHO_SPLIT.replace(
            r#"argument_check := {"reasons": [r | some r in refusals]}"#,
            "",
        ),
    );
    let e = Policy::load_dir(dir.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("data.cordon.argument_check is not"), "{e}");
}

/// A `call` whose answer changes between evaluations (the clock) is not kept.
#[test]
fn a_call_part_that_reads_the_clock_is_evaluated_every_time() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        dir.path(),
        "p.rego",
        &ECHO_SPLIT.replace(
            "[json.marshal(input)]",
            r#"[sprintf("%d", [time.now_ns()])]"#,
        ),
    );
    let policy = load(dir.path());
    let principal = Principal::new("acme", "alice", ["developer"]);
    let args = json!({});
    let first = policy.decide(&input(&principal, "f", &args)).decision;
    std::thread::sleep(Duration::from_millis(2));
    let second = policy.decide(&input(&principal, "f", &args)).decision;
    assert_ne!(first.reasons, second.reasons);
}

/// A fresh workspace's host path is new on every call. A policy that never names
/// `host_path` is not given it, so one kept answer serves every fresh workspace; a policy
/// that names it is given it, and its kept answers are told apart by it.
#[test]
fn host_paths_are_given_only_to_a_policy_that_names_them() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let principal = Principal::new("acme", "alice", ["developer"]);
    let args = json!({});
    let decide_in = |policy: &Policy, host: &str| {
        let grants = Grants::builder()
            .dir(host, "/ws", DirMode::ReadWrite)
            .build();
        policy
            .decide(&DecisionInput {
                principal: &principal,
                tool: ToolInput {
                    name: "fs",
                    function: "read",
                    registered: true,
                    manifest: None,
                    command: None,
                },
                arguments: &args,
                request: RequestInput::new(&grants, &Limits::default()),
            })
            .decision
    };

    write(dir.path(), "p.rego", ECHO_SPLIT);
    let blind = load(dir.path());
    let first = decide_in(&blind, "/srv/workspaces/w-1");
    assert!(!first.reasons[0].contains("w-1"), "{:?}", first.reasons);
    assert_eq!(decide_in(&blind, "/srv/workspaces/w-2"), first);

    write(
        dir.path(),
        "p.rego",
        r#"package cordon
import rego.v1
call := {"allow": allowed}
default allowed := false
allowed if not from_etc
from_etc if {
	some d in input.request.dirs
	startswith(d.host_path, "/etc")
}
argument_check := {}
decision := {"allow": false}
admission := {"allow": true}
"#,
    );
    let seeing = load(dir.path());
    assert!(decide_in(&seeing, "/srv/workspaces/w-1").allow);
    assert!(!decide_in(&seeing, "/etc/ssh").allow);
    assert!(decide_in(&seeing, "/srv/workspaces/w-2").allow);
    assert!(!decide_in(&seeing, "/etc/ssh").allow);
}
