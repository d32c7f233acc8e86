//! Reading and writing domain documents: hydrate, change, reconcile, commit durably, tell the sync
//! client.
//!
//! Every write goes through [`Repository::update`]. It holds a lock per document (striped) while it
//! loads, changes and applies, so two requests never produce changes with the same actor and sequence
//! number; it then waits for durability outside the lock, so concurrent writers, to the same document
//! or not, share one fsync (group commit). It returns only once the changes are on disk: an answer of
//! success from the API means the write survives a crash.
//!
//! The actor id is drawn fresh for each process start (see ARCHITECTURE.md, invariants): a change
//! lost in a crash may already have reached the relay, and a new change under the same actor and
//! sequence number would collide with it.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use automerge::{ActorId, Automerge};
use autosurgeon::{Hydrate, Reconcile};
use sync_protocol::ids::{BlobId, DocId, Scope};
use sync_protocol::store::StoreError;
use sync_store::SledStore;
use sync_transport::link::LocalNotice;
use tokio::sync::mpsc;

/// Stripes of the per-document write lock. Two documents share a stripe only by hash collision,
/// which costs some concurrency, never correctness.
const WRITE_LOCK_STRIPES: usize = 64;

/// Local-change notices buffered for the sync client. When the client is offline or behind, notices
/// beyond this are dropped: the relay's sync request on the next connection finds those changes.
pub const MAX_QUEUED_NOTICES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("document {doc} does not match its expected shape: {reason}")]
    Shape { doc: DocId, reason: String },
}

/// An update that the operation itself refused (bad input, not allowed), or a failure below it.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error(transparent)]
    Rejected(E),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// See the module documentation. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Repository {
    store: SledStore,
    actor: ActorId,
    write_locks: Vec<Mutex<()>>,
    notices: mpsc::Sender<LocalNotice>,
    writes_total: AtomicU64,
    notices_dropped_total: AtomicU64,
}

impl Repository {
    /// A repository over `store`; local changes are announced on `notices`.
    pub fn new(store: SledStore, notices: mpsc::Sender<LocalNotice>) -> Self {
        Self {
            store,
            actor: ActorId::random(),
            write_locks: (0..WRITE_LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            notices,
            writes_total: AtomicU64::new(0),
            notices_dropped_total: AtomicU64::new(0),
        }
    }

    pub fn store(&self) -> &SledStore {
        &self.store
    }

    /// Durable writes committed since start.
    pub fn writes_total(&self) -> u64 {
        self.writes_total.load(Ordering::Relaxed)
    }

    /// Notices dropped because the sync client was behind or offline.
    pub fn notices_dropped_total(&self) -> u64 {
        self.notices_dropped_total.load(Ordering::Relaxed)
    }

    /// The document as `T`, or `None` when the store does not hold it.
    pub fn read<T: Hydrate>(&self, doc: &DocId) -> Result<Option<T>, RepositoryError> {
        let hydrated = self
            .store
            .read_document(doc, |document| autosurgeon::hydrate::<_, T>(document))?;
        match hydrated {
            None => Ok(None),
            Some(Ok(value)) => Ok(Some(value)),
            Some(Err(error)) => Err(RepositoryError::Shape {
                doc: doc.clone(),
                reason: error.to_string(),
            }),
        }
    }

    /// The document as `T`, or `T::default()` when the store does not hold it.
    pub fn read_or_default<T: Hydrate + Default>(&self, doc: &DocId) -> Result<T, RepositoryError> {
        Ok(self.read(doc)?.unwrap_or_default())
    }

    /// Loads `doc` as `T` (or `T::default()` when new), runs `change` on it, and commits whatever it
    /// changed durably. `change` refusing (returning `Err`) changes nothing.
    pub fn update<T, R, E>(
        &self,
        doc: &DocId,
        change: impl FnOnce(&mut T) -> Result<R, E>,
    ) -> Result<R, UpdateError<E>>
    where
        T: Hydrate + Reconcile + Default,
    {
        let (result, changed) = {
            let _guard = self.lock_for(doc);
            let mut document = self
                .store
                .document(doc)
                .map_err(RepositoryError::Store)?
                .unwrap_or_else(Automerge::new);
            let mut state: T = if document.get_heads().is_empty() {
                T::default()
            } else {
                autosurgeon::hydrate(&document).map_err(|error| RepositoryError::Shape {
                    doc: doc.clone(),
                    reason: error.to_string(),
                })?
            };
            let result = change(&mut state).map_err(UpdateError::Rejected)?;
            document.set_actor(self.actor.clone());
            let before = document.get_heads();
            let mut transaction = document.transaction();
            autosurgeon::reconcile(&mut transaction, &state).map_err(|error| {
                RepositoryError::Shape {
                    doc: doc.clone(),
                    reason: error.to_string(),
                }
            })?;
            transaction.commit();
            let changes: Vec<Vec<u8>> = document
                .get_changes(&before)
                .into_iter()
                .map(|change| change.raw_bytes().to_vec())
                .collect();
            let changed = !changes.is_empty();
            if changed {
                self.store
                    .apply_changes(doc, changes)
                    .map_err(RepositoryError::Store)?;
            }
            (result, changed)
        };
        if changed {
            self.store.wait_durable().map_err(RepositoryError::Store)?;
            self.writes_total.fetch_add(1, Ordering::Relaxed);
            self.notify(LocalNotice::Document(doc.clone()));
        }
        Ok(result)
    }

    /// Stores a file durably in `scope` and announces it to the relay.
    pub fn put_blob(&self, scope: &Scope, content: &[u8]) -> Result<BlobId, RepositoryError> {
        let blob = self.store.put_blob(scope, content)?;
        self.store.wait_durable()?;
        self.notify(LocalNotice::Blob {
            scope: scope.clone(),
            blob,
        });
        Ok(blob)
    }

    fn notify(&self, notice: LocalNotice) {
        if self.notices.try_send(notice).is_err() {
            self.notices_dropped_total.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn lock_for(&self, doc: &DocId) -> std::sync::MutexGuard<'_, ()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        doc.hash(&mut hasher);
        let stripe = (hasher.finish() as usize) % self.write_locks.len();
        // A poisoned stripe only means a writer panicked while holding it; the document itself is
        // unchanged (nothing is applied before the final step), so the lock is still good to use.
        self.write_locks[stripe]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
