//! A scope receives a file only by uploading all of its bytes (security issue 18, item 7). The
//! relay's answers, through real sessions on both stores (in memory and sled), to a node that knows
//! a file's id but not its bytes, to garbage sent under the id of a file another school is
//! uploading, and to the same file uploaded by two schools; then the stores' own rules, compared
//! write for write, and sled's handling of blob records written before uploads were per scope.

#![allow(clippy::unwrap_used)]

use sync_protocol::ids::{BlobId, NodeId, Scope};
use sync_protocol::memory::MemoryStore;
use sync_protocol::session::{Event, Session, SessionConfig};
use sync_protocol::store::{BlobWriteOutcome, ReplicaStore, StoreError};
use sync_protocol::wire::{
    BLOB_CHUNK_BYTES, BlobChunk, BlobRequest, ErrorCode, FRAME_HEADER_BYTES, Hello, Message,
    PROTOCOL_VERSION,
};
use sync_store::SledStore;
use sync_store::layout::{self, BlobRecord, Pieces, UploadId};

fn school_a() -> Scope {
    "school:30076".parse().unwrap()
}

fn school_b() -> Scope {
    "school:30077".parse().unwrap()
}

fn municipality() -> Scope {
    "municipality:092".parse().unwrap()
}

fn relay_id() -> NodeId {
    "relay".parse().unwrap()
}

fn node_a() -> NodeId {
    "node-30076-a".parse().unwrap()
}

fn node_b() -> NodeId {
    "node-30077-b".parse().unwrap()
}

/// A file of `len` bytes whose content depends on `seed`.
fn file(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// Runs `test` with a relay store of each kind; `kind` names the one in failure messages.
fn with_each_relay_store(test: impl Fn(&str, &mut dyn ReplicaStore)) {
    test("memory", &mut MemoryStore::new(1));
    let directory = tempfile::tempdir().unwrap();
    test("sled", &mut SledStore::open(directory.path()).unwrap());
}

/// The relay's session with `node`, which sends and receives `scope`, as the relay configures it
/// from the node's certificate.
fn relay_session(store: &dyn ReplicaStore, node: NodeId, scope: &Scope) -> Session {
    let config = SessionConfig::new(relay_id(), node, vec![scope.clone()], vec![scope.clone()]);
    Session::new(config, store, 0)
}

fn node_session(store: &dyn ReplicaStore, node: NodeId, scope: &Scope) -> Session {
    let config = SessionConfig::new(node, relay_id(), vec![scope.clone()], vec![scope.clone()]);
    Session::new(config, store, 0)
}

fn decode(frame: &[u8]) -> Message {
    Message::decode_payload(&frame[FRAME_HEADER_BYTES..]).unwrap()
}

/// A frame from a hostile peer, written by hand.
fn deliver(session: &mut Session, store: &mut dyn ReplicaStore, message: Message) {
    let frame = message.encode_frame().unwrap();
    session.handle_payload(store, &frame[FRAME_HEADER_BYTES..], 0);
}

/// Flushes as a driver would, then takes every frame the session has to send.
fn answers(session: &mut Session, store: &mut dyn ReplicaStore) -> Vec<Message> {
    store.flush().unwrap();
    session.handle_durable(store);
    std::iter::from_fn(|| session.poll_transmit(store))
        .map(|frame| decode(&frame))
        .collect()
}

fn hello(node: &NodeId) -> Message {
    Message::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        node_id: node.clone(),
        software_version: "hostile".into(),
        store_epoch: 99,
        log_heads: Vec::new(),
    })
}

fn chunk(scope: &Scope, blob: BlobId, offset: usize, total_len: usize, bytes: &[u8]) -> Message {
    Message::BlobChunk(BlobChunk {
        scope: scope.clone(),
        blob,
        offset: offset as u64,
        total_len: total_len as u64,
        bytes: bytes.to_vec(),
    })
}

/// Every piece of `content` from `from`, as frames of at most `BLOB_CHUNK_BYTES`.
fn chunks_from(scope: &Scope, blob: BlobId, content: &[u8], from: usize) -> Vec<Message> {
    (from..content.len())
        .step_by(BLOB_CHUNK_BYTES)
        .map(|start| {
            let end = (start + BLOB_CHUNK_BYTES).min(content.len());
            chunk(scope, blob, start, content.len(), &content[start..end])
        })
        .collect()
}

