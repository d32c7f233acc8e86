//! Files: uploading a file's bytes as a blob (`POST /api/v1/files`, over
//! [`crate::school::files`]), and answering the download of a blob that a record names.
//!
//! An upload answers with a file reference ([`FileRefView`]) that the client then attaches to a
//! record through the record's own route; the record's operation checks the file
//! ([`require_stored`]).
//!
//! There is deliberately no route that serves a blob by its id. Blob ids are content hashes, and
//! knowing one must not be enough to read a pupil's work: every download goes through a record's
//! route, which authorises the caller against the record, checks that the blob is among the
//! record's files, and only then answers with [`blob_response`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use sync_protocol::ids::BlobId;
use sync_protocol::store::StoreError;
use sync_store::SledStore;
use tokio::task::JoinHandle;

use super::ApiError;
use crate::auth::Caller;
use crate::model::common::FileRef;
use crate::repository::RepositoryError;
pub use crate::school::files::{
    FALLBACK_MEDIA_TYPE, FileRefView, MAX_CONCURRENT_UPLOADS, check_stored, require_stored,
    store_uploaded_file, upload_limit, upload_slot,
};
use crate::school::files::{quota_exceeded, too_large};
use crate::school::runtime::{blocking, node_now};
use crate::state::AppState;

/// Bytes read from the store per step of a download: large enough that a 50 MiB file takes a few
/// hundred steps, small enough that a class downloading the same file at once holds little memory.
pub const DOWNLOAD_CHUNK_BYTES: usize = 256 * 1024;

/// The download's own content security policy: should a browser render a file despite the
/// `attachment` disposition, it runs no script and loads nothing under the node's origin.
const DOWNLOAD_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; sandbox";

/// Downloads may hold pupils' work; shared classroom computers must not keep copies in their cache.
const DOWNLOAD_CACHE_CONTROL: &str = "private, no-store";

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/files", post(upload))
}

/// The query of an upload.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// The file's name as the user's device gives it (no `/` or `\`).
    pub name: String,
}

/// `POST /api/v1/files?name=<file name>`: stores the request body as a blob in the school's scope
/// and answers with the reference to attach. Any logged-in user may upload; what the upload is for
/// is authorised when the reference is attached to a record.
#[utoipa::path(post, path = "/api/v1/files", tag = "files",
    params(UploadQuery),
    request_body(content = Vec<u8>, description = "the file's bytes; `Content-Type` is the file's media type", content_type = "application/octet-stream"),
    responses(
        (status = 201, body = FileRefView, description = "stored durably"),
        (status = 400, description = "no name, or a bad name or media type"),
        (status = 401, description = "not logged in"),
        (status = 403, description = "the CSRF token is missing or wrong"),
        (status = 413, description = "larger than the node's upload limit"),
        (status = 429, description = "the caller's upload allowance for today is used up"),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FileRefView>), ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "an upload names its file in the query, as ?name=<file name>: {rejection}"
        ))
    })?;
    let media_type = media_type_of(&headers)?;
    // The name and media type are checked before a byte of the body is read, so a bad request
    // costs no transfer. The blob id and size are placeholders until the bytes are in.
    FileRef::new(BlobId([0; 32]), &query.name, 0, &media_type)?;

    let limit = upload_limit(&state);
    let declared_length = declared_length(&headers);
    if declared_length.is_some_and(|declared| declared > limit) {
        return Err(too_large(limit).into());
    }
    let remaining = state
        .upload_quota
        .remaining(&caller.user_id, node_now().unix_millis())
        .map_err(|error| ApiError::Internal(format!("upload usage: {error}")))?;
    if declared_length.is_some_and(|declared| declared > remaining) {
        return Err(quota_exceeded(remaining).into());
    }
    let _slot = upload_slot().await?;
    let content = read_within_limit(body, limit, declared_length).await?;
    let file =
        store_uploaded_file(&state, &caller.user_id, &query.name, &media_type, content).await?;
    Ok((StatusCode::CREATED, Json(FileRefView::from(&file))))
}

/// The upload's media type: the `Content-Type` without its parameters (`charset=…` describes the
/// transfer, not the file), or [`FALLBACK_MEDIA_TYPE`] when the client sent none.
fn media_type_of(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(FALLBACK_MEDIA_TYPE.to_owned());
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("the Content-Type header is not plain ASCII".into()))?;
    let essence = text
        .split_once(';')
        .map_or(text, |(essence, _)| essence)
        .trim();
    if essence.is_empty() {
        Ok(FALLBACK_MEDIA_TYPE.to_owned())
    } else {
        Ok(essence.to_ascii_lowercase())
    }
}

