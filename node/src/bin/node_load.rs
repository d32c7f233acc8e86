//! `node_load`: a school's morning, measured against a running node over HTTP on loopback.
//!
//! ```text
//! cargo run --release -p node --bin node_load -- --pupils 1000
//! ```
//!
//! Sets up a standalone node with a generated OneRoster school (`--pupils` pupils in classes of 25,
//! each pupil in three classes, one guardian per pupil, a teacher per three classes:
//! `node::school_generator::load_test_school`), starts it as a child process (this binary again,
//! with `--serve-node`) so its resident memory is measured alone,
//! and then drives it like the bell does:
//! - **resident memory** idle with the school loaded;
//! - **the bell, all at once**: `--bell` pupils log in at the same instant;
//! - **the bell over a minute**: another `--bell` pupils log in spread evenly over `--bell-secs`;
//! - **reads**: the logged-in sessions, `--read-concurrency` at a time, read their home data
//!   (`GET /api/v1/me`, `GET /api/v1/classes/{class}`) for `--read-secs`;
//! - **durable writes**: pupils save submission drafts (each answered only once on disk) for
//!   `--write-secs`, `--write-concurrency` at a time;
//! - **web pages**: the web UI's heaviest pages, the pupil home page and a teacher's review of a
//!   submission, each alone (size, render time), then the pupil home page by `--read-concurrency`
//!   sessions for `--page-secs` twice: each asking again as soon as answered (the most pages per
//!   second; latency is then mostly queueing), and each once every `--page-interval-ms` (the
//!   latency one page has while the other sessions are active);
//! - **resident memory** right after the load, and again once the node has had `--settle-secs`
//!   without requests: what it keeps after the morning's rush, rather than at its peak;
//! - **a rebuild from the relay**: once the node is stopped, `--rebuild-files` files of
//!   `--rebuild-file-kib` KiB are added to its store as uploads, the store is synced to a relay
//!   store (the off-site copy), and then a new empty store under the same node id is rebuilt from
//!   that copy. Both stores are the real sled store and both sides run the real sync engine; the
//!   frames pass in memory, so the figure is the engine's and the disks' cost without QUIC, TLS or
//!   a network (loopback adds little to it).
//!
//! Every user's password is the same argon2id hash (computed once): hashing thousands of users at
//! setup would take minutes and measure nothing; the login phases pay the real verification cost.
//! Prints one JSON object.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use node::config::NodeConfig;
use node::identity::NodeIdentity;
use node::model::UserRole;
use node::model::common::ModelError;
use node::model::credentials::{CredentialsDocument, credentials_doc};
use node::model::roster::{RosterUsersDocument, roster_users_doc};
use node::repository::Repository;
use serde_json::{Value, json};
use sync_store::SledStore;
use tokio::sync::{Semaphore, mpsc};

const PASSWORD: &str = "bell rings at eight fifteen";

#[derive(Debug, Parser)]
#[command(about = "Drive a node like a school morning and print what it cost")]
struct Arguments {
    #[arg(long, default_value_t = 1000)]
    pupils: usize,
    /// Logins per bell phase.
    #[arg(long, default_value_t = 500)]
    bell: usize,
    /// Seconds over which the spread-out bell's logins arrive.
    #[arg(long, default_value_t = 60)]
    bell_secs: u64,
    #[arg(long, default_value_t = 10)]
    read_secs: u64,
    #[arg(long, default_value_t = 500)]
    read_concurrency: usize,
    #[arg(long, default_value_t = 10)]
    write_secs: u64,
    #[arg(long, default_value_t = 64)]
    write_concurrency: usize,
    /// Seconds the web UI's pupil home page is loaded by `--read-concurrency` sessions at once,
    /// first each asking again as soon as answered, then each once every `--page-interval-ms`.
    #[arg(long, default_value_t = 10)]
    page_secs: u64,
    /// How often each session loads its home page in the paced phase.
    #[arg(long, default_value_t = 1000)]
    page_interval_ms: u64,
    /// Files (uploads) added before the rebuild phase, so that the rebuild carries files too.
    #[arg(long, default_value_t = 200)]
    rebuild_files: usize,
    #[arg(long, default_value_t = 256)]
    rebuild_file_kib: usize,
    /// Seconds the node is left without requests after the load before its resident memory is
    /// measured again: what it keeps once the morning's rush is over, rather than at its peak.
    #[arg(long, default_value_t = 60)]
    settle_secs: u64,
    /// Internal: serve the node in this data directory and print its address.
    #[arg(long, hide = true)]
    serve_node: Option<PathBuf>,
}

