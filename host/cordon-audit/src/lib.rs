//! The audit log: one record per call, allowed or denied, hash-chained and append-only.
//!
//! [`AuditLog::append`] hands a record to a writer thread and returns at once; the writer
//! commits records in batches (one SQLite transaction each, WAL mode), giving each its place
//! in the chain: record *n* carries record *n−1*'s hash, and its own hash covers that, its
//! sequence number and its content. [`AuditReader::verify`] walks the chain and names the
//! first record that was altered, removed or reordered.
//!
//! Retention removes the oldest records as one prefix and remembers the last removed
//! record's hash as the chain's new anchor, so what remains still verifies.
//!
//! ```
//! use cordon_audit::{AuditLog, AuditConfig, AuditReader, AuditRecord, Query};
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("audit.db");
//! let log = AuditLog::open(&path, AuditConfig::default())?;
//! # let record = AuditRecord { time_ms: 1, request_id: "req_1".into(), trace_id: "t".into(),
//! #   tenant: "acme".into(), subject: "alice".into(), tool: "fs".into(), function: "f".into(),
//! #   args_digest: "d".into(), arguments: None, allowed: true, reasons: vec![],
//! #   policy_hash: "p".into(), backend: "wasm".into(), outcome: "ok".into(),
//! #   violations: vec![], wall_time_us: 1, fuel_used: 1, peak_memory_bytes: 1, output_bytes: 1,
//! #   grants: None, limits: None };
//! log.append(record);
//! log.flush()?;
//! let reader = AuditReader::open(&path)?;
//! assert_eq!(reader.verify()?.records, 1);
//! assert_eq!(reader.query(&Query::default())?[0].record.tenant, "acme");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod record;
mod store;

pub use record::{AuditRecord, GENESIS, StoredRecord, digest_json};
pub use store::{Query, Verified};

use cordon_core::ErrorCode;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why the audit log could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database could not be opened or created.
    #[error("cannot open the audit log {}: {message}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite or the filesystem said.
        message: String,
    },
    /// A database operation failed.
    #[error("audit log: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The chain does not verify: `seq` is the first record that was altered, removed or
    /// reordered.
    #[error("audit chain broken at record {seq}: {problem}")]
    Corrupt {
        /// The first bad record.
        seq: u64,
        /// What is wrong with it.
        problem: String,
    },
    /// The writer thread is gone (it panicked); records can no longer be written.
    #[error("the audit writer has stopped")]
    WriterGone,
}

impl AuditError {
    /// The stable code: a broken chain or an unusable log is an internal failure.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Internal
    }
}

/// How the writer batches and how long records are kept.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Records older than this are removed (default 7 days). `None` keeps everything.
    pub retention: Option<Duration>,
    /// Most records per transaction (default 1,024).
    pub batch_max: usize,
    /// Longest a record waits before its batch is committed (default 50 ms).
    pub linger: Duration,
    /// How often retention runs (default hourly; also once at open).
    pub prune_every: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
            batch_max: 1024,
            linger: Duration::from_millis(50),
            prune_every: Duration::from_secs(3600),
        }
    }
}

enum Message {
    Record(Box<AuditRecord>),
    Flush(SyncSender<Result<(), String>>),
}

/// The writing side of the audit log. Cloneable senders are cheap; dropping the last
/// `AuditLog` commits what is queued and stops the writer.
pub struct AuditLog {
    tx: Option<Sender<Message>>,
    writer: Option<JoinHandle<()>>,
    /// The last commit's error while commits fail (a full disk, a broken file); `None`
    /// once one succeeds again. What [`AuditLog::failing`] reports.
    failing: Arc<Mutex<Option<String>>>,
}

