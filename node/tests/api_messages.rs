//! Messages, announcements and materials over real HTTP: who may write to whom, who reads what.

mod common;

use common::{Client, TestSchool};
use node::model::announcements::{
    AnnouncementAudience, AnnouncementInput, AnnouncementsDocument, announcements_doc,
};
use node::model::common::{ItemId, ModelError, NodeTime};
use node::model::inbox::{InboxDocument, inbox_doc};
use serde_json::{Value, json};

/// The unread count of `thread_id` in the caller's thread list.
async fn unread_in_list(client: &Client, thread_id: &str) -> u64 {
    let (status, threads) = client.get("/api/v1/threads").await;
    assert_eq!(status, 200, "{threads}");
    let listed = threads
        .as_array()
        .expect("a list")
        .iter()
        .find(|thread| thread["id"] == thread_id)
        .unwrap_or_else(|| panic!("{} lists thread {thread_id}: {threads}", client.user_id));
    listed["unread_count"].as_u64().expect("a count")
}

/// The titles of the announcements the caller sees now.
async fn announcement_titles(client: &Client) -> Vec<String> {
    let (status, announcements) = client.get("/api/v1/announcements").await;
    assert_eq!(status, 200, "{announcements}");
    announcements
        .as_array()
        .expect("a list")
        .iter()
        .map(|announcement| {
            announcement["title"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn titles_of(materials: &Value) -> Vec<&str> {
    materials
        .as_array()
        .expect("a list")
        .iter()
        .map(|material| material["title"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_and_a_teacher_exchange_messages_and_unread_counts_follow() {
    let school = TestSchool::start().await;
    let guardian = school.login("marja.makinen").await;
    let teacher = school.login("leena.korhonen").await;

    let (status, thread) = guardian
        .post(
            "/api/v1/threads",
            json!({ "participants": ["T01"], "subject": "Ainon matematiikka", "body": "Hei! Miten Ainolla menee?" }),
        )
        .await;
    assert_eq!(status, 201, "{thread}");
    let thread_id = thread["id"].as_str().expect("thread id").to_owned();
    assert_eq!(thread["participants"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        unread_in_list(&guardian, &thread_id).await,
        0,
        "one's own message is read"
    );
    assert_eq!(unread_in_list(&teacher, &thread_id).await, 1);

    let (status, opened) = teacher.get(&format!("/api/v1/threads/{thread_id}")).await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["unread_count"], 1);
    let first_message = opened["messages"][0]["id"]
        .as_str()
        .expect("message id")
        .to_owned();
    let (status, read) = teacher
        .post(
            &format!("/api/v1/threads/{thread_id}/read"),
            json!({ "up_to_message_id": first_message }),
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["unread_count"], 0);
    assert_eq!(unread_in_list(&teacher, &thread_id).await, 0);

    let (status, reply) = teacher
        .post(
            &format!("/api/v1/threads/{thread_id}/messages"),
            json!({ "body": "Hyvin menee, kiitos kysymästä." }),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["author"], "T01");
    assert_eq!(unread_in_list(&guardian, &thread_id).await, 1);
    assert_eq!(unread_in_list(&teacher, &thread_id).await, 0);

    let (_, opened) = guardian.get(&format!("/api/v1/threads/{thread_id}")).await;
    let bodies: Vec<&str> = opened["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|message| message["body"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        bodies,
        [
            "Hei! Miten Ainolla menee?",
            "Hyvin menee, kiitos kysymästä."
        ]
    );
    let (status, read) = guardian
        .post(&format!("/api/v1/threads/{thread_id}/read"), json!({}))
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["unread_count"], 0);
    assert_eq!(unread_in_list(&guardian, &thread_id).await, 0);

    // A second thread with newer activity comes first in the list.
    let (status, newer) = teacher
        .post(
            "/api/v1/threads",
            json!({ "participants": ["G01"], "subject": "Retkipäivä", "body": "Retki on perjantaina." }),
        )
        .await;
    assert_eq!(status, 201, "{newer}");
    let (_, threads) = guardian.get("/api/v1/threads").await;
    let order: Vec<&str> = threads
        .as_array()
        .expect("a list")
        .iter()
        .map(|thread| thread["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        order,
        [newer["id"].as_str().expect("id"), thread_id.as_str()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pupils_never_message_pupils_and_outsiders_cannot_see_a_thread() {
    let school = TestSchool::start().await;
    let pupil = school.login("aino.makinen01").await;
    let (status, refusal) = pupil
        .post(
            "/api/v1/threads",
            json!({ "participants": ["P07"], "subject": "Moi", "body": "Mitä teet?" }),
        )
        .await;
    assert_eq!(status, 403, "{refusal}");
    let (status, refusal) = pupil
        .post(
            "/api/v1/threads",
            json!({ "participants": ["T01", "P07"], "subject": "Moi", "body": "Ryhmä" }),
        )
        .await;
    assert_eq!(status, 403, "not even with a teacher present: {refusal}");
    let (status, unknown) = pupil
        .post(
            "/api/v1/threads",
            json!({ "participants": ["NOBODY"], "subject": "Moi", "body": "Hei" }),
        )
        .await;
    assert_eq!(
        (status, &unknown),
        (403, &refusal),
        "an id naming nobody is refused exactly like one the pupil may not write to"
    );

    let teacher = school.login("leena.korhonen").await;
    for (participants, why) in [
        (json!(["P01", "P07"]), "two pupils in one thread"),
        (
            json!(["P01", "G04"]),
            "a pupil with another family's guardian",
        ),
    ] {
        let (status, refusal) = teacher
            .post(
                "/api/v1/threads",
                json!({ "participants": participants, "subject": "Ryhmä", "body": "Hei kaikki" }),
            )
            .await;
        assert_eq!(status, 403, "{why}: {refusal}");
    }
    let (status, family) = teacher
        .post(
            "/api/v1/threads",
            json!({ "participants": ["P01", "G01"], "subject": "Arviointikeskustelu", "body": "Sopiiko tiistai?" }),
        )
        .await;
    assert_eq!(
        status, 201,
        "a pupil with their own guardian and a teacher: {family}"
    );

    let (status, thread) = pupil
        .post(
            "/api/v1/threads",
            json!({ "participants": ["T01"], "subject": "Läksyt", "body": "Mitkä olivat läksyt?" }),
        )
        .await;
    assert_eq!(status, 201, "{thread}");
    let thread_id = thread["id"].as_str().expect("thread id");

    let outsider = school.login("pekka.koskinen").await;
    let (status, _) = outsider.get(&format!("/api/v1/threads/{thread_id}")).await;
    assert_eq!(
        status, 404,
        "a non-participant is not told the thread exists"
    );
    let (status, _) = outsider
        .post(
            &format!("/api/v1/threads/{thread_id}/messages"),
            json!({ "body": "Hei" }),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = outsider
        .post(&format!("/api/v1/threads/{thread_id}/read"), json!({}))
        .await;
    assert_eq!(status, 404);
    let (_, threads) = outsider.get("/api/v1/threads").await;
    assert_eq!(threads, json!([]));
    let admin = school.login("sari.lehtonen").await;
    let (status, _) = admin.get(&format!("/api/v1/threads/{thread_id}")).await;
    assert_eq!(
        status, 404,
        "administrators read only the threads they take part in"
    );
    let (status, _) = school.anonymous().get("/api/v1/threads").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_reach_their_audience_only() {
    let school = TestSchool::start().await;
    let teacher = school.login("leena.korhonen").await;
    let pupil_7a = school.login("aino.makinen01").await;
    let guardian_7a = school.login("marja.makinen").await;
    let pupil_7b = school.login("ella.koskinen07").await;
    let guardian_7b = school.login("pekka.koskinen").await;
    let admin = school.login("sari.lehtonen").await;

    let (status, class_announcement) = teacher
        .post(
            "/api/v1/classes/CLS-7A-MA/announcements",
            json!({ "title": "Koe ensi viikolla", "body": "Kertaa luvut 1–3." }),
        )
        .await;
    assert_eq!(status, 201, "{class_announcement}");
    assert_eq!(class_announcement["audience"]["kind"], "class");
    assert_eq!(class_announcement["audience"]["class_id"], "CLS-7A-MA");
    let other_teacher = school.login("mikko.nieminen").await;
    let (status, _) = other_teacher
        .post(
            "/api/v1/classes/CLS-7A-MA/announcements",
            json!({ "title": "Ei minun luokkani", "body": "…" }),
        )
        .await;
    assert_eq!(status, 403, "only the class's own teachers announce to it");

    let (status, refusal) = pupil_7a
        .post(
            "/api/v1/announcements/school",
            json!({ "title": "Vapaapäivä!", "body": "Huomenna ei ole koulua." }),
        )
        .await;
    assert_eq!(status, 403, "{refusal}");
    // The fixture has no staff member; the principal (an administrator) speaks for the school.
    let (status, school_announcement) = admin
        .post(
            "/api/v1/announcements/school",
            json!({ "title": "Joulujuhla", "body": "Joulujuhla on perjantaina salissa." }),
        )
        .await;
    assert_eq!(status, 201, "{school_announcement}");

    // As if synced from the relay: the municipality's operators write this document there.
    let repository = school.node.state.repository.clone();
    let municipality = school.node.state.identity.municipality.clone();
    tokio::task::spawn_blocking(move || {
        repository
            .update(
                &announcements_doc(&AnnouncementAudience::Municipality { municipality }),
                |document: &mut AnnouncementsDocument| {
                    document.publish(
                        &ItemId::generate(),
                        AnnouncementInput {
                            title: "Hiihtoloma".to_owned(),
                            body: "Hiihtoloma on viikolla 8.".to_owned(),
                            expires_at: None,
                        },
                        "OPERATOR-092",
                        NodeTime::from_unix_millis(node::api::node_now_millis() - 1_000),
                    )?;
                    Ok::<_, ModelError>(())
                },
            )
            .expect("the municipality's announcement is stored");
    })
    .await
    .expect("stored");

    let everyone_sees = ["Joulujuhla", "Hiihtoloma"];
    for client in [&pupil_7a, &guardian_7a, &teacher] {
        let titles = announcement_titles(client).await;
        assert!(
            titles.contains(&"Koe ensi viikolla".to_owned()),
            "{}: {titles:?}",
            client.user_id
        );
        for title in everyone_sees {
            assert!(
                titles.contains(&title.to_owned()),
                "{}: {titles:?}",
                client.user_id
            );
        }
    }
    for client in [&pupil_7b, &guardian_7b, &other_teacher, &admin] {
        let titles = announcement_titles(client).await;
        assert!(
            !titles.contains(&"Koe ensi viikolla".to_owned()),
            "{}: {titles:?}",
            client.user_id
        );
        for title in everyone_sees {
            assert!(
                titles.contains(&title.to_owned()),
                "{}: {titles:?}",
                client.user_id
            );
        }
    }
    let (_, seen) = pupil_7b.get("/api/v1/announcements").await;
    let municipal = seen
        .as_array()
        .expect("a list")
        .iter()
        .find(|announcement| announcement["title"] == "Hiihtoloma")
        .expect("listed");
    assert_eq!(
        municipal["audience"],
        json!({ "kind": "municipality", "municipality": "092" })
    );
    assert_eq!(municipal["can_withdraw"], false);
    let (status, _) = pupil_7b
        .get("/api/v1/classes/CLS-7A-MA/announcements")
        .await;
    assert_eq!(status, 403);
    let (status, listed) = admin.get("/api/v1/classes/CLS-7A-MA/announcements").await;
    assert_eq!(
        status, 200,
        "staff read any class's announcements: {listed}"
    );
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    let class_announcement_id = class_announcement["id"].as_str().expect("id");
    let withdraw_path = format!("/api/v1/classes/CLS-7A-MA/announcements/{class_announcement_id}");
    let (status, _) = pupil_7a.delete(&withdraw_path).await;
    assert_eq!(status, 403, "only the author or an administrator withdraws");
    let (status, _) = teacher.delete(&withdraw_path).await;
    assert_eq!(status, 204);
    assert!(
        !announcement_titles(&pupil_7a)
            .await
            .contains(&"Koe ensi viikolla".to_owned())
    );
    let school_announcement_id = school_announcement["id"].as_str().expect("id");
    let (status, _) = teacher
        .delete(&format!(
            "/api/v1/announcements/school/{school_announcement_id}"
        ))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teachers_share_links_and_files_with_their_class_only() {
    let school = TestSchool::start().await;
    let teacher = school.login("leena.korhonen").await;
    let content = b"%PDF-1.4 tehtavamoniste".to_vec();
    let (status, file) = teacher
        .upload(
            "/api/v1/files?name=moniste.pdf",
            content.clone(),
            "application/pdf",
        )
        .await;
    assert_eq!(status, 201, "{file}");

    let materials_path = "/api/v1/classes/CLS-7A-MA/materials";
    let (status, link) = teacher
        .post(
            materials_path,
            json!({ "title": "Yle Areena: Matikka", "kind": "link", "url": "https://areena.yle.fi/1-1234" }),
        )
        .await;
    assert_eq!(status, 201, "{link}");
    let (status, shared_file) = teacher
        .post(
            materials_path,
            json!({ "title": "Tehtävämoniste", "kind": "file", "file": file }),
        )
        .await;
    assert_eq!(status, 201, "{shared_file}");
    let (status, refusal) = teacher
        .post(
            materials_path,
            json!({ "title": "Paha", "kind": "link", "url": "javascript:alert(1)" }),
        )
        .await;
    assert_eq!(status, 400, "{refusal}");
    let mut never_uploaded = file.clone();
    never_uploaded["blob"] = json!("00".repeat(32));
    let (status, refusal) = teacher
        .post(
            materials_path,
            json!({ "title": "Puuttuu", "kind": "file", "file": never_uploaded }),
        )
        .await;
    assert_eq!(
        status, 400,
        "a file must be uploaded before it is shared: {refusal}"
    );

    let pupil_7a = school.login("aino.makinen01").await;
    let (status, materials) = pupil_7a.get(materials_path).await;
    assert_eq!(status, 200, "{materials}");
    assert_eq!(
        titles_of(&materials),
        ["Tehtävämoniste", "Yle Areena: Matikka"]
    );
    let download_path = materials[0]["download_path"]
        .as_str()
        .expect("a download path");
    let (status, bytes) = pupil_7a.download(download_path).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, content);
    let link_id = link["id"].as_str().expect("id");
    let (status, _) = pupil_7a
        .download(&format!("{materials_path}/{link_id}/file"))
        .await;
    assert_eq!(status, 404, "a link has no file");

    let pupil_7b = school.login("ella.koskinen07").await;
    let (status, _) = pupil_7b.get(materials_path).await;
    assert_eq!(status, 403);
    let (status, _) = pupil_7b.download(download_path).await;
    assert_eq!(status, 403);
    let (status, _) = pupil_7b
        .get(&download_path.replace("CLS-7A-MA", "CLS-7B-MA"))
        .await;
    assert_eq!(status, 404, "a 7A material is not reachable through 7B");

    let (status, refusal) = pupil_7a
        .post(
            materials_path,
            json!({ "title": "Minun linkkini", "kind": "link", "url": "https://example.fi" }),
        )
        .await;
    assert_eq!(status, 403, "{refusal}");
    // Whoever may not share here is refused before their file reference is looked at, so a bad
    // reference tells them nothing about what would have been accepted.
    let mut malformed = file.clone();
    malformed["blob"] = json!("not a blob id");
    let (status, refusal) = pupil_7a
        .post(
            materials_path,
            json!({ "title": "Minun tiedostoni", "kind": "file", "file": malformed }),
        )
        .await;
    assert_eq!(status, 403, "{refusal}");
    let (status, _) = pupil_7a
        .delete(&format!("{materials_path}/{link_id}"))
        .await;
    assert_eq!(status, 403);
    let (status, _) = teacher.delete(&format!("{materials_path}/{link_id}")).await;
    assert_eq!(status, 204);
    let (_, materials) = pupil_7a.get(materials_path).await;
    assert_eq!(titles_of(&materials), ["Tehtävämoniste"]);
}

/// A download that broke off resumes with a byte range, across the store's read chunks; what cannot
/// be served as one range gets the whole file or a clear 416.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_material_download_resumes_from_a_byte_range() {
    let school = TestSchool::start().await;
    let teacher = school.login("leena.korhonen").await;
    // A megabyte of varied bytes, so that any misplaced range shows.
    let content: Vec<u8> = (0..1_000_000u32).map(|index| (index % 251) as u8).collect();
    let (status, file) = teacher
        .upload("/api/v1/files?name=video.mp4", content.clone(), "video/mp4")
        .await;
    assert_eq!(status, 201, "{file}");
    let materials_path = "/api/v1/classes/CLS-7A-MA/materials";
    let (status, material) = teacher
        .post(
            materials_path,
            json!({ "title": "Video", "kind": "file", "file": file }),
        )
        .await;
    assert_eq!(status, 201, "{material}");
    let pupil = school.login("aino.makinen01").await;
    let path = format!(
        "{materials_path}/{}/file",
        material["id"].as_str().expect("id")
    );

    let (status, headers, whole) = pupil.download_with(&path, &[]).await;
    assert_eq!((status, whole.len()), (200, content.len()));
    assert_eq!(headers["accept-ranges"], "bytes");
    let entity_tag = headers["etag"].to_str().expect("ascii").to_owned();

    // The rest of the file after a break at 300,000 bytes: spans several read chunks.
    let (status, headers, rest) = pupil
        .download_with(&path, &[("range", "bytes=300000-")])
        .await;
    assert_eq!(status, 206);
    assert_eq!(headers["content-range"], "bytes 300000-999999/1000000");
    assert_eq!(headers["content-length"], "700000");
    assert_eq!(rest, content[300_000..]);
    // A range in the middle, and the last bytes by suffix.
    let (status, _, middle) = pupil
        .download_with(&path, &[("range", "bytes=262140-262150")])
        .await;
    assert_eq!(
        (status, middle.as_slice()),
        (206, &content[262_140..=262_150])
    );
    let (status, _, tail) = pupil.download_with(&path, &[("range", "bytes=-10")]).await;
    assert_eq!((status, tail.as_slice()), (206, &content[999_990..]));
    // If-Range with the current tag resumes; with another one the whole (new) file comes back.
    let (status, _, resumed) = pupil
        .download_with(
            &path,
            &[("range", "bytes=999999-"), ("if-range", &entity_tag)],
        )
        .await;
    assert_eq!((status, resumed.as_slice()), (206, &content[999_999..]));
    let (status, _, replaced) = pupil
        .download_with(&path, &[("range", "bytes=10-"), ("if-range", "\"other\"")])
        .await;
    assert_eq!((status, replaced.len()), (200, content.len()));
    // Several ranges, or a malformed header: the whole file.
    for range in ["bytes=0-9,20-29", "bytes=abc", "items=0-9"] {
        let (status, _, body) = pupil.download_with(&path, &[("range", range)]).await;
        assert_eq!((status, body.len()), (200, content.len()), "{range}");
    }
    // Past the end: 416, saying how long the file is.
    let (status, headers, body) = pupil
        .download_with(&path, &[("range", "bytes=1000000-")])
        .await;
    assert_eq!(status, 416);
    assert_eq!(headers["content-range"], "bytes */1000000");
    let error: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
    assert_eq!(error["error"], "range_not_satisfiable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inboxes_tolerate_missing_threads_and_the_next_message_repairs_them() {
    let school = TestSchool::start().await;
    let guardian = school.login("marja.makinen").await;
    let teacher = school.login("leena.korhonen").await;
    let (status, thread) = guardian
        .post(
            "/api/v1/threads",
            json!({ "participants": ["T01"], "subject": "Poissaolo", "body": "Aino on kipeänä." }),
        )
        .await;
    assert_eq!(status, 201, "{thread}");
    let thread_id: ItemId = thread["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("an item id");

    // As a crash between the writes would leave it: the teacher's inbox lacks the thread, and names
    // another that this node does not hold (yet).
    let repository = school.node.state.repository.clone();
    let inbox = inbox_doc(&school.node.state.identity.school, "T01");
    let thread_to_drop = thread_id.clone();
    tokio::task::spawn_blocking(move || {
        repository
            .update(&inbox, |inbox: &mut InboxDocument| {
                inbox.threads.remove(thread_to_drop.as_str());
                inbox.note_activity("T01", &ItemId::generate(), NodeTime::from_unix_millis(1))
            })
            .expect("the inbox is rewritten");
    })
    .await
    .expect("rewritten");
    let (status, threads) = teacher.get("/api/v1/threads").await;
    assert_eq!(status, 200, "{threads}");
    assert_eq!(
        threads,
        json!([]),
        "a missing thread is skipped, a lost entry not shown"
    );
    let (status, _) = teacher.get(&format!("/api/v1/threads/{thread_id}")).await;
    assert_eq!(status, 200, "the thread itself decides who takes part");

    let (status, _) = guardian
        .post(
            &format!("/api/v1/threads/{thread_id}/messages"),
            json!({ "body": "Hän palaa maanantaina." }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(unread_in_list(&teacher, thread_id.as_str()).await, 2);
}

/// A long inbox is read a page at a time, each page after the last thread of the previous one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_listing_pages_through_the_whole_inbox() {
    let school = TestSchool::start().await;
    let teacher = school.login("leena.korhonen").await;
    for number in 0..5 {
        let (status, thread) = teacher
            .post(
                "/api/v1/threads",
                json!({ "participants": ["T02"], "subject": format!("Asia {number}"), "body": "Hei" }),
            )
            .await;
        assert_eq!(status, 201, "{thread}");
    }
    let (status, everything) = teacher.get("/api/v1/threads").await;
    assert_eq!(status, 200);
    let all_ids: Vec<String> = everything
        .as_array()
        .expect("a list")
        .iter()
        .map(|thread| thread["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(all_ids.len(), 5);

    let mut paged_ids = Vec::new();
    let mut path = "/api/v1/threads?limit=2".to_owned();
    loop {
        let (status, page) = teacher.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let page = page.as_array().expect("a list").clone();
        assert!(page.len() <= 2);
        paged_ids.extend(
            page.iter()
                .map(|thread| thread["id"].as_str().expect("id").to_owned()),
        );
        if page.len() < 2 {
            break;
        }
        let last = page.last().expect("a thread")["id"].as_str().expect("id");
        path = format!("/api/v1/threads?limit=2&before={last}");
    }
    assert_eq!(
        paged_ids, all_ids,
        "the pages together are the whole list, in order"
    );

    let (status, refusal) = teacher
        .get("/api/v1/threads?before=not-a-thread-of-mine")
        .await;
    assert_eq!(status, 400, "{refusal}");
    let (status, refusal) = teacher.get("/api/v1/threads?limit=lots").await;
    assert_eq!(status, 400, "{refusal}");
    let (status, one) = teacher.get("/api/v1/threads?limit=0").await;
    assert_eq!((status, one.as_array().map(Vec::len)), (200, Some(1)));
}

/// Issue 18, item 6: a pupil probes ids through `POST /api/v1/threads`. Whether an id names a pupil
/// of another class, another family's guardian, someone of another school or nobody, the answer is
/// the same status and the same body, naming no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_a_thread_tells_a_pupil_nothing_about_ids_they_may_not_write_to() {
    let school = TestSchool::start().await;
    let pupil = school.login("aino.makinen01").await;
    let mut answers = Vec::new();
    for id in ["P07", "G04", "30077-T01", "NOBODY"] {
        let (status, body) = pupil
            .post(
                "/api/v1/threads",
                json!({ "participants": [id], "subject": "Moi", "body": "Kuka olet?" }),
            )
            .await;
        assert!(!body.to_string().contains(id), "{body}");
        answers.push((id, status, body));
    }
    for (id, status, body) in &answers {
        assert_eq!(
            (status, body),
            (&answers[0].1, &answers[0].2),
            "{id} must be refused exactly like {}",
            answers[0].0
        );
    }
    assert_eq!(answers[0].1, 403, "{}", answers[0].2);
    let (_, threads) = pupil.get("/api/v1/threads").await;
    assert_eq!(threads, json!([]), "nothing was started");
}
