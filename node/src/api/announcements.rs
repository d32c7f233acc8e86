//! Announcements: thin handlers over [`crate::school::announcements`], which says who may do what
//! and which announcements a caller sees.
//!
//! | Route | Who may |
//! |---|---|
//! | `GET /api/v1/announcements` | anyone: the school's, the municipality's and their own (or their children's) classes' announcements |
//! | `GET /api/v1/classes/{class}/announcements` | readers of the class |
//! | `POST /api/v1/classes/{class}/announcements` | teachers of the class |
//! | `POST /api/v1/announcements/school` | staff and administrators |
//! | `DELETE /api/v1/classes/{class}/announcements/{announcement}` | its author or an administrator |
//! | `DELETE /api/v1/announcements/school/{announcement}` | its author or an administrator |
//!
//! The municipality's announcements are written by its operators through the relay; the node only
//! reads them.

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiError;
use crate::auth::Caller;
use crate::model::common::NodeTime;
use crate::school::announcements::{self as operations, AnnouncementInput};
pub use crate::school::announcements::{AnnouncementView, Audience};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/announcements", get(my_announcements))
        .route(
            "/api/v1/announcements/school",
            post(publish_school_announcement),
        )
        .route(
            "/api/v1/announcements/school/{announcement}",
            delete(withdraw_school_announcement),
        )
        .route(
            "/api/v1/classes/{class}/announcements",
            get(class_announcements).post(publish_class_announcement),
        )
        .route(
            "/api/v1/classes/{class}/announcements/{announcement}",
            delete(withdraw_class_announcement),
        )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAnnouncement {
    pub title: String,
    pub body: String,
    /// Unix milliseconds (node time) after which the announcement is no longer shown.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl NewAnnouncement {
    fn into_input(self) -> AnnouncementInput {
        AnnouncementInput {
            title: self.title,
            body: self.body,
            expires_at: self.expires_at.map(NodeTime::from_unix_millis),
        }
    }
}

/// `GET /api/v1/announcements`: what is announced to the caller now, newest first (see
/// [`crate::school::announcements`] for which audiences that covers).
#[utoipa::path(get, path = "/api/v1/announcements", tag = "announcements",
    responses((status = 200, body = [AnnouncementView]), (status = 401, description = "not logged in")))]
pub async fn my_announcements(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<AnnouncementView>>, ApiError> {
    Ok(Json(operations::my_announcements(&state, &caller).await?))
}

/// `GET /api/v1/classes/{class}/announcements`: a class's current announcements, newest first,
/// for those who may read the class (its members, their guardians, staff and administrators).
#[utoipa::path(get, path = "/api/v1/classes/{class}/announcements", tag = "announcements",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId")),
    responses((status = 200, body = [AnnouncementView]), (status = 403, description = "may not read this class"),
        (status = 404, description = "no such class")))]
pub async fn class_announcements(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(class_id): UrlPath<String>,
) -> Result<Json<Vec<AnnouncementView>>, ApiError> {
    Ok(Json(
        operations::class_announcements(&state, &caller, &class_id).await?,
    ))
}

/// `POST /api/v1/classes/{class}/announcements`: the class's teachers announce to the class.
#[utoipa::path(post, path = "/api/v1/classes/{class}/announcements", tag = "announcements", request_body = NewAnnouncement,
    params(("class" = String, Path, description = "the class's OneRoster sourcedId")),
    responses((status = 201, body = AnnouncementView), (status = 400, description = "an invalid title, body or expiry"),
        (status = 403, description = "not a teacher of the class"), (status = 404, description = "no such class")))]
pub async fn publish_class_announcement(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(class_id): UrlPath<String>,
    Json(request): Json<NewAnnouncement>,
) -> Result<(StatusCode, Json<AnnouncementView>), ApiError> {
    let announcement =
        operations::publish_class_announcement(&state, &caller, &class_id, request.into_input())
            .await?;
    Ok((StatusCode::CREATED, Json(announcement)))
}

/// `POST /api/v1/announcements/school`: staff and administrators announce to the whole school.
#[utoipa::path(post, path = "/api/v1/announcements/school", tag = "announcements", request_body = NewAnnouncement,
    responses((status = 201, body = AnnouncementView), (status = 400, description = "an invalid title, body or expiry"),
        (status = 403, description = "not staff or an administrator")))]
pub async fn publish_school_announcement(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<NewAnnouncement>,
) -> Result<(StatusCode, Json<AnnouncementView>), ApiError> {
    let announcement =
        operations::publish_school_announcement(&state, &caller, request.into_input()).await?;
    Ok((StatusCode::CREATED, Json(announcement)))
}

/// `DELETE /api/v1/classes/{class}/announcements/{announcement}`: withdraws a class announcement;
/// its author or an administrator.
#[utoipa::path(delete, path = "/api/v1/classes/{class}/announcements/{announcement}", tag = "announcements",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"), ("announcement" = String, Path, description = "the announcement's id")),
    responses((status = 204, description = "withdrawn"), (status = 403, description = "neither its author nor an administrator"),
        (status = 404, description = "no such class or announcement")))]
pub async fn withdraw_class_announcement(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class_id, announcement_id)): UrlPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    operations::withdraw_class_announcement(&state, &caller, &class_id, &announcement_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/announcements/school/{announcement}`: withdraws a school announcement; its
/// author or an administrator.
#[utoipa::path(delete, path = "/api/v1/announcements/school/{announcement}", tag = "announcements",
    params(("announcement" = String, Path, description = "the announcement's id")),
    responses((status = 204, description = "withdrawn"), (status = 403, description = "neither its author nor an administrator"),
        (status = 404, description = "no such announcement")))]
pub async fn withdraw_school_announcement(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(announcement_id): UrlPath<String>,
) -> Result<StatusCode, ApiError> {
    operations::withdraw_school_announcement(&state, &caller, &announcement_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
