//! What every document kind shares: the text bounds, the validation helpers, the error type, the
//! value types that are stored as text (dates, clock times, weekdays), node time, generated item
//! ids, file references and the derivation of document names from OneRoster sourcedIds.
//!
//! Every bound is a named constant here or in the module of the kind it bounds, and
//! `node/DATA-MODEL.md` lists them all. Validation happens in the operations, before anything is
//! written, so a document never holds a value the operations would refuse.

use std::fmt;
use std::str::FromStr;

use autosurgeon::reconcile::NoKey;
use autosurgeon::{Hydrate, HydrateError, Reconcile, Reconciler};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sync_protocol::ids::{BlobId, DocId, SchoolCode, Scope};

/// Titles and subjects: assignment titles, thread subjects, announcement titles, course titles.
pub const MAX_TITLE_CHARS: usize = 200;
/// Long texts: instructions, message bodies, announcement bodies, submission texts, feedback.
pub const MAX_BODY_CHARS: usize = 20_000;
/// A person's given, family or preferred name.
pub const MAX_PERSON_NAME_CHARS: usize = 100;
/// Short labels: rooms, class and course codes, grade levels, subjects, org names' identifiers.
pub const MAX_LABEL_CHARS: usize = 100;
/// Reasons: an absence reason, a mark's comment.
pub const MAX_REASON_CHARS: usize = 500;
/// A OneRoster sourcedId. The specification sets no length; real systems use GUIDs (36
/// characters) or short numbers, so this leaves ample room while keeping map keys small.
pub const MAX_SOURCED_ID_CHARS: usize = 128;
/// A login name.
pub const MAX_USERNAME_CHARS: usize = 100;
/// An e-mail address (the SMTP path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// A file's name as the uploader gave it.
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// A media type such as `application/pdf` (RFC 6838 allows 127 characters per part; this bounds
/// the whole).
pub const MAX_MEDIA_TYPE_CHARS: usize = 127;
/// A link's URL.
pub const MAX_URL_CHARS: usize = 2_000;
/// The largest file the node accepts in one upload, for attachments, submissions and materials.
/// Files are content-addressed blobs beside the documents, never inside them; the sync protocol
/// carries blobs up to `sync_protocol::wire::MAX_BLOB_BYTES`, well above this.
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;
/// Bytes of SHA-256 kept in a sourcedId's document key: 10 bytes (20 hex digits, 80 bits) make an
/// accidental collision among a school's few thousand classes and users practically impossible
/// while keeping document names short.
pub const SOURCED_ID_KEY_BYTES: usize = 10;
/// Random bytes in a generated item id (16 hex digits).
pub const ITEM_ID_BYTES: usize = 8;

/// Why an operation refused its input. Each variant names the field or item concerned, so the API
/// can return the message as it is; the variants group by the answer they deserve (bad input,
/// missing item, conflict with the current state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is {actual} characters long, but at most {max} are allowed")]
    TooLong {
        field: &'static str,
        max: usize,
        actual: usize,
    },
    #[error("{field} contains a control character{}", if *.multi_line { " (only line breaks and tabs are allowed)" } else { "" })]
    ControlCharacter {
        field: &'static str,
        multi_line: bool,
    },
    #[error("{field} is not valid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{what} {id:?} does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("{what} {id:?} already exists")]
    AlreadyExists { what: &'static str, id: String },
    #[error("there are already {max} {what}, the most a document keeps")]
    LimitReached { what: &'static str, max: usize },
    #[error("this document belongs to {existing:?}, not to {requested:?}")]
    WrongDocument { existing: String, requested: String },
    #[error("the cut-off time has passed: submissions closed at {cut_off_at}, it is now {now}")]
    PastCutOff { cut_off_at: NodeTime, now: NodeTime },
    #[error("the submission is {status}, so {action} is not possible now")]
    WrongSubmissionStatus {
        status: &'static str,
        action: &'static str,
    },
    #[error("user {user:?} is not a participant of this thread")]
    NotAParticipant { user: String },
    #[error(
        "this thread is full (at most {max_messages} messages and {max_text_bytes} bytes of text); \
         start a new thread to continue the conversation"
    )]
    ThreadFull {
        max_messages: usize,
        max_text_bytes: usize,
    },
    #[error("{0}")]
    Conflict(String),
}

