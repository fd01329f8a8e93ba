//! One cgroup per call: memory, pids and CPU limits the whole process tree shares, the
//! evidence of which limit stopped it, and a kill that leaves nothing behind.
//!
//! Production hosts are mostly pure cgroup v2 (one tree at `/sys/fs/cgroup`); some, like
//! this project's build machines, are hybrid: the memory and pids controllers are mounted
//! as cgroup v1 (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup/pids`) and the v2 tree has none.
//! [`Layout::detect`] finds which at start; both are driven here.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How this host's cgroups are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2 with memory and pids delegated below `base`.
    V2 {
        /// Where call cgroups are created (`/sys/fs/cgroup/cordon`).
        base: PathBuf,
    },
    /// cgroup v1 memory, pids (and cpu, when mounted) hierarchies.
    V1 {
        /// `/sys/fs/cgroup/memory/cordon`.
        memory: PathBuf,
        /// `/sys/fs/cgroup/pids/cordon`.
        pids: PathBuf,
        /// `/sys/fs/cgroup/cpu/cordon`, when the cpu controller is mounted.
        cpu: Option<PathBuf>,
    },
}

/// What a call's process tree may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Bytes of memory (swap not allowed on top).
    pub memory: u64,
    /// Processes and threads at once.
    pub pids: u64,
    /// CPU time per 100 ms period, in µs (100_000: one core).
    pub cpu_quota_us: u64,
}

/// Which limit a finished call ran into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hits {
    /// The kernel's OOM killer killed a process of the call.
    pub oom_kills: u64,
    /// A fork or clone was refused at the pids limit.
    pub pids_max: u64,
    /// The most memory the call held.
    pub peak_memory: Option<u64>,
    /// Times the memory limit was reached (the OOM killer may or may not have followed).
    pub memory_max: u64,
}

impl Layout {
    /// The host's layout under `/sys/fs/cgroup`, creating Cordon's parent cgroups; `Err`
    /// says why call limits cannot be enforced here.
    ///
    /// # Errors
    ///
    /// A message naming what is missing (no memory or pids controller, not writable).
    pub fn detect() -> Result<Layout, String> {
        Self::detect_at(Path::new("/sys/fs/cgroup"))
    }

    fn detect_at(root: &Path) -> Result<Layout, String> {
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers"));
        if let Ok(list) = controllers {
            let has = |c: &str| list.split_whitespace().any(|x| x == c);
            if !(has("memory") && has("pids")) {
                return Err(format!(
                    "cgroup v2 at {} lacks the memory or pids controller ({list:?})",
                    root.display()
                ));
            }
            let base = root.join("cordon");
            mkdir(&base)?;
            // Controllers must be enabled on each level for the level below.
            for dir in [root, base.as_path()] {
                let want = if has("cpu") {
                    "+memory +pids +cpu"
                } else {
                    "+memory +pids"
                };
                std::fs::write(dir.join("cgroup.subtree_control"), want)
                    .map_err(|e| format!("cannot enable controllers in {}: {e}", dir.display()))?;
            }
            return Ok(Layout::V2 { base });
        }
        let (memory, pids) = (root.join("memory"), root.join("pids"));
        if !(memory.join("cgroup.procs").is_file() && pids.join("cgroup.procs").is_file()) {
            return Err(format!(
                "no cgroup v2 tree and no v1 memory and pids hierarchies under {}",
                root.display()
            ));
        }
        let cpu = root.join("cpu");
        let cpu = cpu
            .join("cpu.cfs_quota_us")
            .is_file()
            .then(|| cpu.join("cordon"));
        let layout = Layout::V1 {
            memory: memory.join("cordon"),
            pids: pids.join("cordon"),
            cpu,
        };
        if let Layout::V1 { memory, pids, cpu } = &layout {
            for d in [Some(memory), Some(pids), cpu.as_ref()]
                .into_iter()
                .flatten()
            {
                mkdir(d)?;
            }
        }
        Ok(layout)
    }

