//! Enrolment under attack, end to end with a real relay on loopback: peers without a token (made-up
//! tokens, garbage, silence) must not keep a school that holds a token from enrolling, whether they
//! come from elsewhere or from the school's own address.
//!
//! Distinct sources are distinct loopback addresses (127.0.0.2, 127.0.0.3, …): Linux routes all of
//! 127.0.0.0/8 to the loopback interface, so a client endpoint can bind any of them.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use cloud_relay::authority::{Authority, TokenRequest};
use cloud_relay::config::RelayConfig;
use cloud_relay::metrics::StoreStats;
use cloud_relay::server::{self, RunningRelay};
use sync_transport::client;
use sync_transport::control::{self, ControlRequest, ControlResponse, EnrolmentToken, RefusalCode};
use sync_transport::identity::Role;
use sync_transport::quic::{QuicTuning, close_code};
use sync_transport::tls;
use tempfile::TempDir;

const OPERATOR_TOKEN: &str = "test-operator-token-0123456789";

/// Long enough for loopback under a loaded two-core CI machine; only readiness is waited for.
const PATIENCE: Duration = Duration::from_secs(30);

struct TestRelay {
    _dir: TempDir,
    address: SocketAddr,
    authority: Authority,
    running: RunningRelay,
}

impl TestRelay {
    async fn start_with(adjust: impl FnOnce(&mut RelayConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = RelayConfig {
            data_dir: dir.path().join("relay"),
            ..RelayConfig::default()
        };
        config.sync.listen = "127.0.0.1:0".parse().expect("address");
        config.operations.listen = "127.0.0.1:0".parse().expect("address");
        config.operations.operator_token = Some(OPERATOR_TOKEN.into());
        adjust(&mut config);
        let authority =
            Authority::init(&config.authority_dir(), SystemTime::now()).expect("ca init");
        let running = server::start(config, authority.clone())
            .await
            .expect("relay starts");
        Self {
            _dir: dir,
            address: running.sync_address,
            authority,
            running,
        }
    }

    /// A real token for a new node of school 30076, as an operator would hand it out.
    fn token(&self) -> EnrolmentToken {
        self.authority
            .issue_token(
                TokenRequest {
                    role: Role::Node,
                    school: Some("30076".parse().expect("school")),
                    municipality: Some("092".parse().expect("municipality")),
                    node: None,
                    valid_for: Duration::from_secs(3600),
                },
                SystemTime::now(),
            )
            .expect("token")
    }

    /// A token in the right format, pinned to the right CA, that the relay never issued: what an
    /// attacker who can reach the port can send.
    fn made_up_token(&self, index: u32) -> EnrolmentToken {
        EnrolmentToken {
            id: format!("{index:016x}"),
            secret: "5".repeat(control::TOKEN_SECRET_BYTES * 2),
            ca_sha256: self.authority.ca_sha256(),
        }
    }

    /// The value of one sample of the relay's metrics, as Prometheus would scrape it.
    fn metric(&self, sample: &str) -> f64 {
        let text = self
            .running
            .metrics()
            .render(self.running.registry(), StoreStats::default(), 0)
            .expect("metrics render");
        text.lines()
            .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no sample {sample} in\n{text}"))
            .parse()
            .expect("a number")
    }
}

fn tuning() -> QuicTuning {
    QuicTuning {
        keep_alive: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(5),
        ..QuicTuning::default()
    }
}

fn enrol_request(token: EnrolmentToken) -> ControlRequest {
    let (_key, csr_der) = tls::new_key_and_request().expect("csr");
    ControlRequest::Enrol { token, csr_der }
}

/// An enrolment connection from `source` (a loopback address), handshake completed, nothing sent.
async fn connect_from(relay: &TestRelay, source: &str) -> (quinn::Endpoint, quinn::Connection) {
    let local: SocketAddr = format!("{source}:0").parse().expect("address");
    let endpoint = sync_transport::quic::endpoint(local, None, &tuning()).expect("endpoint");
    let config =
        tls::enrolment_client_config(relay.authority.ca_sha256(), &tuning()).expect("config");
    let connection = endpoint
        .connect_with(config, relay.address, "localhost")
        .expect("connect")
        .await
        .expect("the enrolment handshake needs no certificate");
    (endpoint, connection)
}

/// How the relay dealt with one request.
#[derive(Debug)]
enum Outcome {
    Answered(ControlResponse),
    /// The connection was closed without an answer, with this application close code.
    Closed(Option<u32>),
}

impl Outcome {
    fn refusal_code(&self) -> Option<RefusalCode> {
        match self {
            Outcome::Answered(ControlResponse::Refused { code, .. }) => Some(*code),
            _ => None,
        }
    }

