//! Assignments, submissions and files over real HTTP: the whole flow from a teacher's attachment to
//! a returned and resubmitted piece of work, deadlines judged by node time, who may see what, and
//! the upload limit.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Client, TestSchool};
use node::model::assignments::{AssignmentDocument, assignment_doc};
use node::model::common::{FileRef, ItemId, ModelError, NodeTime};
use serde_json::{Value, json};
use sync_protocol::ids::BlobId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOUR_MS: i64 = 3_600_000;
const MATHS_7A: &str = "CLS-7A-MA";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// Bytes that differ from position to position, so a misplaced chunk would show.
fn patterned_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|index| (index as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A download with its headers.
async fn download(client: &Client, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = client
        .http
        .get(format!("{}{path}", client.base))
        .header("cookie", &client.cookie)
        .send()
        .await
        .expect("download request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.bytes().await.expect("body").to_vec(),
    )
}

async fn upload(client: &Client, name: &str, bytes: Vec<u8>, media_type: &str) -> Value {
    let (status, file) = client
        .upload(&format!("/api/v1/files?name={name}"), bytes, media_type)
        .await;
    assert_eq!(status, 201, "{file}");
    file
}

async fn create_assignment(client: &Client, class: &str, body: Value) -> Value {
    let (status, assignment) = client
        .post(&format!("/api/v1/classes/{class}/assignments"), body)
        .await;
    assert_eq!(status, 201, "{assignment}");
    assignment
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_sets_work_a_pupil_submits_gets_feedback_and_resubmits() {
    let school = TestSchool::start().await;
    let teacher = school.login("leena.korhonen").await;
    let pupil = school.login("aino.makinen01").await;

    // Larger than two download chunks, so the download is streamed in several steps.
    let instructions_pdf = patterned_bytes(600 * 1024, 7);
    let attachment = upload(
        &teacher,
        "Tehtävät%20%C3%A4.pdf",
        instructions_pdf.clone(),
        "application/pdf",
    )
    .await;
    assert_eq!(attachment["file_name"], "Tehtävät ä.pdf");
    assert_eq!(attachment["size_bytes"], instructions_pdf.len());
    assert_eq!(attachment["media_type"], "application/pdf");
    assert_eq!(
        attachment["blob"].as_str().map(str::len),
        Some(64),
        "{attachment}"
    );

    let due_at = now_ms() + 24 * HOUR_MS;
    let assignment = create_assignment(
        &teacher,
        MATHS_7A,
        json!({
            "title": "Yhtälöt",
            "instructions": "Ratkaise tehtävät 1–10.",
            "attachments": [attachment],
            "due_at": due_at,
            "cut_off_at": due_at + 24 * HOUR_MS,
        }),
    )
    .await;
    let id = assignment["id"].as_str().expect("id").to_owned();
    assert_eq!(assignment["class_id"], MATHS_7A);
    assert_eq!(assignment["created_by"], "T01");

    // The pupil finds it in the class's list, with nothing submitted yet.
    let (status, page) = pupil
        .get(&format!("/api/v1/classes/{MATHS_7A}/assignments"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["assignments"][0]["id"], id.as_str());
    assert_eq!(page["assignments"][0]["my_submission"]["status"], "draft");
    assert!(page["assignments"][0]["submission_counts"].is_null());

    // The attachment downloads whole, named for the browser.
    let blob = attachment["blob"].as_str().expect("blob");
    let (status, headers, bytes) = download(
        &pupil,
        &format!("/api/v1/assignments/{id}/attachments/{blob}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        bytes == instructions_pdf,
        "the downloaded bytes are the uploaded ones"
    );
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        headers["content-length"],
        instructions_pdf.len().to_string().as_str()
    );
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"Teht_v_t _.pdf\"; filename*=UTF-8''Teht%C3%A4v%C3%A4t%20%C3%A4.pdf"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // The pupil uploads their answer and submits. Their device's clock is a day off; the node's
    // clock decides, and the attempt is on time.
    let answer = patterned_bytes(10_000, 3);
    let answer_file = upload(
        &pupil,
        "vastaus.txt",
        answer.clone(),
        "text/plain; charset=utf-8",
    )
    .await;
    assert_eq!(answer_file["media_type"], "text/plain");
    let (status, submission) = pupil
        .put(
            &format!("/api/v1/assignments/{id}/submission"),
            json!({
                "text": "Vastaukset liitteenä.",
                "files": [answer_file],
                "submit": true,
                "device_time": due_at + 24 * HOUR_MS,
            }),
        )
        .await;
    assert_eq!(status, 200, "{submission}");
    assert_eq!(submission["status"], "submitted");
    assert_eq!(submission["attempts"][0]["late"], false);
    assert_eq!(
        submission["attempts"][0]["device_time"],
        due_at + 24 * HOUR_MS
    );
    assert_eq!(
        submission["can_submit"], false,
        "submitted work waits for the teacher"
    );

    let (status, own) = pupil
        .get(&format!("/api/v1/assignments/{id}/submissions/P01"))
        .await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["attempts"][0]["work"]["text"], "Vastaukset liitteenä.");
    assert_eq!(
        own["draft"]["text"], "Vastaukset liitteenä.",
        "the pupil sees their draft"
    );

    // A submitted attempt cannot be changed until it is returned.
    let (status, _) = pupil
        .put(
            &format!("/api/v1/assignments/{id}/submission"),
            json!({ "text": "muutos", "submit": true }),
        )
        .await;
    assert_eq!(status, 409);

    // The teacher sees where the class stands and reads the pupil's file.
    let (status, statuses) = teacher
        .get(&format!("/api/v1/assignments/{id}/submissions"))
        .await;
    assert_eq!(status, 200, "{statuses}");
    let statuses = statuses.as_array().expect("a list");
    assert_eq!(statuses.len(), 6, "every pupil of 7A");
    assert_eq!(statuses[0]["pupil"], "P01");
    assert_eq!(statuses[0]["status"], "submitted");
    assert_eq!(statuses[0]["display_name"], "Aino Mäkinen");
    assert!(
        statuses[1..]
            .iter()
            .all(|status| status["status"] == "draft")
    );
    let (_, page) = teacher
        .get(&format!("/api/v1/classes/{MATHS_7A}/assignments"))
        .await;
    assert_eq!(
        page["assignments"][0]["submission_counts"],
        json!({ "pupils": 6, "not_submitted": 5, "submitted": 1, "returned": 0, "late": 0 })
    );
    let answer_blob = answer_file["blob"].as_str().expect("blob");
    let answer_path = format!("/api/v1/assignments/{id}/submissions/P01/files/{answer_blob}");
    let (status, headers, bytes) = download(&teacher, &answer_path).await;
    assert_eq!(status, 200);
    assert!(bytes == answer);
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"vastaus.txt\"; filename*=UTF-8''vastaus.txt"
    );
    let (status, teachers_view) = teacher
        .get(&format!("/api/v1/assignments/{id}/submissions/P01"))
        .await;
    assert_eq!(status, 200);
    assert!(
        teachers_view["draft"].is_null(),
        "a draft is the pupil's own"
    );

    // The teacher returns it with feedback and a grade, allowing another attempt.
    let (status, returned) = teacher
        .post(
            &format!("/api/v1/assignments/{id}/submissions/P01/return"),
            json!({ "feedback": "Hyvä! Tarkista tehtävä 7.", "grade": "9-", "allow_resubmission": true }),
        )
        .await;
    assert_eq!(status, 200, "{returned}");
    assert_eq!(returned["status"], "returned");
    let (status, _) = teacher
        .post(
            &format!("/api/v1/assignments/{id}/submissions/P01/return"),
            json!({ "feedback": "uudestaan" }),
        )
        .await;
    assert_eq!(status, 409, "nothing waits to be returned");

    // The pupil sees the feedback and resubmits.
    let (_, own) = pupil
        .get(&format!("/api/v1/assignments/{id}/submissions/P01"))
        .await;
    assert_eq!(own["status"], "returned");
    assert_eq!(
        own["attempts"][0]["feedback"]["text"],
        "Hyvä! Tarkista tehtävä 7."
    );
    assert_eq!(own["attempts"][0]["feedback"]["grade"], "9-");
    assert_eq!(own["attempts"][0]["feedback"]["returned_by"], "T01");
    assert_eq!(own["can_submit"], true);
    let (status, resubmitted) = pupil
        .put(
            &format!("/api/v1/assignments/{id}/submission"),
            json!({ "text": "Tehtävä 7 korjattu.", "files": [answer_file], "submit": true }),
        )
        .await;
    assert_eq!(status, 200, "{resubmitted}");
    assert_eq!(resubmitted["status"], "submitted");
    assert_eq!(resubmitted["attempts"].as_array().map(Vec::len), Some(2));
    let (_, page) = pupil
        .get(&format!("/api/v1/classes/{MATHS_7A}/assignments"))
        .await;
    assert_eq!(page["assignments"][0]["my_submission"]["attempts"], 2);

    // The pupil's guardian reads the work and its files; another pupil's guardian may not.
    let guardian = school.login("marja.makinen").await;
    let (status, seen) = guardian
        .get(&format!("/api/v1/assignments/{id}/submissions/P01"))
        .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["attempts"][0]["feedback"]["grade"], "9-");
    assert!(seen["draft"].is_null());
    let (status, _, bytes) = download(&guardian, &answer_path).await;
    assert_eq!(status, 200);
    assert!(bytes == answer);
    let other_guardian = school.login("pekka.koskinen").await;
    let (status, _) = other_guardian
        .get(&format!("/api/v1/assignments/{id}/submissions/P01"))
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = download(&other_guardian, &answer_path).await;
    assert_eq!(status, 403);

    // A teacher who does not teach 7A maths can neither set work there nor return or read it,
    // though he teaches the same pupil in another class.
    let other_teacher = school.login("mikko.nieminen").await;
    let (status, _) = other_teacher
        .post(
            &format!("/api/v1/classes/{MATHS_7A}/assignments"),
            json!({ "title": "Ei minun", "due_at": due_at }),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = other_teacher
        .post(
            &format!("/api/v1/assignments/{id}/submissions/P01/return"),
            json!({ "feedback": "?" }),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = other_teacher
        .get(&format!("/api/v1/assignments/{id}/submissions/P01"))
        .await;
    assert_eq!(status, 403);
    let (status, _) = other_teacher
        .put(
            &format!("/api/v1/assignments/{id}"),
            json!({ "title": "Muutettu", "due_at": due_at }),
        )
        .await;
    assert_eq!(status, 403);

    // A pupil of 7B sees nothing of 7A's assignment; a classmate not another pupil's work.
    let outsider = school.login("ella.koskinen07").await;
    let (status, _) = outsider.get(&format!("/api/v1/assignments/{id}")).await;
    assert_eq!(status, 403);
    let (status, _, _) = download(
        &outsider,
        &format!("/api/v1/assignments/{id}/attachments/{blob}"),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = outsider
        .put(
            &format!("/api/v1/assignments/{id}/submission"),
            json!({ "text": "x", "submit": true }),
        )
        .await;
    assert_eq!(status, 403);
    let classmate = school.login("eino.makinen02").await;
    let (status, _) = classmate
        .get(&format!("/api/v1/assignments/{id}/submissions/P01"))
        .await;
    assert_eq!(status, 403);
    let (status, _) = pupil
        .get(&format!("/api/v1/assignments/{id}/submissions"))
        .await;
    assert_eq!(status, 403, "only the class's teachers see every pupil");
    let (status, _) = pupil
        .post(
            &format!("/api/v1/assignments/{id}/submissions/P01/return"),
            json!({ "feedback": "itse" }),
        )
        .await;
    assert_eq!(status, 403);

    // Unknown things are 404: an assignment, a pupil outside the class, a file not among the
    // assignment's attachments.
    let (status, _) = teacher.get("/api/v1/assignments/0123456789abcdef").await;
    assert_eq!(status, 404);
    let (status, _) = teacher
        .get(&format!("/api/v1/assignments/{id}/submissions/P07"))
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = download(
        &pupil,
        &format!("/api/v1/assignments/{id}/attachments/{answer_blob}"),
    )
    .await;
    assert_eq!(status, 404);

    // The teacher edits the assignment; a reference to bytes never uploaded is refused.
    let (status, edited) = teacher
        .put(
            &format!("/api/v1/assignments/{id}"),
            json!({ "title": "Yhtälöt (korjattu)", "attachments": [attachment], "due_at": due_at }),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["title"], "Yhtälöt (korjattu)");
    assert_eq!(edited["cut_off_at"], due_at);
    let missing = json!({
        "blob": BlobId::of_content(b"never uploaded").to_string(),
        "file_name": "puuttuu.pdf",
        "size_bytes": 14,
        "media_type": "application/pdf",
    });
    let (status, refusal) = teacher
        .put(
            &format!("/api/v1/assignments/{id}"),
            json!({ "title": "Yhtälöt", "attachments": [attachment, missing], "due_at": due_at }),
        )
        .await;
    assert_eq!(status, 400, "{refusal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_follow_node_time_and_extensions_move_them_for_one_pupil() {
    let school = TestSchool::start().await;
    let teacher = school.login("leena.korhonen").await;
    let now = now_ms();

    // Due an hour ago, open for another hour: a submission now is late, whatever the device says.
    let late_one = create_assignment(
        &teacher,
        MATHS_7A,
        json!({ "title": "Myöhässä", "due_at": now - HOUR_MS, "cut_off_at": now + HOUR_MS }),
    )
    .await;
    let late_id = late_one["id"].as_str().expect("id");
    let aino = school.login("aino.makinen01").await;
    let (status, submission) = aino
        .put(
            &format!("/api/v1/assignments/{late_id}/submission"),
            json!({ "text": "Valmis", "submit": true, "device_time": now - 2 * HOUR_MS }),
        )
        .await;
    assert_eq!(status, 200, "{submission}");
    assert_eq!(submission["attempts"][0]["late"], true);

    // Closed an hour ago: refused, except for the pupil given an extension.
    let closed = create_assignment(
        &teacher,
        MATHS_7A,
        json!({ "title": "Suljettu", "due_at": now - HOUR_MS }),
    )
    .await;
    let closed_id = closed["id"].as_str().expect("id");
    let eino = school.login("eino.makinen02").await;
    let veera = school.login("veera.laine03").await;
    let submit = json!({ "text": "Valmis", "submit": true });
    let (status, refusal) = eino
        .put(
            &format!("/api/v1/assignments/{closed_id}/submission"),
            submit.clone(),
        )
        .await;
    assert_eq!(status, 409, "{refusal}");
    let (status, draft) = eino
        .put(
            &format!("/api/v1/assignments/{closed_id}/submission"),
            json!({ "text": "Luonnos" }),
        )
        .await;
    assert_eq!(status, 200, "a draft may still be saved: {draft}");
    assert_eq!(draft["can_submit"], false);

    let extension_path = format!("/api/v1/assignments/{closed_id}/extensions/P02");
    let (status, extension) = teacher
        .put(&extension_path, json!({ "due_at": now + HOUR_MS }))
        .await;
    assert_eq!(status, 200, "{extension}");
    assert_eq!(extension["pupil"], "P02");
    assert_eq!(extension["cut_off_at"], now + HOUR_MS);
    let (_, seen_by_eino) = eino.get(&format!("/api/v1/assignments/{closed_id}")).await;
    assert_eq!(seen_by_eino["my_deadline"]["due_at"], now + HOUR_MS);
    assert_eq!(seen_by_eino["extensions"].as_array().map(Vec::len), Some(1));
    let (_, seen_by_veera) = veera.get(&format!("/api/v1/assignments/{closed_id}")).await;
    assert_eq!(seen_by_veera["my_deadline"]["due_at"], now - HOUR_MS);
    assert_eq!(
        seen_by_veera["extensions"],
        json!([]),
        "a pupil does not see a classmate's extension"
    );
    let (status, submission) = eino
        .put(
            &format!("/api/v1/assignments/{closed_id}/submission"),
            submit.clone(),
        )
        .await;
    assert_eq!(status, 200, "{submission}");
    assert_eq!(submission["attempts"][0]["late"], false);
    let (status, _) = veera
        .put(
            &format!("/api/v1/assignments/{closed_id}/submission"),
            submit.clone(),
        )
        .await;
    assert_eq!(status, 409, "the extension was for one pupil only");

    // Extensions are for the class's pupils, granted by its teachers.
    let (status, _) = teacher
        .put(
            &format!("/api/v1/assignments/{closed_id}/extensions/P07"),
            json!({ "due_at": now + HOUR_MS }),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = school
        .login("mikko.nieminen")
        .await
        .put(&extension_path, json!({ "due_at": now + HOUR_MS }))
        .await;
    assert_eq!(status, 403);
    let (status, _) = teacher.delete(&extension_path).await;
    assert_eq!(status, 204);
    let (status, _) = teacher.delete(&extension_path).await;
    assert_eq!(status, 404);

    // The list is newest first and pages without repeating.
    let (_, first) = teacher
        .get(&format!("/api/v1/classes/{MATHS_7A}/assignments?limit=1"))
        .await;
    assert_eq!(first["assignments"][0]["id"], closed_id);
    let next = first["next_before"].as_str().expect("a second page");
    let (_, second) = teacher
        .get(&format!(
            "/api/v1/classes/{MATHS_7A}/assignments?limit=1&before={next}"
        ))
        .await;
    assert_eq!(second["assignments"][0]["id"], late_id);
    assert!(second["next_before"].is_null());
    let (_, counts) = teacher
        .get(&format!("/api/v1/classes/{MATHS_7A}/assignments"))
        .await;
    assert_eq!(counts["assignments"][1]["submission_counts"]["late"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_node_does_not_hold_yet_is_404_not_an_error() {
    let school = TestSchool::start().await;
    let teacher = school.login("leena.korhonen").await;
    // An assignment that arrived from the relay before its attachment's bytes did.
    let id: ItemId = "00000000000000aa".parse().expect("id");
    let file = FileRef::new(
        BlobId::of_content(b"still syncing"),
        "ohje.pdf",
        13,
        "application/pdf",
    )
    .expect("file");
    let repository = school.node.state.repository.clone();
    let doc = assignment_doc(&school.node.state.identity.school, &id);
    let blob = file.blob.clone();
    tokio::task::spawn_blocking(move || {
        repository.update(&doc, |assignment: &mut AssignmentDocument| {
            assignment.create(
                &id,
                MATHS_7A,
                node::model::assignments::AssignmentInput {
                    title: "Synkronoitu".into(),
                    instructions: String::new(),
                    attachments: vec![file],
                    due_at: NodeTime(now_ms() + HOUR_MS),
                    cut_off_at: None,
                },
                "T01",
                NodeTime(now_ms()),
            )?;
            Ok::<_, ModelError>(())
        })
    })
    .await
    .expect("joined")
    .expect("written");
    let (status, _) = teacher.get("/api/v1/assignments/00000000000000aa").await;
    assert_eq!(status, 200);
    let (status, body) = teacher
        .get(&format!(
            "/api/v1/assignments/00000000000000aa/attachments/{blob}"
        ))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "not_found");
}

/// The upload limit of the small node in [`uploads_over_the_limit_are_refused_while_streaming`].
const SMALL_UPLOAD_LIMIT: usize = 64 * 1024;

/// Sends a raw HTTP/1.1 request and returns the status code of the answer. Used where reqwest
/// cannot shape the request (a chunked body, a declared length with no body).
async fn raw_status(school: &TestSchool, client: &Client, head_lines: &str, body: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(school.node.http_address)
        .await
        .expect("connect");
    let request = format!(
        "POST /api/v1/files?name=big.bin HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\n\
         Content-Type: application/octet-stream\r\n{head_lines}\r\n",
        school.node.http_address, client.cookie, client.csrf
    );
    stream.write_all(request.as_bytes()).await.expect("head");
    stream.write_all(body).await.expect("body");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // The node answers without waiting for the rest of the body; the status line is enough.
    while !answer.windows(2).any(|pair| pair == b"\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("the node answers in time")
            .expect("read");
        assert!(read > 0, "the node closed without answering");
        answer.extend_from_slice(&buffer[..read]);
    }
    let status_line = String::from_utf8_lossy(&answer);
    status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_limit_are_refused_while_streaming() {
    let school = TestSchool::start_with(|config| {
        config.http.max_upload_bytes = SMALL_UPLOAD_LIMIT as u64;
    })
    .await;
    let pupil = school.login("aino.makinen01").await;

    let exactly = patterned_bytes(SMALL_UPLOAD_LIMIT, 1);
    let file = upload(&pupil, "raja.bin", exactly, "application/octet-stream").await;
    assert_eq!(file["size_bytes"], SMALL_UPLOAD_LIMIT);

    // A declared length over the limit is refused before any of the body is read.
    let declared = format!("Content-Length: {}\r\n", SMALL_UPLOAD_LIMIT + 1);
    assert_eq!(raw_status(&school, &pupil, &declared, b"").await, 413);

    // A chunked body declares nothing: one of exactly the limit is stored, one a byte longer is
    // refused as soon as that byte arrives. That request never ends, so the node must answer
    // without reading further.
    let mut chunked = format!("{:x}\r\n", SMALL_UPLOAD_LIMIT).into_bytes();
    chunked.extend_from_slice(&patterned_bytes(SMALL_UPLOAD_LIMIT, 2));
    chunked.extend_from_slice(b"\r\n");
    let mut complete = chunked.clone();
    complete.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        raw_status(&school, &pupil, "Transfer-Encoding: chunked\r\n", &complete).await,
        201
    );
    chunked.extend_from_slice(b"1\r\nx\r\n");
    assert_eq!(
        raw_status(&school, &pupil, "Transfer-Encoding: chunked\r\n", &chunked).await,
        413
    );

    // Names are checked before the body is read.
    let (status, _) = pupil
        .upload("/api/v1/files", b"x".to_vec(), "text/plain")
        .await;
    assert_eq!(status, 400, "a name is required");
    let (status, _) = pupil
        .upload(
            "/api/v1/files?name=..%2Fetc%2Fpasswd",
            b"x".to_vec(),
            "text/plain",
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = pupil
        .upload(
            "/api/v1/files?name=a.txt",
            b"x".to_vec(),
            "not a media type",
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_a_session_and_its_csrf_token() {
    let school = TestSchool::start().await;
    let teacher = school.login("leena.korhonen").await;

    let without_token = teacher
        .http
        .post(format!("{}/api/v1/files?name=a.txt", school.base))
        .header("cookie", &teacher.cookie)
        .header("content-type", "text/plain")
        .body("hei")
        .send()
        .await
        .expect("request");
    assert_eq!(without_token.status(), 403);
    let without_token = teacher
        .http
        .post(format!(
            "{}/api/v1/classes/{MATHS_7A}/assignments",
            school.base
        ))
        .header("cookie", &teacher.cookie)
        .json(&json!({ "title": "Ilman", "due_at": now_ms() }))
        .send()
        .await
        .expect("request");
    assert_eq!(without_token.status(), 403);
    let (_, page) = teacher
        .get(&format!("/api/v1/classes/{MATHS_7A}/assignments"))
        .await;
    assert_eq!(page["assignments"], json!([]), "nothing was created");

    let anonymous = school.anonymous();
    let (status, _) = anonymous
        .upload("/api/v1/files?name=a.txt", b"hei".to_vec(), "text/plain")
        .await;
    assert_eq!(status, 401);
    let (status, _) = anonymous
        .get(&format!("/api/v1/classes/{MATHS_7A}/assignments"))
        .await;
    assert_eq!(status, 401);
}

/// Each user has a daily allowance of upload bytes; a refused upload stores nothing, and other
/// users keep their own allowance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_beyond_a_users_daily_allowance_are_refused_and_store_nothing() {
    const FILE_BYTES: usize = 400_000;
    let school = TestSchool::start_with(|config| {
        config.http.max_upload_bytes = FILE_BYTES as u64;
        config.http.max_upload_bytes_per_user_per_day = 1_000_000;
    })
    .await;
    let pupil = school.login("aino.makinen01").await;
    let file_of = |seed: u8| vec![seed; FILE_BYTES];
    for seed in [1, 2] {
        let (status, file) = pupil
            .upload("/api/v1/files?name=kuva.png", file_of(seed), "image/png")
            .await;
        assert_eq!(status, 201, "{file}");
    }
    let (status, refusal) = pupil
        .upload("/api/v1/files?name=kuva.png", file_of(3), "image/png")
        .await;
    assert_eq!(status, 429, "{refusal}");
    assert_eq!(refusal["error"], "quota_exceeded");
    assert!(
        refusal["message"]
            .as_str()
            .is_some_and(|message| message.contains("200000 bytes are left")),
        "{refusal}"
    );
    let refused_blob = BlobId::of_content(&file_of(3));
    assert_eq!(
        school
            .node
            .state
            .repository
            .store()
            .blob_len(&refused_blob)
            .expect("readable"),
        None,
        "the refused upload was not stored"
    );
    // What is left still fits a smaller file, and another pupil has a whole day's allowance.
    let (status, _) = pupil
        .upload("/api/v1/files?name=pieni.txt", vec![7; 1_000], "text/plain")
        .await;
    assert_eq!(status, 201);
    let other = school.login("eino.makinen02").await;
    let (status, _) = other
        .upload("/api/v1/files?name=kuva.png", file_of(3), "image/png")
        .await;
    assert_eq!(status, 201);
}

/// Issue 18, item 7: pupil B learns the id (the SHA-256) of pupil A's submitted file, and of a
/// file a teacher uploaded but has not shared yet, and attaches each to their own draft to
/// download it from there. Both are refused exactly like a file that does not exist, and nothing
/// can be downloaded; B's own uploads still attach. A teacher who can read A's work is refused too
/// until they upload the bytes themselves (which the store keeps once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_files_hash_is_not_enough_to_attach_it_or_read_it() {
    let school = TestSchool::start().await;
    let teacher = school.login("leena.korhonen").await;
    let pupil_a = school.login("aino.makinen01").await;
    let pupil_b = school.login("eino.makinen02").await;
    let assignment = create_assignment(
        &teacher,
        MATHS_7A,
        json!({ "title": "Essee", "due_at": now_ms() + 24 * HOUR_MS }),
    )
    .await;
    let id = assignment["id"].as_str().expect("id").to_owned();
    let essay_bytes = b"Ainon essee: murtoluvut arjessa".to_vec();
    let essay = upload(&pupil_a, "essee.txt", essay_bytes.clone(), "text/plain").await;
    let (status, body) = pupil_a
        .put(
            &format!("/api/v1/assignments/{id}/submission"),
            json!({ "text": "valmis", "files": [essay.clone()], "submit": true }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let unshared = upload(
        &teacher,
        "koe-vastaukset.txt",
        b"kokeen oikeat vastaukset".to_vec(),
        "text/plain",
    )
    .await;

    // The same reference under a file name and size B chooses, and one naming bytes nobody holds.
    let named = |file: &Value| {
        json!({ "blob": file["blob"], "file_name": "minun.txt",
                "size_bytes": file["size_bytes"], "media_type": "text/plain" })
    };
    let invented = json!({ "blob": BlobId::of_content(b"nobody uploaded this").to_string(),
                           "file_name": "minun.txt", "size_bytes": essay["size_bytes"],
                           "media_type": "text/plain" });
    let attach = |file: Value| {
        let pupil_b = &pupil_b;
        let path = format!("/api/v1/assignments/{id}/submission");
        async move {
            pupil_b
                .put(
                    &path,
                    json!({ "text": "luonnos", "files": [file], "submit": false }),
                )
                .await
        }
    };
    let missing = attach(invented).await;
    assert_eq!(missing.0, 400, "{}", missing.1);
    for (stolen, what) in [
        (named(&essay), "pupil A's submitted file"),
        (named(&unshared), "the teacher's unshared file"),
    ] {
        let answer = attach(stolen).await;
        assert_eq!(
            answer, missing,
            "attaching {what} by its hash must be refused exactly like a file that does not exist"
        );
    }
    let (status, draft) = pupil_b
        .get(&format!("/api/v1/assignments/{id}/submissions/P02"))
        .await;
    assert_eq!(status, 200, "{draft}");
    assert!(
        !draft
            .to_string()
            .contains(essay["blob"].as_str().expect("blob")),
        "B's submission names none of the files: {draft}"
    );
    for blob in [&essay["blob"], &unshared["blob"]] {
        let blob = blob.as_str().expect("blob");
        let (status, _, bytes) = download(
            &pupil_b,
            &format!("/api/v1/assignments/{id}/submissions/P02/files/{blob}"),
        )
        .await;
        assert_eq!(
            status, 404,
            "B downloads nothing through their own submission"
        );
        assert_ne!(bytes, essay_bytes);
    }

    // B's own upload attaches and downloads as before.
    let own = upload(
        &pupil_b,
        "oma.txt",
        b"Einon oma essee".to_vec(),
        "text/plain",
    )
    .await;
    let (status, body) = attach(own.clone()).await;
    assert_eq!(status, 200, "{body}");
    let own_blob = own["blob"].as_str().expect("blob");
    let (status, _, bytes) = download(
        &pupil_b,
        &format!("/api/v1/assignments/{id}/submissions/P02/files/{own_blob}"),
    )
    .await;
    assert_eq!((status, bytes), (200, b"Einon oma essee".to_vec()));

    // The teacher may read A's essay, but attaching it elsewhere by its hash is refused as well,
    // as a new assignment's attachment and as a material ...
    let essay_blob = essay["blob"].as_str().expect("blob");
    let (status, _, read) = download(
        &teacher,
        &format!("/api/v1/assignments/{id}/submissions/P01/files/{essay_blob}"),
    )
    .await;
    assert_eq!((status, &read), (200, &essay_bytes));
    let (status, refusal) = teacher
        .post(
            &format!("/api/v1/classes/{MATHS_7A}/assignments"),
            json!({ "title": "Malliessee", "attachments": [essay.clone()],
                    "due_at": now_ms() + 24 * HOUR_MS }),
        )
        .await;
    assert_eq!(status, 400, "{refusal}");
    let (status, refusal) = teacher
        .post(
            &format!("/api/v1/classes/{MATHS_7A}/materials"),
            json!({ "title": "Malliessee", "kind": "file", "file": essay.clone() }),
        )
        .await;
    assert_eq!(status, 400, "{refusal}");
    // ... until the teacher uploads the bytes they read: the same file, now theirs to attach.
    let copy = upload(&teacher, "essee.txt", read, "text/plain").await;
    assert_eq!(copy["blob"], essay["blob"], "equal bytes are one blob");
    let (status, shared) = teacher
        .post(
            &format!("/api/v1/classes/{MATHS_7A}/materials"),
            json!({ "title": "Malliessee", "kind": "file", "file": copy }),
        )
        .await;
    assert_eq!(status, 201, "{shared}");
}
