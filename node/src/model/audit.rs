//! The school's audit log of data released to services: every grant (an authorisation code
//! issued), every token issued and every userinfo answer, with the time, the user, the service
//! and the claims released.
//!
//! It lives in school-scope documents, so the school's administrator can read it on the node and
//! it survives a replaced node (the relay keeps the school's documents). One day's entries are
//! appended to `school:S/audit-YYYYMMDD-P`, part `P` counting from 0: a part holds at most
//! [`MAX_AUDIT_ENTRIES_PER_DOCUMENT`] entries, then the next part starts, up to
//! [`MAX_AUDIT_PARTS_PER_DAY`]. Small parts keep each append cheap (a write hydrates its whole
//! document) and every document far below the store's size bound; a day of a large school's
//! logins fits many times over. Entries are never edited or removed by the node.

use autosurgeon::{Hydrate, Reconcile};
use sync_protocol::ids::{DocId, SchoolCode};

use super::UserId;
use super::catalogue::ReleasableClaim;
use super::common::{ModelError, NodeTime, school_doc};

/// Entries per audit document. Each entry is one automerge change of about a hundred bytes.
pub const MAX_AUDIT_ENTRIES_PER_DOCUMENT: usize = 2_000;
/// Audit documents per day: at most 128,000 entries a day, some forty logins to services for
/// every user of a school of a thousand. When all are full, releases are refused rather than
/// made without a record.
pub const MAX_AUDIT_PARTS_PER_DAY: u32 = 64;

/// The audit document of `day` (UTC), part `part`.
pub fn audit_doc(school: &SchoolCode, day: time::Date, part: u32) -> DocId {
    school_doc(
        school,
        &format!(
            "audit-{:04}{:02}{:02}-{part}",
            day.year(),
            u8::from(day.month()),
            day.day()
        ),
    )
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hydrate, Reconcile)]
pub enum AuditEvent {
    /// The user was logged in to the service: an authorisation code was issued.
    #[autosurgeon(rename = "grant")]
    Grant,
    /// The service redeemed the code: an ID token with the claims went to it.
    #[autosurgeon(rename = "token-issued")]
    TokenIssued,
    /// The service read the userinfo endpoint with its access token.
    #[autosurgeon(rename = "userinfo-released")]
    UserinfoReleased,
    /// The user logged in to the node through the upstream provider (`service` names it).
    #[autosurgeon(rename = "upstream-login")]
    UpstreamLogin,
    /// The service got a OneRoster token by the client credentials grant (no user).
    #[autosurgeon(rename = "roster-token-issued")]
    RosterTokenIssued,
    /// The service read the roster over OneRoster: the entry names the endpoint and the number
    /// of records released (no user: a read releases many).
    #[autosurgeon(rename = "roster-read")]
    RosterRead,
    /// An LTI tool was launched for the user: a signed launch with the claims went to it.
    #[autosurgeon(rename = "lti-launch")]
    LtiLaunch,
    /// An LTI tool received a service access token (the detail names its scopes).
    #[autosurgeon(rename = "lti-token-issued")]
    LtiTokenIssued,
    /// An LTI tool sent a score, written as the user's grade (the detail names the assignment).
    #[autosurgeon(rename = "lti-score-received")]
    LtiScoreReceived,
    /// An LTI tool read a class's members (the detail names the class).
    #[autosurgeon(rename = "lti-roster-released")]
    LtiRosterReleased,
    /// An LTI tool returned content a teacher picked, made into an assignment (the detail names it).
    #[autosurgeon(rename = "lti-content-linked")]
    LtiContentLinked,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Grant => "grant",
            AuditEvent::TokenIssued => "token_issued",
            AuditEvent::UserinfoReleased => "userinfo_released",
            AuditEvent::UpstreamLogin => "upstream_login",
            AuditEvent::RosterTokenIssued => "roster_token_issued",
            AuditEvent::RosterRead => "roster_read",
            AuditEvent::LtiLaunch => "lti_launch",
            AuditEvent::LtiTokenIssued => "lti_token_issued",
            AuditEvent::LtiScoreReceived => "lti_score_received",
            AuditEvent::LtiRosterReleased => "lti_roster_released",
            AuditEvent::LtiContentLinked => "lti_content_linked",
        }
    }
}

/// One audited event.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct AuditEntry {
    pub at: NodeTime,
    pub event: AuditEvent,
    /// The user whose data was released; empty for OneRoster events, which concern no one user.
    pub user: UserId,
    pub service: String,
    /// The claims released (for a grant: the claims the code will release; for a roster read:
    /// the roster scope and the claims that shaped its user records).
    pub claims: Vec<ReleasableClaim>,
    /// For a roster read: how many records the answer released.
    pub records: Option<u64>,
    /// What else the event concerns: for a roster read the endpoint read, as its path below the
    /// OneRoster base (`/users`, `/classes/CLS-7A/students`); the class or assignment of an LTI
    /// message; the scopes of an LTI token. Entries written before these existed have none.
    pub detail: Option<String>,
}

/// One part of one day's log, in the order entries were appended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hydrate, Reconcile)]
pub struct AuditDocument {
    pub entries: Vec<AuditEntry>,
}

impl AuditDocument {
    /// Appends `entry`; refuses when this part is full (the writer moves on to the next part).
    pub fn append(&mut self, entry: AuditEntry) -> Result<(), ModelError> {
        if self.entries.len() >= MAX_AUDIT_ENTRIES_PER_DOCUMENT {
            return Err(ModelError::LimitReached {
                what: "audit entries",
                max: MAX_AUDIT_ENTRIES_PER_DOCUMENT,
            });
        }
        self.entries.push(entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::test_support::*;
    use super::*;

    fn entry(at: i64) -> AuditEntry {
        AuditEntry {
            at: NodeTime(at),
            event: AuditEvent::Grant,
            user: "P01".to_owned(),
            service: "tool".to_owned(),
            claims: vec![ReleasableClaim::Role],
            records: None,
            detail: None,
        }
    }

    #[test]
    fn audit_documents_are_named_by_day_and_part() {
        let day = date("2026-11-27").date();
        assert_eq!(
            audit_doc(&school(), day, 3).to_string(),
            "school:30076/audit-20261127-3"
        );
    }

    #[test]
    fn a_full_part_refuses_and_concurrent_appends_both_survive() {
        let mut document = AuditDocument::default();
        for at in 0..MAX_AUDIT_ENTRIES_PER_DOCUMENT {
            document.append(entry(at as i64)).expect("room");
        }
        assert!(document.append(entry(-1)).is_err());
        assert_eq!(document.entries.len(), MAX_AUDIT_ENTRIES_PER_DOCUMENT);

        let mut base = AuditDocument::default();
        base.append(entry(1)).expect("room");
        assert_round_trip(&base);
        let merged = merge_concurrent(
            &base,
            |document| document.append(entry(2)).expect("room"),
            |document| document.append(entry(3)).expect("room"),
        );
        assert_eq!(merged.entries.len(), 3);
    }
}
