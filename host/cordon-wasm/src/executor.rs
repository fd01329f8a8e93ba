//! Runs one call: grants → WASI context, limits → store, JSON → values → JSON.

use crate::cache::{CacheStatus, PrecompileCache, sha256_hex};
use crate::component::{FunctionInfo, LoadedComponent};
use crate::docs::ComponentDocs;
use crate::egress::EgressGuard;
use crate::engine::{EngineConfig, EpochTicker};
use crate::fsguard::SandboxViolation;
use crate::limiter::{CallLimiter, LimitExceeded};
use crate::output::{CappedOutput, OutputLimitExceeded};
use crate::state::CallState;
use crate::values;
use crate::{WasmError, fsguard, logging};
use cordon_core::{
    CallError, CallOutput, DirMode, ErrorCode, EscapeKind, Grants, Limits, Receipt, RequestId,
};
use serde_json::Value;
use std::path::Path;
use std::time::Instant;
use wasmtime::component::{Component, Linker, Type, Val};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The call ran past its wall-clock deadline.
#[derive(Debug, thiserror::Error)]
#[error("deadline of {0:?} exceeded")]
struct DeadlineExceeded(std::time::Duration);

/// Runs components. One per process: it owns the wasmtime engine, the linker with every
/// host interface, the precompile cache and the epoch ticker that enforces deadlines.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use cordon_core::{DirMode, Grants, Limits};
/// use cordon_wasm::{EngineConfig, Executor};
///
/// let executor = Executor::new(&EngineConfig::default(), Some(".cordon/cache".as_ref()))?;
/// let fs = executor.load_file("target/tools/fs/fs.wasm".as_ref())?;
/// let grants = Grants::builder().dir("./ws", "/ws", DirMode::ReadOnly).build();
/// let out = executor
///     .call(&fs, Some("read-file"), &serde_json::json!({"path": "notes.txt"}), &grants, &Limits::default())
///     .await?;
/// println!("{} (fuel {})", out.value, out.receipt.fuel_used);
/// # Ok(()) }
/// ```
pub struct Executor {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<PrecompileCache>,
    _ticker: EpochTicker,
}

