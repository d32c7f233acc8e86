//! The key layout of the store's one sled tree, and the byte encoding of every record in it.
//!
//! This is the only module that knows how keys are built and values are encoded. Everything lives in
//! one tree, [`REPLICA_TREE_NAME`], so that a write touching several kinds of record (a document chunk,
//! its scope's log and digest, the sequence counter) is a single `sled::Batch`, which sled applies
//! atomically, also across a crash.
//!
//! Every key starts with a one-byte tag naming the kind of record. Text identifiers (`DocId`, `Scope`,
//! `NodeId`) are written in their canonical form, which never contains a zero byte, so a zero byte
//! ends an identifier inside a composite key and one identifier's keys never share a prefix with
//! another's. Integers in keys are big-endian so that byte order is numeric order.
//!
//! | tag | key                                   | value                                          |
//! |-----|---------------------------------------|------------------------------------------------|
//! | `M` | `M` name                              | store metadata: epoch, next sequence number    |
//! | `D` | `D` doc                               | [`DocumentRecord`]: heads and sizes            |
//! | `S` | `S` doc                               | the document's `save()` snapshot               |
//! | `C` | `C` doc 0 chunk_no(u64)               | one `save_after(old_heads)` increment          |
//! | `L` | `L` scope 0 seq(u64)                  | the [`LogItem`] at that sequence number        |
//! | `I` | `I` scope 0 item                      | the item's current sequence number in the log  |
//! | `G` | `G` scope                             | the scope's digest and log head                |
//! | `Q` | `Q` scope                             | [`ScopeUsage`]: documents and blobs, counted  |
//! |     |                                       | and measured (4 × u64)                         |
//! | `H` | `H` peer 0 doc                        | shared heads, as `encode_shared_heads`         |
//! | `K` | `K` peer 0 scope                      | cursor: epoch(u64) seq(u64)                    |
//! | `E` | `E` peer                              | the peer store epoch `H` and `K` describe (u64)|
//! | `B` | `B` blob(32 bytes)                    | [`BlobRecord`]: the stored content's length and |
//! |     |                                       | which pieces hold it                           |
//! | `U` | `U` upload(32 bytes)                  | [`UploadRecord`]: bytes received of one scope's |
//! |     |                                       | unfinished upload of one blob                  |
//! | `W` | `W` scope 0 blob(32 bytes)            | empty: `scope` has an unfinished upload of blob |
//! | `V` | `V` upload(32 bytes) offset(u64)      | a piece of an upload, up to                    |
//! |     |                                       | [`crate::BLOB_STORAGE_CHUNK_BYTES`] bytes      |
//! | `P` | `P` blob(32 bytes) offset(u64)        | a piece of content stored before uploads were  |
//! |     |                                       | kept per scope (no longer written)             |
//!
//! # Blobs
//!
//! A scope receives a blob only by uploading all of its bytes, so every scope's upload of a blob is
//! kept apart: its [`UploadId`] is derived from the scope and the blob, and its pieces live under
//! `V` and that id. When an upload completes and its bytes hash to the blob's id, the blob enters
//! the scope's log (`L`, `I`, `G`). If the store held no content for the blob yet, the upload's
//! pieces become it: the `B` record names the upload ([`BlobRecord::CompleteInUpload`]) and nothing
//! is copied. If it did (another scope completed first), the upload's pieces are deleted: content is
//! stored once however many scopes hold it.
//!
//! Stores written before uploads were per scope hold `B` records of the first format, whose pieces
//! live under `P` and the blob id: [`BlobRecord::Complete`] is read as before, and
//! [`BlobRecord::SharedPartial`], an unfinished upload shared by every scope, is never resumed (the
//! download starts again at 0, as the upload of one scope); its record and pieces are deleted by
//! the first write of any upload of that blob, and stay until then.
//!
//! Tests and tools may use the key builders here to find a record on disk, for example to damage it.

use automerge::ChangeHash;
use sha2::{Digest as _, Sha256};
use sync_protocol::ids::{BlobId, DocId, NodeId, Scope};
use sync_protocol::store::{LogItem, ScopeSummary, ScopeUsage, Seq};
use sync_protocol::wire::{Cursor, ScopeDigest};

