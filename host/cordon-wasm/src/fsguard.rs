//! Detects and stops attempts to leave a granted directory.
//!
//! wasmtime-wasi already confines every path to its preopen (cap-std semantics): `..`
//! above the directory, absolute paths and symlinks leading out all fail. That keeps files
//! safe, but a hostile guest would simply get an error code and try the next trick. This
//! guard wraps every path-taking method of `wasi:filesystem/types.descriptor` so that an
//! attempt is *recognised*: it is recorded as a [`Violation`] (counted and audited by the
//! caller) and the call ends at once with `path_escape` or `read_only`.
//!
//! It also caps how many files and directories one call holds open at once
//! ([`MAX_OPEN_DESCRIPTORS`]): each is a descriptor of the host process.
//!
//! Paths are judged twice. Before the operation, lexically: an absolute path or one whose
//! `..` climbs above the descriptor is refused without touching the file system. After it,
//! by outcome: `not-permitted` from the sandbox means a symlink led out, or a write was
//! tried under a read-only grant.

use crate::state::CallState;
use cordon_core::{EscapeKind, Violation};
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, ErrorCode, HostDescriptor, NewTimestamp, OpenFlags, PathFlags,
};

/// The guest tried to cross a filesystem boundary; the call ends with this error.
#[derive(Debug, thiserror::Error)]
#[error("{} refused: {op} {path:?} ({kind})", if *.kind == EscapeKind::ReadOnlyWrite { "write" } else { "path escape" })]
pub struct SandboxViolation {
    /// What was attempted.
    pub kind: EscapeKind,
    /// The WASI operation.
    pub op: &'static str,
    /// The path as the guest gave it.
    pub path: String,
}

/// How many files and directories one call may hold open at once. Each is a real file
/// descriptor of the host process, shared by every call: without a cap one guest could
/// take them all (and the server could accept no connection) until its deadline.
pub const MAX_OPEN_DESCRIPTORS: u32 = 512;

/// The guest held [`MAX_OPEN_DESCRIPTORS`] and asked for one more; the call ends.
#[derive(Debug, thiserror::Error)]
#[error(
    "the guest holds {MAX_OPEN_DESCRIPTORS} open files and directories, its limit, and opened another"
)]
pub struct DescriptorLimitExceeded;

/// The interface this guard wraps, at the version wasmtime-wasi implements. Guests built
/// against any earlier 0.2.x resolve to it by semver.
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// Judges a path without touching the file system.
fn lexical(path: &str) -> Option<EscapeKind> {
    if path.starts_with('/') {
        return Some(EscapeKind::AbsolutePath);
    }
    let mut depth: i64 = 0;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Some(EscapeKind::PathTraversal);
                }
            }
            _ => depth += 1,
        }
    }
    None
}

fn refuse(
    state: &mut CallState,
    kind: EscapeKind,
    op: &'static str,
    path: &str,
) -> wasmtime::Error {
    tracing::warn!(escape.kind = %kind, op, path, "sandbox escape attempt refused");
    state.violations.push(Violation {
        kind,
        operation: op.to_owned(),
        path: path.to_owned(),
    });
    wasmtime::Error::new(SandboxViolation {
        kind,
        op,
        path: path.to_owned(),
    })
}

fn precheck(state: &mut CallState, op: &'static str, paths: &[&str]) -> wasmtime::Result<()> {
    for path in paths {
        if let Some(kind) = lexical(path) {
            return Err(refuse(state, kind, op, path));
        }
    }
    Ok(())
}

/// Turns the wrapped operation's outcome into what the guest sees, or a violation.
async fn finish<T>(
    store: &mut StoreContextMut<'_, CallState>,
    op: &'static str,
    path: &str,
    writes: bool,
    dir_rep: u32,
    result: FsResult<T>,
) -> wasmtime::Result<(Result<T, ErrorCode>,)> {
    let err = match result {
        Ok(v) => return Ok((Ok(v),)),
        Err(e) => e,
    };
    let code = err.downcast()?;
    if !matches!(code, ErrorCode::NotPermitted) {
        return Ok((Err(code),));
    }
    let kind = if writes && !dir_writable(store, dir_rep).await {
        EscapeKind::ReadOnlyWrite
    } else {
        EscapeKind::Symlink
    };
    Err(refuse(store.data_mut(), kind, op, path))
}

