//! `cordon serve`: the HTTP API under `/v1` (tools, synchronous calls, jobs, audit reads,
//! its OpenAPI document), health and readiness, Prometheus metrics, and MCP over
//! Streamable HTTP at `/mcp`.
//!
//! ```text
//! request → edge (request id, trace, body cap, draining?) → route
//!         → Caller (bearer token, tenant rate) → handler (tenant's calls in flight)
//!         → Runtime::call_tool (policy, sandbox, audit) → edge (error body, headers)
//! ```
//!
//! Every `/v1` route and `/mcp` require a bearer token, unless started with `--no-auth` on
//! loopback. Off loopback, TLS is required.

mod admin;
mod api;
mod auth;
mod edge;
mod error;
mod fleet;
mod panel;
mod quota;
mod requests;
mod tls;

use crate::Settings;
use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use cordon_core::{CallError, ErrorCode, Principal};
use cordon_federation::{HostRegistry, RedisQueue};
use cordon_host::{Runtime, ToolCall};
use cordon_identity::TokenStore;
use cordon_jobs::{InProcessQueue, JobOutcome, JobQueue, QueueOptions};
use cordon_mcp::McpServer;
use cordon_metrics::Metrics;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Plain HTTP only on loopback; any other address needs
    /// --tls-cert and --tls-key.
    #[arg(long, env = "CORDON_LISTEN")]
    listen: Option<String>,
    /// Serve without bearer tokens: every request runs as the local principal (`[local]`
    /// in cordon.toml). For a desktop MCP client on this machine only; loopback only.
    #[arg(long)]
    no_auth: bool,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "CORDON_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "CORDON_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Join the federation on this Redis (`redis://HOST:PORT`): jobs wait there, and any
    /// host carrying a job's tool runs it. Without it jobs wait in this process.
    #[arg(long, env = "CORDON_REDIS")]
    redis: Option<String>,
    /// This host's id in the federation (default HOSTNAME-PID).
    #[arg(long, env = "CORDON_HOST_ID")]
    host_id: Option<String>,
}

/// What every handler shares.
pub struct AppState {
    runtime: Arc<Runtime>,
    tokens: TokenStore,
    /// `--no-auth`: who every request runs as instead of a token's owner.
    anonymous: Option<Principal>,
    quotas: quota::Quotas,
    jobs: Arc<dyn JobQueue>,
    fleet: Arc<fleet::Fleet>,
    metrics: Arc<Metrics>,
    audit_path: PathBuf,
    max_body: usize,
    /// Set on SIGTERM/SIGINT: new requests get 503 while those in flight finish.
    draining: AtomicBool,
    /// Admins of this tenant see every tenant (`[serve] operator_tenant`).
    operator_tenant: String,
}

impl AppState {
    /// Whether `p` sees every tenant: an admin of the operator tenant.
    pub(crate) fn is_operator(&self, p: &Principal) -> bool {
        p.tenant == self.operator_tenant && panel::is_admin(p)
    }
}

/// Who may reach `/mcp`: the `Host` names and browser `Origin`s accepted.
struct McpAccess {
    hosts: Vec<String>,
    origins: Vec<String>,
}

