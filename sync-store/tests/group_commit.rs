//! Concurrent writers waiting for durability share flushes.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Barrier};

use common::{doc_id, edit, editor, school};
use sync_store::SledStore;

const WRITER_THREADS: usize = 16;
const WRITES_PER_THREAD: usize = 20;

/// Writers that have all written before any of them waits are covered by one flush.
#[test]
fn writers_waiting_together_share_one_flush() {
    let directory = tempfile::tempdir().unwrap();
    let store = SledStore::open(directory.path()).unwrap();
    let flushes_before = store.metrics().flushes_total;
    // Each round: everyone writes, then everyone waits, and nobody writes the next round before
    // everyone has returned, so no round's waiter can see a later round's write.
    let written = Arc::new(Barrier::new(WRITER_THREADS));
    let waited = Arc::new(Barrier::new(WRITER_THREADS));
    let threads: Vec<_> = (0..WRITER_THREADS)
        .map(|thread| {
            let store = store.clone();
            let written = Arc::clone(&written);
            let waited = Arc::clone(&waited);
            std::thread::spawn(move || {
                let doc = doc_id(&school(), &format!("thread-{thread}"));
                let mut writer = editor(thread as u8 + 1);
                for value in 0..WRITES_PER_THREAD {
                    let (change, _) = edit(&mut writer, "k", value as i64);
                    store.apply_changes(&doc, vec![change]).unwrap();
                    written.wait();
                    store.wait_durable().unwrap();
                    waited.wait();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let flushes = store.metrics().flushes_total - flushes_before;
    assert_eq!(
        flushes, WRITES_PER_THREAD as u64,
        "{WRITES_PER_THREAD} rounds of {WRITER_THREADS} writers took {flushes} flushes, not one each"
    );
}

/// Writers committing freely, each waiting for its own write, still share flushes.
#[test]
fn concurrent_committers_share_flushes() {
    let directory = tempfile::tempdir().unwrap();
    let store = SledStore::open(directory.path()).unwrap();
    let flushes_before = store.metrics().flushes_total;
    let start = Arc::new(Barrier::new(WRITER_THREADS));
    let threads: Vec<_> = (0..WRITER_THREADS)
        .map(|thread| {
            let store = store.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let doc = doc_id(&school(), &format!("thread-{thread}"));
                let mut writer = editor(thread as u8 + 1);
                start.wait();
                for value in 0..WRITES_PER_THREAD {
                    let (change, hash) = edit(&mut writer, "k", value as i64);
                    store.commit_local_changes(&doc, vec![change]).unwrap();
                    assert!(store.contains_changes(&doc, &[hash]).unwrap());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let writes = WRITER_THREADS * WRITES_PER_THREAD;
    let flushes = (store.metrics().flushes_total - flushes_before) as usize;
    println!("{writes} durable writes from {WRITER_THREADS} threads took {flushes} flushes");
    // How much they share depends on how long a flush takes against a write: in a debug build on a
    // fast disk the writes themselves dominate and about two writers share a flush; in a release
    // build the example `group_commit` measures several per flush. Only strictly fewer is certain.
    assert!(
        flushes < writes,
        "{writes} durable writes from {WRITER_THREADS} threads took {flushes} flushes"
    );
    assert_eq!(
        store.log_after(&school(), 0, usize::MAX).unwrap().len(),
        WRITER_THREADS
    );
}

#[test]
fn a_lone_writer_flushes_once_per_durable_write() {
    let directory = tempfile::tempdir().unwrap();
    let store = SledStore::open(directory.path()).unwrap();
    let flushes_before = store.metrics().flushes_total;
    let doc = doc_id(&school(), "alone");
    let mut writer = editor(1);
    for value in 0..5 {
        let (change, _) = edit(&mut writer, "k", value);
        store.commit_local_changes(&doc, vec![change]).unwrap();
    }
    assert_eq!(store.metrics().flushes_total - flushes_before, 5);
}