/// The name of the sled tree that holds every record of the store.
pub const REPLICA_TREE_NAME: &str = "digione-replica-v1";

const TAG_METADATA: u8 = b'M';
const TAG_DOCUMENT: u8 = b'D';
const TAG_SNAPSHOT: u8 = b'S';
const TAG_CHUNK: u8 = b'C';
const TAG_LOG: u8 = b'L';
const TAG_LOG_INDEX: u8 = b'I';
const TAG_SCOPE_SUMMARY: u8 = b'G';
const TAG_SCOPE_USAGE: u8 = b'Q';
const TAG_SHARED_HEADS: u8 = b'H';
const TAG_CURSOR: u8 = b'K';
const TAG_PEER_EPOCH: u8 = b'E';
const TAG_BLOB: u8 = b'B';
const TAG_BLOB_PIECE: u8 = b'P';
const TAG_UPLOAD: u8 = b'U';
const TAG_UPLOAD_PIECE: u8 = b'V';
const TAG_SCOPE_UPLOAD: u8 = b'W';

/// Ends a text identifier inside a composite key.
const SEPARATOR: u8 = 0;

/// The version byte at the start of every encoded [`DocumentRecord`] and [`BlobRecord`], so that a
/// later format can be told apart from this one.
const RECORD_FORMAT_VERSION: u8 = 1;

/// The most heads a document record may list; more means the record is damaged. Real documents have
/// a handful (one per concurrent writer since the last merge).
const MAX_HEADS_PER_RECORD: usize = 4096;

/// The metadata key holding the store epoch.
pub fn epoch_key() -> Vec<u8> {
    tagged_text(TAG_METADATA, "epoch")
}

/// The metadata key holding the next sequence number to hand out minus one (the last one used).
pub fn last_seq_key() -> Vec<u8> {
    tagged_text(TAG_METADATA, "last-seq")
}

pub fn document_key(doc: &DocId) -> Vec<u8> {
    tagged_text(TAG_DOCUMENT, &doc.to_string())
}

/// The prefix of every document record key; what follows it is the document id.
pub fn document_key_prefix() -> Vec<u8> {
    vec![TAG_DOCUMENT]
}

/// Parses the document id back out of a key built by [`document_key`].
pub fn document_id_from_key(key: &[u8]) -> Option<DocId> {
    let text = std::str::from_utf8(key.strip_prefix(&[TAG_DOCUMENT])?).ok()?;
    text.parse().ok()
}

pub fn snapshot_key(doc: &DocId) -> Vec<u8> {
    tagged_text(TAG_SNAPSHOT, &doc.to_string())
}

/// The prefix shared by every incremental chunk of `doc` and by nothing else.
pub fn chunk_key_prefix(doc: &DocId) -> Vec<u8> {
    let mut key = tagged_text(TAG_CHUNK, &doc.to_string());
    key.push(SEPARATOR);
    key
}

pub fn chunk_key(doc: &DocId, chunk_number: u64) -> Vec<u8> {
    let mut key = chunk_key_prefix(doc);
    key.extend_from_slice(&chunk_number.to_be_bytes());
    key
}

/// The chunk number at the end of a chunk key, given the key's prefix length.
pub fn chunk_number_from_key(key: &[u8], prefix_len: usize) -> Option<u64> {
    read_u64(key.get(prefix_len..)?)
}

pub fn log_key_prefix(scope: &Scope) -> Vec<u8> {
    let mut key = tagged_text(TAG_LOG, &scope.to_string());
    key.push(SEPARATOR);
    key
}

pub fn log_key(scope: &Scope, seq: Seq) -> Vec<u8> {
    let mut key = log_key_prefix(scope);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub fn log_index_key(scope: &Scope, item: &LogItem) -> Vec<u8> {
    let mut key = tagged_text(TAG_LOG_INDEX, &scope.to_string());
    key.push(SEPARATOR);
    key.extend_from_slice(&encode_log_item(item));
    key
}

pub fn scope_summary_key(scope: &Scope) -> Vec<u8> {
    tagged_text(TAG_SCOPE_SUMMARY, &scope.to_string())
}

/// The prefix of every log index key of `scope`: one key per document or blob the scope holds.
pub fn log_index_prefix(scope: &Scope) -> Vec<u8> {
    let mut key = tagged_text(TAG_LOG_INDEX, &scope.to_string());
    key.push(SEPARATOR);
    key
}

pub fn scope_usage_key(scope: &Scope) -> Vec<u8> {
    tagged_text(TAG_SCOPE_USAGE, &scope.to_string())
}

pub fn encode_scope_usage(usage: &ScopeUsage) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32);
    for figure in [
        usage.documents,
        usage.document_bytes,
        usage.blobs,
        usage.blob_bytes,
    ] {
        bytes.extend_from_slice(&figure.to_be_bytes());
    }
    bytes
}

