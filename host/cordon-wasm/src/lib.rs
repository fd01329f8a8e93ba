//! Runs untrusted WASI 0.2 components with limits and capabilities built from grants alone.
//!
//! One [`Executor`] per process owns a wasmtime engine set up for many short-lived
//! untrusted instances: the pooling allocator, async execution with epoch-based deadlines,
//! fuel, a maximum wasm stack, and a precompile cache on disk. Each call gets a fresh
//! instance whose WASI context holds exactly what its [`Grants`](cordon_core::Grants) say
//! (preopened directories, a scratch directory, named environment variables, stdin,
//! wasi:http to granted hosts only) and nothing else: no sockets, no inherited environment,
//! no host stdio.
//!
//! Any component can be called, whatever it exports: functions are discovered at load time
//! and called dynamically, with arguments converted from JSON by [`values::from_json`]
//! and described by [`values::schema`].
//!
//! A call ends in a [`CallOutput`](cordon_core::CallOutput) or a
//! [`CallError`](cordon_core::CallError), and both carry a receipt of the fuel, memory and
//! time it used. Limits each end a call with their own code: see [`Executor::call`].

mod cache;
pub mod catalog;
mod component;
mod docs;
mod egress;
mod engine;
mod error;
mod executor;
mod fsguard;
mod limiter;
mod logging;
pub mod manifest;
mod output;
mod shape;
mod state;
mod toolchain;
pub mod values;

pub use cache::{CacheStatus, PrecompileCache, sha256_hex};
pub use component::{FunctionInfo, LoadedComponent};
pub use docs::embed_wit;
pub use engine::EngineConfig;
pub use error::WasmError;
pub use executor::Executor;
pub use manifest::{Capabilities, LimitSettings, Manifest};