impl Executor {
    /// Builds the engine and linker, and opens the precompile cache under `cache_dir`
    /// (no caching when `None`).
    ///
    /// # Errors
    ///
    /// When the engine configuration is rejected or the cache directory cannot be created.
    pub fn new(config: &EngineConfig, cache_dir: Option<&Path>) -> Result<Self, WasmError> {
        let engine = config.build()?;
        let mut linker = Linker::new(&engine);
        let link_err = |e: wasmtime::Error| WasmError::Engine(format!("{e:#}"));
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link_err)?;
        logging::add_to_linker(&mut linker).map_err(link_err)?;
        fsguard::add_to_linker(&mut linker).map_err(link_err)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link_err)?;
        let cache = cache_dir
            .map(|d| PrecompileCache::new(d, &engine, config))
            .transpose()?;
        let ticker = EpochTicker::start(&engine, config.epoch_tick)?;
        Ok(Executor {
            engine,
            linker,
            cache,
            _ticker: ticker,
        })
    }

    /// The wasmtime engine (for benchmarks and tools that inspect components).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or loads from cache), links and describes a component. Blocking: call it
    /// from a blocking context when on an async runtime.
    ///
    /// # Errors
    ///
    /// [`WasmError::InvalidComponent`] for bytes that are not a valid component and
    /// [`WasmError::Link`] for a component importing what the host does not provide.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<LoadedComponent, WasmError> {
        crate::shape::check(name, bytes)?;
        let digest = sha256_hex(bytes);
        let (component, status) = match &self.cache {
            Some(cache) => cache.load(&self.engine, name, bytes, &digest)?,
            None => (
                Component::new(&self.engine, bytes).map_err(|e| WasmError::InvalidComponent {
                    name: name.to_owned(),
                    reason: format!("{e:#}"),
                })?,
                CacheStatus::Compiled,
            ),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| WasmError::Link {
                name: name.to_owned(),
                reason: format!("{e:#}"),
            })?;
        let docs = ComponentDocs::from_component(bytes);
        tracing::debug!(component = name, ?status, "component loaded");
        Ok(LoadedComponent::new(
            name.to_owned(),
            digest,
            status,
            &component,
            pre,
            &docs,
            crate::toolchain::detect(bytes),
        ))
    }

    /// [`Executor::load`] for a file.
    ///
    /// # Errors
    ///
    /// As [`Executor::load`], plus [`WasmError::Io`] when the file cannot be read.
    pub fn load_file(&self, path: &Path) -> Result<LoadedComponent, WasmError> {
        let bytes = std::fs::read(path).map_err(WasmError::io(path))?;
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        self.load(&name, &bytes)
    }

    /// Calls `function` (see [`LoadedComponent::function`]) with `args`, a JSON object of
    /// named arguments, in a fresh instance whose capabilities are exactly `grants` and
    /// whose consumption is capped by `limits`.
    ///
    /// # Errors
    ///
    /// A [`CallError`] with a stable code: `bad_request`/`not_found` before anything runs;
    /// `fuel_exhausted`, `deadline_exceeded`, `memory_limit`, `stack_overflow`,
    /// `output_limit` when a limit stops the guest; `path_escape`/`read_only` when it tries
    /// to leave its grants; `network_denied` when it sends a wasi:http request to a host it
    /// was not granted (the request is refused at use); `trap` for other guest faults; `tool_error` when the function
    /// returns `err`. Every error past argument decoding carries the call's receipt.
    pub async fn call(
        &self,
        component: &LoadedComponent,
        function: Option<&str>,
        args: &Value,
        grants: &Grants,
        limits: &Limits,
    ) -> Result<CallOutput, CallError> {
        let request_id = RequestId::new();
        let func = component
            .function(function)
            .map_err(|m| CallError::new(ErrorCode::NotFound, m))?;
        if let Some(reason) = &func.unsupported {
            return Err(CallError::new(ErrorCode::UnsupportedType, reason.clone()));
        }
        let params = decode_args(func, args)?;

        let stdout = CappedOutput::new("stdout", limits.output_bytes);
        let stderr = CappedOutput::new("stderr", limits.output_bytes);
        // Dropped (and deleted) when the call ends, whatever the outcome.
        let scratch = match grants.scratch() {
            Some(_) => Some(
                tempfile::Builder::new()
                    .prefix("cordon-scratch-")
                    .tempdir()
                    .map_err(|e| {
                        CallError::new(
                            ErrorCode::Internal,
                            format!("cannot create scratch directory: {e}"),
                        )
                    })?,
            ),
            None => None,
        };
        let wasi = build_wasi(grants, scratch.as_ref().map(|d| d.path()), &stdout, &stderr)?;

        let mut store = Store::new(
            &self.engine,
            CallState {
                wasi,
                table: Default::default(),
                limiter: CallLimiter::new(limits.memory_bytes, limits.table_elements),
                logs: Vec::new(),
                log_bytes: 0,
                log_limit: limits.output_bytes,
                violations: Vec::new(),
                http: wasmtime_wasi_http::WasiHttpCtx::new(),
                egress: EgressGuard::new(grants.hosts().to_vec()),
                open_descriptors: 0,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| CallError::new(ErrorCode::Internal, format!("{e:#}")))?;
        let started = Instant::now();
        let deadline = started + limits.timeout;
        let timeout = limits.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded(timeout)))
            } else {
                // Yield to the async runtime every tick so one guest never monopolises a
                // worker thread.
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let run = async {
            let index = func.index.ok_or_else(|| {
                wasmtime::format_err!("{} is not a component's export", func.name)
            })?;
            let instance = component.pre.instantiate_async(&mut store).await?;
            let f = instance
                .get_func(&mut store, index)
                .ok_or_else(|| wasmtime::format_err!("export {} vanished", func.name))?;
            let mut results = vec![Val::Bool(false); usize::from(func.result.is_some())];
            f.call_async(&mut store, &params, &mut results).await?;
            Ok::<_, wasmtime::Error>(results)
        };
        // The epoch callback stops guests running wasm; this outer timer stops guests
        // blocked in the host (sleeping, polling), which never reach an epoch check.
        let outcome = match tokio::time::timeout(limits.timeout, run).await {
            Ok(r) => r,
            Err(_) => Err(wasmtime::Error::new(DeadlineExceeded(timeout))),
        };
        let wall = started.elapsed();

        // Each pipe's buffer is copied out once, for both the receipt and the outcome.
        let (stdout, stderr) = (stdout.contents(), stderr.contents());
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data_mut();
        let receipt = Receipt {
            request_id,
            trace_id: String::new(),
            backend: "wasm".into(),
            accel: String::new(),
            fuel_used: limits.fuel.saturating_sub(fuel_left),
            peak_memory_bytes: state.limiter.peak,
            wall_time_us: wall.as_micros().try_into().unwrap_or(u64::MAX),
            stdout_bytes: stdout.len() as u64,
            stderr_bytes: stderr.len() as u64,
        };
        let mut violations = std::mem::take(&mut state.violations);
        let refused_requests = state.egress.take_refused();
        violations.extend(refused_requests.iter().cloned());
        let logs = std::mem::take(&mut state.logs);
        drop(store);
        drop(scratch);

        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        // A refused outbound request ends the call as refused, whatever the guest did next.
        let outcome = match (&outcome, refused_requests.first()) {
            (Ok(_), Some(first)) => Err(wasmtime::Error::new(NetworkRefused(first.path.clone()))),
            _ => outcome,
        };
        let result = match outcome {
            Ok(results) => {
                let value = results.first();
                match (func.returns_result(), value) {
                    (true, Some(Val::Result(Err(payload)))) => {
                        let detail = payload.as_deref().map_or(Value::Null, values::to_json);
                        let message = match &detail {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        Err(CallError {
                            code: ErrorCode::ToolError,
                            message,
                            detail: Some(detail),
                            violations,
                            stdout,
                            stderr,
                            receipt: Some(receipt),
                        })
                    }
                    (true, Some(Val::Result(Ok(payload)))) => Ok(CallOutput {
                        value: payload.as_deref().map_or(Value::Null, values::to_json),
                        stdout,
                        stderr,
                        logs,
                        receipt,
                    }),
                    (_, v) => Ok(CallOutput {
                        value: v.map_or(Value::Null, values::to_json),
                        stdout,
                        stderr,
                        logs,
                        receipt,
                    }),
                }
            }
            Err(err) => {
                let (code, message) = classify(&err);
                tracing::debug!(code = %code, error = %message, "call failed");
                Err(CallError {
                    code,
                    message,
                    detail: None,
                    violations,
                    stdout,
                    stderr,
                    receipt: Some(receipt),
                })
            }
        };
        within_output_cap(result, limits.output_bytes)
    }
}

