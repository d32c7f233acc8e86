//! Replicas whose store went back in time, with the real `digione-relay` and `digione-node`
//! processes and the fault-injecting proxy between them (see `tests/src/fleet.rs`).
//!
//! A store goes back in time when a disk is replaced and the node rebuilt under its old id, or when
//! a data directory is restored from a copy taken earlier. Its peer still remembers what they last
//! shared (shared heads, cursors), and that memory is now wrong: the peer believes the restored
//! replica holds what it lost. Each scenario checks that what was lost comes back from the peer,
//! that nothing claims to be in sync before it has, and ends, like the outage scenarios, by
//! stopping every process and checking on disk that the replicas converged and that every
//! acknowledged write (the [`Ledger`]) is at its node and at the relay.
//!
//! The writes are message threads a teacher writes through the JSON API, each message with a
//! marker only it contains, and a file shared as class material. Each scenario prints one
//! `SCENARIO` line with its figures. The proxy's seed is random per run and printed;
//! `DIGIONE_FAULT_SEED=N` replays a seed's fault decisions.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use sync_protocol::ids::DocId;
use tests::fleet::{
    ApiSession, CONVERGENCE_TIMEOUT, Fleet, POLL_INTERVAL, RESTORE_TIMEOUT, Replica, SCHOOL_A,
    SCHOOL_B, SchoolNode, claims_in_sync, copy_directory, restore_directory, school_scope,
    wait_until,
};
use tests::ledger::Ledger;

/// The teacher of class 7A at school 30076 (T01), who writes the threads there.
const TEACHER_A: &str = "leena.korhonen";
/// Whom the teacher at 30076 writes to: the guardians G01–G06, a colleague and the principal.
/// A teacher may start a thread with anyone of the school.
const PARTICIPANTS_A: &[&str] = &["G01", "G02", "G03", "G04", "G05", "G06", "T02", "ADM01"];
/// The teacher of class 8A at school 30077 (T21).
const TEACHER_B: &str = "olli.virtanen";
/// Whom the teacher at 30077 writes to: the guardian G21 and the principal.
const PARTICIPANTS_B: &[&str] = &["G21", "ADM21"];

/// The class at 30076 whose materials get the shared files.
const CLASS_A: &str = "CLS-7A-MA";

/// From starting a writer until the share of its writes that a test waits for is acknowledged:
/// hundreds of messages, each three durable documents (the thread and two inboxes), on a loaded
/// two-core machine, with processes killed and restarted meanwhile.
const WRITING_TIMEOUT: Duration = Duration::from_secs(90);

