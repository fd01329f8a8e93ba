//! Cordon's Prometheus metrics: one registry per host, every family named and described
//! once, here. The call path, the job queue and the HTTP edge record into the same
//! [`Metrics`]; `GET /metrics` renders it.
//!
//! Label values are bounded: tool names come from the catalog, tenants from the token
//! store, outcomes from [`cordon_core::ErrorCode`] (plus `ok`), kinds from
//! [`cordon_core::EscapeKind`].

mod live;

pub use live::{LiveStats, SeriesStats, WaitStats};

use cordon_core::EscapeKind;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::time::Duration;

/// Every metric Cordon exports.
pub struct Metrics {
    registry: Registry,
    /// The last seconds of calls per tenant, tool and backend, for live views.
    pub live: LiveStats,
    /// `cordon_tool_calls_total{tool,tenant,backend,outcome}`.
    pub tool_calls: IntCounterVec,
    /// `cordon_tool_call_duration_seconds{tool,backend}`: from the call's arrival at the
    /// host to its audit record (policy, instantiation and the run).
    pub tool_call_duration: HistogramVec,
    /// `cordon_policy_decisions_total{result}`: `allow` or `deny`, for calls.
    pub policy_decisions: IntCounterVec,
    /// `cordon_policy_eval_duration_seconds`.
    pub policy_eval_duration: Histogram,
    /// `cordon_sandbox_escape_attempts_total{kind}`.
    pub escape_attempts: IntCounterVec,
    /// `cordon_instances_active`: guest instances running now.
    pub instances_active: IntGauge,
    /// `cordon_queue_depth{priority,tenant}`: jobs waiting.
    pub queue_depth: IntGaugeVec,
    /// `cordon_job_age_seconds{priority,tenant}`: how long a job waited in the queue
    /// before it started ([`Metrics::job_started`]).
    pub job_age: HistogramVec,
    /// `cordon_fuel_consumed`: fuel per call that ran.
    pub fuel_consumed: Histogram,
    /// `cordon_memory_peak_bytes`: peak linear memory per call that ran.
    pub memory_peak: Histogram,
    /// `cordon_http_requests_total{route,status}`.
    pub http_requests: IntCounterVec,
    /// `cordon_rate_limited_total{tenant,reason}`: requests refused with 429 (`rate` for
    /// the token bucket, `concurrency` for the in-flight cap, `queue` for a full queue).
    pub rate_limited: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered. Escape kinds start at zero so a
    /// dashboard sees each series before the first attempt.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let seconds = |lo: f64, count: usize| {
            prometheus::exponential_buckets(lo, 2.5, count).unwrap_or_default()
        };
        let m = Metrics {
            tool_calls: counter_vec(
                &registry,
                "cordon_tool_calls_total",
                "Tool calls, by tool, tenant, backend and outcome (ok or an error code).",
                &["tool", "tenant", "backend", "outcome"],
            ),
            tool_call_duration: histogram_vec(
                &registry,
                HistogramOpts::new(
                    "cordon_tool_call_duration_seconds",
                    "Time from a call's arrival at the host to its audit record.",
                )
                .buckets(seconds(50e-6, 16)),
                &["tool", "backend"],
            ),
            policy_decisions: counter_vec(
                &registry,
                "cordon_policy_decisions_total",
                "Policy decisions on calls, by result (allow or deny).",
                &["result"],
            ),
            policy_eval_duration: histogram(
                &registry,
                HistogramOpts::new(
                    "cordon_policy_eval_duration_seconds",
                    "Time to evaluate policy for one call.",
                )
                .buckets(seconds(1e-6, 12)),
            ),
            escape_attempts: counter_vec(
                &registry,
                "cordon_sandbox_escape_attempts_total",
                "Refused attempts to cross a sandbox boundary, by kind.",
                &["kind"],
            ),
            instances_active: gauge(
                &registry,
                "cordon_instances_active",
                "Guest instances running now.",
            ),
            queue_depth: gauge_vec(
                &registry,
                "cordon_queue_depth",
                "Jobs waiting in the queue, by priority and tenant.",
                &["priority", "tenant"],
            ),
            job_age: histogram_vec(
                &registry,
                HistogramOpts::new(
                    "cordon_job_age_seconds",
                    "How long a job waited in the queue before a worker started it, by priority and tenant.",
                )
                .buckets(seconds(1e-4, 14)),
                &["priority", "tenant"],
            ),
            fuel_consumed: histogram(
                &registry,
                HistogramOpts::new("cordon_fuel_consumed", "Fuel consumed per call that ran.")
                    .buckets(prometheus::exponential_buckets(1e3, 10.0, 9).unwrap_or_default()),
            ),
            memory_peak: histogram(
                &registry,
                HistogramOpts::new(
                    "cordon_memory_peak_bytes",
                    "Peak linear memory per call that ran, in bytes.",
                )
                .buckets(prometheus::exponential_buckets(65536.0, 4.0, 10).unwrap_or_default()),
            ),
            http_requests: counter_vec(
                &registry,
                "cordon_http_requests_total",
                "HTTP requests served, by route and status.",
                &["route", "status"],
            ),
            rate_limited: counter_vec(
                &registry,
                "cordon_rate_limited_total",
                "Requests refused with 429, by tenant and reason (rate, concurrency, queue).",
                &["tenant", "reason"],
            ),
            registry,
            live: LiveStats::default(),
        };
        for kind in EscapeKind::ALL {
            m.escape_attempts.with_label_values(&[kind.as_str()]);
        }
        for result in ["allow", "deny"] {
            m.policy_decisions.with_label_values(&[result]);
        }
        m
    }

    /// Counts one refused crossing attempt.
    pub fn escape(&self, kind: EscapeKind) {
        self.escape_attempts
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// Records one policy evaluation for a call.
    pub fn policy_decision(&self, allowed: bool, took: Duration) {
        let result = if allowed { "allow" } else { "deny" };
        self.policy_decisions.with_label_values(&[result]).inc();
        self.policy_eval_duration.observe(took.as_secs_f64());
    }

    /// A job of `priority` and `tenant` started after waiting `waited`.
    pub fn job_started(&self, priority: &str, tenant: &str, waited: Duration) {
        self.job_age
            .with_label_values(&[priority, tenant])
            .observe(waited.as_secs_f64());
        self.live.record_wait(priority, tenant, waited);
    }

    /// An instance is running until the returned guard is dropped (a cancelled call drops
    /// it too).
    pub fn instance_running(&self) -> InstanceGuard<'_> {
        self.instances_active.inc();
        InstanceGuard(&self.instances_active)
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families, which registration
        // guarantees; an error would leave a partial text that Prometheus rejects loudly.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            return format!("# encoding metrics failed: {e}\n");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Decrements `cordon_instances_active` when dropped.
pub struct InstanceGuard<'a>(&'a IntGauge);

