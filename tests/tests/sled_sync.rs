//! The sync engine over the real sled store: a school node and the relay sync, restart from disk,
//! and reconnect at the cost of what changed. A node that writes outside its scopes stores nothing.

use automerge::{ActorId, ROOT, transaction::Transactable};
use sync_protocol::ids::{DocId, NodeId, Scope};
use sync_protocol::session::{Event, Session, SessionConfig};
use sync_protocol::store::ReplicaStore;
use sync_protocol::wire::{ErrorCode, FRAME_HEADER_BYTES};
use sync_store::SledStore;

fn school() -> Scope {
    "school:30076".parse().expect("valid")
}

fn other_school() -> Scope {
    "school:30077".parse().expect("valid")
}

fn node_id() -> NodeId {
    "node-30076-a".parse().expect("valid")
}

fn relay_id() -> NodeId {
    "relay".parse().expect("valid")
}

/// Writes one small change to `doc` through the durable write API, as the node's HTTP layer will.
fn digest(store: &SledStore) -> sync_protocol::wire::ScopeDigest {
    store.scope_summary(&school()).expect("readable").digest
}

fn write(store: &SledStore, doc: &DocId, actor: &str, key: &str, value: i64) {
    let mut automerge = store.document(doc).expect("readable").unwrap_or_default();
    let before = automerge.get_heads();
    automerge.set_actor(ActorId::from(actor.as_bytes()));
    let mut transaction = automerge.transaction();
    transaction.put(ROOT, key, value).expect("put");
    transaction.commit();
    let changes = automerge
        .get_changes(&before)
        .into_iter()
        .map(|change| change.raw_bytes().to_vec())
        .collect();
    store
        .commit_local_changes(doc, changes)
        .expect("durable write");
}

struct Connection {
    node: Session,
    relay: Session,
    events: Vec<Event>,
}

fn connect(
    node_store: &SledStore,
    relay_store: &SledStore,
    node_send: Vec<Scope>,
    relay_receive: Vec<Scope>,
) -> Connection {
    let node_receive = vec![school()];
    let node = Session::new(
        SessionConfig::new(node_id(), relay_id(), node_send, node_receive.clone()),
        node_store,
        0,
    );
    let relay = Session::new(
        SessionConfig::new(relay_id(), node_id(), node_receive, relay_receive),
        relay_store,
        0,
    );
    Connection {
        node,
        relay,
        events: Vec::new(),
    }
}

/// Delivers frames both ways until both sides are quiet; returns the bytes that crossed.
fn run(
    connection: &mut Connection,
    node_store: &mut SledStore,
    relay_store: &mut SledStore,
) -> u64 {
    let mut bytes = 0;
    for _ in 0..10_000 {
        let to_relay: Vec<Vec<u8>> =
            std::iter::from_fn(|| connection.node.poll_transmit(node_store)).collect();
        let to_node: Vec<Vec<u8>> =
            std::iter::from_fn(|| connection.relay.poll_transmit(relay_store)).collect();
        if to_relay.is_empty() && to_node.is_empty() {
            return bytes;
        }
        for frame in &to_relay {
            bytes += frame.len() as u64;
            connection
                .relay
                .handle_payload(relay_store, &frame[FRAME_HEADER_BYTES..], 0);
        }
        for frame in &to_node {
            bytes += frame.len() as u64;
            connection
                .node
                .handle_payload(node_store, &frame[FRAME_HEADER_BYTES..], 0);
        }
        for (session, store) in [
            (&mut connection.node, &mut *node_store),
            (&mut connection.relay, &mut *relay_store),
        ] {
            ReplicaStore::flush(store).expect("flush");
            session.handle_durable(store);
            connection
                .events
                .extend(std::iter::from_fn(|| session.poll_event()));
        }
    }
    panic!("the sessions never went quiet");
}

#[test]
fn a_node_and_the_relay_sync_restart_from_disk_and_reconnect_at_the_cost_of_what_changed() {
    let node_dir = tempfile::tempdir().expect("temp dir");
    let relay_dir = tempfile::tempdir().expect("temp dir");
    let docs: Vec<DocId> = (0..50)
        .map(|number| DocId::new(school(), &format!("class-{number}")).expect("valid"))
        .collect();
    {
        let mut node_store = SledStore::open(node_dir.path()).expect("opens");
        let mut relay_store = SledStore::open(relay_dir.path()).expect("opens");
        for (number, doc) in docs.iter().enumerate() {
            for edit in 0..5 {
                write(
                    &node_store,
                    doc,
                    "teacher-1",
                    &format!("lesson-{edit}"),
                    (number * 10 + edit) as i64,
                );
            }
        }
        let blob = node_store
            .put_blob(&school(), &vec![7u8; 700_000])
            .expect("blob");
        node_store.wait_durable().expect("durable");
        let mut connection = connect(&node_store, &relay_store, vec![school()], vec![school()]);
        run(&mut connection, &mut node_store, &mut relay_store);
        assert_eq!(
            digest(&node_store),
            digest(&relay_store),
            "both hold the same documents at the same heads"
        );
        assert_eq!(
            relay_store.blob_len(&blob).expect("readable"),
            Some(700_000)
        );
        assert!(
            connection.events.contains(&Event::InSync),
            "{:?}",
            connection.events
        );
    }

    // Both processes restart: everything, including what each knows of the other, comes from disk.
    let mut node_store = SledStore::open(node_dir.path()).expect("reopens");
    let mut relay_store = SledStore::open(relay_dir.path()).expect("reopens");
    let mut connection = connect(&node_store, &relay_store, vec![school()], vec![school()]);
    let idle_bytes = run(&mut connection, &mut node_store, &mut relay_store);
    assert!(
        idle_bytes < 1_024,
        "a reconnect with nothing changed cost {idle_bytes} bytes"
    );

    // Another node's edits reach the relay while this node is away; the reconnect carries only them.
    for doc in &docs[..3] {
        write(&relay_store, doc, "teacher-2", "homework", 42);
    }
    let mut connection = connect(&node_store, &relay_store, vec![school()], vec![school()]);
    let changed_bytes = run(&mut connection, &mut node_store, &mut relay_store);
    assert_eq!(
        digest(&node_store),
        digest(&relay_store),
        "both hold the same documents at the same heads"
    );
    assert!(
        changed_bytes < 1_024 + 3 * 400,
        "three changed documents cost {changed_bytes} bytes"
    );
}