/// A single-line text field, trimmed: not empty, at most `max` characters, no control characters.
pub fn single_line(field: &'static str, value: &str, max: usize) -> Result<String, ModelError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ModelError::Empty { field });
    }
    check_length(field, trimmed, max)?;
    if trimmed.chars().any(char::is_control) {
        return Err(ModelError::ControlCharacter {
            field,
            multi_line: false,
        });
    }
    Ok(trimmed.to_owned())
}

/// An optional single-line text field: blank means absent; otherwise as [`single_line`].
pub fn optional_single_line(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ModelError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => single_line(field, text, max).map(Some),
    }
}

/// A multi-line text field, kept as written (formatting matters in bodies): at most `max`
/// characters, no control characters other than line breaks and tabs, and not blank when required.
pub fn multi_line(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, ModelError> {
    if required && value.trim().is_empty() {
        return Err(ModelError::Empty { field });
    }
    check_length(field, value, max)?;
    if value
        .chars()
        .any(|character| character.is_control() && !matches!(character, '\n' | '\r' | '\t'))
    {
        return Err(ModelError::ControlCharacter {
            field,
            multi_line: true,
        });
    }
    Ok(value.to_owned())
}

/// A OneRoster sourcedId or a user id: not empty, at most [`MAX_SOURCED_ID_CHARS`], no control
/// characters and no surrounding whitespace (which would make two ids look equal and differ).
pub fn sourced_id(field: &'static str, value: &str) -> Result<String, ModelError> {
    if value.is_empty() {
        return Err(ModelError::Empty { field });
    }
    check_length(field, value, MAX_SOURCED_ID_CHARS)?;
    if value.chars().any(char::is_control) {
        return Err(ModelError::ControlCharacter {
            field,
            multi_line: false,
        });
    }
    if value.trim() != value {
        return Err(ModelError::Invalid {
            field,
            reason: "it starts or ends with whitespace".to_owned(),
        });
    }
    Ok(value.to_owned())
}

fn check_length(field: &'static str, value: &str, max: usize) -> Result<(), ModelError> {
    let actual = value.chars().count();
    if actual > max {
        Err(ModelError::TooLong { field, max, actual })
    } else {
        Ok(())
    }
}

/// The document-name-safe key of a OneRoster sourcedId: lowercase hex of the first
/// [`SOURCED_ID_KEY_BYTES`] bytes of its SHA-256. SourcedIds may hold any characters (GUIDs in
/// braces, upper case, slashes), document names only `[a-z0-9._-]`; the key is stable, so the same
/// class always maps to the same document, and the real sourcedId is kept inside the document.
pub fn sourced_id_key(sourced_id: &str) -> String {
    let digest = Sha256::digest(sourced_id.as_bytes());
    hex::encode(&digest[..SOURCED_ID_KEY_BYTES])
}

/// The document `school:<school>/<name>`. Callers build `name` from fixed prefixes, sourcedId keys
/// and item ids only, which are lowercase hex, so the name is valid by construction: at most 52
/// bytes (`attendance-` + 20 + `-` + 20) of `[a-z0-9-]`, starting with a letter. The unit tests of
/// each kind build its ids.
pub(crate) fn school_doc(school: &SchoolCode, name: &str) -> DocId {
    scoped_doc(Scope::School(school.clone()), name)
}

/// As [`school_doc`], for any scope.
pub(crate) fn scoped_doc(scope: Scope, name: &str) -> DocId {
    DocId::new(scope, name).unwrap_or_else(|error| {
        unreachable!("document names built by the model are valid by construction: {error}")
    })
}

/// Node time: milliseconds since the Unix epoch by the node's clock. The node's clock is the
/// authority for deadlines, lateness and ordering; a device's clock is recorded beside it where
/// useful, and never trusted (see `DATA-MODEL.md`, time rules).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NodeTime(pub i64);

// Written by hand rather than derived: the derived newtype implementation hydrates only as a
// field, not inside an `Option` (`Option<NodeTime>` needs `hydrate_int`).
impl Reconcile for NodeTime {
    type Key<'a> = NoKey;
    fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        reconciler.i64(self.0)
    }
}

