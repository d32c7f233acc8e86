//! Automated accessibility checks (WCAG 2.1 AA, the parts a parser can judge) over every page of
//! the web UI, for every role and in every language, including forms showing their errors; and
//! the WCAG contrast of the stylesheet's palette.

mod common;
mod web_common;

use std::collections::{BTreeMap, BTreeSet};

use common::TestSchool;
use reqwest::StatusCode;
use scraper::{ElementRef, Html, Selector};
use web_common::{Browser, Part, monday_maths_lesson};

const MATHS_7A: &str = "CLS-7A-MA";

fn select<'html>(html: &'html Html, css: &str) -> Vec<ElementRef<'html>> {
    let selector = Selector::parse(css).expect("selector");
    html.select(&selector).collect()
}

fn text_of(element: &ElementRef<'_>) -> String {
    element.text().collect::<String>().trim().to_owned()
}

/// Every check on one page; answers the problems found.
fn problems_of(html: &Html, language: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lang = select(html, "html")
        .first()
        .and_then(|root| root.value().attr("lang").map(str::to_owned));
    if lang.as_deref() != Some(language) {
        problems.push(format!("html lang is {lang:?}, not {language}"));
    }
    if select(html, "title")
        .first()
        .is_none_or(|title| text_of(title).is_empty())
    {
        problems.push("no title".into());
    }
    let mains = select(html, "main");
    if mains.len() != 1 {
        problems.push(format!("{} main landmarks", mains.len()));
    }
    if select(html, "header").len() != 1 || select(html, "footer").len() != 1 {
        problems.push("no single banner and contentinfo".into());
    }
    // The skip link comes first and leads to the main content.
    let first_link = select(html, "a").into_iter().next();
    if first_link.and_then(|link| link.value().attr("href")) != Some("#main")
        || select(html, "main#main").is_empty()
    {
        problems.push("the first link is not a skip link to #main".into());
    }

    // Headings: one h1, first, and no level skipped going down.
    let headings: Vec<u8> = select(html, "h1, h2, h3, h4, h5, h6")
        .iter()
        .map(|heading| heading.value().name()[1..].parse().expect("level"))
        .collect();
    if headings.first() != Some(&1) || headings.iter().filter(|level| **level == 1).count() != 1 {
        problems.push(format!("headings must start with the one h1: {headings:?}"));
    }
    for pair in headings.windows(2) {
        if pair[1] > pair[0] + 1 {
            problems.push(format!(
                "heading level skips from h{} to h{}",
                pair[0], pair[1]
            ));
        }
    }
    for heading in select(html, "h1, h2, h3, h4, h5, h6") {
        if text_of(&heading).is_empty() {
            problems.push("an empty heading".into());
        }
    }

    // Ids are unique, and every reference names one.
    let mut ids = BTreeMap::new();
    for element in select(html, "[id]") {
        let id = element.value().attr("id").unwrap_or("").to_owned();
        *ids.entry(id).or_insert(0) += 1;
    }
    for (id, count) in &ids {
        if *count > 1 {
            problems.push(format!("id {id:?} is used {count} times"));
        }
    }
    for element in select(html, "[aria-describedby], [aria-labelledby]") {
        for attribute in ["aria-describedby", "aria-labelledby"] {
            for id in element
                .value()
                .attr(attribute)
                .unwrap_or("")
                .split_whitespace()
            {
                if !ids.contains_key(id) {
                    problems.push(format!("{attribute} names a missing id {id:?}"));
                }
            }
        }
    }
    for link in select(html, "a[href^='#']") {
        let target = &link.value().attr("href").unwrap_or("#")[1..];
        if !target.is_empty() && !ids.contains_key(target) {
            problems.push(format!("a link to a missing #{target}"));
        }
    }

    // Every control is labelled; an invalid one has its error tied to it.
    let labelled: BTreeSet<String> = select(html, "label[for]")
        .iter()
        .filter(|label| !text_of(label).is_empty())
        .filter_map(|label| label.value().attr("for").map(str::to_owned))
        .collect();
    for control in select(html, "input, textarea, select") {
        let kind = control.value().attr("type").unwrap_or("text");
        if matches!(kind, "hidden" | "submit" | "button") {
            continue;
        }
        let id = control.value().attr("id").unwrap_or("");
        if !labelled.contains(id) && control.value().attr("aria-label").is_none() {
            problems.push(format!("a {kind} control {id:?} has no label"));
        }
        if control.value().attr("aria-invalid") == Some("true") {
            let described = control.value().attr("aria-describedby").unwrap_or("");
            if !described
                .split_whitespace()
                .any(|id| id.ends_with("-error"))
            {
                problems.push(format!(
                    "the invalid control {id:?} is not tied to its error"
                ));
            }
        }
    }
    for button in select(html, "button") {
        if text_of(&button).is_empty() && button.value().attr("aria-label").is_none() {
            problems.push("a button without a name".into());
        }
    }
    for link in select(html, "a") {
        if text_of(&link).is_empty() && link.value().attr("aria-label").is_none() {
            problems.push("a link without text".into());
        }
    }
    for image in select(html, "img") {
        if image.value().attr("alt").is_none() {
            problems.push("an image without alt".into());
        }
    }
    for table in select(html, "table") {
        let table_html = Html::parse_fragment(&table.html());
        if select(&table_html, "th").is_empty() {
            problems.push("a table without header cells".into());
        }
    }
    // Nothing inline that the CSP would block (and so nothing that would silently not work).
    if !select(html, "script, [style], [onclick], [onload], [onsubmit]").is_empty() {
        problems.push("inline script or style".into());
    }
    problems
}

