//! Who is in the federation: each host writes a record of itself that expires unless it is
//! renewed, so a host that dies drops off the list within one lease.

use crate::{FederationOptions, keys, unavailable};
use cordon_jobs::QueueError;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One host as it announces itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostInfo {
    /// Its id in the federation.
    pub id: String,
    /// Where its API listens (`http://127.0.0.1:8787`).
    pub address: String,
    /// The tools it carries: jobs for other tools are never routed to it.
    pub tools: Vec<String>,
    /// Workers running jobs.
    pub capacity: usize,
    /// Jobs it is running now.
    pub running: usize,
    /// Cordon's version.
    pub version: String,
    /// When it started (ms since the epoch).
    pub started_ms: u64,
    /// When it last announced itself.
    pub heartbeat_ms: u64,
}

/// The hosts of one federation.
#[derive(Clone)]
pub struct HostRegistry {
    conn: ConnectionManager,
    prefix: String,
    ttl: Duration,
}

impl HostRegistry {
    /// The registry of the federation `options` names.
    ///
    /// # Errors
    ///
    /// `unavailable` when Redis cannot be reached.
    pub async fn connect(options: &FederationOptions) -> Result<HostRegistry, QueueError> {
        Ok(HostRegistry {
            conn: crate::connect(options).await?,
            prefix: options.tagged_prefix(),
            ttl: options.lease,
        })
    }

    /// Announces (or re-announces) `host`; its record lasts one lease.
    ///
    /// # Errors
    ///
    /// `unavailable` when Redis cannot be reached.
    pub async fn announce(&self, host: &HostInfo) -> Result<(), QueueError> {
        let json = serde_json::to_string(host).unwrap_or_default();
        let ttl = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        redis::pipe()
            .atomic()
            .pset_ex(keys::host(&self.prefix, &host.id), json, ttl)
            .ignore()
            .sadd(keys::hosts(&self.prefix), &host.id)
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable(&e))
    }

    /// Removes `id`'s record (a host leaving cleanly).
    ///
    /// # Errors
    ///
    /// `unavailable` when Redis cannot be reached.
    pub async fn withdraw(&self, id: &str) -> Result<(), QueueError> {
        redis::pipe()
            .atomic()
            .del(keys::host(&self.prefix, id))
            .ignore()
            .srem(keys::hosts(&self.prefix), id)
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable(&e))
    }

    /// The live hosts, by id. Hosts whose record expired are forgotten on the way.
    ///
    /// # Errors
    ///
    /// `unavailable` when Redis cannot be reached.
    pub async fn list(&self) -> Result<Vec<HostInfo>, QueueError> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = conn
            .smembers(keys::hosts(&self.prefix))
            .await
            .map_err(|e| unavailable(&e))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ids.sort();
        let records: Vec<Option<String>> = conn
            .mget(
                ids.iter()
                    .map(|id| keys::host(&self.prefix, id))
                    .collect::<Vec<_>>(),
            )
            .await
            .map_err(|e| unavailable(&e))?;
        let mut live = Vec::new();
        for (id, record) in ids.iter().zip(records) {
            match record.and_then(|r| serde_json::from_str::<HostInfo>(&r).ok()) {
                Some(h) => live.push(h),
                None => {
                    let _: Result<(), _> = conn.srem(keys::hosts(&self.prefix), id).await;
                }
            }
        }
        Ok(live)
    }
}
