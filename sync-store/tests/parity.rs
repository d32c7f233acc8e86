//! The sled store behaves like the in-memory store: the same writes give the same answers, and the
//! answers survive closing and reopening the store.

#![allow(clippy::unwrap_used)]

mod common;

use automerge::{AutoCommit, ChangeHash, ROOT, ReadDoc as _};
use common::{assert_digest_matches_log, doc_id, edit, editor, municipality, school};
use sync_protocol::ids::{BlobId, NodeId, Scope};
use sync_protocol::memory::MemoryStore;
use sync_protocol::store::{BlobWriteOutcome, ReplicaStore, StoreError};
use sync_protocol::wire::{Cursor, MAX_BLOB_BYTES};
use sync_store::{MAX_INCREMENTAL_CHUNKS, SledStore};

/// Runs the same mixed sequence of writes against a store and returns a description of every answer.
fn run_script<S: ReplicaStore>(
    store: &mut S,
    put_blob: impl Fn(&mut S, &Scope, &[u8]) -> BlobId,
) -> Vec<String> {
    let mut answers = Vec::new();
    let essay = doc_id(&school(), "essay");
    let timetable = doc_id(&school(), "timetable");
    let catalogue = doc_id(&municipality(), "catalogue");
    let mut alice = editor(1);
    let mut bob = editor(2);

    let (first, _) = edit(&mut alice, "title", 1);
    answers.push(format!(
        "{:?}",
        store.apply_changes(&essay, vec![first.clone()])
    ));
    bob.merge(&mut alice.clone()).unwrap();
    // Concurrent edits by two writers leave two heads.
    let (from_alice, _) = edit(&mut alice, "title", 2);
    let (from_bob, _) = edit(&mut bob, "body", 3);
    answers.push(format!(
        "{:?}",
        store.apply_changes(&essay, vec![from_alice.clone()])
    ));
    answers.push(format!("{:?}", store.apply_changes(&essay, vec![from_bob])));
    // Repeats are not new.
    answers.push(format!(
        "{:?}",
        store.apply_changes(&essay, vec![first, from_alice])
    ));
    // A change whose dependency is missing is held back.
    let mut carol = editor(3);
    let (_, _) = edit(&mut carol, "x", 1);
    let (orphan, _) = edit(&mut carol, "x", 2);
    answers.push(format!(
        "{:?}",
        store.apply_changes(&timetable, vec![orphan])
    ));
    answers.push(format!("{:?}", store.doc_heads(&timetable)));
    // Garbage is a bad change, not a panic.
    answers.push(format!(
        "{:?}",
        store.apply_changes(&timetable, vec![vec![1, 2, 3]])
    ));
    for value in 0..5 {
        let (change, _) = edit(&mut carol, "y", value);
        let _ = change;
    }
    answers.push(format!(
        "{:?}",
        store.apply_changes(
            &timetable,
            carol
                .get_changes(&[])
                .iter()
                .map(|change| change.raw_bytes().to_vec())
                .collect()
        )
    ));
    let mut dave = editor(4);
    for value in 0..3 {
        let (change, _) = edit(&mut dave, "n", value);
        answers.push(format!(
            "{:?}",
            store.apply_changes(&catalogue, vec![change])
        ));
    }
    // Blobs: one local upload, one received in pieces, one uploaded to a second scope.
    let upload = put_blob(store, &school(), b"a local upload");
    answers.push(format!("{upload:?}"));
    let content: Vec<u8> = (0..1000u32).map(|index| (index % 251) as u8).collect();
    let received = BlobId::of_content(&content);
    for (offset, piece) in [(0usize, 0..400usize), (300, 300..700), (700, 700..1000)] {
        answers.push(format!(
            "{:?}",
            store.write_blob_chunk(&school(), &received, offset as u64, 1000, &content[piece])
        ));
    }
    answers.push(format!(
        "{:?}",
        put_blob(store, &municipality(), b"a local upload")
    ));
    // The same blob again is not recorded twice.
    answers.push(format!(
        "{:?}",
        put_blob(store, &school(), b"a local upload")
    ));
    // Another edit moves the essay to the end of the log.
    let (later, _) = edit(&mut alice, "title", 4);
    answers.push(format!("{:?}", store.apply_changes(&essay, vec![later])));

    let peer: NodeId = "node-30076-b".parse().unwrap();
    store
        .put_shared_heads(&peer, &essay, &store.doc_heads(&essay).unwrap().unwrap())
        .unwrap();
    store
        .put_cursor(&peer, &school(), Cursor { epoch: 9, seq: 4 })
        .unwrap();
    store.put_peer_epoch(&peer, 9).unwrap();
    // A second peer whose store turned out to be another one: everything remembered about it goes,
    // and nothing about the first peer.
    let forgotten: NodeId = "node-30076-c".parse().unwrap();
    store
        .put_shared_heads(
            &forgotten,
            &essay,
            &store.doc_heads(&essay).unwrap().unwrap(),
        )
        .unwrap();
    store.put_shared_heads(&forgotten, &timetable, &[]).unwrap();
    store
        .put_cursor(&forgotten, &school(), Cursor { epoch: 3, seq: 2 })
        .unwrap();
    store.put_peer_epoch(&forgotten, 3).unwrap();
    answers.push(format!("{:?}", store.forget_peer(&forgotten)));
    answers.push(format!(
        "{:?} {:?} {:?} {:?}",
        store.shared_heads(&forgotten, &essay),
        store.shared_heads(&forgotten, &timetable),
        store.cursor(&forgotten, &school()),
        store.peer_epoch(&forgotten)
    ));
    store.flush().unwrap();
    answers
}

