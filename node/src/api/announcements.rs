//! Announcements: notices to a class, to the whole school, and from the municipality.
//!
//! - A class's announcements are published by the class's teachers.
//! - The school's are published by staff and administrators.
//! - The municipality's (`municipality:M/announcements`) are written by the municipality's
//!   operators through the relay and reach this node by sync; the node only reads them.
//! - An announcement is withdrawn by its author or an administrator (not the municipality's: those
//!   are withdrawn where they were written).
//!
//! # What a caller sees
//!
//! `GET /api/v1/announcements` answers "what is announced to me now": the school's and the
//! municipality's announcements, and those of the caller's classes: for pupils and teachers the
//! classes they are enrolled in, for guardians their children's classes. Staff and administrators
//! get no class announcements there beyond classes they are enrolled in themselves, although they
//! may read every class's: a school has hundreds of classes, and reading all their documents on
//! every request would make the most frequent request of the platform the most expensive. They
//! read a class's announcements with `GET /api/v1/classes/{class}/announcements`.
//!
//! Each listed announcement says whom it was for (its audience), so the client can label it.
//! Expired announcements are not listed; they stay in their document until pruned.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{Access, ApiError, RosterIndex, blocking, node_now_millis, roster_index};
use crate::auth::Caller;
use crate::model::UserRole;
use crate::model::announcements::{
    Announcement, AnnouncementAudience, AnnouncementInput, AnnouncementsDocument, announcements_doc,
};
use crate::model::common::{ItemId, ModelError, NodeTime};
use crate::repository::Repository;
use crate::state::AppState;

/// Announcements returned by `GET /api/v1/announcements`, newest first. The documents read keep
/// up to 500 each; a reader is served the newest of them all together.
pub const MAX_ANNOUNCEMENTS_LISTED: usize = 200;

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

// ---------------------------------------------------------------------------------------------
// Request and response bodies.

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAnnouncement {
    pub title: String,
    pub body: String,
    /// Unix milliseconds (node time) after which the announcement is no longer shown.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// Whom an announcement was for.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Audience {
    Class {
        class_id: String,
        class_title: String,
    },
    School,
    Municipality {
        municipality: String,
    },
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AnnouncementView {
    pub id: String,
    pub title: String,
    pub body: String,
    pub author: String,
    /// The author's name when the author is a user of this school (the municipality's operators
    /// are not).
    pub author_name: Option<String>,
    /// Unix milliseconds, node time.
    pub published_at: i64,
    pub expires_at: Option<i64>,
    pub audience: Audience,
    /// Whether the caller may withdraw it.
    pub can_withdraw: bool,
}

// ---------------------------------------------------------------------------------------------
// Routes.

/// `GET /api/v1/announcements`: what is announced to the caller now, newest first (see the module
/// documentation for which audiences that covers).
#[utoipa::path(get, path = "/api/v1/announcements", tag = "announcements",
    responses((status = 200, body = [AnnouncementView]), (status = 401, description = "not logged in")))]
