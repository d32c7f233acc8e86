//! The web UI over real HTTP on loopback against a real node (sled store, the bulk roster fixture):
//! logging in and out, the assignment cycle through forms (create, submit with a file, return with
//! feedback, read the feedback), form errors that change nothing, CSRF, languages, security headers
//! on every kind of response, the hashed stylesheet and the offline banner.

mod common;
mod web_common;

use common::TestSchool;
use reqwest::StatusCode;
use web_common::{Browser, Part};

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

/// 7A maths on Mondays 08:15 in the autumn term 2025 (in the node's past, so it may be marked);
/// answers the lesson's id.
async fn monday_maths_lesson(school: &TestSchool) -> String {
    let admin = school.login("sari.lehtonen").await;
    let (status, timetable) = admin
        .put(
            &format!("/api/v1/classes/{MATHS_7A}/timetable/TERM-2025-S"),
            serde_json::json!({ "lessons": [
                { "weekday": "monday", "start": "08:15", "end": "09:00", "room": "B204", "teacher": "T01" },
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{timetable}");
    timetable["lessons"][0]["id"]
        .as_str()
        .expect("lesson id")
        .to_owned()
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
