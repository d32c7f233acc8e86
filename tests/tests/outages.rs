//! A school day with outages, with the real `digione-relay` and `digione-node` processes and the
//! fault-injecting proxy between them (see `tests/src/fleet.rs` for how the fleet is set up).
//!
//! Every scenario keeps a ledger of the writes the nodes acknowledged (answered 2xx), each with a
//! string only that write put into its scope's documents. After the link is good again it waits,
//! at most [`CONVERGENCE_TIMEOUT`], until nodes and relay say nothing waits in either direction,
//! stops every process, and checks on disk that every replica holds exactly the relay's heads of
//! the scopes they share and that every acknowledged write is at its node and at the relay.
//!
//! Each scenario prints one line saying what it asserted and how long it took. The proxy's seed is
//! random per run and printed; `DIGIONE_FAULT_SEED=N` replays a seed's fault decisions.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use tests::fault_proxy::{Direction, FaultProfile};
use tests::fleet::{
    ApiSession, CONVERGENCE_TIMEOUT, Fleet, SCHOOL_A, SCHOOL_B, SchoolNode, municipality_scope,
    school_scope, wait_until,
};
use tests::ledger::{Ledger, now_millis};

/// From cutting the link until both nodes report themselves offline: three missed heartbeats of
/// one second plus the QUIC idle timeout, on a loaded machine.
const OFFLINE_TIMEOUT: Duration = Duration::from_secs(30);
/// From `digione-relay revoke` until the relay's fleet view shows the node revoked and
/// disconnected: the relay re-reads revocations every second.
const REVOCATION_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a revoked node is watched to be sure it does not get back in: many reconnection
/// attempts at the harness's one-second backoff cap.
const REVOKED_WATCH: Duration = Duration::from_secs(5);
/// How long the relay-restart scenario waits for the catch-up to have started (datagrams flowing
/// from the node towards the relay) before it kills the relay.
const CATCH_UP_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Datagrams forwarded towards the relay after the link heals before the relay is killed: enough
/// that the catch-up is under way (a 512 KiB file alone is some 400 datagrams), few enough that it
/// is far from done.
const CATCH_UP_DATAGRAMS_BEFORE_KILL: u64 = 200;

fn seed() -> u64 {
    std::env::var("DIGIONE_FAULT_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random)
}

/// A school's working day through the API: an assignment created, submitted, returned with
/// feedback; a lesson in the timetable and its attendance marked; a message thread between a
/// guardian and the teacher. Every write is recorded in `ledger` with its marker.
struct SchoolDay<'a> {
    class: &'a str,
    teacher: &'a str,
    teacher_id: &'a str,
    pupil: &'a str,
    pupil_id: &'a str,
    guardian: &'a str,
    admin: &'a str,
}

const DAY_AT_A: SchoolDay<'static> = SchoolDay {
    class: "CLS-7A-MA",
    teacher: "leena.korhonen",
    teacher_id: "T01",
    pupil: "aino.makinen01",
    pupil_id: "P01",
    guardian: "marja.makinen",
    admin: "sari.lehtonen",
};

const DAY_AT_B: SchoolDay<'static> = SchoolDay {
    class: "CLS-8A-MA",
    teacher: "olli.virtanen",
    teacher_id: "T21",
    pupil: "ilona.virtanen21",
    pupil_id: "P21",
    guardian: "kaisa.virtanen",
    admin: "tuula.rantanen",
};

