//! The relay end to end, in-process, with real quinn endpoints on loopback, real sled stores and the
//! real certificate authority: enrolment, handshake refusals, revocation, scope isolation, live
//! fan-out, restart, and hostile peers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use automerge::transaction::Transactable;
use automerge::{ActorId, ROOT, ReadDoc};
use cloud_relay::authority::{Authority, TokenRequest};
use cloud_relay::config::RelayConfig;
use cloud_relay::server::{self, RunningRelay};
use sync_protocol::ids::{DocId, MunicipalityCode, NodeId, SchoolCode, Scope};
use sync_protocol::session::{Event, SessionConfig};
use sync_protocol::wire::{ErrorCode, Hello, Message, PROTOCOL_VERSION};
use sync_store::SledStore;
use sync_transport::client::{self, ClientError, ClientHandles, ClientSettings, ClientStatus};
use sync_transport::control::RefusalCode;
use sync_transport::identity::{FleetIdentity, Role};
use sync_transport::link::{self, LinkConfig, LinkInputs, LinkOutput, LocalNotice};
use sync_transport::quic::{QuicTuning, close_code};
use sync_transport::tls::NodeCredentials;
use tempfile::TempDir;
use tokio::sync::{mpsc, watch};

const OPERATOR_TOKEN: &str = "test-operator-token-0123456789";

/// Long enough for loopback under a loaded two-core CI machine; the conditions waited for normally
/// hold within a second.
const PATIENCE: Duration = Duration::from_secs(30);

fn school(code: &str) -> SchoolCode {
    code.parse().expect("school code")
}

fn municipality(code: &str) -> MunicipalityCode {
    code.parse().expect("municipality code")
}

fn doc(text: &str) -> DocId {
    text.parse().expect("doc id")
}

struct TestRelay {
    _dir: TempDir,
    config: RelayConfig,
    authority: Authority,
    running: Option<RunningRelay>,
}

impl TestRelay {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut RelayConfig)) -> Self {
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
        config.operations.operator_token = Some(OPERATOR_TOKEN.into());
        adjust(&mut config);
        let authority =
            Authority::init(&config.authority_dir(), SystemTime::now()).expect("ca init");
        let running = server::start(config.clone(), authority.clone())
            .await
            .expect("relay starts");
        // Later restarts bind the same port, so nodes find the relay where it was.
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

    fn running(&self) -> &RunningRelay {
        self.running.as_ref().expect("relay running")
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    async fn restart(&mut self) {
        self.stop().await;
        let running = server::start(self.config.clone(), self.authority.clone())
            .await
            .expect("relay restarts");
        self.running = Some(running);
    }

    fn token(
        &self,
        school_code: &str,
        municipality_code: &str,
    ) -> sync_transport::control::EnrolmentToken {
        self.authority
            .issue_token(
                TokenRequest {
                    role: Role::Node,
                    school: Some(school(school_code)),
                    municipality: Some(municipality(municipality_code)),
                    node: None,
                    valid_for: Duration::from_secs(3600),
                },
                SystemTime::now(),
            )
            .expect("token")
    }
}

fn tuning() -> QuicTuning {
    QuicTuning {
        keep_alive: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(5),
        ..QuicTuning::default()
    }
}

/// A school node reduced to what the relay sees: a store, an identity and the sync client.
struct TestNode {
    dir: TempDir,
    node: NodeId,
    store: SledStore,
    notices: mpsc::Sender<LocalNotice>,
    status: watch::Receiver<ClientStatus>,
    shutdown: watch::Sender<bool>,
    received: Arc<Mutex<Vec<Event>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestNode {
    async fn enrol(relay: &TestRelay, school_code: &str, municipality_code: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = relay.token(school_code, municipality_code);
        let facts = client::enrol(
            &relay.address(),
            Some("localhost"),
            &token,
            &dir.path().join("identity"),
            &tuning(),
        )
        .await
        .expect("enrolment succeeds");
        let store = SledStore::open(dir.path().join("store")).expect("node store");
        let (shutdown, _) = watch::channel(false);
        let (notices, _) = mpsc::channel(1);
        let (_, status) = watch::channel(ClientStatus::default());
        let mut node = Self {
            dir,
            node: facts.identity.node,
            store,
            notices,
            status,
            shutdown,
            received: Arc::default(),
            task: None,
        };
        node.start_client(relay);
        node
    }

    fn identity_dir(&self) -> PathBuf {
        self.dir.path().join("identity")
    }

    fn start_client(&mut self, relay: &TestRelay) {
        let mut settings = ClientSettings::new(relay.address(), self.identity_dir());
        settings.server_name = Some("localhost".into());
        settings.tuning = tuning();
        settings.heartbeat_interval = Duration::from_secs(1);
        settings.backoff_initial = Duration::from_millis(100);
        settings.backoff_max = Duration::from_millis(500);
        let (notices, notice_receiver) = mpsc::channel(1024);
        let (status_sender, status) = watch::channel(ClientStatus::default());
        let (shutdown, shutdown_receiver) = watch::channel(false);
        let (_health_sender, health) = watch::channel(Default::default());
        let received = self.received.clone();
        let store = self.store.clone();
        self.task = Some(tokio::spawn(async move {
            let _keep_health_open = _health_sender;
            client::run(
                settings,
                store,
                ClientHandles {
                    notices: notice_receiver,
                    health,
                    status: status_sender,
                    shutdown: shutdown_receiver,
                },
                move |output| {
                    if let LinkOutput::Event(event) = output
                        && let Ok(mut received) = received.lock()
                    {
                        received.push(event);
                    }
                },
            )
            .await;
        }));
        self.notices = notices;
        self.status = status;
        self.shutdown = shutdown;
    }

    async fn stop_client(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(PATIENCE, task).await;
        }
    }

    /// Writes `key = value` into `doc` durably, as the node's API would, and tells the client.
    async fn write(&self, doc: &DocId, key: &str, value: i64) {
        write_document(&self.store, doc, key, value);
        let _ = self.notices.send(LocalNotice::Document(doc.clone())).await;
    }

    fn value(&self, doc: &DocId, key: &str) -> Option<i64> {
        read_value(&self.store, doc, key)
    }

