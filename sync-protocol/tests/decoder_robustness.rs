//! Robustness of the wire decoders against hostile and damaged bytes, and round-trips of every
//! message shape.
//!
//! - Arbitrary bytes, into [`Message::decode_payload`] and into a [`FrameDecoder`] fed in pieces of
//!   random size, never panic and fail with an error.
//! - Valid frames (the vectors in `PROTOCOL.md` and generated messages) with bytes flipped, inserted,
//!   deleted or cut off never panic; whatever still decodes keeps the bounds, re-encodes, and decodes
//!   back to itself.
//! - Every well-formed message encodes and decodes to itself, through the stream decoder too.
//! - Every bound is accepted at its limit and refused one past it, even from an encoder that skips
//!   `check_bounds`; a batch of documents likewise at its inflated bound, and a small batch that
//!   inflates far past it is refused without being inflated further.
//! - A batch of documents (`Documents`), whose compressed bytes the frame decoder does not look into,
//!   is unpacked wherever one decodes: unpacking never panics, and what unpacks packs again.
//! - Every input kept in `fuzz/regressions/` is replayed through the same checks as the fuzz target.
//!
//! Each property runs `DEFAULT_CASES` cases (a few seconds in all); set `PROPTEST_CASES` for more.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::LazyLock;

use automerge::ChangeHash;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use sync_protocol::ids::{BlobId, DocId, NodeId, Scope};
use sync_protocol::wire::{
    BLOB_CHUNK_BYTES, BlobAck, BlobChunk, BlobRequest, Changes, Cursor, DecodeError, DocAck,
    DocHeads, Documents, DocumentsAck, ErrorCode, ErrorMessage, FRAME_HEADER_BYTES, FrameDecoder,
    Heartbeat, Hello, LogHead, MAX_BLOB_BYTES, MAX_DOCUMENTS_BATCH_BYTES, MAX_FRAME_PAYLOAD_BYTES,
    MAX_HEADS, MAX_OFFER_ENTRIES, MAX_SCOPES_PER_HEARTBEAT, MAX_TEXT_BYTES, Message, NodeHealth,
    Offer, OfferEntry, PROTOCOL_VERSION, SavedDocument, ScopeDigest, ScopeState, SyncRequest,
    SyncStatus,
};

const DEFAULT_CASES: u32 = 256;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------------
// The checks, shared by every property and kept in step with `fuzz/fuzz_targets/frame_decoder.rs`.

/// The whole input as one payload, then the input after its first byte as a transport stream, fed in
/// pieces of the size that first byte names. The fuzz target runs exactly this.
fn check_input(data: &[u8]) {
    check_payload(data);
    let Some((&piece_len, stream)) = data.split_first() else {
        return;
    };
    let mut decoder = FrameDecoder::new();
    for piece in stream.chunks(usize::from(piece_len).max(1)) {
        decoder.extend(piece);
        loop {
            match decoder.next_payload() {
                Ok(Some(payload)) => {
                    check_payload(&payload);
                }
                Ok(None) => break,
                // A session ends at the first framing error; nothing after it is read.
                Err(_) => return,
            }
        }
        assert!(decoder.buffered_len() < FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD_BYTES);
    }
}

/// Decoding never panics, and a message that decodes keeps the bounds, re-encodes to a payload no
/// longer than the one it came from (identical when as long: postcard's canonical form is the
/// shortest), and decodes back to itself. A batch of documents is unpacked too, as a receiver does
/// before applying it.
fn check_payload(payload: &[u8]) -> Option<Message> {
    let message = Message::decode_payload(payload).ok()?;
    assert_eq!(message.check_bounds(), Ok(()), "{message:?}");
    let frame = message
        .encode_frame()
        .unwrap_or_else(|error| panic!("{message:?} decoded but does not re-encode: {error}"));
    let reencoded = &frame[FRAME_HEADER_BYTES..];
    assert!(reencoded.len() <= payload.len());
    if reencoded.len() == payload.len() {
        assert_eq!(reencoded, payload);
    }
    assert_eq!(Message::decode_payload(reencoded).as_ref(), Ok(&message));
    if let Message::Documents(documents) = &message {
        check_batch(documents);
    }
    Some(message)
}

/// Unpacking a batch never panics, and a batch that unpacks packs again into one that unpacks to the
/// same documents. The compressed bytes themselves are not compared: they are not canonical, and any
/// valid DEFLATE stream of the list is as good as another. Packing cannot fail here, because the
/// canonical encoding of what unpacked is never longer than the inflated bytes it came from, which
/// unpacking kept within `MAX_DOCUMENTS_BATCH_BYTES`.
fn check_batch(documents: &Documents) -> Option<Vec<SavedDocument>> {
    let unpacked = documents.unpack().ok()?;
    let repacked = Documents::pack(documents.batch, &unpacked)
        .unwrap_or_else(|error| panic!("a batch unpacked but does not pack again: {error}"));
    assert_eq!(repacked.unpack().as_ref(), Ok(&unpacked));
    Some(unpacked)
}

