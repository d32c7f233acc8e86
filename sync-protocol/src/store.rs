//! What the sync engine needs from storage, as a trait, and the pure functions every store shares.
//!
//! A replica store holds automerge documents, content-addressed blobs, and the bookkeeping that makes a
//! reconnect cost what changed:
//!
//! * a **change log per scope**: every document and blob appears once, at the sequence number of its
//!   latest change, so "what changed since seq N" is a range scan;
//! * a **digest per scope**: the XOR of a fingerprint of every (document, heads) pair and every blob,
//!   kept up to date on each write, so "is anything different" is one comparison;
//! * per peer, the **shared heads** of every document (persisted as an automerge `sync::State`) and a
//!   **cursor** into the peer's change log per scope, together with the **epoch** of the peer's
//!   store they describe. This remembered state is an optimisation only: it is dropped when the
//!   peer's `Hello` shows that its store is not the one it describes, and whatever the peer itself
//!   says it holds replaces it (see `PROTOCOL.md`, "Remembered state").
//!
//! Writes become durable at [`ReplicaStore::flush`]; the session holds back acknowledgements until the
//! driver reports that a flush has happened, so that an acknowledged write survives a crash.

use automerge::ChangeHash;
use sha2::{Digest as _, Sha256};

use crate::ids::{BlobId, DocId, NodeId, Scope};
use crate::wire::{Cursor, ScopeDigest};

/// A position in one store's change log. Sequence numbers only grow, across all scopes of a store.
pub type Seq = u64;

/// The largest document a store accepts, in bytes of its saved form (8 MiB). Documents are meant to
/// be small (per class and term, per assignment, per thread); a change that would pass this is refused.
pub const MAX_DOCUMENT_BYTES: u64 = 8 * 1024 * 1024;

/// The largest single automerge change accepted, in bytes. It must fit one frame with room to spare.
pub const MAX_CHANGE_BYTES: usize = 512 * 1024;

/// One entry of a scope's change log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogItem {
    Document(DocId),
    Blob(BlobId),
}

/// A scope's digest and the newest sequence number in its log, read together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeSummary {
    pub digest: ScopeDigest,
    /// 0 when the scope's log is empty.
    pub log_head: Seq,
}

/// What one scope holds, for the relay's quotas per scope. Shared content (a blob recorded in two
/// scopes) counts in each scope that holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeUsage {
    pub documents: u64,
    /// Bytes the scope's documents take in the store, in the store's own form (saved and
    /// incremental), so stores of different kinds give different figures for the same content.
    pub document_bytes: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
}

/// What applying a batch of changes did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// How many of the changes were new to the store.
    pub applied: usize,
    /// The document's heads afterwards.
    pub heads: Vec<ChangeHash>,
    /// Some changes depend on changes the store does not have; those were not stored. The peer should
    /// be told our heads so that it sends what is missing.
    pub missing_dependencies: bool,
}

/// What writing a piece of a blob did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobWriteOutcome {
    /// More bytes are needed; this many of the scope's upload have been received in order so far.
    Incomplete { received: u64 },
    /// The blob is in the scope's log: this upload delivered all of its bytes and they hash to its
    /// id, or the scope already had it.
    Complete,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("document {doc} is unreadable in the store: {reason}")]
    CorruptDocument { doc: DocId, reason: String },
    #[error("a change for {doc} is invalid: {reason}")]
    BadChange { doc: DocId, reason: String },
    #[error(
        "document {doc} would grow to {size_bytes} bytes, over the bound of {MAX_DOCUMENT_BYTES}"
    )]
    DocumentTooLarge { doc: DocId, size_bytes: u64 },
    #[error("blob {blob} is {len} bytes, over the bound of {max}", max = crate::wire::MAX_BLOB_BYTES)]
    BlobTooLarge { blob: BlobId, len: u64 },
    #[error("blob {blob}: the received bytes do not hash to its id")]
    BlobMismatch { blob: BlobId },
    #[error(
        "blob {blob}: a piece at offset {offset} does not continue the {received} bytes received"
    )]
    BlobOutOfOrder {
        blob: BlobId,
        offset: u64,
        received: u64,
    },
    #[error("blob {blob} is not in the store")]
    BlobMissing { blob: BlobId },
    #[error("the store failed: {0}")]
    Io(String),
}

