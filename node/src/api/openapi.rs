//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the API, generated from the handlers'
//! `#[utoipa::path]` annotations and the request and response types, so it cannot drift from the
//! code. A test checks that every route the router serves is in it.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "DigiOne Edge node API",
        description = "The school node's JSON API. Every route needs a session cookie from `POST /api/v1/session`; writes also need the session's CSRF token in `X-CSRF-Token`."
    ),
    paths(
        crate::server::sync_status,
        crate::api::roster::me,
        crate::api::roster::classes,
        crate::api::roster::class,
        crate::api::roster::import,
        crate::api::roster::set_password,
    )
)]
#[derive(Debug)]
pub struct ApiDocument;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDocument::openapi())
}
