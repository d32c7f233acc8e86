//! Checks the test vectors and tables printed in `PROTOCOL.md` against the wire code, in both directions.
//!
//! The spec is the contract another vendor implements from, so it must never drift from the code:
//! - every `<!-- vector: NAME -->` block must be what [`Message::encode_frame`] produces for the message
//!   built by the constructor of the same name below, and must decode back to that message;
//! - every `<!-- rejected: NAME -->` block must be refused with the documented kind of error (a
//!   `Documents` frame whose batch does not unpack counts as refused, as a receiver refuses it);
//! - a vector in the file without a constructor here, or a constructor without a vector, fails;
//! - every `Message` variant has at least one vector (an exhaustive `match` makes a new variant a
//!   compile error here until it gets one);
//! - the tag, error-code and limits tables agree with the encoding and with the constants.
//!
//! To regenerate the hex after a deliberate wire change, run
//! `PRINT_VECTORS=1 cargo test -p sync-protocol --test protocol_vectors -- --nocapture` and paste.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use automerge::ChangeHash;
use sync_protocol::ids::{BlobId, DocId, NodeId, Scope};
use sync_protocol::wire::{
    BLOB_CHUNK_BYTES, BlobAck, BlobChunk, BlobRequest, Changes, Cursor, DecodeError, DocAck,
    DocHeads, Documents, DocumentsAck, ErrorCode, ErrorMessage, FRAME_HEADER_BYTES, FrameDecoder,
    Heartbeat, Hello, LogHead, MAX_BLOB_BYTES, MAX_CHANGES_PER_FRAME, MAX_DOCUMENTS_BATCH_BYTES,
    MAX_FRAME_PAYLOAD_BYTES, MAX_HEADS, MAX_OFFER_ENTRIES, MAX_SCOPES_PER_HEARTBEAT,
    MAX_TEXT_BYTES, Message, NodeHealth, Offer, OfferEntry, PROTOCOL_VERSION, SavedDocument,
    ScopeDigest, ScopeState, SyncRequest, SyncStatus,
};

const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/PROTOCOL.md");

// ---------------------------------------------------------------------------------------------------
// The messages behind the vectors. Names are the markers in PROTOCOL.md.

