//! One login for a connected service, end to end with the real programs: a national operator
//! publishes an OpenID Connect service with `digione-operator service publish` through the relay,
//! school 30076's node receives the catalogue by sync, its administrator activates the service,
//! and with the relay gone (a login never calls it) a pupil logs in to the service: the code flow
//! with PKCE, the token exchange with the printed client secret, and userinfo with the approved
//! claim only.

use serde_json::{Value, json};
use tests::fleet::{CONVERGENCE_TIMEOUT, Fleet, SCHOOL_A, wait_until};

const SERVICE: &str = "e2e-tool";
const REDIRECT: &str = "http://127.0.0.1:9/e2e-tool/callback";
/// A PKCE pair computed outside Rust (base64url of SHA-256 with Python's hashlib).
const VERIFIER: &str = "dBjftJeZ4CVP-mJ0kz2CQi7e7hz3W6bi7eGd2XkV1Ik";
const CHALLENGE: &str = "PG2UoSQRydhideLzrjkG2mqQxjHEzKG82cautGm1O9I";

fn query(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").expect("url");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_service_logs_a_pupil_in_with_the_relay_gone() {
    let mut fleet = Fleet::start("service-login", 8).await;
    let operator = fleet.issue_national_operator("national");
    let secret = fleet
        .operator(
            &operator,
            &[
                "service",
                "publish",
                "--id",
                SERVICE,
                "--name",
                "Oppimateriaali",
                "--provider",
                "Kustantamo Oy",
                "--category",
                "optional",
                "--protocol",
                "oidc",
                "--redirect-uri",
                REDIRECT,
                "--claim",
                "urn:mpass.id:schoolCode",
                "--claim",
                "profile",
                "--works-offline",
            ],
        )
        .await
        .trim()
        .to_owned();
    assert_eq!(
        secret.len(),
        43,
        "the client secret is printed once: {secret:?}"
    );
    let listed = fleet.operator(&operator, &["service", "list"]).await;
    assert!(listed.contains(SERVICE), "{listed}");
    assert!(
        !listed.contains(&secret),
        "the catalogue never holds the secret"
    );

    let node = fleet.school(SCHOOL_A);
    let admin = node.login("sari.lehtonen").await;
    wait_until(
        "school 30076 has the published service",
        CONVERGENCE_TIMEOUT,
        || async {
            admin
                .get("/api/v1/services")
                .await
                .as_array()
                .is_some_and(|services| services.iter().any(|service| service["id"] == SERVICE))
        },
    )
    .await;
    admin
        .put(
            &format!("/api/v1/services/{SERVICE}/activation"),
            json!({ "approved_claims": ["urn:mpass.id:schoolCode"] }),
        )
        .await;

    // Nothing in a login calls the relay.
    fleet.relay.process.stop().await;
    let node = fleet.school(SCHOOL_A);
    let pupil = node.login("aino.makinen01").await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let authorize = format!(
        "{}/oidc/authorize?{}",
        node.base,
        query(&[
            ("response_type", "code"),
            ("client_id", SERVICE),
            ("redirect_uri", REDIRECT),
            ("scope", "openid urn:mpass.id:schoolCode"),
            ("state", "e2e"),
            ("nonce", "n-e2e"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    );
    let response = browser
        .get(&authorize)
        .header("cookie", pupil.cookie())
        .send()
        .await
        .expect("authorize");
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("redirected back: {}", response.status()))
        .to_owned();
    let landed = reqwest::Url::parse(&location).expect("location");
    assert!(location.starts_with(REDIRECT), "{location}");
    let code = landed
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("a code in {location}"));

    let tokens: Value = browser
        .post(format!("{}/oidc/token", node.base))
        .basic_auth(SERVICE, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    assert_eq!(
        tokens["id_token"]
            .as_str()
            .map(|token| token.split('.').count()),
        Some(3),
        "a signed ID token: {tokens}"
    );
    let userinfo: Value = browser
        .get(format!("{}/oidc/userinfo", node.base))
        .bearer_auth(tokens["access_token"].as_str().expect("access token"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("userinfo json");
    assert_eq!(userinfo["urn:mpass.id:schoolCode"], SCHOOL_A, "{userinfo}");
    assert!(
        userinfo.get("given_name").is_none(),
        "allowed by the catalogue but not approved by the school: {userinfo}"
    );
    fleet.stop_all().await;
}

const LTI_TOOL: &str = "e2e-lti-tool";
const LTI_LAUNCH: &str = "http://127.0.0.1:9/e2e-lti/launch";
const LTI_LOGIN: &str = "http://127.0.0.1:9/e2e-lti/login";

/// An LTI 1.3 tool end to end: the national operator publishes it with its login initiation URL
/// and public key (`tests/fixtures/lti/tool-public-key.jwk.json`, a public key only), the school
/// receives it by sync and activates it, and with the relay gone a pupil opens it from their tools:
/// the node starts the tool's login and answers the tool's authentication request with a signed
/// launch posted to the registered launch URI, all from what the school node holds itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_lti_tool_launches_for_a_pupil_with_the_relay_gone() {
    let mut fleet = Fleet::start("lti-launch", 8).await;
    let operator = fleet.issue_national_operator("national");
    let jwk = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/lti/tool-public-key.jwk.json");
    let published = fleet
        .operator(
            &operator,
            &[
                "service",
                "publish",
                "--id",
                LTI_TOOL,
                "--name",
                "Murtolukupeli",
                "--provider",
                "Pelitalo Oy",
                "--category",
                "common",
                "--protocol",
                "lti13",
                "--redirect-uri",
                LTI_LAUNCH,
                "--launch-url",
                LTI_LAUNCH,
                "--lti-login-url",
                LTI_LOGIN,
                "--lti-public-jwk",
                jwk.to_str().expect("path"),
                "--works-offline",
            ],
        )
        .await;
    assert!(
        !published.contains("secret"),
        "an LTI tool has no client secret: {published}"
    );

    let node = fleet.school(SCHOOL_A);
    let admin = node.login("sari.lehtonen").await;
    wait_until(
        "school 30076 has the published tool",
        CONVERGENCE_TIMEOUT,
        || async {
            admin
                .get("/api/v1/services")
                .await
                .as_array()
                .is_some_and(|services| services.iter().any(|service| service["id"] == LTI_TOOL))
        },
    )
    .await;
    admin
        .put(
            &format!("/api/v1/services/{LTI_TOOL}/activation"),
            json!({ "approved_claims": [] }),
        )
        .await;

    fleet.relay.process.stop().await;
    let node = fleet.school(SCHOOL_A);
    let pupil = node.login("aino.makinen01").await;
    let tools = pupil.get("/api/v1/tools").await;
    let tool = tools
        .as_array()
        .and_then(|tools| tools.iter().find(|tool| tool["id"] == LTI_TOOL).cloned())
        .unwrap_or_else(|| panic!("the pupil's tools list the LTI tool: {tools}"));
    let open = tool["launch_url"]
        .as_str()
        .unwrap_or_else(|| panic!("a launch address: {tool}"))
        .to_owned();
    assert!(
        open.starts_with(&format!("/lti/launch/{LTI_TOOL}")),
        "{open}"
    );

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = browser
        .get(format!("{}{open}", node.base))
        .header("cookie", pupil.cookie())
        .send()
        .await
        .expect("launch");
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("to the tool's login: {}", response.status()))
        .to_owned();
    assert!(location.starts_with(LTI_LOGIN), "{location}");
    let login: std::collections::HashMap<String, String> = reqwest::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(login["client_id"], LTI_TOOL);
    assert_eq!(login["lti_deployment_id"], SCHOOL_A);

    // The tool's authentication request, sent by the pupil's browser.
    let page = browser
        .get(format!(
            "{}/lti/authorize?{}",
            node.base,
            query(&[
                ("scope", "openid"),
                ("response_type", "id_token"),
                ("response_mode", "form_post"),
                ("prompt", "none"),
                ("client_id", LTI_TOOL),
                ("redirect_uri", LTI_LAUNCH),
                ("login_hint", &login["login_hint"]),
                ("lti_message_hint", &login["lti_message_hint"]),
                ("state", "e2e-state"),
                ("nonce", "e2e-nonce"),
            ])
        ))
        .header("cookie", pupil.cookie())
        .send()
        .await
        .expect("authentication");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("page");
    assert!(
        html.contains(&format!("action=\"{LTI_LAUNCH}\"")),
        "the launch is posted to the registered URI: {html}"
    );
    let id_token = html
        .split("name=\"id_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("an id_token field: {html}"));
    assert_eq!(id_token.split('.').count(), 3, "a signed launch");
    fleet.stop_all().await;
}
