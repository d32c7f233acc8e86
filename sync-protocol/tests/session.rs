//! The session's answers to a misbehaving or silent peer, and its bounds on what it sends.

use automerge::{ActorId, Automerge, ROOT, transaction::Transactable};
use sync_protocol::ids::{DocId, NodeId, Scope};
use sync_protocol::memory::MemoryStore;
use sync_protocol::session::{
    CloseReason, Event, MAX_REMEMBERED_HEADS_PER_SESSION, MAX_WAITING_ENTRIES_PER_REQUEST,
    MISSED_HEARTBEATS_BEFORE_TIMEOUT, QuotaKind, ScopeQuota, Session, SessionConfig,
};
use sync_protocol::sim::Pair;
use sync_protocol::store::ReplicaStore;
use sync_protocol::wire::{
    ErrorCode, FRAME_HEADER_BYTES, Heartbeat, Hello, MAX_FRAME_PAYLOAD_BYTES, Message,
    PROTOCOL_VERSION, ScopeDigest, ScopeState, SyncStatus,
};

fn school() -> Scope {
    "school:30076".parse().expect("valid")
}

fn relay_session(store: &MemoryStore) -> Session {
    let node: NodeId = "node-30076-a".parse().expect("valid");
    let config = SessionConfig::new(
        "relay".parse().expect("valid"),
        node,
        vec![school()],
        vec![school()],
    );
    Session::new(config, store, 0)
}

