//! Materials: what a class's teachers share with the class, links and files.
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
use serde::{Deserialize, Serialize};

use super::files::{self, FileRefView};
use super::{Access, ApiError, RosterIndex, blocking, node_now_millis, roster_index};
use crate::auth::Caller;
use crate::model::common::{ItemId, NodeTime};
use crate::model::materials::{Material, MaterialKind, MaterialsDocument, materials_doc};
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

// ---------------------------------------------------------------------------------------------
// Request and response bodies.

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

/// A shared link or file as readers see it; a file comes with the path to download it from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SharedContent {
    Link {
        url: String,
    },
    File {
        file: FileRefView,
        download_path: String,
    },
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MaterialView {
    pub id: String,
    pub title: String,
    #[serde(flatten)]
    pub content: SharedContent,
    pub shared_by: String,
    pub shared_by_name: Option<String>,
    /// Unix milliseconds, node time.
    pub shared_at: i64,
}

// ---------------------------------------------------------------------------------------------
// Routes.

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
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    access.require_class_reader(&class_id)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class_for_read = class_id.clone();
    let document = blocking(move || {
        Ok(repository
            .read::<MaterialsDocument>(&materials_doc(&school, &class_for_read))?
            .filter(|document| document.class_sourced_id == class_for_read)
            .unwrap_or_default())
    })
    .await?;
    Ok(Json(
        document
            .newest_first()
            .into_iter()
            .map(|material| material_view(&access.roster, &class_id, material))
            .collect(),
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
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    access.require_teacher_of(&class_id)?;
    let kind = match request.content {
        MaterialContent::Link { url } => MaterialKind::Link { url },
        MaterialContent::File { file } => {
            let file = file.into_file_ref()?;
            files::require_stored(&state, &caller.user_id, std::slice::from_ref(&file)).await?;
            MaterialKind::File { file }
        }
    };
    let material_id = ItemId::generate();
    let now = NodeTime(node_now_millis());
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class_for_write = class_id.clone();
    let me = caller.user_id.clone();
    let material = blocking(move || {
        repository
            .update(
                &materials_doc(&school, &class_for_write),
                |document: &mut MaterialsDocument| {
                    document.open_for(&class_for_write)?;
                    document
                        .share(&material_id, &request.title, kind, &me, now)
                        .cloned()
                },
            )
            .map_err(ApiError::from)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(material_view(&access.roster, &class_id, &material)),
    ))
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
    let roster = roster_index(&state).await?;
    Access::new(&caller, roster).require_teacher_of(&class_id)?;
    let material_id = parse_material_id(&material_id)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || {
        repository
            .update(
                &materials_doc(&school, &class_id),
                |document: &mut MaterialsDocument| {
                    document.open_for(&class_id)?;
                    document.remove(material_id.as_str())
                },
            )
            .map_err(ApiError::from)
    })
    .await?;
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
    let roster = roster_index(&state).await?;
    Access::new(&caller, roster).require_class_reader(&class_id)?;
    let material_id = parse_material_id(&material_id)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let file = blocking(move || {
        let material = repository
            .read::<MaterialsDocument>(&materials_doc(&school, &class_id))?
            .filter(|document| document.class_sourced_id == class_id)
            .and_then(|mut document| document.items.remove(material_id.as_str()))
            .ok_or_else(|| material_not_found(&material_id))?;
        match material.kind {
            MaterialKind::File { file } => Ok(file),
            MaterialKind::Link { .. } => Err(ApiError::NotFound(format!(
                "material {material_id} is a link, not a file"
            ))),
        }
    })
    .await?;
    files::blob_response(&state, &file, &headers).await
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Ids that cannot name a material get the same answer as materials that do not exist.
fn parse_material_id(text: &str) -> Result<ItemId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound(format!("material {text:?} does not exist")))
}

fn material_not_found(material_id: &ItemId) -> ApiError {
    ApiError::NotFound(format!(
        "material {material_id} does not exist in this class"
    ))
}

fn material_view(roster: &RosterIndex, class_id: &str, material: &Material) -> MaterialView {
    let content = match &material.kind {
        MaterialKind::Link { url } => SharedContent::Link { url: url.clone() },
        MaterialKind::File { file } => SharedContent::File {
            file: FileRefView::from(file),
            download_path: format!(
                "/api/v1/classes/{}/materials/{}/file",
                super::path_segment(class_id),
                material.id
            ),
        },
    };
    MaterialView {
        id: material.id.clone(),
        title: material.title.clone(),
        content,
        shared_by: material.shared_by.clone(),
        shared_by_name: roster
            .users
            .user(&material.shared_by)
            .map(|user| user.display_name()),
        shared_at: material.shared_at.unix_millis(),
    }
}