impl SchoolDay<'_> {
    /// Runs the day at `node`; returns how many writes were acknowledged.
    async fn run(&self, node: &SchoolNode, ledger: &mut Ledger) -> usize {
        let school = node.school.as_str();
        let scope = school_scope(school);
        let mark = |text: &str| format!("{text} ({school})");
        let teacher = node.login(self.teacher).await;
        let pupil = node.login(self.pupil).await;
        let guardian = node.login(self.guardian).await;
        let admin = node.login(self.admin).await;
        let class = self.class;

        let title = mark("Murtoluvut");
        let assignment = teacher
            .post(
                &format!("/api/v1/classes/{class}/assignments"),
                json!({ "title": title, "instructions": "Laske.", "due_at": now_millis() + 86_400_000 }),
            )
            .await;
        let assignment = assignment["id"].as_str().expect("assignment id").to_owned();
        ledger.record(school, scope.clone(), title);

        let answer = mark("3/4, vastaus");
        pupil
            .put(
                &format!("/api/v1/assignments/{assignment}/submission"),
                json!({ "text": answer, "submit": true }),
            )
            .await;
        ledger.record(school, scope.clone(), answer);

        let feedback = mark("Oikein, hyvä");
        teacher
            .post(
                &format!(
                    "/api/v1/assignments/{assignment}/submissions/{}/return",
                    self.pupil_id
                ),
                json!({ "feedback": feedback, "grade": "10" }),
            )
            .await;
        ledger.record(school, scope.clone(), feedback);

        let room = mark("B204");
        let timetable = admin
            .put(
                &format!("/api/v1/classes/{class}/timetable/TERM-2025-S"),
                json!({ "lessons": [{ "weekday": "monday", "start": "08:15", "end": "09:00", "room": room, "teacher": self.teacher_id }] }),
            )
            .await;
        let lesson = timetable["lessons"][0]["id"]
            .as_str()
            .expect("lesson id")
            .to_owned();
        ledger.record(school, scope.clone(), room);

        let reason = mark("kipeänä");
        teacher
            .put(
                &format!("/api/v1/classes/{class}/attendance/2025-09-08/{lesson}"),
                json!({ "marks": { self.pupil_id: { "status": "absent", "reason": reason } } }),
            )
            .await;
        ledger.record(school, scope.clone(), reason);

        let first = mark("Poissaolo maanantaina");
        let thread = guardian
            .post(
                "/api/v1/threads",
                json!({ "participants": [self.teacher_id], "subject": "Poissaolo", "body": first }),
            )
            .await;
        let thread = thread["id"]
            .as_str()
            .or_else(|| thread["thread"]["id"].as_str())
            .expect("thread id")
            .to_owned();
        ledger.record(school, scope.clone(), first);
        let reply = mark("Kiitos tiedosta");
        teacher
            .post(
                &format!("/api/v1/threads/{thread}/messages"),
                json!({ "body": reply }),
            )
            .await;
        ledger.record(school, scope.clone(), reply);

        // Read back through the API at the node: the pupil sees the returned work and feedback.
        let seen = pupil
            .get(&format!(
                "/api/v1/assignments/{assignment}/submissions/{}",
                self.pupil_id
            ))
            .await;
        assert!(
            seen.to_string().contains("Oikein, hyvä"),
            "the pupil at {school} sees the feedback: {seen}"
        );
        7
    }
}

