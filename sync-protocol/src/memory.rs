//! An in-memory [`ReplicaStore`] for the simulator, the benchmarks and tests.
//!
//! It can model a crash: with [`MemoryStore::with_crash_model`] every [`ReplicaStore::flush`] takes a
//! snapshot of the durable state, and [`MemoryStore::crash_and_restart`] throws away everything written
//! since, exactly as a power cut would to a store that had not synced. Documents are kept both as their
//! saved bytes (the durable form) and as loaded automerge documents (a cache, rebuilt after a crash).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use automerge::{Automerge, ChangeHash};

use crate::ids::{BlobId, DocId, NodeId, Scope};
use crate::store::{
    ApplyOutcome, BlobWriteOutcome, LogItem, MAX_DOCUMENT_BYTES, ReplicaStore, ScopeSummary,
    ScopeUsage, Seq, StoreError, applicable_changes, blob_fingerprint, document_fingerprint,
    new_bytes_of_blob_piece, sorted_heads,
};
use crate::wire::{Cursor, MAX_BLOB_BYTES, ScopeDigest};

#[derive(Debug, Clone, Default)]
struct DurableState {
    next_seq: Seq,
    /// Saved document bytes: a full save followed by incremental saves, loadable as one.
    documents: BTreeMap<DocId, StoredDocument>,
    scopes: BTreeMap<Scope, ScopeLog>,
    shared_heads: BTreeMap<(NodeId, DocId), Vec<ChangeHash>>,
    cursors: BTreeMap<(NodeId, Scope), Cursor>,
    peer_epochs: BTreeMap<NodeId, u64>,
    /// The content of every complete blob, once however many scopes hold it. Shared so that the
    /// snapshot taken at each flush does not copy file contents.
    blobs: BTreeMap<BlobId, Arc<[u8]>>,
    /// Unfinished uploads, one per scope and blob: the bytes received in order so far. Kept apart
    /// per scope so that one scope's garbage under a blob's id never mixes with another's upload.
    partial_blobs: BTreeMap<(Scope, BlobId), Vec<u8>>,
}

#[derive(Debug, Clone, Default)]
struct StoredDocument {
    saved: Vec<u8>,
    heads: Vec<ChangeHash>,
}

#[derive(Debug, Clone, Default)]
struct ScopeLog {
    digest: ScopeDigest,
    entries: BTreeMap<Seq, LogItem>,
    seq_of_item: HashMap<LogItem, Seq>,
}

