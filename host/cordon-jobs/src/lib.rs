//! Asynchronous jobs: a caller submits a call, gets an id at once, and reads the status and
//! result later.
//!
//! The queue is a trait, [`JobQueue`], so the HTTP API does not care where jobs wait: here
//! they wait in this process ([`InProcessQueue`]); with federation they wait in Redis
//! (`cordon-federation`) and any host's workers take them. [`run_workers`] drains a queue
//! with a fixed number of workers and turns a worker that crashes, or a job that tries to
//! cross a boundary, into a `quarantined` job instead of a lost or retried one.
//!
//! ```text
//! submit(spec) ──▶ queued ──claim()──▶ running ──finish()──▶ succeeded | failed | quarantined
//!      │ same tenant + idempotency key: the existing job's id          │ release()
//!      └───────────────────────────────────────────── queued ◀─────────┘
//! ```

mod memory;
mod watch;
mod worker;

pub use memory::{InProcessQueue, QueueOptions};
pub use watch::Finished;
pub use worker::{OnQuarantine, run_workers, run_workers_with};

use async_trait::async_trait;
use cordon_core::{CallError, ErrorCode, Principal, Receipt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

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
    /// It crashed the worker that ran it, outlived the hosts that ran it too many times, or
    /// tried to cross a boundary; it is kept for an operator and not retried.
    Quarantined,
}

impl JobStatus {
    /// `true` once the job has ended (`succeeded`, `failed` or `quarantined`).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Quarantined
        )
    }

    /// The stored form (`queued`, `running`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Quarantined => "quarantined",
        }
    }
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
    /// The tenant that submitted it.
    pub tenant: String,
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
    /// When a worker last started it.
    pub started_ms: Option<u64>,
    /// When it finished.
    pub finished_ms: Option<u64>,
    /// The host that last started it.
    pub host: Option<String>,
    /// How many times a worker has started it (more than one: its host died running it).
    pub attempts: u32,
    /// The call's value, when it succeeded.
    pub result: Option<Value>,
    /// Why it failed or was quarantined.
    pub error: Option<CallError>,
    /// What the call consumed.
    pub receipt: Option<Receipt>,
}

impl Job {
    /// A job just submitted.
    pub fn queued(id: JobId, spec: &JobSpec, submitted_ms: u64) -> Job {
        Job {
            id,
            tenant: spec.principal.tenant.clone(),
            status: JobStatus::Queued,
            tool: spec.tool.clone(),
            function: spec.function.clone(),
            priority: spec.priority,
            submitted_ms,
            started_ms: None,
            finished_ms: None,
            host: None,
            attempts: 0,
            result: None,
            error: None,
            receipt: None,
        }
    }

    /// Records `outcome` on the job.
    pub fn record(&mut self, outcome: JobOutcome, finished_ms: u64) {
        self.finished_ms = Some(finished_ms);
        match outcome {
            JobOutcome::Succeeded { value, receipt } => {
                self.status = JobStatus::Succeeded;
                self.result = Some(value);
                self.receipt = Some(receipt);
            }
            JobOutcome::Failed(e) => {
                self.status = JobStatus::Failed;
                self.receipt = e.receipt.clone();
                self.error = Some(e);
            }
            JobOutcome::Quarantined(e) => {
                self.status = JobStatus::Quarantined;
                self.receipt = e.receipt.clone();
                self.error = Some(e);
            }
        }
    }
}

/// A job a worker has claimed: it is `running` until [`JobQueue::finish`].
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Its id.
    pub id: JobId,
    /// What to run.
    pub spec: JobSpec,
    /// Which start this is (1 the first time; more when hosts died running it).
    pub attempt: u32,
    /// An operator released it from quarantine: it runs once more and its outcome stands,
    /// whatever it tries.
    pub released: bool,
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
    /// The job is kept for an operator and not retried; the error says why.
    Quarantined(CallError),
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
    /// Where jobs wait cannot be reached now (Redis is down or unreachable).
    #[error("the job queue is unavailable: {0}")]
    Unavailable(String),
}

impl QueueError {
    /// The error code a surface answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            QueueError::Full { .. } => ErrorCode::QueueFull,
            QueueError::Closed | QueueError::Unavailable(_) => ErrorCode::Unavailable,
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
    async fn status(&self, tenant: &str, id: &JobId) -> Result<Option<Job>, QueueError>;

    /// The tenant job `id` belongs to, whoever asks. Never shown to a caller: it tells a
    /// reach into another tenant's job (counted and audited) from an id that names nothing.
    async fn owner(&self, id: &JobId) -> Result<Option<String>, QueueError>;

    /// Waits for the next job (highest priority first; between tenants in turn; within a
    /// tenant the oldest first) and marks it running; `None` once the queue is closed.
    async fn claim(&self) -> Option<Claimed>;

    /// Records how a claimed job ended. The job leaves the queue only once this returns
    /// `Ok`: on an error the caller retries (or, if it dies, another worker reruns it).
    async fn finish(&self, id: &JobId, outcome: JobOutcome) -> Result<(), QueueError>;

    /// Quarantined jobs, of `tenant` or (`None`) of every tenant, oldest first.
    async fn quarantined(&self, tenant: Option<&str>) -> Result<Vec<Job>, QueueError>;

    /// Queues a quarantined job again, for one more run whose outcome stands; `false` when
    /// there is no such quarantined job (of `tenant`, when given).
    async fn release(&self, tenant: Option<&str>, id: &JobId) -> Result<bool, QueueError>;

    /// Deletes a quarantined job; `false` when there is no such quarantined job.
    async fn discard(&self, tenant: Option<&str>, id: &JobId) -> Result<bool, QueueError>;

    /// Who is told when a job finishes (on any host, for a shared queue).
    fn finished(&self) -> &Finished;

    /// Stops taking and handing out jobs; returns how many waiting jobs this process drops
    /// (none for a durable queue: they wait for another host).
    fn close(&self) -> usize;

    /// The job once it has finished, or as it is when `timeout` runs out.
    async fn wait(
        &self,
        tenant: &str,
        id: &JobId,
        timeout: Duration,
    ) -> Result<Option<Job>, QueueError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Watch before reading, so a finish between the read and the wait is not missed.
            let finished = self.finished().watch(id);
            let job = self.status(tenant, id).await?;
            let waiting = job.as_ref().is_some_and(|j| !j.status.is_finished());
            if !waiting || tokio::time::Instant::now() >= deadline {
                return Ok(job);
            }
            if tokio::time::timeout_at(deadline, finished).await.is_err() {
                return self.status(tenant, id).await;
            }
        }
    }
}