    /// `v2` or `v1 (hybrid)`, for `cordon doctor`.
    pub fn describe(&self) -> &'static str {
        match self {
            Layout::V2 { .. } => "cgroup v2",
            Layout::V1 { .. } => "cgroup v1 memory+pids (hybrid host)",
        }
    }

    /// A fresh cgroup for one call, with `caps` applied.
    ///
    /// # Errors
    ///
    /// When the cgroup cannot be created or a limit cannot be written.
    pub fn create(&self, caps: Caps) -> Result<CallGroup, String> {
        let name = format!("call-{}", uuid::Uuid::new_v4().simple());
        let write = |dir: &Path, file: &str, value: &str| {
            std::fs::write(dir.join(file), value)
                .map_err(|e| format!("cannot set {file} in {}: {e}", dir.display()))
        };
        let dirs: Vec<PathBuf> = match self {
            Layout::V2 { base } => {
                let d = base.join(&name);
                mkdir(&d)?;
                write(&d, "memory.max", &caps.memory.to_string())?;
                // Not every kernel has swap accounting; without it there is no swap to refuse.
                let _ = write(&d, "memory.swap.max", "0");
                write(&d, "pids.max", &caps.pids.to_string())?;
                let _ = write(&d, "cpu.max", &format!("{} 100000", caps.cpu_quota_us));
                vec![d]
            }
            Layout::V1 { memory, pids, cpu } => {
                let (m, p) = (memory.join(&name), pids.join(&name));
                mkdir(&m)?;
                mkdir(&p)?;
                write(&m, "memory.limit_in_bytes", &caps.memory.to_string())?;
                let _ = write(&m, "memory.memsw.limit_in_bytes", &caps.memory.to_string());
                write(&p, "pids.max", &caps.pids.to_string())?;
                let mut dirs = vec![m, p];
                if let Some(cpu) = cpu {
                    let c = cpu.join(&name);
                    mkdir(&c)?;
                    write(&c, "cpu.cfs_period_us", "100000")?;
                    write(&c, "cpu.cfs_quota_us", &caps.cpu_quota_us.to_string())?;
                    dirs.push(c);
                }
                dirs
            }
        };
        let procs = (dirs.iter())
            .map(|d| CString::new(d.join("cgroup.procs").as_os_str().as_encoded_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(CallGroup {
            name,
            tree: Tree {
                v2: matches!(self, Layout::V2 { .. }),
                dirs,
            },
            procs,
        })
    }
}

/// `dir` and every cgroup below it, parents before children.
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < all.len() {
        if let Ok(entries) = std::fs::read_dir(&all[i]) {
            all.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
        i += 1;
    }
    all
}

fn mkdir(d: &Path) -> Result<(), String> {
    match std::fs::create_dir(d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create cgroup {}: {e}", d.display())),
    }
}

/// One call's cgroup (one directory per hierarchy on v1). Removed on drop, after killing
/// whatever is still in it.
#[derive(Debug)]
pub struct CallGroup {
    /// `call-<uuid>`: the directory's name in every hierarchy.
    name: String,
    tree: Tree,
    /// `cgroup.procs` of each directory, ready for the child to join between fork and exec
    /// (no allocation is allowed there).
    procs: Vec<CString>,
}

impl CallGroup {
    /// Its name (`call-<uuid>`), the same in every hierarchy.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What a child needs to join this cgroup between fork and exec.
    pub fn joiner(&self) -> Joiner {
        Joiner {
            procs: self.procs.clone(),
        }
    }

    /// Processes still in the cgroup or any cgroup below it (a container runtime puts the
    /// container in a child cgroup of the call's).
    pub fn members(&self) -> Vec<i32> {
        self.tree.members()
    }

    /// Kills every process in the cgroup and waits (up to a second) until none is left;
    /// returns how many were still there afterwards (0 unless something resisted SIGKILL).
    pub fn kill_all(&self) -> usize {
        self.tree.kill_all()
    }

    /// A handle that kills the call's processes from another thread (the system-call
    /// watcher), for as long as the cgroup exists.
    pub(crate) fn tree(&self) -> Tree {
        self.tree.clone()
    }

    /// Which limits the call ran into.
    pub fn hits(&self) -> Hits {
        let read = |file: &str| {
            (self.tree.dirs.iter()).find_map(|d| std::fs::read_to_string(d.join(file)).ok())
        };
        let field = |text: Option<String>, key: &str| {
            text.and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
        };
        if self.tree.v2 {
            Hits {
                oom_kills: field(read("memory.events"), "oom_kill "),
                pids_max: field(read("pids.events"), "max "),
                peak_memory: read("memory.peak").and_then(|s| s.trim().parse().ok()),
                memory_max: field(read("memory.events"), "max "),
            }
        } else {
            Hits {
                oom_kills: field(read("memory.oom_control"), "oom_kill "),
                pids_max: field(read("pids.events"), "max "),
                peak_memory: read("memory.max_usage_in_bytes").and_then(|s| s.trim().parse().ok()),
                memory_max: read("memory.failcnt")
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0),
            }
        }
    }
}

/// The directories of one call's cgroup: what its processes are, and how to kill them.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    v2: bool,
    dirs: Vec<PathBuf>,
}

impl Tree {
    /// Processes still in the cgroup or any cgroup below it (a container runtime puts the
    /// container in a child cgroup of the call's).
    pub(crate) fn members(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for d in &self.dirs {
            for dir in subtree(d) {
                if let Ok(s) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                    pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
                }
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Kills every process in the cgroup and waits (up to a second) until none is left;
    /// returns how many were still there afterwards (0 unless something resisted SIGKILL).
    pub(crate) fn kill_all(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(1);
        if self.v2 {
            let _ = std::fs::write(self.dirs[0].join("cgroup.kill"), "1");
        }
        // Processes that are exiting stay listed for a moment: look again soon, then less
        // often (a fixed 5 ms sleep here was most of a short call's overhead).
        let mut pause = Duration::from_micros(50);
        loop {
            let left = self.members();
            if left.is_empty() || Instant::now() >= deadline {
                return left.len();
            }
            for pid in left {
                // SAFETY: sending a signal; a pid that exited meanwhile just fails.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }
}

/// The `cgroup.procs` files of a call's cgroup, owned, for a `pre_exec` hook.
#[derive(Debug, Clone)]
pub struct Joiner {
    procs: Vec<CString>,
}

impl Joiner {
    /// Moves the calling process into the cgroup. Only async-signal-safe calls: meant for
    /// `pre_exec`, between fork and exec, so the command is born inside its limits.
    ///
    /// # Errors
    ///
    /// The OS error of the failing `open` or `write`.
    pub fn join_self(&self) -> std::io::Result<()> {
        for path in &self.procs {
            // SAFETY: open/write/close on a NUL-terminated path prepared before fork.
            unsafe {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

impl Drop for CallGroup {
    fn drop(&mut self) {
        if self.kill_all() > 0 {
            tracing::error!(dirs = ?self.tree.dirs, "processes survived SIGKILL in a call's cgroup");
        }
        for d in &self.tree.dirs {
            // A cgroup is removed with rmdir once empty (its files go with it), the deepest
            // first.
            for dir in subtree(d).iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}