impl Hydrate for NodeTime {
    fn hydrate_int(millis: i64) -> Result<Self, HydrateError> {
        Ok(Self(millis))
    }

    fn hydrate_uint(millis: u64) -> Result<Self, HydrateError> {
        i64::try_from(millis).map(Self).map_err(|_| {
            HydrateError::unexpected("milliseconds since the epoch", millis.to_string())
        })
    }
}

impl NodeTime {
    pub fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub fn unix_millis(self) -> i64 {
        self.0
    }
}

impl fmt::Display for NodeTime {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000) {
            Ok(moment) => write!(
                formatter,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                moment.year(),
                u8::from(moment.month()),
                moment.day(),
                moment.hour(),
                moment.minute(),
                moment.second()
            ),
            Err(_) => write!(formatter, "{} ms after the Unix epoch", self.0),
        }
    }
}

/// A calendar date, stored and sent as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CalendarDate(time::Date);

impl CalendarDate {
    pub fn new(date: time::Date) -> Self {
        Self(date)
    }

    pub fn date(self) -> time::Date {
        self.0
    }

    pub fn weekday(self) -> Weekday {
        Weekday::from(self.0.weekday())
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: CalendarDate) -> i64 {
        (later.0 - self.0).whole_days()
    }
}

impl FromStr for CalendarDate {
    type Err = ModelError;
    fn from_str(text: &str) -> Result<Self, ModelError> {
        let bad = || ModelError::Invalid {
            field: "date",
            reason: format!("expected YYYY-MM-DD, got {:?}", excerpt(text)),
        };
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(index, byte)| index == 4 || index == 7 || byte.is_ascii_digit());
        if !shape_ok {
            return Err(bad());
        }
        let year: i32 = text[0..4].parse().map_err(|_| bad())?;
        let month: u8 = text[5..7].parse().map_err(|_| bad())?;
        let day: u8 = text[8..10].parse().map_err(|_| bad())?;
        let month = time::Month::try_from(month).map_err(|_| bad())?;
        time::Date::from_calendar_date(year, month, day)
            .map(Self)
            .map_err(|_| bad())
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

/// A time of day on the school's local clock, `HH:MM`, as lessons are scheduled ("08:15").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime {
    minutes_since_midnight: u16,
}

impl ClockTime {
    pub const MINUTES_PER_DAY: u16 = 24 * 60;

    pub fn from_hours_minutes(hours: u8, minutes: u8) -> Result<Self, ModelError> {
        if hours >= 24 || minutes >= 60 {
            return Err(ModelError::Invalid {
                field: "time",
                reason: format!("{hours:02}:{minutes:02} is not a time of day"),
            });
        }
        Ok(Self {
            minutes_since_midnight: u16::from(hours) * 60 + u16::from(minutes),
        })
    }

    pub fn minutes_since_midnight(self) -> u16 {
        self.minutes_since_midnight
    }
}

impl FromStr for ClockTime {
    type Err = ModelError;
    fn from_str(text: &str) -> Result<Self, ModelError> {
        let bad = || ModelError::Invalid {
            field: "time",
            reason: format!(
                "expected HH:MM (for example 08:15), got {:?}",
                excerpt(text)
            ),
        };
        let bytes = text.as_bytes();
        if bytes.len() != 5
            || bytes[2] != b':'
            || !bytes
                .iter()
                .enumerate()
                .all(|(index, byte)| index == 2 || byte.is_ascii_digit())
        {
            return Err(bad());
        }
        let hours: u8 = text[0..2].parse().map_err(|_| bad())?;
        let minutes: u8 = text[3..5].parse().map_err(|_| bad())?;
        Self::from_hours_minutes(hours, minutes).map_err(|_| bad())
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{:02}:{:02}",
            self.minutes_since_midnight / 60,
            self.minutes_since_midnight % 60
        )
    }
}