/// Everything a reader can ask, as text, to compare two stores.
fn observe(store: &impl ReplicaStore) -> Vec<String> {
    let mut seen = Vec::new();
    let peer: NodeId = "node-30076-b".parse().unwrap();
    for scope in [school(), municipality(), "national".parse().unwrap()] {
        seen.push(format!("{scope}: {:?}", store.scope_summary(&scope)));
        seen.push(format!("{scope}: {:?}", store.log_after(&scope, 0, 100)));
        seen.push(format!(
            "{scope} paged: {:?}",
            store.log_after(&scope, 2, 2)
        ));
        seen.push(format!("{scope} cursor: {:?}", store.cursor(&peer, &scope)));
    }
    seen.push(format!("peer epoch: {:?}", store.peer_epoch(&peer)));
    for name in ["essay", "timetable", "missing"] {
        let doc = doc_id(&school(), name);
        let heads = store.doc_heads(&doc).unwrap();
        seen.push(format!("{doc}: {heads:?}"));
        let mut changes = store.changes_since(&doc, &[]).unwrap();
        changes.sort();
        seen.push(format!("{doc} changes: {changes:?}"));
        seen.push(format!(
            "{doc} contains: {:?}",
            store.contains_changes(&doc, &heads.clone().unwrap_or_default())
        ));
        seen.push(format!(
            "{doc} shared: {:?}",
            store.shared_heads(&peer, &doc)
        ));
        if let Some(heads) = heads {
            seen.push(format!(
                "{doc} since heads: {:?}",
                store.changes_since(&doc, &heads)
            ));
        }
        // The saved form loads to the same heads and history in both stores (the bytes themselves
        // may differ in compression, so they are compared by what they load to).
        let saved = store.saved_document(&doc).unwrap().map(|saved| {
            let loaded = automerge::Automerge::load(&saved).unwrap();
            let mut changes: Vec<Vec<u8>> = loaded
                .get_changes(&[])
                .iter()
                .map(|change| change.raw_bytes().to_vec())
                .collect();
            changes.sort();
            (loaded.get_heads(), changes)
        });
        seen.push(format!("{doc} saved: {saved:?}"));
    }
    let content: Vec<u8> = (0..1000u32).map(|index| (index % 251) as u8).collect();
    for blob in [
        BlobId::of_content(&content),
        BlobId::of_content(b"a local upload"),
    ] {
        seen.push(format!("{blob}: {:?}", store.blob_len(&blob)));
        seen.push(format!("{blob}: {:?}", store.read_blob(&blob, 10, 500)));
        seen.push(format!("{blob}: {:?}", store.read_blob(&blob, 990, 500)));
        seen.push(format!(
            "{blob}: {:?}",
            store.blob_in_scope(&municipality(), &blob)
        ));
    }
    seen
}