/// Feeds `stream` to a fresh decoder in pieces of the given sizes (cycled) and returns the payloads.
fn split_stream(stream: &[u8], piece_lens: &[usize]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut decoder = FrameDecoder::new();
    let mut payloads = Vec::new();
    let mut rest = stream;
    for piece_len in piece_lens.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at((*piece_len).clamp(1, rest.len()));
        rest = after;
        decoder.extend(piece);
        while let Some(payload) = decoder.next_payload()? {
            payloads.push(payload);
        }
    }
    assert!(decoder.buffered_len() <= stream.len());
    Ok(payloads)
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame
}

// ---------------------------------------------------------------------------------------------------
// Generators of well-formed messages: every identifier valid, every bound kept.

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::National),
        "[0-9]{3}".prop_map(|code| parse(&format!("municipality:{code}"))),
        "[0-9]{5}".prop_map(|code| parse(&format!("school:{code}"))),
    ]
}

fn parse<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse()
        .unwrap_or_else(|error| panic!("{text:?}: {error:?}"))
}

prop_compose! {
    fn doc_id()(scope in scope(), name in "[a-z0-9][a-z0-9._-]{0,95}") -> DocId {
        DocId::new(scope, &name).expect("generated names follow the grammar")
    }
}

fn node_id() -> impl Strategy<Value = NodeId> {
    "[a-z0-9][a-z0-9-]{1,62}[a-z0-9]".prop_map(|text| parse(&text))
}

fn blob_id() -> impl Strategy<Value = BlobId> {
    any::<[u8; 32]>().prop_map(BlobId)
}

fn heads() -> impl Strategy<Value = Vec<ChangeHash>> {
    let hash = any::<[u8; 32]>().prop_map(ChangeHash);
    prop_oneof![
        8 => vec(hash.clone(), 0..4),
        1 => vec(hash, MAX_HEADS..=MAX_HEADS),
    ]
}

/// Free text within `MAX_TEXT_BYTES`: any characters (up to 4 bytes each), or ASCII at the limit.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ".{0,128}",
        1 => "[ -~]{512}",
    ]
}

fn digest() -> impl Strategy<Value = ScopeDigest> {
    any::<[u8; 16]>().prop_map(ScopeDigest)
}

prop_compose! {
    fn log_head()(scope in scope(), seq in any::<u64>()) -> LogHead {
        LogHead { scope, seq }
    }
}

prop_compose! {
    fn hello()(
        node_id in node_id(),
        software_version in text(),
        store_epoch in any::<u64>(),
        // A session shares a handful of scopes; the bound is exercised now and then.
        log_heads in prop_oneof![
            8 => vec(log_head(), 0..4),
            1 => vec(log_head(), MAX_SCOPES_PER_HEARTBEAT..=MAX_SCOPES_PER_HEARTBEAT),
        ],
    ) -> Hello {
        Hello { protocol_version: PROTOCOL_VERSION, node_id, software_version, store_epoch, log_heads }
    }
}

prop_compose! {
    fn sync_request()(
        request_id in any::<u64>(),
        scope in scope(),
        digest in digest(),
        cursor in proptest::option::of((any::<u64>(), any::<u64>())),
    ) -> SyncRequest {
        let cursor = cursor.map(|(epoch, seq)| Cursor { epoch, seq });
        SyncRequest { request_id, scope, digest, cursor }
    }
}

fn offer_entry() -> impl Strategy<Value = OfferEntry> {
    prop_oneof![
        (doc_id(), heads()).prop_map(|(doc, heads)| OfferEntry::Document { doc, heads }),
        (blob_id(), 0..=MAX_BLOB_BYTES).prop_map(|(blob, len)| OfferEntry::Blob { blob, len }),
        (doc_id(), any::<[u8; 8]>()).prop_map(|(doc, heads_fingerprint)| OfferEntry::Pushed {
            doc,
            heads_fingerprint
        }),
        (any::<u64>(), any::<u32>())
            .prop_map(|(batch, count)| OfferEntry::Documents { batch, count }),
    ]
}

prop_compose! {
    fn offer()(
        request_id in any::<u64>(),
        scope in scope(),
        epoch in any::<u64>(),
        seqs in (any::<u64>(), any::<u64>()),
        complete in any::<bool>(),
        digest in digest(),
        entries in vec(offer_entry(), 0..6),
    ) -> Offer {
        let (after_seq, up_to_seq) = (seqs.0.min(seqs.1), seqs.0.max(seqs.1));
        Offer { request_id, scope, epoch, after_seq, up_to_seq, complete, digest, entries }
    }
}

