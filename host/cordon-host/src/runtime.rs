//! What a server serves: the host, the catalog of tools it carries and the default limits.
//! The HTTP API and the MCP server call tools through the same [`Runtime`].

use crate::LiveCatalog;
use crate::{Call, Host, Target, Workspaces};
use cordon_core::{CallError, CallOutput, ErrorCode, Grants, Limits, Principal, RequestId};
use cordon_wasm::catalog::Tool;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A host and the catalog it serves.
pub struct Runtime {
    /// The call path.
    pub host: Host,
    /// The tools on offer, swapped whole when their directory changes
    /// ([`Runtime::watch_catalog`]).
    pub catalog: LiveCatalog,
    /// Limits a call starts from before its manifest and policy narrow them.
    pub limits: Limits,
    /// Workspace directories (fresh per call, or a session's) for tools that ask for one.
    pub workspaces: Workspaces,
}

/// Where a tool's workspace appears in the guest.
pub const WORKSPACE_GUEST_PATH: &str = "/workspace";

/// The argument that names a session, for tools with a workspace. It is the host's, not
/// the function's: it is taken out before the call.
const SESSION_ARGUMENT: &str = "session";

/// One call of a catalog tool by a remote caller.
pub struct ToolCall<'a> {
    /// Who is calling (from their token).
    pub principal: &'a Principal,
    /// The catalog tool.
    pub tool: &'a str,
    /// The function (`None`: the tool's only one).
    pub function: Option<&'a str>,
    /// The arguments, a JSON object.
    pub arguments: &'a Value,
    /// The caller's trace id, if it sent one.
    pub trace_id: Option<String>,
    /// Fires when the caller cancels.
    pub cancel: Option<CancellationToken>,
    /// The id the surface answers with; else the host makes one.
    pub request_id: Option<RequestId>,
}

impl Runtime {
    /// Calls a catalog tool. Remote callers get no host directories of their own: a call
    /// has what its manifest gives every call (a scratch directory, outbound hosts) and,
    /// for a tool that asks for a workspace, a directory at `/workspace` — the session's
    /// named by a `session` argument, or a fresh one — as far as policy grants them.
    ///
    /// # Errors
    ///
    /// `not_found` for a tool not in the catalog; `tool_changed` for one held since it
    /// changed what it tells callers; `bad_request` for a malformed session;
    /// `quota_exceeded` when the tenant's sessions are full; otherwise as [`Host::call`].
    pub async fn call_tool(&self, call: ToolCall<'_>) -> Result<CallOutput, CallError> {
        // The catalog of this moment, held to the call's end even if it is replaced.
        let catalog = self.catalog.current();
        let tool = catalog
            .get(call.tool)
            .ok_or_else(|| match catalog.held(call.tool) {
                Some(why) => match self.host.pins() {
                    Some(pins) => pins.refusal(call.tool, why.to_owned()),
                    None => CallError::new(ErrorCode::ToolChanged, why.to_owned()),
                },
                None => CallError::new(ErrorCode::NotFound, format!("no tool {:?}", call.tool)),
            })?;
        let mut arguments = std::borrow::Cow::Borrowed(call.arguments);
        let mut offered = Grants::default();
        // Held to the call's end: a fresh workspace is removed when this drops.
        let _workspace = match tool.manifest.capabilities.workspace {
            Some(mode) => {
                let session = take_session(&mut arguments)?;
                let ws = self
                    .workspaces
                    .for_call(&call.principal.tenant, session.as_deref())?;
                offered = Grants::builder()
                    .dir(ws.path(), WORKSPACE_GUEST_PATH, mode)
                    .build();
                Some(ws)
            }
            None => None,
        };
        self.host
            .call(Call {
                principal: call.principal,
                target: Target::Tool(tool),
                function: call.function,
                arguments: &arguments,
                offered,
                limits: tool.manifest.limits(self.limits),
                trace_id: call.trace_id,
                cancel: call.cancel,
                request_id: call.request_id,
            })
            .await
    }
}

/// The JSON Schema of a call's arguments as remote callers send them: the function's own,
/// plus the optional `session` for a tool that asks for a workspace.
pub fn call_schema(tool: &Tool, function: &cordon_wasm::FunctionInfo) -> Value {
    let mut schema = function.input_schema.clone();
    if tool.manifest.capabilities.workspace.is_some()
        && let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut)
    {
        properties.insert(
            SESSION_ARGUMENT.to_owned(),
            serde_json::json!({
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]{1,64}$",
                "description": "Keep /workspace across calls: files written in one call with this session are there in the next (same tenant). Without it, each call gets a fresh, empty /workspace.",
            }),
        );
    }
    schema
}

/// Takes the `session` argument out of an argument object, if there is one.
fn take_session(arguments: &mut std::borrow::Cow<'_, Value>) -> Result<Option<String>, CallError> {
    let Some(session) = arguments.get(SESSION_ARGUMENT) else {
        return Ok(None);
    };
    let Some(id) = session.as_str().map(str::to_owned) else {
        return Err(CallError::new(
            ErrorCode::BadRequest,
            format!("{SESSION_ARGUMENT}: expected a string, found {session}"),
        ));
    };
    if let Value::Object(map) = arguments.to_mut() {
        map.remove(SESSION_ARGUMENT);
    }
    Ok(Some(id))
}
