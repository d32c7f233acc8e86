//! Messages in the web UI: the viewer's threads, one thread with a reply form, and marking a thread
//! read. Reading a thread never changes it by itself (a `GET` writes nothing); replying or pressing
//! "mark as read" does.

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use maud::html;

use super::layout::{Field, FormErrors, Frame, csrf_field, page, page_with_status};
use super::{Viewer, WebError, api_status, form_fields};
use crate::api::ApiError;
use crate::api::messages::{MarkRead, NewMessage, ThreadListQuery, list_threads, thread};
use crate::model::common::MAX_BODY_CHARS;
use crate::server::AppState;

/// `GET /messages`: the viewer's threads, the most recently active first.
pub async fn threads_page(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let threads = list_threads(
        State(state.clone()),
        viewer.caller.clone(),
        Ok(Query(ThreadListQuery {
            limit: None,
            before: None,
        })),
    )
    .await?
    .0;
    let content = html! {
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
    let view = thread(
        State(state.clone()),
        viewer.caller.clone(),
        UrlPath(thread_id.to_owned()),
    )
    .await?
    .0;
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

/// `POST /messages/{thread}` (form): replies, and counts the thread as read up to the reply.
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
    let posted = crate::api::messages::post_message(
        State(state.clone()),
        viewer.caller.clone(),
        UrlPath(thread_id.clone()),
        axum::Json(NewMessage { body: text.clone() }),
    )
    .await;
    match posted {
        Ok((_, message)) => {
            let _read_state = crate::api::messages::mark_read(
                State(state.clone()),
                viewer.caller.clone(),
                UrlPath(thread_id.clone()),
                axum::Json(MarkRead {
                    up_to_message_id: Some(message.0.id.clone()),
                }),
            )
            .await?;
            Ok(Redirect::to(&format!("/messages/{thread_id}?done=sent")).into_response())
        }
        Err(error @ (ApiError::BadRequest(_) | ApiError::Conflict(_))) => {
            errors.form = Some(t.text("error-bad-request"));
            render_thread(
                &state,
                &viewer,
                &thread_id,
                &text,
                &errors,
                api_status(&error),
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
    let _read_state = crate::api::messages::mark_read(
        State(state.clone()),
        viewer.caller.clone(),
        UrlPath(thread_id.clone()),
        axum::Json(MarkRead::default()),
    )
    .await?;
    Ok(Redirect::to(&format!("/messages/{thread_id}")).into_response())
}