async fn dir_writable(store: &mut StoreContextMut<'_, CallState>, rep: u32) -> bool {
    let fd = Resource::<Descriptor>::new_borrow(rep);
    match store.data_mut().filesystem().get_flags(fd).await {
        Ok(flags) => flags.intersects(DescriptorFlags::MUTATE_DIRECTORY | DescriptorFlags::WRITE),
        Err(_) => false,
    }
}

type Fd = Resource<Descriptor>;

/// Replaces the path-taking descriptor methods in `linker` with guarded versions.
///
/// # Errors
///
/// When the linker rejects the definitions (a wasmtime-wasi upgrade that renamed them).
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut inst = linker.instance(FILESYSTEM_TYPES)?;

    inst.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, pf, path, oflags, flags): (Fd, PathFlags, String, OpenFlags, DescriptorFlags)| {
            Box::new(async move {
                let op = "open-at";
                precheck(store.data_mut(), op, &[&path])?;
                let writes = oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE)
                    || flags.intersects(DescriptorFlags::WRITE | DescriptorFlags::MUTATE_DIRECTORY);
                if store.data().open_descriptors >= MAX_OPEN_DESCRIPTORS {
                    return Err(wasmtime::Error::new(DescriptorLimitExceeded));
                }
                let rep = fd.rep();
                let r = store.data_mut().filesystem().open_at(fd, pf, path.clone(), oflags, flags).await;
                let opened = finish(&mut store, op, &path, writes, rep, r).await?;
                if opened.0.is_ok() {
                    store.data_mut().open_descriptors += 1;
                }
                Ok(opened)
            })
        },
    )?;

    inst.func_wrap_async(
        "[method]descriptor.stat-at",
        |mut store: StoreContextMut<'_, CallState>, (fd, pf, path): (Fd, PathFlags, String)| {
            Box::new(async move {
                let op = "stat-at";
                precheck(store.data_mut(), op, &[&path])?;
                let rep = fd.rep();
                let r = store
                    .data_mut()
                    .filesystem()
                    .stat_at(fd, pf, path.clone())
                    .await;
                finish(&mut store, op, &path, false, rep, r).await
            })
        },
    )?;

    inst.func_wrap_async(
        "[method]descriptor.readlink-at",
        |mut store: StoreContextMut<'_, CallState>, (fd, path): (Fd, String)| {
            Box::new(async move {
                let op = "readlink-at";
                precheck(store.data_mut(), op, &[&path])?;
                let rep = fd.rep();
                let r = store
                    .data_mut()
                    .filesystem()
                    .readlink_at(fd, path.clone())
                    .await;
                finish(&mut store, op, &path, false, rep, r).await
            })
        },
    )?;

    inst.func_wrap_async(
        "[method]descriptor.metadata-hash-at",
        |mut store: StoreContextMut<'_, CallState>, (fd, pf, path): (Fd, PathFlags, String)| {
            Box::new(async move {
                let op = "metadata-hash-at";
                precheck(store.data_mut(), op, &[&path])?;
                let rep = fd.rep();
                let r = store
                    .data_mut()
                    .filesystem()
                    .metadata_hash_at(fd, pf, path.clone())
                    .await;
                finish(&mut store, op, &path, false, rep, r).await
            })
        },
    )?;

    inst.func_wrap_async(
        "[method]descriptor.set-times-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, pf, path, atime, mtime): (Fd, PathFlags, String, NewTimestamp, NewTimestamp)| {
            Box::new(async move {
                let op = "set-times-at";
                precheck(store.data_mut(), op, &[&path])?;
                let rep = fd.rep();
                let r = store
                    .data_mut()
                    .filesystem()
                    .set_times_at(fd, pf, path.clone(), atime, mtime)
                    .await;
                finish(&mut store, op, &path, true, rep, r).await
            })
        },
    )?;

    macro_rules! guard_write_1 {
        ($name:literal, $method:ident) => {
            inst.func_wrap_async(
                concat!("[method]descriptor.", $name),
                |mut store: StoreContextMut<'_, CallState>, (fd, path): (Fd, String)| {
                    Box::new(async move {
                        precheck(store.data_mut(), $name, &[&path])?;
                        let rep = fd.rep();
                        let r = store
                            .data_mut()
                            .filesystem()
                            .$method(fd, path.clone())
                            .await;
                        finish(&mut store, $name, &path, true, rep, r).await
                    })
                },
            )?;
        };
    }
    guard_write_1!("create-directory-at", create_directory_at);
    guard_write_1!("remove-directory-at", remove_directory_at);
    guard_write_1!("unlink-file-at", unlink_file_at);

    inst.func_wrap_async(
        "[method]descriptor.symlink-at",
        |mut store: StoreContextMut<'_, CallState>, (fd, target, link): (Fd, String, String)| {
            Box::new(async move {
                let op = "symlink-at";
                // The target is resolved relative to the link's directory.
                let parent = link.rsplit_once('/').map_or("", |(p, _)| p);
                let resolved = if parent.is_empty() {
                    target.clone()
                } else {
                    format!("{parent}/{target}")
                };
                if target.starts_with('/') {
                    return Err(refuse(
                        store.data_mut(),
                        EscapeKind::AbsolutePath,
                        op,
                        &target,
                    ));
                }
                precheck(store.data_mut(), op, &[&link, &resolved])?;
                let rep = fd.rep();
                let r = store
                    .data_mut()
                    .filesystem()
                    .symlink_at(fd, target, link.clone())
                    .await;
                finish(&mut store, op, &link, true, rep, r).await
            })
        },
    )?;

    inst.func_wrap_async(
        "[method]descriptor.rename-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, old, new_fd, new): (Fd, String, Fd, String)| {
            Box::new(async move {
                let op = "rename-at";
                precheck(store.data_mut(), op, &[&old, &new])?;
                let rep = fd.rep();
                let r = store
                    .data_mut()
                    .filesystem()
                    .rename_at(fd, old.clone(), new_fd, new)
                    .await;
                finish(&mut store, op, &old, true, rep, r).await
            })
        },
    )?;

    inst.func_wrap_async(
        "[method]descriptor.link-at",
        |mut store: StoreContextMut<'_, CallState>,
         (fd, pf, old, new_fd, new): (Fd, PathFlags, String, Fd, String)| {
            Box::new(async move {
                let op = "link-at";
                precheck(store.data_mut(), op, &[&old, &new])?;
                let rep = fd.rep();
                let r = store
                    .data_mut()
                    .filesystem()
                    .link_at(fd, pf, old.clone(), new_fd, new)
                    .await;
                finish(&mut store, op, &old, true, rep, r).await
            })
        },
    )?;

    // Every descriptor the guest drops (or the store drops at the end) leaves the count.
    // wasmtime-wasi's own destructor does no more than take it out of the table.
    inst.resource(
        "descriptor",
        wasmtime::component::ResourceType::host::<Descriptor>(),
        |mut store: StoreContextMut<'_, CallState>, rep| {
            let state = store.data_mut();
            state.open_descriptors = state.open_descriptors.saturating_sub(1);
            state.table.delete(Resource::<Descriptor>::new_own(rep))?;
            Ok(())
        },
    )?;

    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_check_catches_climbing_and_absolute_paths() {
        assert_eq!(lexical("../etc/passwd"), Some(EscapeKind::PathTraversal));
        assert_eq!(lexical("a/../../b"), Some(EscapeKind::PathTraversal));
        assert_eq!(lexical("/etc/passwd"), Some(EscapeKind::AbsolutePath));
        assert_eq!(lexical("a/../b"), None);
        assert_eq!(lexical("./a/./b/.."), None);
        assert_eq!(lexical(""), None);
    }
}
