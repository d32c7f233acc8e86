//! Messages in the web UI: the viewer's threads, one thread with a reply form, and marking a thread
//! read. Reading a thread never changes it by itself (a `GET` writes nothing); replying or pressing
//! "mark as read" does. Threads are read and written through [`crate::school::messages`], which
//! holds the safeguarding rules; the new-message page asks the policy whom to offer.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use maud::html;

use super::assignments::{add_refusal, is_form_refusal, refusal_status};
use super::layout::{
    Field, FormErrors, Frame, OptionGroup, csrf_field, page, page_with_status, problem_text,
    select_field,
};
use super::{Viewer, WebError, form_fields};
use crate::model::common::{MAX_BODY_CHARS, MAX_TITLE_CHARS};
use crate::model::{UserId, UserRole};
use crate::school::messages::{self as operations, NewThread, ThreadPage, may_start_thread_with};
use crate::school::policy::{Action, Standing};
use crate::school::{Access, ServiceError, Target, roster_index};
use crate::state::AppState;
use crate::url_path::path_segment;

/// `GET /messages`: the viewer's threads, the most recently active first.
pub async fn threads_page(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let threads = operations::list_threads(&state, &viewer.caller, ThreadPage::default()).await?;
    let content = html! {
        p { a href="/messages/new" class="button" { (t.text("new-message-title")) } }
        @if threads.is_empty() {
            p { (t.text("messages-none")) }
        } @else {
            ul class="cards" {
                @for summary in &threads {
                    li {
                        a href=(format!("/messages/{}", summary.id)) { (summary.subject) }
                        @if summary.unread_count > 0 {
                            " "
                            strong { (t.text_with("messages-unread-count", &[("count", FluentValue::from(summary.unread_count))])) }
                        }
                        p class="meta" {
                            (summary.last_message_author_name) ", " (t.date_time(summary.last_activity_at))
                        }
                        p { (summary.last_message_preview) }
                    }
                }
            }
        }
    };
    let frame = Frame::new(&state, &viewer, "/messages");
    Ok(page(&frame, &t.text("messages-title"), content))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ThreadNotice {
    done: Option<String>,
}

/// `GET /messages/{thread}`.
pub async fn thread_page(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(thread_id): UrlPath<String>,
    Query(notice): Query<ThreadNotice>,
) -> Result<Response, WebError> {
    let sent = notice.done.as_deref() == Some("sent");
    render_thread(
        &state,
        &viewer,
        &thread_id,
        "",
        &FormErrors::default(),
        StatusCode::OK,
        sent,
    )
    .await
}

async fn render_thread(
    state: &AppState,
    viewer: &Viewer,
    thread_id: &str,
    reply: &str,
    errors: &FormErrors,
    status: StatusCode,
    sent: bool,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let view = operations::get_thread(state, &viewer.caller, thread_id).await?;
    let participants: Vec<&str> = view
        .participants
        .iter()
        .map(|participant| participant.display_name.as_str())
        .collect();
    let content = html! {
        @if sent {
            p class="notice" role="status" { (t.text("notice-sent")) }
        }
        p class="meta" { (t.text_with("messages-participants", &[("names", FluentValue::from(participants.join(", ")))])) }
        @for message in &view.messages {
            article class="message" aria-labelledby=(format!("message-{}", message.id)) {
                h2 id=(format!("message-{}", message.id)) class="message-author" {
                    (message.author_name) " "
                    span class="meta" { (t.date_time(message.sent_at)) }
                }
                p { (message.body) }
            }
        }
        @if view.unread_count > 0 {
            form method="post" action=(format!("/messages/{thread_id}/read")) {
                (csrf_field(viewer))
                button type="submit" class="secondary" { (t.text("message-mark-read")) }
            }
        }
        @if view.full {
            p { (t.text("message-full")) }
        } @else {
            form method="post" action=(format!("/messages/{thread_id}")) class="stack" novalidate {
                (errors.summary(&t))
                (csrf_field(viewer))
                (Field::new("body", t.text("message-reply"), "textarea", reply)
                    .required().max_chars(MAX_BODY_CHARS).render(errors))
                button type="submit" { (t.text("message-send")) }
            }
        }
    };
    let frame = Frame::new(state, viewer, &format!("/messages/{thread_id}"));
    Ok(page_with_status(&frame, status, &view.subject, content))
}

/// `POST /messages/{thread}` (form): replies; the operation counts the thread as read up to the
/// reply in the same edit.
pub async fn reply(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(thread_id): UrlPath<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let fields = form_fields(&body);
    let text = fields.get("body").cloned().unwrap_or_default();
    let mut errors = FormErrors::default();
    if text.trim().is_empty() {
        errors.add("body", t.text("message-body-missing"));
    } else if text.chars().count() > MAX_BODY_CHARS {
        errors.add_too_long("body", &t, MAX_BODY_CHARS);
    }
    if !errors.is_empty() {
        return render_thread(
            &state,
            &viewer,
            &thread_id,
            &text,
            &errors,
            StatusCode::BAD_REQUEST,
            false,
        )
        .await;
    }
    match operations::post_message(&state, &viewer.caller, &thread_id, text.clone()).await {
        Ok(_) => Ok(
            Redirect::to(&format!("/messages/{}?done=sent", path_segment(&thread_id)))
                .into_response(),
        ),
        // A body the thread cannot keep is shown at the field; a full thread above the form.
        Err(refusal) if is_form_refusal(&refusal) => {
            add_refusal(&mut errors, &t, &refusal, &[("body", "body")]);
            render_thread(
                &state,
                &viewer,
                &thread_id,
                &text,
                &errors,
                refusal_status(&refusal),
                false,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /messages/{thread}/read` (form): the viewer has read the whole thread.
pub async fn mark_read(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(thread_id): UrlPath<String>,
) -> Result<Response, WebError> {
    let _read_state = operations::mark_read(&state, &viewer.caller, &thread_id, None).await?;
    Ok(Redirect::to(&format!("/messages/{}", path_segment(&thread_id))).into_response())
}

// ---------------------------------------------------------------------------------------------
// Starting a conversation.
// ---------------------------------------------------------------------------------------------

/// The new-message form's values, as sent.
#[derive(Debug, Default)]
struct NewThreadForm {
    to: String,
    subject: String,
    body: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct NewThreadQuery {
    /// A recipient chosen beforehand, from a link on another page.
    to: Option<String>,
}

/// A group of people the viewer may write to, with its heading's message key.
struct RecipientGroup {
    label: &'static str,
    people: Vec<(UserId, String)>,
}

/// Whom the viewer is offered to write to: for pupils and guardians, the teachers of their (or
/// their children's) classes and the school's other adults; for the school's adults, the pupils of
/// the classes they teach, those pupils' guardians, and their colleagues. A school's whole roster
/// would make a page of thousands of names, so other people are reached through a link that names
/// them (`?to=`) when the viewer may write to them. Only people the policy lets the viewer write to
/// are offered ([`Action::StartConversation`]); the operation decides again, whatever the list
/// offers.
fn recipients(access: &Access<'_>) -> Vec<RecipientGroup> {
    let roster = &access.roster;
    let me = access.me();
    let offered = |id: &UserId| {
        roster
            .users
            .user(id)
            .filter(|user| {
                user.enabled
                    && id != me
                    && access.may(Action::StartConversation, Target::Person(id))
            })
            .map(|user| (id.clone(), user.display_name()))
    };
    let is_adult = |roles: &[UserRole]| Standing::of(roles) == Some(Standing::SchoolAdult);
    let sorted = |people: BTreeSet<UserId>| {
        let mut people: Vec<(UserId, String)> = people.iter().filter_map(offered).collect();
        people.sort_by(|first, second| first.1.cmp(&second.1));
        people
    };
    let mut groups = Vec::new();
    let is_school_adult = is_adult(&access.caller.roles);
    let mut teachers = BTreeSet::new();
    if is_school_adult {
        let mut pupils = BTreeSet::new();
        for class in roster.classes_as_teacher.get(me).into_iter().flatten() {
            if let Some(document) = roster.classes.get(class) {
                pupils.extend(document.pupils().into_iter().cloned());
            }
        }
        let guardians: BTreeSet<UserId> = pupils
            .iter()
            .flat_map(|pupil| roster.users.guardians_of(pupil))
            .map(|guardian| guardian.sourced_id.clone())
            .collect();
        groups.push(RecipientGroup {
            label: "new-message-group-pupils",
            people: sorted(pupils),
        });
        groups.push(RecipientGroup {
            label: "new-message-group-guardians",
            people: sorted(guardians),
        });
    } else {
        let mut pupils: BTreeSet<&UserId> = roster.children.get(me).into_iter().flatten().collect();
        pupils.insert(&access.caller.user_id);
        for pupil in pupils {
            for class in roster.classes_as_pupil.get(pupil).into_iter().flatten() {
                if let Some(document) = roster.classes.get(class) {
                    teachers.extend(document.teachers().into_iter().cloned());
                }
            }
        }
        groups.push(RecipientGroup {
            label: "new-message-group-teachers",
            people: sorted(teachers.clone()),
        });
    }
    let adults: BTreeSet<UserId> = roster
        .users
        .users
        .values()
        .filter(|user| is_adult(&user.roles) && !teachers.contains(&user.sourced_id))
        .map(|user| user.sourced_id.clone())
        .collect();
    groups.push(RecipientGroup {
        label: "new-message-group-adults",
        people: sorted(adults),
    });
    groups.retain(|group| !group.people.is_empty());
    groups
}

/// `GET /messages/new?to=`.
pub async fn new_thread_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<NewThreadQuery>,
) -> Result<Response, WebError> {
    let form = NewThreadForm {
        to: query.to.unwrap_or_default(),
        ..NewThreadForm::default()
    };
    render_new_thread(
        &state,
        &viewer,
        &form,
        &FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

async fn render_new_thread(
    state: &AppState,
    viewer: &Viewer,
    form: &NewThreadForm,
    errors: &FormErrors,
    status: StatusCode,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let roster = roster_index(state).await?;
    let access = Access::new(&viewer.caller, roster.clone());
    let mut groups = recipients(&access);
    // Someone named by a link but not in the lists is offered too, so the link works; but only when
    // the viewer may write to them, by the operation's own rule. Otherwise the page would tell a
    // pupil the name behind any id, and an id the viewer may not write to must look like one that
    // names nobody.
    let listed = groups
        .iter()
        .any(|group| group.people.iter().any(|(id, _)| *id == form.to));
    if !listed
        && may_start_thread_with(&access, &form.to)
        && let Some(user) = roster.users.user(&form.to)
    {
        groups.insert(
            0,
            RecipientGroup {
                label: "new-message-group-chosen",
                people: vec![(user.sourced_id.clone(), user.display_name())],
            },
        );
    }
    let mut options = vec![OptionGroup {
        heading: None,
        options: vec![(String::new(), t.text("new-message-choose"))],
    }];
    options.extend(groups.into_iter().map(|group| OptionGroup {
        heading: Some(t.text(group.label)),
        options: group.people,
    }));
    let content = html! {
        form method="post" action="/messages/new" class="stack" novalidate {
            (errors.summary(&t))
            (csrf_field(viewer))
            (select_field("to", t.text("new-message-to"), &options, &form.to, errors))
            (Field::new("subject", t.text("new-message-subject"), "text", &form.subject)
                .required().max_chars(MAX_TITLE_CHARS).render(errors))
            (Field::new("body", t.text("new-message-body"), "textarea", &form.body)
                .required().max_chars(MAX_BODY_CHARS).render(errors))
            button type="submit" { (t.text("message-send")) }
        }
    };
    let frame = Frame::new(state, viewer, "/messages/new");
    Ok(page_with_status(
        &frame,
        status,
        &t.text("new-message-title"),
        content,
    ))
}

/// `POST /messages/new` (form): starts the thread with its first message.
pub async fn start_thread(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let fields = form_fields(&body);
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let form = NewThreadForm {
        to: field("to"),
        subject: field("subject").trim().to_owned(),
        body: field("body").trim().to_owned(),
    };
    let mut errors = FormErrors::default();
    if form.to.is_empty() {
        errors.add("to", t.text("new-message-to-missing"));
    }
    errors.check_required_text(
        "subject",
        &form.subject,
        MAX_TITLE_CHARS,
        &t,
        "new-message-subject-missing",
    );
    errors.check_required_text(
        "body",
        &form.body,
        MAX_BODY_CHARS,
        &t,
        "message-body-missing",
    );
    if !errors.is_empty() {
        return render_new_thread(&state, &viewer, &form, &errors, StatusCode::BAD_REQUEST).await;
    }
    let new = NewThread {
        participants: vec![form.to.clone()],
        subject: form.subject.clone(),
        body: form.body.clone(),
    };
    match operations::start_thread(&state, &viewer.caller, new).await {
        Ok(thread) => {
            Ok(Redirect::to(&format!("/messages/{}?done=sent", thread.id)).into_response())
        }
        // A subject or message the thread cannot keep, at its field.
        Err(ServiceError::Invalid {
            field: Some(field @ ("subject" | "body")),
            problem,
            ..
        }) => {
            errors.add(field, problem_text(&t, problem));
            render_new_thread(&state, &viewer, &form, &errors, StatusCode::BAD_REQUEST).await
        }
        // Not someone the viewer may write to (the safeguarding rules), or no such person.
        Err(refusal @ (ServiceError::Invalid { .. } | ServiceError::Forbidden(_))) => {
            errors.add("to", t.text("new-message-to-refused"));
            let status = match refusal {
                ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            render_new_thread(&state, &viewer, &form, &errors, status).await
        }
        Err(other) => Err(other.into()),
    }
}
