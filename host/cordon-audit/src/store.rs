//! The SQLite store: schema, batched chained appends, pruning, verification and queries.

use crate::AuditError;
use crate::record::{AuditRecord, GENESIS, StoredRecord, chain_hash};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq        INTEGER PRIMARY KEY,
    time_ms    INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    tool       TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    body       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time_ms);
CREATE INDEX IF NOT EXISTS audit_tenant_time ON audit (tenant, time_ms);
CREATE INDEX IF NOT EXISTS audit_request ON audit (request_id);
-- Where the chain starts after pruning: the last removed record's seq and hash.
CREATE TABLE IF NOT EXISTS audit_anchor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
";

/// Opens (creating if needed) the database at `path` in WAL mode.
pub(crate) fn open(path: &Path) -> Result<Connection, AuditError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| AuditError::Open {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    }
    let open_err = |e: rusqlite::Error| AuditError::Open {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let conn = Connection::open(path).map_err(open_err)?;
    // Several processes (a server and CLI runs) may append: writers queue on the lock
    // instead of failing, and each batch reads the chain's tail inside its transaction.
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(open_err)?;
    // Switching to WAL and creating the schema can report "locked" without waiting while
    // another process does the same; retry those for as long as the busy timeout.
    let started = std::time::Instant::now();
    loop {
        let init = conn
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| conn.execute_batch(SCHEMA));
        match init {
            Ok(()) => return Ok(conn),
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && started.elapsed() < Duration::from_secs(10) =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(open_err(e)),
        }
    }
}

