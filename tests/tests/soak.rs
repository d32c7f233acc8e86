//! The soak: random faults against the real `digione-relay`, `digione-node` and `digione-operator`
//! processes for as long as asked, then the same checks as every outage scenario.
//!
//! `DIGIONE_SOAK_SECS` says how long the faults go on (default [`DEFAULT_SOAK`], which is what CI
//! runs; an hour or a night is the point of the variable). `DIGIONE_SOAK_SEED` replays a run's
//! choice of steps and the proxy's fault decisions (the processes' own timing still varies). Each
//! step is one of: a burst of writes at a school (teachers' messages in a new thread, a pupil's
//! draft), a new fault profile on the link (loss, duplication, jitter), a cut link (both ways or
//! one way), a healed link, a node killed with SIGKILL and restarted, the relay killed and
//! restarted, or a municipality announcement by an operator. At the end the link heals and the
//! test asserts what `tests/tests/outages.rs` asserts: every replica converged, and every write
//! any process acknowledged is at its node and at the relay. It prints what it did and checked.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tests::fault_proxy::{Direction, FaultProfile};
use tests::fleet::{
    CONVERGENCE_TIMEOUT, Fleet, SCHOOL_A, SCHOOL_B, municipality_scope, school_scope, try_login,
};
use tests::ledger::{Ledger, now_millis};

/// How long the faults go on when `DIGIONE_SOAK_SECS` is not set: enough for a dozen steps.
const DEFAULT_SOAK: Duration = Duration::from_secs(20);
/// The longest soak the variable may ask for (a week); beyond it the run is surely a typo.
const MAX_SOAK: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest pause between two steps.
const MAX_PAUSE: Duration = Duration::from_millis(1500);
/// Messages a teacher posts in one burst.
const MESSAGES_PER_BURST: usize = 5;
/// Bursts of writes running beside the fault steps at once.
const MAX_BURSTS_IN_FLIGHT: usize = 3;
/// Municipality announcements an operator publishes in one soak at most: the announcements
/// document keeps the newest 500, and an older one pruned would look lost to the ledger.
const MAX_OPERATOR_ANNOUNCEMENTS: usize = 200;

/// Who writes at each school.
#[derive(Debug)]
struct Writers {
    teacher: &'static str,
    teacher_id: &'static str,
    guardian: &'static str,
    pupil: &'static str,
    class: &'static str,
}

const WRITERS: [(&str, Writers); 2] = [
    (
        SCHOOL_A,
        Writers {
            teacher: "leena.korhonen",
            teacher_id: "T01",
            guardian: "marja.makinen",
            pupil: "aino.makinen01",
            class: "CLS-7A-MA",
        },
    ),
    (
        SCHOOL_B,
        Writers {
            teacher: "olli.virtanen",
            teacher_id: "T21",
            guardian: "kaisa.virtanen",
            pupil: "ilona.virtanen21",
            class: "CLS-8A-MA",
        },
    ),
];

fn soak_duration() -> Duration {
    let Ok(text) = std::env::var("DIGIONE_SOAK_SECS") else {
        return DEFAULT_SOAK;
    };
    let seconds: u64 = text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("DIGIONE_SOAK_SECS={text:?} is not a whole number of seconds"));
    let duration = Duration::from_secs(seconds);
    assert!(
        duration <= MAX_SOAK,
        "DIGIONE_SOAK_SECS={seconds} is more than a week ({} s)",
        MAX_SOAK.as_secs()
    );
    duration
}

fn soak_seed() -> u64 {
    std::env::var("DIGIONE_SOAK_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random)
}

/// Puts a finished burst's acknowledged writes in the ledger and counts its outcome.
fn settle(
    ledger: &mut Ledger,
    school: &str,
    outcome: BurstOutcome,
    acknowledged: &mut usize,
    refused: &mut usize,
) {
    *acknowledged += outcome.acknowledged.len();
    *refused += outcome.refused;
    for marker in outcome.acknowledged {
        ledger.record(school, school_scope(school), marker);
    }
}

/// The kinds of step, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Writes,
    LossyLink,
    CutBothWays,
    CutOneWay,
    Heal,
    NodeKilled,
    RelayKilled,
    OperatorAnnouncement,
}