/// A day of the week. Finnish schools teach Monday to Friday; Saturday and Sunday exist for the
/// occasional weekend school day and camp schools.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Hydrate,
    Reconcile,
)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    #[autosurgeon(rename = "monday")]
    Monday,
    #[autosurgeon(rename = "tuesday")]
    Tuesday,
    #[autosurgeon(rename = "wednesday")]
    Wednesday,
    #[autosurgeon(rename = "thursday")]
    Thursday,
    #[autosurgeon(rename = "friday")]
    Friday,
    #[autosurgeon(rename = "saturday")]
    Saturday,
    #[autosurgeon(rename = "sunday")]
    Sunday,
}

impl From<time::Weekday> for Weekday {
    fn from(weekday: time::Weekday) -> Self {
        match weekday {
            time::Weekday::Monday => Weekday::Monday,
            time::Weekday::Tuesday => Weekday::Tuesday,
            time::Weekday::Wednesday => Weekday::Wednesday,
            time::Weekday::Thursday => Weekday::Thursday,
            time::Weekday::Friday => Weekday::Friday,
            time::Weekday::Saturday => Weekday::Saturday,
            time::Weekday::Sunday => Weekday::Sunday,
        }
    }
}

/// The id of an item the node creates (assignment, thread, message, lesson, announcement,
/// material, absence report): [`ITEM_ID_BYTES`] random bytes as lowercase hex. Random rather than
/// sequential so that ids made on different nodes or by concurrent requests never collide, and
/// valid inside document names by construction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ItemId(String);

impl ItemId {
    /// A fresh id from the thread's random generator.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand::rng())
    }

    /// A fresh id from `rng` (tests pass a seeded generator).
    pub fn generate_with(rng: &mut impl Rng) -> Self {
        let bytes: [u8; ITEM_ID_BYTES] = rng.random();
        Self(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ItemId {
    type Err = ModelError;
    fn from_str(text: &str) -> Result<Self, ModelError> {
        let valid = text.len() == ITEM_ID_BYTES * 2
            && text
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(ModelError::Invalid {
                field: "id",
                reason: format!(
                    "an id is {} lowercase hexadecimal digits, got {:?}",
                    ITEM_ID_BYTES * 2,
                    excerpt(text)
                ),
            })
        }
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A file stored as a blob and named by a document: a submission's file, an attachment, a
/// material. The document holds only this reference; the bytes live in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct FileRef {
    /// The blob's id, 64 lowercase hex digits (SHA-256 of the content). The key of lists of files,
    /// so that concurrent edits to a list merge by file rather than by position.
    #[key]
    pub blob: String,
    pub file_name: String,
    pub size_bytes: u64,
    pub media_type: String,
}

impl FileRef {
    /// A validated reference: the name is a plain file name, the size within [`MAX_UPLOAD_BYTES`],
    /// the media type `type/subtype`.
    pub fn new(
        blob: BlobId,
        file_name: &str,
        size_bytes: u64,
        media_type: &str,
    ) -> Result<Self, ModelError> {
        let file_ref = Self {
            blob: blob.to_string(),
            file_name: file_name.trim().to_owned(),
            size_bytes,
            media_type: media_type.trim().to_ascii_lowercase(),
        };
        file_ref.validate()?;
        Ok(file_ref)
    }

    /// Checks a reference that arrived whole (for example hydrated from a request body).
    pub fn validate(&self) -> Result<(), ModelError> {
        BlobId::from_str(&self.blob).map_err(|error| ModelError::Invalid {
            field: "blob",
            reason: error.to_string(),
        })?;
        let name = single_line("file name", &self.file_name, MAX_FILE_NAME_CHARS)?;
        if name != self.file_name || name == "." || name == ".." || name.contains(['/', '\\']) {
            return Err(ModelError::Invalid {
                field: "file name",
                reason:
                    "a file name has no surrounding spaces, no `/` or `\\`, and is not `.` or `..`"
                        .to_owned(),
            });
        }
        if self.size_bytes > MAX_UPLOAD_BYTES {
            return Err(ModelError::Invalid {
                field: "file size",
                reason: format!(
                    "{} bytes is over the upload limit of {MAX_UPLOAD_BYTES} bytes",
                    self.size_bytes
                ),
            });
        }
        validate_media_type(&self.media_type)
    }

    /// The blob id, parsed. Stored references were validated when written.
    pub fn blob_id(&self) -> Result<BlobId, ModelError> {
        BlobId::from_str(&self.blob).map_err(|error| ModelError::Invalid {
            field: "blob",
            reason: error.to_string(),
        })
    }
}

/// A media type is `type/subtype` of RFC 6838 token characters, lowercase, parameters excluded.
fn validate_media_type(media_type: &str) -> Result<(), ModelError> {
    let token = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|byte| {
                byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"!#$&-^_.+".contains(&byte)
            })
    };
    let valid = media_type.len() <= MAX_MEDIA_TYPE_CHARS
        && media_type
            .split_once('/')
            .is_some_and(|(kind, subtype)| token(kind) && token(subtype));
    if valid {
        Ok(())
    } else {
        Err(ModelError::Invalid {
            field: "media type",
            reason: format!(
                "expected type/subtype such as application/pdf, got {:?}",
                excerpt(media_type)
            ),
        })
    }
}

