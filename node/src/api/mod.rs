//! The platform's JSON API under `/api/v1`: what every route shares.
//!
//! Every route takes a [`Caller`] (so it requires a session and, for writes, the CSRF token) and
//! checks the caller's **role and relation** to the data before reading or writing anything, with
//! the helpers here:
//! - [`RosterIndex`]: who is in which class, as pupil or teacher, and whose guardian each guardian
//!   is, kept in memory and rebuilt whenever a roster document changes;
//! - [`Access`]: the questions routes ask ("may this caller read this class?", "…this pupil's
//!   records?", "is the caller a teacher of this class?"), each answering with a [`ApiError`] when
//!   not.
//!
//! Repository work is synchronous (sled, automerge, fsync) and runs on the blocking pool through
//! [`blocking`].

pub mod announcements;
pub mod assignments;
pub mod attendance;
pub mod files;
pub mod materials;
pub mod messages;
pub mod openapi;
pub mod roster;
pub mod services;
pub mod timetable;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sync_protocol::ids::SchoolCode;
use sync_store::{ChangeCounter, SledStore};

use crate::auth::Caller;
use crate::model::common::ModelError;
use crate::model::roster::{
    ClassDocument, RosterOrgDocument, RosterUsersDocument, class_doc, roster_org_doc,
    roster_users_doc,
};
use crate::model::{UserId, UserRole};
use crate::repository::{Repository, RepositoryError, UpdateError};
use crate::server::AppState;

/// An API failure, answered as JSON `{ "error": code, "message": text }`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// The caller used up an allowance (of upload bytes per day); it renews by itself.
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{0}")]
    Internal(String),
}

#[derive(Debug, Serialize)]
struct ErrorBody<'text> {
    error: &'static str,
    message: &'text str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::QuotaExceeded(_) => (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded"),
            ApiError::Internal(message) => {
                tracing::error!(%message, "request failed inside the node");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let message = match &self {
            // Internal details stay in the log.
            ApiError::Internal(_) => "the node failed; try again",
            ApiError::BadRequest(message)
            | ApiError::Forbidden(message)
            | ApiError::NotFound(message)
            | ApiError::Conflict(message)
            | ApiError::TooLarge(message)
            | ApiError::QuotaExceeded(message) => message.as_str(),
        };
        (
            status,
            Json(ErrorBody {
                error: code,
                message,
            }),
        )
            .into_response()
    }
}

impl From<ModelError> for ApiError {
    fn from(error: ModelError) -> Self {
        match error {
            ModelError::NotFound { .. } => ApiError::NotFound(error.to_string()),
            ModelError::AlreadyExists { .. }
            | ModelError::WrongDocument { .. }
            | ModelError::PastCutOff { .. }
            | ModelError::WrongSubmissionStatus { .. }
            | ModelError::ThreadFull { .. }
            | ModelError::LimitReached { .. }
            | ModelError::Conflict(_) => ApiError::Conflict(error.to_string()),
            ModelError::NotAParticipant { .. } => ApiError::Forbidden(error.to_string()),
            _ => ApiError::BadRequest(error.to_string()),
        }
    }
}

