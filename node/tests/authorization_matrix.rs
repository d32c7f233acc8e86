//! Every route against every role and relation: who is let through, who is refused.
//!
//! The actors, from the roster fixture (see `common/mod.rs`), all relative to class CLS-7A-MA
//! (7A maths) and its pupil P01:
//!
//! | Actor | User | Relation |
//! |---|---|---|
//! | anonymous | — | no session |
//! | pupil | P01 `aino.makinen01` | in the class; the pupil of pupil routes |
//! | other pupil | P07 `ella.koskinen07` | 7B, not in the class |
//! | guardian | G01 `marja.makinen` | guardian of P01 |
//! | other guardian | G04 `pekka.koskinen` | guardian of P07 and P08 |
//! | teacher | T01 `leena.korhonen` | teaches the class |
//! | other teacher | T02 `mikko.nieminen` | teaches P01 in other classes, not this one |
//! | admin | ADM01 `sari.lehtonen` | school administrator |
//!
//! Each case lists the actors let through; every other actor must be refused (401 without a
//! session, 403 otherwise; 404 where a route hides whether something exists). An actor let through
//! must get a success status, or one of the case's listed outcomes (a second delete of the same item
//! finds nothing). A final check makes sure the cases cover every route of the OpenAPI document, so
//! a new route without a row here fails the test.

mod common;

use std::collections::BTreeSet;

use common::{Client, TestSchool};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Actor {
    Anonymous,
    Pupil,
    OtherPupil,
    Guardian,
    OtherGuardian,
    Teacher,
    OtherTeacher,
    Admin,
}

use Actor::*;

const EVERYONE_LOGGED_IN: &[Actor] = &[
    Pupil,
    OtherPupil,
    Guardian,
    OtherGuardian,
    Teacher,
    OtherTeacher,
    Admin,
];
/// Members of 7A maths, the guardian of one, and the administrator (school-wide).
const CLASS_READERS: &[Actor] = &[Pupil, Guardian, Teacher, Admin];
/// P01 themself, their guardian, their teachers, and the administrator.
const PUPIL_READERS: &[Actor] = &[Pupil, Guardian, Teacher, OtherTeacher, Admin];

fn username(actor: Actor) -> Option<&'static str> {
    match actor {
        Anonymous => None,
        Pupil => Some("aino.makinen01"),
        OtherPupil => Some("ella.koskinen07"),
        Guardian => Some("marja.makinen"),
        OtherGuardian => Some("pekka.koskinen"),
        Teacher => Some("leena.korhonen"),
        OtherTeacher => Some("mikko.nieminen"),
        Admin => Some("sari.lehtonen"),
    }
}

const ALL_ACTORS: [Actor; 8] = [
    Anonymous,
    Pupil,
    OtherPupil,
    Guardian,
    OtherGuardian,
    Teacher,
    OtherTeacher,
    Admin,
];

struct Case {
    method: &'static str,
    /// The route as the OpenAPI document names it.
    template: &'static str,
    /// The concrete path requested.
    path: String,
    body: Value,
    allowed: &'static [Actor],
    /// Statuses besides 2xx that count as "let through" (the request passed authorisation but
    /// found nothing left to do).
    also_fine: &'static [u16],
    /// The route answers 404 instead of 403 to those who may not know the item exists.
    hides_existence: bool,
    /// A different body for some actors (a thread cannot be opened with oneself).
    body_for: Vec<(Actor, Value)>,
}

fn case(
    method: &'static str,
    template: &'static str,
    path: String,
    body: Value,
    allowed: &'static [Actor],
) -> Case {
    Case {
        method,
        template,
        path,
        body,
        allowed,
        also_fine: &[],
        hides_existence: false,
        body_for: Vec::new(),
    }
}

async fn send(client: &Client, method: &str, path: &str, body: &Value) -> u16 {
    match method {
        "GET" => client.get(path).await.0,
        "POST" => client.post(path, body.clone()).await.0,
        "PUT" => client.put(path, body.clone()).await.0,
        "DELETE" => client.delete(path).await.0,
        other => panic!("no such method {other}"),
    }
}

/// The ids the cases need: an assignment with an attachment, a submitted piece of work with a file,
/// a timetable lesson, a guardian's thread with the teacher, announcements and a material.
struct World {
    assignment: String,
    attachment: String,
    attachment_ref: Value,
    submission_file: String,
    lesson: String,
    thread: String,
    class_announcement: String,
    school_announcement: String,
    material: String,
    report: String,
}

