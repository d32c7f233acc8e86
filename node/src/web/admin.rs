//! School IT in the web UI: importing a OneRoster package by uploading its CSV files, and setting
//! passwords. Both are operations of [`crate::school::roster`]: the whole package is checked first,
//! and a bad one changes nothing and lists every problem next to the file field.

use std::collections::BTreeMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use maud::html;

use super::i18n::Translator;
use super::layout::{Field, FormErrors, Frame, csrf_field, page_with_status};
use super::upload::{form_error, upload_viewer};
use super::{Viewer, WebError};
use crate::auth::csrf::csrf_tokens_match;
use crate::auth::{AuthError, MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES};
use crate::model::UserRole;
use crate::school::roster::{
    Administrator, ImportRefused, MAX_ROSTER_PACKAGE_BYTES, import_roster,
    set_password as set_user_password,
};
use crate::school::{ServiceError, roster_index};
use crate::state::AppState;

/// Problems of a refused package shown on the page; the rest are counted.
const PROBLEMS_SHOWN: usize = 50;

#[derive(Debug, Default, serde::Deserialize)]
pub struct ImportNotice {
    done: Option<String>,
}

fn require_admin(viewer: &Viewer) -> Result<Administrator, WebError> {
    Ok(Administrator::from_caller(&viewer.caller)?)
}

/// `GET /admin/roster`.
pub async fn roster_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(notice): Query<ImportNotice>,
) -> Result<Response, WebError> {
    require_admin(&viewer)?;
    Ok(render(
        &state,
        &viewer,
        &FormErrors::default(),
        &[],
        StatusCode::OK,
        notice.done.as_deref() == Some("imported"),
    ))
}

fn render(
    state: &AppState,
    viewer: &Viewer,
    errors: &FormErrors,
    problems: &[String],
    status: StatusCode,
    imported: bool,
) -> Response {
    let t = viewer.t;
    let content = html! {
        @if imported {
            p class="notice" role="status" { (t.text("notice-imported")) }
        }
        p { (t.text("roster-intro")) }
        form method="post" action="/admin/roster" enctype="multipart/form-data" class="stack" novalidate {
            (errors.summary(&t))
            (csrf_field(viewer))
            @if !problems.is_empty() {
                ul class="problems" {
                    @for problem in problems.iter().take(PROBLEMS_SHOWN) {
                        li { (problem) }
                    }
                    @if problems.len() > PROBLEMS_SHOWN {
                        li { (t.text_with("roster-more-problems", &[("count", FluentValue::from(problems.len() - PROBLEMS_SHOWN))])) }
                    }
                }
            }
            (Field::new("files", t.text("roster-files"), "file", "")
                .hint(t.text("roster-files-hint")).multiple().render(errors))
            button type="submit" { (t.text("roster-import")) }
        }
    };
    let frame = Frame::new(state, viewer, "/admin/roster");
    page_with_status(&frame, status, &t.text("roster-title"), content)
}

/// `POST /admin/roster` (`multipart/form-data`, the CSV files in `files`).
pub async fn import(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    let viewer = upload_viewer(&state, &method, &uri, &headers)?;
    let t = viewer.t;
    let mut multipart = multipart.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ServiceError::TooLarge(rejection.body_text()),
        _ => ServiceError::invalid("files", "the request is not a multipart form"),
    })?;
    let (csrf_token, files) = read_package(&mut multipart).await?;
    if !csrf_tokens_match(csrf_token.as_bytes(), &viewer.csrf_token) {
        return Err(WebError::Auth(AuthError::CsrfTokenMismatch));
    }
    let administrator = require_admin(&viewer)?;
    let mut errors = FormErrors::default();
    if files.is_empty() {
        errors.add("files", t.text("roster-files-missing"));
        return Ok(render(
            &state,
            &viewer,
            &errors,
            &[],
            StatusCode::BAD_REQUEST,
            false,
        ));
    }
    match import_roster(&state, &administrator, files).await {
        Ok(_) => Ok(Redirect::to("/admin/roster?done=imported").into_response()),
        Err(ImportRefused::Invalid(problems)) => {
            errors.add("files", t.text("roster-invalid"));
            Ok(render(
                &state,
                &viewer,
                &errors,
                &problems,
                StatusCode::UNPROCESSABLE_ENTITY,
                false,
            ))
        }
        Err(ImportRefused::Refused(
            error @ (ServiceError::Invalid { .. } | ServiceError::TooLarge(_)),
        )) => {
            errors.add("files", t.text("roster-invalid"));
            let status = match error {
                ServiceError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            let problems = vec![error.to_string()];
            Ok(render(&state, &viewer, &errors, &problems, status, false))
        }
        Err(ImportRefused::Refused(other)) => Err(other.into()),
    }
}

