//! The operations listener end to end: a real sled tree behind the fleet registry, the real axum
//! server on a loopback port, and an HTTP client. Time is driven through the registry's `now_unix`
//! arguments and the listener's injected clock, so every state is reached without waiting.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use cloud_relay::fleet::{FleetPolicy, FleetRegistry, LinkActivity};
use cloud_relay::metrics::{RefusalReason, RelayMetrics, StoreStats};
use cloud_relay::ops::{self, OperatorToken, OpsState};
use reqwest::StatusCode;
use serde_json::Value;
use sync_protocol::ids::NodeId;
use sync_protocol::session::ReconcileProgress;
use sync_protocol::wire::{NodeHealth, SyncStatus};
use sync_transport::identity::{CertificateFacts, FleetIdentity};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TOKEN: &str = "test-operator-token-0123456789abcdef";
/// A fixed "now" for the start of each scenario: 2025-10-09.
const START: i64 = 1_760_000_000;
const DAY: i64 = 86_400;
const CERTIFICATE_LIFETIME: i64 = 90 * DAY;

fn policy() -> FleetPolicy {
    FleetPolicy {
        heartbeat_interval_secs: 15,
        stale_after_missed_heartbeats: 3,
        offline_maximum_secs: 60 * 24 * 3600,
    }
}

fn node_id(text: &str) -> NodeId {
    text.parse().expect("node id")
}

fn facts(node: &str, school: &str, municipality: &str, serial: &str) -> CertificateFacts {
    CertificateFacts {
        identity: FleetIdentity::node(
            node_id(node),
            school.parse().expect("school"),
            municipality.parse().expect("municipality"),
        ),
        not_before_unix: START - DAY,
        not_after_unix: START - DAY + CERTIFICATE_LIFETIME,
        serial_hex: serial.to_owned(),
    }
}

fn remote() -> SocketAddr {
    "198.51.100.20:50123".parse().expect("address")
}

/// A running operations listener over a registry in a temporary sled database.
struct Harness {
    base: String,
    client: reqwest::Client,
    registry: FleetRegistry,
    metrics: RelayMetrics,
    clock: Arc<AtomicI64>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _directory: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Self {
        let directory = tempfile::tempdir().expect("tempdir");
        let database = sled::open(directory.path()).expect("sled");
        let registry = FleetRegistry::open(database.open_tree("fleet").expect("tree"), policy())
            .expect("open");
        Self::serve(directory, registry).await
    }

    async fn serve(directory: tempfile::TempDir, registry: FleetRegistry) -> Self {
        let metrics = RelayMetrics::new();
        let clock = Arc::new(AtomicI64::new(START));
        let clock_for_state = Arc::clone(&clock);
        let state = OpsState::new(
            registry.clone(),
            metrics.clone(),
            OperatorToken::new(TOKEN).expect("token"),
            Arc::new(|| StoreStats {
                documents: 4_321,
                bytes: 9_876_543,
            }),
        )
        .with_clock(Arc::new(move || clock_for_state.load(Ordering::SeqCst)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();
        let server = tokio::spawn(ops::serve(listener, state, async move {
            let _ = shutdown_signal.await;
        }));
        Self {
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            registry,
            metrics,
            clock,
            shutdown: Some(shutdown),
            server: Some(server),
            _directory: directory,
        }
    }

    fn set_now(&self, now_unix: i64) {
        self.clock.store(now_unix, Ordering::SeqCst);
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request")
    }

    async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("json")
    }

    async fn get_text(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("text")
    }

    /// Stops the server and waits until it has let go of the registry.
    async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server");
        }
    }
}

fn header<'response>(response: &'response reqwest::Response, name: &str) -> &'response str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("header {name} missing"))
        .to_str()
        .expect("header text")
}

fn assert_security_headers(response: &reqwest::Response) {
    assert_eq!(
        header(response, "content-security-policy"),
        "default-src 'self'; frame-ancestors 'none'"
    );
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
}

fn node_ids(fleet: &Value) -> Vec<String> {
    fleet["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["node_id"].as_str().expect("node id").to_owned())
        .collect()
}

fn find<'fleet>(fleet: &'fleet Value, node: &str) -> &'fleet Value {
    fleet["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|view| view["node_id"] == node)
        .unwrap_or_else(|| panic!("{node} is not listed"))
}

