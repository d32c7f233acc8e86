//! The school week in the web UI over real HTTP on loopback against a real node (sled store, the
//! bulk roster fixture): the week timetable (`/timetable`), a pupil's work (`/assignments`) and
//! their grades and feedback (`/pupils/{pupil}/grades`), for pupils, teachers and guardians in each
//! language; who may see whose (a guardian only their children, a pupil only themself, a teacher
//! only their own classes' work), strict week addresses, empty weeks, terms that change mid-week,
//! and the navigation's names.

mod common;
mod web_common;

use common::TestSchool;
use node::school::calendar::{SchoolWeek, school_today};
use reqwest::StatusCode;
use serde_json::json;
use web_common::{Browser, Page};

const MATHS_7A: &str = "CLS-7A-MA";
const MATHS_7B: &str = "CLS-7B-MA";
const PUPIL: &str = "aino.makinen01";
const PUPIL_ID: &str = "P01";
const SIBLING_ID: &str = "P02";
const OTHER_PUPIL: &str = "ella.koskinen07";
const TEACHER: &str = "leena.korhonen";
/// Teaches P01 mother tongue and English, not maths.
const OTHER_TEACHER: &str = "mikko.nieminen";
/// Guardian of P01 and P02.
const GUARDIAN: &str = "marja.makinen";
/// Guardian of P07 and P08.
const OTHER_GUARDIAN: &str = "pekka.koskinen";
const ADMIN: &str = "sari.lehtonen";

/// The week of Monday 2025-09-08, in the autumn term 2025.
const AUTUMN_WEEK: &str = "2025-W37";
/// Wednesday 2099-05-20 16:00 in Helsinki (EEST), node time: a due time in week 2099-W21, which
/// no term reaches.
const DUE_2099_05_20: i64 = 4_082_965_200_000;
/// Wednesday 2025-09-10 16:00 in Helsinki: long past.
const DUE_2025_09_10: i64 = 1_757_509_200_000;

async fn browser(school: &TestSchool, username: &str, language: &str) -> Browser {
    let mut browser = Browser::logged_in(school, username).await;
    browser.accept_language = Some(language.into());
    browser
}

/// Sets a class's lessons in a term through the JSON API, as school IT does.
async fn set_timetable(school: &TestSchool, class: &str, term: &str, lessons: serde_json::Value) {
    let admin = school.login(ADMIN).await;
    let (status, timetable) = admin
        .put(
            &format!("/api/v1/classes/{class}/timetable/{term}"),
            json!({ "lessons": lessons }),
        )
        .await;
    assert_eq!(status, 200, "{timetable}");
}

/// 7A maths on Monday (B204), Wednesday (no room: the class's location) and Saturday; 7A mother
/// tongue on Tuesday; 7B maths on Thursday, all in the autumn term 2025.
async fn autumn_timetables(school: &TestSchool) {
    set_timetable(
        school,
        MATHS_7A,
        "TERM-2025-S",
        json!([
            { "weekday": "monday", "start": "08:15", "end": "09:00", "room": "B204", "teacher": "T01" },
            { "weekday": "wednesday", "start": "10:00", "end": "10:45", "teacher": "T01" },
            { "weekday": "saturday", "start": "09:00", "end": "11:00", "room": "Sali", "teacher": "T01", "subject": "Matematiikkaleiri" },
        ]),
    )
    .await;
    set_timetable(
        school,
        "CLS-7A-AI",
        "TERM-2025-S",
        json!([{ "weekday": "tuesday", "start": "12:00", "end": "12:45", "room": "A112", "teacher": "T02" }]),
    )
    .await;
    set_timetable(
        school,
        MATHS_7B,
        "TERM-2025-S",
        json!([{ "weekday": "thursday", "start": "08:15", "end": "09:00", "room": "B205", "teacher": "T01" }]),
    )
    .await;
}

