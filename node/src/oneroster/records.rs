//! The roster as a service receives it: OneRoster 1.2 JSON records built from the node's roster
//! index ([`crate::school::RosterIndex`], kept in memory and rebuilt only when a roster document
//! changes), with only what the school approved for the service.
//!
//! # Decisions
//!
//! - **Users' sourcedIds are pairwise**: a user's sourcedId at a service is the same pairwise
//!   identifier as that user's OpenID Connect `sub` at the same service
//!   ([`crate::oidc::claims::pairwise_subject`]: HMAC-SHA256 with the school's salt). A service
//!   that both logs users in and reads the roster joins the two without any further identifier,
//!   while two services comparing their rosters cannot tell which of their users are the same
//!   person. The roster's own sourcedIds (`P01`, or a registry's person number) would be the
//!   same at every service and are never released.
//! - **Enrollments' sourcedIds are pairwise too** (their own HMAC context): a source system
//!   often builds them from the user's id (`ENR-7A-MA-P01`), so releasing them would undo the
//!   above. Orgs, sessions, courses and classes keep their roster sourcedIds: they describe the
//!   school, not a person.
//! - **Names** (`givenName`, `familyName`, `preferredFirstName`, and `username`, which is made
//!   of the name) only when `profile` is approved for the service; `email` only when `email` is.
//!   OneRoster calls the names required; a school that did not approve them gets records without
//!   them, because the approval is the law here and the schema is not. The school's own
//!   `identifier` (a person number in some registries), `userIds`, passwords, phone numbers and
//!   guardian links are never released.
//! - **Guardians are not released**: a learning service's roster is pupils, teachers and staff.
//!   No scope in the catalogue approves guardians' data, and their links to pupils say who is
//!   whose family. A user who is also a guardian is released with their other roles only.
//! - **Only this school**: the school's org and its ancestors (the municipality), its courses
//!   and classes; other schools the package named (a neighbouring school as a parent's org) are
//!   not released.
//! - `status` is always `active` (the node keeps no deleted records, only removed classes, which
//!   are left out). `dateLastModified` is when this node last saw the roster change (the index
//!   was rebuilt): the roster documents keep no per-record time, and a time no earlier than the
//!   real change keeps a client's delta sync (`dateLastModified>'…'`) from missing one.

use std::collections::BTreeSet;

use ring::hmac;
use serde_json::{Map, Value, json};

use super::BASE_PATH;
use crate::model::UserRole;
use crate::model::roster::{EnrollmentRole, Org, RosterUser};
use crate::oidc::claims::pairwise_subject;
use crate::school::RosterIndex;

/// Separates enrollment identifiers from every other use of the school's salt.
const ENROLLMENT_CONTEXT: &[u8] = b"digione-oneroster-enrollment-v1";

/// The record fields of each collection, as filters, sorts and `fields` may name them.
pub const ORG_FIELDS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "name",
    "type",
    "identifier",
    "parent",
    "children",
];
pub const SESSION_FIELDS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "type",
    "startDate",
    "endDate",
    "parent",
    "children",
    "schoolYear",
];
pub const COURSE_FIELDS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "schoolYear",
    "courseCode",
    "grades",
    "subjects",
    "org",
];
pub const CLASS_FIELDS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "classCode",
    "classType",
    "location",
    "grades",
    "subjects",
    "course",
    "school",
    "terms",
];
pub const USER_FIELDS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "username",
    "givenName",
    "familyName",
    "preferredFirstName",
    "email",
    "roles",
    "primaryOrg",
    "grades",
];
pub const ENROLLMENT_FIELDS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "user",
    "class",
    "school",
    "role",
    "primary",
    "beginDate",
    "endDate",
];

/// What the school approved beyond the roster itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleasePolicy {
    /// `profile` approved: names and usernames.
    pub names: bool,
    /// `email` approved.
    pub email: bool,
}

/// The roster as one service sees it.
#[derive(Debug)]
pub struct Release<'a> {
    roster: &'a RosterIndex,
    /// `{issuer}{BASE_PATH}`, the prefix of every `href`.
    base_href: String,
    salt: &'a [u8],
    service_id: &'a str,
    policy: ReleasePolicy,
    modified: &'a str,
    /// The school's org and its ancestors.
    released_orgs: BTreeSet<String>,
}

