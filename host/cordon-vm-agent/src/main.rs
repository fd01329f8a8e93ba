//! PID 1 of a Cordon microVM. It brings up just enough of the machine (the drivers for its
//! disk, port and share; the read-only root; a cgroup for the call; loopback), says hello to
//! the host, runs the one command it is sent as uid 1001 with no capabilities and the host's
//! seccomp filter, answers with its output, and powers the VM off. A VM never serves twice.
//!
//! Built statically by `make vm-image` and placed at `/init` of the VM's initramfs.

// Being init takes raw system calls: mounts, module loading, fork and exec, reboot. Each
// `unsafe` block says why it is sound.
#![allow(unsafe_code)]

use cordon_vm_agent::{
    Exit, Hello, PORT_NAME, Request, SHARE_TAG, SHARE_WORKSPACE, Stopped, Tag, read_frame,
    write_frame,
};
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Where the root image is mounted; the command is chrooted here.
const ROOT: &str = "/root";
/// Where the host's share (holding a call's workspace) is mounted.
const SHARE: &str = "/share";
/// The cgroup the command is born in.
const CALL_GROUP: &str = "/sys/fs/cgroup/call";
/// The cgroup of the warm-up commands (see [`warm_up`]), removed before the call.
const WARM_UP_GROUP: &str = "/sys/fs/cgroup/warm-up";
/// The unprivileged user commands run as, as in every other tier.
const SANDBOX_ID: libc::uid_t = 1001;
/// The largest request the host may send (its stdin has its own frame).
const MAX_REQUEST: usize = 1 << 20;
/// The largest stdin the agent accepts.
const MAX_STDIN: usize = 64 << 20;

fn main() {
    console();
    if let Err(e) = serve() {
        eprintln!("cordon-vm-agent: {e}");
    }
    power_off();
}

/// Boots, serves the one call, and returns; the caller powers off.
fn serve() -> Result<(), String> {
    mount("devtmpfs", "/dev", "devtmpfs", 0, "")?;
    mount("proc", "/proc", "proc", 0, "")?;
    mount("sysfs", "/sys", "sysfs", 0, "")?;
    console();
    load_modules();
    let share = prepare_root()?;
    prepare_cgroup()?;
    // A VM has little more RAM than the call's limit, so the kernel's overcommit heuristic
    // would refuse a large allocation outright; as on a host, let the cgroup's OOM killer
    // stop the command at its limit instead, so the call ends with `memory_limit`.
    let _ = std::fs::write("/proc/sys/vm/overcommit_memory", "1");
    loopback_up();
    warm_up();
    let mut port = open_port()?;
    let hello = Hello {
        uptime_ms: uptime_ms(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        share,
    };
    let hello = serde_json::to_vec(&hello).map_err(|e| e.to_string())?;
    write_frame(&mut port, Tag::Hello, &hello).map_err(|e| format!("hello: {e}"))?;

    let (tag, payload) = read_frame(&mut port, MAX_REQUEST).map_err(|e| format!("request: {e}"))?;
    if tag != Tag::Request {
        return Err(format!("expected a request, got {tag:?}"));
    }
    let request: Request = serde_json::from_slice(&payload).map_err(|e| format!("request: {e}"))?;
    let stdin = if request.stdin {
        let (tag, bytes) = read_frame(&mut port, MAX_STDIN).map_err(|e| format!("stdin: {e}"))?;
        if tag != Tag::Stdin {
            return Err(format!("expected stdin, got {tag:?}"));
        }
        Some(bytes)
    } else {
        None
    };
    let (exit, stdout, stderr) = match run(Path::new(CALL_GROUP), &request, stdin, share) {
        Ok(done) => done,
        Err(e) => (
            Exit {
                error: Some(e),
                ..Exit::default()
            },
            Vec::new(),
            Vec::new(),
        ),
    };
    let exit = serde_json::to_vec(&exit).map_err(|e| e.to_string())?;
    write_frame(&mut port, Tag::Stdout, &stdout)
        .and_then(|()| write_frame(&mut port, Tag::Stderr, &stderr))
        .and_then(|()| write_frame(&mut port, Tag::Exit, &exit))
        .map_err(|e| format!("answer: {e}"))
}

/// Points stdio at the console (the kernel gives init none without a `/dev/console` node in
/// the initramfs), so what the agent reports lands in the VM's console log.
fn console() {
    if let Ok(c) = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of a process that uses no others yet.
            unsafe { libc::dup2(c.as_raw_fd(), fd) };
        }
    }
}

