use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How much one call may consume. Each limit, when hit, ends the call with its own
/// [`ErrorCode`](crate::ErrorCode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fuel: a deterministic budget of wasm work (roughly one unit per instruction).
    /// Hitting it gives `fuel_exhausted`. Default 2,000,000,000.
    pub fuel: u64,
    /// Wall-clock deadline for the whole call, including time blocked in host calls.
    /// Hitting it gives `deadline_exceeded`. Default 10 s.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    /// Bytes of linear memory the instance may hold across all its memories. Growing past
    /// it gives `memory_limit`. Default 256 MiB.
    pub memory_bytes: u64,
    /// Table elements the instance may hold per table; guards against table-growth bombs.
    /// Default 100,000.
    pub table_elements: u32,
    /// Bytes the guest may write to stdout and to stderr (each). Writing more gives
    /// `output_limit`. Default 1 MiB.
    pub output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 2_000_000_000,
            timeout: Duration::from_secs(10),
            memory_bytes: 256 << 20,
            table_elements: 100_000,
            output_bytes: 1 << 20,
        }
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