impl Drop for InstanceGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

// Registration fails only for a duplicate or malformed name, which the names above rule
// out; a family that failed to register still counts, it is just not exported.
fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    if let Err(e) = registry.register(Box::new(c.clone())) {
        debug_assert!(false, "metric registration failed: {e}");
    }
    c
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels);
    register(registry, c.unwrap_or_else(|e| unreachable(name, &e)))
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels);
    register(registry, g.unwrap_or_else(|e| unreachable(name, &e)))
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::with_opts(Opts::new(name, help));
    register(registry, g.unwrap_or_else(|e| unreachable(name, &e)))
}

fn histogram(registry: &Registry, opts: HistogramOpts) -> Histogram {
    let name = opts.common_opts.name.clone();
    let h = Histogram::with_opts(opts);
    register(registry, h.unwrap_or_else(|e| unreachable(&name, &e)))
}

fn histogram_vec(registry: &Registry, opts: HistogramOpts, labels: &[&str]) -> HistogramVec {
    let name = opts.common_opts.name.clone();
    let h = HistogramVec::new(opts, labels);
    register(registry, h.unwrap_or_else(|e| unreachable(&name, &e)))
}

/// The options above are constants; a failure is a bug in this file, caught by the tests.
fn unreachable(name: &str, e: &prometheus::Error) -> ! {
    panic!("metric {name} is malformed: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_renders_and_escape_kinds_start_at_zero() {
        let m = Metrics::new();
        m.escape(EscapeKind::ALL[0]);
        m.tool_calls
            .with_label_values(&["fs", "acme", "wasm", "ok"])
            .inc();
        m.policy_decision(true, Duration::from_micros(30));
        {
            let _running = m.instance_running();
            assert_eq!(m.instances_active.get(), 1);
        }
        assert_eq!(m.instances_active.get(), 0);
        let text = m.render();
        for family in [
            "cordon_tool_calls_total",
            "cordon_policy_decisions_total",
            "cordon_policy_eval_duration_seconds",
            "cordon_sandbox_escape_attempts_total",
            "cordon_instances_active",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family} missing:\n{text}"
            );
        }
        let first = EscapeKind::ALL[0].as_str();
        assert!(text.contains(&format!(
            "cordon_sandbox_escape_attempts_total{{kind=\"{first}\"}} 1"
        )));
        let last = EscapeKind::ALL[EscapeKind::ALL.len() - 1].as_str();
        assert!(text.contains(&format!(
            "cordon_sandbox_escape_attempts_total{{kind=\"{last}\"}} 0"
        )));
    }
}
