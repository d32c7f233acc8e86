//! The fleet certificate authority against real files: tokens, signing, revocation, concurrency, and
//! the `digione-relay` command line around it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cloud_relay::authority::{Authority, AuthorityError, IssueKind, TokenRequest};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use sync_protocol::ids::NodeId;
use sync_transport::control::{EnrolmentToken, RefusalCode};
use sync_transport::identity::{FleetIdentity, Role, certificate_facts};
use x509_parser::extensions::GeneralName;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

struct Fixture {
    // Kept so the directory outlives the test.
    _directory: tempfile::TempDir,
    authority_dir: PathBuf,
    authority: Authority,
    now: SystemTime,
}

fn new_fixture() -> Fixture {
    let directory = tempfile::tempdir().expect("tempdir");
    let authority_dir = directory.path().join("authority");
    let now = SystemTime::now();
    let authority = Authority::init(&authority_dir, now)
        .expect("init")
        .with_certificate_lifetime(30 * DAY);
    Fixture {
        _directory: directory,
        authority_dir,
        authority,
        now,
    }
}

fn node_token_request() -> TokenRequest {
    TokenRequest {
        role: Role::Node,
        school: Some("30076".parse().expect("school")),
        municipality: Some("092".parse().expect("municipality")),
        node: None,
        valid_for: 24 * HOUR,
    }
}

/// A real PKCS#10 request for a fresh key, asking for nothing in particular.
fn plain_csr() -> Vec<u8> {
    let key = KeyPair::generate().expect("key");
    CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .serialize_request(&key)
        .expect("csr")
        .der()
        .to_vec()
}

fn unix_time(time: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(time.duration_since(UNIX_EPOCH).expect("after 1970"))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(authority: &Authority) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(authority.ca_certificate()).expect("CA accepted");
    Arc::new(roots)
}

fn token_file(fixture: &Fixture, token: &EnrolmentToken) -> PathBuf {
    fixture
        .authority_dir
        .join("tokens")
        .join(format!("{}.json", token.id))
}

fn used_token_file(fixture: &Fixture, token: &EnrolmentToken) -> PathBuf {
    fixture
        .authority_dir
        .join("tokens")
        .join("used")
        .join(format!("{}.json", token.id))
}

#[test]
fn a_token_enrols_once_and_a_second_use_is_refused() {
    let fixture = new_fixture();
    let token = fixture
        .authority
        .issue_token(node_token_request(), fixture.now)
        .expect("token");
    assert_eq!(token.ca_sha256, fixture.authority.ca_sha256());
    // The printed form parses back, as a node reads it.
    let reparsed: EnrolmentToken = token.to_string().parse().expect("parses");
    assert_eq!(reparsed, token);

    let issued = fixture
        .authority
        .redeem_token(&reparsed, &plain_csr(), fixture.now)
        .expect("first redemption");
    let identity = &issued.facts.identity;
    assert_eq!(identity.role, Role::Node);
    assert_eq!(identity.school, Some("30076".parse().expect("school")));
    assert_eq!(
        identity.municipality,
        Some("092".parse().expect("municipality"))
    );
    let node = identity.node.to_string();
    assert!(node.starts_with("n-30076-") && node.len() == 16, "{node}");
    assert!(!token_file(&fixture, &token).exists());
    assert!(used_token_file(&fixture, &token).exists());

    let second = fixture
        .authority
        .redeem_token(&token, &plain_csr(), fixture.now)
        .expect_err("second redemption");
    assert_eq!(second.code, RefusalCode::TokenInvalid);
}

#[test]
fn an_expired_token_is_refused_and_consumed() {
    let fixture = new_fixture();
    let request = TokenRequest {
        valid_for: HOUR,
        ..node_token_request()
    };
    let token = fixture
        .authority
        .issue_token(request, fixture.now)
        .expect("token");
    let later = fixture.now + 2 * HOUR;
    let refusal = fixture
        .authority
        .redeem_token(&token, &plain_csr(), later)
        .expect_err("expired");
    assert_eq!(refusal.code, RefusalCode::TokenExpired);
    assert!(refusal.message.contains("expired"), "{}", refusal.message);
    assert!(!token_file(&fixture, &token).exists());
    // Gone for good: even at a time when it would have been valid.
    let again = fixture
        .authority
        .redeem_token(&token, &plain_csr(), fixture.now)
        .expect_err("consumed");
    assert_eq!(again.code, RefusalCode::TokenInvalid);
}

