//! The node as an OpenID Provider, driven by a relying party built on the `openidconnect` crate
//! against a real node on loopback: discovery, the code flow with PKCE, ID-token verification
//! through the JWKS, userinfo, claims, pairwise subjects, the audit log, every refusal, key
//! rotation and keys surviving a restart.
//!
//! The browser's part is played by reqwest with the session cookie of `POST /api/v1/session`: it
//! opens the authorisation URL without following the redirect and takes the code from it.

mod common;

use common::{Client, TestSchool};
use node::config::NodeConfig;
use openidconnect::core::{
    CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreResponseType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IdToken, IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse as _, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const TOOL: &str = "learning-tool";
const TOOL_REDIRECT: &str = "http://127.0.0.1:9/learning-tool/callback";
const OTHER_TOOL: &str = "other-tool";
const OTHER_REDIRECT: &str = "https://other.example.fi/callback";
const PUPIL: &str = "aino.makinen01";
const ADMIN: &str = "sari.lehtonen";

/// MPASSid's attributes as a relying party reads them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct MpassClaims {
    #[serde(rename = "urn:mpass.id:schoolCode", default)]
    school_code: Option<String>,
    #[serde(rename = "urn:mpass.id:municipalityCode", default)]
    municipality_code: Option<String>,
    #[serde(rename = "urn:mpass.id:class", default)]
    class: Option<String>,
    #[serde(rename = "urn:mpass.id:classLevel", default)]
    class_level: Option<u32>,
    #[serde(rename = "urn:mpass.id:role", default)]
    role: Option<Vec<String>>,
}

impl AdditionalClaims for MpassClaims {}

type MpassIdToken = IdToken<
    MpassClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What a relying party learned from one login.
#[derive(Debug)]
struct Login {
    subject: String,
    key_id: String,
    raw_id_token: String,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    mpass: MpassClaims,
    userinfo_subject: String,
    userinfo_mpass: MpassClaims,
    userinfo_given_name: Option<String>,
    auth_time_present: bool,
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The browser opens `url` with the user's session and does not follow the redirect: the
/// `Location` it was sent to, or the status of a page.
async fn browse(browser: &Client, url: &str) -> Result<url::Url, u16> {
    let mut request = no_redirects().get(url);
    if !browser.cookie.is_empty() {
        request = request.header("cookie", &browser.cookie);
    }
    let response = request.send().await.expect("authorize request");
    let status = response.status().as_u16();
    match response.headers().get("location") {
        Some(location) if (300..400).contains(&status) => {
            let location = location.to_str().expect("location text");
            Ok(url::Url::parse(location)
                .or_else(|_| url::Url::parse(url).and_then(|base| base.join(location)))
                .expect("location url"))
        }
        _ => Err(status),
    }
}

fn query_value(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A full login of `browser`'s user to `service` with `scopes`, by the book of a relying party.
async fn log_in_to_service(
    school: &TestSchool,
    browser: &Client,
    service: &str,
    secret: &str,
    redirect: &str,
    scopes: &[&str],
) -> Login {
    let http = no_redirects();
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(school.base.clone()).expect("issuer"),
        &http,
    )
    .await
    .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(service.to_owned()),
        Some(ClientSecret::new(secret.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).expect("redirect"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).to_owned()));
    }
    let (url, csrf_state, nonce) = request.url();
    let landed = browse(browser, url.as_str())
        .await
        .expect("redirected back");
    assert!(
        landed.as_str().starts_with(redirect),
        "back at the service: {landed}"
    );
    assert_eq!(
        query_value(&landed, "state").as_deref(),
        Some(csrf_state.secret().as_str()),
        "state passes through"
    );
    let code = query_value(&landed, "code").unwrap_or_else(|| panic!("a code in {landed}"));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint known")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code is exchanged");
    let raw_id_token = tokens.id_token().expect("an ID token").to_string();
    let id_token: MpassIdToken = raw_id_token.parse().expect("ID token parses");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("signature, issuer, audience, expiry and nonce verify");
    let header = jsonwebtoken::decode_header(&raw_id_token).expect("header");
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::RS256,
        "ID tokens are RS256, as MPASSid's services expect"
    );
    let userinfo: UserInfoClaims<MpassClaims, CoreGenderClaim> = client
        .user_info(tokens.access_token().clone(), None)
        .expect("userinfo endpoint known")
        .request_async(&http)
        .await
        .expect("userinfo answers");
    Login {
        subject: claims.subject().to_string(),
        key_id: header.kid.expect("kid in the header"),
        raw_id_token,
        given_name: claims
            .given_name()
            .and_then(|name| name.get(None))
            .map(|name| name.to_string()),
        family_name: claims
            .family_name()
            .and_then(|name| name.get(None))
            .map(|name| name.to_string()),
        email: claims.email().map(|email| email.to_string()),
        mpass: claims.additional_claims().clone(),
        userinfo_subject: userinfo.subject().to_string(),
        userinfo_mpass: userinfo.additional_claims().clone(),
        userinfo_given_name: userinfo
            .given_name()
            .and_then(|name| name.get(None))
            .map(|name| name.to_string()),
        auth_time_present: claims.auth_time().is_some(),
    }
}

