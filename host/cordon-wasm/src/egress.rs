//! wasi:http outbound requests, decided at use: each request is checked against the call's
//! granted hosts before a connection is made.
//!
//! A refused request fails in the guest with `HTTP-request-denied`, is recorded as a
//! `network_egress` violation, and ends the call as `network_denied` once the guest returns,
//! whatever it made of the refusal: a crossing attempt never passes quietly.

use cordon_core::{EscapeKind, HostRule, Violation};
use std::sync::{Arc, Mutex};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The hook wasmtime-wasi-http consults for every outgoing request of one call.
pub(crate) struct EgressGuard {
    hosts: Vec<HostRule>,
    refused: Arc<Mutex<Vec<Violation>>>,
}

impl EgressGuard {
    pub(crate) fn new(hosts: Vec<HostRule>) -> EgressGuard {
        EgressGuard {
            hosts,
            refused: Arc::default(),
        }
    }

    /// Requests refused so far.
    pub(crate) fn take_refused(&self) -> Vec<Violation> {
        self.refused
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let Some(host) = uri.host() else {
            return false;
        };
        let default = if scheme == "http" { 80 } else { 443 };
        let port = uri.port_u16().unwrap_or(default);
        // IPv6 literals arrive bracketed in the URI; rules hold them bare.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.hosts.iter().any(|r| r.allows(&scheme, host, port))
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for EgressGuard {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let uri = request.uri().clone();
        if self.allows(&uri) {
            tracing::debug!(%uri, "outbound request allowed");
            return wasmtime_wasi_http::default_hooks().send_request(request, options, fut);
        }
        tracing::debug!(%uri, "outbound request refused");
        if let Ok(mut refused) = self.refused.lock() {
            refused.push(Violation {
                kind: EscapeKind::NetworkEgress,
                operation: format!("wasi:http {}", request.method()),
                path: uri.to_string(),
            });
        }
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(rules: &[&str]) -> EgressGuard {
        EgressGuard::new(
            rules
                .iter()
                .map(|r| r.parse().unwrap_or_else(|e| panic!("{e}")))
                .collect(),
        )
    }

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn only_granted_scheme_host_and_port_pass() {
        let g = guard(&["api.example.com", "http://127.0.0.1:8080"]);
        assert!(g.allows(&uri("https://api.example.com/v1")));
        assert!(!g.allows(&uri("http://api.example.com/v1")));
        assert!(!g.allows(&uri("https://api.example.com:8443/")));
        assert!(g.allows(&uri("http://127.0.0.1:8080/x")));
        assert!(!g.allows(&uri("http://127.0.0.1:8081/x")));
        assert!(!g.allows(&uri("http://169.254.169.254/latest/meta-data")));
        assert!(!guard(&[]).allows(&uri("https://api.example.com/")));
    }
}
