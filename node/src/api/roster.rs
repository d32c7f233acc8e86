//! Who the caller is and which classes they see; for administrators, the roster import and setting
//! passwords.
//!
//! The administrator routes also accept the node's **local admin token**
//! (`Authorization: Bearer <data_dir/admin.token>`), so that `digione-node import-roster` and
//! `set-password` on the node's own machine work while the node is serving (the store is then locked
//! by the serving process). The token file is readable only by the node's user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::extract::{FromRequestParts, Path as UrlPath, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use sync_protocol::ids::SchoolCode;

use super::{Access, ApiError, blocking, roster_index};
use crate::accounts;
use crate::auth::{AuthError, Caller, SESSIONS_TREE, SessionLimits, SessionStore};
use crate::model::UserRole;
use crate::repository::Repository;
use crate::roster_import::{self, CurrentRoster, ImportPlan, RosterDocument};
use crate::state::AppState;

/// The largest roster package accepted over the API, all files together (50 MiB).
pub const MAX_ROSTER_PACKAGE_BYTES: usize = 50 * 1024 * 1024;

/// The files a package may contain; anything else is refused rather than written to disk.
const PACKAGE_FILE_NAMES: [&str; 8] = [
    "manifest.csv",
    "orgs.csv",
    "academicSessions.csv",
    "courses.csv",
    "classes.csv",
    "users.csv",
    "roles.csv",
    "enrollments.csv",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/classes", get(classes))
        .route("/api/v1/classes/{class}", get(class))
        .route(
            "/api/v1/admin/roster/import",
            post(import).layer(axum::extract::DefaultBodyLimit::max(
                MAX_ROSTER_PACKAGE_BYTES * 2,
            )),
        )
        .route("/api/v1/admin/users/{username}/password", put(set_password))
}

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

/// `GET /api/v1/me`: the caller, their roles, classes and (guardians) children.
#[utoipa::path(get, path = "/api/v1/me", tag = "roster",
    responses((status = 200, body = MeView), (status = 401, description = "not logged in")))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<MeView>, ApiError> {
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    let user = access.roster.users.user(access.me());
    Ok(Json(MeView {
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
    }))
}

/// `GET /api/v1/classes`: the classes the caller takes part in (all of them for staff).
#[utoipa::path(get, path = "/api/v1/classes", tag = "roster",
    responses((status = 200, body = [ClassSummary]), (status = 401, description = "not logged in")))]
pub async fn classes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ClassSummary>>, ApiError> {
    let roster = roster_index(&state).await?;
    Ok(Json(class_summaries(&Access::new(&caller, roster))))
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

/// `GET /api/v1/classes/{class}`: the class and its teachers; its pupils for teachers and staff.
#[utoipa::path(get, path = "/api/v1/classes/{class}", tag = "roster",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId")),
    responses((status = 200, body = ClassView), (status = 403, description = "not a member, guardian of one, or staff"), (status = 404, description = "no such class")))]
pub async fn class(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(class_id): UrlPath<String>,
) -> Result<Json<ClassView>, ApiError> {
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    access.require_class_reader(&class_id)?;
    let class = access.class(&class_id)?;
    let member = |user_id: &String| Member {
        user_id: user_id.clone(),
        display_name: access
            .roster
            .users
            .user(user_id)
            .map(|user| user.display_name())
            .unwrap_or_else(|| user_id.clone()),
    };
    let sees_pupils = class.is_teacher(access.me()) || access.is_school_wide();
    Ok(Json(ClassView {
        id: class_id.clone(),
        title: class.class.title.clone(),
        teachers: class.teachers().into_iter().map(member).collect(),
        pupils: sees_pupils.then(|| class.pupils().into_iter().map(member).collect()),
    }))
}

/// An administrator: a logged-in user with the admin role (`session` names their session), or the
/// local admin token (no session).
#[derive(Debug)]
pub struct Administrator {
    /// SHA-256 of the administrator's session token, when they came with a session.
    pub session: Option<[u8; 32]>,
}

impl FromRequestParts<AppState> for Administrator {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        if let Some(presented) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
        {
            return if local_admin_token_matches(&state.config.admin_token_file(), presented) {
                Ok(Administrator { session: None })
            } else {
                Err(
                    ApiError::Forbidden("the admin token is not this node's".into())
                        .into_response(),
                )
            };
        }
        let caller = Caller::from_request_parts(parts, state)
            .await
            .map_err(|error: AuthError| error.into_response())?;
        if caller.roles.contains(&UserRole::Admin) {
            Ok(Administrator {
                session: Some(caller.session_id_hash),
            })
        } else {
            Err(ApiError::Forbidden("this needs the admin role".into()).into_response())
        }
    }
}

/// Compares digests in constant time, so the comparison reveals nothing about the token.
fn local_admin_token_matches(token_file: &Path, presented: &str) -> bool {
    let Ok(expected) = std::fs::read_to_string(token_file) else {
        return false;
    };
    let expected = Sha256::digest(expected.trim().as_bytes());
    let presented = Sha256::digest(presented.trim().as_bytes());
    bool::from(expected.ct_eq(&presented))
}

/// Creates the local admin token if the node has none (mode 0600).
pub fn ensure_local_admin_token(token_file: &Path) -> Result<(), String> {
    if token_file.exists() {
        return Ok(());
    }
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    sync_transport::tls::write_atomically(token_file, hex::encode(bytes).as_bytes(), true)
        .map_err(|error| format!("cannot write {}: {error}", token_file.display()))
}

