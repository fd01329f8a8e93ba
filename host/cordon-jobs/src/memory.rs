//! The in-process queue: jobs wait in this process's memory and are lost with it (the
//! Redis queue of federation is the durable one). Bounded everywhere: jobs waiting per
//! tenant, finished jobs kept, and how long they are kept.

use crate::{
    Claimed, Job, JobId, JobOutcome, JobQueue, JobSpec, JobStatus, Priority, QueueError, Submitted,
};
use async_trait::async_trait;
use cordon_core::now_ms;
use cordon_metrics::Metrics;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Bounds of an [`InProcessQueue`].
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Jobs one tenant may have waiting; more are refused with `rate_limited`.
    pub max_queued_per_tenant: usize,
    /// Tenants with a bound of their own.
    pub tenant_max_queued: HashMap<String, usize>,
    /// Finished jobs kept for reading, across tenants; the oldest go first.
    pub max_finished: usize,
    /// How long a finished job stays readable.
    pub retention: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            max_queued_per_tenant: 1_000,
            tenant_max_queued: HashMap::new(),
            max_finished: 100_000,
            retention: Duration::from_secs(3600),
        }
    }
}

/// Jobs waiting and finished, in this process.
pub struct InProcessQueue {
    state: Mutex<State>,
    ready: Notify,
    closed: CancellationToken,
    options: QueueOptions,
    metrics: Arc<Metrics>,
}

struct Entry {
    spec: JobSpec,
    job: Job,
    enqueued: Instant,
}

#[derive(Default)]
struct State {
    jobs: HashMap<JobId, Entry>,
    /// Waiting jobs in the order workers take them.
    waiting: BTreeMap<(Priority, u64), JobId>,
    next_seq: u64,
    queued_per_tenant: HashMap<String, usize>,
    /// (tenant, key) → job, for as long as the job is kept.
    idempotency: HashMap<(String, String), JobId>,
    /// Finished jobs, oldest first, for retention.
    finished: VecDeque<(Instant, JobId)>,
}

