//! The host side of `cordon:tool/logging`: structured records kept on the call's outcome.

use crate::output::OutputLimitExceeded;
use crate::state::CallState;
use cordon_core::LogRecord;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "cordon:tool/tool",
        imports: { default: trappable },
    });
}

use bindings::cordon::tool::logging::{self, Level};

impl logging::Host for CallState {
    fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let size = message.len() as u64
            + fields
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum::<u64>();
        self.log_bytes = self.log_bytes.saturating_add(size);
        // Logs are guest-controlled memory in the host: they share the output cap.
        if self.log_bytes > self.log_limit {
            return Err(wasmtime::Error::new(OutputLimitExceeded {
                stream: "logs",
                limit: self.log_limit,
            }));
        }
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.logs.push(LogRecord {
            level: level.to_owned(),
            message,
            fields,
        });
        Ok(())
    }
}

pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<CallState>,
) -> wasmtime::Result<()> {
    logging::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(linker, |s| s)
}
