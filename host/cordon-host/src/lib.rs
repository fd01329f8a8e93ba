//! One call, end to end: policy decides, the backend runs, the audit log records, and
//! escape attempts are counted — for every surface alike (CLI, HTTP, MCP).
//!
//! ```text
//! Call { principal, target, function, arguments, offered grants, requested limits }
//!   → resolve the function         (not_found / unsupported_type: audited, nothing ran)
//!   → policy decision              (policy_denied / path_escape: audited, counted)
//!   → grants ∩ decision, limits ∧ decision, backend check
//!   → executor                     (limits, guards; violations counted)
//!   → audit record                 (queued; committed in batches off the call's path)
//! ```

mod anonymous;
mod live;
mod manifests;
mod native;
mod pins;
mod redact;
mod runtime;
mod workspaces;

pub use cordon_native::TierSettings;
pub use live::{LiveCatalog, load_catalog};
pub use native::{CommandCall, CommandOutput, EXEC_TOOL, NativeTiers};
pub use pins::{Pin, Pins, surface_hash};
pub use redact::redact;
pub use runtime::{Runtime, ToolCall, WORKSPACE_GUEST_PATH, call_schema};
pub use workspaces::{Workspace, Workspaces};

use manifests::PreparedManifests;

use cordon_audit::{AuditLog, AuditRecord, digest_json, now_ms};
use cordon_core::{
    Backend, CallError, CallOutput, Decision, ErrorCode, EscapeKind, Grants, Limits, Principal,
    Receipt, RequestId,
};
use cordon_metrics::Metrics;
use cordon_policy::{
    AdmissionComponent, AdmissionInput, AdmissionTool, DecisionInput, Policy, RequestInput,
    ToolInput,
};
use cordon_wasm::catalog::Tool;
use cordon_wasm::{Executor, LoadedComponent, Manifest};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What is called: a catalog tool (with its manifest), or a bare component by path.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// A tool from the catalog.
    Tool(&'a Tool),
    /// A component without a manifest (`cordon run ./x.wasm`); policy treats it as
    /// unregistered (the default policy lets only admins run one).
    Component(&'a LoadedComponent),
}

impl Target<'_> {
    fn name(&self) -> &str {
        match self {
            Target::Tool(t) => &t.manifest.name,
            Target::Component(c) => &c.name,
        }
    }

    /// The component that runs, or `None` for a native command tool.
    fn component(&self) -> Option<&LoadedComponent> {
        match self {
            Target::Tool(t) => t.component().map(|c| &**c),
            Target::Component(c) => Some(c),
        }
    }
}

/// One call as a surface hands it over.
pub struct Call<'a> {
    /// Who is calling.
    pub principal: &'a Principal,
    /// What is called.
    pub target: Target<'a>,
    /// Which function (`None`: the only one).
    pub function: Option<&'a str>,
    /// Arguments, a JSON object.
    pub arguments: &'a Value,
    /// What the surface offers (directories from CLI flags; nothing over HTTP). A tool's
    /// manifest narrows it, then policy narrows that.
    pub offered: Grants,
    /// Limits requested (defaults, the manifest's and the caller's own); policy may lower.
    pub limits: Limits,
    /// The caller's trace id, if it sent one (W3C `traceparent`); else one is made.
    pub trace_id: Option<String>,
    /// Cancelled by the caller (an MCP `notifications/cancelled`): the instance is stopped
    /// and the call ends with `cancelled`.
    pub cancel: Option<CancellationToken>,
    /// The request id the surface already answered with (the HTTP `x-request-id`); else
    /// one is made.
    pub request_id: Option<RequestId>,
}

/// Host-wide settings for calls.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Record raw arguments (secret fields redacted) in the audit log, not only a digest.
    pub audit_arguments: bool,
    /// The native tiers' images and microVM pool.
    pub tiers: cordon_native::TierSettings,
    /// What each tool looked like when approved; `None` serves tools as they are.
    pub pins: Option<Arc<Pins>>,
}

