//! `kill -9` of the real `digione-node` process during a burst of submissions through the API:
//! every submission that got a success answer is there after the restart.
//!
//! Six pupils keep saving numbered drafts of their work as fast as the node answers; each records
//! the last number the node acknowledged. The node is killed with SIGKILL at a random moment
//! (`DIGIONE_CRASH_SEED` replays one), restarted on the same data directory, and every pupil's stored
//! draft must carry at least the number last acknowledged (a write the node never answered may or
//! may not be there). Repeated over several kills.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const PUPILS: [(&str, &str); 6] = [
    ("aino.makinen01", "P01"),
    ("eino.makinen02", "P02"),
    ("veera.laine03", "P03"),
    ("onni.laine04", "P04"),
    ("helmi.heikkinen05", "P05"),
    ("vaino.heikkinen06", "P06"),
];
const KILLS: u64 = 3;

fn node_command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_digione-node"));
    command
        .env("DIGIONE_NODE_DATA_DIR", data_dir)
        .env("DIGIONE_NODE_HTTP__LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env_remove("DIGIONE_LOG_FORMAT");
    command
}

fn run_ok(mut command: Command, stdin: Option<&str>) {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("command starts");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("stdin written");
    }
    let output = child.wait_with_output().expect("command ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Serving {
    child: Child,
    base: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path) -> Serving {
    let mut child = node_command(data_dir)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.expect("log line");
        if let Some(address) = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("http="))
        {
            let base = format!("http://{address}");
            std::thread::spawn(move || for _ in lines {});
            return Serving { child, base };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the node exited before serving");
}

