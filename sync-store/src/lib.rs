//! The durable replica store of DigiOne Edge: [`SledStore`], the sled implementation of
//! [`sync_protocol::store::ReplicaStore`].
//!
//! It owns, on disk: automerge documents, content-addressed blobs, the change log and digest of every
//! scope, and the sync state per peer (shared heads per document, a cursor per scope). Its behaviour
//! matches [`sync_protocol::memory::MemoryStore`], which the tests check write for write.
//!
//! # Documents
//! A document is stored as an optional `save()` snapshot followed by numbered incremental chunks, each
//! the `save_after(old_heads)` of one write, so a write appends a few hundred bytes instead of
//! rewriting the document. Loading concatenates snapshot and chunks and calls `Automerge::load`. When a
//! write would leave more than [`MAX_INCREMENTAL_CHUNKS`] chunks or more than
//! [`MAX_INCREMENTAL_CHUNK_BYTES`] bytes of them, the same atomic write stores one fresh snapshot
//! instead and deletes the chunks (compaction). Loaded documents stay in a cache of at most
//! [`MAX_CACHED_DOCUMENTS`], evicting the least recently used.
//!
//! A document whose records are damaged (a chunk overwritten, truncated or missing, a snapshot that
//! does not load, heads that do not match the record) is reported as
//! [`StoreError::CorruptDocument`] for that document only; every other document stays readable.
//! Nothing read from disk or received from a peer is trusted to be well formed, and automerge itself
//! is run under `catch_unwind` so that a bug it has on hostile bytes becomes an error, not a crash.
//!
//! # Blobs
//! A blob is stored in pieces of at most [`BLOB_STORAGE_CHUNK_BYTES`], once however many scopes hold
//! it, and a scope holds it only after uploading all of its bytes: each scope's upload is kept apart
//! until it is verified. See the blob section of [`layout`].
//!
//! # Atomicity and durability
//! Every record lives in one sled tree (see [`layout`]), and every write that touches several records
//! (a document chunk, its record, its scope's log entry and digest, the sequence counter) is one
//! `sled::Batch`, which sled applies atomically, also across a crash. Sequence numbers are persisted
//! in the batch that uses them, so after a restart they continue from where they were and never repeat.
//!
//! A write is visible at once but durable only after a flush. [`SledStore::wait_durable`] returns
//! once a flush that started after the call has finished, and concurrent callers share flushes:
//! see [`group_commit`] for the design. [`SledStore::commit_local_changes`] is "apply, then wait
//! until durable", the write API for local edits whose acknowledgement must survive a crash.
//!
//! # Sharing
//! [`SledStore`] is a cheap `Clone` handle around an `Arc`; every method takes `&self`. Writes are
//! serialised per document by a striped document lock, under which the automerge work happens, and
//! only numbering a write and applying its batch take the one writer lock (they read and update the
//! sequence counter and digests). Reads go to sled directly, except that loading a document from disk
//! takes its document lock, so that a compaction cannot delete chunks between reading a document's
//! record and reading its chunks.

pub mod group_commit;
pub mod layout;

mod cache;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use automerge::{Automerge, ChangeHash};
use rand::{RngCore as _, SeedableRng as _};
use sha2::{Digest as _, Sha256};
use sync_protocol::ids::{BlobId, DocId, NodeId, Scope};
use sync_protocol::store::{
    ApplyOutcome, BlobWriteOutcome, LogItem, MAX_DOCUMENT_BYTES, ReplicaStore, ScopeSummary,
    ScopeUsage, Seq, StoreError, applicable_changes, blob_fingerprint, decode_shared_heads,
    document_fingerprint, encode_shared_heads, new_bytes_of_blob_piece, sorted_heads,
};
use sync_protocol::wire::{Cursor, MAX_BLOB_BYTES, ScopeDigest};

use crate::cache::DocumentCache;
use crate::group_commit::GroupCommit;
use crate::layout::{BlobRecord, DocumentRecord, Pieces, UploadId, UploadRecord};

/// The memory sled may use for its page cache (64 MiB) when the opener does not choose
/// ([`SledStore::open`]): the relay, which holds many schools. sled's own default is 1 GiB. A school
/// node chooses less ([`SledStore::open_with_cache_capacity`]); see `node::server`.
pub const SLED_CACHE_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// How often sled flushes in the background on its own, in milliseconds. Nothing relies on it for
/// durability (acknowledged writes wait for an explicit flush); it only bounds what an unacknowledged
/// write can lose.
pub const SLED_FLUSH_EVERY_MS: u64 = 500;

/// How often `open` tries to take the store's directory lock, and how long it waits between tries:
/// 100 × 20 ms, two seconds in all, before reporting the store as in use.
const OPEN_LOCK_ATTEMPTS: u32 = 100;
const OPEN_LOCK_RETRY_MS: u64 = 20;

/// How many locks the documents are spread over. Writes to documents of different stripes do their
/// automerge work in parallel and meet only at the short writer lock that orders the logs.
const DOCUMENT_LOCK_STRIPES: usize = 64;

/// The most loaded documents kept in memory.
pub const MAX_CACHED_DOCUMENTS: usize = 256;

/// The most incremental chunks a document keeps before they are compacted into a snapshot.
pub const MAX_INCREMENTAL_CHUNKS: u64 = 64;

/// The most bytes of incremental chunks a document keeps before they are compacted (1 MiB).
pub const MAX_INCREMENTAL_CHUNK_BYTES: u64 = 1024 * 1024;

/// The largest piece of a blob stored as one sled value (64 KiB), so that a large file is never one
/// giant value that sled has to copy and rewrite as a whole.
pub const BLOB_STORAGE_CHUNK_BYTES: usize = 64 * 1024;

/// How many bytes of a local upload go into one atomic write (4 MiB), so that a large upload does not
/// build one huge batch in memory. An upload interrupted by a crash is left as a partial blob.
pub const BLOB_UPLOAD_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Why [`SledStore::edit_document`] stored nothing.
#[derive(Debug)]
pub enum EditError<E> {
    /// The edit itself refused.
    Rejected(E),
    /// The store could not load or write the document.
    Store(StoreError),
}

/// Counters describing what the store has done since it was opened, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreMetrics {
    /// Flushes of the database to disk made to wait for durability (each one or more `fsync`s).
    pub flushes_total: u64,
    /// Atomic writes applied to the database.
    pub writes_total: u64,
    /// Documents compacted from snapshot and chunks into one snapshot.
    pub compactions_total: u64,
    /// Documents loaded from disk because they were not in the cache.
    pub document_loads_total: u64,
    /// Document reads answered from the cache.
    pub document_cache_hits_total: u64,
    /// Documents in the cache now.
    pub cached_documents: usize,
}

/// See the crate documentation.
#[derive(Debug, Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    epoch: u64,
    writer: Mutex<WriterState>,
    /// One lock per stripe of documents: whoever changes or loads a document holds its stripe's
    /// lock (see `SledStore::document_lock`).
    document_locks: Box<[Mutex<()>]>,
    cache: Mutex<DocumentCache>,
    group_commit: GroupCommit,
    compactions_total: AtomicU64,
    document_loads_total: AtomicU64,
    document_cache_hits_total: AtomicU64,
    /// How many documents the store holds; see [`SledStore::document_count`].
    document_count: AtomicU64,
    /// The families of documents whose writes are counted; see [`SledStore::change_counter`].
    watched_families: std::sync::RwLock<Vec<WatchedFamily>>,
}

/// Documents whose names start with one of `name_prefixes`, and how many writes they have had.
#[derive(Debug)]
struct WatchedFamily {
    name_prefixes: Vec<String>,
    writes: Arc<AtomicU64>,
}