    fn saw_scope_denied(&self) -> bool {
        self.received.lock().is_ok_and(|events| {
            events.iter().any(|event| {
                matches!(
                    event,
                    Event::PeerError {
                        code: ErrorCode::ScopeDenied,
                        ..
                    }
                )
            })
        })
    }
}

fn write_document(store: &SledStore, doc: &DocId, key: &str, value: i64) {
    let mut automerge = store.document(doc).expect("readable").unwrap_or_default();
    let before = automerge.get_heads();
    // A fresh actor per write, as every process start of a node must use.
    automerge.set_actor(ActorId::random());
    let mut transaction = automerge.transaction();
    transaction.put(ROOT, key, value).expect("put");
    transaction.commit();
    let changes = automerge
        .get_changes(&before)
        .into_iter()
        .map(|change| change.raw_bytes().to_vec())
        .collect();
    store
        .commit_local_changes(doc, changes)
        .expect("durable write");
}

fn read_value(store: &SledStore, doc: &DocId, key: &str) -> Option<i64> {
    let document = store.document(doc).ok()??;
    match document.get(ROOT, key).ok()?? {
        (automerge::Value::Scalar(scalar), _) => match scalar.as_ref() {
            automerge::ScalarValue::Int(value) => Some(*value),
            _ => None,
        },
        _ => None,
    }
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_connected(node: &TestNode) {
    let mut status = node.status.clone();
    tokio::time::timeout(
        PATIENCE,
        status.wait_for(|status| status.last_complete_sync_unix.is_some()),
    )
    .await
    .expect("the node reaches a complete sync in time")
    .expect("client running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_token_works_once_and_an_expired_one_is_refused() {
    let relay = TestRelay::start().await;
    let token = relay.token("30076", "092");
    let first_dir = tempfile::tempdir().expect("tempdir");
    let facts = client::enrol(
        &relay.address(),
        Some("localhost"),
        &token,
        first_dir.path(),
        &tuning(),
    )
    .await
    .expect("first use succeeds");
    assert_eq!(facts.identity.school, Some(school("30076")));
    assert_eq!(facts.identity.municipality, Some(municipality("092")));
    assert!(NodeCredentials::load(first_dir.path()).is_ok());

    let second_dir = tempfile::tempdir().expect("tempdir");
    let reuse = client::enrol(
        &relay.address(),
        Some("localhost"),
        &token,
        second_dir.path(),
        &tuning(),
    )
    .await;
    assert!(
        matches!(
            reuse,
            Err(ClientError::Refused {
                code: RefusalCode::TokenInvalid,
                ..
            })
        ),
        "a used token is refused: {reuse:?}"
    );
    assert!(
        !NodeCredentials::exist(second_dir.path()),
        "nothing was issued"
    );

    let expired = relay
        .authority
        .issue_token(
            TokenRequest {
                role: Role::Node,
                school: Some(school("30077")),
                municipality: Some(municipality("092")),
                node: None,
                valid_for: Duration::from_secs(60),
            },
            SystemTime::now() - Duration::from_secs(3600),
        )
        .expect("token");
    let late = client::enrol(
        &relay.address(),
        Some("localhost"),
        &expired,
        second_dir.path(),
        &tuning(),
    )
    .await;
    assert!(
        matches!(
            late,
            Err(ClientError::Refused {
                code: RefusalCode::TokenExpired,
                ..
            })
        ),
        "an expired token is refused: {late:?}"
    );

    // A token pinned to another CA is refused by the node before it sends anything.
    let other_ca_dir = tempfile::tempdir().expect("tempdir");
    let other = Authority::init(other_ca_dir.path(), SystemTime::now()).expect("other ca");
    let mut foreign = relay.token("30078", "092");
    foreign.ca_sha256 = sync_transport::tls::certificate_sha256(other.ca_certificate_der());
    let pinned = client::enrol(
        &relay.address(),
        Some("localhost"),
        &foreign,
        second_dir.path(),
        &tuning(),
    )
    .await;
    assert!(
        matches!(pinned, Err(ClientError::Connect { .. })),
        "{pinned:?}"
    );
}

/// Connects with the given credentials and reports how the relay answered.
async fn try_sync_connection(
    relay: &TestRelay,
    credentials: &NodeCredentials,
) -> Result<(quinn::Connection, quinn::SendStream, quinn::RecvStream), String> {
    let endpoint =
        sync_transport::quic::endpoint("127.0.0.1:0".parse().expect("address"), None, &tuning())
            .map_err(|error| error.to_string())?;
    let config = credentials
        .sync_client_config(&tuning())
        .map_err(|error| error.to_string())?;
    let connection = endpoint
        .connect_with(config, relay.config.sync.listen, "localhost")
        .map_err(|error| error.to_string())?
        .await
        .map_err(|error| error.to_string())?;
    // TLS 1.3 lets the client finish before the server has checked the client certificate; a
    // refusal then arrives as the connection closing. Opening a stream and waiting a moment tells.
    let node = credentials
        .facts()
        .map_err(|error| error.to_string())?
        .identity
        .node;
    let hello = Message::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        node_id: node,
        software_version: "test".into(),
        store_epoch: 1,
        log_heads: Vec::new(),
    });
    let (mut send, recv) = connection
        .open_bi()
        .await
        .map_err(|error| error.to_string())?;
    send.write_all(&hello.encode_frame().map_err(|error| error.to_string())?)
        .await
        .map_err(|error| error.to_string())?;
    match tokio::time::timeout(Duration::from_millis(1500), connection.closed()).await {
        Ok(reason) => Err(reason.to_string()),
        Err(_) => Ok((connection, send, recv)),
    }
}

fn local_credentials(
    authority: &Authority,
    identity: &FleetIdentity,
    now: SystemTime,
) -> NodeCredentials {
    let (certificate_der, key_pem) = authority.issue_local(identity, now).expect("issued");
    NodeCredentials {
        certificate_der,
        key_pem,
        ca_der: authority.ca_certificate_der().to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ca_expired_and_revoked_certificates_are_refused_at_the_handshake() {
    let relay = TestRelay::start().await;
    let identity = FleetIdentity::node(
        "n-30076-test".parse().expect("node"),
        school("30076"),
        municipality("092"),
    );

    let valid = local_credentials(&relay.authority, &identity, SystemTime::now());
    let accepted = try_sync_connection(&relay, &valid).await;
    assert!(
        accepted.is_ok(),
        "a valid certificate is accepted: {:?}",
        accepted.err()
    );

    let other_ca_dir = tempfile::tempdir().expect("tempdir");
    let other = Authority::init(other_ca_dir.path(), SystemTime::now()).expect("other ca");
    let mut foreign = local_credentials(&other, &identity, SystemTime::now());
    // The node trusts the real relay; only its own certificate is foreign.
    foreign.ca_der = relay.authority.ca_certificate_der().to_vec();
    let refused = try_sync_connection(&relay, &foreign).await;
    assert!(refused.is_err(), "a certificate from another CA is refused");

    let long_ago = SystemTime::now() - Duration::from_secs(365 * 24 * 3600);
    let expired = local_credentials(&relay.authority, &identity, long_ago);
    let refused = try_sync_connection(&relay, &expired).await;
    assert!(refused.is_err(), "an expired certificate is refused");

    relay
        .authority
        .revoke(&identity.node, "test", SystemTime::now())
        .expect("revoke");
    tokio::time::sleep(server::REVOCATION_POLL_INTERVAL * 2).await;
    let refused = try_sync_connection(&relay, &valid).await;
    let reason = refused.expect_err("a revoked certificate is refused");
    assert!(
        reason.to_lowercase().contains("revoked") || reason.contains("certificate"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_connection_without_a_certificate_is_closed_before_anything_is_read() {
    let relay = TestRelay::start().await;
    // An enrolment-style client (no certificate) that asks for the sync protocol.
    let provider = sync_transport::tls::crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            relay.authority.ca_certificate_der().to_vec(),
        ))
        .expect("root");
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls13")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![sync_transport::ALPN_SYNC.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
    let endpoint =
        sync_transport::quic::endpoint("127.0.0.1:0".parse().expect("address"), None, &tuning())
            .expect("endpoint");
    let connection = endpoint
        .connect_with(
            quinn::ClientConfig::new(Arc::new(crypto)),
            relay.config.sync.listen,
            "localhost",
        )
        .expect("connect")
        .await
        .expect("the handshake itself completes");
    let reason = tokio::time::timeout(PATIENCE, connection.closed())
        .await
        .expect("closed");
    assert!(
        matches!(&reason, quinn::ConnectionError::ApplicationClosed(close) if close.error_code == quinn::VarInt::from_u32(close_code::CERTIFICATE_REQUIRED)),
        "{reason:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_one_municipality_see_each_others_municipality_documents_live_and_nothing_else() {
    let relay = TestRelay::start().await;
    let mut first = TestNode::enrol(&relay, "30076", "092").await;
    let mut second = TestNode::enrol(&relay, "30077", "092").await;
    let mut elsewhere = TestNode::enrol(&relay, "40001", "049").await;
    wait_connected(&first).await;
    wait_connected(&second).await;
    wait_connected(&elsewhere).await;

    let shared = doc("municipality:092/school-30076.notice-1");
    let own = doc("school:30076/assignment-1");
    first.write(&shared, "posted", 1).await;
    first.write(&own, "due", 7).await;
    eventually(
        "the other school of the municipality has the announcement",
        || second.value(&shared, "posted") == Some(1),
    )
    .await;
    eventually("the relay holds both documents", || {
        read_value(relay.running().store(), &own, "due") == Some(7)
    })
    .await;
    // Give any misrouting time to happen before asserting it did not.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        second.value(&own, "due"),
        None,
        "another school never gets a school's document"
    );
    assert_eq!(
        elsewhere.value(&shared, "posted"),
        None,
        "another municipality never gets it"
    );
    assert_eq!(elsewhere.value(&own, "due"), None);

    for node in [&mut first, &mut second, &mut elsewhere] {
        node.stop_client().await;
    }
}

/// An operator (of one municipality, or national without one) with a certificate from the relay's
/// CA and a store of its own, to run a session as the operator tool would.
fn operator_of(
    relay: &TestRelay,
    node: &str,
    municipality: Option<MunicipalityCode>,
) -> (TestNode, FleetIdentity) {
    let operator_dir = tempfile::tempdir().expect("tempdir");
    let identity = FleetIdentity {
        node: node.parse().expect("node"),
        role: Role::Operator,
        school: None,
        municipality,
    };
    local_credentials(&relay.authority, &identity, SystemTime::now())
        .save(&operator_dir.path().join("identity"))
        .expect("saved");
    let store = SledStore::open(operator_dir.path().join("store")).expect("store");
    let operator = TestNode {
        node: identity.node.clone(),
        store,
        notices: mpsc::channel(1).0,
        status: watch::channel(ClientStatus::default()).1,
        shutdown: watch::channel(false).0,
        received: Arc::default(),
        task: None,
        dir: operator_dir,
    };
    (operator, identity)
}

/// Runs a hand-configured session over a node's credentials: a hostile or buggy node that claims
/// scopes its certificate does not grant.
async fn run_claiming_scopes(
    relay: &TestRelay,
    node: &TestNode,
    claimed: Vec<Scope>,
) -> (Vec<Event>, link::LinkEnd) {
    let credentials = NodeCredentials::load(&node.identity_dir()).expect("credentials");
    let endpoint =
        sync_transport::quic::endpoint("127.0.0.1:0".parse().expect("address"), None, &tuning())
            .expect("endpoint");
    let connection = endpoint
        .connect_with(
            credentials.sync_client_config(&tuning()).expect("config"),
            relay.config.sync.listen,
            "localhost",
        )
        .expect("connect")
        .await
        .expect("connected");
    let (send, recv) = connection.open_bi().await.expect("stream");
    let mut session =
        SessionConfig::new(node.node.clone(), NodeId::relay(), claimed.clone(), claimed);
    session.heartbeat_interval_millis = 1000;
    let (_notice_sender, mut notices) = mpsc::channel(8);
    let (close_sender, close) = watch::channel(None);
    let events = Arc::new(Mutex::new(Vec::new()));
    let recorded = events.clone();
    let closer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let _ = close_sender.send(Some((close_code::NORMAL, "test done".into())));
    });
    let end = link::run_link(
        connection,
        send,
        recv,
        node.store.clone(),
        LinkConfig {
            session,
            send_rate_limit_bytes_per_sec: 0,
            write_stall_timeout: Duration::from_secs(5),
            max_queued_frames: 16,
            report_health: false,
            handling_budget: None,
        },
        LinkInputs {
            notices: &mut notices,
            close,
            health: None,
        },
        move |output| {
            if let LinkOutput::Event(event) = output
                && let Ok(mut events) = recorded.lock()
            {
                events.push(event);
            }
        },
    )
    .await;
    closer.abort();
    let events = events
        .lock()
        .map(|events| events.clone())
        .unwrap_or_default();
    (events, end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_can_neither_write_nor_read_another_schools_municipalitys_or_national_documents() {
    let relay = TestRelay::start().await;
    let mut victim = TestNode::enrol(&relay, "30077", "092").await;
    let mut attacker = TestNode::enrol(&relay, "30076", "092").await;
    wait_connected(&victim).await;
    let victims_doc = doc("school:30077/grades");
    victim.write(&victims_doc, "grade", 9).await;
    eventually("the relay has the victim's document", || {
        read_value(relay.running().store(), &victims_doc, "grade") == Some(9)
    })
    .await;
    attacker.stop_client().await;

    // The attacker writes into another school, another municipality and national, and asks to read
    // the other school.
    let forged = [
        doc("school:30077/grades"),
        doc("municipality:049/announcement"),
        doc("national/curriculum"),
    ];
    for forged_doc in &forged {
        write_document(&attacker.store, forged_doc, "grade", 4);
    }
    let claimed = vec![
        "school:30077".parse().expect("scope"),
        "municipality:049".parse().expect("scope"),
        Scope::National,
    ];
    let (events, _end) = run_claiming_scopes(&relay, &attacker, claimed).await;
    assert!(
        events.iter().any(|event| matches!(
            event,
            Event::PeerError {
                code: ErrorCode::ScopeDenied,
                ..
            }
        )),
        "the relay answers with a scope error: {events:?}"
    );
    assert_eq!(
        read_value(relay.running().store(), &victims_doc, "grade"),
        Some(9),
        "the victim's document is unchanged"
    );
    for forged_doc in &forged[1..] {
        assert!(
            relay
                .running()
                .store()
                .document(forged_doc)
                .expect("readable")
                .is_none(),
            "{forged_doc} was not stored"
        );
    }
    assert_eq!(
        read_value(&attacker.store, &victims_doc, "grade"),
        Some(4),
        "the attacker received nothing of the victim's (its own forged value is all it has)"
    );
    assert!(!victim.saw_scope_denied());
    victim.stop_client().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_revoked_while_connected_is_cut_off_and_cannot_return_while_others_carry_on() {
    let relay = TestRelay::start().await;
    let mut revoked = TestNode::enrol(&relay, "30076", "092").await;
    let mut other = TestNode::enrol(&relay, "30077", "092").await;
    wait_connected(&revoked).await;
    wait_connected(&other).await;

    relay
        .authority
        .revoke(&revoked.node, "laptop stolen", SystemTime::now())
        .expect("revoke");
    let mut status = revoked.status.clone();
    tokio::time::timeout(PATIENCE, status.wait_for(|status| !status.connected))
        .await
        .expect("disconnected in time")
        .expect("client running");
    // It keeps trying (backoff) and keeps failing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !revoked.status.borrow().connected,
        "a revoked node cannot reconnect"
    );
    let view = relay
        .running()
        .registry()
        .node(&revoked.node, 0)
        .expect("in the fleet view");
    assert_eq!(view.state.as_str(), "revoked");

    let announcement = doc("municipality:092/school-30076.after-revocation");
    revoked.write(&announcement, "x", 1).await;
    other
        .write(&doc("school:30077/still-working"), "x", 2)
        .await;
    eventually("the other node still syncs", || {
        read_value(
            relay.running().store(),
            &doc("school:30077/still-working"),
            "x",
        ) == Some(2)
    })
    .await;
    assert!(
        relay
            .running()
            .store()
            .document(&announcement)
            .expect("readable")
            .is_none()
    );
    revoked.stop_client().await;
    other.stop_client().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_restart_loses_nothing_and_nodes_reconnect_on_their_own() {
    let mut relay = TestRelay::start().await;
    let mut first = TestNode::enrol(&relay, "30076", "092").await;
    let mut second = TestNode::enrol(&relay, "30077", "092").await;
    wait_connected(&first).await;
    wait_connected(&second).await;
    let before = doc("municipality:092/school-30076.before-restart");
    first.write(&before, "n", 1).await;
    eventually("the write reached the other node", || {
        second.value(&before, "n") == Some(1)
    })
    .await;

    relay.stop().await;
    let during = doc("municipality:092/school-30076.during-outage");
    for value in 0..20 {
        first.write(&during, &format!("k{value}"), value).await;
    }
    second
        .write(&doc("school:30077/offline-work"), "n", 5)
        .await;
    relay.restart().await;

    eventually(
        "edits made during the outage reach the other school",
        || (0..20).all(|value| second.value(&during, &format!("k{value}")) == Some(value)),
    )
    .await;
    eventually("the relay holds everything", || {
        read_value(relay.running().store(), &before, "n") == Some(1)
            && read_value(
                relay.running().store(),
                &doc("school:30077/offline-work"),
                "n",
            ) == Some(5)
    })
    .await;
    first.stop_client().await;
    second.stop_client().await;
}

/// A raw sync connection with valid credentials, for peers that misbehave below the session.
async fn raw_sync_stream(
    relay: &TestRelay,
    node: &TestNode,
) -> (
    quinn::Endpoint,
    quinn::Connection,
    quinn::SendStream,
    quinn::RecvStream,
) {
    let credentials = NodeCredentials::load(&node.identity_dir()).expect("credentials");
    let endpoint =
        sync_transport::quic::endpoint("127.0.0.1:0".parse().expect("address"), None, &tuning())
            .expect("endpoint");
    let connection = endpoint
        .connect_with(
            credentials.sync_client_config(&tuning()).expect("config"),
            relay.config.sync.listen,
            "localhost",
        )
        .expect("connect")
        .await
        .expect("connected");
    let (send, recv) = connection.open_bi().await.expect("stream");
    (endpoint, connection, send, recv)
}

async fn closed_with(connection: &quinn::Connection) -> Option<u32> {
    match tokio::time::timeout(PATIENCE, connection.closed()).await {
        Ok(quinn::ConnectionError::ApplicationClosed(close)) => {
            Some(close.error_code.into_inner() as u32)
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_truncated_and_wrong_version_frames_close_only_the_offending_connection()
 {
    let relay = TestRelay::start().await;
    let mut bystander = TestNode::enrol(&relay, "30077", "092").await;
    let mut offender = TestNode::enrol(&relay, "30076", "092").await;
    offender.stop_client().await;
    wait_connected(&bystander).await;

    // An oversized length prefix.
    let (_endpoint, connection, mut send, _recv) = raw_sync_stream(&relay, &offender).await;
    send.write_all(&u32::MAX.to_be_bytes())
        .await
        .expect("write");
    assert_eq!(
        closed_with(&connection).await,
        Some(close_code::PROTOCOL_ERROR)
    );

    // A frame of garbage.
    let (_endpoint, connection, mut send, _recv) = raw_sync_stream(&relay, &offender).await;
    send.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .expect("write");
    assert_eq!(
        closed_with(&connection).await,
        Some(close_code::PROTOCOL_ERROR)
    );

    // A hello from the future.
    let (_endpoint, connection, mut send, mut recv) = raw_sync_stream(&relay, &offender).await;
    let hello = Message::Hello(Hello {
        protocol_version: PROTOCOL_VERSION + 1,
        node_id: offender.node.clone(),
        software_version: "9.0.0".into(),
        store_epoch: 1,
        log_heads: Vec::new(),
    });
    send.write_all(&hello.encode_frame().expect("encode"))
        .await
        .expect("write");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(Some(read)) = recv.read(&mut buffer).await {
        answer.extend_from_slice(&buffer[..read]);
    }
    let mut decoder = sync_protocol::wire::FrameDecoder::new();
    decoder.extend(&answer);
    let mut saw_version_error = false;
    while let Ok(Some(payload)) = decoder.next_payload() {
        if let Ok(Message::Error(error)) = Message::decode_payload(&payload) {
            saw_version_error |= error.code == ErrorCode::UnsupportedVersion;
        }
    }
    assert!(
        saw_version_error,
        "the relay names the version problem before closing"
    );
    assert_eq!(
        closed_with(&connection).await,
        Some(close_code::PROTOCOL_ERROR)
    );

    // A truncated frame: a hello whose prefix promises more than comes before the stream ends.
    // Nothing of it reaches the session; the relay closes the connection and stores nothing.
    let (_endpoint, connection, mut send, _recv) = raw_sync_stream(&relay, &offender).await;
    let hello = Message::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        node_id: offender.node.clone(),
        software_version: "truncated".into(),
        store_epoch: 1,
        log_heads: Vec::new(),
    })
    .encode_frame()
    .expect("encode");
    send.write_all(&hello[..hello.len() - 3])
        .await
        .expect("write");
    send.finish().expect("finish");
    assert!(
        closed_with(&connection).await.is_some(),
        "the relay closes a connection whose stream ends inside a frame"
    );
    assert!(
        relay
            .running()
            .registry()
            .node(&offender.node, 0)
            .is_none_or(|view| view.software_version.as_deref() != Some("truncated")),
        "a truncated hello is never taken in"
    );

    // The bystander never noticed.
    let after = doc("school:30077/after-the-attacks");
    bystander.write(&after, "ok", 1).await;
    eventually("the bystander still syncs", || {
        read_value(relay.running().store(), &after, "ok") == Some(1)
    })
    .await;
    assert!(bystander.status.borrow().connected);
    bystander.stop_client().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_is_disconnected_and_others_are_unaffected() {
    let relay = TestRelay::start().await;
    // Enough data in the school's scope that the relay's pushes overflow every window.
    let big_docs: Vec<DocId> = (0..12)
        .map(|index| doc(&format!("school:30076/big-{index}")))
        .collect();
    let filler = "x".repeat(400 * 1024);
    for big in &big_docs {
        let mut automerge = automerge::Automerge::new();
        automerge.set_actor(ActorId::random());
        let mut transaction = automerge.transaction();
        transaction.put(ROOT, "text", filler.as_str()).expect("put");
        transaction.commit();
        let changes = automerge
            .get_changes(&[])
            .into_iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect();
        relay
            .running()
            .store()
            .commit_local_changes(big, changes)
            .expect("write");
    }
    let mut bystander = TestNode::enrol(&relay, "30077", "092").await;
    let mut sloth = TestNode::enrol(&relay, "30076", "092").await;
    sloth.stop_client().await;
    wait_connected(&bystander).await;

    // The sloth says hello and asks for its school, then never reads, but keeps sending heartbeats
    // so that only the stall (or the session's flow control) can end it.
    let (_endpoint, connection, mut send, _recv) = raw_sync_stream(&relay, &sloth).await;
    let hello = Message::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        node_id: sloth.node.clone(),
        software_version: "sloth".into(),
        store_epoch: 7,
        log_heads: Vec::new(),
    });
    send.write_all(&hello.encode_frame().expect("encode"))
        .await
        .expect("hello");
    let request = Message::SyncRequest(sync_protocol::wire::SyncRequest {
        request_id: 1,
        scope: "school:30076".parse().expect("scope"),
        digest: Default::default(),
        cursor: None,
    });
    send.write_all(&request.encode_frame().expect("encode"))
        .await
        .expect("request");
    let code = closed_with(&connection).await;
    assert!(
        matches!(code, Some(close_code::STALLED) | Some(close_code::TIMEOUT)),
        "the relay gives up on a peer that reads nothing: {code:?}"
    );

    let after = doc("school:30077/unaffected");
    bystander.write(&after, "ok", 1).await;
    eventually("the bystander still syncs", || {
        read_value(relay.running().store(), &after, "ok") == Some(1)
    })
    .await;
    bystander.stop_client().await;
}

/// Issue 18: one enrolled node floods the relay through its real certificate with frames that are
/// cheap to send and cost the relay work: heads naming made-up documents, and requests for its whole
/// scope without a cursor, as fast as the connection takes them, while it reads what it is sent
/// (so that no stall timeout ends it). Its handling budget throttles it (the relay counts the time
/// it waited), its session's memory stays bounded, and meanwhile two other schools' nodes of the
/// municipality keep exchanging documents: every write arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_flooding_the_relay_with_costly_frames_is_throttled_while_other_schools_sync() {
    let relay = TestRelay::start_with(|config| {
        // A small budget, so that the flood of a test runner's loop is sure to spend it.
        config.quotas.handling_millis_per_sec = 20;
        config.quotas.handling_burst_millis = 100;
    })
    .await;
    let mut writer = TestNode::enrol(&relay, "30077", "092").await;
    let mut reader = TestNode::enrol(&relay, "30078", "092").await;
    let mut flooder = TestNode::enrol(&relay, "30076", "092").await;
    flooder.stop_client().await;
    wait_connected(&writer).await;
    wait_connected(&reader).await;

    let (_endpoint, connection, mut send, mut recv) = raw_sync_stream(&relay, &flooder).await;
    let hello = Message::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        node_id: flooder.node.clone(),
        software_version: "flooder".into(),
        store_epoch: 9,
        log_heads: Vec::new(),
    });
    send.write_all(&hello.encode_frame().expect("encode"))
        .await
        .expect("hello");
    let drain = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(Some(_)) = recv.read(&mut buffer).await {}
    });
    let frames_sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = frames_sent.clone();
    let flood = tokio::spawn(async move {
        for index in 0u64.. {
            let frame = if index % 50 == 0 {
                Message::SyncRequest(sync_protocol::wire::SyncRequest {
                    request_id: index + 1,
                    scope: "school:30076".parse().expect("scope"),
                    digest: Default::default(),
                    cursor: None,
                })
            } else {
                Message::Heads(sync_protocol::wire::DocHeads {
                    doc: doc(&format!("school:30076/made-up-{index}")),
                    heads: vec![automerge::ChangeHash([(index % 251) as u8; 32])],
                })
            };
            if send
                .write_all(&frame.encode_frame().expect("encode"))
                .await
                .is_err()
            {
                break;
            }
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });

    // While the flood runs, the other schools keep exchanging their municipality documents.
    for round in 0..10 {
        let shared = doc(&format!(
            "municipality:092/school-30077.during-flood-{round}"
        ));
        writer.write(&shared, "round", round).await;
        eventually("the other school gets the write during the flood", || {
            reader.value(&shared, "round") == Some(round)
        })
        .await;
    }
    eventually("the relay throttled the flooding connection", || {
        relay.running().metrics().sync_throttled_seconds_total() > 0.0
    })
    .await;
    let sent = frames_sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent > 1000, "the flood ran: {sent} frames sent");
    assert!(
        connection.close_reason().is_none(),
        "a node past its budget is slowed down, not cut off: {:?}",
        connection.close_reason()
    );
    flood.abort();
    drain.abort();
    connection.close(0u32.into(), b"done");
    writer.stop_client().await;
    reader.stop_client().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_connections_is_refused_beyond_the_limit_and_the_relay_recovers() {
    let relay = TestRelay::start_with(|config| config.sync.max_connections = 4).await;
    let mut node = TestNode::enrol(&relay, "30076", "092").await;
    node.stop_client().await;

    // Distinct identities, so that no connection merely supersedes the one before it, all at once,
    // because a silent connection only lives for three heartbeat intervals.
    let relay = Arc::new(relay);
    let mut attempts = tokio::task::JoinSet::new();
    for index in 0..12 {
        let identity = FleetIdentity::node(
            format!("n-flood-{index}").parse().expect("node"),
            school("30076"),
            municipality("092"),
        );
        let credentials = local_credentials(&relay.authority, &identity, SystemTime::now());
        let relay = relay.clone();
        attempts.spawn(async move { try_sync_connection(&relay, &credentials).await });
    }
    let mut held = Vec::new();
    let mut refused = 0;
    while let Some(attempt) = attempts.join_next().await {
        match attempt.expect("attempt ran") {
            Ok(connection) => held.push(connection),
            Err(_) => refused += 1,
        }
    }
    assert!(
        held.len() <= 4,
        "no more than the limit at once: {}",
        held.len()
    );
    assert!(refused >= 8, "the rest are refused: {refused}");
    for (connection, _send, _recv) in held {
        connection.close(quinn::VarInt::from_u32(0), b"done");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let relay = Arc::try_unwrap(relay).ok().expect("attempts finished");
    node.start_client(&relay);
    wait_connected(&node).await;
    node.stop_client().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_renews_its_certificate_over_the_sync_connection_before_it_expires() {
    let relay = TestRelay::start().await;
    let mut node = TestNode::enrol(&relay, "30076", "092").await;
    node.stop_client().await;
    // Replace its certificate with one issued 25 days ago for 30 days: it is due for renewal.
    let identity = NodeCredentials::load(&node.identity_dir())
        .expect("credentials")
        .facts()
        .expect("facts")
        .identity;
    let issued_at = SystemTime::now() - Duration::from_secs(25 * 24 * 3600);
    let old = local_credentials(&relay.authority, &identity, issued_at);
    let old_expiry = old.facts().expect("facts").not_after_unix;
    old.save(&node.identity_dir()).expect("saved");

    node.start_client(&relay);
    wait_connected(&node).await;
    eventually("the node holds a renewed certificate", || {
        NodeCredentials::load(&node.identity_dir())
            .ok()
            .and_then(|credentials| credentials.facts().ok())
            .is_some_and(|facts| facts.not_after_unix > old_expiry + 20 * 24 * 3600)
    })
    .await;
    let renewed = NodeCredentials::load(&node.identity_dir()).expect("credentials");
    assert_eq!(
        renewed.facts().expect("facts").identity,
        identity,
        "same identity"
    );
    assert_ne!(renewed.key_pem, old.key_pem, "renewal rotates the key");

    // The renewed certificate is what the next connection uses.
    node.stop_client().await;
    node.start_client(&relay);
    wait_connected(&node).await;
    node.stop_client().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_certificate_expired_returns_with_a_re_enrolment_token_and_keeps_its_data() {
    let relay = TestRelay::start().await;
    let mut node = TestNode::enrol(&relay, "30076", "092").await;
    let offline_work = doc("school:30076/written-before-expiry");
    node.stop_client().await;
    let identity = NodeCredentials::load(&node.identity_dir())
        .expect("credentials")
        .facts()
        .expect("facts")
        .identity;
    let expired = local_credentials(
        &relay.authority,
        &identity,
        SystemTime::now() - Duration::from_secs(40 * 24 * 3600),
    );
    expired.save(&node.identity_dir()).expect("saved");
    write_document(&node.store, &offline_work, "n", 1);

    // The relay refuses the expired certificate, and the node says why.
    node.start_client(&relay);
    let mut status = node.status.clone();
    tokio::time::timeout(
        PATIENCE,
        status.wait_for(|status| status.last_error.is_some()),
    )
    .await
    .expect("an error is reported")
    .expect("client running");
    assert!(!node.status.borrow().connected);
    node.stop_client().await;

    // The documented way back: `digione-relay enrol --node <id> …`, then enrol again in place.
    let token = relay
        .authority
        .issue_token(
            TokenRequest {
                role: Role::Node,
                school: identity.school.clone(),
                municipality: identity.municipality.clone(),
                node: Some(identity.node.clone()),
                valid_for: Duration::from_secs(3600),
            },
            SystemTime::now(),
        )
        .expect("token");
    let facts = client::enrol(
        &relay.address(),
        Some("localhost"),
        &token,
        &node.identity_dir(),
        &tuning(),
    )
    .await
    .expect("re-enrolment");
    assert_eq!(facts.identity.node, identity.node, "the node keeps its id");
    node.start_client(&relay);
    wait_connected(&node).await;
    eventually("what it wrote meanwhile reaches the relay", || {
        read_value(relay.running().store(), &offline_work, "n") == Some(1)
    })
    .await;
    node.stop_client().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_write_national_documents_that_every_node_reads_but_cannot_change() {
    let relay = TestRelay::start().await;
    let mut node = TestNode::enrol(&relay, "30076", "092").await;
    wait_connected(&node).await;

    // An operator with a national certificate, running a session as the operator tool would.
    let (operator, operator_identity) = operator_of(&relay, "op-national-1", None);
    let curriculum = doc("national/curriculum-2026");
    write_document(&operator.store, &curriculum, "version", 2026);
    let grant = operator_identity.scopes();
    let (events, _) = run_claiming_scopes(&relay, &operator, grant.writable).await;
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, Event::PeerError { .. })),
        "the operator's write is accepted: {events:?}"
    );
    eventually("the node reads the national document", || {
        node.value(&curriculum, "version") == Some(2026)
    })
    .await;

    // The node edits its copy; the relay keeps the operators' version.
    node.write(&curriculum, "version", 1999).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        read_value(relay.running().store(), &curriculum, "version"),
        Some(2026)
    );
    node.stop_client().await;
}

/// Issue 18: write authority is per document, not only per scope. A school's node (whoever has root
/// on it holds its real certificate and key) tries to publish, edit and delete what every school
/// of the municipality shows as the municipality's own: its announcements. It also writes under
/// another school's name in the municipality's scope. The relay refuses all of it, stores none of
/// it and routes none of it; the same node's own municipality documents still reach the other
/// school, and the municipality's operator still publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schools_node_cannot_write_the_municipalitys_documents_or_another_schools() {
    let relay = TestRelay::start().await;
    let mut victim = TestNode::enrol(&relay, "30077", "092").await;
    let mut attacker = TestNode::enrol(&relay, "30076", "092").await;
    wait_connected(&victim).await;
    wait_connected(&attacker).await;