/// What each message is, without the bytes of files, for failure messages.
fn summary(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|message| match message {
            Message::BlobChunk(chunk) => format!(
                "BlobChunk({} at {} of {}, {} bytes)",
                chunk.scope,
                chunk.offset,
                chunk.total_len,
                chunk.bytes.len()
            ),
            Message::Error(error) => format!("Error({:?}, fatal {})", error.code, error.fatal),
            other => format!("{other:?}").chars().take(120).collect(),
        })
        .collect()
}

fn errors(messages: &[Message]) -> Vec<(ErrorCode, bool)> {
    messages
        .iter()
        .filter_map(|message| match message {
            Message::Error(error) => Some((error.code, error.fatal)),
            _ => None,
        })
        .collect()
}

fn blob_chunks(messages: &[Message]) -> usize {
    messages
        .iter()
        .filter(|message| matches!(message, Message::BlobChunk(_)))
        .count()
}

fn count(messages: &[Message], wanted: fn(&Message) -> bool) -> usize {
    messages.iter().filter(|message| wanted(message)).count()
}

/// A node and the relay's session with it.
struct Link<'relay> {
    node: Session,
    node_store: &'relay mut dyn ReplicaStore,
    relay: Session,
}

impl Link<'_> {
    /// Delivers one round of frames both ways and flushes both stores, as the drivers do. Returns
    /// what went to the relay and what came back, or `None` when neither side had anything to send.
    fn round(
        &mut self,
        relay_store: &mut dyn ReplicaStore,
        now: u64,
    ) -> Option<(Vec<Message>, Vec<Message>)> {
        let to_relay: Vec<Vec<u8>> =
            std::iter::from_fn(|| self.node.poll_transmit(self.node_store)).collect();
        let to_node: Vec<Vec<u8>> =
            std::iter::from_fn(|| self.relay.poll_transmit(relay_store)).collect();
        if to_relay.is_empty() && to_node.is_empty() {
            return None;
        }
        for frame in &to_relay {
            self.relay
                .handle_payload(relay_store, &frame[FRAME_HEADER_BYTES..], now);
        }
        for frame in &to_node {
            self.node
                .handle_payload(self.node_store, &frame[FRAME_HEADER_BYTES..], now);
        }
        self.node_store.flush().unwrap();
        self.node.handle_durable(self.node_store);
        relay_store.flush().unwrap();
        self.relay.handle_durable(relay_store);
        Some((
            to_relay.iter().map(|frame| decode(frame)).collect(),
            to_node.iter().map(|frame| decode(frame)).collect(),
        ))
    }

    /// Rounds until both sides are quiet; everything sent each way.
    fn run_until_idle(
        &mut self,
        relay_store: &mut dyn ReplicaStore,
        now: u64,
    ) -> (Vec<Message>, Vec<Message>) {
        let (mut to_relay, mut to_node) = (Vec::new(), Vec::new());
        for _ in 0..10_000 {
            match self.round(relay_store, now) {
                Some((sent, received)) => {
                    to_relay.extend(sent);
                    to_node.extend(received);
                }
                None => {
                    assert!(!self.node.is_closed() && !self.relay.is_closed());
                    return (to_relay, to_node);
                }
            }
        }
        panic!("the link never became quiet");
    }
}

fn connect<'relay>(
    relay_store: &dyn ReplicaStore,
    node_store: &'relay mut dyn ReplicaStore,
    node: NodeId,
    scope: &Scope,
) -> Link<'relay> {
    Link {
        node: node_session(node_store, node.clone(), scope),
        relay: relay_session(relay_store, node, scope),
        node_store,
    }
}

/// School A's node uploads `content` to the relay through a real session.
fn uploaded_by_school_a(kind: &str, relay_store: &mut dyn ReplicaStore, content: &[u8]) -> BlobId {
    let mut node_store = MemoryStore::new(10);
    let blob = node_store.put_blob(&school_a(), content).unwrap();
    connect(relay_store, &mut node_store, node_a(), &school_a()).run_until_idle(relay_store, 0);
    assert!(
        relay_store.blob_in_scope(&school_a(), &blob).unwrap(),
        "{kind}: school A's upload reached the relay"
    );
    blob
}