/// The `Content-Length` the client declared, if any. A chunked upload declares none; the limit is
/// then enforced while reading.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads the body frame by frame, refusing it as soon as it would pass `limit`, so that the node
/// never holds more than `limit` bytes of it. (`axum::body::to_bytes` bounds memory the same way,
/// but its limit error can only be told apart from a connection that broke off through a type of
/// `http-body-util`; counting here keeps the two answers exact.)
async fn read_within_limit(
    mut body: Body,
    limit: u64,
    declared_length: Option<u64>,
) -> Result<Vec<u8>, ApiError> {
    let expected = declared_length.unwrap_or(0).min(limit);
    let mut content = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    while let Some(frame) =
        std::future::poll_fn(|context| Pin::new(&mut body).poll_frame(context)).await
    {
        let frame = frame
            .map_err(|error| ApiError::BadRequest(format!("the upload broke off: {error}")))?;
        // Trailers carry no file bytes.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if (content.len() + data.len()) as u64 > limit {
            return Err(too_large(limit).into());
        }
        content.extend_from_slice(&data);
    }
    Ok(content)
}

/// Answers with the bytes of `file`'s blob as a download: its media type, an `attachment`
/// disposition with the file's name, `nosniff`, and the exact length. The bytes are streamed from
/// the store [`DOWNLOAD_CHUNK_BYTES`] at a time. 404 when the node does not hold the whole blob
/// (yet): a replaced node may still be receiving files from the relay.
///
/// One byte range (`Range: bytes=…`) is honoured, so that a tablet whose Wi-Fi dropped in the
/// middle of a large material resumes where it stopped: 206 with `Content-Range`. A range wholly
/// past the end gets 416. Several ranges, a malformed header, or an `If-Range` that is not the
/// current entity tag get the whole file, as RFC 9110 allows. The entity tag is the blob id, the
/// hash of the content, so one tag never names two contents.
///
/// Callers authorise first: the caller may read the record, and `file` is one of its files.
pub async fn blob_response(
    state: &AppState,
    file: &FileRef,
    request_headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let blob = file.blob_id()?;
    let store = state.repository.store().clone();
    let length = {
        let store = store.clone();
        blocking(move || Ok(store.blob_len(&blob).map_err(RepositoryError::from)?)).await?
    };
    let Some(length) = length else {
        return Err(ApiError::NotFound(format!(
            "the file {:?} is not on this node yet (it may still be arriving from the relay); \
             try again later",
            file.file_name
        )));
    };
    let entity_tag = format!("\"{blob}\"");
    let (status, range) = match requested_range(request_headers, &entity_tag, length) {
        RequestedRange::Whole => (StatusCode::OK, 0..length),
        RequestedRange::Part(range) => (StatusCode::PARTIAL_CONTENT, range),
        RequestedRange::Unsatisfiable => {
            let mut refused = (
                StatusCode::RANGE_NOT_SATISFIABLE,
                Json(serde_json::json!({
                    "error": "range_not_satisfiable",
                    "message": format!("the file has {length} bytes; the requested range is outside them"),
                })),
            )
                .into_response();
            refused.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::try_from(format!("bytes */{length}"))
                    .map_err(|error| ApiError::Internal(format!("content range: {error}")))?,
            );
            return Ok(refused);
        }
    };
    let mut response = Response::new(Body::new(BlobBody {
        store,
        blob,
        next_offset: range.start,
        length: range.end,
        reading: None,
    }));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if status == StatusCode::PARTIAL_CONTENT {
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::try_from(format!("bytes {}-{}/{length}", range.start, range.end - 1))
                .map_err(|error| ApiError::Internal(format!("content range: {error}")))?,
        );
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::ETAG,
        HeaderValue::try_from(entity_tag)
            .map_err(|error| ApiError::Internal(format!("entity tag: {error}")))?,
    );
    let media_type = HeaderValue::from_str(&file.media_type)
        .unwrap_or_else(|_| HeaderValue::from_static(FALLBACK_MEDIA_TYPE));
    headers.insert(header::CONTENT_TYPE, media_type);
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(range.end - range.start),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::try_from(content_disposition(&file.file_name))
            .map_err(|error| ApiError::Internal(format!("content disposition: {error}")))?,
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOWNLOAD_CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(DOWNLOAD_CACHE_CONTROL),
    );
    Ok(response)
}

/// What a download request asked for, judged against the blob's `length`.
#[derive(Debug, PartialEq, Eq)]
enum RequestedRange {
    Whole,
    /// Bytes `start..end` (end exclusive), within the blob.
    Part(std::ops::Range<u64>),
    Unsatisfiable,
}

