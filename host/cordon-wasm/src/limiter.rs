//! Memory and table caps for one call, with the peak recorded for the receipt.

use wasmtime::ResourceLimiter;

/// Linear memory or a table tried to grow past the call's limit.
#[derive(Debug, thiserror::Error)]
#[error("{what} limit of {limit} reached (tried to grow to {desired})")]
pub struct LimitExceeded {
    /// `memory` or `table`.
    pub what: &'static str,
    /// The limit.
    pub limit: u64,
    /// What the guest asked for.
    pub desired: u64,
}

/// Caps the total linear memory of one instance (all its memories together: an
/// interpreter built as several core modules has several) and each table's size.
pub(crate) struct CallLimiter {
    memory_limit: u64,
    table_limit: usize,
    /// Bytes across all memories. wasmtime does not say which memory is growing, so each
    /// growth is charged as its delta.
    current_total: u64,
    pub(crate) peak: u64,
}

impl CallLimiter {
    pub(crate) fn new(memory_limit: u64, table_limit: u32) -> Self {
        CallLimiter {
            memory_limit,
            table_limit: table_limit as usize,
            current_total: 0,
            peak: 0,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let delta = desired.saturating_sub(current) as u64;
        let total = self.current_total.saturating_add(delta);
        if total > self.memory_limit {
            // An error (not `Ok(false)`) ends the call at once with a code we can tell
            // apart, instead of letting the guest see a failed `memory.grow` and abort in
            // some way of its own.
            return Err(wasmtime::Error::new(LimitExceeded {
                what: "memory",
                limit: self.memory_limit,
                desired: total,
            }));
        }
        self.current_total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_limit {
            return Err(wasmtime::Error::new(LimitExceeded {
                what: "table",
                limit: self.table_limit as u64,
                desired: desired as u64,
            }));
        }
        Ok(true)
    }
}