/// Checks a list of files: each valid, no more than `max`, no blob twice.
pub(crate) fn validate_files(
    what: &'static str,
    files: &[FileRef],
    max: usize,
) -> Result<(), ModelError> {
    if files.len() > max {
        return Err(ModelError::LimitReached { what, max });
    }
    for (index, file) in files.iter().enumerate() {
        file.validate()?;
        if files[..index].iter().any(|other| other.blob == file.blob) {
            return Err(ModelError::Invalid {
                field: what,
                reason: format!("the file {:?} is listed twice", file.file_name),
            });
        }
    }
    Ok(())
}

/// Inserts `value` under `key`, replacing any earlier value, and returns the stored value.
pub(crate) fn insert_or_replace<V>(
    map: &mut std::collections::BTreeMap<String, V>,
    key: String,
    value: V,
) -> &mut V {
    match map.entry(key) {
        std::collections::btree_map::Entry::Occupied(mut occupied) => {
            occupied.insert(value);
            occupied.into_mut()
        }
        std::collections::btree_map::Entry::Vacant(vacant) => vacant.insert(value),
    }
}

/// Shortens untrusted input before it is echoed back in an error message.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX_ECHO_CHARS: usize = 80;
    if text.chars().count() <= MAX_ECHO_CHARS {
        text.to_owned()
    } else {
        let mut shortened: String = text.chars().take(MAX_ECHO_CHARS).collect();
        shortened.push('…');
        shortened
    }
}

/// Sets a document's identity (the class, term, assignment… it belongs to) when the document is new,
/// or checks that an existing document is the one requested. The repository hands operations a
/// default value for a document it does not hold yet, so every first write goes through here.
pub(crate) fn claim_identity(
    stored: &mut String,
    requested: &str,
    field: &'static str,
) -> Result<(), ModelError> {
    let requested = sourced_id(field, requested)?;
    if stored.is_empty() {
        *stored = requested;
        Ok(())
    } else if *stored == requested {
        Ok(())
    } else {
        Err(ModelError::WrongDocument {
            existing: stored.clone(),
            requested,
        })
    }
}

