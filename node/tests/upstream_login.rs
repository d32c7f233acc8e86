//! Logging in to a school node through the municipality's OpenID provider, against a real
//! provider: a second node's OpenID Provider plays MPASSid (discovery, the code flow with PKCE,
//! ES256 ID tokens through its JWKS, userinfo). The node under test is configured with
//! `[upstream_login]` pointing at it, maps the provider's `email` claim to its roster, and must log
//! in exactly the matching roster user, or no one.
//!
//! Two reqwest clients stand in for one browser: one holds the cookies of the school node, the
//! other the session at the provider (their cookies would collide on `127.0.0.1`). Redirects are
//! followed by hand, so every hop is checked.

mod common;

use common::{PASSWORD, TestSchool};
use node::config::{RosterMatchField, UpstreamLoginConfig};
use serde_json::{Value, json};

/// The service the municipality registered the school node as, at the provider.
const CLIENT_ID: &str = "digione-koulu";
const TEACHER: &str = "leena.korhonen";
const TEACHER_ID: &str = "T01";
/// A pupil of the fixture has no e-mail address, so the provider cannot release one.
const PUPIL: &str = "aino.makinen01";
/// The administrator of both schools' fixture rosters.
const ADMIN: &str = "sari.lehtonen";

struct Setup {
    /// The municipality's provider.
    provider: TestSchool,
    /// The school node that logs users in through it.
    school: TestSchool,
}