/// The call path shared by every surface.
pub struct Host {
    executor: Executor,
    policy: Arc<Policy>,
    audit: AuditLog,
    metrics: Arc<Metrics>,
    manifests: PreparedManifests,
    options: HostOptions,
    native: NativeTiers,
    /// Where escape attempts are reported beyond this host (`cordon serve` sets it).
    alerts: std::sync::OnceLock<cordon_alerts::Alerts>,
    /// Tools refused at catalog load, by name and reason, so each is recorded once.
    refused_components: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The audit budget of refusals nobody can be held to.
    anonymous: anonymous::AnonymousRefusals,
}

impl Host {
    /// A host running calls on `executor`, decided by `policy`, recorded in `audit`.
    pub fn new(
        executor: Executor,
        policy: Arc<Policy>,
        audit: AuditLog,
        options: HostOptions,
    ) -> Host {
        Host {
            executor,
            policy,
            audit,
            metrics: Arc::new(Metrics::new()),
            manifests: PreparedManifests::default(),
            native: NativeTiers::new(options.tiers.clone()),
            options,
            alerts: std::sync::OnceLock::new(),
            refused_components: std::sync::Mutex::default(),
            anonymous: anonymous::AnonymousRefusals::new(),
        }
    }

    /// What each tool looked like when approved, when this host pins tools.
    pub fn pins(&self) -> Option<&Pins> {
        self.options.pins.as_deref()
    }

    /// The executor (to load components).
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// The native tiers (probed when first used).
    pub fn native(&self) -> &NativeTiers {
        &self.native
    }

    /// The policy in force.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// What this host has counted: calls, decisions, escape attempts, instances.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Waits until every audit record so far is committed.
    ///
    /// # Errors
    ///
    /// When the audit writer has stopped or its last commit failed.
    pub fn flush_audit(&self) -> Result<(), cordon_audit::AuditError> {
        self.audit.flush()
    }

    /// Asks admission policy whether a tool may join the catalog: pass this to
    /// [`cordon_wasm::catalog::Catalog::load`].
    ///
    /// # Errors
    ///
    /// Policy's reasons for refusing.
    pub fn admit(
        &self,
        manifest: &Manifest,
        component: Option<&LoadedComponent>,
    ) -> Result<(), Vec<String>> {
        let json = serde_json::to_value(manifest).unwrap_or_default();
        let admission = self.policy.admit(&AdmissionInput {
            tool: AdmissionTool {
                name: &manifest.name,
                command: manifest.native.as_ref().map(|n| n.command_name()),
                manifest: Some(&json),
            },
            imports: component.map(|c| c.imports().to_vec()).unwrap_or_default(),
            component: AdmissionComponent {
                toolchain: component.and_then(LoadedComponent::toolchain),
            },
        });
        if admission.allow {
            Ok(())
        } else {
            tracing::warn!(tool = %manifest.name, reasons = ?admission.reasons, "tool refused by admission policy");
            Err(admission.reasons)
        }
    }

