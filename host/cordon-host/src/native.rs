//! Native commands through the same gate as components: the program is resolved (never a
//! string straight to exec), policy decides with the command's canonical name (allow-list,
//! block-list) and picks the tier, the tier runs it, and the audit log records it.
//!
//! ```text
//! argv ─▶ resolve argv[0]     (relative, disguised, shell syntax: command_not_allowed)
//!      ─▶ policy              (blocked / not allow-listed: command_not_allowed; tier chosen)
//!      ─▶ tier probe          (cannot run here: backend_unavailable, with the reason)
//!      ─▶ run, supervised     (deadline, memory, processes, output: their codes)
//!      ─▶ audit record        (every outcome, refusals included)
//! ```

use crate::{Call, Host};
use cordon_audit::{AuditRecord, digest_json, now_ms};
use cordon_core::{
    Backend, CallError, CallOutput, DirMode, ErrorCode, EscapeKind, Grants, Limits, Principal,
    Receipt, RequestId, Violation,
};
use cordon_native::{NativeCall, NativeLimits, Sandbox, TierSettings, Unresolved, Workspace};
use cordon_policy::{DecisionInput, RequestInput, ToolInput};
use cordon_wasm::catalog::Tool;
use serde_json::Value;
use serde_json::json;
use std::time::Instant;
use tokio::sync::OnceCell;

/// The name direct commands (`cordon exec --backend`) are decided and audited under.
pub const EXEC_TOOL: &str = "exec";

/// One command as a surface hands it over.
pub struct CommandCall<'a> {
    /// Who runs it.
    pub principal: &'a Principal,
    /// The catalog tool whose command this is; `None` for a direct command (`cordon exec`),
    /// decided and audited as the [`EXEC_TOOL`] tool.
    pub tool: Option<&'a Tool>,
    /// What the surface offers (a workspace directory, environment variables): the tool's
    /// manifest narrows it, then policy. A direct command is offered nothing.
    pub offered: Grants,
    /// argv\[0\] as given, then its arguments. Never run through a shell.
    pub argv: &'a [String],
    /// Its stdin; closed when `None`.
    pub stdin: Option<Vec<u8>>,
    /// The tier asked for; policy may choose a stronger one.
    pub backend: Option<Backend>,
    /// Limits requested; policy may lower them.
    pub limits: Limits,
    /// The caller's trace id, if any.
    pub trace_id: Option<String>,
    /// The request id already answered with, if any.
    pub request_id: Option<RequestId>,
}

/// How a command ended on its own (a limit or refusal is a [`CallError`] instead).
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// Its exit status, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// What it wrote to stdout.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr.
    pub stderr: Vec<u8>,
    /// What it consumed; `backend` names the tier.
    pub receipt: Receipt,
}

/// The native tiers this host can run, each probed once, when first needed.
pub struct NativeTiers {
    settings: TierSettings,
    tiers: [OnceCell<Result<Sandbox, String>>; 4],
}

impl NativeTiers {
    /// Tiers with `settings`' images and pool.
    pub fn new(settings: TierSettings) -> NativeTiers {
        NativeTiers {
            settings,
            tiers: Default::default(),
        }
    }

    /// Whether `backend` can run here: `Ok` with what it runs on, or why not.
    pub async fn availability(&self, backend: Backend) -> Result<String, String> {
        match backend {
            Backend::Wasm => Ok("wasmtime".into()),
            native => self.get(native).await.map(Sandbox::describe),
        }
    }

    async fn get(&self, backend: Backend) -> Result<&Sandbox, String> {
        let Some(i) = Backend::NATIVE.iter().position(|b| *b == backend) else {
            return Err(format!("{backend} is not a native tier"));
        };
        let tier = self.tiers[i]
            .get_or_init(|| Sandbox::probe(backend, &self.settings))
            .await;
        tier.as_ref().map_err(Clone::clone)
    }
}