async fn login(http: &reqwest::Client, base: &str, username: &str) -> (String, String) {
    let response = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert!(
        response.status().is_success(),
        "{username}: {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("cookie")
        .to_owned();
    let body: Value = response.json().await.expect("body");
    (
        cookie,
        body["csrf_token"].as_str().expect("csrf").to_owned(),
    )
}

fn draft_number(text: &str) -> u64 {
    text.rsplit(' ')
        .next()
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_submission_survives_kill_9() {
    let seed: u64 = std::env::var("DIGIONE_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| rand::random::<u64>() % 1_000_000);
    eprintln!("DIGIONE_CRASH_SEED={seed}");
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("node");
    let mut init = node_command(&data_dir);
    init.args(["init", "--school", "30076", "--municipality", "092"]);
    run_ok(init, None);
    let mut import = node_command(&data_dir);
    import
        .arg("import-roster")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oneroster/bulk"));
    run_ok(import, None);
    for (username, _) in PUPILS.iter().chain([("leena.korhonen", "T01")].iter()) {
        let mut set = node_command(&data_dir);
        set.args(["set-password", username]);
        run_ok(set, Some(&format!("{PASSWORD}\n")));
    }

    let http = reqwest::Client::new();
    let node = serve(&data_dir);
    let (cookie, csrf) = login(&http, &node.base, "leena.korhonen").await;
    let now = sync_transport::link::now_millis() as i64;
    let created: Value = http
        .post(format!(
            "{}/api/v1/classes/CLS-7A-MA/assignments",
            node.base
        ))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({ "title": "Kestävyys", "due_at": now + 86_400_000 }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("created");
    let assignment = created["id"].as_str().expect("assignment id").to_owned();
    drop(node);

    let acknowledged: Arc<Vec<AtomicU64>> =
        Arc::new(PUPILS.iter().map(|_| AtomicU64::new(0)).collect());
    let mut rng_state = seed;
    for kill in 0..KILLS {
        let node = serve(&data_dir);
        let mut sessions = Vec::new();
        for (username, _) in PUPILS {
            sessions.push(login(&http, &node.base, username).await);
        }
        let mut writers = tokio::task::JoinSet::new();
        for (index, (cookie, csrf)) in sessions.into_iter().enumerate() {
            let http = http.clone();
            let base = node.base.clone();
            let assignment = assignment.clone();
            let acknowledged = acknowledged.clone();
            writers.spawn(async move {
                let mut number = acknowledged[index].load(Ordering::SeqCst);
                loop {
                    number += 1;
                    let response = http
                        .put(format!("{base}/api/v1/assignments/{assignment}/submission"))
                        .header("cookie", &cookie)
                        .header("x-csrf-token", &csrf)
                        .json(&json!({ "text": format!("luonnos {number}") }))
                        .send()
                        .await;
                    match response {
                        Ok(response) if response.status().is_success() => {
                            acknowledged[index].store(number, Ordering::SeqCst);
                        }
                        // The node is gone; whatever was not answered may or may not be stored.
                        _ => return,
                    }
                }
            });
        }
        // A pseudo-random moment between 150 and 900 ms into the burst.
        rng_state = rng_state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = 150 + (rng_state >> 33) % 750;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut node = node;
        node.child.kill().expect("SIGKILL");
        let _ = node.child.wait();
        while writers.join_next().await.is_some() {}
        let total: u64 = acknowledged
            .iter()
            .map(|count| count.load(Ordering::SeqCst))
            .sum();
        eprintln!("kill {kill} after {delay} ms: {total} drafts acknowledged so far");
    }

    let node = serve(&data_dir);
    let (cookie, _) = login(&http, &node.base, "leena.korhonen").await;
    for (index, (_, pupil)) in PUPILS.iter().enumerate() {
        let stored: Value = http
            .get(format!(
                "{}/api/v1/assignments/{assignment}/submissions/{pupil}",
                node.base
            ))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("read")
            .json()
            .await
            .expect("submission");
        let expected = acknowledged[index].load(Ordering::SeqCst);
        let own_session = login(&http, &node.base, PUPILS[index].0).await;
        let mine: Value = http
            .get(format!(
                "{}/api/v1/assignments/{assignment}/submissions/{pupil}",
                node.base
            ))
            .header("cookie", &own_session.0)
            .send()
            .await
            .expect("read")
            .json()
            .await
            .expect("submission");
        let text = mine["draft"]["text"]
            .as_str()
            .or_else(|| mine["draft"].as_str())
            .unwrap_or_default();
        assert!(
            draft_number(text) >= expected,
            "{pupil}: the node acknowledged draft {expected} but holds {text:?} (teacher view {stored}); seed {seed}"
        );
        assert!(
            expected > 0,
            "{pupil} got no draft acknowledged at all; seed {seed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrator_commands_reach_a_serving_node_through_its_local_admin_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("node");
    let mut init = node_command(&data_dir);
    init.args(["init", "--school", "30076", "--municipality", "092"]);
    run_ok(init, None);
    let node = serve(&data_dir);
    let port = node.base.rsplit(':').next().expect("port").to_owned();
    // The commands find the serving node at the configured listen address.
    let with_address = |mut command: Command| {
        command.env("DIGIONE_NODE_HTTP__LISTEN", format!("127.0.0.1:{port}"));
        command
    };
    let mut import = with_address(node_command(&data_dir));
    import
        .arg("import-roster")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oneroster/bulk"));
    run_ok(import, None);
    let mut set = with_address(node_command(&data_dir));
    set.args(["set-password", "sari.lehtonen"]);
    run_ok(set, Some(&format!("{PASSWORD}\n")));

    let broken =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oneroster/broken-bad-reference");
    let output = with_address(node_command(&data_dir))
        .arg("import-roster")
        .arg(&broken)
        .output()
        .expect("runs");
    assert!(!output.status.success(), "a broken package is refused");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("enrollments.csv:"),
        "problems name file and line: {stderr}"
    );

    let http = reqwest::Client::new();
    let (cookie, _) = login(&http, &node.base, "sari.lehtonen").await;
    let me: Value = http
        .get(format!("{}/api/v1/me", node.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user_id"], "ADM01");
}