/// Text values (dates, clock times) are stored in documents as their canonical strings, so a
/// document reads well in any automerge tool, and are parsed again when hydrated.
macro_rules! stored_as_text {
    ($($type:ty),*) => {$(
        impl Reconcile for $type {
            type Key<'a> = NoKey;
            fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
                reconciler.str(self.to_string())
            }
        }
        impl Hydrate for $type {
            fn hydrate_string(text: &'_ str) -> Result<Self, HydrateError> {
                text.parse().map_err(|error: ModelError| {
                    HydrateError::unexpected(stringify!($type), error.to_string())
                })
            }
        }
        impl TryFrom<String> for $type {
            type Error = ModelError;
            fn try_from(text: String) -> Result<Self, ModelError> {
                text.parse()
            }
        }
        impl From<$type> for String {
            fn from(value: $type) -> String {
                value.to_string()
            }
        }
    )*};
}
stored_as_text!(CalendarDate, ClockTime);

impl TryFrom<String> for ItemId {
    type Error = ModelError;
    fn try_from(text: String) -> Result<Self, ModelError> {
        text.parse()
    }
}

impl From<ItemId> for String {
    fn from(id: ItemId) -> String {
        id.0
    }
}

/// Helpers shared by the unit tests of every kind: a round trip through automerge and a merge of
/// two concurrent edits.
#[cfg(test)]
pub(crate) mod test_support {
    use automerge::{ActorId, AutoCommit};
    use autosurgeon::{Hydrate, Reconcile};

    use super::*;

    pub fn date(text: &str) -> CalendarDate {
        text.parse().expect("test date")
    }

    pub fn clock(text: &str) -> ClockTime {
        text.parse().expect("test time")
    }

    pub fn id(text: &str) -> ItemId {
        text.parse().expect("test id")
    }

    pub fn school() -> SchoolCode {
        "30076".parse().expect("test school")
    }

    pub fn file(seed: &str, name: &str) -> FileRef {
        FileRef::new(
            BlobId::of_content(seed.as_bytes()),
            name,
            1234,
            "application/pdf",
        )
        .expect("test file")
    }

    /// Reconciles `value` into a fresh document, hydrates it back and checks both are equal.
    #[track_caller]
    pub fn assert_round_trip<T>(value: &T)
    where
        T: Reconcile + Hydrate + PartialEq + fmt::Debug,
    {
        let mut document = AutoCommit::new();
        autosurgeon::reconcile(&mut document, value).expect("reconcile");
        let bytes = document.save();
        let loaded = AutoCommit::load(&bytes).expect("load");
        let hydrated: T = autosurgeon::hydrate(&loaded).expect("hydrate");
        assert_eq!(&hydrated, value);
    }

    /// Writes `base`, forks it to two actors, applies one edit on each, merges, and returns the
    /// merged value as hydrated from both sides (which must agree).
    pub fn merge_concurrent<T>(
        base: &T,
        edit_a: impl FnOnce(&mut T),
        edit_b: impl FnOnce(&mut T),
    ) -> T
    where
        T: Reconcile + Hydrate + PartialEq + fmt::Debug,
    {
        let mut first = AutoCommit::new().with_actor(ActorId::random());
        autosurgeon::reconcile(&mut first, base).expect("reconcile base");
        first.commit();
        let mut second = first.fork().with_actor(ActorId::random());

        let mut value_a: T = autosurgeon::hydrate(&first).expect("hydrate a");
        edit_a(&mut value_a);
        autosurgeon::reconcile(&mut first, &value_a).expect("reconcile a");

        let mut value_b: T = autosurgeon::hydrate(&second).expect("hydrate b");
        edit_b(&mut value_b);
        autosurgeon::reconcile(&mut second, &value_b).expect("reconcile b");

        first.merge(&mut second).expect("merge a");
        second.merge(&mut first).expect("merge b");
        let merged_a: T = autosurgeon::hydrate(&first).expect("hydrate merged a");
        let merged_b: T = autosurgeon::hydrate(&second).expect("hydrate merged b");
        assert_eq!(merged_a, merged_b, "both replicas converge");
        merged_a
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn text_fields_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(
            single_line("title", "  Essee  ", 10),
            Ok("Essee".to_owned())
        );
        assert_eq!(
            single_line("title", "   ", 10),
            Err(ModelError::Empty { field: "title" })
        );
        assert_eq!(
            single_line("title", "ääääääääääää", 10),
            Err(ModelError::TooLong {
                field: "title",
                max: 10,
                actual: 12
            })
        );
        assert!(matches!(
            single_line("title", "a\nb", 10),
            Err(ModelError::ControlCharacter { .. })
        ));
        assert_eq!(
            multi_line("body", "rivi 1\nrivi 2\t!", 100, true),
            Ok("rivi 1\nrivi 2\t!".to_owned())
        );
        assert!(matches!(
            multi_line("body", "bell\u{7}", 100, true),
            Err(ModelError::ControlCharacter { .. })
        ));
        assert_eq!(optional_single_line("room", Some("  "), 10), Ok(None));
        assert!(sourced_id("id", " x").is_err());
        assert!(sourced_id("id", &"x".repeat(MAX_SOURCED_ID_CHARS + 1)).is_err());
    }