/// A fleet with one node in every state at `START + 100 * DAY`:
///
/// - `n-online` (092) connected at the end and sending heartbeats;
/// - `n-stale` (092) connected but silent for longer than three heartbeats;
/// - `n-offline` (091) disconnected two days before;
/// - `n-lost` (091) disconnected more than 60 days before;
/// - `n-never` (092) enrolled and never connected;
/// - `n-revoked` (049) connected once, then revoked.
fn populate_every_state(registry: &FleetRegistry) -> i64 {
    let now = START + 100 * DAY;
    let nodes = [
        ("n-online", "30076", "092"),
        ("n-stale", "30077", "092"),
        ("n-offline", "10001", "091"),
        ("n-lost", "10002", "091"),
        ("n-never", "30078", "092"),
        ("n-revoked", "20001", "049"),
    ];
    for (node, school, municipality) in nodes {
        registry.record_enrolled(&facts(node, school, municipality, "01"), START);
    }
    let connect = |node: &str, school: &str, municipality: &str, at: i64| {
        registry.record_connected(&facts(node, school, municipality, "01"), remote(), at);
    };

    connect("n-lost", "10002", "091", START + DAY);
    registry.record_disconnected(&node_id("n-lost"), "timeout", START + 2 * DAY);

    connect("n-revoked", "20001", "049", START + 3 * DAY);
    registry.record_disconnected(&node_id("n-revoked"), "closed", START + 3 * DAY + 60);
    registry.record_revoked(&node_id("n-revoked"), START + 4 * DAY);

    connect("n-offline", "10001", "091", now - 3 * DAY);
    registry.record_disconnected(&node_id("n-offline"), "network unreachable", now - 2 * DAY);

    connect("n-stale", "30077", "092", now - 600);
    registry.record_activity(&node_id("n-stale"), &LinkActivity::default(), now - 46);

    connect("n-online", "30076", "092", now - 300);
    registry.record_hello(&node_id("n-online"), "digione-node 0.4.2", 1);
    registry.record_activity(
        &node_id("n-online"),
        &LinkActivity {
            rtt_millis: Some(23),
            bytes_sent: 10_000,
            bytes_received: 2_500,
            to_node: SyncStatus {
                docs_waiting: 3,
                blobs_waiting: 1,
                bytes_waiting: 70_000,
                last_complete_sync_millis: None,
            },
            from_node: Some(SyncStatus {
                docs_waiting: 0,
                blobs_waiting: 0,
                bytes_waiting: 0,
                last_complete_sync_millis: Some(12_345),
            }),
            health: Some(NodeHealth {
                disk_free_bytes: 120_000_000_000,
                uptime_secs: 86_400,
                store_bytes: 3_000_000_000,
                doc_count: 5_000,
            }),
            reconcile: ReconcileProgress::default(),
            in_sync: true,
        },
        now - 20,
    );
    registry.record_error(&node_id("n-online"), "scope denied: school:30099", now - 10);
    now
}

