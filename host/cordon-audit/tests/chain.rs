//! The chain verifies after honest writes, from several writers and after pruning, and
//! names the first record a tamperer altered, removed or reordered.

use cordon_audit::{AuditConfig, AuditError, AuditLog, AuditReader, AuditRecord, Query};
use rusqlite::Connection;
use std::path::Path;

fn record(i: u64, tenant: &str, outcome: &str, time_ms: u64) -> AuditRecord {
    AuditRecord {
        time_ms,
        request_id: format!("req_{i}"),
        trace_id: format!("trace_{i}"),
        tenant: tenant.into(),
        subject: "alice".into(),
        tool: if i.is_multiple_of(2) {
            "fs"
        } else {
            "text-analysis"
        }
        .into(),
        function: "f".into(),
        args_digest: "00".into(),
        arguments: None,
        allowed: outcome != "policy_denied",
        reasons: if outcome == "policy_denied" {
            vec!["no".into()]
        } else {
            vec![]
        },
        policy_hash: "p".into(),
        backend: "wasm".into(),
        outcome: outcome.into(),
        violations: vec![],
        wall_time_us: i,
        fuel_used: i * 10,
        peak_memory_bytes: 65536,
        output_bytes: 3,
        grants: None,
        limits: None,
    }
}

fn write(path: &Path, n: u64) {
    let log = AuditLog::open(path, AuditConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let now = cordon_audit::now_ms();
    for i in 1..=n {
        let outcome = if i.is_multiple_of(3) {
            "policy_denied"
        } else {
            "ok"
        };
        log.append(record(
            i,
            if i.is_multiple_of(5) { "beta" } else { "acme" },
            outcome,
            now,
        ));
    }
}

fn reader(path: &Path) -> AuditReader {
    AuditReader::open(path).unwrap_or_else(|e| panic!("{e}"))
}

fn sql(path: &Path, statement: &str) {
    Connection::open(path)
        .and_then(|c| c.execute_batch(statement))
        .unwrap_or_else(|e| panic!("{e}"));
}

fn broken_at(path: &Path) -> (u64, String) {
    match reader(path).verify() {
        Err(AuditError::Corrupt { seq, problem }) => (seq, problem),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn honest_writes_verify_and_dropping_the_log_commits_everything() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.db");
    write(&path, 1000);
    let v = reader(&path).verify().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (v.records, v.first_seq, v.last_seq),
        (1000, Some(1), Some(1000))
    );
}

#[test]
fn queries_filter_by_tenant_tool_outcome_and_take_the_newest() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.db");
    write(&path, 30);
    let r = reader(&path);
    let q = |q: Query| r.query(&q).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        q(Query {
            tenant: Some("beta".into()),
            ..Query::default()
        })
        .len(),
        6
    );
    let denied = q(Query {
        outcome: Some("policy_denied".into()),
        tool: Some("fs".into()),
        ..Query::default()
    });
    assert!(
        denied
            .iter()
            .all(|s| s.record.outcome == "policy_denied" && s.record.tool == "fs")
    );
    assert_eq!(denied.len(), 5);
    let last = q(Query {
        limit: Some(3),
        ..Query::default()
    });
    assert_eq!(last.iter().map(|s| s.seq).collect::<Vec<_>>(), [28, 29, 30]);
    assert_eq!(
        q(Query {
            after_seq: Some(25),
            ..Query::default()
        })
        .len(),
        5
    );
    assert!(
        q(Query {
            since_ms: Some(cordon_audit::now_ms() + 60_000),
            ..Query::default()
        })
        .is_empty()
    );
}

#[test]
fn an_altered_record_is_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.db");
    write(&path, 100);
    sql(
        &path,
        "UPDATE audit SET body = replace(body, '\"allowed\":false', '\"allowed\":true') WHERE seq = 42",
    );
    let (seq, problem) = broken_at(&path);
    assert_eq!(seq, 42);
    assert!(problem.contains("altered"), "{problem}");
}

#[test]
fn an_altered_indexed_column_is_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.db");
    write(&path, 50);
    sql(
        &path,
        "UPDATE audit SET tenant = 'someone-else' WHERE seq = 7",
    );
    assert_eq!(broken_at(&path).0, 7);
}

#[test]
fn a_removed_record_is_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.db");
    write(&path, 100);
    sql(&path, "DELETE FROM audit WHERE seq = 60");
    let (seq, problem) = broken_at(&path);
    assert_eq!(seq, 60);
    assert!(problem.contains("missing"), "{problem}");
}

#[test]
fn a_removed_and_renumbered_record_is_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.db");
    write(&path, 20);
    // Hide the gap: delete 10 and shift everything after it down by one.
    sql(
        &path,
        "DELETE FROM audit WHERE seq = 10; UPDATE audit SET seq = seq - 1 WHERE seq > 10;",
    );
    assert_eq!(broken_at(&path).0, 10);
}

#[test]
fn reordered_records_are_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.db");
    write(&path, 20);
    // Swap records 5 and 6 wholesale (content and hashes), keeping the seq column in order.
    sql(
        &path,
        "UPDATE audit SET seq = -5 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = 6; UPDATE audit SET seq = 6 WHERE seq = -5;",
    );
    let (seq, problem) = broken_at(&path);
    assert_eq!(seq, 5);
    assert!(problem.contains("does not follow"), "{problem}");
}

#[test]
fn pruning_keeps_the_rest_verifiable_and_new_records_chain_on() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.db");
    {
        let log = AuditLog::open(
            &path,
            AuditConfig {
                retention: None,
                ..AuditConfig::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for i in 1..=10 {
            log.append(record(i, "acme", "ok", 1_000 + i));
        }
        for i in 11..=20 {
            log.append(record(i, "acme", "ok", cordon_audit::now_ms()));
        }
    }
    // Opening with the default 7-day retention prunes the ten ancient records.
    write(&path, 5);
    let v = reader(&path).verify().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (v.records, v.first_seq, v.last_seq),
        (15, Some(11), Some(25))
    );
}

#[test]
fn two_writers_on_one_file_build_one_chain() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.db");
    let a = std::thread::spawn({
        let p = path.clone();
        move || write(&p, 500)
    });
    let b = std::thread::spawn({
        let p = path.clone();
        move || write(&p, 500)
    });
    let _ = a.join();
    let _ = b.join();
    assert_eq!(
        reader(&path)
            .verify()
            .unwrap_or_else(|e| panic!("{e}"))
            .records,
        1000
    );
}
