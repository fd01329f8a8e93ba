//! What one call's `Store` holds: its WASI context and everything the host records.

use crate::egress::EgressGuard;
use crate::limiter::CallLimiter;
use cordon_core::{LogRecord, Violation};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The data of a call's `Store`. Lives exactly as long as the call.
pub(crate) struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    pub(crate) logs: Vec<LogRecord>,
    /// Bytes of log messages so far; logs count against the output cap.
    pub(crate) log_bytes: u64,
    pub(crate) log_limit: u64,
    pub(crate) violations: Vec<Violation>,
    pub(crate) http: WasiHttpCtx,
    pub(crate) egress: EgressGuard,
    /// Files and directories the guest opened and still holds (see `fsguard`).
    pub(crate) open_descriptors: u32,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}