/// Every frame the session has queued, decoded.
fn sent_messages(session: &mut Session, store: &mut MemoryStore) -> Vec<Message> {
    std::iter::from_fn(|| session.poll_transmit(store))
        .map(|frame| {
            Message::decode_payload(&frame[FRAME_HEADER_BYTES..]).expect("we send valid frames")
        })
        .collect()
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn hello_from(node: &str, protocol_version: u32) -> Vec<u8> {
    let frame = Message::Hello(Hello {
        protocol_version,
        node_id: node.parse().expect("valid"),
        software_version: "9.9.9".into(),
        store_epoch: 5,
        log_heads: Vec::new(),
    })
    .encode_frame()
    .expect("encodes");
    frame[FRAME_HEADER_BYTES..].to_vec()
}

#[track_caller]
fn assert_closed_with_error(
    session: &mut Session,
    store: &mut MemoryStore,
    code: ErrorCode,
    reason: &CloseReason,
) {
    let sent = sent_messages(session, store);
    let error = sent.iter().find_map(|message| match message {
        Message::Error(error) => Some(error.clone()),
        _ => None,
    });
    let error = error.unwrap_or_else(|| panic!("an error frame is sent: {sent:?}"));
    assert_eq!((error.code, error.fatal), (code, true), "{error:?}");
    assert!(!error.message.is_empty());
    assert!(session.is_closed());
    assert!(events(session).contains(&Event::Closed {
        reason: reason.clone()
    }));
}

#[test]
fn a_peer_with_an_unknown_protocol_version_gets_a_clear_error_and_the_session_ends() {
    let mut store = MemoryStore::new(1);
    let mut session = relay_session(&store);
    session.handle_payload(
        &mut store,
        &hello_from("node-30076-a", PROTOCOL_VERSION + 1),
        10,
    );
    assert_closed_with_error(
        &mut session,
        &mut store,
        ErrorCode::UnsupportedVersion,
        &CloseReason::UnsupportedVersion {
            theirs: PROTOCOL_VERSION + 1,
        },
    );
}

#[test]
fn garbage_ends_the_session_with_a_malformed_frame_error_and_stores_nothing() {
    let mut store = MemoryStore::new(1);
    let mut session = relay_session(&store);
    session.handle_payload(&mut store, &[3, 200, 200, 200, 1, 2, 3], 10);
    let sent = sent_messages(&mut session, &mut store);
    assert!(sent.iter().any(|message| matches!(message, Message::Error(error) if error.code == ErrorCode::MalformedFrame && error.fatal)));
    assert!(matches!(
        events(&mut session).last(),
        Some(Event::Closed {
            reason: CloseReason::ProtocolViolation(_)
        })
    ));
    assert!(store.document_ids().is_empty());
}

#[test]
fn a_hello_naming_another_node_than_the_certificate_ends_the_session() {
    let mut store = MemoryStore::new(1);
    let mut session = relay_session(&store);
    session.handle_payload(
        &mut store,
        &hello_from("node-99999-x", PROTOCOL_VERSION),
        10,
    );
    let sent = sent_messages(&mut session, &mut store);
    assert!(sent.iter().any(|message| matches!(message, Message::Error(error) if error.code == ErrorCode::UnexpectedMessage)));
    assert!(session.is_closed());
}

#[test]
fn a_silent_peer_times_out_after_three_heartbeat_intervals() {
    let mut store = MemoryStore::new(1);
    let mut session = relay_session(&store);
    let interval = 15_000;
    let mut now = 0;
    while !session.is_closed() {
        let deadline = session
            .poll_timeout()
            .expect("a live session always has a timer");
        assert!(
            deadline <= interval * MISSED_HEARTBEATS_BEFORE_TIMEOUT,
            "no deadline past the timeout"
        );
        now = deadline;
        session.handle_timeout(&mut store, now);
    }
    assert_eq!(now, interval * MISSED_HEARTBEATS_BEFORE_TIMEOUT);
    assert!(events(&mut session).contains(&Event::Closed {
        reason: CloseReason::Timeout
    }));
}

#[test]
fn a_large_catch_up_is_split_into_frames_within_the_bound_and_converges() {
    let doc = DocId::new(school(), "big-material").expect("valid");
    let mut node_store = MemoryStore::new(1);
    let mut automerge = Automerge::new();
    automerge.set_actor(ActorId::from(b"teacher".as_slice()));
    // Six changes of 400 KB each: 2.4 MB in all, more than two frames' worth.
    for index in 0..6 {
        let mut transaction = automerge.transaction();
        transaction
            .put(ROOT, format!("chapter-{index}"), "x".repeat(400_000))
            .expect("put");
        transaction.commit();
    }
    let changes = automerge
        .get_changes(&[])
        .into_iter()
        .map(|change| change.raw_bytes().to_vec())
        .collect();
    node_store.apply_changes(&doc, changes).expect("applies");

    let mut pair = Pair::new(
        node_store,
        MemoryStore::new(2),
        vec![school()],
        vec![school()],
    );
    let mut largest_frame = 0;
    let mut frames = 0;
    loop {
        let to_relay: Vec<Vec<u8>> =
            std::iter::from_fn(|| pair.node.poll_transmit(&mut pair.node_store)).collect();
        let to_node: Vec<Vec<u8>> =
            std::iter::from_fn(|| pair.relay.poll_transmit(&mut pair.relay_store)).collect();
        if to_relay.is_empty() && to_node.is_empty() {
            break;
        }
        for frame in &to_relay {
            largest_frame = largest_frame.max(frame.len());
            frames += 1;
            pair.relay
                .handle_payload(&mut pair.relay_store, &frame[FRAME_HEADER_BYTES..], 0);
        }
        for frame in &to_node {
            pair.node
                .handle_payload(&mut pair.node_store, &frame[FRAME_HEADER_BYTES..], 0);
        }
        pair.relay_store.flush().expect("flush");
        pair.relay.handle_durable(&mut pair.relay_store);
        pair.node_store.flush().expect("flush");
        pair.node.handle_durable(&mut pair.node_store);
    }
    assert!(largest_frame <= FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD_BYTES);
    assert!(frames >= 3, "the catch-up took {frames} frames");
    assert_eq!(
        pair.relay_store.doc_heads(&doc).expect("readable"),
        pair.node_store.doc_heads(&doc).expect("readable")
    );
}

#[test]
fn a_peer_that_sends_into_a_scope_it_may_not_write_is_refused_and_nothing_is_stored() {
    let national_doc = DocId::new(Scope::National, "service-catalogue").expect("valid");
    let mut automerge = Automerge::new();
    let mut transaction = automerge.transaction();
    transaction.put(ROOT, "service", "rogue").expect("put");
    transaction.commit();
    let payload = Message::Changes(sync_protocol::wire::Changes {
        doc: national_doc.clone(),
        changes: automerge
            .get_changes(&[])
            .into_iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect(),
        sender_heads: automerge.get_heads(),
    })
    .encode_frame()
    .expect("encodes");
    let mut store = MemoryStore::new(1);
    let mut session = relay_session(&store);
    session.handle_payload(&mut store, &payload[FRAME_HEADER_BYTES..], 10);
    let sent = sent_messages(&mut session, &mut store);
    assert!(sent.iter().any(|message| matches!(message, Message::Error(error)
        if error.code == ErrorCode::ScopeDenied && !error.fatal && error.doc.as_ref() == Some(&national_doc))));
    assert_eq!(store.doc_heads(&national_doc).expect("readable"), None);
    assert!(
        !session.is_closed(),
        "one refused document does not end the session"
    );
}

/// A heartbeat whose digest equals ours confirms every write of the scope up to our log head, so a
/// driver can forget writes whose acknowledgement was lost; a different digest confirms nothing.
#[test]
fn a_heartbeat_with_our_digest_reports_the_scope_matched_up_to_our_log_head() {
    let doc = DocId::new(school(), "notes").expect("valid");
    let mut store = MemoryStore::new(1);
    let mut automerge = Automerge::new();
    let mut transaction = automerge.transaction();
    transaction.put(ROOT, "text", "hello").expect("put");
    transaction.commit();
    let changes = automerge
        .get_changes(&[])
        .into_iter()
        .map(|change| change.raw_bytes().to_vec())
        .collect();
    store.apply_changes(&doc, changes).expect("applies");
    let ours = store.scope_summary(&school()).expect("summary");
    assert!(ours.log_head > 0);

    let mut session = relay_session(&store);
    session.handle_payload(&mut store, &hello_from("node-30076-a", PROTOCOL_VERSION), 0);
    let heartbeat_with = |digest| {
        let frame = Message::Heartbeat(Heartbeat {
            sent_at_millis: 0,
            status: SyncStatus::default(),
            scopes: vec![ScopeState {
                scope: school(),
                digest,
                log_head: 99,
                epoch: 7,
            }],
            health: None,
        })
        .encode_frame()
        .expect("encodes");
        frame[FRAME_HEADER_BYTES..].to_vec()
    };
    let matched = |events: &[Event]| {
        events
            .iter()
            .filter_map(|event| match event {
                Event::ScopeMatched { scope, log_head } => Some((scope.clone(), *log_head)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let _ = events(&mut session);

    session.handle_payload(&mut store, &heartbeat_with(ScopeDigest::default()), 10);
    assert_eq!(matched(&events(&mut session)), vec![]);

    session.handle_payload(&mut store, &heartbeat_with(ours.digest), 20);
    assert_eq!(
        matched(&events(&mut session)),
        vec![(school(), ours.log_head)]
    );
}

/// A hostile node (root on one school's server, with its own real certificate) packs a document of
/// another scope into a batch of whole documents beside one of its own. The foreign one is refused
/// by name and not stored, the batch is not acknowledged as a whole, and the session goes on.
#[test]
fn a_batch_of_whole_documents_cannot_smuggle_a_document_into_a_scope_the_peer_may_not_write() {
    let saved_with = |value: &str| {
        let mut automerge = Automerge::new();
        let mut transaction = automerge.transaction();
        transaction.put(ROOT, "field", value).expect("put");
        transaction.commit();
        automerge.save()
    };
    let own = DocId::new(school(), "notes").expect("valid");
    let foreign = DocId::new(Scope::National, "service-catalogue").expect("valid");
    let batch = sync_protocol::wire::Documents::pack(
        7,
        &[
            sync_protocol::wire::SavedDocument {
                doc: own.clone(),
                saved: saved_with("ours"),
            },
            sync_protocol::wire::SavedDocument {
                doc: foreign.clone(),
                saved: saved_with("rogue"),
            },
        ],
    )
    .expect("packs");
    let payload = Message::Documents(batch).encode_frame().expect("encodes");
    let mut store = MemoryStore::new(1);
    let mut session = relay_session(&store);
    session.handle_payload(&mut store, &payload[FRAME_HEADER_BYTES..], 10);
    store.flush().expect("flush");
    session.handle_durable(&mut store);
    let sent = sent_messages(&mut session, &mut store);
    assert!(sent.iter().any(|message| matches!(message, Message::Error(error)
        if error.code == ErrorCode::ScopeDenied && !error.fatal && error.doc.as_ref() == Some(&foreign))));
    assert_eq!(store.doc_heads(&foreign).expect("readable"), None);
    assert!(
        store.doc_heads(&own).expect("readable").is_some(),
        "the document of a scope the peer may write is stored"
    );
    assert!(
        !sent
            .iter()
            .any(|message| matches!(message, Message::DocumentsAck(_))),
        "a batch with a refused document is not acknowledged as a whole"
    );
    assert!(!session.is_closed());
}

/// A saved document that does not load (damaged or forged bytes) is refused as a bad change and
/// stores nothing; the session goes on.
#[test]
fn a_batch_holding_bytes_that_are_not_a_saved_document_stores_nothing() {
    let doc = DocId::new(school(), "notes").expect("valid");
    let batch = sync_protocol::wire::Documents::pack(
        1,
        &[sync_protocol::wire::SavedDocument {
            doc: doc.clone(),
            saved: vec![0x85, 0x6f, 0x4a, 0x83, 0xff, 0x00, 0x13],
        }],
    )
    .expect("packs");
    let payload = Message::Documents(batch).encode_frame().expect("encodes");
    let mut store = MemoryStore::new(1);
    let mut session = relay_session(&store);
    session.handle_payload(&mut store, &payload[FRAME_HEADER_BYTES..], 10);
    let sent = sent_messages(&mut session, &mut store);
    assert!(
        sent.iter()
            .any(|message| matches!(message, Message::Error(error)
        if error.code == ErrorCode::BadChange && !error.fatal && error.doc.as_ref() == Some(&doc)))
    );
    assert_eq!(store.doc_heads(&doc).expect("readable"), None);
    assert!(!session.is_closed());
}

fn municipality() -> Scope {
    "municipality:092".parse().expect("valid")
}

/// A relay session for school 30076's node as the relay runs it: the school's scope whole, and in
/// the municipality's scope only the documents named for the school.
fn relay_session_with_write_rules(store: &MemoryStore, quota: Option<ScopeQuota>) -> Session {
    let node: NodeId = "node-30076-a".parse().expect("valid");
    let mut config = SessionConfig::new(
        "relay".parse().expect("valid"),
        node,
        vec![school(), municipality()],
        vec![school(), municipality()],
    );
    config.receive_name_prefixes = vec![(municipality(), "school-30076.".to_owned())];
    config.receive_quota = quota;
    Session::new(config, store, 0)
}

/// One change setting `field`, as the payload of a `Changes` frame for `doc`, made by `actor`.
fn changes_payload(doc: &DocId, actor: u8, field: &str) -> Vec<u8> {
    let mut automerge = Automerge::new().with_actor(ActorId::from(vec![actor; 16]));
    let mut transaction = automerge.transaction();
    transaction.put(ROOT, field, "value").expect("put");
    transaction.commit();
    let frame = Message::Changes(sync_protocol::wire::Changes {
        doc: doc.clone(),
        changes: automerge
            .get_changes(&[])
            .into_iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect(),
        sender_heads: automerge.get_heads(),
    })
    .encode_frame()
    .expect("encodes");
    frame[FRAME_HEADER_BYTES..].to_vec()
}

fn refused_with(sent: &[Message], code: ErrorCode, doc: &DocId) -> bool {
    sent.iter().any(|message| {
        matches!(message, Message::Error(error)
            if error.code == code && !error.fatal && error.doc.as_ref() == Some(doc))
    })
}

/// Issue 18: write authority per document. A school's node writes its own documents in its
/// municipality's scope, but neither the municipality's announcements nor another school's
/// documents there, whether it sends changes or whole documents.
#[test]
fn in_a_scope_written_in_part_only_the_peers_own_documents_are_accepted() {
    let announcements = DocId::new(municipality(), "announcements").expect("valid");
    let elsewhere = DocId::new(municipality(), "school-30077.menu").expect("valid");
    let own = DocId::new(municipality(), "school-30076.menu").expect("valid");
    let mut store = MemoryStore::new(1);
    let mut session = relay_session_with_write_rules(&store, None);
    for doc in [&announcements, &elsewhere, &own] {
        session.handle_payload(&mut store, &changes_payload(doc, 1, "forged"), 10);
    }
    let saved = {
        let mut automerge = Automerge::new();
        let mut transaction = automerge.transaction();
        transaction.put(ROOT, "whole", "forged").expect("put");
        transaction.commit();
        automerge.save()
    };
    let batch = sync_protocol::wire::Documents::pack(
        3,
        &[sync_protocol::wire::SavedDocument {
            doc: announcements.clone(),
            saved,
        }],
    )
    .expect("packs");
    let payload = Message::Documents(batch).encode_frame().expect("encodes");
    session.handle_payload(&mut store, &payload[FRAME_HEADER_BYTES..], 20);
    store.flush().expect("flush");
    session.handle_durable(&mut store);

    let sent = sent_messages(&mut session, &mut store);
    assert!(refused_with(&sent, ErrorCode::ScopeDenied, &announcements));
    assert!(refused_with(&sent, ErrorCode::ScopeDenied, &elsewhere));
    assert!(!refused_with(&sent, ErrorCode::ScopeDenied, &own));
    assert_eq!(store.doc_heads(&announcements).expect("readable"), None);
    assert_eq!(store.doc_heads(&elsewhere).expect("readable"), None);
    assert!(store.doc_heads(&own).expect("readable").is_some());
    assert!(!session.is_closed());
}

/// Issue 18: a node cannot fill the relay's disk. Past the scope's document quota a new document is
/// refused with a clear error naming the scope and the bound, and reported; edits to the documents
/// the scope holds still go in, and other scopes are not affected.
#[test]
fn a_scope_at_its_document_quota_refuses_new_documents_and_still_takes_edits() {
    let quota = ScopeQuota {
        max_documents: 3,
        max_document_bytes: 1024 * 1024,
        max_blob_bytes: 0,
        max_unfinished_blobs: 0,
    };
    let mut store = MemoryStore::new(1);
    let mut session = relay_session_with_write_rules(&store, Some(quota));
    let docs: Vec<DocId> = (0..5)
        .map(|index| DocId::new(school(), &format!("flood-{index}")).expect("valid"))
        .collect();
    for doc in &docs {
        session.handle_payload(&mut store, &changes_payload(doc, 1, "first"), 10);
    }
    session.handle_payload(&mut store, &changes_payload(&docs[0], 2, "edit"), 20);
    let sent = sent_messages(&mut session, &mut store);
    for doc in &docs[..3] {
        assert!(store.doc_heads(doc).expect("readable").is_some(), "{doc}");
    }
    for doc in &docs[3..] {
        assert_eq!(store.doc_heads(doc).expect("readable"), None, "{doc}");
        assert!(
            refused_with(&sent, ErrorCode::TooLarge, doc),
            "{doc}: {sent:?}"
        );
    }
    let message = sent
        .iter()
        .find_map(|message| match message {
            Message::Error(error) if error.code == ErrorCode::TooLarge => {
                Some(error.message.clone())
            }
            _ => None,
        })
        .expect("an error");
    assert!(
        message.contains("school:30076") && message.contains("3 documents"),
        "the error names the scope and the bound: {message}"
    );
    assert_eq!(
        store
            .doc_heads(&docs[0])
            .expect("readable")
            .map(|heads| heads.len()),
        Some(2),
        "an edit of a document the scope holds still goes in"
    );
    let reached = events(&mut session)
        .into_iter()
        .filter(|event| {
            matches!(event, Event::QuotaReached { scope, quota: QuotaKind::Documents } if *scope == school())
        })
        .count();
    assert_eq!(reached, 2);
    // Another scope has its own quota.
    let own = DocId::new(municipality(), "school-30076.menu").expect("valid");
    session.handle_payload(&mut store, &changes_payload(&own, 1, "soup"), 30);
    assert!(store.doc_heads(&own).expect("readable").is_some());
    assert!(!session.is_closed());
}

/// Issue 18: a scope whose documents take their quota of bytes takes no more writes.
#[test]
fn a_scope_at_its_byte_quota_refuses_every_write_to_its_documents() {
    let quota = ScopeQuota {
        max_documents: 1000,
        max_document_bytes: 1,
        max_blob_bytes: 0,
        max_unfinished_blobs: 0,
    };
    let mut store = MemoryStore::new(1);
    let mut session = relay_session_with_write_rules(&store, Some(quota));
    let doc = DocId::new(school(), "notes").expect("valid");
    session.handle_payload(&mut store, &changes_payload(&doc, 1, "first"), 10);
    session.handle_payload(&mut store, &changes_payload(&doc, 2, "second"), 20);
    let sent = sent_messages(&mut session, &mut store);
    assert_eq!(
        store
            .doc_heads(&doc)
            .expect("readable")
            .map(|heads| heads.len()),
        Some(1),
        "the first write took the scope to its quota, the second was refused"
    );
    assert!(refused_with(&sent, ErrorCode::TooLarge, &doc));
    assert!(events(&mut session).contains(&Event::QuotaReached {
        scope: school(),
        quota: QuotaKind::DocumentBytes
    }));
}

/// Issue 18: a peer that names endless documents (made-up ids in scopes it may read and write, with
/// heads we do not hold, in heads frames and offers) costs the session a bounded amount of memory.
#[test]
fn a_peer_naming_endless_unknown_documents_costs_the_session_bounded_memory() {
    let mut store = MemoryStore::new(1);
    let mut session = relay_session_with_write_rules(&store, None);
    let named = 3 * MAX_REMEMBERED_HEADS_PER_SESSION;
    for index in 0..named {
        let doc = DocId::new(school(), &format!("made-up-{index}")).expect("valid");
        let frame = Message::Heads(sync_protocol::wire::DocHeads {
            doc,
            heads: vec![automerge::ChangeHash([7; 32])],
        })
        .encode_frame()
        .expect("encodes");
        session.handle_payload(&mut store, &frame[FRAME_HEADER_BYTES..], 10);
        // The driver sends what the session queues; the answers are not what is measured.
        while session.poll_transmit(&mut store).is_some() {}
    }
    let bound = 3 * MAX_REMEMBERED_HEADS_PER_SESSION + MAX_WAITING_ENTRIES_PER_REQUEST;
    assert!(
        session.remembered_entries() <= bound,
        "{} entries remembered after {named} made-up documents (bound {bound})",
        session.remembered_entries()
    );
    assert!(!session.is_closed());
}

/// Issue 18: unfinished uploads cannot fill the disk either. With two uploads of files under way
/// in the scope, a chunk that would start a third is refused and stores nothing; the uploads under
/// way go on, and a file sent whole in one chunk is never an unfinished upload.
#[test]
fn a_scope_at_its_quota_of_unfinished_uploads_starts_no_more() {
    let quota = ScopeQuota {
        max_documents: 1000,
        max_document_bytes: 1024 * 1024,
        max_blob_bytes: 1024 * 1024,
        max_unfinished_blobs: 2,
    };
    let mut store = MemoryStore::new(1);
    let mut session = relay_session_with_write_rules(&store, Some(quota));
    let chunk = |content: &[u8], offset: usize, len: usize| {
        let frame = Message::BlobChunk(sync_protocol::wire::BlobChunk {
            scope: school(),
            blob: sync_protocol::ids::BlobId::of_content(content),
            offset: offset as u64,
            total_len: content.len() as u64,
            bytes: content[offset..offset + len].to_vec(),
        })
        .encode_frame()
        .expect("encodes");
        frame[FRAME_HEADER_BYTES..].to_vec()
    };
    let files: Vec<Vec<u8>> = (0..3u8).map(|index| vec![index; 1000]).collect();
    for file in &files {
        session.handle_payload(&mut store, &chunk(file, 0, 100), 10);
    }
    assert_eq!(store.unfinished_uploads(&school()).expect("readable"), 2);
    let sent = sent_messages(&mut session, &mut store);
    assert!(
        sent.iter().any(|message| matches!(message, Message::Error(error)
            if error.code == ErrorCode::TooLarge && error.message.contains("2 unfinished file uploads"))),
        "{sent:?}"
    );
    assert!(events(&mut session).contains(&Event::QuotaReached {
        scope: school(),
        quota: QuotaKind::UnfinishedBlobs
    }));
    // The uploads under way finish; a small file sent whole goes in too.
    session.handle_payload(&mut store, &chunk(&files[0], 100, 900), 20);
    let small = b"a small file".to_vec();
    session.handle_payload(&mut store, &chunk(&small, 0, small.len()), 30);
    for content in [&files[0], &small] {
        let blob = sync_protocol::ids::BlobId::of_content(content);
        assert!(store.blob_in_scope(&school(), &blob).expect("readable"));
    }
    assert!(
        !store
            .blob_in_scope(
                &school(),
                &sync_protocol::ids::BlobId::of_content(&files[2])
            )
            .expect("readable")
    );
    assert_eq!(store.unfinished_uploads(&school()).expect("readable"), 1);
}
