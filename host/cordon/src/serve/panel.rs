//! The web operations panel: its files (embedded, so `cordon serve` needs nothing beside
//! it), who the caller is, and the live stream its charts draw.
//!
//! ```text
//! GET /                 the panel (index.html); it asks for a token and calls /v1 with it
//! GET /panel/{file}     panel.js, panel.css
//! GET /v1/whoami        the token's principal
//! GET /v1/events        text/event-stream: one `stats` event a second
//! ```
//!
//! The files are public (they hold no data); every byte of data comes from `/v1` behind the
//! same tokens as the API, and a principal sees its own tenant unless it is an operator.

use super::AppState;
use super::auth::Caller;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cordon_core::Principal;
use prometheus::core::Collector;
use serde::Serialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

const INDEX: &str = include_str!("../../panel/index.html");
const SCRIPT: &str = include_str!("../../panel/panel.js");
const STYLE: &str = include_str!("../../panel/panel.css");

/// The panel's page. Its script and style come only from this server (no CDN), which the
/// Content-Security-Policy says to the browser too.
pub async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

pub async fn file(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "panel.js" => asset(SCRIPT, "text/javascript; charset=utf-8"),
        "panel.css" => asset(STYLE, "text/css; charset=utf-8"),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Who a token belongs to.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    /// Its tenant.
    tenant: String,
    /// Its subject.
    subject: String,
    /// Its roles.
    roles: Vec<String>,
    /// Whether it holds the admin role (admin-only views and actions).
    admin: bool,
    /// Whether it sees every tenant (an admin of the operator tenant).
    operator: bool,
}

/// The caller's principal.
#[utoipa::path(get, path = "/v1/whoami", tag = "panel", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's principal", body = WhoAmI),
        (status = 401, description = "No valid token", body = super::error::ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = super::error::ErrorBody),
    ))]
pub async fn whoami(State(state): State<Arc<AppState>>, Caller(p): Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        admin: is_admin(&p),
        operator: state.is_operator(&p),
        tenant: p.tenant,
        subject: p.subject,
        roles: p.roles,
    })
}

/// Whose verdict to show.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerdictQuery {
    /// The principal's tenant (default: the caller's). Another tenant: operators only.
    tenant: Option<String>,
    /// Its subject (default: the caller's).
    subject: Option<String>,
    /// Its roles, comma-separated (default: the caller's). Other than the caller's own
    /// principal: admins only.
    roles: Option<String>,
}

/// What policy would decide for each function of a tool, for a principal, called with no
/// arguments and the manifest's grants.
#[derive(Serialize, ToSchema)]
pub struct Verdict {
    /// The principal decided for.
    principal: Value,
    /// Per function: `{name, allow, reasons, backend, grants, limits}`.
    functions: Vec<Value>,
}

/// The policy verdict on a tool's functions for a principal.
#[utoipa::path(get, path = "/v1/tools/{name}/verdict", tag = "panel", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tool"), VerdictQuery),
    responses(
        (status = 200, description = "The verdicts", body = Verdict),
        (status = 400, description = "Another tenant, by a non-operator", body = super::error::ErrorBody),
        (status = 401, description = "No valid token", body = super::error::ErrorBody),
        (status = 403, description = "Another principal, by a non-admin", body = super::error::ErrorBody),
        (status = 404, description = "No such tool", body = super::error::ErrorBody),
        (status = 429, description = "Over the tenant's rate", body = super::error::ErrorBody),
    ))]