fn app(state: Arc<AppState>, access: McpAccess, shutdown: &CancellationToken) -> Router {
    let runtime = state.runtime.clone();
    // rmcp answers 403 to a `Host` not listed (DNS rebinding: a web page whose name
    // resolves to 127.0.0.1 still sends its own name) and to a browser `Origin` not
    // listed (a page on another site using the user's browser as a confused deputy).
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(access.hosts)
        .with_allowed_origins(access.origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(state.max_body)
        .with_cancellation_token(shutdown.child_token());
    let mcp = StreamableHttpService::new(
        move || Ok(McpServer::for_http(runtime.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mcp = Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::mcp_caller,
        ));
    Router::new()
        .route("/", get(panel::index))
        .route("/panel/{file}", get(panel::file))
        .route("/v1/whoami", get(panel::whoami))
        .route("/v1/events", get(panel::events))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(api::openapi))
        .route("/v1/tools", get(api::list_tools))
        .route("/v1/tools/{name}", get(api::describe_tool))
        .route("/v1/tools/{name}/call", post(api::call_tool))
        .route("/v1/tools/{name}/verdict", get(panel::verdict))
        .route(
            "/v1/tools/{name}/block",
            post(admin::block_tool).delete(admin::unblock_tool),
        )
        .route("/v1/tokens", get(admin::list_tokens))
        .route(
            "/v1/tokens/{id}",
            axum::routing::delete(admin::revoke_token),
        )
        .route("/v1/jobs", post(api::submit_job))
        .route("/v1/jobs/{id}", get(api::job_status))
        .route("/v1/audit", get(api::read_audit))
        .route("/v1/hosts", get(fleet::list_hosts))
        .route("/v1/quarantine", get(fleet::list_quarantine))
        .route("/v1/quarantine/{id}", axum::routing::delete(fleet::discard))
        .route("/v1/quarantine/{id}/release", post(fleet::release))
        .merge(mcp)
        // The edge enforces the body cap itself, for every route alike.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            edge::edge,
        ))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    state.metrics.render()
}

/// Runs claimed jobs through the same call path as synchronous calls.
fn start_workers(
    state: &Arc<AppState>,
    workers: usize,
    alerts: cordon_alerts::Alerts,
) -> tokio::task::JoinSet<()> {
    let runtime = state.runtime.clone();
    let fleet = state.fleet.clone();
    let on_quarantine: cordon_jobs::OnQuarantine = Arc::new(move |id, why| {
        alerts.raise(
            cordon_alerts::AlertKind::Quarantine,
            format!("job {id} quarantined: {}", why.code),
            serde_json::json!({ "job": id.as_str(), "code": why.code, "message": why.message, "violations": why.violations }),
        );
    });
    cordon_jobs::run_workers_with(
        state.jobs.clone(),
        workers,
        move |claimed| {
            let runtime = runtime.clone();
            let fleet = fleet.clone();
            async move {
                fleet.running.fetch_add(1, Ordering::Relaxed);
                let spec = &claimed.spec;
                let result = runtime
                    .call_tool(ToolCall {
                        principal: &spec.principal,
                        tool: &spec.tool,
                        function: spec.function.as_deref(),
                        arguments: &spec.args,
                        trace_id: spec.trace_id.clone(),
                        cancel: None,
                        request_id: None,
                    })
                    .await;
                fleet.running.fetch_sub(1, Ordering::Relaxed);
                // A shared queue acknowledges the job once its outcome is stored, and nothing
                // may be acknowledged that the audit log does not hold: wait for the commit.
                if fleet.federation.is_some() {
                    let host = runtime.clone();
                    let committed =
                        tokio::task::spawn_blocking(move || host.host.flush_audit()).await;
                    if !matches!(committed, Ok(Ok(()))) {
                        return JobOutcome::Failed(CallError::new(
                            ErrorCode::Unavailable,
                            "the audit log could not commit this call's record; the outcome is withheld",
                        ));
                    }
                }
                match result {
                    Ok(out) => JobOutcome::Succeeded {
                        value: out.value,
                        receipt: out.receipt,
                    },
                    Err(e) => JobOutcome::Failed(e),
                }
            }
        },
        on_quarantine,
    )
}

fn refuse(message: String) -> anyhow::Error {
    CallError::new(ErrorCode::BadRequest, message).into()
}

