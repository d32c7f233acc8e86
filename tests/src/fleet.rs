//! A fleet of real processes for end-to-end scenarios: one `digione-relay` and two `digione-node`s
//! of municipality 092 (schools 30076 and 30077), with the [`FaultProxy`] between the nodes and
//! the relay.
//!
//! [`Fleet::start`] does what an operator and school IT do, through the command lines only:
//! `ca init` and `serve` for the relay on free loopback ports, `enrol` for each school, `init`
//! with the printed token against the proxy's address, `import-roster` (the node crate's OneRoster
//! fixture at 30076, a small package of this crate at 30077), `set-password` for the users the
//! scenarios log in as, then `serve`. Intervals are short (heartbeats every second, reconnect
//! backoff from 100 ms up to 1 s) so that a scenario is quick on a two-core CI machine.
//!
//! Every process writes its stdout and stderr to a log file in the fleet's temporary directory. A
//! failing test keeps that directory and prints where the logs are; processes are killed when the
//! fleet is dropped, so a failing test leaves nothing running. Every wait has a named timeout.
//!
//! Replicas are compared on disk: [`Fleet::stop_all`] stops every process with SIGTERM, after which
//! [`Fleet::replicas`] opens each sled store (the running processes hold their locks) and reads the
//! heads of every document and the strings they contain.
//!
//! Stores can also be sent back in time, as happens in the field: [`Fleet::replace_school`] and
//! [`Fleet::rebuild_school_under_same_id`] wipe a node's disk and install it again (a new id, or
//! the old one by `enrol --node`), and [`copy_directory`] with [`restore_directory`] put a stopped
//! replica's data directory back as an earlier copy left it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use automerge::{ChangeHash, ObjType, ReadDoc, Value};
use serde_json::Value as Json;
use sync_protocol::ids::{BlobId, DocId, Scope};
use sync_store::SledStore;
use tempfile::TempDir;

use crate::fault_proxy::FaultProxy;

/// The password every scenario user gets.
pub const PASSWORD: &str = "correct horse battery staple";
/// The relay's operator token (the operations listener refuses tokens under 16 characters).
pub const OPERATOR_TOKEN: &str = "fleet-harness-operator-token-0123456789";
pub const MUNICIPALITY: &str = "092";
/// The school with the node crate's OneRoster fixture (teachers T01, T02, pupils P01–P12, …).
pub const SCHOOL_A: &str = "30076";
/// The school with this crate's small package (`tests/fixtures/oneroster/school-30077`): teacher
/// T21 `olli.virtanen` of class CLS-8A-MA, pupils P21 `ilona.virtanen21` and P22
/// `aatu.virtanen22`, their guardian G21 `kaisa.virtanen`, principal ADM21 `tuula.rantanen`.
pub const SCHOOL_B: &str = "30077";

/// Users of school 30076 whose passwords are set (see `node/tests/common/mod.rs` for who is who).
pub const SCHOOL_A_USERS: &[&str] = &[
    "leena.korhonen",
    "sari.lehtonen",
    "marja.makinen",
    "aino.makinen01",
    "eino.makinen02",
    "veera.laine03",
    "onni.laine04",
    "helmi.heikkinen05",
    "vaino.heikkinen06",
];
/// Users of school 30077 whose passwords are set.
pub const SCHOOL_B_USERS: &[&str] = &[
    "olli.virtanen",
    "kaisa.virtanen",
    "ilona.virtanen21",
    "aatu.virtanen22",
    "tuula.rantanen",
];

/// One command-line command (`ca init`, `enrol`, `init`, `import-roster`, `set-password`, `revoke`)
/// from start to exit. Enrolment is a QUIC round trip and `set-password` an argon2 hash; both take
/// well under a second, but a debug build on a loaded two-core machine is many times slower.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// From spawning `serve` until the process logs the addresses it listens on (a node opens and
/// scans its store first).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// From SIGTERM until the process has exited (both flush their stores on the way out).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// One HTTP request to a node or the operations listener, answer included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// From a node's `serve` (or a healed link) until it reports itself online. Backoff is capped at
/// 1 s, so this is reconnection attempts plus handshakes on a loaded machine.
pub const ONLINE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long every replica may take to converge once the link is good again: the issue's promise.
pub const CONVERGENCE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a replica whose store was lost or went back in time may take to hold everything again
/// once it serves: a whole school's documents and its files from the relay (or the relay's from the
/// nodes), on a loaded machine.
pub const RESTORE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often waits re-check their condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Heartbeats every second on both sides (the smallest either accepts), so that a cut link is
/// noticed within three seconds and a healed one resyncs within one.
const HEARTBEAT_INTERVAL_SECS: &str = "1";

/// The relay's stale-node threshold in this harness (its smallest allowed); see
/// `certificates.offline_maximum` in `cloud-relay/relay.example.toml`.
pub const RELAY_OFFLINE_MAXIMUM: &str = "10s";

/// The paths of the binaries, built once per test process.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub relay: PathBuf,
    pub node: PathBuf,
    pub operator: PathBuf,
}

/// Locates `e2e-digione-relay`, `e2e-digione-node` and `e2e-digione-operator`, this package's own
/// builds of the programs (see `src/bin/`). Cargo builds a package's binaries before its integration tests, into
/// the directory above the test executable's `deps/`, so they are always as fresh as the test.
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let test_executable = std::env::current_exe().expect("the test knows its own path");
        let profile_directory = test_executable
            .parent()
            .and_then(Path::parent)
            .expect("test executables live in <target>/<profile>/deps");
        let locate = |binary: &str| {
            let path = profile_directory.join(format!("{binary}{}", std::env::consts::EXE_SUFFIX));
            assert!(
                path.is_file(),
                "{} is missing; cargo builds it with this package's tests",
                path.display()
            );
            path
        };
        Binaries {
            relay: locate("e2e-digione-relay"),
            node: locate("e2e-digione-node"),
            operator: locate("e2e-digione-operator"),
        }
    })
}