fn accepted_vectors() -> Vec<(&'static str, Message)> {
    vec![
        ("hello", hello(PROTOCOL_VERSION)),
        (
            "sync_request_first",
            Message::SyncRequest(SyncRequest {
                request_id: 1,
                scope: Scope::National,
                digest: ScopeDigest([0; 16]),
                cursor: None,
            }),
        ),
        (
            "sync_request_resume",
            Message::SyncRequest(SyncRequest {
                request_id: 2,
                scope: scope("school:30076"),
                digest: counting_digest(0x00),
                cursor: Some(Cursor {
                    epoch: 300,
                    seq: 1234,
                }),
            }),
        ),
        (
            "offer",
            Message::Offer(Offer {
                request_id: 2,
                scope: scope("municipality:092"),
                epoch: 300,
                after_seq: 1234,
                up_to_seq: 1236,
                complete: true,
                digest: counting_digest(0x10),
                entries: vec![
                    OfferEntry::Document {
                        doc: doc("municipality:092/menu-2026-w05"),
                        heads: vec![hash(0xaa)],
                    },
                    OfferEntry::Blob {
                        blob: BlobId::of_content(b"abc"),
                        len: 3,
                    },
                ],
            }),
        ),
        ("offer_empty", offer_empty()),
        (
            "offer_pushed",
            Message::Offer(Offer {
                request_id: 3,
                scope: scope("school:30076"),
                epoch: 300,
                after_seq: 1236,
                up_to_seq: 1237,
                complete: true,
                digest: counting_digest(0x30),
                entries: vec![OfferEntry::Pushed {
                    doc: doc("school:30076/timetable"),
                    heads_fingerprint: [1, 2, 3, 4, 5, 6, 7, 8],
                }],
            }),
        ),
        (
            "changes",
            Message::Changes(Changes {
                doc: doc("school:30076/timetable"),
                changes: vec![
                    vec![0x85, 0x6f, 0x4a, 0x83, 0x01],
                    vec![0x85, 0x6f, 0x4a, 0x83, 0x02],
                ],
                sender_heads: vec![hash(0x11), hash(0x22)],
            }),
        ),
        (
            "changes_partial",
            Message::Changes(Changes {
                doc: doc("school:30076/timetable"),
                changes: vec![vec![0x85, 0x6f, 0x4a, 0x83, 0x03]],
                sender_heads: vec![],
            }),
        ),
        (
            "heads",
            Message::Heads(DocHeads {
                doc: doc("school:30076/timetable"),
                heads: vec![hash(0x11), hash(0x22)],
            }),
        ),
        (
            "blob_request",
            Message::BlobRequest(BlobRequest {
                scope: scope("school:30076"),
                blob: BlobId::of_content(b"abc"),
                offset: 0,
            }),
        ),
        (
            "blob_chunk",
            Message::BlobChunk(BlobChunk {
                scope: scope("school:30076"),
                blob: BlobId::of_content(b"abc"),
                offset: 0,
                total_len: 3,
                bytes: b"abc".to_vec(),
            }),
        ),
        (
            "blob_ack",
            Message::BlobAck(BlobAck {
                blob: BlobId::of_content(b"abc"),
            }),
        ),
        (
            "heartbeat_node",
            Message::Heartbeat(Heartbeat {
                sent_at_millis: 1_767_225_600_000,
                status: SyncStatus {
                    docs_waiting: 2,
                    blobs_waiting: 1,
                    bytes_waiting: 262_144,
                    last_complete_sync_millis: Some(1_767_225_540_000),
                },
                scopes: vec![
                    ScopeState {
                        scope: scope("school:30076"),
                        digest: counting_digest(0x20),
                        log_head: 1236,
                        epoch: 300,
                    },
                    ScopeState {
                        scope: Scope::National,
                        digest: ScopeDigest([0; 16]),
                        log_head: 0,
                        epoch: 7,
                    },
                ],
                health: Some(NodeHealth {
                    disk_free_bytes: 50_000_000_000,
                    uptime_secs: 86_400,
                    store_bytes: 1_000_000,
                    doc_count: 42,
                }),
            }),
        ),
        (
            "heartbeat_relay",
            Message::Heartbeat(Heartbeat {
                sent_at_millis: 1_767_225_600_000,
                status: SyncStatus::default(),
                scopes: vec![],
                health: None,
            }),
        ),
        (
            "error_unsupported_version",
            Message::Error(ErrorMessage {
                code: ErrorCode::UnsupportedVersion,
                fatal: true,
                message: "this side speaks protocol version 2".into(),
                doc: None,
            }),
        ),
        (
            "error_bad_change",
            Message::Error(ErrorMessage {
                code: ErrorCode::BadChange,
                fatal: false,
                message: "change does not parse".into(),
                doc: Some(doc("school:30076/timetable")),
            }),
        ),
        (
            "ack",
            Message::Ack(DocAck {
                doc: doc("school:30076/timetable"),
                heads_fingerprint: [1, 2, 3, 4, 5, 6, 7, 8],
            }),
        ),
        (
            "documents",
            Message::Documents(Documents {
                batch: 1,
                compressed: stored_deflate(&documents_plain()),
            }),
        ),
        (
            "documents_ack",
            Message::DocumentsAck(DocumentsAck { batch: 1 }),
        ),
        (
            "offer_documents",
            Message::Offer(Offer {
                request_id: 4,
                scope: scope("school:30076"),
                epoch: 300,
                after_seq: 1237,
                up_to_seq: 1238,
                complete: true,
                digest: counting_digest(0x40),
                entries: vec![OfferEntry::Documents { batch: 1, count: 1 }],
            }),
        ),
    ]
}

