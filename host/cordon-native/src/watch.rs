//! The watcher of the process and container (crun) tiers: system calls the kernel refuses
//! inside the sandbox anyway, but that are attempts the host must see. Quietly failing
//! inside, these would leave no trace; watched, each one stops the call, is refused with its
//! own code, counted and audited:
//! - a connection to another machine (the sandbox's network namespace holds only its own
//!   loopback): `network_denied`;
//! - a change to a user or group the sandbox is not, a setuid or setgid bit on a file, a
//!   session of its own (`setsid`: how a daemon detaches to outlive its call):
//!   `syscall_denied`;
//! - a write where the sandbox is read-only (its root, `/usr`, an image's files; a
//!   read-only workspace excepted, where the grant itself says so and programs probe):
//!   `read_only`;
//! - any path reaching a place where hosts keep credentials ([`HOST_SECRETS`]: `/etc/shadow`,
//!   `/etc/ssh`, ...; [`HOME_SECRETS`] in `/root` and `/home/USER`: `.ssh`, `.aws`, ...),
//!   through symlinks and `..` alike (`crate::view` says what is left to the kernel):
//!   `path_escape`.
//!
//! How: a seccomp filter hands these calls to the host (`SECCOMP_RET_USER_NOTIF`): in the
//! process tier a second filter, which `cordon-enter` (`enter.c`, bwrap's command) installs
//! once the sandbox is built and before it executes the command ([`Watcher::start`]); in the
//! container tier crun's profile, whose listener crun sends to a socket just before it
//! starts the command ([`Watcher::listen`]). Neither runtime's own set-up is watched. A thread of
//! the host reads what each asks for (the address a `connect` names, the ids a `setuid`
//! gives, where a path lands in the caller's own view: [`crate::view`]) and either lets the
//! kernel go on with it (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the sandbox's own loopback, a
//! Unix or netlink socket, ids the sandbox already has, a read of what it is shown, a write
//! where it may write) or stops the call: it kills the call's process tree, answers the
//! system call `EPERM`, and reports what was attempted. Every `open` passes by the host this
//! way: a round trip of some microseconds, measured in BENCHMARKS.md.
//!
//! The watcher lets nothing through that the namespaces and mounts would stop. A program can change an
//! address or a path in its memory after the host read it (the race the kernel documents for
//! `CONTINUE`); then the kernel goes on with what it finds there, inside an empty network
//! namespace, on a read-only root, exactly as it would without a watcher. So the watcher
//! only ever adds a refusal. Not watched: `sendmsg` (its address sits inside a struct;
//! inside the namespace it reaches nothing either), `stat` and friends (they read no file),
//! metadata changes (`chmod` without a set-id bit, `chown`, `utimes`, extended attributes:
//! refused by the read-only mounts all the same), and io_uring, which the main filter refuses
//! outright so that no operation gets past both filters.

use crate::Stopped;
use crate::cgroup::Tree;
use crate::seccomp;
use crate::view::{self, Landing};
use seccompiler::{SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// An attempt the watcher stopped a call for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// How the call ends: [`Stopped::Network`] or [`Stopped::Syscall`].
    pub stopped: Stopped,
    /// The system call (`connect`, `sendto`, `setuid`, `fchmodat`, ...).
    pub operation: &'static str,
    /// What it asked for (`192.0.2.2:8080`, `uid 0`, `mode 4755`).
    pub target: String,
}

/// The user and group the sandbox runs as: setting them (or leaving an id as it is) is no
/// attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// Who the command runs as inside every tier (bwrap's `--uid`/`--gid`, the OCI process's
/// user, the microVM agent's).
pub(crate) const SANDBOX_IDS: Ids = Ids {
    uid: 1001,
    gid: 1001,
};

/// Whether an id setter sets user or group ids.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IdKind {
    User,
    Group,
}

/// The calls that change ids: name, number, which ids, how many id arguments.
#[cfg(target_arch = "x86_64")]
pub(crate) const ID_SETTERS: &[(&str, i64, IdKind, usize)] = &[
    ("setuid", libc::SYS_setuid, IdKind::User, 1),
    ("setreuid", libc::SYS_setreuid, IdKind::User, 2),
    ("setresuid", libc::SYS_setresuid, IdKind::User, 3),
    ("setfsuid", libc::SYS_setfsuid, IdKind::User, 1),
    ("setgid", libc::SYS_setgid, IdKind::Group, 1),
    ("setregid", libc::SYS_setregid, IdKind::Group, 2),
    ("setresgid", libc::SYS_setresgid, IdKind::Group, 3),
    ("setfsgid", libc::SYS_setfsgid, IdKind::Group, 1),
];

/// The longest socket address read from a program (a `sockaddr_storage`).
const MAX_ADDRESS: usize = 128;

/// What a watched path call does with its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathUse {
    /// `open`, `openat`: its flags (at this argument) say read, write or create.
    Open { flags: usize },
    /// `creat`: creates the file or empties it.
    Write,
    /// Makes something where nothing is (`mkdir`, `mknod`, `symlink`, `link`).
    Create,
    /// Changes or removes what is there (`unlink`, `rmdir`, `rename`, `truncate`).
    Change,
}

