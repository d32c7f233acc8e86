//! The session routes: log in, see the current session, log out.
//!
//! - `POST /api/v1/session` `{"username", "password"}` → 200 `{"user_id", "roles", "csrf_token"}`
//!   with the session cookie and a renewed device cookie ([`super::device`]); 401
//!   `invalid_credentials` for any wrong combination (the same body for an unknown user, a wrong
//!   password and a disabled account); 429 `too_many_attempts` with `Retry-After` while this
//!   client is throttled for the account; 403 for a foreign `Origin`; 503 `busy` with
//!   `Retry-After` when the password queue is full.
//! - `GET /api/v1/session` → 200 `{"user_id", "roles", "csrf_token"}` for the current session, 401
//!   without one. A page loaded later learns the CSRF token here.
//! - `DELETE /api/v1/session` (CSRF-checked) → 204, the session deleted and the cookie cleared.

use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AuthState;
use super::cookies::{clear_session_cookie, session_token_from_headers, set_session_cookie};
use super::csrf::check_origin;
use super::directory::LoginRecord;
use super::error::AuthError;
use super::extract::{Caller, ClientAddress};
use super::password::MAX_PASSWORD_BYTES;
use super::session::{NewSession, unix_millis_now};
use super::throttle::LoginClient;
use crate::model::{UserId, UserRole};

/// The path of the session resource.
pub const SESSION_PATH: &str = "/api/v1/session";

/// The longest username login considers. No roster username comes near it; a longer one is refused
/// as wrong credentials without a directory lookup or a hash.
pub const MAX_USERNAME_BYTES: usize = 256;

/// The largest login body: a maximal username and password, JSON-escaped at up to six bytes a byte
/// (`\u00XX`), with room to spare. Anything larger is refused before it is read.
pub const LOGIN_BODY_LIMIT_BYTES: usize = 6 * (MAX_USERNAME_BYTES + MAX_PASSWORD_BYTES) + 1024;

/// The session routes, for any server state that exposes an [`AuthState`].
pub fn routes<S>() -> Router<S>
where
    AuthState: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new().route(
        SESSION_PATH,
        get(current_session)
            .post(log_in)
            .delete(log_out)
            .layer(DefaultBodyLimit::max(LOGIN_BODY_LIMIT_BYTES)),
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    username: String,
    password: String,
}

impl std::fmt::Debug for LoginRequest {
    /// The password never reaches a log.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What login and `GET` answer. The CSRF token is here, never in a cookie, so that only a page that
/// can read the node's responses (the node's own) learns it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SessionView<'a> {
    user_id: &'a UserId,
    roles: &'a [UserRole],
    csrf_token: &'a str,
}

/// Marks a response as never to be cached: it carries the session's CSRF token.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_cookie(mut response: Response, cookie: &str) -> Result<Response, AuthError> {
    let value = HeaderValue::from_str(cookie)
        .map_err(|error| AuthError::Internal(format!("a cookie is not a header value: {error}")))?;
    response.headers_mut().append(header::SET_COOKIE, value);
    Ok(response)
}

/// The throttle's key for a login attempt. An existing user is keyed by user id, so that every
/// spelling the directory accepts for the same account shares one counter; an unknown name is keyed
/// by its lowercase form. The two namespaces cannot collide.
pub fn login_throttle_key(user_id: Option<&UserId>, username: &str) -> String {
    match user_id {
        Some(user_id) => format!("user:{user_id}"),
        None => format!("name:{}", username.to_lowercase()),
    }
}

/// `POST /api/v1/session`: log in.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = SessionView, description = "logged in; the session cookie is set"),
        (status = 401, description = "wrong username or password (one answer for both)"),
        (status = 429, description = "too many failures for this account; see Retry-After")))]