#[test]
fn knowing_a_files_id_lets_another_school_neither_record_nor_read_it() {
    with_each_relay_store(|kind, relay_store| {
        let secret = file(BLOB_CHUNK_BYTES + 1000, 1);
        let blob = uploaded_by_school_a(kind, relay_store, &secret);
        let total = secret.len();

        // A node of school B knows the id (from a leaked document, say) but not the bytes.
        let mut hostile = relay_session(relay_store, node_b(), &school_b());
        deliver(&mut hostile, relay_store, hello(&node_b()));
        answers(&mut hostile, relay_store);
        let attempts = [
            chunk(&school_b(), blob, 0, total, &[]),
            chunk(&school_b(), blob, 0, total, &[0xee; 1000]),
            chunk(&school_b(), blob, total, total, &[]),
            Message::BlobRequest(BlobRequest {
                scope: school_b(),
                blob,
                offset: 0,
            }),
        ];
        for attempt in attempts {
            deliver(&mut hostile, relay_store, attempt);
        }
        let sent = answers(&mut hostile, relay_store);
        assert_eq!(
            blob_chunks(&sent),
            0,
            "{kind}: no byte of school A's file goes to school B: {:?}",
            summary(&sent)
        );
        assert!(
            errors(&sent).contains(&(ErrorCode::ScopeDenied, false)),
            "{kind}: the request is refused with a clear error: {:?}",
            summary(&sent)
        );
        assert!(
            !relay_store.blob_in_scope(&school_b(), &blob).unwrap(),
            "{kind}: the file is not recorded in school B"
        );
        assert_eq!(
            relay_store.scope_summary(&school_b()).unwrap().log_head,
            0,
            "{kind}: school B's log is untouched"
        );
        assert_eq!(
            count(&sent, |message| matches!(message, Message::BlobAck(_))),
            0,
            "{kind}: nothing is acknowledged"
        );
        let events: Vec<Event> = std::iter::from_fn(|| hostile.poll_event()).collect();
        assert!(
            !events
                .iter()
                .any(|event| matches!(event, Event::BlobStored { .. })),
            "{kind}: nothing is announced to school B's other nodes: {events:?}"
        );
        // School A's file is as it was, and the session with B goes on.
        assert_eq!(
            relay_store.read_blob(&blob, 0, usize::MAX).unwrap(),
            secret,
            "{kind}"
        );
        assert!(!hostile.is_closed(), "{kind}: the session goes on");
    });
}

#[test]
fn garbage_sent_first_under_a_files_id_does_not_spoil_another_schools_upload() {
    with_each_relay_store(|kind, relay_store| {
        let content = file(2 * BLOB_CHUNK_BYTES + 5000, 2);
        let blob = BlobId::of_content(&content);
        let garbage = file(content.len(), 3);
        let mut garbage_pieces = chunks_from(&school_b(), blob, &garbage, 0).into_iter();

        // School B's node starts uploading garbage under the id before school A uploads the file.
        let mut hostile = relay_session(relay_store, node_b(), &school_b());
        deliver(&mut hostile, relay_store, hello(&node_b()));
        deliver(&mut hostile, relay_store, garbage_pieces.next().unwrap());
        answers(&mut hostile, relay_store);

        let mut node_store = MemoryStore::new(10);
        node_store.put_blob(&school_a(), &content).unwrap();
        let mut link = connect(relay_store, &mut node_store, node_a(), &school_a());
        let mut to_relay = Vec::new();
        // A's upload begins; then B sends the rest of its garbage, which completes B's upload.
        while blob_chunks(&to_relay) == 0 {
            let (sent, _) = link.round(relay_store, 0).expect("the upload starts");
            to_relay.extend(sent);
        }
        for piece in garbage_pieces.by_ref() {
            deliver(&mut hostile, relay_store, piece);
        }
        let to_hostile = answers(&mut hostile, relay_store);
        let (rest, to_node) = link.run_until_idle(relay_store, 0);
        to_relay.extend(rest);

        assert!(
            relay_store.blob_in_scope(&school_a(), &blob).unwrap(),
            "{kind}: school A's upload completes; the relay told A {:?}",
            summary(&to_node)
        );
        assert!(
            errors(&to_node).is_empty(),
            "{kind}: {:?}",
            summary(&to_node)
        );
        assert_eq!(
            relay_store.read_blob(&blob, 0, usize::MAX).unwrap(),
            content,
            "{kind}: the relay holds A's bytes"
        );
        assert!(
            count(&to_node, |message| matches!(message, Message::BlobAck(_))) >= 1,
            "{kind}: A's upload is acknowledged"
        );
        assert_eq!(
            blob_chunks(&to_relay),
            content.len().div_ceil(BLOB_CHUNK_BYTES),
            "{kind}: A sent its file once, from the start"
        );
        assert!(
            errors(&to_hostile).contains(&(ErrorCode::BlobMismatch, false)),
            "{kind}: B's garbage is refused as not matching the id: {:?}",
            summary(&to_hostile)
        );
        assert!(!hostile.is_closed(), "{kind}: B's session goes on");
        assert!(!relay_store.blob_in_scope(&school_b(), &blob).unwrap());
        assert_eq!(relay_store.blob_received_len(&school_b(), &blob), Ok(0));
    });
}