/// The form's CSRF token and its files (name → text), at most [`MAX_ROSTER_PACKAGE_BYTES`] in all.
async fn read_package(
    multipart: &mut Multipart,
) -> Result<(String, BTreeMap<String, String>), ServiceError> {
    let mut csrf_token = String::new();
    let mut files = BTreeMap::new();
    let mut total = 0usize;
    while let Some(mut field) = multipart.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().unwrap_or("").to_owned();
        let mut content = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(form_error)? {
            total += chunk.len();
            if total > MAX_ROSTER_PACKAGE_BYTES {
                return Err(ServiceError::TooLarge(format!(
                    "a roster package is at most {MAX_ROSTER_PACKAGE_BYTES} bytes"
                )));
            }
            content.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf_token" => csrf_token = String::from_utf8_lossy(&content).into_owned(),
            "files" if !file_name.is_empty() => {
                let text = String::from_utf8(content).map_err(|_| {
                    ServiceError::invalid("files", format!("{file_name} is not UTF-8 text"))
                })?;
                files.insert(file_name, text);
            }
            _ => {}
        }
    }
    Ok((csrf_token, files))
}

// ---------------------------------------------------------------------------------------------
// The school's users, and setting a password.
// ---------------------------------------------------------------------------------------------

/// Users shown on one page of the list; a school of 1,000 pupils and their guardians takes a few
/// dozen pages, or one search.
const USERS_PER_PAGE: usize = 100;
/// The longest search text taken; longer text is cut, since no name or username is longer.
const MAX_SEARCH_CHARS: usize = 100;

#[derive(Debug, Default, serde::Deserialize)]
pub struct UsersQuery {
    /// A part of a name or username, any letter case.
    q: Option<String>,
    /// The page, from 1.
    page: Option<usize>,
    done: Option<String>,
}

fn role_text(t: &Translator, role: UserRole) -> String {
    match role {
        UserRole::Pupil => t.text("role-pupil"),
        UserRole::Teacher => t.text("role-teacher"),
        UserRole::Guardian => t.text("role-guardian"),
        UserRole::Staff => t.text("role-staff"),
        UserRole::Admin => t.text("role-admin"),
    }
}