    #[test]
    fn error_messages_say_what_is_wrong() {
        let error = single_line("title", &"x".repeat(201), MAX_TITLE_CHARS).expect_err("long");
        assert_eq!(
            error.to_string(),
            "title is 201 characters long, but at most 200 are allowed"
        );
    }

    #[test]
    fn dates_times_and_ids_parse_their_canonical_text_only() {
        assert_eq!(date("2026-02-28").to_string(), "2026-02-28");
        assert!("2026-02-30".parse::<CalendarDate>().is_err());
        assert!("2026-2-3".parse::<CalendarDate>().is_err());
        assert_eq!(date("2026-01-05").weekday(), Weekday::Monday);
        assert_eq!(clock("08:15").minutes_since_midnight(), 495);
        assert!("24:00".parse::<ClockTime>().is_err());
        assert!("8:15".parse::<ClockTime>().is_err());
        assert!("0123456789abcdeF".parse::<ItemId>().is_err());
        let generated = ItemId::generate();
        assert_eq!(generated.as_str().parse::<ItemId>(), Ok(generated.clone()));
        assert_eq!(NodeTime(0).to_string(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn sourced_id_keys_are_stable_short_hex() {
        let key = sourced_id_key("{CLASS 7A/Math}");
        assert_eq!(key.len(), SOURCED_ID_KEY_BYTES * 2);
        assert_eq!(key, sourced_id_key("{CLASS 7A/Math}"));
        assert_ne!(key, sourced_id_key("{CLASS 7B/Math}"));
        // SHA-256("abc") starts ba7816bf8f01cfea4141.
        assert_eq!(sourced_id_key("abc"), "ba7816bf8f01cfea4141");
    }

    #[test]
    fn file_references_are_validated() {
        let blob = BlobId::of_content(b"x");
        assert!(FileRef::new(blob, "essee.pdf", 10, "Application/PDF").is_ok());
        assert!(FileRef::new(blob, "../essee.pdf", 10, "application/pdf").is_err());
        assert!(FileRef::new(blob, "essee.pdf", MAX_UPLOAD_BYTES + 1, "application/pdf").is_err());
        assert!(FileRef::new(blob, "essee.pdf", 10, "pdf").is_err());
        let file = file("a", "a.pdf");
        assert_eq!(file.blob_id(), Ok(BlobId::of_content(b"a")));
        assert!(validate_files("files", &[file.clone(), file], 5).is_err());
    }

    #[test]
    fn stored_text_values_round_trip_through_automerge() {
        #[derive(Debug, PartialEq, Hydrate, Reconcile)]
        struct Values {
            date: CalendarDate,
            time: ClockTime,
            weekday: Weekday,
            at: NodeTime,
            maybe_at: Option<NodeTime>,
            maybe_date: Option<CalendarDate>,
            file: FileRef,
        }
        assert_round_trip(&Values {
            date: date("2026-03-01"),
            time: clock("13:45"),
            weekday: Weekday::Saturday,
            at: NodeTime(1_767_225_600_000),
            maybe_at: Some(NodeTime(-5)),
            maybe_date: Some(date("2026-03-02")),
            file: file("a", "a.pdf"),
        });
    }
}