impl ScopeLog {
    fn record(&mut self, item: LogItem, seq: Seq) {
        if let Some(old_seq) = self.seq_of_item.insert(item.clone(), seq) {
            self.entries.remove(&old_seq);
        }
        self.entries.insert(seq, item);
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct MemoryStore {
    epoch: u64,
    live: DurableState,
    /// The state as of the last flush, kept only when crashes are modelled.
    durable: Option<DurableState>,
    loaded: HashMap<DocId, Automerge>,
}

impl MemoryStore {
    /// A store whose writes are all durable at once; it cannot model a crash.
    pub fn new(epoch: u64) -> Self {
        Self {
            epoch,
            live: DurableState::default(),
            durable: None,
            loaded: HashMap::new(),
        }
    }

    /// A store that keeps a snapshot at each flush so that a crash can be simulated.
    pub fn with_crash_model(epoch: u64) -> Self {
        Self {
            durable: Some(DurableState::default()),
            ..Self::new(epoch)
        }
    }

    /// Loses every write since the last flush and drops the document cache, as a restart after a power
    /// cut would.
    pub fn crash_and_restart(&mut self) {
        if let Some(durable) = &self.durable {
            self.live = durable.clone();
        }
        self.loaded.clear();
    }

    /// The loaded document, for reading its contents in tests and examples.
    pub fn document(&mut self, doc: &DocId) -> Result<Option<&Automerge>, StoreError> {
        if !self.live.documents.contains_key(doc) {
            return Ok(None);
        }
        self.load(doc).map(Some)
    }

    /// Every document id the store holds.
    pub fn document_ids(&self) -> Vec<DocId> {
        self.live.documents.keys().cloned().collect()
    }

    /// How many uploads of a blob into a scope are partly received.
    pub fn blob_count_partial(&self) -> usize {
        self.live.partial_blobs.len()
    }

    /// Stores a blob written locally (a file upload) and records it in the scope's log.
    pub fn put_blob(&mut self, scope: &Scope, content: &[u8]) -> Result<BlobId, StoreError> {
        let blob = BlobId::of_content(content);
        if content.len() as u64 > MAX_BLOB_BYTES {
            return Err(StoreError::BlobTooLarge {
                blob,
                len: content.len() as u64,
            });
        }
        // The local writer holds the bytes, which is the proof a peer's upload has to give; content
        // already stored (from another scope) is kept as it is.
        self.live
            .blobs
            .entry(blob)
            .or_insert_with(|| content.into());
        self.live.partial_blobs.remove(&(scope.clone(), blob));
        self.record_blob_in_scope(scope, blob);
        Ok(blob)
    }

    fn record_blob_in_scope(&mut self, scope: &Scope, blob: BlobId) {
        let seq = self.next_seq();
        let log = self.live.scopes.entry(scope.clone()).or_default();
        if !log.seq_of_item.contains_key(&LogItem::Blob(blob)) {
            log.digest.toggle(blob_fingerprint(&blob));
            log.record(LogItem::Blob(blob), seq);
        }
    }

    fn next_seq(&mut self) -> Seq {
        self.live.next_seq += 1;
        self.live.next_seq
    }

    fn load(&mut self, doc: &DocId) -> Result<&Automerge, StoreError> {
        if !self.loaded.contains_key(doc) {
            let stored = self.live.documents.get(doc);
            let automerge = match stored {
                Some(stored) => {
                    Automerge::load(&stored.saved).map_err(|error| StoreError::CorruptDocument {
                        doc: doc.clone(),
                        reason: error.to_string(),
                    })?
                }
                None => Automerge::new(),
            };
            self.loaded.insert(doc.clone(), automerge);
        }
        Ok(&self.loaded[doc])
    }
}

/// Copies of what survives on disk, for the simulator's faults in which a store goes back in time:
/// a backup taken and later restored, and the question of which replica still holds a write when
/// another replica's store is lost.
impl MemoryStore {
    /// A new store holding exactly this store's durable state: what a backup of its disk taken now
    /// would contain, or what the store would come back with after a crash. Without the crash model
    /// every write is durable at once, so that is the live state. The copy keeps this store's epoch,
    /// because a backup restored onto a rebuilt machine is the same store incarnation as far as its
    /// own bookkeeping can tell, and it models crashes exactly when this store does. Its document
    /// cache starts empty, as after a process start.
    pub fn durable_copy(&self) -> MemoryStore {
        let durable_state = self.durable.as_ref().unwrap_or(&self.live).clone();
        // Built from the ordinary constructor so that any field added to the store later starts
        // from its usual initial value here too.
        let mut copy = MemoryStore::new(self.epoch);
        copy.durable = self.durable.is_some().then(|| durable_state.clone());
        copy.live = durable_state;
        copy
    }

    /// True when the store's current state contains the change `hash` of `doc`. On a
    /// [`Self::durable_copy`] that answers whether the change is durable; the loaded document is
    /// cached, so asking about many changes of one document loads it once.
    pub fn holds_change(&mut self, doc: &DocId, hash: &ChangeHash) -> Result<bool, StoreError> {
        Ok(self
            .document(doc)?
            .is_some_and(|automerge| automerge.get_change_meta_by_hash(hash).is_some()))
    }

    /// True when the store holds the whole blob (a partly received blob does not count).
    pub fn holds_complete_blob(&self, blob: &BlobId) -> bool {
        self.live.blobs.contains_key(blob)
    }

    /// True when the store holds the whole blob in `scope`'s log, so that it serves it there.
    pub fn holds_blob_in_scope(&self, scope: &Scope, blob: &BlobId) -> bool {
        self.holds_complete_blob(blob)
            && self
                .live
                .scopes
                .get(scope)
                .is_some_and(|log| log.seq_of_item.contains_key(&LogItem::Blob(*blob)))
    }

    /// The uploads, by scope and blob, of which some bytes but not all have been received.
    pub fn partial_blob_ids(&self) -> Vec<(Scope, BlobId)> {
        self.live.partial_blobs.keys().cloned().collect()
    }

    /// The bytes received so far of every partly received upload, together: it grows while a
    /// download makes progress, which the simulator watches to tell a slow repair from none.
    pub fn partial_blob_bytes(&self) -> u64 {
        self.live
            .partial_blobs
            .values()
            .map(|partial| partial.len() as u64)
            .sum()
    }
}

impl ReplicaStore for MemoryStore {
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn scope_summary(&self, scope: &Scope) -> Result<ScopeSummary, StoreError> {
        Ok(self.live.scopes.get(scope).map_or(
            ScopeSummary {
                digest: ScopeDigest::default(),
                log_head: 0,
            },
            |log| ScopeSummary {
                digest: log.digest,
                log_head: log.entries.keys().next_back().copied().unwrap_or(0),
            },
        ))
    }

    fn unfinished_uploads(&self, scope: &Scope) -> Result<u64, StoreError> {
        Ok(self
            .live
            .partial_blobs
            .keys()
            .filter(|(upload_scope, _)| upload_scope == scope)
            .count() as u64)
    }

    /// Counted from the log each time: the in-memory store serves simulations and tests, which do
    /// not ask often.
    fn scope_usage(&self, scope: &Scope) -> Result<ScopeUsage, StoreError> {
        let mut usage = ScopeUsage::default();
        let Some(log) = self.live.scopes.get(scope) else {
            return Ok(usage);
        };
        for item in log.entries.values() {
            match item {
                LogItem::Document(doc) => {
                    usage.documents += 1;
                    usage.document_bytes += self
                        .live
                        .documents
                        .get(doc)
                        .map_or(0, |stored| stored.saved.len() as u64);
                }
                LogItem::Blob(blob) => {
                    usage.blobs += 1;
                    usage.blob_bytes += self
                        .live
                        .blobs
                        .get(blob)
                        .map_or(0, |content| content.len() as u64);
                }
            }
        }
        Ok(usage)
    }

    fn log_after(
        &self,
        scope: &Scope,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, LogItem)>, StoreError> {
        Ok(self.live.scopes.get(scope).map_or_else(Vec::new, |log| {
            log.entries
                .range(after + 1..)
                .take(limit)
                .map(|(seq, item)| (*seq, item.clone()))
                .collect()
        }))
    }

    fn doc_heads(&self, doc: &DocId) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        Ok(self
            .live
            .documents
            .get(doc)
            .map(|stored| stored.heads.clone()))
    }

    fn contains_changes(&self, doc: &DocId, hashes: &[ChangeHash]) -> Result<bool, StoreError> {
        if hashes.is_empty() {
            return Ok(true);
        }
        match self.loaded.get(doc) {
            Some(loaded) => Ok(hashes
                .iter()
                .all(|hash| loaded.get_change_meta_by_hash(hash).is_some())),
            None => {
                let Some(stored) = self.live.documents.get(doc) else {
                    return Ok(false);
                };
                if hashes.iter().all(|hash| stored.heads.contains(hash)) {
                    return Ok(true);
                }
                let loaded = Automerge::load(&stored.saved).map_err(|error| {
                    StoreError::CorruptDocument {
                        doc: doc.clone(),
                        reason: error.to_string(),
                    }
                })?;
                Ok(hashes
                    .iter()
                    .all(|hash| loaded.get_change_meta_by_hash(hash).is_some()))
            }
        }
    }

    fn changes_since(&self, doc: &DocId, have: &[ChangeHash]) -> Result<Vec<Vec<u8>>, StoreError> {
        let owned;
        let automerge = match self.loaded.get(doc) {
            Some(loaded) => loaded,
            None => {
                let Some(stored) = self.live.documents.get(doc) else {
                    return Ok(Vec::new());
                };
                owned = Automerge::load(&stored.saved).map_err(|error| {
                    StoreError::CorruptDocument {
                        doc: doc.clone(),
                        reason: error.to_string(),
                    }
                })?;
                &owned
            }
        };
        let known: Vec<ChangeHash> = have
            .iter()
            .copied()
            .filter(|hash| automerge.get_change_meta_by_hash(hash).is_some())
            .collect();
        Ok(automerge
            .get_changes(&known)
            .into_iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect())
    }

    fn apply_changes(
        &mut self,
        doc: &DocId,
        changes: Vec<Vec<u8>>,
    ) -> Result<ApplyOutcome, StoreError> {
        self.load(doc)?;
        let automerge = self
            .loaded
            .get_mut(doc)
            .ok_or_else(|| StoreError::Io("document cache".into()))?;
        let old_heads = automerge.get_heads();
        let (applicable, missing_dependencies) = applicable_changes(doc, automerge, changes)?;
        if applicable.is_empty() {
            return Ok(ApplyOutcome {
                applied: 0,
                heads: old_heads,
                missing_dependencies,
            });
        }
        let applied = applicable.len();
        automerge
            .apply_changes(applicable)
            .map_err(|error| StoreError::BadChange {
                doc: doc.clone(),
                reason: error.to_string(),
            })?;
        let heads = sorted_heads(automerge.get_heads());
        let increment = automerge.save_after(&old_heads);
        let stored_bytes = self
            .live
            .documents
            .get(doc)
            .map_or(0, |stored| stored.saved.len());
        // Raw changes are several times larger than automerge's compressed form: compact into a full
        // save when the increments outgrow what is stored, and bound the document by that size.
        let compacted = (stored_bytes + increment.len() > 2 * stored_bytes.max(32 * 1024))
            .then(|| automerge.save());
        let new_size = compacted
            .as_ref()
            .map_or(stored_bytes + increment.len(), Vec::len) as u64;
        if new_size > MAX_DOCUMENT_BYTES {
            // Undo by reloading from what is stored: nothing of this batch is kept.
            self.loaded.remove(doc);
            return Err(StoreError::DocumentTooLarge {
                doc: doc.clone(),
                size_bytes: new_size,
            });
        }
        let seq = self.next_seq();
        let stored = self.live.documents.entry(doc.clone()).or_default();
        let old_fingerprint =
            (!stored.saved.is_empty()).then(|| document_fingerprint(doc, &stored.heads));
        match compacted {
            Some(snapshot) => stored.saved = snapshot,
            None => stored.saved.extend_from_slice(&increment),
        }
        stored.heads = heads.clone();
        let log = self.live.scopes.entry(doc.scope().clone()).or_default();
        if let Some(old_fingerprint) = old_fingerprint {
            log.digest.toggle(old_fingerprint);
        }
        log.digest.toggle(document_fingerprint(doc, &heads));
        log.record(LogItem::Document(doc.clone()), seq);
        Ok(ApplyOutcome {
            applied,
            heads,
            missing_dependencies,
        })
    }

    fn shared_heads(
        &self,
        peer: &NodeId,
        doc: &DocId,
    ) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        Ok(self
            .live
            .shared_heads
            .get(&(peer.clone(), doc.clone()))
            .cloned())
    }

