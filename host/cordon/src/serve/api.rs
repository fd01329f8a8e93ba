//! The `/v1` HTTP API and its OpenAPI document. Each handler's `#[utoipa::path]` is the
//! contract `/v1/openapi.json` publishes; schemathesis checks the server against it.

use super::AppState;
use super::auth::{Caller, limited_response};
use super::edge::RequestContext;
use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::requests::{CallRequest, JobRequest};
use crate::tools::function_json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cordon_core::{CallError, ErrorCode, EscapeKind, LogRecord, Principal, Receipt};
use cordon_host::ToolCall;
use cordon_jobs::{Job, JobId, JobSpec, JobStatus, Priority};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Every route, for the request counter's `route` label.
pub const ROUTES: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/mcp",
    "/v1/openapi.json",
    "/v1/tools",
    "/v1/tools/{name}",
    "/v1/tools/{name}/call",
    "/v1/jobs",
    "/v1/jobs/{id}",
    "/v1/audit",
    "/v1/hosts",
    "/v1/quarantine",
    "/v1/quarantine/{id}",
    "/v1/quarantine/{id}/release",
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cordon",
        description = "Run untrusted tools as sandboxed components: every call decided by policy, limited, and audited.",
        version = "1"
    ),
    paths(
        healthz, readyz, list_tools, describe_tool, call_tool, submit_job, job_status, read_audit,
        super::fleet::list_hosts, super::fleet::list_quarantine, super::fleet::release,
        super::fleet::discard, super::panel::whoami, super::panel::verdict, super::admin::block_tool,
        super::admin::unblock_tool, super::admin::list_tokens, super::admin::revoke_token,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "tools", description = "The catalog and synchronous calls"),
        (name = "jobs", description = "Asynchronous calls"),
        (name = "audit", description = "The audit log: a tenant's own records, every tenant's for operators"),
        (name = "panel", description = "What the web operations panel needs"),
        (name = "federation", description = "Hosts and quarantined jobs (admins)"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `{"status": "ok"}` while the process serves.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: String,
}

/// Liveness: the process is up and answering.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Serving", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// What readiness checked.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    status: String,
    /// The policy in force (content hash).
    policy: String,
    /// Tools in the catalog.
    tools: usize,
    /// The audit log accepted and committed a flush.
    audit: String,
}

/// Readiness: policy loaded, audit log committing, not draining. A load balancer should
/// send calls only while this answers 200.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready for calls", body = Readiness),
        (status = 503, description = "Draining, or the audit log is failing", body = ErrorBody),
    ))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<Readiness>, ApiError> {
    let runtime = state.runtime.clone();
    // A flush waits for the writer's commit: a full disk or a dead writer shows here.
    let flushed = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        tokio::task::spawn_blocking(move || runtime.host.flush_audit()),
    )
    .await;
    match flushed {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!("the audit log is failing: {e}"),
            ));
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "the audit log did not commit within 2s",
            ));
        }
    }
    Ok(Json(Readiness {
        status: "ready".into(),
        policy: state.runtime.host.policy().hash().to_string(),
        tools: state.runtime.catalog.current().tools().count(),
        audit: "ok".into(),
    }))
}

/// A catalog tool.
#[derive(Serialize, ToSchema)]
pub struct ToolSummary {
    name: String,
    version: String,
    description: String,
}

/// The tools the caller may call.
#[derive(Serialize, ToSchema)]
pub struct ToolList {
    tools: Vec<ToolSummary>,
}

/// Lists the catalog tools policy lets the caller call (at least one function of).
#[utoipa::path(get, path = "/v1/tools", tag = "tools", security(("bearer" = [])),
    responses(
        (status = 200, description = "The tools", body = ToolList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
    ))]
pub async fn list_tools(State(state): State<Arc<AppState>>, Caller(who): Caller) -> Json<ToolList> {
    let runtime = &state.runtime;
    let tools = (runtime.catalog.current().tools())
        .filter(|t| {
            let limits = t.manifest.limits(runtime.limits);
            (t.functions().iter()).any(|f| runtime.host.permits(&who, t, &f.name, &limits))
        })
        .map(|t| ToolSummary {
            name: t.manifest.name.clone(),
            version: t.manifest.version.clone(),
            description: t.manifest.description.clone(),
        })
        .collect();
    Json(ToolList { tools })
}