#[test]
fn the_same_file_uploaded_by_two_schools_is_recorded_in_both_and_their_digests_match() {
    with_each_relay_store(|kind, relay_store| {
        let content = file(BLOB_CHUNK_BYTES + 7000, 4);
        let blob = uploaded_by_school_a(kind, relay_store, &content);

        // A teacher of school B uploads the same file (a shared worksheet) to B's node.
        let mut b_store = MemoryStore::new(20);
        b_store.put_blob(&school_b(), &content).unwrap();
        let mut link = connect(relay_store, &mut b_store, node_b(), &school_b());
        let (to_relay, _) = link.run_until_idle(relay_store, 0);
        let relay_digest = relay_store.scope_summary(&school_b()).unwrap().digest;
        let node_digest = link.node_store.scope_summary(&school_b()).unwrap().digest;
        assert_eq!(
            relay_digest, node_digest,
            "{kind}: the relay's and B's node's digests of school B agree"
        );
        assert!(
            relay_store.blob_in_scope(&school_b(), &blob).unwrap(),
            "{kind}: the file is recorded in school B"
        );
        assert_eq!(
            blob_chunks(&to_relay),
            content.len().div_ceil(BLOB_CHUNK_BYTES),
            "{kind}: B proved it holds the file by uploading all of it"
        );

        // Heartbeats find nothing to reconcile: no side asks again, and both call it in sync.
        let mut requests_after = 0;
        for beat in 1..=4u64 {
            let now = beat * 15_000;
            link.node.handle_timeout(link.node_store, now);
            link.relay.handle_timeout(relay_store, now);
            let (up, down) = link.run_until_idle(relay_store, now);
            let is_request = |message: &Message| matches!(message, Message::SyncRequest(_));
            requests_after += count(&up, is_request) + count(&down, is_request);
        }
        assert_eq!(
            requests_after, 0,
            "{kind}: no reconciliation after convergence"
        );
        for (side, session) in [("node", &link.node), ("relay", &link.relay)] {
            assert!(
                session.reconcile_progress().scopes_differing.is_empty(),
                "{kind}: the {side} sees no differing scope: {:?}",
                session.reconcile_progress()
            );
            assert!(session.is_in_sync(), "{kind}: the {side} is in sync");
        }

        // B's node is rebuilt empty: it gets its school's file back.
        let mut rebuilt = MemoryStore::new(21);
        let mut rebuilt_link = connect(relay_store, &mut rebuilt, node_b(), &school_b());
        rebuilt_link.run_until_idle(relay_store, 0);
        assert_eq!(
            rebuilt_link.node.reconcile_progress().bytes_to_receive,
            0,
            "{kind}: a finished download is no longer counted as to be received"
        );
        drop(rebuilt_link);
        assert!(
            rebuilt.blob_in_scope(&school_b(), &blob).unwrap(),
            "{kind}: the rebuilt node holds its school's file"
        );
        assert_eq!(rebuilt.read_blob(&blob, 0, usize::MAX).unwrap(), content);
        assert_eq!(
            rebuilt.scope_summary(&school_b()).unwrap().digest,
            relay_store.scope_summary(&school_b()).unwrap().digest,
            "{kind}"
        );
    });
}

