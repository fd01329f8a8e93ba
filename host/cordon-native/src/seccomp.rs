//! The system calls no sandboxed command may make: they reach past its namespaces (mount,
//! setns, ptrace), into the kernel (modules, bpf, kexec, keyrings) or the machine (reboot,
//! the clock, swap). Each is answered `EPERM`; everything else is allowed, the namespaces,
//! dropped capabilities and cgroup doing the rest.
//!
//! One more thing no command may do: give a file the setuid or setgid bit. Inside, set-id
//! programs are inert (`no_new_privs`, nosuid mounts), but a file the command leaves in a
//! writable workspace is the host's: in the process tier it is owned by the host user that
//! runs Cordon, so a setuid bit there would hand that user's identity to whoever runs it.
//! So `chmod` and friends, and `open`/`creat`/`mknod` creating a file, are refused when
//! the mode carries either bit.

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
    // Takes its mode inside a struct, out of a filter's reach; libc falls back to openat.
    ("openat2", libc::SYS_openat2),
];

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

/// The filter as the raw BPF program `bwrap --seccomp FD` reads.
///
/// # Errors
///
/// When this architecture has no filter, or the filter does not compile.
pub fn bpf_bytes() -> Result<Vec<u8>, String> {
    #[cfg(target_arch = "x86_64")]
    let arch = TargetArch::x86_64;
    #[cfg(not(target_arch = "x86_64"))]
    return Err("no seccomp filter is built for this architecture".into());
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        REFUSED.iter().map(|(_, nr)| (*nr, Vec::new())).collect();
    let rule_error = |e: seccompiler::BackendError| format!("seccomp filter: {e}");
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
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| format!("seccomp filter: {e}"))?;
    let program: seccompiler::BpfProgram = filter
        .try_into()
        .map_err(|e| format!("seccomp filter: {e:?}"))?;
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for insn in program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_filter_compiles_to_whole_instructions() {
        let bytes = super::bpf_bytes().unwrap_or_default();
        assert!(!bytes.is_empty() && bytes.len().is_multiple_of(8));
    }
}
