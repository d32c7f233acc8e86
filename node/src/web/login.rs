//! Logging in and out through forms, and choosing the language.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use maud::html;

use super::i18n::{LANGUAGE_COOKIE_NAME, Language, Translator};
use super::layout::{Field, FormErrors, Frame, page_with_status};
use super::{Viewer, WebError, form_fields};
use crate::auth::cookies::{clear_session_cookie, set_session_cookie};
use crate::auth::csrf::check_origin;
use crate::auth::routes::{log_in_with_password, start_session};
use crate::auth::{
    AuthError, ClientAddress, MAX_PASSWORD_BYTES, MAX_USERNAME_BYTES, login_throttle_key,
};
use crate::model::audit::{AuditEntry, AuditEvent};
use crate::school::ServiceError;
use crate::state::AppState;
use crate::upstream_login::{UpstreamLogin, UpstreamLoginError};

/// How long the language choice is kept: a year.
const LANGUAGE_COOKIE_MAX_AGE_SECS: i64 = 365 * 24 * 3600;

#[derive(Debug, serde::Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    /// Set by the OpenID Provider when a service asked the user to log in again
    /// (`prompt=login`, `max_age`): the form is shown even to someone logged in.
    reauth: Option<String>,
}

/// Where to go after logging in or choosing a language: `next` when it is a path of this node (the
/// OpenID Provider's authorisation request sends the user to the login with its own address), else
/// the home page. Never another site, which would make these pages open redirects, and never a
/// character that cannot stand in a `Location` header, which would fail the response.
fn return_path(next: Option<&str>) -> &str {
    next.filter(|path| {
        path.starts_with('/')
            && !path.starts_with("//")
            && !path.contains('\\')
            && !path.chars().any(char::is_control)
            && axum::http::HeaderValue::from_str(path).is_ok()
    })
    .unwrap_or("/home")
}

/// `GET /login?next=/path`: the login form; for someone already logged in, `next` or the home page.
pub async fn login_page(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = return_path(query.next.as_deref());
    let again = query.reauth.is_some();
    if !again && Viewer::of_request(&state, &method, &uri, &headers).is_ok() {
        return Redirect::to(next).into_response();
    }
    let t = Translator::new(Language::for_request(&headers));
    if again {
        return login_form_again(&state, t, next);
    }
    login_form(&state, t, StatusCode::OK, "", next, &FormErrors::default())
}

/// The login form for someone a service asked to log in again: the same form, saying why.
fn login_form_again(state: &AppState, t: Translator, next: &str) -> Response {
    login_form_with_intro(
        state,
        t,
        StatusCode::OK,
        "",
        next,
        &FormErrors::default(),
        Some(t.text("login-again")),
    )
}

fn login_form(
    state: &AppState,
    t: Translator,
    status: StatusCode,
    username: &str,
    next: &str,
    errors: &FormErrors,
) -> Response {
    login_form_with_intro(state, t, status, username, next, errors, None)
}

/// The login form, opening with `intro` when given instead of the usual introduction.
fn login_form_with_intro(
    state: &AppState,
    t: Translator,
    status: StatusCode,
    username: &str,
    next: &str,
    errors: &FormErrors,
    intro: Option<String>,
) -> Response {
    let frame = Frame::anonymous(Some(state), t, "/login");
    let upstream_href = format!(
        "/login/upstream?next={}",
        crate::url_path::path_segment(next)
    );
    page_with_status(
        &frame,
        status,
        &t.text("login-title"),
        html! {
            @if let Some(intro) = &intro {
                p { strong { (intro) } }
            }
            @if let Some(upstream) = &state.upstream_login {
                // The upstream login is a plain link: it works without JavaScript, and while the
                // school is offline it answers with this page and the reason.
                p { a class="button" href=(upstream_href) {
                    (t.text_with("login-upstream", &[("provider", upstream.display_name().into())]))
                } }
                p { (t.text("login-upstream-or")) }
            } @else {
                p { (t.text("login-intro")) }
            }
            form method="post" action="/login" class="stack" novalidate {
                (errors.summary(&t))
                @if next != "/home" {
                    input type="hidden" name="next" value=(next);
                }
                (Field::new("username", t.text("login-username"), "text", username)
                    .required().max_chars(MAX_USERNAME_BYTES).autocomplete("username").render(errors))
                (Field::new("password", t.text("login-password"), "password", "")
                    .required().max_chars(MAX_PASSWORD_BYTES).autocomplete("current-password").render(errors))
                button type="submit" { (t.text("login-submit")) }
            }
        },
    )
}