/// A tool with its functions and their JSON Schemas (from the component's WIT).
#[derive(Serialize, ToSchema)]
pub struct ToolDetail {
    name: String,
    version: String,
    description: String,
    /// `{name, description, input_schema, output_schema, unsupported?}` per function.
    functions: Vec<Value>,
}

fn no_tool(name: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no tool {name:?}"))
}

/// Describes one tool.
#[utoipa::path(get, path = "/v1/tools/{name}", tag = "tools", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tool's catalog name", example = "text-analysis")),
    responses(
        (status = 200, description = "The tool", body = ToolDetail),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such tool", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
    ))]
pub async fn describe_tool(
    State(state): State<Arc<AppState>>,
    _who: Caller,
    Path(name): Path<String>,
) -> Result<Json<ToolDetail>, ApiError> {
    let catalog = state.runtime.catalog.current();
    let tool = catalog.get(&name).ok_or_else(|| no_tool(&name))?;
    Ok(Json(ToolDetail {
        name: tool.manifest.name.clone(),
        version: tool.manifest.version.clone(),
        description: tool.manifest.description.clone(),
        functions: (tool.functions().iter())
            .map(|f| {
                let mut v = function_json(f);
                v["input_schema"] = cordon_host::call_schema(tool, f);
                v
            })
            .collect(),
    }))
}

/// A call that ran to completion.
#[derive(Serialize, ToSchema)]
pub struct CallResult {
    /// The function's return value.
    value: Value,
    /// What the guest wrote to stdout.
    stdout: String,
    /// What the guest wrote to stderr.
    stderr: String,
    /// Structured logs the guest emitted.
    logs: Vec<LogRecord>,
    /// What the call consumed; `request_id` matches `x-request-id` and the audit record.
    receipt: Receipt,
}

/// A body the JSON extractor refused: too large (413) or malformed (400); both are
/// attempts the edge counts and audits, under the caller who sent them.
pub(crate) fn body_error(e: &JsonRejection, who: &Principal, route: &str) -> ApiError {
    let (code, kind) = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        (ErrorCode::TooLarge, EscapeKind::OversizedInput)
    } else {
        (ErrorCode::BadRequest, EscapeKind::MalformedRequest)
    };
    ApiError::refused(code, e.body_text(), kind, "request body", route).by(who)
}

/// Calls one function of a tool and waits for its result. Policy decides, the sandbox
/// runs it under the decided limits, and the audit log records it.
#[utoipa::path(post, path = "/v1/tools/{name}/call", tag = "tools", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "The tool's catalog name", example = "text-analysis"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context to continue"),
    ),
    request_body = CallRequest,
    responses(
        (status = 200, description = "The call ran to completion", body = CallResult),
        (status = 400, description = "Malformed request or arguments", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Refused by policy or a sandbox boundary", body = ErrorBody),
        (status = 404, description = "No such tool or function", body = ErrorBody),
        (status = 408, description = "The call ran past its deadline", body = ErrorBody),
        (status = 413, description = "The body is over the size cap", body = ErrorBody),
        (status = 422, description = "The tool hit a limit, trapped, or returned an error", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate or calls in flight", body = ErrorBody),
        (status = 500, description = "Cordon failed", body = ErrorBody),
        (status = 503, description = "Draining, or policy chose a backend this host lacks", body = ErrorBody),
    ))]
pub async fn call_tool(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Result<Json<CallRequest>, JsonRejection>,
) -> Result<Json<CallResult>, Response> {
    let Json(req) = body.map_err(|e| {
        body_error(&e, &principal, "POST /v1/tools/{name}/call")
            .at_tool(&name)
            .into_response()
    })?;
    let _slot = state
        .quotas
        .enter(&principal.tenant)
        .map_err(limited_response)?;
    let arguments = Value::Object(req.arguments);
    let out = state
        .runtime
        .call_tool(ToolCall {
            principal: &principal,
            tool: &name,
            function: req.function.as_deref(),
            arguments: &arguments,
            trace_id: Some(ctx.trace_id.clone()),
            cancel: None,
            request_id: Some(ctx.request_id.clone()),
        })
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(Json(CallResult {
        value: out.value,
        stdout: out.stdout,
        stderr: out.stderr,
        logs: out.logs,
        receipt: out.receipt,
    }))
}

