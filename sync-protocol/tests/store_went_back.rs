//! A replica whose store went back in time converges: a node rebuilt empty under its old identity,
//! a node restored from an older copy of its store, the relay restored likewise, and a restored
//! store that gives no sign of it in its `Hello`. Each test first syncs a node and the relay, then
//! swaps one store for an emptier one, reconnects, and checks that both stores end with equal digests
//! and every document, whatever either side remembered about the other.

use automerge::{ActorId, Automerge, ROOT, transaction::Transactable};
use sync_protocol::ids::{DocId, Scope};
use sync_protocol::memory::MemoryStore;
use sync_protocol::sim::Pair;
use sync_protocol::store::ReplicaStore;

const HEARTBEAT_MILLIS: u64 = 15_000;

fn school() -> Scope {
    "school:30076".parse().expect("valid scope")
}

fn doc_id(number: usize) -> DocId {
    DocId::new(school(), &format!("thread-{number:04}")).expect("valid id")
}

/// The change bytes of `count` edits to a fresh copy of document `number`, made once, so that two
/// stores given the same bytes hold the very same changes (as a store and its backup do).
fn edits(number: usize, actor: &str, count: usize, base: &Automerge) -> (Automerge, Vec<Vec<u8>>) {
    let mut doc = base.clone();
    doc.set_actor(ActorId::from(actor.as_bytes()));
    let before = doc.get_heads();
    for index in 0..count {
        let mut transaction = doc.transaction();
        transaction
            .put(
                ROOT,
                format!("message-{index}"),
                format!("{actor} wrote message {index} in thread {number}"),
            )
            .expect("put");
        transaction.commit();
    }
    let changes = doc
        .get_changes(&before)
        .into_iter()
        .map(|change| change.raw_bytes().to_vec())
        .collect();
    (doc, changes)
}

fn apply_to_both(
    first: &mut MemoryStore,
    second: &mut MemoryStore,
    doc: &DocId,
    changes: &[Vec<u8>],
) {
    first.apply_changes(doc, changes.to_vec()).expect("applies");
    second
        .apply_changes(doc, changes.to_vec())
        .expect("applies");
}

fn digests_equal(pair: &Pair) -> bool {
    let node = pair.node_store.scope_summary(&school()).expect("summary");
    let relay = pair.relay_store.scope_summary(&school()).expect("summary");
    node.digest == relay.digest
}

fn pair_of(node_store: MemoryStore, relay_store: MemoryStore) -> Pair {
    Pair::new(node_store, relay_store, vec![school()], vec![school()])
}

/// Every reason either side gave for no longer trusting what it remembered about the other.
fn noticed(pair: &Pair) -> Vec<String> {
    pair.node_noticed
        .iter()
        .chain(&pair.relay_noticed)
        .cloned()
        .collect()
}

/// Lets heartbeats run, one interval at a time, until the digests are equal and both sides have
/// nothing to send; returns how many intervals that took, or fails after `limit`.
fn heartbeats_until_converged(pair: &mut Pair, limit: u64) -> u64 {
    for interval in 1..=limit {
        pair.advance_to(interval * HEARTBEAT_MILLIS);
        pair.run_until_idle().expect("the pair settles");
        if digests_equal(pair) && pair.node.reconcile_progress().in_sync() {
            return interval;
        }
    }
    panic!("the digests still differ after {limit} heartbeat intervals");
}

#[test]
fn a_node_rebuilt_empty_under_its_old_identity_gets_every_document_back_in_saved_form() {
    let mut node_store = MemoryStore::new(1);
    for number in 0..300 {
        let (_, changes) = edits(number, "teacher-1", 12, &Automerge::new());
        node_store
            .apply_changes(&doc_id(number), changes)
            .expect("applies");
    }
    let mut pair = pair_of(node_store, MemoryStore::new(2));
    pair.run_until_idle().expect("first sync");
    assert!(digests_equal(&pair));

    // The disk is lost: a new, empty store (a new epoch) under the same node id.
    pair.node_store = MemoryStore::new(3);
    pair.reconnect();
    let traffic = pair.run_until_idle().expect("rebuild");
    assert!(
        digests_equal(&pair),
        "the rebuilt node holds everything again"
    );
    let forgotten = noticed(&pair)
        .iter()
        .any(|reason| reason.contains("created anew"));
    assert!(
        forgotten,
        "the relay says why it dropped what it remembered"
    );

    let saved_bytes: u64 = (0..300)
        .map(|number| {
            pair.relay_store
                .saved_document(&doc_id(number))
                .expect("readable")
                .expect("held")
                .len() as u64
        })
        .sum();
    assert!(
        traffic.bytes() * 10 <= saved_bytes * 11,
        "the rebuild sent {} bytes for documents whose saved form is {saved_bytes} bytes",
        traffic.bytes()
    );
    assert!(
        traffic.round_trips() <= 3,
        "the rebuild took {} round trips",
        traffic.round_trips()
    );
    // Once rebuilt, a reconnect costs nothing per document again: what was sent is remembered.
    pair.reconnect();
    let idle = pair.run_until_idle().expect("idle reconnect");
    assert!(
        idle.bytes() < 2_000,
        "an idle reconnect after the rebuild sent {} bytes",
        idle.bytes()
    );
}

