//! Workers: each takes a job, runs it in its own task, records the outcome, and takes the
//! next, until the queue closes.

use crate::{Claimed, JobOutcome, JobQueue, QueueError};
use cordon_core::{CallError, ErrorCode};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Starts `workers` workers draining `queue` with `run`. The returned set finishes once the
/// queue is closed and every job in flight has been recorded: await it to drain.
///
/// Two kinds of job are quarantined rather than recorded as failed, and never retried: one
/// whose task panics (what crashed a worker once would crash the next), and one whose call
/// tried to cross containment (a path escape, a host it was not granted; not a limit it ran
/// into): an operator looks at it before anything runs it again. A job an operator released runs once more and its
/// outcome stands.
///
/// An outcome that cannot be stored (the queue's store is down) is retried with backoff;
/// the job stays the worker's until it is stored.
pub fn run_workers<F, Fut>(queue: Arc<dyn JobQueue>, workers: usize, run: F) -> JoinSet<()>
where
    F: Fn(Claimed) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = JobOutcome> + Send + 'static,
{
    run_workers_with(queue, workers, run, Arc::new(|_, _| {}))
}

/// Told of each job a worker quarantines, with why (an operator should hear of it).
pub type OnQuarantine = Arc<dyn Fn(&crate::JobId, &CallError) + Send + Sync>;

/// [`run_workers`], telling `on_quarantine` of each job it quarantines.
pub fn run_workers_with<F, Fut>(
    queue: Arc<dyn JobQueue>,
    workers: usize,
    run: F,
    on_quarantine: OnQuarantine,
) -> JoinSet<()>
where
    F: Fn(Claimed) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = JobOutcome> + Send + 'static,
{
    let mut set = JoinSet::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let run = run.clone();
        let on_quarantine = on_quarantine.clone();
        set.spawn(async move {
            while let Some(claimed) = queue.claim().await {
                let id = claimed.id.clone();
                let released = claimed.released;
                let outcome = match tokio::spawn(run(claimed)).await {
                    Ok(JobOutcome::Failed(e)) if tried_to_cross(&e) && !released => {
                        tracing::warn!(job = %id, code = %e.code, "a job tried to cross a boundary; quarantined");
                        JobOutcome::Quarantined(e)
                    }
                    Ok(outcome) => outcome,
                    Err(e) => {
                        tracing::error!(job = %id, error = %e, "a job crashed its worker; quarantined");
                        JobOutcome::Quarantined(CallError::new(
                            ErrorCode::Internal,
                            format!(
                                "the job crashed the worker running it ({e}); it is kept for inspection and not retried"
                            ),
                        ))
                    }
                };
                if let JobOutcome::Quarantined(why) = &outcome {
                    on_quarantine(&id, why);
                }
                store(queue.as_ref(), &id, outcome).await;
            }
        });
    }
    set
}

/// Whether a failed call tried to cross containment (a path, a host, a command, a system
/// call). A job that ran into a limit (fuel, memory, its deadline) failed; it did not try
/// anything, and is recorded like any failure.
fn tried_to_cross(e: &CallError) -> bool {
    e.violations.iter().any(|v| v.kind.breaches_containment())
}

/// Records the outcome, retrying while the store is unreachable.
async fn store(queue: &dyn JobQueue, id: &crate::JobId, outcome: JobOutcome) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match queue.finish(id, outcome.clone()).await {
            Ok(()) => return,
            Err(QueueError::Closed) => return,
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "cannot store a job's outcome yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InProcessQueue, JobSpec, JobStatus, Priority, QueueOptions};
    use cordon_core::{EscapeKind, Principal, Receipt, RequestId};
    use cordon_metrics::Metrics;
    use serde_json::json;

    #[tokio::test]
    async fn workers_run_jobs_quarantine_a_crash_and_drain_on_close() {
        let q = Arc::new(InProcessQueue::new(
            QueueOptions::default(),
            Arc::new(Metrics::new()),
        ));
        let submit = |tool: &str| JobSpec {
            principal: Principal::new("acme", "someone", ["developer"]),
            tool: tool.into(),
            function: None,
            args: json!({"n": 2}),
            priority: Priority::Normal,
            idempotency_key: None,
            trace_id: None,
        };
        let ok = q.submit(submit("double")).await;
        let crash = q.submit(submit("crash")).await;
        let escape = q.submit(submit("escape")).await;
        let slow = q.submit(submit("slow")).await;
        let (Ok(ok), Ok(crash), Ok(escape), Ok(slow)) = (ok, crash, escape, slow) else {
            panic!("submit refused");
        };
        let failing = |code, kind| {
            let mut e = CallError::new(code, "refused");
            e.violations.push(cordon_core::Violation {
                kind,
                operation: "op".into(),
                path: String::new(),
            });
            JobOutcome::Failed(e)
        };
        let workers = run_workers(q.clone(), 2, move |c: Claimed| async move {
            match c.spec.tool.as_str() {
                "crash" => panic!("this job crashes its worker"),
                "escape" => failing(ErrorCode::PathEscape, EscapeKind::PathTraversal),
                "slow" => failing(ErrorCode::DeadlineExceeded, EscapeKind::Deadline),
                _ => {
                    let n = c.spec.args["n"].as_i64().unwrap_or(0);
                    JobOutcome::Succeeded {
                        value: json!(n * 2),
                        receipt: Receipt::nothing_ran(RequestId::new(), String::new(), "wasm"),
                    }
                }
            }
        });
        for _ in 0..200 {
            let mut all = true;
            for id in [&ok.id, &crash.id, &escape.id, &slow.id] {
                let status = q.status("acme", id).await.ok().flatten();
                all &= status.is_some_and(|j| j.finished_ms.is_some());
            }
            if all {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let status = |job: Option<crate::Job>| job.map(|j| j.status);
        assert_eq!(
            status(q.status("acme", &escape.id).await.ok().flatten()),
            Some(JobStatus::Quarantined),
            "a path escape is quarantined"
        );
        assert_eq!(
            status(q.status("acme", &slow.id).await.ok().flatten()),
            Some(JobStatus::Failed),
            "a job past its deadline failed; it did not try to cross anything"
        );
        let ok = q.status("acme", &ok.id).await.ok().flatten();
        assert!(
            ok.as_ref()
                .is_some_and(|j| j.status == JobStatus::Succeeded)
        );
        assert_eq!(ok.and_then(|j| j.result), Some(json!(4)));
        let crash = q.status("acme", &crash.id).await.ok().flatten();
        assert!(crash.is_some_and(|j| j.status == JobStatus::Quarantined));
        q.close();
        workers.join_all().await;
    }
}