    // The municipality's operator publishes an announcement; both schools receive it.
    let (operator, operator_identity) = operator_of(&relay, "op-092-1", Some(municipality("092")));
    let announcements = doc("municipality:092/announcements");
    write_document(&operator.store, &announcements, "closed-on-friday", 0);
    let (events, _) =
        run_claiming_scopes(&relay, &operator, operator_identity.scopes().writable).await;
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, Event::PeerError { .. })),
        "the municipality's operator may publish: {events:?}"
    );
    eventually("both schools hold the announcement", || {
        victim.value(&announcements, "closed-on-friday") == Some(0)
            && attacker.value(&announcements, "closed-on-friday") == Some(0)
    })
    .await;

    // The attacker edits the announcements, forges one under another school's name, and writes
    // one document of its own, all through its ordinary sync client.
    let forged_elsewhere = doc("municipality:092/school-30077.menu");
    let own = doc("municipality:092/school-30076.menu");
    attacker.write(&announcements, "closed-on-friday", 1).await;
    attacker
        .write(&announcements, "forged-announcement", 1)
        .await;
    attacker.write(&forged_elsewhere, "soup", 1).await;
    attacker.write(&own, "soup", 2).await;
    eventually(
        "the attacker's own municipality document reaches the other school",
        || victim.value(&own, "soup") == Some(2),
    )
    .await;
    // Give any misrouting time to happen before asserting it did not.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let relay_store = relay.running().store();
    assert_eq!(
        read_value(relay_store, &announcements, "closed-on-friday"),
        Some(0),
        "the relay kept the operator's announcement"
    );
    assert_eq!(
        read_value(relay_store, &announcements, "forged-announcement"),
        None,
        "the relay stored nothing the attacker wrote into the announcements"
    );
    assert!(
        relay_store
            .document(&forged_elsewhere)
            .expect("readable")
            .is_none(),
        "a document under another school's name was not stored"
    );
    assert_eq!(victim.value(&announcements, "closed-on-friday"), Some(0));
    assert_eq!(victim.value(&announcements, "forged-announcement"), None);
    assert_eq!(victim.value(&forged_elsewhere, "soup"), None);
    assert!(
        attacker.saw_scope_denied(),
        "the attacker was told its writes were refused"
    );
    assert!(!victim.saw_scope_denied());
    victim.stop_client().await;
    attacker.stop_client().await;
}