    /// Runs one call through policy, the backend and the audit log.
    ///
    /// # Errors
    ///
    /// A [`CallError`] with a stable code and a receipt carrying the request and trace ids:
    /// `not_found`/`bad_request`/`unsupported_type` before policy; `policy_denied` (with
    /// policy's reasons) or `path_escape` (with the violations) when policy refuses;
    /// `backend_unavailable` when policy picks a backend this host lacks; otherwise
    /// whatever the executor reports.
    pub async fn call(&self, call: Call<'_>) -> Result<CallOutput, CallError> {
        self.audit_can_record()?;
        let received_ms = now_ms();
        let received = Instant::now();
        let request_id = call.request_id.clone().unwrap_or_default();
        let trace_id = call.trace_id.clone().unwrap_or_else(new_trace_id);
        let mut audit = self.record_for(&call, received_ms, &request_id, &trace_id);
        let stamp = |mut e: CallError, backend: &str| {
            let r = e.receipt.get_or_insert_with(|| {
                Receipt::nothing_ran(request_id.clone(), trace_id.clone(), backend)
            });
            r.request_id = request_id.clone();
            r.trace_id = trace_id.clone();
            e
        };

        let Some(component) = call.target.component() else {
            // A native command tool: the command path decides, runs and records it.
            let Target::Tool(tool) = call.target else {
                unreachable!("only a catalog tool can be a command")
            };
            return self.call_command(tool, call).await;
        };
        let function = match component.function(call.function) {
            Ok(f) => f,
            Err(m) => {
                let e = stamp(CallError::new(ErrorCode::NotFound, m), "wasm");
                return Err(self.finish_err(audit, e, received));
            }
        };
        audit.function = function.name.clone();

        let requested = match call.target {
            Target::Tool(t) => t.manifest.grants_for(call.offered),
            Target::Component(_) => call.offered,
        };
        let deciding = Instant::now();
        let policy_span = tracing::info_span!("policy", tool = %call.target.name()).entered();
        let verdict = self.decide(
            call.principal,
            call.target,
            &function.name,
            call.arguments,
            &requested,
            &call.limits,
        );
        drop(policy_span);
        self.metrics
            .policy_decision(verdict.decision.allow, deciding.elapsed());
        let decision = verdict.decision;
        audit.policy_hash = verdict.policy_hash.to_string();
        audit.allowed = decision.allow;
        audit.reasons = decision.reasons.clone();
        audit.backend = decision.backend.to_string();
        if decision.allow {
            audit.grants = Some(decision.grants.clone());
            audit.limits = Some(decision.limits);
        }

        if !decision.allow {
            let backend = decision.backend;
            let e = stamp(denial(decision), backend.as_str());
            return Err(self.finish_err(audit, e, received));
        }
        if decision.backend != Backend::Wasm {
            let e = CallError::new(
                ErrorCode::BackendUnavailable,
                format!(
                    "policy chose the {} backend for {}, which this host does not provide",
                    decision.backend,
                    call.target.name()
                ),
            );
            return Err(self.finish_err(audit, stamp(e, decision.backend.as_str()), received));
        }

        let grants = narrow(requested, &decision);
        let limits = lower(call.limits, &decision);
        let run = tracing::Instrument::instrument(
            self.executor.call(
                component,
                Some(&function.name),
                call.arguments,
                &grants,
                &limits,
            ),
            tracing::info_span!("executor", backend = "wasm"),
        );
        // Dropping the executor's future drops the instance's store: the guest stops at
        // its next epoch check or host call, and the record below still says what happened.
        let started = Instant::now();
        let running = self.metrics.instance_running();
        let result = match &call.cancel {
            Some(cancel) => tokio::select! {
                r = run => r,
                () = cancel.cancelled() => {
                    let mut e = CallError::new(
                        ErrorCode::Cancelled,
                        "the caller cancelled the call; the instance was stopped".to_owned(),
                    );
                    let mut receipt = Receipt::nothing_ran(request_id.clone(), trace_id.clone(), "wasm");
                    receipt.wall_time_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    e.receipt = Some(receipt);
                    Err(e)
                }
            },
            None => run.await,
        };
        drop(running);
        match result {
            Ok(mut out) => {
                out.receipt.request_id = request_id;
                out.receipt.trace_id = trace_id;
                let value_bytes = out.value.to_string().len() as u64;
                audit.outcome = "ok".into();
                fill_receipt(&mut audit, &out.receipt, value_bytes);
                self.observe(&audit, received);
                self.record(audit);
                Ok(out)
            }
            Err(e) => Err(self.finish_err(audit, stamp(e, "wasm"), received)),
        }
    }

    /// Whether policy would let `principal` call `function` of catalog tool `tool` with
    /// no arguments and what its manifest gives every call: what a tool listing shows
    /// (MCP `tools/list`). Nothing runs, nothing is recorded; the call itself is decided
    /// again with its real arguments.
    pub fn permits(
        &self,
        principal: &Principal,
        tool: &Tool,
        function: &str,
        limits: &Limits,
    ) -> bool {
        self.verdict(principal, tool, function, limits).allow
    }

