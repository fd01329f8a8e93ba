//! The registry side: the OCI distribution API v2 over HTTPS (plain HTTP for loopback
//! registries), anonymous or with credentials through the registry's token service.

use crate::layout::{self, Descriptor, ImageManifest, MANIFEST_MEDIA_TYPE};
use crate::signature::{self, PAYLOAD_MEDIA_TYPE, SIGNATURE_ANNOTATION};
use crate::{Artifact, OciError, Pulled, Reference, Signer, TrustPolicy, verify_digest};
use reqwest::{Method, StatusCode, header};
use serde_json::json;
use std::sync::Mutex;

/// A client for OCI registries.
pub struct Registry {
    http: reqwest::Client,
    /// `(user, password)` for registries that want them (`CORDON_REGISTRY_USERNAME` and
    /// `_PASSWORD` in the CLI).
    credentials: Option<(String, String)>,
    /// The bearer token the last challenge earned, per registry.
    tokens: Mutex<Vec<(String, String)>>,
}

impl Registry {
    /// A client; `credentials` answer registries that ask for them.
    pub fn new(credentials: Option<(String, String)>) -> Result<Registry, OciError> {
        // reqwest is built without a crypto provider of its own: use ring, already in the
        // tree for wasi:http and `cordon serve`. Another installed first is as good.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("cordon/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| OciError::Transport(e.to_string()))?;
        Ok(Registry {
            http,
            credentials,
            tokens: Mutex::new(Vec::new()),
        })
    }

    /// Pushes `artifact` to `reference`'s tag, signs it with `signer` when given, and
    /// returns the image manifest's digest.
    pub async fn push(
        &self,
        reference: &Reference,
        artifact: &Artifact,
        annotations: &[(&str, &str)],
        signer: Option<&Signer>,
    ) -> Result<String, OciError> {
        if reference.digest.is_some() {
            return Err(OciError::BadReference(format!(
                "{reference}: push to a tag; the digest is what the registry answers"
            )));
        }
        let (manifest, blobs) = layout::pack(artifact, annotations);
        for blob in &blobs {
            self.put_blob(reference, blob).await?;
        }
        let bytes = manifest.to_bytes();
        self.put_manifest(reference, &reference.tag, &bytes).await?;
        let digest = crate::digest(&bytes);
        if let Some(signer) = signer {
            self.push_signature(reference, &digest, signer).await?;
        }
        Ok(digest)
    }

    async fn push_signature(
        &self,
        reference: &Reference,
        digest: &str,
        signer: &Signer,
    ) -> Result<(), OciError> {
        let payload = signature::payload(reference, digest);
        let mut layer = Descriptor::of(PAYLOAD_MEDIA_TYPE, &payload);
        layer
            .annotations
            .insert(SIGNATURE_ANNOTATION.into(), json!(signer.sign(&payload)));
        // cosign's config for a signature image: one layer, no platform.
        let config = json!({
            "architecture": "", "os": "", "config": {},
            "rootfs": { "type": "layers", "diff_ids": [layer.digest] },
        })
        .to_string()
        .into_bytes();
        let manifest = ImageManifest::new(
            Descriptor::of("application/vnd.oci.image.config.v1+json", &config),
            vec![layer],
        );
        self.put_blob(reference, &config).await?;
        self.put_blob(reference, &payload).await?;
        self.put_manifest(
            reference,
            &signature::signature_tag(digest),
            &manifest.to_bytes(),
        )
        .await
    }

    /// Pulls the tool at `reference`: every byte checked against its digest, the
    /// signature checked against `trust`.
    pub async fn pull(
        &self,
        reference: &Reference,
        trust: &TrustPolicy,
    ) -> Result<Pulled, OciError> {
        let what = reference.to_string();
        let (bytes, claimed) = self
            .get_manifest(reference, reference.manifest_ref())
            .await?
            .ok_or_else(|| OciError::NotFound(what.clone()))?;
        let digest = crate::digest(&bytes);
        // A pinned reference names the bytes; a tag's answer may say what it meant to send.
        if let Some(expected) = reference.digest.as_deref().or(claimed.as_deref()) {
            verify_digest(&format!("the manifest of {what}"), expected, &bytes)?;
        }
        let signed_by = self.verify_signature(reference, &digest, trust).await?;
        let manifest = ImageManifest::parse(&bytes)?;
        let component = manifest.layer(layout::COMPONENT_MEDIA_TYPE)?;
        let tool = manifest.layer(layout::TOOL_MANIFEST_MEDIA_TYPE)?;
        let component = self
            .get_blob(reference, component, layout::MAX_BLOB)
            .await?;
        let tool_manifest =
            String::from_utf8(self.get_blob(reference, tool, layout::MAX_MANIFEST).await?)
                .map_err(|_| OciError::Malformed("tool.toml is not UTF-8".into()))?;
        Ok(Pulled {
            digest,
            artifact: Artifact {
                component,
                tool_manifest,
                imports: Vec::new(),
                exports: Vec::new(),
            },
            signed_by,
        })
    }

