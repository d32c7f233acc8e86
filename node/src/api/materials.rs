//! Materials under `/api/v1/classes/{class}/materials`: thin handlers over
//! [`crate::school::materials`], which says who may do what.
//!
//! - The class's teachers share and remove materials.
//! - Those who may read the class (its members, their pupils' guardians, staff and administrators)
//!   list them and download the files.
//!
//! A file is uploaded first (`POST /api/v1/files?name=`, which answers with a file reference) and
//! then shared by that reference. Sharing checks that the teacher uploaded the file themselves and
//! that the node holds it whole with the size the reference states ([`files::require_stored`]), so
//! a material never points at nothing nor at a file the teacher only knows the hash of. A file is
//! served only as a material of the class named in the path, through [`files::blob_response`], so
//! being allowed to read one class never opens another class's files. Removing a material leaves
//! its blob in the store: blobs are content-addressed and may be named by other documents too.

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiError;
use super::files::{self, FileRefView};
use crate::auth::Caller;
use crate::school::materials::{self as operations, NewContent};
pub use crate::school::materials::{MaterialView, SharedContent};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/classes/{class}/materials",
            get(list_materials).post(share_material),
        )
        .route(
            "/api/v1/classes/{class}/materials/{material}",
            delete(remove_material),
        )
        .route(
            "/api/v1/classes/{class}/materials/{material}/file",
            get(material_file),
        )
}

/// What is shared: a link (`http` or `https` with a host) or an uploaded file.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MaterialContent {
    Link {
        url: String,
    },
    /// The reference `POST /api/v1/files` answered with.
    File {
        file: FileRefView,
    },
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewMaterial {
    pub title: String,
    #[serde(flatten)]
    pub content: MaterialContent,
}

/// `GET /api/v1/classes/{class}/materials`: the class's materials, newest first.
#[utoipa::path(get, path = "/api/v1/classes/{class}/materials", tag = "materials",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId")),
    responses((status = 200, body = [MaterialView]), (status = 403, description = "may not read this class"),
        (status = 404, description = "no such class")))]
pub async fn list_materials(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(class_id): UrlPath<String>,
) -> Result<Json<Vec<MaterialView>>, ApiError> {
    Ok(Json(
        operations::list_materials(&state, &caller, &class_id).await?,
    ))
}

/// `POST /api/v1/classes/{class}/materials`: a teacher of the class shares a link or an uploaded
/// file with it.
#[utoipa::path(post, path = "/api/v1/classes/{class}/materials", tag = "materials", request_body = NewMaterial,
    params(("class" = String, Path, description = "the class's OneRoster sourcedId")),
    responses((status = 201, body = MaterialView), (status = 400, description = "an invalid title, link or file reference, or a file the caller did not upload"),
        (status = 403, description = "not a teacher of the class"), (status = 404, description = "no such class")))]
pub async fn share_material(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(class_id): UrlPath<String>,
    Json(request): Json<NewMaterial>,
) -> Result<(StatusCode, Json<MaterialView>), ApiError> {
    let content = match request.content {
        MaterialContent::Link { url } => NewContent::Link { url },
        MaterialContent::File { file } => NewContent::File { file },
    };
    let material =
        operations::share_material(&state, &caller, &class_id, request.title, content).await?;
    Ok((StatusCode::CREATED, Json(material)))
}

/// `DELETE /api/v1/classes/{class}/materials/{material}`: a teacher of the class removes a
/// material.
#[utoipa::path(delete, path = "/api/v1/classes/{class}/materials/{material}", tag = "materials",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"), ("material" = String, Path, description = "the material's id")),
    responses((status = 204, description = "removed"), (status = 403, description = "not a teacher of the class"),
        (status = 404, description = "no such class or material")))]
pub async fn remove_material(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class_id, material_id)): UrlPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    operations::remove_material(&state, &caller, &class_id, &material_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/classes/{class}/materials/{material}/file`: the file of a material of this class,
/// for those who may read the class.
#[utoipa::path(get, path = "/api/v1/classes/{class}/materials/{material}/file", tag = "materials",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"), ("material" = String, Path, description = "the material's id")),
    responses((status = 200, description = "the file's bytes, with its media type"),
        (status = 206, description = "the requested byte range of the file"),
        (status = 416, description = "the requested range is outside the file"),
        (status = 403, description = "may not read this class"),
        (status = 404, description = "no such class, material or file")))]
pub async fn material_file(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    UrlPath((class_id, material_id)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    let file = operations::material_file(&state, &caller, &class_id, &material_id).await?;
    files::blob_response(&state, &file, &headers).await
}
