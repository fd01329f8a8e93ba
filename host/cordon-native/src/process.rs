//! The process tier: `bwrap` (bubblewrap) around an allow-listed command. Every namespace
//! unshared (no network but loopback, its own PIDs, users, IPC, UTS, cgroup view); the host's
//! `/usr` read-only and nothing else of its files; `/tmp` a fresh tmpfs; the workspace bound
//! per its grant; uid 1001 with every capability dropped; a new session (no terminal to
//! inject into); the seccomp filter; born inside the call's cgroup; dies with its parent.
//! bwrap's command is `cordon-enter` (`enter.c`), which installs the watcher's filter
//! (`watch`) once the sandbox is built, so that it sees the command's calls and none of
//! bwrap's own, and then executes the command.

use crate::cgroup::{Caps, Layout};
use crate::supervise::supervise;
use crate::watch::{SANDBOX_IDS, Watcher};
use crate::{NativeCall, NativeOutput, seccomp, watch};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// `cordon-enter` (src/enter.c, built static by build.rs): bwrap's command, which installs
/// the watcher's filter once the sandbox is built and then executes the call's command.
static ENTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cordon-enter"));

/// Where the child finds what it is given (bwrap reads fd 3 for `--seccomp`; the others
/// pass through bwrap to `cordon-enter`, which closes them before the command starts).
const SECCOMP_FD: RawFd = 3;
const WATCH_FILTER_FD: RawFd = 4;
const WATCH_SOCKET_FD: RawFd = 5;
const ENTER_FD: RawFd = 6;

/// A host that can run the process tier.
#[derive(Debug)]
pub struct ProcessTier {
    bwrap: PathBuf,
    cgroups: Layout,
    seccomp: Vec<u8>,
    /// The watcher's filter and `cordon-enter`, each a sealed memfd shared by every call.
    watch_filter: OwnedFd,
    enter: OwnedFd,
}