prop_compose! {
    fn changes()(
        doc in doc_id(),
        changes in vec(vec(any::<u8>(), 0..64), 0..4),
        sender_heads in heads(),
    ) -> Changes {
        Changes { doc, changes, sender_heads }
    }
}

prop_compose! {
    fn doc_heads()(doc in doc_id(), heads in heads()) -> DocHeads {
        DocHeads { doc, heads }
    }
}

prop_compose! {
    fn blob_request()(scope in scope(), blob in blob_id(), offset in 0..=MAX_BLOB_BYTES)
        -> BlobRequest {
        BlobRequest { scope, blob, offset }
    }
}

prop_compose! {
    fn blob_chunk()(
        scope in scope(),
        blob in blob_id(),
        bytes in vec(any::<u8>(), 0..128),
        total_len in 0..=MAX_BLOB_BYTES,
        offset in any::<u64>(),
    ) -> BlobChunk {
        // Keep `offset + bytes.len() <= total_len <= MAX_BLOB_BYTES`.
        let len = bytes.len() as u64;
        let total_len = total_len.max(len);
        let offset = offset % (total_len - len + 1);
        BlobChunk { scope, blob, offset, total_len, bytes }
    }
}

prop_compose! {
    fn scope_state()(scope in scope(), digest in digest(), log_head in any::<u64>(), epoch in any::<u64>())
        -> ScopeState {
        ScopeState { scope, digest, log_head, epoch }
    }
}

prop_compose! {
    fn node_health()(fields in any::<(u64, u64, u64, u64)>()) -> NodeHealth {
        let (disk_free_bytes, uptime_secs, store_bytes, doc_count) = fields;
        NodeHealth { disk_free_bytes, uptime_secs, store_bytes, doc_count }
    }
}

prop_compose! {
    fn heartbeat()(
        sent_at_millis in any::<u64>(),
        waiting in any::<(u64, u64, u64)>(),
        last_complete_sync_millis in proptest::option::of(any::<u64>()),
        scopes in prop_oneof![
            8 => vec(scope_state(), 0..4),
            1 => vec(scope_state(), MAX_SCOPES_PER_HEARTBEAT..=MAX_SCOPES_PER_HEARTBEAT),
        ],
        health in proptest::option::of(node_health()),
    ) -> Heartbeat {
        let (docs_waiting, blobs_waiting, bytes_waiting) = waiting;
        let status = SyncStatus { docs_waiting, blobs_waiting, bytes_waiting, last_complete_sync_millis };
        Heartbeat { sent_at_millis, status, scopes, health }
    }
}

const ALL_ERROR_CODES: [ErrorCode; 10] = [
    ErrorCode::UnsupportedVersion,
    ErrorCode::MalformedFrame,
    ErrorCode::ScopeDenied,
    ErrorCode::BadChange,
    ErrorCode::TooLarge,
    ErrorCode::UnexpectedMessage,
    ErrorCode::StoreFailure,
    ErrorCode::Timeout,
    ErrorCode::BlobMismatch,
    ErrorCode::Closing,
];

prop_compose! {
    fn error_message()(
        code in select(&ALL_ERROR_CODES[..]),
        fatal in any::<bool>(),
        message in text(),
        doc in proptest::option::of(doc_id()),
    ) -> ErrorMessage {
        ErrorMessage { code, fatal, message, doc }
    }
}

prop_compose! {
    fn doc_ack()(doc in doc_id(), heads_fingerprint in any::<[u8; 8]>()) -> DocAck {
        DocAck { doc, heads_fingerprint }
    }
}

prop_compose! {
    fn saved_document()(doc in doc_id(), saved in vec(any::<u8>(), 0..64)) -> SavedDocument {
        SavedDocument { doc, saved }
    }
}

fn saved_documents() -> impl Strategy<Value = Vec<SavedDocument>> {
    vec(saved_document(), 0..4)
}