/// Storage as the sync engine sees it. Implemented on sled by `sync-store` and in memory by
/// [`crate::memory::MemoryStore`].
pub trait ReplicaStore {
    /// Identifies this store's incarnation; a peer's cursor into our log is only valid for it.
    fn epoch(&self) -> u64;

    fn scope_summary(&self, scope: &Scope) -> Result<ScopeSummary, StoreError>;

    /// What `scope` holds: its documents and blobs, counted and measured.
    fn scope_usage(&self, scope: &Scope) -> Result<ScopeUsage, StoreError>;

    /// How many uploads of blobs into `scope` are under way: some bytes received, not all.
    fn unfinished_uploads(&self, scope: &Scope) -> Result<u64, StoreError>;

    /// Log entries of `scope` with a sequence number above `after`, oldest first, at most `limit`.
    fn log_after(
        &self,
        scope: &Scope,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, LogItem)>, StoreError>;

    /// The document's heads, or `None` if the store does not hold it.
    fn doc_heads(&self, doc: &DocId) -> Result<Option<Vec<ChangeHash>>, StoreError>;

    /// True when the document contains every one of `hashes` (an empty list is always contained).
    fn contains_changes(&self, doc: &DocId, hashes: &[ChangeHash]) -> Result<bool, StoreError>;

    /// The raw bytes of every change not reachable from `have`, in causal order. Hashes in `have` that
    /// the document does not contain are ignored.
    fn changes_since(&self, doc: &DocId, have: &[ChangeHash]) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Adds changes to a document, creating it if needed, and records it in its scope's log when
    /// anything new was applied. Changes whose dependencies are missing are not stored. Durable after
    /// the next [`Self::flush`].
    fn apply_changes(
        &mut self,
        doc: &DocId,
        changes: Vec<Vec<u8>>,
    ) -> Result<ApplyOutcome, StoreError>;

    /// The heads this store and `peer` are both known to have for `doc`.
    fn shared_heads(
        &self,
        peer: &NodeId,
        doc: &DocId,
    ) -> Result<Option<Vec<ChangeHash>>, StoreError>;

    fn put_shared_heads(
        &mut self,
        peer: &NodeId,
        doc: &DocId,
        heads: &[ChangeHash],
    ) -> Result<(), StoreError>;

    /// The epoch of `peer`'s store that the remembered shared heads and cursors describe, if any.
    fn peer_epoch(&self, peer: &NodeId) -> Result<Option<u64>, StoreError>;

    fn put_peer_epoch(&mut self, peer: &NodeId, epoch: u64) -> Result<(), StoreError>;

    /// Drops everything remembered about what `peer` holds: its shared heads for every document, our
    /// cursors into its log and the epoch they described. Called when the peer's store turns out to
    /// be another one (replaced, or restored from an older copy), so that nothing is assumed.
    fn forget_peer(&mut self, peer: &NodeId) -> Result<(), StoreError>;

