//! Authentication end to end: a real axum server on loopback, a real sled tree from `SledStore`,
//! and reqwest as the browser (cookies are carried by hand, so that every attribute can be checked).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, SameSite};
use node::auth::{
    self, ARGON2_ITERATIONS, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM, AuthConfig, AuthState, Caller,
    LoginRecord, MemoryUserDirectory, SessionLimits, ThrottleConfig, UserDirectory,
};
use node::model::UserRole;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, RETRY_AFTER, SET_COOKIE};
use serde_json::{Value, json};
use sync_store::SledStore;

const AINO_PASSWORD: &str = "aino-salasana-2024";
const TEACHER_PASSWORD: &str = "opettaja-salasana";

/// Hashes are made once per test binary: each costs a full argon2id run.
fn password_hashes() -> &'static (String, String) {
    static HASHES: OnceLock<(String, String)> = OnceLock::new();
    HASHES.get_or_init(|| {
        (
            auth::hash_password(AINO_PASSWORD).expect("hashing works"),
            auth::hash_password(TEACHER_PASSWORD).expect("hashing works"),
        )
    })
}

struct TestNode {
    base: String,
    origin: String,
    client: reqwest::Client,
    directory: Arc<MemoryUserDirectory>,
    auth: AuthState,
    _store: SledStore,
    _data_dir: tempfile::TempDir,
}

/// A protected route: answers with the caller, for GET and POST alike.
async fn whoami(caller: Caller) -> axum::Json<Value> {
    axum::Json(json!({ "user_id": caller.user_id, "roles": caller.roles }))
}

async fn start_node(config: AuthConfig) -> TestNode {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let store = SledStore::open(data_dir.path()).expect("store opens");
    let sessions_tree = store.auxiliary_tree("sessions").expect("session tree");
    let (pupil_hash, teacher_hash) = password_hashes().clone();
    let directory = Arc::new(MemoryUserDirectory::new());
    directory.insert(
        "aino",
        LoginRecord {
            user_id: "pupil-aino".to_owned(),
            password_hash: pupil_hash.clone(),
            roles: vec![UserRole::Pupil],
            enabled: true,
        },
    );
    directory.insert(
        "eetu",
        LoginRecord {
            user_id: "pupil-eetu".to_owned(),
            password_hash: pupil_hash.clone(),
            roles: vec![UserRole::Pupil],
            enabled: true,
        },
    );
    directory.insert(
        "suljettu",
        LoginRecord {
            user_id: "pupil-disabled".to_owned(),
            password_hash: pupil_hash,
            roles: vec![UserRole::Pupil],
            enabled: false,
        },
    );
    directory.insert(
        "opettaja",
        LoginRecord {
            user_id: "teacher-1".to_owned(),
            password_hash: teacher_hash,
            roles: vec![UserRole::Teacher, UserRole::Guardian],
            enabled: true,
        },
    );
    let auth = AuthState::new(
        config,
        sessions_tree,
        Arc::clone(&directory) as Arc<dyn UserDirectory>,
    );
    let app = Router::new()
        .merge(auth::routes())
        .route("/api/v1/whoami", get(whoami).post(whoami))
        .layer(axum::middleware::from_fn(auth::lift_form_csrf_token))
        .with_state(auth.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        // With the peer's address, as the node serves: the login throttle keys clients by it.
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    TestNode {
        base: format!("http://{address}"),
        origin: format!("http://{address}"),
        client: reqwest::Client::new(),
        directory,
        auth,
        _store: store,
        _data_dir: data_dir,
    }
}

/// A logged-in browser: the `Cookie` header it sends and the CSRF token its page learned.
struct Browser {
    cookie: String,
    csrf_token: String,
}

impl TestNode {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn try_login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/session"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("request sent")
    }

    async fn login(&self, username: &str, password: &str) -> Browser {
        let response = self.try_login(username, password).await;
        assert_eq!(response.status(), StatusCode::OK);
        let set_cookie = set_cookie_of(&response);
        let body: Value = response.json().await.expect("JSON body");
        Browser {
            cookie: Cookie::parse(set_cookie)
                .expect("a valid cookie")
                .stripped()
                .to_string(),
            csrf_token: body["csrf_token"].as_str().expect("csrf token").to_owned(),
        }
    }

    async fn get_as(&self, browser: &Browser, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header(COOKIE, &browser.cookie)
            .send()
            .await
            .expect("request sent")
    }
}

