//! Cordon's shared vocabulary, with no I/O.
//!
//! Every other crate speaks in these types: a call is made with [`Grants`] (what the guest
//! may touch) and [`Limits`] (how much it may use); it ends in a [`CallOutput`] or a
//! [`CallError`], and both carry a [`Receipt`] saying what the call actually consumed.
//! Everything a user can see as a failure has a stable [`ErrorCode`].
//!
//! ```
//! use cordon_core::{Grants, DirMode, Limits, ErrorCode};
//! use std::time::Duration;
//!
//! // Nothing is granted unless asked for: a guest with default grants sees no files,
//! // no environment, no stdin and no network.
//! let grants = Grants::builder()
//!     .dir("./ws", "/ws", DirMode::ReadOnly)
//!     .env("LANG", "C.UTF-8")
//!     .build();
//! assert_eq!(grants.dirs().len(), 1);
//!
//! let limits = Limits { timeout: Duration::from_millis(250), ..Limits::default() };
//! assert!(limits.timeout < Limits::default().timeout);
//! assert_eq!(ErrorCode::FuelExhausted.as_str(), "fuel_exhausted");
//! ```

mod clock;
mod decision;
mod error;
mod escape;
mod grants;
mod limits;
mod outbound;
mod outcome;
mod principal;
mod size;
mod tool_name;
pub mod trace;

pub use clock::now_ms;
pub use decision::{Backend, DecidedDir, DecidedGrants, DecidedLimits, Decision};
pub use error::{ErrorClass, ErrorCode};
pub use escape::{EscapeKind, Violation};
pub use grants::{DirGrant, DirMode, Grants, GrantsBuilder};
pub use limits::Limits;
pub use outbound::HostRule;
pub use outcome::{CallError, CallOutput, LogRecord, Receipt, RequestId};
pub use principal::Principal;
pub use size::{ParseSizeError, parse_duration, parse_size};
pub use tool_name::{ToolName, ToolNameError};
