//! Native tiers: when a workload needs native code, it runs as an allow-listed command in a
//! sandbox whose strength policy chooses. Cordon drives the isolation programs Debian ships;
//! it never reimplements a runtime.
//!
//! ```text
//! argv ──resolve (name on the allow-list? the file it names)──▶ NativeCall
//!      ──tier.run──▶ bwrap | crun | runsc, born inside a fresh cgroup
//!      ──supervise──▶ output under its cap, the deadline, the whole tree killed, the
//!                     cgroup asked which limit was hit ──▶ NativeOutput
//!      ──or──▶ a QEMU microVM of its own, whose agent does the same inside ──▶ NativeOutput
//! ```
//!
//! Tiers: **process** (bubblewrap), **container** (crun), **gvisor** (runsc) and **microvm**
//! (QEMU's `microvm` machine, KVM where it can boot the guest, TCG where it cannot).

// Starting a sandboxed child takes a few raw system calls between fork and exec (joining the
// cgroup, handing bwrap its seccomp filter) and signals to kill a tree; each `unsafe` block
// says why it is sound. The rest of the workspace denies unsafe code.
#![allow(unsafe_code)]

pub mod cgroup;
mod container;
mod launcher;
mod microvm;
mod process;
mod resolve;
mod seccomp;
mod supervise;
mod view;
mod watch;

pub use container::{ContainerTier, Runtime};
pub use microvm::{Accel, MicrovmTier};
pub use process::ProcessTier;
pub use resolve::{Resolved, SANDBOX_PATH, Unresolved, command_name, resolve};
pub use watch::Attempt;

use cordon_core::{Backend, ErrorCode};
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

/// Where the native tiers find their images, and how many microVMs they keep booted.
#[derive(Debug, Clone)]
pub struct TierSettings {
    /// The container tiers' root filesystem (`make rootfs`); commands are resolved in it.
    pub rootfs: PathBuf,
    /// The microVM image (`make vm-image`): `vmlinux`, `initrd.cpio`, `root.ext4`.
    pub vm_image: PathBuf,
    /// Booted, never-used microVMs kept ready for calls (0: each call boots its own).
    pub microvm_pool: usize,
}

impl TierSettings {
    /// `make`'s layout: the VM image in `vm` beside `rootfs`, and a pool of two VMs.
    pub fn beside(rootfs: PathBuf) -> TierSettings {
        TierSettings {
            vm_image: rootfs.with_file_name("vm"),
            rootfs,
            microvm_pool: 2,
        }
    }
}

/// Between fork and exec: moves the child into a mount namespace of its own whose mounts
/// do not propagate back, so what it (or the host, through `/proc/PID/ns/mnt`) mounts or
/// unmounts there never touches the host's mount table.
///
/// # Safety
///
/// Call only in a `pre_exec` hook: it makes raw, async-signal-safe system calls only.
pub(crate) unsafe fn enter_private_mount_namespace() -> std::io::Result<()> {
    // SAFETY: unshare and mount with static, NUL-terminated arguments.
    let failed = unsafe {
        libc::unshare(libc::CLONE_NEWNS) != 0
            || libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
    };
    if failed {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Where a command's workspace appears inside every tier.
pub const WORKSPACE: &str = "/workspace";

/// A workspace directory on the host, bound at [`WORKSPACE`].
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The host directory.
    pub host: PathBuf,
    /// Read-write (`true`) or read-only.
    pub writable: bool,
}

/// What the command may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeLimits {
    /// Wall-clock deadline; past it the whole tree is killed.
    pub timeout: Duration,
    /// Memory of the whole tree.
    pub memory_bytes: u64,
    /// Processes and threads at once (a fork bomb stops here).
    pub pids: u64,
    /// Cap on each of stdout and stderr.
    pub output_bytes: u64,
    /// CPU time per 100 ms, in µs (100_000 is one core).
    pub cpu_quota_us: u64,
}

impl Default for NativeLimits {
    fn default() -> Self {
        NativeLimits {
            timeout: Duration::from_secs(30),
            memory_bytes: 256 << 20,
            pids: 100,
            output_bytes: 1 << 20,
            cpu_quota_us: 100_000,
        }
    }
}

/// One command to run.
#[derive(Debug, Clone)]
pub struct NativeCall {
    /// The resolved program ([`resolve`]): never a string straight from a caller.
    pub program: PathBuf,
    /// Its arguments (argv\[1..\]); never through a shell.
    pub args: Vec<String>,
    /// The environment: empty unless granted.
    pub env: Vec<(String, String)>,
    /// Its stdin; closed when `None`.
    pub stdin: Option<Vec<u8>>,
    /// The workspace, when granted.
    pub workspace: Option<Workspace>,
    /// Its limits.
    pub limits: NativeLimits,
}

impl NativeCall {
    /// `program args...` with nothing granted and the default limits.
    pub fn new(program: PathBuf, args: Vec<String>) -> NativeCall {
        NativeCall {
            program,
            args,
            env: Vec::new(),
            stdin: None,
            workspace: None,
            limits: NativeLimits::default(),
        }
    }
}

