//! The process tier: `bwrap` (bubblewrap) around an allow-listed command. Every namespace
//! unshared (no network but loopback, its own PIDs, users, IPC, UTS, cgroup view); the host's
//! `/usr` read-only and nothing else of its files; `/tmp` a fresh tmpfs; the workspace bound
//! per its grant; uid 1001 with every capability dropped; a new session (no terminal to
//! inject into); the seccomp filter, and the watcher's (`watch`: connections to other
//! machines, id changes and set-id bits stop the call); born inside the call's cgroup; dies
//! with its parent.

use crate::cgroup::{Caps, Layout};
use crate::supervise::supervise;
use crate::watch::{SANDBOX_IDS, Watcher};
use crate::{NativeCall, NativeOutput, seccomp, watch};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A host that can run the process tier.
#[derive(Debug)]
pub struct ProcessTier {
    bwrap: PathBuf,
    cgroups: Layout,
    seccomp: Vec<u8>,
    watch: Arc<Vec<libc::sock_filter>>,
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
            watch: Arc::new(watch::filter()?),
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
        let (install, watcher) =
            Watcher::start(Arc::clone(&self.watch), group.tree(), SANDBOX_IDS)?;
        let mut command = tokio::process::Command::new(&self.bwrap);
        command.env_clear().args(self.arguments(call)).arg("--");
        command.arg(&call.program).args(&call.args);
        let filter_fd = filter.as_raw_fd();
        let joiner = group.joiner();
        // SAFETY: only async-signal-safe calls between fork and exec (dup2, fcntl, open,
        // write, close, setsid, and the watcher's prctl, seccomp, sendmsg), on values prepared
        // before the fork.
        unsafe {
            command.pre_exec(move || {
                joiner.join_self()?;
                // bwrap reads the filter from fd 3 (`--seccomp 3`). dup2 onto 3 clears
                // CLOEXEC, except when the memfd already is fd 3: dup2(3, 3) does nothing,
                // and exec would close it (bwrap: "Can't read seccomp data: Bad file
                // descriptor", seen once in CI). Then clear the flag itself.
                let ok = if filter_fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0) == 0
                } else {
                    libc::dup2(filter_fd, 3) == 3
                };
                if !ok {
                    return Err(std::io::Error::last_os_error());
                }
                // The sandbox's own session (no terminal to inject into), made here rather
                // than by bwrap (`--new-session`) so that the watcher sees only the
                // program's setsid: the one way to ask to outlive a call.
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Last: from here on bwrap itself is watched.
                install.install()
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
        a.extend(["--setenv".into(), "PATH".into(), crate::SANDBOX_PATH.into()]);
        a.extend(["--setenv".into(), "HOME".into(), "/tmp".into()]);
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
