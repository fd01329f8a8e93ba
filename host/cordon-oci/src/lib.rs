//! Tools as OCI artefacts.
//!
//! A tool travels as one OCI image manifest in the layout the WebAssembly ecosystem's
//! registries use (the CNCF wasm OCI artefact layout, as `wkg` and `oras` write it): a
//! config of media type `application/vnd.wasm.config.v0+json` and the component as an
//! `application/wasm` layer. Its `tool.toml` rides alongside as a second layer of its own
//! media type, so a pull gets the tool whole and other clients still find the component.
//!
//! ```text
//! push:  blobs (config, component, tool.toml) → manifest → [signature at sha256-HEX.sig]
//! pull:  manifest (digest checked) → [signature verified] → blobs (each digest checked)
//! ```
//!
//! Every byte fetched is checked against the digest that names it before it is used; a
//! registry (or anyone between) that serves other bytes gets [`OciError::DigestMismatch`].
//! Signatures follow cosign's key-based "simple signing" format, so `cosign verify --key`
//! can check what Cordon signed, and Cordon can check what `cosign sign --key` signed.

mod client;
mod layout;
mod reference;
mod signature;

pub use client::Registry;
pub use layout::{Artifact, COMPONENT_MEDIA_TYPE, TOOL_MANIFEST_MEDIA_TYPE};
pub use reference::Reference;
pub use signature::{Signer, TrustPolicy};

/// What a pull returns: the artefact and what vouches for it.
#[derive(Debug)]
pub struct Pulled {
    /// The image manifest's digest (`sha256:…`): pin it with `REF@DIGEST`.
    pub digest: String,
    /// The tool.
    pub artifact: Artifact,
    /// The trusted key (its file name) whose signature was verified, if any.
    pub signed_by: Option<String>,
}

/// Why a push or pull failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// Not a reference [`Reference::parse`] accepts.
    #[error("bad reference {0}")]
    BadReference(String),
    /// Bytes that do not hash to the digest naming them: tampered or corrupted.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Which bytes.
        what: String,
        /// The digest that names them.
        expected: String,
        /// What they hash to.
        actual: String,
    },
    /// No signature from a trusted key, where one is required, or a bad one.
    #[error("signature: {0}")]
    Signature(String),
    /// The reference names nothing.
    #[error("{0} not found in the registry")]
    NotFound(String),
    /// The registry answered with an error (or wants credentials it did not get).
    #[error("the registry refused: {0}")]
    Refused(String),
    /// The artefact is not a Cordon tool in the expected layout, or is too large.
    #[error("not a tool artefact: {0}")]
    Malformed(String),
    /// The network failed.
    #[error("cannot reach the registry: {0}")]
    Transport(String),
    /// A key file that cannot be read or is not a P-256 key.
    #[error("{0}")]
    Key(String),
}

/// `sha256:HEX` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Checks `bytes` against the digest that names them.
fn verify_digest(what: &str, expected: &str, bytes: &[u8]) -> Result<(), OciError> {
    let actual = digest(bytes);
    if actual == expected {
        Ok(())
    } else {
        Err(OciError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.to_owned(),
            actual,
        })
    }
}