    /// The document in automerge's compacted saved form (`Automerge::save`), or `None` if the store
    /// does not hold it. What a peer that holds none of the document is sent.
    fn saved_document(&self, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError>;

    /// How far this store has received `peer`'s log for `scope`.
    fn cursor(&self, peer: &NodeId, scope: &Scope) -> Result<Option<Cursor>, StoreError>;

    fn put_cursor(
        &mut self,
        peer: &NodeId,
        scope: &Scope,
        cursor: Cursor,
    ) -> Result<(), StoreError>;

    /// The length of a complete blob, or `None` if the store does not have all of it.
    fn blob_len(&self, blob: &BlobId) -> Result<Option<u64>, StoreError>;

    /// True when the blob is complete and recorded in `scope`, so a peer reading that scope may have it.
    fn blob_in_scope(&self, scope: &Scope, blob: &BlobId) -> Result<bool, StoreError>;

    /// Up to `max_len` bytes of a complete blob from `offset`.
    fn read_blob(&self, blob: &BlobId, offset: u64, max_len: usize) -> Result<Vec<u8>, StoreError>;

    /// How many bytes of `scope`'s unfinished upload of `blob` have been received in order (0 if
    /// none): where a download of the blob into that scope resumes.
    fn blob_received_len(&self, scope: &Scope, blob: &BlobId) -> Result<u64, StoreError>;

    /// Stores a piece of `scope`'s upload of a blob. A scope receives a blob only by uploading all of
    /// its bytes: knowing the id is not enough, because ids are not secret (they travel in offers and
    /// documents of every scope that holds the file).
    ///
    /// Each scope's upload is kept apart from every other scope's upload of the same blob, so that
    /// garbage sent under a blob's id in one scope can neither spoil nor block another scope's upload.
    /// Pieces arrive in order from offset 0; a piece that repeats bytes already received is accepted
    /// and ignored. On the last piece the upload's bytes are checked against the id: on a mismatch
    /// this upload alone is dropped ([`StoreError::BlobMismatch`]); on a match the blob is added to
    /// the scope's log, and its content is stored unless the store holds it already (from another
    /// scope), in which case the uploaded copy is dropped. A piece for a blob the scope already holds
    /// changes nothing and answers [`BlobWriteOutcome::Complete`].
    fn write_blob_chunk(
        &mut self,
        scope: &Scope,
        blob: &BlobId,
        offset: u64,
        total_len: u64,
        bytes: &[u8],
    ) -> Result<BlobWriteOutcome, StoreError>;

    /// Makes every write so far durable.
    fn flush(&mut self) -> Result<(), StoreError>;
}

/// The fingerprint of one document at the given heads, as XORed into its scope's digest.
pub fn document_fingerprint(doc: &DocId, heads: &[ChangeHash]) -> [u8; 16] {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    hasher.update(b"digione-doc\0");
    hasher.update(doc.to_string().as_bytes());
    hasher.update([0]);
    for head in sorted {
        hasher.update(head.0);
    }
    truncate(hasher.finalize().into())
}

/// The short fingerprint by which an acknowledgement names the heads it confirms.
pub fn heads_ack_fingerprint(doc: &DocId, heads: &[ChangeHash]) -> [u8; 8] {
    let full = document_fingerprint(doc, heads);
    let mut short = [0u8; 8];
    short.copy_from_slice(&full[..8]);
    short
}

/// The fingerprint of one blob, as XORed into its scope's digest.
pub fn blob_fingerprint(blob: &BlobId) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update(b"digione-blob\0");
    hasher.update(blob.0);
    truncate(hasher.finalize().into())
}

fn truncate(full: [u8; 32]) -> [u8; 16] {
    let mut short = [0u8; 16];
    short.copy_from_slice(&full[..16]);
    short
}

impl ScopeDigest {
    /// Adds or removes one item: XOR is its own inverse, so replacing a document's old heads by new
    /// ones is two toggles.
    pub fn toggle(&mut self, fingerprint: [u8; 16]) {
        for (byte, other) in self.0.iter_mut().zip(fingerprint) {
            *byte ^= other;
        }
    }
}

/// Orders heads canonically so that two stores compare them byte for byte.
pub fn sorted_heads(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads.dedup();
    heads
}

/// Encodes shared heads as an automerge `sync::State`, the form automerge itself persists between
/// sync sessions, so that the record stays usable by automerge's own sync protocol.
pub fn encode_shared_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let mut state = automerge::sync::State::new();
    state.shared_heads = heads.to_vec();
    state.encode()
}

pub fn decode_shared_heads(bytes: &[u8]) -> Result<Vec<ChangeHash>, String> {
    automerge::sync::State::decode(bytes)
        .map(|state| state.shared_heads)
        .map_err(|error| error.to_string())
}