/// Loads the drivers `make vm-image` put in `/modules`, in the order `/modules/order` lists
/// (dependencies first). One that fails (an accelerated variant the CPU lacks) is reported
/// and skipped: what matters is checked when its device is needed.
fn load_modules() {
    let order = std::fs::read_to_string("/modules/order").unwrap_or_default();
    for name in order.lines().filter(|l| !l.is_empty()) {
        let path = Path::new("/modules").join(name);
        let Ok(file) = File::open(&path) else {
            eprintln!("cordon-vm-agent: {} missing", path.display());
            continue;
        };
        // SAFETY: finit_module reads the open file and an empty NUL-terminated argument
        // string; both outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_finit_module,
                file.as_raw_fd(),
                c"".as_ptr(),
                0 as libc::c_int,
            )
        };
        let err = io::Error::last_os_error();
        if r != 0 && err.raw_os_error() != Some(libc::EEXIST) {
            eprintln!("cordon-vm-agent: loading {name}: {err}");
        }
    }
}

/// Mounts the root image read-only at [`ROOT`] with a fresh `/proc`, a minimal `/dev` and a
/// tmpfs `/tmp`, and the host's share at [`SHARE`]. Returns whether the share is there.
fn prepare_root() -> Result<bool, String> {
    wait_for(Path::new("/dev/vda"), "the root disk")?;
    mount("/dev/vda", ROOT, "ext4", libc::MS_RDONLY, "")?;
    mount("proc", &format!("{ROOT}/proc"), "proc", 0, "")?;
    mount(
        "tmpfs",
        &format!("{ROOT}/tmp"),
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=1777,size=64m",
    )?;
    let dev = format!("{ROOT}/dev");
    mount("tmpfs", &dev, "tmpfs", libc::MS_NOSUID, "mode=755,size=64k")?;
    for (name, minor) in [
        ("null", 3),
        ("zero", 5),
        ("full", 7),
        ("random", 8),
        ("urandom", 9),
    ] {
        let path = CString::new(format!("{dev}/{name}")).map_err(|e| e.to_string())?;
        // SAFETY: mknod with a NUL-terminated path; a character device of the mem driver.
        let r = unsafe {
            libc::mknod(
                path.as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(1, minor),
            )
        };
        if r != 0 {
            return Err(format!("mknod {name}: {}", io::Error::last_os_error()));
        }
        // mknod is subject to the umask; the devices are for everyone.
        // SAFETY: chmod with the same NUL-terminated path.
        unsafe { libc::chmod(path.as_ptr(), 0o666) };
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, format!("{dev}/{link}"))
            .map_err(|e| format!("/dev/{link}: {e}"))?;
    }
    let share = mount(
        SHARE_TAG,
        SHARE,
        "9p",
        0,
        "trans=virtio,version=9p2000.L,cache=none,msize=262144",
    );
    if let Err(e) = &share {
        eprintln!("cordon-vm-agent: no share: {e}");
    }
    Ok(share.is_ok())
}

/// A cgroup v2 group with the memory and pids controllers for the command.
fn prepare_cgroup() -> Result<(), String> {
    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, "")?;
    std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids")
        .map_err(|e| format!("enabling the memory and pids controllers: {e}"))?;
    std::fs::create_dir_all(CALL_GROUP).map_err(|e| format!("{CALL_GROUP}: {e}"))
}

/// Brings `lo` up: a command may talk to itself, and a connection to anything else is
/// refused (the VM has no network device).
fn loopback_up() {
    // SAFETY: a datagram socket used only for two ioctls on an ifreq we own; closed below.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        libc::close(fd);
    }
}

