//! OAuth 2.0 error responses (RFC 6749 section 5.2), shared by the OpenID Provider's token
//! endpoint and the OneRoster client credentials grant.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An OAuth error from the token endpoint (RFC 6749 section 5.2).
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"digione-oidc\""),
            );
        }
        response
    }
}

pub(crate) fn oauth_refusal(
    status: StatusCode,
    error: &'static str,
    description: &str,
) -> OAuthError {
    OAuthError {
        status,
        error,
        description: description.to_owned(),
    }
}

pub(crate) fn oauth_error(status: StatusCode, error: &'static str, description: &str) -> Response {
    oauth_refusal(status, error, description).into_response()
}
