//! Reading and writing domain documents: hydrate, change, reconcile, commit durably, tell the sync
//! client.
//!
//! Every write goes through [`Repository::update`]. It changes the store's own loaded document under
//! the store's lock for that document ([`SledStore::edit_document`]), so two requests never produce
//! changes with the same actor and sequence number and a write costs one automerge operation, not a
//! copy of the document; it then waits for durability outside the lock, so concurrent writers, to the same document
//! or not, share one fsync (group commit). It returns only once the changes are on disk: an answer of
//! success from the API means the write survives a crash.
//!
//! The actor id is drawn fresh for each process start (see ARCHITECTURE.md, invariants): a change
//! lost in a crash may already have reached the relay, and a new change under the same actor and
//! sequence number would collide with it.

use std::sync::atomic::{AtomicU64, Ordering};

use automerge::ActorId;
use autosurgeon::{Hydrate, Reconcile};
use sync_protocol::ids::{BlobId, DocId, Scope};
use sync_protocol::store::StoreError;
use sync_store::{EditError, SledStore};
use sync_transport::link::LocalNotice;
use tokio::sync::mpsc;

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
        let shape_error = |error: &dyn std::fmt::Display| RepositoryError::Shape {
            doc: doc.clone(),
            reason: error.to_string(),
        };
        let edited = self.store.edit_document(doc, |document| {
            let mut state: T = if document.get_heads().is_empty() {
                T::default()
            } else {
                autosurgeon::hydrate(&*document)
                    .map_err(|error| UpdateError::Repository(shape_error(&error)))?
            };
            let result = change(&mut state).map_err(UpdateError::Rejected)?;
            document.set_actor(self.actor.clone());
            let mut transaction = document.transaction();
            autosurgeon::reconcile(&mut transaction, &state)
                .map_err(|error| UpdateError::Repository(shape_error(&error)))?;
            transaction.commit();
            Ok(result)
        });
        let (result, changed) = match edited {
            Ok((result, heads)) => (result, heads.is_some()),
            Err(EditError::Rejected(error)) => return Err(error),
            Err(EditError::Store(error)) => return Err(RepositoryError::Store(error).into()),
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
}
