//! Acknowledged writes survive SIGKILL at random moments.
//!
//! The test re-executes its own binary as a child (selected by [`CHILD_DIRECTORY_VARIABLE`]), which
//! writes local changes and blobs from several threads through the durable write API and prints each
//! acknowledgement to stdout only after the write is on disk. The parent kills the child at a random
//! moment, reopens the store, and checks that every acknowledged write is there and that the store is
//! consistent: every document loads, each scope's digest matches its log, the epoch is unchanged, and
//! the sequence counter continues above every sequence number in the logs. Then it starts the next
//! child on the same directory.
//!
//! `DIGIONE_CRASH_ITERATIONS` sets the number of kills (default [`DEFAULT_ITERATIONS`]);
//! `DIGIONE_CRASH_SEED` replays a run's kill timings.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::str::FromStr as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ChangeHash, ROOT};
use rand::{Rng as _, SeedableRng as _};
use sync_protocol::ids::{BlobId, DocId};
use sync_protocol::store::StoreError;
use sync_store::SledStore;

use common::{assert_digest_matches_log, doc_id, edit, school};

const CHILD_DIRECTORY_VARIABLE: &str = "DIGIONE_CRASH_CHILD_DIRECTORY";
const DEFAULT_ITERATIONS: usize = 100;
/// The longest a child writes before it is killed, after it reports that the store is open.
const MAX_KILL_DELAY_MS: u64 = 50;
const CHILD_WRITER_THREADS: usize = 4;
const DOCUMENTS_PER_CHILD_THREAD: usize = 3;
/// Every this many writes a child thread edits a document in place (`edit_document`) instead of
/// committing changes made elsewhere.
const EDITS_IN_PLACE_EVERY: u64 = 3;
/// Every this many writes a child thread uploads a blob.
const WRITES_PER_BLOB: u64 = 5;
/// A child that is somehow not killed stops by itself after this long.
const CHILD_MAX_LIFETIME: Duration = Duration::from_secs(30);

