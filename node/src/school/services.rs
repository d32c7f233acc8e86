//! Connected services and the tools they give people.
//!
//! - School administrators ([`Action::AdministerSchool`]) see the national catalogue (read-only
//!   here: the relay's operators publish it) with each service's activation at this school,
//!   activate a service with the claims the school approves, and deactivate it.
//! - Everyone logged in gets their tools ([`my_tools`]): the services in use at this school that
//!   can be opened from a link, own and common ones for everyone, optional ones where a teacher
//!   placed them in a class ([`crate::model::class_tools`]).
//! - Those who may read a class see its tools; its teachers ([`Action::TeachClass`]) place and
//!   remove them.

use std::collections::BTreeSet;

use serde::Serialize;
use sync_protocol::ids::SchoolCode;

use crate::auth::Caller;
use crate::model::assignments::{LtiLink, format_score, validate_score};
use crate::model::catalogue::{
    Activation, ActivationsDocument, CatalogueDocument, CatalogueService, LtiTool, ReleasableClaim,
    ServiceCategory, ServiceProtocol, activations_doc, catalogue_doc,
};
use crate::model::class_tools::{ClassToolsDocument, class_tools_doc};
use crate::model::common::ModelError;
use crate::repository::Repository;
use crate::school::access::{Access, Target, roster_index};
use crate::school::error::ServiceError;
use crate::school::policy::Action;
use crate::school::runtime::{blocking, node_now};
use crate::school::tools::{ToolView, is_launch_path, launch_path, tools_in_use};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivationView {
    /// The claims (as scope names) the school approved.
    #[schema(value_type = Vec<String>)]
    pub approved_claims: Vec<ReleasableClaim>,
    pub activated_by: String,
    /// Unix milliseconds, node time.
    pub activated_at: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceView {
    pub id: String,
    pub name: String,
    pub provider: String,
    #[schema(value_type = String)]
    pub category: ServiceCategory,
    #[schema(value_type = String)]
    pub protocol: ServiceProtocol,
    pub redirect_uris: Vec<String>,
    pub launch_url: Option<String>,
    /// The most the service may receive (scope names).
    #[schema(value_type = Vec<String>)]
    pub allowed_claims: Vec<ReleasableClaim>,
    pub works_offline: bool,
    /// Present when the service is activated at this school.
    pub activation: Option<ActivationView>,
}

/// A class's tools: those placed in it and in use, and (for the class's teachers, who place them)
/// the optional services in use that could be placed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassToolsView {
    pub placed: Vec<ToolView>,
    pub placeable: Vec<ToolView>,
}

/// The national catalogue with this school's activations: administrators.
pub async fn list_services(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<ServiceView>, ServiceError> {
    require_admin(state, caller).await?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || {
        let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
        let activations: ActivationsDocument =
            repository.read_or_default(&activations_doc(&school))?;
        Ok(catalogue
            .services
            .into_values()
            .map(|service| {
                let activation = activations.services.get(&service.id);
                service_view(service, activation)
            })
            .collect())
    })
    .await
}

/// Activates a service with the approved claims, or changes which it may receive:
/// administrators.
pub async fn activate_service(
    state: &AppState,
    caller: &Caller,
    service_id: &str,
    approved_claims: Vec<ReleasableClaim>,
) -> Result<ServiceView, ServiceError> {
    require_admin(state, caller).await?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let service_id = service_id.to_owned();
    let me = caller.user_id.clone();
    let now = node_now();
    blocking(move || {
        let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
        let service = catalogue
            .services
            .get(&service_id)
            .cloned()
            .ok_or_else(|| {
                ServiceError::NotFound(format!("service {service_id:?} is not in the catalogue"))
            })?;
        let activation = repository.update(
            &activations_doc(&school),
            |activations: &mut ActivationsDocument| {
                activations.activate(&service, &approved_claims, &me, now)
            },
        )?;
        Ok(service_view(service, Some(&activation)))
    })
    .await
}

/// Deactivates a service at this school: administrators. The service can no longer log anyone in,
/// its access tokens stop opening the userinfo endpoint, and its OneRoster tokens go at once.
pub async fn deactivate_service(
    state: &AppState,
    caller: &Caller,
    service_id: &str,
) -> Result<(), ServiceError> {
    require_admin(state, caller).await?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let deactivated = service_id.to_owned();
    blocking(move || {
        repository.update(
            &activations_doc(&school),
            |activations: &mut ActivationsDocument| -> Result<(), ModelError> {
                activations.deactivate(&deactivated).map(|_| ())
            },
        )?;
        Ok(())
    })
    .await?;
    // Each OneRoster read checks the activation too, which covers a deactivation that reaches this
    // node by sync; revoking here ends the tokens without waiting for their next read.
    state.oneroster.tokens.revoke_service(service_id);
    Ok(())
}

