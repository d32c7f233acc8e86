//! The school administrator's routes for connected services and their audit log.
//!
//! - `GET /api/v1/services`: the national catalogue (read-only here: the relay's operators
//!   publish it) with each service's activation at this school.
//! - `PUT /api/v1/services/{service}/activation`: activate a service, or change which of its
//!   allowed claims the school approves.
//! - `DELETE /api/v1/services/{service}/activation`: deactivate; the service can no longer log
//!   anyone in, and its access tokens stop opening the userinfo endpoint.
//! - `GET /api/v1/audit?before=CURSOR&limit=N`: the audit log of grants and releases, newest
//!   first, a page at a time.
//!
//! All of them are for the school's administrators only, except:
//! - `GET /api/v1/tools`: the caller's tools, for everyone logged in (each home page lists them):
//!   the services in use at this school that can be opened from a link (their launch address),
//!   own and common ones for everyone, optional ones where a teacher placed them in a class
//!   ([`crate::model::class_tools`]);
//! - `GET /api/v1/classes/{class}/tools` (the class's readers), and `PUT`/`DELETE
//!   /api/v1/classes/{class}/tools/{service}` (the class's teachers): placing tools in a class.

use std::collections::BTreeSet;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::SchoolCode;

use super::{ApiError, blocking, node_now_millis};
use crate::auth::Caller;
use crate::model::catalogue::{
    Activation, ActivationsDocument, CatalogueDocument, CatalogueService, ReleasableClaim,
    ServiceCategory, ServiceProtocol, activations_doc, catalogue_doc,
};
use crate::model::class_tools::{ClassToolsDocument, class_tools_doc};
use crate::model::common::{ModelError, NodeTime};
use crate::repository::Repository;
use crate::school::audit::{AuditCursor, day_of};
use crate::school::policy::Action;
use crate::school::tools::{ToolView, tools_in_use};
use crate::school::{Access, Target, roster_index};
use crate::state::AppState;

/// Entries in one page of `GET /api/v1/audit` when the caller names no `limit`.
pub const DEFAULT_AUDIT_PAGE_ENTRIES: usize = 50;
/// The most entries one page may ask for.
pub const MAX_AUDIT_PAGE_ENTRIES: usize = 500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/services", get(list_services))
        .route(
            "/api/v1/services/{service}/activation",
            axum::routing::put(activate_service).delete(deactivate_service),
        )
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/tools", get(my_tools))
        .route("/api/v1/classes/{class}/tools", get(class_tools))
        .route(
            "/api/v1/classes/{class}/tools/{service}",
            axum::routing::put(place_tool).delete(remove_tool),
        )
}

// ---------------------------------------------------------------------------------------------
// Request and response bodies.

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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ActivationRequest {
    /// Scope names of the claims to approve, a subset of the service's `allowed_claims`.
    #[schema(value_type = Vec<String>)]
    pub approved_claims: Vec<ReleasableClaim>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// The `next` of the previous page.
    pub before: Option<String>,
    /// Entries per page, 1 to 500 (default 50).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    /// Unix milliseconds, node time.
    pub at: i64,
    /// `grant`, `token_issued`, `userinfo_released`, `roster_token_issued` or `roster_read`.
    /// `grant`, `token_issued`, `userinfo_released`, or an LTI event: `lti_launch`,
    /// `lti_token_issued`, `lti_score_received`, `lti_roster_released`, `lti_content_linked`.
    pub event: &'static str,
    /// The user whose data was released; empty for OneRoster events.
    pub user: String,
    pub service: String,
    #[schema(value_type = Vec<String>)]
    pub claims: Vec<ReleasableClaim>,
    /// For `roster_read`: the number of records released.
    pub records: Option<u64>,
    /// For `roster_read`, the OneRoster endpoint read (below `/ims/oneroster/rostering/v1p2`);
    /// for LTI events, the class, assignment or token scopes concerned.
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPageView {
    pub entries: Vec<AuditEntryView>,
    /// Pass as `before` for the next page; absent on the last.
    pub next: Option<String>,
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

async fn require_admin(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let roster = roster_index(state).await?;
    Ok(Access::new(caller, roster).require(Action::AdministerSchool, Target::School)?)
}

// ---------------------------------------------------------------------------------------------
// Routes.

/// `GET /api/v1/services`: the catalogue with this school's activations.
#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    responses((status = 200, body = [ServiceView]), (status = 403, description = "not an administrator")))]
pub async fn list_services(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ServiceView>>, ApiError> {
    require_admin(&state, &caller).await?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || {
        let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
        let activations: ActivationsDocument =
            repository.read_or_default(&activations_doc(&school))?;
        Ok(Json(
            catalogue
                .services
                .into_values()
                .map(|service| {
                    let activation = activations.services.get(&service.id);
                    service_view(service, activation)
                })
                .collect(),
        ))
    })
    .await
}

/// The service ids placed in a class ([`ClassToolsDocument`]); none for a class without tools.
pub(crate) fn placed_in(
    repository: &Repository,
    school: &SchoolCode,
    class: &str,
) -> Result<BTreeSet<String>, ApiError> {
    Ok(repository
        .read::<ClassToolsDocument>(&class_tools_doc(school, class))?
        .filter(|document| document.class_sourced_id == class)
        .map(|document| document.placements.into_keys().collect())
        .unwrap_or_default())
}

/// `GET /api/v1/tools`: the caller's tools: the school's own and common services in use, and the
/// optional ones placed in a class the caller attends or teaches; by name.
#[utoipa::path(get, path = "/api/v1/tools", tag = "services",
    responses((status = 200, body = [ToolView]), (status = 401, description = "not logged in")))]
