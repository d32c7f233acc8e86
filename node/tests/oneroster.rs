//! The OneRoster 1.2 rostering service, read by a OneRoster client against a real node on
//! loopback: the client-credentials token from the `oauth2` crate, the reads with reqwest. It
//! reads the fixture school's orgs, classes, users and enrollments and checks their values; then
//! every refusal: a service not activated, a roster scope not approved, a wrong secret, no or a
//! bad bearer token, a userinfo token on the roster (and a roster token at userinfo), names
//! absent without `profile`, paging and filter bounds, unknown ids, revocation by deactivation,
//! and the audit entries.

mod common;

use std::collections::BTreeSet;

use base64::Engine as _;
use common::{Client, TestSchool};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse as _, TokenUrl,
};
use serde_json::{Value, json};
use sha2::Digest as _;

const ROSTER_SCOPE: &str = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly";
const BASE: &str = "/ims/oneroster/rostering/v1p2";
/// Approved for the roster and names, allowed but not approved e-mail.
const VENDOR: &str = "roster-vendor";
/// Approved for the roster only.
const PLAIN: &str = "plain-roster";
/// Allowed the roster by the catalogue, but the school approved names only.
const NAMES_ONLY: &str = "names-only";
/// In the catalogue, never activated.
const DORMANT: &str = "dormant-tool";
const ADMIN: &str = "sari.lehtonen";
const PUPIL: &str = "aino.makinen01";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

struct Secrets {
    vendor: String,
    plain: String,
    names_only: String,
    dormant: String,
}

async fn school_with_roster_services() -> (TestSchool, Secrets) {
    let school = TestSchool::start().await;
    let vendor = school
        .publish_oidc_service(VENDOR, REDIRECT, &["profile", "email", ROSTER_SCOPE])
        .await;
    let plain = school
        .publish_oidc_service(PLAIN, REDIRECT, &["profile", ROSTER_SCOPE])
        .await;
    let names_only = school
        .publish_oidc_service(NAMES_ONLY, REDIRECT, &["profile", ROSTER_SCOPE])
        .await;
    let dormant = school
        .publish_oidc_service(DORMANT, REDIRECT, &[ROSTER_SCOPE])
        .await;
    let admin = school.login(ADMIN).await;
    for (service, approved) in [
        (VENDOR, json!(["profile", ROSTER_SCOPE])),
        (PLAIN, json!([ROSTER_SCOPE])),
        (NAMES_ONLY, json!(["profile"])),
    ] {
        let (status, body) = admin
            .put(
                &format!("/api/v1/services/{service}/activation"),
                json!({ "approved_claims": approved }),
            )
            .await;
        assert_eq!(status, 200, "{service}: {body}");
    }
    (
        school,
        Secrets {
            vendor,
            plain,
            names_only,
            dormant,
        },
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// A client-credentials token, as a OneRoster client gets one; the OAuth error code otherwise.
async fn roster_token(
    school: &TestSchool,
    service: &str,
    secret: &str,
    scopes: &[&str],
    auth_type: AuthType,
) -> Result<String, BasicErrorResponseType> {
    let client = BasicClient::new(ClientId::new(service.to_owned()))
        .set_client_secret(ClientSecret::new(secret.to_owned()))
        .set_token_uri(TokenUrl::new(format!("{}/oidc/token", school.base)).expect("token url"))
        .set_auth_type(auth_type);
    let mut request = client.exchange_client_credentials();
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).to_owned()));
    }
    match request.request_async(&http()).await {
        Ok(response) => {
            assert_eq!(
                response.scopes().map(|scopes| scopes
                    .iter()
                    .map(|scope| scope.to_string())
                    .collect::<Vec<_>>()),
                Some(vec![ROSTER_SCOPE.to_owned()]),
                "the granted scope is repeated"
            );
            assert_eq!(
                response.expires_in().map(|lifetime| lifetime.as_secs()),
                Some(3600)
            );
            Ok(response.access_token().secret().clone())
        }
        Err(RequestTokenError::ServerResponse(error)) => Err(error.error().clone()),
        Err(other) => panic!("the token request failed outside OAuth: {other:?}"),
    }
}

/// A read: the status, the `X-Total-Count` and `Link` headers, and the body.
struct Read {
    status: u16,
    total: Option<usize>,
    link: Option<String>,
    www_authenticate: Option<String>,
    body: Value,
}

