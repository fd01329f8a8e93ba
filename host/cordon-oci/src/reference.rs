//! `oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`, the way `docker` and `oras` spell it.

use crate::OciError;
use std::fmt;

/// Where an artefact lives: a registry, a repository in it, and a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    /// `path/to/name`, lower-case.
    pub repository: String,
    /// The tag, when no digest is given ("latest" when neither is).
    pub tag: String,
    /// `sha256:…`, when the reference pins one.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `oci://registry/repo:tag`, `registry/repo@sha256:…` (the `oci://` is optional).
    pub fn parse(text: &str) -> Result<Reference, OciError> {
        let bad = |why: &str| OciError::BadReference(format!("{text:?}: {why}"));
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        let (rest, digest) = match rest.split_once('@') {
            Some((rest, digest)) => {
                let hex = digest
                    .strip_prefix("sha256:")
                    .ok_or_else(|| bad("the digest must be sha256:…"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad("a sha256 digest is 64 hex digits"));
                }
                (rest, Some(digest.to_ascii_lowercase()))
            }
            None => (rest, None),
        };
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected REGISTRY/REPOSITORY[:TAG]"))?;
        // A tag follows the last ':' after the last '/'; a ':' before is the registry's port.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => (path, "latest"),
        };
        let registry_ok = !registry.is_empty()
            && registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !registry_ok {
            return Err(bad("the registry is host[:port]"));
        }
        // The distribution spec's grammar: lower-case components separated by '/', each
        // made of [a-z0-9] and single separators. Anything else could smuggle a path or a
        // query into the URLs built from it.
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        };
        if !repository.split('/').all(component_ok) {
            return Err(bad(
                "the repository is lower-case letters, digits, '.', '_', '-' and '/'",
            ));
        }
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag.as_bytes()[0] != b'.'
            && tag.as_bytes()[0] != b'-'
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !tag_ok {
            return Err(bad("a tag is up to 128 of [A-Za-z0-9._-]"));
        }
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.to_owned(),
            digest,
        })
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn manifest_ref(&self) -> &str {
        self.digest.as_deref().unwrap_or(&self.tag)
    }

    /// `registry/repository`, the identity a signature names.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        match &self.digest {
            Some(d) => write!(f, "@{d}"),
            None => write!(f, ":{}", self.tag),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tags_ports_and_digests_are_told_apart() {
        let r = Reference::parse("oci://localhost:5000/tools/demo:1.2").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("localhost:5000", "tools/demo", "1.2")
        );
        let r = Reference::parse("localhost:5000/demo").unwrap();
        assert_eq!(r.tag, "latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("ghcr.io/x/demo@{digest}")).unwrap();
        assert_eq!(r.manifest_ref(), digest);
    }

    #[test]
    fn references_that_could_reach_other_urls_are_refused() {
        for bad in [
            "oci://localhost:5000/../v2/x:1",
            "oci://localhost:5000/Demo:1",
            "oci://localhost:5000/demo:1?x=y",
            "oci://localhost:5000/demo:a/b",
            "oci://local host/demo",
            "oci://localhost:5000/demo@sha256:zz",
            "oci://demo",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