pub fn decode_scope_usage(bytes: &[u8]) -> Option<ScopeUsage> {
    if bytes.len() != 32 {
        return None;
    }
    let figure = |index: usize| read_u64(&bytes[index * 8..index * 8 + 8]);
    Some(ScopeUsage {
        documents: figure(0)?,
        document_bytes: figure(1)?,
        blobs: figure(2)?,
        blob_bytes: figure(3)?,
    })
}

pub fn shared_heads_key(peer: &NodeId, doc: &DocId) -> Vec<u8> {
    let mut key = tagged_text(TAG_SHARED_HEADS, &peer.to_string());
    key.push(SEPARATOR);
    key.extend_from_slice(doc.to_string().as_bytes());
    key
}

pub fn cursor_key(peer: &NodeId, scope: &Scope) -> Vec<u8> {
    let mut key = tagged_text(TAG_CURSOR, &peer.to_string());
    key.push(SEPARATOR);
    key.extend_from_slice(scope.to_string().as_bytes());
    key
}

/// The prefix of every shared-heads record about `peer`, and of nothing else.
pub fn shared_heads_key_prefix(peer: &NodeId) -> Vec<u8> {
    let mut key = tagged_text(TAG_SHARED_HEADS, &peer.to_string());
    key.push(SEPARATOR);
    key
}

/// The prefix of every cursor into `peer`'s log, and of nothing else.
pub fn cursor_key_prefix(peer: &NodeId) -> Vec<u8> {
    let mut key = tagged_text(TAG_CURSOR, &peer.to_string());
    key.push(SEPARATOR);
    key
}

pub fn peer_epoch_key(peer: &NodeId) -> Vec<u8> {
    tagged_text(TAG_PEER_EPOCH, &peer.to_string())
}

pub fn blob_key(blob: &BlobId) -> Vec<u8> {
    let mut key = vec![TAG_BLOB];
    key.extend_from_slice(&blob.0);
    key
}

/// Names one scope's upload of one blob: SHA-256 of a domain tag, the scope's canonical text, a
/// zero byte and the blob id. A fixed-size id keeps piece keys of one shape and lets a
/// [`BlobRecord`] name the upload whose pieces hold the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UploadId(pub [u8; 32]);

impl UploadId {
    pub fn of(scope: &Scope, blob: &BlobId) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"digione-upload\0");
        hasher.update(scope.to_string().as_bytes());
        hasher.update([SEPARATOR]);
        hasher.update(blob.0);
        Self(hasher.finalize().into())
    }
}

/// The prefix of every [`scope_upload_key`] of `scope`.
pub fn scope_uploads_prefix(scope: &Scope) -> Vec<u8> {
    let mut key = tagged_text(TAG_SCOPE_UPLOAD, &scope.to_string());
    key.push(SEPARATOR);
    key
}

/// Present while `scope` has an unfinished upload of `blob` (its `U` record exists), so that a
/// scope's unfinished uploads can be counted for its quota.
pub fn scope_upload_key(scope: &Scope, blob: &BlobId) -> Vec<u8> {
    let mut key = scope_uploads_prefix(scope);
    key.extend_from_slice(&blob.0);
    key
}

pub fn upload_key(upload: &UploadId) -> Vec<u8> {
    let mut key = vec![TAG_UPLOAD];
    key.extend_from_slice(&upload.0);
    key
}

/// A run of stored pieces that together hold bytes of one blob from offset 0: an upload's, or the
/// content of a blob stored before uploads were kept per scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pieces {
    /// Under `P` and the blob id (first format; no longer written).
    OfBlob(BlobId),
    /// Under `V` and the upload id.
    OfUpload(UploadId),
}

