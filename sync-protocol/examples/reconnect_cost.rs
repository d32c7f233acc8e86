//! What a reconnect costs: ours against naive per-document automerge sync.
//!
//! `cargo run --release -p sync-protocol --example reconnect_cost [-- --docs N --changes-per-doc N
//! --changed N --history N]` syncs two in-memory stores (a school node and the relay) through the
//! lockstep in-memory transport of `sim::Pair` and prints one JSON line per run:
//!
//! * `idle`: `docs` documents of `changes_per_doc` changes each, nothing changed since the last sync;
//! * `some_changed`: the same, `changed` documents changed by one small edit each;
//! * `long_history`: one document with `history` changes, 10 new small changes;
//! * `rebuild`: the node's store is lost and replaced by an empty one under the same identity (a
//!   new epoch): everything comes back from the relay, which still remembers the old store.
//!
//! `first_sync` and `rebuild` also print `saved_bytes`, the sum of `Automerge::save()` sizes of the
//! documents sent: a peer that lacks a document should receive about its saved size, not its
//! history change by change.
//!
//! `impl` is `ours`, or `baseline` for the same scenario done the naive way: automerge's own sync
//! protocol per document, every document, with fresh sync states. Bytes count whole frames for ours
//! and only automerge's sync messages for the baseline (no framing, no document ids), which favours
//! the baseline.

use std::time::Instant;

use automerge::{ActorId, Automerge, ROOT, sync::SyncDoc, transaction::Transactable};
use sync_protocol::ids::{DocId, Scope};
use sync_protocol::memory::MemoryStore;
use sync_protocol::sim::Pair;
use sync_protocol::store::ReplicaStore;

struct Options {
    docs: usize,
    changes_per_doc: usize,
    changed: usize,
    history: usize,
}

fn parse_options() -> Options {
    let mut options = Options {
        docs: 10_000,
        changes_per_doc: 20,
        changed: 100,
        history: 100_000,
    };
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    for pair in arguments.chunks(2) {
        let value = pair
            .get(1)
            .and_then(|text| text.parse().ok())
            .expect("every option takes a number");
        match pair[0].as_str() {
            "--docs" => options.docs = value,
            "--changes-per-doc" => options.changes_per_doc = value,
            "--changed" => options.changed = value,
            "--history" => options.history = value,
            other => panic!("unknown option {other}"),
        }
    }
    options
}

fn school() -> Scope {
    "school:30076".parse().expect("valid scope")
}

fn doc_id(number: usize) -> DocId {
    DocId::new(school(), &format!("class-{number:05}")).expect("valid id")
}

/// Makes `count` small changes to `doc` as `actor` and returns their bytes. Each writes a value the
/// document cannot hold yet (automerge makes no change for a put of the current value).
fn small_edits(doc: &mut Automerge, actor: &str, count: usize, offset: usize) -> Vec<Vec<u8>> {
    let fresh_value =
        doc.get_heads().len() as i64 * 1_000_000_007 + doc.get_changes(&[]).len() as i64;
    let before = doc.get_heads();
    doc.set_actor(ActorId::from(actor.as_bytes()));
    for index in 0..count {
        let mut transaction = doc.transaction();
        let value = fresh_value + (offset + index) as i64 * 7_919;
        transaction
            .put(ROOT, format!("lesson-{}", (offset + index) % 50), value)
            .expect("put");
        transaction.commit();
    }
    doc.get_changes(&before)
        .into_iter()
        .map(|change| change.raw_bytes().to_vec())
        .collect()
}

fn edit_in_store(store: &mut MemoryStore, doc: &DocId, actor: &str, count: usize, offset: usize) {
    let mut automerge = store
        .document(doc)
        .expect("readable")
        .cloned()
        .unwrap_or_default();
    let changes = small_edits(&mut automerge, actor, count, offset);
    store.apply_changes(doc, changes).expect("applies");
}

fn print_line(
    scenario: &str,
    implementation: &str,
    docs: usize,
    changed: usize,
    bytes: u64,
    round_trips: u64,
    millis: u128,
) {
    let line = serde_json::json!({
        "scenario": scenario, "impl": implementation, "docs": docs, "changed_docs": changed,
        "bytes": bytes, "round_trips": round_trips, "millis": millis,
    });
    println!("{line}");
}