fn set_cookie_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(SET_COOKIE)
        .expect("a Set-Cookie header")
        .to_str()
        .expect("ASCII")
        .to_owned()
}

async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("a JSON error body");
    assert!(body["message"].is_string(), "{body}");
    body["error"].as_str().expect("an error code").to_owned()
}

#[tokio::test]
async fn login_sets_an_http_only_lax_session_cookie() {
    let node = start_node(AuthConfig::default()).await;
    let response = node.try_login("aino", AINO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = Cookie::parse(set_cookie_of(&response)).expect("a valid cookie");
    assert_eq!(cookie.name(), "digione_session");
    assert_eq!(cookie.value().len(), 64, "32 random bytes in hex");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert_ne!(
        cookie.secure(),
        Some(true),
        "plain HTTP cannot carry Secure"
    );
    assert_eq!(cookie.max_age(), None, "a browser-session cookie");

    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["user_id"], "pupil-aino");
    assert_eq!(body["roles"], json!(["pupil"]));
    assert_eq!(body["csrf_token"].as_str().map(str::len), Some(64));
}

#[tokio::test]
async fn https_config_uses_a_host_prefixed_secure_cookie() {
    let node = start_node(AuthConfig {
        https: true,
        ..AuthConfig::default()
    })
    .await;
    let response = node.try_login("aino", AINO_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = Cookie::parse(set_cookie_of(&response)).expect("a valid cookie");
    assert_eq!(cookie.name(), "__Host-digione_session");
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);

    // The node reads back only the name it sets.
    let browser = Browser {
        cookie: cookie.stripped().to_string(),
        csrf_token: String::new(),
    };
    assert_eq!(
        node.get_as(&browser, "/api/v1/whoami").await.status(),
        StatusCode::OK
    );
    let plain_name = Browser {
        cookie: format!("digione_session={}", cookie.value()),
        csrf_token: String::new(),
    };
    assert_eq!(
        node.get_as(&plain_name, "/api/v1/whoami").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_account_get_identical_401_bodies() {
    let node = start_node(AuthConfig::default()).await;
    let wrong_password = node.try_login("aino", "not the password").await;
    let unknown_user = node.try_login("nobody", "not the password").await;
    let disabled = node.try_login("suljettu", AINO_PASSWORD).await;
    let mut bodies = Vec::new();
    for response in [wrong_password, unknown_user, disabled] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(SET_COOKIE).is_none());
        bodies.push(response.text().await.expect("body"));
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[0], bodies[2]);
    let body: Value = serde_json::from_str(&bodies[0]).expect("JSON");
    assert_eq!(body["error"], "invalid_credentials");

    // Malformed requests get JSON errors too, and an overlong password is just wrong.
    let malformed = node
        .client
        .post(node.url("/api/v1/session"))
        .header(CONTENT_TYPE, "application/json")
        .body("{\"username\": 1}")
        .send()
        .await
        .expect("sent");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(malformed).await, "bad_request");
    let overlong = node
        .try_login("opettaja", &"x".repeat(auth::MAX_PASSWORD_BYTES + 1))
        .await;
    assert_eq!(overlong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after_but_never_locked_out() {
    // Long enough that the throttled attempts below come within it even on a loaded machine,
    // where each failed attempt's hash may take a while.
    let first_delay = Duration::from_secs(3);
    let node = start_node(AuthConfig {
        throttle: ThrottleConfig {
            free_failures: 2,
            first_delay,
            max_delay: Duration::from_secs(6),
            ..ThrottleConfig::default()
        },
        ..AuthConfig::default()
    })
    .await;

    for username in ["aino", "nobody"] {
        for _ in 0..2 {
            let response = node.try_login(username, "guess").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let last_failure = Instant::now();
    // Known and unknown usernames are throttled alike, so a 429 reveals nothing.
    let hashes_before = node.auth.passwords().jobs_started();
    for username in ["aino", "nobody"] {
        let throttled = node.try_login(username, AINO_PASSWORD).await;
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = throttled.headers()[RETRY_AFTER]
            .to_str()
            .expect("text")
            .parse()
            .expect("seconds");
        assert!((1..=3).contains(&retry_after), "Retry-After {retry_after}");
        assert_eq!(error_code(throttled).await, "too_many_attempts");
    }
    // Refused without running the hash: the workers were handed nothing.
    assert_eq!(node.auth.passwords().jobs_started(), hashes_before);

    // Throttling is per account: the classmate behind the same address logs in at once.
    node.login("eetu", AINO_PASSWORD).await;

    // Once the delay since the last failure has passed, the right password works: no lock-out.
    tokio::time::sleep(
        first_delay.saturating_sub(last_failure.elapsed()) + Duration::from_millis(50),
    )
    .await;
    node.login("aino", AINO_PASSWORD).await;
    // Success reset the account: the next typo is free again.
    let response = node.try_login("aino", "typo").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        node.auth.throttle().failures(&auth::login_throttle_key(
            Some(&"pupil-aino".to_owned()),
            "aino"
        )),
        1
    );
}

/// A browser stand-in whose connections come from `address` (any 127.0.0.0/8 address reaches the
/// node on loopback), so that tests can be clients at different addresses.
fn client_from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(std::net::IpAddr::from(address)))
        .build()
        .expect("a client")
}

