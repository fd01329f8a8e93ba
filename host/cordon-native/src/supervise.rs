//! Running a sandbox program to its end: stdin in, stdout and stderr out under their cap, the
//! deadline, and afterwards the cgroup emptied and asked which limit was hit. Every tier's
//! program (bwrap, crun, runsc) is supervised the same way.

use crate::cgroup::CallGroup;
use crate::{NativeLimits, NativeOutput, Stopped};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Spawns `command` (already configured to join `group` before exec) and supervises it.
///
/// # Errors
///
/// When the program cannot be started at all.
pub async fn supervise(
    mut command: tokio::process::Command,
    group: &CallGroup,
    stdin: Option<&[u8]>,
    limits: &NativeLimits,
) -> Result<NativeOutput, String> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let bytes = bytes.to_vec();
        // A command that never reads its stdin must not stall the call.
        tokio::spawn(async move {
            let _ = pipe.write_all(&bytes).await;
        });
    }
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("the sandbox's output pipes are missing".into());
    };
    let cap = usize::try_from(limits.output_bytes).unwrap_or(usize::MAX);
    let mut out_task = tokio::spawn(read_capped(out, cap));
    let mut err_task = tokio::spawn(read_capped(err, cap));
    let (mut out_done, mut err_done) = (None, None);
    let deadline = tokio::time::sleep(limits.timeout);
    tokio::pin!(deadline);
    let mut stopped = None;
    let status = loop {
        tokio::select! {
            r = &mut out_task, if out_done.is_none() => {
                let r = r.unwrap_or_default();
                if r.1 {
                    stopped.get_or_insert(Stopped::Output);
                    group.kill_all();
                }
                out_done = Some(r.0);
            }
            r = &mut err_task, if err_done.is_none() => {
                let r = r.unwrap_or_default();
                if r.1 {
                    stopped.get_or_insert(Stopped::Output);
                    group.kill_all();
                }
                err_done = Some(r.0);
            }
            s = child.wait() => break s.ok(),
            () = &mut deadline, if stopped.is_none() => {
                stopped = Some(Stopped::Deadline);
                group.kill_all();
            }
        }
    };
    let wall = started.elapsed();
    // Whatever the command left running (a daemon it started) dies with the call; then the
    // pipes it may have held close.
    let survivors = group.kill_all();
    // A reader that stopped at the cap may finish after the command did (the command dies
    // of the closed pipe, and its exit can win the race above): its overflow still counts.
    let collect = |done: Option<Vec<u8>>, task: tokio::task::JoinHandle<(Vec<u8>, bool)>| async move {
        match done {
            Some(bytes) => (bytes, false),
            None => (tokio::time::timeout(Duration::from_secs(1), task).await)
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
        }
    };
    let (stdout, out_over) = collect(out_done, out_task).await;
    let (stderr, err_over) = collect(err_done, err_task).await;
    if out_over || err_over {
        stopped.get_or_insert(Stopped::Output);
    }
    let hits = group.hits();
    // The most telling cause first: a fork bomb also runs into its deadline and, with
    // enough copies of itself, into its memory limit; a memory bomb into its deadline. The
    // pids limit is only ever hit by a tree that tried to grow past it.
    let stopped = if stopped == Some(Stopped::Output) {
        stopped
    } else if hits.pids_max > 0 {
        Some(Stopped::Processes)
    } else if hits.oom_kills > 0 || (hits.memory_max > 0 && killed(status) && stopped.is_none()) {
        // The OOM killer's own count, or (where it is kept per process, as on cgroup v1
        // for a process gVisor's sentry runs) the limit reached and a SIGKILL nobody
        // here sent.
        Some(Stopped::Memory)
    } else {
        use std::os::unix::process::ExitStatusExt;
        stopped.or_else(|| {
            Stopped::by_filter(
                status.and_then(|s| s.code()),
                status.and_then(|s| s.signal()),
            )
        })
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(NativeOutput {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout,
        stderr,
        wall,
        peak_memory: hits.peak_memory,
        stopped,
        survivors,
        attempt: None,
        accel: None,
    })
}

/// Ended by SIGKILL: directly, or as a runtime reports its container's (128 + 9).
fn killed(status: Option<std::process::ExitStatus>) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status
        .is_some_and(|s| s.signal() == Some(libc::SIGKILL) || s.code() == Some(128 + libc::SIGKILL))
}

/// Reads up to `cap` bytes; `true` when there was more (reading stops there: the caller
/// kills the tree, which closes the pipe).
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return (kept, false),
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                if n > room {
                    return (kept, true);
                }
            }
        }
    }
}