/// The calls that reach a file by path: name, number, its directory argument (`None`: the
/// working directory), its path argument, and what it does there. Every one is handed to
/// the host; the host asks where the path lands ([`crate::view`]).
#[cfg(target_arch = "x86_64")]
pub(crate) const PATH_CALLS: &[(&str, i64, Option<usize>, usize, PathUse)] = &[
    ("open", libc::SYS_open, None, 0, PathUse::Open { flags: 1 }),
    (
        "openat",
        libc::SYS_openat,
        Some(0),
        1,
        PathUse::Open { flags: 2 },
    ),
    ("creat", libc::SYS_creat, None, 0, PathUse::Write),
    ("mkdir", libc::SYS_mkdir, None, 0, PathUse::Create),
    ("mkdirat", libc::SYS_mkdirat, Some(0), 1, PathUse::Create),
    ("mknod", libc::SYS_mknod, None, 0, PathUse::Create),
    ("mknodat", libc::SYS_mknodat, Some(0), 1, PathUse::Create),
    ("symlink", libc::SYS_symlink, None, 1, PathUse::Create),
    (
        "symlinkat",
        libc::SYS_symlinkat,
        Some(1),
        2,
        PathUse::Create,
    ),
    ("link", libc::SYS_link, None, 1, PathUse::Create),
    ("linkat", libc::SYS_linkat, Some(2), 3, PathUse::Create),
    ("unlink", libc::SYS_unlink, None, 0, PathUse::Change),
    ("unlinkat", libc::SYS_unlinkat, Some(0), 1, PathUse::Change),
    ("rmdir", libc::SYS_rmdir, None, 0, PathUse::Change),
    ("rename", libc::SYS_rename, None, 0, PathUse::Change),
    ("renameat", libc::SYS_renameat, Some(0), 1, PathUse::Change),
    (
        "renameat2",
        libc::SYS_renameat2,
        Some(0),
        1,
        PathUse::Change,
    ),
    ("truncate", libc::SYS_truncate, None, 0, PathUse::Change),
];

/// Where a host keeps its credentials. No sandbox is shown them (a container image's own
/// copies are as secret), so opening one, or anything under one, can only be an attempt on
/// the host's secrets: the places intrusion-detection rules watch (Falco's "sensitive
/// files"). Judged by the path as the sandbox sees it, never by what the host holds there.
/// Home directories count by what they keep of their users' credentials
/// ([`HOME_SECRETS`]), not as a whole: `find /` walks an image's `/home` and `/root`.
pub(crate) const HOST_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
];

/// What a home directory (`/root`, `/home/USER`) keeps of its user's credentials.
pub(crate) const HOME_SECRETS: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".kube",
    ".docker",
    ".netrc",
    ".git-credentials",
    ".pgpass",
];

