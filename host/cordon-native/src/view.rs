//! Where a path a sandboxed process names lands in its own view of the filesystem: the
//! watcher judges a write or a read by the place it reaches, not by the string (`/tmp/x` may
//! be a symlink to `/etc/shadow`; `../../etc` from `/workspace` is `/etc`).
//!
//! The host resolves the path as the process's kernel would, from the process's root
//! (`/proc/PID/root`) with `openat2`: `RESOLVE_IN_ROOT` keeps `..` and absolute symlinks
//! inside that root. A relative path starts where the process's working directory or its
//! directory descriptor is. The kernel then names what was found as the process sees it: a
//! descriptor of a file in another mount namespace reads back as a path from that
//! namespace's root. What does not exist is named by its deepest existing directory and the
//! rest of the path as written. Left to the kernel (and not judged): paths through `/proc`'s
//! links to a process's files (`/proc/PID/root/...`, `/proc/PID/fd/N/...`: magic links,
//! refused with `RESOLVE_NO_MAGICLINKS`; `/proc/self` names no process of the host's in the
//! sandbox's procfs), and paths whose lookups pass [`LOOKUPS`].
//!
//! Nothing here depends on the host's own files: the same path in the same sandbox lands the
//! same way on any host, so a judgment made from it tells the caller nothing about the host.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// A path, as the process that named it sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Landing {
    /// Absolute, without `.`, `..` or symlinks in the part that exists (lossy where it is
    /// not UTF-8).
    pub path: String,
    /// Whether the whole path exists (else `path` ends in what was missing).
    pub exists: bool,
    /// Asked only when [`land`] is told the mount matters (else `false`):
    /// whether the mount it lands on (the deepest existing part's) is read-only,
    pub read_only: bool,
    /// whether all but its last part exist (so that the last could be created),
    pub parent_exists: bool,
    /// and whether what is there is a device, a FIFO or a socket (writing to one writes
    /// nothing to the filesystem it sits on).
    pub special: bool,
}

/// How many lookups the host makes for one path, symlinks and missing parts included: past
/// it the call is left to the kernel. A program controls its paths and symlinks; without a
/// bound it could have the host walk for seconds on one system call.
const LOOKUPS: u32 = 64;

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
    let mut lookups = LOOKUPS;
    let budget = &mut lookups;
    let absolute = if path.starts_with(b"/") {
        path.to_vec()
    } else {
        let base = if dirfd == libc::AT_FDCWD {
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
    let path = normalize(b"/", &parts);
    match open_in(&root, &absolute, follow, libc::RESOLVE_NO_SYMLINKS, budget) {
        Ok(found) => {
            let (read_only, special) = if mount {
                place(&found)?
            } else {
                (false, false)
            };
            return Some(Landing {
                path,
                exists: true,
                read_only,
                parent_exists: true,
                special,
            });
        }
        // Nothing there, and no symlink on the way to it.
        Err(libc::ENOENT) => {
            if !mount {
                return Some(Landing {
                    path,
                    ..Landing::default()
                });
            }
            // The mount of the deepest directory that is there.
            let (there, dir) = (0..parts.len()).rev().find_map(|n| {
                let dir = [b"/".as_slice(), &parts[..n].join(&b'/')].concat();
                (open_in(&root, &dir, true, libc::RESOLVE_NO_SYMLINKS, budget).ok())
                    .map(|fd| (n, fd))
            })?;
            return Some(Landing {
                path,
                exists: false,
                read_only: place(&dir)?.0,
                parent_exists: there + 1 == parts.len(),
                special: false,
            });
        }
        // A symlink on the way (ELOOP): resolved below, part by part.
        Err(libc::ELOOP) => {}
        Err(_) => return None,
    }
    let mut landing = land_in(&root, &absolute, follow, budget)?;
    if !mount {
        landing.read_only = false;
        landing.special = false;
    }
    Some(landing)
}

/// The parts of a path, without empty ones (`//`, a trailing `/`).
fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
        .collect()
}

