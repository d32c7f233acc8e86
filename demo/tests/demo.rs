//! The demo binary end to end: started on a temporary data directory with free ports, it prints
//! that it is ready with the addresses and logins; the printed pupil logs in at the first school
//! and sees the demo's assignments and timetable; the second school serves its own data and
//! receives the municipality's announcement through the relay; Ctrl-C (SIGINT) stops it with
//! status 0; started again on the same directory it reuses everything (the same node ids, the same
//! assignments, none twice).

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long the demo may take to print that it is ready. The first run enrols two nodes, imports
/// two rosters and writes the demo data through the API, in a debug build on a shared two-core
/// machine; it takes seconds, and the bound leaves room for a loaded machine.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// How long the demo may take to exit after SIGINT: both nodes and the relay stop with their
/// stores flushed, each within its own bound of 20 s.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the municipality's announcement, written at the first school, may take to reach the
/// second school through the relay. On loopback it takes well under a second.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a condition is checked again while waiting for it.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Days before and after today whose timetable is asked for: a week holds weekdays whatever today
/// is, so at least one of them has lessons.
const TIMETABLE_DAYS_AROUND_TODAY: i64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_its_schools_stops_on_ctrl_c_and_reuses_its_data() {
    let data = tempfile::tempdir().expect("tempdir");
    let ports = FreePorts::find();

    let mut first_run = DemoProcess::start(data.path(), &ports);
    let printed = first_run.wait_until_ready();
    let first_school = printed.school("30076");
    let second_school = printed.school("30077");
    assert!(printed.operations.starts_with("http://127.0.0.1:"));
    assert!(
        printed.operator_token.len() >= 16,
        "an operator token is printed"
    );

    // The printed web address is the web UI's: it leads a browser to the login page.
    let login_page = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("http client")
        .get(&first_school.web)
        .send()
        .await
        .expect("the printed web address answers");
    assert_eq!(login_page.status(), 200, "{}", first_school.web);
    assert!(
        login_page.url().path().starts_with("/login"),
        "an anonymous visitor of the web address is sent to the login page: {}",
        login_page.url()
    );
    let login_html = login_page.text().await.expect("the login page");
    assert!(
        login_html.contains("type=\"password\""),
        "the login page asks for a password: {login_html}"
    );

    // The printed pupil at the first school: their classes, the demo's assignments (one of them
    // returned with feedback) and a timetable with lessons.
    let pupil = ApiSession::login(&first_school.base, &first_school.pupil, &printed.password).await;
    let me = pupil.get("/api/v1/me").await;
    assert_eq!(me["school"], "30076");
    let assignments = assignments_of(&pupil).await;
    assert!(
        assignments.len() >= 3,
        "the pupil sees an assignment in each subject: {assignments:?}"
    );
    assert!(
        assignments.values().any(|status| status == "returned"),
        "one of the pupil's assignments was returned with feedback: {assignments:?}"
    );
    assert!(
        assignments.values().any(|status| status == "submitted"),
        "one of the pupil's assignments waits for the teacher: {assignments:?}"
    );
    assert!(
        lessons_this_week(&pupil).await > 0,
        "the pupil's timetable has lessons"
    );

    // The second school serves its own roster and data, and receives the municipality's
    // announcement written at the first school, through the relay.
    let other_pupil =
        ApiSession::login(&second_school.base, &second_school.pupil, &printed.password).await;
    let other_me = other_pupil.get("/api/v1/me").await;
    assert_eq!(other_me["school"], "30077");
    let classes = |me: &Value| -> BTreeSet<String> {
        me["classes"]
            .as_array()
            .map(|classes| {
                classes
                    .iter()
                    .filter_map(|class| class["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(!classes(&other_me).is_empty());
    assert!(classes(&me).is_disjoint(&classes(&other_me)));
    assert!(!assignments_of(&other_pupil).await.is_empty());
    let deadline = Instant::now() + SYNC_TIMEOUT;
    loop {
        let announcements = other_pupil.get("/api/v1/announcements").await;
        let from_municipality = announcements.as_array().is_some_and(|items| {
            items
                .iter()
                .any(|item| item["audience"]["kind"] == "municipality")
        });
        if from_municipality {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the municipality's announcement did not reach the second school: {announcements}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }

    let status = first_run.interrupt_and_wait();
    assert_eq!(status.code(), Some(0), "the demo exits cleanly on Ctrl-C");

    // Again on the same directory: the same nodes, the same data, nothing written twice.
    let mut second_run = DemoProcess::start(data.path(), &ports);
    let printed_again = second_run.wait_until_ready();
    for code in ["30076", "30077"] {
        assert_eq!(
            printed_again.school(code).node,
            printed.school(code).node,
            "school {code} is not enrolled again"
        );
        assert_eq!(printed_again.school(code).pupil, printed.school(code).pupil);
    }
    assert_eq!(printed_again.operator_token, printed.operator_token);
    let pupil = ApiSession::login(&first_school.base, &first_school.pupil, &printed.password).await;
    assert_eq!(
        assignments_of(&pupil).await,
        assignments,
        "the same assignments, none created twice"
    );
    let status = second_run.interrupt_and_wait();
    assert_eq!(status.code(), Some(0), "the second run exits cleanly too");
}

/// Every assignment of the caller's classes: id → the caller's submission status.
async fn assignments_of(pupil: &ApiSession) -> BTreeMap<String, String> {
    let me = pupil.get("/api/v1/me").await;
    let mut assignments = BTreeMap::new();
    for class in me["classes"].as_array().cloned().unwrap_or_default() {
        let class_id = class["id"].as_str().expect("class id");
        let page = pupil
            .get(&format!("/api/v1/classes/{class_id}/assignments"))
            .await;
        for assignment in page["assignments"].as_array().cloned().unwrap_or_default() {
            let id = assignment["id"].as_str().expect("assignment id").to_owned();
            let status = assignment["my_submission"]["status"]
                .as_str()
                .unwrap_or("none")
                .to_owned();
            assert!(
                assignments.insert(id, status).is_none(),
                "an assignment is listed once"
            );
        }
    }
    assignments
}

/// The lessons of the caller's day view, summed over the days around today.
async fn lessons_this_week(pupil: &ApiSession) -> usize {
    let today = time::OffsetDateTime::now_utc().date();
    let mut lessons = 0;
    for offset in -TIMETABLE_DAYS_AROUND_TODAY..=TIMETABLE_DAYS_AROUND_TODAY {
        let date = today + time::Duration::days(offset);
        let day = pupil.get(&format!("/api/v1/timetable?date={date}")).await;
        lessons += day["lessons"].as_array().map_or(0, Vec::len);
    }
    lessons
}

/// Free loopback ports for the demo's four listeners, found by binding port 0 and letting go.
struct FreePorts {
    relay: u16,
    operations: u16,
    first_school: u16,
    second_school: u16,
}

impl FreePorts {
    fn find() -> Self {
        // The TCP listeners are held together so that the three ports differ.
        let tcp: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("free TCP port"))
            .collect();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("free UDP port");
        let port =
            |listener: &std::net::TcpListener| listener.local_addr().expect("address").port();
        Self {
            relay: udp.local_addr().expect("address").port(),
            operations: port(&tcp[0]),
            first_school: port(&tcp[1]),
            second_school: port(&tcp[2]),
        }
    }
}

/// The demo binary as a child process, its standard output read line by line on a thread.
struct DemoProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl DemoProcess {
    fn start(data_dir: &Path, ports: &FreePorts) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_digione-demo"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--relay-port", &ports.relay.to_string()])
            .args(["--operations-port", &ports.operations.to_string()])
            .args(["--first-school-port", &ports.first_school.to_string()])
            .args(["--second-school-port", &ports.second_school.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the demo starts");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                println!("demo: {line}");
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Reads the output until the ready line and returns what it printed.
    fn wait_until_ready(&mut self) -> Printed {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut lines = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(remaining) {
                Ok(line) if line.starts_with("Ready.") => return Printed::parse(&lines),
                Ok(line) => lines.push(line),
                Err(error) => panic!(
                    "the demo was not ready within {READY_TIMEOUT:?} ({error}); it printed {lines:#?}"
                ),
            }
        }
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does, and waits for the exit.
    fn interrupt_and_wait(mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGINT delivered");
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("the demo's status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not exit within {EXIT_TIMEOUT:?} of SIGINT"
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for DemoProcess {
    /// A failed assertion must not leave the demo running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What the demo printed before its ready line.
#[derive(Debug)]
struct Printed {
    operations: String,
    operator_token: String,
    password: String,
    schools: BTreeMap<String, PrintedSchool>,
}

#[derive(Debug, Clone, Default)]
struct PrintedSchool {
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// The web UI's address, `http://127.0.0.1:PORT/`.
    web: String,
    node: String,
    pupil: String,
    teacher: String,
    guardian: String,
    admin: String,
}

impl Printed {
    /// Reads the sections (`Relay`, `School CODE NAME`) and their `  label  value` lines.
    fn parse(lines: &[String]) -> Self {
        let mut printed = Printed {
            operations: String::new(),
            operator_token: String::new(),
            password: String::new(),
            schools: BTreeMap::new(),
        };
        let mut school: Option<String> = None;
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let Some(password) = line.strip_prefix("Every user's password: ") {
                printed.password = password.trim().to_owned();
                continue;
            }
            match words.as_slice() {
                ["Relay", ..] => school = None,
                ["School", code, ..] => {
                    school = Some((*code).to_owned());
                    printed.schools.entry((*code).to_owned()).or_default();
                }
                [label, value, ..] if line.starts_with("  ") => {
                    let value = (*value).to_owned();
                    match (&school, *label) {
                        (None, "operations") => printed.operations = value,
                        (None, "token") => printed.operator_token = value,
                        (Some(code), label) => {
                            let entry = printed.schools.entry(code.clone()).or_default();
                            match label {
                                "web" => entry.web = value,
                                "api" => entry.base = value.trim_end_matches("/api/v1/").to_owned(),
                                "node" => entry.node = value,
                                "pupil" => entry.pupil = value,
                                "teacher" => entry.teacher = value,
                                "guardian" => entry.guardian = value,
                                "admin" => entry.admin = value,
                                _ => {}
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        assert!(
            !printed.password.is_empty(),
            "the password is printed: {lines:#?}"
        );
        printed
    }

    fn school(&self, code: &str) -> PrintedSchool {
        let school = self
            .schools
            .get(code)
            .cloned()
            .unwrap_or_else(|| panic!("school {code} is printed: {self:#?}"));
        for (what, value) in [
            ("address", &school.base),
            ("web address", &school.web),
            ("node id", &school.node),
            ("pupil", &school.pupil),
            ("teacher", &school.teacher),
            ("guardian", &school.guardian),
            ("admin", &school.admin),
        ] {
            assert!(!value.is_empty(), "school {code}'s {what} is printed");
        }
        school
    }
}

/// A logged-in user of one node; every request must succeed.
struct ApiSession {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl ApiSession {
    async fn login(base: &str, username: &str, password: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("client");
        let response = http
            .post(format!("{base}/api/v1/session"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("login answers");
        assert!(
            response.status().is_success(),
            "{username} logs in at {base}: {}",
            response.status()
        );
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .expect("session cookie")
            .to_owned();
        Self {
            http,
            base: base.to_owned(),
            cookie,
        }
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("the node answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }
}
