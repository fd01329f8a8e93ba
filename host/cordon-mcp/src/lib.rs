//! Cordon as an MCP server, on the official Rust SDK (`rmcp`).
//!
//! - `tools/list`: every catalog function the caller may call, as policy decides it (see
//!   [`cordon_host::Host::permits`]), with the JSON Schema derived from its WIT types.
//! - `tools/call`: the same call path as every other surface — policy, the executor, the
//!   audit log. A refusal or a limit is a tool error (`isError`) whose text carries the
//!   error code and request id; every result carries its resource receipt in `_meta`.
//! - Long calls send `notifications/progress` (elapsed time) when the client asked for
//!   progress; a client's `notifications/cancelled` stops the instance at once.
//! - When the catalog changes while a session is open, the client is sent
//!   `notifications/tools/list_changed` (directly, or through `subscriptions/listen` on
//!   protocol 2026-07-28).
//!
//! Two transports: stdio ([`McpServer::for_principal`], `cordon mcp`) and Streamable HTTP
//! ([`McpServer::for_http`], mounted at `/mcp` by `cordon serve`, where the bearer token
//! has already been checked and the caller's [`Principal`] travels in the request's
//! extensions).

mod listing;

use cordon_core::{CallError, CallOutput, Principal};
use cordon_host::{Runtime, ToolCall};
use rmcp::model::SubscriptionFilter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, MetaObject, PaginatedRequestParams, ProgressNotificationParam,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `_meta` key of a call's resource receipt (request id, fuel, peak memory, wall time,
/// backend).
pub const RECEIPT_META: &str = "cordon/receipt";
/// `_meta` key of a failed call's error (`code`, `message`, `request_id`, `violations`).
pub const ERROR_META: &str = "cordon/error";

/// How often a long call reports progress to a client that asked for it.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// How often an idle catalog-change notifier checks that its client is still there.
const PEER_CHECK_EVERY: Duration = Duration::from_secs(30);

/// Who a session's calls run as.
#[derive(Clone)]
enum Caller {
    /// Every call runs as this principal (stdio: the local user, or a token's owner).
    Fixed(Arc<Principal>),
    /// Each HTTP request's own principal, put in its extensions by the authentication layer.
    PerRequest,
}

/// The MCP server: a [`Runtime`] seen through MCP. Cheap to clone; the Streamable HTTP
/// transport makes one per session.
#[derive(Clone)]
pub struct McpServer {
    runtime: Arc<Runtime>,
    caller: Caller,
}

impl McpServer {
    /// A server whose calls all run as `principal` (stdio).
    pub fn for_principal(runtime: Arc<Runtime>, principal: Principal) -> McpServer {
        McpServer {
            runtime,
            caller: Caller::Fixed(Arc::new(principal)),
        }
    }

    /// A server for Streamable HTTP: each request runs as the [`Principal`] found in its
    /// `http::request::Parts` extensions. A request without one is refused (the server is
    /// mounted behind authentication; this is the second lock).
    pub fn for_http(runtime: Arc<Runtime>) -> McpServer {
        McpServer {
            runtime,
            caller: Caller::PerRequest,
        }
    }

