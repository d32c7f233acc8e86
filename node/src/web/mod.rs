//! The web UI: server-rendered HTML pages for pupils, teachers, guardians and school IT, in
//! Finnish, Swedish and English, that work without JavaScript.
//!
//! Pages are thin: every rule (who may see or change what, every bound) is the application
//! layer's ([`crate::school`]), whose operations the JSON API calls too, so a page can never allow
//! what the API refuses. Pages name no module of the API (`node/tests/import_graph.rs`). Forms post `application/x-www-form-urlencoded` bodies carrying the session's CSRF token
//! (lifted into the header by [`crate::auth::lift_form_csrf_token`] and checked by
//! [`crate::auth::Caller`]), or, to upload a file, `multipart/form-data`, whose token the page checks
//! itself. Logging in uses the API's login (`auth::routes::log_in_with_password`).
//!
//! - `i18n`: languages, Fluent texts, dates. `layout`: the page frame (landmarks, skip link, offline
//!   banner, navigation) and form pieces. `security`: the headers of every response. `assets`: the
//!   stylesheet under a hashed name. `https`: the TLS listener and the redirect to it.
//! - Pages: `login` (log in and out, language choice), `home` (a home per role), `assignments`
//!   (view, submit, create, review and return), `attendance` (marking a lesson), `absences` (a
//!   pupil's absences; guardians explain and clear them), `messages` (threads, starting one,
//!   reading, replying), `announcements` (reading, publishing, withdrawing), `materials` (a class's
//!   links and files, shared by its teachers), `admin` (the roster import, the users, setting a
//!   password), `services` (connected services: activating them, the audit log), `statement` (the accessibility statement). `upload`: what the file-upload forms
//!   share (reading a bounded multipart form, its CSRF token, 413 for what is too large).
//! - `week` (a person's week timetable with the work due), `work` (a pupil's work across their
//!   classes, and their grades and feedback); `pupil_choice`: whose week or work such a page shows
//!   (the viewer's own, or a guardian's child).

mod absences;
mod admin;
mod announcements;
pub mod assets;
mod assignments;
mod attendance;
mod home;
pub mod https;
pub mod i18n;
mod layout;
mod login;
mod materials;
mod messages;
mod pupil_choice;
pub mod security;
mod services;
mod statement;
mod upload;
mod week;
mod work;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use self::i18n::{Language, Translator};
use crate::auth::{AuthError, Caller};
use crate::school::ServiceError;
use crate::state::AppState;

/// The largest urlencoded form the pages take: the longest text field (an assignment's
/// instructions, 20,000 characters of up to 4 bytes, percent-encoded at 3 bytes a byte) and room
/// for the rest.
pub const MAX_FORM_BYTES: usize = 3 * 4 * crate::model::common::MAX_BODY_CHARS + 16 * 1024;

/// What a file-upload form may carry beyond the file itself: its text fields and multipart framing.
pub const MAX_MULTIPART_OVERHEAD_BYTES: u64 = 512 * 1024;

