//! Refusals nobody can be held to: requests whose credentials were refused, or that were
//! refused before anyone authenticated (a body declared over the cap).
//!
//! Every one is counted in the metrics. Recording each one in the audit log, though, would
//! let anyone who can reach the port grow the log at the request rate, with no tenant quota
//! to stop them, until the disk is full and every call fails closed. So they are recorded
//! one by one only up to a rate (a token bucket); past it they are tallied by outcome and
//! escape kind and written as one summary record when the next one may be recorded, or when
//! the server asks ([`crate::Host::record_held_refusals`], every few seconds and at
//! shutdown). Nothing is lost: what is not a record of its own is a count in a summary.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Refusals recorded one by one per second, sustained.
const PER_SECOND: f64 = 5.0;
/// How many may be recorded one by one in a burst.
const BURST: f64 = 100.0;

/// The budget and what was held back since the last summary.
pub(crate) struct AnonymousRefusals {
    state: Mutex<State>,
}

struct State {
    tokens: f64,
    refilled: Instant,
    held: Option<Held>,
}

/// Refusals held back from the audit log since the last summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    /// When the first and the last of them were refused (ms since the epoch).
    pub(crate) first_ms: u64,
    pub(crate) last_ms: u64,
    /// How many, by what they were (`outcome [kind, ...]`).
    pub(crate) by_what: BTreeMap<String, u64>,
}

impl Held {
    pub(crate) fn count(&self) -> u64 {
        self.by_what.values().sum()
    }

    /// The summary record's one reason.
    pub(crate) fn reason(&self) -> String {
        let parts: Vec<String> = self
            .by_what
            .iter()
            .map(|(what, n)| format!("{n} × {what}"))
            .collect();
        format!(
            "{} refusals of requests without valid credentials between {} and {} ms since the \
             epoch were counted but not recorded one by one (over {PER_SECOND} a second): {}",
            self.count(),
            self.first_ms,
            self.last_ms,
            parts.join(", ")
        )
    }
}

impl AnonymousRefusals {
    pub(crate) fn new() -> AnonymousRefusals {
        AnonymousRefusals {
            state: Mutex::new(State {
                tokens: BURST,
                refilled: Instant::now(),
                held: None,
            }),
        }
    }

    /// Whether a refusal described as `what` may be recorded on its own now. If not, it is
    /// tallied for the next summary.
    pub(crate) fn admit(&self, what: &str, now_ms: u64) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let earned = now.duration_since(s.refilled).as_secs_f64() * PER_SECOND;
        s.tokens = (s.tokens + earned).min(BURST);
        s.refilled = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            return true;
        }
        let held = s.held.get_or_insert_with(|| Held {
            first_ms: now_ms,
            last_ms: now_ms,
            by_what: BTreeMap::new(),
        });
        held.last_ms = now_ms;
        *held.by_what.entry(what.to_owned()).or_default() += 1;
        false
    }

    /// What was held back since the last call, if anything.
    pub(crate) fn take_held(&self) -> Option<Held> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .held
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_recorded_then_the_rest_is_tallied() {
        let budget = AnonymousRefusals::new();
        let admitted = (0..1000)
            .filter(|i| budget.admit("unauthorized [token]", 1_000 + i))
            .count();
        // The burst, plus what the bucket earned while the loop ran (well under a second).
        assert!((100..=105).contains(&admitted), "{admitted}");
        let held = budget.take_held().unwrap_or_else(|| panic!("nothing held"));
        assert_eq!(held.count() as usize, 1000 - admitted);
        assert_eq!(held.by_what.len(), 1);
        assert!(held.first_ms >= 1_100 && held.last_ms == 1_999, "{held:?}");
        assert!(
            held.reason().contains("× unauthorized [token]"),
            "{}",
            held.reason()
        );
        assert!(budget.take_held().is_none(), "a summary is taken once");
    }
}