async fn build_world(school: &TestSchool) -> World {
    // Optional, with a launch address, so that a teacher can place it in a class once the
    // activation case has taken it into use.
    school
        .publish_service(
            "matrix-tool",
            "https://tool.example.fi/callback",
            &["profile"],
            Some("https://tool.example.fi/"),
            true,
            node::model::catalogue::ServiceCategory::Optional,
        )
        .await;
    let teacher = school.login("leena.korhonen").await;
    let pupil = school.login("aino.makinen01").await;
    let guardian = school.login("marja.makinen").await;
    let admin = school.login("sari.lehtonen").await;
    let now = sync_transport::link::now_millis() as i64;

    let (status, attachment) = teacher
        .upload(
            "/api/v1/files?name=ohje.txt",
            b"tee tehtavat".to_vec(),
            "text/plain",
        )
        .await;
    assert_eq!(status, 201, "{attachment}");
    let (status, assignment) = teacher
        .post(
            "/api/v1/classes/CLS-7A-MA/assignments",
            json!({ "title": "Murtoluvut", "instructions": "Laske.", "attachments": [attachment.clone()], "due_at": now + 86_400_000, "cut_off_at": now + 2 * 86_400_000 }),
        )
        .await;
    assert_eq!(status, 201, "{assignment}");
    let assignment_id = assignment["id"].as_str().expect("assignment id").to_owned();
    let (status, work) = pupil
        .upload(
            "/api/v1/files?name=vastaus.txt",
            b"1/2 + 1/4 = 3/4".to_vec(),
            "text/plain",
        )
        .await;
    assert_eq!(status, 201, "{work}");
    let (status, submitted) = pupil
        .put(
            &format!("/api/v1/assignments/{assignment_id}/submission"),
            json!({ "text": "valmis", "files": [work.clone()], "submit": true }),
        )
        .await;
    assert!(status < 300, "{submitted}");

    let (status, timetable) = admin
        .put(
            "/api/v1/classes/CLS-7A-MA/timetable/TERM-2025-S",
            json!({ "lessons": [{ "weekday": "monday", "start": "08:15", "end": "09:00", "room": "B204", "teacher": "T01" }] }),
        )
        .await;
    assert!(status < 300, "{timetable}");
    let lesson = timetable["lessons"][0]["id"]
        .as_str()
        .or_else(|| timetable[0]["id"].as_str())
        .expect("lesson id")
        .to_owned();

    let (status, thread) = guardian
        .post(
            "/api/v1/threads",
            json!({ "participants": ["T01"], "subject": "Poissaolo", "body": "Aino on kipeänä." }),
        )
        .await;
    assert_eq!(status, 201, "{thread}");
    let (status, class_announcement) = teacher
        .post(
            "/api/v1/classes/CLS-7A-MA/announcements",
            json!({ "title": "Koe", "body": "Koe perjantaina." }),
        )
        .await;
    assert!(status < 300, "{class_announcement}");
    let (status, school_announcement) = admin
        .post(
            "/api/v1/announcements/school",
            json!({ "title": "Retki", "body": "Koko koulu retkelle." }),
        )
        .await;
    assert!(status < 300, "{school_announcement}");
    let (status, material_file) = teacher
        .upload(
            "/api/v1/files?name=kaavat.pdf",
            b"%PDF-1.4".to_vec(),
            "application/pdf",
        )
        .await;
    assert_eq!(status, 201);
    let (status, material) = teacher
        .post(
            "/api/v1/classes/CLS-7A-MA/materials",
            json!({ "title": "Kaavat", "kind": "file", "file": material_file }),
        )
        .await;
    assert!(status < 300, "{material}");
    let (status, report) = guardian
        .post(
            "/api/v1/pupils/P01/absence-reports",
            json!({ "first_date": "2025-09-08", "reason": "flunssa" }),
        )
        .await;
    assert!(status < 300, "{report}");

    let id = |value: &Value| -> String {
        value["id"]
            .as_str()
            .or_else(|| value["announcement"]["id"].as_str())
            .or_else(|| value["material"]["id"].as_str())
            .or_else(|| value["thread"]["id"].as_str())
            .or_else(|| value["report"]["id"].as_str())
            .or_else(|| value["report_id"].as_str())
            .unwrap_or_else(|| panic!("an id in {value}"))
            .to_owned()
    };
    World {
        assignment: assignment_id,
        attachment: attachment["blob"].as_str().expect("blob").to_owned(),
        attachment_ref: attachment.clone(),
        submission_file: work["blob"].as_str().expect("blob").to_owned(),
        lesson,
        thread: id(&thread),
        class_announcement: id(&class_announcement),
        school_announcement: id(&school_announcement),
        material: id(&material),
        report: id(&report),
    }
}