/// Whether `path` is `top` or lies under it.
fn under(path: &str, top: &str) -> bool {
    path.strip_prefix(top)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether `path` (absolute, normalised) is, or lies under, a host's credential store.
fn secret(path: &str) -> bool {
    let in_home = path
        .strip_prefix("/root/")
        .or_else(|| path.strip_prefix("/home/")?.split_once('/').map(|(_, r)| r));
    HOST_SECRETS.iter().any(|s| under(path, s))
        || in_home.is_some_and(|rest| HOME_SECRETS.iter().any(|s| under(rest, s)))
}

/// Which tree of a sandbox's files is the workspace: a write there under a read-only grant
/// fails quietly (programs probe: git's index lock, byte-code caches), the grant says so.
const WORKSPACE: &str = crate::WORKSPACE;

/// The watcher's filter: `connect`, `sendto` with an address, the id setters, `setgroups`,
/// `setsid`, the mode setters with a set-id bit and every call that reaches a file by path
/// ([`PATH_CALLS`]) are handed to the host; everything else is left to the main filter.
///
/// # Errors
///
/// When the filter does not compile.
pub(crate) fn filter() -> Result<Vec<libc::sock_filter>, String> {
    let rule_error = |e: seccompiler::BackendError| format!("watch filter: {e}");
    let mut rules = seccomp::set_id_mode_rules()?;
    rules.insert(libc::SYS_connect, Vec::new());
    // A `sendto` without an address sends on a connected socket: its `connect` was seen.
    let with_address = SeccompCondition::new(4, SeccompCmpArgLen::Qword, SeccompCmpOp::Ne, 0)
        .map_err(rule_error)?;
    rules.insert(
        libc::SYS_sendto,
        vec![SeccompRule::new(vec![with_address]).map_err(rule_error)?],
    );
    for (_, nr, _, _) in ID_SETTERS {
        rules.insert(*nr, Vec::new());
    }
    rules.insert(libc::SYS_setgroups, Vec::new());
    rules.insert(libc::SYS_setsid, Vec::new());
    // Every path call, whatever its flags (a read of a host secret is an open like any
    // other); this also takes in the set-id rules of open, creat and mknod.
    for (_, nr, ..) in PATH_CALLS {
        rules.insert(*nr, Vec::new());
    }
    let program = seccomp::compile(rules, SeccompAction::Trap, seccomp::ARCH)?;
    // seccompiler has no action for user notification: the filter is built to trap, and
    // each trap becomes a notification.
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut notifying = 0;
    let program: Vec<libc::sock_filter> = program
        .into_iter()
        .map(|insn| {
            let k = if insn.code == RET_K && insn.k == libc::SECCOMP_RET_TRAP {
                notifying += 1;
                libc::SECCOMP_RET_USER_NOTIF
            } else {
                insn.k
            };
            libc::sock_filter {
                code: insn.code,
                jt: insn.jt,
                jf: insn.jf,
                k,
            }
        })
        .collect();
    if notifying == 0 {
        return Err("watch filter: no call is handed to the host".into());
    }
    Ok(program)
}

/// The watcher's filter as the bytes `cordon-enter` reads (its `struct sock_filter` array).
///
/// # Errors
///
/// When the filter does not compile.
pub(crate) fn filter_bytes() -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for insn in filter()? {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    Ok(bytes)
}

/// The host's side: the thread that answers the filter, and what it found.
pub(crate) struct Watcher {
    found: Arc<Mutex<Option<Attempt>>>,
    done: Arc<AtomicBool>,
    /// The end the child sends on (process tier); held until the call ends, so that the
    /// thread's wait for the listener ends too when the child never sent one.
    child_end: Option<OwnedFd>,
}

impl Watcher {
    /// Starts watching for a call whose first program in the sandbox (`cordon-enter`, see
    /// `enter.c`) installs the filter and sends its listener over [`Watcher::helper_end`];
    /// its processes are in `tree`, running as `ids`.
    ///
    /// # Errors
    ///
    /// When the socket pair or the thread cannot be created.
    pub(crate) fn start(tree: Tree, ids: Ids) -> Result<Watcher, String> {
        let mut ends = [0; 2];
        // SAFETY: socketpair fills two fds, owned right below.
        let made = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                ends.as_mut_ptr(),
            )
        };
        if made != 0 {
            return Err(format!("socketpair: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: both fds were just created and are owned by nothing else.
        let (host_end, child_end) =
            unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
        let mut watcher = Watcher::spawn(tree, ids, move |_| recv_fd(&host_end))?;
        watcher.child_end = Some(child_end);
        Ok(watcher)
    }

    /// The end of the socket the sandbox's first program sends the listener on (to be
    /// placed in the child; close-on-exec here).
    pub(crate) fn helper_end(&self) -> Option<RawFd> {
        self.child_end.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Starts watching for a call whose OCI runtime installs the filter (a profile with
    /// `SCMP_ACT_NOTIFY` and `listenerPath`) and sends its listener to `socket`, a Unix
    /// socket this binds.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound or the thread cannot be created.
    pub(crate) fn listen(
        socket: &std::path::Path,
        tree: Tree,
        ids: Ids,
    ) -> Result<Watcher, String> {
        let listener = std::os::unix::net::UnixListener::bind(socket)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
        let members = tree.clone();
        Watcher::spawn(tree, ids, move |done| {
            // The runtime connects once, just before it starts the command; a runtime that
            // fails earlier never does, and the call's end stops the wait. Only a process
            // of the call's own cgroup (the runtime is born in it) may hand over a listener:
            // anyone else's would leave the command's watched calls unanswered.
            while !done.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let conn = OwnedFd::from(conn);
                        if peer_pid(&conn).is_some_and(|pid| members.members().contains(&pid)) {
                            return recv_fd(&conn);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let mut poll = libc::pollfd {
                            fd: listener.as_raw_fd(),
                            events: libc::POLLIN,
                            revents: 0,
                        };
                        // SAFETY: one pollfd.
                        unsafe { libc::poll(&raw mut poll, 1, 200) };
                    }
                    Err(_) => return None,
                }
            }
            None
        })
    }

    fn spawn(
        tree: Tree,
        ids: Ids,
        listener: impl FnOnce(&AtomicBool) -> Option<OwnedFd> + Send + 'static,
    ) -> Result<Watcher, String> {
        let found = Arc::new(Mutex::new(None));
        let done = Arc::new(AtomicBool::new(false));
        let (f, d) = (Arc::clone(&found), Arc::clone(&done));
        std::thread::Builder::new()
            .name("cordon-watch".into())
            .spawn(move || {
                if let Some(listener) = listener(&d) {
                    watch(&listener, &tree, ids, &f, &d);
                }
            })
            .map_err(|e| format!("cannot start the system-call watcher: {e}"))?;
        Ok(Watcher {
            found,
            done,
            child_end: None,
        })
    }

    /// Ends the watch (the call's processes are gone) and says in `out` what it stopped
    /// the call for, if anything: the watcher killed the tree, and that, not the signal, is
    /// how the call ended. The attempt is recorded before the tree is killed, so a call it
    /// stopped always finds it here.
    pub(crate) fn finish(self, out: &mut Result<crate::NativeOutput, String>) {
        self.done.store(true, Ordering::Release);
        drop(self.child_end);
        let attempt = self.found.lock().ok().and_then(|f| f.clone());
        if let (Ok(out), Some(attempt)) = (out, attempt) {
            out.stopped = Some(attempt.stopped);
            out.attempt = Some(attempt);
        }
    }
}

/// Answers the listener's notifications until every process under the filter is gone (the
/// kernel reports a hang-up) or the call has ended.
fn watch(
    listener: &OwnedFd,
    tree: &Tree,
    ids: Ids,
    found: &Mutex<Option<Attempt>>,
    done: &AtomicBool,
) {
    let sizes = notif_sizes();
    // The kernel's structs may be larger than the ones this was built with: buffers of
    // its sizes, zeroed before each receive (the kernel refuses a dirty one).
    let words = |bytes: usize| bytes.div_ceil(8).max(1);
    let mut request =
        vec![0u64; words(usize::from(sizes.seccomp_notif).max(size_of::<libc::seccomp_notif>()))];
    let mut response =
        vec![
            0u64;
            words(usize::from(sizes.seccomp_notif_resp).max(size_of::<libc::seccomp_notif_resp>()))
        ];
    let fd = listener.as_raw_fd();
    // The caller and this thread hand the CPU to each other on every notification (Linux
    // 6.6+), instead of each waiting for the scheduler to wake the other: most of a round
    // trip's cost. Older kernels refuse the flag, and are only slower for it.
    const SYNC_WAKE_UP: libc::c_ulong = 1;
    // SAFETY: the flag is passed by value.
    unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, SYNC_WAKE_UP) };
    while !done.load(Ordering::Acquire) {
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd; the timeout only bounds how late a finished call is noticed
        // on kernels that do not report the hang-up.
        let ready = unsafe { libc::poll(&raw mut poll, 1, 500) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if poll.revents & libc::POLLIN == 0 {
            if poll.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                return;
            }
            continue;
        }
        request.fill(0);
        // SAFETY: the buffer is at least as large as the kernel's seccomp_notif.
        if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, request.as_mut_ptr()) } != 0 {
            // The caller died before its notification was read.
            continue;
        }
        // SAFETY: the buffer holds a seccomp_notif the kernel just wrote, u64-aligned.
        let notif = unsafe { &*request.as_ptr().cast::<libc::seccomp_notif>() };
        let id = notif.id;
        let caller = Process(notif.pid);
        let attempt = judge(i64::from(notif.data.nr), notif.data.args, ids, &caller);
        // The memory read must have been the caller's: its notification still pending
        // means its pid was not reused meanwhile.
        // SAFETY: the id is a u64 the ioctl reads.
        let valid =
            unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &raw const id) } == 0;
        if !valid {
            continue;
        }
        response.fill(0);
        // SAFETY: the buffer is at least as large as the kernel's seccomp_notif_resp.
        let answer = unsafe { &mut *response.as_mut_ptr().cast::<libc::seccomp_notif_resp>() };
        answer.id = id;
        match attempt {
            None => answer.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            Some(attempt) => {
                if let Ok(mut slot) = found.lock() {
                    slot.get_or_insert(attempt);
                }
                // Killed before it is answered: the caller is still waiting in the system
                // call, and runs nothing more.
                tree.kill_all();
                answer.error = -libc::EPERM;
            }
        }
        // SAFETY: a response for the id just received; it fails harmlessly when the
        // caller was killed meanwhile.
        unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, response.as_mut_ptr()) };
    }
}