#[test]
fn the_same_writes_give_the_same_answers_as_the_memory_store_and_survive_a_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let mut memory = MemoryStore::new(7);
    let mut sled = SledStore::open(directory.path()).unwrap();
    let memory_answers = run_script(&mut memory, |store, scope, content| {
        store.put_blob(scope, content).unwrap()
    });
    let sled_answers = run_script(&mut sled, |store, scope, content| {
        store.put_blob(scope, content).unwrap()
    });
    assert_eq!(sled_answers, memory_answers);
    assert_eq!(observe(&sled), observe(&memory));
    for scope in [school(), municipality()] {
        assert_digest_matches_log(&sled, &scope);
    }
    let epoch = sled.epoch();
    drop(sled);

    let reopened = SledStore::open(directory.path()).unwrap();
    assert_eq!(reopened.epoch(), epoch);
    assert_eq!(observe(&reopened), observe(&memory));
    assert_eq!(reopened.document_ids().unwrap().len(), 3);
}

#[test]
fn sequence_numbers_keep_growing_across_a_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let doc = doc_id(&school(), "essay");
    let mut writer = editor(1);
    let mut last_seq = 0;
    for round in 0..3 {
        let store = SledStore::open(directory.path()).unwrap();
        for value in 0..3 {
            let (change, _) = edit(&mut writer, "k", round * 10 + value);
            store.commit_local_changes(&doc, vec![change]).unwrap();
            let log_head = store.scope_summary(&school()).unwrap().log_head;
            assert!(log_head > last_seq, "{log_head} after {last_seq}");
            last_seq = log_head;
        }
    }
}

#[test]
fn compaction_keeps_the_content_identical() {
    let directory = tempfile::tempdir().unwrap();
    let doc = doc_id(&school(), "gradebook");
    let mut writer = editor(1);
    let store = SledStore::open(directory.path()).unwrap();
    let mut hashes: Vec<ChangeHash> = Vec::new();
    let writes = MAX_INCREMENTAL_CHUNKS * 3 + 5;
    for value in 0..writes {
        let (change, hash) = edit(&mut writer, &format!("pupil-{}", value % 7), value as i64);
        store.commit_local_changes(&doc, vec![change]).unwrap();
        hashes.push(hash);
    }
    assert_eq!(store.metrics().compactions_total, 3);
    let expected = writer.document().hydrate(None);
    let check = |store: &SledStore| {
        let loaded = store.document(&doc).unwrap().unwrap();
        assert_eq!(loaded.hydrate(None), expected);
        assert_eq!(
            store.doc_heads(&doc).unwrap(),
            Some(writer.clone().get_heads())
        );
        assert!(store.contains_changes(&doc, &hashes).unwrap());
        assert_eq!(
            store.changes_since(&doc, &[]).unwrap().len(),
            writes as usize
        );
    };
    check(&store);
    drop(store);
    let reopened = SledStore::open(directory.path()).unwrap();
    check(&reopened);
    assert_eq!(reopened.metrics().document_loads_total, 1);
    let copy = AutoCommit::load(&reopened.document(&doc).unwrap().unwrap().save()).unwrap();
    assert!(copy.get(ROOT, "pupil-0").unwrap().is_some());
}