#[test]
fn acknowledged_writes_survive_sigkill_at_random_moments() {
    if std::env::var_os(CHILD_DIRECTORY_VARIABLE).is_some() {
        return;
    }
    let iterations: usize = std::env::var("DIGIONE_CRASH_ITERATIONS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS);
    let seed: u64 = std::env::var("DIGIONE_CRASH_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| rand::rngs::StdRng::from_os_rng().random());
    println!("crash test: {iterations} kills, DIGIONE_CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let directory = tempfile::tempdir().unwrap();
    let mut acknowledged_changes: Vec<(DocId, ChangeHash)> = Vec::new();
    let mut acknowledged_blobs: BTreeSet<BlobId> = BTreeSet::new();
    let mut epoch = None;
    let mut parent_editor = common::editor(200);
    let parent_doc = doc_id(&school(), "parent-check");
    let began = Instant::now();

    for iteration in 0..iterations {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_child_writes_until_killed",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIRECTORY_VARIABLE, directory.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut child = KillOnDrop(child);
        let (lines_sender, lines) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match stdout.read_until(b'\n', &mut line) {
                    // Only whole lines count: a line cut by the kill was not acknowledged.
                    Ok(_) if line.ends_with(b"\n") => {
                        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                        if lines_sender.send(text).is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
        });
        // Half the kills land at any moment from start-up on (including while the store is being
        // created or opened); the other half land after the child has started writing.
        let delay = Duration::from_millis(rng.random_range(1..=MAX_KILL_DELAY_MS));
        let mut received: Vec<String> = Vec::new();
        if iteration % 2 == 1 {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let line = lines
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .expect("the child reports that the store is open");
                let ready = line == "ready";
                received.push(line);
                if ready {
                    break;
                }
            }
        }
        std::thread::sleep(delay);
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        reader.join().unwrap();
        received.extend(lines.try_iter());

        for line in &received {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields.as_slice() {
                ["change", doc, hash] => acknowledged_changes
                    .push((doc.parse().unwrap(), ChangeHash::from_str(hash).unwrap())),
                ["blob", blob] => {
                    acknowledged_blobs.insert(blob.parse().unwrap());
                }
                _ => {}
            }
        }

        let store = SledStore::open(directory.path()).unwrap_or_else(|error| {
            panic!("iteration {iteration}: the store does not open: {error}")
        });
        assert_eq!(
            *epoch.get_or_insert(store.epoch()),
            store.epoch(),
            "the epoch changed"
        );
        for (doc, hash) in &acknowledged_changes {
            assert!(
                store.contains_changes(doc, &[*hash]).unwrap(),
                "iteration {iteration}: acknowledged change {hash} of {doc} was lost"
            );
        }
        for blob in &acknowledged_blobs {
            let len = store.blob_len(blob).unwrap().expect("an acknowledged blob");
            let content = store.read_blob(blob, 0, len as usize).unwrap();
            assert_eq!(BlobId::of_content(&content), *blob);
        }
        for doc in store.document_ids().unwrap() {
            store
                .changes_since(&doc, &[])
                .unwrap_or_else(|error| panic!("iteration {iteration}: {error}"));
        }
        assert_digest_matches_log(&store, &school());
        // A write after the restart gets a sequence number above every one already in the log.
        let highest_seq = store.scope_summary(&school()).unwrap().log_head;
        let (change, _) = edit(&mut parent_editor, "iteration", iteration as i64);
        store
            .commit_local_changes(&parent_doc, vec![change])
            .unwrap();
        assert!(store.scope_summary(&school()).unwrap().log_head > highest_seq);
    }
    println!(
        "crash test: {iterations} kills, {} acknowledged changes and {} blobs all present, in {:.1} s",
        acknowledged_changes.len(),
        acknowledged_blobs.len(),
        began.elapsed().as_secs_f64()
    );
    assert!(
        !acknowledged_changes.is_empty(),
        "no child ever acknowledged a write: the kills came too early to test anything"
    );
}

/// Kills the child if the parent fails an assertion while it runs, so no writer is left behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child: does nothing unless started by the test above.
#[test]
fn crash_child_writes_until_killed() {
    let Some(directory) = std::env::var_os(CHILD_DIRECTORY_VARIABLE) else {
        return;
    };
    let store = SledStore::open(&directory).unwrap();
    // The harness has printed `test NAME ... ` without a line end; finish its line first.
    say("");
    say("ready");
    let threads: Vec<_> = (0..CHILD_WRITER_THREADS)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || write_until_killed(&store, thread))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

fn write_until_killed(store: &SledStore, thread: usize) {
    let started = Instant::now();
    let docs: Vec<DocId> = (0..DOCUMENTS_PER_CHILD_THREAD)
        .map(|index| doc_id(&school(), &format!("crash-{thread}-{index}")))
        .collect();
    // Each run continues the documents as the store has them, under a new actor.
    let mut editors: Vec<AutoCommit> = docs
        .iter()
        .map(|doc| {
            let editor = match store.document(doc).unwrap() {
                Some(loaded) => AutoCommit::load(&loaded.save()).unwrap(),
                None => AutoCommit::new(),
            };
            editor.with_actor(automerge::ActorId::random())
        })
        .collect();
    // Setting a key to the value it has is no change at all, so every run writes values of its own.
    let run_nonce = i64::from(rand::rngs::StdRng::from_os_rng().random::<u32>()) << 20;
    let mut writes = 0u64;
    while started.elapsed() < CHILD_MAX_LIFETIME {
        let index = (writes as usize) % docs.len();
        if writes % EDITS_IN_PLACE_EVERY == EDITS_IN_PLACE_EVERY - 1 {
            // The node's write path: a transaction on the store's own document.
            let value = run_nonce + writes as i64;
            let (_, heads) = store
                .edit_document(&docs[index], |document| {
                    let mut transaction = document.transaction();
                    transaction.put(ROOT, "edited", value)?;
                    transaction.commit();
                    Ok::<_, automerge::AutomergeError>(())
                })
                .unwrap();
            store.wait_durable().unwrap();
            // The edit's change is one of the heads right after it, so all of them must survive.
            for hash in heads.expect("the edit changed the document") {
                say(&format!("change {} {hash}", docs[index]));
            }
        } else {
            let (change, hash) = edit(&mut editors[index], "counter", run_nonce + writes as i64);
            let outcome: Result<_, StoreError> =
                store.commit_local_changes(&docs[index], vec![change]);
            outcome.unwrap();
            say(&format!("change {} {hash}", docs[index]));
        }
        writes += 1;
        if writes.is_multiple_of(WRITES_PER_BLOB) {
            let content = format!("upload {thread} {writes} {:?}", Instant::now()).repeat(2000);
            let blob = store.put_blob(&school(), content.as_bytes()).unwrap();
            store.wait_durable().unwrap();
            say(&format!("blob {blob}"));
        }
    }
}

/// Writes one whole line straight to stdout, so that it reaches the parent before the next write.
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(format!("{line}\n").as_bytes()).unwrap();
    stdout.flush().unwrap();
}