/// What the kernel's notification structs measure (asked once: the kernel's answer does
/// not change while it runs).
fn notif_sizes() -> libc::seccomp_notif_sizes {
    static SIZES: std::sync::OnceLock<libc::seccomp_notif_sizes> = std::sync::OnceLock::new();
    *SIZES.get_or_init(ask_notif_sizes)
}

fn ask_notif_sizes() -> libc::seccomp_notif_sizes {
    let mut sizes = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: the kernel fills the struct; on failure it stays zero and the built-in sizes
    // are used.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_NOTIF_SIZES,
            0,
            &raw mut sizes,
        )
    };
    sizes
}

/// What the watcher may ask of the process whose system call it judges.
pub(crate) trait Caller {
    /// Up to `len` bytes of its memory at `addr` (fewer where its mapping ends; `None` when
    /// nothing can be read).
    fn read(&self, addr: u64, len: u64) -> Option<Vec<u8>>;
    /// Where `path`, relative to `dirfd`, lands in its view of the filesystem (`mount`:
    /// whether to ask if the place is read-only).
    fn land(&self, dirfd: i32, path: &[u8], follow: bool, mount: bool) -> Option<Landing>;
}

/// A process of the sandbox, by its pid in the host's namespace.
struct Process(u32);

impl Caller for Process {
    fn read(&self, addr: u64, len: u64) -> Option<Vec<u8>> {
        let mut bytes = vec![0u8; usize::try_from(len).ok()?];
        let local = libc::iovec {
            iov_base: bytes.as_mut_ptr().cast(),
            iov_len: bytes.len(),
        };
        let remote = libc::iovec {
            iov_base: usize::try_from(addr).ok()? as *mut libc::c_void,
            iov_len: bytes.len(),
        };
        // SAFETY: the kernel writes at most `len` bytes into `bytes`; the remote range is
        // only read, and only in the other process.
        let n = unsafe {
            libc::process_vm_readv(
                libc::pid_t::try_from(self.0).ok()?,
                &raw const local,
                1,
                &raw const remote,
                1,
                0,
            )
        };
        let n = usize::try_from(n).ok().filter(|n| *n > 0)?;
        bytes.truncate(n);
        Some(bytes)
    }

    fn land(&self, dirfd: i32, path: &[u8], follow: bool, mount: bool) -> Option<Landing> {
        view::land(self.0, dirfd, path, follow, mount)
    }
}

/// The NUL-terminated string at `addr` (a path: at most `PATH_MAX` bytes), read a page at a
/// time so that a string ending just before an unmapped page is still read whole.
fn c_string(caller: &impl Caller, addr: u64) -> Option<Vec<u8>> {
    const PAGE: u64 = 4096;
    let max = libc::PATH_MAX as usize;
    let mut string = Vec::new();
    while string.len() < max {
        let at = addr.checked_add(string.len() as u64)?;
        let want = (PAGE - at % PAGE).min((max - string.len()) as u64);
        let bytes = caller.read(at, want)?;
        if let Some(end) = bytes.iter().position(|b| *b == 0) {
            string.extend_from_slice(&bytes[..end]);
            return Some(string);
        }
        if (bytes.len() as u64) < want {
            return None;
        }
        string.extend_from_slice(&bytes);
    }
    None
}