/// Polls `condition` every [`POLL_INTERVAL`] until it holds; panics naming `what` after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if condition().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Processes.

/// A long-running child process (`serve`) whose output goes to a log file; killed on drop.
#[derive(Debug)]
pub struct ServeProcess {
    name: String,
    program: PathBuf,
    environment: Vec<(String, String)>,
    log_path: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl ServeProcess {
    fn new(name: &str, program: &Path, environment: Vec<(String, String)>, logs: &Path) -> Self {
        ServeProcess {
            name: name.to_owned(),
            program: program.to_owned(),
            environment,
            log_path: logs.join(format!("{name}.log")),
            child: None,
            starts: 0,
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Spawns `serve` and waits until its log has a line containing `ready_marker` written by
    /// this start; returns that line. Earlier starts' lines are in the same log, above a marker.
    async fn start(&mut self, ready_marker: &str) -> String {
        assert!(!self.is_running(), "{} is already running", self.name);
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file opens");
        writeln!(log, "===== {} start {} =====", self.name, self.starts).expect("log marker");
        let offset = log.metadata().expect("log metadata").len() as usize;
        let mut command = Command::new(&self.program);
        command
            .arg("serve")
            .envs(self.environment.iter().map(|(key, value)| (key, value)))
            .env("RUST_LOG", "info")
            .env_remove("DIGIONE_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        self.child = Some(command.spawn().expect("serve starts"));
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            if let Some(line) = text
                .get(offset..)
                .and_then(|new| new.lines().find(|line| line.contains(ready_marker)))
            {
                return line.to_owned();
            }
            assert!(
                self.is_running(),
                "{} exited before serving; see {}",
                self.name,
                self.log_path.display()
            );
            assert!(
                started.elapsed() < STARTUP_TIMEOUT,
                "{} did not log {ready_marker:?} within {STARTUP_TIMEOUT:?}; see {}",
                self.name,
                self.log_path.display()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// SIGKILL: the process gets no chance to flush or say goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to [`STOP_TIMEOUT`] for a clean exit (SIGKILL and a panic if not).
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // std offers only SIGKILL; the `kill` utility sends SIGTERM without an extra dependency.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    assert!(
                        status.success(),
                        "{} exited with {status} on SIGTERM; see {}",
                        self.name,
                        self.log_path.display()
                    );
                    return;
                }
                Ok(None) if started.elapsed() < STOP_TIMEOUT => {
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{} did not stop within {STOP_TIMEOUT:?} of SIGTERM; see {}",
                        self.name,
                        self.log_path.display()
                    );
                }
            }
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of `name=` in a log line (`… relay serving sync=127.0.0.1:4433 operations=…`).
fn log_field(line: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(prefix.as_str()))
        .map(str::to_owned)
}

/// The value of an unlabelled gauge `name` in an OpenMetrics text (`name 42`).
fn gauge_value(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(name))
            .then(|| words.next())
            .flatten()
            .and_then(|value| value.parse::<f64>().ok())
            .map(|value| value as u64)
    })
}

/// Whether a node's `GET /api/v1/sync/status` reads as "in sync with nothing waiting": linked, no
/// document or file waiting to go out, and the relay's count of what it still has to send known and
/// zero. Right after a reconnect neither side has heard the other's heartbeat yet, and "nothing
/// reported" is not "nothing waits", so an unknown count does not read as in sync.
pub fn claims_in_sync(status: &Json) -> bool {
    status["connected"] == true
        && status["documents_waiting_to_send"] == 0
        && status["blobs_waiting_to_send"] == 0
        && status["documents_waiting_to_receive"].as_u64() == Some(0)
}

/// Copies the directory `from` with everything in it to `to`, which must not exist yet: a backup of
/// a stopped replica's data directory, as an administrator takes one (permissions kept, so the key
/// files and the admin token stay private).
pub fn copy_directory(from: &Path, to: &Path) {
    assert!(
        !to.exists(),
        "{} exists already; a copy goes to a new place",
        to.display()
    );
    std::fs::create_dir_all(to).unwrap_or_else(|error| panic!("{}: {error}", to.display()));
    let permissions = std::fs::metadata(from)
        .unwrap_or_else(|error| panic!("{}: {error}", from.display()))
        .permissions();
    std::fs::set_permissions(to, permissions).expect("directory permissions copied");
    for entry in
        std::fs::read_dir(from).unwrap_or_else(|error| panic!("{}: {error}", from.display()))
    {
        let entry = entry.expect("directory entry");
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_directory(&source, &target);
        } else if kind.is_file() {
            std::fs::copy(&source, &target).unwrap_or_else(|error| {
                panic!(
                    "copying {} to {}: {error}",
                    source.display(),
                    target.display()
                )
            });
        } else {
            panic!(
                "{} is neither a file nor a directory; a data directory holds none such",
                source.display()
            );
        }
    }
}

/// Puts the copy `backup` back in place of the directory `target`: `target` is deleted and the
/// copy copied there, so the backup itself stays as it was (it could be restored again).
pub fn restore_directory(target: &Path, backup: &Path) {
    std::fs::remove_dir_all(target)
        .unwrap_or_else(|error| panic!("removing {}: {error}", target.display()));
    copy_directory(backup, target);
}