/// Batches as a sender packs them, and batches of arbitrary bytes: the frame carries `compressed`
/// opaquely, so both are well-formed messages, and unpacking must refuse the second kind cleanly.
fn documents() -> impl Strategy<Value = Documents> {
    prop_oneof![
        (any::<u64>(), saved_documents()).prop_map(|(batch, list)| {
            Documents::pack(batch, &list).expect("a small batch packs")
        }),
        (any::<u64>(), vec(any::<u8>(), 0..256))
            .prop_map(|(batch, compressed)| Documents { batch, compressed }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        hello().prop_map(Message::Hello),
        sync_request().prop_map(Message::SyncRequest),
        offer().prop_map(Message::Offer),
        changes().prop_map(Message::Changes),
        doc_heads().prop_map(Message::Heads),
        blob_request().prop_map(Message::BlobRequest),
        blob_chunk().prop_map(Message::BlobChunk),
        blob_id().prop_map(|blob| Message::BlobAck(BlobAck { blob })),
        heartbeat().prop_map(Message::Heartbeat),
        error_message().prop_map(Message::Error),
        doc_ack().prop_map(Message::Ack),
        documents().prop_map(Message::Documents),
        any::<u64>().prop_map(|batch| Message::DocumentsAck(DocumentsAck { batch })),
    ]
}

// ---------------------------------------------------------------------------------------------------
// Damage.

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, byte: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
    Truncate { len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..8u8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        // Bytes that matter to postcard: 0, 1, 2, varint continuation, and anything.
        (
            any::<usize>(),
            prop_oneof![
                Just(0u8),
                Just(1),
                Just(2),
                Just(0x80),
                Just(0xff),
                any::<u8>()
            ]
        )
            .prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for mutation in mutations {
        let len = bytes.len();
        match *mutation {
            Mutation::Flip { at, bit } if len > 0 => bytes[at % len] ^= 1 << bit,
            Mutation::Set { at, byte } if len > 0 => bytes[at % len] = byte,
            Mutation::Insert { at, byte } => bytes.insert(at % (len + 1), byte),
            Mutation::Delete { at } if len > 0 => {
                bytes.remove(at % len);
            }
            Mutation::Truncate { len: keep } => bytes.truncate(keep % (len + 1)),
            _ => {}
        }
    }
}

/// The frame of every accepted vector in `PROTOCOL.md`, by the name in its marker.
static SPEC_VECTORS: LazyLock<BTreeMap<String, Vec<u8>>> = LazyLock::new(|| {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/PROTOCOL.md");
    let text = std::fs::read_to_string(path).expect("PROTOCOL.md is readable");
    let mut vectors = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .trim()
            .strip_prefix("<!-- vector:")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        let digits: String = lines
            .by_ref()
            .skip_while(|line| line.trim() != "```hex")
            .skip(1)
            .take_while(|line| line.trim() != "```")
            .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
            .collect();
        vectors.insert(
            name.trim().to_owned(),
            hex::decode(digits).expect("vectors are hex"),
        );
    }
    assert!(
        vectors.len() >= 13,
        "PROTOCOL.md should hold a vector per message"
    );
    vectors
});

/// The same frames, as seeds for mutation.
static SPEC_FRAMES: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| SPEC_VECTORS.values().cloned().collect());