/// Whether system call `nr` with `args` is an attempt (`None`: the kernel goes on with it,
/// and so does it when the caller's memory or files cannot be read).
fn judge(nr: i64, args: [u64; 6], ids: Ids, caller: &impl Caller) -> Option<Attempt> {
    let network = |operation, addr: u64, len: u64| {
        let bytes = caller.read(addr, len.min(MAX_ADDRESS as u64))?;
        Some(Attempt {
            stopped: Stopped::Network,
            operation,
            target: outside_address(&bytes)?.to_string(),
        })
    };
    let syscall = |operation, target| {
        Some(Attempt {
            stopped: Stopped::Syscall,
            operation,
            target,
        })
    };
    if nr == libc::SYS_connect {
        return network("connect", args[1], args[2]);
    }
    if nr == libc::SYS_sendto {
        return network("sendto", args[4], args[5]);
    }
    if nr == libc::SYS_setgroups {
        // Dropping every supplementary group is no attempt.
        let count = args[0] as u32 as i32;
        return (count != 0)
            .then(|| format!("{count} groups"))
            .and_then(|t| syscall("setgroups", t));
    }
    if nr == libc::SYS_setsid {
        // How a program detaches from whoever started it (daemon(3), the double fork):
        // inside a call there is nothing to detach to, so asking is asking to outlive it.
        // (The sandbox's session is made before the filter is installed.)
        return syscall(
            "setsid",
            "a session of its own, to outlive its call".to_owned(),
        );
    }
    if let Some((name, _, kind, n)) = ID_SETTERS.iter().find(|s| s.1 == nr) {
        let (own, word) = match kind {
            IdKind::User => (ids.uid, "uid"),
            IdKind::Group => (ids.gid, "gid"),
        };
        // Ids are 32 bits; -1 leaves one as it is.
        let changed: Vec<String> = (args[..*n].iter().map(|a| *a as u32))
            .filter(|id| *id != own && *id != u32::MAX)
            .map(|id| format!("{word} {id}"))
            .collect();
        return (!changed.is_empty())
            .then(|| changed.join(", "))
            .and_then(|t| syscall(name, t));
    }
    if let Some((name, _, index)) = seccomp::MODE_SETTERS.iter().find(|s| s.1 == nr) {
        // open and openat only read a mode when they create a file (O_CREAT, or all of
        // O_TMPFILE, whose bits include O_DIRECTORY's); otherwise it is whatever the
        // program left in the register.
        let creates = match PATH_CALLS.iter().find(|c| c.1 == nr) {
            Some((.., PathUse::Open { flags })) => {
                let flags = args[*flags] as u32 as i32;
                flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE
            }
            _ => true,
        };
        let mode = args[usize::from(*index)] as u32;
        let set_id = libc::S_ISUID | libc::S_ISGID;
        if creates && mode & set_id != 0 {
            return syscall(name, format!("mode {:o}", mode & 0o7777));
        }
    }
    let (name, _, dirfd, path, usage) = PATH_CALLS.iter().find(|c| c.1 == nr)?;
    let dirfd = dirfd.map_or(libc::AT_FDCWD, |i| args[i] as u32 as i32);
    let path = c_string(caller, args[*path])?;
    let flags = match usage {
        PathUse::Open { flags } => args[*flags] as u32 as i32,
        _ => 0,
    };
    let follow = match usage {
        // O_CREAT | O_EXCL never follows a symlink in the last place.
        PathUse::Open { .. } => {
            flags & libc::O_NOFOLLOW == 0
                && flags & (libc::O_CREAT | libc::O_EXCL) != libc::O_CREAT | libc::O_EXCL
        }
        PathUse::Write => true,
        PathUse::Create => false,
        PathUse::Change => nr == libc::SYS_truncate,
    };
    let tmpfile = flags & libc::O_TMPFILE == libc::O_TMPFILE;
    // Whether the call can write at all: only then does the mount matter. O_PATH opens a
    // place, whatever else the flags say.
    let may_write = match usage {
        PathUse::Open { .. } => {
            flags & libc::O_PATH == 0
                && (flags & libc::O_ACCMODE != libc::O_RDONLY
                    || flags & (libc::O_CREAT | libc::O_TRUNC) != 0
                    || tmpfile)
        }
        _ => true,
    };
    let landing = caller.land(dirfd, &path, follow, may_write)?;
    if secret(&landing.path) {
        return Some(Attempt {
            stopped: Stopped::HostFile,
            operation: name,
            target: landing.path,
        });
    }
    // A write the kernel would make, but for the read-only mount. Not one it refuses for
    // another reason first: creating where the parent is missing (ENOENT), O_EXCL on what is
    // there (EEXIST); and writing to a device or a FIFO writes to no filesystem.
    let creates = landing.parent_exists && !landing.exists;
    let changes = landing.exists && !landing.special;
    let writes = may_write
        && match usage {
            PathUse::Open { .. } if landing.exists => {
                let excl = libc::O_CREAT | libc::O_EXCL;
                changes
                    && flags & excl != excl
                    && (flags & libc::O_ACCMODE != libc::O_RDONLY
                        || flags & libc::O_TRUNC != 0
                        || tmpfile)
            }
            PathUse::Open { .. } => creates && (flags & libc::O_CREAT != 0 || tmpfile),
            PathUse::Write => creates || changes,
            PathUse::Create => creates,
            PathUse::Change => landing.exists,
        };
    let refused = writes && landing.read_only && !under(&landing.path, WORKSPACE);
    refused.then_some(Attempt {
        stopped: Stopped::ReadOnly,
        operation: name,
        target: landing.path,
    })
}