/// Creates an assignment of `class` through the JSON API; answers its id.
async fn assignment(school: &TestSchool, class: &str, title: &str, due_at: i64) -> String {
    let teacher = school.login(TEACHER).await;
    let (status, created) = teacher
        .post(
            &format!("/api/v1/classes/{class}/assignments"),
            json!({ "title": title, "instructions": "", "due_at": due_at }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

async fn hand_in(school: &TestSchool, username: &str, id: &str) {
    let pupil = school.login(username).await;
    let (status, submission) = pupil
        .put(
            &format!("/api/v1/assignments/{id}/submission"),
            json!({ "text": "Valmis.", "files": [], "submit": true }),
        )
        .await;
    assert_eq!(status, 200, "{submission}");
}

async fn give_back(school: &TestSchool, id: &str, pupil: &str, feedback: &str, grade: &str) {
    let teacher = school.login(TEACHER).await;
    let (status, returned) = teacher
        .post(
            &format!("/api/v1/assignments/{id}/submissions/{pupil}/return"),
            json!({ "feedback": feedback, "grade": grade }),
        )
        .await;
    assert_eq!(status, 200, "{returned}");
}

fn html_lang(page: &Page) -> Option<String> {
    let selector = scraper::Selector::parse("html").expect("selector");
    page.html()
        .select(&selector)
        .next()
        .and_then(|html| html.value().attr("lang").map(str::to_owned))
}

/// The text of each day's heading, in order.
fn day_headings(page: &Page) -> Vec<String> {
    page.texts("section.day h2")
}

/// The rows of the lesson table of the day `date` (`YYYY-MM-DD`), cells separated by ` | `.
fn lesson_rows(page: &Page, date: &str) -> Vec<String> {
    let html = page.html();
    let rows =
        scraper::Selector::parse(&format!("#day-{date} ~ table tbody tr")).expect("selector");
    let cells = scraper::Selector::parse("td").expect("selector");
    html.select(&rows)
        .map(|row| {
            row.select(&cells)
                .map(|cell| {
                    cell.text()
                        .collect::<String>()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The week timetable.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_pupil_sees_their_week_with_rooms_teachers_and_a_weekend_day_with_lessons() {
    let school = TestSchool::start().await;
    autumn_timetables(&school).await;
    let mut pupil = browser(&school, PUPIL, "sv").await;
    let page = pupil.get(&format!("/timetable?week={AUTUMN_WEEK}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(html_lang(&page).as_deref(), Some("sv"));
    assert_eq!(page.texts("h1"), ["Schema, vecka 37"]);
    assert_eq!(page.texts(".lead"), ["8.9.2025–14.9.2025"]);
    // Monday to Friday, and Saturday for its lesson; Sunday has nothing.
    assert_eq!(
        day_headings(&page),
        [
            "Måndag 8.9.2025",
            "Tisdag 9.9.2025",
            "Onsdag 10.9.2025",
            "Torsdag 11.9.2025",
            "Fredag 12.9.2025",
            "Lördag 13.9.2025",
        ]
    );
    assert_eq!(
        lesson_rows(&page, "2025-09-08"),
        ["8.15–9.00 | 7A matematiikka | Matematiikka | B204 | Leena Korhonen"]
    );
    assert_eq!(
        lesson_rows(&page, "2025-09-09"),
        ["12.00–12.45 | 7A äidinkieli | Äidinkieli ja kirjallisuus | A112 | Mikko Nieminen"]
    );
    // Without a room of its own the lesson is in the class's usual room.
    assert_eq!(
        lesson_rows(&page, "2025-09-10"),
        ["10.00–10.45 | 7A matematiikka | Matematiikka | B204 | Leena Korhonen"]
    );
    // 7B's Thursday lesson is not Aino's.
    assert!(lesson_rows(&page, "2025-09-11").is_empty());
    assert_eq!(page.texts("#day-2025-09-11 ~ p.meta"), ["Inga lektioner."]);
    assert_eq!(
        lesson_rows(&page, "2025-09-13"),
        ["9.00–11.00 | 7A matematiikka | Matematiikkaleiri | Sali | Leena Korhonen"]
    );
    assert!(page.texts(".empty-state").is_empty());
    let links = page.links(".week-links a");
    assert!(
        links.contains(&"/timetable?week=2025-W36".to_owned()),
        "{links:?}"
    );
    assert!(
        links.contains(&"/timetable?week=2025-W38".to_owned()),
        "{links:?}"
    );
    // The language links come back to the same week.
    assert!(
        page.links(".languages a")
            .contains(&"/language/fi?back=%2Ftimetable%3Fweek%3D2025-W37".to_owned()),
        "{:?}",
        page.links(".languages a")
    );
    // Naming oneself is one's own week.
    let own = pupil
        .get(&format!("/timetable?week={AUTUMN_WEEK}&pupil={PUPIL_ID}"))
        .await;
    assert_eq!(own.texts("h1"), ["Schema, vecka 37"]);
    // The navigation leads here, marked as the current page.
    assert_eq!(
        page.texts(".site-header nav a[aria-current=page]"),
        ["Schema"]
    );
    // A pupil's week stays small enough for a slow school network.
    assert!(page.body.len() < 30 * 1024, "{} bytes", page.body.len());
}

#[tokio::test]
async fn a_teacher_sees_the_lessons_they_teach() {
    let school = TestSchool::start().await;
    autumn_timetables(&school).await;
    let mut teacher = browser(&school, TEACHER, "fi").await;
    let page = teacher.get(&format!("/timetable?week={AUTUMN_WEEK}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(html_lang(&page).as_deref(), Some("fi"));
    assert_eq!(page.texts("h1"), ["Lukujärjestys, viikko 37"]);
    assert_eq!(
        lesson_rows(&page, "2025-09-08"),
        ["8.15–9.00 | 7A matematiikka | Matematiikka | B204 | Leena Korhonen"]
    );
    // Another teacher's lesson in a class Leena does not teach is not hers.
    assert!(lesson_rows(&page, "2025-09-09").is_empty());
    assert_eq!(
        lesson_rows(&page, "2025-09-11"),
        ["8.15–9.00 | 7B matematiikka | Matematiikka | B205 | Leena Korhonen"]
    );

    let mut other = browser(&school, OTHER_TEACHER, "en").await;
    let page = other.get(&format!("/timetable?week={AUTUMN_WEEK}")).await;
    assert_eq!(page.texts("h1"), ["Timetable, week 37"]);
    assert_eq!(
        lesson_rows(&page, "2025-09-09"),
        ["12:00–12:45 | 7A äidinkieli | Äidinkieli ja kirjallisuus | A112 | Mikko Nieminen"]
    );
    assert!(lesson_rows(&page, "2025-09-08").is_empty());
    // Mikko teaches Aino, so he may see her week, as the policy lets her teachers read her records.
    let page = other
        .get(&format!("/timetable?week={AUTUMN_WEEK}&pupil={PUPIL_ID}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.texts("h1"), ["Aino Mäkinen: timetable, week 37"]);
}

#[tokio::test]
async fn a_guardian_sees_one_childs_week_at_a_time_and_never_another_childs() {
    let school = TestSchool::start().await;
    autumn_timetables(&school).await;
    let mut guardian = browser(&school, GUARDIAN, "en").await;
    // Without a pupil named, the first child.
    let page = guardian
        .get(&format!("/timetable?week={AUTUMN_WEEK}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.texts("h1"), ["Aino Mäkinen: timetable, week 37"]);
    assert_eq!(
        page.texts(".child-choice a"),
        ["Aino Mäkinen", "Eino Mäkinen"]
    );
    assert_eq!(
        page.texts(".child-choice a[aria-current=page]"),
        ["Aino Mäkinen"]
    );
    assert_eq!(
        lesson_rows(&page, "2025-09-08"),
        ["08:15–09:00 | 7A matematiikka | Matematiikka | B204 | Leena Korhonen"]
    );
    // The other child, and the week links keep the child.
    let sibling = format!("/timetable?week={AUTUMN_WEEK}&pupil={SIBLING_ID}");
    assert!(page.links(".child-choice a").contains(&sibling));
    let page = guardian.get(&sibling).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.texts("h1"), ["Eino Mäkinen: timetable, week 37"]);
    assert!(
        page.links(".week-links a")
            .contains(&format!("/timetable?week=2025-W38&pupil={SIBLING_ID}"))
    );

    // Someone else's child: refused, and so is a pupil id that does not exist (the answer does
    // not tell which pupils exist).
    for pupil in ["P07", "NOBODY"] {
        let refused = guardian.get(&format!("/timetable?pupil={pupil}")).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{pupil}");
        assert!(refused.body.contains("<main"), "an error page");
    }
    let mut other_guardian = browser(&school, OTHER_GUARDIAN, "fi").await;
    let refused = other_guardian
        .get(&format!("/timetable?pupil={PUPIL_ID}"))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // A pupil does not see a classmate's week.
    let mut other_pupil = browser(&school, OTHER_PUPIL, "fi").await;
    let refused = other_pupil
        .get(&format!("/timetable?pupil={PUPIL_ID}"))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // School staff see any pupil's, and learn when one does not exist.
    let mut admin = browser(&school, ADMIN, "fi").await;
    assert_eq!(
        admin
            .get(&format!("/timetable?pupil={PUPIL_ID}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        admin.get("/timetable?pupil=NOBODY").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_bad_week_gets_a_page_that_says_how_to_write_one() {
    let school = TestSchool::start().await;
    let mut pupil = browser(&school, PUPIL, "fi").await;
    for bad in [
        "2025-W53",
        "2025-W00",
        "2025-w37",
        "2025-37",
        "2025W37",
        "2025-W5",
        "viikko",
        "99999-W01",
        "2025-W37%20",
        "%E2%82",
    ] {
        let page = pupil.get(&format!("/timetable?week={bad}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(page.body.contains("<main"), "{bad}: a page");
        if bad != "%E2%82" {
            assert_eq!(page.texts("h1"), ["Viikkoa ei löydy"], "{bad}");
            assert!(page.body.contains("2026-W05"), "{bad}: the form is shown");
            assert!(page.links("main a").contains(&"/timetable".to_owned()));
        }
    }
    // A guardian's bad week leads back to the same child.
    let mut guardian = browser(&school, GUARDIAN, "sv").await;
    let page = guardian
        .get(&format!("/timetable?week=2025-W99&pupil={SIBLING_ID}"))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(page.texts("h1"), ["Veckan finns inte"]);
    assert!(
        page.links("main a")
            .contains(&format!("/timetable?pupil={SIBLING_ID}"))
    );
    // 2026 has a week 53.
    assert_eq!(
        pupil.get("/timetable?week=2026-W53").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_week_without_lessons_says_so_and_still_shows_the_work_due() {
    let school = TestSchool::start().await;
    autumn_timetables(&school).await;
    let due = assignment(&school, MATHS_7A, "Murtoluvut", DUE_2099_05_20).await;
    let other_class = assignment(&school, MATHS_7B, "7B:n tehtävä", DUE_2099_05_20).await;

    let mut pupil = browser(&school, PUPIL, "en").await;
    let page = pupil.get("/timetable?week=2099-W21").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.texts(".empty-state"), ["No lessons this week."]);
    assert_eq!(day_headings(&page).len(), 5, "Monday to Friday");
    assert_eq!(
        page.texts("#day-2099-05-20 ~ ul.due-list li"),
        ["Murtoluvut 7A matematiikka, 16:00, not handed in"]
    );
    assert!(
        page.links("#day-2099-05-20 ~ ul.due-list a")
            .contains(&format!("/assignments/{due}"))
    );
    assert!(!page.body.contains(&other_class), "not Aino's class");
    assert!(page.texts("#day-2099-05-19 ~ ul.due-list li").is_empty());

    // Handed in, the week says so; the guardian sees it on the child's week.
    hand_in(&school, PUPIL, &due).await;
    let mut guardian = browser(&school, GUARDIAN, "fi").await;
    let page = guardian.get("/timetable?week=2099-W21").await;
    assert_eq!(
        page.texts("#day-2099-05-20 ~ ul.due-list li"),
        ["Murtoluvut 7A matematiikka, klo 16.00, palautettu, odottaa opettajaa"]
    );
    // The teacher sees the work due in both of her classes.
    let mut teacher = browser(&school, TEACHER, "sv").await;
    let page = teacher.get("/timetable?week=2099-W21").await;
    assert_eq!(
        page.texts(".empty-state"),
        ["Inga lektioner den här veckan."]
    );
    assert_eq!(
        page.texts("#day-2099-05-20 ~ ul.due-list li a"),
        ["7B:n tehtävä", "Murtoluvut"]
    );
    // A teacher of Aino's other classes sees her week but not maths work he may not see.
    let mut other_teacher = browser(&school, OTHER_TEACHER, "fi").await;
    let page = other_teacher
        .get(&format!("/timetable?week=2099-W21&pupil={PUPIL_ID}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.texts("ul.due-list li").is_empty());
}

#[tokio::test]
async fn each_day_goes_by_the_term_that_contains_it() {
    let school = TestSchool::start().await;
    // The autumn term ends on 2025-12-20 and the spring term begins on Wednesday 2026-01-07, in
    // week 2026-W02. Each term has its own timetable.
    set_timetable(
        &school,
        MATHS_7A,
        "TERM-2025-S",
        json!([{ "weekday": "monday", "start": "08:15", "end": "09:00", "room": "Syksy", "teacher": "T01" }]),
    )
    .await;
    set_timetable(
        &school,
        MATHS_7A,
        "TERM-2026-K",
        json!([
            { "weekday": "monday", "start": "09:15", "end": "10:00", "room": "Kevät", "teacher": "T01" },
            { "weekday": "wednesday", "start": "09:15", "end": "10:00", "room": "Kevät", "teacher": "T01" },
        ]),
    )
    .await;
    let mut pupil = browser(&school, PUPIL, "fi").await;
    let page = pupil.get("/timetable?week=2026-W02").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // Monday is in neither term, Wednesday in the spring term.
    assert!(lesson_rows(&page, "2026-01-05").is_empty());
    assert_eq!(
        lesson_rows(&page, "2026-01-07"),
        ["9.15–10.00 | 7A matematiikka | Matematiikka | Kevät | Leena Korhonen"]
    );
    assert!(page.texts(".empty-state").is_empty());
    // The week after, both days are spring; the last autumn week has the autumn Monday.
    let page = pupil.get("/timetable?week=2026-W03").await;
    assert_eq!(
        lesson_rows(&page, "2026-01-12"),
        ["9.15–10.00 | 7A matematiikka | Matematiikka | Kevät | Leena Korhonen"]
    );
    let page = pupil.get("/timetable?week=2025-W51").await;
    assert_eq!(
        lesson_rows(&page, "2025-12-15"),
        ["8.15–9.00 | 7A matematiikka | Matematiikka | Syksy | Leena Korhonen"]
    );
}

#[tokio::test]
async fn today_is_marked_in_words_and_the_default_is_the_current_school_week() {
    let school = TestSchool::start().await;
    let mut pupil = browser(&school, PUPIL, "fi").await;
    let today = school_today().expect("today");
    let this_week = SchoolWeek::containing(today);
    let page = pupil.get(&format!("/timetable?week={this_week}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let weekend = today.date().weekday().number_days_from_monday() >= 5;
    let marked = page.texts("[aria-current=date]");
    if weekend {
        // A weekend day without lessons is not shown, so nothing is marked.
        assert!(marked.is_empty(), "{marked:?}");
    } else {
        assert_eq!(marked.len(), 1, "{}", page.body);
        assert!(marked[0].ends_with("(tänään)"), "{marked:?}");
        assert!(marked[0].contains(&format!(
            "{}.{}.{}",
            today.date().day(),
            u8::from(today.date().month()),
            today.date().year()
        )));
        assert_eq!(page.texts(".day-today").len(), 1);
    }
    // Without a week, the current school week: this one on a school day, the next at a weekend.
    let default = pupil.get("/timetable").await;
    let current = SchoolWeek::current().expect("week");
    assert_eq!(
        default.texts("h1"),
        [format!("Lukujärjestys, viikko {}", current.number())]
    );
    if let Some(next) = current.next() {
        assert!(
            default
                .links(".week-links a")
                .contains(&format!("/timetable?week={next}"))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// My work, and grades and feedback.
// ---------------------------------------------------------------------------------------------

/// Four assignments of 7A maths that P01 stands differently on, and one of 7B: answers the ids
/// (to do, late, handed in, returned).
async fn work_in_every_state(school: &TestSchool) -> [String; 4] {
    let to_do = assignment(school, MATHS_7A, "Tehtävä tekemättä", DUE_2099_05_20).await;
    let late = assignment(school, MATHS_7A, "Myöhästynyt tehtävä", DUE_2025_09_10).await;
    let handed_in = assignment(school, MATHS_7A, "Palautettu tehtävä", DUE_2099_05_20).await;
    let returned = assignment(school, MATHS_7A, "Arvioitu tehtävä", DUE_2099_05_20).await;
    assignment(school, MATHS_7B, "Toisen ryhmän tehtävä", DUE_2099_05_20).await;
    hand_in(school, PUPIL, &handed_in).await;
    hand_in(school, PUPIL, &returned).await;
    give_back(
        school,
        &returned,
        PUPIL_ID,
        "Hyvää työtä.\n\nTarkista vielä tehtävä 3.",
        "9+",
    )
    .await;
    [to_do, late, handed_in, returned]
}

fn section_items(page: &Page, heading: &str) -> Vec<String> {
    page.texts(&format!("#{heading}-heading ~ ul.cards > li > a"))
}

#[tokio::test]
async fn a_pupil_sees_all_their_work_grouped_with_classes_and_due_times() {
    let school = TestSchool::start().await;
    let [to_do, late, handed_in, returned] = work_in_every_state(&school).await;
    let mut pupil = browser(&school, PUPIL, "fi").await;
    let page = pupil.get("/assignments").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.texts("h1"), ["Omat tehtävät"]);
    assert_eq!(section_items(&page, "late"), ["Myöhästynyt tehtävä"]);
    assert_eq!(section_items(&page, "to-do"), ["Tehtävä tekemättä"]);
    assert_eq!(section_items(&page, "submitted"), ["Palautettu tehtävä"]);
    assert_eq!(section_items(&page, "returned"), ["Arvioitu tehtävä"]);
    for id in [&to_do, &late, &handed_in, &returned] {
        assert!(page.links("main a").contains(&format!("/assignments/{id}")));
    }
    assert!(!page.body.contains("Toisen ryhmän tehtävä"));
    let items = page.texts("ul.cards > li").join("\n");
    assert!(items.contains("7A matematiikka"), "{items}");
    assert!(
        items.contains("Palautettava 20.5.2099 klo 16.00"),
        "{items}"
    );
    assert!(
        items.contains("Määräaika oli 10.9.2025 klo 16.00."),
        "{items}"
    );
    assert!(items.contains("Arvosana: 9+"), "{items}");
    assert!(items.contains("Hyvää työtä."), "{items}");
    assert_eq!(
        page.texts(".site-header nav a[aria-current=page]"),
        ["Omat tehtävät"]
    );

    // The grades page has the whole feedback, under its class.
    let grades_path = format!("/pupils/{PUPIL_ID}/grades");
    assert!(page.links("main a").contains(&grades_path));
    let grades = pupil.get(&grades_path).await;
    assert_eq!(grades.status, StatusCode::OK, "{}", grades.body);
    assert_eq!(grades.texts("h1"), ["Arvosanat ja palautteet"]);
    assert_eq!(grades.texts("main h2"), ["7A matematiikka"]);
    assert_eq!(grades.texts("main h3"), ["Arvioitu tehtävä"]);
    assert_eq!(
        grades.texts(".prose p"),
        ["Hyvää työtä.", "Tarkista vielä tehtävä 3."]
    );
    assert!(
        grades
            .texts(".cards .meta")
            .join(" ")
            .contains("Leena Korhonen"),
        "who gave the feedback"
    );

    // Another pupil's work and grades stay hidden, from a classmate of another class and from
    // the pupil's own sibling alike.
    for username in [OTHER_PUPIL, "eino.makinen02"] {
        let mut other = browser(&school, username, "fi").await;
        for path in [
            format!("/assignments?pupil={PUPIL_ID}"),
            grades_path.clone(),
        ] {
            let refused = other.get(&path).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{username} {path}");
            assert!(!refused.body.contains("Arvioitu tehtävä"));
        }
        // Their own page has none of Aino's work.
        let own = other.get("/assignments").await;
        assert_eq!(own.status, StatusCode::OK);
        assert!(!own.body.contains("Hyvää työtä."));
    }
}

#[tokio::test]
async fn a_guardian_follows_each_childs_work_and_grades() {
    let school = TestSchool::start().await;
    work_in_every_state(&school).await;
    let mut guardian = browser(&school, GUARDIAN, "sv").await;
    let page = guardian.get("/assignments").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(html_lang(&page).as_deref(), Some("sv"));
    assert_eq!(page.texts("h1"), ["Uppgifter: Aino Mäkinen"]);
    assert_eq!(section_items(&page, "late"), ["Myöhästynyt tehtävä"]);
    assert_eq!(section_items(&page, "returned"), ["Arvioitu tehtävä"]);
    assert_eq!(
        page.texts(".site-header nav a[aria-current=page]"),
        ["Barnens uppgifter"]
    );
    let sibling = format!("/assignments?pupil={SIBLING_ID}");
    assert!(page.links(".child-choice a").contains(&sibling));
    let page = guardian.get(&sibling).await;
    assert_eq!(page.texts("h1"), ["Uppgifter: Eino Mäkinen"]);
    // Eino has handed in nothing: four assignments to do or late, none returned.
    assert_eq!(
        section_items(&page, "to-do"),
        [
            "Arvioitu tehtävä",
            "Palautettu tehtävä",
            "Tehtävä tekemättä"
        ]
    );
    assert!(section_items(&page, "returned").is_empty());
    assert_eq!(page.texts("#returned-heading ~ p"), ["Ingen respons ännu."]);

    let grades = guardian.get(&format!("/pupils/{PUPIL_ID}/grades")).await;
    assert_eq!(grades.status, StatusCode::OK);
    assert_eq!(grades.texts("h1"), ["Vitsord och respons: Aino Mäkinen"]);
    assert!(grades.body.contains("Vitsord: 9+"));
    let grades = guardian.get(&format!("/pupils/{SIBLING_ID}/grades")).await;
    assert_eq!(
        grades.texts(".empty-state"),
        ["Inga vitsord och ingen respons ännu."]
    );

    // Someone else's child: refused everywhere.
    for path in [
        "/assignments?pupil=P07".to_owned(),
        "/pupils/P07/grades".to_owned(),
    ] {
        assert_eq!(
            guardian.get(&path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let mut other_guardian = browser(&school, OTHER_GUARDIAN, "en").await;
    for path in [
        format!("/assignments?pupil={PUPIL_ID}"),
        format!("/pupils/{PUPIL_ID}/grades"),
    ] {
        assert_eq!(
            other_guardian.get(&path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // The other guardian's own page shows their first child.
    let page = other_guardian.get("/assignments").await;
    assert_eq!(page.texts("h1"), ["Work: Ella Koskinen"]);

    // The home page links to each child's week, work and grades.
    let home = guardian.get("/home").await;
    let links = home.links("#children-heading ~ ul a");
    for expected in [
        format!("/timetable?pupil={PUPIL_ID}"),
        format!("/assignments?pupil={PUPIL_ID}"),
        format!("/pupils/{PUPIL_ID}/grades"),
        format!("/pupils/{SIBLING_ID}/grades"),
    ] {
        assert!(links.contains(&expected), "{expected} in {links:?}");
    }
}

#[tokio::test]
async fn a_teacher_sees_a_pupils_grades_in_their_own_classes_only() {
    let school = TestSchool::start().await;
    let [_, _, _, returned] = work_in_every_state(&school).await;
    let mut teacher = browser(&school, TEACHER, "en").await;
    let grades = teacher.get(&format!("/pupils/{PUPIL_ID}/grades")).await;
    assert_eq!(grades.status, StatusCode::OK, "{}", grades.body);
    assert_eq!(html_lang(&grades).as_deref(), Some("en"));
    assert_eq!(grades.texts("h1"), ["Grades and feedback: Aino Mäkinen"]);
    assert_eq!(grades.texts("main h3"), ["Arvioitu tehtävä"]);
    // The teacher goes on to the pupil's submission, where work is returned.
    assert!(
        grades
            .links("main h3 a")
            .contains(&format!("/assignments/{returned}/submissions/{PUPIL_ID}"))
    );
    let work = teacher.get(&format!("/assignments?pupil={PUPIL_ID}")).await;
    assert_eq!(work.status, StatusCode::OK);
    assert_eq!(work.texts("h1"), ["Work: Aino Mäkinen"]);
    assert_eq!(section_items(&work, "returned"), ["Arvioitu tehtävä"]);
    // Her own work page: she is no pupil and has no child.
    let own = teacher.get("/assignments").await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.body.contains("no work of your own"));

    // Mikko teaches Aino mother tongue and English, not maths: he may look at her grades, and
    // sees none of the maths work, with a note that the overview is partial.
    let mut other = browser(&school, OTHER_TEACHER, "fi").await;
    for path in [
        format!("/pupils/{PUPIL_ID}/grades"),
        format!("/assignments?pupil={PUPIL_ID}"),
    ] {
        let page = other.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains("Arvioitu tehtävä"), "{path}");
        assert!(!page.body.contains("Hyvää työtä"), "{path}");
        assert_eq!(
            page.texts("main > p.meta"),
            ["Näet vain opettamiesi ryhmien tehtävät."],
            "{path}"
        );
    }
    // (Every teacher of the fixture teaches every pupil in some class; a teacher who teaches a
    // pupil in no class is refused by the policy like any other outsider, which the matrix below
    // shows for guardians and pupils.)
}

// ---------------------------------------------------------------------------------------------
// Who may open which page.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_new_page_lets_in_exactly_whom_the_policy_allows() {
    let school = TestSchool::start().await;
    // Whose pages name P01: P01 themself, their guardian, their teachers, the administrator.
    let readers_of_p01 = [PUPIL, GUARDIAN, TEACHER, OTHER_TEACHER, ADMIN];
    let everyone = [
        PUPIL,
        OTHER_PUPIL,
        GUARDIAN,
        OTHER_GUARDIAN,
        TEACHER,
        OTHER_TEACHER,
        ADMIN,
    ];
    let cases: [(&str, &[&str]); 6] = [
        ("/timetable", &everyone),
        ("/assignments", &everyone),
        ("/timetable?pupil=P01", &readers_of_p01),
        ("/assignments?pupil=P01", &readers_of_p01),
        ("/pupils/P01/grades", &readers_of_p01),
        (
            "/pupils/P07/grades",
            &[OTHER_PUPIL, OTHER_GUARDIAN, TEACHER, OTHER_TEACHER, ADMIN],
        ),
    ];
    let mut wrong = Vec::new();
    for username in everyone {
        let mut browser = Browser::logged_in(&school, username).await;
        for (path, allowed) in &cases {
            let status = browser.get(path).await.status;
            let expected = if allowed.contains(&username) {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            if status != expected {
                wrong.push(format!("{username} {path}: {status}, expected {expected}"));
            }
        }
    }
    let mut anonymous = Browser::new(&school);
    for (path, _) in &cases {
        let page = anonymous.get(path).await;
        if page.location().as_deref() != Some("/login") {
            wrong.push(format!("anonymous {path}: {}", page.status));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ---------------------------------------------------------------------------------------------
// The navigation.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_navigation_names_each_page_differently_in_every_language() {
    let school = TestSchool::start().await;
    for language in ["fi", "sv", "en"] {
        for (username, expected) in [
            (
                PUPIL,
                vec![
                    "/home",
                    "/timetable",
                    "/assignments",
                    "/messages",
                    "/announcements",
                ],
            ),
            (
                TEACHER,
                vec!["/home", "/timetable", "/messages", "/announcements"],
            ),
            (
                GUARDIAN,
                vec![
                    "/home",
                    "/timetable",
                    "/assignments",
                    "/messages",
                    "/announcements",
                ],
            ),
            (ADMIN, vec!["/home", "/messages", "/announcements"]),
        ] {
            let mut browser = browser(&school, username, language).await;
            let home = browser.get("/home").await;
            let selector = ".site-header nav:not(.languages) a";
            assert_eq!(home.links(selector), expected, "{username} ({language})");
            let texts = home.texts(selector);
            let distinct: std::collections::BTreeSet<&String> = texts.iter().collect();
            assert_eq!(
                distinct.len(),
                texts.len(),
                "{username} ({language}): {texts:?}"
            );
        }
    }
    // The home page leads to the week and the work.
    let mut pupil = browser(&school, PUPIL, "fi").await;
    let home = pupil.get("/home").await;
    let links = home.links("main a");
    for expected in ["/timetable", "/assignments", "/pupils/P01/grades"] {
        assert!(
            links.contains(&expected.to_owned()),
            "{expected} in {links:?}"
        );
    }
    let mut teacher = browser(&school, TEACHER, "fi").await;
    assert!(
        teacher
            .get("/home")
            .await
            .links("main a")
            .contains(&"/timetable".to_owned())
    );
}