/// How many writes a family of documents has had since the store was opened; see
/// [`SledStore::change_counter`]. Cheap to clone and to read (one atomic load).
#[derive(Debug, Clone)]
pub struct ChangeCounter {
    writes: Arc<AtomicU64>,
}

impl ChangeCounter {
    pub fn get(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }
}

/// What only the holder of the writer lock may read and change.
#[derive(Debug)]
struct WriterState {
    /// The last sequence number written to disk; the next write uses the one after.
    last_seq: Seq,
}

impl SledStore {
    /// Opens the store in the directory `path`, creating it (and drawing its epoch) if needed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_cache_capacity(path, SLED_CACHE_CAPACITY_BYTES)
    }

    /// Opens the store like [`Self::open`], with sled's page cache bounded to `cache_bytes` (as sled
    /// counts them) instead of [`SLED_CACHE_CAPACITY_BYTES`].
    pub fn open_with_cache_capacity(
        path: impl AsRef<Path>,
        cache_bytes: u64,
    ) -> Result<Self, StoreError> {
        match Self::open_unless_in_use_with_cache_capacity(path.as_ref(), cache_bytes)? {
            Some(store) => Ok(store),
            None => Err(StoreError::Io(format!(
                "the store in {} is in use by another process",
                path.as_ref().display()
            ))),
        }
    }

    /// Opens the store like [`Self::open`], or answers `None` when another process holds it (sled
    /// allows one at a time), so that a command can turn to the process that serves it instead.
    pub fn open_unless_in_use(path: impl AsRef<Path>) -> Result<Option<Self>, StoreError> {
        Self::open_unless_in_use_with_cache_capacity(path, SLED_CACHE_CAPACITY_BYTES)
    }

    /// [`Self::open_unless_in_use`] with sled's page cache bounded to `cache_bytes`.
    pub fn open_unless_in_use_with_cache_capacity(
        path: impl AsRef<Path>,
        cache_bytes: u64,
    ) -> Result<Option<Self>, StoreError> {
        let path = path.as_ref();
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(Some(SLED_FLUSH_EVERY_MS));
        // sled's background flusher keeps the directory lock for a moment after the previous handle
        // is dropped, so a restart in the same process (or right after a dying one) waits for it,
        // up to a bound, instead of failing.
        let mut attempts_left = OPEN_LOCK_ATTEMPTS;
        let mut unfinished_snapshots_removed = false;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                // sled 0.34 writes a snapshot as `snap.<lsn>.generating`, syncs it and only then
                // renames it to `snap.<lsn>`; but when it opens a store it reads the newest file
                // named `snap.*`, unfinished ones included. A process killed while writing one
                // leaves a store that sled refuses as corrupt (sled issue #1527; our SIGKILL test
                // hit it). An unfinished snapshot was never relied on (the previous one is only
                // removed after the rename), so it is removed and the store opened again, once.
                // sled took the store's lock before reading the snapshot, so the file is not
                // another process's snapshot in progress.
                Err(sled::Error::Corruption { at: None, .. })
                    if !unfinished_snapshots_removed && remove_unfinished_snapshots(path)? > 0 =>
                {
                    unfinished_snapshots_removed = true;
                }
                Err(sled::Error::Io(error))
                    if error.kind() == std::io::ErrorKind::WouldBlock
                        || error.to_string().contains("could not acquire lock") =>
                {
                    if attempts_left <= 1 {
                        return Ok(None);
                    }
                    attempts_left -= 1;
                    std::thread::sleep(std::time::Duration::from_millis(OPEN_LOCK_RETRY_MS));
                }
                Err(error) => return Err(io_error(error)),
            }
        };
        let tree = db.open_tree(layout::REPLICA_TREE_NAME).map_err(io_error)?;
        let epoch = match tree.get(layout::epoch_key()).map_err(io_error)? {
            Some(bytes) => layout::read_u64(&bytes)
                .ok_or_else(|| StoreError::Io("the store epoch record is damaged".into()))?,
            None => {
                let epoch = new_epoch()?;
                tree.insert(layout::epoch_key(), &epoch.to_be_bytes())
                    .map_err(io_error)?;
                db.flush().map_err(io_error)?;
                epoch
            }
        };
        let last_seq = match tree.get(layout::last_seq_key()).map_err(io_error)? {
            Some(bytes) => layout::read_u64(&bytes)
                .ok_or_else(|| StoreError::Io("the sequence counter record is damaged".into()))?,
            None => 0,
        };
        // Keys only, no values: a scan of the document index, once per open.
        let mut document_count = 0;
        for entry in tree.scan_prefix(layout::document_key_prefix()).keys() {
            entry.map_err(io_error)?;
            document_count += 1;
        }
        Ok(Some(Self {
            inner: Arc::new(Inner {
                db,
                tree,
                epoch,
                writer: Mutex::new(WriterState { last_seq }),
                document_locks: (0..DOCUMENT_LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
                cache: Mutex::new(DocumentCache::new(MAX_CACHED_DOCUMENTS)),
                group_commit: GroupCommit::default(),
                compactions_total: AtomicU64::new(0),
                document_loads_total: AtomicU64::new(0),
                document_cache_hits_total: AtomicU64::new(0),
                document_count: AtomicU64::new(document_count),
                watched_families: std::sync::RwLock::new(Vec::new()),
            }),
        }))
    }

    /// Applies local changes and returns once they are on disk, sharing the flush with every other
    /// writer waiting at the same time. When this returns `Ok`, the changes survive a crash.
    pub fn commit_local_changes(
        &self,
        doc: &DocId,
        changes: Vec<Vec<u8>>,
    ) -> Result<ApplyOutcome, StoreError> {
        let outcome = self.apply_changes(doc, changes)?;
        self.wait_durable()?;
        Ok(outcome)
    }

    /// Returns once every write applied before the call is on disk, at once if a flush already
    /// covered them. See [`group_commit`].
    pub fn wait_durable(&self) -> Result<(), StoreError> {
        let db = &self.inner.db;
        self.inner
            .group_commit
            .wait_durable(|| db.flush().map(drop).map_err(|error| error.to_string()))
    }

    /// A named tree beside the replica for the application's own records (the relay's fleet
    /// registry, the node's sessions). Writes to it become durable with the same group commit as the
    /// replica ([`Self::wait_durable`]). Names are prefixed so that they can never collide with the
    /// replica's own tree.
    pub fn auxiliary_tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.inner
            .db
            .open_tree(format!("aux/{name}"))
            .map_err(io_error)
    }

    /// Makes every write so far durable; the same as [`Self::wait_durable`].
    pub fn flush(&self) -> Result<(), StoreError> {
        self.wait_durable()
    }

    /// Stores a blob written locally (a file upload) and records it in the scope's log.
    pub fn put_blob(&self, scope: &Scope, content: &[u8]) -> Result<BlobId, StoreError> {
        let blob = BlobId::of_content(content);
        let total_len = content.len() as u64;
        if total_len > MAX_BLOB_BYTES {
            return Err(StoreError::BlobTooLarge {
                blob,
                len: total_len,
            });
        }
        let mut writer = self.writer();
        let mut final_batch = sled::Batch::default();
        let record = self.blob_record(&blob)?;
        let upload = UploadId::of(scope, &blob);
        // The local writer holds the bytes, which is the proof a peer's upload has to give; content
        // already stored (from another scope) is kept as it is and only the scope record is added,
        // with the end of any unfinished upload of the blob into this scope.
        if record.and_then(|record| record.complete_len()).is_some() {
            self.drop_upload(&mut final_batch, scope, &blob, &upload, record)?;
        } else {
            // Pieces received from a peer may be cut at other offsets than ours; start afresh.
            let mut batch = sled::Batch::default();
            self.drop_upload(&mut batch, scope, &blob, &upload, record)?;
            self.drop_shared_partial(&mut batch, &blob, record)?;
            self.apply(batch)?;
            let mut offset = 0u64;
            for group in content.chunks(BLOB_UPLOAD_BATCH_BYTES) {
                let mut batch = sled::Batch::default();
                append_pieces(&mut batch, Pieces::OfUpload(upload), offset, group);
                offset += group.len() as u64;
                if offset < total_len {
                    batch.insert(
                        layout::upload_key(&upload),
                        UploadRecord { received: offset }.encode(),
                    );
                    batch.insert(layout::scope_upload_key(scope, &blob), &[]);
                    self.apply(batch)?;
                } else {
                    final_batch = batch;
                }
            }
            final_batch.remove(layout::upload_key(&upload));
            final_batch.remove(layout::scope_upload_key(scope, &blob));
            final_batch.insert(
                layout::blob_key(&blob),
                BlobRecord::CompleteInUpload {
                    len: total_len,
                    upload,
                }
                .encode(),
            );
        }
        let seq = self.record_blob_in_scope(&mut final_batch, &writer, scope, &blob, total_len)?;
        self.apply(final_batch)?;
        writer.last_seq = seq;
        Ok(blob)
    }

    /// A copy of the loaded document, for reading its contents, or `None` if the store does not hold
    /// it.
    pub fn document(&self, doc: &DocId) -> Result<Option<Automerge>, StoreError> {
        self.with_document(doc, Automerge::clone)
    }

    /// Runs `read` on the document without copying it (from the cache, loading it first if
    /// needed); `None` when the store does not hold it. `read` runs under the cache's lock, so it
    /// should only read (hydrate, look up), never wait.
    pub fn read_document<T>(
        &self,
        doc: &DocId,
        read: impl FnOnce(&Automerge) -> T,
    ) -> Result<Option<T>, StoreError> {
        self.with_document(doc, read)
    }

    /// Every document id the store holds, in id order.
    pub fn document_ids(&self) -> Result<Vec<DocId>, StoreError> {
        let mut ids = Vec::new();
        for entry in self.inner.tree.scan_prefix(layout::document_key_prefix()) {
            let (key, _) = entry.map_err(io_error)?;
            // A key that does not parse cannot be asked for by id either; listing skips it.
            if let Some(doc) = layout::document_id_from_key(&key) {
                ids.push(doc);
            }
        }
        Ok(ids)
    }

    /// How many documents the store holds: counted once when the store opens, then kept by every
    /// write that creates one (documents are never deleted), so a metrics scrape costs one read.
    pub fn document_count(&self) -> u64 {
        self.inner.document_count.load(Ordering::Acquire)
    }

    /// A counter of the writes, local or from a peer, to the documents whose names start with one
    /// of `name_prefixes`. It grows after each such write is visible, so a cache derived from those
    /// documents is current as long as the count it was built at (read before building) is. Writes
    /// to other documents leave it alone: a roster index stays valid while pupils save drafts.
    pub fn change_counter(&self, name_prefixes: &[&str]) -> ChangeCounter {
        let writes = Arc::new(AtomicU64::new(0));
        self.inner
            .watched_families
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(WatchedFamily {
                name_prefixes: name_prefixes
                    .iter()
                    .map(|prefix| (*prefix).to_owned())
                    .collect(),
                writes: writes.clone(),
            });
        ChangeCounter { writes }
    }

    /// The bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.inner.db.size_on_disk().map_err(io_error)
    }

    pub fn metrics(&self) -> StoreMetrics {
        let inner = &self.inner;
        StoreMetrics {
            flushes_total: inner.group_commit.flushes_total(),
            writes_total: inner.group_commit.writes_total(),
            compactions_total: inner.compactions_total.load(Ordering::Relaxed),
            document_loads_total: inner.document_loads_total.load(Ordering::Relaxed),
            document_cache_hits_total: inner.document_cache_hits_total.load(Ordering::Relaxed),
            cached_documents: self.cache().len(),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    pub fn scope_summary(&self, scope: &Scope) -> Result<ScopeSummary, StoreError> {
        self.read_scope_summary(scope)
    }

    pub fn log_after(
        &self,
        scope: &Scope,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, LogItem)>, StoreError> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let prefix = layout::log_key_prefix(scope);
        let mut entries = Vec::new();
        for entry in self.inner.tree.range(layout::log_key(scope, first)..) {
            if entries.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(io_error)?;
            let Some(seq_bytes) = key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            let seq = layout::read_u64(seq_bytes)
                .ok_or_else(|| StoreError::Io(format!("a log key of scope {scope} is damaged")))?;
            let item = layout::decode_log_item(&value).ok_or_else(|| {
                StoreError::Io(format!("the log entry {seq} of scope {scope} is damaged"))
            })?;
            entries.push((seq, item));
        }
        Ok(entries)
    }

    /// The sequence number of the last write to `doc` in its scope's log, `None` for a document the
    /// store does not hold. Compared with a scope's `log_head`, it tells whether a write happened
    /// before or after that summary was read.
    pub fn document_log_seq(&self, doc: &DocId) -> Result<Option<Seq>, StoreError> {
        self.log_seq_of(doc.scope(), &LogItem::Document(doc.clone()))
    }

    /// The sequence number at which `blob` entered `scope`'s log, `None` when it is not (whole) in
    /// that scope; see [`Self::document_log_seq`].
    pub fn blob_log_seq(&self, scope: &Scope, blob: &BlobId) -> Result<Option<Seq>, StoreError> {
        self.log_seq_of(scope, &LogItem::Blob(*blob))
    }

    fn log_seq_of(&self, scope: &Scope, item: &LogItem) -> Result<Option<Seq>, StoreError> {
        let Some(value) = self
            .inner
            .tree
            .get(layout::log_index_key(scope, item))
            .map_err(io_error)?
        else {
            return Ok(None);
        };
        layout::read_u64(&value)
            .map(Some)
            .ok_or_else(|| StoreError::Io(format!("a log index entry of {scope} is damaged")))
    }

    pub fn doc_heads(&self, doc: &DocId) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        Ok(self.document_record(doc)?.map(|record| record.heads))
    }

    pub fn contains_changes(&self, doc: &DocId, hashes: &[ChangeHash]) -> Result<bool, StoreError> {
        if hashes.is_empty() {
            return Ok(true);
        }
        let Some(record) = self.document_record(doc)? else {
            return Ok(false);
        };
        if hashes.iter().all(|hash| record.heads.contains(hash)) {
            return Ok(true);
        }
        let contained = self.with_document(doc, |automerge| {
            hashes
                .iter()
                .all(|hash| automerge.get_change_meta_by_hash(hash).is_some())
        })?;
        Ok(contained.unwrap_or(false))
    }

    pub fn changes_since(
        &self,
        doc: &DocId,
        have: &[ChangeHash],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let changes = self.with_document(doc, |automerge| {
            let known: Vec<ChangeHash> = have
                .iter()
                .copied()
                .filter(|hash| automerge.get_change_meta_by_hash(hash).is_some())
                .collect();
            automerge
                .get_changes(&known)
                .into_iter()
                .map(|change| change.raw_bytes().to_vec())
                .collect()
        })?;
        Ok(changes.unwrap_or_default())
    }

    /// Adds changes to a document; see [`ReplicaStore::apply_changes`]. Durable after the next
    /// [`Self::wait_durable`].
    pub fn apply_changes(
        &self,
        doc: &DocId,
        changes: Vec<Vec<u8>>,
    ) -> Result<ApplyOutcome, StoreError> {
        let _document = self.document_lock(doc);
        let (record, mut automerge) = self.take_document(doc)?;
        let outcome = self.apply_to_document(doc, record.as_ref(), &mut automerge, changes);
        // On an error the loaded document may be ahead of the disk, so it is dropped and reloaded
        // on next use. A document that was neither stored nor written to is not cached, so that the
        // cache never holds a document the store does not.
        if let Ok(outcome) = &outcome
            && (record.is_some() || outcome.applied > 0)
        {
            self.cache().insert(doc.clone(), automerge);
        }
        outcome
    }

    /// Runs `edit` on the document itself (a new, empty one when the store does not hold it) and
    /// stores whatever transactions it committed, as one write. Answers `edit`'s result and the new
    /// heads, or `None` as the heads when nothing changed. Durable after the next
    /// [`Self::wait_durable`].
    ///
    /// This is the write path for local edits: the transaction is made on the cached document, so a
    /// write costs one automerge operation instead of a copy of the document plus a second apply.
    /// `edit` runs under the document's lock (other documents are not held up); it must not touch
    /// the store. When it answers `Err`, it must not have committed anything; if it did anyway, or
    /// if it panics, the document in memory is dropped and reloaded from disk, which it never
    /// reached.
    pub fn edit_document<R, E>(
        &self,
        doc: &DocId,
        edit: impl FnOnce(&mut Automerge) -> Result<R, E>,
    ) -> Result<(R, Option<Vec<ChangeHash>>), EditError<E>> {
        let _document = self.document_lock(doc);
        let (record, mut automerge) = self.take_document(doc).map_err(EditError::Store)?;
        let old_heads = automerge.get_heads();
        let edited = edit(&mut automerge);
        let unchanged = automerge.get_heads() == old_heads;
        let result = match edited {
            Ok(result) => result,
            Err(rejected) => {
                if unchanged && record.is_some() {
                    self.cache().insert(doc.clone(), automerge);
                }
                return Err(EditError::Rejected(rejected));
            }
        };
        if unchanged {
            if record.is_some() {
                self.cache().insert(doc.clone(), automerge);
            }
            return Ok((result, None));
        }
        let increment = automerge.save_after(&old_heads);
        let size_bytes =
            record.as_ref().map_or(0, DocumentRecord::stored_bytes) + increment.len() as u64;
        if size_bytes > MAX_DOCUMENT_BYTES {
            // The edited copy is ahead of the disk; dropping it leaves the document as stored.
            return Err(EditError::Store(StoreError::DocumentTooLarge {
                doc: doc.clone(),
                size_bytes,
            }));
        }
        let heads = sorted_heads(automerge.get_heads());
        self.persist_document_write(doc, record.as_ref(), &automerge, &heads, increment)
            .map_err(EditError::Store)?;
        self.cache().insert(doc.clone(), automerge);
        Ok((result, Some(heads)))
    }

    pub fn shared_heads(
        &self,
        peer: &NodeId,
        doc: &DocId,
    ) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        let bytes = self
            .inner
            .tree
            .get(layout::shared_heads_key(peer, doc))
            .map_err(io_error)?;
        // A damaged record is treated as unknown: the session then resends from scratch, which costs
        // bandwidth but is always safe, where an error would stop syncing the document for good.
        Ok(bytes.and_then(|bytes| decode_shared_heads(&bytes).ok()))
    }

    pub fn put_shared_heads(
        &self,
        peer: &NodeId,
        doc: &DocId,
        heads: &[ChangeHash],
    ) -> Result<(), StoreError> {
        self.inner
            .tree
            .insert(
                layout::shared_heads_key(peer, doc),
                encode_shared_heads(heads),
            )
            .map_err(io_error)?;
        self.inner.group_commit.note_write();
        Ok(())
    }

    pub fn peer_epoch(&self, peer: &NodeId) -> Result<Option<u64>, StoreError> {
        let bytes = self
            .inner
            .tree
            .get(layout::peer_epoch_key(peer))
            .map_err(io_error)?;
        // A damaged record reads as unknown, which makes the session forget the peer and reconcile
        // in full: safe, where trusting it might not be.
        Ok(bytes.and_then(|bytes| layout::read_u64(&bytes)))
    }

    pub fn put_peer_epoch(&self, peer: &NodeId, epoch: u64) -> Result<(), StoreError> {
        self.inner
            .tree
            .insert(layout::peer_epoch_key(peer), &epoch.to_be_bytes())
            .map_err(io_error)?;
        self.inner.group_commit.note_write();
        Ok(())
    }

    /// Drops the peer's shared heads, our cursors into its log and its epoch, in one batch so that a
    /// crash leaves either all of it or none.
    pub fn forget_peer(&self, peer: &NodeId) -> Result<(), StoreError> {
        let tree = &self.inner.tree;
        let mut batch = sled::Batch::default();
        for prefix in [
            layout::shared_heads_key_prefix(peer),
            layout::cursor_key_prefix(peer),
        ] {
            for key in tree.scan_prefix(prefix).keys() {
                batch.remove(key.map_err(io_error)?);
            }
        }
        batch.remove(layout::peer_epoch_key(peer));
        self.apply(batch)
    }

    /// The document compacted into one `save()`. A document stored as a snapshot alone is that
    /// snapshot already and is read without loading it.
    pub fn saved_document(&self, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(record) = self.document_record(doc)? else {
            return Ok(None);
        };
        if record.chunk_count == 0 && record.snapshot_bytes > 0 {
            let snapshot = self
                .inner
                .tree
                .get(layout::snapshot_key(doc))
                .map_err(io_error)?;
            if let Some(snapshot) = snapshot
                && snapshot.len() as u64 == record.snapshot_bytes
            {
                return Ok(Some(snapshot.to_vec()));
            }
        }
        self.with_document(doc, Automerge::save)
    }

    pub fn cursor(&self, peer: &NodeId, scope: &Scope) -> Result<Option<Cursor>, StoreError> {
        let bytes = self
            .inner
            .tree
            .get(layout::cursor_key(peer, scope))
            .map_err(io_error)?;
        // As for shared heads, a damaged cursor is treated as unknown: the peer's log is read from
        // its start again.
        Ok(bytes.and_then(|bytes| layout::decode_cursor(&bytes)))
    }

    pub fn put_cursor(
        &self,
        peer: &NodeId,
        scope: &Scope,
        cursor: Cursor,
    ) -> Result<(), StoreError> {
        self.inner
            .tree
            .insert(
                layout::cursor_key(peer, scope),
                layout::encode_cursor(&cursor),
            )
            .map_err(io_error)?;
        self.inner.group_commit.note_write();
        Ok(())
    }

    pub fn blob_len(&self, blob: &BlobId) -> Result<Option<u64>, StoreError> {
        Ok(self
            .blob_record(blob)?
            .and_then(|record| record.complete_len()))
    }

    pub fn blob_in_scope(&self, scope: &Scope, blob: &BlobId) -> Result<bool, StoreError> {
        self.inner
            .tree
            .contains_key(layout::log_index_key(scope, &LogItem::Blob(*blob)))
            .map_err(io_error)
    }

    pub fn read_blob(
        &self,
        blob: &BlobId,
        offset: u64,
        max_len: usize,
    ) -> Result<Vec<u8>, StoreError> {
        let Some((len, pieces)) = self
            .blob_record(blob)?
            .and_then(|record| record.complete_len().map(|len| (len, record.pieces(blob))))
        else {
            return Err(StoreError::BlobMissing { blob: *blob });
        };
        let start = offset.min(len);
        let end = start.saturating_add(max_len as u64).min(len);
        let mut content = Vec::with_capacity((end - start) as usize);
        if start == end {
            return Ok(content);
        }
        let damaged = || StoreError::Io(format!("the stored pieces of blob {blob} are damaged"));
        let prefix = pieces.key_prefix();
        // The piece holding `start` is the last one that begins at or before it.
        let first_piece_key = self
            .inner
            .tree
            .range(prefix.clone()..=pieces.key(start))
            .next_back()
            .transpose()
            .map_err(io_error)?
            .map(|(key, _)| key)
            .ok_or_else(damaged)?;
        let mut position = start;
        for entry in self.inner.tree.range(first_piece_key..) {
            let (key, piece) = entry.map_err(io_error)?;
            if !key.starts_with(&prefix) {
                break;
            }
            let piece_start = layout::piece_offset_from_key(&key).ok_or_else(damaged)?;
            if piece_start > position {
                return Err(damaged());
            }
            let piece_end = piece_start + piece.len() as u64;
            if piece_end > position {
                let from = (position - piece_start) as usize;
                let to = (end.min(piece_end) - piece_start) as usize;
                content.extend_from_slice(piece.get(from..to).ok_or_else(damaged)?);
                position = end.min(piece_end);
            }
            if position >= end {
                return Ok(content);
            }
        }
        Err(damaged())
    }

    pub fn blob_received_len(&self, scope: &Scope, blob: &BlobId) -> Result<u64, StoreError> {
        Ok(self
            .upload_record(&UploadId::of(scope, blob))?
            .map_or(0, |record| record.received))
    }

    /// Stores a piece of `scope`'s upload of a blob received from a peer; see
    /// [`ReplicaStore::write_blob_chunk`] and the blob section of [`layout`].
    pub fn write_blob_chunk(
        &self,
        scope: &Scope,
        blob: &BlobId,
        offset: u64,
        total_len: u64,
        bytes: &[u8],
    ) -> Result<BlobWriteOutcome, StoreError> {
        if total_len > MAX_BLOB_BYTES {
            return Err(StoreError::BlobTooLarge {
                blob: *blob,
                len: total_len,
            });
        }
        let mut writer = self.writer();
        if self.blob_in_scope(scope, blob)? {
            return Ok(BlobWriteOutcome::Complete);
        }
        // Only this scope's own upload is read or written below, whatever other scopes hold: that
        // the store already has the content does not let a scope skip uploading it.
        let upload = UploadId::of(scope, blob);
        let received = self
            .upload_record(&upload)?
            .map_or(0, |record| record.received);
        let fresh = new_bytes_of_blob_piece(blob, offset, total_len, received, bytes)?;
        let now_received = received + fresh.len() as u64;
        let record = self.blob_record(blob)?;
        let mut batch = sled::Batch::default();
        if now_received < total_len {
            // A piece with nothing new leaves no trace, so that it cannot start an empty upload.
            if fresh.is_empty() {
                return Ok(BlobWriteOutcome::Incomplete { received });
            }
            self.drop_shared_partial(&mut batch, blob, record)?;
            append_pieces(&mut batch, Pieces::OfUpload(upload), received, fresh);
            batch.insert(
                layout::upload_key(&upload),
                UploadRecord {
                    received: now_received,
                }
                .encode(),
            );
            batch.insert(layout::scope_upload_key(scope, blob), &[]);
            self.apply(batch)?;
            return Ok(BlobWriteOutcome::Incomplete {
                received: now_received,
            });
        }
        // The last piece: check the whole upload before anything of it is kept.
        let content_id = self
            .hash_stored_pieces(Pieces::OfUpload(upload), received)?
            .map(|mut hasher| {
                hasher.update(fresh);
                BlobId(hasher.finalize().into())
            });
        self.drop_shared_partial(&mut batch, blob, record)?;
        if content_id != Some(*blob) {
            // Like the in-memory store, an upload that does not match is dropped, to be sent afresh;
            // other scopes' uploads of the blob, and its stored content, are not touched.
            self.drop_upload(&mut batch, scope, blob, &upload, record)?;
            self.apply(batch)?;
            return Err(StoreError::BlobMismatch { blob: *blob });
        }
        match record {
            Some(BlobRecord::Complete { .. } | BlobRecord::CompleteInUpload { .. }) => {
                // Another scope completed first: its copy is the content, this one is dropped.
                self.drop_upload(&mut batch, scope, blob, &upload, record)?;
            }
            Some(BlobRecord::SharedPartial { .. }) | None => {
                batch.remove(layout::upload_key(&upload));
                batch.remove(layout::scope_upload_key(scope, blob));
                // The upload's pieces become the content, without copying them.
                append_pieces(&mut batch, Pieces::OfUpload(upload), received, fresh);
                batch.insert(
                    layout::blob_key(blob),
                    BlobRecord::CompleteInUpload {
                        len: now_received,
                        upload,
                    }
                    .encode(),
                );
            }
        }
        let seq = self.record_blob_in_scope(&mut batch, &writer, scope, blob, now_received)?;
        self.apply(batch)?;
        writer.last_seq = seq;
        Ok(BlobWriteOutcome::Complete)
    }

    fn writer(&self) -> MutexGuard<'_, WriterState> {
        // The writer state is one counter that is only advanced after a successful write, so it is
        // valid even if a thread panicked while holding the lock.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn count_watched_write(&self, doc: &DocId) {
        let families = self
            .inner
            .watched_families
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for family in families.iter() {
            if family
                .name_prefixes
                .iter()
                .any(|prefix| doc.name().starts_with(prefix.as_str()))
            {
                family.writes.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// The lock of `doc`'s stripe. Held while a document is out of the cache being changed, and
    /// while it is loaded from disk, so that nobody loads a document between a write's chunk
    /// deletion (compaction) and its record update, or caches a copy older than a write in flight.
    fn document_lock(&self, doc: &DocId) -> MutexGuard<'_, ()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(doc, &mut hasher);
        let stripe =
            (std::hash::Hasher::finish(&hasher) as usize) % self.inner.document_locks.len();
        // The lock guards no data of its own: a writer that panicked left the document out of the
        // cache and the disk as it was, so a poisoned stripe is still good to use.
        self.inner.document_locks[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The document's record and its loaded form, taken out of the cache (or loaded from disk, or
    /// new and empty). The caller holds the document's lock and puts the document back when done.
    fn take_document(
        &self,
        doc: &DocId,
    ) -> Result<(Option<DocumentRecord>, Automerge), StoreError> {
        let record = self.document_record(doc)?;
        let automerge = match (self.cache().take(doc), &record) {
            (Some(automerge), _) => automerge,
            (None, Some(record)) => self.load_from_disk(doc, record)?,
            (None, None) => Automerge::new(),
        };
        Ok((record, automerge))
    }

    fn cache(&self) -> MutexGuard<'_, DocumentCache> {
        // A panic while holding the cache can at worst leave a document out of it.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn apply(&self, batch: sled::Batch) -> Result<(), StoreError> {
        self.inner.tree.apply_batch(batch).map_err(io_error)?;
        self.inner.group_commit.note_write();
        Ok(())
    }

    fn document_record(&self, doc: &DocId) -> Result<Option<DocumentRecord>, StoreError> {
        let Some(bytes) = self
            .inner
            .tree
            .get(layout::document_key(doc))
            .map_err(io_error)?
        else {
            return Ok(None);
        };
        DocumentRecord::decode(&bytes)
            .map(Some)
            .map_err(|reason| corrupt_document(doc, reason))
    }

    /// Runs `read` on the loaded document, loading it into the cache first if needed. `None` when
    /// the store does not hold the document.
    fn with_document<T>(
        &self,
        doc: &DocId,
        read: impl FnOnce(&Automerge) -> T,
    ) -> Result<Option<T>, StoreError> {
        // The read runs under the document's own (striped) lock with the document taken out of the
        // cache, never under the cache's lock: reading a document (hydrating it, collecting its
        // changes) takes far longer than a map lookup, and under the cache's one lock every read of
        // every document waited for every other. Readers of one document still take turns; a
        // reader that panics leaves the document out of the cache, to be reloaded from disk.
        let _document = self.document_lock(doc);
        let cached = self.cache().take(doc);
        let automerge = match cached {
            Some(automerge) => {
                self.inner
                    .document_cache_hits_total
                    .fetch_add(1, Ordering::Relaxed);
                automerge
            }
            None => {
                let Some(record) = self.document_record(doc)? else {
                    return Ok(None);
                };
                self.load_from_disk(doc, &record)?
            }
        };
        let result = read(&automerge);
        self.cache().insert(doc.clone(), automerge);
        Ok(Some(result))
    }

    /// Reads the snapshot and every chunk of a document, checks them against its record, and loads
    /// them. The caller holds the document's lock.
    fn load_from_disk(
        &self,
        doc: &DocId,
        record: &DocumentRecord,
    ) -> Result<Automerge, StoreError> {
        self.inner
            .document_loads_total
            .fetch_add(1, Ordering::Relaxed);
        let tree = &self.inner.tree;
        let capacity = record.stored_bytes().min(MAX_DOCUMENT_BYTES) as usize;
        let mut saved = Vec::with_capacity(capacity);
        if record.snapshot_bytes > 0 {
            let snapshot = tree
                .get(layout::snapshot_key(doc))
                .map_err(io_error)?
                .ok_or_else(|| corrupt_document(doc, "its snapshot is missing".into()))?;
            if snapshot.len() as u64 != record.snapshot_bytes {
                return Err(corrupt_document(
                    doc,
                    format!(
                        "its snapshot is {} bytes, the record says {}",
                        snapshot.len(),
                        record.snapshot_bytes
                    ),
                ));
            }
            saved.extend_from_slice(&snapshot);
        }
        let prefix = layout::chunk_key_prefix(doc);
        let mut chunk_count = 0u64;
        let mut chunk_bytes = 0u64;
        for entry in tree.scan_prefix(&prefix) {
            let (key, chunk) = entry.map_err(io_error)?;
            if layout::chunk_number_from_key(&key, prefix.len()) != Some(chunk_count) {
                return Err(corrupt_document(
                    doc,
                    format!("its chunk {chunk_count} is missing"),
                ));
            }
            chunk_count += 1;
            chunk_bytes += chunk.len() as u64;
            saved.extend_from_slice(&chunk);
        }
        if chunk_count != record.chunk_count || chunk_bytes != record.chunk_bytes {
            return Err(corrupt_document(
                doc,
                format!(
                    "it has {chunk_count} chunks of {chunk_bytes} bytes, the record says {} of {}",
                    record.chunk_count, record.chunk_bytes
                ),
            ));
        }
        let automerge = without_panic(|| Automerge::load(&saved))
            .map_err(|reason| corrupt_document(doc, reason))?
            .map_err(|error| corrupt_document(doc, error.to_string()))?;
        if sorted_heads(automerge.get_heads()) != record.heads {
            return Err(corrupt_document(
                doc,
                "its loaded heads differ from the heads recorded at the last write".into(),
            ));
        }
        Ok(automerge)
    }

    /// Applies changes to the loaded document and writes the increment, or a compacted snapshot, with
    /// the document's record, its scope's log and digest and the sequence counter in one batch.
    fn apply_to_document(
        &self,
        doc: &DocId,
        record: Option<&DocumentRecord>,
        automerge: &mut Automerge,
        changes: Vec<Vec<u8>>,
    ) -> Result<ApplyOutcome, StoreError> {
        let old_heads = automerge.get_heads();
        let (applicable, missing_dependencies) = applicable_changes(doc, automerge, changes)?;
        if applicable.is_empty() {
            return Ok(ApplyOutcome {
                applied: 0,
                heads: old_heads,
                missing_dependencies,
            });
        }
        let added_bytes: u64 = applicable
            .iter()
            .map(|change| change.raw_bytes().len() as u64)
            .sum();
        let stored_bytes = record.map_or(0, DocumentRecord::stored_bytes);
        if stored_bytes + added_bytes > MAX_DOCUMENT_BYTES {
            return Err(StoreError::DocumentTooLarge {
                doc: doc.clone(),
                size_bytes: stored_bytes + added_bytes,
            });
        }
        let applied = applicable.len();
        let bad_change = |reason: String| StoreError::BadChange {
            doc: doc.clone(),
            reason,
        };
        without_panic(|| automerge.apply_changes(applicable))
            .map_err(bad_change)?
            .map_err(|error| bad_change(error.to_string()))?;
        let heads = sorted_heads(automerge.get_heads());
        let increment = automerge.save_after(&old_heads);
        self.persist_document_write(doc, record, automerge, &heads, increment)?;
        Ok(ApplyOutcome {
            applied,
            heads,
            missing_dependencies,
        })
    }

    /// Stores one write to a document whose loaded form already holds it: the increment as a new
    /// chunk (or a fresh snapshot when the chunks have grown past their bounds), the record with the
    /// new heads, and the move of the document to the end of its scope's log. The document work
    /// happens under the document's lock, which the caller holds; only numbering the write and
    /// applying the batch take the writer lock.
    fn persist_document_write(
        &self,
        doc: &DocId,
        record: Option<&DocumentRecord>,
        automerge: &Automerge,
        heads: &[ChangeHash],
        increment: Vec<u8>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut new_record = record.cloned().unwrap_or(DocumentRecord {
            heads: Vec::new(),
            snapshot_bytes: 0,
            chunk_count: 0,
            chunk_bytes: 0,
        });
        let compact = new_record.chunk_count + 1 > MAX_INCREMENTAL_CHUNKS
            || new_record.chunk_bytes + increment.len() as u64 > MAX_INCREMENTAL_CHUNK_BYTES;
        if compact {
            let snapshot = automerge.save();
            for entry in self.inner.tree.scan_prefix(layout::chunk_key_prefix(doc)) {
                let (key, _) = entry.map_err(io_error)?;
                batch.remove(key);
            }
            new_record.snapshot_bytes = snapshot.len() as u64;
            new_record.chunk_count = 0;
            new_record.chunk_bytes = 0;
            batch.insert(layout::snapshot_key(doc), snapshot);
        } else {
            new_record.chunk_bytes += increment.len() as u64;
            batch.insert(layout::chunk_key(doc, new_record.chunk_count), increment);
            new_record.chunk_count += 1;
        }
        new_record.heads = heads.to_vec();
        batch.insert(layout::document_key(doc), new_record.encode());

        let mut toggles = vec![document_fingerprint(doc, heads)];
        if let Some(record) = record {
            toggles.push(document_fingerprint(doc, &record.heads));
        }
        let usage_change = UsageChange {
            documents: i64::from(record.is_none()),
            document_bytes: signed_difference(
                new_record.stored_bytes(),
                record.map_or(0, DocumentRecord::stored_bytes),
            ),
            ..UsageChange::default()
        };
        let mut writer = self.writer();
        let seq = writer.last_seq + 1;
        self.record_in_log(
            &mut batch,
            doc.scope(),
            &LogItem::Document(doc.clone()),
            seq,
            &toggles,
            usage_change,
        )?;
        self.apply(batch)?;
        writer.last_seq = seq;
        if record.is_none() {
            self.inner.document_count.fetch_add(1, Ordering::AcqRel);
        }
        drop(writer);
        self.count_watched_write(doc);
        if compact {
            self.inner.compactions_total.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Adds to `batch` the move of `item` to the end of `scope`'s log at `seq`, the digest update
    /// (each fingerprint in `toggles` XORed in or out), and the new value of the sequence counter.
    fn record_in_log(
        &self,
        batch: &mut sled::Batch,
        scope: &Scope,
        item: &LogItem,
        seq: Seq,
        toggles: &[[u8; 16]],
        usage_change: UsageChange,
    ) -> Result<(), StoreError> {
        if usage_change != UsageChange::default() {
            let usage = usage_change.applied_to(self.read_scope_usage(scope)?);
            batch.insert(
                layout::scope_usage_key(scope),
                layout::encode_scope_usage(&usage),
            );
        }
        let mut summary = self.read_scope_summary(scope)?;
        let index_key = layout::log_index_key(scope, item);
        if let Some(old_seq) = self.inner.tree.get(&index_key).map_err(io_error)? {
            let old_seq = layout::read_u64(&old_seq).ok_or_else(|| {
                StoreError::Io(format!("a log index entry of {scope} is damaged"))
            })?;
            batch.remove(layout::log_key(scope, old_seq));
        }
        batch.insert(layout::log_key(scope, seq), layout::encode_log_item(item));
        batch.insert(index_key, &seq.to_be_bytes());
        for fingerprint in toggles {
            summary.digest.toggle(*fingerprint);
        }
        summary.log_head = seq;
        batch.insert(
            layout::scope_summary_key(scope),
            layout::encode_scope_summary(&summary),
        );
        batch.insert(layout::last_seq_key(), &seq.to_be_bytes());
        Ok(())
    }

    /// Records a complete blob in a scope's log, if it is not there yet, and returns the sequence
    /// number used. Like the in-memory store, a number is used even when the blob was already
    /// recorded, so that both stores hand out the same numbers for the same writes.
    fn record_blob_in_scope(
        &self,
        batch: &mut sled::Batch,
        writer: &WriterState,
        scope: &Scope,
        blob: &BlobId,
        len: u64,
    ) -> Result<Seq, StoreError> {
        let seq = writer.last_seq + 1;
        if self.blob_in_scope(scope, blob)? {
            batch.insert(layout::last_seq_key(), &seq.to_be_bytes());
        } else {
            self.record_in_log(
                batch,
                scope,
                &LogItem::Blob(*blob),
                seq,
                &[blob_fingerprint(blob)],
                UsageChange {
                    blobs: 1,
                    blob_bytes: signed_difference(len, 0),
                    ..UsageChange::default()
                },
            )?;
        }
        Ok(seq)
    }

    fn read_scope_summary(&self, scope: &Scope) -> Result<ScopeSummary, StoreError> {
        match self
            .inner
            .tree
            .get(layout::scope_summary_key(scope))
            .map_err(io_error)?
        {
            None => Ok(ScopeSummary {
                digest: ScopeDigest::default(),
                log_head: 0,
            }),
            Some(bytes) => layout::decode_scope_summary(&bytes).ok_or_else(|| {
                StoreError::Io(format!("the digest record of scope {scope} is damaged"))
            }),
        }
    }

    /// The scope's usage record, or, in a store written before usage was recorded, the figures
    /// counted from the scope's log index (once: the next write in the scope records them).
    fn read_scope_usage(&self, scope: &Scope) -> Result<ScopeUsage, StoreError> {
        if let Some(bytes) = self
            .inner
            .tree
            .get(layout::scope_usage_key(scope))
            .map_err(io_error)?
        {
            return layout::decode_scope_usage(&bytes).ok_or_else(|| {
                StoreError::Io(format!("the usage record of scope {scope} is damaged"))
            });
        }
        let prefix = layout::log_index_prefix(scope);
        let mut usage = ScopeUsage::default();
        for entry in self.inner.tree.scan_prefix(&prefix) {
            let (key, _) = entry.map_err(io_error)?;
            match layout::decode_log_item(&key[prefix.len()..]) {
                Some(LogItem::Document(doc)) => {
                    usage.documents += 1;
                    usage.document_bytes += self
                        .document_record(&doc)?
                        .map_or(0, |record| record.stored_bytes());
                }
                Some(LogItem::Blob(blob)) => {
                    usage.blobs += 1;
                    if let Some(len) = self
                        .blob_record(&blob)?
                        .and_then(|record| record.complete_len())
                    {
                        usage.blob_bytes += len;
                    }
                }
                None => {
                    return Err(StoreError::Io(format!(
                        "a log index entry of {scope} is damaged"
                    )));
                }
            }
        }
        Ok(usage)
    }

    fn blob_record(&self, blob: &BlobId) -> Result<Option<BlobRecord>, StoreError> {
        let Some(bytes) = self
            .inner
            .tree
            .get(layout::blob_key(blob))
            .map_err(io_error)?
        else {
            return Ok(None);
        };
        BlobRecord::decode(&bytes)
            .map(Some)
            .ok_or_else(|| StoreError::Io(format!("the record of blob {blob} is damaged")))
    }

    fn upload_record(&self, upload: &UploadId) -> Result<Option<UploadRecord>, StoreError> {
        let Some(bytes) = self
            .inner
            .tree
            .get(layout::upload_key(upload))
            .map_err(io_error)?
        else {
            return Ok(None);
        };
        UploadRecord::decode(&bytes).map(Some).ok_or_else(|| {
            StoreError::Io("the record of an unfinished blob upload is damaged".into())
        })
    }

    /// A hasher fed with the stored pieces of an unfinished upload, or `None` when they do not cover
    /// exactly `[0, received)`, so that the content cannot match.
    fn hash_stored_pieces(
        &self,
        pieces: Pieces,
        received: u64,
    ) -> Result<Option<Sha256>, StoreError> {
        let mut hasher = Sha256::new();
        let mut position = 0u64;
        for entry in self.inner.tree.scan_prefix(pieces.key_prefix()) {
            let (key, piece) = entry.map_err(io_error)?;
            if layout::piece_offset_from_key(&key) != Some(position) {
                break;
            }
            hasher.update(&piece);
            position += piece.len() as u64;
        }
        Ok((position == received).then_some(hasher))
    }

    fn remove_pieces(&self, batch: &mut sled::Batch, pieces: Pieces) -> Result<(), StoreError> {
        for key in self.inner.tree.scan_prefix(pieces.key_prefix()).keys() {
            batch.remove(key.map_err(io_error)?);
        }
        Ok(())
    }

    /// Adds to `batch` the deletion of one scope's unfinished upload of `blob`: its record and its
    /// pieces. Pieces that are the blob's stored content (`stored` names them: this scope's upload
    /// completed first) are kept whatever the caller asks, so that no path can delete a file that
    /// other scopes hold.
    fn drop_upload(
        &self,
        batch: &mut sled::Batch,
        scope: &Scope,
        blob: &BlobId,
        upload: &UploadId,
        stored: Option<BlobRecord>,
    ) -> Result<(), StoreError> {
        let pieces = Pieces::OfUpload(*upload);
        let pieces_are_content = stored
            .is_some_and(|stored| stored.complete_len().is_some() && stored.pieces(blob) == pieces);
        if !pieces_are_content {
            self.remove_pieces(batch, pieces)?;
        }
        batch.remove(layout::upload_key(upload));
        batch.remove(layout::scope_upload_key(scope, blob));
        Ok(())
    }

    /// When `record` is an unfinished upload of the first format (shared by every scope, see
    /// [`layout`]), adds to `batch` the deletion of it and its pieces: it is never resumed, and a
    /// new upload of the blob is under way.
    fn drop_shared_partial(
        &self,
        batch: &mut sled::Batch,
        blob: &BlobId,
        record: Option<BlobRecord>,
    ) -> Result<(), StoreError> {
        if let Some(BlobRecord::SharedPartial { .. }) = record {
            self.remove_pieces(batch, Pieces::OfBlob(*blob))?;
            batch.remove(layout::blob_key(blob));
        }
        Ok(())
    }
}

/// Adds `bytes`, which continue the run of `pieces` at `offset`, to `batch` as pieces of at most
/// [`BLOB_STORAGE_CHUNK_BYTES`].
fn append_pieces(batch: &mut sled::Batch, pieces: Pieces, offset: u64, bytes: &[u8]) {
    let mut piece_offset = offset;
    for piece in bytes.chunks(BLOB_STORAGE_CHUNK_BYTES) {
        batch.insert(pieces.key(piece_offset), piece);
        piece_offset += piece.len() as u64;
    }
}

fn new_epoch() -> Result<u64, StoreError> {
    let mut generator = rand::rngs::StdRng::try_from_os_rng()
        .map_err(|error| StoreError::Io(format!("no randomness for the store epoch: {error}")))?;
    // Zero is kept free so that it can never be mistaken for "no epoch".
    Ok(generator.next_u64().max(1))
}

/// Removes sled's unfinished snapshot files (`snap.*.generating`) from a store's directory and
/// says how many there were (see [`SledStore::open_unless_in_use`]).
fn remove_unfinished_snapshots(directory: &Path) -> Result<usize, StoreError> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(StoreError::Io(error.to_string())),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|error| StoreError::Io(error.to_string()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path()).map_err(|error| {
                StoreError::Io(format!("cannot remove {}: {error}", entry.path().display()))
            })?;
            tracing::warn!(
                file = %entry.path().display(),
                "removed an unfinished sled snapshot left by a process that was killed while writing it"
            );
            removed += 1;
        }
    }
    Ok(removed)
}

