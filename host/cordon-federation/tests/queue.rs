//! The Redis queue against a real `redis-server`: order, fairness, routing, idempotency,
//! bounds, take-over of a dead host's jobs, quarantine, and a Redis outage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use cordon_core::{Principal, Receipt, RequestId};
use cordon_federation::testing::RedisServer;
use cordon_federation::{FederationOptions, HostInfo, HostRegistry, RedisQueue};
use cordon_jobs::{
    Claimed, JobOutcome, JobQueue, JobSpec, JobStatus, Priority, QueueError, QueueOptions,
};
use cordon_metrics::Metrics;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn spec(tenant: &str, tool: &str, priority: Priority, key: Option<&str>) -> JobSpec {
    JobSpec {
        principal: Principal::new(tenant, "someone", ["developer"]),
        tool: tool.into(),
        function: None,
        args: json!({"n": 1}),
        priority,
        idempotency_key: key.map(str::to_owned),
        trace_id: None,
    }
}

fn options(redis: &RedisServer, host: &str) -> FederationOptions {
    let mut o = FederationOptions::new(redis.url(), host);
    o.lease = Duration::from_millis(800);
    o.max_attempts = 2;
    o
}

async fn host(o: FederationOptions, tools: &[&str], limits: QueueOptions) -> Arc<RedisQueue> {
    let tools: Vec<String> = tools.iter().map(|t| (*t).to_owned()).collect();
    RedisQueue::start(
        o,
        limits,
        Arc::new(move || tools.clone()),
        Arc::new(Metrics::new()),
    )
    .await
    .unwrap()
}

fn succeeded(n: i64) -> JobOutcome {
    JobOutcome::Succeeded {
        value: json!(n),
        receipt: Receipt::nothing_ran(RequestId::new(), String::new(), "wasm"),
    }
}

