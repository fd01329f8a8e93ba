//! Workspaces for remote calls of tools that ask for one (`[capabilities] workspace`): a
//! fresh directory per call, or a session's directory that outlives the call so the next
//! call of the same session (any such tool, same tenant) finds the files.
//!
//! ```text
//! ROOT/fresh/<pid>/<random>/                one call's, removed when it ends; a process's
//!                                           own directory, so what a crashed process left
//!                                           is swept by the next one, and only that
//! ROOT/sessions/<tenant hex>/<session>/ws/   what the guest sees at /workspace
//! ROOT/sessions/<tenant hex>/<session>/used  last use (host-only: outside the guest's reach)
//! ```
//!
//! Sessions expire `ttl` after their last use; a tenant whose sessions hold more than its
//! quota gets `quota_exceeded` until it frees space or sessions expire.

use cordon_core::{CallError, ErrorCode};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Where workspaces live, and their bounds.
pub struct Workspaces {
    root: PathBuf,
    ttl: Duration,
    quota_bytes: u64,
    last_sweep: Mutex<Option<Instant>>,
}

/// A call's workspace directory on the host.
pub enum Workspace {
    /// Removed when dropped.
    Fresh(tempfile::TempDir),
    /// A session's: kept.
    Session(PathBuf),
}

impl Workspace {
    /// The directory to grant.
    pub fn path(&self) -> &Path {
        match self {
            Workspace::Fresh(t) => t.path(),
            Workspace::Session(p) => p,
        }
    }
}

/// How often expired sessions are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Workspaces {
    /// Workspaces under `root`. Fresh workspaces that processes no longer running left
    /// behind (a crash, a kill) are removed now.
    pub fn new(root: PathBuf, ttl: Duration, quota_bytes: u64) -> Workspaces {
        remove_orphaned_fresh(&root.join("fresh"));
        Workspaces {
            root,
            ttl,
            quota_bytes,
            last_sweep: Mutex::new(None),
        }
    }

    /// The workspace for one call of `tenant`: session `session`'s (created on first use),
    /// or a fresh one.
    ///
    /// # Errors
    ///
    /// `bad_request` for a malformed session id; `quota_exceeded` when the tenant's
    /// sessions hold more than its quota; `internal` when the directory cannot be made.
    pub fn for_call(&self, tenant: &str, session: Option<&str>) -> Result<Workspace, CallError> {
        self.sweep_now_and_then();
        let Some(id) = session else {
            let fresh = self.root.join("fresh").join(std::process::id().to_string());
            std::fs::create_dir_all(&fresh).map_err(internal)?;
            return tempfile::tempdir_in(&fresh)
                .map(Workspace::Fresh)
                .map_err(internal);
        };
        check_session_id(id)?;
        let tenant_dir = self.tenant_dir(tenant);
        let used = dir_size(&tenant_dir);
        if used > self.quota_bytes {
            return Err(CallError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "the sessions of tenant {tenant:?} hold {used} bytes, over its quota of {} bytes: delete files or let sessions expire (after {} s unused)",
                    self.quota_bytes,
                    self.ttl.as_secs()
                ),
            ));
        }
        let dir = tenant_dir.join(id);
        let ws = dir.join("ws");
        std::fs::create_dir_all(&ws).map_err(internal)?;
        std::fs::write(dir.join("used"), b"").map_err(internal)?;
        Ok(Workspace::Session(ws))
    }

    fn tenant_dir(&self, tenant: &str) -> PathBuf {
        // Tenant names come from tokens and may hold anything; hex keeps them one safe
        // path component each.
        self.root.join("sessions").join(hex::encode(tenant))
    }

    /// Removes sessions unused for longer than the TTL, at most once a minute.
    fn sweep_now_and_then(&self) {
        {
            let mut last = self.last_sweep.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.sweep();
    }

    /// Removes every session unused for longer than the TTL; returns how many.
    pub fn sweep(&self) -> usize {
        let mut removed = 0;
        let Ok(tenants) = std::fs::read_dir(self.root.join("sessions")) else {
            return 0;
        };
        let now = SystemTime::now();
        for tenant in tenants.flatten() {
            let Ok(sessions) = std::fs::read_dir(tenant.path()) else {
                continue;
            };
            for session in sessions.flatten() {
                let used = std::fs::metadata(session.path().join("used"))
                    .and_then(|m| m.modified())
                    .ok();
                let expired = used
                    .and_then(|u| now.duration_since(u).ok())
                    .is_none_or(|idle| idle > self.ttl);
                if expired && std::fs::remove_dir_all(session.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
}

/// Removes `fresh/<pid>` of every process that is no longer running. A process that is
/// (another `cordon` sharing the data directory) keeps its own.
fn remove_orphaned_fresh(fresh: &Path) {
    let Ok(entries) = std::fs::read_dir(fresh) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let running = Path::new("/proc").join(pid.to_string()).exists();
        if !running && pid != std::process::id() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn internal(e: std::io::Error) -> CallError {
    CallError::new(
        ErrorCode::Internal,
        format!("cannot prepare the workspace: {e}"),
    )
}

/// Session ids name directories: 1–64 of `[A-Za-z0-9_-]`, nothing that could climb.
fn check_session_id(id: &str) -> Result<(), CallError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CallError::new(
            ErrorCode::BadRequest,
            format!("session: {id:?} is not 1-64 letters, digits, '_' or '-'"),
        ))
    }
}

/// Bytes of regular files under `dir` (symlinks not followed).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_keep_files_per_tenant_and_fresh_workspaces_vanish() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let w = Workspaces::new(root.path().to_owned(), Duration::from_secs(3600), 1 << 20);
        let a = w
            .for_call("acme", Some("s1"))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(a.path().join("f"), "x").unwrap_or_else(|e| panic!("{e}"));
        let again = w
            .for_call("acme", Some("s1"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(again.path().join("f").is_file());
        let other = w
            .for_call("globex", Some("s1"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !other.path().join("f").exists(),
            "same id, other tenant: other directory"
        );
        let fresh = w.for_call("acme", None).unwrap_or_else(|e| panic!("{e}"));
        let path = fresh.path().to_owned();
        assert!(path.is_dir());
        drop(fresh);
        assert!(!path.exists());
        for bad in ["", "../x", "a/b", ".", &"x".repeat(65)] {
            assert!(w.for_call("acme", Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fresh_workspaces_of_dead_processes_are_removed_and_live_ones_kept() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let fresh = root.path().join("fresh");
        // No process has pid 4294967295; this test's own process is alive.
        let dead = fresh.join(u32::MAX.to_string()).join("left-behind");
        let alive = fresh.join(std::process::id().to_string()).join("in-use");
        for d in [&dead, &alive] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        let _w = Workspaces::new(root.path().to_owned(), Duration::from_secs(60), 1 << 20);
        assert!(!dead.exists());
        assert!(alive.exists());
    }

    #[test]
    fn a_tenant_over_its_quota_is_refused_and_expired_sessions_are_swept() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let w = Workspaces::new(root.path().to_owned(), Duration::from_millis(50), 10);
        let s = w
            .for_call("acme", Some("big"))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(s.path().join("f"), "more than ten bytes").unwrap_or_else(|e| panic!("{e}"));
        let refused = w.for_call("acme", Some("another"));
        assert!(matches!(refused, Err(e) if e.code == ErrorCode::QuotaExceeded));
        assert!(
            w.for_call("globex", Some("big")).is_ok(),
            "other tenants unaffected"
        );
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(w.sweep(), 2);
        assert!(w.for_call("acme", Some("another")).is_ok(), "space freed");
    }
}