/// The one document of the `documents` vector: the timetable, with the same five placeholder bytes as
/// the `changes` vector standing in for `Automerge::save` output (the wire treats them as opaque).
fn documents_vector_list() -> Vec<SavedDocument> {
    vec![SavedDocument {
        doc: doc("school:30076/timetable"),
        saved: vec![0x85, 0x6f, 0x4a, 0x83, 0x01],
    }]
}

/// What the `documents` vector compresses: the postcard encoding of its `list<SavedDocument>`.
fn documents_plain() -> Vec<u8> {
    postcard::to_allocvec(&documents_vector_list()).expect("serializes")
}

/// A raw DEFLATE stream (RFC 1951) made by hand so that the vector does not depend on any
/// compressor's choices: one final block stored without compression, `01` (BFINAL = 1, BTYPE = 00,
/// then padding to the byte boundary), LEN and its ones' complement NLEN as little-endian 16-bit
/// numbers, then the bytes themselves.
fn stored_deflate(plain: &[u8]) -> Vec<u8> {
    let len = u16::try_from(plain.len()).expect("a stored block holds at most 65535 bytes");
    let mut stream = vec![0x01];
    stream.extend_from_slice(&len.to_le_bytes());
    stream.extend_from_slice(&(!len).to_le_bytes());
    stream.extend_from_slice(plain);
    stream
}

/// How a rejected vector must be refused. `Malformed` carries the decoder's own wording, which is not
/// part of the spec, so only the kind of error is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    FrameTooLarge,
    UnsupportedVersion(u32),
    Malformed,
    OutOfBounds,
    /// The frame decodes to a `Documents` message, but its batch is malformed when unpacked
    /// (inflated and decoded, section 6.12). A receiver makes this refusal before applying any
    /// document of the batch, and it is as fatal as a frame that does not decode.
    BatchMalformed,
}

impl Refusal {
    fn of(error: &DecodeError) -> Self {
        match error {
            DecodeError::FrameTooLarge { .. } => Refusal::FrameTooLarge,
            DecodeError::UnsupportedVersion { theirs } => Refusal::UnsupportedVersion(*theirs),
            DecodeError::Malformed(_) => Refusal::Malformed,
            DecodeError::OutOfBounds(_) => Refusal::OutOfBounds,
        }
    }

    /// The refusal of a frame that decodes: only a batch of documents is judged again, when it is
    /// unpacked, because the frame decoder treats its compressed bytes as opaque.
    fn of_decoded(message: &Message) -> Result<(), Self> {
        match message {
            Message::Documents(documents) => match documents.unpack() {
                Ok(_) => Ok(()),
                Err(DecodeError::Malformed(_)) => Err(Refusal::BatchMalformed),
                Err(error) => Err(Refusal::of(&error)),
            },
            _ => Ok(()),
        }
    }
}

