//! Why an authentication step refused a request, and the JSON response each reason gets:
//! `{ "error": "<code>", "message": "<sentence>" }`, plus `Retry-After` where waiting helps.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::password::PasswordError;
use super::session::SessionError;
use super::throttle::whole_seconds_rounded_up;

/// What a busy node tells clients to wait before another login attempt.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(2);

/// A refusal from the authentication layer. Each becomes a JSON error response.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No session cookie, or one whose session is unknown, expired or belongs to a user who was
    /// disabled or removed.
    #[error("you are not logged in, or your session has ended")]
    NotAuthenticated,
    /// A wrong password, an unknown username or a disabled account: deliberately one answer.
    #[error("the username or password is wrong")]
    InvalidCredentials,
    /// Too many recent failures for this account.
    #[error("too many failed attempts for this account; try again in {} s", whole_seconds_rounded_up(*retry_after))]
    Throttled { retry_after: Duration },
    #[error(
        "this request needs the session's CSRF token in the X-CSRF-Token header or the csrf_token form field"
    )]
    CsrfTokenMissing,
    #[error("the CSRF token does not match the session")]
    CsrfTokenMismatch,
    #[error("the request's Origin does not match this server")]
    CrossOrigin,
    #[error("the request is malformed: {0}")]
    BadRequest(String),
    /// A form body over the limit, or one that broke off while it was read.
    #[error("the form body is too large or could not be read")]
    FormTooLarge,
    /// Every password worker is busy and the queue is full.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// A storage or system failure; the detail goes to the log, not to the client.
    #[error("the server failed: {0}")]
    Internal(String),
}

impl AuthError {
    /// The stable machine-readable code in the `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::NotAuthenticated => "not_authenticated",
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::Throttled { .. } => "too_many_attempts",
            AuthError::CsrfTokenMissing => "csrf_token_missing",
            AuthError::CsrfTokenMismatch => "csrf_token_mismatch",
            AuthError::CrossOrigin => "cross_origin",
            AuthError::BadRequest(_) => "bad_request",
            AuthError::FormTooLarge => "payload_too_large",
            AuthError::Busy => "busy",
            AuthError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::NotAuthenticated | AuthError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AuthError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::CsrfTokenMissing | AuthError::CsrfTokenMismatch | AuthError::CrossOrigin => {
                StatusCode::FORBIDDEN
            }
            AuthError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::FormTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AuthError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            AuthError::Throttled { retry_after } => Some(*retry_after),
            AuthError::Busy => Some(BUSY_RETRY_AFTER),
            _ => None,
        }
    }
}

impl From<SessionError> for AuthError {
    fn from(error: SessionError) -> Self {
        AuthError::Internal(error.to_string())
    }
}

impl From<PasswordError> for AuthError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::Busy => AuthError::Busy,
            other => AuthError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let message = match &self {
            AuthError::Internal(detail) => {
                // The detail may name files or storage errors; the client gets a plain sentence.
                tracing::error!(error = %detail, "authentication failed internally");
                "the server failed; see its log".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = serde_json::json!({ "error": self.code(), "message": message });
        let retry_after = self.retry_after().map(whole_seconds_rounded_up);
        if let (Some(seconds), Some(object)) = (retry_after, body.as_object_mut()) {
            object.insert("retry_after_seconds".to_owned(), seconds.into());
        }
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
