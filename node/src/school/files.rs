//! Files: storing an uploaded file's bytes as a blob of the school, and checking that a record
//! names only files its writer uploaded.
//!
//! A file reaches a record in two steps. The client first uploads the bytes and gets back a file
//! reference ([`FileRefView`]: blob id, file name, size, media type); it then attaches that
//! reference to a record (an assignment, a submission, a material) through the record's own
//! operation, which decides who may write there and checks with [`require_stored`] that the node
//! really holds the bytes and that the caller uploaded them ([`crate::upload_records`]). Serving a
//! file's bytes is the edges' part (`crate::api::files::blob_response`), always after a record's
//! operation authorised the caller and named the file.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sync_protocol::ids::{BlobId, Scope};
use sync_store::SledStore;
use tokio::sync::Semaphore;

use crate::model::UserId;
use crate::model::common::{FileRef, MAX_UPLOAD_BYTES};
use crate::repository::RepositoryError;
use crate::school::error::ServiceError;
use crate::school::runtime::{blocking, node_now};
use crate::state::AppState;
use crate::upload_records::UploadRecords;

/// The media type recorded when an upload names none (browsers send no `Content-Type` for a file
/// whose type they do not know).
pub const FALLBACK_MEDIA_TYPE: &str = "application/octet-stream";

/// Uploads whose bytes are held in memory at once, node-wide. An upload is buffered whole before it
/// is stored (the store hashes and writes a blob in one call), so this times the upload limit bounds
/// the memory uploads take however many users send files at the same moment; further uploads wait.
pub const MAX_CONCURRENT_UPLOADS: usize = 8;

/// A process-wide bound rather than one in `AppState`: one node serves per process, and the bound
/// protects that process's memory.
static UPLOAD_SLOTS: Semaphore = Semaphore::const_new(MAX_CONCURRENT_UPLOADS);

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
    pub fn into_file_ref(self) -> Result<FileRef, ServiceError> {
        let blob = BlobId::from_str(&self.blob)
            .map_err(|error| ServiceError::invalid("blob", format!("blob: {error}")))?;
        Ok(FileRef::new(
            blob,
            &self.file_name,
            self.size_bytes,
            &self.media_type,
        )?)
    }

    /// Converts every reference of a request, refusing the request at the first invalid one.
    pub fn into_file_refs(files: Vec<FileRefView>) -> Result<Vec<FileRef>, ServiceError> {
        files.into_iter().map(FileRefView::into_file_ref).collect()
    }
}

/// Counts `content` against the user's daily allowance and stores it durably as a blob of the
/// school; answers the reference to attach. Shared by the JSON upload and the web UI's forms, which
/// read the bytes (within [`upload_limit`], holding an [`upload_slot`]) their own way.
pub async fn store_uploaded_file(
    state: &AppState,
    user_id: &UserId,
    file_name: &str,
    media_type: &str,
    content: Vec<u8>,
) -> Result<FileRef, ServiceError> {
    FileRef::new(BlobId([0; 32]), file_name, 0, media_type)?;
    let size_bytes = content.len() as u64;
    if size_bytes > upload_limit(state) {
        return Err(too_large(upload_limit(state)));
    }
    if let Err(exceeded) = state
        .upload_quota
        .record(user_id, size_bytes, node_now().unix_millis())
        .map_err(|error| ServiceError::Internal(format!("upload usage: {error}")))?
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
            .record(&uploader, &blob, node_now().unix_millis())
            .map_err(|error| ServiceError::Internal(format!("upload record: {error}")))?;
        Ok(blob)
    })
    .await?;
    Ok(FileRef::new(blob, file_name, size_bytes, media_type)?)
}

/// One of the [`MAX_CONCURRENT_UPLOADS`] slots; an upload holds it while its bytes are in memory.
pub async fn upload_slot() -> Result<tokio::sync::SemaphorePermit<'static>, ServiceError> {
    UPLOAD_SLOTS
        .acquire()
        .await
        .map_err(|error| ServiceError::Internal(format!("the upload slots are closed: {error}")))
}

/// The node's upload limit: the configured one, never above what a file reference may state.
pub fn upload_limit(state: &AppState) -> u64 {
    state.config.http.max_upload_bytes.min(MAX_UPLOAD_BYTES)
}

pub fn quota_exceeded(remaining: u64) -> ServiceError {
    ServiceError::QuotaExceeded(format!(
        "you have uploaded nearly all you may today: {remaining} bytes are left until the day \
         changes (00:00 UTC)"
    ))
}

pub fn too_large(limit: u64) -> ServiceError {
    ServiceError::TooLarge(format!(
        "the file is larger than this node accepts ({limit} bytes at most)"
    ))
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
    caller: &UserId,
    files: &[FileRef],
) -> Result<(), ServiceError> {
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
    records: &UploadRecords,
    caller: &UserId,
    files: &[FileRef],
) -> Result<(), ServiceError> {
    for file in files {
        let blob = file.blob_id()?;
        let uploaded = records
            .uploaded_by(caller, &blob)
            .map_err(|error| ServiceError::Internal(format!("upload records: {error}")))?;
        if !uploaded {
            return Err(not_your_upload(file));
        }
        match store.blob_len(&blob).map_err(RepositoryError::from)? {
            None => return Err(not_your_upload(file)),
            Some(stored) if stored != file.size_bytes => {
                return Err(ServiceError::invalid(
                    "files",
                    format!(
                        "the file {:?} is {stored} bytes, not {} as its reference states",
                        file.file_name, file.size_bytes
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The refusal of a file the caller did not upload, or that the node does not hold: one text for
/// both, naming only what the caller sent.
fn not_your_upload(file: &FileRef) -> ServiceError {
    ServiceError::invalid(
        "files",
        format!(
            "the file {:?} is not one you uploaded to this node; upload it first (POST /api/v1/files)",
            file.file_name
        ),
    )
}