/// Bytes a conforming receiver must refuse, built here from their description so that the hex in the
/// spec is known to be exactly that mistake and nothing else.
fn rejected_vectors() -> Vec<(&'static str, Vec<u8>, Refusal)> {
    let hello_v1 = frame_of(&hello(PROTOCOL_VERSION));

    let mut trailing_byte = hello_v1.clone();
    trailing_byte.push(0x00);
    set_length_prefix(&mut trailing_byte);

    // The empty offer ends with `complete` (1), the 16-byte digest and an empty entry list.
    let mut bad_bool = frame_of(&offer_empty());
    let complete_at = bad_bool.len() - 1 - 16 - 1;
    assert_eq!(bad_bool[complete_at], 0x01);
    bad_bool[complete_at] = 0x02;

    let mut bad_scope = vec![0, 0, 0, 0, 5, 8];
    bad_scope.extend_from_slice(b"school:1");
    bad_scope.extend_from_slice(&BlobId::of_content(b"abc").0);
    bad_scope.push(0);
    set_length_prefix(&mut bad_scope);

    // A hostile encoder need not call `check_bounds`; postcard alone produces these bytes.
    let backwards_offer = Message::Offer(Offer {
        request_id: 1,
        scope: Scope::National,
        epoch: 7,
        after_seq: 5,
        up_to_seq: 4,
        complete: true,
        digest: ScopeDigest([0; 16]),
        entries: vec![],
    });
    let mut offer_range_backwards = vec![0; FRAME_HEADER_BYTES];
    offer_range_backwards.extend(postcard::to_allocvec(&backwards_offer).expect("serializes"));
    set_length_prefix(&mut offer_range_backwards);

    let frame_too_large = ((MAX_FRAME_PAYLOAD_BYTES + 1) as u32)
        .to_be_bytes()
        .to_vec();

    // The batch of the `documents` vector sent without compressing it: a well-formed frame whose
    // `compressed` bytes an inflater reads as a stored block with inconsistent LEN and NLEN.
    let documents_not_deflate = frame_of(&Message::Documents(Documents {
        batch: 1,
        compressed: documents_plain(),
    }));

    vec![
        // The next version this side does not speak: a Hello of any other version is refused the
        // same way, whatever layout its later fields have (section 8).
        (
            "hello_version_3",
            frame_of(&hello(3)),
            Refusal::UnsupportedVersion(3),
        ),
        ("trailing_byte", trailing_byte, Refusal::Malformed),
        ("bad_bool", bad_bool, Refusal::Malformed),
        ("bad_scope", bad_scope, Refusal::Malformed),
        (
            "offer_range_backwards",
            offer_range_backwards,
            Refusal::OutOfBounds,
        ),
        ("frame_too_large", frame_too_large, Refusal::FrameTooLarge),
        (
            "documents_not_deflate",
            documents_not_deflate,
            Refusal::BatchMalformed,
        ),
    ]
}

fn hello(protocol_version: u32) -> Message {
    Message::Hello(Hello {
        protocol_version,
        node_id: "node-30076-a".parse::<NodeId>().expect("valid node id"),
        software_version: "0.1.0".into(),
        store_epoch: 300,
        log_heads: vec![LogHead {
            scope: scope("school:30076"),
            seq: 1236,
        }],
    })
}

fn offer_empty() -> Message {
    Message::Offer(Offer {
        request_id: 1,
        scope: Scope::National,
        epoch: 7,
        after_seq: 0,
        up_to_seq: 0,
        complete: true,
        digest: ScopeDigest([0; 16]),
        entries: vec![],
    })
}

fn scope(text: &str) -> Scope {
    text.parse().expect("valid scope")
}

fn doc(text: &str) -> DocId {
    text.parse().expect("valid doc id")
}

/// A change hash whose 32 bytes are all `byte`, easy to spot in hex.
fn hash(byte: u8) -> ChangeHash {
    ChangeHash([byte; 32])
}

/// A digest of 16 consecutive byte values starting at `first`, which shows the byte order in hex.
fn counting_digest(first: u8) -> ScopeDigest {
    ScopeDigest(std::array::from_fn(|index| first + index as u8))
}

fn frame_of(message: &Message) -> Vec<u8> {
    message
        .encode_frame()
        .expect("vector messages keep the bounds")
}

fn set_length_prefix(frame: &mut [u8]) {
    let payload_len = (frame.len() - FRAME_HEADER_BYTES) as u32;
    frame[..FRAME_HEADER_BYTES].copy_from_slice(&payload_len.to_be_bytes());
}

/// The wire tag of a message, by an exhaustive match: adding a variant to `Message` breaks this
/// function until the variant is listed here, in `VARIANT_NAMES`, in the spec and among the vectors.
fn variant_tag(message: &Message) -> usize {
    match message {
        Message::Hello(_) => 0,
        Message::SyncRequest(_) => 1,
        Message::Offer(_) => 2,
        Message::Changes(_) => 3,
        Message::Heads(_) => 4,
        Message::BlobRequest(_) => 5,
        Message::BlobChunk(_) => 6,
        Message::BlobAck(_) => 7,
        Message::Heartbeat(_) => 8,
        Message::Error(_) => 9,
        Message::Ack(_) => 10,
        Message::Documents(_) => 11,
        Message::DocumentsAck(_) => 12,
    }
}