pub async fn my_announcements(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<AnnouncementView>>, ApiError> {
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    let mut sources = vec![
        (
            AnnouncementAudience::School {
                school: state.identity.school.clone(),
            },
            Audience::School,
        ),
        (
            AnnouncementAudience::Municipality {
                municipality: state.identity.municipality.clone(),
            },
            Audience::Municipality {
                municipality: state.identity.municipality.to_string(),
            },
        ),
    ];
    for class_id in followed_classes(&access) {
        let class_title = access.class(&class_id)?.class.title.clone();
        sources.push((
            AnnouncementAudience::Class {
                school: state.identity.school.clone(),
                class_sourced_id: class_id.clone(),
            },
            Audience::Class {
                class_id,
                class_title,
            },
        ));
    }
    let repository = state.repository.clone();
    let documents = blocking(move || {
        Ok(sources
            .into_iter()
            .map(|(audience, label)| (read_announcements(&repository, &audience), label))
            .collect::<Vec<_>>())
    })
    .await?;
    let now = NodeTime(node_now_millis());
    let mut views: Vec<AnnouncementView> = documents
        .iter()
        .flat_map(|(document, audience)| {
            document
                .visible_at(now)
                .into_iter()
                .map(|announcement| announcement_view(&access, announcement, audience.clone()))
        })
        .collect();
    views.sort_by(|a, b| (Reverse(a.published_at), &a.id).cmp(&(Reverse(b.published_at), &b.id)));
    views.truncate(MAX_ANNOUNCEMENTS_LISTED);
    Ok(Json(views))
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
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    access.require_class_reader(&class_id)?;
    let audience = Audience::Class {
        class_id: class_id.clone(),
        class_title: access.class(&class_id)?.class.title.clone(),
    };
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let document = blocking(move || {
        Ok(read_announcements(
            &repository,
            &AnnouncementAudience::Class {
                school,
                class_sourced_id: class_id,
            },
        ))
    })
    .await?;
    let now = NodeTime(node_now_millis());
    Ok(Json(
        document
            .visible_at(now)
            .into_iter()
            .map(|announcement| announcement_view(&access, announcement, audience.clone()))
            .collect(),
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
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    access.require_teacher_of(&class_id)?;
    let label = Audience::Class {
        class_id: class_id.clone(),
        class_title: access.class(&class_id)?.class.title.clone(),
    };
    let audience = AnnouncementAudience::Class {
        school: state.identity.school.clone(),
        class_sourced_id: class_id,
    };
    let announcement = publish(&state, audience, request, access.me()).await?;
    Ok((
        StatusCode::CREATED,
        Json(announcement_view(&access, &announcement, label)),
    ))
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
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    if !access.is_school_wide() {
        return Err(ApiError::Forbidden(
            "only staff and administrators announce to the whole school".into(),
        ));
    }
    let audience = AnnouncementAudience::School {
        school: state.identity.school.clone(),
    };
    let announcement = publish(&state, audience, request, access.me()).await?;
    Ok((
        StatusCode::CREATED,
        Json(announcement_view(&access, &announcement, Audience::School)),
    ))
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
    let roster = roster_index(&state).await?;
    Access::new(&caller, roster).class(&class_id)?;
    let audience = AnnouncementAudience::Class {
        school: state.identity.school.clone(),
        class_sourced_id: class_id,
    };
    withdraw(&state, &caller, audience, &announcement_id).await?;
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
    let audience = AnnouncementAudience::School {
        school: state.identity.school.clone(),
    };
    withdraw(&state, &caller, audience, &announcement_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Reading and writing.

/// The classes whose announcements the caller follows: their own (as pupil or teacher) and, for
/// guardians, their children's.
fn followed_classes(access: &Access<'_>) -> BTreeSet<String> {
    let roster = &access.roster;
    let me = access.me();
    let mut classes = BTreeSet::new();
    for memberships in [
        roster.classes_as_pupil.get(me),
        roster.classes_as_teacher.get(me),
    ] {
        classes.extend(memberships.into_iter().flatten().cloned());
    }
    for child in roster.children.get(me).into_iter().flatten() {
        classes.extend(
            roster
                .classes_as_pupil
                .get(child)
                .into_iter()
                .flatten()
                .cloned(),
        );
    }
    classes
}

/// An announcements document, or an empty one when the store does not hold it or it cannot be
/// read: one damaged document must not hide every other announcement from the reader.
fn read_announcements(
    repository: &Repository,
    audience: &AnnouncementAudience,
) -> AnnouncementsDocument {
    let doc = announcements_doc(audience);
    repository.read_or_default(&doc).unwrap_or_else(|error| {
        tracing::warn!(%error, %doc, "an announcements document cannot be read; skipped");
        AnnouncementsDocument::default()
    })
}

async fn publish(
    state: &AppState,
    audience: AnnouncementAudience,
    request: NewAnnouncement,
    author: &str,
) -> Result<Announcement, ApiError> {
    let announcement_id = ItemId::generate();
    let now = NodeTime(node_now_millis());
    let input = AnnouncementInput {
        title: request.title,
        body: request.body,
        expires_at: request.expires_at.map(NodeTime::from_unix_millis),
    };
    let repository = state.repository.clone();
    let author = author.to_owned();
    blocking(move || {
        repository
            .update(
                &announcements_doc(&audience),
                |document: &mut AnnouncementsDocument| {
                    let pruned = document.publish(&announcement_id, input, &author, now)?;
                    if !pruned.is_empty() {
                        tracing::info!(count = pruned.len(), "pruned the oldest announcements");
                    }
                    document
                        .items
                        .get(announcement_id.as_str())
                        .cloned()
                        .ok_or_else(|| ModelError::NotFound {
                            what: "announcement",
                            id: announcement_id.to_string(),
                        })
                },
            )
            .map_err(ApiError::from)
    })
    .await
}

/// Withdraws an announcement when the caller wrote it or is an administrator. The check runs
/// inside the update, against the document as it is written.
async fn withdraw(
    state: &AppState,
    caller: &Caller,
    audience: AnnouncementAudience,
    announcement_id: &str,
) -> Result<(), ApiError> {
    let announcement_id: ItemId = announcement_id.parse()?;
    let me = caller.user_id.clone();
    let is_admin = caller.has_role(UserRole::Admin);
    let repository = state.repository.clone();
    blocking(move || {
        repository
            .update(
                &announcements_doc(&audience),
                |document: &mut AnnouncementsDocument| {
                    let announcement =
                        document
                            .items
                            .get(announcement_id.as_str())
                            .ok_or_else(|| {
                                ApiError::NotFound(format!(
                                    "announcement {announcement_id} does not exist"
                                ))
                            })?;
                    if announcement.author != me && !is_admin {
                        return Err(ApiError::Forbidden(
                            "only its author or an administrator may withdraw an announcement"
                                .into(),
                        ));
                    }
                    document.withdraw(announcement_id.as_str())?;
                    Ok(())
                },
            )
            .map_err(ApiError::from)
    })
    .await
}

fn announcement_view(
    access: &Access<'_>,
    announcement: &Announcement,
    audience: Audience,
) -> AnnouncementView {
    let roster: &RosterIndex = &access.roster;
    // The municipality's announcements are written by its operators, who are not users of this
    // school (an equal id would name someone else), and are withdrawn where they were written.
    let from_this_school = !matches!(audience, Audience::Municipality { .. });
    AnnouncementView {
        id: announcement.id.clone(),
        title: announcement.title.clone(),
        body: announcement.body.clone(),
        author: announcement.author.clone(),
        author_name: roster
            .users
            .user(&announcement.author)
            .filter(|_| from_this_school)
            .map(|user| user.display_name()),
        published_at: announcement.published_at.unix_millis(),
        expires_at: announcement.expires_at.map(NodeTime::unix_millis),
        audience,
        can_withdraw: from_this_school
            && (announcement.author == access.me() || access.has_role(UserRole::Admin)),
    }
}
