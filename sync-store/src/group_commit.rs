//! Group commit: many writers wait for durability together and share one flush.
//!
//! A write is applied to sled at once (visible to readers) but is only on disk after a flush, which
//! costs one or more `fsync`s. Flushing after every write would cap a node at a few hundred writes a
//! second, so writers share flushes instead:
//!
//! * every applied write is counted, after sled has applied it ([`GroupCommit::note_write`]); the
//!   count when a write is noted is its *ticket*;
//! * a flush reads the count when it starts, and when it finishes every write with a ticket up to that
//!   count is durable, because sled's flush persists everything applied before it began;
//! * a writer that wants durability ([`GroupCommit::wait_durable`]) takes the current count as its
//!   ticket and waits until a finished flush covers it. If no flush is running, it becomes the leader:
//!   it starts one, runs it without holding the lock, and wakes everyone when it ends.
//!
//! Writers that finish their writes while a flush runs are covered together by the next flush, led by
//! the first of them to see the running one end. So N writers arriving together cost one or two
//! flushes, not N. There is no flusher thread to start or stop: the waiters take turns. A waiter that
//! needs nothing (its ticket is already covered) returns at once without flushing.
//!
//! If a flush fails, its leader gets the error, and waiters it would have covered try again by leading
//! a flush of their own, so each waiter either sees a successful flush cover its write or reports an
//! error from a flush it ran itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use sync_protocol::store::StoreError;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct GroupCommit {
    state: Mutex<FlushState>,
    flush_finished: Condvar,
    /// Writes applied so far; the ticket of the latest.
    writes_applied: AtomicU64,
    /// Every flush of the database, for tests and metrics.
    flushes_total: AtomicU64,
}

#[derive(Debug, Default)]
struct FlushState {
    /// Whether a leader is flushing now.
    flush_running: bool,
    /// Every write with a ticket up to this is on disk.
    durable_writes: u64,
}

impl GroupCommit {
    /// Counts a write that sled has applied. Call after every write, before waiting for it.
    pub fn note_write(&self) {
        self.writes_applied.fetch_add(1, Ordering::AcqRel);
    }

    /// Returns once every write noted before this call is on disk, running `flush` itself when no
    /// other waiter is.
    pub fn wait_durable(&self, flush: impl Fn() -> Result<(), String>) -> Result<(), StoreError> {
        let ticket = self.writes_applied.load(Ordering::Acquire);
        let mut state = self.lock();
        loop {
            if state.durable_writes >= ticket {
                return Ok(());
            }
            if state.flush_running {
                state = self
                    .flush_finished
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.flush_running = true;
            // Read under the lock after our own write was noted, so the count covers our ticket.
            let covering = self.writes_applied.load(Ordering::Acquire);
            drop(state);
            self.flushes_total.fetch_add(1, Ordering::Relaxed);
            let result = flush();
            state = self.lock();
            state.flush_running = false;
            if result.is_ok() {
                state.durable_writes = state.durable_writes.max(covering);
            }
            self.flush_finished.notify_all();
            if let Err(error) = result {
                return Err(StoreError::Io(format!("flush failed: {error}")));
            }
        }
    }

    pub fn writes_total(&self) -> u64 {
        self.writes_applied.load(Ordering::Relaxed)
    }

    pub fn flushes_total(&self) -> u64 {
        self.flushes_total.load(Ordering::Relaxed)
    }

    /// The state is a flag and a counter that stay consistent whatever a panicking thread was doing,
    /// so a poisoned lock is still safe to use.
    fn lock(&self) -> MutexGuard<'_, FlushState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_covered_waiter_does_not_flush_and_a_failed_flush_is_reported() {
        let group = GroupCommit::default();
        assert_eq!(group.wait_durable(|| Ok(())), Ok(()));
        assert_eq!(group.flushes_total(), 0);
        group.note_write();
        assert!(group.wait_durable(|| Err("disk gone".into())).is_err());
        assert_eq!(group.wait_durable(|| Ok(())), Ok(()));
        assert_eq!(group.wait_durable(|| Ok(())), Ok(()));
        assert_eq!(group.flushes_total(), 2);
    }
}
