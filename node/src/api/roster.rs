//! Who the caller is and which classes they see; for administrators, the roster import and setting
//! passwords: thin handlers over [`crate::school::roster`], which says who may do what.
//!
//! The administrator routes also accept the node's **local admin token**
//! (`Authorization: Bearer <data_dir/admin.token>`), so that `digione-node import-roster` and
//! `set-password` on the node's own machine work while the node is serving (the store is then locked
//! by the serving process). The token file is readable only by the node's user.

use std::collections::BTreeMap;
use std::path::Path;

use axum::extract::{FromRequestParts, Path as UrlPath, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::auth::{AuthError, Caller};
use crate::school::roster::{self as operations, ImportRefused};
pub use crate::school::roster::{
    Administrator, ClassSummary, ClassView, ImportOutcome, MAX_ROSTER_PACKAGE_BYTES, MeView, Member,
};
use crate::state::AppState;

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

/// `GET /api/v1/me`: the caller, their roles, classes and (guardians) children.
#[utoipa::path(get, path = "/api/v1/me", tag = "roster",
    responses((status = 200, body = MeView), (status = 401, description = "not logged in")))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<MeView>, ApiError> {
    Ok(Json(operations::me(&state, &caller).await?))
}

/// `GET /api/v1/classes`: the classes the caller takes part in (all of them for staff).
#[utoipa::path(get, path = "/api/v1/classes", tag = "roster",
    responses((status = 200, body = [ClassSummary]), (status = 401, description = "not logged in")))]
pub async fn classes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ClassSummary>>, ApiError> {
    Ok(Json(operations::my_classes(&state, &caller).await?))
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
    Ok(Json(operations::class(&state, &caller, &class_id).await?))
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
                Ok(Administrator::with_local_admin_token())
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
        Administrator::from_caller(&caller)
            .map_err(|refusal| ApiError::from(refusal).into_response())
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
    administrator: Administrator,
    Json(package): Json<RosterPackage>,
) -> Result<Json<ImportOutcome>, axum::response::Response> {
    use axum::response::IntoResponse;
    match operations::import_roster(&state, &administrator, package.files).await {
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
        Err(ImportRefused::Refused(error)) => Err(ApiError::from(error).into_response()),
    }
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
    operations::set_password(&state, &administrator, &username, body.password).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
