//! Announcements: notices to a class, to the whole school, or from the municipality to all its
//! schools.
//!
//! - `school:S/announcements-<class key>`: a class's announcements, written by its teachers;
//! - `school:S/announcements-school`: the school's, written by its administrators and staff;
//! - `municipality:M/announcements`: the municipality's, written by the municipality's operators
//!   (through the relay) and synced to every school node of that municipality, read-only there.
//!
//! A document keeps the newest [`MAX_ANNOUNCEMENTS_KEPT`] announcements by publication time, and
//! no more than [`MAX_ANNOUNCEMENTS_TEXT_BYTES`] of their text; publishing beyond that prunes the
//! oldest. Expired announcements stay (readers filter them) until
//! pruned, so that a teacher can still look up last month's notice.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, MunicipalityCode, SchoolCode, Scope};

use super::UserId;
use super::common::{
    ItemId, MAX_BODY_CHARS, MAX_TITLE_CHARS, ModelError, NodeTime, multi_line, school_doc,
    scoped_doc, single_line, sourced_id, sourced_id_key,
};

/// Announcements kept per document; older ones are pruned when new ones are published.
pub const MAX_ANNOUNCEMENTS_KEPT: usize = 500;
/// The text (titles and bodies) kept per document, in bytes; older announcements are pruned to
/// stay within it, which keeps the document well inside the store's 8 MiB document bound even
/// when every announcement is long.
pub const MAX_ANNOUNCEMENTS_TEXT_BYTES: usize = 4 * 1024 * 1024;

/// Who an announcement is for, which decides its document (and so its scope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "audience")]
pub enum AnnouncementAudience {
    Class {
        school: SchoolCode,
        class_sourced_id: String,
    },
    School {
        school: SchoolCode,
    },
    Municipality {
        municipality: MunicipalityCode,
    },
}

/// The document holding the announcements for `audience`.
pub fn announcements_doc(audience: &AnnouncementAudience) -> DocId {
    match audience {
        AnnouncementAudience::Class {
            school,
            class_sourced_id,
        } => school_doc(
            school,
            &format!("announcements-{}", sourced_id_key(class_sourced_id)),
        ),
        AnnouncementAudience::School { school } => school_doc(school, "announcements-school"),
        AnnouncementAudience::Municipality { municipality } => {
            scoped_doc(Scope::Municipality(municipality.clone()), "announcements")
        }
    }
}

/// One announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Announcement {
    pub id: String,
    pub title: String,
    pub body: String,
    pub author: UserId,
    pub published_at: NodeTime,
    /// After this the announcement is no longer shown.
    pub expires_at: Option<NodeTime>,
}

impl Announcement {
    pub fn is_visible_at(&self, now: NodeTime) -> bool {
        self.published_at <= now && self.expires_at.is_none_or(|expires| now < expires)
    }
}

/// What an author enters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnouncementInput {
    pub title: String,
    pub body: String,
    pub expires_at: Option<NodeTime>,
}

/// An announcements document, by announcement id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct AnnouncementsDocument {
    pub items: BTreeMap<String, Announcement>,
}

impl AnnouncementsDocument {
    /// Publishes an announcement and prunes the oldest beyond [`MAX_ANNOUNCEMENTS_KEPT`]. Returns
    /// the ids pruned.
    pub fn publish(
        &mut self,
        id: &ItemId,
        input: AnnouncementInput,
        author: &str,
        now: NodeTime,
    ) -> Result<Vec<String>, ModelError> {
        if self.items.contains_key(id.as_str()) {
            return Err(ModelError::AlreadyExists {
                what: "announcement",
                id: id.to_string(),
            });
        }
        if let Some(expires_at) = input.expires_at
            && expires_at <= now
        {
            return Err(ModelError::Invalid {
                field: "expires at",
                reason: format!("the expiry ({expires_at}) must be after publication ({now})"),
            });
        }
        let announcement = Announcement {
            id: id.to_string(),
            title: single_line("title", &input.title, MAX_TITLE_CHARS)?,
            body: multi_line("body", &input.body, MAX_BODY_CHARS, true)?,
            author: sourced_id("author", author)?,
            published_at: now,
            expires_at: input.expires_at,
        };
        self.items.insert(id.to_string(), announcement);
        Ok(self.prune())
    }

    /// Removes an announcement (its author or an administrator withdrew it).
    pub fn withdraw(&mut self, id: &str) -> Result<Announcement, ModelError> {
        self.items.remove(id).ok_or_else(|| ModelError::NotFound {
            what: "announcement",
            id: id.to_owned(),
        })
    }

    /// The announcements shown at `now`, newest first.
    pub fn visible_at(&self, now: NodeTime) -> Vec<&Announcement> {
        let mut visible: Vec<&Announcement> = self
            .items
            .values()
            .filter(|announcement| announcement.is_visible_at(now))
            .collect();
        visible.sort_by(|a, b| (b.published_at, &b.id).cmp(&(a.published_at, &a.id)));
        visible
    }