pub async fn log_in(
    State(auth): State<AuthState>,
    client: ClientAddress,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, AuthError> {
    // A login form posted from another site would log the victim into the attacker's account.
    check_origin(&method, &headers, &uri)?;
    let Json(request) = body.map_err(|rejection| AuthError::BadRequest(rejection.body_text()))?;
    let login =
        log_in_with_password(&auth, &headers, client, &request.username, request.password).await?;
    let view = SessionView {
        user_id: &login.record.user_id,
        roles: &login.record.roles,
        csrf_token: &login.session.record.csrf_token,
    };
    let response = no_store((StatusCode::OK, Json(view)).into_response());
    let mut response = with_cookie(
        response,
        &set_session_cookie(auth.config().https, &login.session.token),
    )?;
    if let Some(device_cookie) = &login.device_cookie {
        response = with_cookie(response, device_cookie)?;
    }
    Ok(response)
}

/// A successful password login: who logged in, their new session, and the `Set-Cookie` value of
/// the browser's renewed device cookie (none if it could not be made; the login stands).
#[derive(Debug)]
pub(crate) struct PasswordLogin {
    pub record: LoginRecord,
    pub session: NewSession,
    pub device_cookie: Option<String>,
}

/// Checks a username and password under the login throttle and, when they match an enabled
/// account, starts a session, ending the one the browser still held. Shared by the JSON login and
/// the web UI's login form, so both log in one way; the caller checks the `Origin` first and sets
/// the session cookie ([`set_session_cookie`]) and the device cookie on its answer.
///
/// The throttle judges the attempt in the lane of this account and this client: the browser's
/// device cookie when it vouches for an earlier login to this account, else the connection's
/// address (`client`).
pub(crate) async fn log_in_with_password(
    auth: &AuthState,
    headers: &HeaderMap,
    client: ClientAddress,
    username: &str,
    password: String,
) -> Result<PasswordLogin, AuthError> {
    if username.is_empty() || username.len() > MAX_USERNAME_BYTES {
        return Err(AuthError::InvalidCredentials);
    }
    let login = auth.directory().find_login(username);
    let key = login_throttle_key(login.as_ref().map(|record| &record.user_id), username);
    let https = auth.config().https;
    let now_seconds = unix_millis_now() / 1000;
    let client = match auth.devices().recognise(headers, https, &key, now_seconds) {
        Some(device) => LoginClient::Device(device),
        None => LoginClient::from_address(client.0),
    };
    let attempt = auth
        .throttle()
        .begin_attempt(&key, client, Instant::now())
        .map_err(|throttled| AuthError::Throttled {
            retry_after: throttled.retry_after,
        })?;

    let stored_hash = login.as_ref().map(|record| record.password_hash.clone());
    let password_matches = auth.passwords().verify(password, stored_hash).await?;
    let login = match login {
        Some(record) if password_matches && record.enabled => record,
        _ => {
            attempt.failed(Instant::now());
            return Err(AuthError::InvalidCredentials);
        }
    };
    attempt.succeeded();
    let session = start_session(auth, headers, &login.user_id, login.roles.clone())?;
    let device_cookie = auth
        .devices()
        .cookie_after_login(headers, https, &key, now_seconds)
        .inspect_err(|error| tracing::warn!(%error, "no device cookie for this login"))
        .ok();
    Ok(PasswordLogin {
        record: login,
        session,
        device_cookie,
    })
}

/// Starts a session for `user_id`, who has just proved who they are (a password, or the upstream
/// provider's ID token), and ends the one the browser still held, so that logging in always starts
/// a fresh session and leaves no orphan behind.
pub(crate) fn start_session(
    auth: &AuthState,
    headers: &HeaderMap,
    user_id: &UserId,
    roles: Vec<UserRole>,
) -> Result<NewSession, AuthError> {
    if let Some(previous) = session_token_from_headers(headers, auth.config().https) {
        auth.sessions().delete(&previous.id_hash())?;
    }
    let session = auth.sessions().create(user_id, roles, unix_millis_now())?;
    tracing::info!(user = %user_id, session = %hex::encode(&session.id_hash[..8]), "logged in");
    Ok(session)
}

/// `GET /api/v1/session`: the current session and its CSRF token.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = SessionView), (status = 401, description = "not logged in")))]
pub async fn current_session(
    State(auth): State<AuthState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AuthError> {
    let (caller, record) = auth.authenticate(&method, &uri, &headers)?;
    let view = SessionView {
        user_id: &caller.user_id,
        roles: &caller.roles,
        csrf_token: &record.csrf_token,
    };
    Ok(no_store((StatusCode::OK, Json(view)).into_response()))
}

/// `DELETE /api/v1/session`: log out.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "logged out; the cookie is cleared"), (status = 401, description = "not logged in")))]
pub async fn log_out(State(auth): State<AuthState>, caller: Caller) -> Result<Response, AuthError> {
    auth.sessions()
        .delete_durably(&caller.session_id_hash)
        .await?;
    tracing::info!(user = %caller.user_id, session = %hex::encode(&caller.session_id_hash[..8]), "logged out");
    with_cookie(
        StatusCode::NO_CONTENT.into_response(),
        &clear_session_cookie(auth.config().https),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_keys_separate_users_from_unknown_names() {
        let user: UserId = "name:x".to_owned();
        assert_eq!(login_throttle_key(Some(&user), "Aino"), "user:name:x");
        assert_eq!(login_throttle_key(None, "Aino"), "name:aino");
        assert_eq!(
            login_throttle_key(None, "AINO"),
            login_throttle_key(None, "aino")
        );
    }

    #[test]
    fn the_login_body_limit_fits_the_longest_escaped_credentials() {
        let longest = serde_json::json!({
            "username": "\u{1}".repeat(MAX_USERNAME_BYTES),
            "password": "\u{1}".repeat(MAX_PASSWORD_BYTES),
        })
        .to_string();
        assert!(longest.len() <= LOGIN_BODY_LIMIT_BYTES);
    }
}
