//! Asynchronous jobs: a caller submits a call, gets an id at once, and reads the status and
//! result later.
//!
//! The queue is a trait, [`JobQueue`], so the HTTP API does not care where jobs wait: here
//! they wait in this process ([`InProcessQueue`]); with federation they wait in Redis and
//! any host's workers take them. [`run_workers`] drains a queue with a fixed number of
//! workers and turns a worker that crashes into a `quarantined` job instead of a lost one.
//!
//! ```text
//! submit(spec) ──▶ queued ──claim()──▶ running ──finish()──▶ succeeded | failed | quarantined
//!      │ same tenant + idempotency key: the existing job's id
//! ```

mod memory;
mod worker;

pub use memory::{InProcessQueue, QueueOptions};
pub use worker::run_workers;

use async_trait::async_trait;
use cordon_core::{CallError, ErrorCode, Principal, Receipt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A job's id: `job_` and 32 hex digits, unguessable (it is the only handle a reader needs
/// besides being of the same tenant).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A fresh random id.
    pub fn new() -> JobId {
        JobId(format!("job_{}", uuid::Uuid::new_v4().simple()))
    }

    /// The id as given by a caller (it is only ever looked up, never trusted).
    pub fn from_caller(id: &str) -> JobId {
        JobId(id.to_owned())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which jobs workers take first. Within a priority, the oldest first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Before everything else.
    High,
    /// The default.
    #[default]
    Normal,
    /// When nothing else waits.
    Low,
}

impl Priority {
    /// The label value (`high`, `normal`, `low`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is running it.
    Running,
    /// It ran and returned a value.
    Succeeded,
    /// It was refused or failed; `error` says why.
    Failed,
    /// It crashed the worker that ran it; it is kept for inspection and never retried.
    Quarantined,
}

/// What a caller submits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSpec {
    /// Who submitted it; the job runs as them and only their tenant may read it.
    pub principal: Principal,
    /// The catalog tool.
    pub tool: String,
    /// The function (`None`: the tool's only one).
    pub function: Option<String>,
    /// The arguments, a JSON object.
    pub args: Value,
    /// Which jobs run first.
    pub priority: Priority,
    /// Submitting again with the same key (same tenant) returns the first job's id
    /// instead of running the call twice.
    pub idempotency_key: Option<String>,
    /// The submitter's trace id, carried into the call.
    pub trace_id: Option<String>,
}

/// A job as its submitter sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Where it is.
    pub status: JobStatus,
    /// The tool it calls.
    pub tool: String,
    /// The function, when the submitter named one.
    pub function: Option<String>,
    /// Its priority.
    pub priority: Priority,
    /// When it was submitted (ms since the epoch).
    pub submitted_ms: u64,
    /// When a worker started it.
    pub started_ms: Option<u64>,
    /// When it finished.
    pub finished_ms: Option<u64>,
    /// The call's value, when it succeeded.
    pub result: Option<Value>,
    /// Why it failed or was quarantined.
    pub error: Option<CallError>,
    /// What the call consumed.
    pub receipt: Option<Receipt>,
}

/// A job a worker has claimed: it is `running` until [`JobQueue::finish`].
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Its id.
    pub id: JobId,
    /// What to run.
    pub spec: JobSpec,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    /// The call returned a value.
    Succeeded {
        /// The value.
        value: Value,
        /// What it consumed.
        receipt: Receipt,
    },
    /// The call was refused or failed.
    Failed(CallError),
    /// The worker running it crashed; the message says how.
    Quarantined(String),
}

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The job's id.
    pub id: JobId,
    /// `false` when the idempotency key named an existing job.
    pub created: bool,
}

/// Why the queue refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The tenant already has as many jobs waiting as it may.
    #[error("tenant {tenant:?} already has {limit} jobs waiting; retry when some have run")]
    Full {
        /// The tenant.
        tenant: String,
        /// Its limit.
        limit: usize,
    },
    /// The queue is shutting down and takes no more jobs.
    #[error("the server is shutting down and takes no new jobs")]
    Closed,
}

impl QueueError {
    /// The error code a surface answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            QueueError::Full { .. } => ErrorCode::RateLimited,
            QueueError::Closed => ErrorCode::Unavailable,
        }
    }
}

/// Where jobs wait. Implementations keep tenants apart: [`JobQueue::status`] answers only
/// the tenant that submitted the job.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Queues a job, or returns the existing one for a repeated idempotency key.
    async fn submit(&self, spec: JobSpec) -> Result<Submitted, QueueError>;

    /// A job of `tenant`'s; `None` for an unknown id or another tenant's job (the two are
    /// indistinguishable on purpose).
    async fn status(&self, tenant: &str, id: &JobId) -> Option<Job>;

    /// Waits for the next job (highest priority, then oldest) and marks it running;
    /// `None` once the queue is closed.
    async fn claim(&self) -> Option<Claimed>;

    /// Records how a claimed job ended.
    async fn finish(&self, id: &JobId, outcome: JobOutcome);

    /// Stops taking and handing out jobs; returns how many were still waiting.
    fn close(&self) -> usize;
}
