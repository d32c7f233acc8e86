//! HTTPS on the LAN, on loopback with a certificate made for the test: the node serves the platform
//! over TLS with HSTS and the `__Host-` session cookie, and its plain-HTTP listener only redirects.

mod common;

use std::sync::Arc;

use common::TestSchool;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request over TLS to `address`, trusting only `certificate`; answers the response
/// head and body as text.
async fn https_get(
    address: std::net::SocketAddr,
    certificate: &CertificateDer<'static>,
    path: &str,
) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(certificate.clone())
        .expect("the test certificate");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        address.port()
    );
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    // A peer that closes without close_notify is fine here: the response is complete.
    let _ = tls.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn the_node_serves_https_and_redirects_plain_http_to_it() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let certificate_file = dir.path().join("node.crt");
    let key_file = dir.path().join("node.key");
    std::fs::write(&certificate_file, certified.cert.pem()).expect("write");
    std::fs::write(&key_file, certified.signing_key.serialize_pem()).expect("write");
    let school = TestSchool::start_with(|config| {
        config.http.https_listen = "127.0.0.1:0".parse().expect("address");
        config.http.tls_certificate_file = Some(certificate_file.clone());
        config.http.tls_private_key_file = Some(key_file.clone());
    })
    .await;
    let https_address = school.node.https_address.expect("an HTTPS listener");
    let certificate = certified.cert.der().clone();

    let login = https_get(https_address, &certificate, "/login").await;
    let head = login
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(login.contains("<main"));
    let api = https_get(https_address, &certificate, "/healthz").await;
    assert!(
        api.to_ascii_lowercase()
            .contains("strict-transport-security")
    );

    // Plain HTTP redirects, path and query kept, without HSTS (which plain HTTP cannot carry).
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = plain
        .get(format!(
            "http://{}/assignments/x?done=draft",
            school.node.http_address
        ))
        .header(
            "host",
            format!("localhost:{}", school.node.http_address.port()),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        response.headers()["location"],
        format!(
            "https://localhost:{}/assignments/x?done=draft",
            https_address.port()
        )
    );
    assert!(!response.headers().contains_key("strict-transport-security"));
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");

    // Under HTTPS the session cookie is the `__Host-` one, `Secure`.
    assert!(school.node.state.auth.config().https);
    assert_eq!(
        school.node.state.auth.cookie_name(),
        "__Host-digione_session"
    );
}

#[test]
fn https_needs_both_files() {
    let mut config = node::config::NodeConfig::default();
    config.http.tls_certificate_file = Some("node.crt".into());
    assert!(config.validate().is_err());
    config.http.tls_private_key_file = Some("node.key".into());
    assert!(config.validate().is_ok());
    config.http.https_listen = config.http.listen;
    assert!(config.validate().is_err());
}
