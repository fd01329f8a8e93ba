//! Waiting for a job to finish without polling: a reader watches the job's id and the
//! queue signals it when the job's outcome is stored (for a shared queue, when any host
//! announces it).

use crate::JobId;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Jobs someone is waiting on.
#[derive(Default)]
pub struct Finished {
    watched: Mutex<HashMap<JobId, Arc<Notify>>>,
}

impl Finished {
    /// Resolves once [`Finished::signal`] is called for `id` after this call (the future is
    /// armed at once, before it is first polled).
    pub fn watch(&self, id: &JobId) -> impl Future<Output = ()> + Send + 'static {
        let notify = {
            let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
            watched.entry(id.clone()).or_default().clone()
        };
        let mut notified = Box::pin(notify.notified_owned());
        notified.as_mut().enable();
        notified
    }

    /// Wakes everyone watching `id`.
    pub fn signal(&self, id: &JobId) {
        let notify = {
            let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
            watched.remove(id)
        };
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }

    /// Forgets watches nobody holds any more (their readers timed out).
    pub fn prune(&self) {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        watched.retain(|_, n| Arc::strong_count(n) > 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_signal_after_watching_wakes_the_watcher_even_before_it_polls() {
        let f = Finished::default();
        let id = JobId::new();
        let watch = f.watch(&id);
        f.signal(&id);
        assert!(
            tokio::time::timeout(Duration::from_secs(1), watch)
                .await
                .is_ok()
        );
        let late = f.watch(&id);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), late)
                .await
                .is_err(),
            "a signal before watching is not seen"
        );
        f.prune();
        assert!(f.watched.lock().is_ok_and(|w| w.is_empty()));
    }
}
