//! Write Cordon tools in Rust.
//!
//! A tool is a WASI 0.2 component whose world includes `cordon:tool/tool`. Each function it
//! exports becomes a callable tool function; its JSON Schema comes from the WIT types and
//! its description from the WIT doc comment. This crate gives a tool what that world
//! imports, and the conventions callers rely on:
//!
//! - [`log`]: structured records that land in the call's outcome and audit trail (never on
//!   a stream the tool controls, so a tool cannot forge or flood the host's logs);
//! - [`Error`]: an error with a kind callers can branch on, for functions declared
//!   `-> result<T, string>`; the host reports it as `tool_error` with the text
//!   `kind: message`.
//!
//! A tool's own bindings reuse this crate's, so the import exists once:
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     path: "wit",
//!     world: "demo",
//!     with: { "cordon:tool/logging@0.1.0": cordon_sdk::logging },
//! });
//! ```
//!
//! `cordon new tool NAME --lang rust` writes a tool that does this; `docs/sdk-rust.md` walks
//! through it.

wit_bindgen::generate!({
    path: "wit",
    world: "cordon:tool/tool@0.1.0",
});

pub use cordon::tool::logging;

/// Structured logging through the host.
pub mod log {
    use crate::logging::{Level, log};

    fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        log(level, message, &fields);
    }

    /// Fine-grained tracing.
    pub fn trace(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Trace, message, fields);
    }

    /// Detail useful when debugging the tool.
    pub fn debug(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Debug, message, fields);
    }

    /// What the tool did.
    pub fn info(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Info, message, fields);
    }

    /// Something the caller may want to know about.
    pub fn warn(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Warn, message, fields);
    }

    /// Something went wrong.
    pub fn error(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Error, message, fields);
    }
}

/// What kind of failure a tool reports: the word before the colon in the error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The arguments were wrong; calling again with the same ones fails the same way.
    InvalidInput,
    /// Something the arguments name does not exist.
    NotFound,
    /// The tool cannot do this (a format or feature it lacks).
    Unsupported,
    /// The tool failed for a reason of its own.
    Failed,
}

impl ErrorKind {
    /// The kind as callers see it: `invalid_input`, `not_found`, `unsupported`, `failed`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Failed => "failed",
        }
    }
}

/// An error a tool returns; converts into the `string` of a WIT `result<T, string>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What happened, for people and models.
    pub message: String,
}

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The arguments were wrong.
    pub fn invalid_input(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    /// Something the arguments name does not exist.
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_kind_colon_message() {
        let text: String = Error::invalid_input("row 3 has 2 fields, the header 3").into();
        assert_eq!(text, "invalid_input: row 3 has 2 fields, the header 3");
    }
}