#[test]
fn blobs_arrive_in_pieces_resume_after_a_reopen_and_read_back_at_any_offset() {
    let directory = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..300_000u32)
        .map(|index| (index * 7 % 253) as u8)
        .collect();
    let blob = BlobId::of_content(&content);
    let total = content.len() as u64;
    {
        let store = SledStore::open(directory.path()).unwrap();
        assert_eq!(
            store.write_blob_chunk(&school(), &blob, 0, total, &content[..100_000]),
            Ok(BlobWriteOutcome::Incomplete { received: 100_000 })
        );
        // A piece past what was received is refused.
        assert_eq!(
            store.write_blob_chunk(&school(), &blob, 150_000, total, &content[150_000..160_000]),
            Err(StoreError::BlobOutOfOrder {
                blob,
                offset: 150_000,
                received: 100_000
            })
        );
        assert_eq!(store.blob_len(&blob), Ok(None));
        assert_eq!(
            store.read_blob(&blob, 0, 10),
            Err(StoreError::BlobMissing { blob })
        );
        store.flush().unwrap();
    }
    let store = SledStore::open(directory.path()).unwrap();
    assert_eq!(store.blob_received_len(&school(), &blob), Ok(100_000));
    // A piece overlapping what was received is accepted; only its new bytes are kept.
    assert_eq!(
        store.write_blob_chunk(&school(), &blob, 50_000, total, &content[50_000..200_001]),
        Ok(BlobWriteOutcome::Incomplete { received: 200_001 })
    );
    assert_eq!(
        store.write_blob_chunk(&school(), &blob, 200_001, total, &content[200_001..]),
        Ok(BlobWriteOutcome::Complete)
    );
    assert_eq!(store.blob_len(&blob), Ok(Some(total)));
    assert_eq!(store.blob_received_len(&school(), &blob), Ok(0));
    assert!(store.blob_in_scope(&school(), &blob).unwrap());
    assert!(!store.blob_in_scope(&municipality(), &blob).unwrap());
    for (offset, len) in [
        (0usize, 10usize),
        (65_530, 20),
        (0, 300_000),
        (131_071, 70_000),
        (299_999, 10),
        (300_000, 10),
        (400_000, 10),
    ] {
        let start = offset.min(content.len());
        let end = (start + len).min(content.len());
        assert_eq!(
            store.read_blob(&blob, offset as u64, len).unwrap(),
            &content[start..end],
            "offset {offset} length {len}"
        );
    }
    assert_digest_matches_log(&store, &school());

    let mut memory = MemoryStore::new(1);
    memory
        .write_blob_chunk(&school(), &blob, 0, total, &content)
        .unwrap();
    assert_eq!(
        store.scope_summary(&school()).unwrap().digest,
        memory.scope_summary(&school()).unwrap().digest
    );
}

#[test]
fn a_blob_that_does_not_hash_to_its_id_is_rejected_and_dropped() {
    let directory = tempfile::tempdir().unwrap();
    let store = SledStore::open(directory.path()).unwrap();
    let blob = BlobId::of_content(b"the real content");
    assert_eq!(
        store.write_blob_chunk(&school(), &blob, 0, 16, b"not the "),
        Ok(BlobWriteOutcome::Incomplete { received: 8 })
    );
    assert_eq!(
        store.write_blob_chunk(&school(), &blob, 8, 16, b"real one"),
        Err(StoreError::BlobMismatch { blob })
    );
    assert_eq!(store.blob_len(&blob), Ok(None));
    assert_eq!(store.blob_received_len(&school(), &blob), Ok(0));
    assert!(!store.blob_in_scope(&school(), &blob).unwrap());
    assert_eq!(store.scope_summary(&school()).unwrap().log_head, 0);
    // The right bytes are accepted afterwards.
    assert_eq!(
        store.write_blob_chunk(&school(), &blob, 0, 16, b"the real content"),
        Ok(BlobWriteOutcome::Complete)
    );
    let too_large = MAX_BLOB_BYTES + 1;
    assert!(matches!(
        store.write_blob_chunk(&school(), &blob, 0, too_large, b""),
        Err(StoreError::BlobTooLarge { .. })
    ));
}

#[test]
fn a_large_local_upload_is_stored_in_pieces_and_reads_back() {
    let directory = tempfile::tempdir().unwrap();
    let store = SledStore::open(directory.path()).unwrap();
    let content: Vec<u8> = (0..(sync_store::BLOB_UPLOAD_BATCH_BYTES as u32 + 12_345))
        .map(|index| (index % 241) as u8)
        .collect();
    let blob = store.put_blob(&school(), &content).unwrap();
    assert_eq!(blob, BlobId::of_content(&content));
    assert_eq!(store.read_blob(&blob, 0, usize::MAX).unwrap(), content);
}