/// [`land`] for an absolute path, part by part, following symlinks (also ones to nothing)
/// within `budget` lookups.
fn land_in(root: &OwnedFd, absolute: &[u8], follow: bool, budget: &mut u32) -> Option<Landing> {
    // Try the whole path, then without its last part, and so on up to the root.
    let mut parts = components(absolute);
    let mut missing: Vec<&[u8]> = Vec::new();
    loop {
        let candidate = [b"/".as_slice(), &parts.join(&b'/')].concat();
        let whole = missing.is_empty();
        let follows = follow || !whole;
        match open_in(root, &candidate, follows, 0, budget) {
            Ok(found) => {
                let named = name_of(&found)?;
                missing.reverse();
                let (read_only, special) = place(&found)?;
                return Some(Landing {
                    path: normalize(&named, &missing),
                    exists: whole,
                    read_only,
                    parent_exists: missing.len() <= 1,
                    special: whole && special,
                });
            }
            Err(libc::ENOENT) => {
                // A symlink to nothing: the path goes on where it points.
                let dangling = if follows {
                    open_in(root, &candidate, false, 0, budget).ok()
                } else {
                    None
                };
                if let Some((link, target)) =
                    dangling.and_then(|link| symlink_target(&link).map(|t| (link, t)))
                {
                    let base = if target.starts_with(b"/") {
                        Vec::new()
                    } else {
                        parent(&name_of(&link)?)
                    };
                    missing.reverse();
                    let onward =
                        [base.as_slice(), b"/", &target, b"/", &missing.join(&b'/')].concat();
                    return land_in(root, &onward, follow, budget);
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
fn normalize(named: &[u8], rest: &[&[u8]]) -> String {
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
    String::from_utf8_lossy(&joined).into_owned()
}

/// `path` opened for its place only (`O_PATH`) under `root`, as the process would resolve it
/// (`resolve`: more `RESOLVE_*` flags), taking one lookup from `budget` (`E2BIG` when none is
/// left). `EAGAIN` (a rename elsewhere raced the walk) is tried again.
fn open_in(
    root: &OwnedFd,
    path: &[u8],
    follow: bool,
    resolve: u64,
    budget: &mut u32,
) -> Result<OwnedFd, i32> {
    loop {
        *budget = budget.checked_sub(1).ok_or(libc::E2BIG)?;
        match open_once(root, path, follow, resolve) {
            Err(libc::EAGAIN) => {}
            done => return done,
        }
    }
}

fn open_once(root: &OwnedFd, path: &[u8], follow: bool, resolve: u64) -> Result<OwnedFd, i32> {
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
/// `fstatvfs` reports), and whether `fd` is a device, a FIFO or a socket.
fn place(fd: &OwnedFd) -> Option<(bool, bool)> {
    // SAFETY: statvfs and stat are plain data; the kernel fills them.
    let (mut mount, mut file): (libc::statvfs, libc::stat) =
        unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    // SAFETY: a valid fd and structs of the right types.
    let ok = unsafe {
        libc::fstatvfs(fd.as_raw_fd(), &raw mut mount) == 0
            && libc::fstat(fd.as_raw_fd(), &raw mut file) == 0
    };
    let kind = file.st_mode & libc::S_IFMT;
    let special = [libc::S_IFCHR, libc::S_IFBLK, libc::S_IFIFO, libc::S_IFSOCK].contains(&kind);
    ok.then_some((mount.f_flag & libc::ST_RDONLY != 0, special))
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
        assert_eq!(normalize(b"/etc", &[b"shadow"]), "/etc/shadow");
        assert_eq!(
            normalize(b"/", &[b"root", b".", b".ssh", b"..", b".aws"]),
            "/root/.aws"
        );
        assert_eq!(normalize(b"/", &[b"..", b"..", b"home"]), "/home");
        assert_eq!(normalize(b"/workspace/a", &[]), "/workspace/a");
        assert_eq!(normalize(b"/tmp", &[b"\xff"]), "/tmp/\u{fffd}");
    }

    #[test]
    fn a_process_of_the_host_lands_nowhere() {
        // This test's own process has the host's root: nothing it names is judged.
        let me = std::process::id();
        assert_eq!(land(me, libc::AT_FDCWD, b"/etc/shadow", true, true), None);
    }
}
