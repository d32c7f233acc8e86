//! Editing a document in place (`SledStore::edit_document`), the node's write path: what an edit
//! commits is stored as one logged write, what it refuses or abandons leaves the store untouched.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use automerge::transaction::Transactable as _;
use automerge::{Automerge, AutomergeError, ROOT, ReadDoc as _, ScalarValue, Value};
use sync_protocol::ids::DocId;
use sync_store::{EditError, SledStore};

use common::{assert_digest_matches_log, doc_id, school};

fn set(document: &mut Automerge, key: &str, value: i64) -> Result<(), AutomergeError> {
    let mut transaction = document.transaction();
    transaction.put(ROOT, key, value)?;
    transaction.commit();
    Ok(())
}

fn read(store: &SledStore, doc: &DocId, key: &str) -> Option<i64> {
    store
        .read_document(doc, |document| match document.get(ROOT, key).unwrap() {
            Some((Value::Scalar(scalar), _)) => match scalar.as_ref() {
                ScalarValue::Int(value) => Some(*value),
                _ => None,
            },
            _ => None,
        })
        .unwrap()
        .flatten()
}

#[test]
fn an_edit_is_one_logged_write_that_survives_a_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let doc = doc_id(&school(), "notes");
    {
        let store = SledStore::open(directory.path()).unwrap();
        let head_before = store.scope_summary(&school()).unwrap().log_head;
        let (answer, heads) = store
            .edit_document(&doc, |document| set(document, "count", 1).map(|()| "done"))
            .unwrap();
        store.wait_durable().unwrap();
        assert_eq!(answer, "done");
        let heads = heads.expect("the edit changed the document");
        assert_eq!(store.doc_heads(&doc).unwrap(), Some(heads));
        let summary = store.scope_summary(&school()).unwrap();
        assert_eq!(summary.log_head, head_before + 1);
        assert_eq!(
            store.document_log_seq(&doc).unwrap(),
            Some(summary.log_head)
        );
        assert_digest_matches_log(&store, &school());
    }
    let store = SledStore::open(directory.path()).unwrap();
    assert_eq!(read(&store, &doc, "count"), Some(1));
    // A second edit builds on the reloaded document.
    store
        .edit_document(&doc, |document| set(document, "count", 2))
        .unwrap();
    assert_eq!(read(&store, &doc, "count"), Some(2));
    assert_digest_matches_log(&store, &school());
}

#[test]
fn an_edit_that_changes_nothing_writes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let store = SledStore::open(directory.path()).unwrap();
    let doc = doc_id(&school(), "notes");
    store
        .edit_document(&doc, |document| set(document, "count", 1))
        .unwrap();
    let head_before = store.scope_summary(&school()).unwrap().log_head;
    let (_, heads) = store
        .edit_document(&doc, |_document| Ok::<_, AutomergeError>(()))
        .unwrap();
    assert_eq!(heads, None);
    assert_eq!(
        store.scope_summary(&school()).unwrap().log_head,
        head_before
    );
    // A new document that the edit leaves empty is not created.
    let untouched = doc_id(&school(), "untouched");
    store
        .edit_document(&untouched, |_document| Ok::<_, AutomergeError>(()))
        .unwrap();
    assert_eq!(store.doc_heads(&untouched).unwrap(), None);
}

#[test]
fn a_refused_abandoned_or_panicking_edit_leaves_the_document_as_stored() {
    let directory = tempfile::tempdir().unwrap();
    let store = SledStore::open(directory.path()).unwrap();
    let doc = doc_id(&school(), "notes");
    store
        .edit_document(&doc, |document| set(document, "count", 1))
        .unwrap();
    let head_before = store.scope_summary(&school()).unwrap().log_head;
    let heads_before = store.doc_heads(&doc).unwrap();

    // Refused before any transaction.
    let refused = store.edit_document(&doc, |_document| Err::<(), _>("not allowed"));
    assert!(matches!(refused, Err(EditError::Rejected("not allowed"))));
    // Refused after committing anyway: the committed change is dropped with the loaded copy.
    let abandoned = store.edit_document(&doc, |document| {
        set(document, "count", 99).unwrap();
        Err::<(), _>("changed my mind")
    });
    assert!(matches!(abandoned, Err(EditError::Rejected(_))));
    // Panicking in the middle of a transaction.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.edit_document(&doc, |document| {
            set(document, "count", 98).unwrap();
            panic!("a bug in the edit");
            #[allow(unreachable_code)]
            Ok::<(), AutomergeError>(())
        })
    }));
    assert!(panicked.is_err());

    assert_eq!(read(&store, &doc, "count"), Some(1));
    assert_eq!(store.doc_heads(&doc).unwrap(), heads_before);
    assert_eq!(
        store.scope_summary(&school()).unwrap().log_head,
        head_before
    );
    // The document's lock survived the panic: edits go on.
    store
        .edit_document(&doc, |document| set(document, "count", 3))
        .unwrap();
    assert_eq!(read(&store, &doc, "count"), Some(3));
    assert_digest_matches_log(&store, &school());
}

