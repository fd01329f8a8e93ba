//! The microVM tier: each call in a QEMU `microvm` machine of its own. Debian's kernel, an
//! initramfs whose `/init` is `cordon-vm-agent`, the container tiers' root filesystem as a
//! read-only disk, no network device, memory and vCPUs from the call's limits. The agent runs
//! the command (uid 1001, no capabilities, the same seccomp filter as the other tiers, a
//! cgroup with the call's memory and pids limits) and answers over virtio-serial; the VM is
//! then killed. A VM never serves a second call.
//!
//! ```text
//! pool (booted, never used) ──take──▶ bind the workspace into the VM's share
//!   ▲  refilled on threads           ──▶ Request ─▶ agent ─▶ Stdout, Stderr, Exit ─▶ kill
//!   └─ cold boot when empty or the call needs a bigger machine
//! ```
//!
//! Booting costs seconds when the CPU is emulated, so a pool of booted VMs (refilled in the
//! background) makes a call cost only the command. Whether KVM can boot the guest is probed
//! by booting one (a `/dev/kvm` that exists may still fail to run a stock kernel); when it
//! cannot, QEMU emulates the CPU (TCG) and the tier says so in `cordon doctor` and receipts.
//!
//! The workspace: every VM's QEMU runs in a private mount namespace and exports one
//! directory over 9p; a call's workspace is bind-mounted onto `workspace` inside it just
//! before the request, read-only when the grant is. So pooled VMs serve calls with workspaces
//! too, and nothing is mounted in the host's own namespace.

use crate::{NativeCall, NativeOutput, Stopped, TierSettings, WORKSPACE, seccomp};
use cordon_vm_agent::{
    Exit, Hello, PORT_NAME, Request, SHARE_TAG, SHARE_WORKSPACE, Tag, header, parse_header,
};
use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a VM may take to boot before it is given up (an emulated CPU on a busy host is
/// slow; a stuck one is killed).
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long KVM gets to prove it can boot the guest.
const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(15);
/// Memory a VM needs besides the command's limit: the kernel, the agent, the page cache.
const VM_OVERHEAD_MIB: u64 = 192;
/// How long past the deadline the host waits for the agent's own answer before killing the VM.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// How QEMU runs the guest's CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// QEMU's emulator (no usable KVM).
    Tcg,
}

impl Accel {
    /// `kvm` or `tcg`, as receipts and `cordon doctor` name it.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The size of a machine: VMs of one shape are interchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    memory_mib: u64,
    vcpus: u64,
}

impl Shape {
    /// The smallest machine that holds `call`'s limits.
    fn for_call(call: &NativeCall) -> Shape {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        Shape {
            memory_mib: call.limits.memory_bytes.div_ceil(1 << 20) + VM_OVERHEAD_MIB,
            vcpus: call.limits.cpu_quota_us.div_ceil(100_000).clamp(1, cores),
        }
    }

    fn holds(self, other: Shape) -> bool {
        self.memory_mib >= other.memory_mib && self.vcpus == other.vcpus
    }
}

/// A host that can run the microVM tier.
#[derive(Debug, Clone)]
pub struct MicrovmTier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    qemu: PathBuf,
    image: PathBuf,
    rootfs: PathBuf,
    accel: Accel,
    /// Why KVM is not used, when it is not.
    no_kvm: Option<String>,
    seccomp: Vec<u8>,
    pool_shape: Shape,
    pool_size: usize,
    pool: Mutex<VecDeque<BootedVm>>,
    booting: AtomicUsize,
}

