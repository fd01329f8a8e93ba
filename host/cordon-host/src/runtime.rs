//! What a server serves: the host, the catalog of tools it carries and the default limits.
//! The HTTP API and the MCP server call tools through the same [`Runtime`].

use crate::LiveCatalog;
use crate::{Call, Host, Target};
use cordon_core::{CallError, CallOutput, ErrorCode, Grants, Limits, Principal, RequestId};
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
}

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
    /// Calls a catalog tool. Remote callers get no host directories: a call has what its
    /// manifest gives every call (a scratch directory, outbound hosts), as far as policy
    /// grants it.
    ///
    /// # Errors
    ///
    /// `not_found` for a tool not in the catalog; otherwise as [`Host::call`].
    pub async fn call_tool(&self, call: ToolCall<'_>) -> Result<CallOutput, CallError> {
        // The catalog of this moment, held to the call's end even if it is replaced.
        let catalog = self.catalog.current();
        let tool = catalog.get(call.tool).ok_or_else(|| {
            CallError::new(ErrorCode::NotFound, format!("no tool {:?}", call.tool))
        })?;
        self.host
            .call(Call {
                principal: call.principal,
                target: Target::Tool(tool),
                function: call.function,
                arguments: call.arguments,
                offered: Grants::default(),
                limits: tool.manifest.limits(self.limits),
                trace_id: call.trace_id,
                cancel: call.cancel,
                request_id: call.request_id,
            })
            .await
    }
}