/// Opens a sled database that was just closed. sled's background flusher holds the directory lock
/// for a moment after the last handle is dropped (longer on a busy machine), so the open is retried
/// for up to two seconds, as `SledStore::open` does.
fn reopen_sled(path: &std::path::Path) -> sled::Db {
    let mut attempts_left = 100;
    loop {
        match sled::open(path) {
            Ok(database) => return database,
            Err(error) if attempts_left > 1 && error.to_string().contains("lock") => {
                attempts_left -= 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => panic!("sled reopens: {error}"),
        }
    }
}

#[tokio::test]
async fn healthz_needs_no_token() {
    let harness = Harness::start().await;
    let response = harness
        .client
        .get(harness.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_security_headers(&response);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let health: Value = response.json().await.expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_secs"].is_u64());
    harness.stop().await;
}

#[tokio::test]
async fn every_protected_route_refuses_missing_and_wrong_tokens() {
    let harness = Harness::start().await;
    populate_every_state(&harness.registry);
    let routes = [
        "/",
        "/dashboard.css",
        "/api/v1/fleet",
        "/api/v1/fleet/n-online",
        "/api/v1/fleet/NOT%20AN%20ID",
        "/metrics",
        "/no-such-route",
    ];
    for route in routes {
        let attempts = [
            ("no token", harness.client.get(harness.url(route))),
            (
                "wrong bearer",
                harness
                    .client
                    .get(harness.url(route))
                    .bearer_auth("wrong-token"),
            ),
            (
                "wrong basic",
                harness
                    .client
                    .get(harness.url(route))
                    .basic_auth("operator", Some("wrong-token")),
            ),
            (
                "token as basic user name",
                harness
                    .client
                    .get(harness.url(route))
                    .basic_auth(TOKEN, None::<&str>),
            ),
            (
                "token with the wrong scheme",
                harness
                    .client
                    .get(harness.url(route))
                    .header("authorization", format!("Token {TOKEN}")),
            ),
        ];
        for (attempt, request) in attempts {
            let response = request.send().await.expect("request");
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{attempt} on {route}"
            );
            assert_eq!(
                header(&response, "www-authenticate"),
                "Basic realm=\"DigiOne relay operations\", charset=\"UTF-8\""
            );
            assert_security_headers(&response);
            assert!(
                header(&response, "content-type").starts_with("application/json"),
                "{attempt} on {route}"
            );
            let body = response.text().await.expect("body");
            let error: Value = serde_json::from_str(&body).expect("a JSON error");
            assert!(error["error"].is_string());
            assert!(
                !body.contains("n-online"),
                "{attempt} on {route} leaked data"
            );
        }
    }

    // A browser sends the token as the Basic password with whatever user name was typed.
    let response = harness
        .client
        .get(harness.url("/api/v1/fleet"))
        .basic_auth("anyone", Some(TOKEN))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    harness.stop().await;
}

#[tokio::test]
async fn fleet_json_shows_every_state_in_staleness_order() {
    let harness = Harness::start().await;
    let now = populate_every_state(&harness.registry);
    harness.set_now(now);

    let response = harness.get("/api/v1/fleet").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_security_headers(&response);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let fleet: Value = response.json().await.expect("json");
    assert_eq!(fleet["generated_unix"], now);

    let expected_states = [
        ("n-online", "online", true),
        ("n-stale", "stale", true),
        ("n-offline", "offline", false),
        ("n-lost", "lost", false),
        ("n-never", "never_connected", false),
        ("n-revoked", "revoked", false),
    ];
    for (node, state, connected) in expected_states {
        let view = find(&fleet, node);
        assert_eq!(view["state"], state, "{node}");
        assert_eq!(view["connected"], connected, "{node}");
        if !connected {
            assert!(view["sync"].is_null(), "{node}: nothing compared offline");
        }
    }
    // Digests equal, but the relay has three documents queued for the node.
    assert_eq!(find(&fleet, "n-online")["sync"], "sending");
    // Its one report said nothing was in sync yet.
    assert_eq!(find(&fleet, "n-stale")["sync"], "reconciling");
    assert_eq!(
        node_ids(&fleet),
        [
            "n-never",
            "n-lost",
            "n-revoked",
            "n-offline",
            "n-stale",
            "n-online"
        ],
        "never seen first, then the longest without contact"
    );

    let summary = &fleet["summary"];
    assert_eq!(summary["total"], 6);
    assert_eq!(summary["connected"], 2);
    assert_eq!(summary["reconciling"], 1);
    for state in [
        "online",
        "stale",
        "offline",
        "lost",
        "never_connected",
        "revoked",
    ] {
        assert_eq!(summary["states"][state], 1, "{state}");
    }
    let vantaa = summary["municipalities"]
        .as_array()
        .expect("municipalities")
        .iter()
        .find(|municipality| municipality["municipality"] == "092")
        .expect("092 listed");
    assert_eq!(vantaa["total"], 3);
    assert_eq!(vantaa["connected"], 2);

    let offline = find(&fleet, "n-offline");
    assert_eq!(offline["offline_since_unix"], now - 2 * DAY);
    assert_eq!(offline["offline_for_secs"], 2 * DAY);
    assert_eq!(offline["last_disconnect_reason"], "network unreachable");
    assert!(find(&fleet, "n-never")["last_seen_unix"].is_null());

    // A stale window later the online node has missed three heartbeats too.
    harness.set_now(now + 46);
    let later = harness.get_json("/api/v1/fleet/n-online").await;
    assert_eq!(later["state"], "stale");
    assert_eq!(later["connected"], true);
    harness.stop().await;
}

#[tokio::test]
async fn a_disconnected_node_is_stale_then_offline_then_lost() {
    let harness = Harness::start().await;
    let node = node_id("n-30076-a1");
    harness
        .registry
        .record_connected(&facts("n-30076-a1", "30076", "092", "0a"), remote(), START);
    harness.set_now(START + 10);
    assert_eq!(
        harness.get_json("/api/v1/fleet/n-30076-a1").await["state"],
        "online"
    );

    harness
        .registry
        .record_disconnected(&node, "closed by peer", START + 20);
    let stale_window = 15 * 3;
    for (now, state) in [
        (START + 20 + stale_window, "stale"),
        (START + 21 + stale_window, "offline"),
        (START + 20 + 60 * DAY, "offline"),
        (START + 21 + 60 * DAY, "lost"),
    ] {
        harness.set_now(now);
        let view = harness.get_json("/api/v1/fleet/n-30076-a1").await;
        assert_eq!(view["state"], state, "at {}", now - START);
        assert_eq!(view["connected"], false);
    }

    // Reconnecting makes it online again.
    harness.registry.record_connected(
        &facts("n-30076-a1", "30076", "092", "0a"),
        remote(),
        START + 61 * DAY,
    );
    harness.set_now(START + 61 * DAY + 1);
    let view = harness.get_json("/api/v1/fleet/n-30076-a1").await;
    assert_eq!(view["state"], "online");
    assert!(view["offline_since_unix"].is_null());
    harness.stop().await;
}

#[tokio::test]
async fn one_node_reports_everything_the_relay_knows() {
    let harness = Harness::start().await;
    let now = populate_every_state(&harness.registry);
    harness.set_now(now);
    let view = harness.get_json("/api/v1/fleet/n-online").await;
    assert_eq!(view["node_id"], "n-online");
    assert_eq!(view["role"], "node");
    assert_eq!(view["school"], "30076");
    assert_eq!(view["municipality"], "092");
    assert_eq!(view["remote_address"], "198.51.100.20:50123");
    assert_eq!(view["last_seen_unix"], now - 20);
    assert_eq!(view["software_version"], "digione-node 0.4.2");
    assert_eq!(view["protocol_version"], 1);
    assert_eq!(view["rtt_millis"], 23);
    assert_eq!(
        view["waiting_to_node"],
        serde_json::json!({"docs": 3, "blobs": 1, "bytes": 70_000})
    );
    assert_eq!(
        view["waiting_from_node"],
        serde_json::json!({"docs": 0, "blobs": 0, "bytes": 0})
    );
    // The node's own clock says 12345 ms; the relay records its own time of the in-sync report.
    assert_eq!(view["last_complete_sync_unix"], now - 20);
    assert_eq!(view["bytes_out_total"], 10_000);
    assert_eq!(view["bytes_in_total"], 2_500);
    assert_eq!(view["errors_total"], 1);
    assert_eq!(view["last_error"], "scope denied: school:30099");
    assert_eq!(view["certificate_serial"], "01");
    assert_eq!(
        view["certificate_expires_unix"],
        START - DAY + CERTIFICATE_LIFETIME
    );
    assert_eq!(
        view["certificate_expires_in_secs"],
        START - DAY + CERTIFICATE_LIFETIME - now
    );
    assert_eq!(view["health"]["disk_free_bytes"], 120_000_000_000u64);
    assert_eq!(view["health"]["doc_count"], 5_000);
    assert_eq!(view["health"]["reported_unix"], now - 20);

    let revoked = harness.get_json("/api/v1/fleet/n-revoked").await;
    assert_eq!(revoked["revoked_unix"], START + 4 * DAY);
    harness.stop().await;
}

#[tokio::test]
async fn unknown_nodes_are_404_and_malformed_ids_400() {
    let harness = Harness::start().await;
    populate_every_state(&harness.registry);

    let response = harness.get("/api/v1/fleet/n-nobody").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&response);
    let error: Value = response.json().await.expect("json");
    assert!(
        error["error"]
            .as_str()
            .expect("message")
            .contains("n-nobody")
    );

    for malformed in [
        "N-UPPER",
        "-leading-dash",
        "x",
        "a%20b",
        "%C3%A4%C3%A4kk%C3%B6set",
    ] {
        let response = harness.get(&format!("/api/v1/fleet/{malformed}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{malformed}");
        let error: Value = response.json().await.expect("json");
        assert!(error["error"].is_string());
    }
    harness.stop().await;
}

#[tokio::test]
async fn the_fleet_filters_by_municipality_and_state() {
    let harness = Harness::start().await;
    let now = populate_every_state(&harness.registry);
    harness.set_now(now);

    let vantaa = harness.get_json("/api/v1/fleet?municipality=092").await;
    assert_eq!(node_ids(&vantaa), ["n-never", "n-stale", "n-online"]);
    assert_eq!(vantaa["filter"]["municipality"], "092");
    assert_eq!(
        vantaa["summary"]["total"], 6,
        "the summary counts the whole fleet"
    );

    let stale = harness
        .get_json("/api/v1/fleet?municipality=092&state=stale")
        .await;
    assert_eq!(node_ids(&stale), ["n-stale"]);
    let lost = harness.get_json("/api/v1/fleet?state=lost").await;
    assert_eq!(node_ids(&lost), ["n-lost"]);
    let everything = harness.get_json("/api/v1/fleet?municipality=&state=").await;
    assert_eq!(node_ids(&everything).len(), 6);
    let nobody = harness.get_json("/api/v1/fleet?municipality=999").await;
    assert!(node_ids(&nobody).is_empty());

    for bad in ["?municipality=92", "?municipality=vantaa", "?state=asleep"] {
        let response = harness.get(&format!("/api/v1/fleet{bad}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let error: Value = response.json().await.expect("json");
        assert!(error["error"].is_string());
    }
    harness.stop().await;
}

/// Checks the OpenMetrics text line by line: every sample belongs to a family declared before it
/// with HELP and TYPE, has well-formed labels and a numeric value, and the text ends with `# EOF`.
fn check_openmetrics(text: &str) -> BTreeSet<String> {
    let mut families: BTreeSet<String> = BTreeSet::new();
    let mut declared_types: std::collections::BTreeMap<String, String> = Default::default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "the exposition ends with # EOF"
    );
    for line in &lines[..lines.len() - 1] {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, _) = help.split_once(' ').expect("HELP name and text");
            assert!(name.starts_with("digione_relay_"), "{line}");
            families.insert(name.to_owned());
            continue;
        }
        if let Some(declaration) = line.strip_prefix("# TYPE ") {
            let (name, kind) = declaration.split_once(' ').expect("TYPE name and kind");
            assert!(families.contains(name), "TYPE before HELP: {line}");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            declared_types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line}");
        let name_end = line.find(['{', ' ']).expect("sample name");
        let name = &line[..name_end];
        let family = declared_types
            .keys()
            .find(|family| {
                let kind = &declared_types[*family];
                (kind == "gauge" && name == family.as_str())
                    || (kind == "counter" && name == format!("{family}_total"))
            })
            .unwrap_or_else(|| panic!("sample of an undeclared family: {line}"));
        assert!(!family.is_empty());
        let rest = &line[name_end..];
        let value = if let Some(labelled) = rest.strip_prefix('{') {
            let (labels, value) = labelled.split_once("} ").expect("closing brace");
            for label in labels.split("\",") {
                let (key, quoted) = label.split_once("=\"").expect("key=\"value\"");
                assert!(
                    key.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                    "{line}"
                );
                assert!(!quoted.contains('"') || quoted.ends_with('"'), "{line}");
            }
            value
        } else {
            rest.trim_start()
        };
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("value of {line} is not a number"));
    }
    families
}

