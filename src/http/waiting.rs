//! The connections still waiting for their request head, oldest first. When every slot is
//! taken, the oldest of them is shed to make room for a new connection: a client that
//! opens connections and sends nothing then only ever replaces its own silent ones, and
//! cannot keep a probe (which sends its request at once) from being served. Each one is
//! safe for a grace period after it was accepted, or a client that reopens connections as
//! fast as they are shed would get every new one shed before its request could arrive.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;

#[derive(Default)]
pub struct Waiting {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Ids in order of acceptance, with when: the first entry has waited longest.
    tasks: BTreeMap<u64, (Instant, AbortHandle)>,
    next: u64,
}

impl Waiting {
    /// Spawns `connection(id)` as a task and records it as waiting for its head.
    pub fn spawn<F, Fut>(&self, connection: F)
    where
        F: FnOnce(u64) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // Spawned under the lock: the task cannot end (and remove its id) before its id
        // is added, so no entry outlives its connection, whatever the runtime.
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        let task = tokio::spawn(connection(id));
        inner
            .tasks
            .insert(id, (Instant::now(), task.abort_handle()));
    }

    /// The request head of `id` arrived, or its connection ended: it can no longer be shed.
    pub fn remove(&self, id: u64) {
        self.lock().tasks.remove(&id);
    }

    pub fn contains(&self, id: u64) -> bool {
        self.lock().tasks.contains_key(&id)
    }

    /// When the connection that has waited longest was accepted; None when none waits.
    pub fn oldest(&self) -> Option<Instant> {
        self.lock()
            .tasks
            .first_key_value()
            .map(|(_, (since, _))| *since)
    }

    /// Ends the connection that has waited longest, if it has waited `grace` at least;
    /// false when there is none. Its task drops at its next poll, and with it its socket
    /// and its slot.
    pub fn shed_oldest(&self, grace: Duration) -> bool {
        let mut inner = self.lock();
        let Some(entry) = inner.tasks.first_entry() else {
            return false;
        };
        if entry.get().0.elapsed() < grace {
            return false;
        }
        entry.remove().1.abort();
        true
    }

    /// Nothing panics while the lock is held, but a poisoned lock must not panic either.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Sends its id when dropped: when its task ends or is aborted.
    struct Report(u64, tokio::sync::mpsc::UnboundedSender<u64>);

    impl Drop for Report {
        fn drop(&mut self) {
            let _ = self.1.send(self.0);
        }
    }

    #[tokio::test]
    async fn the_oldest_waiting_connection_is_shed_first() {
        let waiting = Arc::new(Waiting::default());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..3 {
            let tx = tx.clone();
            waiting.spawn(move |id| {
                // Made outside the future, so that it reports even a task never polled.
                let report = Report(id, tx);
                async move {
                    let _report = report;
                    std::future::pending::<()>().await;
                }
            });
        }
        assert!(waiting.oldest().is_some_and(|t| t <= Instant::now()));
        assert!(
            !waiting.shed_oldest(Duration::from_secs(3600)),
            "too young to shed"
        );
        // The head of 0 arrived: 1 is now the oldest one waiting.
        waiting.remove(0);
        assert!(!waiting.contains(0) && waiting.contains(1));
        assert!(waiting.shed_oldest(Duration::ZERO));
        assert_eq!(rx.recv().await, Some(1));
        assert!(waiting.shed_oldest(Duration::ZERO));
        assert_eq!(rx.recv().await, Some(2));
        assert!(
            !waiting.shed_oldest(Duration::ZERO),
            "0 is not waiting any more"
        );
        assert_eq!(waiting.oldest(), None);
    }
}