/// One store's answers to uploads of two files by three scopes, some honest, some not.
fn upload_script(store: &mut dyn ReplicaStore) -> Vec<String> {
    let mut answers = Vec::new();
    let x = file(150_000, 5);
    let y = file(90_000, 6);
    let (x_id, y_id) = (BlobId::of_content(&x), BlobId::of_content(&y));
    let mut note = |answer: String| answers.push(answer);
    // School A uploads X in two pieces.
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_a(), &x_id, 0, 150_000, &x[..70_000])
    ));
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_a(), &x_id, 70_000, 150_000, &x[70_000..])
    ));
    // School B knows X's id: an empty piece, then garbage, record nothing in B.
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_b(), &x_id, 0, 150_000, &[])
    ));
    note(format!("{:?}", store.blob_received_len(&school_b(), &x_id)));
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_b(), &x_id, 0, 150_000, &[1; 100])
    ));
    note(format!("{:?}", store.blob_received_len(&school_b(), &x_id)));
    note(format!("{:?}", store.blob_in_scope(&school_b(), &x_id)));
    // A piece at a wrong offset is refused.
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_b(), &x_id, 500, 150_000, &x[500..600])
    ));
    // The real bytes after garbage do not match: B's upload alone is dropped.
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_b(), &x_id, 0, 150_000, &x)
    ));
    note(format!("{:?}", store.blob_received_len(&school_b(), &x_id)));
    note(format!("{:?}", store.read_blob(&x_id, 149_990, 100)));
    // The municipality uploads Y while B sends garbage under Y's id first and completes it.
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_b(), &y_id, 0, 90_000, &x[..40_000])
    ));
    note(format!(
        "{:?}",
        store.write_blob_chunk(&municipality(), &y_id, 0, 90_000, &y[..50_000])
    ));
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_b(), &y_id, 40_000, 90_000, &x[40_000..90_000])
    ));
    note(format!(
        "{:?}",
        store.blob_received_len(&municipality(), &y_id)
    ));
    note(format!(
        "{:?}",
        store.write_blob_chunk(&municipality(), &y_id, 50_000, 90_000, &y[50_000..])
    ));
    // School B uploads all of X: it is recorded in B, and stored once.
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_b(), &x_id, 0, 150_000, &x[..100_000])
    ));
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_b(), &x_id, 100_000, 150_000, &x[100_000..])
    ));
    // A repeated piece for a blob the scope holds changes nothing.
    note(format!(
        "{:?}",
        store.write_blob_chunk(&school_b(), &x_id, 0, 150_000, &[])
    ));
    for scope in [school_a(), school_b(), municipality()] {
        note(format!("{scope}: {:?}", store.scope_summary(&scope)));
        note(format!("{scope}: {:?}", store.log_after(&scope, 0, 100)));
        for blob in [x_id, y_id] {
            note(format!(
                "{scope} {blob}: {:?} {:?}",
                store.blob_in_scope(&scope, &blob),
                store.blob_received_len(&scope, &blob)
            ));
        }
    }
    note(format!("{:?}", store.blob_len(&y_id)));
    note(format!(
        "{}",
        store.read_blob(&x_id, 0, usize::MAX).unwrap() == x
    ));
    note(format!(
        "{}",
        store.read_blob(&y_id, 0, usize::MAX).unwrap() == y
    ));
    store.flush().unwrap();
    answers
}

/// The `(key, value)` pairs of the store's tree under `prefix`, read with the store closed.
fn raw_records(directory: &std::path::Path, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = sled::open(directory).unwrap();
    let tree = db.open_tree(layout::REPLICA_TREE_NAME).unwrap();
    tree.scan_prefix(prefix)
        .map(|entry| {
            let (key, value) = entry.unwrap();
            (key.to_vec(), value.to_vec())
        })
        .collect()
}

#[test]
fn both_stores_keep_uploads_apart_per_scope_and_store_a_file_once() {
    let mut memory = MemoryStore::new(7);
    let directory = tempfile::tempdir().unwrap();
    let mut sled = SledStore::open(directory.path()).unwrap();
    let memory_answers = upload_script(&mut memory);
    assert_eq!(upload_script(&mut sled), memory_answers);
    let outcomes = &memory_answers[..2];
    assert_eq!(
        outcomes,
        [
            format!(
                "{:?}",
                Ok::<_, StoreError>(BlobWriteOutcome::Incomplete { received: 70_000 })
            ),
            format!("{:?}", Ok::<_, StoreError>(BlobWriteOutcome::Complete)),
        ]
    );
    assert_eq!(
        memory_answers[2],
        format!(
            "{:?}",
            Ok::<_, StoreError>(BlobWriteOutcome::Incomplete { received: 0 })
        ),
        "an empty piece is no proof"
    );
    assert!(
        memory_answers[8].contains("BlobMismatch"),
        "{memory_answers:?}"
    );
    assert!(
        memory_answers[13].contains("BlobMismatch"),
        "{memory_answers:?}"
    );
    assert_eq!(
        memory_answers[14], "Ok(50000)",
        "the municipality's upload is intact"
    );
    assert_eq!(memory_answers.last().unwrap(), "true");
    assert_eq!(memory.blob_count_partial(), 0);
    drop(sled);

    // Each file's bytes are stored once, as the pieces of the upload that completed first, and no
    // unfinished upload is left.
    let stored: usize = raw_records(directory.path(), b"V")
        .iter()
        .map(|(_, piece)| piece.len())
        .sum();
    assert_eq!(stored, 150_000 + 90_000);
    assert!(raw_records(directory.path(), b"U").is_empty());
    let x_id = BlobId::of_content(&file(150_000, 5));
    let record = raw_records(directory.path(), &layout::blob_key(&x_id));
    assert_eq!(
        BlobRecord::decode(&record[0].1),
        Some(BlobRecord::CompleteInUpload {
            len: 150_000,
            upload: UploadId::of(&school_a(), &x_id)
        })
    );
}

