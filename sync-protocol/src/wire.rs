//! The wire protocol: every message two peers exchange, its limits, and its framing.
//!
//! This module is the only place that knows the encoding. `PROTOCOL.md` beside the crate specifies it
//! byte by byte, and `tests/protocol_vectors.rs` checks the vectors printed there against this code.
//!
//! A frame is a 4-byte big-endian payload length followed by the payload, one [`Message`] encoded with
//! postcard (varint integers, length-prefixed strings and sequences, enums as a varint variant index).
//! Decoding checks every documented bound after parsing, so a decoded message is always within them.

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};

use crate::ids::{BlobId, DocId, NodeId, Scope};

/// The protocol version this build speaks. A peer announcing another version gets
/// [`ErrorCode::UnsupportedVersion`] and the session ends.
pub const PROTOCOL_VERSION: u32 = 2;

/// The largest frame payload accepted or produced, in bytes (1 MiB). A length prefix above it is
/// refused before any of the payload is buffered.
pub const MAX_FRAME_PAYLOAD_BYTES: usize = 1 << 20;

/// Bytes of the length prefix in front of each payload.
pub const FRAME_HEADER_BYTES: usize = 4;

/// The most entries one [`Offer`] frame carries; longer offers are split into several frames.
pub const MAX_OFFER_ENTRIES: usize = 4096;

/// The most heads a document may announce, one per concurrent branch of editing. A municipality
/// document edited by every school during one long outage can reach dozens; a thousand only a hostile
/// peer produces. 1024 heads are 32 KiB, well inside a frame.
pub const MAX_HEADS: usize = 1024;

/// The most changes one `Changes` frame carries. Bounds the memory a frame of tiny changes can cost.
pub const MAX_CHANGES_PER_FRAME: usize = 8192;

/// The most scopes one heartbeat may describe.
pub const MAX_SCOPES_PER_HEARTBEAT: usize = 64;

/// The longest free-text field (software version, error message), in bytes.
pub const MAX_TEXT_BYTES: usize = 512;

/// The size of the pieces a blob is sent in, in bytes (256 KiB).
pub const BLOB_CHUNK_BYTES: usize = 256 * 1024;

/// The largest blob (file) the protocol transfers, in bytes (256 MiB).
pub const MAX_BLOB_BYTES: u64 = 256 * 1024 * 1024;

/// The most bytes a [`Documents`] batch may decompress to (1 MiB, one frame's worth). A receiver
/// stops inflating at this bound, so a small frame cannot make it allocate more.
pub const MAX_DOCUMENTS_BATCH_BYTES: usize = 1 << 20;

/// Every message of the protocol. The variant order is the wire tag: never reorder, only append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Tag 0. The first message each side sends.
    Hello(Hello),
    /// Tag 1. "Tell me what changed in this scope since my cursor into your log."
    SyncRequest(SyncRequest),
    /// Tag 2. The answer to a sync request: the documents and blobs that changed, in log order.
    Offer(Offer),
    /// Tag 3. Automerge changes for one document that the receiver is believed to lack.
    Changes(Changes),
    /// Tag 4. "These are my heads for this document now." Acknowledges changes once they are durable,
    /// and asks for what is missing when the sender lacks some of the peer's heads.
    Heads(DocHeads),
    /// Tag 5. Asks for a blob's bytes from an offset.
    BlobRequest(BlobRequest),
    /// Tag 6. A piece of a blob.
    BlobChunk(BlobChunk),
    /// Tag 7. The whole blob arrived, matched its id and is durable.
    BlobAck(BlobAck),
    /// Tag 8. Liveness, sync status and per-scope digests for anti-entropy; at most every 30 seconds.
    Heartbeat(Heartbeat),
    /// Tag 9. Something went wrong; `fatal` errors end the session.
    Error(ErrorMessage),
    /// Tag 10. The last push for a document is applied and durable: the receiver now holds the heads
    /// the sender announced in it. Smaller than `Heads` because it names the heads by fingerprint.
    Ack(DocAck),
    /// Tag 11 (version 2). Whole documents in automerge's saved form, for a peer that holds none of
    /// them: a rebuild costs the compacted size of the data, not its history change by change.
    Documents(Documents),
    /// Tag 12 (version 2). Every document of a [`Documents`] batch is applied and durable.
    DocumentsAck(DocumentsAck),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must stay the first field of the first variant so that any version can read it.
    pub protocol_version: u32,
    pub node_id: NodeId,
    pub software_version: String,
    /// Identifies the sender's store; it changes when the store is created anew, which invalidates
    /// every cursor a peer holds into the sender's log.
    pub store_epoch: u64,
    /// The head of the sender's change log for every scope the session shares (version 2). A peer
    /// whose cursor into that log lies beyond it knows the sender's store went back in time.
    pub log_heads: Vec<LogHead>,
}

