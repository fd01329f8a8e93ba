//! Federation: several `cordon serve` hosts share one Redis. Jobs wait in Redis Streams
//! (one stream per priority, tenant and tool, read through one consumer group), so any host
//! that carries a job's tool can run it; hosts announce themselves with a heartbeat; a job
//! whose host dies is taken over by a live host once its lease runs out.
//!
//! ```text
//!  POST /v1/jobs (any host)            every host's workers
//!        │ SUBMIT ──▶ P:q:PRIO:TENANT:TOOL ──CLAIM──▶ run ──FINISH (store, then XACK)──▶ P:job:ID
//!        │                     ▲    │ lease renewed while running      │ PUBLISH P:done
//!        │                     │    └─ not renewed for a lease: RECLAIM by a live host
//!        │                     └──── release ◀── P:quarantine ◀── started `max_attempts` times
//! ```
//!
//! What is guaranteed: a job the API answered `202` for is in Redis (with AOF and
//! `appendfsync always`, on disk) and runs until one outcome is stored; a job whose outcome
//! is stored is never run again; at most one outcome is ever stored per job. A job may
//! *start* more than once when its host dies mid-run (at-least-once execution); a job that
//! keeps killing its hosts is quarantined after `max_attempts` starts.

mod hosts;
mod keys;
mod queue;
mod scripts;
#[cfg(feature = "testing")]
pub mod testing;

pub use hosts::{HostInfo, HostRegistry};
pub use queue::RedisQueue;

use cordon_jobs::QueueError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// How a host joins a federation.
#[derive(Debug, Clone)]
pub struct FederationOptions {
    /// `redis://HOST:PORT[/DB]`.
    pub redis_url: String,
    /// Every key starts with `{PREFIX}`; federations sharing one Redis use different ones.
    pub prefix: String,
    /// This host's name in the federation (its consumer name in Redis); unique per process.
    pub host_id: String,
    /// A job's host renews its claim well within this; a claim not renewed for this long is
    /// taken over by another host. Also how long a silent host stays listed.
    pub lease: Duration,
    /// Starts after which a job whose host died each time is quarantined, not run again.
    pub max_attempts: u32,
    /// How long a finished job's outcome stays readable.
    pub result_ttl: Duration,
    /// How long a job may wait (or sit in quarantine) before it is forgotten.
    pub waiting_ttl: Duration,
}

impl FederationOptions {
    /// Defaults for everything but the Redis address and this host's id.
    pub fn new(redis_url: impl Into<String>, host_id: impl Into<String>) -> FederationOptions {
        FederationOptions {
            redis_url: redis_url.into(),
            prefix: "cordon".into(),
            host_id: host_id.into(),
            lease: Duration::from_secs(10),
            max_attempts: 3,
            result_ttl: Duration::from_secs(3600),
            waiting_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }

    /// The key prefix with its hash tag: `{cordon}`.
    fn tagged_prefix(&self) -> String {
        format!("{{{}}}", self.prefix)
    }
}

/// A connection to the federation's Redis that reconnects by itself (with backoff) after
/// Redis restarts or the network drops; commands in between fail at once.
pub async fn connect(options: &FederationOptions) -> Result<ConnectionManager, QueueError> {
    let client = redis::Client::open(options.redis_url.as_str())
        .map_err(|e| QueueError::Unavailable(format!("{}: {e}", options.redis_url)))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(3)))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(2));
    client
        .get_connection_manager_with_config(config)
        .await
        .map_err(|e| unavailable(&e))
}

/// A Redis failure as the queue reports it: `unavailable` (HTTP 503).
fn unavailable(e: &redis::RedisError) -> QueueError {
    QueueError::Unavailable(format!("redis: {e}"))
}
