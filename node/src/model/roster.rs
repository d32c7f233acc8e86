//! The school's roster in OneRoster 1.2 shape: the organisations, academic sessions (school years
//! and terms), courses, classes (teaching groups), users and enrollments.
//!
//! The roster is split across documents so that each stays small and bounded, and so that the
//! documents read most often (one class with its members) are cheap to load:
//!
//! - `school:S/roster-org`: the orgs, sessions, courses and the directory of classes;
//! - `school:S/roster-users`: every user with their roles and guardian links;
//! - `school:S/class-<key>`: one class record and its enrollments, `<key>` derived from the class's
//!   sourcedId by [`sourced_id_key`].
//!
//! The roster is written only by the roster import (`crate::roster_import`), which validates a
//! whole OneRoster package against the current documents and then replaces their state; the
//! operations here are the queries the API needs and the validation the import shares.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, SchoolCode};

use super::common::{
    CalendarDate, MAX_EMAIL_CHARS, MAX_LABEL_CHARS, MAX_PERSON_NAME_CHARS, MAX_TITLE_CHARS,
    MAX_USERNAME_CHARS, ModelError, optional_single_line, school_doc, single_line, sourced_id,
    sourced_id_key,
};
use super::{UserId, UserRole};

/// Users in `roster-users`. A large Finnish comprehensive school has about 1,000 pupils; with two
/// guardians each and the staff this stays under 4,000, so 10,000 leaves room while keeping the
/// document (about 300 bytes a user) near 3 MB, within the store's document bound.
pub const MAX_ROSTER_USERS: usize = 10_000;
/// Classes (teaching groups) listed in `roster-org`.
pub const MAX_CLASSES_PER_SCHOOL: usize = 2_000;
/// Courses in `roster-org`.
pub const MAX_COURSES_PER_SCHOOL: usize = 2_000;
/// Academic sessions (school years, terms, periods) in `roster-org`.
pub const MAX_ACADEMIC_SESSIONS: usize = 200;
/// Orgs in `roster-org`: the school and its ancestors (municipality, region), as the package names
/// them.
pub const MAX_ORGS: usize = 50;
/// Enrollments in one class document, pupils and staff together.
pub const MAX_ENROLLMENTS_PER_CLASS: usize = 1_000;
/// Items in one list field: grades, subjects, terms of a class, a user's roles and guardian links.
pub const MAX_LIST_ITEMS: usize = 50;

/// `school:S/roster-org`.
pub fn roster_org_doc(school: &SchoolCode) -> DocId {
    school_doc(school, "roster-org")
}

/// `school:S/roster-users`.
pub fn roster_users_doc(school: &SchoolCode) -> DocId {
    school_doc(school, "roster-users")
}

/// `school:S/class-<key>`, the class record and enrollments of one class.
pub fn class_doc(school: &SchoolCode, class_sourced_id: &str) -> DocId {
    school_doc(
        school,
        &format!("class-{}", sourced_id_key(class_sourced_id)),
    )
}

/// OneRoster's org types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub enum OrgType {
    #[autosurgeon(rename = "department")]
    Department,
    #[autosurgeon(rename = "school")]
    School,
    #[autosurgeon(rename = "district")]
    District,
    #[autosurgeon(rename = "local")]
    Local,
    #[autosurgeon(rename = "state")]
    State,
    #[autosurgeon(rename = "national")]
    National,
}

impl OrgType {
    /// The OneRoster vocabulary word, as in the CSV files.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        Ok(match text {
            "department" => OrgType::Department,
            "school" => OrgType::School,
            "district" => OrgType::District,
            "local" => OrgType::Local,
            "state" => OrgType::State,
            "national" => OrgType::National,
            _ => {
                return Err(ModelError::Invalid {
                    field: "type",
                    reason: format!(
                        "{text:?} is not an org type (department, school, district, local, state, national)"
                    ),
                });
            }
        })
    }
}

/// An organisation: the school itself or one of its ancestors (the municipality as a `district`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    pub sourced_id: String,
    pub name: String,
    pub org_type: OrgType,
    /// For the school, its five-digit school code; for a municipality, its three-digit code.
    pub identifier: Option<String>,
    pub parent_sourced_id: Option<String>,
}