#[test]
fn a_node_restored_from_an_older_copy_gets_back_what_it_lost() {
    let mut node_store = MemoryStore::new(1);
    let mut backup = MemoryStore::new(1);
    let mut documents = Vec::new();
    for number in 0..40 {
        let (doc, changes) = edits(number, "teacher-1", 3, &Automerge::new());
        apply_to_both(&mut node_store, &mut backup, &doc_id(number), &changes);
        documents.push(doc);
    }
    let mut pair = pair_of(node_store, MemoryStore::new(2));
    pair.run_until_idle().expect("first sync");
    // After the backup, the node writes more, and the relay gets all of it.
    for (number, doc) in documents.iter().enumerate().take(20) {
        let (_, changes) = edits(number, "teacher-2", 2, doc);
        pair.node_store
            .apply_changes(&doc_id(number), changes)
            .expect("applies");
        pair.node.handle_local_change(&doc_id(number));
    }
    for number in 40..50 {
        let (_, changes) = edits(number, "teacher-2", 2, &Automerge::new());
        pair.node_store
            .apply_changes(&doc_id(number), changes)
            .expect("applies");
        pair.node.handle_local_change(&doc_id(number));
    }
    pair.run_until_idle().expect("writes after the backup sync");
    // A heartbeat with equal digests moves the relay's cursor into the node's log to its head.
    heartbeats_until_converged(&mut pair, 2);
    let relay_heads_before: Vec<_> = (0..50)
        .map(|number| {
            pair.relay_store
                .doc_heads(&doc_id(number))
                .expect("readable")
        })
        .collect();

    // The node's disk is restored from the backup: same epoch, an older log.
    pair.node_store = backup;
    pair.reconnect();
    pair.run_until_idle().expect("reconnect");
    let forgotten = noticed(&pair)
        .iter()
        .any(|reason| reason.contains("went back in time"));
    assert!(forgotten, "the relay recognises the restored store");
    assert!(digests_equal(&pair), "what the node lost came back");
    for (number, heads) in relay_heads_before.into_iter().enumerate() {
        assert_eq!(
            pair.node_store
                .doc_heads(&doc_id(number))
                .expect("readable"),
            heads,
            "document {number} is whole again at the node"
        );
    }
}

#[test]
fn a_relay_restored_from_an_older_copy_gets_back_what_it_lost_from_the_node() {
    let mut relay_store = MemoryStore::new(2);
    let mut relay_backup = MemoryStore::new(2);
    let mut node_store = MemoryStore::new(1);
    let mut documents = Vec::new();
    for number in 0..30 {
        let (doc, changes) = edits(number, "teacher-1", 3, &Automerge::new());
        apply_to_both(
            &mut relay_store,
            &mut relay_backup,
            &doc_id(number),
            &changes,
        );
        node_store
            .apply_changes(&doc_id(number), changes)
            .expect("applies");
        documents.push(doc);
    }
    let mut pair = pair_of(node_store, relay_store);
    pair.run_until_idle().expect("first sync");
    // The relay's backup is taken now, before it has seen the next writes... but its remembered
    // state about the node must be as of the backup too: take the backup's copy of it by syncing
    // the backup the same way once.
    let mut backup_pair = pair_of(MemoryStore::new(1), relay_backup);
    std::mem::swap(&mut backup_pair.node_store, &mut pair.node_store);
    backup_pair.reconnect();
    backup_pair
        .run_until_idle()
        .expect("the backup syncs as the relay did");
    std::mem::swap(&mut backup_pair.node_store, &mut pair.node_store);
    let relay_backup = std::mem::replace(&mut backup_pair.relay_store, MemoryStore::new(9));

    for (number, doc) in documents.iter().enumerate() {
        let (_, changes) = edits(number, "teacher-2", 2, doc);
        pair.node_store
            .apply_changes(&doc_id(number), changes)
            .expect("applies");
        pair.node.handle_local_change(&doc_id(number));
    }
    for number in 30..45 {
        let (_, changes) = edits(number, "teacher-2", 2, &Automerge::new());
        pair.node_store
            .apply_changes(&doc_id(number), changes)
            .expect("applies");
        pair.node.handle_local_change(&doc_id(number));
    }
    pair.run_until_idle()
        .expect("writes after the relay's backup");
    // A heartbeat with equal digests moves the node's cursor into the relay's log to its head.
    heartbeats_until_converged(&mut pair, 2);

    // The relay's disk is restored from its backup: same epoch, an older log.
    pair.relay_store = relay_backup;
    pair.reconnect();
    pair.run_until_idle().expect("reconnect");
    let forgotten = noticed(&pair)
        .iter()
        .any(|reason| reason.contains("went back in time"));
    assert!(forgotten, "the node recognises the restored relay");
    let intervals = heartbeats_until_converged(&mut pair, 8);
    for number in 0..45 {
        assert_eq!(
            pair.relay_store
                .doc_heads(&doc_id(number))
                .expect("readable"),
            pair.node_store
                .doc_heads(&doc_id(number))
                .expect("readable"),
            "document {number} is whole again at the relay ({intervals} heartbeat intervals)"
        );
    }
}