/// Runs one command to completion within [`COMMAND_TIMEOUT`], its stderr appended to
/// `commands.log`; panics unless it succeeds, and returns its stdout.
fn run_command(logs: &Path, mut command: Command, stdin: Option<&str>) -> String {
    let described = format!("{command:?}");
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join("commands.log"))
        .expect("commands log opens");
    writeln!(log, "===== {described}").expect("commands log");
    let stdout_path = logs.join("last-command.stdout");
    command
        .env_remove("DIGIONE_LOG_FORMAT")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(File::create(&stdout_path).expect("stdout file"))
        .stderr(log);
    let mut child = command.spawn().expect("command starts");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin piped")
            .write_all(text.as_bytes())
            .expect("stdin written");
    }
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("command status") {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{described} did not finish within {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "{described} failed with {status}; see {}",
        logs.join("commands.log").display()
    );
    std::fs::read_to_string(stdout_path).expect("stdout readable")
}

// ---------------------------------------------------------------------------------------------
// The relay.

#[derive(Debug)]
pub struct RelayProcess {
    pub data_dir: PathBuf,
    pub process: ServeProcess,
    pub sync_address: SocketAddr,
    pub operations_base: String,
    logs: PathBuf,
}

impl RelayProcess {
    fn environment(data_dir: &Path) -> Vec<(String, String)> {
        [
            (
                "DIGIONE_RELAY_DATA_DIR",
                data_dir.to_string_lossy().as_ref(),
            ),
            // Port 0 on every start: a restarted relay gets a fresh port, and the fleet points
            // the proxy at it, so no test ever races another process for a remembered port.
            ("DIGIONE_RELAY_SYNC__LISTEN", "127.0.0.1:0"),
            ("DIGIONE_RELAY_OPERATIONS__LISTEN", "127.0.0.1:0"),
            ("DIGIONE_RELAY_OPERATIONS__OPERATOR_TOKEN", OPERATOR_TOKEN),
            (
                "DIGIONE_RELAY_SYNC__HEARTBEAT_INTERVAL_SECS",
                HEARTBEAT_INTERVAL_SECS,
            ),
            ("DIGIONE_RELAY_SYNC__KEEP_ALIVE_SECS", "1"),
            // Five heartbeats: a cut link ends the connection within seconds, while a relay busy
            // with a catch-up on a loaded machine is not taken for a dead one.
            ("DIGIONE_RELAY_SYNC__IDLE_TIMEOUT_SECS", "5"),
            // Longer than the smallest allowed (two heartbeats), so that a burst on a lossy link
            // is not mistaken for a stalled peer.
            ("DIGIONE_RELAY_SYNC__WRITE_STALL_TIMEOUT_SECS", "10"),
            // The stale-node policy at its shortest, so that the stale-node scenario sees a node
            // switched off for seconds become `lost` as one switched off for months would.
            (
                "DIGIONE_RELAY_CERTIFICATES__OFFLINE_MAXIMUM",
                RELAY_OFFLINE_MAXIMUM,
            ),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    }

    fn command(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new(&binaries().relay);
        command
            .args(arguments)
            .envs(Self::environment(&self.data_dir));
        command
    }

    /// Runs a relay command (`enrol`, `revoke`) while the relay serves; returns its stdout.
    pub fn run(&self, arguments: &[&str]) -> String {
        run_command(&self.logs, self.command(arguments), None)
    }

    /// Starts `serve` and learns its addresses from its log.
    pub async fn start(&mut self) {
        let line = self.process.start("relay serving").await;
        self.sync_address = log_field(&line, "sync")
            .and_then(|address| address.parse().ok())
            .expect("the relay logs its sync address");
        self.operations_base = format!(
            "http://{}",
            log_field(&line, "operations").expect("the relay logs its operations address")
        );
    }

    /// `GET /api/v1/fleet` as an operator.
    pub async fn fleet(&self) -> Json {
        self.operations_get("/api/v1/fleet").await
    }

    /// `GET /api/v1/fleet?…` as an operator, `query` starting with `?`.
    pub async fn fleet_query(&self, query: &str) -> Json {
        self.operations_get(&format!("/api/v1/fleet{query}")).await
    }

    /// `GET /metrics` as an operator: the OpenMetrics text.
    pub async fn metrics(&self) -> String {
        let response = http_client()
            .get(format!("{}/metrics", self.operations_base))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .expect("the relay's metrics answer");
        assert!(
            response.status().is_success(),
            "GET /metrics: {}",
            response.status()
        );
        response.text().await.expect("metrics text")
    }

    /// How many documents the relay's store holds now (`digione_relay_store_documents`, counted by
    /// the store on every write, so it is current at each scrape).
    pub async fn store_documents(&self) -> u64 {
        let metrics = self.metrics().await;
        gauge_value(&metrics, "digione_relay_store_documents")
            .unwrap_or_else(|| panic!("the relay's metrics count its documents:\n{metrics}"))
    }

    /// The relay's replica read from disk. The relay must be stopped (it holds the store's lock).
    pub fn replica_on_disk(&self) -> Replica {
        assert!(
            self.process.child.is_none(),
            "the relay must be stopped before its store is read"
        );
        Replica::read("relay", &self.data_dir.join("store"))
    }

    /// `GET /api/v1/fleet/{node}` as an operator.
    pub async fn fleet_node(&self, node_id: &str) -> Json {
        self.operations_get(&format!("/api/v1/fleet/{node_id}"))
            .await
    }

    async fn operations_get(&self, path: &str) -> Json {
        let response = http_client()
            .get(format!("{}{path}", self.operations_base))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path} at the relay: {error}"));
        assert!(
            response.status().is_success(),
            "GET {path} at the relay: {}",
            response.status()
        );
        response.json().await.expect("the fleet view is JSON")
    }
}

