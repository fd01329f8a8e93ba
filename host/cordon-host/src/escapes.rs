use cordon_core::EscapeKind;
use std::sync::atomic::{AtomicU64, Ordering};

/// `cordon_sandbox_escape_attempts_total{kind}`: refused crossing attempts, by kind, from
/// policy's argument checks and the sandbox's own guards alike.
#[derive(Debug, Default)]
pub struct EscapeCounter {
    counts: [AtomicU64; EscapeKind::ALL.len()],
}

impl EscapeCounter {
    /// Counts one attempt.
    pub fn add(&self, kind: EscapeKind) {
        if let Some(i) = EscapeKind::ALL.iter().position(|k| *k == kind) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every kind with its count (zeros included), in label order.
    pub fn snapshot(&self) -> Vec<(EscapeKind, u64)> {
        EscapeKind::ALL
            .iter()
            .zip(&self.counts)
            .map(|(k, c)| (*k, c.load(Ordering::Relaxed)))
            .collect()
    }
}
