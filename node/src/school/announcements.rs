//! Announcements: notices to a class, to the whole school, and from the municipality. The JSON API
//! (`crate::api::announcements`), the web pages (`crate::web::announcements`) and the home page
//! call these operations.
//!
//! - A class's announcements are published by the class's teachers ([`Action::TeachClass`]).
//! - The school's are published by staff and administrators ([`Action::AnnounceToSchool`]).
//! - The municipality's (`municipality:M/announcements`) are written by the municipality's
//!   operators through the relay and reach this node by sync; the node only reads them.
//! - An announcement is withdrawn by its author or an administrator
//!   ([`Action::WithdrawAnnouncement`]; not the municipality's: those are withdrawn where they
//!   were written). The check runs inside the update of the document, against the announcement as
//!   it is written.
//!
//! # What a caller sees
//!
//! [`my_announcements`] answers "what is announced to me now": the school's and the
//! municipality's announcements, and those of the caller's classes: for pupils and teachers the
//! classes they are enrolled in, for guardians their children's classes. Staff and administrators
//! get no class announcements there beyond classes they are enrolled in themselves, although they
//! may read every class's: a school has hundreds of classes, and reading all their documents on
//! every request would make the most frequent request of the platform the most expensive. They
//! read a class's announcements with [`class_announcements`].
//!
//! Each listed announcement says whom it was for (its audience), so the client can label it.
//! Expired announcements are not listed; they stay in their document until pruned.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use serde::Serialize;

use crate::auth::Caller;
pub use crate::model::announcements::AnnouncementInput;
use crate::model::announcements::{
    Announcement, AnnouncementAudience, AnnouncementsDocument, announcements_doc,
};
use crate::model::common::{ItemId, ModelError, NodeTime};
use crate::repository::Repository;
use crate::school::access::{Access, Target, roster_index};
use crate::school::error::ServiceError;
use crate::school::policy::Action;
use crate::school::runtime::{blocking, node_now};
use crate::state::AppState;

/// Announcements [`my_announcements`] answers with, newest first. The documents read keep up to
/// 500 each; a reader is served the newest of them all together.
pub const MAX_ANNOUNCEMENTS_LISTED: usize = 200;

// ---------------------------------------------------------------------------------------------
// Views.
// ---------------------------------------------------------------------------------------------

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
// Operations.
// ---------------------------------------------------------------------------------------------

/// What is announced to the caller now, newest first (see the module documentation for which
/// audiences that covers).
pub async fn my_announcements(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<AnnouncementView>, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
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
    let now = node_now();
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
    Ok(views)
}

/// A class's current announcements, newest first: readers of the class (its members, their
/// guardians, staff and administrators).
pub async fn class_announcements(
    state: &AppState,
    caller: &Caller,
    class: &str,
) -> Result<Vec<AnnouncementView>, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    access.require_class_reader(class)?;
    let audience = Audience::Class {
        class_id: class.to_owned(),
        class_title: access.class(class)?.class.title.clone(),
    };
    let repository = state.repository.clone();
    let document_audience = AnnouncementAudience::Class {
        school: state.identity.school.clone(),
        class_sourced_id: class.to_owned(),
    };
    let document =
        blocking(move || Ok(read_announcements(&repository, &document_audience))).await?;
    let now = node_now();
    Ok(document
        .visible_at(now)
        .into_iter()
        .map(|announcement| announcement_view(&access, announcement, audience.clone()))
        .collect())
}

/// Announces to a class: the class's teachers.
pub async fn publish_class_announcement(
    state: &AppState,
    caller: &Caller,
    class: &str,
    input: AnnouncementInput,
) -> Result<AnnouncementView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    access.require_teacher_of(class)?;
    let label = Audience::Class {
        class_id: class.to_owned(),
        class_title: access.class(class)?.class.title.clone(),
    };
    let audience = AnnouncementAudience::Class {
        school: state.identity.school.clone(),
        class_sourced_id: class.to_owned(),
    };
    let announcement = publish(state, audience, input, access.me()).await?;
    Ok(announcement_view(&access, &announcement, label))
}