    fn is_certificate(&self) -> bool {
        matches!(self, Outcome::Answered(ControlResponse::Certificate { .. }))
    }
}

async fn closed_with(connection: &quinn::Connection) -> Option<u32> {
    match tokio::time::timeout(PATIENCE, connection.closed()).await {
        Ok(quinn::ConnectionError::ApplicationClosed(close)) => {
            u32::try_from(close.error_code.into_inner()).ok()
        }
        _ => None,
    }
}

/// Sends `bytes` as the request on a new connection from `source` and reads the answer.
async fn exchange_bytes(relay: &TestRelay, source: &str, bytes: &[u8]) -> Outcome {
    let (_endpoint, connection) = connect_from(relay, source).await;
    let answer = async {
        let (mut send, mut recv) = connection.open_bi().await.ok()?;
        send.write_all(bytes).await.ok()?;
        send.finish().ok()?;
        control::read::<ControlResponse>(&mut recv).await.ok()
    }
    .await;
    let outcome = match answer {
        Some(response) => Outcome::Answered(response),
        None => Outcome::Closed(closed_with(&connection).await),
    };
    connection.close(quinn::VarInt::from_u32(close_code::NORMAL), b"done");
    outcome
}

async fn exchange(relay: &TestRelay, source: &str, request: &ControlRequest) -> Outcome {
    exchange_bytes(relay, source, &control::encode(request).expect("encodes")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_peers_cannot_use_up_the_enrolment_budget_of_a_school_that_holds_a_token() {
    const BUDGET: u32 = 5;
    let relay =
        TestRelay::start_with(|config| config.sync.max_enrolments_per_minute = BUDGET).await;

    // Peers that connect and never send anything, held open throughout.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(connect_from(&relay, "127.0.0.1").await);
    }
    // Twice the relay's enrolments for the minute in made-up tokens, and one request that is not
    // a request at all.
    let mut attacks = Vec::new();
    for index in 0..2 * BUDGET {
        let request = enrol_request(relay.made_up_token(index));
        attacks.push(exchange(&relay, "127.0.0.1", &request).await);
    }
    let garbage = exchange_bytes(&relay, "127.0.0.1", b"\x00\x00\x00\x04junk").await;

    // The school enrols the way a node does, from the same address as the attack.
    let school = tempfile::tempdir().expect("tempdir");
    let enrolled = client::enrol(
        &relay.address.to_string(),
        Some("localhost"),
        &relay.token(),
        school.path(),
        &tuning(),
    )
    .await;
    assert!(
        enrolled.is_ok(),
        "a school with a valid token enrols after the attack: {enrolled:?}"
    );

    for (index, attack) in attacks.iter().enumerate() {
        assert_eq!(
            attack.refusal_code(),
            Some(RefusalCode::TokenInvalid),
            "made-up token {index} is refused as invalid: {attack:?}"
        );
    }
    assert_eq!(
        garbage.refusal_code(),
        Some(RefusalCode::BadRequest),
        "{garbage:?}"
    );

    // The budget still bounds real issuances: the rest of the minute's enrolments work, and the
    // one beyond them is closed as rate limited without using its token.
    for _ in 1..BUDGET {
        let outcome = exchange(&relay, "127.0.0.1", &enrol_request(relay.token())).await;
        assert!(outcome.is_certificate(), "{outcome:?}");
    }
    let late_token = relay.token();
    let late = exchange(&relay, "127.0.0.1", &enrol_request(late_token.clone())).await;
    assert!(
        matches!(late, Outcome::Closed(Some(close_code::RATE_LIMITED))),
        "{late:?}"
    );
    relay
        .authority
        .check_token(&late_token)
        .expect("a token refused for the budget stays usable");
    assert_eq!(
        relay.metric("digione_relay_enrolments_total{outcome=\"issued\"}"),
        f64::from(BUDGET)
    );
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_keeps_failing_is_cut_off_while_other_sources_and_valid_tokens_get_through() {
    const FAILURES: u32 = 3;
    let relay = TestRelay::start_with(|config| {
        config.sync.max_failed_enrolments_per_source_per_minute = FAILURES;
    })
    .await;

    let noisy = "127.0.0.2";
    for index in 0..FAILURES {
        let outcome = exchange(&relay, noisy, &enrol_request(relay.made_up_token(index))).await;
        assert_eq!(
            outcome.refusal_code(),
            Some(RefusalCode::TokenInvalid),
            "failure {index} is still answered: {outcome:?}"
        );
    }
    for index in FAILURES..2 * FAILURES {
        let outcome = exchange(&relay, noisy, &enrol_request(relay.made_up_token(index))).await;
        assert!(
            matches!(outcome, Outcome::Closed(Some(close_code::RATE_LIMITED))),
            "beyond its failures the source is cut off: {outcome:?}"
        );
    }
    let garbage = exchange_bytes(&relay, noisy, b"\x00\x00\x00\x04junk").await;
    assert!(
        matches!(garbage, Outcome::Closed(Some(close_code::RATE_LIMITED))),
        "{garbage:?}"
    );

    // Another address is not affected by the noisy one.
    let other = exchange(&relay, "127.0.0.3", &enrol_request(relay.made_up_token(99))).await;
    assert_eq!(
        other.refusal_code(),
        Some(RefusalCode::TokenInvalid),
        "{other:?}"
    );

    // Schools behind the noisy address (one NAT for a whole municipality) still enrol with their
    // tokens, and so do schools elsewhere.
    for source in [noisy, "127.0.0.3"] {
        let outcome = exchange(&relay, source, &enrol_request(relay.token())).await;
        assert!(outcome.is_certificate(), "{source}: {outcome:?}");
    }

    // The made-up tokens beyond the budget, and the garbage.
    let cut_off = f64::from(FAILURES + 1);
    assert_eq!(
        relay.metric("digione_relay_enrolments_source_limited_total{limit=\"failed_attempts\"}"),
        cut_off
    );
    assert_eq!(
        relay.metric("digione_relay_connections_refused_total{reason=\"rate_limited\"}"),
        cut_off
    );
    assert_eq!(
        relay.metric("digione_relay_enrolments_total{outcome=\"issued\"}"),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_cannot_hold_an_address_because_a_newcomer_replaces_the_oldest() {
    let relay = TestRelay::start_with(|config| {
        config.sync.max_enrolment_connections_per_source = 2;
    })
    .await;
    let source = "127.0.0.4";
    let (_first_endpoint, first) = connect_from(&relay, source).await;
    let (_second_endpoint, second) = connect_from(&relay, source).await;
    // Readiness only: the relay admits a connection in the same step as it counts it accepted.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while relay.metric("digione_relay_connections_accepted_total") < 2.0 {
        assert!(tokio::time::Instant::now() < deadline, "never accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let school = exchange(&relay, source, &enrol_request(relay.token())).await;
    assert!(
        school.is_certificate(),
        "the school enrols past silent connections from its own address: {school:?}"
    );
    assert_eq!(
        closed_with(&first).await,
        Some(close_code::RATE_LIMITED),
        "the oldest silent connection made room"
    );
    assert_eq!(
        relay.metric("digione_relay_enrolments_source_limited_total{limit=\"connections\"}"),
        1.0
    );
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_made_up_token_is_refused_the_same_way_a_used_one_is() {
    let relay = TestRelay::start_with(|_| {}).await;
    let token = relay.token();
    let first = exchange(&relay, "127.0.0.1", &enrol_request(token.clone())).await;
    assert!(first.is_certificate(), "{first:?}");
    let again = exchange(&relay, "127.0.0.1", &enrol_request(token)).await;
    assert_eq!(again.refusal_code(), Some(RefusalCode::TokenInvalid));
    let made_up = exchange(&relay, "127.0.0.1", &enrol_request(relay.made_up_token(1))).await;
    assert_eq!(made_up.refusal_code(), Some(RefusalCode::TokenInvalid));
    let renewal = exchange(
        &relay,
        "127.0.0.1",
        &ControlRequest::Renew {
            csr_der: tls::new_key_and_request().expect("csr").1,
        },
    )
    .await;
    assert_eq!(renewal.refusal_code(), Some(RefusalCode::NotAllowed));
}