fn sample_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series}"))
        .parse()
        .expect("number")
}

#[tokio::test]
async fn metrics_expose_counters_and_fleet_gauges() {
    let harness = Harness::start().await;
    let now = populate_every_state(&harness.registry);
    harness.set_now(now);
    harness.metrics.connection_accepted();
    harness.metrics.connection_accepted();
    harness.metrics.connection_refused(RefusalReason::Revoked);
    harness.metrics.sync_bytes(1_000, 250);
    harness.metrics.documents_routed(7);

    let response = harness.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "content-type"),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_security_headers(&response);
    let text = response.text().await.expect("text");
    let families = check_openmetrics(&text);
    for family in [
        "digione_relay_connections_accepted",
        "digione_relay_connections_refused",
        "digione_relay_enrolments",
        "digione_relay_protocol_errors",
        "digione_relay_sync_bytes",
        "digione_relay_fanout_notifications_dropped",
        "digione_relay_documents_routed",
        "digione_relay_nodes_connected",
        "digione_relay_nodes",
        "digione_relay_node_last_seen_timestamp_seconds",
        "digione_relay_node_connected",
        "digione_relay_node_certificate_expiry_timestamp_seconds",
        "digione_relay_node_rtt_seconds",
        "digione_relay_node_waiting_documents",
        "digione_relay_node_store_bytes",
        "digione_relay_store_documents",
        "digione_relay_store_bytes",
    ] {
        assert!(families.contains(family), "{family} missing");
    }

    assert_eq!(
        sample_value(&text, "digione_relay_connections_accepted_total"),
        2.0
    );
    assert_eq!(
        sample_value(
            &text,
            "digione_relay_connections_refused_total{reason=\"revoked\"}"
        ),
        1.0
    );
    assert_eq!(
        sample_value(
            &text,
            "digione_relay_connections_refused_total{reason=\"rate_limited\"}"
        ),
        0.0,
        "every reason has a series from the start"
    );
    assert_eq!(
        sample_value(&text, "digione_relay_sync_bytes_total{direction=\"in\"}"),
        1_000.0
    );
    assert_eq!(
        sample_value(&text, "digione_relay_sync_bytes_total{direction=\"out\"}"),
        250.0
    );
    assert_eq!(
        sample_value(&text, "digione_relay_documents_routed_total"),
        7.0
    );
    assert_eq!(sample_value(&text, "digione_relay_nodes_connected"), 2.0);
    assert_eq!(
        sample_value(&text, "digione_relay_nodes{state=\"lost\"}"),
        1.0
    );
    assert_eq!(
        sample_value(&text, "digione_relay_store_documents"),
        4_321.0
    );
    assert_eq!(
        sample_value(
            &text,
            "digione_relay_node_last_seen_timestamp_seconds{node=\"n-online\",school=\"30076\",municipality=\"092\"}"
        ),
        (now - 20) as f64
    );
    assert_eq!(
        sample_value(
            &text,
            "digione_relay_node_connected{node=\"n-offline\",school=\"10001\",municipality=\"091\"}"
        ),
        0.0
    );
    assert_eq!(
        sample_value(&text, "digione_relay_node_rtt_seconds{node=\"n-online\"}"),
        0.023
    );
    assert_eq!(
        sample_value(
            &text,
            "digione_relay_node_waiting_documents{node=\"n-online\",direction=\"to_node\"}"
        ),
        3.0
    );
    assert_eq!(
        sample_value(&text, "digione_relay_node_store_bytes{node=\"n-online\"}"),
        3_000_000_000.0
    );
    assert!(
        !text.contains("digione_relay_node_waiting_documents{node=\"n-never\""),
        "nothing is known about waiting for a node that never connected"
    );
    harness.stop().await;
}