/// Sends one login and answers its status and every cookie it set (`name=value`).
async fn login_from(
    node: &TestNode,
    client: &reqwest::Client,
    cookies: &str,
    username: &str,
    password: &str,
) -> (StatusCode, Vec<String>) {
    let mut request = client
        .post(node.url("/api/v1/session"))
        .json(&json!({ "username": username, "password": password }));
    if !cookies.is_empty() {
        request = request.header(COOKIE, cookies);
    }
    let response = request.send().await.expect("request sent");
    let set = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .map(str::to_owned)
        .collect();
    (response.status(), set)
}

/// Throttle delays long enough that a lane in its back-off stays there for the whole test, however
/// slow the machine: the tests below then never depend on how long anything took.
fn patient_throttle() -> AuthConfig {
    AuthConfig {
        throttle: ThrottleConfig {
            first_delay: Duration::from_secs(600),
            max_delay: Duration::from_secs(600),
            ..ThrottleConfig::default()
        },
        ..AuthConfig::default()
    }
}

/// Security issue 18: one pupil keeps sending wrong passwords for a classmate's account, here from
/// five addresses in turn. The classmate, at her own address, must still log in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guessing_attack_from_other_addresses_does_not_keep_the_owner_out() {
    let node = start_node(patient_throttle()).await;
    let attackers: Vec<reqwest::Client> = (10..15)
        .map(|host| client_from([127, 0, 0, host]))
        .collect();
    let owner = client_from([127, 0, 0, 3]);
    let mut refused = 0;
    for round in 0..4 {
        for attacker in &attackers {
            let (status, _) = login_from(&node, attacker, "", "aino", "arvaus123").await;
            match status {
                StatusCode::UNAUTHORIZED => {}
                StatusCode::TOO_MANY_REQUESTS => refused += 1,
                other => panic!("round {round}: the attacker got {other}"),
            }
        }
    }
    assert!(refused > 0, "the attacker's guesses are throttled");
    let (status, _) = login_from(&node, &owner, "", "aino", AINO_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the owner must get in while the attack runs"
    );
    // The attack goes on; so does the owner's day.
    for attacker in &attackers {
        let (status, _) = login_from(&node, attacker, "", "aino", "arvaus456").await;
        assert_ne!(status, StatusCode::OK);
    }
    let (status, _) = login_from(&node, &owner, "", "aino", AINO_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "and again later");
}