impl Org {
    pub fn validate(&self) -> Result<(), ModelError> {
        sourced_id("sourcedId", &self.sourced_id)?;
        single_line("name", &self.name, MAX_TITLE_CHARS)?;
        optional_single_line("identifier", self.identifier.as_deref(), MAX_LABEL_CHARS)?;
        validate_optional_reference("parentSourcedId", self.parent_sourced_id.as_deref())?;
        if self.parent_sourced_id.as_deref() == Some(self.sourced_id.as_str()) {
            return Err(ModelError::Invalid {
                field: "parentSourcedId",
                reason: "an org cannot be its own parent".to_owned(),
            });
        }
        Ok(())
    }
}

/// OneRoster's academic session types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub enum SessionType {
    #[autosurgeon(rename = "gradingPeriod")]
    GradingPeriod,
    #[autosurgeon(rename = "semester")]
    Semester,
    #[autosurgeon(rename = "schoolYear")]
    SchoolYear,
    #[autosurgeon(rename = "term")]
    Term,
}

impl SessionType {
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        Ok(match text {
            "gradingPeriod" => SessionType::GradingPeriod,
            "semester" => SessionType::Semester,
            "schoolYear" => SessionType::SchoolYear,
            "term" => SessionType::Term,
            _ => {
                return Err(ModelError::Invalid {
                    field: "type",
                    reason: format!(
                        "{text:?} is not a session type (gradingPeriod, semester, schoolYear, term)"
                    ),
                });
            }
        })
    }
}

/// A school year, term or period. Timetables and attendance are kept per class and term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct AcademicSession {
    pub sourced_id: String,
    pub title: String,
    pub session_type: SessionType,
    pub start_date: CalendarDate,
    pub end_date: CalendarDate,
    pub parent_sourced_id: Option<String>,
    /// The school year as OneRoster writes it: the calendar year in which it ends ("2026").
    pub school_year: String,
}

impl AcademicSession {
    pub fn validate(&self) -> Result<(), ModelError> {
        sourced_id("sourcedId", &self.sourced_id)?;
        single_line("title", &self.title, MAX_TITLE_CHARS)?;
        if self.end_date < self.start_date {
            return Err(ModelError::Invalid {
                field: "endDate",
                reason: format!(
                    "the session ends ({}) before it starts ({})",
                    self.end_date, self.start_date
                ),
            });
        }
        validate_optional_reference("parentSourcedId", self.parent_sourced_id.as_deref())?;
        if self.parent_sourced_id.as_deref() == Some(self.sourced_id.as_str()) {
            return Err(ModelError::Invalid {
                field: "parentSourcedId",
                reason: "a session cannot be its own parent".to_owned(),
            });
        }
        if self.school_year.len() != 4 || !self.school_year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ModelError::Invalid {
                field: "schoolYear",
                reason: format!("expected a four-digit year, got {:?}", self.school_year),
            });
        }
        Ok(())
    }

    /// Whether `date` falls within the session, both ends included.
    pub fn contains(&self, date: CalendarDate) -> bool {
        self.start_date <= date && date <= self.end_date
    }
}

/// A course: what is taught (Mathematics 7), of which classes are the teaching groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Course {
    pub sourced_id: String,
    pub title: String,
    pub course_code: Option<String>,
    pub grades: Vec<String>,
    pub subjects: Vec<String>,
    pub school_year_sourced_id: Option<String>,
    pub org_sourced_id: String,
}

impl Course {
    pub fn validate(&self) -> Result<(), ModelError> {
        sourced_id("sourcedId", &self.sourced_id)?;
        single_line("title", &self.title, MAX_TITLE_CHARS)?;
        optional_single_line("courseCode", self.course_code.as_deref(), MAX_LABEL_CHARS)?;
        validate_labels("grades", &self.grades)?;
        validate_labels("subjects", &self.subjects)?;
        validate_optional_reference(
            "schoolYearSourcedId",
            self.school_year_sourced_id.as_deref(),
        )?;
        sourced_id("orgSourcedId", &self.org_sourced_id)?;
        Ok(())
    }
}

/// OneRoster's class types: a homeroom (a Finnish `luokka`, the pupils' home class) or a
/// scheduled teaching group.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile,
)]
#[serde(rename_all = "camelCase")]
pub enum ClassType {
    #[autosurgeon(rename = "homeroom")]
    Homeroom,
    #[default]
    #[autosurgeon(rename = "scheduled")]
    Scheduled,
}