impl<'a> Release<'a> {
    pub fn new(
        roster: &'a RosterIndex,
        issuer: &str,
        salt: &'a [u8],
        service_id: &'a str,
        policy: ReleasePolicy,
        modified: &'a str,
    ) -> Self {
        let mut released_orgs = BTreeSet::new();
        let mut next = roster.org.school().map(|org| org.sourced_id.clone());
        // The parent chain is bounded by the number of orgs, whatever cycle a package holds.
        while let Some(id) = next.take() {
            if released_orgs.len() > roster.org.orgs.len() || !released_orgs.insert(id.clone()) {
                break;
            }
            next = roster
                .org
                .orgs
                .get(&id)
                .and_then(|org| org.parent_sourced_id.clone());
        }
        Self {
            roster,
            base_href: format!("{issuer}{BASE_PATH}"),
            salt,
            service_id,
            policy,
            modified,
            released_orgs,
        }
    }

    fn reference(&self, collection: &str, kind: &str, sourced_id: &str) -> Value {
        json!({
            "href": format!("{}/{collection}/{sourced_id}", self.base_href),
            "sourcedId": sourced_id,
            "type": kind,
        })
    }

    fn org_reference(&self, sourced_id: &str) -> Value {
        self.reference("orgs", "org", sourced_id)
    }

    /// The school's own org id, once a roster was imported.
    fn school_id(&self) -> Option<&str> {
        self.roster
            .org
            .school()
            .map(|org| org.sourced_id.as_str())
            .filter(|id| self.released_orgs.contains(*id))
    }

    /// The sourcedId this service knows the user by (its OpenID Connect `sub`).
    pub fn user_id(&self, roster_id: &str) -> String {
        pairwise_subject(self.salt, self.service_id, roster_id)
    }

    fn enrollment_id(&self, roster_id: &str) -> String {
        use base64::Engine as _;
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.salt);
        let mut context = hmac::Context::with_key(&key);
        context.update(ENROLLMENT_CONTEXT);
        context.update(&[0]);
        context.update(self.service_id.as_bytes());
        context.update(&[0]);
        context.update(roster_id.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(context.sign().as_ref())
    }

    fn base(&self, sourced_id: &str) -> Map<String, Value> {
        let mut record = Map::new();
        record.insert("sourcedId".into(), sourced_id.into());
        record.insert("status".into(), "active".into());
        record.insert("dateLastModified".into(), self.modified.into());
        record
    }

    fn org(&self, org: &Org) -> Value {
        let mut record = self.base(&org.sourced_id);
        record.insert("name".into(), org.name.clone().into());
        record.insert(
            "type".into(),
            serde_json::to_value(org.org_type).unwrap_or(Value::Null),
        );
        if let Some(identifier) = &org.identifier {
            record.insert("identifier".into(), identifier.clone().into());
        }
        if let Some(parent) = org
            .parent_sourced_id
            .as_deref()
            .filter(|parent| self.released_orgs.contains(*parent))
        {
            record.insert("parent".into(), self.org_reference(parent));
        }
        let children: Vec<Value> = self
            .released_orgs
            .iter()
            .filter_map(|id| self.roster.org.orgs.get(id))
            .filter(|child| child.parent_sourced_id.as_deref() == Some(org.sourced_id.as_str()))
            .map(|child| self.org_reference(&child.sourced_id))
            .collect();
        record.insert("children".into(), children.into());
        Value::Object(record)
    }

    /// The school's org and its ancestors.
    pub fn orgs(&self) -> Vec<Value> {
        self.released_orgs
            .iter()
            .filter_map(|id| self.roster.org.orgs.get(id))
            .map(|org| self.org(org))
            .collect()
    }