/// Issue 15: a node whose store was wiped and rebuilt under its old identity holds nothing, yet
/// both queues are empty and its session answered everything. The fleet view, the dashboard and the
/// metrics must show it reconciling, with what is still to come, until the digests match.
#[tokio::test]
async fn a_node_whose_digests_differ_is_reconciling_in_json_dashboard_and_metrics() {
    let harness = Harness::start().await;
    let node = node_id("n-rebuilt");
    let certificate = facts("n-rebuilt", "30076", "092", "01");
    harness.registry.record_enrolled(&certificate, START);
    harness
        .registry
        .record_connected(&certificate, remote(), START + 10);
    let scope = |text: &str| text.parse().expect("scope");
    let report = |documents_to_receive, bytes_to_receive, in_sync, differing: &[&str]| {
        LinkActivity::from(&sync_transport::link::LinkActivity {
            rtt_millis: Some(30),
            from_peer: Some(SyncStatus::default()),
            reconcile: ReconcileProgress {
                scopes_differing: differing.iter().map(|text| scope(text)).collect(),
                documents_to_receive,
                bytes_to_receive,
            },
            in_sync,
            ..sync_transport::link::LinkActivity::default()
        })
    };
    harness.registry.record_activity(
        &node,
        &report(0, 0, false, &["school:30076", "municipality:092"]),
        START + 20,
    );
    harness.metrics.peer_store_not_recognised();
    harness.set_now(START + 25);

    let view = harness.get_json("/api/v1/fleet/n-rebuilt").await;
    assert_eq!(view["state"], "online", "the state machine is unchanged");
    assert_eq!(view["sync"], "reconciling");
    assert_eq!(
        view["reconciling"],
        serde_json::json!({
            "scopes_differing": ["school:30076", "municipality:092"],
            "documents_to_receive": 0,
            "bytes_to_receive": 0,
        })
    );
    assert!(
        view["last_complete_sync_unix"].is_null(),
        "never in sync while the digests differ"
    );
    let fleet = harness.get_json("/api/v1/fleet").await;
    assert_eq!(fleet["summary"]["reconciling"], 1);
    assert_eq!(fleet["summary"]["municipalities"][0]["reconciling"], 1);

    let html = harness.get_text("/").await;
    assert!(html.contains("<th scope=\"col\">Sync</th>"));
    assert!(
        html.contains(">Reconciling: digests of school:30076, municipality:092 differ</span>"),
        "{html}"
    );
    assert!(
        !html.contains(">nothing<"),
        "an empty queue is not \"nothing\" while the digests differ"
    );
    assert!(html.contains("not known yet (reconciling)"));

    let text = harness.get_text("/metrics").await;
    let families = check_openmetrics(&text);
    for family in [
        "digione_relay_nodes_reconciling",
        "digione_relay_node_reconciling",
        "digione_relay_node_reconcile_documents_to_receive",
        "digione_relay_node_reconcile_bytes_to_receive",
        "digione_relay_peer_stores_not_recognised",
    ] {
        assert!(families.contains(family), "{family} missing");
    }
    assert_eq!(sample_value(&text, "digione_relay_nodes_reconciling"), 1.0);
    assert_eq!(
        sample_value(&text, "digione_relay_node_reconciling{node=\"n-rebuilt\"}"),
        1.0
    );
    assert_eq!(
        sample_value(&text, "digione_relay_peer_stores_not_recognised_total"),
        1.0
    );

    // The node offers what it holds: the relay counts what is still to come.
    harness.registry.record_activity(
        &node,
        &report(40, 2_000_000, false, &["school:30076"]),
        START + 30,
    );
    harness.set_now(START + 31);
    let html = harness.get_text("/").await;
    assert!(
        html.contains("40 docs, 2.0 MB to come (reconciling)"),
        "{html}"
    );
    let text = harness.get_text("/metrics").await;
    assert_eq!(
        sample_value(
            &text,
            "digione_relay_node_reconcile_documents_to_receive{node=\"n-rebuilt\"}"
        ),
        40.0
    );
    assert_eq!(
        sample_value(
            &text,
            "digione_relay_node_reconcile_bytes_to_receive{node=\"n-rebuilt\"}"
        ),
        2_000_000.0
    );

    // The digests match: in sync, and the last complete sync is the relay's time of that report.
    harness
        .registry
        .record_activity(&node, &report(0, 0, true, &[]), START + 45);
    harness.set_now(START + 46);
    let view = harness.get_json("/api/v1/fleet/n-rebuilt").await;
    assert_eq!(view["sync"], "in_sync");
    assert!(view["reconciling"].is_null());
    assert_eq!(view["last_complete_sync_unix"], START + 45);
    let text = harness.get_text("/metrics").await;
    assert_eq!(sample_value(&text, "digione_relay_nodes_reconciling"), 0.0);
    assert_eq!(
        sample_value(&text, "digione_relay_node_reconciling{node=\"n-rebuilt\"}"),
        0.0
    );
    assert!(!text.contains("digione_relay_node_reconcile_documents_to_receive{"));
    let html = harness.get_text("/").await;
    assert!(html.contains(">In sync</span>"));
    harness.stop().await;
}