fn choose_step(random: &mut StdRng) -> Step {
    // Writes are the most common step, so that every fault has writes on both sides of it.
    match random.random_range(0..100) {
        0..40 => Step::Writes,
        40..52 => Step::LossyLink,
        52..60 => Step::CutBothWays,
        60..66 => Step::CutOneWay,
        66..78 => Step::Heal,
        78..88 => Step::NodeKilled,
        88..94 => Step::RelayKilled,
        _ => Step::OperatorAnnouncement,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_random_faults_against_the_real_processes() {
    let duration = soak_duration();
    let seed = soak_seed();
    eprintln!(
        "[soak] {} s of random faults, seed {seed} (DIGIONE_SOAK_SEED={seed} replays the choices)",
        duration.as_secs()
    );
    let started = Instant::now();
    let mut fleet = Fleet::start("soak", seed).await;
    let mut random = StdRng::seed_from_u64(seed);
    let mut ledger = Ledger::default();
    let mut steps: BTreeMap<Step, usize> = BTreeMap::new();
    let mut writes_acknowledged = 0usize;
    let mut writes_refused = 0usize;
    let mut operator_announcements = 0usize;
    let operator = fleet.issue_operator("soak");
    let soak_started = Instant::now();
    let mut round = 0usize;
    let mut bursts: Vec<(&'static str, tokio::task::JoinHandle<BurstOutcome>)> = Vec::new();

    while soak_started.elapsed() < duration {
        round += 1;
        let step = choose_step(&mut random);
        *steps.entry(step).or_default() += 1;
        match step {
            Step::Writes => {
                // At most a few bursts at once; the oldest is awaited to make room.
                if bursts.len() >= MAX_BURSTS_IN_FLIGHT {
                    let (school, burst) = bursts.remove(0);
                    let outcome = burst.await.expect("a burst of writes");
                    settle(
                        &mut ledger,
                        school,
                        outcome,
                        &mut writes_acknowledged,
                        &mut writes_refused,
                    );
                }
                let (school, writers) = &WRITERS[random.random_range(0..WRITERS.len())];
                let base = fleet.school(school).base.clone();
                bursts.push((
                    *school,
                    tokio::spawn(write_burst(base, school, writers, round)),
                ));
            }
            Step::LossyLink => {
                let profile = FaultProfile {
                    drop_probability: random.random_range(0.0..0.3),
                    duplicate_probability: random.random_range(0.0..0.2),
                    delay: Duration::from_millis(random.random_range(0..20)),
                    jitter: Duration::from_millis(random.random_range(0..60)),
                    cut: false,
                };
                fleet.proxy.set_profiles(profile);
            }
            Step::CutBothWays => fleet.proxy.cut(),
            Step::CutOneWay => {
                let direction = Direction::BOTH[random.random_range(0..Direction::BOTH.len())];
                fleet.proxy.cut_one_way(direction);
            }
            Step::Heal => fleet.proxy.heal(),
            Step::NodeKilled => {
                let school = WRITERS[random.random_range(0..WRITERS.len())].0;
                fleet.school_mut(school).crash_and_restart().await;
            }
            Step::RelayKilled => fleet.crash_and_restart_relay().await,
            Step::OperatorAnnouncement => {
                if operator_announcements < MAX_OPERATOR_ANNOUNCEMENTS {
                    operator_announcements += 1;
                    let title = format!("Kunnan tiedote {round} ({seed})");
                    fleet
                        .operator(
                            &operator,
                            &[
                                "announce",
                                "--title",
                                &title,
                                "--body",
                                "Tiedote kouluille.",
                            ],
                        )
                        .await;
                    for school in [SCHOOL_A, SCHOOL_B] {
                        ledger.record(school, municipality_scope(), title.clone());
                    }
                }
            }
        }
        let pause = random.random_range(0..MAX_PAUSE.as_millis() as u64);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }

    for (school, burst) in bursts {
        let outcome = burst.await.expect("a burst of writes");
        settle(
            &mut ledger,
            school,
            outcome,
            &mut writes_acknowledged,
            &mut writes_refused,
        );
    }
    fleet.proxy.heal();
    let converged = fleet
        .wait_converged(&[SCHOOL_A, SCHOOL_B], CONVERGENCE_TIMEOUT)
        .await;
    let report = fleet.proxy.report();
    fleet.stop_all().await;
    let replicas = fleet.replicas();
    let compared = replicas.assert_converged(&[SCHOOL_A, SCHOOL_B]);
    let checked = ledger.assert_everywhere(&replicas);
    assert!(
        writes_acknowledged > 0 || !steps.contains_key(&Step::Writes),
        "no write was ever acknowledged"
    );
    let steps_text: Vec<String> = steps
        .iter()
        .map(|(step, count)| format!("{step:?} {count}"))
        .collect();
    eprintln!(
        "SOAK: {:.0} s of random faults, seed {seed}, {round} steps ({}); {writes_acknowledged} writes acknowledged and {writes_refused} refused or unanswered (a node down), {operator_announcements} municipality announcements by the operator; after healing, in sync in {:.1} s (limit {}s); on disk {compared} documents identical at both nodes and the relay, all {checked} acknowledged writes at their nodes and the relay; total {:.1} s; {report}",
        soak_started.elapsed().as_secs_f64(),
        steps_text.join(", "),
        converged.as_secs_f64(),
        CONVERGENCE_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64()
    );
}

/// What one burst of writes got: the markers of the writes acknowledged, and how many were refused
/// or unanswered.
#[derive(Debug, Default)]
struct BurstOutcome {
    acknowledged: Vec<String>,
    refused: usize,
}

impl BurstOutcome {
    /// Records one write; true when it was acknowledged.
    fn record(
        &mut self,
        response: Result<tests::fleet::ApiResponse, reqwest::Error>,
        marker: String,
    ) -> bool {
        match response {
            Ok(response) if response.acknowledged() => {
                self.acknowledged.push(marker);
                true
            }
            _ => {
                self.refused += 1;
                false
            }
        }
    }
}

/// A guardian opens a thread with the teacher, the teacher answers with a few messages and sets an
/// assignment, and a pupil saves a draft of it, at the node serving `base`. It runs beside the
/// fault steps, so the node may be killed or cut off in the middle: whatever is refused or gets no
/// answer stops the burst, and only acknowledged writes count.
async fn write_burst(
    base: String,
    school: &'static str,
    writers: &'static Writers,
    round: usize,
) -> BurstOutcome {
    let mut outcome = BurstOutcome::default();
    let Ok(guardian) = try_login(&base, writers.guardian).await else {
        outcome.refused += 1;
        return outcome;
    };
    let opening = format!("Kysymys {round} ({school})");
    let thread = guardian
        .try_send(
            reqwest::Method::POST,
            "/api/v1/threads",
            Some(json!({ "participants": [writers.teacher_id], "subject": format!("Kierros {round}"), "body": opening })),
        )
        .await;
    let thread_id = thread
        .as_ref()
        .ok()
        .and_then(|response| response.body["id"].as_str())
        .map(str::to_owned);
    if !outcome.record(thread, opening) {
        return outcome;
    }
    let Some(thread_id) = thread_id else {
        return outcome;
    };
    let Ok(teacher) = try_login(&base, writers.teacher).await else {
        outcome.refused += 1;
        return outcome;
    };
    for number in 0..MESSAGES_PER_BURST {
        let body = format!("Vastaus {round}.{number} ({school})");
        let response = teacher
            .try_send(
                reqwest::Method::POST,
                &format!("/api/v1/threads/{thread_id}/messages"),
                Some(json!({ "body": body })),
            )
            .await;
        if !outcome.record(response, body) {
            return outcome;
        }
    }
    let assignment_title = format!("Tehtävä {round} ({school})");
    let assignment = teacher
        .try_send(
            reqwest::Method::POST,
            &format!("/api/v1/classes/{}/assignments", writers.class),
            Some(json!({ "title": assignment_title, "due_at": now_millis() + 86_400_000 })),
        )
        .await;
    let assignment_id = assignment
        .as_ref()
        .ok()
        .and_then(|response| response.body["id"].as_str())
        .map(str::to_owned);
    if !outcome.record(assignment, assignment_title) {
        return outcome;
    }
    let (Some(assignment_id), Ok(pupil)) = (assignment_id, try_login(&base, writers.pupil).await)
    else {
        outcome.refused += 1;
        return outcome;
    };
    let draft = format!("{} luonnos {round}", writers.pupil);
    let response = pupil
        .try_send(
            reqwest::Method::PUT,
            &format!("/api/v1/assignments/{assignment_id}/submission"),
            Some(json!({ "text": draft })),
        )
        .await;
    outcome.record(response, draft);
    outcome
}
