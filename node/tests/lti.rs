//! The node as an LTI 1.3 platform, driven by a test tool: a plain HTTP client with its own RSA
//! key that does what a tool does (the third-party-initiated login, the authentication request,
//! verifying the launch through the node's JWKS, a client assertion for a service token, a score,
//! the class's members, a deep-linking response) against a real node on loopback. The tool never
//! needs to serve: the node's answers to the browser (redirects to the tool's login, the page
//! posting to the tool's launch URI) are read from the responses.

mod common;

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Client, TestSchool};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

const TOOL: &str = "lti-tool";
/// Nothing listens here: the tool's addresses are only read back from the node's answers.
const TOOL_BASE: &str = "http://127.0.0.1:9/tool";
const CLASS: &str = "CLS-7A-MA";
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const SCORE_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/score";
const LINE_ITEM_READ_SCOPE: &str =
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly";
const MEMBERSHIPS_SCOPE: &str =
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly";
const LTI: &str = "https://purl.imsglobal.org/spec/lti/claim/";

/// The test tool's key pair: the private key as PKCS#1 DER (to sign) and the public JWK.
struct ToolKey {
    private_der: Vec<u8>,
    public_jwk: String,
}

fn tool_key(kid: &str) -> ToolKey {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
    let private_der = key.to_pkcs1_der().expect("DER").as_bytes().to_vec();
    let public_jwk = json!({
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    })
    .to_string();
    ToolKey {
        private_der,
        public_jwk,
    }
}

fn now_secs() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("secs")
}

fn sign(key: &ToolKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("tool-key".into());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_der(&key.private_der),
    )
    .expect("signs")
}

/// A browser: the user's session cookie, and no redirects followed (the test reads them).
fn browser(user: &Client) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "cookie",
        reqwest::header::HeaderValue::from_str(&user.cookie).expect("cookie"),
    );
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .expect("absolute URL")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The page's form: its action and its fields.
fn form_of(html: &str) -> (String, HashMap<String, String>) {
    let document = scraper::Html::parse_document(html);
    let form_selector = scraper::Selector::parse("form").expect("selector");
    let input_selector = scraper::Selector::parse("input").expect("selector");
    let form = document.select(&form_selector).next().expect("a form");
    let action = form.value().attr("action").expect("action").to_owned();
    let fields = form
        .select(&input_selector)
        .map(|input| {
            (
                input.value().attr("name").expect("name").to_owned(),
                input.value().attr("value").unwrap_or("").to_owned(),
            )
        })
        .collect();
    (action, fields)
}

/// What the tool gets back from the node's launch page.
struct LaunchPage {
    status: u16,
    content_security_policy: String,
    action: String,
    fields: HashMap<String, String>,
    html: String,
}

/// The tool's authentication request (IMS Security Framework 5.1.1.2), sent by the browser.
async fn authenticate(
    browser: &reqwest::Client,
    school: &TestSchool,
    login: &HashMap<String, String>,
    redirect_uri: &str,
    nonce: &str,
) -> LaunchPage {
    let response = browser
        .get(format!("{}/lti/authorize", school.base))
        .query(&[
            ("scope", "openid"),
            ("response_type", "id_token"),
            ("response_mode", "form_post"),
            ("prompt", "none"),
            ("client_id", login["client_id"].as_str()),
            ("redirect_uri", redirect_uri),
            ("login_hint", login["login_hint"].as_str()),
            ("lti_message_hint", login["lti_message_hint"].as_str()),
            ("state", "tool-state-1"),
            ("nonce", nonce),
        ])
        .send()
        .await
        .expect("authentication request");
    let status = response.status().as_u16();
    let content_security_policy = response
        .headers()
        .get("content-security-policy")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let html = response.text().await.expect("page");
    let (action, fields) = if status == 200 {
        form_of(&html)
    } else {
        (String::new(), HashMap::new())
    };
    LaunchPage {
        status,
        content_security_policy,
        action,
        fields,
        html,
    }
}