    async fn verify_signature(
        &self,
        reference: &Reference,
        digest: &str,
        trust: &TrustPolicy,
    ) -> Result<Option<String>, OciError> {
        if !trust.wants_signatures() {
            return Ok(None);
        }
        let tag = signature::signature_tag(digest);
        let signatures = match self.get_manifest(reference, &tag).await? {
            Some((bytes, _)) => ImageManifest::parse(&bytes)?,
            None if trust.require => {
                return Err(OciError::Signature(format!(
                    "{reference} ({digest}) is not signed, and policy requires a signature by a trusted key"
                )));
            }
            None => return Ok(None),
        };
        for layer in &signatures.layers {
            let Some(sig) = layer
                .annotations
                .get(SIGNATURE_ANNOTATION)
                .and_then(|v| v.as_str())
            else {
                continue;
            };
            if layer.media_type != PAYLOAD_MEDIA_TYPE {
                continue;
            }
            let payload = self
                .get_blob(reference, layer, layout::MAX_MANIFEST)
                .await?;
            if let Some(key) = trust.verify(&payload, sig, digest) {
                return Ok(Some(key.to_owned()));
            }
        }
        if trust.require {
            return Err(OciError::Signature(format!(
                "no signature on {reference} ({digest}) verifies with a trusted key"
            )));
        }
        Ok(None)
    }

    // --- the distribution API -----------------------------------------------------------

    fn url(reference: &Reference, rest: &str) -> String {
        format!(
            "{}://{}/v2/{}/{rest}",
            scheme(&reference.registry),
            reference.registry,
            reference.repository
        )
    }