/// Announces to the whole school: staff and administrators.
pub async fn publish_school_announcement(
    state: &AppState,
    caller: &Caller,
    input: AnnouncementInput,
) -> Result<AnnouncementView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    access.require(Action::AnnounceToSchool, Target::School)?;
    let audience = AnnouncementAudience::School {
        school: state.identity.school.clone(),
    };
    let announcement = publish(state, audience, input, access.me()).await?;
    Ok(announcement_view(&access, &announcement, Audience::School))
}

/// Withdraws a class announcement: its author or an administrator. An unknown class is 404.
pub async fn withdraw_class_announcement(
    state: &AppState,
    caller: &Caller,
    class: &str,
    announcement: &str,
) -> Result<(), ServiceError> {
    Access::new(caller, roster_index(state).await?).class(class)?;
    let audience = AnnouncementAudience::Class {
        school: state.identity.school.clone(),
        class_sourced_id: class.to_owned(),
    };
    withdraw(state, caller, audience, announcement).await
}

/// Withdraws a school announcement: its author or an administrator.
pub async fn withdraw_school_announcement(
    state: &AppState,
    caller: &Caller,
    announcement: &str,
) -> Result<(), ServiceError> {
    let audience = AnnouncementAudience::School {
        school: state.identity.school.clone(),
    };
    withdraw(state, caller, audience, announcement).await
}

// ---------------------------------------------------------------------------------------------
// Reading and writing.
// ---------------------------------------------------------------------------------------------

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

/// Writes a new announcement to `audience`'s document. The caller has checked that `author` may
/// announce there.
async fn publish(
    state: &AppState,
    audience: AnnouncementAudience,
    input: AnnouncementInput,
    author: &str,
) -> Result<Announcement, ServiceError> {
    let announcement_id = ItemId::generate();
    let now = node_now();
    let repository = state.repository.clone();
    let author = author.to_owned();
    blocking(move || {
        Ok(repository.update(
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
        )?)
    })
    .await
}

/// Withdraws an announcement when the policy lets the caller ([`Action::WithdrawAnnouncement`]).
/// The check runs inside the update, against the announcement as the document holds it when it
/// is written.
async fn withdraw(
    state: &AppState,
    caller: &Caller,
    audience: AnnouncementAudience,
    announcement_id: &str,
) -> Result<(), ServiceError> {
    let announcement_id: ItemId = announcement_id.parse()?;
    let roster = roster_index(state).await?;
    let caller = caller.clone();
    let repository = state.repository.clone();
    blocking(move || {
        repository.update(
            &announcements_doc(&audience),
            |document: &mut AnnouncementsDocument| {
                let announcement =
                    document
                        .items
                        .get(announcement_id.as_str())
                        .ok_or_else(|| {
                            ServiceError::NotFound(format!(
                                "announcement {announcement_id} does not exist"
                            ))
                        })?;
                Access::new(&caller, roster.clone()).require(
                    Action::WithdrawAnnouncement,
                    Target::WrittenBy(&announcement.author),
                )?;
                document.withdraw(announcement_id.as_str())?;
                Ok::<_, ServiceError>(())
            },
        )?;
        Ok(())
    })
    .await
}

fn announcement_view(
    access: &Access<'_>,
    announcement: &Announcement,
    audience: Audience,
) -> AnnouncementView {
    // The municipality's announcements are written by its operators, who are not users of this
    // school (an equal id would name someone else), and are withdrawn where they were written.
    let from_this_school = !matches!(audience, Audience::Municipality { .. });
    AnnouncementView {
        id: announcement.id.clone(),
        title: announcement.title.clone(),
        body: announcement.body.clone(),
        author: announcement.author.clone(),
        author_name: access
            .roster
            .users
            .user(&announcement.author)
            .filter(|_| from_this_school)
            .map(|user| user.display_name()),
        published_at: announcement.published_at.unix_millis(),
        expires_at: announcement.expires_at.map(NodeTime::unix_millis),
        audience,
        can_withdraw: from_this_school
            && access.may(
                Action::WithdrawAnnouncement,
                Target::WrittenBy(&announcement.author),
            ),
    }
}
