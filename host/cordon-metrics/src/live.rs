//! The last few seconds of calls, per tenant, tool and backend: what the operations
//! panel's live charts draw. Prometheus keeps the history; this keeps only what a browser
//! watching "now" needs, without a scrape-and-diff round trip.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Latency samples kept per series per second; beyond it, later calls replace earlier
/// ones at random positions (a reservoir), so percentiles stay honest under load.
const SAMPLES: usize = 512;
/// Seconds kept: the one being filled, the last complete one, and one of slack.
const KEPT: u64 = 3;

#[derive(Default)]
struct Series {
    calls: u64,
    errors: u64,
    latencies_us: Vec<u64>,
}

/// Calls of one (tool, backend) during one second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesStats {
    /// The tool.
    pub tool: String,
    /// The backend it ran on.
    pub backend: String,
    /// Calls finished in that second.
    pub calls: u64,
    /// Of those, calls that ended in an error code.
    pub errors: u64,
    /// Median time from arrival to audit record, ms.
    pub p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub p99_ms: f64,
}

/// One second's calls, keyed by (tenant, tool, backend).
type Second = HashMap<(String, String, String), Series>;

/// One second's job starts, keyed by (priority, tenant): (started, longest wait in ms).
type Waits = HashMap<(String, String), (u64, u64)>;

/// Per-second buckets of calls, keyed by (tenant, tool, backend).
#[derive(Default)]
pub struct LiveStats {
    seconds: Mutex<HashMap<u64, Second>>,
    /// Per second, per (priority, tenant): jobs started and the longest any had waited, ms.
    waits: Mutex<HashMap<u64, Waits>>,
}

/// Jobs of one (priority, tenant) that started during one second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitStats {
    /// The priority.
    pub priority: String,
    /// The tenant.
    pub tenant: String,
    /// Jobs started.
    pub started: u64,
    /// The longest any of them had waited, ms.
    pub max_wait_ms: u64,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl LiveStats {
    /// Counts one finished call.
    pub fn record(&self, tenant: &str, tool: &str, backend: &str, error: bool, latency_us: u64) {
        let second = now_s();
        let mut seconds = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        seconds.retain(|s, _| s + KEPT > second);
        let series = seconds
            .entry(second)
            .or_default()
            .entry((tenant.to_owned(), tool.to_owned(), backend.to_owned()))
            .or_default();
        series.calls += 1;
        series.errors += u64::from(error);
        if series.latencies_us.len() < SAMPLES {
            series.latencies_us.push(latency_us);
        } else {
            // Reservoir sampling: the n-th call replaces a kept one with probability k/n.
            let slot =
                (latency_us ^ series.calls.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % series.calls;
            if let Some(kept) = series.latencies_us.get_mut(slot as usize) {
                *kept = latency_us;
            }
        }
    }

    /// Counts one job that started after waiting `waited`.
    pub fn record_wait(&self, priority: &str, tenant: &str, waited: std::time::Duration) {
        let second = now_s();
        let mut waits = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        waits.retain(|s, _| s + KEPT > second);
        let w = waits
            .entry(second)
            .or_default()
            .entry((priority.to_owned(), tenant.to_owned()))
            .or_default();
        w.0 += 1;
        w.1 =
            w.1.max(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX));
    }

    /// Jobs started in the last complete second, of `tenant` (all when `None`).
    pub fn last_second_waits(&self, tenant: Option<&str>) -> Vec<WaitStats> {
        let second = now_s().saturating_sub(1);
        let waits = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<WaitStats> = waits
            .get(&second)
            .into_iter()
            .flatten()
            .filter(|((_, t), _)| tenant.is_none_or(|want| want == t))
            .map(|((priority, tenant), (started, max))| WaitStats {
                priority: priority.clone(),
                tenant: tenant.clone(),
                started: *started,
                max_wait_ms: *max,
            })
            .collect();
        out.sort_by(|a, b| (&a.priority, &a.tenant).cmp(&(&b.priority, &b.tenant)));
        out
    }

    /// The last complete second's calls, for `tenant` (all tenants when `None`), merged
    /// across tenants per (tool, backend), sorted by tool then backend. Returns that
    /// second (Unix time) too.
    pub fn last_second(&self, tenant: Option<&str>) -> (u64, Vec<SeriesStats>) {
        let second = now_s().saturating_sub(1);
        (second, self.second(second, tenant))
    }

    fn second(&self, second: u64, tenant: Option<&str>) -> Vec<SeriesStats> {
        let seconds = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        let mut merged: HashMap<(&str, &str), (u64, u64, Vec<u64>)> = HashMap::new();
        if let Some(bucket) = seconds.get(&second) {
            for ((t, tool, backend), s) in bucket {
                if tenant.is_some_and(|want| want != t) {
                    continue;
                }
                let m = merged.entry((tool, backend)).or_default();
                m.0 += s.calls;
                m.1 += s.errors;
                m.2.extend_from_slice(&s.latencies_us);
            }
        }
        let mut out: Vec<SeriesStats> = merged
            .into_iter()
            .map(|((tool, backend), (calls, errors, mut latencies))| {
                latencies.sort_unstable();
                let at = |q: f64| {
                    let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
                    latencies.get(i).map_or(0.0, |us| *us as f64 / 1000.0)
                };
                SeriesStats {
                    tool: tool.to_owned(),
                    backend: backend.to_owned(),
                    calls,
                    errors,
                    p50_ms: at(0.5),
                    p99_ms: at(0.99),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.tool, &a.backend).cmp(&(&b.tool, &b.backend)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_is_reported_once_complete_and_per_tenant() {
        let live = LiveStats::default();
        // Write straight into the last complete second.
        let second = now_s() - 1;
        {
            let mut seconds = live.seconds.lock().unwrap_or_else(|e| e.into_inner());
            let bucket = seconds.entry(second).or_default();
            for (tenant, latency) in [("acme", 1000), ("acme", 3000), ("other", 50_000)] {
                let s = bucket
                    .entry((tenant.into(), "fs".into(), "wasm".into()))
                    .or_default();
                s.calls += 1;
                s.latencies_us.push(latency);
            }
        }
        let acme = live.second(second, Some("acme"));
        assert_eq!(acme.len(), 1);
        assert_eq!((acme[0].calls, acme[0].p99_ms), (2, 3.0));
        let all = live.second(second, None);
        assert_eq!((all[0].calls, all[0].p99_ms), (3, 50.0));
        // Another second's calls are not in this one.
        live.record("acme", "fs", "wasm", false, 10);
        assert_eq!(live.second(second, Some("acme"))[0].calls, 2);
    }
}
