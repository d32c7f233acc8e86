//! The roster as people see it, and its administration.
//!
//! - Everyone logged in sees who they are and the classes they take part in (staff and
//!   administrators: every class).
//! - Those who may read a class ([`Action::ReadClass`]) see it and its teachers; its pupils are
//!   listed for those the policy lets list them ([`Action::ListClassPupils`]).
//! - An [`Administrator`] imports a OneRoster package (validated whole first: a bad package changes
//!   nothing and gets every problem back as `file:line: message`) and sets passwords.
//!
//! The import itself is `crate::roster_import`; this module bounds the package, runs the import
//! on the blocking pool, and ends the sessions of users who left (`crate::accounts`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sync_protocol::ids::SchoolCode;

use crate::accounts;
use crate::auth::{Caller, SESSIONS_TREE, SessionLimits, SessionStore};
use crate::model::UserRole;
use crate::model::roster::{RosterUsersDocument, roster_users_doc};
use crate::repository::Repository;
use crate::roster_import::{self, CurrentRoster, ImportPlan, RosterDocument};
use crate::school::access::{Access, Target, roster_index};
use crate::school::error::ServiceError;
use crate::school::policy::{Action, Relation, permits};
use crate::school::runtime::blocking;
use crate::state::AppState;

/// The largest roster package accepted, all files together (50 MiB).
pub const MAX_ROSTER_PACKAGE_BYTES: usize = 50 * 1024 * 1024;