    /// The whole decision [`Host::permits`] looks at: allow, reasons, grants, limits and
    /// backend (the panel's "verdict for a principal").
    pub fn verdict(
        &self,
        principal: &Principal,
        tool: &Tool,
        function: &str,
        limits: &Limits,
    ) -> cordon_core::Decision {
        let requested = tool.manifest.grants_for(Grants::default());
        let no_arguments = Value::Object(serde_json::Map::new());
        self.decide(
            principal,
            Target::Tool(tool),
            function,
            &no_arguments,
            &requested,
            limits,
        )
        .decision
    }

    fn decide(
        &self,
        principal: &Principal,
        target: Target<'_>,
        function: &str,
        arguments: &Value,
        requested: &Grants,
        limits: &Limits,
    ) -> cordon_policy::Verdict {
        let (manifest, command) = match target {
            Target::Tool(t) => (
                Some(self.manifests.get(t)),
                t.manifest.native.as_ref().map(|n| n.command_name()),
            ),
            Target::Component(_) => (None, None),
        };
        self.policy.decide(&DecisionInput {
            principal,
            tool: ToolInput {
                name: target.name(),
                function,
                registered: matches!(target, Target::Tool(_)),
                manifest: manifest.as_ref(),
                command,
            },
            arguments,
            request: RequestInput::new(requested, limits),
        })
    }

    /// Nothing runs unrecorded: while the audit log cannot commit (a full disk, a broken
    /// file) new calls are refused with `unavailable`. What it holds queued is kept and
    /// retried; calls resume once a commit succeeds.
    fn audit_can_record(&self) -> Result<(), CallError> {
        match self.audit.failing() {
            None => Ok(()),
            Some(why) => Err(CallError::new(
                ErrorCode::Unavailable,
                format!(
                    "the audit log cannot record calls ({why}); calls are refused until it can"
                ),
            )),
        }
    }

    /// Sends escape attempts to `alerts` too (once; later calls are ignored).
    pub fn alert_through(&self, alerts: cordon_alerts::Alerts) {
        let _ = self.alerts.set(alerts);
    }

    /// Records a request refused before it became a call (a forged or revoked token, a
    /// body over the cap or one that does not decode, another tenant's job): counted as an
    /// escape attempt of each violation's kind, audited under `who` (the caller when known;
    /// an empty tenant and subject when the credentials themselves were refused) and `tool`
    /// (empty when the request named none). Hands the error back.
    pub fn refuse_request(
        &self,
        who: Option<&Principal>,
        tool: &str,
        request_id: &RequestId,
        trace_id: &str,
        e: CallError,
    ) -> CallError {
        let mut audit = self.blank_record(now_ms(), request_id, trace_id);
        if let Some(p) = who {
            audit.tenant.clone_from(&p.tenant);
            audit.subject.clone_from(&p.subject);
        }
        audit.tool = tool.to_owned();
        if who.is_some() {
            let (audit, e) = self.count_refusal(audit, e, true);
            self.record(audit);
            return e;
        }
        // Nobody to hold to it: recorded (and alerted) on its own only within the budget,
        // counted always.
        let what = format!(
            "{} [{}]",
            e.code,
            refusal_kinds(&e).collect::<Vec<_>>().join(", ")
        );
        let alone = self.anonymous.admit(&what, audit.time_ms);
        let (audit, e) = self.count_refusal(audit, e, alone);
        if alone {
            self.record_held_refusals();
            self.record(audit);
        }
        e
    }

    /// Writes one summary record of the refusals without valid credentials that were over
    /// the audit budget since the last summary, if there were any. `cordon serve` calls it
    /// every few seconds and when it stops; a refusal recorded on its own calls it first.
    pub fn record_held_refusals(&self) {
        let Some(held) = self.anonymous.take_held() else {
            return;
        };
        let mut audit = self.blank_record(held.last_ms, &RequestId::new(), &new_trace_id());
        audit.outcome = "refusals_summarized".to_owned();
        audit.reasons = vec![held.reason()];
        tracing::warn!(
            refusals = held.count(),
            "refusals without valid credentials over the audit budget, recorded as one summary"
        );
        self.record(audit);
    }