/// The `data-node` attributes of the dashboard's rows, in page order.
fn dashboard_rows(html: &str) -> Vec<String> {
    html.split("data-node=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().expect("attribute value").to_owned())
        .collect()
}

#[tokio::test]
async fn the_dashboard_lists_nodes_by_staleness_and_filters_without_javascript() {
    let harness = Harness::start().await;
    let now = populate_every_state(&harness.registry);
    harness.set_now(now);

    let response = harness.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").starts_with("text/html"));
    assert_security_headers(&response);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let html = response.text().await.expect("html");

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"15\">"));
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/dashboard.css\">"));
    assert!(html.contains("<caption>"));
    assert!(html.contains("<th scope=\"col\">Last seen</th>"));
    assert!(html.contains("<th scope=\"row\">"));
    assert!(!html.contains("<script"), "no script");
    assert!(!html.contains("style="), "no inline style");
    assert!(!html.contains("<style"), "no inline style");
    assert_eq!(
        dashboard_rows(&html),
        [
            "n-never",
            "n-lost",
            "n-revoked",
            "n-offline",
            "n-stale",
            "n-online"
        ]
    );
    // States are written out, not only coloured.
    for label in [
        "Online",
        "Stale",
        "Offline",
        "Lost",
        "Never connected",
        "Revoked",
    ] {
        assert!(html.contains(&format!(">{label}</span>")), "{label}");
    }
    assert!(html.contains("20 s ago"), "last seen of the online node");
    assert!(html.contains("2 d"), "offline for of the offline node");
    assert!(html.contains("23 ms"));
    assert!(html.contains("3 docs, 1 blobs, 70.0 kB"));
    assert!(html.contains("4321"), "the store's document count");

    // The filter is a plain GET form.
    assert!(html.contains("<form method=\"get\" action=\"/\""));
    assert!(html.contains("<option value=\"091\">091</option>"));
    let filtered = harness.get_text("/?municipality=091").await;
    assert_eq!(dashboard_rows(&filtered), ["n-lost", "n-offline"]);
    assert!(filtered.contains("<option value=\"091\" selected>091</option>"));
    assert!(filtered.contains("in municipality 091"));
    let by_state = harness
        .get_text("/?municipality=&state=never_connected")
        .await;
    assert_eq!(dashboard_rows(&by_state), ["n-never"]);
    let empty = harness.get_text("/?municipality=999").await;
    assert!(dashboard_rows(&empty).is_empty());
    assert!(empty.contains("No nodes match this filter."));

    let response = harness.get("/?municipality=<script>").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let stylesheet = harness.get("/dashboard.css").await;
    assert_eq!(stylesheet.status(), StatusCode::OK);
    assert!(header(&stylesheet, "content-type").starts_with("text/css"));
    assert_security_headers(&stylesheet);
    let css = stylesheet.text().await.expect("css");
    assert!(css.contains(":focus-visible"));
    harness.stop().await;
}