/// The virtio-serial port named [`PORT_NAME`].
fn open_port() -> Result<File, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(entries) = std::fs::read_dir("/sys/class/virtio-ports") {
            for entry in entries.flatten() {
                let name = std::fs::read_to_string(entry.path().join("name")).unwrap_or_default();
                if name.trim() == PORT_NAME {
                    let dev = Path::new("/dev").join(entry.file_name());
                    wait_for(&dev, "the agent port")?;
                    return OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&dev)
                        .map_err(|e| format!("{}: {e}", dev.display()));
                }
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no virtio port named {PORT_NAME}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// With `cordon.warm` on the kernel command line (the host asks it of pooled VMs), runs what
/// calls most often start, `true` and `python3 -c pass`, once before saying hello, as the
/// sandbox user in a cgroup of its own that is then removed. With an emulated CPU most of a
/// first command's time is QEMU translating code it has not seen (fork, exec, the dynamic
/// loader, the interpreter); the translations stay, so the call does not pay for them. No
/// call has reached the VM yet: nothing of one can be left for another.
fn warm_up() {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    if !cmdline.split_whitespace().any(|a| a == "cordon.warm=1") {
        return;
    }
    let group = Path::new(WARM_UP_GROUP);
    if let Err(e) = std::fs::create_dir_all(group) {
        eprintln!("cordon-vm-agent: no warm-up: {e}");
        return;
    }
    for (program, args) in [
        ("/usr/bin/true", &[][..]),
        ("/usr/bin/python3", &["-c", "pass"][..]),
    ] {
        if !Path::new(ROOT).join(&program[1..]).exists() {
            continue;
        }
        let request = Request {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            stdin: false,
            workspace: None,
            timeout_ms: 30_000,
            memory_bytes: 256 << 20,
            pids: 64,
            output_bytes: 4096,
            seccomp: Vec::new(),
        };
        if let Err(e) = run(group, &request, None, false) {
            eprintln!("cordon-vm-agent: warming up with {program}: {e}");
        }
    }
    let _ = std::fs::remove_dir(group);
}

/// Runs the request's command in `group` to its end: `(exit, stdout, stderr)`. Only the
/// warm-up runs without a seccomp filter.
fn run(
    group: &Path,
    req: &Request,
    stdin: Option<Vec<u8>>,
    share: bool,
) -> Result<(Exit, Vec<u8>, Vec<u8>), String> {
    write(group.join("memory.max"), &req.memory_bytes.to_string())?;
    // No swap is configured; where it is, the limit must not leak into it.
    let _ = std::fs::write(group.join("memory.swap.max"), "0");
    write(group.join("pids.max"), &req.pids.to_string())?;
    let cwd = match req.workspace {
        Some(writable) => {
            if !share {
                return Err("a workspace was granted but the VM has no share".into());
            }
            let from = format!("{SHARE}/{SHARE_WORKSPACE}");
            let to = format!("{ROOT}/workspace");
            mount(&from, &to, "", libc::MS_BIND, "")?;
            if !writable {
                mount(
                    "",
                    &to,
                    "",
                    libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                    "",
                )?;
            }
            "/workspace"
        }
        None => "/tmp",
    };
    let prepared = Exec::prepare(req, cwd, group == Path::new(CALL_GROUP))?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (in_r, in_w) = match stdin {
        Some(_) => {
            let (r, w) = pipe()?;
            (Some(r), Some(w))
        }
        None => (None, None),
    };
    let procs = OpenOptions::new()
        .write(true)
        .open(group.join("cgroup.procs"))
        .map_err(|e| format!("cgroup.procs: {e}"))?;
    let started = Instant::now();
    // SAFETY: the agent has no other threads yet, and the child only makes async-signal-safe
    // calls on values prepared before the fork (see `Exec::exec`).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        prepared.exec(
            procs.as_raw_fd(),
            in_r.as_ref().map(AsRawFd::as_raw_fd),
            out_w.as_raw_fd(),
            err_w.as_raw_fd(),
        );
    }
    drop((procs, out_w, err_w, in_r));
    if let (Some(bytes), Some(w)) = (stdin, in_w) {
        std::thread::spawn(move || {
            let _ = File::from(w).write_all(&bytes);
        });
    }
    let over = Arc::new(AtomicBool::new(false));
    let cap = usize::try_from(req.output_bytes).unwrap_or(usize::MAX);
    let out_reader = read_capped(out_r, cap, over.clone(), group.to_owned());
    let err_reader = read_capped(err_r, cap, over.clone(), group.to_owned());
    let (done, deadline_rx) = mpsc::channel::<()>();
    let timeout = Duration::from_millis(req.timeout_ms);
    let watched = group.to_owned();
    let watchdog = std::thread::spawn(move || {
        let timed_out = matches!(
            deadline_rx.recv_timeout(timeout),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if timed_out {
            kill_group(&watched);
        }
        timed_out
    });
    let status = wait(pid);
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap_or(false) || started.elapsed() >= timeout;
    // A daemon the command left behind dies with the call.
    kill_group(group);
    let survivors = empty_group(group, Duration::from_secs(2));
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let events = |file: &str, key: &str| -> u64 {
        std::fs::read_to_string(group.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
            .unwrap_or(0)
    };
    // The same precedence as the host's supervisor: the first cause explains the others.
    let stopped = if over.load(Ordering::SeqCst) {
        Some(Stopped::Output)
    } else if events("pids.events", "max ") > 0 {
        Some(Stopped::Processes)
    } else if events("memory.events", "oom_kill ") > 0 {
        Some(Stopped::Memory)
    } else if timed_out {
        Some(Stopped::Deadline)
    } else {
        None
    };
    let peak_memory = std::fs::read_to_string(group.join("memory.peak"))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    let exit = Exit {
        code,
        signal,
        stopped,
        peak_memory,
        survivors,
        error: None,
    };
    Ok((exit, stdout, stderr))
}

/// Everything the child needs between fork and exec, built before the fork (allocation is
/// not async-signal-safe).
struct Exec {
    program: CString,
    /// The strings `argv_ptrs` and `env_ptrs` point into; kept alive with them.
    _strings: (Vec<CString>, Vec<CString>),
    argv_ptrs: Vec<*const libc::c_char>,
    env_ptrs: Vec<*const libc::c_char>,
    cwd: CString,
    root: CString,
    seccomp: Vec<libc::sock_filter>,
}

impl Exec {
    fn prepare(req: &Request, cwd: &str, filter_required: bool) -> Result<Exec, String> {
        let c = |s: &str| CString::new(s).map_err(|_| format!("a NUL byte in {s:?}"));
        let program = c(&req.program)?;
        let mut argv = vec![program.clone()];
        for a in &req.args {
            argv.push(c(a)?);
        }
        let env: Vec<CString> = req
            .env
            .iter()
            .map(|(k, v)| c(&format!("{k}={v}")))
            .collect::<Result<_, _>>()?;
        let pointers = |strings: &[CString]| -> Vec<*const libc::c_char> {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        // A CString's bytes live on the heap: moving the vectors keeps the pointers valid.
        let (argv_ptrs, env_ptrs) = (pointers(&argv), pointers(&env));
        if (filter_required && req.seccomp.is_empty()) || !req.seccomp.len().is_multiple_of(8) {
            return Err("the seccomp filter is missing or malformed".into());
        }
        let seccomp = req
            .seccomp
            .chunks_exact(8)
            .map(|i| libc::sock_filter {
                code: u16::from_ne_bytes([i[0], i[1]]),
                jt: i[2],
                jf: i[3],
                k: u32::from_ne_bytes([i[4], i[5], i[6], i[7]]),
            })
            .collect();
        Ok(Exec {
            program,
            _strings: (argv, env),
            argv_ptrs,
            env_ptrs,
            cwd: c(cwd)?,
            root: c(ROOT)?,
            seccomp,
        })
    }

    /// In the forked child: joins the call's cgroup, enters the root as the sandbox user with
    /// no capabilities and the filter installed, and execs. Never returns.
    fn exec(&self, procs: i32, stdin: Option<i32>, stdout: i32, stderr: i32) -> ! {
        let prog = libc::sock_fprog {
            len: self.seccomp.len() as u16,
            filter: self.seccomp.as_ptr().cast_mut(),
        };
        // SAFETY: async-signal-safe system calls only, on values built before the fork that
        // live until exec or _exit.
        unsafe {
            let step = |ok: bool, what: &[u8]| {
                if !ok {
                    libc::write(stderr, what.as_ptr().cast(), what.len());
                    libc::_exit(126);
                }
            };
            step(
                libc::write(procs, b"0".as_ptr().cast(), 1) == 1,
                b"cordon-vm-agent: cannot join the call's cgroup\n",
            );
            step(libc::setsid() >= 0, b"cordon-vm-agent: setsid failed\n");
            step(
                libc::chroot(self.root.as_ptr()) == 0,
                b"cordon-vm-agent: chroot failed\n",
            );
            step(
                libc::chdir(self.cwd.as_ptr()) == 0,
                b"cordon-vm-agent: chdir failed\n",
            );
            step(
                libc::setgroups(0, std::ptr::null()) == 0,
                b"cordon-vm-agent: setgroups failed\n",
            );
            step(
                libc::setresgid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID) == 0
                    && libc::setresuid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID) == 0,
                b"cordon-vm-agent: cannot become the sandbox user\n",
            );
            // Close-on-exec: only its copy at 0 may reach the command (were it 0 itself,
            // dup2 below would leave the flag on: it is cleared here).
            let stdin = match stdin {
                Some(fd) => fd,
                None => libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC),
            };
            if stdin == 0 {
                libc::fcntl(0, libc::F_SETFD, 0);
            }
            step(
                stdin >= 0
                    && libc::dup2(stdin, 0) == 0
                    && libc::dup2(stdout, 1) == 1
                    && libc::dup2(stderr, 2) == 2,
                b"cordon-vm-agent: cannot set up stdio\n",
            );
            step(
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                    && (self.seccomp.is_empty()
                        || libc::prctl(
                            libc::PR_SET_SECCOMP,
                            libc::SECCOMP_MODE_FILTER,
                            &raw const prog,
                        ) == 0),
                b"cordon-vm-agent: cannot install the seccomp filter\n",
            );
            libc::execve(
                self.program.as_ptr(),
                self.argv_ptrs.as_ptr(),
                self.env_ptrs.as_ptr(),
            );
            let msg = b"cordon-vm-agent: exec failed\n";
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(127)
        }
    }
}