#[test]
fn a_wrong_secret_is_refused_without_consuming_the_token() {
    let fixture = new_fixture();
    let token = fixture
        .authority
        .issue_token(node_token_request(), fixture.now)
        .expect("token");
    let mut forged = token.clone();
    forged.secret = "0".repeat(token.secret.len());
    let refusal = fixture
        .authority
        .redeem_token(&forged, &plain_csr(), fixture.now)
        .expect_err("wrong secret");
    assert_eq!(refusal.code, RefusalCode::TokenInvalid);
    assert!(token_file(&fixture, &token).exists());

    // An unknown id and a token for another CA are refused the same way.
    let mut unknown = token.clone();
    unknown.id = "0123456789abcdef".into();
    assert_eq!(
        fixture
            .authority
            .redeem_token(&unknown, &plain_csr(), fixture.now)
            .expect_err("unknown")
            .code,
        RefusalCode::TokenInvalid
    );
    let mut other_fleet = token.clone();
    other_fleet.ca_sha256 = [7; 32];
    assert_eq!(
        fixture
            .authority
            .redeem_token(&other_fleet, &plain_csr(), fixture.now)
            .expect_err("other CA")
            .code,
        RefusalCode::TokenInvalid
    );

    fixture
        .authority
        .redeem_token(&token, &plain_csr(), fixture.now)
        .expect("the real secret still works");
}

#[test]
fn checking_a_token_changes_nothing_and_agrees_with_redemption() {
    let fixture = new_fixture();
    let token = fixture
        .authority
        .issue_token(node_token_request(), fixture.now)
        .expect("token");
    fixture.authority.check_token(&token).expect("a real token");
    fixture.authority.check_token(&token).expect("still there");
    assert!(
        token_file(&fixture, &token).exists(),
        "nothing was consumed"
    );

    let mut forged = token.clone();
    forged.secret = "0".repeat(token.secret.len());
    let mut unknown = token.clone();
    unknown.id = "0123456789abcdef".into();
    let mut malformed = token.clone();
    malformed.id = "../../ca".into();
    let mut other_fleet = token.clone();
    other_fleet.ca_sha256 = [7; 32];
    for bad in [&forged, &unknown, &malformed, &other_fleet] {
        let refusal = fixture.authority.check_token(bad).expect_err("refused");
        assert_eq!(refusal.code, RefusalCode::TokenInvalid, "{bad:?}");
    }

    // The holder of an expired token knows its secret: the check passes, and redemption reports
    // the expiry. Only the redemption consumes it.
    let expired = fixture
        .authority
        .issue_token(
            TokenRequest {
                valid_for: HOUR,
                ..node_token_request()
            },
            fixture.now - 2 * HOUR,
        )
        .expect("token");
    fixture
        .authority
        .check_token(&expired)
        .expect("secret known");
    assert!(token_file(&fixture, &expired).exists());

    fixture
        .authority
        .redeem_token(&token, &plain_csr(), fixture.now)
        .expect("redeemed");
    assert_eq!(
        fixture
            .authority
            .check_token(&token)
            .expect_err("a used token fails the check")
            .code,
        RefusalCode::TokenInvalid
    );
}

#[test]
fn a_bad_signing_request_is_refused_without_consuming_the_token() {
    let fixture = new_fixture();
    let token = fixture
        .authority
        .issue_token(node_token_request(), fixture.now)
        .expect("token");
    let mut tampered = plain_csr();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    for csr in [b"not a csr".to_vec(), tampered] {
        let refusal = fixture
            .authority
            .redeem_token(&token, &csr, fixture.now)
            .expect_err("bad csr");
        assert_eq!(refusal.code, RefusalCode::BadRequest);
    }
    assert!(token_file(&fixture, &token).exists());
    fixture
        .authority
        .redeem_token(&token, &plain_csr(), fixture.now)
        .expect("a good request then works");
}