impl AuditLog {
    /// Opens (creating if needed) the log at `path` and starts its writer thread.
    ///
    /// # Errors
    ///
    /// [`AuditError::Open`] when the database cannot be created or opened.
    pub fn open(path: &Path, config: AuditConfig) -> Result<AuditLog, AuditError> {
        let conn = store::open(path)?;
        let (tx, rx) = mpsc::channel();
        let failing = Arc::new(Mutex::new(None));
        let writer_failing = failing.clone();
        let writer = std::thread::Builder::new()
            .name("cordon-audit".into())
            .spawn(move || {
                Writer {
                    conn,
                    config,
                    failing: writer_failing,
                }
                .run(rx)
            })
            .map_err(|e| AuditError::Open {
                path: path.to_owned(),
                message: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(AuditLog {
            tx: Some(tx),
            writer: Some(writer),
            failing,
        })
    }

    /// Why records cannot be committed now, while that is so: callers refuse new work
    /// rather than run it unrecorded (what is queued is kept and retried).
    pub fn failing(&self) -> Option<String> {
        if self.tx.is_none() || self.writer.as_ref().is_some_and(JoinHandle::is_finished) {
            return Some("the audit writer has stopped".into());
        }
        self.failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Queues `record`; it is committed within [`AuditConfig::linger`]. Never blocks on I/O.
    pub fn append(&self, record: AuditRecord) {
        let sent = self
            .tx
            .as_ref()
            .map(|tx| tx.send(Message::Record(Box::new(record))));
        if !matches!(sent, Some(Ok(()))) {
            tracing::error!("audit writer has stopped; a record could not be queued");
        }
    }

    /// Waits until everything queued so far is committed.
    ///
    /// # Errors
    ///
    /// [`AuditError::WriterGone`] if the writer stopped; the last commit's error otherwise.
    pub fn flush(&self) -> Result<(), AuditError> {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        self.tx
            .as_ref()
            .ok_or(AuditError::WriterGone)?
            .send(Message::Flush(done_tx))
            .map_err(|_| AuditError::WriterGone)?;
        // Cut the writer's linger short: someone is waiting.
        if let Some(w) = &self.writer {
            w.thread().unpark();
        }
        done_rx
            .recv()
            .map_err(|_| AuditError::WriterGone)?
            .map_err(|message| AuditError::Open {
                path: PathBuf::from("audit"),
                message,
            })
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(w) = self.writer.take() {
            w.thread().unpark();
            let _ = w.join();
        }
    }
}

struct Writer {
    conn: Connection,
    config: AuditConfig,
    failing: Arc<Mutex<Option<String>>>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Message>) {
        let mut pending: Vec<AuditRecord> = Vec::new();
        let mut waiting: Vec<SyncSender<Result<(), String>>> = Vec::new();
        let mut next_prune = Instant::now();
        let mut open = true;
        while open || !pending.is_empty() || !waiting.is_empty() {
            if Instant::now() >= next_prune {
                self.prune();
                next_prune = Instant::now() + self.config.prune_every;
            }
            // Block for the first message, take what else is queued, and if the batch is not
            // full and nobody waits, sleep out the linger with the thread parked (not waiting
            // on the channel, so appends meanwhile cost a queue push and no wake-up), then
            // take the rest. A flush unparks early; a full batch never lingers.
            if open && pending.is_empty() && waiting.is_empty() {
                match rx.recv_timeout(self.config.prune_every) {
                    Ok(m) => take(m, &mut pending, &mut waiting),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
            }
            open &= drain(&rx, self.config.batch_max, &mut pending, &mut waiting);
            if open && pending.len() < self.config.batch_max && waiting.is_empty() {
                std::thread::park_timeout(self.config.linger);
                open &= drain(&rx, self.config.batch_max, &mut pending, &mut waiting);
            }
            let result = if pending.is_empty() {
                Ok(())
            } else {
                store::append(&mut self.conn, &pending).map_err(|e| e.to_string())
            };
            *self
                .failing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = result.clone().err();
            match &result {
                Ok(()) => pending.clear(),
                Err(e) => {
                    // Keep the batch and try again: records are never dropped.
                    tracing::error!(error = %e, queued = pending.len(), "audit commit failed; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            for w in waiting.drain(..) {
                let _ = w.send(result.clone());
            }
        }
    }

    fn prune(&mut self) {
        let Some(retention) = self.config.retention else {
            return;
        };
        let cutoff =
            now_ms().saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
        match store::prune(&mut self.conn, cutoff) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "audit retention pruned old records"),
            Err(e) => tracing::error!(error = %e, "audit retention failed"),
        }
    }
}

/// Takes queued messages until the batch is full or the queue empty; false once every
/// sender is gone.
fn drain(
    rx: &Receiver<Message>,
    batch_max: usize,
    pending: &mut Vec<AuditRecord>,
    waiting: &mut Vec<SyncSender<Result<(), String>>>,
) -> bool {
    while pending.len() < batch_max {
        match rx.try_recv() {
            Ok(m) => take(m, pending, waiting),
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Disconnected) => return false,
        }
    }
    true
}

fn take(
    m: Message,
    pending: &mut Vec<AuditRecord>,
    waiting: &mut Vec<SyncSender<Result<(), String>>>,
) {
    match m {
        Message::Record(r) => pending.push(*r),
        Message::Flush(w) => waiting.push(w),
    }
}

pub use cordon_core::now_ms;

/// The reading side: verification and queries, on its own connection.
pub struct AuditReader {
    conn: Connection,
}

impl AuditReader {
    /// Opens the log at `path` (creating an empty one if none exists).
    ///
    /// # Errors
    ///
    /// [`AuditError::Open`] when it cannot be opened.
    pub fn open(path: &Path) -> Result<AuditReader, AuditError> {
        Ok(AuditReader {
            conn: store::open(path)?,
        })
    }

    /// Walks the whole chain.
    ///
    /// # Errors
    ///
    /// [`AuditError::Corrupt`] naming the first record altered, removed or reordered.
    pub fn verify(&self) -> Result<Verified, AuditError> {
        store::verify(&self.conn)
    }

    /// Records matching `q`, oldest first.
    ///
    /// # Errors
    ///
    /// A database error, or a record that does not parse.
    pub fn query(&self, q: &Query) -> Result<Vec<StoredRecord>, AuditError> {
        store::query(&self.conn, q)
    }
}