impl ClassType {
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        match text {
            "homeroom" => Ok(ClassType::Homeroom),
            "scheduled" => Ok(ClassType::Scheduled),
            _ => Err(ModelError::Invalid {
                field: "classType",
                reason: format!("{text:?} is not a class type (homeroom, scheduled)"),
            }),
        }
    }
}

/// A class: one teaching group of a course in one or more terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct RosterClass {
    pub sourced_id: String,
    pub title: String,
    pub course_sourced_id: String,
    pub class_code: Option<String>,
    pub class_type: ClassType,
    pub grades: Vec<String>,
    pub term_sourced_ids: Vec<String>,
    pub subjects: Vec<String>,
    pub location: Option<String>,
}

impl RosterClass {
    pub fn validate(&self) -> Result<(), ModelError> {
        sourced_id("sourcedId", &self.sourced_id)?;
        single_line("title", &self.title, MAX_TITLE_CHARS)?;
        sourced_id("courseSourcedId", &self.course_sourced_id)?;
        optional_single_line("classCode", self.class_code.as_deref(), MAX_LABEL_CHARS)?;
        validate_labels("grades", &self.grades)?;
        validate_labels("subjects", &self.subjects)?;
        optional_single_line("location", self.location.as_deref(), MAX_LABEL_CHARS)?;
        if self.term_sourced_ids.is_empty() {
            return Err(ModelError::Empty {
                field: "termSourcedIds",
            });
        }
        if self.term_sourced_ids.len() > MAX_LIST_ITEMS {
            return Err(ModelError::LimitReached {
                what: "terms of a class",
                max: MAX_LIST_ITEMS,
            });
        }
        for term in &self.term_sourced_ids {
            sourced_id("termSourcedIds", term)?;
        }
        Ok(())
    }

    /// The document key of this class, used in the names of its per-class documents.
    pub fn key(&self) -> String {
        sourced_id_key(&self.sourced_id)
    }
}

/// `school:S/roster-org`: the school's orgs, sessions, courses, and the directory of its classes
/// (each class's full record is also in its own class document, with the enrollments).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct RosterOrgDocument {
    /// The sourcedId of the org that is this school (type `school`, identifier the school code).
    /// Empty until the first import.
    pub school_sourced_id: String,
    pub orgs: BTreeMap<String, Org>,
    pub sessions: BTreeMap<String, AcademicSession>,
    pub courses: BTreeMap<String, Course>,
    pub classes: BTreeMap<String, RosterClass>,
}

impl RosterOrgDocument {
    /// The school's own org, once imported.
    pub fn school(&self) -> Option<&Org> {
        self.orgs.get(&self.school_sourced_id)
    }

    /// The terms (and other sessions) a class is taught in, in start order.
    pub fn terms_of(&self, class: &RosterClass) -> Vec<&AcademicSession> {
        let mut terms: Vec<&AcademicSession> = class
            .term_sourced_ids
            .iter()
            .filter_map(|term| self.sessions.get(term))
            .collect();
        terms.sort_by_key(|session| (session.start_date, session.sourced_id.clone()));
        terms
    }

    /// The sessions that contain `date`, innermost (shortest) first.
    pub fn sessions_on(&self, date: CalendarDate) -> Vec<&AcademicSession> {
        let mut sessions: Vec<&AcademicSession> = self
            .sessions
            .values()
            .filter(|session| session.contains(date))
            .collect();
        sessions.sort_by_key(|session| session.start_date.days_until(session.end_date));
        sessions
    }
}

/// Whether a role assignment is the user's main role at the org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub enum RoleType {
    #[autosurgeon(rename = "primary")]
    Primary,
    #[autosurgeon(rename = "secondary")]
    Secondary,
}

/// One row of OneRoster 1.2's `roles.csv`: a user's role at an org. Kept per row, with its own
/// sourcedId, so that a later delta package can delete or change exactly this row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    pub sourced_id: String,
    /// The platform's role, mapped from `oneroster_role`.
    pub role: UserRole,
    /// The role word as the package gave it (`student`, `siteAdministrator`…).
    pub oneroster_role: String,
    pub role_type: RoleType,
    pub org_sourced_id: String,
    pub begin_date: Option<CalendarDate>,
    pub end_date: Option<CalendarDate>,
}