/// Every page of the web UI. `max_upload_bytes` (the node's upload limit) bounds the file-upload
/// forms' bodies.
pub fn routes(max_upload_bytes: u64) -> Router<AppState> {
    let upload_body_limit =
        usize::try_from(max_upload_bytes + MAX_MULTIPART_OVERHEAD_BYTES).unwrap_or(usize::MAX);
    let forms = Router::new()
        .route("/", get(root))
        .route("/login", get(login::login_page).post(login::log_in))
        .route("/login/upstream", get(login::upstream_login_start))
        .route(
            "/login/upstream/callback",
            get(login::upstream_login_callback),
        )
        .route("/logout", post(login::log_out))
        .route("/language/{code}", get(login::choose_language))
        .route("/home", get(home::home))
        .route("/accessibility", get(statement::statement))
        .route("/timetable", get(week::week_page))
        .route("/assignments", get(work::work_page))
        .route("/pupils/{pupil}/grades", get(work::grades_page))
        .route("/assignments/{id}", get(assignments::assignment_page))
        .route(
            "/classes/{class}/assignments/new",
            get(assignments::new_assignment_page),
        )
        .route(
            "/classes/{class}/assignments",
            post(assignments::create_assignment),
        )
        .route(
            "/assignments/{id}/submissions/{pupil}",
            get(assignments::review_page),
        )
        .route(
            "/assignments/{id}/submissions/{pupil}/return",
            post(assignments::return_submission),
        )
        .route(
            "/classes/{class}/attendance/{date}/{lesson}",
            get(attendance::attendance_page).post(attendance::mark),
        )
        .route("/messages", get(messages::threads_page))
        .route(
            "/messages/new",
            get(messages::new_thread_page).post(messages::start_thread),
        )
        .route(
            "/messages/{thread}",
            get(messages::thread_page).post(messages::reply),
        )
        .route("/messages/{thread}/read", post(messages::mark_read))
        .route(
            "/announcements",
            get(announcements::announcements_page).post(announcements::publish),
        )
        .route("/announcements/withdraw", post(announcements::withdraw))
        .route("/pupils/{pupil}/absences", get(absences::absences_page))
        .route("/pupils/{pupil}/absences/explain", post(absences::explain))
        .route("/pupils/{pupil}/absences/clear", post(absences::clear))
        .route(
            "/classes/{class}/materials/{material}/remove",
            post(materials::remove),
        )
        .route("/classes/{class}/tools", post(materials::place))
        .route(
            "/classes/{class}/tools/{service}/remove",
            post(materials::unplace),
        )
        .route("/admin/users", get(admin::users_page))
        .route("/admin/services", get(services::services_page))
        .route(
            "/admin/services/{service}",
            get(services::service_page).post(services::change_service),
        )
        .route("/admin/audit", get(services::audit_page))
        .route(
            "/admin/users/{username}/password",
            get(admin::password_page).post(admin::set_password),
        )
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES));
    let uploads = Router::new()
        .route(
            "/assignments/{id}/submission",
            post(assignments::save_submission),
        )
        .route(
            "/classes/{class}/materials",
            get(materials::materials_page).post(materials::share),
        )
        .layer(DefaultBodyLimit::max(upload_body_limit));
    let roster_body_limit =
        crate::school::roster::MAX_ROSTER_PACKAGE_BYTES + MAX_MULTIPART_OVERHEAD_BYTES as usize;
    let roster_upload = Router::new()
        .route("/admin/roster", get(admin::roster_page).post(admin::import))
        .layer(DefaultBodyLimit::max(roster_body_limit));
    Router::new()
        .merge(forms)
        .merge(uploads)
        .merge(roster_upload)
        .route("/static/{name}", get(assets::static_file))
        .layer(axum::middleware::from_fn(render_error_pages))
        .layer(axum::middleware::from_fn(crate::auth::lift_form_csrf_token))
}

/// `GET /`: the home page, or the login page for a visitor.
async fn root() -> Redirect {
    Redirect::to("/home")
}

/// A logged-in person looking at a page: who, in which language, with which CSRF token for forms.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub caller: Caller,
    pub csrf_token: String,
    pub t: Translator,
}

/// Handlers take a `Viewer` as an argument: the request is authenticated before the handler runs,
/// and a visitor without a session gets [`WebError::NotLoggedIn`] (the login page).
impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        Viewer::of_request(state, &parts.method, &parts.uri, &parts.headers)
    }
}

impl Viewer {
    /// Authenticates the request with the session machinery of the JSON API (for unsafe methods
    /// that includes the CSRF token, which forms send as a field).
    pub fn of_request(
        state: &AppState,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Viewer, WebError> {
        let (caller, record) = state.auth.authenticate(method, uri, headers)?;
        Ok(Viewer {
            caller,
            csrf_token: record.csrf_token,
            t: Translator::new(Language::for_request(headers)),
        })
    }
}

/// Why the OpenID Provider refuses a login to a service it cannot send the answer back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceLoginRefusal {
    TooLong,
    Malformed,
    NoClient,
    Failed,
    UnknownService,
    UnregisteredRedirect,
    InvalidRegisteredAddress,
    /// A tool's deep-linking answer that does not verify or makes no sense: nothing was added.
    DeepLinkRefused,
}

impl ServiceLoginRefusal {
    fn message(self) -> &'static str {
        match self {
            ServiceLoginRefusal::TooLong => "service-login-too-long",
            ServiceLoginRefusal::Malformed => "service-login-malformed",
            ServiceLoginRefusal::NoClient => "service-login-no-client",
            ServiceLoginRefusal::Failed => "service-login-failed",
            ServiceLoginRefusal::UnknownService => "service-login-unknown",
            ServiceLoginRefusal::UnregisteredRedirect => "service-login-redirect",
            ServiceLoginRefusal::InvalidRegisteredAddress => "service-login-bad-address",
            ServiceLoginRefusal::DeepLinkRefused => "service-deep-link-refused",
        }
    }
}