/// Writes a record into the store's tree with the store closed, as the first blob format did.
fn write_raw(directory: &std::path::Path, records: Vec<(Vec<u8>, Vec<u8>)>, removed: Vec<Vec<u8>>) {
    let db = sled::open(directory).unwrap();
    let tree = db.open_tree(layout::REPLICA_TREE_NAME).unwrap();
    for (key, value) in records {
        tree.insert(key, value).unwrap();
    }
    for key in removed {
        tree.remove(key).unwrap();
    }
    db.flush().unwrap();
}

/// The bytes of a first-format blob record: version 1, state, length.
fn first_format_record(state: u8, length: u64) -> Vec<u8> {
    let mut bytes = vec![1, state];
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes
}

#[test]
fn blobs_stored_in_the_first_format_read_as_before_and_shared_partials_start_afresh() {
    let directory = tempfile::tempdir().unwrap();
    let old = file(100_000, 8);
    let old_id = BlobId::of_content(&old);
    let unfinished = file(80_000, 9);
    let unfinished_id = BlobId::of_content(&unfinished);
    {
        // A complete blob of school A, recorded in its log by the current code, then moved to the
        // first format: its pieces under `P` and the blob id, its record without an upload.
        let store = SledStore::open(directory.path()).unwrap();
        store.put_blob(&school_a(), &old).unwrap();
    }
    let new_pieces = raw_records(
        directory.path(),
        &Pieces::OfUpload(UploadId::of(&school_a(), &old_id)).key_prefix(),
    );
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = new_pieces
        .iter()
        .map(|(key, piece)| {
            let offset = layout::piece_offset_from_key(key).unwrap();
            (Pieces::OfBlob(old_id).key(offset), piece.clone())
        })
        .collect();
    records.push((layout::blob_key(&old_id), first_format_record(1, 100_000)));
    // An unfinished upload of the first format, shared by every scope.
    records.push((
        layout::blob_key(&unfinished_id),
        first_format_record(0, 30_000),
    ));
    records.push((
        Pieces::OfBlob(unfinished_id).key(0),
        unfinished[..30_000].to_vec(),
    ));
    write_raw(
        directory.path(),
        records,
        new_pieces.into_iter().map(|(key, _)| key).collect(),
    );

    {
        let store = SledStore::open(directory.path()).unwrap();
        assert_eq!(store.blob_len(&old_id), Ok(Some(100_000)));
        assert_eq!(store.read_blob(&old_id, 0, usize::MAX).unwrap(), old);
        assert!(store.blob_in_scope(&school_a(), &old_id).unwrap());
        // Another scope still has to upload the old blob whole; its copy is then dropped.
        assert_eq!(
            store.write_blob_chunk(&school_b(), &old_id, 0, 100_000, &[]),
            Ok(BlobWriteOutcome::Incomplete { received: 0 })
        );
        assert_eq!(
            store.write_blob_chunk(&school_b(), &old_id, 0, 100_000, &old[..60_000]),
            Ok(BlobWriteOutcome::Incomplete { received: 60_000 })
        );
        assert_eq!(
            store.write_blob_chunk(&school_b(), &old_id, 60_000, 100_000, &old[60_000..]),
            Ok(BlobWriteOutcome::Complete)
        );
        assert_eq!(store.read_blob(&old_id, 0, usize::MAX).unwrap(), old);
        // The shared partial is not resumed: every scope starts at 0, and the first piece of a new
        // upload deletes it.
        assert_eq!(store.blob_len(&unfinished_id), Ok(None));
        assert_eq!(store.blob_received_len(&school_a(), &unfinished_id), Ok(0));
        assert_eq!(
            store.write_blob_chunk(
                &school_a(),
                &unfinished_id,
                0,
                80_000,
                &unfinished[..10_000]
            ),
            Ok(BlobWriteOutcome::Incomplete { received: 10_000 })
        );
        store.flush().unwrap();
    }
    assert!(
        raw_records(
            directory.path(),
            &Pieces::OfBlob(unfinished_id).key_prefix()
        )
        .is_empty()
    );
    assert!(raw_records(directory.path(), &layout::blob_key(&unfinished_id)).is_empty());
    assert_eq!(
        raw_records(directory.path(), &Pieces::OfBlob(old_id).key_prefix())
            .iter()
            .map(|(_, piece)| piece.len())
            .sum::<usize>(),
        100_000,
        "the old content is kept where it was"
    );
    assert!(
        raw_records(
            directory.path(),
            &Pieces::OfUpload(UploadId::of(&school_b(), &old_id)).key_prefix()
        )
        .is_empty(),
        "school B's duplicate copy was dropped"
    );
    let store = SledStore::open(directory.path()).unwrap();
    assert_eq!(
        store.write_blob_chunk(
            &school_a(),
            &unfinished_id,
            10_000,
            80_000,
            &unfinished[10_000..]
        ),
        Ok(BlobWriteOutcome::Complete)
    );
    assert_eq!(
        store.read_blob(&unfinished_id, 0, usize::MAX).unwrap(),
        unfinished
    );
    // A local upload of a file already stored adds the scope and keeps the content, also when the
    // content is the pieces of this very scope's earlier upload.
    store.put_blob(&school_a(), &old).unwrap();
    store.put_blob(&school_a(), &unfinished).unwrap();
    store.put_blob(&school_b(), &unfinished).unwrap();
    assert_eq!(store.read_blob(&old_id, 0, usize::MAX).unwrap(), old);
    assert_eq!(
        store.read_blob(&unfinished_id, 0, usize::MAX).unwrap(),
        unfinished
    );
    assert!(store.blob_in_scope(&school_b(), &unfinished_id).unwrap());
}