/// Issue 15: a node whose store was wiped and rebuilt under its old identity holds nothing, and its
/// session has nothing to ask for that it knows of. Until it holds its school again, neither its
/// own status nor the relay's fleet view may call it in sync, and its last complete sync may not
/// move; the relay counts the store it did not recognise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_rebuilt_empty_under_its_old_identity_is_never_called_in_sync_before_it_holds_its_school()
 {
    let relay = TestRelay::start().await;
    let mut node = TestNode::enrol(&relay, "30076", "092").await;
    wait_connected(&node).await;
    let notes: Vec<DocId> = (0..20)
        .map(|index| doc(&format!("school:30076/note-{index}")))
        .collect();
    for (index, note) in notes.iter().enumerate() {
        node.write(note, "x", index as i64).await;
    }
    eventually("the relay holds every note", || {
        notes
            .iter()
            .all(|note| read_value(relay.running().store(), note, "x").is_some())
    })
    .await;
    node.stop_client().await;
    // The old connection's last report said in sync; it must be over before the new one is judged.
    eventually("the relay saw the old connection end", || {
        relay
            .running()
            .registry()
            .node(&node.node, 0)
            .is_some_and(|view| !view.connected)
    })
    .await;

    // The disk is wiped: the node comes back under its old identity with an empty store.
    node.store = SledStore::open(node.dir.path().join("rebuilt-store")).expect("empty store");
    node.start_client(&relay);
    let holds_every_note = |store: &SledStore| {
        notes
            .iter()
            .all(|note| read_value(store, note, "x").is_some())
    };

    // How long the node reconciles depends on the machine (a fast one rebuilds twenty notes
    // within one poll), so what is checked is that no status ever claims too much.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = node.status.borrow().clone();
        let view = relay
            .running()
            .registry()
            .node(&node.node, 0)
            .expect("in the fleet view");
        if status.connected
            && status
                .reconcile
                .as_ref()
                .is_some_and(|progress| !progress.in_sync())
        {
            assert!(
                !status.in_sync,
                "in sync while a digest differs: {status:?}"
            );
        }
        // Each side's claim is checked against the node's store after it was read: the store
        // only gains notes, so a claim made while one was missing is caught.
        let node_claims_sync = status.in_sync || status.last_complete_sync_unix.is_some();
        let relay_claims_sync = view.sync.is_some_and(|sync| sync.as_str() == "in_sync");
        if node_claims_sync {
            assert!(
                holds_every_note(&node.store),
                "the node called itself in sync before it held its school again: {status:?}"
            );
        }
        if relay_claims_sync {
            assert!(
                holds_every_note(&node.store),
                "the fleet view called the node in sync before it held its school again: {view:?}"
            );
        }
        if node_claims_sync && relay_claims_sync {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for both sides to be in sync: {status:?} {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = relay
        .running()
        .metrics()
        .render(
            relay.running().registry(),
            cloud_relay::metrics::StoreStats::default(),
            0,
        )
        .expect("metrics");
    let not_recognised = metrics
        .lines()
        .find_map(|line| line.strip_prefix("digione_relay_peer_stores_not_recognised_total "))
        .and_then(|value| value.parse::<f64>().ok());
    assert!(
        not_recognised.is_some_and(|count| count >= 1.0),
        "the relay counts the node's new store: {not_recognised:?}"
    );
    node.stop_client().await;
}

/// Security issue 18, item 7, over QUIC with a real node certificate: a node of another school that
/// knows a file's id, but not its bytes, can neither have the file recorded in its own school (by
/// sending an empty piece of it) nor download it; the relay refuses with a clear error and sends
/// nothing of the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_knows_a_files_id_can_neither_claim_nor_fetch_another_schools_file() {
    use sync_protocol::wire::{BlobChunk, BlobRequest, FrameDecoder};
    let relay = TestRelay::start().await;
    let mut victim = TestNode::enrol(&relay, "30077", "092").await;
    let mut attacker = TestNode::enrol(&relay, "30076", "092").await;
    attacker.stop_client().await;
    wait_connected(&victim).await;
    let victim_school = Scope::School(school("30077"));
    let secret: Vec<u8> = (0..300_000u32).map(|index| (index % 253) as u8).collect();
    let blob = victim
        .store
        .put_blob(&victim_school, &secret)
        .expect("stored");
    victim
        .notices
        .send(LocalNotice::Blob {
            scope: victim_school.clone(),
            blob,
        })
        .await
        .expect("client running");
    eventually("the relay holds the victim's file", || {
        relay
            .running()
            .store()
            .blob_in_scope(&victim_school, &blob)
            .unwrap_or(false)
    })
    .await;

    let attacker_school = Scope::School(school("30076"));
    let (_endpoint, connection, mut send, mut recv) = raw_sync_stream(&relay, &attacker).await;
    let frames = [
        Message::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            node_id: attacker.node.clone(),
            software_version: "9.0.0".into(),
            store_epoch: 1,
            log_heads: Vec::new(),
        }),
        Message::BlobChunk(BlobChunk {
            scope: attacker_school.clone(),
            blob,
            offset: 0,
            total_len: secret.len() as u64,
            bytes: Vec::new(),
        }),
        Message::BlobRequest(BlobRequest {
            scope: attacker_school.clone(),
            blob,
            offset: 0,
        }),
    ];
    for frame in frames {
        send.write_all(&frame.encode_frame().expect("encode"))
            .await
            .expect("write");
    }
    // Everything the relay sends until it gives up on the silent peer (three heartbeats of 1 s),
    // or for at most five seconds.
    let mut decoder = FrameDecoder::new();
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Ok(Some(read))) = tokio::time::timeout_at(deadline, recv.read(&mut buffer)).await {
        decoder.extend(&buffer[..read]);
        while let Ok(Some(payload)) = decoder.next_payload() {
            if let Ok(message) = Message::decode_payload(&payload) {
                received.push(message);
            }
        }
    }
    connection.close(quinn::VarInt::from_u32(close_code::NORMAL), b"test done");
    let chunks = received
        .iter()
        .filter(|message| matches!(message, Message::BlobChunk(_)))
        .count();
    assert_eq!(chunks, 0, "no byte of the victim's file is sent");
    assert!(
        received.iter().any(|message| matches!(
            message,
            Message::Error(error) if error.code == ErrorCode::ScopeDenied && !error.fatal
        )),
        "the request is refused with a clear error: {received:?}"
    );
    assert!(
        !relay
            .running()
            .store()
            .blob_in_scope(&attacker_school, &blob)
            .expect("readable"),
        "the file is not recorded in the attacker's school"
    );
    assert_eq!(
        relay
            .running()
            .store()
            .read_blob(&blob, 0, usize::MAX)
            .expect("readable"),
        secret
    );
    victim.stop_client().await;
}