/// The files a package may contain; anything else is refused rather than written to disk.
pub const PACKAGE_FILE_NAMES: [&str; 8] = [
    "manifest.csv",
    "orgs.csv",
    "academicSessions.csv",
    "courses.csv",
    "classes.csv",
    "users.csv",
    "roles.csv",
    "enrollments.csv",
];

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassSummary {
    pub id: String,
    pub title: String,
    pub role: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeView {
    pub user_id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<UserRole>,
    pub school: String,
    pub classes: Vec<ClassSummary>,
    /// For guardians: their children's user ids.
    pub children: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: String,
    pub display_name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassView {
    pub id: String,
    pub title: String,
    pub teachers: Vec<Member>,
    /// Only for the class's teachers and school staff.
    pub pupils: Option<Vec<Member>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportOutcome {
    pub documents_written: usize,
    pub summary: String,
}

/// The classes the caller takes part in, each with the part they take in it.
fn class_summaries(access: &Access<'_>) -> Vec<ClassSummary> {
    let me = access.me();
    access
        .roster
        .classes
        .iter()
        .filter_map(|(id, class)| {
            let role = if class.is_teacher(me) {
                "teacher"
            } else if class.is_pupil(me) {
                "pupil"
            } else if access
                .roster
                .children
                .get(me)
                .is_some_and(|children| children.iter().any(|child| class.is_pupil(child)))
            {
                "guardian"
            } else if access.is_school_wide() {
                "staff"
            } else {
                return None;
            };
            Some(ClassSummary {
                id: id.clone(),
                title: class.class.title.clone(),
                role,
            })
        })
        .collect()
}

/// The caller, their roles, classes and (guardians) children.
pub async fn me(state: &AppState, caller: &Caller) -> Result<MeView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    let user = access.roster.users.user(access.me());
    Ok(MeView {
        user_id: caller.user_id.clone(),
        username: user.map(|user| user.username.clone()),
        display_name: user.map(|user| user.display_name()),
        roles: caller.roles.clone(),
        school: state.identity.school.to_string(),
        classes: class_summaries(&access),
        children: access
            .roster
            .children
            .get(access.me())
            .map(|children| children.iter().cloned().collect())
            .unwrap_or_default(),
    })
}

/// The classes the caller takes part in (every class for staff and administrators).
pub async fn my_classes(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<ClassSummary>, ServiceError> {
    Ok(class_summaries(&Access::new(
        caller,
        roster_index(state).await?,
    )))
}

/// A class and its teachers, for those who may read the class; its pupils only for those who may
/// list them ([`Action::ListClassPupils`]).
pub async fn class(
    state: &AppState,
    caller: &Caller,
    class_id: &str,
) -> Result<ClassView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    access.require_class_reader(class_id)?;
    let class = access.class(class_id)?;
    let member = |user_id: &String| Member {
        user_id: user_id.clone(),
        display_name: access
            .roster
            .users
            .user(user_id)
            .map(|user| user.display_name())
            .unwrap_or_else(|| user_id.clone()),
    };
    let sees_pupils = access.may(Action::ListClassPupils, Target::Class(class_id));
    Ok(ClassView {
        id: class_id.to_owned(),
        title: class.class.title.clone(),
        teachers: class.teachers().into_iter().map(member).collect(),
        pupils: sees_pupils.then(|| class.pupils().into_iter().map(member).collect()),
    })
}

/// Someone an edge has found to administer the school: a logged-in user the policy lets administer
/// it ([`Administrator::from_caller`]), or whoever presented the node's local admin token, which
/// only the node's own user can read ([`Administrator::with_local_admin_token`]).
#[derive(Debug)]
pub struct Administrator {
    /// SHA-256 of the administrator's session token, when they came with a session: setting a
    /// password ends the user's other sessions, never the one making the change.
    pub session: Option<[u8; 32]>,
}

impl Administrator {
    /// The caller, when the policy lets them administer the school.
    pub fn from_caller(caller: &Caller) -> Result<Self, ServiceError> {
        if permits(Action::AdministerSchool, &caller.roles, Relation::default()) {
            Ok(Administrator {
                session: Some(caller.session_id_hash),
            })
        } else {
            Err(ServiceError::Forbidden(
                Action::AdministerSchool.refusal().to_owned(),
            ))
        }
    }

    /// Whoever presented the node's local admin token; the edge has compared it.
    pub fn with_local_admin_token() -> Self {
        Administrator { session: None }
    }
}

/// Sets a user's password (argon2id) and ends every session of that user but the administrator's
/// own: a reset password must lock out whoever knew the old one, including a browser still logged
/// in with it.
pub async fn set_password(
    state: &AppState,
    administrator: &Administrator,
    username: &str,
    password: String,
) -> Result<(), ServiceError> {
    let roster = roster_index(state).await?;
    let user = roster
        .users
        .by_username(username)
        .ok_or_else(|| ServiceError::NotFound(format!("no user is named {username:?}")))?;
    let user_id = user.sourced_id.clone();
    let hash = state
        .auth
        .passwords()
        .hash(password)
        .await
        .map_err(|error| ServiceError::invalid("password", error.to_string()))?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let auth = state.auth.clone();
    let keep_session = administrator.session;
    blocking(move || {
        accounts::set_password_hash(&repository, &school, &user_id, &hash).map_err(|error| {
            match error {
                accounts::AccountsError::Rejected(error) => ServiceError::from(error),
                other => ServiceError::Internal(other.to_string()),
            }
        })?;
        // After the new hash is stored, so that no login with the old password can slip in between
        // and keep its session.
        let ended = auth
            .sessions()
            .delete_user_sessions_except(&user_id, keep_session.as_ref())
            .map_err(|error| ServiceError::Internal(error.to_string()))?;
        tracing::info!(user = %user_id, sessions_ended = ended, "password set");
        Ok(())
    })
    .await
}

/// [`set_password`] on a store no node is serving, for `digione-node set-password`: the same
/// checks and the same effect, and whoever is still logged in with the old password is logged out
/// too (the sessions are in the store). Answers the user's login name and the sessions ended.
pub fn set_password_in_store(
    repository: &Repository,
    school: &SchoolCode,
    username: &str,
    password: &str,
) -> Result<(String, usize), String> {
    let users: RosterUsersDocument = repository
        .read_or_default(&roster_users_doc(school))
        .map_err(|error| error.to_string())?;
    let user = users
        .by_username(username)
        .ok_or_else(|| format!("no user is named {username:?}; import the roster first"))?;
    crate::auth::password::check_new_password(password).map_err(|error| error.to_string())?;
    let hash = crate::auth::hash_password(password).map_err(|error| error.to_string())?;
    accounts::set_password_hash(repository, school, &user.sourced_id, &hash)
        .map_err(|error| error.to_string())?;
    let sessions = repository
        .store()
        .auxiliary_tree(SESSIONS_TREE)
        .map_err(|error| error.to_string())?;
    let ended = SessionStore::new(sessions, SessionLimits::default())
        .delete_user_sessions(&user.sourced_id)
        .map_err(|error| error.to_string())?;
    Ok((user.username.clone(), ended))
}

/// Why [`import_roster`] imported nothing.
#[derive(Debug)]
pub enum ImportRefused {
    /// The package is wrong; every problem as `file:line: message`.
    Invalid(Vec<String>),
    /// Too large, a file name this node does not read, or a failure of the node.
    Refused(ServiceError),
}

/// Imports a package given as file name → CSV text: the bounds, then the whole package validated,
/// then written. The JSON import, the web UI's upload form and `digione-node import-roster` (through
/// the JSON import while the node serves) all come here.
pub async fn import_roster(
    state: &AppState,
    _administrator: &Administrator,
    files: BTreeMap<String, String>,
) -> Result<ImportOutcome, ImportRefused> {
    let total: usize = files.values().map(String::len).sum();
    if total > MAX_ROSTER_PACKAGE_BYTES {
        return Err(ImportRefused::Refused(ServiceError::TooLarge(format!(
            "the package is {total} bytes; at most {MAX_ROSTER_PACKAGE_BYTES} are accepted"
        ))));
    }
    for name in files.keys() {
        if !PACKAGE_FILE_NAMES.contains(&name.as_str()) {
            return Err(ImportRefused::Refused(ServiceError::invalid(
                "files",
                format!("{name:?} is not a OneRoster 1.2 CSV file name this node reads"),
            )));
        }
    }
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let outcome = blocking(move || {
        let dir = tempfile::tempdir().map_err(|error| ServiceError::Internal(error.to_string()))?;
        for (name, content) in &files {
            std::fs::write(dir.path().join(name), content)
                .map_err(|error| ServiceError::Internal(error.to_string()))?;
        }
        Ok(import_package(&repository, &school, dir.path()))
    })
    .await
    .map_err(ImportRefused::Refused)?;
    match outcome {
        Ok(outcome) => Ok(outcome),
        Err(ImportFailure::Invalid(problems)) => Err(ImportRefused::Invalid(problems)),
        Err(ImportFailure::Failed(message)) => {
            Err(ImportRefused::Refused(ServiceError::Internal(message)))
        }
    }
}

/// Why an import did not happen.
#[derive(Debug)]
pub enum ImportFailure {
    /// The package is wrong; every problem as `file:line: message`. Nothing was written.
    Invalid(Vec<String>),
    /// The node failed while writing.
    Failed(String),
}

/// Validates the package in `dir` against the current roster and writes every document it changes.
/// Used by the API and by `digione-node import-roster` when the node is not running.
///
/// Users the package removes or disables leave with their passwords and sessions (see
/// `crate::accounts`): their password hashes are removed before the roster is written and their
/// sessions, in the store's session tree, ended after it.
pub fn import_package(
    repository: &Repository,
    school: &SchoolCode,
    dir: &Path,
) -> Result<ImportOutcome, ImportFailure> {
    let failed = |error: &dyn std::fmt::Display| ImportFailure::Failed(error.to_string());
    let current = CurrentRoster::load(repository, school).map_err(|error| failed(&error))?;
    let plan = roster_import::plan_import(dir, school, &current).map_err(|errors| {
        let mut lines = errors.lines();
        if errors.omitted > 0 {
            lines.push(format!("… and {} more problems", errors.omitted));
        }
        ImportFailure::Invalid(lines)
    })?;
    let new_users = plan
        .documents
        .iter()
        .find_map(|(_, document)| match document {
            RosterDocument::Users(users) => Some(users),
            _ => None,
        })
        .unwrap_or(&current.users);
    let leaving = accounts::before_roster_write(repository, school, &current.users, new_users)
        .map_err(|error| failed(&error))?;
    let outcome = write_plan(repository, plan)?;
    let sessions = repository
        .store()
        .auxiliary_tree(SESSIONS_TREE)
        .map_err(|error| failed(&error))?;
    // The limits only shape new sessions, and this store only ends sessions.
    let sessions = SessionStore::new(sessions, SessionLimits::default());
    accounts::after_roster_write(&sessions, &leaving).map_err(|error| failed(&error))?;
    if !leaving.is_empty() {
        tracing::info!(
            users = leaving.len(),
            "users left the roster; their passwords were removed and their sessions ended"
        );
    }
    Ok(outcome)
}

/// Writes the plan in the importer's order and batch sizes (a large user list is written in
/// several changes, each under the store's change bound).
fn write_plan(repository: &Repository, plan: ImportPlan) -> Result<ImportOutcome, ImportFailure> {
    let written = plan
        .write(repository)
        .map_err(|error| ImportFailure::Failed(error.to_string()))?;
    Ok(ImportOutcome {
        documents_written: written,
        summary: format!("{:?}", plan.summary),
    })
}

/// Where `import-roster` finds the package when given a directory.
pub fn package_files(dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut files = BTreeMap::new();
    for name in PACKAGE_FILE_NAMES {
        let path: PathBuf = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    format!("{name}: the file is not UTF-8 (OneRoster CSV files must be UTF-8)")
                })?;
                files.insert(name.to_owned(), text);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(format!("{}: {error}", path.display())),
        }
    }
    Ok(files)
}