/// The caller's tools: the school's own and common services in use, and the optional ones placed
/// in a class the caller attends or teaches; by name. Everyone logged in.
pub async fn my_tools(state: &AppState, caller: &Caller) -> Result<Vec<ToolView>, ServiceError> {
    let roster = roster_index(state).await?;
    let classes: Vec<String> = roster
        .classes_as_pupil
        .get(&caller.user_id)
        .into_iter()
        .chain(roster.classes_as_teacher.get(&caller.user_id))
        .flatten()
        .cloned()
        .collect();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let cache = state.tools.clone();
    blocking(move || {
        let in_use = cache.get(&repository, &school)?;
        // Class tool documents are read only when an optional service is in use at all.
        let mut placed = BTreeSet::new();
        if in_use
            .iter()
            .any(|(category, _)| *category == ServiceCategory::Optional)
        {
            for class in &classes {
                placed.extend(placed_in(&repository, &school, class)?);
            }
        }
        Ok(in_use
            .iter()
            .filter(|(category, tool)| {
                *category != ServiceCategory::Optional || placed.contains(&tool.id)
            })
            .map(|(_, tool)| tool.clone())
            .collect())
    })
    .await
}

/// A class's tools: those who may read the class see what is placed; its teachers also see what
/// they could place.
pub async fn class_tools(
    state: &AppState,
    caller: &Caller,
    class: &str,
) -> Result<ClassToolsView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    access.require_class_reader(class)?;
    let may_place = access.may(Action::TeachClass, Target::Class(class));
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let cache = state.tools.clone();
    let class = class.to_owned();
    blocking(move || {
        let placed_ids = placed_in(&repository, &school, &class)?;
        let mut view = ClassToolsView {
            placed: Vec::new(),
            placeable: Vec::new(),
        };
        for (category, tool) in cache.get(&repository, &school)?.iter() {
            if placed_ids.contains(&tool.id) {
                let mut tool = tool.clone();
                // Opened from the class, an LTI tool is launched in the class's context.
                if is_launch_path(&tool.launch_url) {
                    tool.launch_url = launch_path(&tool.id, Some(&class), None);
                }
                view.placed.push(tool);
            } else if may_place && *category == ServiceCategory::Optional {
                view.placeable.push(tool.clone());
            }
        }
        Ok(view)
    })
    .await
}

/// Places a service the school uses in a class: the class's teachers.
pub async fn place_tool(
    state: &AppState,
    caller: &Caller,
    class: &str,
    service_id: &str,
) -> Result<(), ServiceError> {
    Access::new(caller, roster_index(state).await?).require_teacher_of(class)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class = class.to_owned();
    let service_id = service_id.to_owned();
    let me = caller.user_id.clone();
    let now = node_now();
    blocking(move || {
        if !tools_in_use(&repository, &school)?
            .iter()
            .any(|(_, tool)| tool.id == service_id)
        {
            return Err(ServiceError::invalid(
                "service",
                format!(
                    "service {service_id:?} is not in use at this school; its administrator takes \
                     services into use"
                ),
            ));
        }
        repository.update(
            &class_tools_doc(&school, &class),
            |tools: &mut ClassToolsDocument| {
                tools.open_for(&class)?;
                tools.place(&service_id, &me, now).map(|_| ())
            },
        )?;
        Ok(())
    })
    .await
}

/// Removes a tool from a class: the class's teachers.
pub async fn remove_tool(
    state: &AppState,
    caller: &Caller,
    class: &str,
    service_id: &str,
) -> Result<(), ServiceError> {
    Access::new(caller, roster_index(state).await?).require_teacher_of(class)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class = class.to_owned();
    let service_id = service_id.to_owned();
    blocking(move || {
        repository.update(
            &class_tools_doc(&school, &class),
            |tools: &mut ClassToolsDocument| {
                tools.open_for(&class)?;
                tools.remove(&service_id).map(|_| ())
            },
        )?;
        Ok(())
    })
    .await
}

async fn require_admin(state: &AppState, caller: &Caller) -> Result<(), ServiceError> {
    Access::new(caller, roster_index(state).await?)
        .require(Action::AdministerSchool, Target::School)
}