/// A school with `learning-tool` (allowed everything but the class; the school approves names,
/// school code, class level and role) and `other-tool` (allowed names; approved nothing).
async fn school_with_services() -> (TestSchool, String, String) {
    let school = TestSchool::start().await;
    let tool_secret = school
        .publish_oidc_service(
            TOOL,
            TOOL_REDIRECT,
            &[
                "profile",
                "email",
                "urn:mpass.id:schoolCode",
                "urn:mpass.id:municipalityCode",
                "urn:mpass.id:classLevel",
                "urn:mpass.id:role",
            ],
        )
        .await;
    let other_secret = school
        .publish_oidc_service(OTHER_TOOL, OTHER_REDIRECT, &["profile"])
        .await;
    let admin = school.login(ADMIN).await;
    let (status, body) = admin
        .put(
            &format!("/api/v1/services/{TOOL}/activation"),
            json!({ "approved_claims": ["profile", "urn:mpass.id:schoolCode", "urn:mpass.id:classLevel", "urn:mpass.id:role"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin
        .put(
            &format!("/api/v1/services/{OTHER_TOOL}/activation"),
            json!({ "approved_claims": [] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (school, tool_secret, other_secret)
}

const TOOL_SCOPES: &[&str] = &[
    "profile",
    "urn:mpass.id:schoolCode",
    "urn:mpass.id:classLevel",
    "urn:mpass.id:role",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_code_flow_releases_approved_claims_with_pairwise_subjects_and_audits_them() {
    let (school, tool_secret, other_secret) = school_with_services().await;
    let pupil = school.login(PUPIL).await;
    let login = log_in_to_service(
        &school,
        &pupil,
        TOOL,
        &tool_secret,
        TOOL_REDIRECT,
        TOOL_SCOPES,
    )
    .await;
    assert_eq!(login.given_name.as_deref(), Some("Aino"));
    assert_eq!(login.family_name.as_deref(), Some("Mäkinen"));
    assert_eq!(login.email, None, "email was not approved");
    assert!(login.auth_time_present);
    assert_eq!(
        login.mpass,
        MpassClaims {
            school_code: Some("30076".into()),
            municipality_code: None,
            class: None,
            class_level: Some(7),
            role: Some(vec![";30076;;Oppilas".into()]),
        },
        "exactly the approved MPASSid claims"
    );
    assert_eq!(login.userinfo_subject, login.subject);
    assert_eq!(login.userinfo_mpass, login.mpass);
    assert_eq!(login.userinfo_given_name.as_deref(), Some("Aino"));
    assert!(
        !login.subject.contains("P01"),
        "the subject does not reveal the user id"
    );

    let again = log_in_to_service(&school, &pupil, TOOL, &tool_secret, TOOL_REDIRECT, &[]).await;
    assert_eq!(again.subject, login.subject, "stable across logins");
    assert_eq!(
        again.mpass,
        MpassClaims::default(),
        "nothing asked, nothing given"
    );
    assert_eq!(again.given_name, None);
    let other = log_in_to_service(
        &school,
        &pupil,
        OTHER_TOOL,
        &other_secret,
        OTHER_REDIRECT,
        &[],
    )
    .await;
    assert_ne!(other.subject, login.subject, "pairwise per service");
    let classmate = school.login("eino.makinen02").await;
    let classmate_login =
        log_in_to_service(&school, &classmate, TOOL, &tool_secret, TOOL_REDIRECT, &[]).await;
    assert_ne!(classmate_login.subject, login.subject, "per user");

    let admin = school.login(ADMIN).await;
    let (status, page) = admin.get("/api/v1/audit?limit=3").await;
    assert_eq!(status, 200, "{page}");
    let events: Vec<(&str, &str, &str)> = page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            (
                entry["event"].as_str().unwrap_or(""),
                entry["user"].as_str().unwrap_or(""),
                entry["service"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("userinfo_released", "P02", TOOL),
            ("token_issued", "P02", TOOL),
            ("grant", "P02", TOOL),
        ],
        "newest first"
    );
    let mut all = Vec::new();
    let mut next = page["next"].as_str().map(str::to_owned);
    all.extend(page["entries"].as_array().cloned().unwrap_or_default());
    while let Some(cursor) = next {
        let (status, page) = admin
            .get(&format!("/api/v1/audit?limit=3&before={cursor}"))
            .await;
        assert_eq!(status, 200, "{page}");
        all.extend(page["entries"].as_array().cloned().unwrap_or_default());
        next = page["next"].as_str().map(str::to_owned);
    }
    assert_eq!(all.len(), 12, "four logins, three records each: {all:?}");
    let first_release = &all[9..12];
    assert_eq!(first_release[2]["event"], "grant");
    assert_eq!(first_release[2]["user"], "P01");
    assert_eq!(
        first_release[1]["claims"],
        json!([
            "profile",
            "urn:mpass.id:schoolCode",
            "urn:mpass.id:classLevel",
            "urn:mpass.id:role"
        ])
    );
    let (status, _) = pupil.get("/api/v1/audit").await;
    assert_eq!(status, 403, "the audit log is the administrator's");
    let (status, _) = admin.get("/api/v1/audit?before=yesterday").await;
    assert_eq!(status, 400);
    let metrics = reqwest::get(format!("{}/metrics", school.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("digione_node_oidc_logins 4"),
        "four logins counted: {metrics}"
    );
}

/// An authorisation URL built by hand, for the refusals a library would never send.
fn authorize_url(base: &str, parameters: &[(&str, &str)]) -> String {
    let query = form_urlencoded_pairs(parameters);
    format!("{base}/oidc/authorize?{query}")
}

fn form_urlencoded_pairs(parameters: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse("http://x/").expect("url");
    url.query_pairs_mut().extend_pairs(parameters);
    url.query().unwrap_or("").to_owned()
}

const CHALLENGE: &str = "PG2UoSQRydhideLzrjkG2mqQxjHEzKG82cautGm1O9I";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ0kz2CQi7e7hz3W6bi7eGd2XkV1Ik";

fn good_request<'a>(
    service: &'a str,
    redirect: &'a str,
    scope: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", service),
        ("redirect_uri", redirect),
        ("scope", scope),
        ("state", "st"),
        ("nonce", "n"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

async fn userinfo_status(school: &TestSchool, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/oidc/userinfo", school.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo")
        .status()
        .as_u16()
}

async fn redeem(
    school: &TestSchool,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/oidc/token", school.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_urlencoded_pairs(form));
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_refuses_what_is_not_activated_registered_approved_or_proven() {
    let (school, tool_secret, other_secret) = school_with_services().await;
    let pupil = school.login(PUPIL).await;
    let base = &school.base;

    // A service in the catalogue that this school did not activate.
    let idle_secret = school
        .publish_oidc_service("idle-tool", "https://idle.example.fi/cb", &["profile"])
        .await;
    let landed = browse(
        &pupil,
        &authorize_url(
            base,
            &good_request("idle-tool", "https://idle.example.fi/cb", "openid"),
        ),
    )
    .await
    .expect("refused back to the service");
    assert_eq!(
        query_value(&landed, "error").as_deref(),
        Some("unauthorized_client")
    );
    assert_eq!(query_value(&landed, "state").as_deref(), Some("st"));
    assert!(query_value(&landed, "code").is_none());
    let (status, body) = redeem(
        &school,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", "https://idle.example.fi/cb"),
            ("code_verifier", VERIFIER),
        ],
        Some(("idle-tool", &idle_secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    // Unknown client and unregistered redirect URI: a page, never a redirect.
    assert_eq!(
        browse(
            &pupil,
            &authorize_url(base, &good_request("no-such-tool", TOOL_REDIRECT, "openid"))
        )
        .await,
        Err(400)
    );
    assert_eq!(
        browse(
            &pupil,
            &authorize_url(
                base,
                &good_request(TOOL, "https://evil.example/cb", "openid")
            )
        )
        .await,
        Err(400)
    );
    assert_eq!(
        browse(
            &pupil,
            &authorize_url(
                base,
                &good_request(TOOL, "http://127.0.0.1:9/learning-tool/callback/", "openid")
            )
        )
        .await,
        Err(400),
        "redirect URIs compare exactly"
    );
    // The page says why in the visitor's language.
    let page = reqwest::Client::new()
        .get(authorize_url(
            base,
            &good_request(TOOL, "https://evil.example/cb", "openid"),
        ))
        .header("accept-language", "sv")
        .send()
        .await
        .expect("refusal page")
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("lang=\"sv\"") && page.contains("inte har registrerat"),
        "{page}"
    );

    // Claims not approved by the school, or unknown; no openid scope.
    for scope in [
        "openid email",
        "openid urn:mpass.id:municipalityCode",
        "openid urn:mpass.id:class",
        "openid everything",
        "profile",
    ] {
        let landed = browse(
            &pupil,
            &authorize_url(base, &good_request(TOOL, TOOL_REDIRECT, scope)),
        )
        .await
        .expect("refused back to the service");
        assert_eq!(
            query_value(&landed, "error").as_deref(),
            Some("invalid_scope"),
            "{scope}"
        );
    }
    let landed = browse(
        &pupil,
        &authorize_url(
            base,
            &good_request(OTHER_TOOL, OTHER_REDIRECT, "openid profile"),
        ),
    )
    .await
    .expect("refused back");
    assert_eq!(
        query_value(&landed, "error").as_deref(),
        Some("invalid_scope"),
        "allowed but not approved"
    );

    // PKCE is required, and only S256.
    let mut no_pkce = good_request(TOOL, TOOL_REDIRECT, "openid");
    no_pkce.retain(|(name, _)| !name.starts_with("code_challenge"));
    let landed = browse(&pupil, &authorize_url(base, &no_pkce))
        .await
        .expect("refused back");
    assert_eq!(
        query_value(&landed, "error").as_deref(),
        Some("invalid_request")
    );
    let mut plain = good_request(TOOL, TOOL_REDIRECT, "openid");
    plain.retain(|(name, _)| *name != "code_challenge_method");
    plain.push(("code_challenge_method", "plain"));
    let landed = browse(&pupil, &authorize_url(base, &plain))
        .await
        .expect("refused back");
    assert_eq!(
        query_value(&landed, "error").as_deref(),
        Some("invalid_request")
    );
    let mut implicit = good_request(TOOL, TOOL_REDIRECT, "openid");
    implicit[0] = ("response_type", "id_token");
    let landed = browse(&pupil, &authorize_url(base, &implicit))
        .await
        .expect("refused back");
    assert_eq!(
        query_value(&landed, "error").as_deref(),
        Some("unsupported_response_type")
    );

    // A code: wrong secret, wrong verifier (which uses the code up), then reuse.
    let code_for = |landed: url::Url| query_value(&landed, "code").expect("a code");
    let authorize = authorize_url(base, &good_request(TOOL, TOOL_REDIRECT, "openid profile"));
    let code = code_for(browse(&pupil, &authorize).await.expect("a code"));
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", TOOL_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, body) = redeem(&school, &exchange, Some((TOOL, "wrong secret"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = redeem(&school, &exchange, Some((TOOL, &other_secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "another client's secret"
    );
    let wrong = "x".repeat(43);
    let wrong_verifier = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", TOOL_REDIRECT),
        ("code_verifier", wrong.as_str()),
    ];
    let (status, body) = redeem(&school, &wrong_verifier, Some((TOOL, &tool_secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = redeem(&school, &exchange, Some((TOOL, &tool_secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a code is presented once"
    );

    let code = code_for(browse(&pupil, &authorize).await.expect("a code"));
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", TOOL_REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", TOOL),
        ("client_secret", tool_secret.as_str()),
    ];
    let (status, tokens) = redeem(&school, &exchange, None).await;
    assert_eq!(status, 200, "client_secret_post works: {tokens}");
    let access_token = tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    assert_eq!(userinfo_status(&school, &access_token).await, 200);
    let (status, body) = redeem(&school, &exchange, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo_status(&school, &access_token).await,
        401,
        "a reused code revokes its token"
    );
    assert_eq!(userinfo_status(&school, "made-up").await, 401);

    // A service deactivated after the login: its token stops working.
    let code = code_for(browse(&pupil, &authorize).await.expect("a code"));
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", TOOL_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, tokens) = redeem(&school, &exchange, Some((TOOL, &tool_secret))).await;
    assert_eq!(status, 200, "{tokens}");
    let admin = school.login(ADMIN).await;
    let (status, _) = admin
        .delete(&format!("/api/v1/services/{TOOL}/activation"))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        userinfo_status(&school, tokens["access_token"].as_str().unwrap_or("")).await,
        401
    );

    // Administration: pupils may not; claims beyond the catalogue's are refused; unknown services.
    let (status, _) = pupil
        .put(
            &format!("/api/v1/services/{TOOL}/activation"),
            json!({ "approved_claims": [] }),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = pupil.get("/api/v1/services").await;
    assert_eq!(status, 403);
    let (status, body) = admin
        .put(
            &format!("/api/v1/services/{OTHER_TOOL}/activation"),
            json!({ "approved_claims": ["email"] }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = admin
        .put(
            "/api/v1/services/no-such-tool/activation",
            json!({ "approved_claims": [] }),
        )
        .await;
    assert_eq!(status, 404);
    let (status, services) = admin.get("/api/v1/services").await;
    assert_eq!(status, 200);
    let other = services
        .as_array()
        .and_then(|services| services.iter().find(|service| service["id"] == OTHER_TOOL))
        .expect("listed");
    assert_eq!(
        other["activation"]["approved_claims"],
        json!([]),
        "the refused change changed nothing"
    );
    let tool = services
        .as_array()
        .and_then(|services| services.iter().find(|service| service["id"] == TOOL))
        .expect("listed");
    assert!(tool["activation"].is_null(), "deactivated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sends_a_visitor_through_the_login_page_and_back() {
    let (school, _, _) = school_with_services().await;
    let authorize = authorize_url(&school.base, &good_request(TOOL, TOOL_REDIRECT, "openid"));
    let to_login = browse(&school.anonymous(), &authorize)
        .await
        .expect("to the login page");
    assert_eq!(to_login.path(), "/login");
    let next = query_value(&to_login, "next").expect("a return path");
    assert!(next.starts_with("/oidc/authorize?"), "{next}");
    let prompt_none = format!("{authorize}&prompt=none");
    let landed = browse(&school.anonymous(), &prompt_none)
        .await
        .expect("refused back");
    assert_eq!(
        query_value(&landed, "error").as_deref(),
        Some("login_required")
    );

    // The login form carries `next` and returns there; a foreign `next` goes home instead.
    let page = reqwest::get(to_login.as_str())
        .await
        .expect("login page")
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("name=\"next\""),
        "the form keeps the return path"
    );
    for (given, expected) in [
        (next.as_str(), next.as_str()),
        ("https://evil.example/", "/home"),
        ("//evil.example/", "/home"),
    ] {
        let response = no_redirects()
            .post(format!("{}/login", school.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_urlencoded_pairs(&[
                ("username", PUPIL),
                ("password", common::PASSWORD),
                ("next", given),
            ]))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status().as_u16(), 303);
        assert_eq!(
            response
                .headers()
                .get("location")
                .and_then(|value| value.to_str().ok()),
            Some(expected)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_prompt_login_and_max_age_make_a_logged_in_user_log_in_again() {
    let (school, _, _) = school_with_services().await;
    let browser = school.login(PUPIL).await;
    let request = good_request(TOOL, TOOL_REDIRECT, "openid");

    // A session that is young enough passes max_age without a new login.
    let mut recent = request.clone();
    recent.push(("max_age", "3600"));
    let landed = browse(&browser, &authorize_url(&school.base, &recent))
        .await
        .expect("back to the service");
    assert!(
        query_value(&landed, "code").is_some(),
        "a code at once: {landed}"
    );

    // prompt=login sends the logged-in user to the login form, not straight back.
    let mut again = request.clone();
    again.push(("prompt", "login"));
    let to_login = browse(&browser, &authorize_url(&school.base, &again))
        .await
        .expect("to the login page");
    assert_eq!(to_login.path(), "/login");
    assert_eq!(query_value(&to_login, "reauth").as_deref(), Some("1"));
    let next = query_value(&to_login, "next").expect("a return path");
    assert!(
        next.starts_with("/oidc/authorize?") && !next.contains("prompt="),
        "back to the request without prompt=login: {next}"
    );
    let form = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(to_login.as_str())
        .header("cookie", &browser.cookie)
        .send()
        .await
        .expect("login page");
    assert_eq!(form.status().as_u16(), 200, "the form, though logged in");

    // max_age=0 is prompt=login; with prompt=none it is refused rather than asked.
    let mut old_enough = request.clone();
    old_enough.push(("max_age", "0"));
    let again_to_login = browse(&browser, &authorize_url(&school.base, &old_enough))
        .await
        .expect("to the login page");
    assert_eq!(again_to_login.path(), "/login", "max_age=0 asks again");
    let mut silent = old_enough.clone();
    silent.push(("prompt", "none"));
    let refused = browse(&browser, &authorize_url(&school.base, &silent))
        .await
        .expect("back to the service");
    assert_eq!(
        query_value(&refused, "error").as_deref(),
        Some("login_required")
    );

    // Logging in again (a fresh session) and returning to `next` gives the code.
    let fresh = school.login(PUPIL).await;
    let landed = browse(&fresh, &format!("{}{next}", school.base))
        .await
        .expect("back to the service");
    assert!(
        landed.as_str().starts_with(TOOL_REDIRECT) && query_value(&landed, "code").is_some(),
        "{landed}"
    );

    // prompt=none cannot be combined, and max_age must be a number.
    let mut combined = request.clone();
    combined.push(("prompt", "none login"));
    let mut not_a_number = request.clone();
    not_a_number.push(("max_age", "soon"));
    for bad in [combined, not_a_number] {
        let refused = browse(&fresh, &authorize_url(&school.base, &bad))
            .await
            .expect("back to the service");
        assert_eq!(
            query_value(&refused, "error").as_deref(),
            Some("invalid_request"),
            "{refused}"
        );
    }
}

async fn restart(school: TestSchool) -> TestSchool {
    let TestSchool { dir, node, .. } = school;
    node.shutdown().await;
    let mut config = NodeConfig {
        data_dir: dir.path().join("node"),
        ..NodeConfig::default()
    };
    config.http.listen = "127.0.0.1:0".parse().expect("address");
    let node = node::server::start(config).await.expect("node restarts");
    let base = format!("http://{}", node.http_address);
    TestSchool { dir, node, base }
}

async fn published_key_ids(school: &TestSchool) -> Vec<String> {
    let jwks: Value = reqwest::get(format!("{}/oidc/jwks", school.base))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_rotated_keys_keep_old_tokens_verifiable_and_persist_across_a_restart() {
    let (school, tool_secret, _) = school_with_services().await;
    let pupil = school.login(PUPIL).await;
    let before = log_in_to_service(&school, &pupil, TOOL, &tool_secret, TOOL_REDIRECT, &[]).await;
    let now = sync_transport::link::now_millis() as i64;
    let new_key = school.node.state.oidc.keys.rotate(now).expect("rotates");
    assert_ne!(new_key, before.key_id);
    let after = log_in_to_service(&school, &pupil, TOOL, &tool_secret, TOOL_REDIRECT, &[]).await;
    assert_eq!(after.key_id, new_key, "new tokens use the new key");
    assert_eq!(after.subject, before.subject);
    let key_ids = published_key_ids(&school).await;
    assert!(
        key_ids.contains(&before.key_id) && key_ids.contains(&new_key),
        "{key_ids:?}"
    );

    // The old token still verifies against the JWKS a relying party discovers now.
    let http = no_redirects();
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(school.base.clone()).expect("issuer"),
        &http,
    )
    .await
    .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(TOOL.to_owned()),
        Some(ClientSecret::new(tool_secret.clone())),
    );
    let old_token: MpassIdToken = before.raw_id_token.parse().expect("parses");
    assert!(
        old_token
            .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
            .is_ok(),
        "a token signed by the retired key verifies"
    );
    // One signature bit flipped: the first character of the signature carries six whole bits.
    let signature_start = before.raw_id_token.rfind('.').expect("three parts") + 1;
    let mut tampered = before.raw_id_token.clone();
    let flipped = if tampered[signature_start..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(signature_start..signature_start + 1, flipped);
    let tampered: MpassIdToken = tampered.parse().expect("parses");
    assert!(
        tampered
            .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
            .is_err(),
        "and the check can fail"
    );

    let school = restart(school).await;
    assert_eq!(
        published_key_ids(&school).await,
        key_ids,
        "the keys survive the restart"
    );
    let pupil = school.login(PUPIL).await;
    let restarted =
        log_in_to_service(&school, &pupil, TOOL, &tool_secret, TOOL_REDIRECT, &[]).await;
    assert_eq!(
        restarted.key_id, new_key,
        "the same key signs after the restart"
    );
    assert_eq!(
        restarted.subject, before.subject,
        "subjects survive the restart"
    );
}