    fn put_shared_heads(
        &mut self,
        peer: &NodeId,
        doc: &DocId,
        heads: &[ChangeHash],
    ) -> Result<(), StoreError> {
        self.live
            .shared_heads
            .insert((peer.clone(), doc.clone()), heads.to_vec());
        Ok(())
    }

    fn peer_epoch(&self, peer: &NodeId) -> Result<Option<u64>, StoreError> {
        Ok(self.live.peer_epochs.get(peer).copied())
    }

    fn put_peer_epoch(&mut self, peer: &NodeId, epoch: u64) -> Result<(), StoreError> {
        self.live.peer_epochs.insert(peer.clone(), epoch);
        Ok(())
    }

    fn forget_peer(&mut self, peer: &NodeId) -> Result<(), StoreError> {
        self.live
            .shared_heads
            .retain(|(remembered, _), _| remembered != peer);
        self.live
            .cursors
            .retain(|(remembered, _), _| remembered != peer);
        self.live.peer_epochs.remove(peer);
        Ok(())
    }

    fn saved_document(&self, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(loaded) = self.loaded.get(doc) {
            return Ok(Some(loaded.save()));
        }
        let Some(stored) = self.live.documents.get(doc) else {
            return Ok(None);
        };
        let loaded =
            Automerge::load(&stored.saved).map_err(|error| StoreError::CorruptDocument {
                doc: doc.clone(),
                reason: error.to_string(),
            })?;
        Ok(Some(loaded.save()))
    }