// ---------------------------------------------------------------------------------------------
// School nodes.

#[derive(Debug)]
pub struct SchoolNode {
    pub school: String,
    pub data_dir: PathBuf,
    pub process: ServeProcess,
    /// `http://127.0.0.1:PORT` of the running node (a new port on every start).
    pub base: String,
    /// The node id the relay issued at enrolment.
    pub node_id: String,
}

impl SchoolNode {
    fn environment(data_dir: &Path, relay_address: SocketAddr) -> Vec<(String, String)> {
        [
            ("DIGIONE_NODE_DATA_DIR", data_dir.to_string_lossy().as_ref()),
            ("DIGIONE_NODE_HTTP__LISTEN", "127.0.0.1:0"),
            ("DIGIONE_NODE_RELAY__ADDRESS", &relay_address.to_string()),
            // The relay's certificate names "localhost"; the nodes connect to an IP address.
            ("DIGIONE_NODE_RELAY__SERVER_NAME", "localhost"),
            (
                "DIGIONE_NODE_RELAY__HEARTBEAT_INTERVAL_SECS",
                HEARTBEAT_INTERVAL_SECS,
            ),
            ("DIGIONE_NODE_RELAY__BACKOFF_INITIAL_MILLIS", "100"),
            ("DIGIONE_NODE_RELAY__BACKOFF_MAX_SECS", "1"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    }

    /// Starts `serve` and learns its HTTP address from its log.
    pub async fn start(&mut self) {
        let line = self.process.start("node serving").await;
        self.base = format!(
            "http://{}",
            log_field(&line, "http").expect("the node logs its HTTP address")
        );
    }

    /// SIGKILL and start again on the same data directory.
    pub async fn crash_and_restart(&mut self) {
        self.process.kill();
        self.start().await;
    }

    /// `GET /api/v1/sync/status` as the node's machine administrator, with the local admin token
    /// (`<data_dir>/admin.token`, written by `serve`): without it the status holds only `state`,
    /// and a replaced node has no roster or passwords to log in with until its school comes back.
    pub async fn sync_status(&self) -> Json {
        let token_file = self.data_dir.join("admin.token");
        let token = std::fs::read_to_string(&token_file).unwrap_or_else(|error| {
            panic!("{}: {error}", token_file.display());
        });
        http_client()
            .get(format!("{}/api/v1/sync/status", self.base))
            .bearer_auth(token.trim())
            .send()
            .await
            .expect("sync status answers")
            .json()
            .await
            .expect("sync status is JSON")
    }

    /// How many documents the node's store holds now (`digione_node_store_documents` from
    /// `GET /metrics`, which needs no login; the store keeps the count on every write).
    pub async fn store_documents(&self) -> u64 {
        let metrics = http_client()
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("the node's metrics answer")
            .text()
            .await
            .expect("metrics text");
        gauge_value(&metrics, "digione_node_store_documents").unwrap_or_else(|| {
            panic!(
                "the metrics of school {} count its documents:\n{metrics}",
                self.school
            )
        })
    }

    /// The node's replica read from disk. The node must be stopped (it holds the store's lock).
    pub fn replica_on_disk(&self) -> Replica {
        assert!(
            self.process.child.is_none(),
            "the node of school {} must be stopped before its store is read",
            self.school
        );
        Replica::read(
            &format!("node-{}", self.school),
            &self.data_dir.join("store"),
        )
    }

    pub async fn wait_online(&self) -> Duration {
        wait_until(
            &format!("school {} is online", self.school),
            ONLINE_TIMEOUT,
            || async { self.sync_status().await["mode"] == "online" },
        )
        .await
    }

    /// Logs in through the API as `username` with [`PASSWORD`].
    pub async fn login(&self, username: &str) -> ApiSession {
        try_login(&self.base, username)
            .await
            .unwrap_or_else(|error| panic!("{username} logs in at {}: {error}", self.school))
    }
}

/// Logs in at the node serving `base` as `username` with [`PASSWORD`]; `Err` says why not (the
/// node is down, the answer was not a session), for callers that crash nodes meanwhile.
pub async fn try_login(base: &str, username: &str) -> Result<ApiSession, String> {
    let http = http_client();
    let response = http
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .map_err(|error| format!("no answer: {error}"))?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .ok_or("no session cookie")?
        .to_owned();
    let body: Json = response
        .json()
        .await
        .map_err(|error| format!("unreadable login answer: {error}"))?;
    let csrf = body["csrf_token"]
        .as_str()
        .ok_or("no CSRF token in the login answer")?
        .to_owned();
    Ok(ApiSession {
        http,
        base: base.to_owned(),
        username: username.to_owned(),
        cookie,
        csrf,
    })
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .expect("HTTP client")
}

/// A logged-in user: the session cookie and the CSRF token on every request.
#[derive(Debug, Clone)]
pub struct ApiSession {
    http: reqwest::Client,
    pub base: String,
    pub username: String,
    cookie: String,
    csrf: String,
}

/// A status and a JSON body (or the body's text as a JSON string when it is not JSON).
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Json,
}

impl ApiResponse {
    pub fn acknowledged(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl ApiSession {
    /// One request; `Err` when no answer came (connection refused or reset, a timeout), which a
    /// caller crashing the node must expect.
    pub async fn try_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Json>,
    ) -> Result<ApiResponse, reqwest::Error> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
        Ok(ApiResponse { status, body })
    }