pub async fn my_tools(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ToolView>>, ApiError> {
    let roster = roster_index(&state).await?;
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
        Ok(Json(
            in_use
                .iter()
                .filter(|(category, tool)| {
                    *category != ServiceCategory::Optional || placed.contains(&tool.id)
                })
                .map(|(_, tool)| tool.clone())
                .collect(),
        ))
    })
    .await
}

/// A class's tools: those placed in it and in use, and (for the class's teachers, who place them)
/// the optional services in use that could be placed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassToolsView {
    pub placed: Vec<ToolView>,
    pub placeable: Vec<ToolView>,
}

/// `GET /api/v1/classes/{class}/tools`: for those who may read the class.
#[utoipa::path(get, path = "/api/v1/classes/{class}/tools", tag = "services",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId")),
    responses((status = 200, body = ClassToolsView), (status = 403, description = "may not read this class"),
        (status = 404, description = "no such class")))]
pub async fn class_tools(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(class): UrlPath<String>,
) -> Result<Json<ClassToolsView>, ApiError> {
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    access.require_class_reader(&class)?;
    let is_teacher = access.require_teacher_of(&class).is_ok();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let cache = state.tools.clone();
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
                if crate::lti::is_launch_path(&tool.launch_url) {
                    tool.launch_url = crate::lti::launch_path(&tool.id, Some(&class), None);
                }
                view.placed.push(tool);
            } else if is_teacher && *category == ServiceCategory::Optional {
                view.placeable.push(tool.clone());
            }
        }
        Ok(Json(view))
    })
    .await
}

/// `PUT /api/v1/classes/{class}/tools/{service}`: a teacher of the class places a service the
/// school uses in it.
#[utoipa::path(put, path = "/api/v1/classes/{class}/tools/{service}", tag = "services",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"),
        ("service" = String, Path, description = "the catalogue's service id")),
    responses((status = 204, description = "placed"), (status = 400, description = "the school does not use the service, or the class is full"),
        (status = 403, description = "not a teacher of the class"), (status = 404, description = "no such class")))]
pub async fn place_tool(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class, service_id)): UrlPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let roster = roster_index(&state).await?;
    Access::new(&caller, roster).require_teacher_of(&class)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let now = NodeTime::from_unix_millis(node_now_millis());
    blocking(move || {
        if !tools_in_use(&repository, &school)?
            .iter()
            .any(|(_, tool)| tool.id == service_id)
        {
            return Err(ApiError::BadRequest(format!(
                "service {service_id:?} is not in use at this school; its administrator takes services into use"
            )));
        }
        repository.update(
            &class_tools_doc(&school, &class),
            |tools: &mut ClassToolsDocument| {
                tools.open_for(&class)?;
                tools.place(&service_id, &caller.user_id, now).map(|_| ())
            },
        )?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `DELETE /api/v1/classes/{class}/tools/{service}`: a teacher of the class removes a tool.
#[utoipa::path(delete, path = "/api/v1/classes/{class}/tools/{service}", tag = "services",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"),
        ("service" = String, Path, description = "the catalogue's service id")),
    responses((status = 204, description = "removed"), (status = 403, description = "not a teacher of the class"),
        (status = 404, description = "no such class, or the tool is not in it")))]