impl MicrovmTier {
    /// Checks what the tier needs (QEMU, the image `make vm-image` builds, a seccomp filter),
    /// decides between KVM and TCG by booting a guest with KVM, then boots one VM the way
    /// calls will get them: it is the pool's first (even with a pool of 0, so that a
    /// one-shot command does not boot twice).
    ///
    /// # Errors
    ///
    /// Why the tier cannot run here.
    pub async fn probe(settings: &TierSettings) -> Result<MicrovmTier, String> {
        let qemu = crate::process::which("qemu-system-x86_64")
            .ok_or("qemu-system-x86_64 is not installed")?;
        let image = settings.vm_image.clone();
        for file in ["vmlinux", "initrd.cpio", "root.ext4"] {
            if !image.join(file).is_file() {
                return Err(format!(
                    "no microVM image at {} (build it with `make vm-image`)",
                    image.display()
                ));
            }
        }
        let seccomp = seccomp::bpf_bytes(seccomp::SetIdModes::Answered)?;
        let pool_shape = Shape::for_call(&NativeCall::new(PathBuf::new(), Vec::new()));
        let mut inner = Inner {
            qemu,
            image,
            rootfs: settings.rootfs.clone(),
            accel: Accel::Tcg,
            no_kvm: None,
            seccomp,
            pool_shape,
            pool_size: settings.microvm_pool,
            pool: Mutex::new(VecDeque::new()),
            booting: AtomicUsize::new(0),
        };
        let inner = tokio::task::spawn_blocking(move || {
            match inner.kvm_boots() {
                Ok(()) => inner.accel = Accel::Kvm,
                Err(why) => inner.no_kvm = Some(why),
            }
            // Warmed only if it will wait in a pool (a one-shot command uses it at once).
            let warm = inner.pool_size > 0;
            let first = inner.boot(inner.pool_shape, inner.accel, warm, BOOT_TIMEOUT)?;
            if let Ok(mut pool) = inner.pool.lock() {
                pool.push_back(first);
            }
            Ok::<_, String>(inner)
        })
        .await
        .map_err(|e| e.to_string())??;
        let tier = MicrovmTier {
            inner: Arc::new(inner),
        };
        tier.inner.refill();
        Ok(tier)
    }

    /// KVM or TCG.
    pub fn accel(&self) -> Accel {
        self.inner.accel
    }

    /// What the tier runs on, for `cordon doctor`.
    pub fn describe(&self) -> String {
        let i = &self.inner;
        let accel = match (&i.accel, &i.no_kvm) {
            (Accel::Kvm, _) => "KVM".to_owned(),
            (Accel::Tcg, Some(why)) => format!("TCG, emulated CPU: {why}"),
            (Accel::Tcg, None) => "TCG, emulated CPU".to_owned(),
        };
        format!(
            "qemu microvm ({accel}), image {}, pool of {} VMs",
            i.image.display(),
            i.pool_size
        )
    }

    /// The root filesystem the VM's disk is built from (resolve commands against it).
    pub fn rootfs(&self) -> &Path {
        &self.inner.rootfs
    }

    /// How many booted VMs wait in the pool right now.
    pub fn ready(&self) -> usize {
        self.inner.pool.lock().map_or(0, |p| p.len())
    }

    /// Runs `call` in a VM of its own (from the pool when one fits), then kills the VM.
    ///
    /// # Errors
    ///
    /// When no VM can be booted or the agent does not answer as the protocol says.
    pub async fn run(&self, call: &NativeCall) -> Result<NativeOutput, String> {
        let shape = Shape::for_call(call);
        let pooled = self.inner.take(shape);
        self.inner.refill();
        let vm = match pooled {
            Some(vm) => vm,
            None => {
                let inner = self.inner.clone();
                tokio::task::spawn_blocking(move || {
                    inner.boot(shape, inner.accel, false, BOOT_TIMEOUT)
                })
                .await
                .map_err(|e| e.to_string())??
            }
        };
        let out = vm.serve(call, &self.inner.seccomp).await;
        let mut out = out?;
        out.accel = Some(self.inner.accel.name());
        Ok(out)
    }
}

impl Inner {
    /// A pooled VM that holds `shape`.
    fn take(&self, shape: Shape) -> Option<BootedVm> {
        if !self.pool_shape.holds(shape) {
            return None;
        }
        self.pool.lock().ok()?.pop_front()
    }