/// A user: pupil, teacher, guardian, staff or administrator, or several of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct RosterUser {
    pub sourced_id: UserId,
    /// The login name, unique in the school regardless of letter case.
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    pub preferred_given_name: Option<String>,
    pub email: Option<String>,
    pub identifier: Option<String>,
    /// A disabled user keeps their data but may not sign in.
    pub enabled: bool,
    /// The user's roles at this school, sorted and without repeats: derived from
    /// `role_assignments` whenever they change.
    pub roles: Vec<UserRole>,
    /// The rows of `roles.csv` for this user, by their sourcedId.
    pub role_assignments: BTreeMap<String, RoleAssignment>,
    pub grades: Vec<String>,
    /// OneRoster `agentSourcedIds` as the package gave them: for a pupil their guardians, for a
    /// guardian their children. Either side may list the link; queries look at both.
    pub agent_sourced_ids: Vec<UserId>,
}

impl RosterUser {
    pub fn validate(&self) -> Result<(), ModelError> {
        sourced_id("sourcedId", &self.sourced_id)?;
        validate_username(&self.username)?;
        single_line("givenName", &self.given_name, MAX_PERSON_NAME_CHARS)?;
        single_line("familyName", &self.family_name, MAX_PERSON_NAME_CHARS)?;
        optional_single_line(
            "preferredGivenName",
            self.preferred_given_name.as_deref(),
            MAX_PERSON_NAME_CHARS,
        )?;
        if let Some(email) = &self.email {
            validate_email(email)?;
        }
        optional_single_line("identifier", self.identifier.as_deref(), MAX_LABEL_CHARS)?;
        validate_labels("grades", &self.grades)?;
        if self.agent_sourced_ids.len() > MAX_LIST_ITEMS {
            return Err(ModelError::LimitReached {
                what: "agents of a user",
                max: MAX_LIST_ITEMS,
            });
        }
        for agent in &self.agent_sourced_ids {
            sourced_id("agentSourcedIds", agent)?;
            if *agent == self.sourced_id {
                return Err(ModelError::Invalid {
                    field: "agentSourcedIds",
                    reason: "a user cannot be their own agent".to_owned(),
                });
            }
        }
        if self.role_assignments.len() > MAX_LIST_ITEMS {
            return Err(ModelError::LimitReached {
                what: "roles of a user",
                max: MAX_LIST_ITEMS,
            });
        }
        Ok(())
    }

    pub fn has_role(&self, role: UserRole) -> bool {
        self.roles.contains(&role)
    }

    /// Recomputes `roles` from `role_assignments`.
    pub fn derive_roles(&mut self) {
        let mut roles: Vec<UserRole> = self
            .role_assignments
            .values()
            .map(|assignment| assignment.role)
            .collect();
        roles.sort();
        roles.dedup();
        self.roles = roles;
    }

    /// The name to show: the preferred given name when there is one.
    pub fn display_name(&self) -> String {
        let given = self
            .preferred_given_name
            .as_deref()
            .unwrap_or(&self.given_name);
        format!("{given} {}", self.family_name)
    }
}

/// A login name: one line, no whitespace, at most [`MAX_USERNAME_CHARS`].
pub fn validate_username(username: &str) -> Result<(), ModelError> {
    let checked = single_line("username", username, MAX_USERNAME_CHARS)?;
    if checked != username || username.chars().any(char::is_whitespace) {
        return Err(ModelError::Invalid {
            field: "username",
            reason: "a username contains no spaces".to_owned(),
        });
    }
    Ok(())
}

/// An e-mail address, checked for shape only (`local@domain`, no spaces); whether it reaches anyone
/// is the source system's concern.
pub fn validate_email(email: &str) -> Result<(), ModelError> {
    let checked = single_line("email", email, MAX_EMAIL_CHARS)?;
    let shape_ok = checked == email
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if shape_ok {
        Ok(())
    } else {
        Err(ModelError::Invalid {
            field: "email",
            reason: format!("{email:?} is not an e-mail address"),
        })
    }
}

/// `school:S/roster-users`: every user of the school, by sourcedId.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct RosterUsersDocument {
    pub users: BTreeMap<UserId, RosterUser>,
}

impl RosterUsersDocument {
    pub fn user(&self, user: &str) -> Option<&RosterUser> {
        self.users.get(user)
    }

    /// The user who signs in as `username`, compared without regard to letter case.
    pub fn by_username(&self, username: &str) -> Option<&RosterUser> {
        self.users
            .values()
            .find(|user| user.username.eq_ignore_ascii_case(username))
    }

