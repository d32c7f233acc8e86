//! Files: uploading a file's bytes as a blob, and answering the download of a blob that a record
//! names.
//!
//! A file reaches a record in two steps. The client first uploads the bytes (`POST /api/v1/files`)
//! and gets back a file reference ([`FileRefView`]: blob id, file name, size, media type); it then
//! attaches that reference to a record (an assignment, a submission, a material) through the
//! record's own route, which decides who may write there and checks with [`require_stored`] that
//! the node really holds the bytes and that the caller uploaded them
//! ([`crate::upload_records`]).
//!
//! There is deliberately no route that serves a blob by its id. Blob ids are content hashes, and
//! knowing one must not be enough to read a pupil's work: every download goes through a record's
//! route, which authorises the caller against the record, checks that the blob is among the
//! record's files, and only then answers with [`blob_response`].

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{BlobId, Scope};
use sync_protocol::store::StoreError;
use sync_store::SledStore;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::{ApiError, blocking, node_now_millis};
use crate::auth::Caller;
use crate::model::common::{FileRef, MAX_UPLOAD_BYTES};
use crate::repository::RepositoryError;
use crate::state::AppState;

/// The media type recorded when an upload names none (browsers send no `Content-Type` for a file
/// whose type they do not know).
pub const FALLBACK_MEDIA_TYPE: &str = "application/octet-stream";

/// Uploads whose bytes are held in memory at once, node-wide. An upload is buffered whole before it
/// is stored (the store hashes and writes a blob in one call), so this times the upload limit bounds
/// the memory uploads take however many users send files at the same moment; further uploads wait.
pub const MAX_CONCURRENT_UPLOADS: usize = 8;

/// Bytes read from the store per step of a download: large enough that a 50 MiB file takes a few
/// hundred steps, small enough that a class downloading the same file at once holds little memory.
pub const DOWNLOAD_CHUNK_BYTES: usize = 256 * 1024;

/// The download's own content security policy: should a browser render a file despite the
/// `attachment` disposition, it runs no script and loads nothing under the node's origin.
const DOWNLOAD_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; sandbox";

/// Downloads may hold pupils' work; shared classroom computers must not keep copies in their cache.
const DOWNLOAD_CACHE_CONTROL: &str = "private, no-store";

/// A process-wide bound rather than one in `AppState`: one node serves per process, and the bound
/// protects that process's memory.
static UPLOAD_SLOTS: Semaphore = Semaphore::const_new(MAX_CONCURRENT_UPLOADS);

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/files", post(upload))
}

/// A file reference as the API sends and accepts it: the JSON form of
/// [`crate::model::common::FileRef`], so that the answer of an upload can be attached as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRefView {
    /// The blob's id: the SHA-256 of the content, 64 lowercase hexadecimal digits.
    pub blob: String,
    pub file_name: String,
    pub size_bytes: u64,
    /// `type/subtype`, lowercase, without parameters.
    pub media_type: String,
}

impl From<&FileRef> for FileRefView {
    fn from(file: &FileRef) -> Self {
        Self {
            blob: file.blob.clone(),
            file_name: file.file_name.clone(),
            size_bytes: file.size_bytes,
            media_type: file.media_type.clone(),
        }
    }
}

impl FileRefView {
    /// The validated model reference (name trimmed, media type lowercased, size within the limit).
    pub fn into_file_ref(self) -> Result<FileRef, ApiError> {
        let blob = BlobId::from_str(&self.blob)
            .map_err(|error| ApiError::BadRequest(format!("blob: {error}")))?;
        Ok(FileRef::new(
            blob,
            &self.file_name,
            self.size_bytes,
            &self.media_type,
        )?)
    }

    /// Converts every reference of a request, refusing the request at the first invalid one.
    pub fn into_file_refs(files: Vec<FileRefView>) -> Result<Vec<FileRef>, ApiError> {
        files.into_iter().map(FileRefView::into_file_ref).collect()
    }
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
        return Err(too_large(limit));
    }
    let remaining = state
        .upload_quota
        .remaining(&caller.user_id, node_now_millis())
        .map_err(|error| ApiError::Internal(format!("upload usage: {error}")))?;
    if declared_length.is_some_and(|declared| declared > remaining) {
        return Err(quota_exceeded(remaining));
    }
    let _slot = upload_slot().await?;
    let content = read_within_limit(body, limit, declared_length).await?;
    let file =
        store_uploaded_file(&state, &caller.user_id, &query.name, &media_type, content).await?;
    Ok((StatusCode::CREATED, Json(FileRefView::from(&file))))
}