/// The address a socket address names, when it lies outside the sandbox: not its own
/// loopback, nor the unspecified address (which means it too). Unix, netlink and every
/// other family stay inside the sandbox's namespaces.
fn outside_address(bytes: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes(bytes.get(..2)?.try_into().ok()?));
    let port = u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?);
    let addr = match family {
        libc::AF_INET => {
            let ip: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
            SocketAddr::from((Ipv4Addr::from(ip), port))
        }
        libc::AF_INET6 => {
            let ip: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            let ip = Ipv6Addr::from(ip);
            match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::from((v4, port)),
                None => SocketAddr::from((ip, port)),
            }
        }
        _ => return None,
    };
    (!addr.ip().is_loopback() && !addr.ip().is_unspecified()).then_some(addr)
}

/// Receives a descriptor sent over `socket` (SCM_RIGHTS); `None` when the other end closed
/// without sending one (the sandbox failed before it could).
fn recv_fd(socket: &OwnedFd) -> Option<OwnedFd> {
    let mut control = Control { bytes: [0; 32] };
    let mut byte = [0u8; 1];
    let mut iov = one_byte(&mut byte);
    let mut msg = message(&mut iov, &mut control);
    // SAFETY: every pointer in msg outlives the recvmsg; the received fd is owned right
    // away.
    unsafe {
        loop {
            let n = libc::recvmsg(socket.as_raw_fd(), &raw mut msg, libc::MSG_CMSG_CLOEXEC);
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            if n <= 0 {
                return None;
            }
            break;
        }
        let header = libc::CMSG_FIRSTHDR(&raw const msg);
        if header.is_null()
            || (*header).cmsg_level != libc::SOL_SOCKET
            || (*header).cmsg_type != libc::SCM_RIGHTS
        {
            return None;
        }
        let fd = libc::CMSG_DATA(header).cast::<RawFd>().read_unaligned();
        Some(OwnedFd::from_raw_fd(fd))
    }
}

/// The process at the other end of a Unix socket, as the kernel recorded it at connect.
fn peer_pid(conn: &OwnedFd) -> Option<i32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt fills at most `len` bytes of `cred`.
    let got = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &raw mut len,
        )
    };
    (got == 0 && cred.pid > 0).then_some(cred.pid)
}

/// An iovec over `byte`: a descriptor travels with at least one byte of data.
fn one_byte(byte: &mut [u8; 1]) -> libc::iovec {
    libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    }
}

/// A message carrying `iov` with `control` as its ancillary buffer (all of it; a sender
/// trims `msg_controllen` to what it fills).
fn message(iov: &mut libc::iovec, control: &mut Control) -> libc::msghdr {
    // SAFETY: msghdr is plain data, all zeroes a valid empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = std::ptr::from_mut(control).cast();
    msg.msg_controllen = size_of::<Control>();
    msg
}

/// Room for one descriptor's control message, aligned as a `cmsghdr`.
#[repr(C)]
union Control {
    _header: libc::cmsghdr,
    bytes: [u8; 32],
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const IDS: Ids = SANDBOX_IDS;

    fn v4(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend(ip);
        b.extend([0; 8]);
        b
    }

    fn v6(ip: Ipv6Addr, port: u16) -> Vec<u8> {
        let mut b = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend([0; 4]);
        b.extend(ip.octets());
        b.extend([0; 4]);
        b
    }

