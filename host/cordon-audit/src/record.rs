//! What one audit record says, and how its hash is computed.

use cordon_core::Violation;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One call, allowed or denied, as the audit log keeps it.
///
/// The record is hashed as its JSON serialization (fields in this order), so adding a field
/// later changes nothing for records written before it: they are verified against the text
/// they were written with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the call was received, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The request id returned to the caller.
    pub request_id: String,
    /// The trace id the request ran under.
    pub trace_id: String,
    /// The caller's tenant.
    pub tenant: String,
    /// The caller.
    pub subject: String,
    /// The tool (catalog name, or the component's file name).
    pub tool: String,
    /// The function called, as resolved (empty when the call failed before resolving it).
    pub function: String,
    /// sha256 of the arguments' JSON text.
    pub args_digest: String,
    /// The arguments themselves, only when configured, with secret fields redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<serde_json::Value>,
    /// Whether policy allowed the call.
    pub allowed: bool,
    /// Policy's reasons, when it refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Content hash of the policy that decided.
    pub policy_hash: String,
    /// The backend that ran (or would have run) the call.
    pub backend: String,
    /// `ok`, or the error code the call ended with.
    pub outcome: String,
    /// Boundary crossings attempted, by the arguments or by the guest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// Wall time, microseconds.
    pub wall_time_us: u64,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Peak linear memory, bytes.
    pub peak_memory_bytes: u64,
    /// Bytes of output (stdout + stderr + the result).
    pub output_bytes: u64,
    /// What an allowing decision granted the call (directories, env, hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<cordon_core::DecidedGrants>,
    /// The limits an allowing decision set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<cordon_core::DecidedLimits>,
}

/// A record as stored: its place in the chain and the hashes that bind it there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRecord {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// The previous record's hash (all zeros for the first record ever written).
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
    /// The record.
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// sha256(prev_hash, seq, body): what binds a record to its place.
pub(crate) fn chain_hash(prev_hash: &str, seq: u64, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// sha256 of a JSON value's text, as [`AuditRecord::args_digest`] holds it.
pub fn digest_json(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}