/// Counts `content` against the user's daily allowance and stores it durably as a blob of the
/// school; answers the reference to attach. Shared by the JSON upload and the web UI's forms, which
/// read the bytes (within [`upload_limit`], holding an [`upload_slot`]) their own way.
pub async fn store_uploaded_file(
    state: &AppState,
    user_id: &crate::model::UserId,
    file_name: &str,
    media_type: &str,
    content: Vec<u8>,
) -> Result<FileRef, ApiError> {
    FileRef::new(BlobId([0; 32]), file_name, 0, media_type)?;
    let size_bytes = content.len() as u64;
    if size_bytes > upload_limit(state) {
        return Err(too_large(upload_limit(state)));
    }
    if let Err(exceeded) = state
        .upload_quota
        .record(user_id, size_bytes, node_now_millis())
        .map_err(|error| ApiError::Internal(format!("upload usage: {error}")))?
    {
        return Err(quota_exceeded(exceeded.remaining_bytes));
    }
    let repository = state.repository.clone();
    let scope = Scope::School(state.identity.school.clone());
    let records = state.upload_records.clone();
    let uploader = user_id.clone();
    let blob = blocking(move || {
        let blob = repository.put_blob(&scope, &content)?;
        // After the bytes are stored: the record is what lets this user attach them.
        records
            .record(&uploader, &blob, node_now_millis())
            .map_err(|error| ApiError::Internal(format!("upload record: {error}")))?;
        Ok(blob)
    })
    .await?;
    Ok(FileRef::new(blob, file_name, size_bytes, media_type)?)
}

/// One of the [`MAX_CONCURRENT_UPLOADS`] slots; an upload holds it while its bytes are in memory.
pub async fn upload_slot() -> Result<tokio::sync::SemaphorePermit<'static>, ApiError> {
    UPLOAD_SLOTS
        .acquire()
        .await
        .map_err(|error| ApiError::Internal(format!("the upload slots are closed: {error}")))
}

/// The node's upload limit: the configured one, never above what a file reference may state.
pub fn upload_limit(state: &AppState) -> u64 {
    state.config.http.max_upload_bytes.min(MAX_UPLOAD_BYTES)
}

fn quota_exceeded(remaining: u64) -> ApiError {
    ApiError::QuotaExceeded(format!(
        "you have uploaded nearly all you may today: {remaining} bytes are left until the day \
         changes (00:00 UTC)"
    ))
}

fn too_large(limit: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "the file is larger than this node accepts ({limit} bytes at most)"
    ))
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
            return Err(too_large(limit));
        }
        content.extend_from_slice(&data);
    }
    Ok(content)
}

/// Checks that `caller` uploaded every file of `files` (see [`crate::upload_records`]) and that
/// the node holds it whole, at the size its reference states. A record must not name bytes that
/// were never uploaded here (nobody could open the file) nor state a size the bytes do not have;
/// and a caller must not attach a file by its id alone, which would open any file whose hash they
/// learnt. Routes check only the files a request adds: files a record already names may still be
/// arriving from the relay after a node was replaced, and were checked when they were added.
///
/// A file the caller did not upload and a file the node does not hold get the same refusal, so
/// that the answer does not tell whether a file of that id exists; only a file of the caller's own
/// is compared against its stated size.
pub async fn require_stored(
    state: &AppState,
    caller: &crate::model::UserId,
    files: &[FileRef],
) -> Result<(), ApiError> {
    if files.is_empty() {
        return Ok(());
    }
    let store = state.repository.store().clone();
    let records = state.upload_records.clone();
    let caller = caller.clone();
    let files = files.to_vec();
    blocking(move || check_stored(&store, &records, &caller, &files)).await
}

/// [`require_stored`] for work already on the blocking pool, so that an operation checks its
/// files and writes in one visit there.
pub fn check_stored(
    store: &SledStore,
    records: &crate::upload_records::UploadRecords,
    caller: &crate::model::UserId,
    files: &[FileRef],
) -> Result<(), ApiError> {
    for file in files {
        let blob = file.blob_id()?;
        let uploaded = records
            .uploaded_by(caller, &blob)
            .map_err(|error| ApiError::Internal(format!("upload records: {error}")))?;
        if !uploaded {
            return Err(not_your_upload(file));
        }
        match store.blob_len(&blob).map_err(RepositoryError::from)? {
            None => return Err(not_your_upload(file)),
            Some(stored) if stored != file.size_bytes => {
                return Err(ApiError::BadRequest(format!(
                    "the file {:?} is {stored} bytes, not {} as its reference states",
                    file.file_name, file.size_bytes
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The refusal of a file the caller did not upload, or that the node does not hold: one text for
/// both, naming only what the caller sent.
fn not_your_upload(file: &FileRef) -> ApiError {
    ApiError::BadRequest(format!(
        "the file {:?} is not one you uploaded to this node; upload it first (POST /api/v1/files)",
        file.file_name
    ))
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