/// How one write changes its scope's [`ScopeUsage`], as differences that may be negative (a
/// compaction makes a document smaller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct UsageChange {
    documents: i64,
    document_bytes: i64,
    blobs: i64,
    blob_bytes: i64,
}

impl UsageChange {
    fn applied_to(self, usage: ScopeUsage) -> ScopeUsage {
        ScopeUsage {
            documents: usage.documents.saturating_add_signed(self.documents),
            document_bytes: usage
                .document_bytes
                .saturating_add_signed(self.document_bytes),
            blobs: usage.blobs.saturating_add_signed(self.blobs),
            blob_bytes: usage.blob_bytes.saturating_add_signed(self.blob_bytes),
        }
    }
}

/// `after - before` as a signed difference, saturating at the ends of `i64`.
fn signed_difference(after: u64, before: u64) -> i64 {
    if after >= before {
        i64::try_from(after - before).unwrap_or(i64::MAX)
    } else {
        i64::try_from(before - after).map_or(i64::MIN, |less| -less)
    }
}

fn io_error(error: sled::Error) -> StoreError {
    StoreError::Io(error.to_string())
}

fn corrupt_document(doc: &DocId, reason: String) -> StoreError {
    StoreError::CorruptDocument {
        doc: doc.clone(),
        reason,
    }
}