impl Pieces {
    /// The prefix shared by every piece of the run, and by nothing else.
    pub fn key_prefix(&self) -> Vec<u8> {
        let (tag, id) = match self {
            Pieces::OfBlob(blob) => (TAG_BLOB_PIECE, &blob.0),
            Pieces::OfUpload(upload) => (TAG_UPLOAD_PIECE, &upload.0),
        };
        let mut key = Vec::with_capacity(1 + 32 + 8);
        key.push(tag);
        key.extend_from_slice(id);
        key
    }

    /// The key of the piece that starts at `offset`.
    pub fn key(&self, offset: u64) -> Vec<u8> {
        let mut key = self.key_prefix();
        key.extend_from_slice(&offset.to_be_bytes());
        key
    }
}

/// The byte offset at the end of a piece key (both kinds have the same shape).
pub fn piece_offset_from_key(key: &[u8]) -> Option<u64> {
    read_u64(key.get(1 + 32..)?)
}

fn tagged_text(tag: u8, text: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + text.len() + 9);
    key.push(tag);
    key.extend_from_slice(text.as_bytes());
    key
}

/// Reads exactly eight big-endian bytes.
pub fn read_u64(bytes: &[u8]) -> Option<u64> {
    let array: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_be_bytes(array))
}

pub fn encode_log_item(item: &LogItem) -> Vec<u8> {
    match item {
        LogItem::Document(doc) => {
            let mut bytes = vec![b'd'];
            bytes.extend_from_slice(doc.to_string().as_bytes());
            bytes
        }
        LogItem::Blob(blob) => {
            let mut bytes = vec![b'b'];
            bytes.extend_from_slice(&blob.0);
            bytes
        }
    }
}

pub fn decode_log_item(bytes: &[u8]) -> Option<LogItem> {
    match bytes.split_first()? {
        (b'd', rest) => Some(LogItem::Document(
            std::str::from_utf8(rest).ok()?.parse().ok()?,
        )),
        (b'b', rest) => Some(LogItem::Blob(BlobId(rest.try_into().ok()?))),
        _ => None,
    }
}

pub fn encode_scope_summary(summary: &ScopeSummary) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(24);
    bytes.extend_from_slice(&summary.digest.0);
    bytes.extend_from_slice(&summary.log_head.to_be_bytes());
    bytes
}

pub fn decode_scope_summary(bytes: &[u8]) -> Option<ScopeSummary> {
    if bytes.len() != 24 {
        return None;
    }
    let (digest, log_head) = bytes.split_at(16);
    Some(ScopeSummary {
        digest: ScopeDigest(digest.try_into().ok()?),
        log_head: read_u64(log_head)?,
    })
}

pub fn encode_cursor(cursor: &Cursor) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&cursor.epoch.to_be_bytes());
    bytes.extend_from_slice(&cursor.seq.to_be_bytes());
    bytes
}

pub fn decode_cursor(bytes: &[u8]) -> Option<Cursor> {
    if bytes.len() != 16 {
        return None;
    }
    let (epoch, seq) = bytes.split_at(8);
    Some(Cursor {
        epoch: read_u64(epoch)?,
        seq: read_u64(seq)?,
    })
}

/// What the store knows about one document without loading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    /// The heads after the last write, sorted; what `doc_heads` answers.
    pub heads: Vec<ChangeHash>,
    /// Bytes of the `save()` snapshot, 0 when there is none.
    pub snapshot_bytes: u64,
    /// How many incremental chunks follow the snapshot; they are numbered from 0.
    pub chunk_count: u64,
    /// Bytes of all incremental chunks together.
    pub chunk_bytes: u64,
}