const VARIANT_NAMES: [&str; 13] = [
    "Hello",
    "SyncRequest",
    "Offer",
    "Changes",
    "Heads",
    "BlobRequest",
    "BlobChunk",
    "BlobAck",
    "Heartbeat",
    "Error",
    "Ack",
    "Documents",
    "DocumentsAck",
];

/// Every error code with its wire number; exhaustive for the same reason as [`variant_tag`].
fn error_code_number(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::UnsupportedVersion => 0,
        ErrorCode::MalformedFrame => 1,
        ErrorCode::ScopeDenied => 2,
        ErrorCode::BadChange => 3,
        ErrorCode::TooLarge => 4,
        ErrorCode::UnexpectedMessage => 5,
        ErrorCode::StoreFailure => 6,
        ErrorCode::Timeout => 7,
        ErrorCode::BlobMismatch => 8,
        ErrorCode::Closing => 9,
    }
}

const ALL_ERROR_CODES: [(ErrorCode, &str); 10] = [
    (ErrorCode::UnsupportedVersion, "UnsupportedVersion"),
    (ErrorCode::MalformedFrame, "MalformedFrame"),
    (ErrorCode::ScopeDenied, "ScopeDenied"),
    (ErrorCode::BadChange, "BadChange"),
    (ErrorCode::TooLarge, "TooLarge"),
    (ErrorCode::UnexpectedMessage, "UnexpectedMessage"),
    (ErrorCode::StoreFailure, "StoreFailure"),
    (ErrorCode::Timeout, "Timeout"),
    (ErrorCode::BlobMismatch, "BlobMismatch"),
    (ErrorCode::Closing, "Closing"),
];

fn limits() -> BTreeMap<&'static str, u64> {
    BTreeMap::from([
        ("PROTOCOL_VERSION", u64::from(PROTOCOL_VERSION)),
        ("FRAME_HEADER_BYTES", FRAME_HEADER_BYTES as u64),
        ("MAX_FRAME_PAYLOAD_BYTES", MAX_FRAME_PAYLOAD_BYTES as u64),
        ("MAX_OFFER_ENTRIES", MAX_OFFER_ENTRIES as u64),
        ("MAX_HEADS", MAX_HEADS as u64),
        ("MAX_CHANGES_PER_FRAME", MAX_CHANGES_PER_FRAME as u64),
        ("MAX_SCOPES_PER_HEARTBEAT", MAX_SCOPES_PER_HEARTBEAT as u64),
        ("MAX_TEXT_BYTES", MAX_TEXT_BYTES as u64),
        ("BLOB_CHUNK_BYTES", BLOB_CHUNK_BYTES as u64),
        ("MAX_BLOB_BYTES", MAX_BLOB_BYTES),
        (
            "MAX_DOCUMENTS_BATCH_BYTES",
            MAX_DOCUMENTS_BATCH_BYTES as u64,
        ),
        ("DocId::MAX_NAME_LEN", DocId::MAX_NAME_LEN as u64),
    ])
}

// ---------------------------------------------------------------------------------------------------
// Reading the spec.

#[derive(Debug)]
struct Spec {
    accepted: BTreeMap<String, Vec<u8>>,
    rejected: BTreeMap<String, Vec<u8>>,
    tables: BTreeMap<String, Vec<Vec<String>>>,
}

fn read_spec() -> Spec {
    let text = std::fs::read_to_string(SPEC_PATH).expect("PROTOCOL.md is readable");
    parse_spec(&text).unwrap_or_else(|error| panic!("{SPEC_PATH}: {error}"))
}