/// Where one scope's change log ends in the sender's store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHead {
    pub scope: Scope,
    pub seq: u64,
}

/// A position in a peer's change log: every log entry up to `seq` of the store `epoch` has been
/// received and is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub epoch: u64,
    pub seq: u64,
}

/// A 128-bit fingerprint of a scope's whole content: the XOR of a hash of every (document, heads)
/// pair and every blob in it. Equal digests mean equal content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ScopeDigest(pub [u8; 16]);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Distinguishes the answers to successive requests for the same scope.
    pub request_id: u64,
    pub scope: Scope,
    /// The requester's own digest of the scope, so the responder can answer "equal" in one frame.
    pub digest: ScopeDigest,
    /// Where the requester's knowledge of the responder's log ends; `None` asks for everything.
    pub cursor: Option<Cursor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub request_id: u64,
    pub scope: Scope,
    /// The responder's store epoch; the requester's new cursor belongs to it.
    pub epoch: u64,
    /// This frame covers the log entries with `after_seq < seq <= up_to_seq`.
    pub after_seq: u64,
    pub up_to_seq: u64,
    /// True on the last frame of the answer.
    pub complete: bool,
    /// The responder's digest of the scope when the answer was made.
    pub digest: ScopeDigest,
    pub entries: Vec<OfferEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OfferEntry {
    Document {
        doc: DocId,
        #[serde(with = "raw_hashes")]
        heads: Vec<ChangeHash>,
    },
    Blob {
        blob: BlobId,
        len: u64,
    },
    /// The document's changes were pushed just before this frame; its heads are the `sender_heads`
    /// of that push, which `heads_fingerprint` names (see [`Message::Ack`]). Saves repeating the
    /// heads for every document a catch-up sends.
    Pushed {
        doc: DocId,
        heads_fingerprint: [u8; 8],
    },
    /// Version 2: the `count` documents of [`Documents`] batch `batch`, sent just before this frame,
    /// stand here in the log. Satisfied once that batch arrived whole and was applied.
    Documents {
        batch: u64,
        count: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub doc: DocId,
    /// Raw automerge changes in causal order. A change never spans frames; a catch-up larger than a
    /// frame is split into several `Changes` frames.
    pub changes: Vec<Vec<u8>>,
    /// The sender's heads once the receiver holds every change sent so far for this document; set on
    /// the last frame of a catch-up and empty on the others.
    #[serde(with = "raw_hashes")]
    pub sender_heads: Vec<ChangeHash>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocHeads {
    pub doc: DocId,
    #[serde(with = "raw_hashes")]
    pub heads: Vec<ChangeHash>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocAck {
    pub doc: DocId,
    /// The first 8 bytes of the document fingerprint (see `PROTOCOL.md`) of the acknowledged heads.
    pub heads_fingerprint: [u8; 8],
}

/// A batch of whole documents: `compressed` is a raw DEFLATE stream (RFC 1951) of the postcard
/// encoding of a `list<SavedDocument>`, at most [`MAX_DOCUMENTS_BATCH_BYTES`] once inflated.
/// Compressing the batch as a whole shares the document ids' common prefix and the structure
/// documents of one kind have in common, which per-document framing would pay for each time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Documents {
    /// Chosen by the sender, growing within a session; named again by [`DocumentsAck`] and by the
    /// offer entry that stands for the batch.
    pub batch: u64,
    pub compressed: Vec<u8>,
}

/// One document of a [`Documents`] batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedDocument {
    pub doc: DocId,
    /// The document as `Automerge::save` writes it: every change, compacted.
    pub saved: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentsAck {
    pub batch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRequest {
    pub scope: Scope,
    pub blob: BlobId,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobChunk {
    pub scope: Scope,
    pub blob: BlobId,
    pub offset: u64,
    pub total_len: u64,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobAck {
    pub blob: BlobId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The sender's clock when it sent this, milliseconds; only used for round-trip estimates.
    pub sent_at_millis: u64,
    pub status: SyncStatus,
    pub scopes: Vec<ScopeState>,
    /// Filled in by nodes; the relay sends `None`.
    pub health: Option<NodeHealth>,
}

/// What the sender still has to send, as the operations view shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncStatus {
    pub docs_waiting: u64,
    pub blobs_waiting: u64,
    pub bytes_waiting: u64,
    /// When the sender last saw every scope in sync with this peer, in its own milliseconds.
    pub last_complete_sync_millis: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeState {
    pub scope: Scope,
    pub digest: ScopeDigest,
    pub log_head: u64,
    pub epoch: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeHealth {
    pub disk_free_bytes: u64,
    pub uptime_secs: u64,
    pub store_bytes: u64,
    pub doc_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub code: ErrorCode,
    pub fatal: bool,
    pub message: String,
    /// The document the error is about, when it is about one.
    pub doc: Option<DocId>,
}

/// Error codes. The variant order is the wire value: never reorder, only append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// 0: the peer speaks a protocol version this side does not.
    UnsupportedVersion,
    /// 1: a frame could not be decoded or broke a documented bound.
    MalformedFrame,
    /// 2: the peer may not read or write that scope.
    ScopeDenied,
    /// 3: a change could not be parsed or applied.
    BadChange,
    /// 4: the document or blob would exceed its size bound.
    TooLarge,
    /// 5: a message arrived that the session's state does not allow (for example before Hello).
    UnexpectedMessage,
    /// 6: the side reporting it failed to read or write its own store.
    StoreFailure,
    /// 7: the peer was silent for three heartbeat intervals.
    Timeout,
    /// 8: a blob's bytes did not match its id.
    BlobMismatch,
    /// 9: the sender is shutting down or closing the session on purpose.
    Closing,
}

/// Change hashes travel as 32 raw bytes each (automerge's own serde form is a hex string, twice as big).
mod raw_hashes {
    use automerge::ChangeHash;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        hashes: &[ChangeHash],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let raw: Vec<&[u8; 32]> = hashes.iter().map(|hash| &hash.0).collect();
        raw.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<ChangeHash>, D::Error> {
        let raw = Vec::<[u8; 32]>::deserialize(deserializer)?;
        Ok(raw.into_iter().map(ChangeHash).collect())
    }
}

/// Why bytes could not become a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {len} bytes exceeds the maximum of {MAX_FRAME_PAYLOAD_BYTES}")]
    FrameTooLarge { len: usize },
    #[error("peer speaks protocol version {theirs}; this side speaks {PROTOCOL_VERSION}")]
    UnsupportedVersion { theirs: u32 },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("message breaks a protocol bound: {0}")]
    OutOfBounds(&'static str),
}

/// Why a message could not be encoded. Only a bug produces these: callers keep within the bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("message of {len} bytes exceeds the frame maximum of {MAX_FRAME_PAYLOAD_BYTES}")]
    TooLarge { len: usize },
    #[error("message breaks a protocol bound: {0}")]
    OutOfBounds(&'static str),
    #[error("encoding failed: {0}")]
    Serialize(String),
}

impl Message {
    /// Checks every documented bound. Called on both sides of the boundary: before encoding and after
    /// decoding.
    pub fn check_bounds(&self) -> Result<(), &'static str> {
        fn heads_ok(heads: &[ChangeHash]) -> Result<(), &'static str> {
            if heads.len() > MAX_HEADS {
                Err("too many heads")
            } else {
                Ok(())
            }
        }
        fn text_ok(text: &str) -> Result<(), &'static str> {
            if text.len() > MAX_TEXT_BYTES {
                Err("text field too long")
            } else {
                Ok(())
            }
        }
        match self {
            Message::Hello(hello) => {
                if hello.log_heads.len() > MAX_SCOPES_PER_HEARTBEAT {
                    return Err("too many scopes");
                }
                text_ok(&hello.software_version)
            }
            // A batch's inflated size is bounded where it is unpacked; its frame bounds the rest.
            Message::SyncRequest(_)
            | Message::BlobAck(_)
            | Message::Ack(_)
            | Message::Documents(_)
            | Message::DocumentsAck(_) => Ok(()),
            Message::Offer(offer) => {
                if offer.entries.len() > MAX_OFFER_ENTRIES {
                    return Err("too many offer entries");
                }
                if offer.up_to_seq < offer.after_seq {
                    return Err("offer range ends before it starts");
                }
                offer.entries.iter().try_for_each(|entry| match entry {
                    OfferEntry::Document { heads, .. } => heads_ok(heads),
                    OfferEntry::Blob { len, .. } if *len > MAX_BLOB_BYTES => Err("blob too large"),
                    OfferEntry::Blob { .. }
                    | OfferEntry::Pushed { .. }
                    | OfferEntry::Documents { .. } => Ok(()),
                })
            }
            Message::Changes(changes) => {
                if changes.changes.len() > MAX_CHANGES_PER_FRAME {
                    return Err("too many changes in one frame");
                }
                heads_ok(&changes.sender_heads)
            }
            Message::Heads(heads) => heads_ok(&heads.heads),
            Message::BlobRequest(request) => {
                if request.offset > MAX_BLOB_BYTES {
                    Err("blob offset too large")
                } else {
                    Ok(())
                }
            }
            Message::BlobChunk(chunk) => {
                let end = chunk
                    .offset
                    .checked_add(chunk.bytes.len() as u64)
                    .ok_or("blob chunk overflows")?;
                if chunk.total_len > MAX_BLOB_BYTES {
                    Err("blob too large")
                } else if chunk.bytes.len() > BLOB_CHUNK_BYTES {
                    Err("blob chunk too large")
                } else if end > chunk.total_len {
                    Err("blob chunk ends past the blob")
                } else {
                    Ok(())
                }
            }
            Message::Heartbeat(heartbeat) => {
                if heartbeat.scopes.len() > MAX_SCOPES_PER_HEARTBEAT {
                    Err("too many scopes")
                } else {
                    Ok(())
                }
            }
            Message::Error(error) => text_ok(&error.message),
        }
    }

    /// Encodes the message into one frame: length prefix and payload.
    pub fn encode_frame(&self) -> Result<Vec<u8>, EncodeError> {
        self.check_bounds().map_err(EncodeError::OutOfBounds)?;
        let mut frame = vec![0u8; FRAME_HEADER_BYTES];
        let mut frame = postcard::to_extend(self, std::mem::take(&mut frame))
            .map_err(|error| EncodeError::Serialize(error.to_string()))?;
        let payload_len = frame.len() - FRAME_HEADER_BYTES;
        if payload_len > MAX_FRAME_PAYLOAD_BYTES {
            return Err(EncodeError::TooLarge { len: payload_len });
        }
        frame[..FRAME_HEADER_BYTES].copy_from_slice(&(payload_len as u32).to_be_bytes());
        Ok(frame)
    }

    /// The encoded payload size of this message, without the frame header.
    pub fn encoded_len(&self) -> usize {
        postcard::experimental::serialized_size(self).unwrap_or(usize::MAX)
    }

    /// Decodes one payload (the bytes after the length prefix).
    pub fn decode_payload(payload: &[u8]) -> Result<Message, DecodeError> {
        if payload.len() > MAX_FRAME_PAYLOAD_BYTES {
            return Err(DecodeError::FrameTooLarge { len: payload.len() });
        }
        // A Hello from another protocol version may have a different layout after its version field,
        // so the version is read on its own first: the peer then gets a clear error, not a parse error.
        if let Ok(((tag, version), _)) = postcard::take_from_bytes::<(u32, u32)>(payload)
            && tag == 0
            && version != PROTOCOL_VERSION
        {
            return Err(DecodeError::UnsupportedVersion { theirs: version });
        }
        let (message, rest) = postcard::take_from_bytes::<Message>(payload)
            .map_err(|error| DecodeError::Malformed(error.to_string()))?;
        if !rest.is_empty() {
            return Err(DecodeError::Malformed(format!(
                "{} bytes after the message",
                rest.len()
            )));
        }
        message.check_bounds().map_err(DecodeError::OutOfBounds)?;
        Ok(message)
    }
}

impl Documents {
    /// Encodes and compresses a batch. Fails when the inflated batch would exceed
    /// [`MAX_DOCUMENTS_BATCH_BYTES`]; the sender then sends fewer documents.
    pub fn pack(batch: u64, documents: &[SavedDocument]) -> Result<Self, EncodeError> {
        use std::io::Write as _;
        let plain = postcard::to_stdvec(documents)
            .map_err(|error| EncodeError::Serialize(error.to_string()))?;
        if plain.len() > MAX_DOCUMENTS_BATCH_BYTES {
            return Err(EncodeError::TooLarge { len: plain.len() });
        }
        let mut encoder = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(plain.len() / 2),
            flate2::Compression::default(),
        );
        encoder
            .write_all(&plain)
            .map_err(|error| EncodeError::Serialize(error.to_string()))?;
        let compressed = encoder
            .finish()
            .map_err(|error| EncodeError::Serialize(error.to_string()))?;
        Ok(Self { batch, compressed })
    }

    /// Inflates and decodes a received batch, reading at most [`MAX_DOCUMENTS_BATCH_BYTES`] so that
    /// a small hostile frame cannot make the receiver allocate more.
    pub fn unpack(&self) -> Result<Vec<SavedDocument>, DecodeError> {
        use std::io::Read as _;
        // Inflated piece by piece into a buffer that grows by doubling but never past the bound plus
        // one byte (enough to tell that the bound was passed), so a bomb costs at most the bound and
        // a small batch only what it holds.
        let limit = MAX_DOCUMENTS_BATCH_BYTES + 1;
        let mut reader =
            flate2::read::DeflateDecoder::new(self.compressed.as_slice()).take(limit as u64);
        let mut plain: Vec<u8> = Vec::new();
        let mut piece = [0u8; 16 * 1024];
        loop {
            let read = reader
                .read(&mut piece)
                .map_err(|error| DecodeError::Malformed(format!("documents batch: {error}")))?;
            if read == 0 {
                break;
            }
            if plain.len() + read > plain.capacity() {
                let wanted = (plain.capacity() * 2).max(plain.len() + read).min(limit);
                plain.reserve_exact(wanted - plain.len());
            }
            plain.extend_from_slice(&piece[..read]);
        }
        if plain.len() > MAX_DOCUMENTS_BATCH_BYTES {
            return Err(DecodeError::OutOfBounds(
                "documents batch inflates past its bound",
            ));
        }
        let (documents, rest) = postcard::take_from_bytes::<Vec<SavedDocument>>(&plain)
            .map_err(|error| DecodeError::Malformed(format!("documents batch: {error}")))?;
        if !rest.is_empty() {
            return Err(DecodeError::Malformed(format!(
                "documents batch: {} bytes after the list",
                rest.len()
            )));
        }
        Ok(documents)
    }
}

