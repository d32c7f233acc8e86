//! A school node and the relay together, in one process with real QUIC on loopback, real sled
//! stores and the real certificate authority: standalone serving, enrolment, offline and back, and
//! rebuilding a replaced node from the relay.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use autosurgeon::{Hydrate, Reconcile};
use cloud_relay::authority::{Authority, TokenRequest};
use cloud_relay::config::RelayConfig;
use cloud_relay::server::{self as relay_server, RunningRelay};
use node::config::NodeConfig;
use node::identity::NodeIdentity;
use node::server::{self as node_server, RunningNode};
use sync_protocol::ids::{DocId, Scope};
use sync_transport::control::EnrolmentToken;
use sync_transport::identity::Role;
use tempfile::TempDir;

/// Long enough for loopback on a loaded two-core CI machine (a run next to a load benchmark once
/// needed more than 30 s to converge after the relay returned).
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default, PartialEq, Hydrate, Reconcile)]
struct Note {
    text: String,
    count: i64,
}

fn doc(text: &str) -> DocId {
    text.parse().expect("doc id")
}

struct Relay {
    _dir: TempDir,
    config: RelayConfig,
    authority: Authority,
    running: Option<RunningRelay>,
}

impl Relay {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = RelayConfig {
            data_dir: dir.path().join("relay"),
            ..RelayConfig::default()
        };
        config.sync.listen = "127.0.0.1:0".parse().expect("address");
        config.sync.heartbeat_interval_secs = 1;
        config.sync.keep_alive_secs = 1;
        config.sync.idle_timeout_secs = 5;
        config.sync.write_stall_timeout_secs = 2;
        config.operations.listen = "127.0.0.1:0".parse().expect("address");
        config.operations.operator_token = Some("node-relay-test-operator-token".into());
        let authority = Authority::init(&config.authority_dir(), SystemTime::now()).expect("ca");
        let running = relay_server::start(config.clone(), authority.clone())
            .await
            .expect("relay starts");
        config.sync.listen = running.sync_address;
        Self {
            _dir: dir,
            config,
            authority,
            running: Some(running),
        }
    }

    fn address(&self) -> String {
        self.config.sync.listen.to_string()
    }

    fn token(&self, school: &str) -> EnrolmentToken {
        self.authority
            .issue_token(
                TokenRequest {
                    role: Role::Node,
                    school: Some(school.parse().expect("school")),
                    municipality: Some("092".parse().expect("municipality")),
                    node: None,
                    valid_for: Duration::from_secs(3600),
                },
                SystemTime::now(),
            )
            .expect("token")
    }

    /// Publishes an announcement to municipality 092 as its operator does: an operator certificate
    /// from the fleet CA, `digione-operator`'s connection (a replica synced with the relay), the
    /// edit confirmed by the relay.
    async fn publish_as_municipality_operator(&self, doc: &DocId, title: &str, now: i64) {
        let operator_dir = tempfile::tempdir().expect("tempdir");
        let settings = operator::connection::OperatorSettings {
            data_dir: operator_dir.path().to_owned(),
            relay_address: self.address(),
            server_name: Some("localhost".into()),
            timeout: PATIENCE,
        };
        let identity = sync_transport::identity::FleetIdentity {
            node: "op-092-1".parse().expect("node id"),
            role: Role::Operator,
            school: None,
            municipality: Some("092".parse().expect("municipality")),
        };
        let (certificate_der, key_pem) = self
            .authority
            .issue_local(&identity, SystemTime::now())
            .expect("operator certificate");
        sync_transport::tls::NodeCredentials {
            certificate_der,
            key_pem,
            ca_der: self.authority.ca_certificate_der().to_vec(),
        }
        .save(&settings.identity_dir())
        .expect("saved");
        let connection = operator::connection::OperatorConnection::connect(settings)
            .await
            .expect("the operator syncs with the relay");
        let repository = connection.repository.clone();
        let written = doc.clone();
        let title = title.to_owned();
        tokio::task::spawn_blocking(move || {
            repository
                .update(
                    &written,
                    |announcements: &mut node::model::announcements::AnnouncementsDocument| {
                        announcements
                            .publish(
                                &node::model::common::ItemId::generate(),
                                node::model::announcements::AnnouncementInput {
                                    title,
                                    body: "Koulukuljetukset myöhässä.".into(),
                                    expires_at: None,
                                },
                                "coordinator-092",
                                node::model::common::NodeTime::from_unix_millis(now),
                            )
                            .map(|_| ())
                    },
                )
                .expect("announcement");
        })
        .await
        .expect("write");
        connection
            .wait_confirmed(doc)
            .await
            .expect("the relay confirms the announcement");
        connection.disconnect().await;
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    async fn restart(&mut self) {
        self.stop().await;
        self.running = Some(
            relay_server::start(self.config.clone(), self.authority.clone())
                .await
                .expect("relay restarts"),
        );
    }

    fn read(&self, id: &DocId) -> Option<Note> {
        let store = self.running.as_ref()?.store();
        store
            .document(id)
            .ok()
            .flatten()
            .and_then(|document| autosurgeon::hydrate(&document).ok())
    }
}

