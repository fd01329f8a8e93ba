//! The system calls no sandboxed command may make: they reach past its namespaces (mount,
//! setns, ptrace), into the kernel (modules, bpf, kexec, keyrings) or the machine (reboot,
//! the clock, swap). Making one is an attempt on the sandbox, not a mistake a program
//! recovers from: the kernel kills the process there (`SECCOMP_RET_KILL_PROCESS`, SIGSYS),
//! and the host reports `syscall_denied` and counts the attempt. Everything else is
//! allowed, the namespaces, dropped capabilities and cgroup doing the rest.
//!
//! One more thing no command may do: give a file the setuid or setgid bit. Inside, set-id
//! programs are inert (`no_new_privs`, nosuid mounts), but a file the command leaves in a
//! writable workspace is the host's: in the process tier it is owned by the host user that
//! runs Cordon, so a setuid bit there would hand that user's identity to whoever runs it.
//! So `chmod` and friends, and `open`/`creat`/`mknod` creating a file, are answered `EPERM`
//! when the mode carries either bit (ordinary calls with another mode must still work, so
//! these calls cannot simply kill). So is `openat2`, whose mode sits in a struct out of a
//! filter's reach: programs probe it and fall back to `openat`. In the process and container
//! (crun) tiers the set-id modes are left to the watcher (`watch`), which stops the call
//! instead.

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};
use std::collections::BTreeMap;

/// The refused calls by name (for OCI runtimes, which compile their own filter) and number.
#[cfg(target_arch = "x86_64")]
pub const REFUSED: &[(&str, i64)] = &[
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("fsopen", libc::SYS_fsopen),
    ("fsmount", libc::SYS_fsmount),
    ("fsconfig", libc::SYS_fsconfig),
    ("fspick", libc::SYS_fspick),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("setns", libc::SYS_setns),
    ("unshare", libc::SYS_unshare),
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("reboot", libc::SYS_reboot),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("iopl", libc::SYS_iopl),
    ("ioperm", libc::SYS_ioperm),
    ("syslog", libc::SYS_syslog),
    ("quotactl", libc::SYS_quotactl),
    ("vhangup", libc::SYS_vhangup),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    // io_uring runs socket, file and process operations the kernel starts on the
    // program's behalf, past every filter on the calls themselves (and has been a steady
    // source of kernel exploits): no tool needs it.
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
];

/// Calls answered `EPERM` whatever their arguments (see the module's documentation).
#[cfg(target_arch = "x86_64")]
pub const ANSWERED_EPERM: &[(&str, i64)] = &[("openat2", libc::SYS_openat2)];

/// No filter is built for other architectures yet: the native tiers refuse to start there.
#[cfg(not(target_arch = "x86_64"))]
pub const ANSWERED_EPERM: &[(&str, i64)] = &[];

/// The exit status a runtime (bwrap, crun, runsc) reports for a command the filter killed:
/// 128 + SIGSYS.
pub const KILLED_BY_FILTER: i32 = 128 + libc::SIGSYS;

/// Calls that set a file's mode, with the index of their mode argument: refused when the mode
/// has [`SET_ID_BITS`].
#[cfg(target_arch = "x86_64")]
pub const MODE_SETTERS: &[(&str, i64, u8)] = &[
    ("chmod", libc::SYS_chmod, 1),
    ("fchmod", libc::SYS_fchmod, 1),
    ("fchmodat", libc::SYS_fchmodat, 2),
    // fchmodat2 (Linux 6.6); by number, since the libc crate and older libseccomps lack it.
    ("fchmodat2", 452, 2),
    ("creat", libc::SYS_creat, 1),
    ("open", libc::SYS_open, 2),
    ("openat", libc::SYS_openat, 3),
    ("mknod", libc::SYS_mknod, 1),
    ("mknodat", libc::SYS_mknodat, 2),
];

/// No filter is built for other architectures yet: the native tiers refuse to start there.
#[cfg(not(target_arch = "x86_64"))]
pub const MODE_SETTERS: &[(&str, i64, u8)] = &[];