/// Splits a byte stream into frame payloads. A length prefix above [`MAX_FRAME_PAYLOAD_BYTES`] is an
/// error before any of its payload is buffered. Consumed bytes are dropped in bulk, not per frame, so
/// a stream of many tiny frames costs linear time; a driver that drains after every `extend` keeps at
/// most one frame plus one read buffer.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    /// Where the unread bytes start in `buffer`.
    read_offset: usize,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the transport.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.read_offset > 0 {
            self.buffer.drain(..self.read_offset);
            self.read_offset = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete payload, if one has arrived.
    pub fn next_payload(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        let unread = &self.buffer[self.read_offset..];
        let Some(header) = unread.first_chunk::<FRAME_HEADER_BYTES>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header) as usize;
        if len > MAX_FRAME_PAYLOAD_BYTES {
            return Err(DecodeError::FrameTooLarge { len });
        }
        if unread.len() < FRAME_HEADER_BYTES + len {
            return Ok(None);
        }
        let payload = unread[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len].to_vec();
        self.read_offset += FRAME_HEADER_BYTES + len;
        Ok(Some(payload))
    }

    /// Bytes received but not yet returned as a payload.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len() - self.read_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Message {
        Message::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            node_id: "node-30076-a".parse().expect("valid"),
            software_version: "0.1.0".into(),
            store_epoch: 7,
            log_heads: vec![LogHead {
                scope: "school:30076".parse().expect("valid"),
                seq: 12,
            }],
        })
    }

    #[test]
    fn a_frame_round_trips_through_the_stream_decoder_byte_by_byte() {
        let frame = hello().encode_frame().expect("encodes");
        let mut decoder = FrameDecoder::new();
        for byte in &frame[..frame.len() - 1] {
            decoder.extend(&[*byte]);
            assert_eq!(decoder.next_payload(), Ok(None));
        }
        decoder.extend(&frame[frame.len() - 1..]);
        let payload = decoder.next_payload().expect("valid").expect("complete");
        assert_eq!(Message::decode_payload(&payload), Ok(hello()));
        assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn an_oversized_length_prefix_is_refused_before_buffering() {
        let mut decoder = FrameDecoder::new();
        decoder.extend(&((MAX_FRAME_PAYLOAD_BYTES as u32) + 1).to_be_bytes());
        assert_eq!(
            decoder.next_payload(),
            Err(DecodeError::FrameTooLarge {
                len: MAX_FRAME_PAYLOAD_BYTES + 1
            })
        );
    }

    #[test]
    fn a_hello_from_an_unknown_version_is_reported_as_such() {
        let Message::Hello(mut hello) = hello() else {
            unreachable!()
        };
        hello.protocol_version = 99;
        let frame = Message::Hello(hello).encode_frame().expect("encodes");
        assert_eq!(
            Message::decode_payload(&frame[FRAME_HEADER_BYTES..]),
            Err(DecodeError::UnsupportedVersion { theirs: 99 })
        );
    }

    #[test]
    fn trailing_bytes_and_broken_bounds_are_refused() {
        let mut frame = hello().encode_frame().expect("encodes");
        frame.push(0);
        assert!(matches!(
            Message::decode_payload(&frame[FRAME_HEADER_BYTES..]),
            Err(DecodeError::Malformed(_))
        ));

        let heads = DocHeads {
            doc: "national/x".parse().expect("valid"),
            heads: vec![ChangeHash([1; 32]); MAX_HEADS + 1],
        };
        assert!(matches!(
            Message::Heads(heads).encode_frame(),
            Err(EncodeError::OutOfBounds(_))
        ));
    }
}