/// Reads `pipe` to its end, keeping at most `cap` bytes; past the cap the call is over.
fn read_capped(
    pipe: OwnedFd,
    cap: usize,
    over: Arc<AtomicBool>,
    group: PathBuf,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut file = File::from(pipe);
        let mut kept = Vec::new();
        let mut buf = vec![0; 64 << 10];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                    if n > room && !over.swap(true, Ordering::SeqCst) {
                        kill_group(&group);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        kept
    })
}

/// Kills every process in the call's cgroup.
fn kill_group(group: &Path) {
    let _ = std::fs::write(group.join("cgroup.kill"), "1");
}

/// Waits until the call's cgroup is empty (reaping what reparented to init), up to `limit`;
/// returns how many processes are still in it.
fn empty_group(group: &Path, limit: Duration) -> usize {
    let procs = group.join("cgroup.procs");
    let until = Instant::now() + limit;
    loop {
        // SAFETY: reaping any exited child; init inherits every orphan.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        let left = std::fs::read_to_string(&procs)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if left == 0 || Instant::now() > until {
            return left;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The status of `pid` once it has ended.
fn wait(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child with a status we own.
        let r = unsafe { libc::waitpid(pid, &raw mut status, 0) };
        if r == pid || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return status;
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn mount(
    src: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> Result<(), String> {
    let c = |s: &str| CString::new(s).map_err(|e| e.to_string());
    let _ = std::fs::create_dir_all(target);
    let (src_c, target_c, fstype_c, data_c) = (c(src)?, c(target)?, c(fstype)?, c(data)?);
    // SAFETY: four NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::mount(
            src_c.as_ptr(),
            target_c.as_ptr(),
            fstype_c.as_ptr(),
            flags,
            data_c.as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(format!(
            "mount {src} on {target}: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn write(path: PathBuf, value: &str) -> Result<(), String> {
    std::fs::write(&path, value).map_err(|e| format!("{}: {e}", path.display()))
}

fn wait_for(path: &Path, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        if Instant::now() > deadline {
            return Err(format!("{what} ({}) never appeared", path.display()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn uptime_ms() -> u64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0, |s| (s * 1000.0) as u64)
}

/// The end of every VM: flush and power off (the host kills it anyway once answered).
fn power_off() -> ! {
    // SAFETY: sync and reboot take no pointers; init may power the machine off.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    // PID 1 must not exit; if power-off failed, wait for the host to kill the VM.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