impl Host {
    /// Runs one native command through resolution, policy, its tier and the audit log.
    ///
    /// # Errors
    ///
    /// `command_not_allowed` (counted and audited as an escape attempt),
    /// `policy_denied`, `backend_unavailable`, or the code of the limit that stopped it.
    pub async fn run_command(&self, call: CommandCall<'_>) -> Result<CommandOutput, CallError> {
        self.audit_can_record()?;
        let received = Instant::now();
        let request_id = call.request_id.clone().unwrap_or_default();
        let trace_id = call.trace_id.clone().unwrap_or_else(crate::new_trace_id);
        let arguments = json!({ "argv": call.argv });
        let tool_name = call.tool.map_or(EXEC_TOOL, |t| t.manifest.name.as_str());
        let mut audit = AuditRecord {
            time_ms: now_ms(),
            request_id: request_id.to_string(),
            trace_id: trace_id.clone(),
            tenant: call.principal.tenant.clone(),
            subject: call.principal.subject.clone(),
            tool: tool_name.to_owned(),
            function: match call.tool {
                Some(_) => "run".to_owned(),
                None => call.argv.first().cloned().unwrap_or_default(),
            },
            args_digest: digest_json(&arguments),
            arguments: self.options.audit_arguments.then(|| arguments.clone()),
            allowed: false,
            reasons: Vec::new(),
            policy_hash: self.policy.hash().to_string(),
            backend: call.backend.unwrap_or(Backend::Process).to_string(),
            outcome: String::new(),
            violations: Vec::new(),
            wall_time_us: 0,
            fuel_used: 0,
            peak_memory_bytes: 0,
            output_bytes: 0,
            grants: None,
            limits: None,
        };
        let fail = |audit: AuditRecord, mut e: CallError, backend: &str| {
            e.receipt = Some(Receipt::nothing_ran(
                request_id.clone(),
                trace_id.clone(),
                backend,
            ));
            self.finish_err(audit, e, received)
        };
        let Some(given) = call.argv.first() else {
            let e = CallError::new(ErrorCode::BadRequest, "no command given");
            return Err(fail(audit, e, "process"));
        };

        let not_allowed = |why: Unresolved| {
            let mut e = CallError::new(ErrorCode::CommandNotAllowed, why.to_string());
            e.violations = vec![Violation {
                kind: EscapeKind::Command,
                operation: "command".into(),
                path: given.clone(),
            }];
            e
        };
        let name = match cordon_native::command_name(given) {
            Ok(name) => name,
            Err(why) => return Err(fail(audit, not_allowed(why), "process")),
        };
        let requested = match call.tool {
            Some(t) => t.manifest.grants_for(call.offered),
            None => Grants::default(),
        };
        let mut request = RequestInput::new(&requested, &call.limits);
        if let Some(b) = call.backend {
            request = request.with_backend(b.as_str());
        }
        let manifest = call.tool.map(|t| self.manifests.get(t));
        let verdict = self.policy.decide(&DecisionInput {
            principal: call.principal,
            tool: ToolInput {
                name: tool_name,
                function: "run",
                registered: call.tool.is_some(),
                manifest: manifest.as_ref(),
                command: Some(name),
            },
            arguments: &arguments,
            request,
        });
        let decision = verdict.decision;
        // The hash of the policy that decided (a reload may have swapped it since the record
        // was started).
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
            return Err(fail(audit, crate::denial(decision), backend.as_str()));
        }
        let backend = decision.backend;
        let tier = match self.native.get(backend).await {
            Ok(t) => t,
            Err(why) => {
                let e = CallError::new(
                    ErrorCode::BackendUnavailable,
                    format!("policy chose the {backend} tier, which cannot run here: {why}"),
                );
                return Err(fail(audit, e, backend.as_str()));
            }
        };
        // Only now is the name looked up, in the tier's own root: a blocked name is refused
        // even where it is not installed, and what runs is the file the allowed name leads to.
        let resolved = match cordon_native::resolve(given, tier.root()) {
            Ok(r) => r,
            Err(Unresolved::NotFound(name)) => {
                let e = CallError::new(
                    ErrorCode::NotFound,
                    format!("no program {name:?} to run in the {backend} tier"),
                );
                return Err(fail(audit, e, backend.as_str()));
            }
            Err(why) => return Err(fail(audit, not_allowed(why), backend.as_str())),
        };
        let limits = crate::lower(call.limits, &decision);
        // What the tool asked for, cut down to what policy granted: the workspace (its first
        // directory, at the mode granted) and the environment variables named.
        let grants = crate::narrow(requested, &decision);
        let workspace = grants.dirs().first().map(|d| Workspace {
            host: d.host.clone(),
            writable: d.mode == DirMode::ReadWrite,
        });
        let native = NativeCall {
            program: resolved.program,
            args: call.argv[1..].to_vec(),
            env: grants.env().to_vec(),
            stdin: call.stdin,
            workspace,
            limits: NativeLimits {
                timeout: limits.timeout,
                memory_bytes: limits.memory_bytes,
                output_bytes: limits.output_bytes,
                ..NativeLimits::default()
            },
        };
        let running = self.metrics.instance_running();
        let out = tier.run(&native).await;
        drop(running);
        let out = match out {
            Ok(out) => out,
            Err(why) => {
                let e = CallError::new(
                    ErrorCode::Internal,
                    format!("the {backend} sandbox failed: {why}"),
                );
                return Err(fail(audit, e, backend.as_str()));
            }
        };
        let receipt = Receipt {
            request_id: request_id.clone(),
            trace_id: trace_id.clone(),
            backend: backend.to_string(),
            accel: out.accel.unwrap_or_default().to_owned(),
            fuel_used: 0,
            peak_memory_bytes: out.peak_memory.unwrap_or(0),
            wall_time_us: u64::try_from(out.wall.as_micros()).unwrap_or(u64::MAX),
            stdout_bytes: out.stdout.len() as u64,
            stderr_bytes: out.stderr.len() as u64,
        };
        if out.survivors > 0 {
            tracing::error!(request_id = %request_id, survivors = out.survivors, "processes outlived a native call");
        }
        if let Some(stopped) = out.stopped {
            let message = match stopped {
                cordon_native::Stopped::Deadline => format!(
                    "the command ran past its {:?} deadline; its process tree was killed",
                    native.limits.timeout
                ),
                cordon_native::Stopped::Memory => format!(
                    "the command went over its {} byte memory limit",
                    native.limits.memory_bytes
                ),
                cordon_native::Stopped::Processes => format!(
                    "the command tried to run more than {} processes",
                    native.limits.pids
                ),
                cordon_native::Stopped::Output => format!(
                    "the command wrote more than {} bytes to stdout or stderr",
                    native.limits.output_bytes
                ),
                cordon_native::Stopped::Syscall => match &out.attempt {
                    Some(a) => format!(
                        "the command called {} ({}), reaching for privileges the sandbox does \
                         not have; it was stopped",
                        a.operation, a.target
                    ),
                    None => "the command made a system call that reaches past its sandbox \
                        (mount, ptrace, module loading, ...); the kernel killed it"
                        .to_owned(),
                },
                cordon_native::Stopped::Network => {
                    let (operation, target) = attempted(&out);
                    format!(
                        "the command tried to reach {target} ({operation}): a native command \
                         has no network beyond its own loopback; it was stopped"
                    )
                }
                cordon_native::Stopped::ReadOnly => {
                    let (operation, target) = attempted(&out);
                    format!(
                        "the command tried to write {target} ({operation}): its sandbox is \
                         read-only there (/tmp, /dev and a writable workspace take writes); it \
                         was stopped"
                    )
                }
                cordon_native::Stopped::HostFile => {
                    let (operation, target) = attempted(&out);
                    format!(
                        "the command reached for {target} ({operation}), where a host keeps \
                         credentials; no sandbox is shown it; it was stopped"
                    )
                }
            };
            let mut e = CallError::new(stopped.code(), message);
            if let Some(a) = &out.attempt {
                e.violations.push(Violation {
                    kind: match stopped {
                        cordon_native::Stopped::Network => EscapeKind::NetworkEgress,
                        cordon_native::Stopped::ReadOnly => EscapeKind::ReadOnlyWrite,
                        cordon_native::Stopped::HostFile => EscapeKind::SensitivePath,
                        _ => EscapeKind::Syscall,
                    },
                    operation: a.operation.to_owned(),
                    path: a.target.clone(),
                });
            }
            e.stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            e.stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            e.receipt = Some(receipt);
            return Err(self.finish_err(audit, e, received));
        }
        audit.outcome = match out.code {
            Some(0) => "ok".into(),
            Some(n) => format!("exit {n}"),
            None => format!("signal {}", out.signal.unwrap_or(0)),
        };
        crate::fill_receipt(&mut audit, &receipt, 0);
        self.observe(&audit, received);
        self.record(audit);
        Ok(CommandOutput {
            code: out.code,
            signal: out.signal,
            stdout: out.stdout,
            stderr: out.stderr,
            receipt,
        })
    }
}