#[test]
fn a_request_for_other_names_gets_only_the_identity() {
    let fixture = new_fixture();
    let token = fixture
        .authority
        .issue_token(node_token_request(), fixture.now)
        .expect("token");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "national-operator");
    params.subject_alt_names = vec![
        SanType::DnsName(Ia5String::try_from("evil.example").expect("name")),
        SanType::URI(Ia5String::try_from("urn:digione:role:operator").expect("uri")),
        SanType::URI(Ia5String::try_from("urn:digione:node:op-00000000").expect("uri")),
    ];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let csr = params.serialize_request(&key).expect("csr").der().to_vec();

    let issued = fixture
        .authority
        .redeem_token(&token, &csr, fixture.now)
        .expect("issued");
    let identity = issued.facts.identity.clone();
    assert_eq!(identity.role, Role::Node);

    let (_, certificate) =
        x509_parser::parse_x509_certificate(&issued.certificate_der).expect("parses");
    let names: Vec<String> = certificate
        .subject_alternative_name()
        .expect("valid")
        .expect("present")
        .value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::URI(uri) => uri.to_string(),
            other => panic!("unexpected name {other:?}"),
        })
        .collect();
    assert_eq!(names, identity.to_uris());
    let common_name = certificate
        .subject()
        .iter_common_name()
        .next()
        .and_then(|name| name.as_str().ok())
        .map(str::to_owned);
    assert_eq!(common_name, Some(identity.node.to_string()));
    let constraints = certificate.basic_constraints().expect("valid");
    assert!(constraints.is_none_or(|constraints| !constraints.value.ca));
    let usage = certificate
        .extended_key_usage()
        .expect("valid")
        .expect("present")
        .value;
    assert!(usage.client_auth && !usage.server_auth);
    // Only the public key was taken from the request.
    assert_eq!(
        certificate.public_key().raw,
        rcgen::PublicKeyData::subject_public_key_info(&key).as_slice()
    );
}

#[test]
fn re_enrolment_keeps_the_node_id() {
    let fixture = new_fixture();
    let first = fixture
        .authority
        .issue_token(node_token_request(), fixture.now)
        .expect("token");
    let node = fixture
        .authority
        .redeem_token(&first, &plain_csr(), fixture.now)
        .expect("enrolled")
        .facts
        .identity
        .node;
    let again = fixture
        .authority
        .issue_token(
            TokenRequest {
                node: Some(node.clone()),
                ..node_token_request()
            },
            fixture.now,
        )
        .expect("re-enrolment token");
    let issued = fixture
        .authority
        .redeem_token(&again, &plain_csr(), fixture.now)
        .expect("re-enrolled");
    assert_eq!(issued.facts.identity.node, node);
}

