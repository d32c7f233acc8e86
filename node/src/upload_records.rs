//! Who uploaded which file: the proof a caller must have before attaching a file to a record.
//!
//! A file is stored as a blob whose id is the SHA-256 of its bytes, and a record names a file by
//! that id. Blob ids travel: in the JSON of every record that names the file, in download URLs, in
//! browser histories. Knowing an id therefore proves nothing, while uploading the bytes proves that
//! the uploader holds them. So a caller may attach to a record only a file they uploaded themselves
//! ([`crate::school::files::require_stored`]); anything else would let a pupil who learnt the id of a
//! classmate's submitted essay attach it to their own draft and download it from there.
//!
//! Someone who may read a file that another person uploaded (a teacher reviewing a pupil's work, a
//! pupil reading a class material) and wants to attach it elsewhere downloads it and uploads it
//! again. The store keeps one copy of equal bytes, so this costs the upload's transfer and the
//! user's daily allowance, not disk; and copying a pupil's work into another record stays a step
//! the teacher takes on purpose. Checking "may the caller read some record that names this file"
//! instead would need an index from every blob to every document naming it, which the node does
//! not keep.
//!
//! The records live in the node-local sled tree `aux/upload_records` and never sync: a user
//! attaches their upload on the node they uploaded it to, within minutes as a rule. The key is the
//! user (length-prefixed) followed by the blob id, the value the node time of the latest upload.
//! Each user keeps at most [`MAX_UPLOAD_RECORDS_PER_USER`] records; beyond it their least recently
//! uploaded file is forgotten (uploading it again brings it back), so the tree is bounded by the
//! roster. A record is written without its own flush: a crash within sled's flush interval loses
//! the records of the last moments' uploads, whose users then upload those files again.

use sync_protocol::ids::BlobId;

use crate::model::UserId;

/// Files each user is remembered to have uploaded. A pupil uploads a few files a day and a teacher
/// a few dozen a week, and each is normally attached within minutes, so this covers months; at
/// about 100 bytes a record, a school of a thousand users at the bound holds some 50 MB.
pub const MAX_UPLOAD_RECORDS_PER_USER: usize = 500;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct UploadRecords {
    records: sled::Tree,
}

impl UploadRecords {
    pub fn new(records: sled::Tree) -> Self {
        Self { records }
    }

    /// Records that `user` uploaded `blob` at `now_millis`, forgetting their least recently
    /// uploaded file when they are past [`MAX_UPLOAD_RECORDS_PER_USER`]. Two uploads of one user
    /// at the same moment may each forget one, which keeps the bound.
    pub fn record(&self, user: &UserId, blob: &BlobId, now_millis: i64) -> Result<(), sled::Error> {
        self.records
            .insert(key(user, blob), &now_millis.to_be_bytes())?;
        let prefix = user_prefix(user);
        let mut count = 0usize;
        let mut oldest: Option<(i64, sled::IVec)> = None;
        for entry in self.records.scan_prefix(&prefix) {
            let (key, value) = entry?;
            count += 1;
            let at = uploaded_at(&value);
            if oldest.as_ref().is_none_or(|(oldest_at, _)| at < *oldest_at) {
                oldest = Some((at, key));
            }
        }
        if count > MAX_UPLOAD_RECORDS_PER_USER
            && let Some((_, key)) = oldest
        {
            self.records.remove(key)?;
        }
        Ok(())
    }

    /// Whether `user` uploaded `blob` (and it is among their remembered uploads).
    pub fn uploaded_by(&self, user: &UserId, blob: &BlobId) -> Result<bool, sled::Error> {
        self.records.contains_key(key(user, blob))
    }
}

/// The user's part of a key: the id's length (two bytes, big-endian) and its bytes, so that no
/// user's prefix is the beginning of another user's.
fn user_prefix(user: &UserId) -> Vec<u8> {
    let bytes = user.as_bytes();
    // Roster ids are far shorter than 64 KiB; a longer one is cut, which only merges the records
    // of two such impossible users.
    let length = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    let mut prefix = Vec::with_capacity(2 + bytes.len() + 32);
    prefix.extend_from_slice(&length.to_be_bytes());
    prefix.extend_from_slice(&bytes[..usize::from(length)]);
    prefix
}

fn key(user: &UserId, blob: &BlobId) -> Vec<u8> {
    let mut key = user_prefix(user);
    key.extend_from_slice(&blob.0);
    key
}

/// The time a record holds; a value that does not decode counts as the oldest.
fn uploaded_at(value: &[u8]) -> i64 {
    value
        .get(..8)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(i64::MIN, i64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> (tempfile::TempDir, UploadRecords) {
        let directory = tempfile::tempdir().expect("tempdir");
        let database = sled::open(directory.path()).expect("sled");
        let tree = database.open_tree("upload_records").expect("tree");
        (directory, UploadRecords::new(tree))
    }

    fn blob(number: u32) -> BlobId {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&number.to_be_bytes());
        BlobId(bytes)
    }

    #[test]
    fn an_upload_is_recorded_for_its_uploader_only() {
        let (_directory, records) = records();
        let pupil: UserId = "P01".into();
        let other: UserId = "P0".into();
        records.record(&pupil, &blob(1), 10).expect("sled");
        assert!(records.uploaded_by(&pupil, &blob(1)).expect("sled"));
        assert!(!records.uploaded_by(&other, &blob(1)).expect("sled"));
        assert!(!records.uploaded_by(&pupil, &blob(2)).expect("sled"));
    }

    #[test]
    fn each_user_keeps_their_most_recent_uploads_within_the_bound() {
        let (_directory, records) = records();
        let pupil: UserId = "P01".into();
        let other: UserId = "P02".into();
        records.record(&other, &blob(0), 0).expect("sled");
        for number in 0..=MAX_UPLOAD_RECORDS_PER_USER as u32 {
            records
                .record(&pupil, &blob(number), i64::from(number))
                .expect("sled");
        }
        assert!(
            !records.uploaded_by(&pupil, &blob(0)).expect("sled"),
            "the least recent upload is forgotten"
        );
        assert!(records.uploaded_by(&pupil, &blob(1)).expect("sled"));
        assert!(
            records.uploaded_by(&other, &blob(0)).expect("sled"),
            "another user's records are their own"
        );
        // Uploading a file again makes it recent.
        records.record(&pupil, &blob(1), 10_000).expect("sled");
        records.record(&pupil, &blob(9_999), 10_001).expect("sled");
        assert!(records.uploaded_by(&pupil, &blob(1)).expect("sled"));
        assert!(!records.uploaded_by(&pupil, &blob(2)).expect("sled"));
    }
}
