//! `cordon hosts` and `cordon quarantine`: an operator's view of a federation, read from
//! its Redis directly (no host needs to be up).

use crate::Settings;
use anyhow::Result;
use cordon_core::{CallError, ErrorCode};
use cordon_federation::{FederationOptions, HostRegistry, RedisQueue};
use cordon_jobs::{JobId, JobQueue, QueueError, QueueOptions};
use std::process::ExitCode;
use std::sync::Arc;

/// Which federation.
#[derive(clap::Args)]
pub struct RedisArg {
    /// The federation's Redis (default: `[federation] redis` in cordon.toml).
    #[arg(long, env = "CORDON_REDIS")]
    redis: Option<String>,
}

#[derive(clap::Args)]
pub struct HostsArgs {
    #[command(flatten)]
    at: RedisArg,
}

#[derive(clap::Subcommand)]
pub enum QuarantineCommand {
    /// Quarantined jobs, oldest first, as JSON.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        at: RedisArg,
    },
    /// Queue a quarantined job again for one more run whose outcome stands.
    Release {
        /// The job's id.
        id: String,
        #[command(flatten)]
        at: RedisArg,
    },
    /// Delete a quarantined job.
    Discard {
        /// The job's id.
        id: String,
        #[command(flatten)]
        at: RedisArg,
    },
}

fn options(settings: &Settings, at: RedisArg) -> Result<FederationOptions> {
    let redis = (at.redis.or_else(|| settings.file.federation.redis.clone())).ok_or_else(|| {
        CallError::new(
            ErrorCode::BadRequest,
            "which federation? give --redis redis://HOST:PORT (or [federation] redis)",
        )
    })?;
    // Read-only visits use an id no host has, so they never own a claim.
    settings
        .file
        .federation
        .options(&redis, format!("cli-{}", std::process::id()))
}

fn queue_error(e: QueueError) -> anyhow::Error {
    CallError::new(e.code(), e.to_string()).into()
}

fn print(value: &impl serde::Serialize) -> Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}

pub async fn hosts(settings: &Settings, args: HostsArgs) -> Result<ExitCode> {
    let registry = HostRegistry::connect(&options(settings, args.at)?)
        .await
        .map_err(queue_error)?;
    print(&registry.list().await.map_err(queue_error)?)
}

pub async fn quarantine(settings: &Settings, cmd: QuarantineCommand) -> Result<ExitCode> {
    let at = match &cmd {
        QuarantineCommand::List { at, .. }
        | QuarantineCommand::Release { at, .. }
        | QuarantineCommand::Discard { at, .. } => RedisArg {
            redis: at.redis.clone(),
        },
    };
    // Carrying no tools, this queue never claims or takes over a job.
    let queue = RedisQueue::start(
        options(settings, at)?,
        QueueOptions::default(),
        Arc::new(Vec::new),
        Arc::new(cordon_metrics::Metrics::new()),
    )
    .await
    .map_err(queue_error)?;
    let not_found = |id: &str| -> anyhow::Error {
        CallError::new(ErrorCode::NotFound, format!("no quarantined job {id:?}")).into()
    };
    let result = match cmd {
        QuarantineCommand::List { tenant, .. } => print(
            &queue
                .quarantined(tenant.as_deref())
                .await
                .map_err(queue_error)?,
        ),
        QuarantineCommand::Release { id, .. } => {
            if !(queue.release(None, &JobId::from_caller(&id)).await).map_err(queue_error)? {
                return Err(not_found(&id));
            }
            print(&serde_json::json!({"released": id}))
        }
        QuarantineCommand::Discard { id, .. } => {
            if !(queue.discard(None, &JobId::from_caller(&id)).await).map_err(queue_error)? {
                return Err(not_found(&id));
            }
            print(&serde_json::json!({"discarded": id}))
        }
    };
    queue.stop();
    result
}