#[test]
fn a_restored_store_that_hides_it_in_its_hello_still_converges_by_anti_entropy() {
    // The node is restored from a backup and then writes more than it lost before it reconnects, so
    // its log heads are past what the relay remembers and its Hello looks like any other. Only the
    // heartbeat digests can tell, and they must get both sides equal within a few intervals.
    let mut node_store = MemoryStore::new(1);
    let mut backup = MemoryStore::new(1);
    let mut documents = Vec::new();
    for number in 0..20 {
        let (doc, changes) = edits(number, "teacher-1", 2, &Automerge::new());
        apply_to_both(&mut node_store, &mut backup, &doc_id(number), &changes);
        documents.push(doc);
    }
    let mut pair = pair_of(node_store, MemoryStore::new(2));
    pair.run_until_idle().expect("first sync");
    for (number, doc) in documents.iter().enumerate().take(10) {
        let (_, changes) = edits(number, "teacher-2", 2, doc);
        pair.node_store
            .apply_changes(&doc_id(number), changes)
            .expect("applies");
        pair.node.handle_local_change(&doc_id(number));
    }
    pair.run_until_idle().expect("sync after the backup");
    let lost_heads: Vec<_> = (0..10)
        .map(|number| {
            pair.relay_store
                .doc_heads(&doc_id(number))
                .expect("readable")
        })
        .collect();

    pair.node_store = backup;
    // Offline after the restore, the node writes to other documents, more entries than it lost.
    for number in 100..140 {
        let (_, changes) = edits(number, "teacher-3", 1, &Automerge::new());
        pair.node_store
            .apply_changes(&doc_id(number), changes)
            .expect("applies");
    }
    // The backup here was made beside the node rather than copied from it, so it has no record of
    // the relay at all and the node reconciles from nothing; what matters is the relay's side.
    let relay_noticed_before = pair.relay_noticed.len();
    pair.reconnect();
    pair.run_until_idle().expect("reconnect");
    assert!(
        pair.relay_noticed.len() == relay_noticed_before,
        "this restore leaves no sign in the Hello, which is the point of the test"
    );
    let intervals = heartbeats_until_converged(&mut pair, 10);
    for (number, heads) in lost_heads.into_iter().enumerate() {
        let node_heads = pair
            .node_store
            .doc_heads(&doc_id(number))
            .expect("readable");
        assert_eq!(
            node_heads, heads,
            "document {number} came back after {intervals} heartbeat intervals"
        );
    }
    assert!(
        !pair
            .node
            .reconcile_progress()
            .scopes_differing
            .contains(&school()),
        "the node's progress report shows the scope in sync once it is"
    );
}

#[test]
fn the_progress_report_never_says_in_sync_while_the_digests_differ() {
    let mut node_store = MemoryStore::new(1);
    for number in 0..10 {
        let (_, changes) = edits(number, "teacher-1", 2, &Automerge::new());
        node_store
            .apply_changes(&doc_id(number), changes)
            .expect("applies");
    }
    let mut pair = pair_of(node_store, MemoryStore::new(2));
    assert!(
        !pair.node.reconcile_progress().in_sync(),
        "before anything was compared, nothing is known to be in sync"
    );
    pair.run_until_idle().expect("first sync");
    heartbeats_until_converged(&mut pair, 3);
    assert!(pair.relay.reconcile_progress().in_sync());
    // The node's store is wiped under its identity: until the documents are back, nothing says
    // in sync, on either side.
    pair.node_store = MemoryStore::new(5);
    pair.reconnect();
    assert!(!pair.node.reconcile_progress().in_sync());
    assert!(!pair.relay.reconcile_progress().in_sync());
    heartbeats_until_converged(&mut pair, 3);
    assert!(pair.relay.reconcile_progress().in_sync());
}