/// Runs automerge on bytes that may be hostile or damaged, turning a panic inside it into an error.
fn without_panic<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(work)).map_err(|_| "automerge panicked on these bytes".to_owned())
}

/// Every method delegates to the inherent one of the same name, which takes `&self`.
impl ReplicaStore for SledStore {
    fn epoch(&self) -> u64 {
        SledStore::epoch(self)
    }

    fn scope_summary(&self, scope: &Scope) -> Result<ScopeSummary, StoreError> {
        SledStore::scope_summary(self, scope)
    }

    fn scope_usage(&self, scope: &Scope) -> Result<ScopeUsage, StoreError> {
        self.read_scope_usage(scope)
    }

    fn unfinished_uploads(&self, scope: &Scope) -> Result<u64, StoreError> {
        let mut count = 0;
        for entry in self
            .inner
            .tree
            .scan_prefix(layout::scope_uploads_prefix(scope))
        {
            entry.map_err(io_error)?;
            count += 1;
        }
        Ok(count)
    }

    fn log_after(
        &self,
        scope: &Scope,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, LogItem)>, StoreError> {
        SledStore::log_after(self, scope, after, limit)
    }

    fn doc_heads(&self, doc: &DocId) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        SledStore::doc_heads(self, doc)
    }

    fn contains_changes(&self, doc: &DocId, hashes: &[ChangeHash]) -> Result<bool, StoreError> {
        SledStore::contains_changes(self, doc, hashes)
    }

    fn changes_since(&self, doc: &DocId, have: &[ChangeHash]) -> Result<Vec<Vec<u8>>, StoreError> {
        SledStore::changes_since(self, doc, have)
    }

    fn apply_changes(
        &mut self,
        doc: &DocId,
        changes: Vec<Vec<u8>>,
    ) -> Result<ApplyOutcome, StoreError> {
        SledStore::apply_changes(self, doc, changes)
    }

    fn shared_heads(
        &self,
        peer: &NodeId,
        doc: &DocId,
    ) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        SledStore::shared_heads(self, peer, doc)
    }

    fn put_shared_heads(
        &mut self,
        peer: &NodeId,
        doc: &DocId,
        heads: &[ChangeHash],
    ) -> Result<(), StoreError> {
        SledStore::put_shared_heads(self, peer, doc, heads)
    }

    fn peer_epoch(&self, peer: &NodeId) -> Result<Option<u64>, StoreError> {
        SledStore::peer_epoch(self, peer)
    }

    fn put_peer_epoch(&mut self, peer: &NodeId, epoch: u64) -> Result<(), StoreError> {
        SledStore::put_peer_epoch(self, peer, epoch)
    }

    fn forget_peer(&mut self, peer: &NodeId) -> Result<(), StoreError> {
        SledStore::forget_peer(self, peer)
    }

    fn saved_document(&self, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        SledStore::saved_document(self, doc)
    }

    fn cursor(&self, peer: &NodeId, scope: &Scope) -> Result<Option<Cursor>, StoreError> {
        SledStore::cursor(self, peer, scope)
    }

    fn put_cursor(
        &mut self,
        peer: &NodeId,
        scope: &Scope,
        cursor: Cursor,
    ) -> Result<(), StoreError> {
        SledStore::put_cursor(self, peer, scope, cursor)
    }

    fn blob_len(&self, blob: &BlobId) -> Result<Option<u64>, StoreError> {
        SledStore::blob_len(self, blob)
    }

    fn blob_in_scope(&self, scope: &Scope, blob: &BlobId) -> Result<bool, StoreError> {
        SledStore::blob_in_scope(self, scope, blob)
    }

    fn read_blob(&self, blob: &BlobId, offset: u64, max_len: usize) -> Result<Vec<u8>, StoreError> {
        SledStore::read_blob(self, blob, offset, max_len)
    }

    fn blob_received_len(&self, scope: &Scope, blob: &BlobId) -> Result<u64, StoreError> {
        SledStore::blob_received_len(self, scope, blob)
    }

    fn write_blob_chunk(
        &mut self,
        scope: &Scope,
        blob: &BlobId,
        offset: u64,
        total_len: u64,
        bytes: &[u8],
    ) -> Result<BlobWriteOutcome, StoreError> {
        SledStore::write_blob_chunk(self, scope, blob, offset, total_len, bytes)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        SledStore::flush(self)
    }
}