/// Parses the markers: `<!-- vector: NAME -->` and `<!-- rejected: NAME -->` are each followed by a
/// ```` ```hex ```` block (whitespace between bytes is ignored); `<!-- table: NAME -->` is followed by a
/// markdown table whose body rows are kept as trimmed cells without backticks.
fn parse_spec(text: &str) -> Result<Spec, String> {
    let mut spec = Spec {
        accepted: BTreeMap::new(),
        rejected: BTreeMap::new(),
        tables: BTreeMap::new(),
    };
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!--")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        let Some((kind, name)) = marker.trim().split_once(':') else {
            continue;
        };
        let name = name.trim().to_owned();
        let line_no = index + 1;
        match kind.trim() {
            "vector" | "rejected" => {
                let opening = lines
                    .by_ref()
                    .map(|(_, line)| line.trim())
                    .find(|line| !line.is_empty());
                if opening != Some("```hex") {
                    return Err(format!(
                        "line {line_no}: marker {name:?} must be followed by a ```hex block"
                    ));
                }
                let mut digits = String::new();
                for (_, line) in lines.by_ref() {
                    if line.trim() == "```" {
                        break;
                    }
                    digits.extend(line.chars().filter(|c| !c.is_whitespace()));
                }
                let bytes = hex::decode(&digits)
                    .map_err(|error| format!("line {line_no}: vector {name:?}: {error}"))?;
                let map = if kind.trim() == "vector" {
                    &mut spec.accepted
                } else {
                    &mut spec.rejected
                };
                if map.insert(name.clone(), bytes).is_some() {
                    return Err(format!("line {line_no}: vector {name:?} appears twice"));
                }
            }
            "table" => {
                let mut rows = Vec::new();
                while lines.peek().is_some_and(|(_, line)| line.trim().is_empty()) {
                    lines.next();
                }
                while let Some((_, line)) = lines.next_if(|(_, line)| line.trim().starts_with('|'))
                {
                    let cells: Vec<String> = line
                        .trim()
                        .trim_matches('|')
                        .split('|')
                        .map(|cell| cell.trim().replace('`', ""))
                        .collect();
                    rows.push(cells);
                }
                // Drop the header row and the `|---|` separator.
                if rows.len() < 2 || !rows[1].iter().all(|cell| cell.starts_with(['-', ':'])) {
                    return Err(format!(
                        "line {line_no}: table {name:?} must be a markdown table with a header"
                    ));
                }
                rows.drain(..2);
                if spec.tables.insert(name.clone(), rows).is_some() {
                    return Err(format!("line {line_no}: table {name:?} appears twice"));
                }
            }
            _ => {}
        }
    }
    Ok(spec)
}

/// The layout the spec uses: the 4-byte length prefix on its own line, then 16 bytes a line.
fn hex_block(frame: &[u8]) -> String {
    let mut block = String::from("```hex\n");
    let (header, payload) = frame.split_at(FRAME_HEADER_BYTES.min(frame.len()));
    let line = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    block.push_str(&line(header));
    block.push('\n');
    for chunk in payload.chunks(16) {
        block.push_str(&line(chunk));
        block.push('\n');
    }
    block.push_str("```\n");
    block
}

fn table<'a>(spec: &'a Spec, name: &str) -> &'a [Vec<String>] {
    spec.tables
        .get(name)
        .unwrap_or_else(|| panic!("PROTOCOL.md has no `<!-- table: {name} -->`"))
}

fn parse_number(cell: &str) -> u64 {
    cell.replace(['_', ' ', ','], "")
        .parse()
        .unwrap_or_else(|_| panic!("{cell:?} is not a number"))
}

// ---------------------------------------------------------------------------------------------------
// The checks.

#[test]
fn print_vectors_when_asked() {
    if std::env::var_os("PRINT_VECTORS").is_none() {
        return;
    }
    for (name, message) in accepted_vectors() {
        println!(
            "<!-- vector: {name} -->\n{}",
            hex_block(&frame_of(&message))
        );
    }
    for (name, bytes, _) in rejected_vectors() {
        println!("<!-- rejected: {name} -->\n{}", hex_block(&bytes));
    }
}