impl ProcessTier {
    /// Checks what the tier needs: `bwrap`, usable cgroups, a seccomp filter for this
    /// architecture, and that a sandbox actually starts (`/bin/true` inside one).
    ///
    /// # Errors
    ///
    /// Why the tier cannot run here.
    pub async fn probe() -> Result<ProcessTier, String> {
        let bwrap = which("bwrap").ok_or("bwrap (bubblewrap) is not installed")?;
        let cgroups = Layout::detect()?;
        let seccomp = seccomp::bpf_bytes(seccomp::SetIdModes::Watched)?;
        let tier = ProcessTier {
            bwrap,
            cgroups,
            seccomp,
            watch_filter: sealed_memfd(c"cordon-watch", &watch::filter_bytes()?, false)?,
            enter: sealed_memfd(c"cordon-enter", ENTER, true)?,
        };
        let trial = NativeCall::new(PathBuf::from("/usr/bin/true"), Vec::new());
        let out = tier.run(&trial).await?;
        if out.code != Some(0) {
            return Err(format!(
                "bwrap cannot start a sandbox here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(tier)
    }

    /// The cgroup layout in use (for `cordon doctor`).
    pub fn cgroups(&self) -> &Layout {
        &self.cgroups
    }

    /// Runs `call` to its end.
    ///
    /// # Errors
    ///
    /// When the sandbox itself cannot be set up (the command's own failures are in the
    /// output).
    pub async fn run(&self, call: &NativeCall) -> Result<NativeOutput, String> {
        let limits = &call.limits;
        let group = self.cgroups.create(Caps {
            memory: limits.memory_bytes,
            pids: limits.pids,
            cpu_quota_us: limits.cpu_quota_us,
        })?;
        let filter = memfd_with(&self.seccomp)?;
        let watcher = Watcher::start(group.tree(), SANDBOX_IDS)?;
        let mut command = tokio::process::Command::new(&self.bwrap);
        command.env_clear().args(self.arguments(call)).arg("--");
        command.arg(format!("/proc/self/fd/{ENTER_FD}"));
        command.args([WATCH_FILTER_FD.to_string(), WATCH_SOCKET_FD.to_string()]);
        command.arg(&call.program).args(&call.args);
        let given = [
            (filter.as_raw_fd(), SECCOMP_FD),
            (self.watch_filter.as_raw_fd(), WATCH_FILTER_FD),
            (
                (watcher.helper_end()).ok_or("the watcher has no socket for cordon-enter")?,
                WATCH_SOCKET_FD,
            ),
            (self.enter.as_raw_fd(), ENTER_FD),
        ];
        let joiner = group.joiner();
        // SAFETY: only async-signal-safe calls between fork and exec (fcntl, dup2, close, and
        // the cgroup joiner's open, write, close), on values prepared before the fork.
        unsafe {
            command.pre_exec(move || {
                joiner.join_self()?;
                place(&given)
            });
        }
        let mut out = supervise(command, &group, call.stdin.as_deref(), limits).await;
        drop(filter);
        watcher.finish(&mut out);
        out
    }

    fn arguments(&self, call: &NativeCall) -> Vec<String> {
        let mut a: Vec<String> = [
            "--unshare-all",
            "--unshare-user",
            "--uid",
            "1001",
            "--gid",
            "1001",
            "--hostname",
            "sandbox",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--clearenv",
            "--ro-bind",
            "/usr",
            "/usr",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--seccomp",
            "3",
        ]
        .map(str::to_owned)
        .to_vec();
        // Merged-/usr hosts (Debian 12) link these into /usr; others have real directories.
        for top in ["bin", "sbin", "lib", "lib32", "lib64"] {
            let host = Path::new("/").join(top);
            match std::fs::read_link(&host) {
                Ok(target) => a.extend([
                    "--symlink".into(),
                    target.display().to_string(),
                    host.display().to_string(),
                ]),
                Err(_) if host.is_dir() => a.extend([
                    "--ro-bind".into(),
                    host.display().to_string(),
                    host.display().to_string(),
                ]),
                Err(_) => {}
            }
        }
        // The dynamic loader's cache and the alternatives many Debian commands go through.
        for etc in ["/etc/ld.so.cache", "/etc/alternatives"] {
            a.extend(["--ro-bind-try".into(), etc.into(), etc.into()]);
        }
        for (k, v) in crate::resolve::SANDBOX_ENV {
            a.extend(["--setenv".into(), k.into(), v.into()]);
        }
        for (k, v) in &call.env {
            a.extend(["--setenv".into(), k.clone(), v.clone()]);
        }
        match &call.workspace {
            Some(w) => {
                let bind = if w.writable { "--bind" } else { "--ro-bind" };
                a.extend([
                    bind.into(),
                    w.host.display().to_string(),
                    crate::WORKSPACE.into(),
                ]);
                a.extend(["--chdir".into(), crate::WORKSPACE.into()]);
            }
            None => a.extend(["--chdir".into(), "/tmp".into()]),
        }
        // bwrap builds the root on a tmpfs; once everything is mounted it becomes read-only,
        // so a write to `/` fails instead of landing in a scratch root.
        a.extend(["--remount-ro".into(), "/".into()]);
        a
    }
}

/// Puts each `(from, to)` descriptor at `to`, open across exec. Async-signal-safe (for
/// `pre_exec`): every source is first copied above the targets, so that no `dup2` closes a
/// source still to be placed.
fn place(given: &[(RawFd, RawFd)]) -> std::io::Result<()> {
    const ABOVE: RawFd = 64;
    let mut moved = [-1; 8];
    for (slot, (from, _)) in moved.iter_mut().zip(given) {
        // SAFETY: fcntl on an open descriptor; the copy is close-on-exec until placed.
        *slot = unsafe { libc::fcntl(*from, libc::F_DUPFD_CLOEXEC, ABOVE) };
        if *slot < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for (copy, (_, to)) in moved.iter().zip(given) {
        // SAFETY: dup2 of an open descriptor; the copy above is closed after.
        unsafe {
            if libc::dup2(*copy, *to) != *to {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(*copy);
        }
    }
    Ok(())
}

/// An anonymous in-memory file holding `bytes`, sealed against any change (it is handed to
/// every call), for reading at any offset or, `executable`, executing as `/proc/self/fd/N`.
fn sealed_memfd(name: &std::ffi::CStr, bytes: &[u8], executable: bool) -> Result<OwnedFd, String> {
    use std::io::Write;
    // Linux 6.3+ asks (vm.memfd_noexec): MFD_EXEC for what is executed, MFD_NOEXEC_SEAL for
    // what is not. Older kernels know neither flag (EINVAL) and execute any memfd.
    const MFD_NOEXEC_SEAL: libc::c_uint = 0x8;
    const MFD_EXEC: libc::c_uint = 0x10;
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    let exec = if executable {
        MFD_EXEC
    } else {
        MFD_NOEXEC_SEAL
    };
    // SAFETY: memfd_create with a NUL-terminated name; the fd is owned below.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | exec) };
    if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just created and is owned by nothing else.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(bytes)
        .map_err(|e| format!("writing {name:?}: {e}"))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on the file's own descriptor.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(format!(
            "sealing {name:?}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(OwnedFd::from(file))
}

/// An anonymous in-memory file holding `bytes`, positioned at its start.
fn memfd_with(bytes: &[u8]) -> Result<OwnedFd, String> {
    use std::io::{Seek, Write};
    // SAFETY: memfd_create with a static NUL-terminated name; the fd is owned below.
    let fd = unsafe { libc::memfd_create(c"cordon-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just created and is owned by nothing else.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(bytes)
        .and_then(|()| file.seek(std::io::SeekFrom::Start(0)).map(|_| ()))
        .map_err(|e| format!("writing the seccomp filter: {e}"))?;
    Ok(OwnedFd::from(file))
}

/// `name` on the host's PATH.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
