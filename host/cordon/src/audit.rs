//! `cordon audit tail|query|verify`.

use crate::Settings;
use crate::token::time;
use anyhow::Result;
use cordon_audit::{AuditError, AuditReader, Query, StoredRecord, now_ms};
use cordon_core::{CallError, ErrorCode, parse_duration};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// The newest records, oldest first; with --follow, keep printing new ones.
    Tail {
        /// How many records.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u64,
        /// Keep watching for new records (until interrupted).
        #[arg(short, long)]
        follow: bool,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Records matching every filter given, oldest first.
    Query {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this tool.
        #[arg(long)]
        tool: Option<String>,
        /// Only this outcome: ok, or an error code (policy_denied, path_escape, ...).
        #[arg(long)]
        outcome: Option<String>,
        /// Only records this recent (1h, 30m, 7d) or since this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// At most the newest N.
        #[arg(long)]
        limit: Option<u64>,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Walk the hash chain; exits 1 naming the first record altered, removed or reordered.
    Verify,
}

fn err(e: AuditError) -> anyhow::Error {
    let code = match &e {
        AuditError::Corrupt { .. } => ErrorCode::Internal,
        other => other.code(),
    };
    CallError::new(code, e.to_string()).into()
}

fn print(records: &[StoredRecord], json: bool) -> Result<()> {
    for s in records {
        if json {
            println!("{}", serde_json::to_string(s)?);
            continue;
        }
        let r = &s.record;
        let verdict = if r.allowed { "allowed" } else { "denied" };
        let mut line = format!(
            "{} #{} {}/{} {} {} {verdict} {} {:.1}ms fuel={} req={}",
            time(r.time_ms),
            s.seq,
            r.tenant,
            r.subject,
            r.tool,
            if r.function.is_empty() {
                "-"
            } else {
                &r.function
            },
            r.outcome,
            r.wall_time_us as f64 / 1000.0,
            r.fuel_used,
            r.request_id,
        );
        if !r.reasons.is_empty() {
            line.push_str(&format!(" reasons={:?}", r.reasons));
        }
        for v in &r.violations {
            line.push_str(&format!(" escape={}:{:?}", v.kind, v.path));
        }
        println!("{line}");
    }
    Ok(())
}

fn since_ms(s: &str) -> Result<u64> {
    if let Ok(d) = parse_duration(s) {
        return Ok(now_ms().saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)));
    }
    let t = humantime::parse_rfc3339_weak(s).map_err(|_| {
        CallError::new(
            ErrorCode::BadRequest,
            format!("--since {s:?}: expected a duration (1h, 7d) or an RFC 3339 time"),
        )
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0))
}

pub async fn audit(settings: &Settings, cmd: AuditCommand) -> Result<ExitCode> {
    let reader = AuditReader::open(&settings.audit_path()).map_err(err)?;
    match cmd {
        AuditCommand::Tail {
            lines,
            follow,
            json,
        } => {
            let records = reader
                .query(&Query {
                    limit: Some(lines),
                    ..Query::default()
                })
                .map_err(err)?;
            print(&records, json)?;
            let mut last = records.last().map_or(0, |r| r.seq);
            if !follow {
                return Ok(ExitCode::SUCCESS);
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = tokio::signal::ctrl_c() => break,
                }
                let new = reader
                    .query(&Query {
                        after_seq: Some(last),
                        ..Query::default()
                    })
                    .map_err(err)?;
                print(&new, json)?;
                last = new.last().map_or(last, |r| r.seq);
            }
        }
        AuditCommand::Query {
            tenant,
            tool,
            outcome,
            since,
            limit,
            json,
        } => {
            let since_ms = since.as_deref().map(since_ms).transpose()?;
            let records = reader
                .query(&Query {
                    tenant,
                    tool,
                    outcome,
                    since_ms,
                    limit,
                    ..Query::default()
                })
                .map_err(err)?;
            print(&records, json)?;
        }
        AuditCommand::Verify => {
            let v = reader.verify().map_err(err)?;
            match (v.first_seq, v.last_seq) {
                (Some(a), Some(b)) => println!(
                    "ok: {} records verified (#{a}..#{b}), head {}",
                    v.records, v.head_hash
                ),
                _ => println!("ok: the audit log is empty"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