/// The count of unfinished uploads per scope, which the relay's quota reads, is the same in both
/// stores and follows every way an upload ends: completed, completed after another scope's,
/// dropped for not matching its id.
#[test]
fn both_stores_count_a_scopes_unfinished_uploads_alike() {
    with_each_relay_store(|name, store| {
        let first = file(300_000, 1);
        let second = file(300_000, 2);
        let first_id = BlobId::of_content(&first);
        let second_id = BlobId::of_content(&second);
        let unfinished = |store: &dyn ReplicaStore, scope: &Scope| {
            store.unfinished_uploads(scope).expect("readable")
        };
        for (scope, blob, content) in [
            (school_a(), first_id, &first),
            (school_a(), second_id, &second),
            (school_b(), first_id, &first),
        ] {
            let outcome =
                store.write_blob_chunk(&scope, &blob, 0, content.len() as u64, &content[..100_000]);
            assert!(outcome.is_ok(), "{name}: {outcome:?}");
        }
        assert_eq!(unfinished(store, &school_a()), 2, "{name}");
        assert_eq!(unfinished(store, &school_b()), 1, "{name}");
        // A completes its first file, then B completes the same content after it.
        for scope in [school_a(), school_b()] {
            store
                .write_blob_chunk(&scope, &first_id, 100_000, 300_000, &first[100_000..])
                .expect("completes");
        }
        assert_eq!(unfinished(store, &school_a()), 1, "{name}");
        assert_eq!(unfinished(store, &school_b()), 0, "{name}");
        // A's second upload ends in bytes that do not match its id: dropped, no longer under way.
        let garbage = vec![0u8; 200_000];
        let mismatch = store.write_blob_chunk(&school_a(), &second_id, 100_000, 300_000, &garbage);
        assert!(
            matches!(mismatch, Err(StoreError::BlobMismatch { .. })),
            "{name}: {mismatch:?}"
        );
        assert_eq!(unfinished(store, &school_a()), 0, "{name}");
        assert_eq!(unfinished(store, &municipality()), 0, "{name}");
    });
}
