//! The in-process queue: jobs wait in this process's memory and are lost with it (the
//! Redis queue of federation is the durable one). Bounded everywhere: jobs waiting per
//! tenant, finished jobs kept, and how long they are kept. Between tenants of one priority,
//! workers take jobs in turn, so a tenant with a thousand jobs waiting does not hold up one
//! with a single job.

use crate::{
    Claimed, Finished, Job, JobId, JobOutcome, JobQueue, JobSpec, JobStatus, Priority, QueueError,
    Submitted,
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
    /// Jobs one tenant may have waiting; more are refused with `queue_full`.
    pub max_queued_per_tenant: usize,
    /// Tenants with a bound of their own.
    pub tenant_max_queued: HashMap<String, usize>,
    /// Finished jobs kept for reading, across tenants; the oldest go first.
    pub max_finished: usize,
    /// How long a finished job stays readable.
    pub retention: Duration,
    /// This host's name, recorded on the jobs it runs.
    pub host: String,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            max_queued_per_tenant: 1_000,
            tenant_max_queued: HashMap::new(),
            max_finished: 100_000,
            retention: Duration::from_secs(3600),
            host: String::from("local"),
        }
    }
}

impl QueueOptions {
    /// How many jobs `tenant` may have waiting.
    pub fn limit_for(&self, tenant: &str) -> usize {
        (self.tenant_max_queued.get(tenant))
            .copied()
            .unwrap_or(self.max_queued_per_tenant)
    }
}

/// Jobs waiting and finished, in this process.
pub struct InProcessQueue {
    state: Mutex<State>,
    ready: Notify,
    closed: CancellationToken,
    finished: Finished,
    options: QueueOptions,
    metrics: Arc<Metrics>,
}

struct Entry {
    spec: JobSpec,
    job: Job,
    enqueued: Instant,
    released: bool,
}

/// The jobs of one priority: each tenant's in submission order, and the tenants in the
/// order they get their next turn.
#[derive(Default)]
struct Lane {
    turns: VecDeque<String>,
    jobs: HashMap<String, VecDeque<JobId>>,
}

impl Lane {
    fn push(&mut self, tenant: &str, id: JobId) {
        let jobs = self.jobs.entry(tenant.to_owned()).or_default();
        if jobs.is_empty() {
            self.turns.push_back(tenant.to_owned());
        }
        jobs.push_back(id);
    }

    /// The next tenant's oldest job; that tenant goes to the back of the line.
    fn pop(&mut self) -> Option<JobId> {
        let tenant = self.turns.pop_front()?;
        let jobs = self.jobs.get_mut(&tenant)?;
        let id = jobs.pop_front();
        if jobs.is_empty() {
            self.jobs.remove(&tenant);
        } else {
            self.turns.push_back(tenant);
        }
        id
    }

    fn len(&self) -> usize {
        self.jobs.values().map(VecDeque::len).sum()
    }
}

