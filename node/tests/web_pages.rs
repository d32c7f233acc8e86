//! The web UI over real HTTP on loopback against a real node (sled store, the bulk roster fixture):
//! logging in and out, the assignment cycle through forms (create, submit with a file, return with
//! feedback, read the feedback), form errors that change nothing, CSRF, languages, security headers
//! on every kind of response, the hashed stylesheet and the offline banner.

mod common;
mod web_common;

use common::TestSchool;
use reqwest::StatusCode;
use web_common::{Browser, Part, monday_maths_lesson};

const MATHS_7A: &str = "CLS-7A-MA";
const TEACHER: &str = "leena.korhonen";
const PUPIL: &str = "aino.makinen01";
const PUPIL_ID: &str = "P01";

/// A date well in the future, as the date input sends it.
const FUTURE_DATE: &str = "2099-05-20";

/// Creates an assignment through the teacher's form; answers its id.
async fn create_assignment(teacher: &mut Browser, title: &str) -> String {
    let form = teacher
        .get(&format!("/classes/{MATHS_7A}/assignments/new"))
        .await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf_token();
    let created = teacher
        .post_form(
            &format!("/classes/{MATHS_7A}/assignments"),
            &[
                ("csrf_token", &csrf),
                ("title", title),
                (
                    "instructions",
                    "Solve the problems on page 42.\n\nShow your working.",
                ),
                ("due_date", FUTURE_DATE),
                ("due_time", "16:00"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.location().expect("a redirect to the assignment");
    location
        .strip_prefix("/assignments/")
        .and_then(|rest| rest.split('?').next())
        .expect("an assignment path")
        .to_owned()
}

#[tokio::test]
async fn the_assignment_cycle_works_through_forms_alone() {
    let school = TestSchool::start().await;
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let id = create_assignment(&mut teacher, "Fractions, part 1").await;

    // The pupil sees it on their home page and opens it.
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    let home = pupil.get("/home").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.links("a").contains(&format!("/assignments/{id}")),
        "the pupil's home lists the assignment"
    );
    let page = pupil.get(&format!("/assignments/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Show your working."));
    let csrf = page.csrf_token();

    // Submitting with a file.
    let submitted = pupil
        .post_multipart(
            &format!("/assignments/{id}/submission"),
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("text", "My answers are in the file."),
                Part::File("file", "answers.txt", "text/plain", b"1/2 + 1/4 = 3/4\n"),
                Part::Text("action", "submit"),
            ],
        )
        .await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.body
    );
    let page = pupil
        .get(&format!("/assignments/{id}?done=submitted"))
        .await;
    assert!(page.body.contains("answers.txt"), "the file is listed");
    assert_eq!(page.texts("[role=status].notice").len(), 1);

    // The teacher sees it waiting, reviews it and returns it with feedback.
    let home = teacher.get("/home").await;
    assert!(home.links("a").contains(&format!("/assignments/{id}")));
    let overview = teacher.get(&format!("/assignments/{id}")).await;
    let review_path = format!("/assignments/{id}/submissions/{PUPIL_ID}");
    assert!(overview.links("a").contains(&review_path));
    let review = teacher.get(&review_path).await;
    assert_eq!(review.status, StatusCode::OK);
    assert!(review.body.contains("My answers are in the file."));
    let file_link = review
        .links("a[download]")
        .into_iter()
        .next()
        .expect("the submitted file is linked");
    let download = teacher.get(&file_link).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, "1/2 + 1/4 = 3/4\n");

    // Feedback missing: the error is next to the field and nothing is returned.
    let csrf = review.csrf_token();
    let refused = teacher
        .post_form(
            &format!("{review_path}/return"),
            &[("csrf_token", &csrf), ("feedback", "  "), ("grade", "9")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let html = refused.html();
    let selector = scraper::Selector::parse("#feedback").expect("selector");
    let field = html.select(&selector).next().expect("the feedback field");
    assert_eq!(field.value().attr("aria-invalid"), Some("true"));
    assert_eq!(
        field.value().attr("aria-describedby"),
        Some("feedback-error")
    );
    assert_eq!(refused.texts("#feedback-error").len(), 1);
    let still = pupil.get(&format!("/assignments/{id}")).await;
    assert!(!still.body.contains("Well done"));

    let returned = teacher
        .post_form(
            &format!("{review_path}/return"),
            &[
                ("csrf_token", &csrf),
                ("feedback", "Well done, all correct."),
                ("grade", "9"),
            ],
        )
        .await;
    assert_eq!(returned.status, StatusCode::SEE_OTHER, "{}", returned.body);

    // The pupil reads the feedback, on the assignment and on their home page.
    let page = pupil.get(&format!("/assignments/{id}")).await;
    assert!(page.body.contains("Well done, all correct."));
    assert!(page.texts(".feedback").join(" ").contains('9'));
    let home = pupil.get("/home").await;
    assert!(home.body.contains("Fractions, part 1"));
}

#[tokio::test]
async fn bad_assignment_forms_show_errors_by_their_fields_and_create_nothing() {
    let school = TestSchool::start().await;
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let form = teacher
        .get(&format!("/classes/{MATHS_7A}/assignments/new"))
        .await;
    let csrf = form.csrf_token();
    let long_title = "x".repeat(201);
    let refused = teacher
        .post_form(
            &format!("/classes/{MATHS_7A}/assignments"),
            &[
                ("csrf_token", &csrf),
                ("title", &long_title),
                ("due_date", "20.5.2099"),
                ("due_time", "25:00"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    for field in ["title", "due_date", "due_time"] {
        assert_eq!(
            refused.texts(&format!("#{field}-error")).len(),
            1,
            "{field} has its error"
        );
    }
    assert_eq!(refused.texts("[role=alert] li").len(), 3);
    // What was typed is kept.
    assert!(refused.body.contains(&long_title));

    // A due date in the past.
    let refused = teacher
        .post_form(
            &format!("/classes/{MATHS_7A}/assignments"),
            &[
                ("csrf_token", &csrf),
                ("title", "Old"),
                ("due_date", "2001-01-01"),
                ("due_time", "12:00"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.texts("#due_date-error").len(), 1);

    let api = school.login(TEACHER).await;
    let (status, list) = api
        .get(&format!("/api/v1/classes/{MATHS_7A}/assignments"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["assignments"].as_array().map(Vec::len), Some(0));

    // Another teacher's class: refused.
    let other = teacher.get("/classes/CLS-7A-AI/assignments/new").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert!(other.body.contains("<main"));
}

#[tokio::test]
async fn forms_without_the_csrf_token_change_nothing() {
    let school = TestSchool::start().await;
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let refused = teacher
        .post_form(
            &format!("/classes/{MATHS_7A}/assignments"),
            &[
                ("title", "Forged"),
                ("due_date", FUTURE_DATE),
                ("due_time", "16:00"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let id = create_assignment(&mut teacher, "Real").await;
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    let refused = pupil
        .post_multipart(
            &format!("/assignments/{id}/submission"),
            &[
                Part::Text("csrf_token", "not-the-token"),
                Part::Text("text", "forged"),
                Part::Text("action", "submit"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let page = pupil.get(&format!("/assignments/{id}")).await;
    assert!(!page.body.contains("forged"));

    // Logging out needs the token too, and then ends the session.
    let refused = pupil.post_form("/logout", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let home = pupil.get("/home").await;
    let csrf = home.csrf_token();
    let out = pupil.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location().as_deref(), Some("/login"));
    let after = pupil.get("/home").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location().as_deref(), Some("/login"));
}

#[tokio::test]
async fn login_refusals_are_shown_on_the_form() {
    let school = TestSchool::start().await;
    let mut browser = Browser::new(&school);
    let page = browser.get("/home").await;
    assert_eq!(page.location().as_deref(), Some("/login"));
    let page = browser.get("/login").await;
    assert_eq!(page.status, StatusCode::OK);

    let wrong = browser
        .post_form(
            "/login",
            &[("username", TEACHER), ("password", "not the password")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.texts("[role=alert] li").len(), 1);
    assert!(browser.cookies.is_empty(), "no session cookie");

    let empty = browser.post_form("/login", &[("username", "")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(empty.texts("#username-error").len(), 1);
    assert_eq!(empty.texts("#password-error").len(), 1);

    // A login form posted from another site is refused.
    let forged = browser
        .http
        .post(format!("{}/login", school.base))
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=leena.korhonen&password=x")
        .send()
        .await
        .expect("request");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_language_follows_the_choice_then_the_browser_then_finnish() {
    let school = TestSchool::start().await;
    let mut browser = Browser::new(&school);
    let html_lang = |page: &web_common::Page| {
        let selector = scraper::Selector::parse("html").expect("selector");
        page.html()
            .select(&selector)
            .next()
            .and_then(|html| html.value().attr("lang").map(str::to_owned))
    };
    let page = browser.get("/login").await;
    assert_eq!(html_lang(&page).as_deref(), Some("fi"));
    assert!(page.body.contains("Kirjaudu sisään"));

    browser.accept_language = Some("sv-FI,sv;q=0.9,en;q=0.8".into());
    let page = browser.get("/login").await;
    assert_eq!(html_lang(&page).as_deref(), Some("sv"));
    assert!(page.body.contains("Logga in"));

    let chosen = browser.get("/language/en?back=%2Faccessibility").await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER);
    assert_eq!(chosen.location().as_deref(), Some("/accessibility"));
    let page = browser.get("/login").await;
    assert_eq!(html_lang(&page).as_deref(), Some("en"));
    assert!(page.body.contains("Log in"));

    // Never a redirect to another site.
    let outside = browser.get("/language/fi?back=//evil.example/").await;
    assert_eq!(outside.location().as_deref(), Some("/home"));
    let unknown = browser.get("/language/de").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let school = TestSchool::start().await;
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    let home = pupil.get("/home").await;
    let stylesheet = home
        .links("link[rel=stylesheet]")
        .into_iter()
        .next()
        .expect("a stylesheet");
    let api = school.login(PUPIL).await;
    let json = api
        .http
        .get(format!("{}/api/v1/me", school.base))
        .header("cookie", &api.cookie)
        .send()
        .await
        .expect("request");
    let json_headers = json.headers().clone();
    let responses = [
        ("page", home.headers.clone()),
        ("json", json_headers),
        ("stylesheet", pupil.get(&stylesheet).await.headers),
        (
            "missing static",
            pupil.get("/static/other.css").await.headers,
        ),
        ("error page", pupil.get("/assignments/nope").await.headers),
        ("redirect", Browser::new(&school).get("/home").await.headers),
        ("api 404", pupil.get("/api/v1/nothing").await.headers),
    ];
    for (what, headers) in responses {
        let csp = headers
            .get("content-security-policy")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("{what} has a CSP"));
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
        assert!(headers.contains_key("referrer-policy"), "{what}");
        assert!(
            !headers.contains_key("strict-transport-security"),
            "{what}: no HSTS over plain HTTP"
        );
    }
    assert_eq!(
        home.headers["content-security-policy"],
        node::web::security::CONTENT_SECURITY_POLICY
    );
    assert!(!home.body.contains("<script"), "no script in pages");
    assert!(!home.body.contains("style="), "no inline styles");
}

#[tokio::test]
async fn the_stylesheet_has_a_hashed_name_and_a_long_cache() {
    let school = TestSchool::start().await;
    let mut browser = Browser::new(&school);
    let login = browser.get("/login").await;
    let path = login
        .links("link[rel=stylesheet]")
        .into_iter()
        .next()
        .expect("a stylesheet");
    assert_eq!(path, node::web::assets::stylesheet_path());
    assert!(path.starts_with("/static/style.") && path.ends_with(".css"));
    let css = browser.get(&path).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert!(
        css.headers["cache-control"]
            .to_str()
            .expect("text")
            .contains("immutable")
    );
    assert_eq!(css.body, node::web::assets::STYLESHEET);
    // Pages are never cached: they carry the session's CSRF token.
    assert_eq!(login.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn a_node_without_its_relay_says_so_on_every_page() {
    let school = TestSchool::start().await;
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    for path in ["/home", "/accessibility"] {
        let page = pupil.get(path).await;
        let banner = page.texts(".offline-banner[role=status]");
        assert_eq!(banner.len(), 1, "{path} has the banner");
        assert!(
            banner[0].contains("Koulun verkkoyhteys on nyt poikki"),
            "{banner:?}"
        );
    }
    // A change made offline is counted.
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    create_assignment(&mut teacher, "Counted").await;
    let page = pupil.get("/home").await;
    let banner = page.texts(".offline-banner").join(" ");
    let waiting = school.node.state.sync.view().documents_waiting_to_send;
    if waiting > 0 {
        assert!(banner.contains(&waiting.to_string()), "{banner}");
    }
}

#[tokio::test]
async fn every_role_has_a_home_page() {
    let school = TestSchool::start().await;
    for (username, section) in [
        (PUPIL, "#due-heading"),
        (TEACHER, "#review-heading"),
        ("marja.makinen", "#children-heading"),
        ("sari.lehtonen", "#node-heading"),
    ] {
        let mut browser = Browser::logged_in(&school, username).await;
        let home = browser.get("/home").await;
        assert_eq!(home.status, StatusCode::OK, "{username}");
        assert_eq!(home.texts(section).len(), 1, "{username} sees {section}");
    }
}

/// A teacher of two groups sets the same assignment in both; the home page's list of work to
/// review names each entry's class, so the two are told apart.
#[tokio::test]
async fn the_review_list_names_the_class_of_each_assignment() {
    let school = TestSchool::start().await;
    let api = school.login(TEACHER).await;
    let due_at = node::api::node_now_millis() + 7 * 24 * 60 * 60 * 1000;
    for (class, pupil) in [("CLS-7A-MA", PUPIL), ("CLS-7B-MA", "leo.koskinen08")] {
        let (status, assignment) = api
            .post(
                &format!("/api/v1/classes/{class}/assignments"),
                serde_json::json!({
                    "title": "Murtolukujen yhteenlasku",
                    "instructions": "Tehtävät 1–5.",
                    "due_at": due_at,
                    "cut_off_at": due_at,
                }),
            )
            .await;
        assert_eq!(status, 201, "{assignment}");
        let id = assignment["id"].as_str().expect("id").to_owned();
        let (status, submission) = school
            .login(pupil)
            .await
            .put(
                &format!("/api/v1/assignments/{id}/submission"),
                serde_json::json!({ "text": "Valmis.", "submit": true }),
            )
            .await;
        assert_eq!(status, 200, "{submission}");
    }
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let home = teacher.get("/home").await;
    let mut entries = home.texts("section[aria-labelledby=review-heading] li");
    entries.sort();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(
        entries[0].contains("Murtolukujen yhteenlasku") && entries[0].contains("7A matematiikka"),
        "{entries:?}"
    );
    assert!(
        entries[1].contains("Murtolukujen yhteenlasku") && entries[1].contains("7B matematiikka"),
        "{entries:?}"
    );
}

#[tokio::test]
async fn a_pupil_reads_and_answers_a_message() {
    let school = TestSchool::start().await;
    let api = school.login(TEACHER).await;
    let (status, started) = api
        .post(
            "/api/v1/threads",
            serde_json::json!({
                "participants": [PUPIL_ID],
                "subject": "Homework",
                "body": "Remember page 42.",
            }),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let thread = started["id"].as_str().expect("thread id").to_owned();

    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    let home = pupil.get("/home").await;
    assert!(home.links("a").contains(&format!("/messages/{thread}")));
    let list = pupil.get("/messages").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Homework"));
    let page = pupil.get(&format!("/messages/{thread}")).await;
    assert!(page.body.contains("Remember page 42."));
    let csrf = page.csrf_token();

    let empty = pupil
        .post_form(
            &format!("/messages/{thread}"),
            &[("csrf_token", &csrf), ("body", " ")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(empty.texts("#body-error").len(), 1);

    let sent = pupil
        .post_form(
            &format!("/messages/{thread}"),
            &[("csrf_token", &csrf), ("body", "I will.")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let (_, view) = api.get(&format!("/api/v1/threads/{thread}")).await;
    let bodies: Vec<&str> = view["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|message| message["body"].as_str())
        .collect();
    assert_eq!(bodies, ["Remember page 42.", "I will."]);
    // Replying counted the thread as read.
    let home = pupil.get("/home").await;
    assert!(!home.links("a").contains(&format!("/messages/{thread}")));
}

#[tokio::test]
async fn a_teacher_marks_a_lessons_attendance() {
    let school = TestSchool::start().await;
    let lesson = monday_maths_lesson(&school).await;
    let path = format!("/classes/{MATHS_7A}/attendance/2025-09-08/{lesson}");
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let page = teacher.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        page.texts("fieldset legend").len(),
        6,
        "the six pupils of 7A"
    );
    let csrf = page.csrf_token();

    // A value that is no status: refused, nothing saved.
    let refused = teacher
        .post_form(&path, &[("csrf_token", &csrf), ("mark-P01", "gone")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let api = school.login(TEACHER).await;
    let (_, day) = api
        .get(&format!("/api/v1/classes/{MATHS_7A}/attendance/2025-09-08"))
        .await;
    assert_eq!(day["marks"].as_array().map(Vec::len), Some(0));

    let mut fields = vec![("csrf_token", csrf.as_str())];
    let pupils = ["P01", "P02", "P03", "P04", "P05", "P06"];
    let names: Vec<String> = pupils.iter().map(|pupil| format!("mark-{pupil}")).collect();
    for (index, name) in names.iter().enumerate() {
        let status = match index {
            0 => "absent",
            1 => "late",
            _ => "present",
        };
        fields.push((name.as_str(), status));
    }
    let saved = teacher.post_form(&path, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let (_, day) = api
        .get(&format!("/api/v1/classes/{MATHS_7A}/attendance/2025-09-08"))
        .await;
    let marks = day["marks"].as_array().expect("marks");
    assert_eq!(marks.len(), 6);
    let p01 = marks
        .iter()
        .find(|mark| mark["pupil"] == "P01")
        .expect("P01 marked");
    assert_eq!(p01["status"], "absent");
    let page = teacher.get(&format!("{path}?done=marked")).await;
    let selector = scraper::Selector::parse("#mark-P01-absent").expect("selector");
    assert!(
        page.html()
            .select(&selector)
            .next()
            .and_then(|radio| radio.value().attr("checked"))
            .is_some(),
        "the saved mark is shown"
    );

    // A pupil may not see it.
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    assert_eq!(pupil.get(&path).await.status, StatusCode::FORBIDDEN);
}

/// The CSV files of a fixture package as file parts.
fn package_parts(fixture: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oneroster")
        .join(fixture);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("fixture")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .expect("name")
                .to_owned();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn school_it_imports_the_roster_and_a_bad_package_changes_nothing() {
    let school = TestSchool::start().await;
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    assert_eq!(
        pupil.get("/admin/roster").await.status,
        StatusCode::FORBIDDEN
    );

    let mut admin = Browser::logged_in(&school, "sari.lehtonen").await;
    let page = admin.get("/admin/roster").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf_token();

    let nothing = admin
        .post_multipart("/admin/roster", &[Part::Text("csrf_token", &csrf)])
        .await;
    assert_eq!(nothing.status, StatusCode::BAD_REQUEST);
    assert_eq!(nothing.texts("#files-error").len(), 1);

    let api = school.login("sari.lehtonen").await;
    let (_, before) = api.get("/api/v1/classes").await;
    let broken = package_parts("broken-bad-reference");
    let mut parts = vec![Part::Text("csrf_token", &csrf)];
    for (name, content) in &broken {
        parts.push(Part::File("files", name, "text/csv", content));
    }
    let refused = admin.post_multipart("/admin/roster", &parts).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !refused.texts(".problems li").is_empty(),
        "the problems are listed"
    );
    assert_eq!(refused.texts("#files-error").len(), 1);
    let (_, after) = api.get("/api/v1/classes").await;
    assert_eq!(before, after, "nothing changed");

    let delta = package_parts("delta");
    let mut parts = vec![Part::Text("csrf_token", &csrf)];
    for (name, content) in &delta {
        parts.push(Part::File("files", name, "text/csv", content));
    }
    let imported = admin.post_multipart("/admin/roster", &parts).await;
    assert_eq!(imported.status, StatusCode::SEE_OTHER, "{}", imported.body);
    assert_eq!(
        imported.location().as_deref(),
        Some("/admin/roster?done=imported")
    );
}

// ---------------------------------------------------------------------------------------------
// Absences, materials, announcements, new conversations, users: the rest of the pages.
// ---------------------------------------------------------------------------------------------

const GUARDIAN: &str = "marja.makinen";
const ADMIN: &str = "sari.lehtonen";
/// The Monday of the maths lesson in the autumn term 2025 (the node's past, so it may be marked).
const MONDAY: &str = "2025-09-08";

/// Marks P01 absent at the Monday maths lesson through the teacher's form.
async fn mark_pupil_absent(school: &TestSchool, lesson: &str) {
    let mut teacher = Browser::logged_in(school, TEACHER).await;
    let path = format!("/classes/{MATHS_7A}/attendance/{MONDAY}/{lesson}");
    let page = teacher.get(&path).await;
    let csrf = page.csrf_token();
    let marked = teacher
        .post_form(
            &path,
            &[
                ("csrf_token", &csrf),
                (&format!("mark-{PUPIL_ID}"), "absent"),
            ],
        )
        .await;
    assert_eq!(marked.status, StatusCode::SEE_OTHER, "{}", marked.body);
}

#[tokio::test]
async fn a_guardian_sees_and_explains_a_childs_absences() {
    let school = TestSchool::start().await;
    let lesson = monday_maths_lesson(&school).await;
    mark_pupil_absent(&school, &lesson).await;

    let mut guardian = Browser::logged_in(&school, GUARDIAN).await;
    let home = guardian.get("/home").await;
    let absences_path = format!("/pupils/{PUPIL_ID}/absences");
    assert!(
        home.links("#children-heading ~ ul a")
            .contains(&absences_path),
        "{}",
        home.body
    );
    assert!(
        home.texts("#children-heading ~ ul a")
            .iter()
            .any(|text| text.contains('1')),
        "the home page counts one absence to explain: {:?}",
        home.texts("#children-heading ~ ul a")
    );
    let page = guardian.get(&absences_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.texts("#to-clear-heading ~ table tbody tr").len(), 1);
    // The form starts at the absence to explain.
    let first_date = page.html();
    let selector = scraper::Selector::parse("#first_date").expect("selector");
    assert_eq!(
        first_date
            .select(&selector)
            .next()
            .and_then(|input| input.value().attr("value")),
        Some(MONDAY)
    );
    let csrf = page.csrf_token();

    // Bad dates and a missing reason are shown by their fields and change nothing.
    let refused = guardian
        .post_form(
            &format!("{absences_path}/explain"),
            &[
                ("csrf_token", &csrf),
                ("first_date", "yesterday"),
                ("last_date", "2025-09-01"),
                ("reason", " "),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.texts("#first_date-error").len(), 1);
    assert_eq!(refused.texts("#reason-error").len(), 1);
    let backwards = guardian
        .post_form(
            &format!("{absences_path}/explain"),
            &[
                ("csrf_token", &csrf),
                ("first_date", MONDAY),
                ("last_date", "2025-09-01"),
                ("reason", "Flu"),
            ],
        )
        .await;
    assert_eq!(backwards.status, StatusCode::BAD_REQUEST);
    assert_eq!(backwards.texts("#last_date-error").len(), 1);
    let api = school.login(GUARDIAN).await;
    let (_, before) = api
        .get(&format!("/api/v1/pupils/{PUPIL_ID}/absences"))
        .await;
    assert_eq!(before["reports"], serde_json::json!([]));

    let explained = guardian
        .post_form(
            &format!("{absences_path}/explain"),
            &[
                ("csrf_token", &csrf),
                ("first_date", MONDAY),
                ("last_date", ""),
                ("reason", "Flu"),
            ],
        )
        .await;
    assert_eq!(
        explained.status,
        StatusCode::SEE_OTHER,
        "{}",
        explained.body
    );
    let (_, after) = api
        .get(&format!("/api/v1/pupils/{PUPIL_ID}/absences"))
        .await;
    assert_eq!(after["absences"][0]["explained"], true, "{after}");
    assert_eq!(after["reports"][0]["reason"], "Flu");
    let page = guardian
        .get(&format!("{absences_path}?done=explained"))
        .await;
    assert_eq!(page.texts(".notice").len(), 1);
    assert!(page.texts("#to-clear-heading ~ table").is_empty());

    // A report filed earlier (through the API, as a phone app would) is cleared with its button.
    let (status, report) = api
        .post(
            &format!("/api/v1/pupils/{PUPIL_ID}/absence-reports"),
            serde_json::json!({ "first_date": "2025-09-15", "reason": "Dentist" }),
        )
        .await;
    assert_eq!(status, 201, "{report}");
    let page = guardian.get(&absences_path).await;
    assert!(page.body.contains("Dentist"));
    let cleared = guardian
        .post_form(
            &format!("{absences_path}/clear"),
            &[
                ("csrf_token", &page.csrf_token()),
                ("report_id", report["id"].as_str().expect("id")),
            ],
        )
        .await;
    assert_eq!(cleared.status, StatusCode::SEE_OTHER, "{}", cleared.body);
    let (_, reports) = api
        .get(&format!("/api/v1/pupils/{PUPIL_ID}/absences"))
        .await;
    assert!(
        reports["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .all(|report| report["cleared"] == true),
        "{reports}"
    );

    // Someone else's child is not this guardian's business.
    let other = guardian.get("/pupils/P03/absences").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    // A pupil sees their own absences but has nothing to explain with.
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    let own = pupil.get(&absences_path).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.texts("#explain-heading").is_empty());
}

#[tokio::test]
async fn a_teacher_shares_materials_that_the_class_opens() {
    let school = TestSchool::start().await;
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let path = format!("/classes/{MATHS_7A}/materials");
    let home = teacher.get("/home").await;
    assert!(home.links("a").contains(&path));
    let page = teacher.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf_token();

    let nothing = teacher
        .post_multipart(
            &path,
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("title", "Notes"),
            ],
        )
        .await;
    assert_eq!(nothing.status, StatusCode::BAD_REQUEST);
    assert_eq!(nothing.texts("#url-error").len(), 1);
    let bad_link = teacher
        .post_multipart(
            &path,
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("title", "Notes"),
                Part::Text("url", "javascript:alert(1)"),
            ],
        )
        .await;
    assert_eq!(
        bad_link.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_link.body
    );
    assert_eq!(bad_link.texts("#url-error").len(), 1);

    let shared_file = teacher
        .post_multipart(
            &path,
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("title", "Worksheet"),
                Part::File("file", "worksheet.txt", "text/plain", b"1 + 1 = ?"),
            ],
        )
        .await;
    assert_eq!(
        shared_file.status,
        StatusCode::SEE_OTHER,
        "{}",
        shared_file.body
    );
    let shared_link = teacher
        .post_multipart(
            &path,
            &[
                Part::Text("csrf_token", &csrf),
                Part::Text("title", "Calculator"),
                Part::Text("url", "https://www.geogebra.org/calculator"),
                Part::File("file", "", "application/octet-stream", b""),
            ],
        )
        .await;
    assert_eq!(
        shared_link.status,
        StatusCode::SEE_OTHER,
        "{}",
        shared_link.body
    );

    // A pupil of the class finds both from the home page, and the file opens whole.
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    let home = pupil.get("/home").await;
    assert!(home.links("a").contains(&path), "{}", home.body);
    let list = pupil.get(&path).await;
    assert!(
        list.links("a")
            .contains(&"https://www.geogebra.org/calculator".to_owned())
    );
    let download = list
        .links("a[download]")
        .into_iter()
        .next()
        .expect("the worksheet's link");
    let file = pupil.get(&download).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, "1 + 1 = ?");
    // The pupil has no share form, and a forged one stores nothing.
    assert!(list.texts("#share-heading").is_empty());
    let forged = pupil
        .post_multipart(
            &path,
            &[
                Part::Text("csrf_token", &list.csrf_token()),
                Part::Text("title", "Mine"),
                Part::Text("url", "https://example.org/"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let api = school.login(TEACHER).await;
    let (_, materials) = api
        .get(&format!("/api/v1/classes/{MATHS_7A}/materials"))
        .await;
    assert_eq!(materials.as_array().map(Vec::len), Some(2), "{materials}");

    // The teacher removes the link.
    let link_id = materials
        .as_array()
        .expect("materials")
        .iter()
        .find(|material| material["kind"] == "link")
        .and_then(|material| material["id"].as_str())
        .expect("the link")
        .to_owned();
    let removed = teacher
        .post_form(
            &format!("{path}/{link_id}/remove"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let (_, materials) = api
        .get(&format!("/api/v1/classes/{MATHS_7A}/materials"))
        .await;
    assert_eq!(materials.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn an_upload_over_the_limit_gets_413_and_stores_nothing() {
    // A small limit, so the test sends little; the rule is the same at 50 MiB.
    let school = TestSchool::start_with(|config| config.http.max_upload_bytes = 64 * 1024).await;
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let id = create_assignment(&mut teacher, "Essay").await;
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    let page = pupil.get(&format!("/assignments/{id}")).await;
    let csrf = page.csrf_token();
    // Over the file limit but inside the body's bound: refused by the file's own check.
    let just_over = vec![b'x'; 64 * 1024 + 1];
    // Far over: the body's bound stops reading it.
    let far_over = vec![b'x'; 2 * 1024 * 1024];
    for content in [&just_over, &far_over] {
        let refused = pupil
            .post_multipart(
                &format!("/assignments/{id}/submission"),
                &[
                    Part::Text("csrf_token", &csrf),
                    Part::Text("text", "My essay"),
                    Part::File("file", "essay.txt", "text/plain", content),
                    Part::Text("action", "save"),
                ],
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{} bytes",
            content.len()
        );
        assert!(
            refused.headers["content-type"]
                .to_str()
                .expect("type")
                .starts_with("text/html")
        );
        assert_eq!(refused.texts("#file-error").len(), 1, "{}", refused.body);
    }
    let api = school.login(PUPIL).await;
    let (_, submission) = api
        .get(&format!("/api/v1/assignments/{id}/submissions/{PUPIL_ID}"))
        .await;
    assert!(
        submission["draft"].is_null() || submission["draft"]["files"] == serde_json::json!([]),
        "{submission}"
    );
}

#[tokio::test]
async fn announcements_are_published_read_and_withdrawn() {
    let school = TestSchool::start().await;
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let page = teacher.get("/announcements").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf_token();
    let audience = format!("class:{MATHS_7A}");
    // A teacher may not announce to the whole school, and empty fields are shown.
    let refused = teacher
        .post_form(
            "/announcements",
            &[
                ("csrf_token", &csrf),
                ("audience", "school"),
                ("title", ""),
                ("body", "Hello"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.texts("#audience-error").len(), 1);
    assert_eq!(refused.texts("#title-error").len(), 1);
    let past = teacher
        .post_form(
            "/announcements",
            &[
                ("csrf_token", &csrf),
                ("audience", &audience),
                ("title", "Test"),
                ("body", "Bring a ruler."),
                ("shown_until", "2020-01-01"),
            ],
        )
        .await;
    assert_eq!(past.status, StatusCode::BAD_REQUEST);
    assert_eq!(past.texts("#shown_until-error").len(), 1);
    let published = teacher
        .post_form(
            "/announcements",
            &[
                ("csrf_token", &csrf),
                ("audience", &audience),
                ("title", "Maths test on Friday"),
                ("body", "Bring a ruler."),
                ("shown_until", FUTURE_DATE),
            ],
        )
        .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );

    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    assert!(
        pupil
            .get("/home")
            .await
            .body
            .contains("Maths test on Friday")
    );
    let list = pupil.get("/announcements").await;
    assert!(list.body.contains("Bring a ruler."));
    assert!(
        list.texts("#publish-heading").is_empty(),
        "a pupil publishes nothing"
    );
    assert!(
        list.texts("form[action='/announcements/withdraw'] button")
            .is_empty()
    );

    let mut admin = Browser::logged_in(&school, ADMIN).await;
    let page = admin.get("/announcements").await;
    let school_wide = admin
        .post_form(
            "/announcements",
            &[
                ("csrf_token", &page.csrf_token()),
                ("audience", "school"),
                ("title", "School photo"),
                ("body", "Tuesday morning."),
            ],
        )
        .await;
    assert_eq!(
        school_wide.status,
        StatusCode::SEE_OTHER,
        "{}",
        school_wide.body
    );
    assert!(
        pupil
            .get("/announcements")
            .await
            .body
            .contains("School photo")
    );

    // The teacher withdraws theirs; the pupil no longer sees it.
    let mine = teacher.get("/announcements").await;
    let buttons = mine.texts("form[action='/announcements/withdraw'] button");
    assert_eq!(
        buttons.len(),
        1,
        "the teacher may withdraw only their own: {buttons:?}"
    );
    let html = mine.html();
    let selector =
        scraper::Selector::parse("form[action='/announcements/withdraw'] input[name=id]")
            .expect("selector");
    let announcement = html
        .select(&selector)
        .next()
        .and_then(|input| input.value().attr("value"))
        .expect("the id")
        .to_owned();
    let withdrawn = teacher
        .post_form(
            "/announcements/withdraw",
            &[
                ("csrf_token", &csrf),
                ("audience", &audience),
                ("id", &announcement),
            ],
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::SEE_OTHER);
    let after = pupil.get("/announcements").await;
    assert!(!after.body.contains("Maths test on Friday"));
    assert!(after.body.contains("School photo"));
}

#[tokio::test]
async fn conversations_are_started_within_the_safeguarding_rules() {
    let school = TestSchool::start().await;
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    let list = pupil.get("/messages").await;
    assert!(list.links("a").contains(&"/messages/new".to_owned()));
    let form = pupil.get("/messages/new").await;
    assert_eq!(form.status, StatusCode::OK);
    let html = form.html();
    let selector = scraper::Selector::parse("#to option").expect("selector");
    let offered: Vec<String> = html
        .select(&selector)
        .filter_map(|option| option.value().attr("value").map(str::to_owned))
        .collect();
    assert!(
        offered.contains(&"T01".to_owned()),
        "the pupil's teacher is offered: {offered:?}"
    );
    assert!(
        !offered.contains(&"P02".to_owned()),
        "pupils are never offered to pupils"
    );
    let csrf = form.csrf_token();

    // Writing to another pupil is refused by the API's rules, shown by the field.
    let refused = pupil
        .post_form(
            "/messages/new",
            &[
                ("csrf_token", &csrf),
                ("to", "P02"),
                ("subject", "Hi"),
                ("body", "Hello"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.texts("#to-error").len(), 1);
    let missing = pupil
        .post_form(
            "/messages/new",
            &[
                ("csrf_token", &csrf),
                ("to", ""),
                ("subject", ""),
                ("body", ""),
            ],
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.texts(".field-error").len(), 3);
    let api = school.login(PUPIL).await;
    let (_, threads) = api.get("/api/v1/threads").await;
    assert_eq!(threads, serde_json::json!([]), "nothing was started");

    let sent = pupil
        .post_form(
            "/messages/new",
            &[
                ("csrf_token", &csrf),
                ("to", "T01"),
                ("subject", "Homework"),
                ("body", "Which pages?"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let thread = sent.location().expect("the new thread");
    let teacher_api = school.login(TEACHER).await;
    let (_, inbox) = teacher_api.get("/api/v1/threads").await;
    assert_eq!(inbox[0]["subject"], "Homework");
    assert!(thread.starts_with(&format!(
        "/messages/{}",
        inbox[0]["id"].as_str().expect("id")
    )));

    // A link may name the person: the teacher writes to a guardian from the class's families.
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let to_guardian = teacher.get("/messages/new?to=G01").await;
    let html = to_guardian.html();
    let selector = scraper::Selector::parse("#to option[selected]").expect("selector");
    let chosen: Vec<&str> = html
        .select(&selector)
        .filter_map(|option| option.value().attr("value"))
        .collect();
    assert_eq!(chosen, ["G01"], "{}", to_guardian.body);
}

/// Issue 18, item 6: a pupil probes `/messages/new?to=` and the form's refusals with ids of
/// people they may not write to and with an id that names nobody. No name comes back, and every
/// probe is answered alike, so the page tells the pupil nothing the API keeps from them.
#[tokio::test]
async fn the_new_message_page_reveals_no_name_the_pupil_may_not_write_to() {
    let school = TestSchool::start().await;
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    // A pupil of another class, another family's guardian, a teacher of another school (not on
    // this node's roster) and an id that names nobody.
    let probes = [
        ("P07", "Koskinen"),
        ("G04", "Koskinen"),
        ("30077-T01", "30077-T01"),
        ("NOBODY", "NOBODY"),
    ];
    let mut pages = Vec::new();
    for (id, name) in probes {
        let page = pupil.get(&format!("/messages/new?to={id}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            !page.body.contains(name),
            "?to={id} must not show {name:?} to a pupil:\n{}",
            page.body
        );
        pages.push((id, page.body));
    }
    for (id, body) in &pages[1..] {
        assert_eq!(
            body, &pages[0].1,
            "?to={id} must read exactly like ?to={}",
            pages[0].0
        );
    }

    // Sending the form to each of them is refused, each time with the same status and page.
    let csrf = pupil.get("/messages/new").await.csrf_token();
    let mut refusals = Vec::new();
    for (id, name) in probes {
        let refused = pupil
            .post_form(
                "/messages/new",
                &[
                    ("csrf_token", &csrf),
                    ("to", id),
                    ("subject", "Hei"),
                    ("body", "Kuka olet?"),
                ],
            )
            .await;
        assert!(!refused.body.contains(name), "{}", refused.body);
        assert_eq!(refused.texts("#to-error").len(), 1, "{}", refused.body);
        refusals.push((id, refused.status, refused.body));
    }
    for (id, status, body) in &refusals[1..] {
        assert_eq!(
            (status, body),
            (&refusals[0].1, &refusals[0].2),
            "the refusal of {id} must read exactly like that of {}",
            refusals[0].0
        );
    }

    // Someone the pupil may write to is still chosen by the link, with their name: every adult
    // of the school, the teacher of another class included (the API's rule).
    let to_teacher = pupil.get("/messages/new?to=T02").await;
    let html = to_teacher.html();
    let selector = scraper::Selector::parse("#to option[selected]").expect("selector");
    let chosen: Vec<String> = html
        .select(&selector)
        .map(|option| option.text().collect())
        .collect();
    assert_eq!(chosen, ["Mikko Nieminen"], "{}", to_teacher.body);
}

#[tokio::test]
async fn school_it_finds_users_and_sets_a_password() {
    let school = TestSchool::start().await;
    let mut admin = Browser::logged_in(&school, ADMIN).await;
    let home = admin.get("/home").await;
    assert!(home.links("a").contains(&"/admin/users".to_owned()));
    let all = admin.get("/admin/users").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.texts("tbody tr").len() > 1);
    let found = admin.get("/admin/users?q=AINO.MAKINEN").await;
    let rows = found.texts("tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains(PUPIL));
    let password_path = format!("/admin/users/{PUPIL}/password");
    assert!(found.links("tbody a").contains(&password_path));

    let form = admin.get(&password_path).await;
    let csrf = form.csrf_token();
    let short = admin
        .post_form(
            &password_path,
            &[("csrf_token", &csrf), ("password", "short")],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert_eq!(short.texts("#password-error").len(), 1);
    assert!(
        Browser::new(&school)
            .post_form(
                "/login",
                &[("username", PUPIL), ("password", common::PASSWORD)]
            )
            .await
            .status
            == StatusCode::SEE_OTHER,
        "the old password still works"
    );
    let set = admin
        .post_form(
            &password_path,
            &[("csrf_token", &csrf), ("password", "a new long password")],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let with_new = Browser::new(&school)
        .post_form(
            "/login",
            &[("username", PUPIL), ("password", "a new long password")],
        )
        .await;
    assert_eq!(with_new.status, StatusCode::SEE_OTHER);
    let with_old = Browser::new(&school)
        .post_form(
            "/login",
            &[("username", PUPIL), ("password", common::PASSWORD)],
        )
        .await;
    assert_ne!(with_old.status, StatusCode::SEE_OTHER);

    // Teachers do not administer users.
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    assert_eq!(
        teacher.get("/admin/users").await.status,
        StatusCode::FORBIDDEN
    );
    let page = teacher.get("/home").await;
    let forged = teacher
        .post_form(
            &password_path,
            &[
                ("csrf_token", &page.csrf_token()),
                ("password", "teacher chose this"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_language_link_never_redirects_off_the_node_or_breaks_the_response() {
    let school = TestSchool::start().await;
    let mut visitor = Browser::new(&school);
    for back in [
        "%2Fhome%0D%0ASet-Cookie%3A%20x%3Dy",
        "%2F%2Fevil.example%2F",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
    ] {
        let page = visitor.get(&format!("/language/en?back={back}")).await;
        assert!(page.status.is_redirection(), "{back}: {}", page.status);
        assert_eq!(page.location().as_deref(), Some("/home"), "{back}");
    }
    // A path of this node with letters beyond ASCII still answers with a redirect.
    let unicode = visitor.get("/language/fi?back=%2F%C3%A4").await;
    assert!(unicode.status.is_redirection(), "{}", unicode.status);
    let kept = visitor.get("/language/sv?back=%2Fmessages").await;
    assert_eq!(kept.location().as_deref(), Some("/messages"));
}

#[tokio::test]
async fn home_pages_list_the_tools_the_school_activated() {
    let school = TestSchool::start().await;
    school
        .publish_service(
            "kirjasto",
            "https://kirjasto.example.fi/callback",
            &["profile"],
            Some("https://kirjasto.example.fi/login"),
            false,
            node::model::catalogue::ServiceCategory::Common,
        )
        .await;
    school
        .publish_service(
            "laskin",
            "https://laskin.example.fi/callback",
            &["profile"],
            Some("https://laskin.example.fi/"),
            true,
            node::model::catalogue::ServiceCategory::Common,
        )
        .await;
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    assert!(
        pupil.get("/home").await.texts("#tools-heading").is_empty(),
        "nothing is activated yet"
    );

    let admin = school.login(ADMIN).await;
    let (status, activated) = admin
        .put(
            "/api/v1/services/kirjasto/activation",
            serde_json::json!({ "approved_claims": ["profile"] }),
        )
        .await;
    assert_eq!(status, 200, "{activated}");
    for home in [
        pupil.get("/home").await,
        Browser::logged_in(&school, TEACHER)
            .await
            .get("/home")
            .await,
    ] {
        let tools = home.links("#tools-heading ~ ul a");
        assert_eq!(
            tools,
            ["https://kirjasto.example.fi/login"],
            "{}",
            home.body
        );
        // The test node has no relay, so it is offline: a tool that needs the internet says so.
        assert_eq!(home.texts("#tools-heading ~ ul .meta").len(), 2);
    }
    // Guardians have no tools section.
    let guardian = Browser::logged_in(&school, GUARDIAN)
        .await
        .get("/home")
        .await;
    assert!(guardian.texts("#tools-heading").is_empty());
}

#[tokio::test]
async fn school_it_takes_a_service_into_use_and_reads_the_audit_log() {
    let school = TestSchool::start().await;
    school
        .publish_service(
            "kirjasto",
            "https://kirjasto.example.fi/callback",
            &["profile", "urn:mpass.id:class"],
            Some("https://kirjasto.example.fi/login"),
            true,
            node::model::catalogue::ServiceCategory::Common,
        )
        .await;
    let mut admin = Browser::logged_in(&school, ADMIN).await;
    let home = admin.get("/home").await;
    assert!(home.links("a").contains(&"/admin/services".to_owned()));
    let list = admin.get("/admin/services").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.links("tbody a")
            .contains(&"/admin/services/kirjasto".to_owned())
    );
    let page = admin.get("/admin/services/kirjasto").await;
    assert_eq!(page.texts("#claims input[type=checkbox]").len(), 2);
    let csrf = page.csrf_token();

    // A claim that is not one of the seven is refused and changes nothing.
    let bogus = admin
        .post_form(
            "/admin/services/kirjasto",
            &[
                ("csrf_token", &csrf),
                ("claim", "password"),
                ("action", "activate"),
            ],
        )
        .await;
    assert_eq!(bogus.status, StatusCode::BAD_REQUEST);
    let api = school.login(ADMIN).await;
    let (_, services) = api.get("/api/v1/services").await;
    assert!(services[0]["activation"].is_null(), "{services}");

    let activated = admin
        .post_form(
            "/admin/services/kirjasto",
            &[
                ("csrf_token", &csrf),
                ("claim", "profile"),
                ("action", "activate"),
            ],
        )
        .await;
    assert_eq!(
        activated.status,
        StatusCode::SEE_OTHER,
        "{}",
        activated.body
    );
    let (_, services) = api.get("/api/v1/services").await;
    assert_eq!(
        services[0]["activation"]["approved_claims"],
        serde_json::json!(["profile"])
    );
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    assert_eq!(
        pupil.get("/home").await.links("#tools-heading ~ ul a"),
        ["https://kirjasto.example.fi/login"]
    );

    // The audit log lists what was given, newest first, with the user's name.
    let now = node::model::common::NodeTime::from_unix_millis(node::api::node_now_millis());
    for event in [
        node::model::audit::AuditEvent::Grant,
        node::model::audit::AuditEvent::TokenIssued,
    ] {
        school
            .node
            .state
            .oidc
            .audit
            .record(node::model::audit::AuditEntry {
                at: now,
                event,
                user: PUPIL_ID.to_owned(),
                service: "kirjasto".to_owned(),
                claims: vec![node::model::catalogue::ReleasableClaim::Profile],
                records: None,
                detail: None,
            })
            .expect("recorded");
    }
    let audit = admin.get("/admin/audit").await;
    assert_eq!(audit.status, StatusCode::OK);
    let rows = audit.texts("tbody tr");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|row| row.contains("Aino") && row.contains("kirjasto"))
    );

    // Teachers and pupils administer nothing here.
    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    assert_eq!(
        teacher.get("/admin/services").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        teacher.get("/admin/audit").await.status,
        StatusCode::FORBIDDEN
    );
    let teacher_csrf = teacher.get("/home").await.csrf_token();
    let forged = teacher
        .post_form(
            "/admin/services/kirjasto",
            &[("csrf_token", &teacher_csrf), ("action", "deactivate")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let deactivated = admin
        .post_form(
            "/admin/services/kirjasto",
            &[("csrf_token", &csrf), ("action", "deactivate")],
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::SEE_OTHER);
    assert!(pupil.get("/home").await.texts("#tools-heading").is_empty());
}

#[tokio::test]
async fn a_teacher_places_an_optional_tool_in_a_group_and_only_that_group_sees_it() {
    use node::model::catalogue::ServiceCategory;
    let school = TestSchool::start().await;
    school
        .publish_service(
            "sanasto",
            "https://sanasto.example.fi/callback",
            &["profile"],
            Some("https://sanasto.example.fi/"),
            true,
            ServiceCategory::Optional,
        )
        .await;
    school
        .publish_service(
            "ei-kaytossa",
            "https://ei.example.fi/callback",
            &["profile"],
            Some("https://ei.example.fi/"),
            true,
            ServiceCategory::Optional,
        )
        .await;
    let admin = school.login(ADMIN).await;
    let (status, _) = admin
        .put(
            "/api/v1/services/sanasto/activation",
            serde_json::json!({ "approved_claims": [] }),
        )
        .await;
    assert_eq!(status, 200);
    // Activated but optional: nobody has it until a teacher places it.
    let mut pupil = Browser::logged_in(&school, PUPIL).await;
    assert!(pupil.get("/home").await.texts("#tools-heading").is_empty());

    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let path = format!("/classes/{MATHS_7A}/materials");
    let page = teacher.get(&path).await;
    let html = page.html();
    let selector = scraper::Selector::parse("#service option").expect("selector");
    let offered: Vec<&str> = html
        .select(&selector)
        .filter_map(|option| option.value().attr("value"))
        .collect();
    assert_eq!(offered, ["sanasto"], "only services in use are offered");
    let csrf = page.csrf_token();
    // A service the school does not use cannot be placed, whatever the form says.
    let refused = teacher
        .post_form(
            &format!("/classes/{MATHS_7A}/tools"),
            &[("csrf_token", &csrf), ("service", "ei-kaytossa")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let placed = teacher
        .post_form(
            &format!("/classes/{MATHS_7A}/tools"),
            &[("csrf_token", &csrf), ("service", "sanasto")],
        )
        .await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);

    // The group's pupil and teacher have it; a pupil outside the group does not.
    assert_eq!(
        pupil.get("/home").await.links("#tools-heading ~ ul a"),
        ["https://sanasto.example.fi/"]
    );
    assert!(
        pupil
            .get(&path)
            .await
            .links("#class-tools-heading ~ ul a")
            .contains(&"https://sanasto.example.fi/".to_owned())
    );
    assert_eq!(
        teacher.get("/home").await.links("#tools-heading ~ ul a"),
        ["https://sanasto.example.fi/"]
    );
    let (_, outsider_classes) = school.login("veera.laine03").await.get("/api/v1/me").await;
    let outsider_in_7a = outsider_classes["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .any(|class| class["id"] == MATHS_7A);
    let outsider_tools = school
        .login("veera.laine03")
        .await
        .get("/api/v1/tools")
        .await
        .1;
    assert_eq!(
        outsider_tools.as_array().map(Vec::len),
        Some(usize::from(outsider_in_7a)),
        "{outsider_tools}"
    );
    // A pupil cannot place or remove tools.
    let pupil_csrf = pupil.get(&path).await.csrf_token();
    let forged = pupil
        .post_form(
            &format!("/classes/{MATHS_7A}/tools/sanasto/remove"),
            &[("csrf_token", &pupil_csrf)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let removed = teacher
        .post_form(
            &format!("/classes/{MATHS_7A}/tools/sanasto/remove"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(pupil.get("/home").await.texts("#tools-heading").is_empty());
}

#[tokio::test]
async fn hostile_input_to_the_new_pages_gets_a_clear_refusal_and_changes_nothing() {
    let school = TestSchool::start().await;
    let mut guardian = Browser::logged_in(&school, GUARDIAN).await;
    let csrf = guardian.get("/home").await.csrf_token();
    // Ids that name nothing, with characters a path can carry.
    for path in ["/pupils/%00%0A/absences", "/pupils/..%2F..%2Fetc/absences"] {
        let page = guardian.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            page.headers["content-type"]
                .to_str()
                .expect("type")
                .starts_with("text/html")
        );
    }
    // A reason far over the bound, and dates that are not dates, are shown on the form.
    let long_reason = "x".repeat(100_000);
    let refused = guardian
        .post_form(
            &format!("/pupils/{PUPIL_ID}/absences/explain"),
            &[
                ("csrf_token", &csrf),
                ("first_date", "2025-02-30"),
                ("reason", &long_reason),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.texts("#first_date-error").len(), 1);
    assert_eq!(refused.texts("#reason-error").len(), 1);
    // Clearing a report that does not exist.
    let missing = guardian
        .post_form(
            &format!("/pupils/{PUPIL_ID}/absences/clear"),
            &[("csrf_token", &csrf), ("report_id", "not-a-report")],
        )
        .await;
    assert!(missing.status.is_client_error(), "{}", missing.status);
    let api = school.login(GUARDIAN).await;
    let (_, absences) = api
        .get(&format!("/api/v1/pupils/{PUPIL_ID}/absences"))
        .await;
    assert_eq!(
        absences["reports"],
        serde_json::json!([]),
        "nothing was filed"
    );

    let mut teacher = Browser::logged_in(&school, TEACHER).await;
    let csrf = teacher.get("/home").await.csrf_token();
    // An announcement to an audience that is not one, and a withdrawal of nothing.
    let bogus_audience = teacher
        .post_form(
            "/announcements",
            &[
                ("csrf_token", &csrf),
                ("audience", "class:CLS-NOT-MINE"),
                ("title", "T"),
                ("body", "B"),
            ],
        )
        .await;
    assert_eq!(bogus_audience.status, StatusCode::BAD_REQUEST);
    let withdraw = teacher
        .post_form(
            "/announcements/withdraw",
            &[("csrf_token", &csrf), ("audience", "everyone"), ("id", "x")],
        )
        .await;
    assert_eq!(withdraw.status, StatusCode::BAD_REQUEST);
    // A tool id far over any bound.
    let long_id = "t".repeat(5_000);
    let tool = teacher
        .post_form(
            &format!("/classes/{MATHS_7A}/tools"),
            &[("csrf_token", &csrf), ("service", &long_id)],
        )
        .await;
    assert_eq!(tool.status, StatusCode::BAD_REQUEST);
    // A share form whose title is not UTF-8.
    let page = teacher.get(&format!("/classes/{MATHS_7A}/materials")).await;
    let not_utf8 = teacher
        .post_multipart(
            &format!("/classes/{MATHS_7A}/materials"),
            &[
                Part::Text("csrf_token", &page.csrf_token()),
                Part::File("title", "", "text/plain", &[0xff, 0xfe, 0xfd]),
                Part::Text("url", "https://example.fi/"),
            ],
        )
        .await;
    assert_eq!(not_utf8.status, StatusCode::BAD_REQUEST);
    let teacher_api = school.login(TEACHER).await;
    let (_, materials) = teacher_api
        .get(&format!("/api/v1/classes/{MATHS_7A}/materials"))
        .await;
    assert_eq!(materials, serde_json::json!([]), "nothing was shared");
    let (_, announcements) = teacher_api.get("/api/v1/announcements").await;
    assert_eq!(
        announcements,
        serde_json::json!([]),
        "nothing was announced"
    );

    // A search longer than any name is cut, not refused; a page number past the end shows the last.
    let mut admin = Browser::logged_in(&school, ADMIN).await;
    let search = admin
        .get(&format!(
            "/admin/users?q={}&page=999999",
            "a".repeat(10_000)
        ))
        .await;
    assert_eq!(search.status, StatusCode::OK);
    let no_user = admin.get("/admin/users/nobody-at-all/password").await;
    assert_eq!(no_user.status, StatusCode::NOT_FOUND);
    let bad_page = admin.get("/admin/users?page=-1").await;
    assert!(bad_page.status.is_client_error(), "{}", bad_page.status);
}