fn main() -> Result<(), String> {
    let arguments = Arguments::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    if let Some(data_dir) = &arguments.serve_node {
        return runtime.block_on(serve_node(data_dir));
    }
    runtime.block_on(measure(arguments))
}

fn node_config(data_dir: &Path) -> NodeConfig {
    let mut config = NodeConfig {
        data_dir: data_dir.to_owned(),
        ..NodeConfig::default()
    };
    config.http.listen = ([127, 0, 0, 1], 0).into();
    config
}

async fn serve_node(data_dir: &Path) -> Result<(), String> {
    use std::io::Write;
    let node = node::server::start(node_config(data_dir)).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", node.http_address).map_err(|error| error.to_string())?;
    stdout.flush().map_err(|error| error.to_string())?;
    std::future::pending::<()>().await;
    Ok(())
}

fn set_up_school(data_dir: &Path, pupils: usize) -> Result<(Vec<String>, Vec<String>), String> {
    let config = node_config(data_dir);
    let identity = NodeIdentity::init_standalone(
        &config,
        "30076".parse().map_err(|error| format!("{error}"))?,
        "092".parse().map_err(|error| format!("{error}"))?,
    )
    .map_err(|error| error.to_string())?;
    let package = data_dir.join("roster-package");
    std::fs::create_dir_all(&package).map_err(|error| error.to_string())?;
    let school = node::school_generator::load_test_school(pupils);
    school
        .write_package(&package)
        .map_err(|error| error.to_string())?;
    let usernames_with_role = |role| -> Vec<String> {
        school
            .people_with_role(role)
            .map(|person| person.username.clone())
            .collect()
    };
    let names = (
        usernames_with_role(UserRole::Pupil),
        usernames_with_role(UserRole::Teacher),
    );
    let store = SledStore::open(config.store_dir()).map_err(|error| error.to_string())?;
    let (notices, _) = mpsc::channel(1);
    let repository = Repository::new(store, notices);
    node::api::roster::import_package(&repository, &identity.school, &package)
        .map_err(|failure| format!("{failure:?}"))?;
    let hash = node::auth::hash_password(PASSWORD).map_err(|error| error.to_string())?;
    let users: RosterUsersDocument = repository
        .read_or_default(&roster_users_doc(&identity.school))
        .map_err(|error| error.to_string())?;
    let user_ids: Vec<String> = users.users.keys().cloned().collect();
    // Written in slices: the store bounds each change.
    for slice in user_ids.chunks(node::accounts::CREDENTIALS_PER_WRITE) {
        repository
            .update(
                &credentials_doc(&identity.school),
                |credentials: &mut CredentialsDocument| {
                    for user_id in slice {
                        credentials.set_hash(user_id, &hash)?;
                    }
                    Ok::<_, ModelError>(())
                },
            )
            .map_err(|error| error.to_string())?;
    }
    Ok(names)
}

struct NodeChild {
    child: Child,
    base: String,
}

impl Drop for NodeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node_child(data_dir: &Path) -> Result<NodeChild, String> {
    let executable = std::env::current_exe().map_err(|error| error.to_string())?;
    let mut child = Command::new(executable)
        .arg("--serve-node")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| error.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout from the node")?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .map_err(|error| error.to_string())?;
    Ok(NodeChild {
        child,
        base: format!("http://{}", line.trim()),
    })
}