#[tokio::test]
async fn totals_survive_a_restart_and_reconnects_do_not_double_count() {
    let directory = tempfile::tempdir().expect("tempdir");
    let node = node_id("n-30076-a1");
    let certificate = facts("n-30076-a1", "30076", "092", "0b");
    let traffic = |sent, received| LinkActivity {
        bytes_sent: sent,
        bytes_received: received,
        ..LinkActivity::default()
    };
    {
        let database = sled::open(directory.path()).expect("sled");
        let registry = FleetRegistry::open(database.open_tree("fleet").expect("tree"), policy())
            .expect("open");
        registry.record_enrolled(&certificate, START);
        registry.record_enrolled(&facts("n-30076-b2", "30076", "092", "0c"), START);

        // First connection: counters grow within it, then it ends.
        registry.record_connected(&certificate, remote(), START + 10);
        registry.record_activity(&node, &traffic(1_000, 100), START + 11);
        registry.record_activity(&node, &traffic(3_000, 300), START + 12);
        registry.record_disconnected(&node, "closed", START + 13);
        registry.persist().expect("persist");

        // Second connection starts its counters at zero again.
        registry.record_connected(&certificate, remote(), START + 20);
        registry.record_activity(&node, &traffic(500, 50), START + 21);
        registry.record_error(&node, "bad change", START + 22);
        registry.record_disconnected(&node, "closed", START + 23);

        // Third connection is still open when the relay stops without recording its end.
        registry.record_connected(&certificate, remote(), START + 30);
        registry.record_activity(&node, &traffic(70, 7), START + 31);
        registry.persist().expect("persist");
        // Persisting twice writes nothing new and changes nothing.
        registry.persist().expect("persist again");
    }

    // The relay restarts on the same database.
    let database = reopen_sled(directory.path());
    let registry =
        FleetRegistry::open(database.open_tree("fleet").expect("tree"), policy()).expect("reopen");
    let harness = Harness::serve(directory, registry.clone()).await;
    harness.set_now(START + 40);
    let view = harness.get_json("/api/v1/fleet/n-30076-a1").await;
    assert_eq!(view["bytes_out_total"], 3_000 + 500 + 70);
    assert_eq!(view["bytes_in_total"], 300 + 50 + 7);
    assert_eq!(view["errors_total"], 1);
    assert_eq!(
        view["connected"], false,
        "nothing is connected to a starting relay"
    );
    assert_eq!(view["offline_since_unix"], START + 31);
    assert_eq!(view["last_disconnect_reason"], "relay restarted");
    assert_eq!(view["state"], "stale");
    let other = harness.get_json("/api/v1/fleet/n-30076-b2").await;
    assert_eq!(other["state"], "never_connected");

    // A reconnect after the restart adds to the totals instead of starting over.
    registry.record_connected(&certificate, remote(), START + 50);
    registry.record_activity(&node, &traffic(5, 1), START + 51);
    harness.set_now(START + 52);
    let view = harness.get_json("/api/v1/fleet/n-30076-a1").await;
    assert_eq!(view["bytes_out_total"], 3_575);
    assert_eq!(view["bytes_in_total"], 358);
    assert_eq!(view["state"], "online");
    harness.stop().await;
}