async fn read(school: &TestSchool, token: Option<&str>, path: &str) -> Read {
    let mut request = http().get(format!("{}{BASE}{path}", school.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("roster request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let total = header("x-total-count").map(|text| text.parse().expect("a count"));
    let link = header("link");
    let www_authenticate = header("www-authenticate");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Read {
        status,
        total,
        link,
        www_authenticate,
        body,
    }
}

/// The `imsx_codeMinorFieldValue` of a refusal, after checking its shape.
fn code_minor(read: &Read) -> String {
    assert_eq!(read.body["imsx_codeMajor"], "failure", "{}", read.body);
    assert_eq!(read.body["imsx_severity"], "error");
    assert!(read.body["imsx_description"].is_string());
    read.body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
        .as_str()
        .expect("a code")
        .to_owned()
}

fn ids(records: &Value) -> BTreeSet<String> {
    records
        .as_array()
        .expect("a list")
        .iter()
        .map(|record| record["sourcedId"].as_str().expect("sourcedId").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_oneroster_client_reads_the_fixture_school() {
    let (school, secrets) = school_with_roster_services().await;
    let discovery: Value = http()
        .get(format!("{}/.well-known/openid-configuration", school.base))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        discovery["grant_types_supported"],
        json!(["authorization_code", "client_credentials"])
    );
    let token = roster_token(
        &school,
        VENDOR,
        &secrets.vendor,
        &[ROSTER_SCOPE],
        AuthType::BasicAuth,
    )
    .await
    .expect("a token by client_secret_basic");
    let posted = roster_token(
        &school,
        VENDOR,
        &secrets.vendor,
        &[ROSTER_SCOPE],
        AuthType::RequestBody,
    )
    .await
    .expect("a token by client_secret_post");
    let token = token.as_str();

    // Orgs: the school and its municipality, not the neighbouring school the package named.
    let orgs = read(&school, Some(token), "/orgs").await;
    assert_eq!(orgs.status, 200, "{}", orgs.body);
    assert_eq!(
        ids(&orgs.body["orgs"]),
        BTreeSet::from(["ORG-30076".to_owned(), "ORG-KUNTA-092".to_owned()])
    );
    assert_eq!(orgs.total, Some(2));
    let school_org = read(&school, Some(token), "/orgs/ORG-30076").await;
    assert_eq!(school_org.status, 200);
    let org = &school_org.body["org"];
    assert_eq!(org["name"], "Mäntymäen koulu");
    assert_eq!(org["type"], "school");
    assert_eq!(org["identifier"], "30076");
    assert_eq!(org["status"], "active");
    assert_eq!(org["parent"]["sourcedId"], "ORG-KUNTA-092");
    assert_eq!(org["parent"]["type"], "org");
    assert_eq!(
        org["parent"]["href"],
        format!("{}{BASE}/orgs/ORG-KUNTA-092", school.base)
    );
    let modified = org["dateLastModified"].as_str().expect("a time");
    assert!(
        modified.ends_with('Z') && modified.len() == 24,
        "{modified}"
    );
    assert_eq!(
        read(&school, Some(token), "/orgs/ORG-30077").await.status,
        404
    );
    let schools = read(&school, Some(token), "/schools").await;
    assert_eq!(
        ids(&schools.body["orgs"]),
        BTreeSet::from(["ORG-30076".to_owned()])
    );

    // Sessions and courses.
    let terms = read(&school, Some(token), "/terms").await;
    assert_eq!(
        ids(&terms.body["academicSessions"]),
        BTreeSet::from(["TERM-2025-S".to_owned(), "TERM-2026-K".to_owned()])
    );
    let year = read(&school, Some(token), "/academicSessions/SY-2025-2026").await;
    assert_eq!(year.body["academicSession"]["type"], "schoolYear");
    assert_eq!(year.body["academicSession"]["startDate"], "2025-08-07");
    assert_eq!(
        year.body["academicSession"]["children"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let course = read(&school, Some(token), "/courses/CRS-MA7").await;
    assert_eq!(course.body["course"]["title"], "Matematiikka 7");
    assert_eq!(course.body["course"]["courseCode"], "MA7");
    assert_eq!(course.body["course"]["org"]["sourcedId"], "ORG-30076");

    // Classes.
    let classes = read(&school, Some(token), "/classes").await;
    assert_eq!(classes.status, 200);
    assert!(classes.total.expect("count") >= 4);
    let class = read(&school, Some(token), "/classes/CLS-7A-MA").await;
    let class = &class.body["class"];
    assert_eq!(class["title"], "7A matematiikka");
    assert_eq!(class["classCode"], "7A-MA");
    assert_eq!(class["classType"], "scheduled");
    assert_eq!(class["location"], "B204");
    assert_eq!(class["course"]["sourcedId"], "CRS-MA7");
    assert_eq!(class["course"]["type"], "course");
    assert_eq!(class["school"]["sourcedId"], "ORG-30076");
    assert_eq!(ids(&class["terms"]).len(), 2);
    let school_classes = read(&school, Some(token), "/schools/ORG-30076/classes").await;
    assert_eq!(school_classes.total, classes.total);

    // Users: pupils and staff with names (profile approved), no guardians, no e-mail (not
    // approved), no roster ids.
    let users = read(&school, Some(token), "/users?limit=1000").await;
    assert_eq!(users.status, 200, "{}", users.body);
    let list = users.body["users"].as_array().expect("users");
    assert_eq!(users.total, Some(15), "12 pupils and 3 staff, no guardians");
    assert_eq!(list.len(), 15);
    for user in list {
        assert!(user.get("email").is_none(), "email not approved: {user}");
        let id = user["sourcedId"].as_str().expect("id");
        assert_eq!(id.len(), 43, "pairwise: {id}");
        assert!(!["P01", "T01", "ADM01"].contains(&id));
        assert!(
            user["roles"]
                .as_array()
                .is_some_and(|roles| roles.iter().all(|role| role["role"] != "parent"))
        );
    }
    let aino = list
        .iter()
        .find(|user| user["givenName"] == "Aino")
        .expect("Aino is on the roster");
    assert_eq!(aino["familyName"], "Mäkinen");
    assert_eq!(aino["username"], PUPIL);
    assert_eq!(aino["enabledUser"], true);
    assert_eq!(aino["roles"][0]["role"], "student");
    assert_eq!(aino["roles"][0]["roleType"], "primary");
    assert_eq!(aino["roles"][0]["org"]["sourcedId"], "ORG-30076");
    assert_eq!(aino["grades"], json!(["07"]));
    assert!(
        list.iter().all(|user| user["givenName"] != "Marja"),
        "no guardian"
    );
    let mikko = list
        .iter()
        .find(|user| user["givenName"] == "Mikko")
        .expect("T02");
    assert_eq!(
        mikko["roles"].as_array().map(Vec::len),
        Some(1),
        "the role at the neighbouring school is not released: {mikko}"
    );
    let aino_id = aino["sourcedId"].as_str().expect("id");
    let one = read(&school, Some(token), &format!("/users/{aino_id}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["user"]["givenName"], "Aino");
    let students = read(&school, Some(token), "/classes/CLS-7A-MA/students").await;
    assert!(ids(&students.body["users"]).contains(aino_id));
    let teachers = read(&school, Some(token), "/classes/CLS-7A-MA/teachers").await;
    assert_eq!(teachers.total, Some(1));
    assert_eq!(teachers.body["users"][0]["givenName"], "Leena");
    let all_teachers = read(&school, Some(token), "/teachers").await;
    assert_eq!(all_teachers.total, Some(2));

    // Enrollments, joined to users by the pairwise id, with pairwise ids of their own.
    let enrollments = read(
        &school,
        Some(token),
        "/enrollments?filter=class.sourcedId='CLS-7A-MA'",
    )
    .await;
    assert_eq!(enrollments.status, 200, "{}", enrollments.body);
    let list = enrollments.body["enrollments"]
        .as_array()
        .expect("enrollments");
    assert_eq!(list.len(), students.total.expect("count") + 1);
    let ainos = list
        .iter()
        .find(|enrollment| enrollment["user"]["sourcedId"] == aino_id)
        .expect("Aino's enrollment");
    assert_eq!(ainos["role"], "student");
    assert_eq!(ainos["primary"], false);
    assert_eq!(ainos["beginDate"], "2025-08-07");
    assert_eq!(ainos["class"]["sourcedId"], "CLS-7A-MA");
    assert_eq!(
        ainos["user"]["href"],
        format!("{}{BASE}/users/{aino_id}", school.base)
    );
    let enrollment_id = ainos["sourcedId"].as_str().expect("id");
    assert!(!enrollment_id.contains("P01"), "{enrollment_id}");
    let one = read(
        &school,
        Some(&posted),
        &format!("/enrollments/{enrollment_id}"),
    )
    .await;
    assert_eq!(one.body["enrollment"]["user"]["sourcedId"], aino_id);

    // Filters, sorting, fields and paging.
    let filtered = read(
        &school,
        Some(token),
        "/users?filter=givenName='Aino'%20AND%20status='active'",
    )
    .await;
    assert_eq!(filtered.total, Some(1));
    let either = read(
        &school,
        Some(token),
        "/users?filter=givenName='Aino'%20OR%20givenName='Leena'",
    )
    .await;
    assert_eq!(either.total, Some(2));
    let sorted = read(
        &school,
        Some(token),
        "/users?sort=familyName&orderBy=desc&fields=familyName,sourcedId&limit=1",
    )
    .await;
    assert_eq!(
        sorted.body["users"][0]["familyName"], "Nieminen",
        "{}",
        sorted.body
    );
    assert!(
        sorted.body["users"][0].get("givenName").is_none(),
        "fields selects"
    );
    let page = read(&school, Some(token), "/users?limit=5&offset=10").await;
    assert_eq!(page.body["users"].as_array().map(Vec::len), Some(5));
    assert_eq!(page.total, Some(15));
    let link = page.link.expect("a Link header");
    assert!(
        link.contains("rel=\"last\"") && !link.contains("rel=\"next\""),
        "{link}"
    );
    let first = read(&school, Some(token), "/users?limit=5").await;
    assert!(
        first
            .link
            .expect("link")
            .contains("offset=5>; rel=\"next\"")
    );
    let beyond = read(&school, Some(token), "/users?offset=100").await;
    assert_eq!(beyond.status, 200);
    assert_eq!(beyond.body["users"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_service_receives_follows_the_schools_approval() {
    let (school, secrets) = school_with_roster_services().await;
    let vendor = roster_token(
        &school,
        VENDOR,
        &secrets.vendor,
        &[ROSTER_SCOPE],
        AuthType::BasicAuth,
    )
    .await
    .expect("token");
    let plain = roster_token(
        &school,
        PLAIN,
        &secrets.plain,
        &[ROSTER_SCOPE],
        AuthType::BasicAuth,
    )
    .await
    .expect("token");
    let vendor_users = read(&school, Some(&vendor), "/users").await;
    let plain_users = read(&school, Some(&plain), "/users").await;
    assert_eq!(plain_users.total, Some(15));
    for user in plain_users.body["users"].as_array().expect("users") {
        for withheld in [
            "givenName",
            "familyName",
            "preferredFirstName",
            "username",
            "email",
        ] {
            assert!(
                user.get(withheld).is_none(),
                "{withheld} without profile: {user}"
            );
        }
        assert!(user["roles"].is_array() && user["enabledUser"].is_boolean());
    }
    let by_name = read(&school, Some(&plain), "/users?filter=givenName='Aino'").await;
    assert_eq!(
        by_name.total,
        Some(0),
        "a filter cannot find what is withheld"
    );
    // The same people, under identifiers that the two services cannot match.
    let vendor_ids = ids(&vendor_users.body["users"]);
    let plain_ids = ids(&plain_users.body["users"]);
    assert_eq!(vendor_ids.len(), 15);
    assert!(vendor_ids.is_disjoint(&plain_ids));
    let vendor_enrollments = read(&school, Some(&vendor), "/enrollments?limit=1000").await;
    let plain_enrollments = read(&school, Some(&plain), "/enrollments?limit=1000").await;
    assert_eq!(vendor_enrollments.total, plain_enrollments.total);
    assert!(
        ids(&vendor_enrollments.body["enrollments"])
            .is_disjoint(&ids(&plain_enrollments.body["enrollments"]))
    );
    // Classes describe the school, not a person: the same ids for both.
    let vendor_classes = read(&school, Some(&vendor), "/classes").await;
    let plain_classes = read(&school, Some(&plain), "/classes").await;
    assert_eq!(
        ids(&vendor_classes.body["classes"]),
        ids(&plain_classes.body["classes"])
    );
}

/// The PKCE S256 challenge of `verifier`.
fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// A userinfo access token of `pupil` at `service`, by the code flow.
async fn userinfo_token(
    school: &TestSchool,
    pupil: &Client,
    service: &str,
    secret: &str,
) -> String {
    let verifier = "v".repeat(50);
    let url = format!(
        "{}/oidc/authorize?response_type=code&client_id={service}&redirect_uri={}&scope=openid%20profile&state=s&code_challenge={}&code_challenge_method=S256",
        school.base,
        form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        challenge(&verifier)
    );
    let response = http()
        .get(url)
        .header("cookie", &pupil.cookie)
        .send()
        .await
        .expect("authorize");
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let landed = url::Url::parse(&location).expect("url");
    let code = landed
        .query_pairs()
        .find(|(key, _)| key == "code")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("a code in {location}"));
    let tokens: Value = http()
        .post(format!("{}/oidc/token", school.base))
        .basic_auth(service, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    tokens["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_of_the_roster() {
    let (school, secrets) = school_with_roster_services().await;
    // The token endpoint.
    assert_eq!(
        roster_token(
            &school,
            DORMANT,
            &secrets.dormant,
            &[ROSTER_SCOPE],
            AuthType::BasicAuth
        )
        .await,
        Err(BasicErrorResponseType::UnauthorizedClient),
        "not activated"
    );
    assert_eq!(
        roster_token(
            &school,
            NAMES_ONLY,
            &secrets.names_only,
            &[ROSTER_SCOPE],
            AuthType::BasicAuth
        )
        .await,
        Err(BasicErrorResponseType::InvalidScope),
        "the roster is not approved"
    );
    assert_eq!(
        roster_token(
            &school,
            VENDOR,
            &secrets.vendor,
            &[ROSTER_SCOPE, "profile"],
            AuthType::BasicAuth
        )
        .await,
        Err(BasicErrorResponseType::InvalidScope),
        "a login scope is no roster scope"
    );
    assert_eq!(
        roster_token(&school, VENDOR, &secrets.vendor, &[], AuthType::BasicAuth).await,
        Err(BasicErrorResponseType::InvalidScope),
        "the scope is named"
    );
    let wrong = http()
        .post(format!("{}/oidc/token", school.base))
        .basic_auth(VENDOR, Some("not-the-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", ROSTER_SCOPE),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(wrong.status().as_u16(), 401);
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(
        roster_token(
            &school,
            VENDOR,
            &secrets.plain,
            &[ROSTER_SCOPE],
            AuthType::RequestBody
        )
        .await,
        Err(BasicErrorResponseType::InvalidClient),
        "another service's secret"
    );
    // A login cannot ask for the roster.
    let pupil = school.login(PUPIL).await;
    let login_for_roster = http()
        .get(format!(
            "{}/oidc/authorize?response_type=code&client_id={VENDOR}&redirect_uri={}&scope=openid%20{}&code_challenge={}&code_challenge_method=S256",
            school.base,
            form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(ROSTER_SCOPE.as_bytes()).collect::<String>(),
            challenge(&"v".repeat(50)),
        ))
        .header("cookie", &pupil.cookie)
        .send()
        .await
        .expect("authorize");
    let location = login_for_roster.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.contains("error=invalid_scope"), "{location}");

    // The rostering service.
    let token = roster_token(
        &school,
        VENDOR,
        &secrets.vendor,
        &[ROSTER_SCOPE],
        AuthType::BasicAuth,
    )
    .await
    .expect("token");
    let none = read(&school, None, "/users").await;
    assert_eq!(none.status, 401);
    assert_eq!(code_minor(&none), "unauthorisedrequest");
    assert!(
        none.www_authenticate
            .is_some_and(|challenge| challenge.starts_with("Bearer"))
    );
    let bad = read(&school, Some("not-a-token"), "/users").await;
    assert_eq!(bad.status, 401);
    assert!(
        bad.www_authenticate
            .is_some_and(|challenge| challenge.contains("invalid_token"))
    );
    let session = http()
        .get(format!("{}{BASE}/users", school.base))
        .header("cookie", &pupil.cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(
        session.status().as_u16(),
        401,
        "a user's session reads no roster"
    );
    // The two kinds of token open only their own endpoints.
    let userinfo = userinfo_token(&school, &pupil, VENDOR, &secrets.vendor).await;
    let with_userinfo_token = read(&school, Some(&userinfo), "/users").await;
    assert_eq!(with_userinfo_token.status, 401);
    let userinfo_with_roster_token = http()
        .get(format!("{}/oidc/userinfo", school.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(userinfo_with_roster_token.status().as_u16(), 401);
    // Paging, filters and ids.
    for (path, expected) in [
        ("/users?limit=1001", "invaliddata"),
        ("/users?limit=0", "invaliddata"),
        ("/users?offset=-1", "invaliddata"),
        ("/users?offset=x", "invaliddata"),
        ("/users?filter=password='x'", "invalid_filter_field"),
        ("/users?filter=givenName%3D%3D'x'", "invalid_filter_field"),
        (
            "/users?filter=givenName='x'%20AND%20status='active'%20OR%20status='x'",
            "invalid_filter_field",
        ),
        ("/users?sort=password", "invalid_sort_field"),
        ("/users?fields=password", "invalid_selection_field"),
        ("/users?page=2", "invaliddata"),
        ("/classes/CLS-7A-MA?limit=5", "invaliddata"),
    ] {
        let refused = read(&school, Some(&token), path).await;
        assert_eq!(refused.status, 400, "{path}: {}", refused.body);
        assert_eq!(code_minor(&refused), expected, "{path}");
    }
    for path in [
        "/users/P01",
        "/classes/NO-SUCH-CLASS",
        "/enrollments/ENR-7A-MA-P01",
        "/classes/NO-SUCH-CLASS/students",
        "/schools/ORG-30077/classes",
        "/courses/NO-SUCH-COURSE",
    ] {
        let unknown = read(&school, Some(&token), path).await;
        assert_eq!(unknown.status, 404, "{path}");
        assert_eq!(code_minor(&unknown), "unknownobject");
    }
    let at_limit = read(&school, Some(&token), "/users?limit=1000").await;
    assert_eq!(at_limit.status, 200, "the maximum itself is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_audited_and_the_school_revokes_access() {
    let (school, secrets) = school_with_roster_services().await;
    let token = roster_token(
        &school,
        VENDOR,
        &secrets.vendor,
        &[ROSTER_SCOPE],
        AuthType::BasicAuth,
    )
    .await
    .expect("token");
    assert_eq!(
        read(&school, Some(&token), "/users?limit=7").await.status,
        200
    );
    assert_eq!(
        read(&school, Some(&token), "/classes/CLS-7A-MA")
            .await
            .status,
        200
    );
    let admin = school.login(ADMIN).await;
    let (status, audit) = admin.get("/api/v1/audit").await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["entries"].as_array().expect("entries");
    let roster_entries: Vec<&Value> = entries
        .iter()
        .filter(|entry| entry["service"] == VENDOR)
        .collect();
    assert_eq!(roster_entries.len(), 3, "{audit}");
    // Newest first.
    assert_eq!(roster_entries[0]["event"], "roster_read");
    assert_eq!(roster_entries[0]["detail"], "/classes/CLS-7A-MA");
    assert_eq!(roster_entries[0]["records"], 1);
    assert_eq!(roster_entries[1]["event"], "roster_read");
    assert_eq!(roster_entries[1]["detail"], "/users");
    assert_eq!(roster_entries[1]["records"], 7);
    assert_eq!(
        roster_entries[1]["claims"],
        json!(["profile", ROSTER_SCOPE])
    );
    assert_eq!(roster_entries[2]["event"], "roster_token_issued");
    assert_eq!(roster_entries[2]["user"], "");
    // A refused read releases nothing and is not a release.
    assert_eq!(
        read(&school, Some(&token), "/users?limit=5000")
            .await
            .status,
        400
    );
    let (_, after) = admin.get("/api/v1/audit").await;
    assert_eq!(
        after["entries"].as_array().map(Vec::len),
        Some(entries.len())
    );
    // The administrator's audit page shows the reads.
    let page = http()
        .get(format!("{}/admin/audit", school.base))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("/classes/CLS-7A-MA"),
        "the audit page names the endpoint"
    );

    // Narrowing the approval ends the roster at the next read; deactivating revokes the token.
    let (status, body) = admin
        .put(
            &format!("/api/v1/services/{VENDOR}/activation"),
            json!({ "approved_claims": ["profile"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let narrowed = read(&school, Some(&token), "/users").await;
    assert_eq!(narrowed.status, 403);
    assert_eq!(code_minor(&narrowed), "forbidden");
    let (status, body) = admin
        .put(
            &format!("/api/v1/services/{VENDOR}/activation"),
            json!({ "approved_claims": ["profile", ROSTER_SCOPE] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        read(&school, Some(&token), "/users").await.status,
        200,
        "approved again"
    );
    let (status, _) = admin
        .delete(&format!("/api/v1/services/{VENDOR}/activation"))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        school.node.state.oneroster.tokens.held(),
        0,
        "revoked, not merely refused"
    );
    let revoked = read(&school, Some(&token), "/users").await;
    assert_eq!(revoked.status, 401);
    assert_eq!(code_minor(&revoked), "unauthorisedrequest");
    let (status, _) = admin
        .put(
            &format!("/api/v1/services/{VENDOR}/activation"),
            json!({ "approved_claims": ["profile", ROSTER_SCOPE] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        read(&school, Some(&token), "/users").await.status,
        401,
        "a revoked token stays revoked after the service is activated again"
    );
}
