//! What every file-upload form shares: authenticating a `multipart/form-data` request whose CSRF
//! token travels in the body, and reading its fields with every part bounded.
//!
//! A body larger than its route allows (axum's `DefaultBodyLimit`) or a file larger than the
//! node's upload limit is refused with **413**, whatever part of the body showed it; a body that is
//! not a well-formed form gets **400**. Either way nothing has been written: forms are read whole
//! before anything is stored.

use std::collections::HashMap;

use axum::extract::Multipart;
use axum::extract::multipart::{Field as MultipartField, MultipartError, MultipartRejection};
use axum::http::{HeaderMap, Method, StatusCode, Uri};

use super::i18n::{Language, Translator};
use super::{Viewer, WebError};
use crate::auth::AuthError;
use crate::auth::csrf::csrf_tokens_match;
use crate::school::ServiceError;
use crate::state::AppState;

/// The longest CSRF token field read; real tokens are far shorter.
const MAX_CSRF_FIELD_BYTES: usize = 256;

/// A file as the form carried it.
#[derive(Debug)]
pub struct UploadedFile {
    pub name: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// An upload form's text fields (the first value of each name) and its one file, if chosen.
#[derive(Debug, Default)]
pub struct UploadForm {
    pub fields: HashMap<String, String>,
    pub file: Option<UploadedFile>,
    csrf_token: String,
}

impl UploadForm {
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// The viewer of a multipart request. The session is checked here; the CSRF token, which is in the
/// body where no middleware reads it, is checked by [`check_csrf`] once the form is read and before
/// anything is written.
pub fn upload_viewer(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Viewer, WebError> {
    let (caller, record) = state.auth.authenticate_before_csrf(method, uri, headers)?;
    Ok(Viewer {
        caller,
        csrf_token: record.csrf_token,
        t: Translator::new(Language::for_request(headers)),
    })
}

/// Refuses a form whose CSRF token is not the session's.
pub fn check_csrf(viewer: &Viewer, form: &UploadForm) -> Result<(), WebError> {
    if csrf_tokens_match(form.csrf_token.as_bytes(), &viewer.csrf_token) {
        Ok(())
    } else {
        Err(WebError::Auth(AuthError::CsrfTokenMismatch))
    }
}

/// Reads a multipart form: the file in `file_field` at most `file_limit` bytes, each text field
/// named in `text_limits` at most its bytes, other parts skipped unread beyond the body's bound.
pub async fn read_upload_form(
    multipart: Result<Multipart, MultipartRejection>,
    file_field: &str,
    file_limit: u64,
    text_limits: &[(&str, usize)],
) -> Result<UploadForm, ServiceError> {
    let mut multipart = multipart.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ServiceError::TooLarge(rejection.body_text()),
        _ => ServiceError::not_valid("the request is not a multipart form"),
    })?;
    let mut form = UploadForm::default();
    while let Some(field) = multipart.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == crate::auth::CSRF_FORM_FIELD {
            form.csrf_token = bounded_text(field, MAX_CSRF_FIELD_BYTES).await?;
        } else if name == file_field {
            let file_name = field.file_name().unwrap_or("").to_owned();
            let media_type = field
                .content_type()
                .unwrap_or(crate::school::files::FALLBACK_MEDIA_TYPE)
                .to_owned();
            let content = bounded_bytes(field, file_limit).await?;
            // A form sent without choosing a file has an empty, nameless file part.
            if !file_name.is_empty() || !content.is_empty() {
                form.file = Some(UploadedFile {
                    name: file_name,
                    media_type,
                    content,
                });
            }
        } else if let Some((_, limit)) = text_limits.iter().find(|(known, _)| *known == name) {
            let value = bounded_text(field, *limit).await?;
            form.fields.entry(name).or_insert(value);
        }
    }
    Ok(form)
}

/// A part's bytes, refused with 413 beyond `limit`.
pub async fn bounded_bytes(
    mut field: MultipartField<'_>,
    limit: u64,
) -> Result<Vec<u8>, ServiceError> {
    let mut content = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(form_error)? {
        if (content.len() + chunk.len()) as u64 > limit {
            return Err(ServiceError::TooLarge(format!(
                "a part of the form is larger than this node accepts ({limit} bytes at most)"
            )));
        }
        content.extend_from_slice(&chunk);
    }
    Ok(content)
}

/// A text part, refused with 413 beyond `limit` bytes and with 400 when it is not UTF-8.
pub async fn bounded_text(field: MultipartField<'_>, limit: usize) -> Result<String, ServiceError> {
    let bytes = bounded_bytes(field, limit as u64).await?;
    String::from_utf8(bytes).map_err(|_| ServiceError::not_valid("a field is not UTF-8"))
}

/// A broken form is the client's fault; a body over the route's limit is reported as such (axum
/// knows which, and says so in the error's status), so that a too-large file gets 413, not 400.
pub fn form_error(error: MultipartError) -> ServiceError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ServiceError::TooLarge(format!(
            "the form is larger than this node accepts: {error}"
        ))
    } else {
        ServiceError::not_valid(format!("the form could not be read: {error}"))
    }
}