    async fn put_blob(&self, reference: &Reference, bytes: &[u8]) -> Result<(), OciError> {
        let digest = crate::digest(bytes);
        let head = self
            .send(
                reference,
                Method::HEAD,
                &Self::url(reference, &format!("blobs/{digest}")),
                |r| r,
            )
            .await?;
        if head.status().is_success() {
            return Ok(());
        }
        let start = self
            .send(
                reference,
                Method::POST,
                &Self::url(reference, "blobs/uploads/"),
                |r| r.header(header::CONTENT_LENGTH, 0),
            )
            .await?;
        let start = ok(start, "starting an upload").await?;
        let location = start
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| OciError::Refused("an upload without a Location".into()))?;
        // The Location may be relative, and may carry its own query.
        let mut url = reqwest::Url::parse(&Self::url(reference, ""))
            .and_then(|base| base.join(location))
            .map_err(|e| OciError::Refused(format!("upload Location {location:?}: {e}")))?;
        url.query_pairs_mut().append_pair("digest", &digest);
        let body = bytes.to_vec();
        let put = self
            .send(reference, Method::PUT, url.as_str(), move |r| {
                r.header(header::CONTENT_TYPE, "application/octet-stream")
                    .body(body.clone())
            })
            .await?;
        ok(put, &format!("uploading {digest}")).await.map(drop)
    }

    async fn put_manifest(
        &self,
        reference: &Reference,
        tag: &str,
        bytes: &[u8],
    ) -> Result<(), OciError> {
        let body = bytes.to_vec();
        let put = self
            .send(
                reference,
                Method::PUT,
                &Self::url(reference, &format!("manifests/{tag}")),
                move |r| {
                    r.header(header::CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
                        .body(body.clone())
                },
            )
            .await?;
        ok(put, &format!("putting the manifest {tag}"))
            .await
            .map(drop)
    }

    /// The manifest's bytes and the digest the registry says they have; `None` when absent.
    async fn get_manifest(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, OciError> {
        let url = Self::url(reference, &format!("manifests/{tag_or_digest}"));
        let response = self
            .send(reference, Method::GET, &url, |r| {
                r.header(header::ACCEPT, MANIFEST_MEDIA_TYPE)
            })
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = ok(response, &format!("getting the manifest {tag_or_digest}")).await?;
        let claimed = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Some((
            read_capped(response, layout::MAX_MANIFEST).await?,
            claimed,
        )))
    }

    /// A blob, checked against its descriptor's size and digest.
    async fn get_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        max: u64,
    ) -> Result<Vec<u8>, OciError> {
        if descriptor.size > max {
            return Err(OciError::Malformed(format!(
                "{} is {} bytes, more than the {max} a pull reads",
                descriptor.media_type, descriptor.size
            )));
        }
        if !descriptor.digest.starts_with("sha256:") {
            return Err(OciError::Malformed(format!(
                "digest {:?}: only sha256 is accepted",
                descriptor.digest
            )));
        }
        let url = Self::url(reference, &format!("blobs/{}", descriptor.digest));
        let response = self.send(reference, Method::GET, &url, |r| r).await?;
        let response = ok(response, &format!("getting {}", descriptor.digest)).await?;
        let bytes = read_capped(response, descriptor.size).await?;
        verify_digest(
            &format!("{} ({})", descriptor.media_type, descriptor.digest),
            &descriptor.digest,
            &bytes,
        )?;
        Ok(bytes)
    }

    /// Sends a request, answering one authentication challenge (a bearer token from the
    /// registry's token service, or basic credentials) if the registry asks.
    async fn send(
        &self,
        reference: &Reference,
        method: Method,
        url: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, OciError> {
        let transport = |e: reqwest::Error| OciError::Transport(format!("{url}: {e}"));
        let token = self.token_for(&reference.registry);
        let mut request = build(self.http.request(method.clone(), url));
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(transport)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let request = build(self.http.request(method, url));
        let request = if let Some(params) = challenge.strip_prefix("Bearer ") {
            let token = self.fetch_token(params).await?;
            self.remember_token(&reference.registry, &token);
            request.bearer_auth(token)
        } else if let Some((user, password)) = &self.credentials {
            request.basic_auth(user, Some(password))
        } else {
            return Err(OciError::Refused(format!(
                "{url}: the registry wants credentials (set CORDON_REGISTRY_USERNAME and CORDON_REGISTRY_PASSWORD)"
            )));
        };
        let response = request.send().await.map_err(transport)?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(OciError::Refused(format!("{url}: unauthorized")));
        }
        Ok(response)
    }

    /// A token from the service a `Bearer realm=…,service=…,scope=…` challenge names.
    async fn fetch_token(&self, params: &str) -> Result<String, OciError> {
        let param = |name: &str| {
            params.split(',').find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name).then(|| v.trim_matches('"').to_owned())
            })
        };
        let realm = param("realm").ok_or_else(|| {
            OciError::Refused(format!("a bearer challenge without a realm: {params}"))
        })?;
        let mut url = reqwest::Url::parse(&realm)
            .map_err(|e| OciError::Refused(format!("token realm {realm:?}: {e}")))?;
        for name in ["service", "scope"] {
            if let Some(value) = param(name) {
                url.query_pairs_mut().append_pair(name, &value);
            }
        }
        let mut request = self.http.get(url);
        if let Some((user, password)) = &self.credentials {
            request = request.basic_auth(user, Some(password));
        }
        let response = request
            .send()
            .await
            .map_err(|e| OciError::Transport(format!("{realm}: {e}")))?;
        let response = ok(response, "getting a token").await?;
        let body: serde_json::Value =
            serde_json::from_slice(&read_capped(response, 1 << 20).await?)
                .map_err(|e| OciError::Refused(format!("token response: {e}")))?;
        body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| OciError::Refused("the token service sent no token".into()))
    }

    fn token_for(&self, registry: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .iter()
            .find(|(r, _)| r == registry)
            .map(|(_, t)| t.clone())
    }

    fn remember_token(&self, registry: &str, token: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|(r, _)| r != registry);
        tokens.push((registry.to_owned(), token.to_owned()));
    }
}

/// Loopback registries (a test's, a developer's) speak plain HTTP, as docker treats them;
/// every other registry is reached over TLS.
fn scheme(registry: &str) -> &'static str {
    let host = registry
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(registry, |(host, _)| host);
    let loopback = host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback { "http" } else { "https" }
}

/// The response when it succeeded, else the registry's error as [`OciError::Refused`].
async fn ok(response: reqwest::Response, doing: &str) -> Result<reqwest::Response, OciError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = read_capped(response, 4096).await.unwrap_or_default();
    Err(OciError::Refused(format!(
        "{doing}: {status} {}",
        String::from_utf8_lossy(&body).trim()
    )))
}

/// The body, refusing more than `max` bytes (a registry must not fill memory).
async fn read_capped(mut response: reqwest::Response, max: u64) -> Result<Vec<u8>, OciError> {
    if response.content_length().is_some_and(|n| n > max) {
        return Err(OciError::Malformed(format!(
            "the registry sends more than the {max} bytes expected"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| OciError::Transport(e.to_string()))?
    {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(OciError::Malformed(format!(
                "the registry sends more than the {max} bytes expected"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::scheme;

    #[test]
    fn only_loopback_registries_are_reached_without_tls() {
        assert_eq!(scheme("localhost:5000"), "http");
        assert_eq!(scheme("127.0.0.1:5000"), "http");
        assert_eq!(scheme("[::1]:5000"), "http");
        assert_eq!(scheme("ghcr.io"), "https");
        assert_eq!(scheme("localhost.example.com:5000"), "https");
    }
}