    /// Records a component refused while the catalog loaded (`tool` its directory's name,
    /// `why` what was wrong with it): a malformed component, imports no call may have,
    /// or one refused by admission policy, counted and audited as `malformed_component`
    /// under the catalog's own name. A tool that stays broken is recorded once per distinct
    /// reason, not at every reload.
    pub fn refuse_component(&self, tool: &str, why: &CallError) {
        if !matches!(
            why.code,
            ErrorCode::InvalidComponent | ErrorCode::PolicyDenied
        ) {
            return;
        }
        let key = format!("{tool}\0{}", why.message);
        if !self
            .refused_components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key)
        {
            return;
        }
        let mut e = CallError::new(why.code, why.message.clone());
        e.violations.push(cordon_core::Violation {
            kind: EscapeKind::MalformedComponent,
            operation: "load component".to_owned(),
            path: tool.to_owned(),
        });
        let request_id = RequestId::new();
        let mut audit = self.blank_record(now_ms(), &request_id, &new_trace_id());
        audit.subject = "catalog".to_owned();
        audit.tool = tool.to_owned();
        let (audit, _) = self.count_refusal(audit, e, true);
        self.record(audit);
    }

    /// Counts a failed call (its outcome, its violations), records it, and hands the error
    /// back.
    fn finish_err(&self, audit: AuditRecord, e: CallError, received: Instant) -> CallError {
        let (audit, e) = self.count_refusal(audit, e, true);
        self.observe(&audit, received);
        self.record(audit);
        e
    }

    /// Counts `e`'s violations as escape attempts (alerting on containment ones) and fills
    /// its outcome into `audit`. A call stopped by a limit (fuel, memory, deadline, output,
    /// ...) carries that limit as its violation, so exhaustion is counted and audited like
    /// any other attempt. Requests refused before they became calls go through here too,
    /// but not through the call metrics ([`Host::observe`]): they called no tool. Without
    /// `report` (a refusal held back from the audit log) it raises no alert and logs nothing.
    fn count_refusal(
        &self,
        mut audit: AuditRecord,
        mut e: CallError,
        report: bool,
    ) -> (AuditRecord, CallError) {
        if let Some(kind) = EscapeKind::of_limit(e.code)
            && !e.violations.iter().any(|v| v.kind == kind)
        {
            e.violations.push(cordon_core::Violation {
                kind,
                operation: e.code.as_str().to_owned(),
                path: String::new(),
            });
        }
        for v in &e.violations {
            self.metrics.escape(v.kind);
        }
        let containment = e.violations.iter().any(|v| v.kind.breaches_containment());
        if let (Some(alerts), true) = (self.alerts.get(), containment && report) {
            let kinds: Vec<&str> = e.violations.iter().map(|v| v.kind.as_str()).collect();
            alerts.raise(
                cordon_alerts::AlertKind::EscapeAttempt,
                format!(
                    "{} by {}/{} in {}, refused with {}",
                    kinds.join(", "),
                    audit.tenant,
                    audit.subject,
                    audit.tool,
                    e.code
                ),
                serde_json::json!({
                    "tenant": audit.tenant,
                    "subject": audit.subject,
                    "tool": audit.tool,
                    "function": audit.function,
                    "request_id": audit.request_id,
                    "trace_id": audit.trace_id,
                    "code": e.code,
                    "violations": e.violations,
                }),
            );
        }
        audit.outcome = e.code.as_str().to_owned();
        audit.violations = e.violations.clone();
        if let Some(r) = &e.receipt {
            fill_receipt(&mut audit, r, 0);
        }
        if report {
            tracing::info!(
                request_id = %audit.request_id,
                tool = %audit.tool,
                code = %e.code,
                "call refused or failed"
            );
        }
        (audit, e)
    }

    /// Queues the audit record (committed in batches off the call's path).
    fn record(&self, audit: AuditRecord) {
        let _span = tracing::info_span!("audit", request_id = %audit.request_id).entered();
        self.audit.append(audit);
    }

    /// Counts a finished call: its outcome, its duration, and what it consumed if it ran.
    fn observe(&self, audit: &AuditRecord, received: Instant) {
        let m = &self.metrics;
        m.tool_calls
            .with_label_values(&[&audit.tool, &audit.tenant, &audit.backend, &audit.outcome])
            .inc();
        let took = received.elapsed();
        m.tool_call_duration
            .with_label_values(&[&audit.tool, &audit.backend])
            .observe(took.as_secs_f64());
        m.live.record(
            &audit.tenant,
            &audit.tool,
            &audit.backend,
            audit.outcome != "ok",
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        );
        if audit.wall_time_us > 0 {
            m.fuel_consumed.observe(audit.fuel_used as f64);
            m.memory_peak.observe(audit.peak_memory_bytes as f64);
        }
    }

    fn record_for(
        &self,
        call: &Call<'_>,
        time_ms: u64,
        request_id: &RequestId,
        trace_id: &str,
    ) -> AuditRecord {
        let arguments = self.options.audit_arguments.then(|| {
            let secret: &[String] = match call.target {
                Target::Tool(t) => &t.manifest.secret_arguments,
                Target::Component(_) => &[],
            };
            redact(call.arguments, secret)
        });
        AuditRecord {
            tenant: call.principal.tenant.clone(),
            subject: call.principal.subject.clone(),
            tool: call.target.name().to_owned(),
            args_digest: digest_json(call.arguments),
            arguments,
            ..self.blank_record(time_ms, request_id, trace_id)
        }
    }

    /// A record of nothing yet: no caller, no tool, denied until said otherwise.
    fn blank_record(&self, time_ms: u64, request_id: &RequestId, trace_id: &str) -> AuditRecord {
        AuditRecord {
            time_ms,
            request_id: request_id.to_string(),
            trace_id: trace_id.to_owned(),
            tenant: String::new(),
            subject: String::new(),
            tool: String::new(),
            function: String::new(),
            args_digest: String::new(),
            arguments: None,
            allowed: false,
            reasons: Vec::new(),
            policy_hash: self.policy.hash().to_string(),
            backend: Backend::Wasm.to_string(),
            outcome: String::new(),
            violations: Vec::new(),
            wall_time_us: 0,
            fuel_used: 0,
            peak_memory_bytes: 0,
            output_bytes: 0,
            grants: None,
            limits: None,
        }
    }
}