/// Opens `path` on the node as the user's browser; returns the tool's login initiation request.
async fn start(
    browser: &reqwest::Client,
    school: &TestSchool,
    path: &str,
) -> (u16, HashMap<String, String>) {
    let response = browser
        .get(format!("{}{path}", school.base))
        .send()
        .await
        .expect("launch");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match location {
        Some(location) if status == 303 => {
            assert!(
                location.starts_with(&format!("{TOOL_BASE}/login?")),
                "to the tool's login initiation URL: {location}"
            );
            (status, query_of(&location))
        }
        _ => (status, HashMap::new()),
    }
}

/// Verifies the launch as a tool does: the node's JWKS, RS256, `aud` the tool, `iss` the node.
async fn verify_launch(school: &TestSchool, id_token: &str) -> Value {
    let header = jsonwebtoken::decode_header(id_token).expect("a JWT");
    assert_eq!(header.alg, Algorithm::RS256, "LTI launches are RS256");
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{}/oidc/jwks", school.base))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("a JWK set");
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let published = serde_json::to_value(jwk).expect("json");
    assert_eq!(published["kty"], "RSA");
    assert_eq!(published["alg"], "RS256");
    assert_eq!(published["use"], "sig");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[TOOL]);
    validation.set_issuer(&[school.base.as_str()]);
    jsonwebtoken::decode::<Value>(
        id_token,
        &DecodingKey::from_jwk(jwk).expect("key"),
        &validation,
    )
    .expect("the launch verifies")
    .claims
}

async fn set_up(school: &TestSchool, key: &ToolKey) -> String {
    school
        .publish_lti_tool(TOOL, TOOL_BASE, &key.public_jwk, &["profile", "email"])
        .await;
    let admin = school.login("sari.lehtonen").await;
    let (status, body) = admin
        .put(
            &format!("/api/v1/services/{TOOL}/activation"),
            json!({ "approved_claims": ["profile"] }),
        )
        .await;
    assert!(status < 300, "activated: {body}");
    let teacher = school.login("leena.korhonen").await;
    let (status, body) = teacher
        .put(
            &format!("/api/v1/classes/{CLASS}/tools/{TOOL}"),
            Value::Null,
        )
        .await;
    assert!(status < 300, "placed: {body}");
    let due = now_secs() * 1000 + 86_400_000;
    let (status, assignment) = teacher
        .post(
            &format!("/api/v1/classes/{CLASS}/assignments"),
            json!({ "title": "Murtolukupeli", "due_at": due,
                    "lti_tool": { "service_id": TOOL, "score_maximum": 10.0 } }),
        )
        .await;
    assert_eq!(status, 201, "{assignment}");
    assert_eq!(assignment["lti_link"]["service_id"], TOOL);
    assignment["id"].as_str().expect("id").to_owned()
}

/// A service token for `scopes` with a fresh client assertion signed by `key`.
async fn service_token(school: &TestSchool, key: &ToolKey, scopes: &str) -> (u16, Value) {
    let assertion = client_assertion(school, key, &format!("jti-{}", rand_suffix()));
    request_token(school, &assertion, scopes).await
}

fn client_assertion(school: &TestSchool, key: &ToolKey, jti: &str) -> String {
    let now = now_secs();
    sign(
        key,
        &json!({ "iss": TOOL, "sub": TOOL, "aud": format!("{}/lti/token", school.base),
                 "iat": now, "exp": now + 300, "jti": jti }),
    )
}

/// The pairwise id `user` has at the tool, derived as the node derives it (the test reads the
/// school's salt from the node's store).
async fn pairwise_id_at_tool(school: &TestSchool, user: &str) -> String {
    use node::model::catalogue::{PairwiseSaltDocument, pairwise_salt_doc};
    let repository = school.node.state.repository.clone();
    let code = school.node.state.identity.school.clone();
    let user = user.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt: PairwiseSaltDocument = repository
            .read(&pairwise_salt_doc(&code))
            .expect("read")
            .expect("the salt exists after a launch");
        node::oidc::claims::pairwise_subject(&hex::decode(salt.salt_hex).expect("hex"), TOOL, &user)
    })
    .await
    .expect("task")
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", now_secs(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

