//! The process-wide wasmtime [`Engine`], tuned for many short-lived untrusted instances.

use crate::WasmError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How the engine is set up. These settings are part of the precompile cache key: changing
/// any of them recompiles components on next load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Maximum wasm stack per call, in bytes. Unbounded recursion hits it and ends the
    /// call with `stack_overflow` instead of exhausting host memory. Default 512 KiB.
    pub max_wasm_stack: usize,
    /// How often the epoch ticks. Deadlines are checked on each tick, so a spinning guest
    /// stops at most about one tick after its deadline. Default 1 ms.
    #[serde(with = "duration_us")]
    pub epoch_tick: Duration,
    /// Instances that may exist at once (pooling allocator slots). Default 1000.
    pub max_instances: u32,
    /// Largest linear memory one instance may reserve, in bytes: the ceiling above any
    /// per-call memory limit. Default 4 GiB.
    pub max_memory_size: usize,
    /// Core instances one component may contain (interpreters built with componentize-py
    /// have a dozen). Default 50.
    pub max_core_instances_per_component: u32,
    /// Linear memories one component may contain. Default 10.
    pub max_memories_per_component: u32,
    /// Tables one component may contain. Default 30.
    pub max_tables_per_component: u32,
    /// Initial elements of one table. Default 100,000.
    pub max_table_elements: usize,
    /// Bytes of each linear memory and table slot reset with `memset` (and kept resident)
    /// when an instance ends, instead of being returned to the kernel. Every byte is still
    /// zeroed before the next instance; what changes is that a small guest's call costs no
    /// `madvise`, TLB shootdown or page faults. Default 1 MiB.
    pub keep_resident: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_wasm_stack: 512 << 10,
            epoch_tick: Duration::from_millis(1),
            max_instances: 1000,
            max_memory_size: 4 << 30,
            max_core_instances_per_component: 50,
            max_memories_per_component: 10,
            max_tables_per_component: 30,
            max_table_elements: 100_000,
            keep_resident: 1 << 20,
        }
    }
}

mod duration_us {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_micros().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_micros(u64::deserialize(d)?))
    }
}

impl EngineConfig {
    /// Builds the engine.
    ///
    /// # Errors
    ///
    /// [`WasmError::Engine`] when wasmtime rejects the combination of settings.
    pub fn build(&self) -> Result<Engine, WasmError> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(self.max_instances)
            .total_core_instances(self.max_instances.saturating_mul(4))
            .total_memories(self.max_instances.saturating_mul(2))
            .total_tables(self.max_instances.saturating_mul(4))
            .total_stacks(self.max_instances)
            .max_memory_size(self.max_memory_size)
            .max_core_instances_per_component(self.max_core_instances_per_component)
            .max_memories_per_component(self.max_memories_per_component)
            .max_tables_per_component(self.max_tables_per_component)
            .table_elements(self.max_table_elements)
            .max_memories_per_module(self.max_memories_per_component)
            .max_tables_per_module(self.max_tables_per_component)
            .linear_memory_keep_resident(self.keep_resident)
            .table_keep_resident(self.keep_resident)
            // On Linux 6.7+, reset only the pages an instance dirtied (PAGEMAP_SCAN).
            .pagemap_scan(wasmtime::Enabled::Auto);

        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(self.max_wasm_stack)
            // The fiber stack must hold the wasm stack plus the host frames above it.
            .async_stack_size(self.max_wasm_stack + (1 << 20))
            .cranelift_opt_level(OptLevel::Speed)
            .parallel_compilation(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        Engine::new(&config).map_err(|e| WasmError::Engine(format!("{e:#}")))
    }
}

/// Advances the engine's epoch on a fixed tick until dropped. Deadlines are measured in
/// these ticks.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine, tick: Duration) -> Result<Self, WasmError> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cordon-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| WasmError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