    /// One request that must succeed (2xx); returns the body.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Json {
        let response = self
            .try_send(method.clone(), path, body)
            .await
            .unwrap_or_else(|error| panic!("{method} {path} as {}: {error}", self.username));
        assert!(
            response.acknowledged(),
            "{method} {path} as {}: {} {}",
            self.username,
            response.status,
            response.body
        );
        response.body
    }

    pub async fn get(&self, path: &str) -> Json {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// The `Cookie` header value of the session, for requests a browser would make (the OpenID
    /// Provider's authorisation endpoint).
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    pub async fn post(&self, path: &str, body: Json) -> Json {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Json) -> Json {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// A `GET` that must succeed, returning the body's bytes (a file download).
    pub async fn download(&self, path: &str) -> Vec<u8> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path} as {}: {error}", self.username));
        let status = response.status();
        assert!(
            status.is_success(),
            "GET {path} as {}: {status}",
            self.username
        );
        response.bytes().await.expect("download body").to_vec()
    }

    /// `POST /api/v1/files?name=…`: stores `bytes` and returns the file reference to attach.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> Json {
        let response = self
            .http
            .post(format!("{}/api/v1/files", self.base))
            .query(&[("name", name)])
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("upload request");
        let status = response.status();
        let body: Json = response.json().await.unwrap_or_default();
        assert!(status.is_success(), "upload {name}: {status} {body}");
        body
    }
}

// ---------------------------------------------------------------------------------------------
// The fleet.

/// The relay, the proxy and the two school nodes, with their shared temporary directory.
#[derive(Debug)]
pub struct Fleet {
    /// `None` once kept for a failed test's logs.
    dir: Option<TempDir>,
    pub root: PathBuf,
    pub logs: PathBuf,
    pub proxy: FaultProxy,
    pub relay: RelayProcess,
    /// School 30076 first, then 30077.
    pub schools: Vec<SchoolNode>,
}

impl Fleet {
    /// Starts the relay, the proxy (decisions from `seed`) and both school nodes, enrolled and
    /// online, with their rosters and passwords.
    pub async fn start(name: &str, seed: u64) -> Fleet {
        let build_started = Instant::now();
        let binaries = tokio::task::spawn_blocking(binaries)
            .await
            .expect("the binaries build");
        let built_in = build_started.elapsed();
        let setup_started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix(&format!("digione-{name}-"))
            .tempdir()
            .expect("tempdir");
        let root = dir.path().to_owned();
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs).expect("log directory");
        eprintln!("[{name}] fleet in {} (proxy seed {seed})", root.display());

        let relay_data = root.join("relay");
        let mut relay = RelayProcess {
            process: ServeProcess::new(
                "relay",
                &binaries.relay,
                RelayProcess::environment(&relay_data),
                &logs,
            ),
            data_dir: relay_data,
            sync_address: "127.0.0.1:0".parse().expect("address"),
            operations_base: String::new(),
            logs: logs.clone(),
        };
        relay.run(&["ca", "init"]);
        relay.start().await;
        let proxy = FaultProxy::start(relay.sync_address, seed)
            .await
            .expect("the proxy starts");

