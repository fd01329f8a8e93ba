use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now: the time stamps of audit records, tokens and
/// jobs. A clock before 1970 reads as 0.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
