//! Traces: every command logs through `tracing`; with an OTLP endpoint, spans (the request,
//! and within it policy, executor and audit) are also exported over OTLP/HTTP, in the
//! caller's W3C trace when it sent a `traceparent` and in the trace id the receipt names
//! otherwise.

use anyhow::{Context, Result};
use axum::http::HeaderMap;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Flushes and stops the exporter when dropped: spans of the last requests are sent.
pub struct TraceExport(SdkTracerProvider);

impl Drop for TraceExport {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("cordon: flushing traces to the OTLP endpoint failed: {e}");
        }
    }
}

/// Installs the log subscriber (`CORDON_LOG`, default `warn`, on stderr) and, with
/// `otlp_endpoint`, the OTLP exporter (`http://HOST:4318`; `/v1/traces` is added).
///
/// # Errors
///
/// When the exporter cannot be built from the endpoint.
pub fn init(otlp_endpoint: Option<&str>) -> Result<Option<TraceExport>> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CORDON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    let Some(endpoint) = otlp_endpoint else {
        tracing_subscriber::registry().with(fmt).init();
        return Ok(None);
    };
    let endpoint = endpoint.trim_end_matches('/');
    let url = if endpoint.ends_with("/v1/traces") {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/v1/traces")
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url.clone())
        .build()
        .with_context(|| format!("cannot export traces to {url}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("cordon")
                .build(),
        )
        .build();
    // Spans at info and above (requests, policy, executor, audit) go to the collector
    // whatever the log level on stderr.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("cordon"))
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::registry().with(fmt).with(otel).init();
    Ok(Some(TraceExport(provider)))
}

/// Makes `span` a child of the caller's span (from `traceparent`) in trace `trace_id`, or,
/// for a caller without one, the root of trace `trace_id`: the exported trace and the
/// receipt's `trace_id` are then the same. A no-op without an exporter.
pub fn continue_trace(span: &tracing::Span, trace_id: &str, headers: &HeaderMap) {
    let Ok(trace) = TraceId::from_hex(trace_id) else {
        return;
    };
    let caller_span = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').nth(2))
        .and_then(|s| SpanId::from_hex(s).ok())
        .filter(|s| *s != SpanId::INVALID);
    let Some(parent) = caller_span else {
        // No caller span: the trace starts here, under the id the receipt carries, below
        // a parent span id of our own making (a collector shows the request span as
        // the trace's root with an unrecorded parent).
        let root = SpanContext::new(
            trace,
            SpanId::from_bytes(random_span_id()),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(root));
        return;
    };
    let remote = SpanContext::new(
        trace,
        parent,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

fn random_span_id() -> [u8; 8] {
    let id = cordon_host::new_trace_id();
    let mut out = [0u8; 8];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap_or(1);
    }
    out
}