#[test]
fn concurrent_edits_of_one_and_of_many_documents_all_land() {
    const THREADS: usize = 4;
    const EDITS_PER_THREAD: i64 = 50;
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(directory.path()).unwrap());
    let shared = doc_id(&school(), "shared");
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = store.clone();
            let shared = shared.clone();
            std::thread::spawn(move || {
                let own = doc_id(&school(), &format!("own-{thread}"));
                for edit in 0..EDITS_PER_THREAD {
                    store
                        .edit_document(&shared, |document| {
                            set(document, &format!("thread-{thread}"), edit)
                        })
                        .unwrap();
                    store
                        .edit_document(&own, |document| set(document, "count", edit))
                        .unwrap();
                    store.wait_durable().unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    for thread in 0..THREADS {
        assert_eq!(
            read(&store, &shared, &format!("thread-{thread}")),
            Some(EDITS_PER_THREAD - 1)
        );
        let own = doc_id(&school(), &format!("own-{thread}"));
        assert_eq!(read(&store, &own, "count"), Some(EDITS_PER_THREAD - 1));
    }
    // Every edit was its own write in the log: one sequence number each.
    let summary = store.scope_summary(&school()).unwrap();
    assert_eq!(
        summary.log_head,
        2 * THREADS as u64 * EDITS_PER_THREAD as u64
    );
    assert_digest_matches_log(store.as_ref(), &school());
}

#[test]
fn a_change_counter_counts_the_writes_of_its_family_only() {
    let directory = tempfile::tempdir().unwrap();
    let store = SledStore::open(directory.path()).unwrap();
    let roster = store.change_counter(&["roster-", "class-"]);
    let before = roster.get();
    store
        .edit_document(&doc_id(&school(), "submission-a-p01"), |document| {
            set(document, "draft", 1)
        })
        .unwrap();
    assert_eq!(roster.get(), before, "a draft is not a roster write");
    store
        .edit_document(&doc_id(&school(), "class-7a"), |document| {
            set(document, "size", 25)
        })
        .unwrap();
    assert_eq!(roster.get(), before + 1);
    // Changes from a peer count too.
    let mut peer = common::editor(7);
    let (change, _) = common::edit(&mut peer, "name", 1);
    store
        .apply_changes(&doc_id(&school(), "roster-users"), vec![change])
        .unwrap();
    assert_eq!(roster.get(), before + 2);
}

#[test]
fn the_document_count_follows_new_documents_across_a_reopen() {
    let directory = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(directory.path()).unwrap();
        assert_eq!(store.document_count(), 0);
        for (name, value) in [("a", 1), ("b", 1), ("a", 2)] {
            store
                .edit_document(&doc_id(&school(), name), |document| {
                    set(document, "count", value)
                })
                .unwrap();
        }
        assert_eq!(
            store.document_count(),
            2,
            "the second write of a is no new document"
        );
        let mut peer = common::editor(9);
        let (change, _) = common::edit(&mut peer, "name", 1);
        store
            .apply_changes(&doc_id(&common::municipality(), "c"), vec![change])
            .unwrap();
        assert_eq!(store.document_count(), 3);
        store.wait_durable().unwrap();
    }
    let store = SledStore::open(directory.path()).unwrap();
    assert_eq!(store.document_count(), 3);
}
