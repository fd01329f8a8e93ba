//! Alerts that leave the host.
//!
//! Escape attempts, quarantined jobs and rejected policy reloads are what an operator must
//! hear about when nobody is watching the panel. Each becomes an [`Alert`], queued without
//! blocking the call that raised it, and posted to every configured webhook: the alert as
//! JSON, or a Slack-compatible `{"text": …}` message. A delivery that fails (a network
//! error, a 5xx, a 429) is retried with exponential backoff; one the receiver refuses
//! outright (another 4xx) is dropped with an error logged. If alerts arrive faster than
//! they can be delivered, the newest beyond the queue's capacity are dropped and counted
//! rather than holding memory or calls hostage.
//!
//! ```text
//! host / workers / policy watcher --Alerts::raise--> bounded queue --> one task per sink
//!                                                                     POST, retry 0.5 s, 1 s, 2 s ...
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A call tried to cross a sandbox boundary (and was stopped).
    EscapeAttempt,
    /// A job was quarantined for an operator to inspect.
    Quarantine,
    /// A policy change on disk was rejected; the previous policy stays in force.
    PolicyReloadFailed,
}

impl AlertKind {
    fn severity(self) -> &'static str {
        match self {
            AlertKind::EscapeAttempt => "critical",
            AlertKind::Quarantine | AlertKind::PolicyReloadFailed => "warning",
        }
    }
}

/// One alert, as the generic webhook receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// What happened.
    pub kind: AlertKind,
    /// `critical` or `warning`.
    pub severity: String,
    /// One line for people.
    pub summary: String,
    /// Machine-readable facts: tenant, tool, request id, violations, the job, the error.
    pub details: Value,
    /// The host that raised it.
    pub host: String,
    /// When, ms since the Unix epoch.
    pub time_ms: u64,
}

/// How a sink wants its body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The [`Alert`] as JSON.
    #[default]
    Json,
    /// `{"text": "…"}`, what Slack's (and Mattermost's, Rocket.Chat's) incoming webhooks take.
    Slack,
}

/// One webhook (`[[alerts.webhooks]]` in cordon.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where to POST.
    pub url: String,
    /// The body's shape.
    #[serde(default)]
    pub format: Format,
}

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Attempts per alert and sink, the first included.
    pub attempts: u32,
    /// The wait before the first retry; doubled each time, at most `max_backoff`.
    pub backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Alerts waiting per sink before new ones are dropped.
    pub capacity: usize,
    /// Per request.
    pub timeout: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            attempts: 6,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            capacity: 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The handle the host raises alerts through; cheap to clone. Without sinks it does
/// nothing.
#[derive(Clone, Default)]
pub struct Alerts {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    host: String,
    sinks: Vec<mpsc::Sender<Alert>>,
    dropped: AtomicU64,
}

impl Alerts {
    /// Starts one delivery task per webhook on the current Tokio runtime.
    pub fn start(host: String, webhooks: Vec<Webhook>, delivery: Delivery) -> Alerts {
        if webhooks.is_empty() {
            return Alerts::default();
        }
        // reqwest is built without a provider of its own: ring, as elsewhere in Cordon.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let client = match reqwest::Client::builder()
            .user_agent(concat!("cordon/", env!("CARGO_PKG_VERSION")))
            .timeout(delivery.timeout)
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the alert client; alerts stay on this host");
                return Alerts::default();
            }
        };
        let mut sinks = Vec::new();
        for webhook in webhooks {
            let (tx, rx) = mpsc::channel(delivery.capacity);
            tokio::spawn(deliver(client.clone(), webhook, delivery.clone(), rx));
            sinks.push(tx);
        }
        Alerts {
            inner: Some(Arc::new(Inner {
                host,
                sinks,
                dropped: AtomicU64::new(0),
            })),
        }
    }

    /// Queues an alert for every sink; never blocks.
    pub fn raise(&self, kind: AlertKind, summary: impl Into<String>, details: Value) {
        let Some(inner) = &self.inner else {
            return;
        };
        let alert = Alert {
            kind,
            severity: kind.severity().to_owned(),
            summary: summary.into(),
            details,
            host: inner.host.clone(),
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        for sink in &inner.sinks {
            if sink.try_send(alert.clone()).is_err() {
                let n = inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(dropped = n, kind = ?kind, "an alert sink is full or gone; alert dropped");
            }
        }
    }

    /// Alerts dropped because a sink's queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.dropped.load(Ordering::Relaxed))
    }
}

/// The body `webhook` gets for `alert`.
pub fn body(format: Format, alert: &Alert) -> Value {
    match format {
        Format::Json => json!(alert),
        Format::Slack => {
            let icon = if alert.severity == "critical" {
                ":rotating_light:"
            } else {
                ":warning:"
            };
            json!({
                "text": format!(
                    "{icon} *cordon {}* on `{}`: {}\n```{}```",
                    serde_json::to_value(alert.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                    alert.host,
                    alert.summary,
                    alert.details
                ),
            })
        }
    }
}

async fn deliver(
    client: reqwest::Client,
    webhook: Webhook,
    delivery: Delivery,
    mut alerts: mpsc::Receiver<Alert>,
) {
    while let Some(alert) = alerts.recv().await {
        let body = body(webhook.format, &alert).to_string();
        let mut wait = delivery.backoff;
        for attempt in 1..=delivery.attempts.max(1) {
            let sent = client
                .post(&webhook.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let retry = match &sent {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => r.status().is_server_error() || r.status().as_u16() == 429,
                Err(_) => true,
            };
            let why = match sent {
                Ok(r) => r.status().to_string(),
                Err(e) => e.to_string(),
            };
            if !retry || attempt == delivery.attempts {
                tracing::error!(url = %webhook.url, attempt, error = %why, kind = ?alert.kind, "alert not delivered");
                break;
            }
            tracing::warn!(url = %webhook.url, attempt, error = %why, "alert delivery failed; retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(delivery.max_backoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_bodies_are_one_text_field() {
        let alert = Alert {
            kind: AlertKind::EscapeAttempt,
            severity: "critical".into(),
            summary: "path_traversal by acme/alice in fs".into(),
            details: json!({"tenant": "acme"}),
            host: "h1".into(),
            time_ms: 1,
        };
        let slack = body(Format::Slack, &alert);
        let text = slack["text"].as_str().unwrap_or_default();
        assert!(text.contains("escape_attempt") && text.contains("path_traversal by acme/alice"));
        assert_eq!(body(Format::Json, &alert)["kind"], "escape_attempt");
    }
}