    /// Drops the oldest announcements until at most [`MAX_ANNOUNCEMENTS_KEPT`] remain and their
    /// text fits [`MAX_ANNOUNCEMENTS_TEXT_BYTES`]. Also worth running after a merge brings the
    /// document over (two writers publishing at once each saw room for one more).
    pub fn prune(&mut self) -> Vec<String> {
        let mut by_age: Vec<(NodeTime, String, usize)> = self
            .items
            .values()
            .map(|announcement| {
                (
                    announcement.published_at,
                    announcement.id.clone(),
                    announcement.title.len() + announcement.body.len(),
                )
            })
            .collect();
        by_age.sort();
        let mut count = by_age.len();
        let mut text_bytes: usize = by_age.iter().map(|(_, _, bytes)| bytes).sum();
        let mut pruned = Vec::new();
        for (_, id, bytes) in by_age {
            if count <= MAX_ANNOUNCEMENTS_KEPT && text_bytes <= MAX_ANNOUNCEMENTS_TEXT_BYTES {
                break;
            }
            self.items.remove(&id);
            count -= 1;
            text_bytes -= bytes;
            pruned.push(id);
        }
        pruned
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::test_support::*;
    use super::*;

    fn input(title: &str) -> AnnouncementInput {
        AnnouncementInput {
            title: title.to_owned(),
            body: "Tervetuloa!".to_owned(),
            expires_at: None,
        }
    }

    fn item_id(number: usize) -> ItemId {
        id(&format!("{number:016x}"))
    }

    #[test]
    fn documents_follow_the_audience() {
        let class = AnnouncementAudience::Class {
            school: school(),
            class_sourced_id: "CLS-7A".to_owned(),
        };
        assert_eq!(
            announcements_doc(&class).name(),
            format!("announcements-{}", sourced_id_key("CLS-7A"))
        );
        assert_eq!(
            announcements_doc(&AnnouncementAudience::School { school: school() }).to_string(),
            "school:30076/announcements-school"
        );
        let municipality = AnnouncementAudience::Municipality {
            municipality: "092".parse().expect("code"),
        };
        assert_eq!(
            announcements_doc(&municipality).to_string(),
            "municipality:092/announcements"
        );
    }

    #[test]
    fn publishing_validates_and_expiry_hides() {
        let mut document = AnnouncementsDocument::default();
        assert_eq!(
            document.publish(&item_id(1), input(""), "A1", NodeTime(10)),
            Err(ModelError::Empty { field: "title" })
        );
        let expired = AnnouncementInput {
            expires_at: Some(NodeTime(10)),
            ..input("Vanha")
        };
        assert!(
            document
                .publish(&item_id(1), expired, "A1", NodeTime(10))
                .is_err()
        );
        let short_lived = AnnouncementInput {
            expires_at: Some(NodeTime(100)),
            ..input("Lyhyt")
        };
        document
            .publish(&item_id(1), short_lived, "A1", NodeTime(10))
            .expect("valid");
        document
            .publish(&item_id(2), input("Pysyvä"), "A1", NodeTime(20))
            .expect("valid");
        let titles = |at| -> Vec<String> {
            document
                .visible_at(NodeTime(at))
                .iter()
                .map(|announcement| announcement.title.clone())
                .collect()
        };
        assert_eq!(titles(50), ["Pysyvä", "Lyhyt"]);
        assert_eq!(titles(100), ["Pysyvä"]);
        assert!(document.withdraw(item_id(2).as_str()).is_ok());
        assert!(document.withdraw(item_id(2).as_str()).is_err());
    }

    #[test]
    fn only_the_newest_announcements_are_kept() {
        let mut document = AnnouncementsDocument::default();
        for number in 0..MAX_ANNOUNCEMENTS_KEPT {
            let pruned = document
                .publish(
                    &item_id(number),
                    input("Tiedote"),
                    "A1",
                    NodeTime(number as i64),
                )
                .expect("valid");
            assert!(pruned.is_empty());
        }
        let pruned = document
            .publish(
                &item_id(MAX_ANNOUNCEMENTS_KEPT),
                input("Uusin"),
                "A1",
                NodeTime(1_000_000),
            )
            .expect("valid");
        assert_eq!(pruned, [item_id(0).to_string()]);
        assert_eq!(document.items.len(), MAX_ANNOUNCEMENTS_KEPT);
    }

    #[test]
    fn long_announcements_are_pruned_by_their_text() {
        let mut document = AnnouncementsDocument::default();
        let long = AnnouncementInput {
            body: "ä".repeat(MAX_BODY_CHARS),
            ..input("Pitkä")
        };
        let fit = MAX_ANNOUNCEMENTS_TEXT_BYTES / (long.body.len() + long.title.len());
        for number in 0..fit {
            let pruned = document
                .publish(
                    &item_id(number),
                    long.clone(),
                    "A1",
                    NodeTime(number as i64),
                )
                .expect("valid");
            assert!(pruned.is_empty());
        }
        let pruned = document
            .publish(&item_id(fit), long, "A1", NodeTime(fit as i64))
            .expect("valid");
        assert_eq!(pruned, [item_id(0).to_string()]);
    }

    #[test]
    fn announcements_round_trip_and_concurrent_publications_merge() {
        let mut base = AnnouncementsDocument::default();
        base.publish(&item_id(1), input("Ensimmäinen"), "A1", NodeTime(1))
            .expect("valid");
        assert_round_trip(&base);
        let merged = merge_concurrent(
            &base,
            |document| {
                document
                    .publish(&item_id(2), input("Koulun tiedote"), "A1", NodeTime(2))
                    .expect("valid");
            },
            |document| {
                document
                    .publish(&item_id(3), input("Toinen tiedote"), "A2", NodeTime(3))
                    .expect("valid");
            },
        );
        assert_eq!(merged.items.len(), 3);
    }
}