#[test]
fn a_revoked_node_can_neither_re_enrol_nor_renew() {
    let fixture = new_fixture();
    let token = fixture
        .authority
        .issue_token(node_token_request(), fixture.now)
        .expect("token");
    let issued = fixture
        .authority
        .redeem_token(&token, &plain_csr(), fixture.now)
        .expect("enrolled");
    let identity = issued.facts.identity.clone();

    // Renewal works while the node is in good standing.
    let renewed = fixture
        .authority
        .renew(&identity, &plain_csr(), fixture.now)
        .expect("renewed");
    assert_eq!(renewed.facts.identity, identity);
    assert_ne!(renewed.facts.serial_hex, issued.facts.serial_hex);

    // A re-enrolment token issued before the revocation.
    let re_enrolment = fixture
        .authority
        .issue_token(
            TokenRequest {
                node: Some(identity.node.clone()),
                ..node_token_request()
            },
            fixture.now,
        )
        .expect("token");

    assert!(
        fixture
            .authority
            .revoke(&identity.node, "stolen", fixture.now)
            .expect("revoked")
    );
    assert!(
        !fixture
            .authority
            .revoke(&identity.node, "twice", fixture.now)
            .expect("idempotent")
    );
    assert_eq!(
        fixture.authority.revoked_nodes().expect("listed"),
        HashSet::from([identity.node.clone()])
    );

    let refusal = fixture
        .authority
        .renew(&identity, &plain_csr(), fixture.now)
        .expect_err("revoked");
    assert_eq!(refusal.code, RefusalCode::Revoked);
    let refusal = fixture
        .authority
        .redeem_token(&re_enrolment, &plain_csr(), fixture.now)
        .expect_err("revoked");
    assert_eq!(refusal.code, RefusalCode::Revoked);
    // No new token can be issued for it, and no certificate directly either.
    assert!(matches!(
        fixture.authority.issue_token(
            TokenRequest {
                node: Some(identity.node.clone()),
                ..node_token_request()
            },
            fixture.now,
        ),
        Err(AuthorityError::Revoked { .. })
    ));
    assert!(matches!(
        fixture.authority.issue_local(&identity, fixture.now),
        Err(AuthorityError::Revoked { .. })
    ));
}

#[test]
fn an_issued_certificate_verifies_against_the_ca_and_names_the_identity() {
    let fixture = new_fixture();
    let token = fixture
        .authority
        .issue_token(node_token_request(), fixture.now)
        .expect("token");
    let issued = fixture
        .authority
        .redeem_token(&token, &plain_csr(), fixture.now)
        .expect("issued");
    let certificate = CertificateDer::from(issued.certificate_der.clone());

    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots(&fixture.authority), provider())
            .build()
            .expect("verifier");
    verifier
        .verify_client_cert(&certificate, &[], unix_time(fixture.now))
        .expect("verifies now");
    // Valid from a little before "now", so a node whose clock lags a minute is not refused.
    verifier
        .verify_client_cert(
            &certificate,
            &[],
            unix_time(fixture.now - Duration::from_secs(60)),
        )
        .expect("verifies with a lagging clock");
    verifier
        .verify_client_cert(&certificate, &[], unix_time(fixture.now + 31 * DAY))
        .expect_err("expired after the lifetime");

    let facts = certificate_facts(&issued.certificate_der).expect("facts");
    assert_eq!(facts, issued.facts);
    let lifetime = facts.not_after_unix - facts.not_before_unix;
    assert_eq!(
        lifetime,
        (30 * DAY + Duration::from_secs(5 * 60)).as_secs() as i64
    );

    // Another fleet's CA does not accept it.
    let other = new_fixture();
    let other_verifier =
        WebPkiClientVerifier::builder_with_provider(roots(&other.authority), provider())
            .build()
            .expect("verifier");
    other_verifier
        .verify_client_cert(&certificate, &[], unix_time(fixture.now))
        .expect_err("foreign CA");
}

#[test]
fn local_issuance_gives_a_working_key_and_certificate() {
    let fixture = new_fixture();
    let identity = FleetIdentity {
        node: "op-1234abcd".parse().expect("node"),
        role: Role::Operator,
        school: None,
        municipality: Some("092".parse().expect("municipality")),
    };
    let (certificate_der, key_pem) = fixture
        .authority
        .issue_local(&identity, fixture.now)
        .expect("issued");
    let key = KeyPair::from_pem(&key_pem).expect("key parses");
    let (_, certificate) = x509_parser::parse_x509_certificate(&certificate_der).expect("parses");
    assert_eq!(
        certificate.public_key().raw,
        rcgen::PublicKeyData::subject_public_key_info(&key).as_slice()
    );
    assert_eq!(
        certificate_facts(&certificate_der).expect("facts").identity,
        identity
    );
    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots(&fixture.authority), provider())
            .build()
            .expect("verifier");
    verifier
        .verify_client_cert(
            &CertificateDer::from(certificate_der),
            &[],
            unix_time(fixture.now),
        )
        .expect("verifies");
}