impl From<RepositoryError> for ApiError {
    fn from(error: RepositoryError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl<E: Into<ApiError>> From<UpdateError<E>> for ApiError {
    fn from(error: UpdateError<E>) -> Self {
        match error {
            UpdateError::Rejected(rejected) => rejected.into(),
            UpdateError::Repository(failure) => failure.into(),
        }
    }
}

/// Runs repository work on the blocking pool: it reads sled, runs automerge, and waits for fsync.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?
}

/// Node time now, in Unix milliseconds: the authoritative clock for deadlines and ordering.
pub fn node_now_millis() -> i64 {
    sync_transport::link::now_millis() as i64
}

/// Who is in which class, and whose guardian is whom. Rebuilt when any roster document changes.
#[derive(Debug, Default)]
pub struct RosterIndex {
    pub classes: BTreeMap<String, ClassDocument>,
    pub classes_as_pupil: HashMap<UserId, BTreeSet<String>>,
    pub classes_as_teacher: HashMap<UserId, BTreeSet<String>>,
    pub children: HashMap<UserId, BTreeSet<UserId>>,
    pub users: RosterUsersDocument,
    pub org: RosterOrgDocument,
}

impl RosterIndex {
    fn build(repository: &Repository, school: &SchoolCode) -> Result<Self, ApiError> {
        let org_doc = roster_org_doc(school);
        let users_doc = roster_users_doc(school);
        let org: RosterOrgDocument = repository.read_or_default(&org_doc)?;
        let users: RosterUsersDocument = repository.read_or_default(&users_doc)?;
        let mut index = RosterIndex::default();
        for class_id in org.classes.keys() {
            let Some(class) = repository.read::<ClassDocument>(&class_doc(school, class_id))?
            else {
                continue;
            };
            if class.removed {
                continue;
            }
            for pupil in class.pupils() {
                index
                    .classes_as_pupil
                    .entry(pupil.clone())
                    .or_default()
                    .insert(class_id.clone());
            }
            for teacher in class.teachers() {
                index
                    .classes_as_teacher
                    .entry(teacher.clone())
                    .or_default()
                    .insert(class_id.clone());
            }
            index.classes.insert(class_id.clone(), class);
        }
        for user in users.users.values() {
            if user.has_role(UserRole::Guardian) {
                let children: BTreeSet<UserId> = users
                    .children_of(&user.sourced_id)
                    .into_iter()
                    .map(|child| child.sourced_id.clone())
                    .collect();
                index.children.insert(user.sourced_id.clone(), children);
            }
        }
        index.users = users;
        index.org = org;
        Ok(index)
    }

    pub fn is_guardian_of(&self, guardian: &str, pupil: &str) -> bool {
        self.children
            .get(guardian)
            .is_some_and(|children| children.contains(pupil))
    }

    pub fn teaches(&self, teacher: &str, class: &str) -> bool {
        self.classes_as_teacher
            .get(teacher)
            .is_some_and(|classes| classes.contains(class))
    }

    pub fn attends(&self, pupil: &str, class: &str) -> bool {
        self.classes_as_pupil
            .get(pupil)
            .is_some_and(|classes| classes.contains(class))
    }

    /// Whether `teacher` teaches any class that `pupil` attends.
    pub fn teaches_pupil(&self, teacher: &str, pupil: &str) -> bool {
        match (
            self.classes_as_teacher.get(teacher),
            self.classes_as_pupil.get(pupil),
        ) {
            (Some(taught), Some(attended)) => !taught.is_disjoint(attended),
            _ => false,
        }
    }
}

/// The names of the documents a [`RosterIndex`] is built from (`roster-org`, `roster-users`, and
/// `class-<key>` for every class).
pub const ROSTER_DOCUMENT_NAME_PREFIXES: [&str; 3] = ["roster-org", "roster-users", "class-"];

/// The cached [`RosterIndex`] of a node.
///
/// Every request asks for it, so the common case must cost almost nothing: a counter of writes to
/// the roster documents (one atomic read, see [`SledStore::change_counter`]) tells whether the
/// index is still current; draft saves and other writes leave it alone. Only when a roster
/// document changed is the index rebuilt, by one thread at a time: the others wait for that build
/// instead of each rebuilding (a bell's worth of first requests would otherwise build it hundreds
/// of times at once).
#[derive(Debug)]
pub struct RosterCache {
    roster_writes: ChangeCounter,
    /// The index and the roster write count it was built at.
    current: RwLock<Option<(u64, Arc<RosterIndex>)>>,
    rebuilding: Mutex<()>,
}

impl RosterCache {
    pub fn new(store: &SledStore) -> Self {
        Self {
            roster_writes: store.change_counter(&ROSTER_DOCUMENT_NAME_PREFIXES),
            current: RwLock::new(None),
            rebuilding: Mutex::new(()),
        }
    }

    /// The index if no roster document changed since it was built; never blocks.
    pub fn get_if_unchanged(&self) -> Option<Arc<RosterIndex>> {
        let writes = self.roster_writes.get();
        let current = self.current.read().ok()?;
        match current.as_ref() {
            Some((built_at, index)) if *built_at == writes => Some(index.clone()),
            _ => None,
        }
    }