    #[test]
    fn only_addresses_outside_the_sandbox_are_attempts() {
        assert_eq!(outside_address(&v4([127, 0, 0, 1], 80)), None);
        assert_eq!(outside_address(&v4([127, 9, 9, 9], 80)), None);
        assert_eq!(outside_address(&v4([0, 0, 0, 0], 80)), None);
        assert_eq!(
            outside_address(&v4([192, 0, 2, 2], 8080)),
            Some("192.0.2.2:8080".parse().unwrap())
        );
        assert_eq!(outside_address(&v6(Ipv6Addr::LOCALHOST, 53)), None);
        assert_eq!(outside_address(&v6(Ipv6Addr::UNSPECIFIED, 53)), None);
        let mapped_loopback = Ipv4Addr::LOCALHOST.to_ipv6_mapped();
        assert_eq!(outside_address(&v6(mapped_loopback, 53)), None);
        let mapped = Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped();
        assert_eq!(
            outside_address(&v6(mapped, 53)),
            Some("10.1.2.3:53".parse().unwrap())
        );
        let far: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            outside_address(&v6(far, 443)),
            Some("[2001:db8::1]:443".parse().unwrap())
        );
        let mut unix = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        unix.extend(b"/run/x\0");
        assert_eq!(outside_address(&unix), None);
        // Truncated addresses are no address.
        assert_eq!(outside_address(&v4([192, 0, 2, 2], 80)[..6]), None);
    }

    /// A process for the judge: `memory` from address `BASE` on, nothing elsewhere; every
    /// path lands at `landing`, and the judge's last question is kept.
    struct Fake {
        memory: Vec<u8>,
        landing: Option<Landing>,
        asked: std::cell::RefCell<Option<(i32, Vec<u8>, bool)>>,
    }

    const BASE: u64 = 0x1000;

    impl Caller for Fake {
        fn read(&self, addr: u64, len: u64) -> Option<Vec<u8>> {
            let start = usize::try_from(addr.checked_sub(BASE)?).ok()?;
            let end = (start + len as usize).min(self.memory.len());
            (start < end).then(|| self.memory[start..end].to_vec())
        }

        fn land(&self, dirfd: i32, path: &[u8], follow: bool, mount: bool) -> Option<Landing> {
            *self.asked.borrow_mut() = Some((dirfd, path.to_vec(), follow));
            self.landing.clone().map(|mut l| {
                l.read_only &= mount;
                l
            })
        }
    }

    fn holding(memory: &[u8]) -> Fake {
        Fake {
            memory: memory.to_vec(),
            landing: None,
            asked: std::cell::RefCell::new(None),
        }
    }

    fn landing_at(path: &str, exists: bool, read_only: bool) -> Fake {
        Fake {
            landing: Some(Landing {
                path: path.to_owned(),
                exists,
                read_only,
                parent_exists: true,
                special: false,
            }),
            ..holding(b"the path\0")
        }
    }

    fn nowhere() -> Fake {
        holding(b"")
    }

    #[test]
    fn a_connection_is_judged_by_the_address_it_names() {
        let far = holding(&v4([192, 0, 2, 2], 8080));
        let near = holding(&v4([127, 0, 0, 1], 8080));
        let args = [3, BASE, 16, 0, 0, 0];
        let a = judge(libc::SYS_connect, args, IDS, &far).unwrap();
        assert_eq!(
            (a.stopped, a.operation, a.target.as_str()),
            (Stopped::Network, "connect", "192.0.2.2:8080")
        );
        assert_eq!(judge(libc::SYS_connect, args, IDS, &near), None);
        let sendto = [3, 0x9000, 5, 0, BASE, 16];
        assert_eq!(
            judge(libc::SYS_sendto, sendto, IDS, &far)
                .unwrap()
                .operation,
            "sendto"
        );
        // Memory that cannot be read is left to the kernel.
        assert_eq!(judge(libc::SYS_connect, args, IDS, &nowhere()), None);
    }

    #[test]
    fn only_ids_the_sandbox_is_not_are_attempts() {
        let target = |nr, args| judge(nr, args, IDS, &nowhere()).map(|a| (a.operation, a.target));
        assert_eq!(
            target(libc::SYS_setuid, [0, 0, 0, 0, 0, 0]),
            Some(("setuid", "uid 0".to_owned()))
        );
        assert_eq!(target(libc::SYS_setuid, [1001, 0, 0, 0, 0, 0]), None);
        let unchanged = u64::from(u32::MAX);
        assert_eq!(
            target(libc::SYS_setresgid, [unchanged, 1001, unchanged, 0, 0, 0]),
            None
        );
        assert_eq!(
            target(libc::SYS_setresgid, [unchanged, 0, 27, 0, 0, 0]),
            Some(("setresgid", "gid 0, gid 27".to_owned()))
        );
        assert_eq!(target(libc::SYS_setgroups, [0, 0, 0, 0, 0, 0]), None);
        assert_eq!(
            target(libc::SYS_setgroups, [1, 0x1000, 0, 0, 0, 0]),
            Some(("setgroups", "1 groups".to_owned()))
        );
    }

    #[test]
    fn only_a_created_or_changed_mode_with_a_set_id_bit_is_an_attempt() {
        let target = |nr, args| judge(nr, args, IDS, &nowhere()).map(|a| (a.operation, a.target));
        assert_eq!(
            target(libc::SYS_fchmodat, [0, 0, 0o4755, 0, 0, 0]),
            Some(("fchmodat", "mode 4755".to_owned()))
        );
        assert_eq!(target(libc::SYS_fchmodat, [0, 0, 0o755, 0, 0, 0]), None);
        let create = (libc::O_CREAT | libc::O_WRONLY) as u64;
        assert_eq!(
            target(libc::SYS_openat, [0, 0, create, 0o2755, 0, 0]),
            Some(("openat", "mode 2755".to_owned()))
        );
        // Without O_CREAT the mode is not read: whatever sits there is no attempt (and the
        // path, unreadable here, is left to the kernel).
        assert_eq!(target(libc::SYS_openat, [0, 0, 0, 0o4755, 0, 0]), None);
    }

    #[test]
    fn setsid_asks_to_outlive_the_call() {
        let a = judge(libc::SYS_setsid, [0; 6], IDS, &nowhere()).unwrap();
        assert_eq!((a.stopped, a.operation), (Stopped::Syscall, "setsid"));
    }

    /// `openat(AT_FDCWD, BASE, flags)` against `fake`.
    fn openat(fake: &Fake, flags: i32) -> Option<(Stopped, &'static str, String)> {
        let args = [
            libc::AT_FDCWD as u32 as u64,
            BASE,
            flags as u64,
            0o644,
            0,
            0,
        ];
        judge(libc::SYS_openat, args, IDS, fake).map(|a| (a.stopped, a.operation, a.target))
    }

    #[test]
    fn a_write_is_an_attempt_where_the_sandbox_is_read_only() {
        let (wronly, creat) = (libc::O_WRONLY, libc::O_CREAT | libc::O_WRONLY);
        let new_in_etc = landing_at("/etc/cordon-was-here", false, true);
        assert_eq!(
            openat(&new_in_etc, creat),
            Some((
                Stopped::ReadOnly,
                "openat",
                "/etc/cordon-was-here".to_owned()
            ))
        );
        // Reading there, or opening without creating what is not there, writes nothing.
        assert_eq!(openat(&new_in_etc, libc::O_RDONLY), None);
        assert_eq!(openat(&new_in_etc, wronly), None);
        let usr_file = landing_at("/usr/lib/os-release", true, true);
        assert_eq!(openat(&usr_file, libc::O_RDONLY), None);
        assert_eq!(openat(&usr_file, libc::O_RDONLY | libc::O_CREAT), None);
        assert!(openat(&usr_file, libc::O_RDWR).is_some());
        assert!(openat(&usr_file, libc::O_RDONLY | libc::O_TRUNC).is_some());
        // Writable places, and a read-only workspace (its grant says so), are no attempt.
        assert_eq!(openat(&landing_at("/tmp/x", false, false), creat), None);
        assert_eq!(
            openat(&landing_at("/workspace/x", true, true), wronly),
            None
        );
        assert_eq!(
            openat(
                &landing_at("/workspace", true, true),
                libc::O_TMPFILE | wronly
            ),
            None
        );
        assert!(openat(&landing_at("/workspacex/y", false, true), creat).is_some());

        let at = |nr, fake: &Fake| judge(nr, [BASE, 0, 0, 0, 0, 0], IDS, fake).map(|a| a.operation);
        assert_eq!(at(libc::SYS_mkdir, &new_in_etc), Some("mkdir"));
        assert_eq!(
            at(libc::SYS_mkdir, &usr_file),
            None,
            "it exists: EEXIST, no write"
        );
        assert_eq!(at(libc::SYS_unlink, &usr_file), Some("unlink"));
        assert_eq!(
            at(libc::SYS_unlink, &new_in_etc),
            None,
            "nothing there: ENOENT"
        );
        assert_eq!(at(libc::SYS_creat, &usr_file), Some("creat"));
        assert_eq!(at(libc::SYS_truncate, &usr_file), Some("truncate"));

        // What the kernel refuses for another reason first, and what writes no filesystem.
        let excl = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY;
        assert_eq!(openat(&usr_file, excl), None, "EEXIST");
        assert_eq!(
            openat(&usr_file, libc::O_PATH | libc::O_RDWR),
            None,
            "O_PATH"
        );
        let mut orphan = landing_at("/usr/nope/x", false, true);
        if let Some(l) = orphan.landing.as_mut() {
            l.parent_exists = false;
        }
        assert_eq!(openat(&orphan, creat), None, "ENOENT");
        assert_eq!(at(libc::SYS_mkdir, &orphan), None, "ENOENT");
        let mut device = landing_at("/dev/null", true, true);
        if let Some(l) = device.landing.as_mut() {
            l.special = true;
        }
        assert_eq!(openat(&device, wronly), None, "a device");
    }

    #[test]
    fn an_opendir_is_no_set_id_mode_whatever_its_mode_register() {
        // O_DIRECTORY is one of O_TMPFILE's bits: it creates nothing.
        let args = [
            0,
            BASE,
            (libc::O_RDONLY | libc::O_DIRECTORY) as u64,
            0o4755,
            0,
            0,
        ];
        assert_eq!(
            judge(
                libc::SYS_openat,
                args,
                IDS,
                &landing_at("/tmp", true, false)
            ),
            None
        );
    }

    #[test]
    fn a_host_secret_is_an_attempt_however_it_is_opened() {
        for secret in [
            "/etc/shadow",
            "/root/.ssh/id_ed25519",
            "/home/alice/.aws/credentials",
            "/home/bob/.config/gcloud",
            "/etc/ssl/private/k.pem",
        ] {
            let fake = landing_at(secret, false, true);
            assert_eq!(
                openat(&fake, libc::O_RDONLY),
                Some((Stopped::HostFile, "openat", secret.to_owned())),
                "{secret}"
            );
        }
        for other in [
            "/homework",
            "/etc/shadowed",
            "/etc/ssl/certs/ca.pem",
            "/tmp/root",
            "/home",
            "/root",
            "/root/.bashrc",
            "/home/alice/notes.txt",
            "/home/.ssh",
            "/tmp/home/alice/.ssh",
        ] {
            assert_eq!(
                openat(&landing_at(other, true, true), libc::O_RDONLY),
                None,
                "{other}"
            );
        }
    }

    #[test]
    fn the_path_is_asked_where_the_call_would_resolve_it() {
        let fake = landing_at("/tmp/x", true, false);
        openat(&fake, libc::O_RDONLY);
        assert_eq!(
            fake.asked.borrow().clone(),
            Some((libc::AT_FDCWD, b"the path".to_vec(), true))
        );
        // O_NOFOLLOW, and O_CREAT | O_EXCL, do not follow a symlink in the last place.
        openat(&fake, libc::O_NOFOLLOW);
        assert_eq!(fake.asked.borrow().as_ref().map(|a| a.2), Some(false));
        openat(&fake, libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY);
        assert_eq!(fake.asked.borrow().as_ref().map(|a| a.2), Some(false));
        // linkat's new path: directory argument 2, path argument 3.
        judge(libc::SYS_linkat, [0, 0, 7, BASE, 0, 0], IDS, &fake);
        assert_eq!(fake.asked.borrow().as_ref().map(|a| a.0), Some(7));
    }

    #[test]
    fn a_path_is_read_to_its_end_across_pages() {
        // A path starting 100 bytes before a page ends and running 300 bytes into the next.
        let mut memory = vec![b'a'; 4096 + 400];
        memory[4096 + 300] = 0;
        let fake = holding(&memory);
        let start = BASE + 3996;
        assert_eq!(c_string(&fake, start).map(|s| s.len()), Some(400));
        // Memory ending before any NUL is no path.
        let unterminated = holding(&[b'a'; 64]);
        assert_eq!(c_string(&unterminated, BASE), None);
    }

    #[test]
    fn the_filter_hands_calls_to_the_host() {
        let program = filter().unwrap();
        let ret_k = (libc::BPF_RET | libc::BPF_K) as u16;
        assert!(
            program
                .iter()
                .any(|i| i.code == ret_k && i.k == libc::SECCOMP_RET_USER_NOTIF)
        );
        assert!(
            !program
                .iter()
                .any(|i| i.code == ret_k && i.k == libc::SECCOMP_RET_TRAP)
        );
    }
}