pub async fn remove_tool(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class, service_id)): UrlPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let roster = roster_index(&state).await?;
    Access::new(&caller, roster).require_teacher_of(&class)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || {
        repository.update(
            &class_tools_doc(&school, &class),
            |tools: &mut ClassToolsDocument| {
                tools.open_for(&class)?;
                tools.remove(&service_id).map(|_| ())
            },
        )?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `PUT /api/v1/services/{service}/activation`: activates the service with the approved claims.
#[utoipa::path(put, path = "/api/v1/services/{service}/activation", tag = "services",
    params(("service" = String, Path, description = "The catalogue's service id")),
    request_body = ActivationRequest,
    responses((status = 200, body = ServiceView), (status = 400, description = "a claim the catalogue does not allow"),
        (status = 403, description = "not an administrator"), (status = 404, description = "not in the catalogue")))]
pub async fn activate_service(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(service_id): UrlPath<String>,
    Json(request): Json<ActivationRequest>,
) -> Result<Json<ServiceView>, ApiError> {
    require_admin(&state, &caller).await?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let now = NodeTime::from_unix_millis(node_now_millis());
    blocking(move || {
        let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
        let service = catalogue
            .services
            .get(&service_id)
            .cloned()
            .ok_or_else(|| {
                ApiError::NotFound(format!("service {service_id:?} is not in the catalogue"))
            })?;
        let activation = repository.update(
            &activations_doc(&school),
            |activations: &mut ActivationsDocument| {
                activations.activate(&service, &request.approved_claims, &caller.user_id, now)
            },
        )?;
        Ok(Json(service_view(service, Some(&activation))))
    })
    .await
}

/// `DELETE /api/v1/services/{service}/activation`: deactivates the service at this school.
#[utoipa::path(delete, path = "/api/v1/services/{service}/activation", tag = "services",
    params(("service" = String, Path, description = "The catalogue's service id")),
    responses((status = 204, description = "deactivated"), (status = 403, description = "not an administrator"),
        (status = 404, description = "not activated")))]
pub async fn deactivate_service(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(service_id): UrlPath<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &caller).await?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let deactivated = service_id.clone();
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
    // Its OneRoster tokens go at once (each read checks the activation too, which covers a
    // deactivation that reaches this node by sync).
    state.oneroster.tokens.revoke_service(&service_id);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/audit`: the audit log of grants and releases to services, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "services", params(AuditQuery),
    responses((status = 200, body = AuditPageView), (status = 400, description = "a bad cursor or limit"),
        (status = 403, description = "not an administrator")))]
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPageView>, ApiError> {
    require_admin(&state, &caller).await?;
    let limit = query.limit.unwrap_or(DEFAULT_AUDIT_PAGE_ENTRIES);
    if !(1..=MAX_AUDIT_PAGE_ENTRIES).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_AUDIT_PAGE_ENTRIES}"
        )));
    }
    let before = match query.before {
        Some(text) => Some(text.parse::<AuditCursor>().map_err(ApiError::BadRequest)?),
        None => None,
    };
    let provider = state.oidc.clone();
    let today = day_of(NodeTime::from_unix_millis(node_now_millis()));
    blocking(move || {
        let page = provider.audit.page(before, limit, today)?;
        Ok(Json(AuditPageView {
            entries: page
                .entries
                .into_iter()
                .map(|entry| AuditEntryView {
                    at: entry.at.unix_millis(),
                    event: entry.event.as_str(),
                    user: entry.user,
                    service: entry.service,
                    claims: entry.claims,
                    records: entry.records,
                    detail: entry.detail,
                })
                .collect(),
            next: page.next.map(|cursor| cursor.to_string()),
        }))
    })
    .await
}