    fn cursor(&self, peer: &NodeId, scope: &Scope) -> Result<Option<Cursor>, StoreError> {
        Ok(self
            .live
            .cursors
            .get(&(peer.clone(), scope.clone()))
            .copied())
    }

    fn put_cursor(
        &mut self,
        peer: &NodeId,
        scope: &Scope,
        cursor: Cursor,
    ) -> Result<(), StoreError> {
        self.live
            .cursors
            .insert((peer.clone(), scope.clone()), cursor);
        Ok(())
    }

    fn blob_len(&self, blob: &BlobId) -> Result<Option<u64>, StoreError> {
        Ok(self
            .live
            .blobs
            .get(blob)
            .map(|content| content.len() as u64))
    }

    fn blob_in_scope(&self, scope: &Scope, blob: &BlobId) -> Result<bool, StoreError> {
        Ok(self
            .live
            .scopes
            .get(scope)
            .is_some_and(|log| log.seq_of_item.contains_key(&LogItem::Blob(*blob))))
    }

    fn read_blob(&self, blob: &BlobId, offset: u64, max_len: usize) -> Result<Vec<u8>, StoreError> {
        let content = self
            .live
            .blobs
            .get(blob)
            .ok_or(StoreError::BlobMissing { blob: *blob })?;
        let start = (offset as usize).min(content.len());
        let end = start.saturating_add(max_len).min(content.len());
        Ok(content[start..end].to_vec())
    }

