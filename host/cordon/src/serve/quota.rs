//! Per-tenant quotas at the edge: a token bucket for the request rate and a cap on calls in
//! flight. A tenant over either gets `429 rate_limited` and a `retry-after`; other tenants
//! are not affected.

use super::error::ApiError;
use crate::config::QuotaConfig;
use cordon_core::ErrorCode;
use cordon_metrics::Metrics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Every tenant's quota state.
pub struct Quotas {
    default: QuotaConfig,
    tenants: HashMap<String, QuotaConfig>,
    state: Mutex<HashMap<String, TenantState>>,
    metrics: Arc<Metrics>,
}

struct TenantState {
    /// Requests the bucket holds now (fractional: it refills continuously).
    tokens: f64,
    refilled: Instant,
    in_flight: Arc<Semaphore>,
}

/// A refusal, with how long to wait before trying again.
pub struct Limited {
    pub error: ApiError,
    pub retry_after_secs: u64,
}

impl Quotas {
    pub fn new(
        default: QuotaConfig,
        tenants: HashMap<String, QuotaConfig>,
        metrics: Arc<Metrics>,
    ) -> Quotas {
        Quotas {
            default,
            tenants,
            state: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    fn config(&self, tenant: &str) -> &QuotaConfig {
        self.tenants.get(tenant).unwrap_or(&self.default)
    }

    fn with_state<T>(&self, tenant: &str, f: impl FnOnce(&mut TenantState) -> T) -> T {
        let config = self.config(tenant);
        let mut states = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // Every request passes here: look up before allocating the key.
        if let Some(state) = states.get_mut(tenant) {
            return f(state);
        }
        let state = states.entry(tenant.to_owned()).or_insert(TenantState {
            tokens: f64::from(config.burst),
            refilled: Instant::now(),
            in_flight: Arc::new(Semaphore::new(config.concurrent_calls as usize)),
        });
        f(state)
    }

    /// Takes one request from `tenant`'s bucket.
    pub fn admit(&self, tenant: &str) -> Result<(), Limited> {
        let config = self.config(tenant);
        let (rate, burst) = (
            f64::from(config.requests_per_second),
            f64::from(config.burst),
        );
        let admitted = self.with_state(tenant, |s| {
            let now = Instant::now();
            let elapsed = now.duration_since(s.refilled).as_secs_f64();
            s.tokens = (s.tokens + elapsed * rate).min(burst);
            s.refilled = now;
            if s.tokens >= 1.0 {
                s.tokens -= 1.0;
                true
            } else {
                false
            }
        });
        if admitted {
            return Ok(());
        }
        self.metrics
            .rate_limited
            .with_label_values(&[tenant, "rate"])
            .inc();
        Err(Limited {
            error: ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "tenant {tenant:?} is over its rate of {} requests/s (burst {}); retry shortly",
                    config.requests_per_second, config.burst
                ),
            ),
            retry_after_secs: 1,
        })
    }

    /// A slot for one call in flight, held until the permit is dropped.
    pub fn enter(&self, tenant: &str) -> Result<OwnedSemaphorePermit, Limited> {
        let semaphore = self.with_state(tenant, |s| s.in_flight.clone());
        semaphore.try_acquire_owned().map_err(|_| {
            self.metrics
                .rate_limited
                .with_label_values(&[tenant, "concurrency"])
                .inc();
            Limited {
                error: ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "tenant {tenant:?} already has {} calls in flight, its limit; retry when one ends",
                        self.config(tenant).concurrent_calls
                    ),
                ),
                retry_after_secs: 1,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas(rate: u32, burst: u32, concurrent: u32) -> Quotas {
        let config = QuotaConfig {
            requests_per_second: rate,
            burst,
            concurrent_calls: concurrent,
            ..QuotaConfig::default()
        };
        Quotas::new(config, HashMap::new(), Arc::new(Metrics::new()))
    }

    #[test]
    fn a_tenant_past_its_burst_is_refused_and_another_tenant_is_not() {
        // At one request a second, nothing refills within the test.
        let q = quotas(1, 3, 10);
        for _ in 0..3 {
            assert!(q.admit("acme").is_ok());
        }
        assert!(q.admit("acme").is_err());
        assert!(q.admit("globex").is_ok());
    }

    #[test]
    fn the_bucket_refills_at_the_configured_rate() {
        let q = quotas(1_000, 1, 10);
        assert!(q.admit("acme").is_ok());
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(q.admit("acme").is_ok(), "a millisecond refills one request");
    }

    #[test]
    fn calls_in_flight_are_capped_until_one_ends() {
        let q = quotas(1_000, 1_000, 2);
        let a = q.enter("acme");
        let b = q.enter("acme");
        assert!(a.is_ok() && b.is_ok());
        assert!(q.enter("acme").is_err());
        drop(a);
        assert!(q.enter("acme").is_ok());
    }
}