/// A line for a scenario that sends whole documents, with their saved size and the ratio of the
/// bytes sent to it.
fn print_line_with_saved(
    scenario: &str,
    docs: usize,
    bytes: u64,
    saved_bytes: u64,
    round_trips: u64,
    millis: u128,
) {
    let line = serde_json::json!({
        "scenario": scenario, "impl": "ours", "docs": docs, "changed_docs": docs,
        "bytes": bytes, "saved_bytes": saved_bytes,
        "bytes_per_saved_byte": (bytes as f64 / saved_bytes.max(1) as f64 * 1000.0).round() / 1000.0,
        "round_trips": round_trips, "millis": millis,
    });
    println!("{line}");
}

/// The sum of `Automerge::save()` sizes of `docs` as `store` holds them.
fn saved_bytes(store: &mut MemoryStore, docs: &[DocId]) -> u64 {
    docs.iter()
        .map(|doc| {
            store
                .document(doc)
                .expect("readable")
                .map_or(0, |automerge| automerge.save().len() as u64)
        })
        .sum()
}

/// The naive way: automerge sync per document with fresh states, all documents in parallel, so
/// round trips are those of the slowest document.
fn baseline(pair: &mut Pair, docs: &[DocId]) -> (u64, u64) {
    let mut bytes = 0u64;
    let mut rounds_max = 0u64;
    for doc in docs {
        let mut node_doc = pair
            .node_store
            .document(doc)
            .expect("readable")
            .cloned()
            .unwrap_or_default();
        let mut relay_doc = pair
            .relay_store
            .document(doc)
            .expect("readable")
            .cloned()
            .unwrap_or_default();
        let (doc_bytes, rounds) = sync_naively(&mut node_doc, &mut relay_doc);
        bytes += doc_bytes;
        assert_eq!(
            node_doc.get_heads(),
            relay_doc.get_heads(),
            "baseline converges"
        );
        rounds_max = rounds_max.max(rounds);
    }
    (bytes, rounds_max.div_ceil(2))
}

fn measure_ours(pair: &mut Pair) -> (u64, u64, u128) {
    pair.reconnect();
    let started = Instant::now();
    let traffic = pair.run_until_idle().expect("sync finishes");
    (
        traffic.bytes(),
        traffic.round_trips(),
        started.elapsed().as_millis(),
    )
}

fn assert_converged(pair: &mut Pair) {
    let node = pair.node_store.scope_summary(&school()).expect("summary");
    let relay = pair.relay_store.scope_summary(&school()).expect("summary");
    assert_eq!(
        node.digest, relay.digest,
        "both stores hold the same documents at the same heads"
    );
}

fn main() {
    let options = parse_options();
    let scopes = vec![school()];
    let docs: Vec<DocId> = (0..options.docs).map(doc_id).collect();

    let mut node_store = MemoryStore::new(1);
    for (number, doc) in docs.iter().enumerate() {
        edit_in_store(
            &mut node_store,
            doc,
            "teacher-1",
            options.changes_per_doc,
            number,
        );
    }
    let mut pair = Pair::new(
        node_store,
        MemoryStore::new(2),
        scopes.clone(),
        scopes.clone(),
    );
    let started = Instant::now();
    let first = pair.run_until_idle().expect("first sync finishes");
    let first_millis = started.elapsed().as_millis();
    let first_saved = saved_bytes(&mut pair.node_store, &docs);
    print_line_with_saved(
        "first_sync",
        options.docs,
        first.bytes(),
        first_saved,
        first.round_trips(),
        first_millis,
    );
    assert_converged(&mut pair);

    let (bytes, round_trips, millis) = measure_ours(&mut pair);
    print_line("idle", "ours", options.docs, 0, bytes, round_trips, millis);
    let started = Instant::now();
    let (bytes, round_trips) = baseline(&mut pair, &docs);
    print_line(
        "idle",
        "baseline",
        options.docs,
        0,
        bytes,
        round_trips,
        started.elapsed().as_millis(),
    );

    for (number, doc) in docs.iter().take(options.changed).enumerate() {
        edit_in_store(&mut pair.node_store, doc, "teacher-2", 1, number + 7);
    }
    let (bytes, round_trips, millis) = measure_ours(&mut pair);
    print_line(
        "some_changed",
        "ours",
        options.docs,
        options.changed,
        bytes,
        round_trips,
        millis,
    );
    assert_converged(&mut pair);
    let started = Instant::now();
    let (bytes, round_trips) = baseline_with_edits(&mut pair, &docs, options.changed);
    print_line(
        "some_changed",
        "baseline",
        options.docs,
        options.changed,
        bytes,
        round_trips,
        started.elapsed().as_millis(),
    );

    // The node's disk is lost; a new store (a new epoch) under the same identity reconnects to a
    // relay that remembers everything about the old one.
    pair.node_store = MemoryStore::new(6);
    let (bytes, round_trips, millis) = measure_ours(&mut pair);
    let rebuilt_saved = saved_bytes(&mut pair.node_store, &docs);
    print_line_with_saved(
        "rebuild",
        options.docs,
        bytes,
        rebuilt_saved,
        round_trips,
        millis,
    );
    assert_converged(&mut pair);

    long_history(options.history);
}

