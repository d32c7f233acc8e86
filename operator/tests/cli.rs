//! `digione-operator` refuses what it cannot do with a message that says what to do instead, and
//! changes nothing. (Publishing through a real relay is exercised with the real processes in
//! `tests/tests/outages.rs`: the school day offline and the stale node.)

use std::path::Path;
use std::process::{Command, Output};
use std::time::SystemTime;

use cloud_relay::authority::Authority;
use sync_protocol::ids::NodeId;
use sync_transport::identity::{FleetIdentity, Role};
use sync_transport::tls::NodeCredentials;

fn operator(data_dir: &Path, relay: &str, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_digione-operator"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--relay", relay, "--timeout", "2s"])
        .args(arguments)
        .output()
        .expect("digione-operator runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes credentials for `identity` into `data_dir/identity`, issued by a fresh fleet CA.
fn issue(data_dir: &Path, identity: FleetIdentity) {
    let authority_dir = data_dir.join("authority");
    let authority = Authority::init(&authority_dir, SystemTime::now()).expect("a CA");
    let (certificate_der, key_pem) = authority
        .issue_local(&identity, SystemTime::now())
        .expect("a certificate");
    NodeCredentials {
        certificate_der,
        key_pem,
        ca_der: authority.ca_certificate_der().to_vec(),
    }
    .save(&data_dir.join("identity"))
    .expect("saved");
}

fn announce() -> [&'static str; 5] {
    ["announce", "--title", "Tiedote", "--body", "Teksti"]
}

#[test]
fn without_a_certificate_it_says_how_to_get_one_and_writes_nothing() {
    let data = tempfile::tempdir().expect("tempdir");
    let output = operator(data.path(), "127.0.0.1:9", &announce());
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("digione-relay operator-certificate --municipality CODE"),
        "{message}"
    );
    assert!(
        !data.path().join("store").exists(),
        "no store was created for a refused command"
    );
}

#[test]
fn a_school_node_certificate_is_not_an_operator_certificate() {
    let data = tempfile::tempdir().expect("tempdir");
    issue(
        data.path(),
        FleetIdentity {
            node: "n-30076-0a1b2c3d".parse::<NodeId>().expect("node id"),
            role: Role::Node,
            school: Some("30076".parse().expect("school")),
            municipality: Some("092".parse().expect("municipality")),
        },
    );
    let output = operator(data.path(), "127.0.0.1:9", &announce());
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("is not an operator's"), "{message}");
}

#[test]
fn a_national_operator_is_told_it_needs_a_municipality_certificate() {
    let data = tempfile::tempdir().expect("tempdir");
    issue(
        data.path(),
        FleetIdentity {
            node: "op-0a1b2c3d".parse::<NodeId>().expect("operator id"),
            role: Role::Operator,
            school: None,
            municipality: None,
        },
    );
    let output = operator(data.path(), "127.0.0.1:9", &announce());
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("national operator's"), "{message}");
    assert!(!data.path().join("store").exists());
}

#[test]
fn an_unreachable_relay_fails_after_the_timeout_and_names_the_relay() {
    let data = tempfile::tempdir().expect("tempdir");
    issue(
        data.path(),
        FleetIdentity {
            node: "op-0a1b2c3d".parse::<NodeId>().expect("operator id"),
            role: Role::Operator,
            school: None,
            municipality: Some("092".parse().expect("municipality")),
        },
    );
    // A UDP socket that never answers: the QUIC handshake goes nowhere.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    let relay = silent.local_addr().expect("address").to_string();
    let output = operator(data.path(), &relay, &announce());
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "the relay at {relay} did not bring this operator in sync"
        )),
        "{message}"
    );
}

#[test]
fn a_timeout_beyond_an_hour_is_refused_by_the_command_line() {
    let data = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_digione-operator"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["--relay", "127.0.0.1:9", "--timeout", "2h", "announcements"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("at most 1h"),
        "{}",
        stderr(&output)
    );
}

fn publish_service() -> [&'static str; 16] {
    [
        "service",
        "publish",
        "--id",
        "learning-tool",
        "--name",
        "Oppimateriaali",
        "--provider",
        "Kustantamo Oy",
        "--category",
        "optional",
        "--protocol",
        "oidc",
        "--redirect-uri",
        "https://tool.example.fi/callback",
        "--claim",
        "urn:mpass.id:role",
    ]
}

#[test]
fn a_municipality_operator_is_told_the_service_catalogue_needs_a_national_certificate() {
    let data = tempfile::tempdir().expect("tempdir");
    issue(
        data.path(),
        FleetIdentity {
            node: "op-0a1b2c3d".parse::<NodeId>().expect("operator id"),
            role: Role::Operator,
            school: None,
            municipality: Some("092".parse().expect("municipality")),
        },
    );
    let output = operator(data.path(), "127.0.0.1:9", &publish_service());
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("needs a national operator certificate"),
        "{message}"
    );
    assert!(output.stdout.is_empty(), "no secret is printed");
    assert!(!data.path().join("store").exists());
}

#[test]
fn a_claim_outside_the_vocabulary_is_refused_by_the_command_line() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut arguments = publish_service().to_vec();
    arguments.push("--claim");
    arguments.push("urn:mpass.id:socialSecurityNumber");
    let output = operator(data.path(), "127.0.0.1:9", &arguments);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("urn:mpass.id:classLevel"), "{message}");
}