/// Which limit stopped a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It ran past its deadline.
    Deadline,
    /// The OOM killer stopped it at its memory limit.
    Memory,
    /// It tried to start more processes than it may.
    Processes,
    /// It wrote more than its output cap.
    Output,
    /// It made a system call that reaches past the sandbox: the filter killed it, or the
    /// watcher (process and container tiers) stopped it (an id change, a set-id bit).
    Syscall,
    /// It tried to reach another machine; the watcher (process and container tiers)
    /// stopped it.
    Network,
    /// It tried to write where its sandbox is read-only (its root, `/usr`, an image's
    /// files; not a read-only workspace, where the grant says so); the watcher stopped it.
    ReadOnly,
    /// It named a place where a host keeps credentials (`/etc/shadow`, `/etc/ssh`, a home's
    /// `.ssh` or `.aws`, ...), which no sandbox shows; the watcher stopped it.
    HostFile,
}

impl Stopped {
    /// The error code a call stopped this way ends with.
    pub fn code(self) -> ErrorCode {
        match self {
            Stopped::Deadline => ErrorCode::DeadlineExceeded,
            Stopped::Memory => ErrorCode::MemoryLimit,
            Stopped::Processes => ErrorCode::ProcessLimit,
            Stopped::Output => ErrorCode::OutputLimit,
            Stopped::Syscall => ErrorCode::SyscallDenied,
            Stopped::Network => ErrorCode::NetworkDenied,
            Stopped::ReadOnly => ErrorCode::ReadOnly,
            Stopped::HostFile => ErrorCode::PathEscape,
        }
    }

    /// `Syscall` when the command died of the seccomp filter: SIGSYS itself, or the
    /// 128 + SIGSYS a runtime (bwrap, crun, runsc, the microVM's agent) exits with for it.
    pub(crate) fn by_filter(code: Option<i32>, signal: Option<i32>) -> Option<Stopped> {
        (signal == Some(libc::SIGSYS) || code == Some(seccomp::KILLED_BY_FILTER))
            .then_some(Stopped::Syscall)
    }
}

/// How a command ended.
#[derive(Debug, Clone)]
pub struct NativeOutput {
    /// Its exit status, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// What it wrote, up to the cap.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr, up to the cap.
    pub stderr: Vec<u8>,
    /// From start to exit.
    pub wall: Duration,
    /// The most memory the tree held, when the cgroup says.
    pub peak_memory: Option<u64>,
    /// The limit that stopped it, if one did.
    pub stopped: Option<Stopped>,
    /// What the watcher stopped it for, if it did (then `stopped` says how).
    pub attempt: Option<Attempt>,
    /// Processes still alive after SIGKILL at the end (must be 0).
    pub survivors: usize,
    /// How a microVM ran the guest's CPU (`kvm` or `tcg`); `None` in the other tiers.
    pub accel: Option<&'static str>,
}

/// A native tier ready to run commands.
#[derive(Debug)]
pub enum Sandbox {
    /// bubblewrap.
    Process(ProcessTier),
    /// crun or runsc.
    Container(ContainerTier),
    /// QEMU microvm.
    Microvm(MicrovmTier),
}

impl Sandbox {
    /// Probes `backend` on this host with `settings`' images.
    ///
    /// # Errors
    ///
    /// Why the tier cannot run here.
    pub async fn probe(backend: Backend, settings: &TierSettings) -> Result<Sandbox, String> {
        let rootfs = &settings.rootfs;
        match backend {
            Backend::Process => ProcessTier::probe().await.map(Sandbox::Process),
            Backend::Container => ContainerTier::probe(Runtime::Crun, rootfs)
                .await
                .map(Sandbox::Container),
            Backend::Gvisor => ContainerTier::probe(Runtime::Runsc, rootfs)
                .await
                .map(Sandbox::Container),
            Backend::Microvm => MicrovmTier::probe(settings).await.map(Sandbox::Microvm),
            Backend::Wasm => Err("wasm is not a native tier".into()),
        }
    }

    /// The root commands are resolved against.
    pub fn root(&self) -> &Path {
        match self {
            Sandbox::Process(_) => Path::new("/"),
            Sandbox::Container(c) => c.rootfs(),
            Sandbox::Microvm(m) => m.rootfs(),
        }
    }

    /// What the tier runs on, for `cordon doctor`.
    pub fn describe(&self) -> String {
        match self {
            Sandbox::Process(p) => format!("bubblewrap, {}", p.cgroups().describe()),
            Sandbox::Container(c) => c.describe(),
            Sandbox::Microvm(m) => m.describe(),
        }
    }

    /// Runs `call` to its end.
    ///
    /// # Errors
    ///
    /// When the sandbox itself cannot be set up.
    pub async fn run(&self, call: &NativeCall) -> Result<NativeOutput, String> {
        match self {
            Sandbox::Process(p) => p.run(call).await,
            Sandbox::Container(c) => c.run(call).await,
            Sandbox::Microvm(m) => m.run(call).await,
        }
    }
}