fn node_config(dir: &TempDir, relay_address: Option<&str>) -> NodeConfig {
    let mut config = NodeConfig {
        data_dir: dir.path().join("node"),
        ..NodeConfig::default()
    };
    config.http.listen = "127.0.0.1:0".parse().expect("address");
    config.relay.heartbeat_interval_secs = 1;
    config.relay.backoff_initial_millis = 100;
    config.relay.backoff_max_secs = 1;
    config.relay.server_name = Some("localhost".into());
    if let Some(address) = relay_address {
        config.relay.address = address.to_owned();
    }
    config
}

/// The whole sync status, as the node's machine administrator (the local admin token); without
/// it the status holds only `state`.
async fn status(node: &RunningNode) -> serde_json::Value {
    let token = std::fs::read_to_string(node.state.config.admin_token_file())
        .expect("the node's local admin token");
    reqwest::Client::new()
        .get(format!("http://{}/api/v1/sync/status", node.http_address))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("status answers")
        .json()
        .await
        .expect("status is JSON")
}

async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write(node: &RunningNode, id: &DocId, text: &str) {
    node.state
        .repository
        .update::<Note, (), std::convert::Infallible>(id, |note| {
            note.text = text.to_owned();
            note.count += 1;
            Ok(())
        })
        .expect("durable write");
}