/// The provider's catalogue lists the school node as an OpenID client allowed `email` (the
/// provider's admin approves it); the school node maps `email` to its roster's e-mail addresses.
async fn setup(adjust: impl FnOnce(&mut UpstreamLoginConfig)) -> Setup {
    let provider = TestSchool::start().await;
    let secrets = tempfile::tempdir().expect("tempdir");
    // The harness derives every client secret from the service id.
    let secret = format!("{CLIENT_ID}-secret-{}", "s".repeat(40));
    let secret_file = secrets.path().join("upstream-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).expect("secret file");
    let mut upstream = UpstreamLoginConfig {
        display_name: "MPASSid".to_owned(),
        issuer: provider.base.clone(),
        client_id: CLIENT_ID.to_owned(),
        client_secret_file: secret_file,
        scopes: vec!["email".to_owned()],
        user_claim: "email".to_owned(),
        roster_field: RosterMatchField::Email,
        school_code_claim: None,
        ca_certificate_file: None,
        redirect_uri: None,
    };
    adjust(&mut upstream);
    let school = TestSchool::start_with(move |config| {
        config.upstream_login = Some(upstream);
    })
    .await;
    let callback = format!("{}/login/upstream/callback", school.base);
    let published = provider
        .publish_oidc_service(
            CLIENT_ID,
            &callback,
            &["email", "urn:mpass.id:municipalityCode"],
        )
        .await;
    assert_eq!(published, secret);
    let admin = provider.login(ADMIN).await;
    let (status, body) = admin
        .put(
            &format!("/api/v1/services/{CLIENT_ID}/activation"),
            json!({ "approved_claims": ["email", "urn:mpass.id:municipalityCode"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    drop(secrets);
    Setup { provider, school }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// One answer: status, where it redirects, the cookies it sets (`name=value`), and its body.
struct Hop {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl Hop {
    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies
            .iter()
            .map(|cookie| cookie.split(';').next().unwrap_or("").to_owned())
            .find(|pair| pair.starts_with(&format!("{name}=")))
    }
}

async fn get(url: &str, cookie: Option<&str>) -> Hop {
    let mut request = no_redirects().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().expect("location").to_owned());
    let set_cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().expect("cookie").to_owned())
        .collect();
    let body = response.text().await.expect("body");
    Hop {
        status,
        location,
        set_cookies,
        body,
    }
}

/// What a login through the provider left: the school node's answer at the callback, and the
/// pending-login cookie the browser held.
struct Callback {
    hop: Hop,
    url: String,
    pending_cookie: String,
}

/// `username` starts the upstream login at the school node, logs in at the provider (already
/// logged in there with a password) and comes back to the callback.
async fn log_in_through_provider(setup: &Setup, username: &str) -> Callback {
    let start = get(
        &format!("{}/login/upstream?next=/messages", setup.school.base),
        None,
    )
    .await;
    assert_eq!(start.status, 303, "{}", start.body);
    let authorize = start.location.clone().expect("to the provider");
    assert!(
        authorize.starts_with(&format!("{}/oidc/authorize?", setup.provider.base)),
        "{authorize}"
    );
    let authorize_url = url::Url::parse(&authorize).expect("url");
    let query: std::collections::HashMap<_, _> = authorize_url.query_pairs().collect();
    assert_eq!(query.get("client_id").map(|v| v.as_ref()), Some(CLIENT_ID));
    assert_eq!(
        query.get("code_challenge_method").map(|v| v.as_ref()),
        Some("S256")
    );
    assert!(query.contains_key("nonce") && query.contains_key("state"));
    let pending_cookie = start
        .cookie(node::upstream_login::PENDING_COOKIE_NAME)
        .expect("the pending login is carried by a cookie");

    let at_provider = setup.provider.login(username).await;
    let approved = get(&authorize, Some(&at_provider.cookie)).await;
    assert!(
        (300..400).contains(&approved.status),
        "the provider logs the user in: {} {}",
        approved.status,
        approved.body
    );
    let url = approved.location.expect("back to the school node");
    assert!(
        url.starts_with(&format!("{}/login/upstream/callback?", setup.school.base)),
        "{url}"
    );
    let hop = get(&url, Some(&pending_cookie)).await;
    Callback {
        hop,
        url,
        pending_cookie,
    }
}

async fn session_user(setup: &Setup, session_cookie: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/session", setup.school.base))
        .header("cookie", session_cookie)
        .send()
        .await
        .expect("session request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn session_cookie(hop: &Hop) -> Option<String> {
    hop.cookie(node::auth::cookies::PLAIN_COOKIE_NAME)
        .filter(|pair| !pair.ends_with('='))
}

#[tokio::test]
async fn a_teacher_logs_in_through_the_municipality_provider_as_their_roster_user() {
    let setup = setup(|_| {}).await;

    let page = get(&format!("{}/login", setup.school.base), None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("/login/upstream?next=") && page.body.contains("MPASSid"),
        "the login page offers the upstream login: {}",
        page.body
    );

    let callback = log_in_through_provider(&setup, TEACHER).await;
    assert_eq!(callback.hop.status, 303, "{}", callback.hop.body);
    assert_eq!(
        callback.hop.location.as_deref(),
        Some("/messages"),
        "back where the login started"
    );
    let session = session_cookie(&callback.hop).expect("a session starts");
    let (status, body) = session_user(&setup, &session).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user_id"], TEACHER_ID,
        "the roster user with that e-mail"
    );

    // The school's administrator sees the login in the audit log.
    let admin = setup.school.login(ADMIN).await;
    let (status, audit) = admin.get("/api/v1/audit").await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["entries"].as_array().expect("entries");
    assert!(
        entries
            .iter()
            .any(|entry| entry["event"] == "upstream_login"
                && entry["user"] == TEACHER_ID
                && entry["service"] == "MPASSid"),
        "{audit}"
    );

    // The same callback again (the code is used up at the provider) logs no one in.
    let replay = get(&callback.url, Some(&callback.pending_cookie)).await;
    assert_eq!(replay.status, 502, "{}", replay.body);
    assert!(session_cookie(&replay).is_none());

    let metrics = get(&format!("{}/metrics", setup.school.base), None).await;
    assert!(
        metrics.body.contains("digione_node_upstream_logins 1")
            && metrics
                .body
                .contains("digione_node_upstream_login_failures 1"),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn a_callback_without_the_browser_that_started_it_logs_no_one_in() {
    let setup = setup(|_| {}).await;
    let callback = log_in_through_provider(&setup, TEACHER).await;
    assert_eq!(callback.hop.status, 303);

    // A code and state sent to someone else's browser (login CSRF) find no pending login.
    let fresh = log_in_through_provider(&setup, TEACHER).await;
    let without_cookie = get(&fresh.url, None).await;
    assert_eq!(without_cookie.status, 400, "{}", without_cookie.body);
    assert!(session_cookie(&without_cookie).is_none());

    // A pending cookie that was tampered with is not ours.
    let another = log_in_through_provider(&setup, TEACHER).await;
    let (name, value) = another.pending_cookie.split_once('=').expect("name=value");
    let mut tampered: Vec<char> = value.chars().collect();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == 'A' { 'B' } else { 'A' };
    let tampered = format!("{name}={}", tampered.into_iter().collect::<String>());
    let refused = get(&another.url, Some(&tampered)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(session_cookie(&refused).is_none());

    // A cookie from one login does not finish another (its state differs).
    let mismatched = get(&another.url, Some(&callback.pending_cookie)).await;
    assert_eq!(mismatched.status, 400, "{}", mismatched.body);
}

#[tokio::test]
async fn an_account_the_roster_cannot_match_is_refused_with_its_reason() {
    let by_email = setup(|_| {}).await;
    // The provider has no e-mail address for the pupil to release.
    let pupil = log_in_through_provider(&by_email, PUPIL).await;
    assert_eq!(pupil.hop.status, 403, "{}", pupil.hop.body);
    assert!(pupil.hop.body.contains("MPASSid"), "{}", pupil.hop.body);
    assert!(session_cookie(&pupil.hop).is_none());

    // Matched on another field, the teacher's address names no one.
    let by_username = setup_matching_usernames().await;
    let teacher = log_in_through_provider(&by_username, TEACHER).await;
    assert_eq!(teacher.hop.status, 403, "{}", teacher.hop.body);
    assert!(session_cookie(&teacher.hop).is_none());

    // An account whose school code is not this school's is never mapped here. The municipality
    // code (092) stands in for another school's code.
    let other_school = setup(|upstream| {
        upstream
            .scopes
            .push("urn:mpass.id:municipalityCode".to_owned());
        upstream.school_code_claim = Some("urn:mpass.id:municipalityCode".to_owned());
    })
    .await;
    let teacher = log_in_through_provider(&other_school, TEACHER).await;
    assert_eq!(teacher.hop.status, 403, "{}", teacher.hop.body);
    assert!(session_cookie(&teacher.hop).is_none());
}

async fn setup_matching_usernames() -> Setup {
    setup(|upstream| upstream.roster_field = RosterMatchField::Username).await
}

#[tokio::test]
async fn the_provider_refusing_or_cancelling_shows_the_login_page() {
    let setup = setup(|_| {}).await;
    let start = get(&format!("{}/login/upstream", setup.school.base), None).await;
    let pending = start
        .cookie(node::upstream_login::PENDING_COOKIE_NAME)
        .expect("cookie");
    let cancelled = get(
        &format!(
            "{}/login/upstream/callback?error=access_denied&state=x",
            setup.school.base
        ),
        Some(&pending),
    )
    .await;
    assert_eq!(cancelled.status, 401, "{}", cancelled.body);
    assert!(cancelled.body.contains("action=\"/login\""));
    assert!(session_cookie(&cancelled).is_none());
}

#[tokio::test]
async fn while_the_provider_is_unreachable_the_password_login_keeps_working() {
    let setup = setup(|_| {}).await;
    let Setup { provider, school } = setup;
    provider.node.shutdown().await;

    let start = get(&format!("{}/login/upstream?next=/home", school.base), None).await;
    assert_eq!(start.status, 503, "{}", start.body);
    assert!(
        start.body.contains("MPASSid") && start.body.contains("action=\"/login\""),
        "the login page, with the reason: {}",
        start.body
    );
    assert!(
        start
            .cookie(node::upstream_login::PENDING_COOKIE_NAME)
            .is_none()
    );

    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", school.base))
        .json(&json!({ "username": TEACHER, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200, "the local login works offline");
}

#[tokio::test]
async fn a_node_without_an_upstream_provider_offers_none() {
    let school = TestSchool::start().await;
    let page = get(&format!("{}/login", school.base), None).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("/login/upstream"));
    let start = get(&format!("{}/login/upstream", school.base), None).await;
    assert_eq!(start.status, 404);
    let callback = get(
        &format!("{}/login/upstream/callback?code=a&state=b", school.base),
        None,
    )
    .await;
    assert_eq!(callback.status, 404);
}

/// The provider over HTTPS with a certificate of the municipality's own CA: the school node trusts
/// it through `ca_certificate_file`, and without that file refuses to talk to it.
#[tokio::test]
async fn the_provider_is_reached_over_https_trusting_the_configured_ca() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate");
    let files = tempfile::tempdir().expect("tempdir");
    let certificate_file = files.path().join("provider.crt");
    let key_file = files.path().join("provider.key");
    std::fs::write(&certificate_file, certified.cert.pem()).expect("write");
    std::fs::write(&key_file, certified.signing_key.serialize_pem()).expect("write");
    let provider = TestSchool::start_with(|config| {
        config.http.https_listen = "127.0.0.1:0".parse().expect("address");
        config.http.tls_certificate_file = Some(certificate_file.clone());
        config.http.tls_private_key_file = Some(key_file.clone());
    })
    .await;
    let issuer = provider.node.state.oidc.issuer.clone();
    assert!(issuer.starts_with("https://"), "{issuer}");
    let secret = format!("{CLIENT_ID}-secret-{}", "s".repeat(40));
    let secret_file = files.path().join("secret");
    std::fs::write(&secret_file, &secret).expect("secret");
    let config = |ca: Option<std::path::PathBuf>| UpstreamLoginConfig {
        display_name: "MPASSid".to_owned(),
        issuer: issuer.clone(),
        client_id: CLIENT_ID.to_owned(),
        client_secret_file: secret_file.clone(),
        scopes: vec!["email".to_owned()],
        user_claim: "email".to_owned(),
        roster_field: RosterMatchField::Email,
        school_code_claim: None,
        ca_certificate_file: ca,
        redirect_uri: None,
    };
    let trusting = config(Some(certificate_file.clone()));
    let school = TestSchool::start_with(move |node| node.upstream_login = Some(trusting)).await;
    let untrusting = config(None);
    let untrusting_school =
        TestSchool::start_with(move |node| node.upstream_login = Some(untrusting)).await;
    provider
        .publish_oidc_service(
            CLIENT_ID,
            &format!("{}/login/upstream/callback", school.base),
            &["email"],
        )
        .await;

    // The browser at the provider: HTTPS, trusting the same certificate.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).expect("pem"),
        )
        .build()
        .expect("client");
    let session = |username: &'static str| {
        let browser = browser.clone();
        let issuer = issuer.clone();
        async move {
            let response = browser
                .post(format!("{issuer}/api/v1/session"))
                .json(&json!({ "username": username, "password": PASSWORD }))
                .send()
                .await
                .expect("login at the provider");
            assert_eq!(response.status(), 200);
            let cookie = response
                .headers()
                .get("set-cookie")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(';').next())
                .expect("cookie")
                .to_owned();
            let csrf = response.json::<Value>().await.expect("body")["csrf_token"]
                .as_str()
                .expect("csrf")
                .to_owned();
            (cookie, csrf)
        }
    };
    let (admin_cookie, admin_csrf) = session(ADMIN).await;
    let activated = browser
        .put(format!("{issuer}/api/v1/services/{CLIENT_ID}/activation"))
        .header("cookie", &admin_cookie)
        .header("x-csrf-token", &admin_csrf)
        .json(&json!({ "approved_claims": ["email"] }))
        .send()
        .await
        .expect("activation");
    assert_eq!(activated.status(), 200);

    let start = get(&format!("{}/login/upstream", school.base), None).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let authorize = start.location.clone().expect("to the provider");
    assert!(authorize.starts_with(&format!("{issuer}/oidc/authorize?")));
    let pending = start
        .cookie(node::upstream_login::PENDING_COOKIE_NAME)
        .expect("cookie");
    let (teacher_cookie, _) = session(TEACHER).await;
    let approved = browser
        .get(&authorize)
        .header("cookie", &teacher_cookie)
        .send()
        .await
        .expect("authorize");
    let callback = approved
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("back to the school")
        .to_owned();
    let finished = get(&callback, Some(&pending)).await;
    assert_eq!(finished.status, 303, "{}", finished.body);
    let session_cookie = session_cookie(&finished).expect("a session");
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/session", school.base))
        .header("cookie", &session_cookie)
        .send()
        .await
        .expect("session");
    let body: Value = response.json().await.expect("session body");
    assert_eq!(body["user_id"], TEACHER_ID);

    // Without the CA file the provider's certificate is not trusted: no connection, no login.
    let refused = get(&format!("{}/login/upstream", untrusting_school.base), None).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
}

/// A provider whose discovery document is valid but padded beyond what the node reads (2 MiB of
/// trailing whitespace) is treated as one that cannot be reached: the node stops reading at
/// `MAX_UPSTREAM_RESPONSE_BYTES` and offers the password form. The same document without the
/// padding starts a login, so it is the size alone that is refused.
#[tokio::test]
async fn a_provider_answering_too_much_is_cut_off() {
    async fn provider(padding: usize) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listener");
        let address = listener.local_addr().expect("address");
        let base = format!("http://{address}");
        let discovery = format!(
            "{}{}",
            json!({
                "issuer": base,
                "authorization_endpoint": format!("{base}/authorize"),
                "token_endpoint": format!("{base}/token"),
                "jwks_uri": format!("{base}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }),
            " ".repeat(padding)
        );
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || {
                    let discovery = discovery.clone();
                    async move { ([("content-type", "application/json")], discovery) }
                }),
            )
            .route(
                "/jwks",
                axum::routing::get(|| async {
                    ([("content-type", "application/json")], "{\"keys\":[]}")
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }
    async fn school_using(address: std::net::SocketAddr) -> TestSchool {
        let secrets = tempfile::tempdir().expect("tempdir");
        let secret_file = secrets.path().join("secret");
        std::fs::write(&secret_file, "secret").expect("secret");
        let school = TestSchool::start_with(move |config| {
            config.upstream_login = Some(UpstreamLoginConfig {
                display_name: "MPASSid".to_owned(),
                issuer: format!("http://{address}"),
                client_id: CLIENT_ID.to_owned(),
                client_secret_file: secret_file,
                scopes: Vec::new(),
                user_claim: "email".to_owned(),
                roster_field: RosterMatchField::Email,
                school_code_claim: None,
                ca_certificate_file: None,
                redirect_uri: None,
            });
        })
        .await;
        drop(secrets);
        school
    }

    let modest = school_using(provider(0).await).await;
    let start = get(&format!("{}/login/upstream", modest.base), None).await;
    assert_eq!(
        start.status, 303,
        "a modest provider is used: {}",
        start.body
    );

    let padded = school_using(provider(2 * 1024 * 1024).await).await;
    let start = get(&format!("{}/login/upstream", padded.base), None).await;
    assert_eq!(start.status, 503, "{}", start.body);
    let page = get(&format!("{}/login", padded.base), None).await;
    assert_eq!(page.status, 200, "the node keeps serving");
}