    /// The guardians of `pupil`: users with the guardian role linked to the pupil from either side.
    pub fn guardians_of(&self, pupil: &str) -> Vec<&RosterUser> {
        self.linked(pupil, UserRole::Guardian)
    }

    /// The children of `guardian`: pupils linked to the guardian from either side.
    pub fn children_of(&self, guardian: &str) -> Vec<&RosterUser> {
        self.linked(guardian, UserRole::Pupil)
    }

    /// Whether `guardian` is a guardian of `pupil`.
    pub fn is_guardian_of(&self, guardian: &str, pupil: &str) -> bool {
        self.guardians_of(pupil)
            .iter()
            .any(|user| user.sourced_id == guardian)
    }

    fn linked(&self, user: &str, role: UserRole) -> Vec<&RosterUser> {
        let listed_by_user: &[UserId] = self
            .users
            .get(user)
            .map_or(&[], |found| found.agent_sourced_ids.as_slice());
        self.users
            .values()
            .filter(|other| other.has_role(role) && other.sourced_id != user)
            .filter(|other| {
                listed_by_user.contains(&other.sourced_id)
                    || other.agent_sourced_ids.iter().any(|agent| agent == user)
            })
            .collect()
    }
}

/// A member's role in a class. OneRoster's `student` and `teacher` map to pupil and teacher;
/// `proctor` and `administrator` (an assistant, a special-needs aide, a coordinator following the
/// group) map to assistant, who sees the class but does not own its teaching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "lowercase")]
pub enum EnrollmentRole {
    #[autosurgeon(rename = "pupil")]
    Pupil,
    #[autosurgeon(rename = "teacher")]
    Teacher,
    #[autosurgeon(rename = "assistant")]
    Assistant,
}

/// A user's membership of a class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    pub sourced_id: String,
    pub user_sourced_id: UserId,
    pub role: EnrollmentRole,
    /// For teachers: the class's responsible teacher.
    pub primary: bool,
    pub begin_date: Option<CalendarDate>,
    pub end_date: Option<CalendarDate>,
}

impl Enrollment {
    pub fn validate(&self) -> Result<(), ModelError> {
        sourced_id("sourcedId", &self.sourced_id)?;
        sourced_id("userSourcedId", &self.user_sourced_id)?;
        if let (Some(begin), Some(end)) = (self.begin_date, self.end_date)
            && end < begin
        {
            return Err(ModelError::Invalid {
                field: "endDate",
                reason: format!("the enrollment ends ({end}) before it begins ({begin})"),
            });
        }
        Ok(())
    }

    /// Whether the enrollment holds on `date`; open ends hold forever.
    pub fn is_active_on(&self, date: CalendarDate) -> bool {
        self.begin_date.is_none_or(|begin| begin <= date)
            && self.end_date.is_none_or(|end| date <= end)
    }
}

/// `school:S/class-<key>`: one class and its members. A class that a later import removes keeps its
/// document, marked `removed` and without enrollments, because timetables, attendance and materials
/// of past terms still name it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct ClassDocument {
    pub class: RosterClass,
    pub removed: bool,
    /// By the enrollment's sourcedId.
    pub enrollments: BTreeMap<String, Enrollment>,
}

impl ClassDocument {
    /// The pupils of the class, each once, in id order.
    pub fn pupils(&self) -> Vec<&UserId> {
        self.members_with(EnrollmentRole::Pupil)
    }

    /// The teachers of the class, each once, in id order.
    pub fn teachers(&self) -> Vec<&UserId> {
        self.members_with(EnrollmentRole::Teacher)
    }

    pub fn is_pupil(&self, user: &str) -> bool {
        self.has_member(user, EnrollmentRole::Pupil)
    }

    pub fn is_teacher(&self, user: &str) -> bool {
        self.has_member(user, EnrollmentRole::Teacher)
    }

    /// Whether `user` is enrolled in any role.
    pub fn is_member(&self, user: &str) -> bool {
        self.enrollments
            .values()
            .any(|enrollment| enrollment.user_sourced_id == user)
    }

    fn has_member(&self, user: &str, role: EnrollmentRole) -> bool {
        self.enrollments
            .values()
            .any(|enrollment| enrollment.user_sourced_id == user && enrollment.role == role)
    }

