use cordon_core::ErrorCode;
use std::path::PathBuf;

/// Failures of loading, caching and cataloguing components (not of calls: those end in a
/// [`cordon_core::CallError`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WasmError {
    /// The bytes are not a valid component (or fail wasmtime's validation).
    #[error("invalid component {name}: {reason}")]
    InvalidComponent {
        /// Which component.
        name: String,
        /// wasmtime's explanation.
        reason: String,
    },
    /// The component imports something the host does not provide.
    #[error("component {name} cannot be linked: {reason}")]
    Link {
        /// Which component.
        name: String,
        /// What is missing.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A tool manifest is malformed.
    #[error("manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No such tool or component.
    #[error("{0}")]
    NotFound(String),
    /// The engine could not be configured.
    #[error("engine configuration: {0}")]
    Engine(String),
    /// Admission policy refused to add the tool.
    #[error("tool {tool:?} refused: {}", reasons.join("; "))]
    Refused {
        /// The tool.
        tool: String,
        /// Policy's reasons.
        reasons: Vec<String>,
    },
}

impl WasmError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            WasmError::InvalidComponent { .. } | WasmError::Link { .. } => {
                ErrorCode::InvalidComponent
            }
            WasmError::Manifest { .. } => ErrorCode::BadRequest,
            WasmError::NotFound(_) => ErrorCode::NotFound,
            WasmError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorCode::NotFound
            }
            WasmError::Io { .. } | WasmError::Engine(_) => ErrorCode::Internal,
            WasmError::Refused { .. } => ErrorCode::PolicyDenied,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WasmError {
        let path = path.into();
        move |source| WasmError::Io { path, source }
    }
}