#[derive(Default)]
struct State {
    jobs: HashMap<JobId, Entry>,
    /// Waiting jobs by priority, highest first.
    waiting: BTreeMap<Priority, Lane>,
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
            finished: Finished::default(),
            options,
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind, still consistent
        // enough to serve: every update below completes before it can panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enqueue(&self, state: &mut State, id: JobId) {
        let Some(entry) = state.jobs.get(&id) else {
            return;
        };
        let (priority, tenant) = (entry.spec.priority, entry.spec.principal.tenant.clone());
        state.waiting.entry(priority).or_default().push(&tenant, id);
        *state.queued_per_tenant.entry(tenant.clone()).or_default() += 1;
        self.metrics
            .queue_depth
            .with_label_values(&[priority.as_str(), &tenant])
            .inc();
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
            self.remove(&id);
        }
    }

    fn remove(&mut self, id: &JobId) {
        if let Some(entry) = self.jobs.remove(id)
            && let Some(key) = entry.spec.idempotency_key
        {
            self.idempotency.remove(&(entry.spec.principal.tenant, key));
        }
    }

    /// The quarantined job `id`, of `tenant` when one is named.
    fn quarantined(&mut self, tenant: Option<&str>, id: &JobId) -> Option<&mut Entry> {
        let entry = self.jobs.get_mut(id)?;
        let theirs = tenant.is_none_or(|t| t == entry.spec.principal.tenant);
        (theirs && entry.job.status == JobStatus::Quarantined).then_some(entry)
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
        let limit = self.options.limit_for(&tenant);
        if queued >= limit {
            self.metrics
                .rate_limited
                .with_label_values(&[&tenant, "queue"])
                .inc();
            return Err(QueueError::Full { tenant, limit });
        }
        let id = JobId::new();
        if let Some(key) = &spec.idempotency_key {
            state
                .idempotency
                .insert((tenant.clone(), key.clone()), id.clone());
        }
        let job = Job::queued(id.clone(), &spec, now_ms());
        state.jobs.insert(
            id.clone(),
            Entry {
                spec,
                job,
                enqueued: Instant::now(),
                released: false,
            },
        );
        self.enqueue(&mut state, id.clone());
        drop(state);
        self.ready.notify_one();
        Ok(Submitted { id, created: true })
    }

    async fn status(&self, tenant: &str, id: &JobId) -> Result<Option<Job>, QueueError> {
        let state = self.lock();
        let Some(entry) = state.jobs.get(id) else {
            return Ok(None);
        };
        Ok((entry.spec.principal.tenant == tenant).then(|| entry.job.clone()))
    }

    async fn owner(&self, id: &JobId) -> Result<Option<String>, QueueError> {
        let state = self.lock();
        Ok(state.jobs.get(id).map(|e| e.spec.principal.tenant.clone()))
    }

    async fn claim(&self) -> Option<Claimed> {
        loop {
            if self.closed.is_cancelled() {
                return None;
            }
            {
                let mut state = self.lock();
                let next = (state.waiting.values_mut()).find_map(Lane::pop);
                if let Some(id) = next {
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
                        self.metrics.job_started(
                            entry.spec.priority.as_str(),
                            tenant,
                            entry.enqueued.elapsed(),
                        );
                        entry.job.status = JobStatus::Running;
                        entry.job.started_ms = Some(now_ms());
                        entry.job.host = Some(self.options.host.clone());
                        entry.job.attempts += 1;
                        return Some(Claimed {
                            id,
                            spec: entry.spec.clone(),
                            attempt: entry.job.attempts,
                            released: entry.released,
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

    async fn finish(&self, id: &JobId, outcome: JobOutcome) -> Result<(), QueueError> {
        {
            let mut state = self.lock();
            let Some(entry) = state.jobs.get_mut(id) else {
                return Ok(());
            };
            entry.job.record(outcome, now_ms());
            state.finished.push_back((Instant::now(), id.clone()));
            state.sweep(&self.options);
        }
        self.finished.signal(id);
        Ok(())
    }

    async fn quarantined(&self, tenant: Option<&str>) -> Result<Vec<Job>, QueueError> {
        let state = self.lock();
        let mut jobs: Vec<Job> = (state.jobs.values())
            .filter(|e| e.job.status == JobStatus::Quarantined)
            .filter(|e| tenant.is_none_or(|t| t == e.spec.principal.tenant))
            .map(|e| e.job.clone())
            .collect();
        jobs.sort_by_key(|j| j.finished_ms);
        Ok(jobs)
    }

    async fn release(&self, tenant: Option<&str>, id: &JobId) -> Result<bool, QueueError> {
        {
            let mut state = self.lock();
            let Some(entry) = state.quarantined(tenant, id) else {
                return Ok(false);
            };
            let spec = entry.spec.clone();
            entry.job = Job::queued(id.clone(), &spec, entry.job.submitted_ms);
            entry.released = true;
            entry.enqueued = Instant::now();
            state.finished.retain(|(_, f)| f != id);
            self.enqueue(&mut state, id.clone());
        }
        self.ready.notify_one();
        Ok(true)
    }

    async fn discard(&self, tenant: Option<&str>, id: &JobId) -> Result<bool, QueueError> {
        let mut state = self.lock();
        if state.quarantined(tenant, id).is_none() {
            return Ok(false);
        }
        state.finished.retain(|(_, f)| f != id);
        state.remove(id);
        Ok(true)
    }

    fn finished(&self) -> &Finished {
        &self.finished
    }

    fn close(&self) -> usize {
        self.closed.cancel();
        self.lock().waiting.values().map(Lane::len).sum()
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
    async fn tenants_of_one_priority_take_turns() {
        let q = queue(QueueOptions::default());
        let mut busy = Vec::new();
        for _ in 0..3 {
            busy.push(q.submit(spec("busy", Priority::Normal, None)).await);
        }
        let quiet = q.submit(spec("quiet", Priority::Normal, None)).await;
        let first = q.claim().await.map(|c| c.spec.principal.tenant);
        let second = q.claim().await.map(|c| c.spec.principal.tenant);
        assert_eq!(first.as_deref(), Some("busy"));
        assert_eq!(
            second.as_deref(),
            Some("quiet"),
            "quiet does not wait for all of busy"
        );
        assert!(quiet.is_ok() && busy.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn a_quarantined_job_can_be_released_once_or_discarded() {
        let q = queue(QueueOptions::default());
        let (Ok(a), Ok(b)) = (
            q.submit(spec("acme", Priority::Normal, None)).await,
            q.submit(spec("acme", Priority::Normal, None)).await,
        ) else {
            panic!("submit refused");
        };
        for _ in 0..2 {
            let Some(c) = q.claim().await else {
                panic!("nothing to claim");
            };
            assert!(!c.released);
            let why = cordon_core::CallError::new(cordon_core::ErrorCode::PathEscape, "escape");
            assert!(q.finish(&c.id, JobOutcome::Quarantined(why)).await.is_ok());
        }
        let listed = q.quarantined(Some("acme")).await.unwrap_or_default();
        assert_eq!(listed.len(), 2);
        assert!(
            q.quarantined(Some("globex"))
                .await
                .unwrap_or_default()
                .is_empty()
        );
        assert!(
            !q.release(Some("globex"), &a.id).await.unwrap_or(true),
            "not theirs"
        );
        assert!(q.release(Some("acme"), &a.id).await.unwrap_or(false));
        let again = q.claim().await;
        assert!(
            again
                .as_ref()
                .is_some_and(|c| c.id == a.id && c.released && c.attempt == 1)
        );
        assert!(q.discard(None, &b.id).await.unwrap_or(false));
        assert!(q.status("acme", &b.id).await.unwrap_or_default().is_none());
        assert!(!q.release(None, &b.id).await.unwrap_or(true));
    }

    #[tokio::test]
    async fn a_job_is_visible_to_its_tenant_only() {
        let q = queue(QueueOptions::default());
        let Ok(s) = q.submit(spec("acme", Priority::Normal, None)).await else {
            panic!("submit refused");
        };
        let seen = |t: &'static str, id: JobId| {
            let q = &q;
            async move { q.status(t, &id).await.ok().flatten().is_some() }
        };
        assert!(seen("acme", s.id.clone()).await);
        assert!(!seen("globex", s.id.clone()).await);
        assert!(!seen("acme", JobId::from_caller("job_nope")).await);
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
        let stored = q.finish(&c.id, JobOutcome::Succeeded { value, receipt });
        assert!(stored.await.is_ok());
        s.id
    }

    #[tokio::test]
    async fn finished_jobs_keep_their_result_until_the_cap_pushes_them_out() {
        let q = queue(QueueOptions {
            max_finished: 1,
            ..QueueOptions::default()
        });
        let first = run_to_completion(&q, Some("k")).await;
        let Some(job) = q.status("acme", &first).await.ok().flatten() else {
            panic!("a finished job is kept");
        };
        assert_eq!(job.status, JobStatus::Succeeded);
        assert_eq!(job.result, Some(json!(42)));
        let second = run_to_completion(&q, None).await;
        let status = |id| q.status("acme", id);
        assert!(matches!(status(&first).await, Ok(None)), "past the cap");
        assert!(matches!(status(&second).await, Ok(Some(_))));
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