/// A job's handle.
#[derive(Serialize, ToSchema)]
pub struct JobCreated {
    /// Read the job at `/v1/jobs/{id}`.
    id: String,
}

/// Submits a call to run asynchronously; answers at once with the job's id (202), or with
/// the existing job's id (200) for a repeated idempotency key.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", security(("bearer" = [])),
    request_body = JobRequest,
    responses(
        (status = 202, description = "Queued", body = JobCreated),
        (status = 200, description = "The job this idempotency key already names", body = JobCreated),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such tool", body = ErrorBody),
        (status = 413, description = "The body is over the size cap", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate (`rate_limited`) or its jobs waiting (`queue_full`)", body = ErrorBody),
        (status = 503, description = "Draining, or the federation's Redis is unreachable", body = ErrorBody),
    ))]
pub async fn submit_job(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    Extension(ctx): Extension<RequestContext>,
    body: Result<Json<JobRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    let Json(req) = body.map_err(|e| body_error(&e, &principal, "POST /v1/jobs"))?;
    let here = state.runtime.catalog.current().get(&req.tool).is_some();
    // In a federation, a job may wait here for a tool only other hosts carry.
    if !here
        && !(state.fleet.carried_elsewhere(&req.tool).await)
            .map_err(|e| ApiError::new(e.code(), e.to_string()))?
    {
        return Err(no_tool(&req.tool));
    }
    req.check()?;
    let submitted = state
        .jobs
        .submit(JobSpec {
            principal,
            tool: req.tool,
            function: req.function,
            args: Value::Object(req.args),
            priority: req.priority,
            idempotency_key: req.idempotency_key,
            trace_id: Some(ctx.trace_id),
        })
        .await
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    let status = if submitted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(JobCreated {
            id: submitted.id.to_string(),
        }),
    ))
}

/// A job as its submitter sees it.
#[derive(Serialize, ToSchema)]
pub struct JobView {
    id: String,
    status: JobStatus,
    tool: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    function: Option<String>,
    priority: Priority,
    /// When it was submitted (ms since the epoch).
    submitted_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_ms: Option<u64>,
    /// The host that last started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    /// How many times it was started (more than once: a host died running it).
    attempts: u32,
    /// The call's value, once `succeeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    /// Why it `failed` or was `quarantined`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail>,
    /// What the call consumed; its `request_id` is the audit record's.
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<Receipt>,
}

impl From<Job> for JobView {
    fn from(job: Job) -> JobView {
        let error = job.error.map(|e: CallError| {
            let (request_id, trace_id) = e
                .receipt
                .as_ref()
                .map(|r| (r.request_id.to_string(), r.trace_id.clone()))
                .unwrap_or_default();
            ErrorDetail::of(e, &request_id, &trace_id)
        });
        JobView {
            id: job.id.to_string(),
            status: job.status,
            tool: job.tool,
            function: job.function,
            priority: job.priority,
            submitted_ms: job.submitted_ms,
            started_ms: job.started_ms,
            finished_ms: job.finished_ms,
            host: job.host,
            attempts: job.attempts,
            result: job.result,
            error,
            receipt: job.receipt,
        }
    }
}

/// How long to wait for a job.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobWait {
    /// Answer once the job has finished, or after this many milliseconds with the job as it
    /// is then (long polling; at most 60000). Without it, at once.
    #[param(minimum = 0, maximum = 60000)]
    wait_ms: Option<u64>,
}

/// Reads a job's status and, once it has finished, its result or error; with `wait_ms`,
/// waits for it to finish first. Only the tenant that submitted a job can read it; to
/// anyone else it does not exist.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = String, Path, description = "The id `POST /v1/jobs` answered"), JobWait),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such job for this tenant", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
        (status = 503, description = "The federation's Redis is unreachable", body = ErrorBody),
    ))]