/// `GET /admin/users?q=&page=`: the school's users, by family name, with their roles, classes
/// and whether they may log in; each links to setting their password.
pub async fn users_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<UsersQuery>,
) -> Result<Response, WebError> {
    require_admin(&viewer)?;
    let t = viewer.t;
    let roster = roster_index(&state).await?;
    let search: String = query
        .q
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .take(MAX_SEARCH_CHARS)
        .collect();
    let needle = search.to_lowercase();
    let mut users: Vec<&crate::model::roster::RosterUser> = roster
        .users
        .users
        .values()
        .filter(|user| {
            needle.is_empty()
                || user.display_name().to_lowercase().contains(&needle)
                || user.username.to_lowercase().contains(&needle)
        })
        .collect();
    users.sort_by_cached_key(|user| {
        (
            user.family_name.to_lowercase(),
            user.given_name.to_lowercase(),
            user.username.clone(),
        )
    });
    let pages = users.len().div_ceil(USERS_PER_PAGE).max(1);
    let page_number = query.page.unwrap_or(1).clamp(1, pages);
    let shown = users
        .iter()
        .skip((page_number - 1) * USERS_PER_PAGE)
        .take(USERS_PER_PAGE);
    let page_link = |number: usize| {
        let q: String = form_urlencoded::byte_serialize(search.as_bytes()).collect();
        format!("/admin/users?q={q}&page={number}")
    };
    let content = html! {
        @if query.done.as_deref() == Some("password") {
            p class="notice" role="status" { (t.text("notice-password-set")) }
        }
        form method="get" action="/admin/users" class="search" role="search" {
            (Field::new("q", t.text("users-search"), "search", &search).max_chars(MAX_SEARCH_CHARS).render(&FormErrors::default()))
            button type="submit" { (t.text("users-search-button")) }
        }
        p role="status" { (t.text_with("users-count", &[("count", FluentValue::from(users.len()))])) }
        @if !users.is_empty() {
            table {
                caption class="visually-hidden" { (t.text("users-title")) }
                thead {
                    tr {
                        th scope="col" { (t.text("users-name")) }
                        th scope="col" { (t.text("users-username")) }
                        th scope="col" { (t.text("users-roles")) }
                        th scope="col" { (t.text("users-classes")) }
                        th scope="col" { (t.text("users-state")) }
                        th scope="col" { (t.text("users-actions")) }
                    }
                }
                tbody {
                    @for user in shown {
                        tr {
                            td { (user.display_name()) }
                            td { (user.username) }
                            td {
                                @for (index, role) in user.roles.iter().enumerate() {
                                    @if index > 0 { ", " }
                                    (role_text(&t, *role))
                                }
                            }
                            td {
                                (roster.classes_as_pupil.get(&user.sourced_id).map_or(0, |classes| classes.len())
                                    + roster.classes_as_teacher.get(&user.sourced_id).map_or(0, |classes| classes.len()))
                            }
                            td {
                                @if user.enabled { (t.text("users-enabled")) } @else { (t.text("users-disabled")) }
                            }
                            td {
                                a href=(password_path(&user.username)) {
                                    (t.text_with("users-set-password", &[("name", FluentValue::from(user.display_name()))]))
                                }
                            }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav aria-label=(t.text("users-pages")) {
                ul class="pages" {
                    @if page_number > 1 {
                        li { a href=(page_link(page_number - 1)) rel="prev" { (t.text("users-previous")) } }
                    }
                    li aria-current="page" { (t.text_with("users-page-of", &[("page", FluentValue::from(page_number)), ("pages", FluentValue::from(pages))])) }
                    @if page_number < pages {
                        li { a href=(page_link(page_number + 1)) rel="next" { (t.text("users-next")) } }
                    }
                }
            }
        }
    };
    let frame = Frame::new(&state, &viewer, "/admin/users");
    Ok(page_with_status(
        &frame,
        StatusCode::OK,
        &t.text("users-title"),
        content,
    ))
}

fn password_path(username: &str) -> String {
    let username: String = form_urlencoded::byte_serialize(username.as_bytes()).collect();
    format!("/admin/users/{username}/password")
}

/// `GET /admin/users/{username}/password`.
pub async fn password_page(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(username): UrlPath<String>,
) -> Result<Response, WebError> {
    require_admin(&viewer)?;
    render_password_form(
        &state,
        &viewer,
        &username,
        &FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

async fn render_password_form(
    state: &AppState,
    viewer: &Viewer,
    username: &str,
    errors: &FormErrors,
    status: StatusCode,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let roster = roster_index(state).await?;
    let user = roster
        .users
        .by_username(username)
        .ok_or_else(|| ServiceError::NotFound(format!("no user is named {username:?}")))?;
    let content = html! {
        p { (t.text_with("password-intro", &[("name", FluentValue::from(user.display_name())), ("username", FluentValue::from(user.username.as_str()))])) }
        form method="post" action=(password_path(&user.username)) class="stack" novalidate {
            (errors.summary(&t))
            (csrf_field(viewer))
            (Field::new("password", t.text("password-new"), "password", "")
                .required()
                .hint(t.text_with("password-hint", &[("min", FluentValue::from(MIN_PASSWORD_BYTES))]))
                .autocomplete("new-password")
                .render(errors))
            button type="submit" { (t.text("password-set")) }
        }
        p { a href="/admin/users" { (t.text("password-back")) } }
    };
    let frame = Frame::new(state, viewer, &password_path(&user.username));
    Ok(page_with_status(
        &frame,
        status,
        &t.text_with(
            "password-title",
            &[("name", FluentValue::from(user.display_name()))],
        ),
        content,
    ))
}

/// `POST /admin/users/{username}/password` (form): sets the password through the same operation as
/// the JSON API, so the hashing, its bounds and the durable write are the same.
pub async fn set_password(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(username): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Response, WebError> {
    let administrator = require_admin(&viewer)?;
    let t = viewer.t;
    let fields = super::form_fields(&body);
    let password = fields.get("password").cloned().unwrap_or_default();
    let mut errors = FormErrors::default();
    if password.len() < MIN_PASSWORD_BYTES {
        errors.add(
            "password",
            t.text_with(
                "password-too-short",
                &[("min", FluentValue::from(MIN_PASSWORD_BYTES))],
            ),
        );
    } else if password.len() > MAX_PASSWORD_BYTES {
        errors.add("password", t.text("password-too-long"));
    }
    if !errors.is_empty() {
        return render_password_form(&state, &viewer, &username, &errors, StatusCode::BAD_REQUEST)
            .await;
    }
    set_user_password(&state, &administrator, &username, password).await?;
    Ok(Redirect::to("/admin/users?done=password").into_response())
}