#[test]
fn a_node_cannot_write_a_scope_its_session_does_not_grant() {
    let node_dir = tempfile::tempdir().expect("temp dir");
    let relay_dir = tempfile::tempdir().expect("temp dir");
    let mut node_store = SledStore::open(node_dir.path()).expect("opens");
    let mut relay_store = SledStore::open(relay_dir.path()).expect("opens");
    let foreign = DocId::new(other_school(), "grades").expect("valid");
    write(&node_store, &foreign, "intruder", "grade", 10);

    // The node (mis)configured to send another school's scope; the relay only grants its own school.
    let mut connection = connect(
        &node_store,
        &relay_store,
        vec![school(), other_school()],
        vec![school()],
    );
    connection.node.handle_local_change(&foreign);
    run(&mut connection, &mut node_store, &mut relay_store);

    assert_eq!(
        relay_store.doc_heads(&foreign).expect("readable"),
        None,
        "nothing of the other school is stored"
    );
    let denied = connection.events.iter().any(|event| {
        matches!(event, Event::PeerError { code: ErrorCode::ScopeDenied, doc: Some(doc), .. } if doc == &foreign)
    });
    assert!(denied, "the node is told why: {:?}", connection.events);
}

#[test]
fn a_node_wiped_under_its_old_identity_gets_everything_back_over_real_sled_stores() {
    let node_dir = tempfile::tempdir().expect("temp dir");
    let relay_dir = tempfile::tempdir().expect("temp dir");
    let docs: Vec<DocId> = (0..60)
        .map(|number| DocId::new(school(), &format!("thread-{number}")).expect("valid"))
        .collect();
    let mut relay_store = SledStore::open(relay_dir.path()).expect("opens");
    let blob = {
        let mut node_store = SledStore::open(node_dir.path()).expect("opens");
        for (number, doc) in docs.iter().enumerate() {
            for edit in 0..8 {
                write(
                    &node_store,
                    doc,
                    "teacher-1",
                    &format!("message-{edit}"),
                    (number * 100 + edit) as i64,
                );
            }
        }
        let blob = node_store
            .put_blob(&school(), &vec![3u8; 600_000])
            .expect("blob");
        node_store.wait_durable().expect("durable");
        let mut connection = connect(&node_store, &relay_store, vec![school()], vec![school()]);
        run(&mut connection, &mut node_store, &mut relay_store);
        assert_eq!(digest(&node_store), digest(&relay_store));
        blob
    };

    // The node's disk is lost. A new store (a new epoch) comes up under the same node id, and the
    // relay still remembers the old one: what it shared with it, and its cursor into its log.
    let wiped = tempfile::tempdir().expect("temp dir");
    let mut node_store = SledStore::open(wiped.path()).expect("opens");
    let mut connection = connect(&node_store, &relay_store, vec![school()], vec![school()]);
    let rebuild_bytes = run(&mut connection, &mut node_store, &mut relay_store);
    assert!(
        connection.events.iter().any(|event| matches!(
            event,
            Event::PeerStoreNotRecognised { reason } if reason.contains("created anew")
        )),
        "the relay says it no longer trusts what it remembered: {:?}",
        connection.events
    );
    assert_eq!(
        digest(&node_store),
        digest(&relay_store),
        "the wiped node holds every document again"
    );
    assert_eq!(node_store.blob_len(&blob).expect("readable"), Some(600_000));
    assert!(connection.node.reconcile_progress().in_sync() || connection.node.is_in_sync());
    let saved: u64 = docs
        .iter()
        .map(|doc| {
            relay_store
                .saved_document(doc)
                .expect("readable")
                .expect("held")
                .len() as u64
        })
        .sum();
    // The file is 600,000 bytes of the rebuild; the documents came whole, near their saved size.
    let document_bytes = rebuild_bytes.saturating_sub(600_000);
    assert!(
        document_bytes * 10 <= saved * 15 + 10_000,
        "the documents cost {document_bytes} bytes against {saved} saved"
    );
}