fn read(node: &RunningNode, id: &DocId) -> Option<Note> {
    node.state.repository.read::<Note>(id).expect("readable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_node_serves_and_keeps_its_data_without_any_relay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = node_config(&dir, None);
    NodeIdentity::init_standalone(
        &config,
        "30076".parse().expect("school"),
        "092".parse().expect("municipality"),
    )
    .expect("init");
    let node = node_server::start(config.clone())
        .await
        .expect("node starts");
    let health = reqwest::get(format!("http://{}/healthz", node.http_address))
        .await
        .expect("healthz");
    assert!(health.status().is_success());
    assert_eq!(status(&node).await["mode"], "standalone");
    let id = doc("school:30076/note");
    write(&node, &id, "written offline");
    assert_eq!(status(&node).await["documents_waiting_to_send"], 1);
    node.shutdown().await;

    let node = node_server::start(config).await.expect("node restarts");
    assert_eq!(
        read(&node, &id).map(|note| note.text),
        Some("written offline".into())
    );
    assert_eq!(
        status(&node).await["documents_waiting_to_send"],
        1,
        "the count survives a restart"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_node_syncs_goes_offline_with_the_relay_and_catches_up() {
    let mut relay = Relay::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = node_config(&dir, Some(&relay.address()));
    NodeIdentity::init_enrolled(
        &config,
        &relay.address(),
        Some("localhost"),
        &relay.token("30076"),
    )
    .await
    .expect("enrolled");
    let node = Arc::new(node_server::start(config).await.expect("node starts"));
    eventually("the node is online", || {
        let node = node.clone();
        async move { status(&node).await["mode"] == "online" }
    })
    .await;
    // Without the admin token (or an administrator's session) the enrolled node tells only its
    // state: not its id, its relay, or what waits.
    let anonymous: serde_json::Value =
        reqwest::get(format!("http://{}/api/v1/sync/status", node.http_address))
            .await
            .expect("status answers")
            .json()
            .await
            .expect("status is JSON");
    let fields: Vec<&String> = anonymous.as_object().expect("an object").keys().collect();
    assert_eq!(fields, ["state"], "{anonymous}");
    assert!(status(&node).await["node_id"].is_string());

    let before = doc("school:30076/before");
    write(&node, &before, "one");
    eventually("the relay has the write", || {
        let found = relay.read(&before).map(|note| note.text);
        async move { found == Some("one".into()) }
    })
    .await;
    eventually("nothing waits to be sent", || {
        let node = node.clone();
        async move { status(&node).await["documents_waiting_to_send"] == 0 }
    })
    .await;

    relay.stop().await;
    eventually("the node reports the relay down", || {
        let node = node.clone();
        async move {
            let status = status(&node).await;
            status["mode"] == "offline" && status["offline_since_unix"].is_i64()
        }
    })
    .await;
    let during = doc("municipality:092/school-30076.during");
    write(&node, &during, "offline");
    write(&node, &before, "two");
    assert_eq!(status(&node).await["documents_waiting_to_send"], 2);

    relay.restart().await;
    eventually("the relay has everything written offline", || {
        let during_text = relay.read(&during).map(|note| note.text);
        let before_text = relay.read(&before).map(|note| note.text);
        async move { during_text == Some("offline".into()) && before_text == Some("two".into()) }
    })
    .await;
    eventually("nothing waits to be sent", || {
        let node = node.clone();
        async move { status(&node).await["documents_waiting_to_send"] == 0 }
    })
    .await;
    let node = Arc::try_unwrap(node).expect("only handle");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_node_enrols_again_and_pulls_its_whole_school_back_files_included() {
    let relay = Relay::start().await;
    let old_dir = tempfile::tempdir().expect("tempdir");
    let old_config = node_config(&old_dir, Some(&relay.address()));
    NodeIdentity::init_enrolled(
        &old_config,
        &relay.address(),
        Some("localhost"),
        &relay.token("30076"),
    )
    .await
    .expect("enrolled");
    let old = node_server::start(old_config).await.expect("node starts");
    let ids: Vec<DocId> = (0..20)
        .map(|index| doc(&format!("school:30076/doc-{index}")))
        .collect();
    for id in &ids {
        write(&old, id, "precious");
    }
    let file = vec![7u8; 600 * 1024];
    let blob = old
        .state
        .repository
        .put_blob(&Scope::School("30076".parse().expect("school")), &file)
        .expect("blob");
    eventually("the relay holds the school", || {
        let all = ids.iter().all(|id| relay.read(id).is_some());
        let store = relay
            .running
            .as_ref()
            .map(|running| running.store().clone());
        async move {
            all && store
                .is_some_and(|store| store.blob_len(&blob).ok().flatten() == Some(600 * 1024))
        }
    })
    .await;
    old.shutdown().await;
    drop(old_dir); // the disk is lost

    let new_dir = tempfile::tempdir().expect("tempdir");
    let new_config = node_config(&new_dir, Some(&relay.address()));
    NodeIdentity::init_enrolled(
        &new_config,
        &relay.address(),
        Some("localhost"),
        &relay.token("30076"),
    )
    .await
    .expect("enrolled again");
    let new = Arc::new(
        node_server::start(new_config)
            .await
            .expect("new node starts"),
    );
    eventually("the new node has every document and the file back", || {
        let node = new.clone();
        let ids = ids.clone();
        async move {
            ids.iter()
                .all(|id| read(&node, id).is_some_and(|note| note.text == "precious"))
                && node.state.repository.store().blob_len(&blob).ok().flatten() == Some(600 * 1024)
        }
    })
    .await;
    let new = Arc::try_unwrap(new).expect("only handle");
    new.shutdown().await;
}

const PASSWORD: &str = "correct horse battery staple";

/// Logs in through the API; returns the session cookie and CSRF token.
async fn login(base: &str, username: &str) -> (String, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert!(response.status().is_success(), "{username} logs in");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("cookie")
        .to_owned();
    let body: serde_json::Value = response.json().await.expect("body");
    (
        cookie,
        body["csrf_token"].as_str().expect("csrf").to_owned(),
    )
}

/// One API call as a logged-in user; panics unless it succeeds.
async fn call(
    base: &str,
    session: &(String, String),
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let response = reqwest::Client::new()
        .request(method.clone(), format!("{base}{path}"))
        .header("cookie", &session.0)
        .header("x-csrf-token", &session.1)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let value: serde_json::Value = response.json().await.unwrap_or_default();
    assert!(status.is_success(), "{method} {path}: {status} {value}");
    value
}

fn heads_of(
    store: &sync_store::SledStore,
    scope_filter: impl Fn(&Scope) -> bool,
) -> Vec<(DocId, Vec<automerge::ChangeHash>)> {
    store
        .document_ids()
        .expect("ids")
        .into_iter()
        .filter(|doc| scope_filter(doc.scope()))
        .map(|doc| {
            let heads = store.doc_heads(&doc).expect("heads").unwrap_or_default();
            (doc, heads)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_day_without_the_relay_converges_everywhere_when_the_link_returns() {
    let mut relay = Relay::start().await;
    // School A (with its roster) and school B, both in municipality 092.
    let a_dir = tempfile::tempdir().expect("tempdir");
    let a_config = node_config(&a_dir, Some(&relay.address()));
    NodeIdentity::init_enrolled(
        &a_config,
        &relay.address(),
        Some("localhost"),
        &relay.token("30076"),
    )
    .await
    .expect("A enrolled");
    let school_a = Arc::new(node_server::start(a_config).await.expect("A starts"));
    let b_dir = tempfile::tempdir().expect("tempdir");
    let b_config = node_config(&b_dir, Some(&relay.address()));
    NodeIdentity::init_enrolled(
        &b_config,
        &relay.address(),
        Some("localhost"),
        &relay.token("30077"),
    )
    .await
    .expect("B enrolled");
    let school_b = Arc::new(node_server::start(b_config).await.expect("B starts"));
    {
        let repository = school_a.state.repository.clone();
        let school = school_a.state.identity.school.clone();
        tokio::task::spawn_blocking(move || {
            let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../node/tests/fixtures/oneroster/bulk");
            node::school::roster::import_package(&repository, &school, &fixture).expect("roster");
            let hash = node::auth::hash_password(PASSWORD).expect("hash");
            repository
                .update(
                    &node::model::credentials::credentials_doc(&school),
                    |credentials: &mut node::model::credentials::CredentialsDocument| {
                        // By user id (the fixture's sourcedIds): leena.korhonen, aino.makinen01,
                        // marja.makinen and sari.lehtonen.
                        for user in ["T01", "P01", "G01", "ADM01"] {
                            credentials.set_hash(user, &hash)?;
                        }
                        Ok::<_, node::model::common::ModelError>(())
                    },
                )
                .expect("passwords");
        })
        .await
        .expect("setup");
    }
    for node in [&school_a, &school_b] {
        let node = node.clone();
        eventually("both schools are online", move || {
            let node = node.clone();
            async move { status(&node).await["mode"] == "online" }
        })
        .await;
    }

    // The relay goes away for the school day.
    relay.stop().await;
    let base = format!("http://{}", school_a.http_address);
    let teacher = login(&base, "leena.korhonen").await;
    let pupil = login(&base, "aino.makinen01").await;
    let guardian = login(&base, "marja.makinen").await;
    let admin = login(&base, "sari.lehtonen").await;
    let now = sync_transport::link::now_millis() as i64;
    let assignment = call(&base, &teacher, reqwest::Method::POST, "/api/v1/classes/CLS-7A-MA/assignments",
        serde_json::json!({ "title": "Murtoluvut", "instructions": "Laske.", "due_at": now + 86_400_000 })).await;
    let assignment_id = assignment["id"].as_str().expect("id").to_owned();
    call(
        &base,
        &pupil,
        reqwest::Method::PUT,
        &format!("/api/v1/assignments/{assignment_id}/submission"),
        serde_json::json!({ "text": "3/4", "submit": true }),
    )
    .await;
    call(
        &base,
        &teacher,
        reqwest::Method::POST,
        &format!("/api/v1/assignments/{assignment_id}/submissions/P01/return"),
        serde_json::json!({ "feedback": "Oikein", "grade": "10" }),
    )
    .await;
    let timetable = call(&base, &admin, reqwest::Method::PUT, "/api/v1/classes/CLS-7A-MA/timetable/TERM-2025-S",
        serde_json::json!({ "lessons": [{ "weekday": "monday", "start": "08:15", "end": "09:00", "room": "B204", "teacher": "T01" }] })).await;
    let lesson = timetable["lessons"][0]["id"]
        .as_str()
        .expect("lesson")
        .to_owned();
    call(&base, &teacher, reqwest::Method::PUT, &format!("/api/v1/classes/CLS-7A-MA/attendance/2025-09-08/{lesson}"),
        serde_json::json!({ "marks": { "P01": { "status": "absent" }, "P02": { "status": "present" } } })).await;
    call(&base, &guardian, reqwest::Method::POST, "/api/v1/threads",
        serde_json::json!({ "participants": ["T01"], "subject": "Poissaolo", "body": "Aino oli kipeänä." })).await;
    call(&base, &teacher, reqwest::Method::POST, "/api/v1/classes/CLS-7A-MA/materials",
        serde_json::json!({ "title": "Kaavat", "kind": "link", "url": "https://example.fi/kaavat" })).await;
    assert_eq!(status(&school_a).await["mode"], "offline");
    assert!(
        status(&school_a).await["documents_waiting_to_send"]
            .as_u64()
            .unwrap_or(0)
            >= 5
    );

    // The link heals: every replica converges, and every acknowledged write is everywhere.
    relay.restart().await;
    // Meanwhile the municipality's coordinator publishes an announcement through the relay, as
    // `digione-operator announce` does: with a municipality operator's certificate, on a replica
    // synced with the relay. (A school's node may not write it: the relay accepts the
    // municipality's announcements from its operators only.)
    let announcement_doc = node::model::announcements::announcements_doc(
        &node::model::announcements::AnnouncementAudience::Municipality {
            municipality: "092".parse().expect("municipality"),
        },
    );
    relay
        .publish_as_municipality_operator(&announcement_doc, "Lumisade", now)
        .await;
    let relay_store = relay.running.as_ref().expect("relay").store().clone();
    let a_store = school_a.state.repository.store().clone();
    let b_store = school_b.state.repository.store().clone();
    eventually("the relay holds school A exactly as A does", || {
        let a = heads_of(&a_store, |scope| matches!(scope, Scope::School(_)));
        let relay_heads = heads_of(&relay_store, |scope| {
            *scope == Scope::School("30076".parse().expect("school"))
        });
        async move { !a.is_empty() && a == relay_heads }
    })
    .await;
    eventually(
        "the municipality announcement is at both schools and the relay",
        || {
            let municipality = |scope: &Scope| matches!(scope, Scope::Municipality(_));
            let a = heads_of(&a_store, municipality);
            let b = heads_of(&b_store, municipality);
            let at_relay = heads_of(&relay_store, municipality);
            async move { !b.is_empty() && a == b && b == at_relay }
        },
    )
    .await;
    let seen = call(
        &base,
        &pupil,
        reqwest::Method::GET,
        "/api/v1/announcements",
        serde_json::Value::Null,
    )
    .await;
    assert!(
        seen.to_string().contains("Lumisade"),
        "the pupil at school A sees it: {seen}"
    );
    assert!(
        heads_of(&b_store, |scope| matches!(scope, Scope::School(_)))
            .iter()
            .all(|(doc, _)| doc.scope() == &Scope::School("30077".parse().expect("school"))),
        "school B never receives school A's documents"
    );
    eventually("nothing waits to be sent", || {
        let node = school_a.clone();
        async move { status(&node).await["documents_waiting_to_send"] == 0 }
    })
    .await;
    for node in [school_a, school_b] {
        Arc::try_unwrap(node).expect("only handle").shutdown().await;
    }
}
