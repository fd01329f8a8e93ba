//! Where policy text comes from: a directory on disk, or the defaults built into the binary.

use crate::PolicyError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One Rego module or data document, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    /// The file name (relative to the policy directory).
    pub name: String,
    /// Its text.
    pub text: String,
}

impl PolicyFile {
    /// `*.rego` files are modules; `*_test.rego` modules hold tests only and are left out
    /// of the program that decides calls (as `opa build` leaves them out of bundles).
    pub fn is_test(&self) -> bool {
        self.name.ends_with("_test.rego")
    }

    /// Whether this is a Rego module (else it is a JSON data document).
    pub fn is_rego(&self) -> bool {
        self.name.ends_with(".rego")
    }
}

/// A complete set of policy files, with the content hash audit records cite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySource {
    /// Modules and data, sorted by name.
    pub files: Vec<PolicyFile>,
    /// Where they came from, for messages.
    pub origin: String,
}

/// The default policy, compiled into the binary so `cordon serve` runs with nothing else
/// on disk.
const EMBEDDED: [(&str, &str); 3] = [
    ("cordon.rego", include_str!("../../../policies/cordon.rego")),
    (
        "cordon_test.rego",
        include_str!("../../../policies/cordon_test.rego"),
    ),
    ("data.json", include_str!("../../../policies/data.json")),
];

impl PolicySource {
    /// The default policy built into this binary.
    pub fn embedded() -> PolicySource {
        PolicySource {
            files: EMBEDDED
                .iter()
                .map(|(name, text)| PolicyFile {
                    name: (*name).to_owned(),
                    text: (*text).to_owned(),
                })
                .collect(),
            origin: "the built-in default policy".to_owned(),
        }
    }

    /// Reads every `*.rego` and `*.json` file directly in `dir` (not subdirectories).
    ///
    /// # Errors
    ///
    /// [`PolicyError::Io`] when the directory or a file cannot be read;
    /// [`PolicyError::Empty`] when it holds no Rego module.
    pub fn read_dir(dir: &Path) -> Result<PolicySource, PolicyError> {
        let mut files = Vec::new();
        for path in policy_paths(dir)? {
            let text = std::fs::read_to_string(&path).map_err(PolicyError::io(&path))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push(PolicyFile { name, text });
        }
        if !files.iter().any(|f| f.is_rego() && !f.is_test()) {
            return Err(PolicyError::Empty {
                dir: dir.to_owned(),
            });
        }
        Ok(PolicySource {
            files,
            origin: dir.display().to_string(),
        })
    }

    /// sha256 over every file's name and text: the policy version audit records cite.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for f in &self.files {
            h.update((f.name.len() as u64).to_le_bytes());
            h.update(f.name.as_bytes());
            h.update((f.text.len() as u64).to_le_bytes());
            h.update(f.text.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The policy files in `dir`, sorted.
fn policy_paths(dir: &Path) -> Result<Vec<PathBuf>, PolicyError> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(PolicyError::io(dir))? {
        let path = entry.map_err(PolicyError::io(dir))?.path();
        let wanted = path.extension().is_some_and(|e| e == "rego" || e == "json");
        if wanted && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// A cheap summary of a directory's policy files (names, sizes, modification times): when
/// it changes, the files are read again. Polling this costs a `stat` per file.
pub(crate) fn fingerprint(dir: &Path) -> Option<Vec<(PathBuf, u64, SystemTime)>> {
    let paths = policy_paths(dir).ok()?;
    paths
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).ok()?;
            Some((p, m.len(), m.modified().ok()?))
        })
        .collect()
}
