//! The durable queue: [`JobQueue`] on Redis Streams, shared by every host of a federation.

use crate::{FederationOptions, keys, scripts, unavailable};
use async_trait::async_trait;
use cordon_core::{CallError, ErrorCode, Receipt, now_ms};
use cordon_jobs::{
    Claimed, Finished, Job, JobId, JobOutcome, JobQueue, JobSpec, JobStatus, Priority, QueueError,
    QueueOptions, Submitted,
};
use cordon_metrics::Metrics;
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The tools this host carries, asked afresh at each claim (the catalog can change).
pub type Carried = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Jobs in Redis, taken by every host's workers.
pub struct RedisQueue {
    conn: ConnectionManager,
    options: FederationOptions,
    prefix: String,
    limits: QueueOptions,
    carried: Carried,
    /// Jobs this host has claimed and not yet finished: their stream entries, whose leases
    /// the maintenance task renews.
    leases: Mutex<HashMap<JobId, Lease>>,
    /// Jobs taken over from dead hosts, waiting for a worker here.
    taken_over: Mutex<VecDeque<Claimed>>,
    ready: Notify,
    finished: Finished,
    /// No more claims (the host is draining).
    closed: CancellationToken,
    /// The background tasks stop (the host has drained).
    stopped: CancellationToken,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Clone)]
struct Lease {
    stream: String,
    entry: String,
}

/// What `P:job:ID`'s `outcome` field holds.
#[derive(Serialize, Deserialize, Default)]
struct StoredOutcome {
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<CallError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<Receipt>,
}

/// A claim as CLAIM and RECLAIM answer it: id, entry, stream, spec, attempts, released,
/// submitted_ms.
type ClaimReply = (String, String, String, String, u32, String, String);