/// The value a call returns (or its error's payload) is output like stdout: over the cap,
/// the call ends with `output_limit` instead of handing the caller megabytes.
fn within_output_cap(
    result: Result<CallOutput, CallError>,
    cap: u64,
) -> Result<CallOutput, CallError> {
    let (value, what) = match &result {
        Ok(out) => (&out.value, "value"),
        Err(e) => match &e.detail {
            Some(detail) => (detail, "error payload"),
            None => return result,
        },
    };
    let size = json_len(value);
    if size <= cap {
        return result;
    }
    let (stdout, stderr, receipt) = match result {
        Ok(out) => (out.stdout, out.stderr, Some(out.receipt)),
        Err(e) => (e.stdout, e.stderr, e.receipt),
    };
    Err(CallError {
        code: ErrorCode::OutputLimit,
        message: format!(
            "the returned {what} is {size} bytes as JSON, over the output cap of {cap} bytes"
        ),
        detail: None,
        violations: Vec::new(),
        stdout,
        stderr,
        receipt,
    })
}

/// The length of `value` as compact JSON, without building the text.
fn json_len(value: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and a JSON value always serializes.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

fn build_wasi(
    grants: &Grants,
    scratch: Option<&Path>,
    stdout: &CappedOutput,
    stderr: &CappedOutput,
) -> Result<wasmtime_wasi::WasiCtx, CallError> {
    let mut b = WasiCtxBuilder::new();
    b.stdout(stdout.clone()).stderr(stderr.clone());
    if let Some(bytes) = grants.stdin() {
        b.stdin(MemoryInputPipe::new(bytes.to_vec()));
    }
    for (k, v) in grants.env() {
        b.env(k, v);
    }
    for d in grants.dirs() {
        let perms = match d.mode {
            DirMode::ReadOnly => FsPerms::ReadOnly,
            DirMode::ReadWrite => FsPerms::ReadWrite,
        };
        b.preopened_dir(&d.host, &d.guest, perms).map_err(|e| {
            CallError::new(
                ErrorCode::BadRequest,
                format!("cannot open granted directory {}: {e:#}", d.host.display()),
            )
        })?;
    }
    if let (Some(host), Some(guest)) = (scratch, grants.scratch()) {
        b.preopened_dir(host, guest, FsPerms::ReadWrite)
            .map_err(|e| {
                CallError::new(
                    ErrorCode::Internal,
                    format!("cannot open scratch directory: {e:#}"),
                )
            })?;
    }
    // No network of any kind: the builder's defaults already deny every address; these make
    // the denial explicit and also refuse creating sockets and resolving names.
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    Ok(b.build())
}

fn decode_args(func: &FunctionInfo, args: &Value) -> Result<Vec<Val>, CallError> {
    let names = || {
        func.params
            .iter()
            .map(|(n, t)| format!("{n}: {}", values::type_name(t)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let empty = serde_json::Map::new();
    let obj = match args {
        Value::Object(o) => o,
        Value::Null => &empty,
        other => {
            return Err(CallError::new(
                ErrorCode::BadRequest,
                format!(
                    "arguments to {} must be a JSON object ({{{}}}), not {}",
                    func.name,
                    names(),
                    match other {
                        Value::Array(_) => "an array",
                        Value::String(_) => "a string",
                        Value::Number(_) => "a number",
                        _ => "a boolean",
                    }
                ),
            ));
        }
    };
    if let Some(unknown) = obj
        .keys()
        .find(|k| !func.params.iter().any(|(n, _)| n == *k))
    {
        return Err(CallError::new(
            ErrorCode::BadRequest,
            format!(
                "{unknown}: {} takes no such argument (it takes {})",
                func.name,
                names()
            ),
        ));
    }
    func.params
        .iter()
        .map(|(name, ty)| match (obj.get(name), ty) {
            (Some(v), _) => values::from_json(ty, v, name)
                .map_err(|e| CallError::new(ErrorCode::BadRequest, e.to_string())),
            (None, Type::Option(_)) => Ok(Val::Option(None)),
            (None, _) => Err(CallError::new(
                ErrorCode::BadRequest,
                format!(
                    "{name}: missing required argument of type {}",
                    values::type_name(ty)
                ),
            )),
        })
        .collect()
}

/// The first error of type `E` among `err` and the contexts wrapped around it.
fn find<E>(err: &wasmtime::Error) -> Option<&E>
where
    E: std::fmt::Display + std::fmt::Debug + Send + Sync + 'static,
{
    err.downcast_ref::<E>()
}

/// The guest sent a wasi:http request to a host it was not granted.
#[derive(Debug, thiserror::Error)]
#[error("outbound request to {0} refused: the call was not granted that host")]
struct NetworkRefused(String);

/// Maps why a call stopped to its stable code.
fn classify(err: &wasmtime::Error) -> (ErrorCode, String) {
    if let Some(e) = find::<NetworkRefused>(err) {
        return (ErrorCode::NetworkDenied, e.to_string());
    }
    if let Some(v) = find::<SandboxViolation>(err) {
        let code = if v.kind == EscapeKind::ReadOnlyWrite {
            ErrorCode::ReadOnly
        } else {
            ErrorCode::PathEscape
        };
        return (code, v.to_string());
    }
    if let Some(e) = find::<DeadlineExceeded>(err) {
        return (ErrorCode::DeadlineExceeded, e.to_string());
    }
    if let Some(e) = find::<LimitExceeded>(err) {
        return (ErrorCode::MemoryLimit, e.to_string());
    }
    if let Some(e) = find::<OutputLimitExceeded>(err) {
        return (ErrorCode::OutputLimit, e.to_string());
    }
    if let Some(e) = find::<crate::fsguard::DescriptorLimitExceeded>(err) {
        return (ErrorCode::DescriptorLimit, e.to_string());
    }
    if let Some(trap) = find::<Trap>(err) {
        return match trap {
            Trap::OutOfFuel => (ErrorCode::FuelExhausted, "fuel exhausted".into()),
            Trap::StackOverflow => (ErrorCode::StackOverflow, "wasm stack overflow".into()),
            Trap::Interrupt => (
                ErrorCode::DeadlineExceeded,
                "interrupted at its deadline".into(),
            ),
            other => (
                ErrorCode::Trap,
                format!("guest trapped: {other}{}", backtrace(err)),
            ),
        };
    }
    if let Some(exit) = find::<wasmtime_wasi::I32Exit>(err) {
        return (
            ErrorCode::Trap,
            format!("guest exited with status {}", exit.0),
        );
    }
    (ErrorCode::Trap, format!("guest failed: {err}"))
}

/// The innermost few frames of a trap's wasm backtrace, as " (in a <- b <- c)".
fn backtrace(err: &wasmtime::Error) -> String {
    let Some(bt) = find::<wasmtime::WasmBacktrace>(err) else {
        return String::new();
    };
    let frames: Vec<String> = bt
        .frames()
        .iter()
        .take(4)
        .map(|f| {
            f.func_name()
                .map_or_else(|| format!("func {}", f.func_index()), str::to_owned)
        })
        .collect();
    if frames.is_empty() {
        String::new()
    } else {
        format!(" (in {})", frames.join(" <- "))
    }
}