    pub fn sessions(&self) -> Vec<Value> {
        let sessions = &self.roster.org.sessions;
        sessions
            .values()
            .map(|session| {
                let mut record = self.base(&session.sourced_id);
                record.insert("title".into(), session.title.clone().into());
                record.insert(
                    "type".into(),
                    serde_json::to_value(session.session_type).unwrap_or(Value::Null),
                );
                record.insert("startDate".into(), session.start_date.to_string().into());
                record.insert("endDate".into(), session.end_date.to_string().into());
                if let Some(parent) = session
                    .parent_sourced_id
                    .as_deref()
                    .filter(|parent| sessions.contains_key(*parent))
                {
                    record.insert(
                        "parent".into(),
                        self.reference("academicSessions", "academicSession", parent),
                    );
                }
                let children: Vec<Value> = sessions
                    .values()
                    .filter(|child| {
                        child.parent_sourced_id.as_deref() == Some(session.sourced_id.as_str())
                    })
                    .map(|child| {
                        self.reference("academicSessions", "academicSession", &child.sourced_id)
                    })
                    .collect();
                record.insert("children".into(), children.into());
                record.insert("schoolYear".into(), session.school_year.clone().into());
                Value::Object(record)
            })
            .collect()
    }

    /// The courses of the school (and of its municipality, which the school teaches too).
    pub fn courses(&self) -> Vec<Value> {
        self.roster
            .org
            .courses
            .values()
            .filter(|course| self.released_orgs.contains(&course.org_sourced_id))
            .map(|course| {
                let mut record = self.base(&course.sourced_id);
                record.insert("title".into(), course.title.clone().into());
                if let Some(year) = course
                    .school_year_sourced_id
                    .as_deref()
                    .filter(|year| self.roster.org.sessions.contains_key(*year))
                {
                    record.insert(
                        "schoolYear".into(),
                        self.reference("academicSessions", "academicSession", year),
                    );
                }
                if let Some(code) = &course.course_code {
                    record.insert("courseCode".into(), code.clone().into());
                }
                record.insert("grades".into(), course.grades.clone().into());
                record.insert("subjects".into(), course.subjects.clone().into());
                record.insert("org".into(), self.org_reference(&course.org_sourced_id));
                Value::Object(record)
            })
            .collect()
    }

    /// The school's classes (those a later import removed are left out).
    pub fn classes(&self) -> Vec<Value> {
        self.roster
            .classes
            .values()
            .map(|document| {
                let class = &document.class;
                let mut record = self.base(&class.sourced_id);
                record.insert("title".into(), class.title.clone().into());
                if let Some(code) = &class.class_code {
                    record.insert("classCode".into(), code.clone().into());
                }
                record.insert(
                    "classType".into(),
                    serde_json::to_value(class.class_type).unwrap_or(Value::Null),
                );
                if let Some(location) = &class.location {
                    record.insert("location".into(), location.clone().into());
                }
                record.insert("grades".into(), class.grades.clone().into());
                record.insert("subjects".into(), class.subjects.clone().into());
                record.insert(
                    "course".into(),
                    self.reference("courses", "course", &class.course_sourced_id),
                );
                if let Some(school) = self.school_id() {
                    record.insert("school".into(), self.org_reference(school));
                }
                let terms: Vec<Value> = class
                    .term_sourced_ids
                    .iter()
                    .map(|term| self.reference("academicSessions", "academicSession", term))
                    .collect();
                record.insert("terms".into(), terms.into());
                Value::Object(record)
            })
            .collect()
    }

    /// Whether a user is released at all: pupils, teachers and staff, not guardians only.
    fn is_released(user: &RosterUser) -> bool {
        user.roles.iter().any(|role| *role != UserRole::Guardian)
    }