fn cases(world: &World) -> Vec<Case> {
    let assignment = &world.assignment;
    let lesson = &world.lesson;
    let thread = &world.thread;
    let now = sync_transport::link::now_millis() as i64;
    let broken_package = json!({ "files": { "manifest.csv": "propertyName,value\n" } });
    let mut cases = vec![
        // Everyone gets an answer; what it holds is checked by
        // `sync_status_shows_its_details_to_administrators_only` below.
        case(
            "GET",
            "/api/v1/sync/status",
            "/api/v1/sync/status".into(),
            Value::Null,
            &ALL_ACTORS,
        ),
        case(
            "GET",
            "/api/v1/me",
            "/api/v1/me".into(),
            Value::Null,
            EVERYONE_LOGGED_IN,
        ),
        case(
            "GET",
            "/api/v1/classes",
            "/api/v1/classes".into(),
            Value::Null,
            EVERYONE_LOGGED_IN,
        ),
        case(
            "GET",
            "/api/v1/classes/{class}",
            "/api/v1/classes/CLS-7A-MA".into(),
            Value::Null,
            CLASS_READERS,
        ),
        Case {
            also_fine: &[422],
            ..case(
                "POST",
                "/api/v1/admin/roster/import",
                "/api/v1/admin/roster/import".into(),
                broken_package,
                &[Admin],
            )
        },
        case(
            "PUT",
            "/api/v1/admin/users/{username}/password",
            "/api/v1/admin/users/veera.laine03/password".into(),
            json!({ "password": "another long password" }),
            &[Admin],
        ),
        // Uploads: any logged-in user (the body here is JSON, a file as far as the route cares).
        case(
            "POST",
            "/api/v1/files",
            "/api/v1/files?name=a.txt".into(),
            json!({ "any": "bytes" }),
            EVERYONE_LOGGED_IN,
        ),
        case(
            "POST",
            "/api/v1/classes/{class}/assignments",
            "/api/v1/classes/CLS-7A-MA/assignments".into(),
            json!({ "title": "Uusi", "due_at": now + 86_400_000 }),
            &[Teacher],
        ),
        case(
            "GET",
            "/api/v1/classes/{class}/assignments",
            "/api/v1/classes/CLS-7A-MA/assignments".into(),
            Value::Null,
            CLASS_READERS,
        ),
        case(
            "GET",
            "/api/v1/assignments/{id}",
            format!("/api/v1/assignments/{assignment}"),
            Value::Null,
            CLASS_READERS,
        ),
        case(
            "PUT",
            "/api/v1/assignments/{id}",
            format!("/api/v1/assignments/{assignment}"),
            json!({ "title": "Murtoluvut 2", "instructions": "Laske.", "attachments": [world.attachment_ref.clone()], "due_at": now + 86_400_000, "cut_off_at": now + 2 * 86_400_000 }),
            &[Teacher],
        ),
        case(
            "PUT",
            "/api/v1/assignments/{id}/extensions/{pupil}",
            format!("/api/v1/assignments/{assignment}/extensions/P02"),
            json!({ "due_at": now + 3 * 86_400_000 }),
            &[Teacher],
        ),
        Case {
            also_fine: &[404],
            ..case(
                "DELETE",
                "/api/v1/assignments/{id}/extensions/{pupil}",
                format!("/api/v1/assignments/{assignment}/extensions/P02"),
                Value::Null,
                &[Teacher],
            )
        },
        Case {
            also_fine: &[409],
            ..case(
                "PUT",
                "/api/v1/assignments/{id}/submission",
                format!("/api/v1/assignments/{assignment}/submission"),
                json!({ "text": "luonnos" }),
                &[Pupil],
            )
        },
        case(
            "GET",
            "/api/v1/assignments/{id}/submissions",
            format!("/api/v1/assignments/{assignment}/submissions"),
            Value::Null,
            &[Teacher],
        ),
        case(
            "GET",
            "/api/v1/assignments/{id}/submissions/{pupil}",
            format!("/api/v1/assignments/{assignment}/submissions/P01"),
            Value::Null,
            &[Pupil, Guardian, Teacher, Admin],
        ),
        Case {
            also_fine: &[409],
            ..case(
                "POST",
                "/api/v1/assignments/{id}/submissions/{pupil}/return",
                format!("/api/v1/assignments/{assignment}/submissions/P01/return"),
                json!({ "feedback": "Hyvä", "grade": "9" }),
                &[Teacher],
            )
        },
        case(
            "GET",
            "/api/v1/assignments/{id}/attachments/{blob}",
            format!(
                "/api/v1/assignments/{assignment}/attachments/{}",
                world.attachment
            ),
            Value::Null,
            CLASS_READERS,
        ),
        case(
            "GET",
            "/api/v1/assignments/{id}/submissions/{pupil}/files/{blob}",
            format!(
                "/api/v1/assignments/{assignment}/submissions/P01/files/{}",
                world.submission_file
            ),
            Value::Null,
            &[Pupil, Guardian, Teacher, Admin],
        ),
        case(
            "GET",
            "/api/v1/classes/{class}/timetable/{term}",
            "/api/v1/classes/CLS-7A-MA/timetable/TERM-2025-S".into(),
            Value::Null,
            CLASS_READERS,
        ),
        case(
            "PUT",
            "/api/v1/classes/{class}/timetable/{term}",
            "/api/v1/classes/CLS-7A-MA/timetable/TERM-2025-S".into(),
            json!({ "lessons": [{ "id": lesson, "weekday": "monday", "start": "08:15", "end": "09:00", "room": "B204", "teacher": "T01" }] }),
            &[Teacher, Admin],
        ),
        Case {
            also_fine: &[409],
            ..case(
                "POST",
                "/api/v1/classes/{class}/timetable/{term}/lessons",
                "/api/v1/classes/CLS-7A-MA/timetable/TERM-2025-S/lessons".into(),
                json!({ "weekday": "tuesday", "start": "10:00", "end": "10:45", "room": "B204", "teacher": "T01" }),
                &[Teacher, Admin],
            )
        },
        case(
            "PUT",
            "/api/v1/classes/{class}/timetable/{term}/lessons/{lesson}",
            format!("/api/v1/classes/CLS-7A-MA/timetable/TERM-2025-S/lessons/{lesson}"),
            json!({ "weekday": "monday", "start": "08:15", "end": "09:00", "room": "B205", "teacher": "T01" }),
            &[Teacher, Admin],
        ),
        case(
            "GET",
            "/api/v1/timetable",
            "/api/v1/timetable?date=2025-09-08".into(),
            Value::Null,
            EVERYONE_LOGGED_IN,
        ),
        case(
            "GET",
            "/api/v1/timetable",
            "/api/v1/timetable?date=2025-09-08&pupil=P01".into(),
            Value::Null,
            PUPIL_READERS,
        ),
        case(
            "PUT",
            "/api/v1/classes/{class}/attendance/{date}/{lesson}",
            format!("/api/v1/classes/CLS-7A-MA/attendance/2025-09-08/{lesson}"),
            json!({ "marks": { "P01": { "status": "absent", "reason": "sairas" } } }),
            &[Teacher, Admin],
        ),
        case(
            "GET",
            "/api/v1/classes/{class}/attendance/{date}",
            "/api/v1/classes/CLS-7A-MA/attendance/2025-09-08".into(),
            Value::Null,
            &[Teacher, Admin],
        ),
        case(
            "GET",
            "/api/v1/pupils/{pupil}/absences",
            "/api/v1/pupils/P01/absences".into(),
            Value::Null,
            PUPIL_READERS,
        ),
        case(
            "POST",
            "/api/v1/pupils/{pupil}/absence-reports",
            "/api/v1/pupils/P01/absence-reports".into(),
            json!({ "first_date": "2025-09-15", "reason": "hammaslääkäri" }),
            &[Guardian],
        ),
        Case {
            also_fine: &[404, 409],
            ..case(
                "POST",
                "/api/v1/pupils/{pupil}/absences/clear",
                "/api/v1/pupils/P01/absences/clear".into(),
                json!({ "report_id": world.report }),
                &[Guardian, Teacher, OtherTeacher],
            )
        },
        case(
            "GET",
            "/api/v1/attendance/alerts",
            "/api/v1/attendance/alerts".into(),
            Value::Null,
            &[Teacher, OtherTeacher, Admin],
        ),
        Case {
            body_for: vec![(
                Admin,
                json!({ "participants": ["T01"], "subject": "Kysymys", "body": "Hei" }),
            )],
            ..case(
                "POST",
                "/api/v1/threads",
                "/api/v1/threads".into(),
                json!({ "participants": ["ADM01"], "subject": "Kysymys", "body": "Hei" }),
                EVERYONE_LOGGED_IN,
            )
        },
        case(
            "GET",
            "/api/v1/threads",
            "/api/v1/threads".into(),
            Value::Null,
            EVERYONE_LOGGED_IN,
        ),
        Case {
            hides_existence: true,
            ..case(
                "GET",
                "/api/v1/threads/{thread}",
                format!("/api/v1/threads/{thread}"),
                Value::Null,
                &[Guardian, Teacher],
            )
        },
        Case {
            hides_existence: true,
            ..case(
                "POST",
                "/api/v1/threads/{thread}/messages",
                format!("/api/v1/threads/{thread}/messages"),
                json!({ "body": "Kiitos" }),
                &[Guardian, Teacher],
            )
        },
        Case {
            hides_existence: true,
            ..case(
                "POST",
                "/api/v1/threads/{thread}/read",
                format!("/api/v1/threads/{thread}/read"),
                json!({}),
                &[Guardian, Teacher],
            )
        },
        case(
            "GET",
            "/api/v1/announcements",
            "/api/v1/announcements".into(),
            Value::Null,
            EVERYONE_LOGGED_IN,
        ),
        case(
            "GET",
            "/api/v1/classes/{class}/announcements",
            "/api/v1/classes/CLS-7A-MA/announcements".into(),
            Value::Null,
            CLASS_READERS,
        ),
        case(
            "POST",
            "/api/v1/classes/{class}/announcements",
            "/api/v1/classes/CLS-7A-MA/announcements".into(),
            json!({ "title": "Muistutus", "body": "Kirjat mukaan." }),
            &[Teacher],
        ),
        case(
            "POST",
            "/api/v1/announcements/school",
            "/api/v1/announcements/school".into(),
            json!({ "title": "Tiedote", "body": "Joulujuhla." }),
            &[Admin],
        ),
        case(
            "GET",
            "/api/v1/classes/{class}/materials",
            "/api/v1/classes/CLS-7A-MA/materials".into(),
            Value::Null,
            CLASS_READERS,
        ),
        case(
            "POST",
            "/api/v1/classes/{class}/materials",
            "/api/v1/classes/CLS-7A-MA/materials".into(),
            json!({ "title": "Linkki", "kind": "link", "url": "https://example.fi/murtoluvut" }),
            &[Teacher],
        ),
        case(
            "GET",
            "/api/v1/classes/{class}/materials/{material}/file",
            format!(
                "/api/v1/classes/CLS-7A-MA/materials/{}/file",
                world.material
            ),
            Value::Null,
            CLASS_READERS,
        ),
    ];
    cases.extend([
        case(
            "GET",
            "/api/v1/services",
            "/api/v1/services".into(),
            Value::Null,
            &[Admin],
        ),
        case(
            "PUT",
            "/api/v1/services/{service}/activation",
            "/api/v1/services/matrix-tool/activation".into(),
            json!({ "approved_claims": ["profile"] }),
            &[Admin],
        ),
        case(
            "GET",
            "/api/v1/audit",
            "/api/v1/audit".into(),
            Value::Null,
            &[Admin],
        ),
        case(
            "GET",
            "/api/v1/tools",
            "/api/v1/tools".into(),
            Value::Null,
            EVERYONE_LOGGED_IN,
        ),
        case(
            "GET",
            "/api/v1/classes/{class}/tools",
            "/api/v1/classes/CLS-7A-MA/tools".into(),
            Value::Null,
            CLASS_READERS,
        ),
        case(
            "PUT",
            "/api/v1/classes/{class}/tools/{service}",
            "/api/v1/classes/CLS-7A-MA/tools/matrix-tool".into(),
            Value::Null,
            &[Teacher],
        ),
    ]);
    // Deletions last, so that the items exist for every case above.
    cases.extend([
        Case {
            also_fine: &[404],
            ..case(
                "DELETE",
                "/api/v1/classes/{class}/tools/{service}",
                "/api/v1/classes/CLS-7A-MA/tools/matrix-tool".into(),
                Value::Null,
                &[Teacher],
            )
        },
        Case {
            also_fine: &[404],
            ..case(
                "DELETE",
                "/api/v1/services/{service}/activation",
                "/api/v1/services/matrix-tool/activation".into(),
                Value::Null,
                &[Admin],
            )
        },
        Case {
            also_fine: &[404],
            ..case(
                "DELETE",
                "/api/v1/classes/{class}/timetable/{term}/lessons/{lesson}",
                format!("/api/v1/classes/CLS-7A-MA/timetable/TERM-2025-S/lessons/{lesson}"),
                Value::Null,
                &[Teacher, Admin],
            )
        },
        Case {
            also_fine: &[404],
            ..case(
                "DELETE",
                "/api/v1/classes/{class}/announcements/{announcement}",
                format!(
                    "/api/v1/classes/CLS-7A-MA/announcements/{}",
                    world.class_announcement
                ),
                Value::Null,
                &[Teacher, Admin],
            )
        },
        Case {
            also_fine: &[404],
            ..case(
                "DELETE",
                "/api/v1/announcements/school/{announcement}",
                format!("/api/v1/announcements/school/{}", world.school_announcement),
                Value::Null,
                &[Admin],
            )
        },
        Case {
            also_fine: &[404],
            ..case(
                "DELETE",
                "/api/v1/classes/{class}/materials/{material}",
                format!("/api/v1/classes/CLS-7A-MA/materials/{}", world.material),
                Value::Null,
                &[Teacher],
            )
        },
    ]);
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_lets_through_exactly_the_roles_and_relations_it_should() {
    let school = TestSchool::start().await;
    let world = build_world(&school).await;
    let mut clients = Vec::new();
    for actor in ALL_ACTORS {
        let client = match username(actor) {
            Some(name) => school.login(name).await,
            None => school.anonymous(),
        };
        clients.push((actor, client));
    }
    let mut failures = Vec::new();
    for case in cases(&world) {
        // Refused actors first, so that a write they must not make cannot hide behind one that was
        // allowed before it.
        let (allowed, refused): (Vec<_>, Vec<_>) = clients
            .iter()
            .partition(|(actor, _)| case.allowed.contains(actor));
        for (actor, client) in refused.iter().chain(allowed.iter()) {
            let body = case
                .body_for
                .iter()
                .find(|(special, _)| special == actor)
                .map_or(&case.body, |(_, body)| body);
            let status = send(client, case.method, &case.path, body).await;
            let let_through = case.allowed.contains(actor);
            let fine = if let_through {
                (200..300).contains(&status) || case.also_fine.contains(&status)
            } else if *actor == Anonymous {
                status == 401
            } else {
                status == 403 || (case.hides_existence && status == 404)
            };
            if !fine {
                failures.push(format!(
                    "{} {} as {actor:?}: got {status}, expected {}",
                    case.method,
                    case.path,
                    if let_through {
                        "success"
                    } else if *actor == Anonymous {
                        "401"
                    } else {
                        "refusal"
                    }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorisation matrix mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_matrix_covers_every_route_of_the_api_document() {
    let world = World {
        assignment: "a".into(),
        attachment: "b".into(),
        attachment_ref: Value::Null,
        submission_file: "c".into(),
        lesson: "d".into(),
        thread: "e".into(),
        class_announcement: "f".into(),
        school_announcement: "g".into(),
        material: "h".into(),
        report: "i".into(),
    };
    let covered: BTreeSet<(String, String)> = cases(&world)
        .iter()
        .map(|case| (case.method.to_lowercase(), case.template.to_owned()))
        .collect();
    let document =
        serde_json::to_value(<node::api::openapi::ApiDocument as utoipa::OpenApi>::openapi())
            .expect("document serialises");
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    // Logging in and out is the auth layer's own test (tests/auth.rs), by design outside the matrix.
    for session in ["get", "post", "delete"] {
        documented.remove(&(session.to_owned(), "/api/v1/session".to_owned()));
    }
    let missing: Vec<_> = documented.difference(&covered).collect();
    let unknown: Vec<_> = covered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "matrix rows for routes the API document does not list: {unknown:?}"
    );
}

/// The OneRoster routes (`node::oneroster`): no user's session opens any of them, not even the
/// administrator's; only a service's client-credentials token does. The rows name every route of
/// `node::oneroster::ROUTE_TEMPLATES`, so a new route without a row fails here.
/// Issue 18, item 8: `GET /api/v1/sync/status` answers everyone, but only with the `state` a
/// health check needs; the node's id, its relay, the counts of what waits and the errors are the
/// administrator's (a session with the admin role, or the node's local admin token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_status_shows_its_details_to_administrators_only() {
    let school = TestSchool::start().await;
    let mut failures = Vec::new();
    for actor in ALL_ACTORS {
        let client = match username(actor) {
            Some(name) => school.login(name).await,
            None => school.anonymous(),
        };
        let (status, view) = client.get("/api/v1/sync/status").await;
        let fields: BTreeSet<String> = view
            .as_object()
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default();
        let full = [
            "node_id",
            "relay_address",
            "documents_waiting_to_send",
            "last_error",
        ]
        .iter()
        .all(|field| fields.contains(*field));
        let fine = status == 200
            && view["state"] == "standalone"
            && if actor == Admin {
                full
            } else {
                fields == BTreeSet::from(["state".to_owned()])
            };
        if !fine {
            failures.push(format!("{actor:?}: {status} {view}"));
        }
    }
    let token = std::fs::read_to_string(school.node.state.config.admin_token_file())
        .expect("the local admin token");
    let view: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/sync/status", school.base))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    if view.get("node_id").is_none() || view.get("documents_waiting_to_send").is_none() {
        failures.push(format!("the local admin token: {view}"));
    }
    assert!(
        failures.is_empty(),
        "sync status views:\n{}",
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneroster_routes_open_only_to_a_services_roster_token() {
    const SCOPE: &str = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly";
    let school = TestSchool::start().await;
    let secret = school
        .publish_oidc_service("matrix-roster", "http://127.0.0.1:9/cb", &[SCOPE])
        .await;
    let admin = school.login("sari.lehtonen").await;
    let (status, body) = admin
        .put(
            "/api/v1/services/matrix-roster/activation",
            json!({ "approved_claims": [SCOPE] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/oidc/token", school.base))
        .basic_auth("matrix-roster", Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", SCOPE)])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token json");
    let token = token["access_token"].as_str().expect("a token").to_owned();
    let base = format!("{}{}", school.base, node::oneroster::BASE_PATH);
    let first_id = |collection: &'static str| {
        let http = http.clone();
        let base = base.clone();
        let token = token.clone();
        async move {
            let listing: Value = http
                .get(format!("{base}/{collection}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            let key = if collection == "enrollments" {
                "enrollments"
            } else {
                "users"
            };
            listing[key][0]["sourcedId"]
                .as_str()
                .expect("an id")
                .to_owned()
        }
    };
    let pupil = first_id("students").await;
    let teacher = first_id("teachers").await;
    let enrollment = first_id("enrollments").await;
    let rows: Vec<(&str, String)> = vec![
        ("/orgs", "/orgs".into()),
        ("/orgs/{id}", "/orgs/ORG-30076".into()),
        ("/schools", "/schools".into()),
        ("/schools/{id}", "/schools/ORG-30076".into()),
        ("/schools/{id}/classes", "/schools/ORG-30076/classes".into()),
        ("/academicSessions", "/academicSessions".into()),
        (
            "/academicSessions/{id}",
            "/academicSessions/SY-2025-2026".into(),
        ),
        ("/terms", "/terms".into()),
        ("/terms/{id}", "/terms/TERM-2025-S".into()),
        ("/courses", "/courses".into()),
        ("/courses/{id}", "/courses/CRS-MA7".into()),
        ("/classes", "/classes".into()),
        ("/classes/{id}", "/classes/CLS-7A-MA".into()),
        (
            "/classes/{id}/students",
            "/classes/CLS-7A-MA/students".into(),
        ),
        (
            "/classes/{id}/teachers",
            "/classes/CLS-7A-MA/teachers".into(),
        ),
        ("/users", "/users".into()),
        ("/users/{id}", format!("/users/{pupil}")),
        ("/students", "/students".into()),
        ("/students/{id}", format!("/students/{pupil}")),
        ("/teachers", "/teachers".into()),
        ("/teachers/{id}", format!("/teachers/{teacher}")),
        ("/enrollments", "/enrollments".into()),
        ("/enrollments/{id}", format!("/enrollments/{enrollment}")),
    ];
    let templates: BTreeSet<&str> = rows.iter().map(|(template, _)| *template).collect();
    assert_eq!(
        templates,
        node::oneroster::ROUTE_TEMPLATES
            .into_iter()
            .collect::<BTreeSet<_>>(),
        "every OneRoster route has a row"
    );
    let mut sessions = Vec::new();
    for actor in ALL_ACTORS {
        let client = match username(actor) {
            Some(name) => school.login(name).await,
            None => school.anonymous(),
        };
        sessions.push((actor, client));
    }
    let mut failures = Vec::new();
    for (template, path) in &rows {
        for (actor, client) in &sessions {
            let (status, _) = client
                .get(&format!("{}{path}", node::oneroster::BASE_PATH))
                .await;
            if status != 401 {
                failures.push(format!(
                    "{template} as {actor:?}: got {status}, expected 401"
                ));
            }
        }
        let status = http
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("read")
            .status()
            .as_u16();
        if status != 200 {
            failures.push(format!("{template} with the roster token: got {status}"));
        }
    }
    assert!(
        failures.is_empty(),
        "OneRoster mismatches:\n{}",
        failures.join("\n")
    );
}

/// The LTI platform's routes (`node/src/lti`), which the API document does not list: they are
/// protocol endpoints, like the OpenID Provider's. The routes a user's browser opens are checked
/// against every actor as above; the routes a tool calls take no session at all, so every actor's
/// session is refused there (the tool's own credentials are `tests/lti.rs`'s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lti_routes_let_through_exactly_the_roles_and_relations_they_should() {
    use base64::Engine as _;
    use rsa::traits::PublicKeyParts as _;

    let school = TestSchool::start().await;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
    let encode = |bytes: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwk = json!({ "kty": "RSA", "alg": "RS256", "use": "sig",
                      "n": encode(key.n().to_bytes_be()), "e": encode(key.e().to_bytes_be()) })
    .to_string();
    // The tool's login initiation URL is the node's own login page, so that a browser let
    // through follows the redirect to a page that answers.
    school
        .publish_lti_tool("matrix-lti", &school.base, &jwk, &["profile"])
        .await;
    let admin = school.login("sari.lehtonen").await;
    let (status, body) = admin
        .put(
            "/api/v1/services/matrix-lti/activation",
            json!({ "approved_claims": ["profile"] }),
        )
        .await;
    assert!(status < 300, "{body}");
    let teacher = school.login("leena.korhonen").await;
    let (status, body) = teacher
        .put("/api/v1/classes/CLS-7A-MA/tools/matrix-lti", Value::Null)
        .await;
    assert!(status < 300, "{body}");
    let (status, assignment) = teacher
        .post(
            "/api/v1/classes/CLS-7A-MA/assignments",
            json!({ "title": "Peli", "due_at": 4_000_000_000_000i64,
                    "lti_tool": { "service_id": "matrix-lti", "score_maximum": 10.0 } }),
        )
        .await;
    assert_eq!(status, 201, "{assignment}");
    let assignment = assignment["id"].as_str().expect("id").to_owned();

    let browser_cases = [
        case(
            "GET",
            "/lti/launch/{service}",
            "/lti/launch/matrix-lti?class=CLS-7A-MA".into(),
            Value::Null,
            CLASS_READERS,
        ),
        case(
            "GET",
            "/lti/launch/{service}",
            format!("/lti/launch/matrix-lti?assignment={assignment}"),
            Value::Null,
            CLASS_READERS,
        ),
        case(
            "GET",
            "/lti/deep-linking/{service}",
            "/lti/deep-linking/matrix-lti?class=CLS-7A-MA".into(),
            Value::Null,
            &[Teacher],
        ),
    ];
    // Refused to every session (401: no tool token or assertion) or malformed without the
    // tool's signed parameters (400).
    let tool_cases: [(&str, String, u16); 7] = [
        ("GET", "/lti/classes/CLS-7A-MA/lineitems".into(), 401),
        (
            "GET",
            format!("/lti/assignments/{assignment}/lineitem"),
            401,
        ),
        (
            "POST",
            format!("/lti/assignments/{assignment}/lineitem/scores"),
            401,
        ),
        ("GET", "/lti/classes/CLS-7A-MA/memberships".into(), 401),
        ("POST", "/lti/token".into(), 400),
        ("GET", "/lti/authorize".into(), 400),
        ("POST", "/lti/deep-linking/return".into(), 400),
    ];
    let mut failures = Vec::new();
    for actor in ALL_ACTORS {
        let client = match username(actor) {
            Some(name) => school.login(name).await,
            None => school.anonymous(),
        };
        for case in &browser_cases {
            let status = send(&client, case.method, &case.path, &case.body).await;
            let let_through = case.allowed.contains(&actor);
            let fine = if let_through {
                (200..300).contains(&status)
            } else if actor == Anonymous {
                status == 401
            } else {
                status == 403
            };
            if !fine {
                failures.push(format!(
                    "{} {} as {actor:?}: got {status}",
                    case.method, case.path
                ));
            }
        }
        for (method, path, expected) in &tool_cases {
            let status = send(&client, method, path, &Value::Null).await;
            if status != *expected {
                failures.push(format!(
                    "{method} {path} as {actor:?}: got {status}, expected {expected}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "LTI authorisation mismatches:\n{}",
        failures.join("\n")
    );
}