impl Host {
    /// A catalog command tool's `run(args?, stdin?)`: the manifest's command and fixed
    /// arguments, then the call's, through [`Host::run_command`]; the value is
    /// `{code, signal, stdout, stderr}`.
    pub(crate) async fn call_command(
        &self,
        tool: &Tool,
        call: Call<'_>,
    ) -> Result<CallOutput, CallError> {
        let request_id = call.request_id.clone().unwrap_or_default();
        let trace_id = call.trace_id.clone().unwrap_or_else(crate::new_trace_id);
        let parsed = tool
            .function(call.function)
            .map_err(|m| (ErrorCode::NotFound, m))
            .and_then(|_| {
                command_arguments(call.arguments).map_err(|m| (ErrorCode::BadRequest, m))
            });
        let (args, stdin) = match parsed {
            Ok(parsed) => parsed,
            Err((code, message)) => {
                let audit = self.record_for(&call, now_ms(), &request_id, &trace_id);
                let mut e = CallError::new(code, message);
                e.receipt = Some(Receipt::nothing_ran(request_id, trace_id, "process"));
                return Err(self.finish_err(audit, e, Instant::now()));
            }
        };
        let Some(native) = &tool.manifest.native else {
            return Err(CallError::new(
                ErrorCode::Internal,
                format!("{} is not a command tool", tool.manifest.name),
            ));
        };
        let argv: Vec<String> = std::iter::once(native.command.clone())
            .chain(native.args.iter().cloned())
            .chain(args)
            .collect();
        let out = self
            .run_command(CommandCall {
                principal: call.principal,
                tool: Some(tool),
                offered: call.offered,
                argv: &argv,
                stdin,
                backend: native.tier.as_deref().and_then(Backend::parse),
                limits: call.limits,
                trace_id: Some(trace_id),
                request_id: Some(request_id),
            })
            .await?;
        Ok(CallOutput {
            value: json!({
                "code": out.code,
                "signal": out.signal,
                "stdout": String::from_utf8_lossy(&out.stdout),
                "stderr": String::from_utf8_lossy(&out.stderr),
            }),
            stdout: String::new(),
            stderr: String::new(),
            logs: Vec::new(),
            receipt: out.receipt,
        })
    }
}

/// A command tool's arguments: `{"args": [string...]?, "stdin": string?}` and nothing else.
fn command_arguments(arguments: &Value) -> Result<(Vec<String>, Option<Vec<u8>>), String> {
    let Some(object) = arguments.as_object() else {
        return Err("a command tool takes an object: {\"args\": [...], \"stdin\": \"...\"}".into());
    };
    if let Some(key) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "args" | "stdin"))
    {
        return Err(format!(
            "unknown argument {key:?}: a command tool takes args and stdin"
        ));
    }
    let args = match object.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or("args: every argument must be a string")?,
        Some(_) => return Err("args: an array of strings".into()),
    };
    let stdin = match object.get("stdin") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone().into_bytes()),
        Some(_) => return Err("stdin: a string".into()),
    };
    Ok((args, stdin))
}

/// What the watcher stopped a native call for: the system call and what it named.
fn attempted(out: &cordon_native::NativeOutput) -> (&'static str, &str) {
    (out.attempt.as_ref()).map_or(("", ""), |a| (a.operation, a.target.as_str()))
}
