use serde::{Deserialize, Serialize};
use std::fmt;

/// One outbound host a call may reach: `[scheme://]host[:port]`, where `host` may start with
/// `*.` to cover subdomains (not the bare domain).
///
/// Without a scheme only `https` matches; without a port only the scheme's default port
/// (443 for https, 80 for http) matches. So `api.example.com` allows
/// `https://api.example.com/...` and nothing else, and a test server is granted as
/// `http://127.0.0.1:8080`.
///
/// ```
/// use cordon_core::HostRule;
/// let rule: HostRule = "*.example.com".parse().unwrap();
/// assert!(rule.allows("https", "api.example.com", 443));
/// assert!(!rule.allows("http", "api.example.com", 80));
/// assert!(!rule.allows("https", "example.com", 443));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostRule {
    scheme: String,
    host: String,
    port: u16,
}

impl HostRule {
    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host name or IP literal, lowercase; may start with `*.`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether a request to `scheme://host:port` is covered. Host names compare
    /// case-insensitively; IP literals compare as written (`127.0.0.1` is not `localhost`).
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if !self.scheme.eq_ignore_ascii_case(scheme) || self.port != port {
            return false;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self.host.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => host == self.host,
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

impl std::str::FromStr for HostRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("outbound host {s:?}: {why}");
        let (scheme, rest) = match s.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("https".to_owned(), s),
        };
        let default = default_port(&scheme).ok_or_else(|| bad("scheme must be http or https"))?;
        if rest.contains(['/', '?', '#', '@']) {
            return Err(bad("give a host and optional port, not a URL path or user"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (
                h,
                p.parse::<u16>().map_err(|_| bad("port must be 1-65535"))?,
            ),
            _ => (rest, default),
        };
        let host = host.to_ascii_lowercase();
        let bare = host.strip_prefix("*.").unwrap_or(&host);
        if bare.is_empty() || bare.contains('*') || port == 0 {
            return Err(bad(
                "expected [scheme://]host[:port], host optionally starting with *.",
            ));
        }
        Ok(HostRule { scheme, host, port })
    }
}

impl TryFrom<String> for HostRule {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<HostRule> for String {
    fn from(r: HostRule) -> String {
        r.to_string()
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> HostRule {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn scheme_and_port_default_to_https_443() {
        let r = rule("api.example.com");
        assert!(r.allows("https", "API.example.com", 443));
        assert!(!r.allows("https", "api.example.com", 8443));
        assert!(!r.allows("http", "api.example.com", 443));
        assert_eq!(r.to_string(), "https://api.example.com:443");
    }

    #[test]
    fn explicit_http_and_port() {
        let r = rule("http://127.0.0.1:8080");
        assert!(r.allows("http", "127.0.0.1", 8080));
        assert!(!r.allows("http", "localhost", 8080));
        assert!(!r.allows("http", "127.0.0.1", 80));
    }

    #[test]
    fn wildcard_covers_subdomains_only() {
        let r = rule("*.example.com");
        assert!(r.allows("https", "a.b.example.com", 443));
        assert!(!r.allows("https", "example.com", 443));
        assert!(!r.allows("https", "badexample.com", 443));
    }

    #[test]
    fn malformed_rules_are_refused() {
        for s in [
            "ftp://x", "x/path", "user@x", "*", "x:0", "x:99999", "a.*.com", "",
        ] {
            assert!(s.parse::<HostRule>().is_err(), "{s}");
        }
    }
}
