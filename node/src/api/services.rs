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
//! - `GET /api/v1/tools`: the services activated at this school that can be opened from a link
//!   (their launch address), for everyone logged in: each home page lists them.

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{Access, ApiError, blocking, node_now_millis, roster_index};
use crate::auth::Caller;
use crate::model::UserRole;
use crate::model::catalogue::{
    Activation, ActivationsDocument, CatalogueDocument, CatalogueService, ReleasableClaim,
    ServiceCategory, ServiceProtocol, activations_doc, catalogue_doc,
};
use crate::model::common::{ModelError, NodeTime};
use crate::oidc::audit::{AuditCursor, day_of};
use crate::server::AppState;

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

/// A tool on a home page: an activated service with the address that opens it. Opening an OpenID
/// Connect client there starts its login, which the node answers with the user's session, so the
/// user is not asked to log in again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolView {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub launch_url: String,
    /// Whether the service works while the school has no internet connection.
    pub works_offline: bool,
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
    /// `grant`, `token_issued` or `userinfo_released`.
    pub event: &'static str,
    pub user: String,
    pub service: String,
    #[schema(value_type = Vec<String>)]
    pub claims: Vec<ReleasableClaim>,
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
    Access::new(caller, roster).require_role(UserRole::Admin)
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

/// `GET /api/v1/tools`: the services activated at this school that have a launch address, by name.
#[utoipa::path(get, path = "/api/v1/tools", tag = "services",
    responses((status = 200, body = [ToolView]), (status = 401, description = "not logged in")))]
pub async fn my_tools(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<ToolView>>, ApiError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || {
        let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
        let activations: ActivationsDocument =
            repository.read_or_default(&activations_doc(&school))?;
        let mut tools: Vec<ToolView> = catalogue
            .services
            .into_values()
            .filter(|service| activations.services.contains_key(&service.id))
            .filter_map(|service| {
                Some(ToolView {
                    launch_url: service.launch_url?,
                    id: service.id,
                    name: service.name,
                    provider: service.provider,
                    works_offline: service.works_offline,
                })
            })
            .collect();
        tools.sort_by(|first, second| first.name.cmp(&second.name));
        Ok(Json(tools))
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
    blocking(move || {
        repository.update(
            &activations_doc(&school),
            |activations: &mut ActivationsDocument| -> Result<(), ModelError> {
                activations.deactivate(&service_id).map(|_| ())
            },
        )?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
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
                })
                .collect(),
            next: page.next.map(|cursor| cursor.to_string()),
        }))
    })
    .await
}