/// A roster package sent over the API: file name → CSV text.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RosterPackage {
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportOutcome {
    pub documents_written: usize,
    pub summary: String,
}

#[derive(Debug, Serialize)]
struct ImportRefusal {
    error: &'static str,
    message: String,
    /// Every problem as `file:line: message`.
    problems: Vec<String>,
}

/// `POST /api/v1/admin/roster/import`: validates the whole package, then writes it; a bad package
/// changes nothing and gets every problem back as `file:line: message`.
#[utoipa::path(post, path = "/api/v1/admin/roster/import", tag = "admin", request_body = RosterPackage,
    responses((status = 200, body = ImportOutcome), (status = 403, description = "not an administrator"), (status = 422, description = "the package is invalid; nothing changed")))]
pub async fn import(
    State(state): State<AppState>,
    _administrator: Administrator,
    Json(package): Json<RosterPackage>,
) -> Result<Json<ImportOutcome>, axum::response::Response> {
    use axum::response::IntoResponse;
    match import_files(&state, package.files).await {
        Ok(outcome) => Ok(Json(outcome)),
        Err(ImportRefused::Invalid(problems)) => Err((
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(ImportRefusal {
                error: "invalid_package",
                message: "the roster package was not imported; nothing was changed".into(),
                problems,
            }),
        )
            .into_response()),
        Err(ImportRefused::Refused(error)) => Err(error.into_response()),
    }
}

/// Why [`import_files`] imported nothing.
#[derive(Debug)]
pub enum ImportRefused {
    /// The package is wrong; every problem as `file:line: message`.
    Invalid(Vec<String>),
    /// Too large, a file name this node does not read, or a failure of the node.
    Refused(ApiError),
}

/// Imports a package given as file name → CSV text: the bounds, then the whole package validated,
/// then written. Shared by the JSON import and the web UI's upload form; the caller has checked that
/// the user is an administrator.
pub async fn import_files(
    state: &AppState,
    files: BTreeMap<String, String>,
) -> Result<ImportOutcome, ImportRefused> {
    let total: usize = files.values().map(String::len).sum();
    if total > MAX_ROSTER_PACKAGE_BYTES {
        return Err(ImportRefused::Refused(ApiError::TooLarge(format!(
            "the package is {total} bytes; at most {MAX_ROSTER_PACKAGE_BYTES} are accepted"
        ))));
    }
    for name in files.keys() {
        if !PACKAGE_FILE_NAMES.contains(&name.as_str()) {
            return Err(ImportRefused::Refused(ApiError::BadRequest(format!(
                "{name:?} is not a OneRoster 1.2 CSV file name this node reads"
            ))));
        }
    }
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let outcome = blocking(move || {
        let dir = tempfile::tempdir().map_err(|error| ApiError::Internal(error.to_string()))?;
        for (name, content) in &files {
            std::fs::write(dir.path().join(name), content)
                .map_err(|error| ApiError::Internal(error.to_string()))?;
        }
        Ok(import_package(&repository, &school, dir.path()))
    })
    .await
    .map_err(ImportRefused::Refused)?;
    match outcome {
        Ok(outcome) => Ok(outcome),
        Err(ImportFailure::Invalid(problems)) => Err(ImportRefused::Invalid(problems)),
        Err(ImportFailure::Failed(message)) => {
            Err(ImportRefused::Refused(ApiError::Internal(message)))
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewPassword {
    pub password: String,
}

/// `PUT /api/v1/admin/users/{username}/password`: sets a user's password (argon2id) and ends every
/// session of that user but the one making the request: a reset password must lock out whoever
/// knew the old one, including a browser still logged in with it.
#[utoipa::path(put, path = "/api/v1/admin/users/{username}/password", tag = "admin", request_body = NewPassword,
    params(("username" = String, Path, description = "the user's login name")),
    responses((status = 204, description = "set; the user's other sessions ended"), (status = 403, description = "not an administrator"), (status = 404, description = "no such user")))]
pub async fn set_password(
    State(state): State<AppState>,
    administrator: Administrator,
    UrlPath(username): UrlPath<String>,
    Json(body): Json<NewPassword>,
) -> Result<axum::http::StatusCode, ApiError> {
    let roster = roster_index(&state).await?;
    let user = roster
        .users
        .by_username(&username)
        .ok_or_else(|| ApiError::NotFound(format!("no user is named {username:?}")))?;
    let user_id = user.sourced_id.clone();
    let hash = state
        .auth
        .passwords()
        .hash(body.password)
        .await
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let auth = state.auth.clone();
    blocking(move || {
        accounts::set_password_hash(&repository, &school, &user_id, &hash).map_err(|error| {
            match error {
                accounts::AccountsError::Rejected(error) => ApiError::from(error),
                other => ApiError::Internal(other.to_string()),
            }
        })?;
        // After the new hash is stored, so that no login with the old password can slip in between
        // and keep its session.
        let ended = auth
            .sessions()
            .delete_user_sessions_except(&user_id, administrator.session.as_ref())
            .map_err(|error| ApiError::Internal(error.to_string()))?;
        tracing::info!(user = %user_id, sessions_ended = ended, "password set");
        Ok(())
    })
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
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
