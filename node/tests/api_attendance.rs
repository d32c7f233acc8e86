//! Timetables, attendance marks, guardians' absence reports and the absence alerts, over HTTP
//! against a real node with the bulk roster fixture.
//!
//! Dates are in the fixture's autumn term TERM-2025-S (2025-08-07 to 2025-12-20), which is in the
//! node's past, so lessons there may be marked. 2025-09-01 and 2025-09-08 are Mondays.

mod common;

use common::{Client, TestSchool};
use serde_json::{Value, json};

const MATHS_7A: &str = "CLS-7A-MA";
const MOTHER_TONGUE_7A: &str = "CLS-7A-AI";
const AUTUMN: &str = "TERM-2025-S";
const MONDAY: &str = "2025-09-08";
const TUESDAY: &str = "2025-09-09";

/// 7A maths: Monday 08:15–09:00 and a Wednesday double lesson, both taught by T01.
fn maths_timetable() -> Value {
    json!({ "lessons": [
        { "weekday": "monday", "start": "08:15", "end": "09:00", "room": "B204", "teacher": "T01" },
        { "weekday": "wednesday", "start": "10:00", "end": "11:30", "room": "B204", "teacher": "T01" },
    ]})
}

/// The id of the lesson on `weekday` in a timetable view.
fn lesson_on(timetable: &Value, weekday: &str) -> String {
    timetable["lessons"]
        .as_array()
        .expect("lessons")
        .iter()
        .find(|lesson| lesson["weekday"] == weekday)
        .and_then(|lesson| lesson["id"].as_str())
        .expect("a lesson on that weekday")
        .to_owned()
}

async fn set_timetable(admin: &Client, class: &str, body: Value) -> Value {
    let (status, timetable) = admin
        .put(&format!("/api/v1/classes/{class}/timetable/{AUTUMN}"), body)
        .await;
    assert_eq!(status, 200, "{timetable}");
    timetable
}