/// The page the OpenID Provider shows when it refuses a login to a service it cannot send back to
/// (an unknown service, an unregistered address), in the visitor's language.
pub fn service_login_refused(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    refusal: ServiceLoginRefusal,
) -> Response {
    let t = Translator::new(Language::for_request(headers));
    let frame = layout::Frame::anonymous(Some(state), t, "/oidc/authorize");
    let mut response = layout::page_with_status(
        &frame,
        status,
        &t.text("service-login-refused-title"),
        maud::html! {
            p { (t.text(refusal.message())) }
            p { a href="/home" { (t.text("service-login-back-home")) } }
        },
    );
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// The page that posts an LTI message's `fields` to `action` (the tool's registered redirect URI),
/// in the visitor's language: submitted by the node's static script, or by the user with the
/// Continue button. Its content security policy is the
/// node's, except that forms may post to the tool's origin only.
pub fn tool_form_post_page(
    headers: &HeaderMap,
    action: &str,
    fields: &[(&str, String)],
) -> Response {
    let t = Translator::new(Language::for_request(headers));
    let origin = url::Url::parse(action)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_default();
    let page = maud::html! {
        (maud::DOCTYPE)
        html lang=(t.language.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (t.text("tool-opening")) " – DigiOne" }
                link rel="stylesheet" href=(assets::stylesheet_path());
                script src=(assets::lti_autosubmit_path()) defer {}
            }
            body {
                main {
                    h1 { (t.text("tool-opening")) }
                    form method="post" action=(action) data-lti-autosubmit {
                        @for (name, value) in fields {
                            input type="hidden" name=(name) value=(value);
                        }
                        button type="submit" { (t.text("tool-continue")) }
                    }
                }
            }
        }
    };
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action {origin}; frame-ancestors 'none'"
    );
    let mut response = (
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(page.into_string()),
    )
        .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// Why a page could not be shown. A visitor without a session goes to the login page; everything
/// else becomes an error page in the visitor's language ([`render_error_pages`]).
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not logged in")]
    NotLoggedIn,
    #[error(transparent)]
    Refused(#[from] ServiceError),
    #[error(transparent)]
    Auth(AuthError),
}

impl From<AuthError> for WebError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::NotAuthenticated => WebError::NotLoggedIn,
            other => WebError::Auth(other),
        }
    }
}

/// What [`render_error_pages`] turns into a page: the response's status says which page.
#[derive(Debug, Clone, Copy)]
struct ErrorPageMarker;

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebError::NotLoggedIn => return Redirect::to("/login").into_response(),
            WebError::Refused(error) => {
                if let ServiceError::Internal(message) = error {
                    // Internal details go to the log, never to the page.
                    tracing::error!(%message, "a page failed inside the node");
                }
                service_status(error)
            }
            WebError::Auth(error) => error.status(),
        };
        marked(status)
    }
}

fn marked(status: StatusCode) -> Response {
    let mut response = status.into_response();
    response.extensions_mut().insert(ErrorPageMarker);
    response
}

/// The HTTP status of an operation's refusal, as the JSON API answers it.
pub fn service_status(error: &ServiceError) -> StatusCode {
    match error {
        ServiceError::Invalid { .. } => StatusCode::BAD_REQUEST,
        ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        ServiceError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::QuotaExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Middleware: renders the error page of every [`WebError`] in the visitor's language, and turns
/// axum's own refusals of a web form (too large, malformed) into pages too.
async fn render_error_pages(request: Request, next: Next) -> Response {
    let language = Language::for_request(request.headers());
    let is_static = request.uri().path().starts_with("/static/");
    let response = next.run(request).await;
    let status = response.status();
    let marked = response.extensions().get::<ErrorPageMarker>().is_some();
    let axum_rejection = status.is_client_error()
        && !is_static
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/plain"));
    if marked || axum_rejection {
        layout::error_page(Translator::new(language), status)
    } else {
        response
    }
}

/// The fields of an urlencoded form body, the first value of each name. The body's size is bounded
/// by the route ([`MAX_FORM_BYTES`]).
pub fn form_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    let mut fields = std::collections::HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        fields
            .entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    fields
}
