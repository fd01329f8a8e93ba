//! Children that die with this process.
//!
//! A booted microVM is a QEMU process that lives longer than the call or the thread that
//! started it: pool VMs wait for calls, booted on short-lived threads. If `cordon serve` is
//! killed (SIGKILL, a crash, the OOM killer) nothing runs their destructors, and each one
//! would go on emulating a CPU, owned by init, until someone notices. So they are started
//! with `PR_SET_PDEATHSIG`: the kernel sends SIGKILL to the child when its parent dies.
//!
//! "Parent" there means the *thread* that forked, not the process. A child forked on a
//! thread that then ends (a `spawn_blocking` worker, a refill thread) would be killed with
//! it. So every such child is forked on one thread that lives as long as the process:
//! [`spawn_bound`] hands the command to it and waits for the result.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::LazyLock;
use std::sync::mpsc::{Sender, SyncSender, channel, sync_channel};

type Request = (Command, SyncSender<io::Result<Child>>);

/// The forking thread, started on first use. Its one sender is this static, which is never
/// dropped, so the thread runs until the process ends, and so do the children forked on it.
static LAUNCHER: LazyLock<io::Result<Sender<Request>>> = LazyLock::new(|| {
    let (tx, rx) = channel::<Request>();
    std::thread::Builder::new()
        .name("cordon-launcher".into())
        .spawn(move || {
            for (mut command, reply) in rx {
                let _ = reply.send(command.spawn());
            }
        })?;
    Ok(tx)
});

/// Spawns `command` as a child that the kernel kills (SIGKILL) when this process dies, by
/// whatever means.
///
/// # Errors
///
/// The launcher thread cannot be started, or the command cannot be spawned.
pub(crate) fn spawn_bound(mut command: Command) -> io::Result<Child> {
    let parent = libc::pid_t::try_from(std::process::id()).map_err(io::Error::other)?;
    // SAFETY: prctl and getppid are async-signal-safe system calls with plain arguments.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between the fork and the prctl: then nothing would
            // ever send the signal.
            if libc::getppid() != parent {
                return Err(io::Error::other("the parent process is gone"));
            }
            Ok(())
        });
    }
    let launcher = LAUNCHER
        .as_ref()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start the launcher thread: {e}")))?;
    let (reply, answer) = sync_channel(1);
    launcher
        .send((command, reply))
        .map_err(|_| io::Error::other("the launcher thread has stopped"))?;
    answer
        .recv()
        .map_err(|_| io::Error::other("the launcher thread has stopped"))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Children forked for threads that have since ended live on: the fork happened on the
    /// launcher thread, which does not end.
    #[test]
    fn a_child_outlives_the_thread_that_asked_for_it() {
        let mut child = std::thread::spawn(|| {
            let mut sleep = Command::new("sleep");
            sleep.arg("30");
            spawn_bound(sleep).unwrap()
        })
        .join()
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "the child died with the thread"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