/// Creates an assignment, a pupil's submission and leaves it waiting for review; answers the id.
async fn prepare_assignment(school: &TestSchool) -> String {
    let mut teacher = Browser::logged_in(school, "leena.korhonen").await;
    let form = teacher
        .get(&format!("/classes/{MATHS_7A}/assignments/new"))
        .await;
    let csrf = form.csrf_token();
    let created = teacher
        .post_form(
            &format!("/classes/{MATHS_7A}/assignments"),
            &[
                ("csrf_token", &csrf),
                ("title", "Geometry"),
                ("instructions", "Measure three angles."),
                ("due_date", "2099-01-15"),
                ("due_time", "12:00"),
            ],
        )
        .await;
    let id = created
        .location()
        .and_then(|location| {
            location
                .strip_prefix("/assignments/")
                .map(|rest| rest.split('?').next().unwrap_or(rest).to_owned())
        })
        .expect("created");
    for pupil in ["aino.makinen01", "eino.makinen02"] {
        let Some(mut browser) = try_login(school, pupil).await else {
            continue;
        };
        let page = browser.get(&format!("/assignments/{id}")).await;
        let csrf = page.csrf_token();
        let saved = browser
            .post_multipart(
                &format!("/assignments/{id}/submission"),
                &[
                    Part::Text("csrf_token", &csrf),
                    Part::Text("text", "90, 45 and 45 degrees."),
                    Part::File("file", "angles.txt", "text/plain", b"90 45 45"),
                    Part::Text("action", "submit"),
                ],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    }
    id
}

/// A thread from the teacher to pupil P01; answers its id.
async fn start_thread(school: &TestSchool) -> String {
    let api = school.login("leena.korhonen").await;
    let (status, thread) = api
        .post(
            "/api/v1/threads",
            serde_json::json!({ "participants": ["P01"], "subject": "Hello", "body": "Welcome!" }),
        )
        .await;
    assert_eq!(status, 201, "{thread}");
    thread["id"].as_str().expect("id").to_owned()
}

async fn try_login(school: &TestSchool, username: &str) -> Option<Browser> {
    let mut browser = Browser::new(school);
    let page = browser
        .post_form(
            "/login",
            &[("username", username), ("password", common::PASSWORD)],
        )
        .await;
    (page.status == StatusCode::SEE_OTHER).then_some(browser)
}

/// Keeps every checked page under `<target>/web-pages/` as an artefact, for people to look at what
/// the checks judged (each file names its page and language).
fn save_page(name: &str, language: &str, body: &str) {
    // `CARGO_TARGET_TMPDIR` is `<target>/tmp`, so this follows `CARGO_TARGET_DIR`.
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("web-pages");
    std::fs::create_dir_all(&dir).expect("page dir");
    let file = format!("{}-{language}.html", name.replace(' ', "-"));
    std::fs::write(dir.join(file), body).expect("page saved");
}

#[tokio::test]
async fn every_page_passes_the_automated_checks_in_every_language() {
    let school = TestSchool::start().await;
    let id = prepare_assignment(&school).await;
    let thread = start_thread(&school).await;
    let lesson = monday_maths_lesson(&school).await;
    // P02's work returned with a grade and feedback, so that the grades pages show some.
    let (status, returned) = school
        .login("leena.korhonen")
        .await
        .post(
            &format!("/api/v1/assignments/{id}/submissions/P02/return"),
            serde_json::json!({ "feedback": "Hyvin mitattu.\n\nTarkista kolmas kulma.", "grade": "9" }),
        )
        .await;
    assert_eq!(status, 200, "{returned}");
    // A connected tool, so that the home pages' tool list is checked too.
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
    let (status, _) = school
        .login("sari.lehtonen")
        .await
        .put(
            "/api/v1/services/kirjasto/activation",
            serde_json::json!({ "approved_claims": ["profile"] }),
        )
        .await;
    assert_eq!(status, 200);
    // A school that offers MPASSid, which cannot be reached (nothing listens on port 9), so its
    // login page and the page that says the provider is unreachable are checked too.
    let secrets = tempfile::tempdir().expect("tempdir");
    let secret_file = secrets.path().join("secret");
    std::fs::write(&secret_file, "secret").expect("secret");
    let upstream_school = TestSchool::start_with(|config| {
        config.upstream_login = Some(node::config::UpstreamLoginConfig {
            display_name: "MPASSid".into(),
            issuer: "http://127.0.0.1:9".into(),
            client_id: "digione".into(),
            client_secret_file: secret_file,
            scopes: Vec::new(),
            user_claim: "urn:mpass.id:uid".into(),
            roster_field: node::config::RosterMatchField::Identifier,
            school_code_claim: None,
            ca_certificate_file: None,
            redirect_uri: None,
        });
    })
    .await;
    let mut checked = 0;
    let mut problems = Vec::new();
    for language in ["fi", "sv", "en"] {
        let mut pages = Vec::new();
        let mut anonymous = Browser::new(&school);
        anonymous.accept_language = Some(language.into());
        pages.push(("login", anonymous.get("/login").await));
        let mut upstream_visitor = Browser::new(&upstream_school);
        upstream_visitor.accept_language = Some(language.into());
        pages.push(("login with MPASSid", upstream_visitor.get("/login").await));
        let unreachable = upstream_visitor.get("/login/upstream").await;
        assert_eq!(unreachable.status, 503);
        pages.push(("MPASSid unreachable", unreachable));
        pages.push((
            "login with errors",
            anonymous.post_form("/login", &[("username", "")]).await,
        ));
        pages.push(("statement", anonymous.get("/accessibility").await));
        pages.push((
            "service login refused",
            anonymous
                .get("/oidc/authorize?client_id=no-such-service&response_type=code")
                .await,
        ));
        pages.push((
            "login again",
            anonymous
                .get("/login?next=%2Foidc%2Fauthorize%3Fclient_id%3Dkirjasto&reauth=1")
                .await,
        ));

        let mut pupil = Browser::logged_in(&school, "aino.makinen01").await;
        pupil.accept_language = Some(language.into());
        pages.push(("pupil home", pupil.get("/home").await));
        pages.push(("messages", pupil.get("/messages").await));
        pages.push((
            "thread",
            pupil.get(&format!("/messages/{thread}?done=sent")).await,
        ));
        let thread_page = pupil.get(&format!("/messages/{thread}")).await;
        let csrf = thread_page.csrf_token();
        pages.push((
            "thread with errors",
            pupil
                .post_form(
                    &format!("/messages/{thread}"),
                    &[("csrf_token", &csrf), ("body", "")],
                )
                .await,
        ));
        pages.push((
            "pupil assignment",
            pupil
                .get(&format!("/assignments/{id}?done=submitted"))
                .await,
        ));
        pages.push(("not found", pupil.get("/assignments/missing").await));
        pages.push(("pupil announcements", pupil.get("/announcements").await));
        pages.push((
            "pupil materials",
            pupil.get(&format!("/classes/{MATHS_7A}/materials")).await,
        ));
        pages.push(("own absences", pupil.get("/pupils/P01/absences").await));
        pages.push(("pupil week", pupil.get("/timetable?week=2025-W37").await));
        pages.push((
            "pupil week with work due",
            pupil.get("/timetable?week=2099-W03").await,
        ));
        pages.push(("bad week", pupil.get("/timetable?week=2025-W99").await));
        pages.push(("pupil work", pupil.get("/assignments").await));
        pages.push(("pupil grades", pupil.get("/pupils/P01/grades").await));
        let new_message = pupil.get("/messages/new").await;
        let csrf = new_message.csrf_token();
        pages.push(("new message", new_message));
        pages.push((
            "new message with errors",
            pupil
                .post_form("/messages/new", &[("csrf_token", &csrf), ("to", "")])
                .await,
        ));
        pages.push((
            "forbidden",
            pupil
                .get(&format!("/classes/{MATHS_7A}/assignments/new"))
                .await,
        ));

        let mut teacher = Browser::logged_in(&school, "leena.korhonen").await;
        teacher.accept_language = Some(language.into());
        pages.push(("teacher home", teacher.get("/home").await));
        pages.push((
            "teacher week",
            teacher.get("/timetable?week=2025-W37").await,
        ));
        pages.push(("teacher grades", teacher.get("/pupils/P02/grades").await));
        pages.push(("teacher work", teacher.get("/assignments").await));
        pages.push((
            "attendance",
            teacher
                .get(&format!(
                    "/classes/{MATHS_7A}/attendance/2025-09-08/{lesson}"
                ))
                .await,
        ));
        let form = teacher
            .get(&format!("/classes/{MATHS_7A}/assignments/new"))
            .await;
        let csrf = form.csrf_token();
        pages.push(("new assignment", form));
        pages.push((
            "new assignment with errors",
            teacher
                .post_form(
                    &format!("/classes/{MATHS_7A}/assignments"),
                    &[("csrf_token", &csrf), ("title", ""), ("due_date", "x")],
                )
                .await,
        ));
        pages.push((
            "teacher assignment",
            teacher.get(&format!("/assignments/{id}")).await,
        ));
        let review_path = format!("/assignments/{id}/submissions/P01");
        let review = teacher.get(&review_path).await;
        let csrf = review.csrf_token();
        pages.push(("review", review));
        pages.push((
            "review with errors",
            teacher
                .post_form(
                    &format!("{review_path}/return"),
                    &[
                        ("csrf_token", &csrf),
                        ("feedback", ""),
                        ("grade", &"x".repeat(30)),
                    ],
                )
                .await,
        ));

        let materials = teacher.get(&format!("/classes/{MATHS_7A}/materials")).await;
        let csrf = materials.csrf_token();
        pages.push(("teacher materials", materials));
        pages.push((
            "materials with errors",
            teacher
                .post_multipart(
                    &format!("/classes/{MATHS_7A}/materials"),
                    &[Part::Text("csrf_token", &csrf), Part::Text("title", "")],
                )
                .await,
        ));
        let announcements = teacher.get("/announcements").await;
        let csrf = announcements.csrf_token();
        pages.push(("teacher announcements", announcements));
        pages.push((
            "announcements with errors",
            teacher
                .post_form(
                    "/announcements",
                    &[
                        ("csrf_token", &csrf),
                        ("audience", "school"),
                        ("shown_until", "x"),
                    ],
                )
                .await,
        ));

        let mut guardian = Browser::logged_in(&school, "marja.makinen").await;
        guardian.accept_language = Some(language.into());
        pages.push(("guardian home", guardian.get("/home").await));
        pages.push((
            "guardian week",
            guardian.get("/timetable?week=2025-W37").await,
        ));
        pages.push((
            "guardian work",
            guardian.get("/assignments?pupil=P02").await,
        ));
        pages.push(("guardian grades", guardian.get("/pupils/P02/grades").await));
        let absences = guardian.get("/pupils/P01/absences").await;
        let csrf = absences.csrf_token();
        pages.push(("guardian absences", absences));
        pages.push((
            "absences with errors",
            guardian
                .post_form(
                    "/pupils/P01/absences/explain",
                    &[("csrf_token", &csrf), ("first_date", "x"), ("reason", "")],
                )
                .await,
        ));
        let mut admin = Browser::logged_in(&school, "sari.lehtonen").await;
        admin.accept_language = Some(language.into());
        pages.push(("admin home", admin.get("/home").await));
        pages.push(("users", admin.get("/admin/users?q=m").await));
        pages.push(("services", admin.get("/admin/services").await));
        pages.push(("service", admin.get("/admin/services/kirjasto").await));
        pages.push(("audit log", admin.get("/admin/audit").await));
        let password = admin.get("/admin/users/aino.makinen01/password").await;
        let csrf = password.csrf_token();
        pages.push(("password", password));
        pages.push((
            "password with errors",
            admin
                .post_form(
                    "/admin/users/aino.makinen01/password",
                    &[("csrf_token", &csrf), ("password", "x")],
                )
                .await,
        ));
        let roster = admin.get("/admin/roster").await;
        let csrf = roster.csrf_token();
        pages.push(("roster import", roster));
        pages.push((
            "roster import with errors",
            admin
                .post_multipart("/admin/roster", &[Part::Text("csrf_token", &csrf)])
                .await,
        ));

        for (name, page) in pages {
            save_page(name, language, &page.body);
            assert!(
                page.headers["content-type"]
                    .to_str()
                    .expect("text")
                    .starts_with("text/html"),
                "{name} ({language}) is a page: {}",
                page.status
            );
            for problem in problems_of(&page.html(), language) {
                problems.push(format!("{name} ({language}): {problem}"));
            }
            checked += 1;
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(checked, 3 * 53);
}

// ---------------------------------------------------------------------------------------------
// The palette's contrast.
// ---------------------------------------------------------------------------------------------

/// The stylesheet's colour custom properties (`--name: #rrggbb;`).
fn palette() -> BTreeMap<String, (u8, u8, u8)> {
    let mut colours = BTreeMap::new();
    for line in node::web::assets::STYLESHEET.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("--") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(':') else {
            continue;
        };
        let value = value.trim().trim_end_matches(';').trim();
        let Some(hex) = value.strip_prefix('#') else {
            continue;
        };
        assert_eq!(hex.len(), 6, "--{name} is #rrggbb");
        let channel = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex");
        colours.insert(name.to_owned(), (channel(0), channel(2), channel(4)));
    }
    colours
}

/// WCAG 2.1 relative luminance.
fn luminance((red, green, blue): (u8, u8, u8)) -> f64 {
    let linear = |channel: u8| {
        let value = f64::from(channel) / 255.0;
        if value <= 0.03928 {
            value / 12.92
        } else {
            ((value + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
}

fn contrast(first: (u8, u8, u8), second: (u8, u8, u8)) -> f64 {
    let (a, b) = (luminance(first), luminance(second));
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

#[test]
fn the_palette_has_at_least_aa_contrast_wherever_text_meets_a_background() {
    let colours = palette();
    assert!(colours.len() >= 10, "the palette is parsed: {colours:?}");
    // Every pairing of text and background the stylesheet makes.
    let pairs = [
        ("text", "background"),
        ("text", "surface"),
        ("text", "error-surface"),
        ("muted", "background"),
        ("muted", "surface"),
        ("link", "background"),
        ("link", "surface"),
        ("on-accent", "accent"),
        ("accent", "background"),
        ("error", "background"),
        ("error", "error-surface"),
        ("on-banner", "banner"),
        ("on-notice", "notice"),
    ];
    for (foreground, background) in pairs {
        let ratio = contrast(colours[foreground], colours[background]);
        assert!(
            ratio >= 4.5,
            "--{foreground} on --{background}: {ratio:.2}:1, below 4.5:1"
        );
    }
    // The focus ring (a non-text indicator) needs 3:1 against the page.
    assert!(contrast(colours["text"], colours["background"]) >= 3.0);
    // The computation itself: black on white is 21:1.
    assert!((contrast((0, 0, 0), (255, 255, 255)) - 21.0).abs() < 0.01);
}