async fn request_token(school: &TestSchool, assertion: &str, scopes: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/lti/token", school.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion),
            ("scope", scopes),
        ])
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_score(url: &str, token: &str, user_id: &str, given: f64) -> u16 {
    post_score_at(url, token, user_id, given, time::OffsetDateTime::now_utc()).await
}

/// A score the tool says it set at `at`.
async fn post_score_at(
    url: &str,
    token: &str,
    user_id: &str,
    given: f64,
    at: time::OffsetDateTime,
) -> u16 {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/vnd.ims.lis.v1.score+json")
        .body(
            json!({
                "userId": user_id,
                "scoreGiven": given,
                "scoreMaximum": 10.0,
                "comment": "Hyvin pelattu",
                "activityProgress": "Completed",
                "gradingProgress": "FullyGraded",
                "timestamp": at
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("time"),
            })
            .to_string(),
        )
        .send()
        .await
        .expect("score")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lti_a_tool_verifies_a_launch_and_its_score_lands_in_the_pupils_grade() {
    let school = TestSchool::start().await;
    let key = tool_key("tool-key");
    let assignment = set_up(&school, &key).await;
    let pupil = school.login("aino.makinen01").await;
    let pupil_browser = browser(&pupil);
    let redirect_uri = format!("{TOOL_BASE}/launch");

    // The third-party-initiated login.
    let (status, login) = start(
        &pupil_browser,
        &school,
        &format!("/lti/launch/{TOOL}?assignment={assignment}"),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(login["iss"], school.base);
    assert_eq!(login["client_id"], TOOL);
    assert_eq!(login["lti_deployment_id"], "30076");
    assert_eq!(login["target_link_uri"], redirect_uri);

    // The authentication request, and the page posting the launch to the tool.
    let page = authenticate(&pupil_browser, &school, &login, &redirect_uri, "nonce-1").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.action, redirect_uri,
        "posts to the registered launch URI"
    );
    assert_eq!(page.fields["state"], "tool-state-1");
    assert!(
        page.content_security_policy
            .contains("form-action http://127.0.0.1:9;"),
        "only the tool's origin may receive the form: {}",
        page.content_security_policy
    );
    assert!(page.content_security_policy.contains("script-src 'self'"));
    // Without JavaScript the pupil continues by hand, in their own language (Finnish by default).
    assert!(
        page.html.contains("lang=\"fi\"") && page.html.contains(">Jatka</button>"),
        "{}",
        page.html
    );

    let launch = verify_launch(&school, &page.fields["id_token"]).await;
    assert_eq!(launch["nonce"], "nonce-1");
    assert_eq!(
        launch[format!("{LTI}message_type")],
        "LtiResourceLinkRequest"
    );
    assert_eq!(launch[format!("{LTI}version")], "1.3.0");
    assert_eq!(launch[format!("{LTI}deployment_id")], "30076");
    assert_eq!(launch[format!("{LTI}target_link_uri")], redirect_uri);
    assert_eq!(
        launch[format!("{LTI}resource_link")]["id"],
        format!("assignment-{assignment}")
    );
    assert_eq!(launch[format!("{LTI}context")]["id"], CLASS);
    let roles = launch[format!("{LTI}roles")].to_string();
    assert!(roles.contains("membership#Learner"), "{roles}");
    assert!(roles.contains("institution/person#Student"), "{roles}");
    assert_eq!(launch["sub"], login["login_hint"], "the pairwise subject");
    assert!(launch["given_name"].is_string(), "profile was approved");
    assert!(launch.get("email").is_none(), "email was not approved");
    let ags = &launch["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"];
    let line_item = ags["lineitem"]
        .as_str()
        .expect("the assignment's line item");
    assert!(ags["scope"].to_string().contains(SCORE_SCOPE));
    let memberships_url = launch["https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"]
        ["context_memberships_url"]
        .as_str()
        .expect("the class's memberships")
        .to_owned();

    // The launch state is single use.
    let replay = authenticate(&pupil_browser, &school, &login, &redirect_uri, "nonce-1").await;
    assert_eq!(replay.status, 200, "the refusal goes back to the tool");
    assert_eq!(
        replay.fields.get("error").map(String::as_str),
        Some("invalid_request")
    );
    assert!(!replay.fields.contains_key("id_token"));

    // A service token, and the score.
    let (status, token) = service_token(
        &school,
        &key,
        &format!("{SCORE_SCOPE} {LINE_ITEM_READ_SCOPE}"),
    )
    .await;
    assert_eq!(status, 200, "{token}");
    let token = token["access_token"].as_str().expect("token").to_owned();
    let item: Value = reqwest::Client::new()
        .get(line_item)
        .bearer_auth(&token)
        .send()
        .await
        .expect("line item")
        .json()
        .await
        .expect("json");
    assert_eq!(item["scoreMaximum"], 10.0);
    assert_eq!(item["label"], "Murtolukupeli");
    let sub = launch["sub"].as_str().expect("sub");
    assert_eq!(
        post_score(&format!("{line_item}/scores"), &token, sub, 8.5).await,
        204
    );
    // A score the tool set before the kept one is refused, and not logged as received.
    assert_eq!(
        post_score_at(
            &format!("{line_item}/scores"),
            &token,
            sub,
            3.0,
            time::OffsetDateTime::now_utc() - time::Duration::hours(1)
        )
        .await,
        409
    );

    let teacher = school.login("leena.korhonen").await;
    let (status, submission) = teacher
        .get(&format!("/api/v1/assignments/{assignment}/submissions/P01"))
        .await;
    assert_eq!(status, 200, "{submission}");
    assert_eq!(submission["tool_score"]["score_given"], 8.5);
    assert_eq!(submission["tool_score"]["score_maximum"], 10.0);
    assert_eq!(submission["tool_score"]["grading_progress"], "FullyGraded");
    assert_eq!(submission["tool_score"]["service_id"], TOOL);
    // The score stands beside the teacher's grades: in the class's list and on the web pages.
    let (status, summaries) = teacher
        .get(&format!("/api/v1/assignments/{assignment}/submissions"))
        .await;
    assert_eq!(status, 200, "{summaries}");
    let aino = summaries
        .as_array()
        .expect("summaries")
        .iter()
        .find(|summary| summary["pupil"] == "P01")
        .expect("P01 listed");
    assert_eq!(aino["tool_score"]["score_given"], 8.5);
    for (viewer, path) in [
        (&teacher, format!("/assignments/{assignment}")),
        (
            &teacher,
            format!("/assignments/{assignment}/submissions/P01"),
        ),
        (&pupil, format!("/assignments/{assignment}")),
    ] {
        let page = viewer
            .http
            .get(format!("{}{path}", school.base))
            .header("cookie", &viewer.cookie)
            .header("accept-language", "en")
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        assert!(
            page.contains("Score from the tool: 8.5 / 10"),
            "{path}: {page}"
        );
    }

    // Names and roles: two to a page, with a link to the next.
    let (status, roster_token) = service_token(&school, &key, MEMBERSHIPS_SCOPE).await;
    assert_eq!(status, 200, "{roster_token}");
    let roster_token = roster_token["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let response = reqwest::Client::new()
        .get(format!("{memberships_url}?limit=2"))
        .bearer_auth(&roster_token)
        .send()
        .await
        .expect("memberships");
    assert_eq!(response.status(), 200);
    let next = response
        .headers()
        .get("link")
        .and_then(|value| value.to_str().ok())
        .expect("a next page")
        .to_owned();
    assert!(next.ends_with("rel=\"next\""), "{next}");
    let page: Value = response.json().await.expect("json");
    let members = page["members"].as_array().expect("members");
    assert_eq!(members.len(), 2);
    assert_eq!(page["context"]["id"], CLASS);
    let everyone = reqwest::Client::new()
        .get(format!("{memberships_url}?limit=500"))
        .bearer_auth(&roster_token)
        .send()
        .await
        .expect("memberships")
        .json::<Value>()
        .await
        .expect("json");
    let pupil_entry = everyone["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|member| member["user_id"] == sub)
        .expect("the launched pupil is a member, by the same pairwise id")
        .clone();
    assert!(
        pupil_entry["roles"]
            .to_string()
            .contains("membership#Learner")
    );
    assert!(pupil_entry["given_name"].is_string());
    assert!(pupil_entry.get("email").is_none());

    // Every launch, token, score and release is in the school's audit log.
    let admin = school.login("sari.lehtonen").await;
    let (status, audit) = admin.get("/api/v1/audit?limit=50").await;
    assert_eq!(status, 200);
    let events: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|entry| entry["service"] == TOOL)
        .filter_map(|entry| entry["event"].as_str())
        .collect();
    for expected in [
        "lti_launch",
        "lti_token_issued",
        "lti_score_received",
        "lti_roster_released",
    ] {
        assert!(events.contains(&expected), "{expected} in {events:?}");
    }
    assert_eq!(
        events
            .iter()
            .filter(|event| **event == "lti_score_received")
            .count(),
        1,
        "the refused older score is not in the log: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lti_refuses_unactivated_tools_unregistered_redirects_bad_assertions_and_foreign_scores() {
    let school = TestSchool::start().await;
    let key = tool_key("tool-key");
    school
        .publish_lti_tool(TOOL, TOOL_BASE, &key.public_jwk, &["profile"])
        .await;
    let pupil = school.login("aino.makinen01").await;
    let pupil_browser = browser(&pupil);

    // Not activated at the school: no launch, no token.
    let (status, _) = start(&pupil_browser, &school, &format!("/lti/launch/{TOOL}")).await;
    assert_eq!(
        status, 403,
        "a tool the school has not activated is refused"
    );
    let (status, body) = service_token(&school, &key, SCORE_SCOPE).await;
    assert_eq!(status, 401, "{body}");

    let assignment = set_up(&school, &key).await;
    let (status, login) = start(
        &pupil_browser,
        &school,
        &format!("/lti/launch/{TOOL}?assignment={assignment}"),
    )
    .await;
    assert_eq!(status, 303);

    // A redirect URI the tool has not registered: an error page, never a post to it.
    let page = authenticate(
        &pupil_browser,
        &school,
        &login,
        "http://127.0.0.1:9/elsewhere",
        "nonce-2",
    )
    .await;
    assert_eq!(page.status, 400);
    // The launch was not used up by the refused request.
    let page = authenticate(
        &pupil_browser,
        &school,
        &login,
        &format!("{TOOL_BASE}/launch"),
        "n",
    )
    .await;
    assert!(page.fields.contains_key("id_token"));

    // Another user's browser cannot use the pupil's launch.
    let (status, login) = start(
        &pupil_browser,
        &school,
        &format!("/lti/launch/{TOOL}?assignment={assignment}"),
    )
    .await;
    assert_eq!(status, 303);
    let other = school.login("ella.koskinen07").await;
    let page = authenticate(
        &browser(&other),
        &school,
        &login,
        &format!("{TOOL_BASE}/launch"),
        "n",
    )
    .await;
    assert_eq!(
        page.fields.get("error").map(String::as_str),
        Some("invalid_request")
    );

    // Client assertions: replayed, signed with another key, for another audience.
    let assertion = client_assertion(&school, &key, "jti-once");
    let (status, body) = request_token(&school, &assertion, SCORE_SCOPE).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = request_token(&school, &assertion, SCORE_SCOPE).await;
    assert_eq!(status, 401, "a replayed assertion: {body}");
    assert_eq!(body["error"], "invalid_client");
    let impostor = tool_key("impostor");
    let (status, _) = service_token(&school, &impostor, SCORE_SCOPE).await;
    assert_eq!(
        status, 401,
        "an assertion not signed with the catalogued key"
    );
    let now = now_secs();
    let wrong_audience = sign(
        &key,
        &json!({ "iss": TOOL, "sub": TOOL, "aud": "https://elsewhere.example/token",
                 "iat": now, "exp": now + 300, "jti": "jti-aud" }),
    );
    let (status, _) = request_token(&school, &wrong_audience, SCORE_SCOPE).await;
    assert_eq!(status, 401, "an assertion for another audience");
    let (status, body) = service_token(&school, &key, "https://example.com/unknown-scope").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_scope");

    // A token without the score scope cannot post a score; nor can any token for a pupil
    // outside the class.
    let line_item = format!("{}/lti/assignments/{assignment}/lineitem", school.base);
    let (_, read_only) = service_token(&school, &key, LINE_ITEM_READ_SCOPE).await;
    let read_only = read_only["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (_, login) = start(
        &pupil_browser,
        &school,
        &format!("/lti/launch/{TOOL}?assignment={assignment}"),
    )
    .await;
    let page = authenticate(
        &pupil_browser,
        &school,
        &login,
        &format!("{TOOL_BASE}/launch"),
        "n3",
    )
    .await;
    let sub = verify_launch(&school, &page.fields["id_token"]).await["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    assert_eq!(
        post_score(&format!("{line_item}/scores"), &read_only, &sub, 5.0).await,
        403,
        "the wrong scope"
    );
    let (_, scorer) = service_token(&school, &key, SCORE_SCOPE).await;
    let scorer = scorer["access_token"].as_str().expect("token").to_owned();
    // P07 attends 7B: their id at the tool is real, but not of a pupil of this class.
    let outsider = pairwise_id_at_tool(&school, "P07").await;
    assert_eq!(
        post_score(&format!("{line_item}/scores"), &scorer, &outsider, 5.0).await,
        400,
        "a pupil who is not in the assignment's class"
    );
    assert_eq!(
        post_score(
            &format!("{line_item}/scores"),
            &scorer,
            &URL_SAFE_NO_PAD.encode([7u8; 32]),
            5.0
        )
        .await,
        400,
        "an id that is nobody's"
    );
    assert_eq!(
        post_score(&format!("{line_item}/scores"), "not-a-token", &sub, 5.0).await,
        401
    );
    let teacher = school.login("leena.korhonen").await;
    let (_, submission) = teacher
        .get(&format!("/api/v1/assignments/{assignment}/submissions/P01"))
        .await;
    assert!(
        submission["tool_score"].is_null(),
        "no refused score was written"
    );

    // Deactivated: a launch in progress, a new launch, a new token and a held token all stop.
    let (status, login) = start(
        &pupil_browser,
        &school,
        &format!("/lti/launch/{TOOL}?assignment={assignment}"),
    )
    .await;
    assert_eq!(status, 303);
    let admin = school.login("sari.lehtonen").await;
    let (status, body) = admin
        .delete(&format!("/api/v1/services/{TOOL}/activation"))
        .await;
    assert!(status < 300, "deactivated: {body}");
    let page = authenticate(
        &pupil_browser,
        &school,
        &login,
        &format!("{TOOL_BASE}/launch"),
        "n4",
    )
    .await;
    assert_eq!(
        page.fields.get("error").map(String::as_str),
        Some("unauthorized_client")
    );
    let (status, _) = start(
        &pupil_browser,
        &school,
        &format!("/lti/launch/{TOOL}?assignment={assignment}"),
    )
    .await;
    assert_eq!(status, 403, "the tool is no longer activated");
    let (status, _) = service_token(&school, &key, SCORE_SCOPE).await;
    assert_eq!(status, 401);
    assert_eq!(
        post_score(&format!("{line_item}/scores"), &scorer, &sub, 5.0).await,
        401,
        "a token of a deactivated tool is dead"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lti_deep_linking_turns_picked_content_into_assignments_of_the_class() {
    let school = TestSchool::start().await;
    let key = tool_key("tool-key");
    set_up(&school, &key).await;
    let teacher = school.login("leena.korhonen").await;
    let teacher_browser = browser(&teacher);
    let pupil = school.login("aino.makinen01").await;
    let (status, _) = start(
        &browser(&pupil),
        &school,
        &format!("/lti/deep-linking/{TOOL}?class={CLASS}"),
    )
    .await;
    assert_eq!(status, 403, "only the class's teachers pick content");

    // The teacher finds the action where assignments are made.
    let new_assignment_page = teacher_browser
        .get(format!("{}/classes/{CLASS}/assignments/new", school.base))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        new_assignment_page.contains(&format!("href=\"/lti/deep-linking/{TOOL}?class={CLASS}\"")),
        "the new-assignment page links to picking content from the tool"
    );

    let (status, login) = start(
        &teacher_browser,
        &school,
        &format!("/lti/deep-linking/{TOOL}?class={CLASS}"),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(login["target_link_uri"], format!("{TOOL_BASE}/deep"));
    let page = authenticate(
        &teacher_browser,
        &school,
        &login,
        &format!("{TOOL_BASE}/launch"),
        "dl",
    )
    .await;
    let request = verify_launch(&school, &page.fields["id_token"]).await;
    assert_eq!(
        request[format!("{LTI}message_type")],
        "LtiDeepLinkingRequest"
    );
    assert!(
        request[format!("{LTI}roles")]
            .to_string()
            .contains("membership#Instructor")
    );
    let settings = &request["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"];
    let return_url = settings["deep_link_return_url"]
        .as_str()
        .expect("return URL")
        .to_owned();
    let data = settings["data"].as_str().expect("data").to_owned();

    let now = now_secs();
    let response_jwt = sign(
        &key,
        &json!({
            "iss": TOOL, "aud": school.base, "iat": now, "exp": now + 300, "nonce": "dl-nonce-1",
            format!("{LTI}message_type"): "LtiDeepLinkingResponse",
            format!("{LTI}version"): "1.3.0",
            format!("{LTI}deployment_id"): "30076",
            "https://purl.imsglobal.org/spec/lti-dl/claim/data": data,
            "https://purl.imsglobal.org/spec/lti-dl/claim/content_items": [
                { "type": "ltiResourceLink", "title": "Murtolukujen peli",
                  "url": "http://127.0.0.1:9/tool/launch?game=fractions",
                  "lineItem": { "scoreMaximum": 20 } },
                { "type": "link", "url": "https://example.com/ignored" },
            ],
        }),
    );
    // The tool's page posts it from another site: no session cookie.
    let post = |jwt: String| {
        let return_url = return_url.clone();
        async move {
            let response = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client")
                .post(return_url)
                .header("accept-language", "en")
                .form(&[("JWT", jwt)])
                .send()
                .await
                .expect("return");
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            (status, location, response.text().await.unwrap_or_default())
        }
    };
    let (status, location, _) = post(response_jwt.clone()).await;
    assert_eq!(status, 303, "on to the first new assignment");
    let location = location.expect("a location");
    assert!(
        location.starts_with("/assignments/") && location.ends_with("?done=linked"),
        "{location}"
    );
    let first = teacher
        .http
        .get(format!("{}{location}", school.base))
        .header("cookie", &teacher.cookie)
        .header("accept-language", "en")
        .send()
        .await
        .expect("assignment page")
        .text()
        .await
        .expect("html");
    assert!(
        first.contains("The content you picked in the tool is added")
            && first.contains("Murtolukujen peli"),
        "{first}"
    );
    let (status, _, page) = post(response_jwt).await;
    assert_eq!(status, 400, "a response is used once");
    assert!(
        page.contains("nothing was added") && page.contains("lang=\"en\""),
        "{page}"
    );

    let (status, list) = teacher
        .get(&format!("/api/v1/classes/{CLASS}/assignments"))
        .await;
    assert_eq!(status, 200);
    let created = list["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .find(|assignment| assignment["title"] == "Murtolukujen peli")
        .expect("the picked content is an assignment")
        .clone();
    let id = created["id"].as_str().expect("id");
    let (_, assignment) = teacher.get(&format!("/api/v1/assignments/{id}")).await;
    assert_eq!(assignment["lti_link"]["service_id"], TOOL);
    assert_eq!(assignment["lti_link"]["score_maximum"], 20.0);

    // Launching it sends the picked URL as the target.
    let (status, login) = start(
        &browser(&pupil),
        &school,
        &format!("/lti/launch/{TOOL}?assignment={id}"),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        login["target_link_uri"],
        "http://127.0.0.1:9/tool/launch?game=fractions"
    );
}

/// Starts `count` launches of `path` as the user of `browser`, eight at a time (a script with the
/// user's session); returns how many the node answered with each status.
async fn flood(
    browser: &reqwest::Client,
    school: &TestSchool,
    path: &str,
    count: usize,
) -> std::collections::BTreeMap<u16, usize> {
    const AT_ONCE: usize = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..AT_ONCE {
        let browser = browser.clone();
        let url = format!("{}{path}", school.base);
        let share = count / AT_ONCE + usize::from(worker < count % AT_ONCE);
        tasks.spawn(async move {
            let mut statuses = Vec::with_capacity(share);
            for _ in 0..share {
                let response = browser.get(&url).send().await.expect("launch");
                statuses.push(response.status().as_u16());
            }
            statuses
        });
    }
    let mut counts = std::collections::BTreeMap::new();
    while let Some(statuses) = tasks.join_next().await {
        for status in statuses.expect("flooding task") {
            *counts.entry(status).or_default() += 1;
        }
    }
    counts
}

/// Issue 18, item 5: one pupil's script starts more launches than the node keeps for the whole
/// school. Before the per-user bound, the node's map filled with that pupil's launches and every
/// other launch at the school was refused for five minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lti_one_pupil_flooding_launches_blocks_nobody_elses() {
    let school = TestSchool::start().await;
    let key = tool_key("tool-key");
    set_up(&school, &key).await;
    let redirect_uri = format!("{TOOL_BASE}/launch");
    let path = format!("/lti/launch/{TOOL}?class={CLASS}");
    let flooder = school.login("aino.makinen01").await;
    let flooder_browser = browser(&flooder);
    let other = school.login("veera.laine03").await;
    let other_browser = browser(&other);

    let (status, first_launch) = start(&flooder_browser, &school, &path).await;
    assert_eq!(status, 303);
    let counts = flood(
        &flooder_browser,
        &school,
        &path,
        node::lti::MAX_PENDING_LAUNCHES,
    )
    .await;

    // Another pupil of the class launches the tool as if nothing happened.
    let (status, login) = start(&other_browser, &school, &path).await;
    assert_eq!(
        status, 303,
        "another pupil's launch must not be blocked by one pupil's flood (the flood got {counts:?})"
    );
    let page = authenticate(&other_browser, &school, &login, &redirect_uri, "other").await;
    assert_eq!(page.status, 200);
    let launch = verify_launch(&school, &page.fields["id_token"]).await;
    assert_eq!(launch["sub"], login["login_hint"]);

    // The flooder's own clicks were all taken; their newest launch works, and their oldest gave
    // way to the new ones.
    assert_eq!(
        counts.get(&303),
        Some(&node::lti::MAX_PENDING_LAUNCHES),
        "{counts:?}"
    );
    let (status, newest) = start(&flooder_browser, &school, &path).await;
    assert_eq!(status, 303);
    let page = authenticate(&flooder_browser, &school, &newest, &redirect_uri, "new").await;
    assert!(page.fields.contains_key("id_token"), "{:?}", page.fields);
    let page = authenticate(
        &flooder_browser,
        &school,
        &first_launch,
        &redirect_uri,
        "old",
    )
    .await;
    assert_eq!(
        page.fields.get("error").map(String::as_str),
        Some("invalid_request"),
        "the flooder's oldest launch gave way"
    );
}

/// The same for deep linking, which only teachers start: one teacher's script cannot keep
/// another teacher from picking content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lti_one_teacher_flooding_deep_links_blocks_no_other_teacher() {
    let school = TestSchool::start().await;
    let key = tool_key("tool-key");
    set_up(&school, &key).await;
    let flooder = school.login("leena.korhonen").await;
    let other = school.login("mikko.nieminen").await;

    let counts = flood(
        &browser(&flooder),
        &school,
        &format!("/lti/deep-linking/{TOOL}?class={CLASS}"),
        node::lti::MAX_PENDING_DEEP_LINKS + 1,
    )
    .await;
    let (status, login) = start(
        &browser(&other),
        &school,
        &format!("/lti/deep-linking/{TOOL}?class=CLS-7A-AI"),
    )
    .await;
    assert_eq!(
        status, 303,
        "another teacher's deep link must not be blocked (the flood got {counts:?})"
    );
    assert_eq!(login["target_link_uri"], format!("{TOOL_BASE}/deep"));
    assert_eq!(
        counts.get(&303),
        Some(&(node::lti::MAX_PENDING_DEEP_LINKS + 1)),
        "{counts:?}"
    );
}