/// Decodes received change bytes and keeps those that can be applied to `doc` now: a change is kept when
/// each of its dependencies is in the document or earlier in the batch. Changes that are already in the
/// document are dropped. Returns the applicable changes in order, and whether any were left out for
/// missing dependencies. Every store calls this before applying, so that automerge's in-memory queue
/// of changes waiting for dependencies never fills with what a peer sent.
pub fn applicable_changes(
    doc_id: &DocId,
    doc: &automerge::Automerge,
    raw_changes: Vec<Vec<u8>>,
) -> Result<(Vec<automerge::Change>, bool), StoreError> {
    let mut accepted: Vec<automerge::Change> = Vec::with_capacity(raw_changes.len());
    let mut accepted_hashes = std::collections::HashSet::new();
    let mut missing_dependencies = false;
    for raw in raw_changes {
        if raw.len() > MAX_CHANGE_BYTES {
            return Err(StoreError::BadChange {
                doc: doc_id.clone(),
                reason: format!(
                    "a change of {} bytes exceeds the bound of {MAX_CHANGE_BYTES}",
                    raw.len()
                ),
            });
        }
        let change = automerge::Change::from_bytes(raw).map_err(|error| StoreError::BadChange {
            doc: doc_id.clone(),
            reason: error.to_string(),
        })?;
        let hash = change.hash();
        if accepted_hashes.contains(&hash) || doc.get_change_meta_by_hash(&hash).is_some() {
            continue;
        }
        let dependencies_present = change
            .deps()
            .iter()
            .all(|dep| accepted_hashes.contains(dep) || doc.get_change_meta_by_hash(dep).is_some());
        if dependencies_present {
            accepted_hashes.insert(hash);
            accepted.push(change);
        } else {
            missing_dependencies = true;
        }
    }
    Ok((accepted, missing_dependencies))
}

/// Turns a document received in saved form into its changes (in causal order) and its heads, so that
/// every store applies it through [`ReplicaStore::apply_changes`] with the same dependency checks as
/// any other change. The bytes come from a peer: they are bounded by [`MAX_DOCUMENT_BYTES`], loaded
/// with automerge's hash verification, and a panic inside automerge is reported as a bad change.
pub fn changes_of_saved_document(
    doc_id: &DocId,
    saved: &[u8],
) -> Result<(Vec<Vec<u8>>, Vec<ChangeHash>), StoreError> {
    if saved.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(StoreError::DocumentTooLarge {
            doc: doc_id.clone(),
            size_bytes: saved.len() as u64,
        });
    }
    let loaded = std::panic::catch_unwind(|| automerge::Automerge::load(saved))
        .map_err(|_| StoreError::BadChange {
            doc: doc_id.clone(),
            reason: "the saved document could not be loaded".into(),
        })?
        .map_err(|error| StoreError::BadChange {
            doc: doc_id.clone(),
            reason: format!("the saved document does not load: {error}"),
        })?;
    let changes = loaded
        .get_changes(&[])
        .into_iter()
        .map(|change| change.raw_bytes().to_vec())
        .collect();
    Ok((changes, sorted_heads(loaded.get_heads())))
}

/// Checks a received piece of a blob against what has been received in order so far, and returns the
/// part of it that is new. Every store calls this, so that all of them accept the same pieces: bytes
/// already received are ignored, a gap or a piece past the announced length is refused.
pub fn new_bytes_of_blob_piece<'piece>(
    blob: &BlobId,
    offset: u64,
    total_len: u64,
    received: u64,
    piece: &'piece [u8],
) -> Result<&'piece [u8], StoreError> {
    if total_len > crate::wire::MAX_BLOB_BYTES {
        return Err(StoreError::BlobTooLarge {
            blob: *blob,
            len: total_len,
        });
    }
    let end = offset.saturating_add(piece.len() as u64);
    if offset > received || end > total_len {
        return Err(StoreError::BlobOutOfOrder {
            blob: *blob,
            offset,
            received,
        });
    }
    Ok(piece
        .get((received - offset) as usize..)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_of_a_set_does_not_depend_on_insertion_order() {
        let a: DocId = "school:30076/a".parse().expect("valid");
        let b: DocId = "school:30076/b".parse().expect("valid");
        let heads = [ChangeHash([3; 32])];
        let mut forward = ScopeDigest::default();
        forward.toggle(document_fingerprint(&a, &heads));
        forward.toggle(document_fingerprint(&b, &[]));
        let mut backward = ScopeDigest::default();
        backward.toggle(document_fingerprint(&b, &[]));
        backward.toggle(document_fingerprint(&a, &heads));
        assert_eq!(forward, backward);
        backward.toggle(document_fingerprint(&a, &heads));
        assert_ne!(forward, backward);
    }

    #[test]
    fn shared_heads_survive_the_automerge_sync_state_encoding() {
        let heads = vec![ChangeHash([1; 32]), ChangeHash([2; 32])];
        assert_eq!(decode_shared_heads(&encode_shared_heads(&heads)), Ok(heads));
        assert!(decode_shared_heads(b"garbage").is_err());
    }
}