fn marks_of(view: &Value) -> Vec<(String, String)> {
    let mut marks: Vec<(String, String)> = view["marks"]
        .as_array()
        .expect("marks")
        .iter()
        .map(|mark| {
            (
                mark["pupil"].as_str().unwrap_or_default().to_owned(),
                mark["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    marks.sort();
    marks
}

/// The date `days` after `first` (`YYYY-MM-DD`).
fn days_after(first: &str, days: i64) -> String {
    let date: node::model::common::CalendarDate = first.parse().expect("date");
    node::model::common::CalendarDate::new(date.date() + time::Duration::days(days)).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_set_timetables_and_each_user_sees_the_lessons_of_their_day() {
    let school = TestSchool::start().await;
    let admin = school.login("sari.lehtonen").await;
    let maths_teacher = school.login("leena.korhonen").await;
    let other_teacher = school.login("mikko.nieminen").await;

    let timetable = set_timetable(&admin, MATHS_7A, maths_timetable()).await;
    assert_eq!(timetable["term"]["id"], AUTUMN);
    assert_eq!(timetable["lessons"][0]["teacher_name"], "Leena Korhonen");
    assert_eq!(timetable["lessons"][1]["minutes"], 90);
    set_timetable(
        &admin,
        MOTHER_TONGUE_7A,
        json!({ "lessons": [
            { "weekday": "monday", "start": "09:15", "end": "10:00", "room": "A112", "teacher": "T02" },
        ]}),
    )
    .await;

    let (status, _) = other_teacher
        .put(
            &format!("/api/v1/classes/{MATHS_7A}/timetable/{AUTUMN}"),
            maths_timetable(),
        )
        .await;
    assert_eq!(
        status, 403,
        "a teacher of another class cannot set this class's timetable"
    );
    let (status, refusal) = admin
        .put(
            &format!("/api/v1/classes/{MATHS_7A}/timetable/{AUTUMN}"),
            json!({ "lessons": [{ "weekday": "friday", "start": "08:15", "end": "09:00", "teacher": "T02" }] }),
        )
        .await;
    assert_eq!(
        status, 400,
        "the lesson's teacher must teach the class: {refusal}"
    );
    let (status, _) = admin
        .put(
            &format!("/api/v1/classes/{MATHS_7A}/timetable/{AUTUMN}"),
            json!({ "lessons": [
                { "weekday": "friday", "start": "08:15", "end": "09:00", "teacher": "T01" },
                { "weekday": "friday", "start": "08:45", "end": "09:30", "teacher": "T01" },
            ]}),
        )
        .await;
    assert_eq!(status, 409, "lessons of one class may not overlap");
    let (status, _) = admin
        .put(
            "/api/v1/classes/CLS-NOPE/timetable/TERM-2025-S",
            maths_timetable(),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = admin
        .put(
            &format!("/api/v1/classes/{MATHS_7A}/timetable/TERM-NOPE"),
            maths_timetable(),
        )
        .await;
    assert_eq!(status, 404);

    // The refused writes changed nothing; class members read the timetable, others may not.
    let pupil = school.login("aino.makinen01").await;
    let (status, read) = pupil
        .get(&format!("/api/v1/classes/{MATHS_7A}/timetable/{AUTUMN}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["lessons"], timetable["lessons"]);
    let pupil_of_7b = school.login("ella.koskinen07").await;
    let (status, _) = pupil_of_7b
        .get(&format!("/api/v1/classes/{MATHS_7A}/timetable/{AUTUMN}"))
        .await;
    assert_eq!(status, 403);

    // A single lesson added and removed again.
    let (status, added) = maths_teacher
        .post(
            &format!("/api/v1/classes/{MATHS_7A}/timetable/{AUTUMN}/lessons"),
            json!({ "weekday": "friday", "start": "12:00", "end": "12:45", "teacher": "T01" }),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let added_id = added["id"].as_str().expect("id");
    let (status, _) = maths_teacher
        .delete(&format!(
            "/api/v1/classes/{MATHS_7A}/timetable/{AUTUMN}/lessons/{added_id}"
        ))
        .await;
    assert_eq!(status, 204);

    // The teacher's Monday: the maths lesson they teach, not the mother tongue lesson after it.
    let (status, day) = maths_teacher
        .get(&format!("/api/v1/timetable?date={MONDAY}"))
        .await;
    assert_eq!(status, 200, "{day}");
    let classes: Vec<&str> = day["lessons"]
        .as_array()
        .expect("lessons")
        .iter()
        .map(|lesson| lesson["class"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(classes, [MATHS_7A]);
    assert_eq!(day["lessons"][0]["start"], "08:15");
    assert_eq!(day["lessons"][0]["room"], "B204");
    assert_eq!(day["lessons"][0]["role"], "teacher");

    // The pupil's Monday: both of their lessons, in start order.
    let (_, day) = pupil.get(&format!("/api/v1/timetable?date={MONDAY}")).await;
    let lessons: Vec<(&str, &str)> = day["lessons"]
        .as_array()
        .expect("lessons")
        .iter()
        .map(|lesson| {
            (
                lesson["class"].as_str().unwrap_or_default(),
                lesson["teacher_name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        lessons,
        [
            (MATHS_7A, "Leena Korhonen"),
            (MOTHER_TONGUE_7A, "Mikko Nieminen")
        ]
    );
    let (_, tuesday) = pupil
        .get(&format!("/api/v1/timetable?date={TUESDAY}"))
        .await;
    assert_eq!(tuesday["lessons"], json!([]));

    // A guardian follows their own child only.
    let guardian = school.login("marja.makinen").await;
    let (status, child_day) = guardian
        .get(&format!("/api/v1/timetable?date={MONDAY}&pupil=P01"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(child_day["lessons"], day["lessons"]);
    let other_guardian = school.login("pekka.koskinen").await;
    let (status, _) = other_guardian
        .get(&format!("/api/v1/timetable?date={MONDAY}&pupil=P01"))
        .await;
    assert_eq!(status, 403);
    // A pupil who does not exist is refused like someone else's child, so that probing ids tells
    // a guardian nothing; school-wide staff, who may read every pupil, learn that there is none.
    let (status, _) = guardian.get("/api/v1/timetable?pupil=P99").await;
    assert_eq!(status, 403);
    let admin = school.login("sari.lehtonen").await;
    let (status, _) = admin.get("/api/v1/timetable?pupil=P99").await;
    assert_eq!(status, 404);
    let (status, _) = guardian.get("/api/v1/timetable?date=2025-13-01").await;
    assert_eq!(status, 400);

    // Without a date the day is today by the node's clock.
    let (status, today) = pupil.get("/api/v1/timetable").await;
    assert_eq!(status, 200);
    assert!(today["date"].as_str().is_some_and(|date| date.len() == 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teachers_mark_their_lessons_and_pupils_see_only_their_own_absences() {
    let school = TestSchool::start().await;
    let admin = school.login("sari.lehtonen").await;
    let timetable = set_timetable(&admin, MATHS_7A, maths_timetable()).await;
    let monday_lesson = lesson_on(&timetable, "monday");
    let wednesday_lesson = lesson_on(&timetable, "wednesday");
    let maths_teacher = school.login("leena.korhonen").await;
    let other_teacher = school.login("mikko.nieminen").await;

    let marks = json!({ "marks": {
        "P01": { "status": "absent" },
        "P02": { "status": "late", "reason": "bussi myöhässä" },
        "P03": { "status": "present" },
    }});
    let path = format!("/api/v1/classes/{MATHS_7A}/attendance/{MONDAY}/{monday_lesson}");
    let (status, marked) = maths_teacher.put(&path, marks.clone()).await;
    assert_eq!(status, 200, "{marked}");
    assert_eq!(
        marks_of(&marked),
        [
            ("P01".to_owned(), "absent".to_owned()),
            ("P02".to_owned(), "late".to_owned()),
            ("P03".to_owned(), "present".to_owned()),
        ]
    );
    assert_eq!(marked["term"], AUTUMN);
    assert_eq!(marked["marks"][0]["marked_by"], "T01");
    assert!(
        marked["marks"][0]["marked_at"]
            .as_i64()
            .is_some_and(|at| at > 0)
    );

    let (status, _) = other_teacher.put(&path, marks.clone()).await;
    assert_eq!(
        status, 403,
        "a teacher of another class cannot mark this one"
    );
    let (status, refusal) = maths_teacher
        .put(&path, json!({ "marks": { "P07": { "status": "absent" } } }))
        .await;
    assert_eq!(status, 400, "a pupil of another class: {refusal}");
    let (status, _) = maths_teacher
        .put(
            &format!("/api/v1/classes/{MATHS_7A}/attendance/{MONDAY}/{wednesday_lesson}"),
            marks.clone(),
        )
        .await;
    assert_eq!(status, 400, "the Wednesday lesson is not on a Monday");
    let (status, _) = maths_teacher
        .put(
            &format!("/api/v1/classes/{MATHS_7A}/attendance/{MONDAY}/00000000000000ff"),
            marks.clone(),
        )
        .await;
    assert_eq!(status, 404, "no such lesson in the timetable");
    let (status, _) = maths_teacher
        .put(
            &format!("/api/v1/classes/{MATHS_7A}/attendance/2025-12-29/{monday_lesson}"),
            marks.clone(),
        )
        .await;
    assert_eq!(status, 404, "the Christmas break is in no term");

    // The class's day: the teacher and staff see every mark, a pupil does not.
    let day_path = format!("/api/v1/classes/{MATHS_7A}/attendance/{MONDAY}");
    let (status, day) = maths_teacher.get(&day_path).await;
    assert_eq!(status, 200);
    assert_eq!(day["marks"].as_array().map(Vec::len), Some(3));
    assert_eq!(day["lessons"][0]["id"], monday_lesson.as_str());
    let (status, _) = admin.get(&day_path).await;
    assert_eq!(status, 200);
    let pupil = school.login("aino.makinen01").await;
    let (status, _) = pupil.get(&day_path).await;
    assert_eq!(status, 403);
    let (status, _) = other_teacher.get(&day_path).await;
    assert_eq!(status, 403);

    // The pupil sees their own absence and its totals.
    let (status, absences) = pupil.get("/api/v1/pupils/P01/absences").await;
    assert_eq!(status, 200, "{absences}");
    assert_eq!(absences["school_year"], "2026");
    assert_eq!(absences["absences"].as_array().map(Vec::len), Some(1));
    assert_eq!(absences["absences"][0]["status"], "absent");
    assert_eq!(absences["absences"][0]["date"], MONDAY);
    assert_eq!(absences["totals"]["absent_minutes"], 45);
    assert_eq!(absences["totals"]["absence_hours"], 1.0);
    assert_eq!(absences["crossed_thresholds"], json!([]));
    let classmate = school.login("veera.laine03").await;
    let (status, _) = classmate.get("/api/v1/pupils/P01/absences").await;
    assert_eq!(
        status, 403,
        "a classmate cannot see another pupil's absences"
    );
    let (status, late) = school
        .login("marja.makinen")
        .await
        .get("/api/v1/pupils/P02/absences")
        .await;
    assert_eq!(status, 200, "a guardian sees their child's record");
    assert_eq!(late["totals"]["late_lessons"], 1);
    assert_eq!(late["totals"]["absent_minutes"], 0);
    assert_eq!(late["absences"][0]["reason"], "bussi myöhässä");
    let (status, _) = school
        .login("pekka.koskinen")
        .await
        .get("/api/v1/pupils/P01/absences")
        .await;
    assert_eq!(status, 403);
    let (status, _) = admin.get("/api/v1/pupils/P99/absences").await;
    assert_eq!(status, 404);

    // Marking again replaces the mark.
    let (status, _) = maths_teacher
        .put(
            &path,
            json!({ "marks": { "P01": { "status": "present" } } }),
        )
        .await;
    assert_eq!(status, 200);
    let (_, absences) = pupil.get("/api/v1/pupils/P01/absences").await;
    assert_eq!(absences["absences"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_report_and_clear_their_own_childs_absences() {
    let school = TestSchool::start().await;
    let admin = school.login("sari.lehtonen").await;
    let timetable = set_timetable(&admin, MATHS_7A, maths_timetable()).await;
    let monday_lesson = lesson_on(&timetable, "monday");
    let maths_teacher = school.login("leena.korhonen").await;
    for date in [MONDAY, "2025-09-15"] {
        let (status, _) = maths_teacher
            .put(
                &format!("/api/v1/classes/{MATHS_7A}/attendance/{date}/{monday_lesson}"),
                json!({ "marks": { "P01": { "status": "absent" } } }),
            )
            .await;
        assert_eq!(status, 200);
    }

    let guardian = school.login("marja.makinen").await;
    let other_guardian = school.login("pekka.koskinen").await;
    let report = json!({ "first_date": MONDAY, "last_date": TUESDAY, "reason": "Flunssa" });
    let (status, _) = other_guardian
        .post("/api/v1/pupils/P01/absence-reports", report.clone())
        .await;
    assert_eq!(status, 403, "only the pupil's own guardian reports");
    let (status, _) = maths_teacher
        .post("/api/v1/pupils/P01/absence-reports", report.clone())
        .await;
    assert_eq!(status, 403, "teachers do not file guardians' reports");
    let (status, filed) = guardian
        .post("/api/v1/pupils/P01/absence-reports", report)
        .await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["cleared"], false);
    let mut classes: Vec<&str> = filed["placements"]
        .as_array()
        .expect("placements")
        .iter()
        .map(|placement| placement["class"].as_str().unwrap_or_default())
        .collect();
    classes.sort_unstable();
    assert_eq!(
        classes,
        ["CLS-7A-AI", "CLS-7A-MA", "CLS-7AB-EN"],
        "a whole-day report goes to every class of the pupil in that term"
    );
    let report_id = filed["id"].as_str().expect("id").to_owned();

    let (_, before) = guardian.get("/api/v1/pupils/P01/absences").await;
    assert_eq!(before["reports"].as_array().map(Vec::len), Some(1));
    assert_eq!(before["totals"]["explained_minutes"], 0);

    let clear = json!({ "report_id": report_id });
    let (status, _) = other_guardian
        .post("/api/v1/pupils/P01/absences/clear", clear.clone())
        .await;
    assert_eq!(status, 403, "another child's guardian cannot clear it");
    let (status, cleared) = guardian
        .post("/api/v1/pupils/P01/absences/clear", clear.clone())
        .await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["cleared"], true);
    assert_eq!(cleared["placements"][0]["cleared_by"], "G01");
    let (status, _) = guardian
        .post("/api/v1/pupils/P01/absences/clear", clear)
        .await;
    assert_eq!(status, 409, "a report is cleared once");
    let (status, _) = guardian
        .post(
            "/api/v1/pupils/P01/absences/clear",
            json!({ "report_id": "00000000000000ee" }),
        )
        .await;
    assert_eq!(status, 404);

    let (_, after) = guardian.get("/api/v1/pupils/P01/absences").await;
    assert_eq!(after["totals"]["absent_minutes"], 90);
    assert_eq!(after["totals"]["explained_minutes"], 45);
    let explained: Vec<(&str, bool)> = after["absences"]
        .as_array()
        .expect("absences")
        .iter()
        .map(|absence| {
            (
                absence["date"].as_str().unwrap_or_default(),
                absence["explained"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(explained, [(MONDAY, true), ("2025-09-15", false)]);

    // An explanation of the second absence, for its lesson only, in one step.
    let (status, explanation) = guardian
        .post(
            "/api/v1/pupils/P01/absences/clear",
            json!({ "explanation": {
                "first_date": "2025-09-15",
                "lesson_ids": [monday_lesson],
                "reason": "Hammaslääkäri",
            }}),
        )
        .await;
    assert_eq!(status, 200, "{explanation}");
    assert_eq!(explanation["cleared"], true);
    assert_eq!(
        explanation["placements"].as_array().map(Vec::len),
        Some(1),
        "a report naming lessons goes only to the class of those lessons"
    );
    let (_, explained) = guardian.get("/api/v1/pupils/P01/absences").await;
    assert_eq!(explained["totals"]["explained_minutes"], 90);

    let (status, _) = other_guardian
        .post(
            "/api/v1/pupils/P01/absences/clear",
            json!({ "explanation": { "first_date": MONDAY, "reason": "x" } }),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = guardian
        .post(
            "/api/v1/pupils/P01/absence-reports",
            json!({ "first_date": "2025-12-27", "reason": "Joululoma" }),
        )
        .await;
    assert_eq!(status, 400, "no term covers the Christmas break");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absences_summed_over_classes_raise_an_alert_at_thirty_hours() {
    let school = TestSchool::start().await;
    let admin = school.login("sari.lehtonen").await;
    let weekdays = ["monday", "tuesday", "wednesday", "thursday"];
    let maths = set_timetable(
        &admin,
        MATHS_7A,
        json!({ "lessons": weekdays
            .iter()
            .map(|weekday| json!({ "weekday": weekday, "start": "08:15", "end": "09:00", "teacher": "T01" }))
            .collect::<Vec<_>>() }),
    )
    .await;
    let mother_tongue = set_timetable(
        &admin,
        MOTHER_TONGUE_7A,
        json!({ "lessons": [{ "weekday": "friday", "start": "09:15", "end": "10:00", "teacher": "T02" }] }),
    )
    .await;
    let maths_teacher = school.login("leena.korhonen").await;
    let other_teacher = school.login("mikko.nieminen").await;

    // Seven weeks from Monday 2025-09-01 of maths, Monday to Thursday: 28 lessons of 45 minutes
    // for P01, and one for P02.
    for week in 0..7 {
        for (offset, weekday) in weekdays.iter().enumerate() {
            let date = days_after("2025-09-01", week * 7 + offset as i64);
            let lesson = lesson_on(&maths, weekday);
            let mut marks = json!({ "P01": { "status": "absent" } });
            if week == 0 && offset == 0 {
                marks["P02"] = json!({ "status": "absent" });
            }
            let (status, body) = maths_teacher
                .put(
                    &format!("/api/v1/classes/{MATHS_7A}/attendance/{date}/{lesson}"),
                    json!({ "marks": marks }),
                )
                .await;
            assert_eq!(status, 200, "{date}: {body}");
        }
    }
    // Two Friday mother tongue lessons bring P01 to 30 hours; the first leaves them at 29.
    let friday_lesson = lesson_on(&mother_tongue, "friday");
    let mark_friday = |date: &'static str| {
        let path = format!("/api/v1/classes/{MOTHER_TONGUE_7A}/attendance/{date}/{friday_lesson}");
        let teacher = &other_teacher;
        async move {
            let (status, body) = teacher
                .put(&path, json!({ "marks": { "P01": { "status": "absent" } } }))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    mark_friday("2025-09-05").await;
    let (status, alerts) = admin.get("/api/v1/attendance/alerts").await;
    assert_eq!(status, 200, "{alerts}");
    assert_eq!(
        alerts["alerts"],
        json!([]),
        "29 hours is below the first threshold"
    );
    mark_friday("2025-09-12").await;

    let (status, absences) = admin.get("/api/v1/pupils/P01/absences").await;
    assert_eq!(status, 200);
    assert_eq!(absences["totals"]["absent_lessons"], 30);
    assert_eq!(absences["totals"]["absence_hours"], 30.0);
    assert_eq!(absences["crossed_thresholds"], json!([30]));

    for (viewer, who) in [
        (&admin, "the administrator"),
        (&maths_teacher, "the maths teacher"),
        (&other_teacher, "the mother tongue teacher"),
    ] {
        let (status, alerts) = viewer
            .get("/api/v1/attendance/alerts?school_year=2026")
            .await;
        assert_eq!(status, 200, "{who}: {alerts}");
        assert_eq!(alerts["thresholds"], json!([30, 50, 70]));
        let alerted: Vec<&str> = alerts["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .map(|alert| alert["pupil"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            alerted,
            ["P01"],
            "{who} sees P01's alert, not P02's single absence"
        );
        assert_eq!(alerts["alerts"][0]["crossed_thresholds"], json!([30]));
        assert_eq!(alerts["alerts"][0]["totals"]["absent_minutes"], 30 * 45);
    }

    for outsider in ["aino.makinen01", "marja.makinen"] {
        let (status, _) = school
            .login(outsider)
            .await
            .get("/api/v1/attendance/alerts")
            .await;
        assert_eq!(status, 403, "{outsider} does not see alerts");
    }
    let (status, _) = admin
        .get("/api/v1/attendance/alerts?school_year=1999")
        .await;
    assert_eq!(status, 404);
}