    fn blob_received_len(&self, scope: &Scope, blob: &BlobId) -> Result<u64, StoreError> {
        Ok(self
            .live
            .partial_blobs
            .get(&(scope.clone(), *blob))
            .map_or(0, |partial| partial.len() as u64))
    }

    fn write_blob_chunk(
        &mut self,
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
        if self.blob_in_scope(scope, blob)? {
            return Ok(BlobWriteOutcome::Complete);
        }
        // Only this scope's own upload is read or written below, whatever other scopes hold: that
        // the store already has the content does not let a scope skip uploading it.
        let upload = (scope.clone(), *blob);
        let received = self
            .live
            .partial_blobs
            .get(&upload)
            .map_or(0, |partial| partial.len() as u64);
        let fresh = new_bytes_of_blob_piece(blob, offset, total_len, received, bytes)?;
        let now_received = received + fresh.len() as u64;
        if now_received < total_len {
            // A piece with nothing new leaves no trace, so that it cannot start an empty upload.
            if !fresh.is_empty() {
                self.live
                    .partial_blobs
                    .entry(upload)
                    .or_default()
                    .extend_from_slice(fresh);
            }
            return Ok(BlobWriteOutcome::Incomplete {
                received: now_received,
            });
        }
        let mut content = self.live.partial_blobs.remove(&upload).unwrap_or_default();
        content.extend_from_slice(fresh);
        if BlobId::of_content(&content) != *blob {
            return Err(StoreError::BlobMismatch { blob: *blob });
        }
        // Content stored already (another scope completed first) stays; this copy is dropped.
        self.live
            .blobs
            .entry(*blob)
            .or_insert_with(|| content.into());
        self.record_blob_in_scope(scope, *blob);
        Ok(BlobWriteOutcome::Complete)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.durable.is_some() {
            self.durable = Some(self.live.clone());
        }
        Ok(())
    }
}