fn seed() -> u64 {
    std::env::var("DIGIONE_FAULT_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random)
}

/// Content that differs per file, so each upload is its own blob.
fn file_content(index: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|offset| ((offset * 31 + index * 7919) % 251) as u8)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Threads written and read back through the API.

/// One thread as the node acknowledged it: its subject (when this test started it) and the
/// bodies of its acknowledged messages, oldest first.
#[derive(Debug, Default, Clone)]
struct AcknowledgedThread {
    subject: Option<String>,
    bodies: Vec<String>,
}

/// The threads a teacher wrote at one school, by thread id, as acknowledged.
#[derive(Debug, Default)]
struct Conversations {
    threads: BTreeMap<String, AcknowledgedThread>,
    writes: usize,
}

impl Conversations {
    fn merge(&mut self, other: Conversations) {
        for (id, thread) in other.threads {
            let kept = self.threads.entry(id).or_default();
            if kept.subject.is_none() {
                kept.subject = thread.subject;
            }
            kept.bodies.extend(thread.bodies);
        }
        self.writes += other.writes;
    }

    fn thread_ids(&self) -> Vec<String> {
        self.threads.keys().cloned().collect()
    }

    fn messages(&self) -> usize {
        self.threads
            .values()
            .map(|thread| thread.bodies.len())
            .sum()
    }

    /// Records every subject and message body in `ledger` as written at `school`.
    fn record_in(&self, ledger: &mut Ledger, school: &str) {
        for thread in self.threads.values() {
            if let Some(subject) = &thread.subject {
                ledger.record(school, school_scope(school), subject.clone());
            }
            for body in &thread.bodies {
                ledger.record(school, school_scope(school), body.clone());
            }
        }
    }

    /// What of these threads `reader` cannot read yet: `None` when every thread answers with its
    /// subject and every acknowledged message, else the first thread that does not.
    async fn first_unreadable(&self, reader: &ApiSession) -> Option<String> {
        for (id, thread) in &self.threads {
            let response = match reader
                .try_send(reqwest::Method::GET, &format!("/api/v1/threads/{id}"), None)
                .await
            {
                Ok(response) => response,
                Err(error) => return Some(format!("thread {id}: no answer: {error}")),
            };
            if response.status != 200 {
                return Some(format!(
                    "thread {id}: {} {}",
                    response.status, response.body
                ));
            }
            if let Some(problem) = thread.problem_in(&response.body) {
                return Some(format!("thread {id}: {problem}"));
            }
        }
        None
    }

    /// Asserts that `reader` reads every thread whole; returns how many messages were checked.
    async fn assert_readable(&self, reader: &ApiSession, at: &str) -> usize {
        if let Some(problem) = self.first_unreadable(reader).await {
            panic!(
                "{} cannot read every thread at {at}: {problem}",
                reader.username
            );
        }
        self.messages()
    }
}

impl AcknowledgedThread {
    /// What the API's view of the thread lacks of what was acknowledged, if anything.
    fn problem_in(&self, view: &Json) -> Option<String> {
        if let Some(subject) = &self.subject
            && view["subject"] != subject.as_str()
        {
            return Some(format!(
                "subject {} instead of {subject:?}",
                view["subject"]
            ));
        }
        let shown: BTreeSet<&str> = view["messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .filter_map(|message| message["body"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        self.bodies
            .iter()
            .find(|body| !shown.contains(body.as_str()))
            .map(|missing| format!("acknowledged message {missing:?} is missing"))
    }
}

/// A run of new threads for one writer: threads numbered `first..first + count`, each opened with
/// a first message and followed by `replies` more, the participants taken in turn.
#[derive(Debug, Clone, Copy)]
struct ThreadPlan {
    school: &'static str,
    /// Which phase of the scenario wrote it (`A`, `B`, `C`), in every marker.
    phase: &'static str,
    participants: &'static [&'static str],
    first: usize,
    count: usize,
    replies: usize,
}

impl ThreadPlan {
    fn writes(&self) -> usize {
        self.count * (1 + self.replies)
    }
}

/// How a writer ended: the threads it got acknowledged, and the number of the thread it was
/// writing when the node stopped answering (`None` when the plan was done).
struct Written {
    conversations: Conversations,
    interrupted_at: Option<usize>,
}

/// Writes `plan` as `teacher`, counting each acknowledged write in `progress`. A request that gets
/// no answer (the node was killed) ends the run: it may or may not be stored, so it is not
/// recorded. Any answer other than success is a failure of the test.
async fn write_threads(
    teacher: ApiSession,
    plan: ThreadPlan,
    progress: Arc<AtomicUsize>,
) -> Written {
    let mut conversations = Conversations::default();
    let school = plan.school;
    let phase = plan.phase;
    for number in plan.first..plan.first + plan.count {
        let participant = plan.participants[number % plan.participants.len()];
        let subject = format!("{phase}: keskustelu {number} ({school})");
        let first = format!("{phase}: viesti {number}.0 ({school})");
        let started = teacher
            .try_send(
                reqwest::Method::POST,
                "/api/v1/threads",
                Some(json!({ "participants": [participant], "subject": subject, "body": first })),
            )
            .await;
        let thread = match started {
            Ok(response) if response.acknowledged() => response.body["id"]
                .as_str()
                .expect("a started thread has an id")
                .to_owned(),
            Ok(response) => panic!(
                "starting thread {number} at {school}: {} {}",
                response.status, response.body
            ),
            Err(_) => {
                return Written {
                    conversations,
                    interrupted_at: Some(number),
                };
            }
        };
        let acknowledged = conversations.threads.entry(thread.clone()).or_default();
        acknowledged.subject = Some(subject);
        acknowledged.bodies.push(first);
        conversations.writes += 1;
        progress.fetch_add(1, Ordering::SeqCst);
        for reply in 1..=plan.replies {
            let body = format!("{phase}: viesti {number}.{reply} ({school})");
            match teacher
                .try_send(
                    reqwest::Method::POST,
                    &format!("/api/v1/threads/{thread}/messages"),
                    Some(json!({ "body": body })),
                )
                .await
            {
                Ok(response) if response.acknowledged() => {
                    let acknowledged = conversations
                        .threads
                        .get_mut(&thread)
                        .expect("the thread was recorded when it started");
                    acknowledged.bodies.push(body);
                    conversations.writes += 1;
                    progress.fetch_add(1, Ordering::SeqCst);
                }
                Ok(response) => panic!(
                    "message {number}.{reply} at {school}: {} {}",
                    response.status, response.body
                ),
                Err(_) => {
                    return Written {
                        conversations,
                        interrupted_at: Some(number),
                    };
                }
            }
        }
    }
    Written {
        conversations,
        interrupted_at: None,
    }
}

/// Writes `plan` at a node that nobody kills meanwhile.
async fn write_threads_undisturbed(teacher: &ApiSession, plan: ThreadPlan) -> Conversations {
    let written = write_threads(teacher.clone(), plan, Arc::new(AtomicUsize::new(0))).await;
    assert!(
        written.interrupted_at.is_none(),
        "the node at {} stopped answering while nobody stopped it",
        plan.school
    );
    written.conversations
}

/// Posts one message, marked with `phase`, in each of `threads` as `teacher`.
async fn reply_to_threads(
    teacher: &ApiSession,
    school: &str,
    phase: &str,
    threads: &[String],
) -> Conversations {
    let mut conversations = Conversations::default();
    for (index, thread) in threads.iter().enumerate() {
        let body = format!("{phase}: vastaus {index} ({school})");
        teacher
            .post(
                &format!("/api/v1/threads/{thread}/messages"),
                json!({ "body": body }),
            )
            .await;
        conversations
            .threads
            .entry(thread.clone())
            .or_default()
            .bodies
            .push(body);
        conversations.writes += 1;
    }
    conversations
}

/// Uploads `bytes` as `teacher` and shares the file as material of class 7A titled `title`;
/// returns the blob id and the path to download it from. Both the title and the blob id are
/// recorded in `ledger` (the blob id is in the materials document).
async fn share_file(
    teacher: &ApiSession,
    ledger: &mut Ledger,
    title: &str,
    bytes: Vec<u8>,
) -> (String, String) {
    let file = teacher.upload(&format!("{title}.pdf"), bytes).await;
    let blob = file["blob"].as_str().expect("blob id").to_owned();
    let material = teacher
        .post(
            &format!("/api/v1/classes/{CLASS_A}/materials"),
            json!({ "title": title, "kind": "file", "file": file }),
        )
        .await;
    let download_path = material["download_path"]
        .as_str()
        .unwrap_or_else(|| panic!("a shared file has a download path: {material}"))
        .to_owned();
    ledger.record(SCHOOL_A, school_scope(SCHOOL_A), title);
    ledger.record(SCHOOL_A, school_scope(SCHOOL_A), blob.clone());
    (blob, download_path)
}

/// Waits until `reader` downloads exactly `bytes` from `path` (a restored node may get a file after
/// the document naming it); returns how long that took.
async fn wait_for_file(reader: &ApiSession, path: &str, bytes: &[u8], what: &str) -> Duration {
    let waited = wait_until(what, RESTORE_TIMEOUT, || async {
        matches!(
            reader.try_send(reqwest::Method::GET, path, None).await,
            Ok(response) if response.status == 200
        )
    })
    .await;
    let downloaded = reader.download(path).await;
    assert!(
        downloaded == bytes,
        "{what}: the download has {} bytes, not the {} uploaded, or differs",
        downloaded.len(),
        bytes.len()
    );
    waited
}

// ---------------------------------------------------------------------------------------------
// Watching a restore.

/// What a restoring replica's peers said while it still lacked what they had.
#[derive(Debug, Default)]
struct RestoreWatch {
    /// From the start of the watch until everything was back and said so.
    took: Duration,
    polls: usize,
    polls_while_lacking: usize,
    /// Each distinct reading of the status while something was missing, and how often it was seen.
    said_while_lacking: BTreeMap<String, usize>,
}

impl RestoreWatch {
    fn summary(&self) -> String {
        let readings: Vec<String> = self
            .said_while_lacking
            .iter()
            .map(|(reading, times)| format!("{reading} ×{times}"))
            .collect();
        format!(
            "{} polls, {} while something was missing, which said: [{}]",
            self.polls,
            self.polls_while_lacking,
            readings.join("; ")
        )
    }
}

/// The parts of a node's sync status that say whether it is in sync, in one short line.
fn reading(status: &Json) -> String {
    format!(
        "mode={} sending={} files={} receiving={} in_sync={}",
        status["mode"],
        status["documents_waiting_to_send"],
        status["blobs_waiting_to_send"],
        status["documents_waiting_to_receive"],
        claims_in_sync(status)
    )
}

/// Polls `node`'s `GET /api/v1/sync/status` until `missing` finds nothing missing and the status
/// reads in sync with nothing waiting. Whenever something is still missing, the status must not
/// read as in sync: a node that says so while it lacks the relay's documents tells school IT the
/// restore is done when it has not begun. The status is read before `missing` looks, and a
/// restore only adds, so a status that read in sync while the later look still finds a gap was
/// wrong when it was read.
async fn watch_node_restore<F, Fut>(node: &SchoolNode, mut missing: F) -> RestoreWatch
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let started = Instant::now();
    let mut watch = RestoreWatch::default();
    loop {
        let status = node.sync_status().await;
        let gap = missing().await;
        watch.polls += 1;
        match gap {
            Some(gap) => {
                watch.polls_while_lacking += 1;
                *watch
                    .said_while_lacking
                    .entry(reading(&status))
                    .or_default() += 1;
                assert!(
                    !claims_in_sync(&status),
                    "school {}'s node still lacks what the relay has ({gap}), yet its sync status reads in sync with nothing waiting, {:.1} s into the restore (poll {}): {status}; {}",
                    node.school,
                    started.elapsed().as_secs_f64(),
                    watch.polls,
                    watch.summary()
                );
            }
            None if claims_in_sync(&status) => {
                watch.took = started.elapsed();
                return watch;
            }
            None => {}
        }
        assert!(
            started.elapsed() < RESTORE_TIMEOUT,
            "timed out after {RESTORE_TIMEOUT:?} waiting until school {}'s node held everything again and said it is in sync; last status {status}; {}",
            node.school,
            watch.summary()
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// `missing` for [`watch_node_restore`] by the store's document count: what is missing while
/// `node` holds fewer documents than `expected`.
async fn fewer_documents_than(node: &SchoolNode, expected: u64) -> Option<String> {
    let held = node.store_documents().await;
    (held < expected).then(|| format!("it holds {held} of {expected} documents"))
}

/// Polls the convergence claim of `schools`' nodes and the relay (what [`Fleet::wait_converged`]
/// waits for) until the relay holds `expected` documents and the claim holds. While the relay
/// holds fewer, the claim must not hold: nodes and relay saying nothing waits while the relay lacks
/// documents the nodes have is the off-site copy silently incomplete. The claim is read before the
/// count, as in [`watch_node_restore`].
async fn watch_relay_restore(fleet: &Fleet, schools: &[&str], expected: u64) -> RestoreWatch {
    let started = Instant::now();
    let mut watch = RestoreWatch::default();
    loop {
        let behind = fleet.first_not_converged(schools).await;
        let held = fleet.relay.store_documents().await;
        watch.polls += 1;
        if held < expected {
            watch.polls_while_lacking += 1;
            let said = match &behind {
                Some(_) => "something waits".to_owned(),
                None => "every node and the relay report nothing waiting".to_owned(),
            };
            *watch.said_while_lacking.entry(said).or_default() += 1;
            assert!(
                behind.is_some(),
                "the relay holds {held} of the {expected} documents the nodes have, yet every node and the relay report nothing waiting either way, {:.1} s into the restore (poll {}); {}",
                started.elapsed().as_secs_f64(),
                watch.polls,
                watch.summary()
            );
        } else if behind.is_none() {
            watch.took = started.elapsed();
            return watch;
        }
        assert!(
            started.elapsed() < RESTORE_TIMEOUT,
            "timed out after {RESTORE_TIMEOUT:?} waiting until the relay held its {expected} documents again (it holds {held}) and every replica reported in sync; last seen: {}; {}",
            behind.unwrap_or_else(|| "in sync".to_owned()),
            watch.summary()
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The documents of a replica on disk, by id.
fn document_ids(heads: &BTreeMap<DocId, Vec<automerge::ChangeHash>>) -> BTreeSet<DocId> {
    heads.keys().cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// Size of the file shared before the disk is lost: several hundred QUIC datagrams.
const REBUILT_FILE_BYTES: usize = 300 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_rebuilt_under_its_old_id_as_the_guides_say_gets_its_whole_school_back() {
    let started = Instant::now();
    let mut fleet = Fleet::start("rebuilt-node", seed()).await;
    let mut ledger = Ledger::default();
    let teacher = fleet.school(SCHOOL_A).login(TEACHER_A).await;
    let file_bytes = file_content(11, REBUILT_FILE_BYTES);
    let (blob, download_path) = share_file(
        &teacher,
        &mut ledger,
        "Syksyn lukujärjestys (30076)",
        file_bytes.clone(),
    )
    .await;

    // The teacher writes 60 threads of five messages; meanwhile the relay is SIGKILLed twice and
    // the node once, each restarted at once. The writer runs on its own task so that the node
    // dies in the middle of its requests, as it would in a power cut.
    let plan = ThreadPlan {
        school: SCHOOL_A,
        phase: "A",
        participants: PARTICIPANTS_A,
        first: 0,
        count: 60,
        replies: 4,
    };
    let planned = plan.writes();
    let progress = Arc::new(AtomicUsize::new(0));
    let writing_started = Instant::now();
    let mut writer = tokio::spawn(write_threads(teacher.clone(), plan, progress.clone()));
    let acknowledged_at_least = |share: usize| {
        let progress = progress.clone();
        move || {
            let progress = progress.clone();
            async move { progress.load(Ordering::SeqCst) >= share }
        }
    };
    wait_until(
        "a quarter of the writes are acknowledged",
        WRITING_TIMEOUT,
        acknowledged_at_least(planned / 4),
    )
    .await;
    fleet.crash_and_restart_relay().await;
    let mut relay_kills = 1;
    wait_until(
        "half of the writes are acknowledged",
        WRITING_TIMEOUT,
        acknowledged_at_least(planned / 2),
    )
    .await;
    fleet.school_mut(SCHOOL_A).crash_and_restart().await;
    let first_run = writer.await.expect("the writer runs");
    let mut conversations = first_run.conversations;
    let node_kill_interrupted = first_run.interrupted_at.is_some();
    // The writer carries on at the restarted node (a new port, so a new login) with the next
    // thread: the one it was writing may hold an unanswered message, which proves nothing.
    if let Some(interrupted) = first_run.interrupted_at {
        let teacher = fleet.school(SCHOOL_A).login(TEACHER_A).await;
        let rest = ThreadPlan {
            first: interrupted + 1,
            count: plan.first + plan.count - interrupted - 1,
            ..plan
        };
        writer = tokio::spawn(write_threads(teacher, rest, progress.clone()));
        wait_until(
            "three quarters of the writes are acknowledged",
            WRITING_TIMEOUT,
            acknowledged_at_least(planned * 3 / 4),
        )
        .await;
        fleet.crash_and_restart_relay().await;
        relay_kills += 1;
        let second_run = writer.await.expect("the writer runs");
        assert!(
            second_run.interrupted_at.is_none(),
            "the node stopped answering although only the relay was killed"
        );
        conversations.merge(second_run.conversations);
    }
    let writing = writing_started.elapsed();
    conversations.record_in(&mut ledger, SCHOOL_A);
    let converged_before = fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;

    // The disk fails. What it held, which the relay holds too (both reported in sync above, and
    // nothing was written since), is what the rebuilt node must get back.
    let old_node_id = fleet.school(SCHOOL_A).node_id.clone();
    fleet.school_mut(SCHOOL_A).process.kill();
    let lost = fleet.school(SCHOOL_A).replica_on_disk();
    let lost_documents = document_ids(&lost.heads);
    drop(lost);
    let expected_documents = lost_documents.len() as u64;

    let rebuild_started = Instant::now();
    let rebuilt = fleet.rebuild_school_under_same_id(SCHOOL_A).await;
    assert_eq!(
        rebuilt.node_id, old_node_id,
        "`enrol --node` keeps the node's id"
    );
    let serving_after = rebuild_started.elapsed();
    let watch = watch_node_restore(rebuilt, || {
        fewer_documents_than(rebuilt, expected_documents)
    })
    .await;

    // The passwords are in the school's documents: the teacher logs in with the old one.
    let teacher = rebuilt.login(TEACHER_A).await;
    let messages_read = conversations
        .assert_readable(&teacher, "the rebuilt node")
        .await;
    let file_back = wait_for_file(
        &teacher,
        &download_path,
        &file_bytes,
        "the shared file is back at the rebuilt node, whole",
    )
    .await;
    let restored_in = rebuild_started.elapsed();
    let converged_after = fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;

    let report = fleet.proxy.report();
    fleet.stop_all().await;
    let replicas = fleet.replicas();
    let compared = replicas.assert_converged(&[SCHOOL_A, SCHOOL_B]);
    let checked = ledger.assert_everywhere(&replicas);
    let at_rebuilt = document_ids(&replicas.schools[SCHOOL_A].heads);
    let at_relay = document_ids(&replicas.relay.heads);
    let missing: Vec<&DocId> = lost_documents
        .iter()
        .filter(|doc| !at_rebuilt.contains(*doc) || !at_relay.contains(*doc))
        .collect();
    assert!(
        missing.is_empty(),
        "documents the lost disk held are not at both the rebuilt node and the relay: {missing:?}"
    );
    for (replica, name) in [
        (&replicas.schools[SCHOOL_A], "the rebuilt node"),
        (&replicas.relay, "the relay"),
    ] {
        assert_eq!(
            replica.blob_len(&blob),
            Some(REBUILT_FILE_BYTES as u64),
            "{name} holds the shared file whole"
        );
    }
    eprintln!(
        "SCENARIO rebuilt-node: the teacher at 30076 got {} writes acknowledged ({} threads, {messages_read} messages, plus a {} KiB file shared) in {:.1} s while the relay was SIGKILLed {relay_kills} times and the node once{}; in sync {:.1} s later; the disk was lost and the node rebuilt under its old id {old_node_id} as the guides say (`enrol --node`, `init --token` on an empty data directory, `serve`), serving {:.1} s after the rebuild began; its store held the {expected_documents} documents of the lost disk and its status read in sync {:.1} s after it served ({}); the teacher logged in with the old password, read all {} threads whole and downloaded the file byte for byte ({:.1} s after the documents), {:.1} s after the rebuild began; in sync {:.1} s later (limit {}s); on disk {compared} documents identical at both nodes and the relay, every document of the lost disk at the rebuilt node and the relay, all {checked} acknowledged writes at their node and the relay; total {:.1} s; {report}",
        conversations.writes,
        conversations.threads.len(),
        REBUILT_FILE_BYTES / 1024,
        writing.as_secs_f64(),
        if node_kill_interrupted {
            " (the node's kill cut a request short)"
        } else {
            ""
        },
        converged_before.as_secs_f64(),
        serving_after.as_secs_f64(),
        watch.took.as_secs_f64(),
        watch.summary(),
        conversations.threads.len(),
        file_back.as_secs_f64(),
        restored_in.as_secs_f64(),
        converged_after.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64()
    );
}

/// Size of the file shared after the copy was taken, which the restored node lost.
const NODE_RESTORE_FILE_BYTES: usize = 200 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_an_earlier_copy_of_its_data_directory_gets_the_later_writes_back() {
    let started = Instant::now();
    let mut fleet = Fleet::start("restored-node", seed()).await;
    let mut ledger = Ledger::default();
    let teacher = fleet.school(SCHOOL_A).login(TEACHER_A).await;
    let plan = |phase, first, count| ThreadPlan {
        school: SCHOOL_A,
        phase,
        participants: PARTICIPANTS_A,
        first,
        count,
        replies: 2,
    };
    let written_a = write_threads_undisturbed(&teacher, plan("A", 0, 10)).await;
    written_a.record_in(&mut ledger, SCHOOL_A);
    fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;

    // The backup: the node is stopped with SIGTERM, as a service manager stops it for a backup, so
    // the copy is of a store closed cleanly. (A copy after SIGKILL would test crash recovery as
    // well, which the crash scenarios cover; this one isolates the store going back in time.)
    let node_dir = fleet.school(SCHOOL_A).data_dir.clone();
    let backup = fleet.root.join("node-30076-backup");
    fleet.school_mut(SCHOOL_A).process.stop().await;
    copy_directory(&node_dir, &backup);
    fleet.school_mut(SCHOOL_A).start().await;
    fleet.school(SCHOOL_A).wait_online().await;

    // Writes B: new threads, replies in A's threads (documents the copy holds at older heads) and
    // a shared file. They reach the relay before the node goes back in time.
    let teacher = fleet.school(SCHOOL_A).login(TEACHER_A).await;
    let mut written_b = write_threads_undisturbed(&teacher, plan("B", 10, 10)).await;
    written_b.merge(reply_to_threads(&teacher, SCHOOL_A, "B", &written_a.thread_ids()).await);
    written_b.record_in(&mut ledger, SCHOOL_A);
    let file_bytes = file_content(5, NODE_RESTORE_FILE_BYTES);
    let (blob, download_path) = share_file(
        &teacher,
        &mut ledger,
        "Kevään retkisuunnitelma (30076)",
        file_bytes.clone(),
    )
    .await;
    fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;

    // The data directory is put back as the copy left it, and the node started on it.
    fleet.school_mut(SCHOOL_A).process.stop().await;
    let documents_before_restore = fleet.school(SCHOOL_A).replica_on_disk().heads.len();
    restore_directory(&node_dir, &backup);
    let restore_started = Instant::now();
    fleet.school_mut(SCHOOL_A).start().await;
    let node = fleet.school(SCHOOL_A);
    // The copy holds the sessions of its time, not the ones since: the teacher logs in again.
    let teacher = node.login(TEACHER_A).await;
    // Writes C at once, while B is still to come back: a thread of its own and a reply in each of
    // A's threads, which the node writes on top of the old heads it went back to.
    let mut written_c = write_threads_undisturbed(&teacher, plan("C", 20, 1)).await;
    written_c.merge(reply_to_threads(&teacher, SCHOOL_A, "C", &written_a.thread_ids()).await);

    // B is missing while any of its threads, or A's threads with B's replies, cannot be read
    // whole: a stronger measure than a document count, which cannot see messages added to a
    // document the copy holds already.
    let watch = watch_node_restore(node, || written_b.first_unreadable(&teacher)).await;
    let file_back = wait_for_file(
        &teacher,
        &download_path,
        &file_bytes,
        "the file shared after the copy is back at the restored node, whole",
    )
    .await;
    // C after B is back: a reply in one of B's threads, which only exists at the node again now.
    let b_threads: Vec<String> = written_b
        .threads
        .iter()
        .filter(|(_, thread)| thread.subject.is_some())
        .map(|(id, _)| id.clone())
        .take(1)
        .collect();
    written_c.merge(reply_to_threads(&teacher, SCHOOL_A, "C after B", &b_threads).await);
    written_c.record_in(&mut ledger, SCHOOL_A);
    let converged = fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;
    let restored_in = restore_started.elapsed();
    let node = fleet.school(SCHOOL_A);
    let teacher = node.login(TEACHER_A).await;
    let mut everything = Conversations::default();
    for written in [&written_a, &written_b, &written_c] {
        for (id, thread) in &written.threads {
            let kept = everything.threads.entry(id.clone()).or_default();
            if kept.subject.is_none() {
                kept.subject = thread.subject.clone();
            }
            kept.bodies.extend(thread.bodies.iter().cloned());
        }
    }
    let messages_read = everything
        .assert_readable(&teacher, "the restored node")
        .await;

    let report = fleet.proxy.report();
    fleet.stop_all().await;
    let replicas = fleet.replicas();
    let compared = replicas.assert_converged(&[SCHOOL_A, SCHOOL_B]);
    let checked = ledger.assert_everywhere(&replicas);
    for (replica, name) in [
        (&replicas.schools[SCHOOL_A], "the restored node"),
        (&replicas.relay, "the relay"),
    ] {
        assert_eq!(
            replica.blob_len(&blob),
            Some(NODE_RESTORE_FILE_BYTES as u64),
            "{name} holds the file shared after the copy whole"
        );
    }
    eprintln!(
        "SCENARIO restored-node: 30076 acknowledged {} writes A, was stopped with SIGTERM and its data directory copied, then acknowledged {} writes B (new threads and replies in A's) and a {} KiB file, all at the relay; stopped again ({documents_before_restore} documents), its data directory replaced by the copy and started; {} writes C at once on the restored node; B was readable whole and the status read in sync {:.1} s after the start ({}), the file downloaded byte for byte {:.1} s after that; in sync with C at the relay {:.1} s after the start (wait {:.1} s, limit {}s); the teacher read {} threads ({messages_read} messages) whole; on disk {compared} documents identical at both nodes and the relay, all {checked} acknowledged writes at their node and the relay; total {:.1} s; {report}",
        written_a.writes,
        written_b.writes,
        NODE_RESTORE_FILE_BYTES / 1024,
        written_c.writes,
        watch.took.as_secs_f64(),
        watch.summary(),
        file_back.as_secs_f64(),
        restored_in.as_secs_f64(),
        converged.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        everything.threads.len(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_restored_from_an_earlier_copy_gets_the_later_writes_back_from_the_nodes() {
    let started = Instant::now();
    let mut fleet = Fleet::start("restored-relay", seed()).await;
    let mut ledger = Ledger::default();
    let schools = [
        (SCHOOL_A, TEACHER_A, PARTICIPANTS_A),
        (SCHOOL_B, TEACHER_B, PARTICIPANTS_B),
    ];
    let plan = |school, participants, phase, first| ThreadPlan {
        school,
        phase,
        participants,
        first,
        count: 8,
        replies: 2,
    };
    let mut written_a = BTreeMap::new();
    for (school, teacher, participants) in schools {
        let teacher = fleet.school(school).login(teacher).await;
        let written = write_threads_undisturbed(&teacher, plan(school, participants, "A", 0)).await;
        written.record_in(&mut ledger, school);
        written_a.insert(school, written);
    }
    fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;

    // The relay's backup, taken with the relay stopped by SIGTERM (a clean store, as for the node).
    let relay_dir = fleet.relay.data_dir.clone();
    let backup = fleet.root.join("relay-backup");
    fleet.stop_relay().await;
    copy_directory(&relay_dir, &backup);
    fleet.start_relay().await;

    // Writes B at both schools: new threads and replies in A's threads; they reach the relay.
    let mut written_b = BTreeMap::new();
    for (school, teacher, participants) in schools {
        let teacher = fleet.school(school).login(teacher).await;
        let mut written =
            write_threads_undisturbed(&teacher, plan(school, participants, "B", 8)).await;
        written
            .merge(reply_to_threads(&teacher, school, "B", &written_a[school].thread_ids()).await);
        written.record_in(&mut ledger, school);
        written_b.insert(school, written);
    }
    fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;

    // The relay's data directory goes back to the copy: it loses B, which only the nodes hold now.
    fleet.stop_relay().await;
    let expected_documents = fleet.relay.replica_on_disk().heads.len() as u64;
    // The copy is inspected through a copy of its own: opening a store may write to it.
    let inspected = fleet.root.join("relay-backup-inspected");
    copy_directory(&backup, &inspected);
    let documents_in_copy = Replica::read("relay backup", &inspected.join("store"))
        .heads
        .len() as u64;
    assert!(
        documents_in_copy < expected_documents,
        "the copy lacks B's new threads ({documents_in_copy} of {expected_documents} documents)"
    );
    restore_directory(&relay_dir, &backup);
    let restore_started = Instant::now();
    fleet.start_relay().await;
    let watch = watch_relay_restore(&fleet, &[SCHOOL_A, SCHOOL_B], expected_documents).await;
    let restored_in = restore_started.elapsed();

    // Both schools' teachers still read everything at their nodes.
    let mut messages_read = 0;
    for (school, teacher, _) in schools {
        let teacher = fleet.school(school).login(teacher).await;
        messages_read += written_a[school]
            .assert_readable(&teacher, &format!("school {school}"))
            .await;
        messages_read += written_b[school]
            .assert_readable(&teacher, &format!("school {school}"))
            .await;
    }
    let writes_a: usize = written_a.values().map(|written| written.writes).sum();
    let writes_b: usize = written_b.values().map(|written| written.writes).sum();

    let report = fleet.proxy.report();
    fleet.stop_all().await;
    let replicas = fleet.replicas();
    let compared = replicas.assert_converged(&[SCHOOL_A, SCHOOL_B]);
    let checked = ledger.assert_everywhere(&replicas);
    eprintln!(
        "SCENARIO restored-relay: both schools acknowledged {writes_a} writes A, at the relay; the relay was stopped with SIGTERM and its data directory copied; {writes_b} writes B at both schools (new threads and replies in A's) reached the relay; the relay was stopped ({expected_documents} documents), its data directory replaced by the copy ({documents_in_copy} documents) and started; it held {expected_documents} again with every replica reporting in sync {:.1} s after it served ({}), {:.1} s after the start began (limit {}s); both teachers read their {messages_read} messages whole; on disk {compared} documents identical at both nodes and the relay, all {checked} acknowledged writes at their node and the relay; total {:.1} s; {report}",
        watch.took.as_secs_f64(),
        watch.summary(),
        restored_in.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64()
    );
}