    /// Starts booting VMs until ready and booting ones make a full pool.
    fn refill(self: &Arc<Self>) {
        loop {
            let ready = self.pool.lock().map_or(0, |p| p.len());
            let booting = self.booting.load(Ordering::SeqCst);
            if ready + booting >= self.pool_size {
                return;
            }
            if self
                .booting
                .compare_exchange(booting, booting + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                continue;
            }
            let inner = self.clone();
            // A thread, not a task: the pool outlives whichever runtime asked for the call.
            std::thread::spawn(move || {
                match inner.boot(inner.pool_shape, inner.accel, true, BOOT_TIMEOUT) {
                    Ok(vm) => {
                        if let Ok(mut pool) = inner.pool.lock() {
                            pool.push_back(vm);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "a pool microVM did not boot"),
                }
                inner.booting.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    /// Whether KVM can boot the guest, answered once per host boot (the answer is kept in the
    /// temp directory): a VM is booted with KVM and must say hello.
    fn kvm_boots(&self) -> Result<(), String> {
        if std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_err()
        {
            return Err("/dev/kvm cannot be opened".into());
        }
        let boot_id =
            std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        let kernel_len = std::fs::metadata(self.image.join("vmlinux")).map_or(0, |m| m.len());
        let key = format!("{} {} {kernel_len}", boot_id.trim(), self.qemu.display());
        let cache = std::env::temp_dir().join("cordon-microvm-kvm-probe");
        // Only an answer this user wrote counts: anyone may create files in /tmp.
        // SAFETY: geteuid cannot fail and touches no memory.
        let mine = std::fs::symlink_metadata(&cache)
            .is_ok_and(|m| m.is_file() && m.uid() == unsafe { libc::geteuid() });
        if let Some(answer) = mine
            .then(|| std::fs::read_to_string(&cache).ok())
            .flatten()
            .and_then(|s| s.strip_prefix(&format!("{key}\n")).map(str::to_owned))
        {
            return match answer.strip_prefix("no: ") {
                Some(why) => Err(why.trim().to_owned()),
                None => Ok(()),
            };
        }
        let answer = self
            .boot(
                Shape {
                    memory_mib: 256,
                    vcpus: 1,
                },
                Accel::Kvm,
                false,
                KVM_PROBE_TIMEOUT,
            )
            .map(drop)
            .map_err(|e| format!("KVM cannot boot the guest ({e})"));
        let line = match &answer {
            Ok(()) => "yes".to_owned(),
            Err(why) => format!("no: {why}"),
        };
        // Never through a link someone else planted: replace our own file, or create anew.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).custom_flags(libc::O_NOFOLLOW);
        if mine {
            options.truncate(true);
        } else {
            options.create_new(true).mode(0o644);
        }
        if let Ok(mut file) = options.open(&cache) {
            let _ = file.write_all(format!("{key}\n{line}\n").as_bytes());
        }
        answer
    }

    /// Boots one VM and waits for its agent's hello; a `warm` one first runs the commands
    /// calls most often start, so a pooled call does not pay for QEMU translating them.
    fn boot(
        &self,
        shape: Shape,
        accel: Accel,
        warm: bool,
        timeout: Duration,
    ) -> Result<BootedVm, String> {
        let dir = std::env::temp_dir().join(format!("cordon-vm-{}", uuid::Uuid::new_v4()));
        let share = dir.join("share");
        std::fs::create_dir_all(share.join(SHARE_WORKSPACE))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut vm = BootedVm {
            child: None,
            port: None,
            dir,
        };
        let socket = vm.dir.join("agent.sock");
        let log = std::fs::File::create(vm.dir.join("qemu.log")).map_err(|e| e.to_string())?;
        let mut command = std::process::Command::new(&self.qemu);
        command
            .args(self.arguments(shape, accel, warm, &vm.dir, &socket))
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // SAFETY: the hook only enters a private mount namespace (raw system calls).
        // Workspaces are bound inside it only, never on the host.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| crate::enter_private_mount_namespace());
        }
        let started = Instant::now();
        // Bound to this process: a VM waiting in the pool must not outlive a killed server.
        vm.child = Some(
            crate::launcher::spawn_bound(command)
                .map_err(|e| format!("cannot start {}: {e}", self.qemu.display()))?,
        );
        let mut port = loop {
            match UnixStream::connect(&socket) {
                Ok(port) => break port,
                Err(_) if started.elapsed() < timeout && vm.running() => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(vm.failure(&format!("no agent socket: {e}"))),
            }
        };
        port.set_read_timeout(Some(
            timeout
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(1)),
        ))
        .map_err(|e| e.to_string())?;
        let hello: Hello = match cordon_vm_agent::read_frame(&mut port, 4096) {
            Ok((Tag::Hello, payload)) => serde_json::from_slice(&payload)
                .map_err(|e| vm.failure(&format!("a malformed hello: {e}")))?,
            Ok((tag, _)) => return Err(vm.failure(&format!("expected hello, got {tag:?}"))),
            Err(e) => {
                let why = if vm.running() {
                    format!("no hello within {timeout:?}: {e}")
                } else {
                    "QEMU exited before the guest was up".to_owned()
                };
                return Err(vm.failure(&why));
            }
        };
        if !hello.share {
            return Err(vm.failure("the guest did not mount its share"));
        }
        port.set_read_timeout(None).map_err(|e| e.to_string())?;
        tracing::debug!(
            accel = accel.name(),
            booted_ms = started.elapsed().as_millis() as u64,
            "microVM ready"
        );
        vm.port = Some(port);
        Ok(vm)
    }

    fn arguments(
        &self,
        shape: Shape,
        accel: Accel,
        warm: bool,
        dir: &Path,
        socket: &Path,
    ) -> Vec<String> {
        let image = |f: &str| self.image.join(f).display().to_string();
        let mut cmdline = "console=ttyS0 quiet panic=-1".to_owned();
        if warm {
            cmdline.push_str(" cordon.warm=1");
        }
        let cpu = match accel {
            Accel::Kvm => "host",
            Accel::Tcg => {
                // An emulated CPU calibrating its clock never finishes; tell the kernel.
                cmdline.push_str(" tsc_early_khz=2000000 lpj=8000000");
                "max"
            }
        };
        let fields = [
            "-M",
            "microvm,x-option-roms=off,rtc=off",
            "-accel",
            accel.name(),
            "-cpu",
            cpu,
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ];
        let mut a: Vec<String> = fields.map(str::to_owned).to_vec();
        a.extend([
            "-m".into(),
            format!("{}M", shape.memory_mib),
            "-smp".into(),
            shape.vcpus.to_string(),
            "-serial".into(),
            format!("file:{}", dir.join("console.log").display()),
            "-kernel".into(),
            image("vmlinux"),
            "-initrd".into(),
            image("initrd.cpio"),
            "-append".into(),
            cmdline,
            "-drive".into(),
            format!(
                "id=root,file={},format=raw,if=none,readonly=on",
                image("root.ext4")
            ),
            "-device".into(),
            "virtio-blk-device,drive=root".into(),
            "-chardev".into(),
            format!(
                "socket,id=agent,path={},server=on,wait=off",
                socket.display()
            ),
            "-device".into(),
            "virtio-serial-device".into(),
            "-device".into(),
            format!("virtserialport,chardev=agent,name={PORT_NAME}"),
            "-fsdev".into(),
            format!(
                "local,id=share,path={},security_model=none",
                dir.join("share").display()
            ),
            "-device".into(),
            format!("virtio-9p-device,fsdev=share,mount_tag={SHARE_TAG}"),
        ]);
        a
    }
}

/// A booted VM whose agent has said hello and waits for its one call. Dropped, it is killed
/// and its directory removed.
#[derive(Debug)]
struct BootedVm {
    child: Option<Child>,
    port: Option<UnixStream>,
    dir: PathBuf,
}

impl BootedVm {
    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// `what`, with the end of QEMU's and the guest's logs, after killing the VM.
    fn failure(&mut self, what: &str) -> String {
        self.kill();
        let tail = |f: &str| {
            let text = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().rev().take(3).collect();
            lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
        };
        let (qemu, console) = (tail("qemu.log"), tail("console.log"));
        let mut message = what.to_owned();
        if !qemu.is_empty() {
            message.push_str(&format!("; qemu: {qemu}"));
        }
        if !console.is_empty() {
            message.push_str(&format!("; console: {console}"));
        }
        message
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Serves `call`: binds its workspace, sends the request, reads the answer, kills the VM.
    async fn serve(mut self, call: &NativeCall, filter: &[u8]) -> Result<NativeOutput, String> {
        let pid = self.child.as_ref().map(Child::id).ok_or("the VM is gone")?;
        if let Some(ws) = &call.workspace {
            self.bind_workspace(pid, &ws.host, ws.writable).await?;
        }
        let std_port = self.port.take().ok_or("the VM has no port")?;
        std_port.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut port = tokio::net::UnixStream::from_std(std_port).map_err(|e| e.to_string())?;
        let limits = &call.limits;
        let mut env: Vec<(String, String)> = (crate::resolve::SANDBOX_ENV.iter())
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.extend(call.env.iter().cloned());
        let request = Request {
            program: call.program.display().to_string(),
            args: call.args.clone(),
            env,
            stdin: call.stdin.is_some(),
            workspace: call.workspace.as_ref().map(|w| w.writable),
            timeout_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
            memory_bytes: limits.memory_bytes,
            pids: limits.pids,
            output_bytes: limits.output_bytes,
            seccomp: filter.to_vec(),
        };
        let started = Instant::now();
        let answer = tokio::time::timeout(limits.timeout + DEADLINE_GRACE, async {
            let request = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
            write_frame(&mut port, Tag::Request, &request).await?;
            if let Some(stdin) = &call.stdin {
                write_frame(&mut port, Tag::Stdin, stdin).await?;
            }
            // The guest is untrusted: each stream is held to the call's cap.
            let cap = usize::try_from(limits.output_bytes).unwrap_or(usize::MAX);
            let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
            loop {
                let (tag, payload) = read_frame(&mut port, cap.max(64 << 10)).await?;
                match tag {
                    Tag::Stdout => stdout = payload,
                    Tag::Stderr => stderr = payload,
                    Tag::Exit => {
                        let exit: Exit = serde_json::from_slice(&payload)
                            .map_err(|e| format!("a malformed exit: {e}"))?;
                        return Ok::<_, String>((exit, stdout, stderr));
                    }
                    other => return Err(format!("unexpected {other:?} from the agent")),
                }
            }
        })
        .await;
        let wall = started.elapsed();
        let (exit, stdout, stderr) = match answer {
            Ok(Ok(answer)) => {
                // Answered, and powering itself off: killing QEMU and freeing its memory is
                // not the caller's wait.
                std::thread::spawn(move || drop(self));
                answer
            }
            Ok(Err(e)) => return Err(self.failure(&format!("the agent: {e}"))),
            // The agent did not answer by the deadline: the VM, and everything in it, is gone.
            Err(_) => {
                self.kill();
                (
                    Exit {
                        stopped: Some(cordon_vm_agent::Stopped::Deadline),
                        ..Exit::default()
                    },
                    Vec::new(),
                    Vec::new(),
                )
            }
        };
        if let Some(e) = exit.error {
            return Err(format!("the agent could not run the command: {e}"));
        }
        Ok(NativeOutput {
            code: exit.code,
            signal: exit.signal,
            stdout,
            stderr,
            wall,
            peak_memory: exit.peak_memory,
            stopped: exit
                .stopped
                .map(|s| match s {
                    cordon_vm_agent::Stopped::Deadline => Stopped::Deadline,
                    cordon_vm_agent::Stopped::Memory => Stopped::Memory,
                    cordon_vm_agent::Stopped::Processes => Stopped::Processes,
                    cordon_vm_agent::Stopped::Output => Stopped::Output,
                })
                .or_else(|| Stopped::by_filter(exit.code, exit.signal)),
            survivors: exit.survivors,
            attempt: None,
            accel: None,
        })
    }

    /// Binds `host` onto the share's `workspace` inside QEMU's own mount namespace (so the
    /// host's namespace never sees it), read-only unless `writable`.
    async fn bind_workspace(&self, pid: u32, host: &Path, writable: bool) -> Result<(), String> {
        let target = self.dir.join("share").join(SHARE_WORKSPACE);
        let namespace = format!("--mount=/proc/{pid}/ns/mnt");
        let mut steps = vec![vec![
            "mount".to_owned(),
            "--bind".to_owned(),
            host.display().to_string(),
            target.display().to_string(),
        ]];
        if !writable {
            steps.push(vec![
                "mount".to_owned(),
                "-o".to_owned(),
                "remount,bind,ro".to_owned(),
                target.display().to_string(),
            ]);
        }
        for step in steps {
            let out = tokio::process::Command::new("nsenter")
                .arg(&namespace)
                .arg("--")
                .args(&step)
                .output()
                .await
                .map_err(|e| format!("nsenter: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "binding the workspace at {WORKSPACE}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(())
    }
}

impl Drop for BootedVm {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn read_frame(
    port: &mut tokio::net::UnixStream,
    max: usize,
) -> Result<(Tag, Vec<u8>), String> {
    let mut h = [0; 5];
    port.read_exact(&mut h)
        .await
        .map_err(|e| format!("reading a frame: {e}"))?;
    let (tag, len) = parse_header(h, max).map_err(|e| e.to_string())?;
    let mut payload = vec![0; len];
    port.read_exact(&mut payload)
        .await
        .map_err(|e| format!("reading a frame: {e}"))?;
    Ok((tag, payload))
}

async fn write_frame(
    port: &mut tokio::net::UnixStream,
    tag: Tag,
    payload: &[u8],
) -> Result<(), String> {
    let h = header(tag, payload.len()).map_err(|e| e.to_string())?;
    port.write_all(&h)
        .await
        .map_err(|e| format!("writing a frame: {e}"))?;
    port.write_all(payload)
        .await
        .map_err(|e| format!("writing a frame: {e}"))
}