/// setuid and setgid.
pub const SET_ID_BITS: [u64; 2] = [libc::S_ISUID as u64, libc::S_ISGID as u64];

/// No filter is built for other architectures yet: the native tiers refuse to start there.
#[cfg(not(target_arch = "x86_64"))]
pub const REFUSED: &[(&str, i64)] = &[];

/// Who answers a set-id mode in the BPF program: this filter, with `EPERM` (the microVM
/// tier), or the process tier's watcher (see `watch`), which stops the call and reports it.
/// (The container tiers compile their own profile from the same lists.) A
/// filter's `EPERM` takes precedence over a watcher's notification, so the filter must
/// leave these calls alone where a watcher runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetIdModes {
    /// `EPERM` from this filter.
    Answered,
    /// Left to the watcher.
    Watched,
}

/// The filter as the raw BPF program `bwrap --seccomp FD` reads (and the microVM's agent
/// installs): the refused calls kill, then `openat2` and (unless watched) the set-id modes
/// get `EPERM`.
///
/// # Errors
///
/// When this architecture has no filter, or the filter does not compile.
pub fn bpf_bytes(set_id: SetIdModes) -> Result<Vec<u8>, String> {
    #[cfg(target_arch = "x86_64")]
    let arch = ARCH;
    #[cfg(not(target_arch = "x86_64"))]
    return Err("no seccomp filter is built for this architecture".into());
    let compile = |rules, action| compile(rules, action, arch);
    let killed = compile(
        REFUSED.iter().map(|(_, nr)| (*nr, Vec::new())).collect(),
        SeccompAction::KillProcess,
    )?;
    let mut modes: BTreeMap<i64, Vec<SeccompRule>> = ANSWERED_EPERM
        .iter()
        .map(|(_, nr)| (*nr, Vec::new()))
        .collect();
    if set_id == SetIdModes::Answered {
        modes.extend(set_id_mode_rules()?);
    }
    let answered = compile(modes, SeccompAction::Errno(libc::EPERM as u32))?;
    let program = chain(killed, answered)?;
    let mut bytes = Vec::with_capacity((X32_KILLED.len() + program.len()) * 8);
    for insn in X32_KILLED.iter().chain(&program) {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    Ok(bytes)
}

/// The x32 ABI's system calls arrive with x86-64's architecture and their number with bit
/// 30 set (`__X32_SYSCALL_BIT`): a filter matching numbers would miss every one of them
/// (`mount` as `0x40000000 | 165`), on kernels that run x32 at all. No sandboxed command is
/// an x32 program: any such call kills, before the rest of the filter looks at the number.
/// (libseccomp, which the OCI runtimes use, treats x32 as an architecture of its own and
/// kills it already.)
const X32_KILLED: [seccompiler::sock_filter; 3] = [
    // Load the call's number (offset 0 of seccomp_data).
    seccompiler::sock_filter {
        code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
        jt: 0,
        jf: 0,
        k: 0,
    },
    // Bit 30 set: fall through to the kill; else skip it.
    seccompiler::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16,
        jt: 0,
        jf: 1,
        k: 0x4000_0000,
    },
    seccompiler::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_KILL_PROCESS,
    },
];

/// The architecture the filters are built for.
#[cfg(target_arch = "x86_64")]
pub(crate) const ARCH: TargetArch = TargetArch::x86_64;

/// `rules` as one program: a call that matches gets `action`, every other call is allowed.
pub(crate) fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    action: SeccompAction,
    arch: TargetArch,
) -> Result<seccompiler::BpfProgram, String> {
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
        .map_err(|e| format!("seccomp filter: {e}"))?;
    seccompiler::BpfProgram::try_from(filter).map_err(|e| format!("seccomp filter: {e:?}"))
}