#[test]
fn every_vector_in_the_spec_encodes_and_decodes_as_the_code_does() {
    let spec = read_spec();
    let vectors = accepted_vectors();
    let mut problems = String::new();

    let in_code: BTreeSet<&str> = vectors.iter().map(|(name, _)| *name).collect();
    let in_spec: BTreeSet<&str> = spec.accepted.keys().map(String::as_str).collect();
    assert_eq!(in_code.len(), vectors.len(), "a vector name is used twice");
    for name in in_spec.difference(&in_code) {
        writeln!(
            problems,
            "vector {name:?} is in PROTOCOL.md but has no constructor"
        )
        .ok();
    }

    for (name, message) in &vectors {
        let frame = frame_of(message);
        let Some(documented) = spec.accepted.get(*name) else {
            writeln!(
                problems,
                "vector {name:?} is missing from PROTOCOL.md; add:\n<!-- vector: {name} -->\n{}",
                hex_block(&frame)
            )
            .ok();
            continue;
        };
        if *documented != frame {
            writeln!(
                problems,
                "vector {name:?}: the code encodes\n{}but PROTOCOL.md says\n{}",
                hex_block(&frame),
                hex_block(documented)
            )
            .ok();
            continue;
        }
        let mut decoder = FrameDecoder::new();
        decoder.extend(documented);
        match decoder.next_payload() {
            Ok(Some(payload)) if decoder.buffered_len() == 0 => {
                match Message::decode_payload(&payload) {
                    Ok(decoded) if decoded == *message => {}
                    other => {
                        writeln!(problems, "vector {name:?} decodes to {other:?}").ok();
                    }
                }
            }
            other => {
                writeln!(
                    problems,
                    "vector {name:?} is not exactly one frame: {other:?}"
                )
                .ok();
            }
        }
    }
    assert!(problems.is_empty(), "{problems}");
}

#[test]
fn the_documents_vector_unpacks_to_exactly_its_saved_document() {
    let spec = read_spec();
    let frame = spec
        .accepted
        .get("documents")
        .expect("PROTOCOL.md has the documents vector");
    let Ok(Message::Documents(documents)) = Message::decode_payload(&frame[FRAME_HEADER_BYTES..])
    else {
        panic!("the documents vector does not decode to a Documents message");
    };
    assert_eq!(documents.unpack(), Ok(documents_vector_list()));

    // The stored block is laid out as section 11 annotates it, so that an implementer can check an
    // inflater by hand: the block header, LEN = 30 and NLEN = !30 (little-endian), then the list.
    let plain = documents_plain();
    assert_eq!(plain.len(), 0x1e);
    assert_eq!(documents.compressed[..5], [0x01, 0x1e, 0x00, 0xe1, 0xff]);
    assert_eq!(documents.compressed[5..], plain[..]);

    // The compressed bytes are not canonical: the reference compressor makes another stream of the
    // same list, and a receiver must accept it just the same.
    let packed = Documents::pack(1, &documents_vector_list()).expect("a small batch packs");
    assert_ne!(packed.compressed, documents.compressed);
    assert_eq!(packed.unpack(), Ok(documents_vector_list()));
}

#[test]
fn every_rejected_vector_in_the_spec_is_refused_as_documented() {
    let spec = read_spec();
    let vectors = rejected_vectors();
    let mut problems = String::new();

    let in_code: BTreeSet<&str> = vectors.iter().map(|(name, ..)| *name).collect();
    for name in spec.rejected.keys() {
        if !in_code.contains(name.as_str()) {
            writeln!(problems, "rejected vector {name:?} has no constructor").ok();
        }
    }

    for (name, bytes, refusal) in &vectors {
        let Some(documented) = spec.rejected.get(*name) else {
            writeln!(
                problems,
                "rejected vector {name:?} is missing from PROTOCOL.md; add:\n<!-- rejected: {name} -->\n{}",
                hex_block(bytes)
            )
            .ok();
            continue;
        };
        if documented != bytes {
            writeln!(
                problems,
                "rejected vector {name:?}: the code builds\n{}but PROTOCOL.md says\n{}",
                hex_block(bytes),
                hex_block(documented)
            )
            .ok();
            continue;
        }
        let mut decoder = FrameDecoder::new();
        decoder.extend(documented);
        let outcome = match decoder.next_payload() {
            Ok(Some(payload)) => Message::decode_payload(&payload)
                .map_err(|e| Refusal::of(&e))
                .and_then(|message| Refusal::of_decoded(&message)),
            Ok(None) => {
                writeln!(problems, "rejected vector {name:?} is an incomplete frame").ok();
                continue;
            }
            Err(error) => Err(Refusal::of(&error)),
        };
        if outcome != Err(*refusal) {
            writeln!(
                problems,
                "rejected vector {name:?}: expected {refusal:?}, got {outcome:?}"
            )
            .ok();
        }
    }
    assert!(problems.is_empty(), "{problems}");
}