/// Security issue 18 at the school's shared address: the attacker and the owner come from the same
/// address. The owner's browser, which has logged in before, carries its device cookie and gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classmate_at_the_same_address_cannot_keep_the_owner_out_of_her_own_browser() {
    let node = start_node(patient_throttle()).await;
    let school_address = client_from([127, 0, 0, 1]);
    // Yesterday Aino logged in on her laptop; it keeps the cookies the node set, but the session
    // is long gone.
    let (status, set) = login_from(&node, &school_address, "", "aino", AINO_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let laptop_cookies = set
        .iter()
        .filter(|pair| !pair.starts_with("digione_session="))
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");

    // A classmate at the same address hammers her account.
    let mut refused = 0;
    for _ in 0..10 {
        let (status, _) = login_from(&node, &school_address, "", "aino", "arvaus123").await;
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("the attacker got {other}"),
        }
    }
    assert!(refused > 0, "the attacker's guesses are throttled");

    let (status, _) = login_from(
        &node,
        &school_address,
        &laptop_cookies,
        "aino",
        AINO_PASSWORD,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the owner's own browser must get in while the attack runs"
    );
    // The attacker cannot borrow the lane: a cookie that vouches for Aino's account is needed.
    let (status, _) = login_from(&node, &school_address, "", "aino", "arvaus456").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Thirty classmates behind the same address are not slowed by any of this.
    let (status, _) = login_from(&node, &school_address, "", "eetu", AINO_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn protected_route_without_a_session_is_401() {
    let node = start_node(AuthConfig::default()).await;
    let anonymous = node
        .client
        .get(node.url("/api/v1/whoami"))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(anonymous).await, "not_authenticated");

    let zeros = format!("digione_session={}", "0".repeat(64));
    for forged in ["digione_session=abc", zeros.as_str()] {
        let response = node
            .client
            .get(node.url("/api/v1/whoami"))
            .header(COOKIE, forged)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let no_session = node
        .client
        .get(node.url("/api/v1/session"))
        .send()
        .await
        .expect("sent");
    assert_eq!(no_session.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unsafe_requests_need_the_csrf_token() {
    let node = start_node(AuthConfig::default()).await;
    let browser = node.login("opettaja", TEACHER_PASSWORD).await;

    // Safe methods need none.
    let read = node.get_as(&browser, "/api/v1/whoami").await;
    assert_eq!(read.status(), StatusCode::OK);
    let body: Value = read.json().await.expect("JSON");
    assert_eq!(body["roles"], json!(["teacher", "guardian"]));

    let post = |token: Option<&str>| {
        let mut request = node
            .client
            .post(node.url("/api/v1/whoami"))
            .header(COOKIE, &browser.cookie);
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    let missing = post(None).await.expect("sent");
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(missing).await, "csrf_token_missing");
    let wrong = post(Some("0123456789abcdef")).await.expect("sent");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(wrong).await, "csrf_token_mismatch");
    let right = post(Some(&browser.csrf_token)).await.expect("sent");
    assert_eq!(right.status(), StatusCode::OK);

    // Another session's token is no good.
    let other = node.login("eetu", AINO_PASSWORD).await;
    let crossed = post(Some(&other.csrf_token)).await.expect("sent");
    assert_eq!(crossed.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_csrf_token_is_accepted_from_a_form_field() {
    let node = start_node(AuthConfig::default()).await;
    let browser = node.login("opettaja", TEACHER_PASSWORD).await;
    let post_form = |body: String| {
        node.client
            .post(node.url("/api/v1/whoami"))
            .header(COOKIE, &browser.cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ORIGIN, &node.origin)
            .body(body)
            .send()
    };
    let right = post_form(format!(
        "note=hei+maailma&csrf_token={}",
        browser.csrf_token
    ))
    .await
    .expect("sent");
    assert_eq!(right.status(), StatusCode::OK);
    let wrong = post_form("csrf_token=nope&note=x".to_owned())
        .await
        .expect("sent");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let missing = post_form("note=x".to_owned()).await.expect("sent");
    assert_eq!(error_code(missing).await, "csrf_token_missing");
}

#[tokio::test]
async fn a_foreign_origin_is_refused() {
    let node = start_node(AuthConfig::default()).await;
    let browser = node.login("opettaja", TEACHER_PASSWORD).await;
    let post_from = |origin: &str| {
        node.client
            .post(node.url("/api/v1/whoami"))
            .header(COOKIE, &browser.cookie)
            .header("x-csrf-token", &browser.csrf_token)
            .header(ORIGIN, origin)
            .send()
    };
    let foreign = post_from("http://evil.example").await.expect("sent");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(foreign).await, "cross_origin");
    let same = post_from(&node.origin).await.expect("sent");
    assert_eq!(same.status(), StatusCode::OK);

    // Login from another site's form is refused as well (login CSRF).
    let login = node
        .client
        .post(node.url("/api/v1/session"))
        .header(ORIGIN, "http://evil.example")
        .json(&json!({ "username": "opettaja", "password": TEACHER_PASSWORD }))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn logout_invalidates_the_session() {
    let node = start_node(AuthConfig::default()).await;
    let browser = node.login("aino", AINO_PASSWORD).await;
    let current = node.get_as(&browser, "/api/v1/session").await;
    assert_eq!(current.status(), StatusCode::OK);
    let body: Value = current.json().await.expect("JSON");
    assert_eq!(body["user_id"], "pupil-aino");
    assert_eq!(body["csrf_token"], browser.csrf_token.as_str());

    let without_csrf = node
        .client
        .delete(node.url("/api/v1/session"))
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .expect("sent");
    assert_eq!(without_csrf.status(), StatusCode::FORBIDDEN);

    let logout = node
        .client
        .delete(node.url("/api/v1/session"))
        .header(COOKIE, &browser.cookie)
        .header("x-csrf-token", &browser.csrf_token)
        .send()
        .await
        .expect("sent");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let cleared = Cookie::parse(set_cookie_of(&logout)).expect("a valid cookie");
    assert_eq!(cleared.name(), "digione_session");
    assert_eq!(cleared.value(), "");
    assert_eq!(cleared.max_age(), Some(time::Duration::ZERO));

    assert_eq!(
        node.get_as(&browser, "/api/v1/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(node.auth.sessions().is_empty());
}

#[tokio::test]
async fn logging_in_again_replaces_the_browsers_old_session() {
    let node = start_node(AuthConfig::default()).await;
    let first = node.login("aino", AINO_PASSWORD).await;
    let second = node
        .client
        .post(node.url("/api/v1/session"))
        .header(COOKIE, &first.cookie)
        .json(&json!({ "username": "aino", "password": AINO_PASSWORD }))
        .send()
        .await
        .expect("sent");
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(
        node.get_as(&first, "/api/v1/whoami").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(node.auth.sessions().len(), 1);
}

#[tokio::test]
async fn an_idle_session_expires_and_is_pruned() {
    // Long enough that the first request comes within it even on a loaded machine.
    let idle_timeout = Duration::from_secs(1);
    let node = start_node(AuthConfig {
        sessions: SessionLimits {
            idle_timeout,
            ..SessionLimits::default()
        },
        ..AuthConfig::default()
    })
    .await;
    let _forgotten = node.login("eetu", AINO_PASSWORD).await;
    let presented = node.login("aino", AINO_PASSWORD).await;
    assert_eq!(
        node.get_as(&presented, "/api/v1/whoami").await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(idle_timeout + Duration::from_millis(200)).await;
    let expired = node.get_as(&presented, "/api/v1/whoami").await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(expired).await, "not_authenticated");
    // The presented session was deleted on the way; pruning removes the other.
    assert_eq!(node.auth.prune_expired_sessions().expect("prunes"), 1);
    assert!(node.auth.sessions().is_empty());
}

#[tokio::test]
async fn roles_are_reread_and_a_disabled_user_loses_access_at_once() {
    let node = start_node(AuthConfig::default()).await;
    let browser = node.login("opettaja", TEACHER_PASSWORD).await;
    node.directory
        .set_roles("opettaja", vec![UserRole::Teacher, UserRole::Admin]);
    let body: Value = node
        .get_as(&browser, "/api/v1/session")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["roles"], json!(["teacher", "admin"]));

    node.directory.set_enabled("opettaja", false);
    assert_eq!(
        node.get_as(&browser, "/api/v1/whoami").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The session ended for good: enabling the user again does not revive it.
    node.directory.set_enabled("opettaja", true);
    assert_eq!(
        node.get_as(&browser, "/api/v1/whoami").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn stored_hashes_use_at_least_the_owasp_argon2id_parameters() {
    use argon2::password_hash::PasswordHash;

    let stored = node::auth::hash_password("uusi salasana 1").expect("hashing works");
    let parsed = PasswordHash::new(&stored).expect("a PHC string");
    assert_eq!(parsed.algorithm.as_str(), "argon2id");
    assert_eq!(parsed.version, Some(19));
    let param = |name: &str| -> u32 {
        parsed
            .params
            .get_decimal(name)
            .unwrap_or_else(|| panic!("{stored} names {name}"))
    };
    assert!(param("m") >= 19_456, "{stored}");
    assert!(param("t") >= 2, "{stored}");
    assert!(param("p") >= 1, "{stored}");
    // The named constants themselves may never drop below the minimum either.
    const {
        assert!(ARGON2_MEMORY_KIB >= 19_456 && ARGON2_ITERATIONS >= 2 && ARGON2_PARALLELISM >= 1);
    }
    assert!(node::auth::verify_password("uusi salasana 1", &stored));
    assert!(node::auth::password::hash_meets_policy(&stored));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_class_logs_in_at_once_from_one_address() {
    const CLASS_SIZE: usize = 30;
    let node = start_node(AuthConfig::default()).await;
    let (pupil_hash, _) = password_hashes().clone();
    for index in 0..CLASS_SIZE {
        node.directory.insert(
            &format!("oppilas{index}"),
            LoginRecord {
                user_id: format!("pupil-{index}"),
                password_hash: pupil_hash.clone(),
                roles: vec![UserRole::Pupil],
                enabled: true,
            },
        );
    }
    let started = Instant::now();
    let logins = (0..CLASS_SIZE).map(|index| {
        let client = node.client.clone();
        let url = node.url("/api/v1/session");
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({ "username": format!("oppilas{index}"), "password": AINO_PASSWORD }))
                .send()
                .await
                .map(|response| response.status())
        })
    });
    for login in logins.collect::<Vec<_>>() {
        assert_eq!(login.await.expect("joined").expect("sent"), StatusCode::OK);
    }
    eprintln!(
        "{CLASS_SIZE} simultaneous logins with {} password workers took {} ms",
        node.auth.passwords().concurrency(),
        started.elapsed().as_millis()
    );
    assert_eq!(node.auth.sessions().len(), CLASS_SIZE);
}

#[test]
fn measure_one_argon2id_hash() {
    const SAMPLES: usize = 5;
    let mut hash_times = Vec::new();
    let mut verify_times = Vec::new();
    for sample in 0..SAMPLES {
        let password = format!("mittaus-salasana-{sample}");
        let started = Instant::now();
        let stored = auth::hash_password(&password).expect("hashing works");
        hash_times.push(started.elapsed());
        let started = Instant::now();
        assert!(auth::verify_password(&password, &stored));
        verify_times.push(started.elapsed());
    }
    hash_times.sort();
    verify_times.sort();
    eprintln!(
        "argon2id m={ARGON2_MEMORY_KIB} KiB t={ARGON2_ITERATIONS} p={ARGON2_PARALLELISM}: \
         hash median {:.1} ms (min {:.1}, max {:.1}); verify median {:.1} ms",
        hash_times[SAMPLES / 2].as_secs_f64() * 1000.0,
        hash_times[0].as_secs_f64() * 1000.0,
        hash_times[SAMPLES - 1].as_secs_f64() * 1000.0,
        verify_times[SAMPLES / 2].as_secs_f64() * 1000.0,
    );
}
