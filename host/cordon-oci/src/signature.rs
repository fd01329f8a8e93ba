//! cosign-compatible key-based signatures ("simple signing"): the payload names the image
//! manifest's digest; an ECDSA P-256 / SHA-256 signature over the payload's bytes rides in
//! the annotation of a layer of a manifest tagged `sha256-HEX.sig` in the same repository.

use crate::{OciError, Reference};
use base64::Engine;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use serde_json::json;
use std::path::Path;

pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The tag cosign keeps a manifest's signatures under.
pub fn signature_tag(manifest_digest: &str) -> String {
    format!("{}.sig", manifest_digest.replacen(':', "-", 1))
}

/// The payload a signature covers: what is signed is "this digest, at this name".
pub fn payload(reference: &Reference, manifest_digest: &str) -> Vec<u8> {
    json!({
        "critical": {
            "identity": { "docker-reference": reference.name() },
            "image": { "docker-manifest-digest": manifest_digest },
            "type": SIGNATURE_TYPE,
        },
        "optional": null,
    })
    .to_string()
    .into_bytes()
}

/// A private key that signs pushes (PKCS#8 PEM, P-256: what `openssl genpkey -algorithm EC
/// -pkeyopt ec_paramgen_curve:P-256` writes).
pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// Reads the key from a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<Signer, OciError> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| OciError::Key(format!("cannot read {}: {e}", path.display())))?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
            OciError::Key(format!(
                "{}: not a PKCS#8 P-256 private key: {e}",
                path.display()
            ))
        })?;
        Ok(Signer { key })
    }

    /// The base64 of the DER signature over `payload`.
    pub fn sign(&self, payload: &[u8]) -> String {
        let signature: Signature = self.key.sign(payload);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }
}

/// Which keys a pull trusts, and whether it refuses what none of them signed.
#[derive(Default)]
pub struct TrustPolicy {
    keys: Vec<(String, VerifyingKey)>,
    /// Refuse an artefact without a valid signature by one of `keys`.
    pub require: bool,
}

impl TrustPolicy {
    /// Public keys from PEM files (SubjectPublicKeyInfo, as `cosign generate-key-pair` and
    /// `openssl pkey -pubout` write them).
    pub fn from_files(paths: &[impl AsRef<Path>], require: bool) -> Result<TrustPolicy, OciError> {
        let mut keys = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let pem = std::fs::read_to_string(path)
                .map_err(|e| OciError::Key(format!("cannot read {}: {e}", path.display())))?;
            let key = VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
                OciError::Key(format!(
                    "{}: not a P-256 public key in PEM: {e}",
                    path.display()
                ))
            })?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            keys.push((name, key));
        }
        if require && keys.is_empty() {
            return Err(OciError::Key(
                "signatures are required but no key is trusted".into(),
            ));
        }
        Ok(TrustPolicy { keys, require })
    }

    /// Whether signatures need fetching at all.
    pub fn wants_signatures(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The trusted key that signed `payload` for `manifest_digest`, if one did.
    pub fn verify(
        &self,
        payload: &[u8],
        signature_b64: &str,
        manifest_digest: &str,
    ) -> Option<&str> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(signature_b64.trim())
            .ok()?;
        let signature = Signature::from_der(&der).ok()?;
        let (name, _) = self
            .keys
            .iter()
            .find(|(_, key)| key.verify(payload, &signature).is_ok())?;
        // Only now is the payload trusted enough to read: it must name this manifest.
        let claims: serde_json::Value = serde_json::from_slice(payload).ok()?;
        let critical = &claims["critical"];
        (critical["type"] == SIGNATURE_TYPE
            && critical["image"]["docker-manifest-digest"] == manifest_digest)
            .then_some(name.as_str())
    }
}
