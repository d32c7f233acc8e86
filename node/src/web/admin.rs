//! School IT in the web UI: importing a OneRoster package by uploading its CSV files. The import is
//! the API's (`api::roster::import_files`): the whole package is checked first, and a bad one
//! changes nothing and lists every problem next to the file field.

use std::collections::BTreeMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use maud::html;

use super::i18n::{Language, Translator};
use super::layout::{Field, FormErrors, Frame, csrf_field, page_with_status};
use super::{Viewer, WebError, api_status};
use crate::api::roster::{ImportRefused, MAX_ROSTER_PACKAGE_BYTES, import_files};
use crate::api::{Access, ApiError, roster_index};
use crate::auth::AuthError;
use crate::auth::csrf::csrf_tokens_match;
use crate::model::UserRole;
use crate::server::AppState;

/// Problems of a refused package shown on the page; the rest are counted.
const PROBLEMS_SHOWN: usize = 50;

#[derive(Debug, Default, serde::Deserialize)]
pub struct ImportNotice {
    done: Option<String>,
}

async fn require_admin(state: &AppState, viewer: &Viewer) -> Result<(), WebError> {
    let roster = roster_index(state).await?;
    Access::new(&viewer.caller, roster).require_role(UserRole::Admin)?;
    Ok(())
}

/// `GET /admin/roster`.
pub async fn roster_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(notice): Query<ImportNotice>,
) -> Result<Response, WebError> {
    require_admin(&state, &viewer).await?;
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
    let (caller, record) = state
        .auth
        .authenticate_before_csrf(&method, &uri, &headers)?;
    let viewer = Viewer {
        caller,
        csrf_token: record.csrf_token,
        t: Translator::new(Language::for_request(&headers)),
    };
    let t = viewer.t;
    let mut multipart = multipart.map_err(|_| ApiError::BadRequest("not a form".into()))?;
    let (csrf_token, files) = read_package(&mut multipart).await?;
    if !csrf_tokens_match(csrf_token.as_bytes(), &viewer.csrf_token) {
        return Err(WebError::Auth(AuthError::CsrfTokenMismatch));
    }
    require_admin(&state, &viewer).await?;
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
    match import_files(&state, files).await {
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
        Err(ImportRefused::Refused(error @ (ApiError::BadRequest(_) | ApiError::TooLarge(_)))) => {
            errors.add("files", t.text("roster-invalid"));
            let problems = vec![error.to_string()];
            Ok(render(
                &state,
                &viewer,
                &errors,
                &problems,
                api_status(&error),
                false,
            ))
        }
        Err(ImportRefused::Refused(other)) => Err(other.into()),
    }
}

/// The form's CSRF token and its files (name → text), at most [`MAX_ROSTER_PACKAGE_BYTES`] in all.
async fn read_package(
    multipart: &mut Multipart,
) -> Result<(String, BTreeMap<String, String>), ApiError> {
    let mut csrf_token = String::new();
    let mut files = BTreeMap::new();
    let mut total = 0usize;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|error| ApiError::BadRequest(format!("the form could not be read: {error}")))?
    {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().unwrap_or("").to_owned();
        let mut content = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|error| ApiError::BadRequest(format!("the upload broke off: {error}")))?
        {
            total += chunk.len();
            if total > MAX_ROSTER_PACKAGE_BYTES {
                return Err(ApiError::TooLarge(format!(
                    "a roster package is at most {MAX_ROSTER_PACKAGE_BYTES} bytes"
                )));
            }
            content.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf_token" => csrf_token = String::from_utf8_lossy(&content).into_owned(),
            "files" if !file_name.is_empty() => {
                let text = String::from_utf8(content)
                    .map_err(|_| ApiError::BadRequest(format!("{file_name} is not UTF-8 text")))?;
                files.insert(file_name, text);
            }
            _ => {}
        }
    }
    Ok((csrf_token, files))
}
