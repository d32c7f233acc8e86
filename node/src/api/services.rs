//! The school administrator's routes for connected services and their audit log: thin handlers
//! over [`crate::school::services`] and [`crate::school::audit`], which say who may do what.
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

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiError;
use crate::auth::Caller;
use crate::model::catalogue::ReleasableClaim;
pub use crate::school::audit::{
    AuditEntryView, AuditPageView, DEFAULT_AUDIT_PAGE_ENTRIES, MAX_AUDIT_PAGE_ENTRIES, audit_page,
};
use crate::school::services as operations;
pub use crate::school::services::{ActivationView, ClassToolsView, ServiceView};
use crate::school::tools::ToolView;
use crate::state::AppState;

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

/// `GET /api/v1/services`: the catalogue with this school's activations.
#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    responses((status = 200, body = [ServiceView]), (status = 403, description = "not an administrator")))]
pub async fn list_services(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ServiceView>>, ApiError> {
    Ok(Json(operations::list_services(&state, &caller).await?))
}

/// `GET /api/v1/tools`: the caller's tools: the school's own and common services in use, and the
/// optional ones placed in a class the caller attends or teaches; by name.
#[utoipa::path(get, path = "/api/v1/tools", tag = "services",
    responses((status = 200, body = [ToolView]), (status = 401, description = "not logged in")))]
pub async fn my_tools(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ToolView>>, ApiError> {
    Ok(Json(operations::my_tools(&state, &caller).await?))
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
    Ok(Json(
        operations::class_tools(&state, &caller, &class).await?,
    ))
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
    operations::place_tool(&state, &caller, &class, &service_id).await?;
    Ok(StatusCode::NO_CONTENT)
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
    operations::remove_tool(&state, &caller, &class, &service_id).await?;
    Ok(StatusCode::NO_CONTENT)
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
    Ok(Json(
        operations::activate_service(&state, &caller, &service_id, request.approved_claims).await?,
    ))
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
    operations::deactivate_service(&state, &caller, &service_id).await?;
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
    Ok(Json(
        audit_page(&state, &caller, query.before.as_deref(), query.limit).await?,
    ))
}