/// Stops the fleet and checks, on disk, convergence of `schools` with the relay and the ledger;
/// returns (documents compared, writes checked).
async fn stop_and_check(fleet: &mut Fleet, schools: &[&str], ledger: &Ledger) -> (usize, usize) {
    fleet.stop_all().await;
    let replicas = fleet.replicas();
    let compared = replicas.assert_converged(schools);
    let checked = ledger.assert_everywhere(&replicas);
    (compared, checked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn school_day_offline_then_every_replica_converges() {
    let started = Instant::now();
    let mut fleet = Fleet::start("school-day-offline", seed()).await;
    fleet.proxy.cut();
    for node in &fleet.schools {
        wait_until(
            &format!("school {} notices the relay is gone", node.school),
            OFFLINE_TIMEOUT,
            || async { node.sync_status().await["mode"] == "offline" },
        )
        .await;
    }

    let mut ledger = Ledger::default();
    let mut writes = 0;
    writes += DAY_AT_A.run(fleet.school(SCHOOL_A), &mut ledger).await;
    writes += DAY_AT_B.run(fleet.school(SCHOOL_B), &mut ledger).await;
    // Meanwhile the municipality's education office publishes an announcement through the relay,
    // which the schools can only get once their link is back.
    let operator = fleet.issue_operator("vantaa");
    let announcement_title = format!("Kunnan tiedote {}", now_millis());
    let announce = [
        "announce",
        "--title",
        &announcement_title,
        "--body",
        "Koulujen syyslomaviikko on viikolla 42.",
        "--author",
        "vantaa-opetustoimi",
    ];
    let announcement_id = fleet.operator(&operator, &announce).await.trim().to_owned();
    assert!(
        !announcement_id.is_empty() && announcement_id.chars().all(|c| c.is_ascii_hexdigit()),
        "the operator prints the new id: {announcement_id:?}"
    );
    // Run again (say, after a timeout at the terminal): the same announcement, not a second one.
    let again = fleet.operator(&operator, &announce).await.trim().to_owned();
    assert_eq!(again, announcement_id, "a rerun publishes nothing new");
    for school in [SCHOOL_A, SCHOOL_B] {
        ledger.record(school, municipality_scope(), announcement_title.clone());
    }
    for node in &fleet.schools {
        let status = node.sync_status().await;
        assert_eq!(
            status["mode"], "offline",
            "still offline after the day: {status}"
        );
        assert!(
            status["documents_waiting_to_send"].as_u64().unwrap_or(0) >= 4,
            "the day's documents wait to go out: {status}"
        );
    }

    fleet.proxy.heal();
    let converged = fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;
    for (node, day) in [
        (fleet.school(SCHOOL_A), &DAY_AT_A),
        (fleet.school(SCHOOL_B), &DAY_AT_B),
    ] {
        let shown = node
            .login(day.pupil)
            .await
            .get("/api/v1/announcements")
            .await;
        assert!(
            shown.to_string().contains(&announcement_title),
            "a pupil of {} does not see the municipality's announcement: {shown}",
            node.school
        );
    }
    let report = fleet.proxy.report();
    let (compared, checked) = stop_and_check(&mut fleet, &[SCHOOL_A, SCHOOL_B], &ledger).await;
    eprintln!(
        "SCENARIO school-day-offline: {writes} writes acknowledged offline at two schools and a municipality announcement published by `digione-operator` through the relay meanwhile; after healing, nodes and relay reported in sync in {:.1} s (limit {}s); on disk {compared} documents have identical heads at node and relay, neither school holds the other's, and all {checked} acknowledged writes (the announcement counted once per school) are at their node and the relay, and a pupil at each school sees the announcement; total {:.1} s; {report}",
        converged.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_link_loses_no_acknowledged_edit() {
    let started = Instant::now();
    let mut fleet = Fleet::start("lossy-link", seed()).await;
    let lossy = FaultProfile {
        drop_probability: 0.10,
        duplicate_probability: 0.10,
        delay: Duration::from_millis(2),
        jitter: Duration::from_millis(30),
        cut: false,
    };
    fleet.proxy.set_profiles(lossy);

    let mut ledger = Ledger::default();
    let mut writes = DAY_AT_A.run(fleet.school(SCHOOL_A), &mut ledger).await;
    writes += DAY_AT_B.run(fleet.school(SCHOOL_B), &mut ledger).await;
    // A burst: at each school, a teacher posts a run of messages while pupils save drafts, all at
    // once; every message is a separate record, so every acknowledged one must survive.
    let a = fleet.school(SCHOOL_A);
    let b = fleet.school(SCHOOL_B);
    let bursts = [
        (a, "leena.korhonen", "marja.makinen", "T01"),
        (b, "olli.virtanen", "kaisa.virtanen", "T21"),
    ];
    let mut tasks = Vec::new();
    for (node, teacher, guardian, teacher_id) in bursts {
        let teacher = node.login(teacher).await;
        let guardian = node.login(guardian).await;
        let thread = guardian
            .post(
                "/api/v1/threads",
                json!({ "participants": [teacher_id], "subject": "Retki", "body": format!("Retki ({})", node.school) }),
            )
            .await;
        let thread = thread["id"].as_str().expect("thread id").to_owned();
        let school = node.school.clone();
        tasks.push(tokio::spawn(message_burst(teacher, thread, school, 25)));
    }
    let pupils = ["aino.makinen01", "eino.makinen02", "veera.laine03"];
    let assignment = new_assignment(fleet.school(SCHOOL_A), "Essee").await;
    let mut draft_tasks = Vec::new();
    for pupil in pupils {
        let session = fleet.school(SCHOOL_A).login(pupil).await;
        draft_tasks.push(tokio::spawn(draft_burst(session, assignment.clone(), 20)));
    }
    for task in tasks {
        let (school, markers) = task.await.expect("burst");
        writes += markers.len();
        for marker in markers {
            ledger.record(&school, school_scope(&school), marker);
        }
    }
    for task in draft_tasks {
        let last = task.await.expect("drafts");
        writes += 20;
        // Drafts overwrite each other; the last acknowledged one is what must be there.
        ledger.record(SCHOOL_A, school_scope(SCHOOL_A), last);
    }

    // The faults stay on while the replicas converge: a lossy link is the normal state.
    let converged = fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;
    let counts = fleet.proxy.counts(Direction::NodeToRelay);
    assert!(
        counts.dropped > 0 && counts.duplicated > 0,
        "the faults did happen: {counts}"
    );
    let report = fleet.proxy.report();
    let (compared, checked) = stop_and_check(&mut fleet, &[SCHOOL_A, SCHOOL_B], &ledger).await;
    eprintln!(
        "SCENARIO lossy-link: {writes} writes acknowledged under 10% loss, 10% duplication and 2–32 ms jitter both ways; nodes and relay reported in sync {:.1} s after the edits stopped, faults still on (limit {}s); on disk {compared} documents have identical heads at node and relay and all {checked} acknowledged writes are at their node and the relay; total {:.1} s; {report}",
        converged.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64()
    );
}

/// Posts `count` numbered messages as `teacher`; returns the school and the bodies acknowledged.
async fn message_burst(
    teacher: ApiSession,
    thread: String,
    school: String,
    count: usize,
) -> (String, Vec<String>) {
    let mut acknowledged = Vec::new();
    for number in 0..count {
        let body = format!("Muistutus {number} ({school})");
        teacher
            .post(
                &format!("/api/v1/threads/{thread}/messages"),
                json!({ "body": body }),
            )
            .await;
        acknowledged.push(body);
    }
    (school, acknowledged)
}

/// Saves `count` numbered drafts as a pupil; returns the last draft's text.
async fn draft_burst(pupil: ApiSession, assignment: String, count: usize) -> String {
    let mut last = String::new();
    for number in 0..count {
        last = format!("{} luonnos {number}", pupil.username);
        pupil
            .put(
                &format!("/api/v1/assignments/{assignment}/submission"),
                json!({ "text": last }),
            )
            .await;
    }
    last
}

/// Leena Korhonen, teacher of 7A at school 30076, sets the class an assignment due tomorrow;
/// answers its id.
async fn new_assignment(node: &SchoolNode, title: &str) -> String {
    node.login("leena.korhonen")
        .await
        .post(
            "/api/v1/classes/CLS-7A-MA/assignments",
            json!({ "title": title, "due_at": now_millis() + 86_400_000 }),
        )
        .await["id"]
        .as_str()
        .expect("assignment id")
        .to_owned()
}

/// Content that differs per file, so each upload is its own blob.
fn file_content(index: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|offset| ((offset * 31 + index * 7919) % 251) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_during_a_large_catch_up_loses_nothing() {
    let started = Instant::now();
    let mut fleet = Fleet::start("relay-restart", seed()).await;
    let node = fleet.school(SCHOOL_A);
    let assignment = new_assignment(node, "Tutkielma").await;
    fleet.proxy.cut();
    let node = fleet.school(SCHOOL_A);
    wait_until("school 30076 is offline", OFFLINE_TIMEOUT, || async {
        node.sync_status().await["mode"] == "offline"
    })
    .await;

    // Offline: four pupils save 75 drafts each, and two others hand in work with a 512 KiB file.
    let mut ledger = Ledger::default();
    let pupils = [
        "aino.makinen01",
        "eino.makinen02",
        "veera.laine03",
        "onni.laine04",
    ];
    let mut drafts = Vec::new();
    for pupil in pupils {
        let session = node.login(pupil).await;
        drafts.push(tokio::spawn(draft_burst(session, assignment.clone(), 75)));
    }
    for task in drafts {
        let last = task.await.expect("drafts");
        ledger.record(SCHOOL_A, school_scope(SCHOOL_A), last);
    }
    let mut blobs = BTreeMap::new();
    // Other pupils hand in the files: a submission replaces the draft, and the drafts above must
    // stay as the pupils last saved them.
    for (index, pupil) in ["helmi.heikkinen05", "vaino.heikkinen06"]
        .iter()
        .enumerate()
    {
        let session = node.login(pupil).await;
        let size = 512 * 1024;
        let file = session
            .upload(&format!("tutkielma-{index}.pdf"), file_content(index, size))
            .await;
        let blob = file["blob"].as_str().expect("blob id").to_owned();
        let text = format!("{pupil} palautus");
        session
            .put(
                &format!("/api/v1/assignments/{assignment}/submission"),
                json!({ "text": text, "files": [file], "submit": true }),
            )
            .await;
        ledger.record(SCHOOL_A, school_scope(SCHOOL_A), text);
        ledger.record(SCHOOL_A, school_scope(SCHOOL_A), blob.clone());
        blobs.insert(blob, size as u64);
    }
    let waiting = node.sync_status().await;

    // Reconnect, and kill the relay once the catch-up is under way.
    let before = fleet.proxy.counts(Direction::NodeToRelay).forwarded;
    fleet.proxy.heal();
    wait_until(
        "the catch-up has started",
        CATCH_UP_START_TIMEOUT,
        || async {
            fleet.proxy.counts(Direction::NodeToRelay).forwarded
                > before + CATCH_UP_DATAGRAMS_BEFORE_KILL
        },
    )
    .await;
    let at_kill = fleet.school(SCHOOL_A).sync_status().await;
    fleet.crash_and_restart_relay().await;
    let converged = fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;
    let report = fleet.proxy.report();
    fleet.stop_all().await;
    let replicas = fleet.replicas();
    let compared = replicas.assert_converged(&[SCHOOL_A, SCHOOL_B]);
    let checked = ledger.assert_everywhere(&replicas);
    for (blob, size) in &blobs {
        assert_eq!(
            replicas.relay.blob_len(blob),
            Some(*size),
            "the relay holds file {blob} whole"
        );
        assert_eq!(replicas.schools[SCHOOL_A].blob_len(blob), Some(*size));
    }
    eprintln!(
        "SCENARIO relay-restart: 300 drafts and 2 submissions with 512 KiB files written offline (waiting then: {} documents, {} files); the relay was SIGKILLed {} datagrams into the catch-up (node then reported {} documents and {} files waiting) and restarted; in sync {:.1} s after the restart (limit {}s); on disk {compared} documents identical at node and relay, all {checked} acknowledged writes and the 2 files whole at both; total {:.1} s; {report}",
        waiting["documents_waiting_to_send"],
        waiting["blobs_waiting_to_send"],
        CATCH_UP_DATAGRAMS_BEFORE_KILL,
        at_kill["documents_waiting_to_send"],
        at_kill["blobs_waiting_to_send"],
        converged.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_killed_during_submissions_keeps_every_acknowledged_one() {
    let started = Instant::now();
    let mut fleet = Fleet::start("node-crash", seed()).await;
    let node = fleet.school(SCHOOL_A);
    let assignment = new_assignment(node, "Runo").await;
    // Each pupil saves numbered drafts as fast as the node answers, until the node dies.
    let pupils = [
        ("aino.makinen01", "P01"),
        ("eino.makinen02", "P02"),
        ("veera.laine03", "P03"),
        ("onni.laine04", "P04"),
    ];
    let mut tasks = Vec::new();
    for (pupil, _) in pupils {
        let session = node.login(pupil).await;
        let assignment = assignment.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for number in 0.. {
                let text = format!("{} runo {number}", session.username);
                match session
                    .try_send(
                        reqwest::Method::PUT,
                        &format!("/api/v1/assignments/{assignment}/submission"),
                        Some(json!({ "text": text })),
                    )
                    .await
                {
                    Ok(response) if response.acknowledged() => acknowledged.push(text),
                    // The node is gone: an unanswered write may or may not be stored.
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    fleet.school_mut(SCHOOL_A).process.kill();
    let mut last_acknowledged = Vec::new();
    for task in tasks {
        if let Some(last) = task.await.expect("writer").pop() {
            last_acknowledged.push(last);
        }
    }
    assert_eq!(
        last_acknowledged.len(),
        pupils.len(),
        "every pupil got drafts acknowledged before the kill"
    );
    fleet.school_mut(SCHOOL_A).start().await;
    fleet.school(SCHOOL_A).wait_online().await;
    let converged = fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;
    // Drafts overwrite each other, so the node may hold a later, unanswered draft than the last
    // acknowledged; what it must not hold is an earlier one.
    let mut ledger = Ledger::default();
    let node = fleet.school(SCHOOL_A);
    for ((pupil, pupil_id), last) in pupils.iter().zip(&last_acknowledged) {
        let pupil_session = node.login(pupil).await;
        let mine = pupil_session
            .get(&format!(
                "/api/v1/assignments/{assignment}/submissions/{pupil_id}"
            ))
            .await;
        let text = mine["draft"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let number = |text: &str| {
            text.rsplit(' ')
                .next()
                .and_then(|number| number.parse::<u64>().ok())
        };
        assert!(
            number(&text) >= number(last),
            "{pupil}: the node acknowledged {last:?} but holds {text:?} ({mine})"
        );
        ledger.record(SCHOOL_A, school_scope(SCHOOL_A), text);
    }
    let report = fleet.proxy.report();
    let (compared, checked) = stop_and_check(&mut fleet, &[SCHOOL_A, SCHOOL_B], &ledger).await;
    eprintln!(
        "SCENARIO node-crash: the node was SIGKILLed 0.8 s into a burst of drafts by 4 pupils and restarted; each pupil's stored draft is the last acknowledged or later; in sync {:.1} s after coming back online (limit {}s); on disk {compared} documents identical at node and relay and all {checked} stored drafts at both; total {:.1} s; {report}",
        converged.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_node_is_cut_off_while_the_other_school_syncs_on() {
    let started = Instant::now();
    let mut fleet = Fleet::start("revoked-node", seed()).await;
    let revoked_id = fleet.school(SCHOOL_B).node_id.clone();
    fleet.relay.run(&["revoke", &revoked_id]);
    let relay = &fleet.relay;
    wait_until(
        "the relay shows school 30077's node revoked and disconnected",
        REVOCATION_TIMEOUT,
        || async {
            let view = relay.fleet_node(&revoked_id).await;
            view["state"] == "revoked" && view["connected"] == false
        },
    )
    .await;
    let revoked = fleet.school(SCHOOL_B);
    wait_until(
        "school 30077 reports itself offline",
        REVOCATION_TIMEOUT,
        || async { revoked.sync_status().await["connected"] == false },
    )
    .await;

    // School 30077 keeps serving locally; what it writes now must never reach the relay.
    let mut ledger = Ledger::default();
    let after_revocation = "Kirjoitettu eristyksissä (30077)";
    revoked
        .login("olli.virtanen")
        .await
        .post(
            "/api/v1/classes/CLS-8A-MA/assignments",
            json!({ "title": after_revocation, "due_at": now_millis() + 86_400_000 }),
        )
        .await;
    let writes = DAY_AT_A.run(fleet.school(SCHOOL_A), &mut ledger).await;
    let watch_started = Instant::now();
    while watch_started.elapsed() < REVOKED_WATCH {
        let status = revoked.sync_status().await;
        assert_eq!(
            status["connected"], false,
            "a revoked node got back in: {status}"
        );
        let view = fleet.relay.fleet_node(&revoked_id).await;
        assert_eq!(
            view["connected"], false,
            "the relay let a revoked node in: {view}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let converged = fleet.wait_converged(&[SCHOOL_A], CONVERGENCE_TIMEOUT).await;
    let report = fleet.proxy.report();
    fleet.stop_all().await;
    let replicas = fleet.replicas();
    let compared = replicas.assert_converged(&[SCHOOL_A]);
    let checked = ledger.assert_everywhere(&replicas);
    assert!(replicas.schools[SCHOOL_B].holds(&school_scope(SCHOOL_B), after_revocation));
    assert!(
        !replicas
            .relay
            .holds(&school_scope(SCHOOL_B), after_revocation),
        "a write of the revoked node reached the relay"
    );
    eprintln!(
        "SCENARIO revoked-node: after `digione-relay revoke` the relay showed 30077's node revoked and disconnected and the node itself offline; it stayed out for {} s of reconnection attempts and its later write never reached the relay, while 30076 acknowledged {writes} writes and was in sync {:.1} s later (limit {}s); on disk {compared} documents identical at 30076 and the relay, all {checked} acknowledged writes at both; total {:.1} s; {report}",
        REVOKED_WATCH.as_secs(),
        converged.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64()
    );
}

/// How long the replaced node may take to hold its whole school again, files included, after it
/// came online: the school's documents and a 600 KiB file from the relay, on a loaded machine.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_node_gets_its_whole_school_back_from_the_relay_files_included() {
    let started = Instant::now();
    let mut fleet = Fleet::start("replaced-node", seed()).await;
    let mut ledger = Ledger::default();
    let writes = DAY_AT_A.run(fleet.school(SCHOOL_A), &mut ledger).await;
    // A pupil hands in work with a file, which must come back too.
    let node = fleet.school(SCHOOL_A);
    let assignment = new_assignment(node, "Kevätprojekti").await;
    let pupil = node.login(DAY_AT_A.pupil).await;
    let file_bytes = file_content(7, 600 * 1024);
    let file = pupil.upload("kevatprojekti.pdf", file_bytes.clone()).await;
    let blob = file["blob"].as_str().expect("blob id").to_owned();
    let submission_text = "Kevätprojekti palautettu";
    pupil
        .put(
            &format!("/api/v1/assignments/{assignment}/submission"),
            json!({ "text": submission_text, "files": [file], "submit": true }),
        )
        .await;
    ledger.record(SCHOOL_A, school_scope(SCHOOL_A), submission_text);
    ledger.record(SCHOOL_A, school_scope(SCHOOL_A), blob.clone());
    fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;
    let old_node_id = fleet.school(SCHOOL_A).node_id.clone();

    // The disk is lost; a new node is enrolled for the same school with nothing but a token.
    let replaced_at = Instant::now();
    let replacement = fleet.replace_school(SCHOOL_A).await;
    assert_ne!(
        replacement.node_id, old_node_id,
        "the new node has its own identity"
    );
    // The passwords are part of the school's documents: the teacher logs in as before, once the
    // credentials document is back.
    let download_path = format!(
        "/api/v1/assignments/{assignment}/submissions/{}/files/{blob}",
        DAY_AT_A.pupil_id
    );
    wait_until(
        "the replaced node serves the school's work again",
        RESTORE_TIMEOUT,
        || async {
            let status = replacement.sync_status().await;
            status["documents_waiting_to_receive"] == 0
                && status["last_complete_sync_unix"].is_i64()
        },
    )
    .await;
    let teacher = replacement.login(DAY_AT_A.teacher).await;
    let restored = wait_until(
        "the file handed in is back, whole",
        RESTORE_TIMEOUT,
        || async {
            let response = teacher
                .try_send(reqwest::Method::GET, &download_path, None)
                .await;
            matches!(response, Ok(response) if response.status == 200)
        },
    )
    .await;
    let downloaded = teacher.download(&download_path).await;
    assert_eq!(downloaded, file_bytes, "the file came back byte for byte");
    let submissions = teacher
        .get(&format!("/api/v1/assignments/{assignment}/submissions"))
        .await;
    assert!(
        submissions
            .as_array()
            .is_some_and(|all| all.iter().any(|submission| {
                submission["pupil"] == DAY_AT_A.pupil_id && submission["status"] == "submitted"
            })),
        "the teacher sees the submission on the new node: {submissions}"
    );
    let whole_school_back = replaced_at.elapsed();
    let converged = fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;
    let report = fleet.proxy.report();
    fleet.stop_all().await;
    let replicas = fleet.replicas();
    let compared = replicas.assert_converged(&[SCHOOL_A, SCHOOL_B]);
    let checked = ledger.assert_everywhere(&replicas);
    assert_eq!(
        replicas.schools[SCHOOL_A].blob_len(&blob),
        Some(600 * 1024),
        "the new node holds the file"
    );
    eprintln!(
        "SCENARIO replaced-node: 30076 acknowledged {writes} writes and a submission with a 600 KiB file; its disk was wiped and a new node enrolled with only a token (no roster import, no passwords); the teacher logged in with the old password and downloaded the file byte for byte {:.1} s after the replacement started (file {:.1} s after login), in sync {:.1} s later (limit {}s); on disk {compared} documents identical at the new node and the relay, all {checked} acknowledged writes at both; total {:.1} s; {report}",
        whole_school_back.as_secs_f64(),
        restored.as_secs_f64(),
        converged.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64()
    );
}

/// From stopping a node until the relay's fleet view calls it lost: the harness's
/// `certificates.offline_maximum` (10 s) plus the stale window, on a loaded machine.
const LOST_TIMEOUT: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_offline_past_the_maximum_is_reported_lost_and_comes_back_whole() {
    let started = Instant::now();
    let mut fleet = Fleet::start("stale-node", seed()).await;
    let mut ledger = Ledger::default();
    // School 30077 works, then its node is switched off (for the summer, say), with some of the
    // day's writes perhaps not yet at the relay.
    let mut writes = DAY_AT_B.run(fleet.school(SCHOOL_B), &mut ledger).await;
    let stale_id = fleet.school(SCHOOL_B).node_id.clone();
    let online_id = fleet.school(SCHOOL_A).node_id.clone();
    fleet.school_mut(SCHOOL_B).process.stop().await;
    let relay = &fleet.relay;
    let lost_after = wait_until(
        "the relay reports school 30077's node lost",
        LOST_TIMEOUT,
        || async { relay.fleet_node(&stale_id).await["state"] == "lost" },
    )
    .await;
    let lost_nodes = relay.fleet_query("?state=lost").await;
    let lost_ids: Vec<&str> = lost_nodes["nodes"]
        .as_array()
        .expect("the fleet view lists nodes")
        .iter()
        .filter_map(|node| node["node_id"].as_str())
        .collect();
    assert_eq!(
        lost_ids,
        [stale_id.as_str()],
        "only the switched-off node is lost: {lost_nodes}"
    );
    assert_eq!(
        relay.fleet_node(&online_id).await["state"],
        "online",
        "the other school is unaffected"
    );
    let metrics = relay.metrics().await;
    assert!(
        metrics.contains("digione_relay_nodes{state=\"lost\"} 1"),
        "the metrics count one lost node:\n{metrics}"
    );

    // Meanwhile the fleet goes on: 30076 works and the municipality publishes an announcement.
    writes += DAY_AT_A.run(fleet.school(SCHOOL_A), &mut ledger).await;
    let operator = fleet.issue_operator("vantaa");
    let announcement_title = "Kesäloman jälkeen koulu alkaa 12.8.";
    fleet
        .operator(
            &operator,
            &[
                "announce",
                "--title",
                announcement_title,
                "--body",
                "Tervetuloa takaisin!",
            ],
        )
        .await;
    for school in [SCHOOL_A, SCHOOL_B] {
        ledger.record(school, municipality_scope(), announcement_title);
    }

    // As documented: the lost node's data stayed on the relay, and with its certificate still
    // valid it simply reconnects and catches up.
    fleet.school_mut(SCHOOL_B).start().await;
    let returned = fleet.school(SCHOOL_B).wait_online().await;
    let relay = &fleet.relay;
    wait_until(
        "the relay reports the returned node online",
        LOST_TIMEOUT,
        || async { relay.fleet_node(&stale_id).await["state"] == "online" },
    )
    .await;
    let converged = fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;
    let shown = fleet
        .school(SCHOOL_B)
        .login(DAY_AT_B.pupil)
        .await
        .get("/api/v1/announcements")
        .await;
    assert!(
        shown.to_string().contains(announcement_title),
        "the returned school shows what was published while it was lost: {shown}"
    );
    let report = fleet.proxy.report();
    let (compared, checked) = stop_and_check(&mut fleet, &[SCHOOL_A, SCHOOL_B], &ledger).await;
    eprintln!(
        "SCENARIO stale-node: 30077's node was switched off after {writes} writes in all; the relay's fleet view called it lost {:.1} s later (policy: certificates.offline_maximum = {}), listed it alone under state=lost and counted it in digione_relay_nodes{{state=\"lost\"}}, while 30076 stayed online, worked and got a municipality announcement; restarted with its valid certificate, the node was online {:.1} s later, reported online by the relay, and in sync {:.1} s after that (limit {}s); on disk {compared} documents identical at both nodes and the relay, all {checked} acknowledged writes everywhere, and the returned school's pupil sees the announcement; total {:.1} s; {report}",
        lost_after.as_secs_f64(),
        tests::fleet::RELAY_OFFLINE_MAXIMUM,
        returned.as_secs_f64(),
        converged.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64()
    );
}
