//! Where a path a sandboxed process names lands in its own view of the filesystem: the
//! watcher judges a write or a read by the place it reaches, not by the string (`/tmp/x` may
//! be a symlink to `/etc/shadow`; `../../etc` from `/workspace` is `/etc`).
//!
//! The host resolves the path as the process's kernel would, from the process's root
//! (`/proc/PID/root`) with `openat2`: `RESOLVE_IN_ROOT` keeps `..` and absolute symlinks
//! inside that root, `RESOLVE_NO_MAGICLINKS` refuses `/proc/self/...` links (followed by the
//! host they would name the host's own thread). A relative path starts where the process's
//! working directory or its directory descriptor is. The kernel then names what was found as
//! the process sees it: a descriptor of a file in another mount namespace reads back as a
//! path from that namespace's root. What does not exist is named by its deepest existing
//! directory and the rest of the path as written.
//!
//! Nothing here depends on the host's own files: the same path in the same sandbox lands the
//! same way on any host, so a judgment made from it tells the caller nothing about the host.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// A path, as the process that named it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Landing {
    /// Absolute, without `.`, `..` or symlinks in the part that exists.
    pub path: String,
    /// Whether the whole path exists (else `path` ends in what was missing).
    pub exists: bool,
    /// Whether the mount it lands on (the deepest existing part's) is read-only; asked only
    /// when [`land`] is told the mount matters (else `false`).
    pub read_only: bool,
}

/// `AT_FDCWD` as a system call's 32-bit directory argument.
const AT_FDCWD: i32 = libc::AT_FDCWD;

/// Where `path`, relative to `dirfd` (or the working directory), lands for process `pid`;
/// `follow`: whether a symlink in the last place is followed; `mount`: whether to ask if
/// the place is read-only. `None` when the host cannot tell (the process is gone, its root
/// is the host's own, a magic link, a loop): the call is then left to the kernel.
pub(crate) fn land(
    pid: u32,
    dirfd: i32,
    path: &[u8],
    follow: bool,
    mount: bool,
) -> Option<Landing> {
    if path.is_empty() || path.len() > libc::PATH_MAX as usize {
        return None;
    }
    let root = open_path(&format!("/proc/{pid}/root"))?;
    if identity(&root)? == host_root()? {
        // Not in a sandbox: nothing it names is a sandbox's. (The watchers are installed
        // after the runtimes' set-up, so this is a guard, not a path the tiers take.)
        return None;
    }
    let absolute = if path.starts_with(b"/") {
        path.to_vec()
    } else {
        let base = if dirfd == AT_FDCWD {
            format!("/proc/{pid}/cwd")
        } else {
            format!("/proc/{pid}/fd/{dirfd}")
        };
        let base = std::fs::read_link(base).ok()?;
        let base = base.as_os_str().as_bytes();
        if !base.starts_with(b"/") || base.ends_with(b" (deleted)") {
            return None;
        }
        [base, b"/", path].concat()
    };
    // Most paths pass no symlink (every open of a Python import does not): then they land
    // where they say, and one lookup tells whether they exist.
    let parts = components(&absolute);
    let path = normalize(b"/", &parts)?;
    match open_in(&root, &absolute, follow, libc::RESOLVE_NO_SYMLINKS) {
        Ok(found) => {
            return Some(Landing {
                path,
                exists: true,
                read_only: mount && read_only(&found)?,
            });
        }
        // Nothing there, and no symlink on the way to it.
        Err(libc::ENOENT) => {
            let read_only = if mount {
                // The mount of the deepest directory that is there.
                (0..parts.len())
                    .rev()
                    .find_map(|n| {
                        let dir = [b"/".as_slice(), &parts[..n].join(&b'/')].concat();
                        open_in(&root, &dir, true, libc::RESOLVE_NO_SYMLINKS).ok()
                    })
                    .as_ref()
                    .and_then(read_only)?
            } else {
                false
            };
            return Some(Landing {
                path,
                exists: false,
                read_only,
            });
        }
        // A symlink on the way (ELOOP): resolved below, part by part.
        Err(libc::ELOOP) => {}
        Err(_) => return None,
    }
    let mut landing = land_in(&root, &absolute, follow, 0)?;
    landing.read_only &= mount;
    Some(landing)
}

/// The parts of a path, without empty ones (`//`, a trailing `/`).
fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
        .collect()
}