async fn claim_within(q: &RedisQueue, d: Duration) -> Option<Claimed> {
    tokio::time::timeout(d, q.claim()).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread")]
async fn high_priority_first_tenants_take_turns_and_readers_hear_the_outcome() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let q = host(options(&redis, "a"), &["t"], QueueOptions::default()).await;
    for _ in 0..3 {
        q.submit(spec("busy", "t", Priority::Normal, None))
            .await
            .unwrap();
    }
    q.submit(spec("quiet", "t", Priority::Normal, None))
        .await
        .unwrap();
    let high = q
        .submit(spec("busy", "t", Priority::High, None))
        .await
        .unwrap();
    let first = q.claim().await.unwrap();
    assert_eq!(first.id, high.id, "high before normal");
    let tenants: Vec<String> = [q.claim().await.unwrap(), q.claim().await.unwrap()]
        .iter()
        .map(|c| c.spec.principal.tenant.clone())
        .collect();
    assert!(
        tenants.contains(&"quiet".to_owned()),
        "quiet gets a turn before busy's third job: {tenants:?}"
    );

    let reader = {
        let q = q.clone();
        let id = first.id.clone();
        tokio::spawn(async move { q.wait("busy", &id, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    q.finish(&first.id, succeeded(7)).await.unwrap();
    let job = reader.await.unwrap().unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "woken, not polled"
    );
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.result, Some(json!(7)));
    assert_eq!((job.host.as_deref(), job.attempts), (Some("a"), 1));
    assert!(
        q.status("quiet", &first.id).await.unwrap().is_none(),
        "other tenant"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_goes_only_to_hosts_that_carry_its_tool() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let other = host(options(&redis, "b"), &["u"], QueueOptions::default()).await;
    let carrier = host(options(&redis, "a"), &["t"], QueueOptions::default()).await;
    let s = other
        .submit(spec("acme", "t", Priority::Normal, None))
        .await
        .unwrap();
    assert!(
        claim_within(&other, Duration::from_millis(1500))
            .await
            .is_none()
    );
    let c = claim_within(&carrier, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(c.id, s.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_return_the_first_job_and_a_full_tenant_is_refused() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let limits = QueueOptions {
        max_queued_per_tenant: 2,
        ..QueueOptions::default()
    };
    let q = host(options(&redis, "a"), &["t"], limits).await;
    let a = q
        .submit(spec("acme", "t", Priority::Normal, Some("k")))
        .await
        .unwrap();
    let again = q
        .submit(spec("acme", "t", Priority::Normal, Some("k")))
        .await
        .unwrap();
    let other = q
        .submit(spec("globex", "t", Priority::Normal, Some("k")))
        .await
        .unwrap();
    assert!(a.created && !again.created && other.created);
    assert_eq!(a.id, again.id);
    q.submit(spec("acme", "t", Priority::Normal, None))
        .await
        .unwrap();
    let full = q.submit(spec("acme", "t", Priority::Normal, None)).await;
    assert!(
        matches!(full, Err(QueueError::Full { limit: 2, .. })),
        "{full:?}"
    );
    // Tenants take turns: two claims take at least one of acme's, making room for one.
    assert!(q.claim().await.is_some() && q.claim().await.is_some());
    assert!(
        q.submit(spec("acme", "t", Priority::Normal, None))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_hosts_job_is_taken_over_then_quarantined_after_max_attempts() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let registry = HostRegistry::connect(&options(&redis, "x")).await.unwrap();
    let first = host(options(&redis, "first"), &["t"], QueueOptions::default()).await;
    let s = first
        .submit(spec("acme", "t", Priority::Normal, None))
        .await
        .unwrap();
    let c = first.claim().await.unwrap();
    assert_eq!((c.id.clone(), c.attempt), (s.id.clone(), 1));
    let announce = |id: &str| HostInfo {
        id: id.into(),
        address: String::new(),
        tools: vec!["t".into()],
        capacity: 1,
        running: 0,
        version: "test".into(),
        started_ms: 0,
        heartbeat_ms: 0,
    };
    registry.announce(&announce("first")).await.unwrap();
    assert_eq!(registry.list().await.unwrap().len(), 1);
    // `first` dies: it stops renewing its claim and its record lapses.
    first.stop();
    let second = host(options(&redis, "second"), &["t"], QueueOptions::default()).await;
    let started = Instant::now();
    let c2 = claim_within(&second, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!((c2.id.clone(), c2.attempt), (s.id.clone(), 2));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        registry.list().await.unwrap().is_empty(),
        "first's record lapsed"
    );
    let job = second.status("acme", &s.id).await.unwrap().unwrap();
    assert_eq!(
        (job.status, job.host.as_deref()),
        (JobStatus::Running, Some("second"))
    );
    // `second` dies too: two starts is the limit, so the next host quarantines it.
    second.stop();
    let third = host(options(&redis, "third"), &["t"], QueueOptions::default()).await;
    assert!(claim_within(&third, Duration::from_secs(3)).await.is_none());
    let job = third.status("acme", &s.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Quarantined);
    assert!(job.error.unwrap().message.contains("started 2 times"));
    let listed = third.quarantined(Some("acme")).await.unwrap();
    assert_eq!(listed.iter().map(|j| &j.id).collect::<Vec<_>>(), [&s.id]);
    assert!(third.quarantined(Some("globex")).await.unwrap().is_empty());

    // Released, it runs once more, marked released, and its outcome stands.
    assert!(!third.release(Some("globex"), &s.id).await.unwrap());
    assert!(third.release(Some("acme"), &s.id).await.unwrap());
    let c3 = claim_within(&third, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (c3.id.clone(), c3.attempt, c3.released),
        (s.id.clone(), 1, true)
    );
    third.finish(&c3.id, succeeded(1)).await.unwrap();
    assert!(third.quarantined(None).await.unwrap().is_empty());

    // A second job is quarantined by its worker (it tried to escape) and discarded.
    let s2 = third
        .submit(spec("acme", "t", Priority::Normal, None))
        .await
        .unwrap();
    let c = claim_within(&third, Duration::from_secs(5)).await.unwrap();
    let escape = cordon_core::CallError::new(cordon_core::ErrorCode::PathEscape, "escape");
    third
        .finish(&c.id, JobOutcome::Quarantined(escape))
        .await
        .unwrap();
    assert_eq!(third.quarantined(None).await.unwrap().len(), 1);
    assert!(third.discard(None, &s2.id).await.unwrap());
    assert!(third.status("acme", &s2.id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_redis_calls_fail_fast_and_nothing_acknowledged_is_lost() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let q = host(options(&redis, "a"), &["t"], QueueOptions::default()).await;
    let before = q
        .submit(spec("acme", "t", Priority::Normal, None))
        .await
        .unwrap();
    redis.stop();
    let started = Instant::now();
    let refused = q.submit(spec("acme", "t", Priority::Normal, None)).await;
    assert!(
        matches!(refused, Err(QueueError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        match q.submit(spec("acme", "t", Priority::Normal, None)).await {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("never reconnected: {e}"),
        }
    };
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(claim_within(&q, Duration::from_secs(5)).await.unwrap().id);
    }
    assert_eq!(ids, [before.id, after.id]);
}
