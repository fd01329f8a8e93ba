//! This host among others: its announcement (a heartbeat into the federation's Redis), the
//! hosts list, and the quarantine an operator works through. Without `--redis` the
//! federation is this host alone, and the same routes answer for it.

use super::AppState;
use super::api::JobView;
use super::auth::{Caller, require_admin as admin};
use super::error::{ApiError, ErrorBody};
use axum::Json;
use axum::extract::{Path, State};
use cordon_core::{ErrorCode, EscapeKind, Principal, now_ms};
use cordon_federation::{HostInfo, HostRegistry, RedisQueue};
use cordon_host::Runtime;
use cordon_jobs::{JobId, QueueError};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

/// This host's place in its federation.
pub struct Fleet {
    pub id: String,
    /// Where its API is reached.
    pub address: String,
    /// Its job workers.
    pub capacity: usize,
    pub started_ms: u64,
    /// Jobs its workers are running.
    pub running: AtomicUsize,
    /// The federation's registry and queue; `None` without `--redis`.
    pub federation: Option<(HostRegistry, Arc<RedisQueue>)>,
    /// How often to announce this host (a quarter of the lease).
    pub every: Duration,
}

impl Fleet {
    /// This host as it announces itself.
    fn me(&self, runtime: &Runtime) -> HostInfo {
        HostInfo {
            id: self.id.clone(),
            address: self.address.clone(),
            tools: (runtime.catalog.current().tools())
                .map(|t| t.manifest.name.clone())
                .collect(),
            capacity: self.capacity,
            running: self.running.load(Ordering::Relaxed),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_ms: self.started_ms,
            heartbeat_ms: now_ms(),
        }
    }

    /// Every live host (this one alone without a federation).
    async fn hosts(&self, runtime: &Runtime) -> Result<Vec<HostInfo>, QueueError> {
        match &self.federation {
            Some((registry, _)) => registry.list().await,
            None => Ok(vec![self.me(runtime)]),
        }
    }

    /// Whether another live host carries `tool` (so a job for it may be queued here).
    pub async fn carried_elsewhere(&self, tool: &str) -> Result<bool, QueueError> {
        let Some((registry, _)) = &self.federation else {
            return Ok(false);
        };
        let hosts = registry.list().await?;
        Ok(hosts.iter().any(|h| h.tools.iter().any(|t| t == tool)))
    }

    /// Announces this host until `stop`, then withdraws it.
    pub fn announce(self: &Arc<Self>, runtime: Arc<Runtime>, stop: CancellationToken) {
        let Some((registry, _)) = self.federation.clone() else {
            return;
        };
        let fleet = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(fleet.every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = stop.cancelled() => break,
                }
                if let Err(e) = registry.announce(&fleet.me(&runtime)).await {
                    tracing::warn!(error = %e, "cannot announce this host");
                }
            }
            if let Err(e) = registry.withdraw(&fleet.id).await {
                tracing::warn!(error = %e, "cannot withdraw this host");
            }
        });
    }

    /// Stops the federation's background work once the workers have drained.
    pub fn leave(&self) {
        if let Some((_, queue)) = &self.federation {
            queue.stop();
        }
    }
}

/// The hosts of the federation.
#[derive(Serialize, ToSchema)]
pub struct HostList {
    hosts: Vec<HostInfo>,
}

fn unavailable(e: &QueueError) -> ApiError {
    ApiError::new(e.code(), e.to_string())
}

/// The live hosts of the federation: id, address, tools, capacity, jobs running, version.
/// Admins only.
#[utoipa::path(get, path = "/v1/hosts", tag = "federation", security(("bearer" = [])),
    responses(
        (status = 200, description = "The hosts", body = HostList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
        (status = 503, description = "The federation's Redis is unreachable", body = ErrorBody),
    ))]
pub async fn list_hosts(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
) -> Result<Json<HostList>, ApiError> {
    admin(&principal, "listing hosts")?;
    let hosts = (state.fleet.hosts(&state.runtime).await).map_err(|e| unavailable(&e))?;
    Ok(Json(HostList { hosts }))
}

/// Quarantined jobs of the caller's tenant.
#[derive(Serialize, ToSchema)]
pub struct QuarantineList {
    jobs: Vec<JobView>,
}

/// Jobs of the caller's tenant that were quarantined (their hosts kept dying running them,
/// they crashed a worker, or they tried to cross a boundary), oldest first. Admins only.
#[utoipa::path(get, path = "/v1/quarantine", tag = "federation", security(("bearer" = [])),
    responses(
        (status = 200, description = "The jobs", body = QuarantineList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
        (status = 503, description = "The federation's Redis is unreachable", body = ErrorBody),
    ))]
pub async fn list_quarantine(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
) -> Result<Json<QuarantineList>, ApiError> {
    admin(&principal, "reading the quarantine")?;
    let jobs =
        (state.jobs.quarantined(Some(&principal.tenant)).await).map_err(|e| unavailable(&e))?;
    Ok(Json(QuarantineList {
        jobs: jobs.into_iter().map(JobView::from).collect(),
    }))
}

/// What an operator did to a quarantined job.
#[derive(Serialize, ToSchema)]
pub struct QuarantineAction {
    /// The job.
    id: String,
    /// `released` (queued again for one more run whose outcome stands) or `discarded`.
    action: String,
}

/// Queues a quarantined job again, for one more run whose outcome stands. Admins only.
#[utoipa::path(post, path = "/v1/quarantine/{id}/release", tag = "federation", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "Queued again", body = QuarantineAction),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
        (status = 404, description = "No such quarantined job for this tenant", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
        (status = 503, description = "The federation's Redis is unreachable", body = ErrorBody),
    ))]
pub async fn release(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<QuarantineAction>, ApiError> {
    admin(&principal, "releasing a job")?;
    let done = (state
        .jobs
        .release(Some(&principal.tenant), &JobId::from_caller(&id))
        .await)
        .map_err(|e| unavailable(&e))?;
    acted(&state, &principal, done, id, "released").await
}

/// Deletes a quarantined job. Admins only.
#[utoipa::path(delete, path = "/v1/quarantine/{id}", tag = "federation", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "Deleted", body = QuarantineAction),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
        (status = 404, description = "No such quarantined job for this tenant", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
        (status = 503, description = "The federation's Redis is unreachable", body = ErrorBody),
    ))]
pub async fn discard(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<QuarantineAction>, ApiError> {
    admin(&principal, "discarding a job")?;
    let done = (state
        .jobs
        .discard(Some(&principal.tenant), &JobId::from_caller(&id))
        .await)
        .map_err(|e| unavailable(&e))?;
    acted(&state, &principal, done, id, "discarded").await
}

/// The answer to a release or discard; for a job of another tenant, the same 404 as for
/// none, the attempt counted and audited.
async fn acted(
    state: &AppState,
    principal: &Principal,
    done: bool,
    id: String,
    action: &str,
) -> Result<Json<QuarantineAction>, ApiError> {
    if !done {
        let message = format!("no quarantined job {id:?}");
        let owner =
            (state.jobs.owner(&JobId::from_caller(&id)).await).map_err(|e| unavailable(&e))?;
        return Err(match owner {
            Some(t) if t != principal.tenant => ApiError::refused(
                ErrorCode::NotFound,
                message,
                EscapeKind::TenantCrossing,
                format!("{action} quarantined job"),
                id,
            )
            .by(principal),
            _ => ApiError::new(ErrorCode::NotFound, message),
        });
    }
    Ok(Json(QuarantineAction {
        id,
        action: action.to_owned(),
    }))
}