/// The escape kinds a refusal counts under: its violations', and its limit's.
fn refusal_kinds(e: &CallError) -> impl Iterator<Item = &'static str> + '_ {
    let limit = EscapeKind::of_limit(e.code).filter(|k| !e.violations.iter().any(|v| v.kind == *k));
    e.violations
        .iter()
        .map(|v| v.kind.as_str())
        .chain(limit.map(EscapeKind::as_str))
}

/// The error a denying decision ends a call with: `command_not_allowed` when policy refused
/// a native command, `path_escape` when it found other violations, else `policy_denied`;
/// the message carries policy's reasons.
fn denial(decision: Decision) -> CallError {
    let code = if decision
        .violations
        .iter()
        .any(|v| v.kind == EscapeKind::Command)
    {
        ErrorCode::CommandNotAllowed
    } else if decision.violations.is_empty() {
        ErrorCode::PolicyDenied
    } else {
        ErrorCode::PathEscape
    };
    let reasons = if decision.reasons.is_empty() {
        "policy gave no reason".to_owned()
    } else {
        decision.reasons.join("; ")
    };
    let mut e = CallError::new(code, format!("denied by policy: {reasons}"));
    e.violations = decision.violations;
    e
}

fn fill_receipt(audit: &mut AuditRecord, r: &Receipt, value_bytes: u64) {
    audit.wall_time_us = r.wall_time_us;
    audit.fuel_used = r.fuel_used;
    audit.peak_memory_bytes = r.peak_memory_bytes;
    audit.output_bytes = r.stdout_bytes + r.stderr_bytes + value_bytes;
}