impl DocumentRecord {
    /// Everything stored for the document, the size bounded by `MAX_DOCUMENT_BYTES`.
    pub fn stored_bytes(&self) -> u64 {
        self.snapshot_bytes.saturating_add(self.chunk_bytes)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + 8 * 3 + 4 + 32 * self.heads.len());
        bytes.push(RECORD_FORMAT_VERSION);
        bytes.extend_from_slice(&self.snapshot_bytes.to_be_bytes());
        bytes.extend_from_slice(&self.chunk_count.to_be_bytes());
        bytes.extend_from_slice(&self.chunk_bytes.to_be_bytes());
        // The head count is bounded by MAX_HEADS_PER_RECORD, far below u32::MAX.
        bytes.extend_from_slice(&(self.heads.len() as u32).to_be_bytes());
        for head in &self.heads {
            bytes.extend_from_slice(&head.0);
        }
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = Reader { bytes };
        let version = reader.take(1)?[0];
        if version != RECORD_FORMAT_VERSION {
            return Err(format!("unknown document record version {version}"));
        }
        let snapshot_bytes = reader.u64()?;
        let chunk_count = reader.u64()?;
        let chunk_bytes = reader.u64()?;
        let head_count = u32::from_be_bytes(
            reader
                .take(4)?
                .try_into()
                .map_err(|_| "head count".to_owned())?,
        ) as usize;
        if head_count > MAX_HEADS_PER_RECORD {
            return Err(format!(
                "the record lists {head_count} heads, over the bound of {MAX_HEADS_PER_RECORD}"
            ));
        }
        let mut heads = Vec::with_capacity(head_count);
        for _ in 0..head_count {
            let hash: [u8; 32] = reader.take(32)?.try_into().map_err(|_| "head".to_owned())?;
            heads.push(ChangeHash(hash));
        }
        if !reader.bytes.is_empty() {
            return Err(format!(
                "{} unexpected bytes after the record",
                reader.bytes.len()
            ));
        }
        Ok(Self {
            heads,
            snapshot_bytes,
            chunk_count,
            chunk_bytes,
        })
    }
}

/// What the store knows about one blob's content (which scopes hold it is in their logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobRecord {
    /// First format, no longer written: an unfinished upload shared by every scope, with pieces
    /// covering `[0, received)` under [`Pieces::OfBlob`]. Never resumed; deleted with its pieces by
    /// the first write of any upload of the blob.
    SharedPartial { received: u64 },
    /// First format, no longer written: all `len` bytes are stored under [`Pieces::OfBlob`] and hash
    /// to the blob's id.
    Complete { len: u64 },
    /// All `len` bytes are stored as the pieces of `upload` ([`Pieces::OfUpload`]), the upload that
    /// first completed, and hash to the blob's id.
    CompleteInUpload { len: u64, upload: UploadId },
}

impl BlobRecord {
    /// The length of the stored content, `None` while there is none.
    pub fn complete_len(&self) -> Option<u64> {
        match self {
            BlobRecord::SharedPartial { .. } => None,
            BlobRecord::Complete { len } | BlobRecord::CompleteInUpload { len, .. } => Some(*len),
        }
    }

    /// The pieces that hold the bytes this record describes.
    pub fn pieces(&self, blob: &BlobId) -> Pieces {
        match self {
            BlobRecord::SharedPartial { .. } | BlobRecord::Complete { .. } => Pieces::OfBlob(*blob),
            BlobRecord::CompleteInUpload { upload, .. } => Pieces::OfUpload(*upload),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let (state, length) = match self {
            BlobRecord::SharedPartial { received } => (0u8, *received),
            BlobRecord::Complete { len } => (1u8, *len),
            BlobRecord::CompleteInUpload { len, .. } => (2u8, *len),
        };
        let mut bytes = vec![RECORD_FORMAT_VERSION, state];
        bytes.extend_from_slice(&length.to_be_bytes());
        if let BlobRecord::CompleteInUpload { upload, .. } = self {
            bytes.extend_from_slice(&upload.0);
        }
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [RECORD_FORMAT_VERSION, 0, rest @ ..] => Some(BlobRecord::SharedPartial {
                received: read_u64(rest)?,
            }),
            [RECORD_FORMAT_VERSION, 1, rest @ ..] => Some(BlobRecord::Complete {
                len: read_u64(rest)?,
            }),
            [RECORD_FORMAT_VERSION, 2, rest @ ..] if rest.len() == 8 + 32 => {
                let (len, upload) = rest.split_at(8);
                Some(BlobRecord::CompleteInUpload {
                    len: read_u64(len)?,
                    upload: UploadId(upload.try_into().ok()?),
                })
            }
            _ => None,
        }
    }
}