    fn members_with(&self, role: EnrollmentRole) -> Vec<&UserId> {
        let mut members: Vec<&UserId> = self
            .enrollments
            .values()
            .filter(|enrollment| enrollment.role == role)
            .map(|enrollment| &enrollment.user_sourced_id)
            .collect();
        members.sort();
        members.dedup();
        members
    }
}

/// A list of short labels (grades, subjects): bounded in count and length.
fn validate_labels(field: &'static str, labels: &[String]) -> Result<(), ModelError> {
    if labels.len() > MAX_LIST_ITEMS {
        return Err(ModelError::LimitReached {
            what: field,
            max: MAX_LIST_ITEMS,
        });
    }
    for label in labels {
        single_line(field, label, MAX_LABEL_CHARS)?;
    }
    Ok(())
}

fn validate_optional_reference(field: &'static str, value: Option<&str>) -> Result<(), ModelError> {
    match value {
        Some(reference) => sourced_id(field, reference).map(drop),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::test_support::*;
    use super::*;

    fn user(id: &str, roles: &[UserRole], agents: &[&str]) -> RosterUser {
        let mut user = RosterUser {
            sourced_id: id.to_owned(),
            username: id.to_lowercase(),
            given_name: "Aino".to_owned(),
            family_name: "Mäkinen".to_owned(),
            preferred_given_name: None,
            email: Some(format!("{}@koulu.example.fi", id.to_lowercase())),
            identifier: None,
            enabled: true,
            roles: Vec::new(),
            role_assignments: roles
                .iter()
                .enumerate()
                .map(|(index, role)| {
                    let sourced_id = format!("{id}-role-{index}");
                    let assignment = RoleAssignment {
                        sourced_id: sourced_id.clone(),
                        role: *role,
                        oneroster_role: role.as_str().to_owned(),
                        role_type: RoleType::Primary,
                        org_sourced_id: "ORG-30076".to_owned(),
                        begin_date: None,
                        end_date: None,
                    };
                    (sourced_id, assignment)
                })
                .collect(),
            grades: vec!["07".to_owned()],
            agent_sourced_ids: agents.iter().map(|agent| (*agent).to_owned()).collect(),
        };
        user.derive_roles();
        user
    }

    fn users() -> RosterUsersDocument {
        RosterUsersDocument {
            users: [
                user("P1", &[UserRole::Pupil], &["G1"]),
                user("P2", &[UserRole::Pupil], &[]),
                user("G1", &[UserRole::Guardian], &[]),
                user("G2", &[UserRole::Guardian, UserRole::Teacher], &["P2"]),
            ]
            .into_iter()
            .map(|user| (user.sourced_id.clone(), user))
            .collect(),
        }
    }

    fn class_document() -> ClassDocument {
        let enrollment = |id: &str, user: &str, role| Enrollment {
            sourced_id: id.to_owned(),
            user_sourced_id: user.to_owned(),
            role,
            primary: role == EnrollmentRole::Teacher,
            begin_date: Some(date("2025-08-11")),
            end_date: Some(date("2026-05-30")),
        };
        ClassDocument {
            class: RosterClass {
                sourced_id: "CLS-7A".to_owned(),
                title: "7A matematiikka".to_owned(),
                course_sourced_id: "CRS-MA7".to_owned(),
                class_code: Some("MA7.1".to_owned()),
                class_type: ClassType::Scheduled,
                grades: vec!["07".to_owned()],
                term_sourced_ids: vec!["TERM-1".to_owned(), "TERM-2".to_owned()],
                subjects: vec!["Matematiikka".to_owned()],
                location: None,
            },
            removed: false,
            enrollments: [
                enrollment("E1", "T1", EnrollmentRole::Teacher),
                enrollment("E2", "P1", EnrollmentRole::Pupil),
                enrollment("E3", "P2", EnrollmentRole::Pupil),
            ]
            .into_iter()
            .map(|enrollment| (enrollment.sourced_id.clone(), enrollment))
            .collect(),
        }
    }

    #[test]
    fn document_ids_use_the_sourced_id_key_and_stay_valid() {
        let school = school();
        assert_eq!(
            roster_org_doc(&school).to_string(),
            "school:30076/roster-org"
        );
        assert_eq!(
            roster_users_doc(&school).to_string(),
            "school:30076/roster-users"
        );
        let doc = class_doc(&school, "{7A Matematiikka/2025}");
        assert_eq!(
            doc.to_string(),
            format!(
                "school:30076/class-{}",
                sourced_id_key("{7A Matematiikka/2025}")
            )
        );
    }

    #[test]
    fn guardian_links_count_from_either_side() {
        let users = users();
        let names = |list: Vec<&RosterUser>| -> Vec<String> {
            list.into_iter()
                .map(|user| user.sourced_id.clone())
                .collect()
        };
        assert_eq!(names(users.guardians_of("P1")), ["G1"]);
        assert_eq!(names(users.guardians_of("P2")), ["G2"]);
        assert_eq!(names(users.children_of("G1")), ["P1"]);
        assert_eq!(names(users.children_of("G2")), ["P2"]);
        assert!(users.is_guardian_of("G2", "P2"));
        assert!(!users.is_guardian_of("G1", "P2"));
        assert_eq!(
            users.by_username("P1").map(|user| user.sourced_id.as_str()),
            Some("P1")
        );
        assert_eq!(
            users.users["G2"].roles,
            [UserRole::Teacher, UserRole::Guardian]
        );
    }

    #[test]
    fn records_are_validated_field_by_field() {
        let mut pupil = user("P1", &[UserRole::Pupil], &[]);
        assert_eq!(pupil.validate(), Ok(()));
        pupil.email = Some("not an address".to_owned());
        assert!(matches!(
            pupil.validate(),
            Err(ModelError::Invalid { field: "email", .. })
        ));
        pupil.email = None;
        pupil.username = "aino mäkinen".to_owned();
        assert!(matches!(
            pupil.validate(),
            Err(ModelError::Invalid {
                field: "username",
                ..
            })
        ));
        pupil.username = "aino".to_owned();
        pupil.agent_sourced_ids = vec!["P1".to_owned()];
        assert!(pupil.validate().is_err());

        let mut class = class_document().class;
        assert_eq!(class.validate(), Ok(()));
        class.term_sourced_ids.clear();
        assert_eq!(
            class.validate(),
            Err(ModelError::Empty {
                field: "termSourcedIds"
            })
        );

        let session = AcademicSession {
            sourced_id: "TERM-1".to_owned(),
            title: "Syksy".to_owned(),
            session_type: SessionType::Term,
            start_date: date("2025-12-20"),
            end_date: date("2025-08-11"),
            parent_sourced_id: None,
            school_year: "2026".to_owned(),
        };
        assert!(matches!(
            session.validate(),
            Err(ModelError::Invalid {
                field: "endDate",
                ..
            })
        ));
    }

    #[test]
    fn class_members_by_role_and_date() {
        let class = class_document();
        assert_eq!(class.pupils(), ["P1", "P2"]);
        assert_eq!(class.teachers(), ["T1"]);
        assert!(class.is_pupil("P1") && !class.is_teacher("P1"));
        let enrollment = &class.enrollments["E2"];
        assert!(enrollment.is_active_on(date("2025-09-01")));
        assert!(!enrollment.is_active_on(date("2026-06-01")));
    }

    #[test]
    fn roster_documents_round_trip_through_automerge() {
        assert_round_trip(&users());
        assert_round_trip(&class_document());
        let class = class_document().class;
        assert_round_trip(&RosterOrgDocument {
            school_sourced_id: "ORG-30076".to_owned(),
            orgs: [(
                "ORG-30076".to_owned(),
                Org {
                    sourced_id: "ORG-30076".to_owned(),
                    name: "Mäntymäen koulu".to_owned(),
                    org_type: OrgType::School,
                    identifier: Some("30076".to_owned()),
                    parent_sourced_id: None,
                },
            )]
            .into_iter()
            .collect(),
            sessions: BTreeMap::new(),
            courses: BTreeMap::new(),
            classes: [(class.sourced_id.clone(), class)].into_iter().collect(),
        });
    }

    #[test]
    fn concurrent_enrollment_changes_to_different_members_are_both_kept() {
        let base = class_document();
        let merged = merge_concurrent(
            &base,
            |class| {
                class.enrollments.remove("E3");
            },
            |class| {
                let mut added = class.enrollments["E2"].clone();
                added.sourced_id = "E4".to_owned();
                added.user_sourced_id = "P4".to_owned();
                class.enrollments.insert("E4".to_owned(), added);
            },
        );
        let ids: Vec<&str> = merged.enrollments.keys().map(String::as_str).collect();
        assert_eq!(ids, ["E1", "E2", "E4"]);
    }
}