fn resident_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// A logged-in session: its cookie and CSRF token.
#[derive(Debug, Clone)]
struct Session {
    user_id: String,
    cookie: String,
    csrf: String,
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    username: &str,
) -> Result<(Session, Duration), String> {
    let started = Instant::now();
    let response = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let elapsed = started.elapsed();
    if !response.status().is_success() {
        return Err(format!("login of {username}: {}", response.status()));
    }
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.map_err(|error| error.to_string())?;
    Ok((
        Session {
            user_id: body["user_id"].as_str().unwrap_or_default().to_owned(),
            cookie,
            csrf: body["csrf_token"].as_str().unwrap_or_default().to_owned(),
        },
        elapsed,
    ))
}

fn percentiles(mut samples: Vec<f64>) -> Value {
    samples.sort_by(f64::total_cmp);
    let at = |fraction: f64| -> Option<f64> {
        if samples.is_empty() {
            return None;
        }
        let rank = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
        samples.get(rank).copied()
    };
    json!({
        "count": samples.len(),
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": samples.last(),
    })
}

async fn bell_at_once(
    http: &reqwest::Client,
    base: &str,
    usernames: &[String],
) -> (Value, Vec<Session>) {
    let started = Instant::now();
    let mut logins = tokio::task::JoinSet::new();
    for username in usernames {
        let http = http.clone();
        let base = base.to_owned();
        let username = username.clone();
        logins.spawn(async move { login(&http, &base, &username).await });
    }
    let mut sessions = Vec::new();
    let mut latencies = Vec::new();
    let mut failures = 0;
    while let Some(joined) = logins.join_next().await {
        match joined {
            Ok(Ok((session, elapsed))) => {
                latencies.push(elapsed.as_secs_f64() * 1000.0);
                sessions.push(session);
            }
            _ => failures += 1,
        }
    }
    let report = json!({
        "logins": usernames.len(),
        "failures": failures,
        "all_done_secs": started.elapsed().as_secs_f64(),
        "latency": percentiles(latencies),
    });
    (report, sessions)
}

async fn bell_spread(
    http: &reqwest::Client,
    base: &str,
    usernames: &[String],
    over: Duration,
) -> (Value, Vec<Session>) {
    let started = Instant::now();
    let gap = over
        .checked_div(usernames.len().max(1) as u32)
        .unwrap_or_default();
    let mut logins = tokio::task::JoinSet::new();
    for (index, username) in usernames.iter().enumerate() {
        let http = http.clone();
        let base = base.to_owned();
        let username = username.clone();
        let start_at = tokio::time::Instant::from_std(started) + gap * index as u32;
        logins.spawn(async move {
            tokio::time::sleep_until(start_at).await;
            login(&http, &base, &username).await
        });
    }
    let mut sessions = Vec::new();
    let mut latencies = Vec::new();
    let mut failures = 0;
    while let Some(joined) = logins.join_next().await {
        match joined {
            Ok(Ok((session, elapsed))) => {
                latencies.push(elapsed.as_secs_f64() * 1000.0);
                sessions.push(session);
            }
            _ => failures += 1,
        }
    }
    (
        json!({ "logins": usernames.len(), "over_secs": over.as_secs(), "failures": failures, "latency": percentiles(latencies) }),
        sessions,
    )
}