fn requested_range(headers: &HeaderMap, entity_tag: &str, length: u64) -> RequestedRange {
    let Some(range) = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
    else {
        return RequestedRange::Whole;
    };
    let if_range_matches = headers
        .get(header::IF_RANGE)
        .is_none_or(|value| value.as_bytes() == entity_tag.as_bytes());
    if !if_range_matches {
        return RequestedRange::Whole;
    }
    let Ok(parsed) = http_range_header::parse_range_header(range) else {
        return RequestedRange::Whole;
    };
    match parsed.validate(length).as_deref() {
        Ok([only]) => RequestedRange::Part(*only.start()..only.end() + 1),
        Ok(_) => RequestedRange::Whole,
        Err(_) => RequestedRange::Unsatisfiable,
    }
}

/// `attachment; filename="<ASCII stand-in>"; filename*=UTF-8''<percent-encoded name>` (RFC 6266
/// with RFC 8187): current browsers use the exact UTF-8 name ("Kalevala-essee ä.pdf"), older
/// clients the stand-in, in which every character outside printable ASCII, and `"` and `\`, is `_`.
pub fn content_disposition(file_name: &str) -> String {
    let stand_in: String = file_name
        .chars()
        .map(|character| match character {
            ' '..='~' if character != '"' && character != '\\' => character,
            _ => '_',
        })
        .collect();
    format!(
        "attachment; filename=\"{stand_in}\"; filename*=UTF-8''{}",
        percent_encode_attr_chars(file_name)
    )
}

/// Percent-encodes every UTF-8 byte of `text` that is not an RFC 8187 `attr-char`.
fn percent_encode_attr_chars(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        let is_attr_char = byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte);
        if is_attr_char {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A response body that reads a blob from the store one chunk at a time, each read on the blocking
/// pool (sled reads may touch the disk), so a download holds at most one chunk in memory.
struct BlobBody {
    store: SledStore,
    blob: BlobId,
    next_offset: u64,
    length: u64,
    reading: Option<JoinHandle<Result<Vec<u8>, StoreError>>>,
}

impl HttpBody for BlobBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if this.reading.is_none() && this.next_offset >= this.length {
            return Poll::Ready(None);
        }
        let reading = match this.reading.as_mut() {
            Some(reading) => reading,
            None => {
                let store = this.store.clone();
                let blob = this.blob;
                let offset = this.next_offset;
                this.reading.insert(tokio::task::spawn_blocking(move || {
                    store.read_blob(&blob, offset, DOWNLOAD_CHUNK_BYTES)
                }))
            }
        };
        let joined = match Pin::new(reading).poll(context) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(joined) => joined,
        };
        this.reading = None;
        let failure = match joined {
            Ok(Ok(chunk)) if !chunk.is_empty() => {
                this.next_offset += chunk.len() as u64;
                return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(chunk)))));
            }
            Ok(Ok(_)) => format!(
                "the blob ended at {} of {} bytes",
                this.next_offset, this.length
            ),
            Ok(Err(error)) => error.to_string(),
            Err(error) => error.to_string(),
        };
        // The status line has gone out already; the client sees the body end short of its
        // Content-Length, and the log says why.
        tracing::error!(blob = %this.blob, %failure, "a download failed while streaming");
        Poll::Ready(Some(Err(std::io::Error::other(failure))))
    }

    fn is_end_stream(&self) -> bool {
        self.reading.is_none() && self.next_offset >= self.length
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.length.saturating_sub(self.next_offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_encodes_the_exact_name_and_an_ascii_stand_in() {
        assert_eq!(
            content_disposition("Kalevala essee ä.pdf"),
            "attachment; filename=\"Kalevala essee _.pdf\"; \
             filename*=UTF-8''Kalevala%20essee%20%C3%A4.pdf"
        );
        assert_eq!(
            content_disposition("say \"hi\";x=1.txt"),
            "attachment; filename=\"say _hi_;x=1.txt\"; \
             filename*=UTF-8''say%20%22hi%22%3Bx%3D1.txt"
        );
        assert!(HeaderValue::try_from(content_disposition("日本語 ñ\u{7f}.txt")).is_ok());
    }

    #[test]
    fn the_media_type_is_the_content_type_without_parameters() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            media_type_of(&headers).ok().as_deref(),
            Some(FALLBACK_MEDIA_TYPE)
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Text/Plain; charset=utf-8"),
        );
        assert_eq!(media_type_of(&headers).ok().as_deref(), Some("text/plain"));
    }
}