    fn principal(&self, cx: &RequestContext<RoleServer>) -> Result<Arc<Principal>, ErrorData> {
        match &self.caller {
            Caller::Fixed(p) => Ok(p.clone()),
            Caller::PerRequest => cx
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Principal>())
                .map(|p| Arc::new(p.clone()))
                .ok_or_else(|| {
                    ErrorData::invalid_request(
                        "unauthenticated: this request carries no verified principal",
                        None,
                    )
                }),
        }
    }

    fn trace_id(cx: &RequestContext<RoleServer>) -> Option<String> {
        let parts = cx.extensions.get::<http::request::Parts>()?;
        cordon_core::trace::trace_id_from_traceparent(
            parts.headers.get("traceparent")?.to_str().ok()?,
        )
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("cordon", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Cordon runs each tool in a fresh sandbox. Every call is decided by policy and \
                 audited; refusals and limits come back as tool errors naming their code and \
                 request id.",
            )
    }

    /// Sessions on protocol versions before 2026-07-28 hear about catalog changes as plain
    /// notifications from here until the client goes away.
    async fn on_initialized(&self, cx: NotificationContext<RoleServer>) {
        let mut changes = self.runtime.catalog.changes();
        let peer = cx.peer;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() || peer.notify_tool_list_changed().await.is_err() {
                            return;
                        }
                    }
                    // A session that ends without a catalog change would otherwise keep
                    // this task (and its peer) alive.
                    () = tokio::time::sleep(PEER_CHECK_EVERY) => {
                        if peer.is_transport_closed() {
                            return;
                        }
                    }
                }
            }
        });
    }

    /// 2026-07-28 sessions ask for notifications with `subscriptions/listen`: catalog
    /// changes are all this server announces.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::new();
        accepted.tools_list_changed = requested.tools_list_changed;
        Some(accepted)
    }

    async fn listen(&self, cx: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.runtime.catalog.changes();
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() || cx.sink().notify_tool_list_changed().await.is_err() {
                        return Ok(());
                    }
                }
                () = cx.cancelled() => return Ok(()),
            }
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let principal = self.principal(&cx)?;
        let runtime = &self.runtime;
        let catalog = runtime.catalog.current();
        let tools = listing::functions(&catalog)
            .into_iter()
            .filter(|l| {
                runtime.host.permits(
                    &principal,
                    l.tool,
                    &l.function.name,
                    &l.tool.manifest.limits(runtime.limits),
                )
            })
            .map(|l| l.definition())
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = self.principal(&cx)?;
        let catalog = self.runtime.catalog.current();
        let listed = listing::functions(&catalog);
        let Some(target) = listed.iter().find(|l| l.name == request.name) else {
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {:?}; tools/list names the tools you may call",
                    request.name
                ),
                None,
            ));
        };
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let call = self.runtime.call_tool(ToolCall {
            principal: &principal,
            tool: &target.tool.manifest.name,
            function: Some(&target.function.name),
            arguments: &arguments,
            trace_id: Self::trace_id(&cx),
            cancel: Some(cx.ct.clone()),
            request_id: None,
        });
        let outcome = match cx.meta.get_progress_token() {
            Some(token) => {
                let peer = cx.peer.clone();
                let tool = request.name.to_string();
                let ticker = tokio::spawn(async move {
                    let started = Instant::now();
                    let mut every = tokio::time::interval(PROGRESS_EVERY);
                    every.tick().await;
                    loop {
                        every.tick().await;
                        let elapsed = started.elapsed().as_secs_f64();
                        let note = ProgressNotificationParam::new(token.clone(), elapsed)
                            .with_message(format!("{tool} running for {elapsed:.0} s"));
                        if peer.notify_progress(note).await.is_err() {
                            return;
                        }
                    }
                });
                let outcome = call.await;
                ticker.abort();
                outcome
            }
            None => call.await,
        };
        Ok(result(outcome).into())
    }
}

/// A call's outcome as an MCP result: the value as text and as structured content under
/// `result`, or a tool error naming the code and request id; the receipt in `_meta` either way.
fn result(outcome: Result<CallOutput, CallError>) -> CallToolResult {
    match outcome {
        Ok(out) => {
            // What the tool printed is part of its answer (an interpreter's, all of it):
            // a model reads content, not `_meta`.
            let mut content = vec![ContentBlock::text(out.value.to_string())];
            if !out.stdout.is_empty() {
                content.push(ContentBlock::text(out.stdout.clone()));
            }
            if !out.stderr.is_empty() {
                content.push(ContentBlock::text(format!("stderr:\n{}", out.stderr)));
            }
            let mut r = CallToolResult::success(content);
            r.structured_content = Some(json!({"result": out.value}));
            let mut meta = MetaObject::new();
            meta.insert(RECEIPT_META.into(), json!(out.receipt));
            if !out.stdout.is_empty() {
                meta.insert("cordon/stdout".into(), json!(out.stdout));
            }
            if !out.stderr.is_empty() {
                meta.insert("cordon/stderr".into(), json!(out.stderr));
            }
            // The tool's own structured records (cordon:tool/logging), for the client's logs.
            if !out.logs.is_empty() {
                meta.insert("cordon/logs".into(), json!(out.logs));
            }
            r.with_meta(Some(meta))
        }
        Err(e) => {
            let request_id = e.receipt.as_ref().map(|r| r.request_id.to_string());
            let text = match &request_id {
                Some(id) => format!("{}: {} (request {id})", e.code, e.message),
                None => format!("{}: {}", e.code, e.message),
            };
            let mut meta = MetaObject::new();
            meta.insert(
                ERROR_META.into(),
                json!({
                    "code": e.code,
                    "message": e.message,
                    "request_id": request_id,
                    "violations": e.violations,
                }),
            );
            if let Some(receipt) = &e.receipt {
                meta.insert(RECEIPT_META.into(), json!(receipt));
            }
            CallToolResult::error(vec![ContentBlock::text(text)]).with_meta(Some(meta))
        }
    }
}