impl InProcessQueue {
    /// An empty queue recording its depth and job ages into `metrics`.
    pub fn new(options: QueueOptions, metrics: Arc<Metrics>) -> InProcessQueue {
        InProcessQueue {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            closed: CancellationToken::new(),
            options,
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind, still consistent
        // enough to serve: every update below completes before it can panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Drops finished jobs past their retention or past the cap, oldest first.
    fn sweep(&mut self, options: &QueueOptions) {
        let now = Instant::now();
        while let Some((at, id)) = self.finished.front() {
            let expired = now.duration_since(*at) > options.retention;
            if !expired && self.finished.len() <= options.max_finished {
                break;
            }
            let id = id.clone();
            self.finished.pop_front();
            if let Some(entry) = self.jobs.remove(&id)
                && let Some(key) = entry.spec.idempotency_key
            {
                self.idempotency.remove(&(entry.spec.principal.tenant, key));
            }
        }
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    async fn submit(&self, spec: JobSpec) -> Result<Submitted, QueueError> {
        if self.closed.is_cancelled() {
            return Err(QueueError::Closed);
        }
        let tenant = spec.principal.tenant.clone();
        let mut state = self.lock();
        state.sweep(&self.options);
        if let Some(key) = &spec.idempotency_key
            && let Some(id) = state.idempotency.get(&(tenant.clone(), key.clone()))
        {
            return Ok(Submitted {
                id: id.clone(),
                created: false,
            });
        }
        let queued = state.queued_per_tenant.get(&tenant).copied().unwrap_or(0);
        let limit = (self.options.tenant_max_queued.get(&tenant))
            .copied()
            .unwrap_or(self.options.max_queued_per_tenant);
        if queued >= limit {
            self.metrics
                .rate_limited
                .with_label_values(&[&tenant, "queue"])
                .inc();
            return Err(QueueError::Full { tenant, limit });
        }
        let id = JobId::new();
        let seq = state.next_seq;
        state.next_seq += 1;
        state.waiting.insert((spec.priority, seq), id.clone());
        *state.queued_per_tenant.entry(tenant.clone()).or_default() += 1;
        if let Some(key) = &spec.idempotency_key {
            state
                .idempotency
                .insert((tenant.clone(), key.clone()), id.clone());
        }
        let job = Job {
            id: id.clone(),
            status: JobStatus::Queued,
            tool: spec.tool.clone(),
            function: spec.function.clone(),
            priority: spec.priority,
            submitted_ms: now_ms(),
            started_ms: None,
            finished_ms: None,
            result: None,
            error: None,
            receipt: None,
        };
        self.metrics
            .queue_depth
            .with_label_values(&[spec.priority.as_str(), &tenant])
            .inc();
        state.jobs.insert(
            id.clone(),
            Entry {
                spec,
                job,
                enqueued: Instant::now(),
            },
        );
        drop(state);
        self.ready.notify_one();
        Ok(Submitted { id, created: true })
    }

    async fn status(&self, tenant: &str, id: &JobId) -> Option<Job> {
        let state = self.lock();
        let entry = state.jobs.get(id)?;
        (entry.spec.principal.tenant == tenant).then(|| entry.job.clone())
    }

    async fn claim(&self) -> Option<Claimed> {
        loop {
            if self.closed.is_cancelled() {
                return None;
            }
            {
                let mut state = self.lock();
                if let Some((_, id)) = state.waiting.pop_first() {
                    let State {
                        jobs,
                        queued_per_tenant,
                        ..
                    } = &mut *state;
                    if let Some(entry) = jobs.get_mut(&id) {
                        let tenant = &entry.spec.principal.tenant;
                        if let Some(n) = queued_per_tenant.get_mut(tenant) {
                            *n = n.saturating_sub(1);
                        }
                        self.metrics
                            .queue_depth
                            .with_label_values(&[entry.spec.priority.as_str(), tenant])
                            .dec();
                        let waited = entry.enqueued.elapsed().as_secs_f64();
                        self.metrics.job_age.observe(waited);
                        entry.job.status = JobStatus::Running;
                        entry.job.started_ms = Some(now_ms());
                        return Some(Claimed {
                            id,
                            spec: entry.spec.clone(),
                        });
                    }
                    continue;
                }
            }
            // `notify_one` leaves a permit when nobody waits, so a job submitted between
            // the check above and this await is not missed.
            tokio::select! {
                () = self.ready.notified() => {}
                () = self.closed.cancelled() => return None,
            }
        }
    }

    async fn finish(&self, id: &JobId, outcome: JobOutcome) {
        let mut state = self.lock();
        let Some(entry) = state.jobs.get_mut(id) else {
            return;
        };
        let job = &mut entry.job;
        job.finished_ms = Some(now_ms());
        match outcome {
            JobOutcome::Succeeded { value, receipt } => {
                job.status = JobStatus::Succeeded;
                job.result = Some(value);
                job.receipt = Some(receipt);
            }
            JobOutcome::Failed(e) => {
                job.status = JobStatus::Failed;
                job.receipt = e.receipt.clone();
                job.error = Some(e);
            }
            JobOutcome::Quarantined(message) => {
                job.status = JobStatus::Quarantined;
                job.error = Some(cordon_core::CallError::new(
                    cordon_core::ErrorCode::Internal,
                    message,
                ));
            }
        }
        state.finished.push_back((Instant::now(), id.clone()));
        state.sweep(&self.options);
    }

    fn close(&self) -> usize {
        self.closed.cancel();
        self.lock().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_core::{Principal, Receipt, RequestId};
    use serde_json::json;

    fn spec(tenant: &str, priority: Priority, key: Option<&str>) -> JobSpec {
        JobSpec {
            principal: Principal::new(tenant, "someone", ["developer"]),
            tool: "text-analysis".into(),
            function: None,
            args: json!({}),
            priority,
            idempotency_key: key.map(str::to_owned),
            trace_id: None,
        }
    }

    fn queue(options: QueueOptions) -> InProcessQueue {
        InProcessQueue::new(options, Arc::new(Metrics::new()))
    }

    #[tokio::test]
    async fn workers_take_high_priority_first_then_the_oldest() {
        let q = queue(QueueOptions::default());
        let low = q.submit(spec("a", Priority::Low, None)).await;
        let first = q.submit(spec("a", Priority::Normal, None)).await;
        let high = q.submit(spec("a", Priority::High, None)).await;
        let second = q.submit(spec("a", Priority::Normal, None)).await;
        let order: Vec<JobId> = [
            q.claim().await,
            q.claim().await,
            q.claim().await,
            q.claim().await,
        ]
        .into_iter()
        .flatten()
        .map(|c| c.id)
        .collect();
        let ids: Vec<JobId> = [high, first, second, low]
            .into_iter()
            .flatten()
            .map(|s| s.id)
            .collect();
        assert_eq!(order, ids);
    }

    #[tokio::test]
    async fn a_job_is_visible_to_its_tenant_only() {
        let q = queue(QueueOptions::default());
        let Ok(s) = q.submit(spec("acme", Priority::Normal, None)).await else {
            panic!("submit refused");
        };
        assert!(q.status("acme", &s.id).await.is_some());
        assert!(q.status("globex", &s.id).await.is_none());
        assert!(
            q.status("acme", &JobId::from_caller("job_nope"))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_idempotency_key_returns_the_same_job_within_a_tenant() {
        let q = queue(QueueOptions::default());
        let a = q.submit(spec("acme", Priority::Normal, Some("k1"))).await;
        let b = q.submit(spec("acme", Priority::Normal, Some("k1"))).await;
        let other = q.submit(spec("globex", Priority::Normal, Some("k1"))).await;
        let (Ok(a), Ok(b), Ok(other)) = (a, b, other) else {
            panic!("submit refused");
        };
        assert!(a.created && !b.created && other.created);
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, other.id);
    }

    #[tokio::test]
    async fn a_tenant_over_its_queue_bound_is_refused_and_others_are_not() {
        let q = queue(QueueOptions {
            max_queued_per_tenant: 2,
            ..QueueOptions::default()
        });
        for _ in 0..2 {
            assert!(q.submit(spec("acme", Priority::Normal, None)).await.is_ok());
        }
        let refused = q.submit(spec("acme", Priority::Normal, None)).await;
        assert!(matches!(refused, Err(QueueError::Full { limit: 2, .. })));
        assert!(
            q.submit(spec("globex", Priority::Normal, None))
                .await
                .is_ok()
        );
        // A claimed job no longer counts against the bound.
        assert!(q.claim().await.is_some());
        assert!(q.submit(spec("acme", Priority::Normal, None)).await.is_ok());
    }

    async fn run_to_completion(q: &InProcessQueue, key: Option<&str>) -> JobId {
        let Ok(s) = q.submit(spec("acme", Priority::Normal, key)).await else {
            panic!("submit refused");
        };
        let Some(c) = q.claim().await else {
            panic!("nothing to claim");
        };
        let receipt = Receipt::nothing_ran(RequestId::new(), String::new(), "wasm");
        let value = json!(42);
        q.finish(&c.id, JobOutcome::Succeeded { value, receipt })
            .await;
        s.id
    }

    #[tokio::test]
    async fn finished_jobs_keep_their_result_until_the_cap_pushes_them_out() {
        let q = queue(QueueOptions {
            max_finished: 1,
            ..QueueOptions::default()
        });
        let first = run_to_completion(&q, Some("k")).await;
        let Some(job) = q.status("acme", &first).await else {
            panic!("a finished job is kept");
        };
        assert_eq!(job.status, JobStatus::Succeeded);
        assert_eq!(job.result, Some(json!(42)));
        let second = run_to_completion(&q, None).await;
        assert!(q.status("acme", &first).await.is_none(), "past the cap");
        assert!(q.status("acme", &second).await.is_some());
        // The swept job's idempotency key went with it.
        let again = q.submit(spec("acme", Priority::Normal, Some("k"))).await;
        assert!(matches!(again, Ok(Submitted { created: true, .. })));
    }

    #[tokio::test]
    async fn close_wakes_idle_workers_and_refuses_new_jobs() {
        let q = Arc::new(queue(QueueOptions::default()));
        let waiting = tokio::spawn({
            let q = q.clone();
            async move { q.claim().await.is_none() }
        });
        tokio::task::yield_now().await;
        assert_eq!(q.close(), 0);
        assert!(matches!(waiting.await, Ok(true)));
        assert!(matches!(
            q.submit(spec("acme", Priority::Normal, None)).await,
            Err(QueueError::Closed)
        ));
    }
}
