//! Materials: what a class's teachers share with the class, links and files.
//!
//! - The class's teachers share and remove materials ([`Action::TeachClass`]).
//! - Those who may read the class ([`Action::ReadClass`]: its members, their pupils' guardians,
//!   staff and administrators) list them and download the files.
//!
//! A file is uploaded first and then shared by its reference. Sharing checks that the teacher
//! uploaded the file themselves and that the node holds it whole with the size the reference
//! states ([`require_stored`]), so a material never points at nothing nor at a file the teacher
//! only knows the hash of. A file is served only as a material of the class it was shared with, so
//! being allowed to read one class never opens another class's files. Removing a material leaves
//! its blob in the store: blobs are content-addressed and may be named by other documents too.

use serde::Serialize;

use crate::auth::Caller;
use crate::model::common::{FileRef, ItemId};
use crate::model::materials::{Material, MaterialKind, MaterialsDocument, materials_doc};
use crate::school::access::{Access, roster_index};
use crate::school::error::ServiceError;
use crate::school::files::{FileRefView, require_stored};
use crate::school::roster_index::RosterIndex;
use crate::school::runtime::{blocking, node_now};
use crate::state::AppState;
use crate::url_path::path_segment;

/// What a teacher shares: a link (`http` or `https` with a host) or a file they uploaded, by the
/// reference its upload answered with. The reference is checked after the caller is authorised, so
/// that someone who may not share here learns nothing from how their request was wrong.
#[derive(Debug)]
pub enum NewContent {
    Link { url: String },
    File { file: FileRefView },
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

/// The class's materials, newest first: readers of the class.
pub async fn list_materials(
    state: &AppState,
    caller: &Caller,
    class: &str,
) -> Result<Vec<MaterialView>, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    access.require_class_reader(class)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class_for_read = class.to_owned();
    let document = blocking(move || {
        Ok(repository
            .read::<MaterialsDocument>(&materials_doc(&school, &class_for_read))?
            .filter(|document| document.class_sourced_id == class_for_read)
            .unwrap_or_default())
    })
    .await?;
    Ok(document
        .newest_first()
        .into_iter()
        .map(|material| material_view(&access.roster, class, material))
        .collect())
}

/// Shares a link or an uploaded file with the class: teachers of the class.
pub async fn share_material(
    state: &AppState,
    caller: &Caller,
    class: &str,
    title: String,
    content: NewContent,
) -> Result<MaterialView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    access.require_teacher_of(class)?;
    let kind = match content {
        NewContent::Link { url } => MaterialKind::Link { url },
        NewContent::File { file } => {
            let file = file.into_file_ref()?;
            require_stored(state, &caller.user_id, std::slice::from_ref(&file)).await?;
            MaterialKind::File { file }
        }
    };
    let material_id = ItemId::generate();
    let now = node_now();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class_for_write = class.to_owned();
    let me = caller.user_id.clone();
    let material = blocking(move || {
        Ok(repository.update(
            &materials_doc(&school, &class_for_write),
            |document: &mut MaterialsDocument| {
                document.open_for(&class_for_write)?;
                document
                    .share(&material_id, &title, kind, &me, now)
                    .cloned()
            },
        )?)
    })
    .await?;
    Ok(material_view(&access.roster, class, &material))
}

/// Removes a material: teachers of the class.
pub async fn remove_material(
    state: &AppState,
    caller: &Caller,
    class: &str,
    material: &str,
) -> Result<(), ServiceError> {
    Access::new(caller, roster_index(state).await?).require_teacher_of(class)?;
    let material_id = parse_material_id(material)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class = class.to_owned();
    blocking(move || {
        repository.update(
            &materials_doc(&school, &class),
            |document: &mut MaterialsDocument| {
                document.open_for(&class)?;
                document.remove(material_id.as_str())
            },
        )?;
        Ok(())
    })
    .await
}

/// The file of a material of this class, for download: readers of the class.
pub async fn material_file(
    state: &AppState,
    caller: &Caller,
    class: &str,
    material: &str,
) -> Result<FileRef, ServiceError> {
    Access::new(caller, roster_index(state).await?).require_class_reader(class)?;
    let material_id = parse_material_id(material)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class = class.to_owned();
    blocking(move || {
        let material = repository
            .read::<MaterialsDocument>(&materials_doc(&school, &class))?
            .filter(|document| document.class_sourced_id == class)
            .and_then(|mut document| document.items.remove(material_id.as_str()))
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "material {material_id} does not exist in this class"
                ))
            })?;
        match material.kind {
            MaterialKind::File { file } => Ok(file),
            MaterialKind::Link { .. } => Err(ServiceError::NotFound(format!(
                "material {material_id} is a link, not a file"
            ))),
        }
    })
    .await
}

/// Ids that cannot name a material get the same answer as materials that do not exist.
fn parse_material_id(text: &str) -> Result<ItemId, ServiceError> {
    text.parse()
        .map_err(|_| ServiceError::NotFound(format!("material {text:?} does not exist")))
}

fn material_view(roster: &RosterIndex, class: &str, material: &Material) -> MaterialView {
    let content = match &material.kind {
        MaterialKind::Link { url } => SharedContent::Link { url: url.clone() },
        MaterialKind::File { file } => SharedContent::File {
            file: FileRefView::from(file),
            download_path: format!(
                "/api/v1/classes/{}/materials/{}/file",
                path_segment(class),
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
