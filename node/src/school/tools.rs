//! The services in use at the school as tools on people's home pages, and the cache that keeps
//! them between changes of the catalogue or the school's activations.

use std::sync::{Arc, RwLock};

use serde::Serialize;
use sync_protocol::ids::SchoolCode;
use sync_store::{ChangeCounter, SledStore};

use crate::model::catalogue::{
    ActivationsDocument, CatalogueDocument, ServiceCategory, ServiceProtocol, activations_doc,
    catalogue_doc,
};
use crate::repository::Repository;
use crate::school::error::ServiceError;

/// A tool on a home page: an activated service with the address that opens it. Opening an OpenID
/// Connect client there starts its login, which the node answers with the user's session, so the
/// user is not asked to log in again.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ToolView {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub launch_url: String,
    /// Whether the service works while the school has no internet connection.
    pub works_offline: bool,
}

/// The names of the documents the tools in use are derived from.
const TOOLS_DOCUMENT_NAMES: [&str; 2] = ["service-catalogue", "service-activations"];

/// Services in use, as tools with their catalogue category.
pub type ToolsInUse = Vec<(ServiceCategory, ToolView)>;

/// The services in use at this school as tools, kept until the catalogue or the school's
/// activations change: every pupil's and teacher's home page asks for them, and the catalogue is a
/// national document of up to [`crate::model::catalogue::MAX_CATALOGUE_SERVICES`] services, too
/// much to hydrate on every page. A counter of writes to those two documents
/// ([`SledStore::change_counter`], one atomic read) says whether the kept list is current.
#[derive(Debug)]
pub struct ToolsCache {
    writes: ChangeCounter,
    current: RwLock<Option<(u64, Arc<ToolsInUse>)>>,
}

impl ToolsCache {
    pub fn new(store: &SledStore) -> Self {
        Self {
            writes: store.change_counter(&TOOLS_DOCUMENT_NAMES),
            current: RwLock::new(None),
        }
    }

    /// The tools in use, rebuilt when either document changed. Reads the store when it does, so it
    /// runs on the blocking pool. The count is read before a rebuild, so a write racing with it
    /// only makes the next request rebuild again.
    pub fn get(
        &self,
        repository: &Repository,
        school: &SchoolCode,
    ) -> Result<Arc<ToolsInUse>, ServiceError> {
        let writes = self.writes.get();
        if let Ok(current) = self.current.read()
            && let Some((built_at, tools)) = current.as_ref()
            && *built_at == writes
        {
            return Ok(tools.clone());
        }
        let tools = Arc::new(tools_in_use(repository, school)?);
        if let Ok(mut current) = self.current.write() {
            *current = Some((writes, tools.clone()));
        }
        Ok(tools)
    }
}

/// The services in use at this school (in the catalogue and activated) that have a launch
/// address, as tools by name.
pub fn tools_in_use(
    repository: &Repository,
    school: &SchoolCode,
) -> Result<ToolsInUse, ServiceError> {
    let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
    let activations: ActivationsDocument = repository.read_or_default(&activations_doc(school))?;
    let mut tools: Vec<(ServiceCategory, ToolView)> = catalogue
        .services
        .into_values()
        .filter(|service| activations.services.contains_key(&service.id))
        .filter_map(|service| {
            let category = service.category;
            // An LTI tool opens through the node's launch, which logs the user in to it.
            let launch_url = if service.protocol == ServiceProtocol::Lti13 {
                launch_path(&service.id, None, None)
            } else {
                service.launch_url?
            };
            Some((
                category,
                ToolView {
                    launch_url,
                    id: service.id,
                    name: service.name,
                    provider: service.provider,
                    works_offline: service.works_offline,
                },
            ))
        })
        .collect();
    tools.sort_by(|first, second| first.1.name.cmp(&second.1.name));
    Ok(tools)
}

/// Where a user opens the LTI tool `service` (the node's launch of it, `crate::lti`): alone, in `class`, or as `assignment` (whose class it is in).
pub fn launch_path(service: &str, class: Option<&str>, assignment: Option<&str>) -> String {
    let mut path = format!("/lti/launch/{}", crate::url_path::path_segment(service));
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(class) = class {
        query.append_pair("class", class);
    }
    if let Some(assignment) = assignment {
        query.append_pair("assignment", assignment);
    }
    let query = query.finish();
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query);
    }
    path
}

/// Whether a tool's home-page address is the node's launch of it (so a class page adds the class).
pub fn is_launch_path(path: &str) -> bool {
    path.starts_with("/lti/launch/") && !path.contains('?')
}