        let mut fleet = Fleet {
            dir: Some(dir),
            root,
            logs,
            proxy,
            relay,
            schools: Vec::new(),
        };
        let fixtures = [
            (
                SCHOOL_A,
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/tests/fixtures/oneroster/bulk"),
                SCHOOL_A_USERS,
            ),
            (
                SCHOOL_B,
                Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/oneroster/school-30077"),
                SCHOOL_B_USERS,
            ),
        ];
        for (school, roster, users) in fixtures {
            let node = fleet.enrol_school(school, &roster, users).await;
            fleet.schools.push(node);
        }
        for node in &fleet.schools {
            node.wait_online().await;
        }
        for node in &mut fleet.schools {
            node.node_id = node.sync_status().await["node_id"]
                .as_str()
                .expect("an enrolled node reports its id")
                .to_owned();
        }
        eprintln!(
            "[{name}] binaries located in {:.1} s; relay and two enrolled schools online in {:.1} s",
            built_in.as_secs_f64(),
            setup_started.elapsed().as_secs_f64()
        );
        fleet
    }

    /// Enrols, initialises, fills and starts the node of `school`, the way school IT would.
    async fn enrol_school(&self, school: &str, roster: &Path, users: &[&str]) -> SchoolNode {
        self.enrol_node(school, &format!("node-{school}"), Some((roster, users)))
            .await
    }

    /// The disk of `school`'s node is lost: SIGKILLs the node and deletes its data directory. Then
    /// school IT installs a new node the way the guide says: a fresh enrolment token from the
    /// relay, `init --token` into an empty data directory, `serve`, and nothing else: no roster
    /// import and no passwords, because the school's documents come back from the relay.
    pub async fn replace_school(&mut self, school: &str) -> &SchoolNode {
        let index = self
            .schools
            .iter()
            .position(|node| node.school == school)
            .expect("a school of the fleet");
        let old = &mut self.schools[index];
        old.process.kill();
        std::fs::remove_dir_all(&old.data_dir).expect("the old node's disk is wiped");
        let name = format!("node-{school}-replacement");
        let mut replacement = self.enrol_node(school, &name, None).await;
        replacement.wait_online().await;
        replacement.node_id = replacement.sync_status().await["node_id"]
            .as_str()
            .expect("an enrolled node reports its id")
            .to_owned();
        self.schools[index] = replacement;
        &self.schools[index]
    }

    /// The disk of `school`'s node is lost, and school IT rebuilds the node under its old id,
    /// exactly as the guides document it and nothing more: `digione-relay enrol --node ID --school
    /// S --municipality M` (cloud-relay/README.md: a re-enrolment token that keeps the node's id),
    /// then on an empty data directory `digione-node init --token T --relay HOST:PORT
    /// --server-name N` (node/README.md), then `serve`. No roster import and no passwords: the
    /// guide promises the school comes back from the relay.
    ///
    /// The node is SIGKILLed first (a failing disk gives no clean stop), its data directory
    /// deleted and made again, empty, at the same path (the new disk mounted where the old one
    /// was). Returns as soon as the rebuilt node serves, without waiting for it to be online, so
    /// that a test can watch what it says from its first moment.
    pub async fn rebuild_school_under_same_id(&mut self, school: &str) -> &SchoolNode {
        let index = self
            .schools
            .iter()
            .position(|node| node.school == school)
            .expect("a school of the fleet");
        let old = &mut self.schools[index];
        old.process.kill();
        let node_id = old.node_id.clone();
        let data_dir = old.data_dir.clone();
        std::fs::remove_dir_all(&data_dir).expect("the old node's disk is wiped");
        std::fs::create_dir_all(&data_dir).expect("the new disk is an empty data directory");
        let token = self.enrolment_token(&[
            "--node",
            &node_id,
            "--school",
            school,
            "--municipality",
            MUNICIPALITY,
        ]);
        let mut rebuilt = self
            .init_and_serve(
                school,
                &format!("node-{school}-rebuilt"),
                data_dir,
                &token,
                None,
            )
            .await;
        // The node knows its id from its certificate as soon as it serves, online or not.
        rebuilt.node_id = rebuilt.sync_status().await["node_id"]
            .as_str()
            .expect("an enrolled node reports its id")
            .to_owned();
        self.schools[index] = rebuilt;
        &self.schools[index]
    }

    /// `digione-relay enrol` with `arguments`, run beside the serving relay; returns the token it
    /// prints (alone on stdout, for scripts).
    fn enrolment_token(&self, arguments: &[&str]) -> String {
        let mut command = vec!["enrol"];
        command.extend_from_slice(arguments);
        self.relay.run(&command).trim().to_owned()
    }

    /// Enrols a node of `school` into the data directory `name` under the fleet's root, imports
    /// `roster` and sets the password of its `users` when given, and starts it.
    async fn enrol_node(
        &self,
        school: &str,
        name: &str,
        roster_and_users: Option<(&Path, &[&str])>,
    ) -> SchoolNode {
        let token = self.enrolment_token(&["--school", school, "--municipality", MUNICIPALITY]);
        self.init_and_serve(school, name, self.root.join(name), &token, roster_and_users)
            .await
    }

    /// `digione-node init --token` with `token` against the proxy into `data_dir`, then the roster
    /// and passwords when given, then `serve`; the process and its log are called `name`.
    async fn init_and_serve(
        &self,
        school: &str,
        name: &str,
        data_dir: PathBuf,
        token: &str,
        roster_and_users: Option<(&Path, &[&str])>,
    ) -> SchoolNode {
        let environment = SchoolNode::environment(&data_dir, self.proxy.address());
        let node_command = |arguments: &[&str]| {
            let mut command = Command::new(&binaries().node);
            command
                .args(arguments)
                .envs(environment.iter().map(|(key, value)| (key, value)));
            command
        };
        let proxy = self.proxy.address().to_string();
        let init = node_command(&[
            "init",
            "--token",
            token,
            "--relay",
            &proxy,
            "--server-name",
            "localhost",
        ]);
        run_command(&self.logs, init, None);
        if let Some((roster, users)) = roster_and_users {
            let mut import = node_command(&["import-roster"]);
            import.arg(roster);
            run_command(&self.logs, import, None);
            for user in users {
                let set = node_command(&["set-password", user]);
                run_command(&self.logs, set, Some(&format!("{PASSWORD}\n")));
            }
        }
        let mut node = SchoolNode {
            school: school.to_owned(),
            process: ServeProcess::new(name, &binaries().node, environment, &self.logs),
            data_dir,
            base: String::new(),
            node_id: String::new(),
        };
        node.start().await;
        node
    }

    /// Issues a certificate for an operator of the municipality on the relay's machine, into a
    /// fresh operator data directory named `name`, and returns that directory.
    pub fn issue_operator(&self, name: &str) -> PathBuf {
        let data_dir = self.root.join(format!("operator-{name}"));
        let identity = data_dir.join("identity");
        self.relay.run(&[
            "operator-certificate",
            "--municipality",
            MUNICIPALITY,
            "--out",
            identity.to_str().expect("a UTF-8 temporary path"),
        ]);
        data_dir
    }

    /// Issues a national operator's certificate (no municipality: it writes national documents,
    /// such as the service catalogue) into a fresh operator data directory named `name`.
    pub fn issue_national_operator(&self, name: &str) -> PathBuf {
        let data_dir = self.root.join(format!("operator-{name}"));
        let identity = data_dir.join("identity");
        self.relay.run(&[
            "operator-certificate",
            "--out",
            identity.to_str().expect("a UTF-8 temporary path"),
        ]);
        data_dir
    }

    /// Runs `digione-operator` with the operator data directory `data_dir` against the relay
    /// directly (operators sit beside the relay; the proxy stands for the schools' links), and
    /// returns its stdout; panics unless it succeeds.
    pub async fn operator(&self, data_dir: &Path, arguments: &[&str]) -> String {
        let mut command = Command::new(&binaries().operator);
        command
            .arg("--data-dir")
            .arg(data_dir)
            .args([
                "--relay",
                &self.relay.sync_address.to_string(),
                "--server-name",
                "localhost",
            ])
            .args(arguments);
        let logs = self.logs.clone();
        tokio::task::spawn_blocking(move || run_command(&logs, command, None))
            .await
            .expect("the operator command runs")
    }

    pub fn school(&self, school: &str) -> &SchoolNode {
        self.schools
            .iter()
            .find(|node| node.school == school)
            .expect("a school of the fleet")
    }

    pub fn school_mut(&mut self, school: &str) -> &mut SchoolNode {
        self.schools
            .iter_mut()
            .find(|node| node.school == school)
            .expect("a school of the fleet")
    }

    /// SIGKILLs the relay and starts it again on the same data directory (on a new port, which
    /// the proxy is pointed at, so the nodes reconnect through the proxy as before).
    pub async fn crash_and_restart_relay(&mut self) {
        self.relay.process.kill();
        self.start_relay().await;
    }

    /// Stops the relay with SIGTERM (it flushes its store on the way out); the nodes go offline.
    pub async fn stop_relay(&mut self) {
        self.relay.process.stop().await;
    }

    /// Starts the stopped relay on its data directory (on a new port, which the proxy is pointed
    /// at, so the nodes reconnect through the proxy as before).
    pub async fn start_relay(&mut self) {
        self.relay.start().await;
        self.proxy.set_upstream(self.relay.sync_address);
    }

    /// Waits until each of `schools` and the relay say nothing waits in either direction, each node is
    /// connected, and the relay's view of each node agrees; returns how long that took. A claim
    /// only: [`Fleet::replicas`] checks it against the stores after [`Fleet::stop_all`].
    pub async fn wait_converged(&self, schools: &[&str], timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            // What is still missing, kept for the failure message: a timeout that only said
            // "not converged" would leave the reader to guess which side was behind.
            let Some(behind) = self.first_not_converged(schools).await else {
                return started.elapsed();
            };
            assert!(
                started.elapsed() < timeout,
                "timed out after {timeout:?} waiting until every replica converged; last seen: {behind}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// `None` when the nodes of `schools` and the relay report nothing waiting either way (what
    /// [`Fleet::wait_converged`] waits for), or a description of the first one that is not there
    /// yet.
    pub async fn first_not_converged(&self, schools: &[&str]) -> Option<String> {
        for node in self
            .schools
            .iter()
            .filter(|node| schools.contains(&node.school.as_str()))
        {
            let status = node.sync_status().await;
            // Every count must be known, not merely absent (see `claims_in_sync`). The node's
            // own counts go to zero only when the relay acknowledged (or its digest matched)
            // every document and file.
            if !claims_in_sync(&status) {
                return Some(format!("school {} reports {status}", node.school));
            }
            let view = self.relay.fleet_node(&node.node_id).await;
            let nothing_waits = |waiting: &Json| waiting["docs"] == 0 && waiting["blobs"] == 0;
            if view["connected"] != true
                || !nothing_waits(&view["waiting_to_node"])
                || !nothing_waits(&view["waiting_from_node"])
            {
                return Some(format!("the relay reports school {}: {view}", node.school));
            }
        }
        None
    }

    /// Stops every process with SIGTERM (nodes first), so their stores can be opened.
    pub async fn stop_all(&mut self) {
        for node in &mut self.schools {
            node.process.stop().await;
        }
        self.relay.process.stop().await;
    }

    /// Every replica's documents, read from disk: the relay's first, then each school's. The
    /// processes must be stopped.
    pub fn replicas(&self) -> Replicas {
        let relay = Replica::read("relay", &self.relay.data_dir.join("store"));
        let schools = self
            .schools
            .iter()
            .map(|node| {
                (
                    node.school.clone(),
                    Replica::read(
                        &format!("node-{}", node.school),
                        &node.data_dir.join("store"),
                    ),
                )
            })
            .collect();
        Replicas { relay, schools }
    }

    /// The log files, for a failure message.
    pub fn log_files(&self) -> Vec<PathBuf> {
        std::iter::once(self.relay.process.log_path().to_owned())
            .chain(
                self.schools
                    .iter()
                    .map(|node| node.process.log_path().to_owned()),
            )
            .chain(std::iter::once(self.logs.join("commands.log")))
            .collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for node in &mut self.schools {
            node.process.kill();
        }
        self.relay.process.kill();
        // A failed test keeps its directory, so its logs and stores can be read afterwards.
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!(
                "the fleet's directory is kept at {}; {}; logs:",
                kept.display(),
                self.proxy.report()
            );
            for path in self.log_files() {
                eprintln!("  {}", path.display());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Replicas on disk.

/// One store's documents: each document's heads and the strings in it.
#[derive(Debug)]
pub struct Replica {
    pub name: String,
    pub heads: BTreeMap<DocId, Vec<ChangeHash>>,
    pub strings: BTreeMap<DocId, BTreeSet<String>>,
    store: SledStore,
}

impl Replica {
    /// Reads the store in `store_dir`, naming the replica `name` in failure messages. No process
    /// may hold the store; opening it may write to it (sled recovers and flushes on open), so a
    /// backup is inspected through a copy of it, never in place.
    pub fn read(name: &str, store_dir: &Path) -> Replica {
        let store = SledStore::open(store_dir)
            .unwrap_or_else(|error| panic!("{name}: cannot open {}: {error}", store_dir.display()));
        let mut heads = BTreeMap::new();
        let mut strings = BTreeMap::new();
        for doc in store.document_ids().expect("document ids") {
            let mut doc_heads = store.doc_heads(&doc).expect("heads").unwrap_or_default();
            doc_heads.sort();
            heads.insert(doc.clone(), doc_heads);
            let document = store
                .document(&doc)
                .expect("document readable")
                .expect("a listed document exists");
            let mut found = BTreeSet::new();
            collect_strings(&document, automerge::ROOT, &mut found);
            strings.insert(doc, found);
        }
        Replica {
            name: name.to_owned(),
            heads,
            strings,
            store,
        }
    }

    /// The heads of the documents in `scope`.
    pub fn scope(&self, scope: &Scope) -> BTreeMap<DocId, Vec<ChangeHash>> {
        self.heads
            .iter()
            .filter(|(doc, _)| doc.scope() == scope)
            .map(|(doc, heads)| (doc.clone(), heads.clone()))
            .collect()
    }

    /// Whether some document of `scope` holds exactly the string `text`.
    pub fn holds(&self, scope: &Scope, text: &str) -> bool {
        self.strings
            .iter()
            .any(|(doc, strings)| doc.scope() == scope && strings.contains(text))
    }

    /// The blob's length when the replica holds all of it.
    pub fn blob_len(&self, blob: &str) -> Option<u64> {
        let id: BlobId = blob.parse().expect("a blob id");
        self.store.blob_len(&id).ok().flatten()
    }
}

/// Every string under `object`, recursively: scalar strings, text objects and map keys (records
/// are often keyed by their ids, such as a lesson's id in the attendance document).
fn collect_strings(
    document: &automerge::Automerge,
    object: automerge::ObjId,
    out: &mut BTreeSet<String>,
) {
    let Ok(object_type) = document.object_type(&object) else {
        return;
    };
    let values: Vec<(Value<'static>, automerge::ObjId)> = match object_type {
        ObjType::Text => {
            if let Ok(text) = document.text(&object) {
                out.insert(text);
            }
            Vec::new()
        }
        ObjType::Map | ObjType::Table => document
            .map_range(&object, ..)
            .map(|item| {
                out.insert(item.key.to_string());
                let id = item.id();
                (Value::from(item.value), id)
            })
            .collect(),
        ObjType::List => document
            .list_range(&object, ..)
            .map(|item| {
                let id = item.id();
                (Value::from(item.value), id)
            })
            .collect(),
    };
    for (value, id) in values {
        match value {
            Value::Scalar(scalar) => {
                if let automerge::ScalarValue::Str(text) = scalar.as_ref() {
                    out.insert(text.to_string());
                }
            }
            Value::Object(_) => collect_strings(document, id, out),
        }
    }
}

/// The relay's replica and each school's.
#[derive(Debug)]
pub struct Replicas {
    pub relay: Replica,
    pub schools: BTreeMap<String, Replica>,
}

impl Replicas {
    /// Asserts that each of `schools` holds exactly what the relay holds of the scopes it shares with
    /// it (its school and its municipality), document by document and head by head, and nothing
    /// of another school; returns how many documents were compared.
    pub fn assert_converged(&self, schools: &[&str]) -> usize {
        let municipality = Scope::Municipality(MUNICIPALITY.parse().expect("municipality"));
        let mut compared = 0;
        for (school, replica) in self
            .schools
            .iter()
            .filter(|(school, _)| schools.contains(&school.as_str()))
        {
            let own = Scope::School(school.parse().expect("school"));
            for scope in [&own, &municipality] {
                let at_school = replica.scope(scope);
                let at_relay = self.relay.scope(scope);
                assert!(
                    at_school == at_relay,
                    "{scope}: {} and the relay differ:\n  only or different at the school: {:?}\n  only or different at the relay: {:?}",
                    replica.name,
                    difference(&at_school, &at_relay),
                    difference(&at_relay, &at_school)
                );
                compared += at_school.len();
            }
            let foreign: Vec<&DocId> = replica
                .heads
                .keys()
                .filter(
                    |doc| matches!(doc.scope(), Scope::School(other) if *other != own_code(&own)),
                )
                .collect();
            assert!(
                foreign.is_empty(),
                "{} holds another school's documents: {foreign:?}",
                replica.name
            );
        }
        compared
    }
}

fn own_code(scope: &Scope) -> sync_protocol::ids::SchoolCode {
    match scope {
        Scope::School(code) => code.clone(),
        _ => unreachable!("a school scope"),
    }
}

fn difference(
    left: &BTreeMap<DocId, Vec<ChangeHash>>,
    right: &BTreeMap<DocId, Vec<ChangeHash>>,
) -> Vec<String> {
    left.iter()
        .filter(|(doc, heads)| right.get(*doc) != Some(heads))
        .map(|(doc, _)| doc.to_string())
        .collect()
}

/// A scope's value for a school code or the fleet's municipality.
pub fn school_scope(school: &str) -> Scope {
    Scope::School(school.parse().expect("school code"))
}

pub fn municipality_scope() -> Scope {
    Scope::Municipality(MUNICIPALITY.parse().expect("municipality code"))
}
