//! Saving a draft adds a file to the files the draft holds when the save is written: several
//! saves of one draft at once (two tabs, a double click, a retry) each keep the others' files.
//! Before the application layer, the web form read the draft's files in one step and wrote them in
//! another, outside the document's lock, and concurrent saves dropped files.

mod common;
mod web_common;

use common::{Client, TestSchool};
use node::api::files::FileRefView;
use node::auth::Caller;
use node::model::UserRole;
use node::school::assignments::{SubmissionInput, WorkFiles, save_submission};
use reqwest::StatusCode;
use serde_json::json;
use web_common::{Browser, Part};

const MATHS_7A: &str = "CLS-7A-MA";
const TEACHER: &str = "leena.korhonen";
const PUPIL: &str = "aino.makinen01";
const PUPIL_ID: &str = "P01";
/// As many saves at once as a draft holds files (`MAX_FILES_PER_ATTEMPT`).
const CONCURRENT_SAVES: usize = 10;

async fn create_assignment(school: &TestSchool) -> String {
    let teacher = school.login(TEACHER).await;
    let (status, created) = teacher
        .post(
            &format!("/api/v1/classes/{MATHS_7A}/assignments"),
            json!({ "title": "Fractions", "due_at": 4_102_444_800_000_i64 }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("an id").to_owned()
}

async fn draft_file_names(pupil: &Client, id: &str) -> Vec<String> {
    let (status, submission) = pupil
        .get(&format!("/api/v1/assignments/{id}/submissions/{PUPIL_ID}"))
        .await;
    assert_eq!(status, 200, "{submission}");
    let mut names: Vec<String> = submission["draft"]["files"]
        .as_array()
        .expect("the draft's files")
        .iter()
        .map(|file| file["file_name"].as_str().expect("a name").to_owned())
        .collect();
    names.sort();
    names
}

fn expected_names() -> Vec<String> {
    let mut names: Vec<String> = (0..CONCURRENT_SAVES)
        .map(|number| format!("page-{number}.txt"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn concurrent_saves_through_the_operation_keep_every_file() {
    let school = TestSchool::start().await;
    let id = create_assignment(&school).await;
    let pupil = school.login(PUPIL).await;
    let mut uploaded = Vec::new();
    for number in 0..CONCURRENT_SAVES {
        let (status, file) = pupil
            .upload(
                &format!("/api/v1/files?name=page-{number}.txt"),
                format!("page {number}\n").into_bytes(),
                "text/plain",
            )
            .await;
        assert_eq!(status, 201, "{file}");
        let view: FileRefView = serde_json::from_value(file).expect("a file reference");
        uploaded.push(view.into_file_ref().expect("a valid reference"));
    }
    let caller = Caller {
        user_id: PUPIL_ID.to_owned(),
        roles: vec![UserRole::Pupil],
        session_id_hash: [0; 32],
    };
    // Spawned all before any is awaited, so they run at once.
    let saves: Vec<_> = uploaded
        .into_iter()
        .map(|file| {
            let (state, caller, id) = (school.node.state.clone(), caller.clone(), id.clone());
            tokio::spawn(async move {
                let input = SubmissionInput {
                    text: "Working on it".to_owned(),
                    files: WorkFiles::DraftFilesAnd(Some(file)),
                    submit: false,
                    device_time: None,
                };
                save_submission(&state, &caller, &id, input).await
            })
        })
        .collect();
    for save in saves {
        save.await
            .expect("the save ran")
            .expect("the save was accepted");
    }
    assert_eq!(draft_file_names(&pupil, &id).await, expected_names());
}

#[tokio::test]
async fn concurrent_saves_through_the_web_form_keep_every_file() {
    let school = TestSchool::start().await;
    let id = create_assignment(&school).await;
    let mut browser = Browser::logged_in(&school, PUPIL).await;
    let page = browser.get(&format!("/assignments/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf_token();
    // One tab per save, all with the same session, as a pupil's browser has.
    let saves: Vec<_> = (0..CONCURRENT_SAVES)
        .map(|number| {
            let mut tab = browser.another_tab();
            let (id, csrf) = (id.clone(), csrf.clone());
            tokio::spawn(async move {
                let name = format!("page-{number}.txt");
                let content = format!("page {number}\n");
                tab.post_multipart(
                    &format!("/assignments/{id}/submission"),
                    &[
                        Part::Text("csrf_token", &csrf),
                        Part::Text("text", "Working on it"),
                        Part::File("file", &name, "text/plain", content.as_bytes()),
                        Part::Text("action", "draft"),
                    ],
                )
                .await
            })
        })
        .collect();
    for saved in saves {
        let saved = saved.await.expect("the save ran");
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    }
    let pupil = school.login(PUPIL).await;
    assert_eq!(draft_file_names(&pupil, &id).await, expected_names());
    let shown = browser.get(&format!("/assignments/{id}")).await;
    for name in expected_names() {
        assert!(shown.body.contains(&name), "the page lists {name}");
    }
}

#[tokio::test]
async fn a_file_saved_twice_is_kept_once() {
    let school = TestSchool::start().await;
    let id = create_assignment(&school).await;
    let mut browser = Browser::logged_in(&school, PUPIL).await;
    for _ in 0..2 {
        let page = browser.get(&format!("/assignments/{id}")).await;
        let csrf = page.csrf_token();
        let saved = browser
            .post_multipart(
                &format!("/assignments/{id}/submission"),
                &[
                    Part::Text("csrf_token", &csrf),
                    Part::Text("text", ""),
                    Part::File("file", "page-0.txt", "text/plain", b"page 0\n"),
                    Part::Text("action", "draft"),
                ],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    }
    let pupil = school.login(PUPIL).await;
    assert_eq!(draft_file_names(&pupil, &id).await, vec!["page-0.txt"]);
}