pub async fn verdict(
    State(state): State<Arc<AppState>>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    query: Result<axum::extract::Query<VerdictQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Verdict>, super::error::ApiError> {
    use super::error::ApiError;
    use cordon_core::ErrorCode;
    let axum::extract::Query(q) =
        query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let principal = Principal {
        tenant: q.tenant.unwrap_or_else(|| caller.tenant.clone()),
        subject: q.subject.unwrap_or_else(|| caller.subject.clone()),
        roles: q.roles.map_or_else(
            || caller.roles.clone(),
            |r| {
                r.split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect()
            },
        ),
    };
    if principal.tenant != caller.tenant && !state.is_operator(&caller) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "tenant: only operators ask about other tenants",
        ));
    }
    let same = principal.subject == caller.subject && principal.roles == caller.roles;
    if !same {
        super::auth::require_admin(&caller, "a verdict for another principal")?;
    }
    let runtime = &state.runtime;
    let catalog = runtime.catalog.current();
    let tool = catalog
        .get(&name)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no tool {name:?}")))?;
    let limits = tool.manifest.limits(runtime.limits);
    let functions = (tool.functions().iter())
        .map(|f| {
            let d = runtime.host.verdict(&principal, tool, &f.name, &limits);
            json!({
                "name": f.name,
                "allow": d.allow,
                "reasons": d.reasons,
                "backend": d.backend,
                "grants": d.grants,
                "limits": d.limits,
            })
        })
        .collect();
    Ok(Json(Verdict {
        principal: json!({"tenant": principal.tenant, "subject": principal.subject, "roles": principal.roles}),
        functions,
    }))
}

pub fn is_admin(p: &Principal) -> bool {
    p.roles.iter().any(|r| r == "admin")
}

/// One `stats` event a second: the last complete second's calls per tool and backend
/// (the caller's tenant; every tenant for operators), jobs waiting per priority and
/// tenant, instances running, and the escape-attempt counters.
pub async fn events(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let tenant = (!state.is_operator(&p)).then_some(p.tenant);
    let ticks = tokio::time::interval(Duration::from_secs(1));
    let stream = futures_util::stream::unfold(
        (ticks, state, tenant),
        |(mut ticks, state, tenant)| async move {
            ticks.tick().await;
            let event = Event::default()
                .event("stats")
                .json_data(stats(&state, tenant.as_deref()))
                .unwrap_or_else(|_| Event::default().comment("stats unavailable"));
            Some((Ok(event), (ticks, state, tenant)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn stats(state: &AppState, tenant: Option<&str>) -> Value {
    let metrics = &state.metrics;
    let (second, calls) = metrics.live.last_second(tenant);
    let mut queue = Vec::new();
    for family in metrics.queue_depth.collect() {
        for m in family.get_metric() {
            let label = |name: &str| {
                m.get_label()
                    .iter()
                    .find(|l| l.name() == name)
                    .map(|l| l.value().to_owned())
                    .unwrap_or_default()
            };
            let row_tenant = label("tenant");
            if tenant.is_some_and(|t| t != row_tenant) {
                continue;
            }
            queue.push(json!({
                "priority": label("priority"),
                "tenant": row_tenant,
                "depth": m.get_gauge().get_value(),
            }));
        }
    }
    // The counters are the host's, across tenants: operators only.
    let mut escapes = serde_json::Map::new();
    for family in metrics.escape_attempts.collect() {
        if tenant.is_some() {
            break;
        }
        for m in family.get_metric() {
            if let Some(kind) = m.get_label().iter().find(|l| l.name() == "kind") {
                escapes.insert(kind.value().to_owned(), json!(m.get_counter().get_value()));
            }
        }
    }
    // How long the jobs that started in that second had waited, per priority and tenant;
    // with the depths above: a queue that grows while nothing starts is stuck.
    let mut queue = queue;
    for w in metrics.live.last_second_waits(tenant) {
        let row = queue
            .iter_mut()
            .find(|q| q["priority"] == w.priority.as_str() && q["tenant"] == w.tenant.as_str());
        match row {
            Some(row) => {
                row["started"] = json!(w.started);
                row["max_wait_ms"] = json!(w.max_wait_ms);
            }
            None => queue.push(json!({
                "priority": w.priority, "tenant": w.tenant, "depth": 0,
                "started": w.started, "max_wait_ms": w.max_wait_ms,
            })),
        }
    }
    json!({
        "time_ms": second * 1000,
        "calls": calls,
        "queue": queue,
        "instances": metrics.instances_active.get(),
        "escapes": escapes,
    })
}
