//! The container tiers: an OCI runtime bundle written here (`oci-spec`) and run by `crun`
//! (**container**) or gVisor's `runsc` (**gvisor**, a user-space kernel between the command
//! and the host's).
//!
//! The bundle: a read-only root (`make rootfs`: Debian minbase with python3), `/tmp` a
//! tmpfs, the workspace bound per its grant, a fresh network namespace with only loopback,
//! PID/IPC/UTS/mount/cgroup namespaces and a user namespace (uid 1001 inside, an unprivileged
//! uid outside), no capabilities, `noNewPrivileges`, the seccomp profile of the process tier,
//! and memory / pids / CPU limits on the call's own cgroup, which the runtime and the
//! container are born in. Under crun the profile also hands the watched calls to the host
//! (`SCMP_ACT_NOTIFY`, its listener sent to a socket in the bundle): connections off
//! loopback, id changes and set-id bits stop the call as in the process tier (`watch`).
//! Debian 12's runsc has no such action; there the profile answers set-id modes `EPERM`.
//!
//! On a hybrid cgroup host crun refuses to start ("cgroups in hybrid mode not supported")
//! while the empty v2 tree is mounted; it runs in a private mount namespace with that mount
//! removed, and then enforces the v1 memory and pids limits.

use crate::cgroup::{Caps, Layout};
use crate::supervise::supervise;
use crate::watch::{self, SANDBOX_IDS, Watcher};
use crate::{NativeCall, NativeOutput, seccomp};
use oci_spec::runtime::{
    Capabilities, LinuxBuilder, LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompOperator,
    LinuxSyscallBuilder, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// The profile's entries handing the watched calls to the host (the set-id modes are added
/// with the other mode rules): `connect`, `sendto` with an address, the id setters,
/// `setgroups`, `setsid`, and every call that reaches a file by path.
fn watched_calls() -> Result<Vec<oci_spec::runtime::LinuxSyscall>, String> {
    let e = |e: oci_spec::OciSpecError| format!("the container spec: {e}");
    let notify = |names: Vec<String>| {
        LinuxSyscallBuilder::default()
            .names(names)
            .action(LinuxSeccompAction::ScmpActNotify)
    };
    let with_address = LinuxSeccompArgBuilder::default()
        .index(4usize)
        .value(0u64)
        .op(LinuxSeccompOperator::ScmpCmpNe)
        .build()
        .map_err(e)?;
    let mut always: Vec<String> = (watch::ID_SETTERS.iter())
        .map(|(name, ..)| (*name).to_owned())
        .collect();
    always.extend(["connect", "setgroups", "setsid"].map(str::to_owned));
    always.extend(
        watch::PATH_CALLS
            .iter()
            .map(|(name, ..)| (*name).to_owned()),
    );
    Ok(vec![
        notify(always).build().map_err(e)?,
        notify(vec!["sendto".to_owned()])
            .args(vec![with_address])
            .build()
            .map_err(e)?,
    ])
}

/// Which OCI runtime runs the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// crun: namespaces and cgroups on the host's kernel.
    Crun,
    /// gVisor's runsc, ptrace platform (the one that works on these machines' kernels).
    Runsc,
}

impl Runtime {
    fn program(self) -> &'static str {
        match self {
            Runtime::Crun => "crun",
            Runtime::Runsc => "runsc",
        }
    }
}

/// The uid range the container's user namespace maps to on the host: root inside is
/// this uid outside, and the command (uid 1001 inside) is `HOST_UID_BASE + 1001`.
const HOST_UID_BASE: u32 = 100_000;

/// Memory the gVisor sandbox itself needs beside the command's (measured: ~100 MiB for the
/// sentry and gofer at rest).
const GVISOR_MEMORY: u64 = 192 << 20;

/// Host threads the gVisor sandbox itself runs beside the command's.
const GVISOR_PIDS: u64 = 128;