/// `POST /login`: checks the form's username and password the way the JSON login does (throttle,
/// argon2id, one answer for every wrong combination) and starts a session.
pub async fn log_in(
    State(state): State<AppState>,
    client: ClientAddress,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    // A login form posted from another site would log the victim into the attacker's account.
    check_origin(&method, &headers, &uri)?;
    let t = Translator::new(Language::for_request(&headers));
    let fields = form_fields(&body);
    let username = fields
        .get("username")
        .map(String::as_str)
        .unwrap_or("")
        .trim();
    let password = fields.get("password").cloned().unwrap_or_default();
    let next = return_path(fields.get("next").map(String::as_str));
    let mut errors = FormErrors::default();
    if username.is_empty() {
        errors.add("username", t.text("login-username-missing"));
    }
    if password.is_empty() {
        errors.add("password", t.text("login-password-missing"));
    }
    if !errors.is_empty() {
        return Ok(login_form(
            &state,
            t,
            StatusCode::BAD_REQUEST,
            username,
            next,
            &errors,
        ));
    }
    match log_in_with_password(&state.auth, &headers, client, username, password).await {
        Ok(login) => {
            let mut response = Redirect::to(next).into_response();
            let cookie = set_session_cookie(state.auth.config().https, &login.session.token);
            append_cookie(&mut response, &cookie)?;
            if let Some(device_cookie) = &login.device_cookie {
                append_cookie(&mut response, device_cookie)?;
            }
            Ok(response)
        }
        Err(AuthError::InvalidCredentials) => {
            errors.form = Some(t.text("login-invalid"));
            Ok(login_form(
                &state,
                t,
                StatusCode::UNAUTHORIZED,
                username,
                next,
                &errors,
            ))
        }
        Err(AuthError::Throttled { retry_after }) => {
            errors.form = Some(t.text_with(
                "login-throttled",
                &[("seconds", retry_after.as_secs().max(1).into())],
            ));
            Ok(login_form(
                &state,
                t,
                StatusCode::TOO_MANY_REQUESTS,
                username,
                next,
                &errors,
            ))
        }
        Err(AuthError::Busy) => {
            errors.form = Some(t.text("login-busy"));
            Ok(login_form(
                &state,
                t,
                StatusCode::SERVICE_UNAVAILABLE,
                username,
                next,
                &errors,
            ))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct UpstreamCallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The longest authorisation code and `state` the callback accepts; providers' codes are far
/// shorter, and anything longer is not one of ours.
const MAX_UPSTREAM_CALLBACK_VALUE_BYTES: usize = 4096;

/// `GET /login/upstream?next=/path`: to the municipality's provider, or back to the login page with
/// the reason when it cannot be reached. 404 when no upstream provider is configured.
pub async fn upstream_login_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, WebError> {
    let upstream = state
        .upstream_login
        .clone()
        .ok_or_else(|| WebError::Refused(ServiceError::NotFound("upstream login".to_owned())))?;
    let t = Translator::new(Language::for_request(&headers));
    let next = return_path(query.next.as_deref());
    match upstream.begin(next).await {
        Ok((url, cookie)) => {
            let mut response = Redirect::to(&url).into_response();
            append_cookie(&mut response, &cookie)?;
            Ok(response)
        }
        Err(error) => Ok(upstream_refusal(&state, t, &upstream, next, error)),
    }
}

/// `GET /login/upstream/callback?code=…&state=…`: where the provider sends the browser back. The
/// login is finished, mapped to one roster user of this school, written to the audit log, and a
/// session started; any failure shows the login page with its reason and logs no one in.
pub async fn upstream_login_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<UpstreamCallbackQuery>,
) -> Result<Response, WebError> {
    let upstream = state
        .upstream_login
        .clone()
        .ok_or_else(|| WebError::Refused(ServiceError::NotFound("upstream login".to_owned())))?;
    let t = Translator::new(Language::for_request(&headers));
    let outcome = finish_upstream_login(&state, &upstream, &headers, query).await;
    let mut response = match outcome {
        Ok((session, return_path)) => {
            upstream.count_login();
            let mut response = Redirect::to(&return_path).into_response();
            let https = state.auth.config().https;
            append_cookie(&mut response, &set_session_cookie(https, &session.token))?;
            // A login through the provider proves the account as well as a password does, so this
            // browser gets its own throttle lane for the account's password logins too.
            let account = login_throttle_key(Some(&session.record.user_id), "");
            let now_seconds = crate::auth::session::unix_millis_now() / 1000;
            match state
                .auth
                .devices()
                .cookie_after_login(&headers, https, &account, now_seconds)
            {
                Ok(device_cookie) => append_cookie(&mut response, &device_cookie)?,
                Err(error) => tracing::warn!(%error, "no device cookie for this login"),
            }
            response
        }
        Err(UpstreamFailure::Web(error)) => return Err(error),
        Err(UpstreamFailure::Login(error)) => {
            upstream_refusal(&state, t, &upstream, "/home", error)
        }
    };
    // The pending login is used up either way: a second callback with it is refused.
    append_cookie(&mut response, &upstream.clear_pending_cookie())?;
    Ok(response)
}

enum UpstreamFailure {
    /// Shown on the login page.
    Login(UpstreamLoginError),
    /// The node's own failure (the store, the audit log).
    Web(WebError),
}

impl From<UpstreamLoginError> for UpstreamFailure {
    fn from(error: UpstreamLoginError) -> Self {
        UpstreamFailure::Login(error)
    }
}

async fn finish_upstream_login(
    state: &AppState,
    upstream: &UpstreamLogin,
    headers: &HeaderMap,
    query: UpstreamCallbackQuery,
) -> Result<(crate::auth::session::NewSession, String), UpstreamFailure> {
    if let Some(error) = query.error {
        let error: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        return Err(UpstreamLoginError::Refused(error).into());
    }
    let (Some(code), Some(pending_state)) = (query.code, query.state) else {
        return Err(UpstreamLoginError::NotStarted.into());
    };
    if code.len() > MAX_UPSTREAM_CALLBACK_VALUE_BYTES
        || pending_state.len() > MAX_UPSTREAM_CALLBACK_VALUE_BYTES
    {
        return Err(UpstreamLoginError::NotStarted.into());
    }
    let identity = upstream.finish(headers, &pending_state, &code).await?;
    let roster = crate::school::roster_index(state)
        .await
        .map_err(|error| UpstreamFailure::Web(error.into()))?;
    let user_id = upstream.map_to_roster_user(&identity, &roster, &state.identity.school)?;
    let roles = state
        .auth
        .directory()
        .user_roles(&user_id)
        .ok_or(UpstreamLoginError::NoMatchingUser)?;
    // Written before the session exists: a login the school cannot see afterwards does not happen.
    let entry = AuditEntry {
        at: crate::school::node_now(),
        event: AuditEvent::UpstreamLogin,
        user: user_id.clone(),
        service: upstream.display_name().to_owned(),
        claims: Vec::new(),
        records: None,
        detail: None,
    };
    crate::school::audit::record_before_release(state, entry)
        .await
        .map_err(|error| UpstreamFailure::Web(error.into()))?;
    let session = start_session(&state.auth, headers, &user_id, roles)
        .map_err(|error| UpstreamFailure::Web(WebError::Auth(error)))?;
    tracing::info!(user = %user_id, upstream_subject = %identity.subject, "logged in through the upstream provider");
    Ok((session, identity.return_path))
}

/// The login page with why the upstream login did not log anyone in.
fn upstream_refusal(
    state: &AppState,
    t: Translator,
    upstream: &UpstreamLogin,
    next: &str,
    error: UpstreamLoginError,
) -> Response {
    tracing::warn!(issuer = upstream.issuer(), %error, "upstream login failed");
    upstream.count_failure();
    let provider = || upstream.display_name().to_owned();
    let (status, message) = match &error {
        UpstreamLoginError::Unreachable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "login-upstream-unreachable",
        ),
        UpstreamLoginError::Refused(_) => (StatusCode::UNAUTHORIZED, "login-upstream-refused"),
        UpstreamLoginError::NotStarted => (StatusCode::BAD_REQUEST, "login-upstream-not-started"),
        UpstreamLoginError::Invalid(_) => (StatusCode::BAD_GATEWAY, "login-upstream-invalid"),
        UpstreamLoginError::MissingClaim(_) => {
            (StatusCode::FORBIDDEN, "login-upstream-missing-claim")
        }
        UpstreamLoginError::OtherSchool => (StatusCode::FORBIDDEN, "login-upstream-other-school"),
        UpstreamLoginError::NoMatchingUser => (StatusCode::FORBIDDEN, "login-upstream-no-user"),
    };
    let errors = FormErrors {
        form: Some(t.text_with(message, &[("provider", provider().into())])),
        ..FormErrors::default()
    };
    login_form(state, t, status, "", next, &errors)
}

/// `POST /logout` (CSRF-checked): ends the session and goes to the login page.
pub async fn log_out(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    state
        .auth
        .sessions()
        .delete_durably(&viewer.caller.session_id_hash)
        .await
        .map_err(|error| WebError::Auth(AuthError::from(error)))?;
    let mut response = Redirect::to("/login").into_response();
    append_cookie(
        &mut response,
        &clear_session_cookie(state.auth.config().https),
    )?;
    Ok(response)
}

#[derive(Debug, serde::Deserialize)]
pub struct LanguageQuery {
    back: Option<String>,
}

/// `GET /language/{code}?back=/path`: keeps the chosen language in a cookie and returns to the page.
/// A plain link rather than a form, so it works everywhere without JavaScript; it changes nothing
/// but the visitor's own preference.
pub async fn choose_language(
    Path(code): Path<String>,
    Query(query): Query<LanguageQuery>,
) -> Result<Response, WebError> {
    let Some(language) = Language::from_code(&code) else {
        return Err(WebError::Refused(ServiceError::NotFound(format!(
            "no language {code:?}"
        ))));
    };
    let back = return_path(query.back.as_deref());
    let cookie = Cookie::build((LANGUAGE_COOKIE_NAME, language.code()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(LANGUAGE_COOKIE_MAX_AGE_SECS))
        .build();
    let mut response = Redirect::to(back).into_response();
    append_cookie(&mut response, &cookie.to_string())?;
    Ok(response)
}

fn append_cookie(response: &mut Response, cookie: &str) -> Result<(), WebError> {
    let value = HeaderValue::from_str(cookie).map_err(|error| {
        WebError::Auth(AuthError::Internal(format!(
            "a cookie is not a header value: {error}"
        )))
    })?;
    response.headers_mut().append(header::SET_COOKIE, value);
    Ok(())
}
