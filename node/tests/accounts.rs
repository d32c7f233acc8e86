//! Passwords and sessions follow the roster (security issue 18, hostile insiders): a password
//! belongs to a user id, not a username; leaving the roster takes a user's password and sessions
//! with them; a password reset ends the user's other sessions; departed users never use up the
//! bound on passwords; and a node upgraded in place keeps its users' passwords.
//!
//! Everything runs against a real node (`common::TestSchool`: the bulk fixture, real sled store,
//! real HTTP on loopback), and the roster changes are delta packages sent to the administrator's
//! import API, as a school's IT would send them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Client, PASSWORD, TestSchool};
use node::config::NodeConfig;
use node::identity::NodeIdentity;
use node::model::credentials::{CredentialsDocument, credentials_doc};
use node::model::roster::{MAX_ROSTER_USERS, RosterUsersDocument, roster_users_doc};
use serde_json::{Value, json};

const USERS_HEADER: &str =
    "sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName\n";
const ROLES_HEADER: &str =
    "sourcedId,status,dateLastModified,userSourcedId,roleType,role,orgSourcedId\n";
const ENROLLMENTS_HEADER: &str =
    "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role\n";
const MATHS_7B: &str = "CLS-7B-MA";
const DAY_MS: i64 = 24 * 3_600_000;

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("in range")
}

/// A delta package: `users.csv` rows, and optionally `roles.csv` and `enrollments.csv` rows; every
/// other file absent.
fn delta(users: &str, roles: &str, enrollments: &str) -> Value {
    let mut files = BTreeMap::new();
    let mut manifest =
        String::from("propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\n");
    for (name, header, rows) in [
        ("users", USERS_HEADER, users),
        ("roles", ROLES_HEADER, roles),
        ("enrollments", ENROLLMENTS_HEADER, enrollments),
    ] {
        if rows.is_empty() {
            manifest.push_str(&format!("file.{name},absent\n"));
        } else {
            manifest.push_str(&format!("file.{name},delta\n"));
            files.insert(format!("{name}.csv"), format!("{header}{rows}"));
        }
    }
    for name in ["academicSessions", "classes", "courses", "orgs"] {
        manifest.push_str(&format!("file.{name},absent\n"));
    }
    files.insert("manifest.csv".to_owned(), manifest);
    json!({ "files": files })
}

/// Sends a delta package to the import API as the administrator; it must be accepted.
async fn import(admin: &Client, package: Value) {
    let (status, outcome) = admin.post("/api/v1/admin/roster/import", package).await;
    assert_eq!(status, 200, "the delta imports: {outcome}");
}

/// A new pupil `sourced_id` with `username` in maths 7B.
fn new_pupil(sourced_id: &str, username: &str, given: &str) -> Value {
    delta(
        &format!("{sourced_id},active,2026-01-10,true,{username},{given},Järvinen\n"),
        &format!("R-{sourced_id},active,2026-01-10,{sourced_id},primary,student,ORG-30076\n"),
        &format!(
            "ENR-7B-MA-{sourced_id},active,2026-01-10,{MATHS_7B},ORG-30076,{sourced_id},student\n"
        ),
    )
}

/// Logs `username` in with `password`: the session's client, or the refusal's status.
async fn try_login(school: &TestSchool, username: &str, password: &str) -> Result<Client, u16> {
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/api/v1/session", school.base))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("login request");
    let status = response.status().as_u16();
    if status != 200 {
        return Err(status);
    }
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("session cookie")
        .to_owned();
    let body: Value = response.json().await.expect("login body");
    Ok(Client {
        http,
        base: school.base.clone(),
        cookie,
        csrf: body["csrf_token"].as_str().expect("csrf token").to_owned(),
        user_id: body["user_id"].as_str().expect("user id").to_owned(),
    })
}

/// Sets `username`'s password through the administrator's API.
async fn set_password(admin: &Client, username: &str, password: &str) {
    let (status, body) = admin
        .put(
            &format!("/api/v1/admin/users/{username}/password"),
            json!({ "password": password }),
        )
        .await;
    assert_eq!(status, 204, "the password is set: {body}");
}

