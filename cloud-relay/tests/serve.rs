//! The `digione-relay` binary as an operator runs it: `ca init`, `enrol`, `serve`, a node enrolling
//! with the printed token, the operations listener answering, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sync_transport::control::EnrolmentToken;
use sync_transport::quic::QuicTuning;

const OPERATOR_TOKEN: &str = "serve-test-operator-token-42";

fn relay_command(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_digione-relay"));
    command
        .env("DIGIONE_RELAY_DATA_DIR", data_dir)
        .env("DIGIONE_RELAY_SYNC__LISTEN", "127.0.0.1:0")
        .env("DIGIONE_RELAY_OPERATIONS__LISTEN", "127.0.0.1:0")
        .env("DIGIONE_RELAY_OPERATIONS__OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("RUST_LOG", "info")
        .env_remove("DIGIONE_LOG_FORMAT");
    command
}

/// Kills the relay if a test fails before stopping it.
struct RelayProcess(Child);

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the relay's log until it names its listeners; returns (sync, operations) addresses.
fn wait_for_listeners(child: &mut Child) -> (String, String) {
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    for line in lines.by_ref() {
        let line = line.expect("log line");
        if line.contains("relay serving") {
            let sync = field(&line, "sync").expect("sync address in the log");
            let operations = field(&line, "operations").expect("operations address in the log");
            // Keep draining the log so the relay never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (sync, operations);
        }
    }
    panic!("the relay exited before serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_initialises_enrols_serves_and_stops_the_relay() {
    let data = tempfile::tempdir().expect("tempdir");
    let init = relay_command(data.path())
        .args(["ca", "init"])
        .output()
        .expect("ca init runs");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let enrol = relay_command(data.path())
        .args(["enrol", "--school", "30076", "--municipality", "092"])
        .output()
        .expect("enrol runs");
    assert!(
        enrol.status.success(),
        "{}",
        String::from_utf8_lossy(&enrol.stderr)
    );
    let token: EnrolmentToken = String::from_utf8_lossy(&enrol.stdout)
        .trim()
        .parse()
        .expect("enrol prints a token alone on stdout");

    let mut child = relay_command(data.path())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let (sync_address, operations_address) = wait_for_listeners(&mut child);
    let mut relay = RelayProcess(child);

    let node_dir = tempfile::tempdir().expect("tempdir");
    let facts = sync_transport::client::enrol(
        &sync_address,
        Some("localhost"),
        &token,
        node_dir.path(),
        &QuicTuning::default(),
    )
    .await
    .expect("a node enrols with the printed token");
    assert_eq!(
        facts.identity.school.map(|school| school.to_string()),
        Some("30076".into())
    );

    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{operations_address}/healthz"))
        .send()
        .await
        .expect("healthz answers");
    assert!(health.status().is_success());
    let fleet: serde_json::Value = http
        .get(format!("http://{operations_address}/api/v1/fleet"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("fleet answers")
        .json()
        .await
        .expect("fleet is JSON");
    let listed = fleet["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .any(|node| node["node_id"] == facts.identity.node.to_string());
    assert!(
        listed,
        "the enrolled node appears in the fleet view: {fleet}"
    );

    let terminated = Command::new("kill")
        .args(["-TERM", &relay.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(terminated.success());
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = relay.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            waited < Duration::from_secs(30),
            "the relay stops after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
    };
    assert!(status.success(), "a clean stop exits 0: {status:?}");
}