/// The rules matching a [`MODE_SETTERS`] call whose mode carries a [`SET_ID_BITS`] bit.
pub(crate) fn set_id_mode_rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, String> {
    let rule_error = |e: seccompiler::BackendError| format!("seccomp filter: {e}");
    let mut rules = BTreeMap::new();
    for (_, nr, index) in MODE_SETTERS {
        // One rule per bit (rules of a call are alternatives): `mode & bit == bit`.
        let per_bit = SET_ID_BITS
            .iter()
            .map(|bit| {
                let condition = SeccompCondition::new(
                    *index,
                    SeccompCmpArgLen::Dword,
                    SeccompCmpOp::MaskedEq(*bit),
                    *bit,
                )
                .map_err(rule_error)?;
                SeccompRule::new(vec![condition]).map_err(rule_error)
            })
            .collect::<Result<Vec<_>, String>>()?;
        rules.insert(*nr, per_bit);
    }
    Ok(rules)
}

/// One program that runs `first` and, where `first` would allow the call, `second`: every
/// `return ALLOW` of `first` becomes a jump to the start of `second`. Both begin by loading
/// what they test from the call's data, and the jumps keep `first`'s length, so each
/// program's own jumps still land where they did. (One program, because bwrap and the
/// microVM's agent each install one.)
fn chain(
    first: seccompiler::BpfProgram,
    second: seccompiler::BpfProgram,
) -> Result<seccompiler::BpfProgram, String> {
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
    const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    if first.len() + second.len() > usize::from(libc::BPF_MAXINSNS as u16) {
        return Err("seccomp filter: longer than the kernel accepts".into());
    }
    let len = first.len();
    let mut program: seccompiler::BpfProgram = first
        .into_iter()
        .enumerate()
        .map(|(i, mut insn)| {
            if insn.code == RET_K && insn.k == RET_ALLOW {
                insn.code = JA;
                insn.jt = 0;
                insn.jf = 0;
                // A jump's target is the next instruction plus k.
                insn.k = (len - i - 1) as u32;
            }
            insn
        })
        .collect();
    program.extend(second);
    Ok(program)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn the_filter_compiles_to_whole_instructions() {
        let bytes = super::bpf_bytes(super::SetIdModes::Answered).unwrap_or_default();
        assert!(!bytes.is_empty() && bytes.len().is_multiple_of(8));
    }

    #[test]
    fn an_x32_call_is_killed_before_anything_else() {
        let bytes = super::bpf_bytes(super::SetIdModes::Answered).unwrap_or_default();
        let first: Vec<(u16, u32)> = bytes
            .chunks_exact(8)
            .take(3)
            .map(|c| {
                (
                    u16::from_ne_bytes([c[0], c[1]]),
                    u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect();
        assert_eq!(
            first,
            [
                ((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 0),
                (
                    (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16,
                    0x4000_0000
                ),
                (
                    (libc::BPF_RET | libc::BPF_K) as u16,
                    libc::SECCOMP_RET_KILL_PROCESS
                ),
            ]
        );
    }

    #[test]
    fn only_the_second_program_may_allow_a_call() {
        let bytes = super::bpf_bytes(super::SetIdModes::Answered).unwrap_or_default();
        let insns: Vec<(u16, u32)> = bytes
            .chunks_exact(8)
            .map(|c| {
                (
                    u16::from_ne_bytes([c[0], c[1]]),
                    u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect();
        let ret_k = (libc::BPF_RET | libc::BPF_K) as u16;
        let kill = insns
            .iter()
            .position(|&(code, k)| code == ret_k && k == libc::SECCOMP_RET_KILL_PROCESS)
            .expect("the first program kills");
        let first_allow = insns
            .iter()
            .position(|&(code, k)| code == ret_k && k == libc::SECCOMP_RET_ALLOW)
            .expect("the second program allows");
        let eperm = insns
            .iter()
            .position(|&(code, k)| {
                code == ret_k && k == libc::SECCOMP_RET_ERRNO | libc::EPERM as u32
            })
            .expect("the second program answers EPERM");
        assert!(kill < first_allow && kill < eperm);
    }
}