impl RedisQueue {
    /// Connects and starts this host's background work: hearing about new and finished jobs,
    /// renewing its claims, and taking over the claims of hosts that died.
    ///
    /// # Errors
    ///
    /// `unavailable` when Redis cannot be reached.
    pub async fn start(
        options: FederationOptions,
        limits: QueueOptions,
        carried: Carried,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<RedisQueue>, QueueError> {
        let conn = crate::connect(&options).await?;
        let client = redis::Client::open(options.redis_url.as_str())
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        let queue = Arc::new(RedisQueue {
            conn,
            prefix: options.tagged_prefix(),
            options,
            limits,
            carried,
            leases: Mutex::default(),
            taken_over: Mutex::default(),
            ready: Notify::new(),
            finished: Finished::default(),
            closed: CancellationToken::new(),
            stopped: CancellationToken::new(),
            metrics,
        });
        tokio::spawn(queue.clone().listen(client));
        tokio::spawn(queue.clone().maintain());
        Ok(queue)
    }

    /// Stops the background work; call once the workers have drained. Claims not finished
    /// stop being renewed and pass to other hosts when their lease runs out.
    pub fn stop(&self) {
        self.stopped.cancel();
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn carried_keys(&self) -> Vec<String> {
        (self.carried)().iter().map(|t| keys::part(t)).collect()
    }

    /// Turns a CLAIM/RECLAIM answer into a claim and takes its lease.
    fn claimed(&self, reply: ClaimReply) -> Option<Claimed> {
        let (id, entry, stream, spec, attempt, released, submitted_ms) = reply;
        let id = JobId::from_caller(&id);
        let spec: JobSpec = match serde_json::from_str(&spec) {
            Ok(s) => s,
            Err(e) => {
                // Only this code writes specs; one that does not parse was written by a
                // newer or broken host. Leave it pending: its lease lapses, and after
                // `max_attempts` it is quarantined for an operator.
                tracing::error!(job = %id, error = %e, "a job's stored spec does not parse");
                return None;
            }
        };
        if let Ok(at) = submitted_ms.parse::<u64>() {
            let waited = now_ms().saturating_sub(at);
            self.metrics.job_started(
                spec.priority.as_str(),
                &spec.principal.tenant,
                std::time::Duration::from_millis(waited),
            );
        }
        lock(&self.leases).insert(id.clone(), Lease { stream, entry });
        Some(Claimed {
            id,
            spec,
            attempt,
            released: released == "1",
        })
    }

    async fn try_claim(&self) -> Result<Option<Claimed>, QueueError> {
        let mut invocation = scripts::CLAIM.prepare_invoke();
        invocation
            .arg(&self.prefix)
            .arg(&self.options.host_id)
            .arg(now_ms());
        for tool in self.carried_keys() {
            invocation.arg(tool);
        }
        let reply: Option<ClaimReply> = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(reply.and_then(|r| self.claimed(r)))
    }

    /// New jobs wake idle workers at once; finished jobs wake their readers. Reconnects with
    /// backoff; after a reconnect every idle worker looks again (messages may have been
    /// missed meanwhile).
    async fn listen(self: Arc<Self>, client: redis::Client) {
        let (ready, done) = (keys::ready(&self.prefix), keys::done(&self.prefix));
        let mut backoff = Duration::from_millis(100);
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&[&ready, &done]).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        self.ready.notify_waiters();
                        let mut messages = pubsub.on_message();
                        loop {
                            tokio::select! {
                                message = messages.next() => {
                                    let Some(message) = message else { break };
                                    if message.get_channel_name() == done {
                                        if let Ok(id) = message.get_payload::<String>() {
                                            self.finished.signal(&JobId::from_caller(&id));
                                        }
                                    } else {
                                        // One job queued: one idle worker of this host
                                        // looks (every host hears it; the fastest wins).
                                        self.ready.notify_one();
                                    }
                                }
                                () = self.stopped.cancelled() => return,
                            }
                        }
                        tracing::warn!("lost the Redis subscription; reconnecting");
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot subscribe to Redis; retrying"),
                },
                Err(e) => tracing::debug!(error = %e, "cannot reach Redis for the subscription"),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.stopped.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Every quarter lease: renew this host's claims, take over lapsed ones, and refresh the
    /// queue-depth gauges.
    async fn maintain(self: Arc<Self>) {
        let every = (self.options.lease / 4).max(Duration::from_millis(100));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.stopped.cancelled() => return,
            }
            if let Err(e) = self.renew().await {
                tracing::warn!(error = %e, "cannot renew job leases");
            }
            if !self.closed.is_cancelled()
                && let Err(e) = self.take_over().await
            {
                tracing::warn!(error = %e, "cannot look for jobs of dead hosts");
            }
            self.finished.prune();
            if let Err(e) = self.refresh_depth().await {
                tracing::debug!(error = %e, "cannot read queue depths");
            }
        }
    }

    async fn renew(&self) -> Result<(), QueueError> {
        let leases: Vec<Lease> = lock(&self.leases).values().cloned().collect();
        if leases.is_empty() {
            return Ok(());
        }
        let mut invocation = scripts::RENEW.prepare_invoke();
        invocation.arg(&self.options.host_id);
        for l in &leases {
            invocation.arg(&l.stream).arg(&l.entry);
        }
        let _: u64 = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn take_over(&self) -> Result<(), QueueError> {
        let quarantined = CallError::new(
            ErrorCode::Internal,
            format!(
                "the job was started {} times and its host stopped each time before it finished; it is quarantined and not run again",
                self.options.max_attempts
            ),
        );
        let outcome = serde_json::to_string(&StoredOutcome {
            error: Some(quarantined),
            ..StoredOutcome::default()
        })
        .unwrap_or_default();
        let mut invocation = scripts::RECLAIM.prepare_invoke();
        invocation
            .arg(&self.prefix)
            .arg(&self.options.host_id)
            .arg(now_ms())
            .arg(u64::try_from(self.options.lease.as_millis()).unwrap_or(u64::MAX))
            .arg(self.options.max_attempts)
            .arg(outcome);
        for tool in self.carried_keys() {
            invocation.arg(tool);
        }
        let replies: Vec<ClaimReply> = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&e))?;
        if replies.is_empty() {
            return Ok(());
        }
        let claims: Vec<Claimed> = replies
            .into_iter()
            .filter_map(|r| self.claimed(r))
            .collect();
        for c in &claims {
            tracing::warn!(job = %c.id, attempt = c.attempt, "took over a job whose host stopped renewing it");
        }
        lock(&self.taken_over).extend(claims);
        self.ready.notify_waiters();
        Ok(())
    }

    async fn refresh_depth(&self) -> Result<(), QueueError> {
        let mut conn = self.conn();
        for priority in [Priority::High, Priority::Normal, Priority::Low] {
            let depths: HashMap<String, i64> = conn
                .hgetall(keys::depth(&self.prefix, priority.as_str()))
                .await
                .map_err(|e| unavailable(&e))?;
            for (tenant, n) in depths {
                self.metrics
                    .queue_depth
                    .with_label_values(&[priority.as_str(), &tenant])
                    .set(n);
            }
        }
        Ok(())
    }

    /// Reads a job's hash into a job (`None` when it does not parse).
    fn job_of(id: &JobId, fields: &HashMap<String, String>) -> Option<Job> {
        let spec: JobSpec = serde_json::from_str(fields.get("spec")?).ok()?;
        let status: JobStatus =
            serde_json::from_value(Value::String(fields.get("status")?.clone())).ok()?;
        let number = |k: &str| fields.get(k).and_then(|v| v.parse::<u64>().ok());
        let mut job = Job::queued(id.clone(), &spec, number("submitted_ms").unwrap_or(0));
        job.status = status;
        job.started_ms = number("started_ms");
        job.finished_ms = number("finished_ms");
        job.host = fields.get("host").cloned();
        job.attempts = number("attempts")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0);
        if let Some(o) = fields.get("outcome") {
            let o: StoredOutcome = serde_json::from_str(o).ok()?;
            job.result = o.result;
            job.error = o.error;
            job.receipt = o.receipt;
        }
        Some(job)
    }

    async fn read(&self, id: &JobId) -> Result<Option<Job>, QueueError> {
        let fields: HashMap<String, String> = self
            .conn()
            .hgetall(keys::job(&self.prefix, id.as_str()))
            .await
            .map_err(|e| unavailable(&e))?;
        if fields.is_empty() {
            return Ok(None);
        }
        Ok(Self::job_of(id, &fields))
    }

    fn tenant_arg(tenant: Option<&str>) -> &str {
        tenant.unwrap_or("")
    }

    fn ttl_secs(d: Duration) -> u64 {
        d.as_secs().max(1)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl JobQueue for RedisQueue {
    async fn submit(&self, spec: JobSpec) -> Result<Submitted, QueueError> {
        if self.closed.is_cancelled() {
            return Err(QueueError::Closed);
        }
        let tenant = spec.principal.tenant.clone();
        let limit = self.limits.limit_for(&tenant);
        let id = JobId::new();
        let json = serde_json::to_string(&spec)
            .map_err(|e| QueueError::Unavailable(format!("cannot encode the job: {e}")))?;
        let (answer, created): (String, i64) = scripts::SUBMIT
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(&tenant)
            .arg(keys::part(&tenant))
            .arg(keys::part(&spec.tool))
            .arg(spec.priority.as_str())
            .arg(id.as_str())
            .arg(json)
            .arg(spec.idempotency_key.as_deref().unwrap_or(""))
            .arg(limit)
            .arg(now_ms())
            .arg(Self::ttl_secs(self.options.waiting_ttl))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&e))?;
        match created {
            1 => Ok(Submitted { id, created: true }),
            0 => Ok(Submitted {
                id: JobId::from_caller(&answer),
                created: false,
            }),
            _ => {
                self.metrics
                    .rate_limited
                    .with_label_values(&[&tenant, "queue"])
                    .inc();
                Err(QueueError::Full { tenant, limit })
            }
        }
    }

    async fn status(&self, tenant: &str, id: &JobId) -> Result<Option<Job>, QueueError> {
        // Ids are unguessable, but a caller could still send anything: only well-formed ids
        // become keys.
        if !id.as_str().starts_with("job_") || id.as_str().len() > 64 {
            return Ok(None);
        }
        Ok(self.read(id).await?.filter(|j| j.tenant == tenant))
    }

    async fn owner(&self, id: &JobId) -> Result<Option<String>, QueueError> {
        if !id.as_str().starts_with("job_") || id.as_str().len() > 64 {
            return Ok(None);
        }
        Ok(self.read(id).await?.map(|j| j.tenant))
    }

    async fn claim(&self) -> Option<Claimed> {
        let mut backoff = Duration::from_millis(50);
        loop {
            if self.closed.is_cancelled() {
                return None;
            }
            if let Some(c) = lock(&self.taken_over).pop_front() {
                return Some(c);
            }
            // Armed before looking, so a job queued while we look still wakes us.
            let ready = self.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            match self.try_claim().await {
                Ok(Some(c)) => return Some(c),
                Ok(None) => {
                    backoff = Duration::from_millis(50);
                    // The subscription wakes us; the timer covers a message lost while
                    // it reconnects.
                    tokio::select! {
                        () = ready => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = self.closed.cancelled() => return None,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim jobs; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = self.closed.cancelled() => return None,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    async fn finish(&self, id: &JobId, outcome: JobOutcome) -> Result<(), QueueError> {
        let Some(lease) = lock(&self.leases).get(id).cloned() else {
            return Ok(());
        };
        let (status, stored) = match outcome {
            JobOutcome::Succeeded { value, receipt } => (
                JobStatus::Succeeded,
                StoredOutcome {
                    result: Some(value),
                    error: None,
                    receipt: Some(receipt),
                },
            ),
            JobOutcome::Failed(e) => (
                JobStatus::Failed,
                StoredOutcome {
                    result: None,
                    receipt: e.receipt.clone(),
                    error: Some(e),
                },
            ),
            JobOutcome::Quarantined(e) => (
                JobStatus::Quarantined,
                StoredOutcome {
                    result: None,
                    receipt: e.receipt.clone(),
                    error: Some(e),
                },
            ),
        };
        let json = serde_json::to_string(&stored)
            .map_err(|e| QueueError::Unavailable(format!("cannot encode the outcome: {e}")))?;
        let stored: i64 = scripts::FINISH
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(id.as_str())
            .arg(&lease.stream)
            .arg(&lease.entry)
            .arg(status.as_str())
            .arg(json)
            .arg(now_ms())
            .arg(Self::ttl_secs(self.options.result_ttl))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&e))?;
        lock(&self.leases).remove(id);
        if stored == 0 {
            tracing::info!(job = %id, "another run of this job stored its outcome first; this one is dropped");
        }
        Ok(())
    }

    async fn quarantined(&self, tenant: Option<&str>) -> Result<Vec<Job>, QueueError> {
        let mut conn = self.conn();
        let entries: redis::streams::StreamRangeReply = conn
            .xrange_all(keys::quarantine(&self.prefix))
            .await
            .map_err(|e| unavailable(&e))?;
        let ids: Vec<JobId> = (entries.ids.iter())
            .filter_map(|e| e.get::<String>("job"))
            .map(|id| JobId::from_caller(&id))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(keys::job(&self.prefix, id.as_str()));
        }
        let hashes: Vec<HashMap<String, String>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok((ids.iter().zip(&hashes))
            .filter_map(|(id, fields)| Self::job_of(id, fields))
            .filter(|j| j.status == JobStatus::Quarantined)
            .filter(|j| tenant.is_none_or(|t| t == j.tenant))
            .collect())
    }

    async fn release(&self, tenant: Option<&str>, id: &JobId) -> Result<bool, QueueError> {
        let released: i64 = scripts::RELEASE
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(id.as_str())
            .arg(Self::tenant_arg(tenant))
            .arg(Self::ttl_secs(self.options.waiting_ttl))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(released == 1)
    }

    async fn discard(&self, tenant: Option<&str>, id: &JobId) -> Result<bool, QueueError> {
        let discarded: i64 = scripts::DISCARD
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(id.as_str())
            .arg(Self::tenant_arg(tenant))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(discarded == 1)
    }

    fn finished(&self) -> &Finished {
        &self.finished
    }

    fn close(&self) -> usize {
        self.closed.cancel();
        // Jobs taken over but not started go back to the pool: their leases lapse and a
        // live host takes them.
        let unstarted: Vec<Claimed> = lock(&self.taken_over).drain(..).collect();
        let mut leases = lock(&self.leases);
        for c in &unstarted {
            leases.remove(&c.id);
        }
        0
    }
}
