//! The decision and the record around every call.
//!
//! - `policy/decide`: the default policy through the whole decision path as a call takes
//!   it: input built from the principal, the `fs` tool's manifest (prepared once, as the
//!   host does), the arguments and the call's grants and limits; run on the RVM; the answer
//!   decoded into a `Decision`. The steady state: the same caller calling the same tool
//!   again, so the part of the decision without arguments is the kept one and only the
//!   argument rules run. Target: p50 under 10 µs.
//! - `policy/decide-absolute-path`: the same, with a path argument that the path rules must
//!   look at (absolute, inside the grant).
//! - `policy/decide-new-caller`: a caller never seen before on every call, so the whole
//!   policy runs (both parts, nothing kept): what a first call costs.
//! - `audit/append+commit`: records appended and committed (hash-chained, batched SQLite
//!   transactions), amortised per record. Target: under 10 µs at 10,000 records/s.
//!   Compared in the same run with `audit/append+commit-one-per-transaction`: the same log
//!   committing each record on its own.
//!
//! Besides criterion's estimates, each prints percentiles from individually timed runs
//! (`p50`/`p99` lines) and a paced audit run at 10,000 records/s; BENCHMARKS.md records both.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use cordon_audit::{AuditConfig, AuditLog, AuditRecord};
use cordon_core::{DirMode, Grants, Limits, Principal};
use cordon_policy::{DecisionInput, Policy, PolicyValue, RequestInput, ToolInput};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    eprintln!(
        "{name}: p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  ({} runs)",
        at(0.50),
        at(0.90),
        at(0.99),
        samples.len()
    );
}

fn policy(c: &mut Criterion) {
    let policy = Policy::embedded().unwrap();
    let principal = Principal::new("acme", "alice", ["developer"]);
    let grants = Grants::builder()
        .dir("/srv/ws", "/ws", DirMode::ReadWrite)
        .scratch("/tmp")
        .build();
    let limits = Limits::default();
    let args = json!({"path": "reports/q3.txt", "contents": "hello", "append": null});
    let manifest_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../components/fs/tool.toml");
    let manifest = cordon_wasm::Manifest::load(std::path::Path::new(manifest_path)).unwrap();
    let manifest = PolicyValue::from_json(&serde_json::to_value(&manifest).unwrap());
    // `principal` writing a file with `fs`, with `args`, as a catalog call is decided.
    let write = |principal: &Principal, args: &serde_json::Value| {
        policy.decide(&DecisionInput {
            principal,
            tool: ToolInput {
                name: "fs",
                function: "files#write-file",
                registered: true,
                manifest: Some(&manifest),
                command: None,
            },
            arguments: args,
            request: RequestInput::new(&grants, &limits),
        })
    };
    let decide = || write(&principal, &args);
    assert!(decide().decision.allow);
    c.bench_function("policy/decide", |b| b.iter(|| black_box(decide())));
    percentiles("policy/decide", timed(decide));

    let absolute = json!({"path": "/ws/reports/q3.txt", "contents": "hello", "append": null});
    let decide_absolute = || write(&principal, &absolute);
    assert!(decide_absolute().decision.allow);
    c.bench_function("policy/decide-absolute-path", |b| {
        b.iter(|| black_box(decide_absolute()))
    });
    percentiles("policy/decide-absolute-path", timed(decide_absolute));

    // More callers than the policy keeps answers for, taken in turn: every call is a first.
    let callers: Vec<Principal> = (0..20_000)
        .map(|i| Principal::new("acme", format!("caller-{i}"), ["developer"]))
        .collect();
    let next = std::cell::Cell::new(0usize);
    let decide_new_caller = || {
        let i = next.get();
        next.set((i + 1) % callers.len());
        write(&callers[i], &args)
    };
    assert!(decide_new_caller().decision.allow);
    c.bench_function("policy/decide-new-caller", |b| {
        b.iter(|| black_box(decide_new_caller()))
    });
    percentiles("policy/decide-new-caller", timed(decide_new_caller));
}

/// 20,000 individually timed runs of `f`.
fn timed<T>(f: impl Fn() -> T) -> Vec<Duration> {
    (0..20_000)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect()
}

fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time_ms: cordon_audit::now_ms(),
        request_id: format!("req_{i:032x}"),
        trace_id: format!("{i:032x}"),
        tenant: "acme".into(),
        subject: "alice".into(),
        tool: "fs".into(),
        function: "files#write-file".into(),
        args_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        arguments: None,
        allowed: true,
        reasons: vec![],
        policy_hash: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into(),
        backend: "wasm".into(),
        outcome: "ok".into(),
        violations: vec![],
        wall_time_us: 15,
        fuel_used: 1234,
        peak_memory_bytes: 65536,
        output_bytes: 12,
        grants: None,
        limits: None,
    }
}

fn audit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(&dir.path().join("audit.db"), AuditConfig::default()).unwrap();
    let mut i = 0;
    c.bench_function("audit/append+commit", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                i += 1;
                log.append(record(i));
            }
            log.flush().unwrap();
            t.elapsed()
        })
    });

    // The comparison point: the same log committing every record in a transaction of its
    // own, as a call path that wrote its record before answering would.
    let unbatched = AuditLog::open(
        &dir.path().join("unbatched.db"),
        AuditConfig {
            batch_max: 1,
            linger: Duration::ZERO,
            ..AuditConfig::default()
        },
    )
    .unwrap();
    c.bench_function("audit/append+commit-one-per-transaction", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                i += 1;
                unbatched.append(record(i));
            }
            unbatched.flush().unwrap();
            t.elapsed()
        })
    });

    // Paced: 10,000 records at 10,000/s, as calls would arrive; each append is timed on
    // the caller's side, then the time until the last one is committed.
    let paced = AuditLog::open(&dir.path().join("paced.db"), AuditConfig::default()).unwrap();
    let start = Instant::now();
    let mut samples = Vec::with_capacity(10_000);
    for n in 0..10_000u64 {
        let due = start + Duration::from_micros(100 * n);
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        let t = Instant::now();
        paced.append(record(n));
        samples.push(t.elapsed());
    }
    let sent = start.elapsed();
    let t = Instant::now();
    paced.flush().unwrap();
    eprintln!(
        "audit/paced-10k-per-s: 10,000 records sent in {sent:.2?}, all committed {:.2?} after the last",
        t.elapsed()
    );
    percentiles("audit/append (caller side, paced)", samples);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = policy, audit
}
criterion_main!(benches);