    fn user(&self, user: &RosterUser) -> Value {
        let mut record = self.base(&self.user_id(&user.sourced_id));
        record.insert("enabledUser".into(), user.enabled.into());
        if self.policy.names {
            record.insert("username".into(), user.username.clone().into());
            record.insert("givenName".into(), user.given_name.clone().into());
            record.insert("familyName".into(), user.family_name.clone().into());
            if let Some(preferred) = &user.preferred_given_name {
                record.insert("preferredFirstName".into(), preferred.clone().into());
            }
        }
        if self.policy.email
            && let Some(email) = &user.email
        {
            record.insert("email".into(), email.clone().into());
        }
        let roles: Vec<Value> = user
            .role_assignments
            .values()
            // A role at another school (a teacher who also teaches there) is that school's
            // business, not this one's to release.
            .filter(|assignment| {
                assignment.role != UserRole::Guardian
                    && self.released_orgs.contains(&assignment.org_sourced_id)
            })
            .map(|assignment| {
                let mut role = Map::new();
                role.insert(
                    "roleType".into(),
                    serde_json::to_value(assignment.role_type).unwrap_or(Value::Null),
                );
                role.insert("role".into(), assignment.oneroster_role.clone().into());
                role.insert("org".into(), self.org_reference(&assignment.org_sourced_id));
                if let Some(begin) = assignment.begin_date {
                    role.insert("beginDate".into(), begin.to_string().into());
                }
                if let Some(end) = assignment.end_date {
                    role.insert("endDate".into(), end.to_string().into());
                }
                Value::Object(role)
            })
            .collect();
        record.insert("roles".into(), roles.into());
        if let Some(school) = self.school_id() {
            record.insert("primaryOrg".into(), self.org_reference(school));
        }
        record.insert("grades".into(), user.grades.clone().into());
        Value::Object(record)
    }

    /// The released users (see the module documentation).
    pub fn users(&self) -> Vec<Value> {
        self.roster
            .users
            .users
            .values()
            .filter(|user| Self::is_released(user))
            .map(|user| self.user(user))
            .collect()
    }

    /// The released users with `role` (pupils for `/students`, teachers for `/teachers`).
    pub fn users_with(&self, role: UserRole) -> Vec<Value> {
        self.roster
            .users
            .users
            .values()
            .filter(|user| user.has_role(role))
            .map(|user| self.user(user))
            .collect()
    }

    /// The released members of `class` in `role`; `None` when there is no such class.
    pub fn class_members(&self, class: &str, role: EnrollmentRole) -> Option<Vec<Value>> {
        let document = self.roster.classes.get(class)?;
        let members: BTreeSet<&String> = document
            .enrollments
            .values()
            .filter(|enrollment| enrollment.role == role)
            .map(|enrollment| &enrollment.user_sourced_id)
            .collect();
        Some(
            members
                .into_iter()
                .filter_map(|id| self.roster.users.user(id))
                .filter(|user| Self::is_released(user))
                .map(|user| self.user(user))
                .collect(),
        )
    }

    /// The enrollments of released users in the school's classes.
    pub fn enrollments(&self) -> Vec<Value> {
        let mut records = Vec::new();
        for document in self.roster.classes.values() {
            for enrollment in document.enrollments.values() {
                let released = self
                    .roster
                    .users
                    .user(&enrollment.user_sourced_id)
                    .is_some_and(Self::is_released);
                if !released {
                    continue;
                }
                let mut record = self.base(&self.enrollment_id(&enrollment.sourced_id));
                record.insert(
                    "user".into(),
                    self.reference("users", "user", &self.user_id(&enrollment.user_sourced_id)),
                );
                record.insert(
                    "class".into(),
                    self.reference("classes", "class", &document.class.sourced_id),
                );
                if let Some(school) = self.school_id() {
                    record.insert("school".into(), self.org_reference(school));
                }
                let role = match enrollment.role {
                    EnrollmentRole::Pupil => "student",
                    EnrollmentRole::Teacher => "teacher",
                    // The import maps OneRoster's proctor and administrator to an assistant;
                    // proctor is the binding's word for one who follows a class without
                    // teaching it.
                    EnrollmentRole::Assistant => "proctor",
                };
                record.insert("role".into(), role.into());
                record.insert("primary".into(), enrollment.primary.into());
                if let Some(begin) = enrollment.begin_date {
                    record.insert("beginDate".into(), begin.to_string().into());
                }
                if let Some(end) = enrollment.end_date {
                    record.insert("endDate".into(), end.to_string().into());
                }
                records.push(Value::Object(record));
            }
        }
        records
    }
}