/// The requested grants, cut down to what the decision names: a directory only at the mode
/// granted (never wider than requested), environment variables and hosts only if listed,
/// scratch only if granted. A decision can refuse more than was asked, never grant more.
fn narrow(requested: Grants, decision: &Decision) -> Grants {
    let g = &decision.grants;
    let b = requested
        .into_builder()
        .retain_dirs(|d| {
            g.dirs
                .iter()
                .find(|granted| granted.guest == d.guest)
                .map(|granted| d.mode.min(granted.mode))
        })
        .retain_env(|k| g.env.iter().any(|e| e == k))
        .retain_hosts(|h| g.hosts.iter().any(|granted| *granted == h.to_string()));
    if g.scratch {
        b.build()
    } else {
        b.without_scratch().build()
    }
}

/// The requested limits, each lowered to the decision's where it sets one.
fn lower(requested: Limits, decision: &Decision) -> Limits {
    let d = decision.limits;
    let mut l = requested;
    if let Some(f) = d.fuel {
        l.fuel = l.fuel.min(f);
    }
    if let Some(t) = d.timeout_ms {
        l.timeout = l.timeout.min(Duration::from_millis(t));
    }
    if let Some(m) = d.memory_bytes {
        l.memory_bytes = l.memory_bytes.min(m);
    }
    if let Some(o) = d.output_bytes {
        l.output_bytes = l.output_bytes.min(o);
    }
    l
}

/// A fresh W3C trace id: 32 lowercase hex digits, not all zero.
pub fn new_trace_id() -> String {
    // A request id is `req_` + 32 random hex digits: the same randomness, W3C-shaped.
    RequestId::new()
        .as_str()
        .trim_start_matches("req_")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_core::{DecidedDir, DirMode, HostRule};

    #[test]
    fn a_decision_can_narrow_but_never_widen() {
        let rule: HostRule = "api.example.com"
            .parse()
            .unwrap_or_else(|e: String| panic!("{e}"));
        let requested = Grants::builder()
            .dir("/a", "/ro-requested", DirMode::ReadOnly)
            .dir("/b", "/rw-requested", DirMode::ReadWrite)
            .dir("/c", "/dropped", DirMode::ReadWrite)
            .env("LANG", "C")
            .env("SECRET", "x")
            .host(rule)
            .scratch("/tmp")
            .build();
        let mut decision = Decision::deny("x");
        decision.grants.dirs = vec![
            DecidedDir {
                guest: "/ro-requested".into(),
                mode: DirMode::ReadWrite,
            },
            DecidedDir {
                guest: "/rw-requested".into(),
                mode: DirMode::ReadOnly,
            },
            DecidedDir {
                guest: "/never-requested".into(),
                mode: DirMode::ReadWrite,
            },
        ];
        decision.grants.env = vec!["LANG".into(), "HOME".into()];
        decision.grants.hosts = vec!["https://evil.example:443".into()];
        let g = narrow(requested, &decision);
        let dirs: Vec<_> = g
            .dirs()
            .iter()
            .map(|d| (d.guest.as_str(), d.mode))
            .collect();
        assert_eq!(
            dirs,
            [
                ("/ro-requested", DirMode::ReadOnly),
                ("/rw-requested", DirMode::ReadOnly)
            ]
        );
        assert_eq!(g.env(), [("LANG".to_owned(), "C".to_owned())]);
        assert!(g.hosts().is_empty());
        assert!(g.scratch().is_none());

        decision.limits.fuel = Some(u64::MAX);
        decision.limits.timeout_ms = Some(5);
        let l = lower(Limits::default(), &decision);
        assert_eq!(l.fuel, Limits::default().fuel);
        assert_eq!(l.timeout, Duration::from_millis(5));
    }
}