/// The status a session's holder gets for `GET /api/v1/me`: 200 while the session lives.
async fn me_status(client: &Client) -> u16 {
    client.get("/api/v1/me").await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departed_pupils_password_does_not_open_the_next_pupil_with_the_same_username() {
    const SOFIA_PASSWORD: &str = "sofian oma salasana";
    const NEW_PUPIL_PASSWORD: &str = "uuden oppilaan salasana";
    let school = TestSchool::start().await;
    let admin = school.login("sari.lehtonen").await;
    let teacher = school.login("leena.korhonen").await;

    // Sofia (P09) has her own password and some work in maths 7B.
    set_password(&admin, "sofia.jarvinen09", SOFIA_PASSWORD).await;
    let sofia = try_login(&school, "sofia.jarvinen09", SOFIA_PASSWORD)
        .await
        .expect("Sofia logs in");
    assert_eq!(sofia.user_id, "P09");
    let (status, assignment) = teacher
        .post(
            &format!("/api/v1/classes/{MATHS_7B}/assignments"),
            json!({
                "title": "Murtoluvut",
                "instructions": "Tehtävät 1–5.",
                "due_at": now_ms() + DAY_MS,
                "cut_off_at": now_ms() + 2 * DAY_MS,
            }),
        )
        .await;
    assert_eq!(status, 201, "{assignment}");
    let assignment = assignment["id"].as_str().expect("id").to_owned();
    let (status, draft) = sofia
        .put(
            &format!("/api/v1/assignments/{assignment}/submission"),
            json!({ "text": "Sofian vastaukset", "submit": false }),
        )
        .await;
    assert_eq!(status, 200, "{draft}");

    // Sofia leaves the school: a delta removes P09.
    import(
        &admin,
        delta(
            "P09,tobedeleted,2026-01-05,true,sofia.jarvinen09,Sofia,Järvinen\n",
            "",
            "",
        ),
    )
    .await;
    assert_eq!(me_status(&sofia).await, 401, "her session ended");
    assert_eq!(
        try_login(&school, "sofia.jarvinen09", SOFIA_PASSWORD)
            .await
            .err(),
        Some(401)
    );

    // A later delta brings another Sofia Järvinen, P14, who gets the freed username.
    import(&admin, new_pupil("P14", "sofia.jarvinen09", "Sofia")).await;

    // The attack: the departed pupil tries her old password on the recycled username.
    let attempt = try_login(&school, "sofia.jarvinen09", SOFIA_PASSWORD).await;
    assert_eq!(
        attempt.as_ref().err(),
        Some(&401),
        "the departed pupil's password must not log in as the new pupil, got {:?}",
        attempt.as_ref().map(|client| &client.user_id)
    );

    // The new pupil has no password until the school sets one, and then sees only her own work.
    set_password(&admin, "sofia.jarvinen09", NEW_PUPIL_PASSWORD).await;
    let new_sofia = try_login(&school, "sofia.jarvinen09", NEW_PUPIL_PASSWORD)
        .await
        .expect("the new pupil logs in");
    assert_eq!(new_sofia.user_id, "P14");
    let (status, _) = new_sofia
        .get(&format!("/api/v1/assignments/{assignment}/submissions/P09"))
        .await;
    assert!(
        status == 403 || status == 404,
        "the new pupil cannot read the departed pupil's work: {status}"
    );
    let (status, own) = new_sofia
        .get(&format!("/api/v1/assignments/{assignment}/submissions/P14"))
        .await;
    assert!(
        !own.to_string().contains("Sofian vastaukset"),
        "{status}: {own}"
    );
    assert_eq!(
        try_login(&school, "sofia.jarvinen09", SOFIA_PASSWORD)
            .await
            .err(),
        Some(401),
        "still not with the old password"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_ends_the_users_other_sessions() {
    const NEW_PASSWORD: &str = "uusi salasana joka on pitkä";
    let school = TestSchool::start().await;
    let admin = school.login("sari.lehtonen").await;
    let at_school = school.login("aino.makinen01").await;
    let at_home = school.login("aino.makinen01").await;
    assert_eq!(me_status(&at_school).await, 200);
    assert_eq!(me_status(&at_home).await, 200);

    // Someone learned Aino's password and logged in; the school resets it.
    set_password(&admin, "aino.makinen01", NEW_PASSWORD).await;
    assert_eq!(me_status(&at_school).await, 401, "the old session ended");
    assert_eq!(me_status(&at_home).await, 401, "every old session ended");
    assert_eq!(
        try_login(&school, "aino.makinen01", PASSWORD).await.err(),
        Some(401),
        "the old password is gone"
    );
    let renewed = try_login(&school, "aino.makinen01", NEW_PASSWORD)
        .await
        .expect("the new password works");
    assert_eq!(me_status(&renewed).await, 200);

    // An administrator who resets their own password keeps the session they did it from; their
    // other sessions end.
    let other_admin_browser = school.login("sari.lehtonen").await;
    set_password(&admin, "sari.lehtonen", NEW_PASSWORD).await;
    assert_eq!(me_status(&admin).await, 200, "the resetting session stays");
    assert_eq!(me_status(&other_admin_browser).await, 401);
    assert_eq!(
        me_status(&renewed).await,
        200,
        "another user's reset does not touch Aino"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_or_removing_a_user_ends_their_sessions_and_password() {
    let school = TestSchool::start().await;
    let admin = school.login("sari.lehtonen").await;

    // Veera (P03) is disabled and, by the next delta, enabled again: her old session must not come
    // back to life, and her old password must not work (the school sets a new one).
    let veera = school.login("veera.laine03").await;
    import(
        &admin,
        delta(
            "P03,active,2026-01-05,false,veera.laine03,Veera,Laine\n",
            "",
            "",
        ),
    )
    .await;
    assert_eq!(
        try_login(&school, "veera.laine03", PASSWORD).await.err(),
        Some(401)
    );
    import(
        &admin,
        delta(
            "P03,active,2026-01-06,true,veera.laine03,Veera,Laine\n",
            "",
            "",
        ),
    )
    .await;
    assert_eq!(
        me_status(&veera).await,
        401,
        "disabling ended the session for good"
    );
    assert_eq!(
        try_login(&school, "veera.laine03", PASSWORD).await.err(),
        Some(401),
        "disabling removed the password"
    );

    // Onni (P04) is removed and imported again with the same sourcedId.
    let onni = school.login("onni.laine04").await;
    import(
        &admin,
        delta(
            "P04,tobedeleted,2026-01-05,true,onni.laine04,Onni,Laine\n",
            "",
            "",
        ),
    )
    .await;
    import(&admin, new_pupil("P04", "onni.laine04", "Onni")).await;
    assert_eq!(me_status(&onni).await, 401, "removal ended the session");
    assert_eq!(
        try_login(&school, "onni.laine04", PASSWORD).await.err(),
        Some(401),
        "removal removed the password"
    );

    // Classmates are untouched.
    let eino = school.login("eino.makinen02").await;
    assert_eq!(me_status(&eino).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departed_users_do_not_count_toward_the_password_limit() {
    let school = TestSchool::start().await;
    let admin = school.login("sari.lehtonen").await;
    let repository = school.node.state.repository.clone();
    let code = school.node.state.identity.school.clone();

    // Years of pupils who came and went left their hashes behind, up to the bound.
    tokio::task::spawn_blocking(move || {
        let users: RosterUsersDocument = repository
            .read_or_default(&roster_users_doc(&code))
            .expect("users");
        let hash = node::auth::hash_password("a departed pupil's password").expect("hash");
        let departed: Vec<String> = (0..MAX_ROSTER_USERS - users.users.len())
            .map(|index| format!("left-{index:05}"))
            .collect();
        for slice in departed.chunks(500) {
            repository
                .update(
                    &credentials_doc(&code),
                    |credentials: &mut CredentialsDocument| {
                        for key in slice {
                            credentials.set_hash(key, &hash)?;
                        }
                        Ok::<_, node::model::common::ModelError>(())
                    },
                )
                .expect("stale hashes written");
        }
    })
    .await
    .expect("seeding");

    // A new pupil arrives; the school must still be able to give her a password.
    import(&admin, new_pupil("P14", "iida.jarvinen14", "Iida")).await;
    let (status, body) = admin
        .put(
            "/api/v1/admin/users/iida.jarvinen14/password",
            json!({ "password": "iidan ensimmäinen salasana" }),
        )
        .await;
    assert_eq!(
        status, 204,
        "departed users must not use up the bound: {body}"
    );
    let iida = try_login(&school, "iida.jarvinen14", "iidan ensimmäinen salasana")
        .await
        .expect("the new pupil logs in");
    assert_eq!(iida.user_id, "P14");
    assert_eq!(
        school.login("aino.makinen01").await.user_id,
        "P01",
        "current users keep their passwords"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_upgraded_in_place_keeps_its_users_passwords() {
    // A store as an older version left it: the roster, and hashes kept by username.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = NodeConfig {
        data_dir: dir.path().join("node"),
        ..NodeConfig::default()
    };
    config.http.listen = "127.0.0.1:0".parse().expect("address");
    NodeIdentity::init_standalone(
        &config,
        "30076".parse().expect("school"),
        "092".parse().expect("municipality"),
    )
    .expect("init");
    let school_code: sync_protocol::ids::SchoolCode = "30076".parse().expect("school");
    let store_dir = config.store_dir();
    let code = school_code.clone();
    tokio::task::spawn_blocking(move || {
        let store = sync_store::SledStore::open(&store_dir).expect("store");
        let (notices, _receiver) = tokio::sync::mpsc::channel(1024);
        let repository = node::repository::Repository::new(store, notices);
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oneroster/bulk");
        node::school::roster::import_package(&repository, &code, &fixture).expect("imports");
        let hash = node::auth::hash_password(PASSWORD).expect("hash");
        repository
            .update(
                &credentials_doc(&code),
                |credentials: &mut CredentialsDocument| {
                    for username in ["aino.makinen01", "Sari.Lehtonen", "pupil.who.left"] {
                        credentials
                            .legacy_by_username
                            .insert(username.to_owned(), hash.clone());
                    }
                    Ok::<_, std::convert::Infallible>(())
                },
            )
            .expect("old-format hashes written");
        repository.store().wait_durable().expect("durable");
    })
    .await
    .expect("old store prepared");

    let node = node::server::start(config).await.expect("node starts");
    let school = TestSchool::serving(dir, node);
    assert_eq!(school.login("aino.makinen01").await.user_id, "P01");
    assert_eq!(school.login("sari.lehtonen").await.user_id, "ADM01");
    let repository = school.node.state.repository.clone();
    let code = school_code.clone();
    let credentials: CredentialsDocument = tokio::task::spawn_blocking(move || {
        repository
            .read_or_default(&credentials_doc(&code))
            .expect("credentials")
    })
    .await
    .expect("read");
    assert!(
        credentials.legacy_by_username.is_empty(),
        "moved at start: {credentials:?}"
    );
    assert!(credentials.hash_for("P01").is_some());
    assert!(credentials.hash_for("ADM01").is_some());
    assert_eq!(
        credentials.len(),
        2,
        "the hash of a user no longer in the roster was dropped"
    );

    // A username-keyed hash that arrives later (a replaced node restoring an old copy from the
    // relay) works at once, by the current username, until the node moves it.
    let repository = school.node.state.repository.clone();
    let code = school_code.clone();
    tokio::task::spawn_blocking(move || {
        let hash = node::auth::hash_password(PASSWORD).expect("hash");
        repository
            .update(
                &credentials_doc(&code),
                |credentials: &mut CredentialsDocument| {
                    credentials
                        .legacy_by_username
                        .insert("eino.makinen02".to_owned(), hash);
                    Ok::<_, std::convert::Infallible>(())
                },
            )
            .expect("written");
    })
    .await
    .expect("write");
    assert_eq!(school.login("eino.makinen02").await.user_id, "P02");
}