#[test]
fn the_server_certificate_verifies_for_its_names() {
    let fixture = new_fixture();
    let names = vec!["relay.example.fi".to_owned(), "127.0.0.1".to_owned()];
    let (chain, _key) = fixture
        .authority
        .server_certificate(&names, fixture.now)
        .expect("server certificate");
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1].as_ref(), fixture.authority.ca_certificate_der());
    let verifier =
        WebPkiServerVerifier::builder_with_provider(roots(&fixture.authority), provider())
            .build()
            .expect("verifier");
    for name in ["relay.example.fi", "127.0.0.1"] {
        verifier
            .verify_server_cert(
                &chain[0],
                &[],
                &ServerName::try_from(name).expect("name"),
                &[],
                unix_time(fixture.now),
            )
            .unwrap_or_else(|error| panic!("{name}: {error}"));
    }
    verifier
        .verify_server_cert(
            &chain[0],
            &[],
            &ServerName::try_from("other.example.fi").expect("name"),
            &[],
            unix_time(fixture.now),
        )
        .expect_err("not its name");
    assert!(
        fixture
            .authority
            .server_certificate(&[], fixture.now)
            .is_err()
    );
}

#[test]
fn concurrent_redemptions_of_one_token_yield_exactly_one_certificate() {
    const THREADS: usize = 8;
    let fixture = new_fixture();
    let token = fixture
        .authority
        .issue_token(node_token_request(), fixture.now)
        .expect("token");
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let authority = fixture.authority.clone();
            let token = token.clone();
            let barrier = barrier.clone();
            let csr = plain_csr();
            let now = fixture.now;
            std::thread::spawn(move || {
                barrier.wait();
                authority.redeem_token(&token, &csr, now)
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|handle| handle.join().expect("thread"))
        .collect();
    let successes = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(successes, 1, "{results:?}");
    for result in &results {
        if let Err(refusal) = result {
            assert_eq!(refusal.code, RefusalCode::TokenInvalid);
        }
    }
    let issued = fixture.authority.issued_certificates().expect("log");
    assert_eq!(issued.len(), 1);
}

#[test]
fn the_issued_log_lists_every_certificate() {
    let fixture = new_fixture();
    let token = fixture
        .authority
        .issue_token(node_token_request(), fixture.now)
        .expect("token");
    let enrolled = fixture
        .authority
        .redeem_token(&token, &plain_csr(), fixture.now)
        .expect("enrolled");
    let renewed = fixture
        .authority
        .renew(&enrolled.facts.identity, &plain_csr(), fixture.now)
        .expect("renewed");
    // A torn line (a crash mid-append) is skipped, not fatal.
    let log = fixture.authority_dir.join("issued.log");
    let mut contents = std::fs::read_to_string(&log).expect("log");
    contents.push_str("{\"node\": \"n-300");
    std::fs::write(&log, contents).expect("write");

    let records = fixture.authority.issued_certificates().expect("log");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].kind, IssueKind::Enrolment);
    assert_eq!(records[0].token.as_deref(), Some(token.id.as_str()));
    assert_eq!(records[0].facts(), enrolled.facts);
    assert_eq!(records[1].kind, IssueKind::Renewal);
    assert_eq!(records[1].facts(), renewed.facts);
}

