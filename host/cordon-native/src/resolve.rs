//! Which program a command names, decided before anything starts.
//!
//! Allow- and block-lists match a *name* (`python3`), so the name must not be a way around
//! them: a command is a bare name looked up on the sandbox's `PATH`, or an absolute path
//! that resolves (through every symlink) to the very file that name resolves to. Relative
//! paths (`./rm`), names with shell syntax (`python3;rm`), and symlinks dressed up as an
//! allowed name (`/tmp/python3` → `/usr/bin/rm`) are refused. What runs is the resolved
//! file, never the string as given.

use std::path::{Path, PathBuf};

/// Where bare names are looked up, in the sandbox as on the host.
pub const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The environment every tier gives a command before the call's own (`NativeCall::env`):
/// its PATH, a HOME it may write (`/tmp`), and no byte-code for Python to write beside the
/// modules it imports, which are on a read-only mount (where the watcher would take the
/// attempt for a write to the sandbox's root; the sandbox is gone after the call anyway).
pub(crate) const SANDBOX_ENV: [(&str, &str); 3] = [
    ("PATH", SANDBOX_PATH),
    ("HOME", "/tmp"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
];

/// A command's name (what policy lists) and the file that runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The canonical name policy's allow- and block-lists match.
    pub name: String,
    /// The file executed: the name's resolution on [`SANDBOX_PATH`], symlinks followed.
    pub program: PathBuf,
}

/// Why a command was refused before it started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    /// Not a plain name or an absolute path.
    #[error(
        "{0:?} is not a command name or an absolute path (relative paths and shell syntax are refused)"
    )]
    Malformed(String),
    /// No such program on the sandbox's PATH.
    #[error("no program {0:?} on {SANDBOX_PATH}")]
    NotFound(String),
    /// An absolute path that is not what its name resolves to.
    #[error("{given:?} resolves to {actual}, not to {expected} which {name:?} names")]
    Disguised {
        /// As given.
        given: String,
        /// Its name.
        name: String,
        /// Where the given path leads.
        actual: String,
        /// Where the name leads.
        expected: String,
    },
}

/// Resolves `command` (argv\[0\]) as described in the module docs, against the host's files
/// under `root` (`/` for the process tier; the image's root for the container tiers).
///
/// # Errors
///
/// [`Unresolved`] saying why the command is refused.
pub fn resolve(command: &str, root: &Path) -> Result<Resolved, Unresolved> {
    let name = command_name(command)?;
    let inside = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    let found = SANDBOX_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| is_executable(&inside(p)))
        .ok_or_else(|| Unresolved::NotFound(name.to_owned()))?;
    let program = canonical(&found, root).ok_or_else(|| Unresolved::NotFound(name.to_owned()))?;
    if command.starts_with('/') {
        let actual = canonical(Path::new(command), root)
            .ok_or_else(|| Unresolved::NotFound(command.to_owned()))?;
        if actual != program {
            return Err(Unresolved::Disguised {
                given: command.to_owned(),
                name: name.to_owned(),
                actual: actual.display().to_string(),
                expected: program.display().to_string(),
            });
        }
    }
    Ok(Resolved {
        name: name.to_owned(),
        program,
    })
}

/// The name policy matches for `command`: itself when it is a bare name, its last part
/// when it is an absolute path.
///
/// # Errors
///
/// [`Unresolved::Malformed`] for anything else (relative paths, `..`, shell syntax,
/// names that look like options).
pub fn command_name(command: &str) -> Result<&str, Unresolved> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-');
    let malformed = || Unresolved::Malformed(command.to_owned());
    let name = match command.rsplit_once('/') {
        None => command,
        Some((_, name)) if command.starts_with('/') => name,
        Some(_) => return Err(malformed()),
    };
    let parts_ok = command
        .split('/')
        .skip(1)
        .all(|part| !part.is_empty() && part != "." && part != ".." && part.chars().all(plain));
    if name.is_empty()
        || !name.chars().all(plain)
        || name.starts_with('-')
        || (command.contains('/') && !parts_ok)
    {
        return Err(malformed());
    }
    Ok(name)
}

/// `path` with every symlink followed, as seen from inside `root`.
fn canonical(path: &Path, root: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(root.join(path.strip_prefix("/").unwrap_or(path))).ok()?;
    let root = std::fs::canonicalize(root).ok()?;
    let inside = real.strip_prefix(&root).ok()?;
    Some(Path::new("/").join(inside))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(files: &[(&str, Option<&str>)]) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (path, link) in files {
            let p = root.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap_or(root.path())).unwrap_or_default();
            match link {
                Some(target) => std::os::unix::fs::symlink(target, &p).unwrap_or_default(),
                None => {
                    std::fs::write(&p, "#!/bin/true\n").unwrap_or_default();
                    let mode = std::fs::Permissions::from_mode(0o755);
                    std::fs::set_permissions(&p, mode).unwrap_or_default();
                }
            }
        }
        root
    }

    #[test]
    fn names_resolve_and_disguises_are_refused() {
        let root = root_with(&[
            ("/usr/bin/python3.11", None),
            ("/usr/bin/python3", Some("python3.11")),
            ("/usr/bin/rm", None),
            ("/tmp/python3", Some("../usr/bin/rm")),
        ]);
        let r = root.path();
        let ok = resolve("python3", r);
        assert_eq!(
            ok,
            Ok(Resolved {
                name: "python3".into(),
                program: "/usr/bin/python3.11".into()
            })
        );
        assert!(resolve("/usr/bin/python3", r).is_ok());
        assert!(matches!(
            resolve("/tmp/python3", r),
            Err(Unresolved::Disguised { .. })
        ));
        for bad in [
            "./rm",
            "bin/rm",
            "python3;rm",
            "python3 rm",
            "",
            "/usr/bin/../bin/rm",
            "-rf",
        ] {
            assert!(
                matches!(resolve(bad, r), Err(Unresolved::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(resolve("perl", r), Err(Unresolved::NotFound(_))));
    }
}