// ---------------------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(data in vec(any::<u8>(), 0..1024)) {
        check_input(&data);
    }

    #[test]
    fn arbitrary_payloads_in_valid_frames_split_anywhere_come_out_whole(
        payloads in vec(vec(any::<u8>(), 0..256), 0..8),
        piece_lens in vec(1..64usize, 1..8),
    ) {
        let stream: Vec<u8> = payloads.iter().flat_map(|payload| frame(payload)).collect();
        let split = split_stream(&stream, &piece_lens).expect("every frame is within bounds");
        prop_assert_eq!(&split, &payloads);
        for payload in &split {
            check_payload(payload);
        }
    }

    #[test]
    fn damaged_spec_vectors_never_panic_and_what_decodes_is_sound(
        seed in select(SPEC_FRAMES.clone()),
        mutations in vec(mutation(), 1..6),
    ) {
        // Damage to the whole frame, length prefix included, as a stream would deliver it.
        let mut damaged = seed.clone();
        mutate(&mut damaged, &mutations);
        if let Ok(payloads) = split_stream(&damaged, &[damaged.len().max(1)]) {
            for payload in &payloads {
                check_payload(payload);
            }
        }
        // Damage to the payload alone, so that it reaches the message decoder.
        let mut payload = seed[FRAME_HEADER_BYTES..].to_vec();
        mutate(&mut payload, &mutations);
        check_payload(&payload);
    }

    #[test]
    fn damaged_generated_messages_never_panic_and_what_decodes_is_sound(
        message in message(),
        mutations in vec(mutation(), 1..6),
    ) {
        let frame = message.encode_frame().expect("generated messages keep the bounds");
        let mut payload = frame[FRAME_HEADER_BYTES..].to_vec();
        mutate(&mut payload, &mutations);
        check_payload(&payload);
        let mut damaged = frame;
        mutate(&mut damaged, &mutations);
        check_input(&damaged);
    }

    #[test]
    fn every_well_formed_message_round_trips(
        message in message(),
        piece_lens in vec(1..32usize, 1..4),
    ) {
        let frame = message.encode_frame().expect("generated messages keep the bounds");
        let payload = &frame[FRAME_HEADER_BYTES..];
        prop_assert_eq!(frame[..FRAME_HEADER_BYTES].to_vec(), (payload.len() as u32).to_be_bytes().to_vec());
        prop_assert_eq!(message.encoded_len(), payload.len());
        prop_assert_eq!(Message::decode_payload(payload), Ok(message.clone()));

        // Twice in a row through the stream decoder, split at arbitrary points.
        let stream = [frame.clone(), frame].concat();
        let payloads = split_stream(&stream, &piece_lens).expect("valid frames");
        prop_assert_eq!(payloads.len(), 2);
        for payload in &payloads {
            prop_assert_eq!(check_payload(payload), Some(message.clone()));
        }
    }

    #[test]
    fn every_packed_batch_unpacks_to_its_documents(
        list in saved_documents(),
        batch in any::<u64>(),
    ) {
        let packed = Documents::pack(batch, &list).expect("a small batch packs");
        prop_assert_eq!(packed.batch, batch);
        prop_assert_eq!(check_batch(&packed), Some(list));
    }

    #[test]
    fn damaged_batches_never_panic_the_inflater_and_what_unpacks_is_sound(
        list in saved_documents(),
        mutations in vec(mutation(), 1..6),
    ) {
        // Damage inside `compressed`, where the frame decoder does not look: only unpacking can
        // notice it, and it must refuse or give a sound list, never panic.
        let mut damaged = Documents::pack(1, &list).expect("a small batch packs");
        mutate(&mut damaged.compressed, &mutations);
        check_batch(&damaged);
        check_payload(&frame_payload(&Message::Documents(damaged)));
    }

    #[test]
    fn a_hello_of_any_other_version_is_refused_as_such_whatever_follows(
        version in any::<u32>().prop_filter("another version", |v| *v != PROTOCOL_VERSION),
        rest in vec(any::<u8>(), 0..64),
    ) {
        let mut payload = vec![0];
        let mut value = version;
        while value >= 0x80 {
            payload.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        payload.push(value as u8);
        payload.extend(rest);
        prop_assert_eq!(
            Message::decode_payload(&payload),
            Err(DecodeError::UnsupportedVersion { theirs: version })
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// Bounds, at the limit and one past it.

/// Encodes without `check_bounds`, as a hostile or buggy peer could.
fn payload_unchecked(message: &Message) -> Vec<u8> {
    postcard::to_allocvec(message).expect("serializes")
}

/// The payload of a message that keeps the bounds.
fn frame_payload(message: &Message) -> Vec<u8> {
    let frame = message.encode_frame().expect("keeps the bounds");
    frame[FRAME_HEADER_BYTES..].to_vec()
}

#[track_caller]
fn assert_accepted(message: Message) {
    let frame = message.encode_frame().expect("at the limit encodes");
    assert!(frame.len() - FRAME_HEADER_BYTES <= MAX_FRAME_PAYLOAD_BYTES);
    assert_eq!(
        Message::decode_payload(&frame[FRAME_HEADER_BYTES..]),
        Ok(message)
    );
}

#[track_caller]
fn assert_out_of_bounds(message: Message) {
    assert!(message.encode_frame().is_err(), "encoding must refuse it");
    assert!(matches!(
        Message::decode_payload(&payload_unchecked(&message)),
        Err(DecodeError::OutOfBounds(_))
    ));
}

fn doc() -> DocId {
    parse("school:30076/timetable")
}

fn hashes(n: usize) -> Vec<ChangeHash> {
    (0..n).map(|i| ChangeHash([i as u8; 32])).collect()
}

fn blob_entries(n: usize) -> Vec<OfferEntry> {
    (0..n)
        .map(|i| OfferEntry::Blob {
            blob: BlobId::of_content(&i.to_le_bytes()),
            len: 1,
        })
        .collect()
}

fn offer_with(entries: Vec<OfferEntry>) -> Message {
    Message::Offer(Offer {
        request_id: 1,
        scope: Scope::National,
        epoch: 1,
        after_seq: 0,
        up_to_seq: 1,
        complete: true,
        digest: ScopeDigest::default(),
        entries,
    })
}

fn hello_with(software_version: String) -> Message {
    Message::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        node_id: parse("node-30076-a"),
        software_version,
        store_epoch: 1,
        log_heads: Vec::new(),
    })
}

fn hello_with_log_heads(n: usize) -> Message {
    let Message::Hello(mut hello) = hello_with("0.1.0".into()) else {
        unreachable!()
    };
    // Distinct scopes, as a sender lists them; the wire bound counts entries either way.
    hello.log_heads = (0..n)
        .map(|i| LogHead {
            scope: parse(&format!("school:{:05}", 10_000 + i)),
            seq: i as u64,
        })
        .collect();
    Message::Hello(hello)
}

fn error_with(message: String) -> Message {
    Message::Error(ErrorMessage {
        code: ErrorCode::Closing,
        fatal: true,
        message,
        doc: None,
    })
}

fn chunk(offset: u64, len: usize, total_len: u64) -> Message {
    Message::BlobChunk(BlobChunk {
        scope: Scope::National,
        blob: BlobId([7; 32]),
        offset,
        total_len,
        bytes: vec![0xab; len],
    })
}

fn scope_states(n: usize) -> Message {
    let state = ScopeState {
        scope: Scope::National,
        digest: ScopeDigest::default(),
        log_head: 0,
        epoch: 0,
    };
    Message::Heartbeat(Heartbeat {
        sent_at_millis: 0,
        status: SyncStatus::default(),
        scopes: vec![state; n],
        health: None,
    })
}

#[test]
fn every_bound_is_accepted_at_its_limit_and_refused_one_past_it() {
    let heads_at = |n| {
        Message::Heads(DocHeads {
            doc: doc(),
            heads: hashes(n),
        })
    };
    assert_accepted(heads_at(MAX_HEADS));
    assert_out_of_bounds(heads_at(MAX_HEADS + 1));

    let changes_at = |n| {
        Message::Changes(Changes {
            doc: doc(),
            changes: vec![vec![1, 2, 3]],
            sender_heads: hashes(n),
        })
    };
    assert_accepted(changes_at(MAX_HEADS));
    assert_out_of_bounds(changes_at(MAX_HEADS + 1));

    let offer_heads_at = |n| {
        offer_with(vec![OfferEntry::Document {
            doc: doc(),
            heads: hashes(n),
        }])
    };
    assert_accepted(offer_heads_at(MAX_HEADS));
    assert_out_of_bounds(offer_heads_at(MAX_HEADS + 1));

    assert_accepted(offer_with(blob_entries(MAX_OFFER_ENTRIES)));
    assert_out_of_bounds(offer_with(blob_entries(MAX_OFFER_ENTRIES + 1)));

    let blob_len_at = |len| {
        offer_with(vec![OfferEntry::Blob {
            blob: BlobId([1; 32]),
            len,
        }])
    };
    assert_accepted(blob_len_at(MAX_BLOB_BYTES));
    assert_out_of_bounds(blob_len_at(MAX_BLOB_BYTES + 1));

    let Message::Offer(mut backwards) = offer_with(vec![]) else {
        unreachable!()
    };
    (backwards.after_seq, backwards.up_to_seq) = (5, 5);
    assert_accepted(Message::Offer(backwards.clone()));
    backwards.up_to_seq = 4;
    assert_out_of_bounds(Message::Offer(backwards));

    assert_accepted(scope_states(MAX_SCOPES_PER_HEARTBEAT));
    assert_out_of_bounds(scope_states(MAX_SCOPES_PER_HEARTBEAT + 1));
    assert_accepted(hello_with_log_heads(MAX_SCOPES_PER_HEARTBEAT));
    assert_out_of_bounds(hello_with_log_heads(MAX_SCOPES_PER_HEARTBEAT + 1));

    // Text bounds count bytes, not characters: 128 four-byte characters are exactly at the limit.
    assert_accepted(hello_with("🦀".repeat(MAX_TEXT_BYTES / 4)));
    assert_out_of_bounds(hello_with("x".repeat(MAX_TEXT_BYTES + 1)));
    assert_accepted(error_with("x".repeat(MAX_TEXT_BYTES)));
    assert_out_of_bounds(error_with(format!("{}é", "x".repeat(MAX_TEXT_BYTES - 1))));

    let request_at = |offset| {
        Message::BlobRequest(BlobRequest {
            scope: Scope::National,
            blob: BlobId([1; 32]),
            offset,
        })
    };
    assert_accepted(request_at(MAX_BLOB_BYTES));
    assert_out_of_bounds(request_at(MAX_BLOB_BYTES + 1));

    let full = BLOB_CHUNK_BYTES as u64;
    assert_accepted(chunk(
        MAX_BLOB_BYTES - full,
        BLOB_CHUNK_BYTES,
        MAX_BLOB_BYTES,
    ));
    assert_out_of_bounds(chunk(0, BLOB_CHUNK_BYTES + 1, MAX_BLOB_BYTES));
    assert_out_of_bounds(chunk(0, 0, MAX_BLOB_BYTES + 1));
    assert_out_of_bounds(chunk(2, 2, 3));
    assert_out_of_bounds(chunk(u64::MAX, 1, MAX_BLOB_BYTES));
}

#[test]
fn a_payload_above_the_frame_maximum_is_refused_before_parsing() {
    let payload = vec![0u8; MAX_FRAME_PAYLOAD_BYTES + 1];
    assert_eq!(
        Message::decode_payload(&payload),
        Err(DecodeError::FrameTooLarge {
            len: MAX_FRAME_PAYLOAD_BYTES + 1
        })
    );
    // A frame exactly at the maximum passes the stream decoder (and is then judged as a message).
    let mut decoder = FrameDecoder::new();
    decoder.extend(&frame(&payload[1..]));
    let whole = decoder
        .next_payload()
        .expect("at the limit")
        .expect("complete");
    assert_eq!(whole.len(), MAX_FRAME_PAYLOAD_BYTES);
    assert!(matches!(
        Message::decode_payload(&whole),
        Err(DecodeError::UnsupportedVersion { theirs: 0 })
    ));
}

#[test]
fn a_count_far_beyond_the_payload_fails_fast_without_allocating_it() {
    // `Changes` for a valid document, then a list count of 2^63 - 1 with nothing behind it.
    let mut payload = vec![3, 22];
    payload.extend_from_slice(b"school:30076/timetable");
    payload.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(matches!(
        Message::decode_payload(&payload),
        Err(DecodeError::Malformed(_))
    ));
    // The same for a string length, a byte-string length and a heads count.
    for tail in [
        &[0xff, 0xff, 0xff, 0xff, 0x0f][..],
        &[0x01, 0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0x00, 0xff, 0xff, 0xff, 0xff, 0x0f],
    ] {
        let mut payload = vec![3, 22];
        payload.extend_from_slice(b"school:30076/timetable");
        payload.extend_from_slice(tail);
        assert!(Message::decode_payload(&payload).is_err());
    }
    assert!(Message::decode_payload(&[0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
}

/// Replaces the `len` bytes at `at` of a payload by `bytes`.
fn spliced(payload: &[u8], at: usize, len: usize, bytes: &[u8]) -> Vec<u8> {
    [&payload[..at], bytes, &payload[at + len..]].concat()
}

#[test]
fn padded_varints_decode_to_the_same_message_and_re_encode_shorter() {
    // The Hello vector of section 11.1. Since version 2 it no longer ends with `store_epoch` (the log
    // heads follow it), so the varints are found by the layout the spec annotates: tag, version,
    // node id (1 + 12), software version (1 + 5), then `store_epoch` 300 as `ac 02`; the payload
    // ends with the log head's `seq` 1236 as `d4 09`.
    let canonical = SPEC_VECTORS["hello"][FRAME_HEADER_BYTES..].to_vec();
    let store_epoch_at = 1 + 1 + (1 + 12) + (1 + 5);
    assert_eq!(canonical[store_epoch_at..store_epoch_at + 2], [0xac, 0x02]);
    let seq_at = canonical.len() - 2;
    assert_eq!(canonical[seq_at..], [0xd4, 0x09]);
    let message = check_payload(&canonical).expect("the vector decodes");

    // Padding in the middle of the message and at its very end decodes to the same message.
    let padded_epoch = spliced(&canonical, store_epoch_at, 2, &[0xac, 0x82, 0x00]);
    assert_eq!(check_payload(&padded_epoch).as_ref(), Some(&message));
    let padded_seq = spliced(&canonical, seq_at, 2, &[0xd4, 0x89, 0x80, 0x00]);
    assert_eq!(check_payload(&padded_seq).as_ref(), Some(&message));

    // A varint longer than its type allows (11 bytes for a `u64`) is refused.
    let too_long = spliced(
        &canonical,
        store_epoch_at,
        2,
        &[
            0xac, 0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ],
    );
    assert!(matches!(
        Message::decode_payload(&too_long),
        Err(DecodeError::Malformed(_))
    ));
}

/// The postcard encoding of a one-document list whose encoding is exactly `len` bytes, the saved
/// document being zeros: the most compressible content, as a hostile sender would choose.
fn list_encoding_of_len(len: usize) -> Vec<u8> {
    let encode = |saved_len: usize| {
        postcard::to_allocvec(&vec![SavedDocument {
            doc: doc(),
            saved: vec![0; saved_len],
        }])
        .expect("serializes")
    };
    // The list adds a count, the document id and a length to the saved bytes; the length's varint
    // has the same size for every `saved_len` used here, so one correction lands exactly.
    let overhead = encode(len).len() - len;
    let plain = encode(len - overhead);
    assert_eq!(plain.len(), len);
    plain
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writes to memory");
    encoder.finish().expect("writes to memory")
}

/// A batch travels in a frame like any message, and is unpacked after the frame decoded.
fn unpack_received(documents: Documents) -> Result<Vec<SavedDocument>, DecodeError> {
    let payload = frame_payload(&Message::Documents(documents));
    match Message::decode_payload(&payload) {
        Ok(Message::Documents(received)) => received.unpack(),
        other => panic!("a Documents frame decodes as one: {other:?}"),
    }
}

#[test]
fn a_documents_batch_is_accepted_at_its_inflated_bound_and_refused_one_past_it() {
    // At the bound: a sender may pack it, and a receiver unpacks it.
    let at_limit = list_encoding_of_len(MAX_DOCUMENTS_BATCH_BYTES);
    let (documents, rest) =
        postcard::take_from_bytes::<Vec<SavedDocument>>(&at_limit).expect("decodes");
    assert!(rest.is_empty());
    let packed = Documents::pack(1, &documents).expect("a batch at the bound packs");
    assert_eq!(unpack_received(packed), Ok(documents.clone()));
    // The same bytes from another compressor are accepted just the same.
    let compressed = deflate(&at_limit);
    assert_eq!(
        unpack_received(Documents {
            batch: 1,
            compressed
        }),
        Ok(documents)
    );

    // One byte past it: a sender refuses to pack it, and a receiver refuses it from a sender that
    // compressed it anyway.
    let one_past = list_encoding_of_len(MAX_DOCUMENTS_BATCH_BYTES + 1);
    let (documents, _) =
        postcard::take_from_bytes::<Vec<SavedDocument>>(&one_past).expect("decodes");
    assert!(Documents::pack(1, &documents).is_err());
    let compressed = deflate(&one_past);
    assert!(matches!(
        unpack_received(Documents {
            batch: 1,
            compressed
        }),
        Err(DecodeError::OutOfBounds(_))
    ));
}

#[test]
fn a_small_batch_that_inflates_far_past_its_bound_is_refused_without_inflating_the_rest() {
    // A stream that inflates to the header of a one-document list and then `zeros` zero bytes, made
    // in pieces so that the test itself never holds the inflated batch, and left open (a sync flush
    // ends it on a byte boundary, without a final block). What follows is appended by the caller.
    let open_stream = |zeros: usize| {
        let mut header = postcard::to_allocvec(&vec![SavedDocument {
            doc: doc(),
            saved: Vec::new(),
        }])
        .expect("serializes");
        // Replace the empty `saved` length (`00`, the last byte) by `zeros` as a varint.
        header.pop();
        let mut len = zeros;
        while len >= 0x80 {
            header.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        header.push(len as u8);
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&header).expect("writes to memory");
        let piece = vec![0u8; 1 << 16];
        for _ in 0..zeros / piece.len() {
            encoder.write_all(&piece).expect("writes to memory");
        }
        encoder
            .write_all(&piece[..zeros % piece.len()])
            .expect("writes to memory");
        encoder.flush().expect("writes to memory");
        encoder.get_ref().clone()
    };
    // A final block of the reserved type 3 (BFINAL = 1, BTYPE = 11): an inflater that reaches it
    // fails. It marks how far inflating went.
    let corrupt_final_block = 0x07;

    // Within the bound, the inflater reaches the corrupt block and the batch is malformed.
    let mut small = open_stream(1000);
    small.push(corrupt_final_block);
    assert!(matches!(
        unpack_received(Documents {
            batch: 1,
            compressed: small
        }),
        Err(DecodeError::Malformed(_))
    ));

    // 64 MiB of zeros compress to about 64 KiB, well inside one frame: a bomb a peer can send. It is
    // refused as out of bounds, not malformed: the inflater stopped producing output at the bound
    // and never reached the corrupt block 63 MiB further on, so the receiver held at most the bound
    // of inflated bytes, whatever the batch would inflate to. (The test cannot count allocations:
    // that needs a global allocator, which is unsafe code, and the workspace forbids it. The output
    // buffer's capacity may still grow past the bound by `Vec`'s doubling, a constant factor.)
    let mut bomb = open_stream(64 << 20);
    bomb.push(corrupt_final_block);
    assert!(
        bomb.len() < MAX_FRAME_PAYLOAD_BYTES / 8,
        "{} bytes",
        bomb.len()
    );
    assert!(matches!(
        unpack_received(Documents {
            batch: 1,
            compressed: bomb
        }),
        Err(DecodeError::OutOfBounds(_))
    ));
}

#[test]
fn every_kept_fuzz_regression_replays_cleanly() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let Ok(entries) = std::fs::read_dir(&directory) else {
        return;
    };
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("readable directory").path();
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if hidden || !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).expect("readable regression input");
        let outcome = std::panic::catch_unwind(|| check_input(&data));
        assert!(outcome.is_ok(), "regression input {} fails", path.display());
        replayed += 1;
    }
    eprintln!("replayed {replayed} fuzz regression inputs");
}