#[test]
fn every_message_variant_has_a_vector_and_the_tag_table_matches() {
    let covered: BTreeSet<usize> = accepted_vectors()
        .iter()
        .map(|(_, message)| variant_tag(message))
        .collect();
    let all: BTreeSet<usize> = (0..VARIANT_NAMES.len()).collect();
    assert_eq!(covered, all, "some Message variant has no vector");

    // The first payload byte of each vector is its tag, and the tag is what the spec's table says.
    for (name, message) in accepted_vectors() {
        let frame = frame_of(&message);
        assert_eq!(
            usize::from(frame[FRAME_HEADER_BYTES]),
            variant_tag(&message),
            "vector {name}"
        );
    }
    let spec = read_spec();
    let rows = table(&spec, "message-tags");
    let documented: Vec<(u64, &str)> = rows
        .iter()
        .map(|row| (parse_number(&row[0]), row[1].as_str()))
        .collect();
    let expected: Vec<(u64, &str)> = VARIANT_NAMES
        .iter()
        .enumerate()
        .map(|(tag, name)| (tag as u64, *name))
        .collect();
    assert_eq!(
        documented, expected,
        "the message-tags table in PROTOCOL.md"
    );
}

#[test]
fn the_error_code_table_matches_the_encoding() {
    let spec = read_spec();
    let documented: Vec<(u64, &str)> = table(&spec, "error-codes")
        .iter()
        .map(|row| (parse_number(&row[0]), row[1].as_str()))
        .collect();
    let mut expected = Vec::new();
    for (code, name) in ALL_ERROR_CODES {
        let frame = frame_of(&Message::Error(ErrorMessage {
            code,
            fatal: false,
            message: String::new(),
            doc: None,
        }));
        // Tag 9, then the code as a varint: every code is below 128, so one byte.
        assert_eq!(
            frame[FRAME_HEADER_BYTES..],
            [9, error_code_number(code), 0, 0, 0]
        );
        expected.push((u64::from(error_code_number(code)), name));
    }
    assert_eq!(documented, expected, "the error-codes table in PROTOCOL.md");
}

#[test]
fn the_limits_table_matches_the_constants() {
    let spec = read_spec();
    let documented: BTreeMap<&str, u64> = table(&spec, "limits")
        .iter()
        .map(|row| (row[0].as_str(), parse_number(&row[1])))
        .collect();
    assert_eq!(
        documented,
        limits(),
        "the limits table in PROTOCOL.md (name | value)"
    );
}

#[test]
fn the_spec_parser_finds_markers_and_rejects_bad_blocks() {
    let good = "x\n<!-- vector: a -->\n\n```hex\n00 00 00 01\n07\n```\n<!-- table: t -->\n| n | v |\n|---|---|\n| `A` | 1 |\n\nend";
    let spec = parse_spec(good).expect("parses");
    assert_eq!(spec.accepted["a"], [0, 0, 0, 1, 7]);
    assert_eq!(spec.tables["t"], [vec!["A".to_owned(), "1".to_owned()]]);

    assert!(parse_spec("<!-- vector: a -->\n```\n00\n```").is_err());
    assert!(parse_spec("<!-- vector: a -->\n```hex\n0g\n```").is_err());
    assert!(
        parse_spec("<!-- vector: a -->\n```hex\n00\n```\n<!-- vector: a -->\n```hex\n00\n```")
            .is_err()
    );
}