/// One scope's unfinished upload of one blob: pieces covering `[0, received)` are stored under
/// [`Pieces::OfUpload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadRecord {
    pub received: u64,
}

impl UploadRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![RECORD_FORMAT_VERSION];
        bytes.extend_from_slice(&self.received.to_be_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [RECORD_FORMAT_VERSION, rest @ ..] => Some(UploadRecord {
                received: read_u64(rest)?,
            }),
            _ => None,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < len {
            return Err("the record is truncated".to_owned());
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    fn u64(&mut self) -> Result<u64, String> {
        read_u64(self.take(8)?).ok_or_else(|| "the record is truncated".to_owned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn records_round_trip_and_damaged_ones_are_refused() {
        let record = DocumentRecord {
            heads: vec![ChangeHash([7; 32]), ChangeHash([9; 32])],
            snapshot_bytes: 10,
            chunk_count: 3,
            chunk_bytes: 300,
        };
        let bytes = record.encode();
        assert_eq!(DocumentRecord::decode(&bytes), Ok(record));
        for len in 0..bytes.len() {
            assert!(DocumentRecord::decode(&bytes[..len]).is_err());
        }
        let usage = ScopeUsage {
            documents: 3,
            document_bytes: 4096,
            blobs: 1,
            blob_bytes: u64::MAX,
        };
        assert_eq!(decode_scope_usage(&encode_scope_usage(&usage)), Some(usage));
        assert_eq!(decode_scope_usage(&[0; 31]), None);
        let blob = BlobRecord::Complete { len: 5 };
        assert_eq!(BlobRecord::decode(&blob.encode()), Some(blob));
        assert_eq!(BlobRecord::decode(&[1, 2, 3]), None);
        let in_upload = BlobRecord::CompleteInUpload {
            len: 9,
            upload: UploadId([4; 32]),
        };
        let bytes = in_upload.encode();
        assert_eq!(BlobRecord::decode(&bytes), Some(in_upload));
        for len in 0..bytes.len() {
            assert_eq!(BlobRecord::decode(&bytes[..len]), None);
        }
        let upload = UploadRecord { received: 77 };
        assert_eq!(UploadRecord::decode(&upload.encode()), Some(upload));
        assert_eq!(UploadRecord::decode(&[1, 2]), None);
    }

    #[test]
    fn records_of_the_first_blob_format_still_decode() {
        // Bytes as the first format wrote them: version 1, state, length.
        let mut partial = vec![1, 0];
        partial.extend_from_slice(&300u64.to_be_bytes());
        assert_eq!(
            BlobRecord::decode(&partial),
            Some(BlobRecord::SharedPartial { received: 300 })
        );
        let mut complete = vec![1, 1];
        complete.extend_from_slice(&500u64.to_be_bytes());
        assert_eq!(
            BlobRecord::decode(&complete),
            Some(BlobRecord::Complete { len: 500 })
        );
        let blob = BlobId([6; 32]);
        assert_eq!(
            BlobRecord::Complete { len: 500 }.pieces(&blob).key(64),
            [&[b'P'][..], &[6; 32], &64u64.to_be_bytes()].concat()
        );
    }

    #[test]
    fn uploads_of_one_blob_by_two_scopes_have_different_ids() {
        let blob = BlobId([1; 32]);
        let school: Scope = "school:30076".parse().unwrap();
        let other: Scope = "school:30077".parse().unwrap();
        assert_ne!(UploadId::of(&school, &blob), UploadId::of(&other, &blob));
        assert_eq!(UploadId::of(&school, &blob), UploadId::of(&school, &blob));
        assert_ne!(
            UploadId::of(&school, &blob),
            UploadId::of(&school, &BlobId([2; 32]))
        );
    }

    #[test]
    fn a_document_chunk_prefix_does_not_cover_a_longer_name() {
        let short: DocId = "school:30076/a".parse().unwrap();
        let long: DocId = "school:30076/a-b".parse().unwrap();
        assert!(!chunk_key(&long, 0).starts_with(&chunk_key_prefix(&short)));
        let item = LogItem::Document(long.clone());
        assert_eq!(decode_log_item(&encode_log_item(&item)), Some(item));
    }
}