/// The service ids placed in a class ([`ClassToolsDocument`]); none for a class without tools.
pub fn placed_in(
    repository: &Repository,
    school: &SchoolCode,
    class: &str,
) -> Result<BTreeSet<String>, ServiceError> {
    Ok(repository
        .read::<ClassToolsDocument>(&class_tools_doc(school, class))?
        .filter(|document| document.class_sourced_id == class)
        .map(|document| document.placements.into_keys().collect())
        .unwrap_or_default())
}

fn service_view(service: CatalogueService, activation: Option<&Activation>) -> ServiceView {
    ServiceView {
        id: service.id,
        name: service.name,
        provider: service.provider,
        category: service.category,
        protocol: service.protocol,
        redirect_uris: service.redirect_uris,
        launch_url: service.launch_url,
        allowed_claims: service.allowed_claims,
        works_offline: service.works_offline,
        activation: activation.map(|activation| ActivationView {
            approved_claims: activation.approved_claims.clone(),
            activated_by: activation.activated_by.clone(),
            activated_at: activation.activated_at.unix_millis(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// LTI tools: the launches and services are `crate::lti`'s; which tool may be used here is this
// module's.

/// An LTI tool of the catalogue with its registration and its activation at this school.
#[derive(Debug, Clone)]
pub struct ToolAtSchool {
    pub service: CatalogueService,
    pub tool: LtiTool,
    pub activation: Option<Activation>,
}

/// The catalogued LTI tool `service_id` and its activation here; `None` when the catalogue has
/// no LTI tool of that id.
pub async fn tool_at_school(
    state: &AppState,
    service_id: &str,
) -> Result<Option<ToolAtSchool>, ServiceError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let service_id = service_id.to_owned();
    blocking(move || {
        let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
        let Some(service) = catalogue.services.get(&service_id).cloned() else {
            return Ok(None);
        };
        let Some(tool) = service
            .lti
            .clone()
            .filter(|_| service.protocol == ServiceProtocol::Lti13)
        else {
            return Ok(None);
        };
        let activations: ActivationsDocument =
            repository.read_or_default(&activations_doc(&school))?;
        Ok(Some(ToolAtSchool {
            activation: activations.services.get(&service_id).cloned(),
            service,
            tool,
        }))
    })
    .await
}

/// The tool `service_id` if it is catalogued and activated here.
pub async fn activated_tool(
    state: &AppState,
    service_id: &str,
) -> Result<ToolAtSchool, ServiceError> {
    let found = tool_at_school(state, service_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("{service_id:?} is not an LTI tool")))?;
    if found.activation.is_none() {
        return Err(ServiceError::Forbidden(format!(
            "the LTI tool {service_id:?} is not activated at this school"
        )));
    }
    Ok(found)
}

/// The link of a new assignment done in tool `service_id` (activated here), opened at `url` (the
/// tool's launch URL when `None`) and taking scores up to `score_maximum` when given.
pub async fn assignment_link(
    state: &AppState,
    service_id: &str,
    url: Option<String>,
    score_maximum: Option<f64>,
) -> Result<LtiLink, ServiceError> {
    let found = activated_tool(state, service_id).await?;
    let score_maximum = match score_maximum {
        Some(maximum) => {
            let maximum = validate_score("score maximum", maximum)?;
            if maximum <= 0.0 {
                return Err(ServiceError::invalid(
                    "score_maximum",
                    "the score maximum must be more than 0",
                ));
            }
            Some(format_score(maximum))
        }
        None => None,
    };
    Ok(LtiLink {
        service_id: found.service.id,
        url,
        score_maximum,
    })
}

/// The tools placed in `class` and activated here that offer content to pick, as (service id,
/// name), for the web UI's "pick content from a tool" links.
pub async fn content_tools(
    state: &AppState,
    class: &str,
) -> Result<Vec<(String, String)>, ServiceError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class = class.to_owned();
    blocking(move || {
        let placed = placed_in(&repository, &school, &class)?;
        if placed.is_empty() {
            return Ok(Vec::new());
        }
        let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
        let activations: ActivationsDocument =
            repository.read_or_default(&activations_doc(&school))?;
        Ok(placed
            .iter()
            .filter(|service| activations.services.contains_key(*service))
            .filter_map(|service| catalogue.services.get(service))
            .filter(|service| {
                service
                    .lti
                    .as_ref()
                    .is_some_and(|tool| tool.deep_linking_url.is_some())
            })
            .map(|service| (service.id.clone(), service.name.clone()))
            .collect())
    })
    .await
}
