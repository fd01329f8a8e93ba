use crate::HostRule;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Whether a granted directory may be modified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirMode {
    /// Read, list and stat only.
    #[serde(rename = "ro")]
    ReadOnly,
    /// Also create, write, rename and delete.
    #[serde(rename = "rw")]
    ReadWrite,
}

impl DirMode {
    /// The narrower of two modes: a grant never exceeds what was requested.
    pub fn min(self, other: DirMode) -> DirMode {
        std::cmp::min(self, other)
    }
}

/// One host directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirGrant {
    /// Where the directory is on the host.
    pub host: PathBuf,
    /// Where the guest sees it (an absolute guest path such as `/ws`).
    pub guest: String,
    /// Read-only or read-write.
    pub mode: DirMode,
}

/// Everything a call may touch. The guest's WASI context is built from this and nothing
/// else: there is no ambient authority.
///
/// Defaults (what [`Grants::default`] and a fresh [`GrantsBuilder`] give):
/// no directories, no scratch directory, no environment variables, closed stdin, and no
/// network: sockets are never granted, and wasi:http reaches only the hosts listed here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    dirs: Vec<DirGrant>,
    scratch: Option<String>,
    env: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hosts: Vec<HostRule>,
    #[serde(skip)]
    stdin: Option<Vec<u8>>,
}

impl Grants {
    /// Starts a builder with nothing granted.
    pub fn builder() -> GrantsBuilder {
        GrantsBuilder::default()
    }

    /// Granted directories, in grant order. The first one is the tool's workspace.
    pub fn dirs(&self) -> &[DirGrant] {
        &self.dirs
    }

    /// The guest path of the per-call scratch directory, if one is granted.
    pub fn scratch(&self) -> Option<&str> {
        self.scratch.as_deref()
    }

    /// Granted environment variables.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Outbound hosts the guest may reach through wasi:http.
    pub fn hosts(&self) -> &[HostRule] {
        &self.hosts
    }

    /// Bytes the guest reads on stdin, if any.
    pub fn stdin(&self) -> Option<&[u8]> {
        self.stdin.as_deref()
    }

    /// Turns these grants back into a builder, to narrow or extend them.
    pub fn into_builder(self) -> GrantsBuilder {
        GrantsBuilder { grants: self }
    }
}

/// Grants capabilities one at a time; whatever is not granted is absent.
#[derive(Debug, Default)]
pub struct GrantsBuilder {
    grants: Grants,
}

impl GrantsBuilder {
    /// Makes host directory `host` visible to the guest at `guest` with `mode`.
    /// Default: no directories.
    pub fn dir(mut self, host: impl AsRef<Path>, guest: impl Into<String>, mode: DirMode) -> Self {
        self.grants.dirs.push(DirGrant {
            host: host.as_ref().to_path_buf(),
            guest: guest.into(),
            mode,
        });
        self
    }

    /// Gives the call a fresh, empty, writable directory at `guest`, deleted when the call
    /// ends. Default: none.
    pub fn scratch(mut self, guest: impl Into<String>) -> Self {
        self.grants.scratch = Some(guest.into());
        self
    }

    /// Sets environment variable `key` to `value` in the guest. Default: an empty
    /// environment (the host's own variables never leak in).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.grants.env.push((key.into(), value.into()));
        self
    }

    /// Lets the guest send wasi:http requests to hosts matching `rule`. Default: none.
    pub fn host(mut self, rule: HostRule) -> Self {
        self.grants.hosts.push(rule);
        self
    }

    /// Keeps only the outbound hosts satisfying `keep`.
    pub fn retain_hosts(mut self, mut keep: impl FnMut(&HostRule) -> bool) -> Self {
        self.grants.hosts.retain(|h| keep(h));
        self
    }

    /// Gives the guest these bytes on stdin. Default: stdin is closed.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.grants.stdin = Some(bytes.into());
        self
    }

    /// Keeps only the directories for which `keep` returns a (possibly narrower) mode.
    pub fn retain_dirs(mut self, mut keep: impl FnMut(&DirGrant) -> Option<DirMode>) -> Self {
        self.grants.dirs = std::mem::take(&mut self.grants.dirs)
            .into_iter()
            .filter_map(|mut d| {
                keep(&d).map(|mode| {
                    d.mode = mode;
                    d
                })
            })
            .collect();
        self
    }

    /// Keeps only the environment variables whose name satisfies `keep`.
    pub fn retain_env(mut self, mut keep: impl FnMut(&str) -> bool) -> Self {
        self.grants.env.retain(|(k, _)| keep(k));
        self
    }

    /// Removes the scratch directory grant.
    pub fn without_scratch(mut self) -> Self {
        self.grants.scratch = None;
        self
    }

    /// Finishes the grants.
    pub fn build(self) -> Grants {
        self.grants
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_grants_are_empty() {
        let g = Grants::default();
        assert!(g.dirs().is_empty());
        assert!(g.env().is_empty());
        assert!(g.stdin().is_none());
        assert!(g.scratch().is_none());
        assert!(g.hosts().is_empty());
    }

    #[test]
    fn narrowing_never_widens_a_mode() {
        assert_eq!(DirMode::ReadWrite.min(DirMode::ReadOnly), DirMode::ReadOnly);
        assert_eq!(DirMode::ReadOnly.min(DirMode::ReadWrite), DirMode::ReadOnly);
        let g = Grants::builder()
            .dir("/a", "/a", DirMode::ReadWrite)
            .dir("/b", "/b", DirMode::ReadWrite)
            .retain_dirs(|d| (d.guest == "/a").then_some(DirMode::ReadOnly))
            .build();
        assert_eq!(g.dirs().len(), 1);
        assert_eq!(g.dirs()[0].mode, DirMode::ReadOnly);
    }
}