/// Appends `records` in one transaction, each chained to the one before.
pub(crate) fn append(conn: &mut Connection, records: &[AuditRecord]) -> Result<(), AuditError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (mut seq, mut prev) = tail(&tx)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO audit (seq, time_ms, request_id, tenant, subject, tool, outcome, body, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for r in records {
            seq += 1;
            let body = serde_json::to_string(r).map_err(|e| AuditError::Corrupt {
                seq,
                problem: e.to_string(),
            })?;
            let hash = chain_hash(&prev, seq, &body);
            insert.execute(params![
                seq,
                r.time_ms,
                r.request_id,
                r.tenant,
                r.subject,
                r.tool,
                r.outcome,
                body,
                prev,
                hash
            ])?;
            prev = hash;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The last record's seq and hash, else the anchor's, else the genesis.
fn tail(conn: &Connection) -> Result<(u64, String), AuditError> {
    let last = conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, u64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?;
    match last {
        Some(t) => Ok(t),
        None => anchor(conn),
    }
}

fn anchor(conn: &Connection) -> Result<(u64, String), AuditError> {
    Ok(conn
        .query_row("SELECT seq, hash FROM audit_anchor WHERE id = 1", [], |r| {
            Ok((r.get::<_, u64>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?
        .unwrap_or_else(|| (0, GENESIS.to_owned())))
}

/// Removes the oldest records, those before `cutoff_ms`, as one prefix of the chain, and
/// moves the anchor to the last one removed so the rest still verifies. Returns how many
/// were removed.
pub(crate) fn prune(conn: &mut Connection, cutoff_ms: u64) -> Result<u64, AuditError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Records are chained in write order; times from concurrent writers interleave a
    // little, so the prefix ends at the newest record that is old enough.
    let last_old = tx
        .query_row(
            "SELECT seq FROM audit WHERE time_ms < ?1 ORDER BY seq DESC LIMIT 1",
            [cutoff_ms],
            |r| r.get::<_, u64>(0),
        )
        .optional()?;
    let Some(last_old) = last_old else {
        return Ok(0);
    };
    let hash: String = tx.query_row("SELECT hash FROM audit WHERE seq = ?1", [last_old], |r| {
        r.get(0)
    })?;
    let removed = tx.execute("DELETE FROM audit WHERE seq <= ?1", [last_old])?;
    tx.execute(
        "INSERT INTO audit_anchor (id, seq, hash) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        params![last_old, hash],
    )?;
    tx.commit()?;
    Ok(removed as u64)
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Records checked.
    pub records: u64,
    /// The first record's seq (after the anchor), if any.
    pub first_seq: Option<u64>,
    /// The last record's seq, if any.
    pub last_seq: Option<u64>,
    /// The chain head's hash.
    pub head_hash: String,
}

/// Walks the chain from the anchor; the first record that was altered, removed or
/// reordered is named in [`AuditError::Corrupt`].
pub(crate) fn verify(conn: &Connection) -> Result<Verified, AuditError> {
    let (mut expected_seq, mut prev) = anchor(conn)?;
    let mut stmt = conn.prepare(
        "SELECT seq, time_ms, request_id, tenant, subject, tool, outcome, body, prev_hash, hash
         FROM audit ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut count = 0;
    let mut first = None;
    while let Some(row) = rows.next()? {
        let seq: u64 = row.get(0)?;
        expected_seq += 1;
        let corrupt = |problem: String| AuditError::Corrupt {
            seq: expected_seq,
            problem,
        };
        if seq != expected_seq {
            return Err(corrupt(format!(
                "record {expected_seq} is missing (removed): the next record is {seq}"
            )));
        }
        let body: String = row.get(7)?;
        let prev_hash: String = row.get(8)?;
        let hash: String = row.get(9)?;
        if prev_hash != prev {
            return Err(corrupt(format!(
                "record {seq} does not follow record {}: its previous-hash does not match (removed or reordered)",
                seq - 1
            )));
        }
        if chain_hash(&prev_hash, seq, &body) != hash {
            return Err(corrupt(format!(
                "record {seq} was altered: its content does not match its hash"
            )));
        }
        let record: AuditRecord = serde_json::from_str(&body)
            .map_err(|e| corrupt(format!("record {seq} does not parse: {e}")))?;
        let columns = (
            row.get::<_, u64>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, String>(6)?,
        );
        let hashed = (
            record.time_ms,
            record.request_id,
            record.tenant,
            record.subject,
            record.tool,
            record.outcome,
        );
        if columns != hashed {
            return Err(corrupt(format!(
                "record {seq} was altered: its indexed columns differ from the hashed record"
            )));
        }
        first.get_or_insert(seq);
        count += 1;
        prev = hash;
    }
    Ok(Verified {
        records: count,
        first_seq: first,
        last_seq: first.map(|_| expected_seq),
        head_hash: prev,
    })
}

/// Which records a query returns.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this outcome (`ok`, `policy_denied`, ...).
    pub outcome: Option<String>,
    /// Only records at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Only records before this time (ms since the epoch).
    pub until_ms: Option<u64>,
    /// Only records after this seq.
    pub after_seq: Option<u64>,
    /// Only records before this seq (to page backwards).
    pub before_seq: Option<u64>,
    /// Only this request's record(s).
    pub request_id: Option<String>,
    /// Only records of attempts to cross a boundary (with violations).
    pub escapes_only: bool,
    /// The newest `limit` matching records (all when `None`), returned oldest first.
    pub limit: Option<u64>,
}

pub(crate) fn query(conn: &Connection, q: &Query) -> Result<Vec<StoredRecord>, AuditError> {
    let mut sql = String::from("SELECT seq, prev_hash, hash, body FROM audit WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut filter = |clause: &str, v: rusqlite::types::Value| {
        args.push(v);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(t) = &q.tenant {
        filter("tenant =", t.clone().into());
    }
    if let Some(t) = &q.tool {
        filter("tool =", t.clone().into());
    }
    if let Some(o) = &q.outcome {
        filter("outcome =", o.clone().into());
    }
    if let Some(s) = q.since_ms {
        filter("time_ms >=", i64::try_from(s).unwrap_or(i64::MAX).into());
    }
    if let Some(s) = q.until_ms {
        filter("time_ms <", i64::try_from(s).unwrap_or(i64::MAX).into());
    }
    if let Some(s) = q.after_seq {
        filter("seq >", i64::try_from(s).unwrap_or(i64::MAX).into());
    }
    if let Some(s) = q.before_seq {
        filter("seq <", i64::try_from(s).unwrap_or(i64::MAX).into());
    }
    if let Some(r) = &q.request_id {
        filter("request_id =", r.clone().into());
    }
    if q.escapes_only {
        // Violations are serialised only when there are some.
        sql.push_str(" AND instr(body, '\"violations\":[{') > 0");
    }
    sql.push_str(" ORDER BY seq DESC");
    if let Some(l) = q.limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok((
            r.get::<_, u64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, prev_hash, hash, body) = row?;
        let record = serde_json::from_str(&body).map_err(|e| AuditError::Corrupt {
            seq,
            problem: format!("record {seq} does not parse: {e}"),
        })?;
        out.push(StoredRecord {
            seq,
            prev_hash,
            hash,
            record,
        });
    }
    out.reverse();
    Ok(out)
}