/// A host that can run one of the container tiers.
#[derive(Debug)]
pub struct ContainerTier {
    runtime: Runtime,
    program: PathBuf,
    rootfs: PathBuf,
    cgroups: Layout,
    /// The empty cgroup v2 mount crun must not see (hybrid hosts only).
    hide_unified: Option<CString>,
    /// Where the runtime keeps its container state and this tier its bundles.
    state: PathBuf,
}

impl ContainerTier {
    /// Checks what the tier needs (the runtime's binary, the root filesystem, cgroups) and
    /// that a container actually starts (`/usr/bin/true` inside one).
    ///
    /// # Errors
    ///
    /// Why the tier cannot run here.
    pub async fn probe(runtime: Runtime, rootfs: &Path) -> Result<ContainerTier, String> {
        let name = runtime.program();
        let program = crate::process::which(name).ok_or(format!("{name} is not installed"))?;
        if !rootfs.join("usr/bin/python3").exists() {
            return Err(format!(
                "no root filesystem at {} (build it with `make rootfs`)",
                rootfs.display()
            ));
        }
        let cgroups = Layout::detect()?;
        let unified = Path::new("/sys/fs/cgroup/unified");
        let hide_unified = (matches!(cgroups, Layout::V1 { .. })
            && unified.join("cgroup.controllers").exists())
        .then(|| CString::new("/sys/fs/cgroup/unified"))
        .transpose()
        .map_err(|e| e.to_string())?;
        let state = std::env::temp_dir().join(format!("cordon-{name}"));
        std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
        let tier = ContainerTier {
            runtime,
            program,
            rootfs: rootfs.to_path_buf(),
            cgroups,
            hide_unified,
            state,
        };
        let trial = NativeCall::new(PathBuf::from("/usr/bin/true"), Vec::new());
        let out = tier.run(&trial).await?;
        if out.code != Some(0) {
            return Err(format!(
                "{name} cannot start a container here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(tier)
    }

    /// What the tier runs on (for `cordon doctor`).
    pub fn describe(&self) -> String {
        let root = self.rootfs.display();
        match self.runtime {
            Runtime::Crun => format!("crun, root {root}, {}", self.cgroups.describe()),
            Runtime::Runsc => format!("runsc (ptrace platform), root {root}"),
        }
    }

    /// The root filesystem commands run in (resolve commands against it).
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// Runs `call` to its end in a fresh container, then deletes the container.
    ///
    /// # Errors
    ///
    /// When the bundle cannot be written or the runtime cannot be started.
    pub async fn run(&self, call: &NativeCall) -> Result<NativeOutput, String> {
        let limits = &call.limits;
        // gVisor's user-space kernel (the sentry, its gofer and a host thread per guest
        // thread) lives in the call's cgroup too: it gets room of its own on top of the
        // command's limits.
        let (tax_memory, tax_pids) = match self.runtime {
            Runtime::Crun => (0, 0),
            Runtime::Runsc => (GVISOR_MEMORY, GVISOR_PIDS),
        };
        let group = self.cgroups.create(Caps {
            memory: limits.memory_bytes.saturating_add(tax_memory),
            pids: limits.pids.saturating_add(tax_pids),
            cpu_quota_us: limits.cpu_quota_us,
        })?;
        let id = group.name().to_owned();
        let bundle = self.state.join(format!("bundle-{id}"));
        std::fs::create_dir_all(&bundle).map_err(|e| format!("{}: {e}", bundle.display()))?;
        // Short enough for a socket's path: /tmp/cordon-crun/bundle-call-<32 hex>/watch.sock.
        let watch_socket = bundle.join("watch.sock");
        let watcher = match self.runtime {
            Runtime::Crun => Some(Watcher::listen(&watch_socket, group.tree(), SANDBOX_IDS)?),
            Runtime::Runsc => None,
        };
        let spec = self.spec(call, watcher.is_some().then_some(watch_socket.as_path()))?;
        spec.save(bundle.join("config.json"))
            .map_err(|e| format!("writing the bundle: {e}"))?;

        let mut command = tokio::process::Command::new(&self.program);
        command
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        command.arg("--root").arg(self.state.join("state"));
        // The runtime manages no cgroup: it is born in the call's (below), and so is the
        // container. The limits are on the call's cgroup, which nothing else removes, so it
        // still says afterwards which limit was hit, and it is what the host kills.
        match self.runtime {
            Runtime::Crun => command.arg("--cgroup-manager=disabled"),
            // runsc ignores the bundle's seccomp profile unless told to apply it inside
            // the sandbox, on top of gVisor's own.
            Runtime::Runsc => command.args([
                "--platform=ptrace",
                "--network=none",
                "--ignore-cgroups",
                "--oci-seccomp",
            ]),
        };
        command.arg("run").arg("--bundle").arg(&bundle).arg(&id);
        let joiner = group.joiner();
        let unified = self.hide_unified.clone();
        // SAFETY: only unshare, mount, umount2, open, write and close between fork and exec,
        // on values prepared before the fork.
        unsafe {
            command.pre_exec(move || {
                joiner.join_self()?;
                if let Some(unified) = &unified {
                    crate::enter_private_mount_namespace()?;
                    if libc::umount2(unified.as_ptr(), libc::MNT_DETACH) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut out = supervise(command, &group, call.stdin.as_deref(), limits).await;
        if let Some(watcher) = watcher {
            watcher.finish(&mut out);
        }
        // `run` removes the container's state when the container exits; when the host had to
        // kill the tree (or the runtime could not start), the state is removed here.
        let clean = out
            .as_ref()
            .is_ok_and(|o| o.stopped.is_none() && o.signal.is_none());
        if !clean {
            self.delete(&id).await;
        }
        let _ = std::fs::remove_dir_all(&bundle);
        out
    }

    async fn delete(&self, id: &str) {
        let _ = tokio::process::Command::new(&self.program)
            .arg("--root")
            .arg(self.state.join("state"))
            .args(["delete", "--force", id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await;
    }

    /// The bundle's spec; `watch_socket`, where the runtime sends the watcher's listener
    /// (crun), makes the profile hand the watched calls to the host.
    fn spec(&self, call: &NativeCall, watch_socket: Option<&Path>) -> Result<Spec, String> {
        let e = |e: oci_spec::OciSpecError| format!("the container spec: {e}");
        let mut env: Vec<String> = (crate::resolve::SANDBOX_ENV.iter())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.extend(call.env.iter().map(|(k, v)| format!("{k}={v}")));
        let mut args = vec![call.program.display().to_string()];
        args.extend(call.args.iter().cloned());
        let cwd = if call.workspace.is_some() {
            crate::WORKSPACE
        } else {
            "/tmp"
        };
        let no_caps = Capabilities::new();
        let process = ProcessBuilder::default()
            .terminal(false)
            .user(
                UserBuilder::default()
                    .uid(SANDBOX_IDS.uid)
                    .gid(SANDBOX_IDS.gid)
                    .build()
                    .map_err(e)?,
            )
            .args(args)
            .env(env)
            .cwd(cwd)
            .no_new_privileges(true)
            .capabilities(
                oci_spec::runtime::LinuxCapabilitiesBuilder::default()
                    .bounding(no_caps.clone())
                    .effective(no_caps.clone())
                    .inheritable(no_caps.clone())
                    .permitted(no_caps.clone())
                    .ambient(no_caps)
                    .build()
                    .map_err(e)?,
            )
            .build()
            .map_err(e)?;
        let mount = |dest: &str, typ: &str, source: &str, options: &[&str]| {
            MountBuilder::default()
                .destination(dest)
                .typ(typ)
                .source(source)
                .options(options.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())
                .build()
        };
        let mut mounts = vec![
            mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]).map_err(e)?,
            mount(
                "/dev",
                "tmpfs",
                "tmpfs",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            )
            .map_err(e)?,
            mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            )
            .map_err(e)?,
            mount(
                "/tmp",
                "tmpfs",
                "tmpfs",
                &["nosuid", "nodev", "mode=1777", "size=65536k"],
            )
            .map_err(e)?,
        ];
        if let Some(w) = &call.workspace {
            let mode = if w.writable { "rw" } else { "ro" };
            let host = w.host.display().to_string();
            mounts.push(
                mount(
                    crate::WORKSPACE,
                    "bind",
                    &host,
                    &["rbind", "nosuid", "nodev", mode],
                )
                .map_err(e)?,
            );
        }
        let ns = |t| LinuxNamespaceBuilder::default().typ(t).build();
        let namespaces = [
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Cgroup,
            LinuxNamespaceType::User,
        ]
        .into_iter()
        .map(ns)
        .collect::<Result<Vec<_>, _>>()
        .map_err(e)?;
        let mapping = LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(HOST_UID_BASE)
            .size(65_536u32)
            .build()
            .map_err(e)?;
        let names = |calls: &[(&str, i64)]| {
            calls
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect::<Vec<_>>()
        };
        // runsc (Debian 12's, 20221219) refuses a profile with SCMP_ACT_KILL_PROCESS
        // ("invalid action"); it kills the thread instead, which in a single-threaded
        // program is the process (SIGSYS, as the other tiers report it).
        let kill = match self.runtime {
            Runtime::Crun => LinuxSeccompAction::ScmpActKillProcess,
            Runtime::Runsc => LinuxSeccompAction::ScmpActKill,
        };
        let refused = LinuxSyscallBuilder::default()
            .names(names(seccomp::REFUSED))
            .action(kill)
            .build()
            .map_err(e)?;
        let answered = LinuxSyscallBuilder::default()
            .names(names(seccomp::ANSWERED_EPERM))
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(libc::EPERM as u32)
            .build()
            .map_err(e)?;
        let mut syscalls = vec![refused, answered];
        // The set-id modes (see `seccomp`): `EPERM`, or handed to the watcher where one runs.
        let set_id_action = match watch_socket {
            Some(_) => LinuxSeccompAction::ScmpActNotify,
            None => LinuxSeccompAction::ScmpActErrno,
        };
        if watch_socket.is_some() {
            syscalls.extend(watched_calls()?);
        }
        // One entry per call and bit, `mode & bit == bit`; fchmodat2 is left to the
        // runtime's own kernel where its libseccomp lacks the name.
        for (name, _, index) in seccomp::MODE_SETTERS
            .iter()
            .filter(|(n, ..)| *n != "fchmodat2")
        {
            for bit in seccomp::SET_ID_BITS {
                let arg = LinuxSeccompArgBuilder::default()
                    .index(usize::from(*index))
                    .value(bit)
                    .value_two(bit)
                    .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                    .build()
                    .map_err(e)?;
                let mut entry = LinuxSyscallBuilder::default()
                    .names(vec![(*name).to_owned()])
                    .action(set_id_action)
                    .args(vec![arg]);
                if watch_socket.is_none() {
                    entry = entry.errno_ret(libc::EPERM as u32);
                }
                syscalls.push(entry.build().map_err(e)?);
            }
        }
        let mut seccomp = LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActAllow)
            .syscalls(syscalls);
        if let Some(socket) = watch_socket {
            seccomp = seccomp.listener_path(socket);
        }
        let seccomp = seccomp.build().map_err(e)?;
        let masked = [
            "/proc/acpi",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
        ];
        let readonly = [
            "/proc/asound",
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ];
        let linux = LinuxBuilder::default()
            .namespaces(namespaces)
            .uid_mappings(vec![mapping])
            .gid_mappings(vec![mapping])
            .seccomp(seccomp)
            .masked_paths(masked.map(str::to_owned).to_vec())
            .readonly_paths(readonly.map(str::to_owned).to_vec())
            .build()
            .map_err(e)?;
        SpecBuilder::default()
            .version("1.0.2")
            .root(
                RootBuilder::default()
                    .path(&self.rootfs)
                    .readonly(true)
                    .build()
                    .map_err(e)?,
            )
            .hostname("sandbox")
            .process(process)
            .mounts(mounts)
            .linux(linux)
            .build()
            .map_err(e)
    }
}
