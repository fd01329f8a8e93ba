//! The image manifest and config a tool is pushed as, and reading them back.

use crate::OciError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The component layer, as the wasm OCI artefact layout names it.
pub const COMPONENT_MEDIA_TYPE: &str = "application/wasm";
/// The tool's `tool.toml`, carried beside the component.
pub const TOOL_MANIFEST_MEDIA_TYPE: &str = "application/vnd.cordon.tool.manifest.v1+toml";

/// The most a pull reads for one blob: far above any tool, far below what would hurt.
pub const MAX_BLOB: u64 = 256 << 20;
/// The most a pull reads for a manifest or config.
pub const MAX_MANIFEST: u64 = 4 << 20;

/// A tool as it travels: its component and its manifest, plus the facts the config states.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The component's bytes.
    pub component: Vec<u8>,
    /// The text of `tool.toml`.
    pub tool_manifest: String,
    /// The component's world imports and exports (interface or function names), for the
    /// config; registries and other clients show them.
    pub imports: Vec<String>,
    /// See `imports`.
    pub exports: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub annotations: serde_json::Map<String, Value>,
}

impl Descriptor {
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: crate::digest(bytes),
            size: bytes.len() as u64,
            annotations: serde_json::Map::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub annotations: serde_json::Map<String, Value>,
}

impl ImageManifest {
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.to_owned()),
            artifact_type: None,
            config,
            layers,
            annotations: serde_json::Map::new(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Strings, numbers and maps: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn parse(bytes: &[u8]) -> Result<ImageManifest, OciError> {
        let manifest: ImageManifest = serde_json::from_slice(bytes)
            .map_err(|e| OciError::Malformed(format!("image manifest: {e}")))?;
        if manifest.schema_version != 2 {
            return Err(OciError::Malformed(format!(
                "schemaVersion {}",
                manifest.schema_version
            )));
        }
        Ok(manifest)
    }

    /// The one layer of `media_type`.
    pub fn layer(&self, media_type: &str) -> Result<&Descriptor, OciError> {
        let mut found = self.layers.iter().filter(|l| l.media_type == media_type);
        match (found.next(), found.next()) {
            (Some(layer), None) => Ok(layer),
            (None, _) => Err(OciError::Malformed(format!("no {media_type} layer"))),
            (Some(_), Some(_)) => Err(OciError::Malformed(format!(
                "more than one {media_type} layer"
            ))),
        }
    }
}

/// The config, the image manifest and the blobs to push for `artifact`.
pub fn pack(artifact: &Artifact, annotations: &[(&str, &str)]) -> (ImageManifest, Vec<Vec<u8>>) {
    let component = Descriptor::of(COMPONENT_MEDIA_TYPE, &artifact.component);
    let tool = Descriptor::of(TOOL_MANIFEST_MEDIA_TYPE, artifact.tool_manifest.as_bytes());
    let config = json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [component.digest],
        "component": { "imports": artifact.imports, "exports": artifact.exports },
    })
    .to_string()
    .into_bytes();
    let mut manifest = ImageManifest::new(
        Descriptor::of(CONFIG_MEDIA_TYPE, &config),
        vec![component, tool],
    );
    manifest.artifact_type = Some(CONFIG_MEDIA_TYPE.to_owned());
    for (k, v) in annotations {
        manifest.annotations.insert((*k).to_owned(), json!(v));
    }
    let blobs = vec![
        config,
        artifact.component.clone(),
        artifact.tool_manifest.clone().into_bytes(),
    ];
    (manifest, blobs)
}
