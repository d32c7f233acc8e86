//! Who sees which classes, and the administrator's roster routes.

mod common;

use common::TestSchool;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_its_own_classes_and_pupils_only_where_it_teaches() {
    let school = TestSchool::start().await;
    let teacher = school.login("leena.korhonen").await;
    let (status, me) = teacher.get("/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["user_id"], "T01");
    let taught: Vec<&str> = me["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|class| class["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(taught, vec!["CLS-7A-MA", "CLS-7B-MA"]);
    let (status, class) = teacher.get("/api/v1/classes/CLS-7A-MA").await;
    assert_eq!(status, 200);
    assert_eq!(class["pupils"].as_array().map(Vec::len), Some(6));

    let pupil = school.login("aino.makinen01").await;
    let (status, class) = pupil.get("/api/v1/classes/CLS-7A-MA").await;
    assert_eq!(status, 200);
    assert!(
        class["pupils"].is_null(),
        "a pupil does not get the class list"
    );
    let (status, _) = pupil.get("/api/v1/classes/CLS-7B-MA").await;
    assert_eq!(status, 403, "a pupil cannot look into another class");

    let guardian = school.login("marja.makinen").await;
    let (_, me) = guardian.get("/api/v1/me").await;
    assert_eq!(me["children"], json!(["P01", "P02"]));
    let (status, _) = guardian.get("/api/v1/classes/CLS-7A-AI").await;
    assert_eq!(status, 200, "a guardian sees the child's class");
    let (status, _) = guardian.get("/api/v1/classes/CLS-7B-MA").await;
    assert_eq!(status, 403);

    let (status, _) = school.anonymous().get("/api/v1/me").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_administrators_import_rosters_and_a_bad_package_changes_nothing() {
    let school = TestSchool::start().await;
    let broken = json!({ "files": {
        "manifest.csv": "propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\nfile.enrollments,bulk\n",
        "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\nE1,,,NOPE,ORG-30076,P01,student,false,,\n",
    }});
    let teacher = school.login("leena.korhonen").await;
    let (status, _) = teacher
        .post("/api/v1/admin/roster/import", broken.clone())
        .await;
    assert_eq!(status, 403);
    let admin = school.login("sari.lehtonen").await;
    let (status, refusal) = admin.post("/api/v1/admin/roster/import", broken).await;
    assert_eq!(status, 422, "{refusal}");
    assert!(!refusal["problems"].as_array().expect("problems").is_empty());
    let (_, class) = teacher.get("/api/v1/classes/CLS-7A-MA").await;
    assert_eq!(
        class["pupils"].as_array().map(Vec::len),
        Some(6),
        "nothing changed"
    );

    let (status, _) = admin
        .put(
            "/api/v1/admin/users/aino.makinen01/password",
            json!({ "password": "a new secret phrase" }),
        )
        .await;
    assert_eq!(status, 204);
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", school.base))
        .json(&json!({ "username": "aino.makinen01", "password": "a new secret phrase" }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200, "the new password works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_mistyped_and_oversized_bodies_get_json_errors_and_change_nothing() {
    let school = TestSchool::start().await;
    let admin = school.login("sari.lehtonen").await;
    let send = |body: Vec<u8>| {
        admin
            .http
            .post(format!("{}/api/v1/announcements/school", school.base))
            .header("cookie", &admin.cookie)
            .header("x-csrf-token", &admin.csrf)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{\"title\":".to_vec(), 400, "bad_request"),
        (b"{\"title\":5,\"body\":[]}".to_vec(), 422, "invalid_body"),
        (
            format!(
                "{{\"title\":\"{}\",\"body\":\"b\"}}",
                "x".repeat(3 * 1024 * 1024)
            )
            .into_bytes(),
            413,
            "too_large",
        ),
    ];
    for (body, status, code) in cases {
        let response = send(body).await.expect("sent");
        assert_eq!(response.status().as_u16(), status);
        if status == 413 {
            // The rest of the body was never read, so the connection cannot be reused.
            assert_eq!(response.headers()["connection"], "close");
        }
        let error: serde_json::Value = response.json().await.expect("a JSON error");
        assert_eq!(error["error"], code);
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|message| !message.is_empty())
        );
    }
    let (_, announcements) = admin.get("/api/v1/announcements").await;
    assert!(
        !announcements.to_string().contains("\"title\":\"x"),
        "nothing was published: {announcements}"
    );
}
