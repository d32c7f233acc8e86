//! The platform's JSON API under `/api/v1`: what every route shares.
//!
//! Every route takes a [`Caller`](crate::auth::Caller) (so it requires a session and, for writes,
//! the CSRF token). Every route is a thin adapter over the application layer (`crate::school`): it
//! turns JSON into typed inputs, calls the operation, and turns its answer or [`ServiceError`] into
//! JSON. [`ApiError`] is that JSON form (its `field` names the input a refusal is about); the other
//! JSON edges (the OpenID Provider, LTI's services, OneRoster) answer with it too, and share
//! [`blocking`], [`node_now_millis`] and [`roster_index`] for their protocol work.

pub mod announcements;
pub mod assignments;
pub mod attendance;
pub mod files;
pub mod materials;
pub mod messages;
pub mod openapi;
pub mod roster;
pub mod services;
pub mod sync_status;
pub mod timetable;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::model::common::ModelError;
use crate::repository::{RepositoryError, UpdateError};
use crate::school::RosterIndex;
use crate::school::ServiceError;
use crate::state::AppState;

/// An API failure, answered as JSON `{ "error": code, "message": text }`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// A bad request about one input, named in the answer's `field`.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// The caller used up an allowance (of upload bytes per day); it renews by itself.
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{0}")]
    Internal(String),
}

#[derive(Debug, Serialize)]
struct ErrorBody<'text> {
    error: &'static str,
    message: &'text str,
    /// The input a `bad_request` is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) | ApiError::Invalid { .. } => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::QuotaExceeded(_) => (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded"),
            ApiError::Internal(message) => {
                tracing::error!(%message, "request failed inside the node");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let message = match &self {
            // Internal details stay in the log.
            ApiError::Internal(_) => "the node failed; try again",
            ApiError::Invalid { message, .. }
            | ApiError::BadRequest(message)
            | ApiError::Forbidden(message)
            | ApiError::NotFound(message)
            | ApiError::Conflict(message)
            | ApiError::TooLarge(message)
            | ApiError::QuotaExceeded(message) => message.as_str(),
        };
        let field = match &self {
            ApiError::Invalid { field, .. } => Some(*field),
            _ => None,
        };
        (
            status,
            Json(ErrorBody {
                error: code,
                message,
                field,
            }),
        )
            .into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Invalid {
                field: Some(field),
                message,
                ..
            } => ApiError::Invalid { field, message },
            ServiceError::Invalid {
                field: None,
                message,
                ..
            } => ApiError::BadRequest(message),
            ServiceError::Forbidden(message) => ApiError::Forbidden(message),
            ServiceError::NotFound(message) => ApiError::NotFound(message),
            ServiceError::Conflict(message) => ApiError::Conflict(message),
            ServiceError::TooLarge(message) => ApiError::TooLarge(message),
            ServiceError::QuotaExceeded(message) => ApiError::QuotaExceeded(message),
            ServiceError::Internal(message) => ApiError::Internal(message),
        }
    }
}

impl From<ModelError> for ApiError {
    fn from(error: ModelError) -> Self {
        ServiceError::from(error).into()
    }
}

impl From<RepositoryError> for ApiError {
    fn from(error: RepositoryError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl<E: Into<ApiError>> From<UpdateError<E>> for ApiError {
    fn from(error: UpdateError<E>) -> Self {
        match error {
            UpdateError::Rejected(rejected) => rejected.into(),
            UpdateError::Repository(failure) => failure.into(),
        }
    }
}

/// Runs repository work on the blocking pool: it reads sled, runs automerge, and waits for fsync.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?
}

/// Node time now, in Unix milliseconds: the authoritative clock for deadlines and ordering.
pub fn node_now_millis() -> i64 {
    sync_transport::link::now_millis() as i64
}

/// The current roster index (see [`crate::school::roster_index`]), for routes that answer with
/// [`ApiError`].
pub async fn roster_index(state: &AppState) -> Result<std::sync::Arc<RosterIndex>, ApiError> {
    Ok(crate::school::roster_index(state).await?)
}

/// Every `/api/v1` route of the platform, merged.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .merge(roster::routes())
        .merge(assignments::routes())
        .merge(files::routes())
        .merge(timetable::routes())
        .merge(attendance::routes())
        .merge(messages::routes())
        .merge(announcements::routes())
        .merge(materials::routes())
        .merge(services::routes())
}
