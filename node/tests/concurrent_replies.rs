//! Replies posted to one thread at the same moment are all kept: a message is added to the thread
//! as it is when the message is written, inside the thread's update under the document's lock, so
//! no reply overwrites another (two participants answering at once, a double click, a retry).

mod common;
mod web_common;

use common::{Client, TestSchool};
use node::auth::Caller;
use node::model::UserRole;
use node::school::messages::{mark_read, post_message};
use reqwest::StatusCode;
use serde_json::json;
use web_common::Browser;

const TEACHER: &str = "leena.korhonen";
const TEACHER_ID: &str = "T01";
const PUPIL: &str = "aino.makinen01";
const PUPIL_ID: &str = "P01";
/// Replies posted at once.
const CONCURRENT_REPLIES: usize = 16;
const FIRST_MESSAGE: &str = "Remember page 42.";

/// A thread the teacher started with the pupil, and the teacher's API client.
async fn start_thread(school: &TestSchool) -> (Client, String) {
    let teacher = school.login(TEACHER).await;
    let (status, started) = teacher
        .post(
            "/api/v1/threads",
            json!({ "participants": [PUPIL_ID], "subject": "Homework", "body": FIRST_MESSAGE }),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let thread = started["id"].as_str().expect("a thread id").to_owned();
    (teacher, thread)
}

/// The thread's message bodies, sorted, as a participant reads them.
async fn sorted_bodies(client: &Client, thread: &str) -> Vec<String> {
    let (status, view) = client.get(&format!("/api/v1/threads/{thread}")).await;
    assert_eq!(status, 200, "{view}");
    let mut bodies: Vec<String> = view["messages"]
        .as_array()
        .expect("the messages")
        .iter()
        .map(|message| message["body"].as_str().expect("a body").to_owned())
        .collect();
    bodies.sort();
    bodies
}

/// The first message and every reply, sorted.
fn expected_bodies() -> Vec<String> {
    let mut bodies: Vec<String> = (0..CONCURRENT_REPLIES)
        .map(|number| format!("Reply {number:02}"))
        .collect();
    bodies.push(FIRST_MESSAGE.to_owned());
    bodies.sort();
    bodies
}

fn caller(user_id: &str, role: UserRole) -> Caller {
    Caller {
        user_id: user_id.to_owned(),
        roles: vec![role],
        session_id_hash: [0; 32],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replies_through_the_operation_are_all_kept() {
    let school = TestSchool::start().await;
    let (teacher, thread) = start_thread(&school).await;
    let teacher_caller = caller(TEACHER_ID, UserRole::Teacher);
    let pupil_caller = caller(PUPIL_ID, UserRole::Pupil);
    // Both participants at once, and each also marking the thread read while the replies are
    // written: spawned all before any is awaited, so they run together.
    let replies: Vec<_> = (0..CONCURRENT_REPLIES)
        .map(|number| {
            let author = if number % 2 == 0 {
                teacher_caller.clone()
            } else {
                pupil_caller.clone()
            };
            let (state, thread) = (school.node.state.clone(), thread.clone());
            tokio::spawn(async move {
                post_message(&state, &author, &thread, format!("Reply {number:02}")).await?;
                mark_read(&state, &author, &thread, None).await
            })
        })
        .collect();
    for reply in replies {
        reply
            .await
            .expect("the reply ran")
            .expect("the reply and the read marker were accepted");
    }
    assert_eq!(sorted_bodies(&teacher, &thread).await, expected_bodies());
    // Each marked the thread read after their own reply; whatever came in between, the last
    // marker of each is at a message of the thread.
    let (_, view) = teacher.get(&format!("/api/v1/threads/{thread}")).await;
    assert!(view["last_read_message_id"].is_string(), "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replies_through_the_web_form_are_all_kept() {
    let school = TestSchool::start().await;
    let (teacher, thread) = start_thread(&school).await;
    let mut browser = Browser::logged_in(&school, PUPIL).await;
    let page = browser.get(&format!("/messages/{thread}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf_token();
    // One tab per reply, all with the same session, as a pupil's browser has.
    let replies: Vec<_> = (0..CONCURRENT_REPLIES)
        .map(|number| {
            let mut tab = browser.another_tab();
            let (thread, csrf) = (thread.clone(), csrf.clone());
            tokio::spawn(async move {
                let body = format!("Reply {number:02}");
                tab.post_form(
                    &format!("/messages/{thread}"),
                    &[("csrf_token", &csrf), ("body", &body)],
                )
                .await
            })
        })
        .collect();
    for reply in replies {
        let reply = reply.await.expect("the reply ran");
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    }
    assert_eq!(sorted_bodies(&teacher, &thread).await, expected_bodies());
    // Replying counted the thread as read for the pupil, in the same edit as each reply.
    let pupil = school.login(PUPIL).await;
    let (_, view) = pupil.get(&format!("/api/v1/threads/{thread}")).await;
    assert_eq!(view["unread_count"], 0, "{view}");
}