/// [`land`] for an absolute path, `hops` symlinks in.
fn land_in(root: &OwnedFd, absolute: &[u8], follow: bool, hops: u8) -> Option<Landing> {
    // As many as the kernel follows before it gives up (ELOOP).
    if hops > 40 {
        return None;
    }
    // Try the whole path, then without its last part, and so on up to the root.
    let mut parts = components(absolute);
    let mut missing: Vec<&[u8]> = Vec::new();
    loop {
        let candidate = [b"/".as_slice(), &parts.join(&b'/')].concat();
        let whole = missing.is_empty();
        let follows = follow || !whole;
        match open_in(root, &candidate, follows, 0) {
            Ok(found) => {
                let named = name_of(&found)?;
                missing.reverse();
                return Some(Landing {
                    path: normalize(&named, &missing)?,
                    exists: whole,
                    read_only: read_only(&found)?,
                });
            }
            Err(libc::ENOENT) => {
                // A symlink to nothing: the path goes on where it points.
                if let Some((link, target)) = follows
                    .then(|| open_in(root, &candidate, false, 0).ok())
                    .flatten()
                    .and_then(|link| symlink_target(&link).map(|t| (link, t)))
                {
                    let base = if target.starts_with(b"/") {
                        Vec::new()
                    } else {
                        parent(&name_of(&link)?)
                    };
                    missing.reverse();
                    let onward =
                        [base.as_slice(), b"/", &target, b"/", &missing.join(&b'/')].concat();
                    return land_in(root, &onward, follow, hops + 1);
                }
                missing.push(parts.pop()?);
            }
            Err(_) => return None,
        }
    }
}

/// What `fd` is, named as its process sees it.
fn name_of(fd: &OwnedFd) -> Option<Vec<u8>> {
    let named = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .ok()?
        .into_os_string()
        .into_vec();
    (named.starts_with(b"/") && !named.ends_with(b" (deleted)")).then_some(named)
}

/// Where the symlink `fd` (opened with `O_NOFOLLOW`) points; `None` when it is no symlink.
fn symlink_target(fd: &OwnedFd) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat on an O_PATH fd with an empty path reads that link into `buf`.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).ok().filter(|n| *n > 0)?;
    buf.truncate(n);
    Some(buf)
}

/// `path` without its last part.
fn parent(path: &[u8]) -> Vec<u8> {
    let end = path.iter().rposition(|b| *b == b'/').unwrap_or(0);
    path[..end].to_vec()
}

/// `named` (absolute, already resolved) followed by `rest`, taken as written: `.` dropped,
/// `..` back one (never above the root).
fn normalize(named: &[u8], rest: &[&[u8]]) -> Option<String> {
    let mut parts: Vec<&[u8]> = named
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    for part in rest {
        match *part {
            b"." => {}
            b".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = [b"/".as_slice(), &parts.join(&b'/')].concat();
    String::from_utf8(joined).ok()
}

/// `path` opened for its place only (`O_PATH`) under `root`, as the process would resolve it
/// (`resolve`: more `RESOLVE_*` flags).
fn open_in(root: &OwnedFd, path: &[u8], follow: bool, resolve: u64) -> Result<OwnedFd, i32> {
    let path = CString::new(path).map_err(|_| libc::EINVAL)?;
    let mut flags = libc::O_PATH | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: open_how is plain data (libc marks it non-exhaustive); all zeroes is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS | resolve;
    // SAFETY: openat2 with a valid dirfd, a NUL-terminated path and an open_how of its size;
    // the returned fd is owned right away.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &raw const how,
            size_of::<libc::open_how>(),
        )
    };
    match i32::try_from(fd) {
        // SAFETY: a fresh descriptor owned by nothing else.
        Ok(fd) if fd >= 0 => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        _ => Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)),
    }
}

fn open_path(path: &str) -> Option<OwnedFd> {
    let path = CString::new(path).ok()?;
    // SAFETY: open with a NUL-terminated path; the fd is owned right away.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a fresh descriptor owned by nothing else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether the mount `fd` lies on is read-only (bind mounts carry their own flag, which
/// `fstatvfs` reports).
fn read_only(fd: &OwnedFd) -> Option<bool> {
    // SAFETY: statvfs is plain data; the kernel fills it.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a struct of the right type.
    (unsafe { libc::fstatvfs(fd.as_raw_fd(), &raw mut stat) } == 0)
        .then_some(stat.f_flag & libc::ST_RDONLY != 0)
}

/// The host's own root, as [`identity`] (asked once).
fn host_root() -> Option<(u64, u64)> {
    static ROOT: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| identity(&open_path("/")?))
}

/// Which file `fd` is: device and inode.
fn identity(fd: &OwnedFd) -> Option<(u64, u64)> {
    // SAFETY: stat is plain data; the kernel fills it.
    let mut s: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a struct of the right type.
    (unsafe { libc::fstat(fd.as_raw_fd(), &raw mut s) } == 0).then_some((s.st_dev, s.st_ino))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_rest_is_taken_as_written() {
        assert_eq!(normalize(b"/etc", &[b"shadow"]).unwrap(), "/etc/shadow");
        assert_eq!(
            normalize(b"/", &[b"root", b".", b".ssh", b"..", b".aws"]).unwrap(),
            "/root/.aws"
        );
        assert_eq!(normalize(b"/", &[b"..", b"..", b"home"]).unwrap(), "/home");
        assert_eq!(normalize(b"/workspace/a", &[]).unwrap(), "/workspace/a");
    }

    #[test]
    fn a_process_of_the_host_lands_nowhere() {
        // This test's own process has the host's root: nothing it names is judged.
        let me = std::process::id();
        assert_eq!(land(me, AT_FDCWD, b"/etc/shadow", true, true), None);
    }
}
