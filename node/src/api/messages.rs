//! Messages under `/api/v1/threads`: thin handlers over [`crate::school::messages`], which holds
//! the rules (who may write to whom, who may read a thread, the inbox index) and their reasons.
//!
//! | Route | Who may |
//! |---|---|
//! | `POST /api/v1/threads` | anyone, with whom the safeguarding rules allow (403 otherwise, the same answer for a participant who is no user of the school) |
//! | `GET /api/v1/threads` | anyone, for their own threads |
//! | `GET /api/v1/threads/{thread}` | the thread's participants (404 for everyone else) |
//! | `POST /api/v1/threads/{thread}/messages` | the thread's participants (404 for everyone else) |
//! | `POST /api/v1/threads/{thread}/read` | the thread's participants (404 for everyone else) |

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiError;
use crate::auth::Caller;
use crate::school::messages::{self as operations, ThreadPage};
pub use crate::school::messages::{MessageView, Participant, ReadState, ThreadSummary, ThreadView};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/threads", get(list_threads).post(start_thread))
        .route("/api/v1/threads/{thread}", get(thread))
        .route("/api/v1/threads/{thread}/messages", post(post_message))
        .route("/api/v1/threads/{thread}/read", post(mark_read))
}

// ---------------------------------------------------------------------------------------------
// Requests.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewThread {
    /// User ids (OneRoster sourcedIds) of the other participants; the caller takes part anyway.
    pub participants: Vec<String>,
    pub subject: String,
    /// The first message.
    pub body: String,
}

/// The query of a thread listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadListQuery {
    /// Threads per page: 100 by default and at most (larger values are lowered).
    pub limit: Option<usize>,
    /// The id of the last thread of the previous page: this page starts after it.
    pub before: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewMessage {
    pub body: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct MarkRead {
    /// The newest message the caller has seen. Without it, the thread's newest message: a client
    /// that may have received messages after it drew the thread should name the one it showed.
    #[serde(default)]
    pub up_to_message_id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Routes.
// ---------------------------------------------------------------------------------------------

/// `POST /api/v1/threads`: starts a thread with its first message, within the safeguarding rules
/// of [`crate::school::messages`].
#[utoipa::path(post, path = "/api/v1/threads", tag = "messages", request_body = NewThread,
    responses((status = 201, body = ThreadView), (status = 400, description = "an invalid subject or body, or no participant besides the caller"),
        (status = 403, description = "the safeguarding rules do not allow this thread; a participant who is no user of the school gets the same answer")))]
pub async fn start_thread(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<NewThread>,
) -> Result<(StatusCode, Json<ThreadView>), ApiError> {
    let new = operations::NewThread {
        participants: request.participants,
        subject: request.subject,
        body: request.body,
    };
    let thread = operations::start_thread(&state, &caller, new).await?;
    Ok((StatusCode::CREATED, Json(thread)))
}

/// `GET /api/v1/threads`: the caller's threads, most recent activity first, with unread counts, a
/// page of at most [`MAX_THREADS_LISTED`](crate::school::messages::MAX_THREADS_LISTED) at a time.
#[utoipa::path(get, path = "/api/v1/threads", tag = "messages",
    params(ThreadListQuery),
    responses((status = 200, body = [ThreadSummary], description = "a page of threads; fewer than `limit` means the last page"),
        (status = 400, description = "a bad `limit`, or a `before` that is not in the caller's inbox"),
        (status = 401, description = "not logged in")))]
pub async fn list_threads(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ThreadListQuery>, QueryRejection>,
) -> Result<Json<Vec<ThreadSummary>>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let page = ThreadPage {
        limit: query.limit,
        before: query.before,
    };
    Ok(Json(operations::list_threads(&state, &caller, page).await?))
}

/// `GET /api/v1/threads/{thread}`: the whole thread, for its participants only.
#[utoipa::path(get, path = "/api/v1/threads/{thread}", tag = "messages",
    params(("thread" = String, Path, description = "the thread's id")),
    responses((status = 200, body = ThreadView), (status = 404, description = "no such thread, or the caller does not take part in it")))]
pub async fn thread(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(thread_id): UrlPath<String>,
) -> Result<Json<ThreadView>, ApiError> {
    Ok(Json(
        operations::get_thread(&state, &caller, &thread_id).await?,
    ))
}

/// `POST /api/v1/threads/{thread}/messages`: adds a message, for participants only.
#[utoipa::path(post, path = "/api/v1/threads/{thread}/messages", tag = "messages", request_body = NewMessage,
    params(("thread" = String, Path, description = "the thread's id")),
    responses((status = 201, body = MessageView), (status = 404, description = "no such thread, or the caller does not take part in it"),
        (status = 409, description = "the thread is full; start a new one")))]
pub async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(thread_id): UrlPath<String>,
    Json(request): Json<NewMessage>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let message = operations::post_message(&state, &caller, &thread_id, request.body).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// `POST /api/v1/threads/{thread}/read`: moves the caller's read marker forward.
#[utoipa::path(post, path = "/api/v1/threads/{thread}/read", tag = "messages", request_body = MarkRead,
    params(("thread" = String, Path, description = "the thread's id")),
    responses((status = 200, body = ReadState), (status = 404, description = "no such thread or message, or the caller does not take part in it")))]
pub async fn mark_read(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(thread_id): UrlPath<String>,
    Json(request): Json<MarkRead>,
) -> Result<Json<ReadState>, ApiError> {
    Ok(Json(
        operations::mark_read(&state, &caller, &thread_id, request.up_to_message_id).await?,
    ))
}