/// Sessions loop over their home reads until the time is up.
async fn reads(
    http: &reqwest::Client,
    base: &str,
    sessions: &[Session],
    concurrency: usize,
    duration: Duration,
) -> Value {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency.min(sessions.len()).max(1) {
        let Some(session) = sessions.get(worker % sessions.len().max(1)).cloned() else {
            break;
        };
        let http = http.clone();
        let base = base.to_owned();
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut class: Option<String> = None;
            while Instant::now() < deadline {
                let path = match (&class, latencies.len() % 2) {
                    (Some(class), 1) => format!("/api/v1/classes/{class}"),
                    _ => "/api/v1/me".to_owned(),
                };
                let started = Instant::now();
                let response = http
                    .get(format!("{base}{path}"))
                    .header("cookie", &session.cookie)
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status().is_success() => {
                        let body: Value = response.json().await.unwrap_or_default();
                        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                        if class.is_none() {
                            class = body["classes"][0]["id"].as_str().map(str::to_owned);
                        }
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let (latencies, errors) = gather_workers(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    json!({
        "concurrency": concurrency,
        "requests": latencies.len(),
        "errors": errors,
        "requests_per_sec": latencies.len() as f64 / elapsed,
        "latency": percentiles(latencies),
    })
}

/// `GET /api/v1/me` as `session`.
async fn who_am_i(http: &reqwest::Client, base: &str, session: &Session) -> Result<Value, String> {
    http.get(format!("{base}/api/v1/me"))
        .header("cookie", &session.cookie)
        .send()
        .await
        .map_err(|error| error.to_string())?
        .json()
        .await
        .map_err(|error| error.to_string())
}

/// Every worker's latencies (milliseconds) and error count, together.
async fn gather_workers(mut workers: tokio::task::JoinSet<(Vec<f64>, u64)>) -> (Vec<f64>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    while let Some(Ok((mut worker_latencies, worker_errors))) = workers.join_next().await {
        latencies.append(&mut worker_latencies);
        errors += worker_errors;
    }
    (latencies, errors)
}

/// Pupils save submission drafts: every answer is a durable write.
async fn writes(
    http: &reqwest::Client,
    base: &str,
    teacher_usernames: &[String],
    pupils: &[Session],
    concurrency: usize,
    duration: Duration,
) -> Result<(Value, WrittenWork), String> {
    // One assignment per class the sessions' pupils attend, created by the class's teacher.
    let mut assignment_of_class = std::collections::HashMap::new();
    let mut teacher_of_class = std::collections::HashMap::new();
    let now_millis = sync_transport::link::now_millis() as i64;
    for teacher in teacher_usernames {
        let (session, _) = login(http, base, teacher).await?;
        let me = who_am_i(http, base, &session).await?;
        for class in me["classes"].as_array().cloned().unwrap_or_default() {
            let Some(class_id) = class["id"].as_str() else {
                continue;
            };
            let created: Value = http
                .post(format!("{base}/api/v1/classes/{class_id}/assignments"))
                .header("cookie", &session.cookie)
                .header("x-csrf-token", &session.csrf)
                .json(&json!({
                    "title": "Kuormitustesti",
                    "instructions": "Kirjoita jotain.",
                    "attachments": [],
                    "due_at": now_millis + 86_400_000,
                    "cut_off_at": now_millis + 2 * 86_400_000,
                }))
                .send()
                .await
                .map_err(|error| error.to_string())?
                .json()
                .await
                .map_err(|error| error.to_string())?;
            if let Some(id) = created["id"].as_str() {
                assignment_of_class.insert(class_id.to_owned(), id.to_owned());
                teacher_of_class.insert(id.to_owned(), session.clone());
            }
        }
    }
    // Each pupil session writes to the assignment of its first class.
    let mut work = Vec::new();
    for session in pupils {
        let me = who_am_i(http, base, session).await?;
        if let Some(assignment) = me["classes"][0]["id"]
            .as_str()
            .and_then(|class| assignment_of_class.get(class))
        {
            work.push((session.clone(), assignment.clone()));
        }
    }
    if work.is_empty() {
        return Err("no pupil could be given an assignment to write to".into());
    }
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency.max(1) {
        let (session, assignment) = work[worker % work.len()].clone();
        let http = http.clone();
        let base = base.to_owned();
        let permits = permits.clone();
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut counter = 0u64;
            while Instant::now() < deadline {
                let Ok(_permit) = permits.acquire().await else { break };
                counter += 1;
                let started = Instant::now();
                let response = http
                    .put(format!("{base}/api/v1/assignments/{assignment}/submission"))
                    .header("cookie", &session.cookie)
                    .header("x-csrf-token", &session.csrf)
                    .json(&json!({ "text": format!("luonnos {counter} / {}", session.user_id), "files": [], "submit": false }))
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status().is_success() => {
                        latencies.push(started.elapsed().as_secs_f64() * 1000.0)
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let (latencies, errors) = gather_workers(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let report = json!({
        "concurrency": concurrency,
        "writes": latencies.len(),
        "errors": errors,
        "writes_per_sec": latencies.len() as f64 / elapsed,
        "latency": percentiles(latencies),
    });
    Ok((
        report,
        WrittenWork {
            work,
            teacher_of_assignment: teacher_of_class,
        },
    ))
}

/// What the write phase left behind for the page phase: each pupil session's assignment, and a
/// logged-in teacher of each assignment's class.
struct WrittenWork {
    work: Vec<(Session, String)>,
    teacher_of_assignment: std::collections::HashMap<String, Session>,
}

/// `GET path` as `session`: the latency in milliseconds and the body's bytes, when it succeeded.
async fn get_page(
    http: &reqwest::Client,
    base: &str,
    session: &Session,
    path: &str,
) -> Option<(f64, usize)> {
    let started = Instant::now();
    let response = http
        .get(format!("{base}{path}"))
        .header("cookie", &session.cookie)
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body = response.bytes().await.ok()?;
    Some((started.elapsed().as_secs_f64() * 1000.0, body.len()))
}

/// One page requested `times` times in a row: its size and how long it takes with no other load
/// (on loopback, so almost all of it is the node's work of rendering it).
async fn page_alone(
    http: &reqwest::Client,
    base: &str,
    session: &Session,
    path: &str,
    times: usize,
) -> Value {
    let mut latencies = Vec::new();
    let mut bytes = 0;
    for _ in 0..times {
        if let Some((latency, size)) = get_page(http, base, session, path).await {
            latencies.push(latency);
            bytes = size;
        }
    }
    json!({ "html_bytes": bytes, "render": percentiles(latencies) })
}

/// The web UI's heaviest pages: the pupil home page and the teacher's review of a submission, each
/// alone, then the pupil home page by `concurrency` sessions at once for `duration`.
async fn web_pages(
    http: &reqwest::Client,
    base: &str,
    written: &WrittenWork,
    sessions: &[Session],
    concurrency: usize,
    interval: Duration,
    duration: Duration,
) -> Result<Value, String> {
    let (pupil, assignment) = written.work.first().ok_or("no pupil has work")?;
    // A submitted attempt, so that the review page shows work and its return form.
    http.put(format!("{base}/api/v1/assignments/{assignment}/submission"))
        .header("cookie", &pupil.cookie)
        .header("x-csrf-token", &pupil.csrf)
        .json(&json!({ "text": "Valmis työ, jossa on vähän enemmän tekstiä tarkistettavaksi.", "files": [], "submit": true }))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let teacher = written
        .teacher_of_assignment
        .get(assignment)
        .ok_or("no teacher for the assignment")?;
    let stylesheet_bytes = node::web::assets::STYLESHEET.len();
    let pupil_home = page_alone(http, base, pupil, "/home", 200).await;
    let review_path = format!("/assignments/{assignment}/submissions/{}", pupil.user_id);
    let teacher_review = page_alone(http, base, teacher, &review_path, 200).await;

    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency.min(sessions.len()).max(1) {
        let Some(session) = sessions.get(worker % sessions.len().max(1)).cloned() else {
            break;
        };
        let http = http.clone();
        let base = base.to_owned();
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                match get_page(&http, &base, &session, "/home").await {
                    Some((latency, _)) => latencies.push(latency),
                    None => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let (latencies, errors) = gather_workers(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let paced = paced_pupil_home(http, base, sessions, concurrency, interval, duration).await;
    let pupil_home_html = pupil_home["html_bytes"].as_u64().unwrap_or(0) as usize;
    Ok(json!({
        "stylesheet_bytes": stylesheet_bytes,
        "pupil_home": pupil_home,
        "pupil_home_html_and_css_bytes": pupil_home_html + stylesheet_bytes,
        "teacher_review": teacher_review,
        "pupil_home_under_load": {
            "concurrency": concurrency,
            "pages": latencies.len(),
            "errors": errors,
            "pages_per_sec": latencies.len() as f64 / elapsed,
            "latency": percentiles(latencies),
        },
        "pupil_home_paced": paced,
    }))
}

/// The pupil home page by `concurrency` sessions that each load it once every `interval`, their
/// starts spread evenly over the first interval: sessions in use as pupils use them (a page, then
/// reading it), at far more pages per second than a school makes. Unlike the closed loop above,
/// where every session asks again the moment it is answered and the latency is mostly the queue
/// that makes, this measures what one page costs a session while the others are active.
async fn paced_pupil_home(
    http: &reqwest::Client,
    base: &str,
    sessions: &[Session],
    concurrency: usize,
    interval: Duration,
    duration: Duration,
) -> Value {
    let started = Instant::now();
    let deadline = started + duration;
    let workers_wanted = concurrency.min(sessions.len()).max(1);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..workers_wanted {
        let Some(session) = sessions.get(worker).cloned() else {
            break;
        };
        let http = http.clone();
        let base = base.to_owned();
        let offset = interval.mul_f64(worker as f64 / workers_wanted as f64);
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut next = tokio::time::Instant::from_std(started + offset);
            while next.into_std() < deadline {
                tokio::time::sleep_until(next).await;
                match get_page(&http, &base, &session, "/home").await {
                    Some((latency, _)) => latencies.push(latency),
                    None => errors += 1,
                }
                // A session that fell behind does not make up for it with a burst.
                next = (next + interval).max(tokio::time::Instant::now());
            }
            (latencies, errors)
        });
    }
    let (latencies, errors) = gather_workers(workers).await;
    json!({
        "sessions": workers_wanted,
        "interval_ms": interval.as_millis() as u64,
        "offered_pages_per_sec": workers_wanted as f64 / interval.as_secs_f64(),
        "pages": latencies.len(),
        "errors": errors,
        "latency": percentiles(latencies),
    })
}

async fn measure(arguments: Arguments) -> Result<(), String> {
    use std::io::Write;
    let data = tempfile::tempdir().map_err(|error| error.to_string())?;
    let data_dir = data.path().join("node");
    let setup_started = Instant::now();
    let (pupils, teachers) = {
        let data_dir = data_dir.clone();
        let count = arguments.pupils;
        tokio::task::spawn_blocking(move || set_up_school(&data_dir, count))
            .await
            .map_err(|error| error.to_string())??
    };
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let node = start_node_child(&data_dir)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .map_err(|error| error.to_string())?;
    // Loads the roster index once, as the first pupil of the morning would.
    let _ = login(&http, &node.base, &pupils[0]).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = resident_bytes(node.child.id());

    let bell = arguments.bell.min(pupils.len() / 2).max(1);
    let (at_once, mut sessions) = bell_at_once(&http, &node.base, &pupils[..bell]).await;
    let (spread, mut spread_sessions) = bell_spread(
        &http,
        &node.base,
        &pupils[bell..(2 * bell).min(pupils.len())],
        Duration::from_secs(arguments.bell_secs),
    )
    .await;
    sessions.append(&mut spread_sessions);
    let read_report = reads(
        &http,
        &node.base,
        &sessions,
        arguments.read_concurrency,
        Duration::from_secs(arguments.read_secs),
    )
    .await;
    let (write_report, written) = writes(
        &http,
        &node.base,
        &teachers,
        &sessions,
        arguments.write_concurrency,
        Duration::from_secs(arguments.write_secs),
    )
    .await?;
    let page_report = web_pages(
        &http,
        &node.base,
        &written,
        &sessions,
        arguments.read_concurrency,
        Duration::from_millis(arguments.page_interval_ms.max(1)),
        Duration::from_secs(arguments.page_secs),
    )
    .await?;
    let rss_after = resident_bytes(node.child.id());
    tokio::time::sleep(Duration::from_secs(arguments.settle_secs)).await;
    let rss_settled = resident_bytes(node.child.id());
    drop(node);
    let rebuild_report = {
        let data_dir = data_dir.clone();
        let (files, file_kib) = (arguments.rebuild_files, arguments.rebuild_file_kib);
        tokio::task::spawn_blocking(move || rebuild::measure(&data_dir, files, file_kib))
            .await
            .map_err(|error| error.to_string())??
    };
    let report = json!({
        "machine": { "cores": std::thread::available_parallelism().map(|cores| cores.get()).unwrap_or(1) },
        "allocator": node::allocator::NAME,
        "school": { "pupils": pupils.len(), "teachers": teachers.len(), "guardians": pupils.len(), "setup_secs": setup_secs },
        "node_resident_bytes_idle": rss_idle,
        "node_resident_bytes_after_load": rss_after,
        "settle_secs": arguments.settle_secs,
        "node_resident_bytes_after_settling": rss_settled,
        "password_hash": { "algorithm": "argon2id", "memory_kib": node::auth::ARGON2_MEMORY_KIB, "iterations": node::auth::ARGON2_ITERATIONS, "parallelism": node::auth::ARGON2_PARALLELISM },
        "bell_at_once": at_once,
        "bell_spread": spread,
        "reads": read_report,
        "durable_writes": write_report,
        "web_pages": page_report,
        "rebuild_from_relay": rebuild_report,
    });
    let _ = writeln!(std::io::stdout(), "{report:#}");
    Ok(())
}

/// The rebuild phase: the school's store synced to a relay store, then a new empty store under the
/// same identity rebuilt from it, each over the real sync engine with frames passed in memory.
mod rebuild {
    use std::path::Path;
    use std::time::Instant;

    use serde_json::{Value, json};
    use sync_protocol::ids::{NodeId, Scope};
    use sync_protocol::session::{Session, SessionConfig};
    use sync_protocol::store::ReplicaStore;
    use sync_protocol::wire::FRAME_HEADER_BYTES;
    use sync_store::SledStore;

    /// Rounds of delivery before the phase gives up; a rebuild takes a handful.
    const MAX_ROUNDS: usize = 100_000;

    struct Traffic {
        bytes: u64,
        rounds: u64,
    }

    fn scopes() -> Result<Vec<Scope>, String> {
        ["school:30076", "municipality:092"]
            .iter()
            .map(|scope| scope.parse().map_err(|error| format!("{error}")))
            .collect()
    }

    fn sync(node_store: &mut SledStore, relay_store: &mut SledStore) -> Result<Traffic, String> {
        let node_id: NodeId = "node-30076-load"
            .parse()
            .map_err(|error| format!("{error}"))?;
        let relay_id: NodeId = "relay".parse().map_err(|error| format!("{error}"))?;
        let scopes = scopes()?;
        let mut node = Session::new(
            SessionConfig::new(
                node_id.clone(),
                relay_id.clone(),
                scopes.clone(),
                scopes.clone(),
            ),
            node_store,
            0,
        );
        let mut relay = Session::new(
            SessionConfig::new(relay_id, node_id, scopes.clone(), scopes),
            relay_store,
            0,
        );
        let mut traffic = Traffic {
            bytes: 0,
            rounds: 0,
        };
        for _ in 0..MAX_ROUNDS {
            let to_relay: Vec<Vec<u8>> =
                std::iter::from_fn(|| node.poll_transmit(node_store)).collect();
            let to_node: Vec<Vec<u8>> =
                std::iter::from_fn(|| relay.poll_transmit(relay_store)).collect();
            if to_relay.is_empty() && to_node.is_empty() {
                return Ok(traffic);
            }
            traffic.rounds += 1;
            for frame in &to_relay {
                traffic.bytes += frame.len() as u64;
                relay.handle_payload(relay_store, &frame[FRAME_HEADER_BYTES..], 0);
            }
            for frame in &to_node {
                traffic.bytes += frame.len() as u64;
                node.handle_payload(node_store, &frame[FRAME_HEADER_BYTES..], 0);
            }
            for (session, store) in [
                (&mut node, &mut *node_store),
                (&mut relay, &mut *relay_store),
            ] {
                ReplicaStore::flush(store).map_err(|error| error.to_string())?;
                session.handle_durable(store);
                while session.poll_event().is_some() {}
            }
        }
        Err("the rebuild never went quiet".into())
    }

    pub fn measure(node_data_dir: &Path, files: usize, file_kib: usize) -> Result<Value, String> {
        let store_dir = super::node_config(node_data_dir).store_dir();
        let mut node_store = SledStore::open(&store_dir).map_err(|error| error.to_string())?;
        let school: Scope = "school:30076".parse().map_err(|error| format!("{error}"))?;
        for number in 0..files {
            // Distinct content per file, so that each is its own blob.
            let mut content = vec![(number % 251) as u8; file_kib * 1024];
            content[..8].copy_from_slice(&(number as u64).to_le_bytes());
            node_store
                .put_blob(&school, &content)
                .map_err(|error| error.to_string())?;
        }
        node_store
            .wait_durable()
            .map_err(|error| error.to_string())?;
        let relay_dir = tempfile::tempdir().map_err(|error| error.to_string())?;
        let mut relay_store =
            SledStore::open(relay_dir.path()).map_err(|error| error.to_string())?;
        let started = Instant::now();
        let first = sync(&mut node_store, &mut relay_store)?;
        let first_secs = started.elapsed().as_secs_f64();
        let documents = relay_store.document_count();
        let mut saved_bytes = 0u64;
        for doc in relay_store
            .document_ids()
            .map_err(|error| error.to_string())?
        {
            saved_bytes += relay_store
                .saved_document(&doc)
                .map_err(|error| error.to_string())?
                .map_or(0, |saved| saved.len() as u64);
        }
        drop(node_store);

        // The disk is lost: an empty store under the same identity pulls everything back.
        let rebuilt_dir = tempfile::tempdir().map_err(|error| error.to_string())?;
        let mut rebuilt_store =
            SledStore::open(rebuilt_dir.path()).map_err(|error| error.to_string())?;
        let started = Instant::now();
        let rebuild = sync(&mut rebuilt_store, &mut relay_store)?;
        rebuilt_store
            .wait_durable()
            .map_err(|error| error.to_string())?;
        let rebuild_secs = started.elapsed().as_secs_f64();
        let whole = rebuilt_store
            .scope_summary(&school)
            .map_err(|error| error.to_string())?
            == relay_store
                .scope_summary(&school)
                .map_err(|error| error.to_string())?;
        if !whole {
            return Err("the rebuilt store does not hold what the relay holds".into());
        }
        let file_bytes = (files * file_kib * 1024) as u64;
        Ok(json!({
            "documents": documents,
            "documents_saved_bytes": saved_bytes,
            "files": files,
            "file_bytes": file_bytes,
            "first_sync": { "bytes": first.bytes, "rounds": first.rounds, "secs": first_secs },
            "rebuild": {
                "bytes": rebuild.bytes,
                "rounds": rebuild.rounds,
                "secs": rebuild_secs,
                "bytes_beyond_files_per_saved_byte": (rebuild.bytes.saturating_sub(file_bytes)) as f64 / saved_bytes.max(1) as f64,
            },
        }))
    }
}