    /// The index, rebuilt if a roster document changed. Reads the store, so it runs on the
    /// blocking pool.
    pub fn get(
        &self,
        repository: &Repository,
        school: &SchoolCode,
    ) -> Result<Arc<RosterIndex>, ApiError> {
        if let Some(index) = self.get_if_unchanged() {
            return Ok(index);
        }
        let _one_builder = self
            .rebuilding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(index) = self.get_if_unchanged() {
            return Ok(index);
        }
        // The count is read before the build, so a write racing with it only makes the next
        // request build again.
        let writes = self.roster_writes.get();
        let index = Arc::new(RosterIndex::build(repository, school)?);
        if let Ok(mut current) = self.current.write() {
            *current = Some((writes, index.clone()));
        }
        Ok(index)
    }
}

/// The authorisation questions routes ask, for one caller.
#[derive(Debug)]
pub struct Access<'caller> {
    pub caller: &'caller Caller,
    pub roster: Arc<RosterIndex>,
}

impl<'caller> Access<'caller> {
    pub fn new(caller: &'caller Caller, roster: Arc<RosterIndex>) -> Self {
        Self { caller, roster }
    }

    pub fn has_role(&self, role: UserRole) -> bool {
        self.caller.roles.contains(&role)
    }

    /// Staff and administrators see every class and pupil of the school (read only, unless a
    /// route says otherwise).
    pub fn is_school_wide(&self) -> bool {
        self.has_role(UserRole::Staff) || self.has_role(UserRole::Admin)
    }

    pub fn me(&self) -> &str {
        &self.caller.user_id
    }

    /// The class exists (and is not removed).
    pub fn class(&self, class: &str) -> Result<&ClassDocument, ApiError> {
        self.roster
            .classes
            .get(class)
            .ok_or_else(|| ApiError::NotFound(format!("class {class:?} does not exist")))
    }

    /// Members, their guardians, and school-wide staff may read a class's shared material.
    pub fn require_class_reader(&self, class: &str) -> Result<(), ApiError> {
        let document = self.class(class)?;
        let me = self.me();
        let guardian_of_member = self
            .roster
            .children
            .get(me)
            .is_some_and(|children| children.iter().any(|child| document.is_pupil(child)));
        if document.is_member(me) || guardian_of_member || self.is_school_wide() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only members of class {class:?}, their guardians and school staff may see this"
            )))
        }
    }

    /// Only the class's own teachers change what belongs to the class.
    pub fn require_teacher_of(&self, class: &str) -> Result<(), ApiError> {
        self.class(class)?;
        if self.roster.teaches(self.me(), class) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only teachers of class {class:?} may do this"
            )))
        }
    }

    /// A pupil's own records: the pupil, their guardians, teachers of a class they attend, and
    /// school-wide staff.
    pub fn require_pupil_reader(&self, pupil: &str) -> Result<(), ApiError> {
        let me = self.me();
        if me == pupil
            || self.roster.is_guardian_of(me, pupil)
            || self.roster.teaches_pupil(me, pupil)
            || self.is_school_wide()
        {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "only the pupil, their guardians, their teachers and school staff may see this"
                    .into(),
            ))
        }
    }

    pub fn require_role(&self, role: UserRole) -> Result<(), ApiError> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role",
                role.as_str()
            )))
        }
    }
}

/// The current roster index: at once when nothing changed, else checked (and rebuilt when a
/// roster document changed) on the blocking pool.
pub async fn roster_index(state: &AppState) -> Result<Arc<RosterIndex>, ApiError> {
    if let Some(index) = state.roster.get_if_unchanged() {
        return Ok(index);
    }
    let repository = state.repository.clone();
    let cache = state.roster.clone();
    let school = state.identity.school.clone();
    blocking(move || cache.get(&repository, &school)).await
}

/// Every `/api/v1` route of the platform, merged.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .merge(roster::routes())
        .merge(assignments::routes())
        .merge(files::routes())
        .merge(timetable::routes())
        .merge(attendance::routes())
        .merge(messages::routes())
        .merge(announcements::routes())
        .merge(materials::routes())
        .merge(services::routes())
}

/// Percent-encodes one segment of a URL path: sourcedIds may hold any characters (`{…}`, `/`,
/// spaces), and a link built from one must name that id and nothing else. Everything but the
/// unreserved characters of RFC 3986 is encoded.
pub fn path_segment(segment: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(segment, RESERVED).to_string()
}