/// Runs `digione-relay` with only the environment the test gives it.
fn relay(arguments: &[&str], data_dir: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_digione-relay"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DIGIONE_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
        .args(arguments)
        .env("DIGIONE_RELAY_DATA_DIR", data_dir)
        .output()
        .expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_command_line_initialises_enrols_and_revokes() {
    let directory = tempfile::tempdir().expect("tempdir");
    let data_dir = directory.path().join("data");

    let init = relay(&["ca", "init"], &data_dir);
    assert!(init.status.success(), "{}", text(&init.stderr));
    // The data directory came from the environment variable.
    assert!(data_dir.join("authority").join("ca.pem").is_file());
    let authority = Authority::open(&data_dir.join("authority")).expect("open");

    let enrol = relay(
        &[
            "enrol",
            "--school",
            "30076",
            "--municipality",
            "092",
            "--valid-for",
            "2h",
        ],
        &data_dir,
    );
    assert!(enrol.status.success(), "{}", text(&enrol.stderr));
    let stdout = text(&enrol.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let token: EnrolmentToken = stdout.trim().parse().expect("a token on stdout");
    assert_eq!(token.ca_sha256, authority.ca_sha256());
    let explanation = text(&enrol.stderr);
    assert!(explanation.contains("school 30076"), "{explanation}");
    assert!(explanation.contains("valid until"), "{explanation}");
    let issued = authority
        .redeem_token(&token, &plain_csr(), SystemTime::now())
        .expect("the printed token enrols");

    let operator = relay(&["enrol", "--operator"], &data_dir);
    assert!(operator.status.success(), "{}", text(&operator.stderr));
    text(&operator.stdout)
        .trim()
        .parse::<EnrolmentToken>()
        .expect("an operator token");

    let node = issued.facts.identity.node.to_string();
    let revoke = relay(&["revoke", &node, "--reason", "disk stolen"], &data_dir);
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    let node_id: NodeId = node.parse().expect("node");
    assert!(authority.is_revoked(&node_id).expect("checked"));

    let out = directory.path().join("operator");
    let certificate = relay(
        &[
            "operator-certificate",
            "--out",
            out.to_str().expect("utf-8 path"),
            "--municipality",
            "092",
        ],
        &data_dir,
    );
    assert!(
        certificate.status.success(),
        "{}",
        text(&certificate.stderr)
    );
    let certificate_pem = std::fs::read(out.join("node.pem")).expect("node.pem");
    let certificate_der =
        <CertificateDer<'_> as rustls::pki_types::pem::PemObject>::from_pem_slice(&certificate_pem)
            .expect("PEM certificate");
    let facts = certificate_facts(&certificate_der).expect("facts");
    assert_eq!(facts.identity.role, Role::Operator);
    assert_eq!(
        facts.identity.municipality,
        Some("092".parse().expect("municipality"))
    );
    KeyPair::from_pem(&std::fs::read_to_string(out.join("node.key")).expect("node.key"))
        .expect("key");
    assert_eq!(
        std::fs::read_to_string(out.join("ca.pem")).expect("ca.pem"),
        authority.ca_certificate_pem()
    );
}

#[test]
fn the_command_line_refuses_a_second_ca_init_and_explains() {
    let directory = tempfile::tempdir().expect("tempdir");
    let data_dir = directory.path().join("data");
    let first = relay(&["ca", "init"], &data_dir);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let before = std::fs::read(data_dir.join("authority").join("ca.key")).expect("key");

    let second = relay(&["ca", "init"], &data_dir);
    assert_eq!(second.status.code(), Some(1));
    let message = text(&second.stderr);
    assert!(message.contains("already exists"), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    let after = std::fs::read(data_dir.join("authority").join("ca.key")).expect("key");
    assert_eq!(before, after);
}

#[test]
fn the_command_line_explains_a_missing_ca_and_bad_arguments() {
    let directory = tempfile::tempdir().expect("tempdir");
    let data_dir = directory.path().join("data");
    let enrol = relay(
        &["enrol", "--school", "30076", "--municipality", "092"],
        &data_dir,
    );
    assert_eq!(enrol.status.code(), Some(1));
    assert!(
        text(&enrol.stderr).contains("ca init"),
        "{}",
        text(&enrol.stderr)
    );
    assert!(enrol.stdout.is_empty());

    // A node needs a school; a school code has five digits: usage errors, exit status 2.
    let no_school = relay(&["enrol", "--municipality", "092"], &data_dir);
    assert_eq!(no_school.status.code(), Some(2));
    let bad_school = relay(
        &["enrol", "--school", "3007", "--municipality", "092"],
        &data_dir,
    );
    assert_eq!(bad_school.status.code(), Some(2));

    let missing_config = relay(
        &["--config", "/nonexistent/relay.toml", "ca", "init"],
        &data_dir,
    );
    assert_eq!(missing_config.status.code(), Some(1));
    assert!(text(&missing_config.stderr).contains("does not exist"));
}