pub async fn serve(settings: &Settings, args: ServeArgs) -> Result<ExitCode> {
    let config = &settings.file.serve;
    // Every connection, audit file and file a guest opens is a descriptor of this one
    // process; the usual soft limit (1,024) is far below what a busy server holds. Each
    // call is capped on its own (`descriptor_limit`); the process takes what the hard
    // limit allows.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(open_files = n, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
    }
    let listen = args
        .listen
        .or_else(|| config.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8787".into());
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| refuse(format!("--listen {listen:?} is not an address")))?;
    let tls_files = match (
        args.tls_cert.or(config.tls_cert.clone()),
        args.tls_key.or(config.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            return Err(refuse(
                "TLS needs both a certificate and a key (tls_cert, tls_key)".into(),
            ));
        }
    };
    if args.no_auth && !addr.ip().is_loopback() {
        return Err(refuse(format!(
            "refusing --no-auth on {addr}: without tokens only loopback is allowed"
        )));
    }
    if tls_files.is_none() && !addr.ip().is_loopback() {
        return Err(refuse(format!(
            "refusing plain HTTP on {addr}: off loopback, serve HTTPS (--tls-cert, --tls-key)"
        )));
    }
    let tls = match &tls_files {
        Some((cert, key)) => Some(
            tls::server_config(cert, key)
                .map_err(|e| CallError::new(ErrorCode::BadRequest, format!("{e:#}")))?,
        ),
        None => None,
    };
    let max_body = match &config.max_body {
        Some(s) => usize::try_from(
            cordon_core::parse_size(s).map_err(|e| refuse(format!("serve.max_body: {e}")))?,
        )
        .unwrap_or(usize::MAX),
        None => 1 << 20,
    };

    let runtime = settings.runtime()?;
    let metrics = runtime.host.metrics().clone();
    let federation = &settings.file.federation;
    let host_id =
        (args.host_id.or_else(|| federation.host_id.clone())).unwrap_or_else(default_host_id);
    let alerts = cordon_alerts::Alerts::start(
        host_id.clone(),
        settings.file.alerts.webhooks.clone(),
        cordon_alerts::Delivery::default(),
    );
    runtime.host.alert_through(alerts.clone());
    let policy_alerts = alerts.clone();
    runtime.host.policy().on_rejected(move |why| {
        policy_alerts.raise(
            cordon_alerts::AlertKind::PolicyReloadFailed,
            "a policy change was rejected; the previous policy stays in force",
            serde_json::json!({ "error": why }),
        );
    });
    let tokens = TokenStore::open(&settings.identity_path())
        .map_err(|e| CallError::new(e.code(), e.to_string()))?;
    let anonymous = args
        .no_auth
        .then(|| settings.local_principal(None, None, Vec::new()));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let queue_options = QueueOptions {
        max_queued_per_tenant: config.quota.queued_jobs as usize,
        tenant_max_queued: (config.tenants.iter())
            .map(|(t, q)| (t.clone(), q.queued_jobs as usize))
            .collect(),
        host: host_id.clone(),
        ..QueueOptions::default()
    };
    let workers = config.job_workers.unwrap_or_else(|| {
        2 * std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    });
    let mut fleet = fleet::Fleet {
        id: host_id.clone(),
        address: (federation.advertise.clone()).unwrap_or_else(|| format!("{scheme}://{local}")),
        capacity: workers,
        started_ms: cordon_core::now_ms(),
        running: AtomicUsize::new(0),
        federation: None,
        every: std::time::Duration::from_secs(1),
    };
    let jobs: Arc<dyn JobQueue> = match args.redis.or_else(|| federation.redis.clone()) {
        Some(redis) => {
            let options = federation.options(&redis, host_id)?;
            let catalog = runtime.clone();
            let carried = Arc::new(move || {
                (catalog.catalog.current().tools())
                    .map(|t| t.manifest.name.clone())
                    .collect()
            });
            let unreachable = |e: cordon_jobs::QueueError| {
                CallError::new(
                    e.code(),
                    format!("cannot join the federation at {redis}: {e}"),
                )
            };
            let queue = RedisQueue::start(options.clone(), queue_options, carried, metrics.clone())
                .await
                .map_err(unreachable)?;
            let registry = HostRegistry::connect(&options).await.map_err(unreachable)?;
            fleet.every = (options.lease / 4).max(std::time::Duration::from_millis(100));
            fleet.federation = Some((registry, queue.clone()));
            queue
        }
        None => Arc::new(InProcessQueue::new(queue_options, metrics.clone())),
    };
    let state = Arc::new(AppState {
        runtime,
        tokens,
        anonymous,
        quotas: quota::Quotas::new(
            config.quota.clone(),
            config.tenants.clone(),
            metrics.clone(),
        ),
        jobs,
        fleet: Arc::new(fleet),
        metrics,
        audit_path: settings.audit_path(),
        max_body,
        draining: AtomicBool::new(false),
        operator_tenant: config
            .operator_tenant
            .clone()
            .unwrap_or_else(|| "local".to_owned()),
    });
    let access = mcp_access(config, local, scheme);

    let names: Vec<_> = (state.runtime.catalog.current().tools())
        .map(|t| t.manifest.name.clone())
        .collect();
    eprintln!(
        "cordon serving on {scheme}://{local} ({} tools: {}; policy {} from {})",
        names.len(),
        names.join(", "),
        &state.runtime.host.policy().hash()[..12],
        state.runtime.host.policy().origin(),
    );
    if let Some(p) = &state.anonymous {
        eprintln!(
            "authentication is OFF (--no-auth): every request runs as {}/{} with roles {:?}",
            p.tenant, p.subject, p.roles
        );
    }

    if state.fleet.federation.is_some() {
        eprintln!(
            "joined the federation as {} ({} job workers)",
            state.fleet.id, workers
        );
    }
    let workers = start_workers(&state, workers, alerts);
    let shutdown = CancellationToken::new();
    let announcing = CancellationToken::new();
    state
        .fleet
        .announce(state.runtime.clone(), announcing.clone());
    let app = app(state.clone(), access, &shutdown);
    // Refusals without valid credentials over the audit budget become one summary record
    // at most this often (and once more at the end).
    let summaries = {
        let runtime = state.runtime.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                runtime.host.record_held_refusals();
            }
        })
    };
    let stop = {
        let state = state.clone();
        async move {
            stop_signal().await;
            eprintln!("cordon: draining (calls in flight finish; new requests get 503)");
            state.draining.store(true, Ordering::Relaxed);
            // Ends MCP sessions too; their open streams would otherwise hold the drain.
            shutdown.cancel();
        }
    };
    match tls {
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await?;
        }
        None => {
            let listener = axum::serve::ListenerExt::tap_io(listener, no_delay);
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await?;
        }
    }
    // Jobs already running finish and are recorded; jobs still waiting are lost with
    // this process (the in-process queue is not durable; federation's queue is: they wait
    // in Redis for another host).
    let dropped = state.jobs.close();
    if dropped > 0 {
        eprintln!("cordon: {dropped} queued jobs were not started and are dropped");
    }
    workers.join_all().await;
    announcing.cancel();
    state.fleet.leave();
    summaries.abort();
    state.runtime.host.record_held_refusals();
    state.runtime.host.flush_audit()?;
    eprintln!("cordon: stopped");
    Ok(ExitCode::SUCCESS)
}

/// HOSTNAME-PID: unique per process, readable in `cordon hosts`.
fn default_host_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let name = if name.is_empty() {
        "cordon".into()
    } else {
        name
    };
    format!("{name}-{}", std::process::id())
}

/// Loopback names and the configured ones; the server's own origins and the configured
/// ones.
fn mcp_access(config: &crate::config::ServeConfig, local: SocketAddr, scheme: &str) -> McpAccess {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
        .map(str::to_owned)
        .to_vec();
    hosts.extend(config.allowed_hosts.iter().cloned());
    let port = local.port();
    let mut origins: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|h| format!("{scheme}://{h}:{port}"))
        .collect();
    origins.extend(
        config
            .allowed_hosts
            .iter()
            .map(|h| format!("{scheme}://{h}:{port}")),
    );
    origins.extend(config.allowed_origins.iter().cloned());
    McpAccess { hosts, origins }
}

/// Sends each write at once. Streamed responses (MCP's SSE) are written in pieces; with
/// Nagle's algorithm on, each piece after the first waits for the client's delayed ACK
/// (~40 ms on Linux).
fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
}

/// SIGINT (Ctrl-C) or SIGTERM (what process supervisors send).
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