pub async fn job_status(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    query: Result<Query<JobWait>, QueryRejection>,
) -> Result<Json<JobView>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let id = JobId::from_caller(&id);
    let job = match q.wait_ms {
        None | Some(0) => state.jobs.status(&principal.tenant, &id).await,
        Some(ms @ 1..=60_000) => {
            let wait = std::time::Duration::from_millis(ms);
            state.jobs.wait(&principal.tenant, &id, wait).await
        }
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "wait_ms: between 0 and 60000",
            ));
        }
    };
    let queue_error = |e: cordon_jobs::QueueError| ApiError::new(e.code(), e.to_string());
    let Some(job) = job.map_err(queue_error)? else {
        // To the caller another tenant's job does not exist either; the attempt is counted.
        let message = format!("no job {:?}", id.as_str());
        let owner = state.jobs.owner(&id).await.map_err(queue_error)?;
        return Err(match owner {
            Some(t) if t != principal.tenant => ApiError::refused(
                ErrorCode::NotFound,
                message,
                EscapeKind::TenantCrossing,
                "GET /v1/jobs/{id}",
                id.as_str(),
            )
            .by(&principal),
            _ => ApiError::new(ErrorCode::NotFound, message),
        });
    };
    Ok(Json(JobView::from(job)))
}

/// Which audit records to read.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this tool.
    tool: Option<String>,
    /// Operators only: this tenant's records, or every tenant's with `*` (default: the
    /// caller's own). Anyone else naming another tenant gets `bad_request`.
    tenant: Option<String>,
    /// Only records before this time (ms since the epoch).
    #[param(minimum = 0)]
    until_ms: Option<i64>,
    /// Only records before this seq (to page backwards).
    #[param(minimum = 0)]
    before_seq: Option<i64>,
    /// Only this request's record.
    request_id: Option<String>,
    /// Only attempts to cross a boundary (records with violations).
    escapes: Option<bool>,
    /// Only this outcome (`ok`, `policy_denied`, ...).
    outcome: Option<String>,
    /// Only records at or after this time (ms since the epoch).
    #[param(minimum = 0)]
    since_ms: Option<i64>,
    /// Only records after this seq (to page forward).
    #[param(minimum = 0)]
    after_seq: Option<i64>,
    /// The newest `limit` matching records (default 100, at most 1000), oldest first.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

/// Audit records, oldest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Each record with its place in the hash chain: `seq`, `prev_hash`, `hash`, and the
    /// record's fields (request_id, tenant, tool, outcome, receipt figures, ...).
    records: Vec<Value>,
}

/// Reads audit records: the caller's tenant's, or for an operator (an admin of the
/// operator tenant) any tenant's.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "The records", body = AuditPage),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = ErrorBody),
        (status = 500, description = "The audit log could not be read", body = ErrorBody),
    ))]
pub async fn read_audit(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let tenant = match q.tenant.as_deref() {
        None => Some(principal.tenant.clone()),
        Some(t) if t == principal.tenant => Some(principal.tenant.clone()),
        Some(t) if state.is_operator(&principal) => (t != "*").then(|| t.to_owned()),
        Some(t) => {
            return Err(ApiError::refused(
                ErrorCode::BadRequest,
                "tenant: only operators (admins of the operator tenant) read other tenants' records",
                EscapeKind::TenantCrossing,
                "GET /v1/audit",
                format!("tenant={t}"),
            )
            .by(&principal));
        }
    };
    let non_negative = |name: &str, v: Option<i64>| {
        v.map(u64::try_from)
            .transpose()
            .map_err(|_| ApiError::new(ErrorCode::BadRequest, format!("{name}: must be 0 or more")))
    };
    let since_ms = non_negative("since_ms", q.since_ms)?;
    let after_seq = non_negative("after_seq", q.after_seq)?;
    let until_ms = non_negative("until_ms", q.until_ms)?;
    let before_seq = non_negative("before_seq", q.before_seq)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "limit: between 1 and 1000",
        ));
    }
    let query = cordon_audit::Query {
        tenant,
        tool: q.tool,
        outcome: q.outcome,
        since_ms,
        until_ms,
        after_seq,
        before_seq,
        request_id: q.request_id,
        escapes_only: q.escapes.unwrap_or(false),
        limit: Some(limit),
    };
    let path = state.audit_path.clone();
    let read = tokio::task::spawn_blocking(move || {
        cordon_audit::AuditReader::open(&path).and_then(|r| r.query(&query))
    })
    .await;
    let records = match read {
        Ok(Ok(records)) => records,
        Ok(Err(e)) => return Err(ApiError::new(e.code(), e.to_string())),
        Err(e) => return Err(ApiError::new(ErrorCode::Internal, e.to_string())),
    };
    Ok(Json(AuditPage {
        records: records
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect(),
    }))
}