/// The baseline for `some_changed`: the relay's copies lack the one new change of the first `changed`
/// documents, so those are rebuilt without it before syncing with fresh states.
fn baseline_with_edits(pair: &mut Pair, docs: &[DocId], changed: usize) -> (u64, u64) {
    let mut fresh_relay = MemoryStore::new(4);
    for (number, doc) in docs.iter().enumerate() {
        let full = pair
            .relay_store
            .document(doc)
            .expect("readable")
            .cloned()
            .unwrap_or_default();
        let mut changes = full.get_changes(&[]);
        if number < changed {
            changes.retain(|change| change.actor_id() != &ActorId::from("teacher-2".as_bytes()));
        }
        fresh_relay
            .apply_changes(
                doc,
                changes
                    .into_iter()
                    .map(|change| change.raw_bytes().to_vec())
                    .collect(),
            )
            .expect("applies");
    }
    let scopes = vec![school()];
    let node_copy = std::mem::replace(&mut pair.node_store, MemoryStore::new(5));
    let mut baseline_pair = Pair::new(node_copy, fresh_relay, scopes.clone(), scopes);
    let result = baseline(&mut baseline_pair, docs);
    pair.node_store = baseline_pair.node_store;
    result
}

fn long_history(history: usize) {
    let scopes = vec![school()];
    let doc = doc_id(0);
    let mut node_store = MemoryStore::new(11);
    let mut automerge = Automerge::new();
    let changes = small_edits(&mut automerge, "teacher-1", history, 0);
    node_store.apply_changes(&doc, changes).expect("applies");
    let mut pair = Pair::new(node_store, MemoryStore::new(12), scopes.clone(), scopes);
    pair.run_until_idle().expect("first sync finishes");

    let relay_before = pair
        .relay_store
        .document(&doc)
        .expect("readable")
        .cloned()
        .expect("synced");
    edit_in_store(&mut pair.node_store, &doc, "teacher-2", 10, 3);
    let (bytes, round_trips, millis) = measure_ours(&mut pair);
    print_line("long_history", "ours", 1, 1, bytes, round_trips, millis);
    assert_converged(&mut pair);

    let mut node_doc = pair
        .node_store
        .document(&doc)
        .expect("readable")
        .cloned()
        .expect("exists");
    let mut relay_doc = relay_before;
    let started = Instant::now();
    let (bytes, rounds) = sync_naively(&mut node_doc, &mut relay_doc);
    print_line(
        "long_history",
        "baseline",
        1,
        1,
        bytes,
        rounds.div_ceil(2),
        started.elapsed().as_millis(),
    );
}

/// Automerge's own sync protocol between two copies of one document, with fresh sync states, both
/// sides sending in each round. Returns the bytes of the encoded sync messages and the rounds taken.
fn sync_naively(node_doc: &mut Automerge, relay_doc: &mut Automerge) -> (u64, u64) {
    let mut node_state = automerge::sync::State::new();
    let mut relay_state = automerge::sync::State::new();
    let (mut bytes, mut rounds) = (0u64, 0u64);
    loop {
        let from_node = node_doc.generate_sync_message(&mut node_state);
        let from_relay = relay_doc.generate_sync_message(&mut relay_state);
        if from_node.is_none() && from_relay.is_none() {
            return (bytes, rounds);
        }
        rounds += 1;
        for (message, receiver, state) in [
            (from_node, &mut *relay_doc, &mut relay_state),
            (from_relay, &mut *node_doc, &mut node_state),
        ] {
            if let Some(message) = message {
                let encoded = message.encode();
                bytes += encoded.len() as u64;
                let decoded = automerge::sync::Message::decode(&encoded).expect("decodes");
                receiver
                    .receive_sync_message(state, decoded)
                    .expect("receives");
            }
        }
    }
}
