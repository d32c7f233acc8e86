//! Rows: each file's rows become upserts and deletions of typed records ([`Changes`]).
//!
//! Everything one row can be judged on alone is checked here: the sourcedId, the status against
//! the file's mode, the dates, the enumerations, and each record's own validation from
//! `crate::model::roster`. What needs other rows (references, usernames, bounds) is checked once
//! the rows are merged onto the current roster, in [`super::validate`].

use std::collections::{BTreeMap, BTreeSet};

use crate::model::UserRole;
use crate::model::common::{CalendarDate, MAX_SOURCED_ID_CHARS, excerpt};
use crate::model::roster::{
    AcademicSession, ClassType, Course, Enrollment, EnrollmentRole, Org, OrgType, RoleAssignment,
    RoleType, RosterClass, RosterUser, SessionType,
};

use super::format::FileMode;
use super::format::RosterFile;
use super::read::{CsvRow, CsvTable, Package};
use super::report::Report;

/// What one row asks for.
#[derive(Debug)]
pub(super) enum Change<T> {
    Upsert(T),
    Delete,
}

/// One file's rows as changes, plus the sourcedIds of rows that were bad (so references to them
/// are not reported a second time).
#[derive(Debug)]
pub(super) struct Changes<T> {
    pub(super) mode: FileMode,
    pub(super) rows: Vec<(u64, String, Change<T>)>,
    pub(super) rejected: BTreeSet<String>,
}

/// Parses every row of `file` with `parse`, checking what all files share: the sourcedId, the
/// status against the mode, dateLastModified, and sourcedIds repeated within the file.
pub(super) fn parse_rows<T>(
    package: &Package,
    file: RosterFile,
    report: &mut Report,
    parse: impl Fn(&CsvTable, &CsvRow) -> Result<T, String>,
) -> Changes<T> {
    let mode = package.mode(file);
    let mut changes = Changes {
        mode,
        rows: Vec::new(),
        rejected: BTreeSet::new(),
    };
    let Some(table) = package.tables.get(&file) else {
        return changes;
    };
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for row in &table.rows {
        let line = row.line;
        let id = table.get(row, "sourcedId");
        if let Err(message) = check_sourced_id("sourcedId", id) {
            report.add(table.file, Some(line), message);
            continue;
        }
        if let Some(first_line) = seen.insert(id.to_owned(), line) {
            report.add(
                table.file,
                Some(line),
                format!("sourcedId {id:?} appears again (first on line {first_line})"),
            );
            changes.rejected.insert(id.to_owned());
            continue;
        }
        let change = parse_status(table.get(row, "status"), mode).and_then(|delete| {
            check_date_last_modified(table.get(row, "dateLastModified"))?;
            if delete {
                Ok(Change::Delete)
            } else {
                parse(table, row).map(Change::Upsert)
            }
        });
        match change {
            Ok(change) => changes.rows.push((line, id.to_owned(), change)),
            Err(message) => {
                report.add(table.file, Some(line), message);
                changes.rejected.insert(id.to_owned());
            }
        }
    }
    changes
}

/// Whether the row deletes (`tobedeleted`), by the rules of the file's mode: a bulk file lists what
/// exists (status empty or `active`), a delta file says for each row.
fn parse_status(status: &str, mode: FileMode) -> Result<bool, String> {
    match (status.to_ascii_lowercase().as_str(), mode) {
        ("" | "active", FileMode::Bulk) | ("active", FileMode::Delta) => Ok(false),
        ("tobedeleted", FileMode::Delta) => Ok(true),
        ("tobedeleted", _) => Err(
            "status tobedeleted belongs in a delta file; a bulk file lists only what exists"
                .to_owned(),
        ),
        ("", FileMode::Delta) => {
            Err("status is required in a delta file (active or tobedeleted)".to_owned())
        }
        _ => Err(format!(
            "status must be active or tobedeleted, got {:?}",
            excerpt(status)
        )),
    }
}

/// `dateLastModified` is informational, but when given it must be an ISO 8601 date or date-time.
fn check_date_last_modified(value: &str) -> Result<(), String> {
    if value.is_empty()
        || value.parse::<CalendarDate>().is_ok()
        || time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
            .is_ok()
    {
        Ok(())
    } else {
        Err(format!(
            "dateLastModified {:?} is not an ISO 8601 date-time",
            excerpt(value)
        ))
    }
}

fn check_sourced_id(column: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{column} is empty"));
    }
    if value.chars().count() > MAX_SOURCED_ID_CHARS {
        return Err(format!(
            "{column} is longer than {MAX_SOURCED_ID_CHARS} characters"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{column} contains a control character"));
    }
    Ok(())
}

fn required_reference(table: &CsvTable, row: &CsvRow, column: &str) -> Result<String, String> {
    let value = table.get(row, column);
    check_sourced_id(column, value)?;
    Ok(value.to_owned())
}

fn optional_reference(
    table: &CsvTable,
    row: &CsvRow,
    column: &str,
) -> Result<Option<String>, String> {
    match table.get(row, column) {
        "" => Ok(None),
        value => check_sourced_id(column, value).map(|()| Some(value.to_owned())),
    }
}

fn optional_text(table: &CsvTable, row: &CsvRow, column: &str) -> Option<String> {
    match table.get(row, column) {
        "" => None,
        value => Some(value.to_owned()),
    }
}

/// A comma-separated list inside one field (`grades`, `termSourcedIds`, `agentSourcedIds`).
fn list(table: &CsvTable, row: &CsvRow, column: &str) -> Vec<String> {
    table
        .get(row, column)
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(ToOwned::to_owned)
        .collect()
}

fn date(table: &CsvTable, row: &CsvRow, column: &str) -> Result<CalendarDate, String> {
    let value = table.get(row, column);
    value
        .parse()
        .map_err(|_| format!("{column} {:?} is not a date (YYYY-MM-DD)", excerpt(value)))
}

fn optional_date(
    table: &CsvTable,
    row: &CsvRow,
    column: &str,
) -> Result<Option<CalendarDate>, String> {
    if table.get(row, column).is_empty() {
        Ok(None)
    } else {
        date(table, row, column).map(Some)
    }
}

fn boolean(table: &CsvTable, row: &CsvRow, column: &str, default: bool) -> Result<bool, String> {
    match table.get(row, column).to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!(
            "{column} must be true or false, got {:?}",
            excerpt(other)
        )),
    }
}

/// The platform role for a OneRoster 1.2 `roles.csv` role (and `administrator` from OneRoster
/// 1.1, which some systems still write). A Finnish principal (`rehtori`) administers the school.
pub fn map_oneroster_role(role: &str) -> Option<UserRole> {
    Some(match role {
        "student" => UserRole::Pupil,
        "teacher" => UserRole::Teacher,
        "parent" | "guardian" | "relative" => UserRole::Guardian,
        "aide" | "proctor" | "counselor" => UserRole::Staff,
        "administrator"
        | "districtAdministrator"
        | "siteAdministrator"
        | "systemAdministrator"
        | "principal" => UserRole::Admin,
        _ => return None,
    })
}

/// The class role for a OneRoster 1.2 `enrollments.csv` role.
pub fn map_enrollment_role(role: &str) -> Option<EnrollmentRole> {
    Some(match role {
        "student" => EnrollmentRole::Pupil,
        "teacher" => EnrollmentRole::Teacher,
        "proctor" | "administrator" => EnrollmentRole::Assistant,
        _ => return None,
    })
}

pub(super) fn parse_org(table: &CsvTable, row: &CsvRow) -> Result<Org, String> {
    let org = Org {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        name: table.get(row, "name").to_owned(),
        org_type: OrgType::parse(table.get(row, "type")).map_err(|error| error.to_string())?,
        identifier: optional_text(table, row, "identifier"),
        parent_sourced_id: optional_reference(table, row, "parentSourcedId")?,
    };
    org.validate().map_err(|error| error.to_string())?;
    Ok(org)
}

pub(super) fn parse_session(table: &CsvTable, row: &CsvRow) -> Result<AcademicSession, String> {
    let session = AcademicSession {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        title: table.get(row, "title").to_owned(),
        session_type: SessionType::parse(table.get(row, "type"))
            .map_err(|error| error.to_string())?,
        start_date: date(table, row, "startDate")?,
        end_date: date(table, row, "endDate")?,
        parent_sourced_id: optional_reference(table, row, "parentSourcedId")?,
        school_year: table.get(row, "schoolYear").to_owned(),
    };
    session.validate().map_err(|error| error.to_string())?;
    Ok(session)
}

pub(super) fn parse_course(table: &CsvTable, row: &CsvRow) -> Result<Course, String> {
    let course = Course {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        title: table.get(row, "title").to_owned(),
        course_code: optional_text(table, row, "courseCode"),
        grades: list(table, row, "grades"),
        subjects: list(table, row, "subjects"),
        school_year_sourced_id: optional_reference(table, row, "schoolYearSourcedId")?,
        org_sourced_id: required_reference(table, row, "orgSourcedId")?,
    };
    course.validate().map_err(|error| error.to_string())?;
    Ok(course)
}

pub(super) fn parse_class(
    table: &CsvTable,
    row: &CsvRow,
    school_org: Option<&str>,
) -> Result<RosterClass, String> {
    check_school(table, row, school_org)?;
    let class = RosterClass {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        title: table.get(row, "title").to_owned(),
        course_sourced_id: required_reference(table, row, "courseSourcedId")?,
        class_code: optional_text(table, row, "classCode"),
        class_type: ClassType::parse(table.get(row, "classType"))
            .map_err(|error| error.to_string())?,
        grades: list(table, row, "grades"),
        term_sourced_ids: list(table, row, "termSourcedIds"),
        subjects: list(table, row, "subjects"),
        location: optional_text(table, row, "location"),
    };
    class.validate().map_err(|error| error.to_string())?;
    Ok(class)
}

pub(super) fn parse_user(table: &CsvTable, row: &CsvRow) -> Result<RosterUser, String> {
    let user = RosterUser {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        username: table.get(row, "username").to_owned(),
        given_name: table.get(row, "givenName").to_owned(),
        family_name: table.get(row, "familyName").to_owned(),
        preferred_given_name: optional_text(table, row, "preferredGivenName"),
        email: optional_text(table, row, "email"),
        identifier: optional_text(table, row, "identifier"),
        enabled: boolean(table, row, "enabledUser", true)?,
        roles: Vec::new(),
        role_assignments: BTreeMap::new(),
        grades: list(table, row, "grades"),
        agent_sourced_ids: list(table, row, "agentSourcedIds"),
    };
    user.validate().map_err(|error| error.to_string())?;
    Ok(user)
}

/// A `roles.csv` row: the assignment and the user it belongs to.
#[derive(Debug, Clone)]
pub(super) struct RoleRow {
    pub(super) user: String,
    pub(super) assignment: RoleAssignment,
}

pub(super) fn parse_role(table: &CsvTable, row: &CsvRow) -> Result<RoleRow, String> {
    let oneroster_role = table.get(row, "role");
    let role = map_oneroster_role(oneroster_role).ok_or_else(|| {
        format!(
            "role {:?} is not a OneRoster 1.2 role (aide, counselor, districtAdministrator, \
             guardian, parent, principal, proctor, relative, siteAdministrator, student, \
             systemAdministrator, teacher)",
            excerpt(oneroster_role)
        )
    })?;
    let role_type = match table.get(row, "roleType") {
        "primary" => RoleType::Primary,
        "secondary" => RoleType::Secondary,
        other => {
            return Err(format!(
                "roleType must be primary or secondary, got {:?}",
                excerpt(other)
            ));
        }
    };
    let begin_date = optional_date(table, row, "beginDate")?;
    let end_date = optional_date(table, row, "endDate")?;
    if let (Some(begin), Some(end)) = (begin_date, end_date)
        && end < begin
    {
        return Err(format!("endDate {end} is before beginDate {begin}"));
    }
    Ok(RoleRow {
        user: required_reference(table, row, "userSourcedId")?,
        assignment: RoleAssignment {
            sourced_id: table.get(row, "sourcedId").to_owned(),
            role,
            oneroster_role: oneroster_role.to_owned(),
            role_type,
            org_sourced_id: required_reference(table, row, "orgSourcedId")?,
            begin_date,
            end_date,
        },
    })
}

/// An `enrollments.csv` row: the enrollment and its class.
#[derive(Debug, Clone)]
pub(super) struct EnrollmentRow {
    pub(super) class: String,
    pub(super) enrollment: Enrollment,
}

pub(super) fn parse_enrollment(
    table: &CsvTable,
    row: &CsvRow,
    school_org: Option<&str>,
) -> Result<EnrollmentRow, String> {
    check_school(table, row, school_org)?;
    let role_text = table.get(row, "role");
    let role = map_enrollment_role(role_text).ok_or_else(|| {
        format!(
            "role {:?} is not an enrollment role (administrator, proctor, student, teacher)",
            excerpt(role_text)
        )
    })?;
    let enrollment = Enrollment {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        user_sourced_id: required_reference(table, row, "userSourcedId")?,
        role,
        primary: boolean(table, row, "primary", false)?,
        begin_date: optional_date(table, row, "beginDate")?,
        end_date: optional_date(table, row, "endDate")?,
    };
    enrollment.validate().map_err(|error| error.to_string())?;
    Ok(EnrollmentRow {
        class: required_reference(table, row, "classSourcedId")?,
        enrollment,
    })
}

/// A class or enrollment row must be this school's (a package carries one school).
fn check_school(table: &CsvTable, row: &CsvRow, school_org: Option<&str>) -> Result<(), String> {
    let given = table.get(row, "schoolSourcedId");
    match school_org {
        Some(school_org) if given != school_org => Err(format!(
            "schoolSourcedId {:?} is not this school's org {school_org:?}",
            excerpt(given)
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oneroster_roles_map_onto_platform_roles() {
        let cases = [
            ("student", Some(UserRole::Pupil)),
            ("teacher", Some(UserRole::Teacher)),
            ("parent", Some(UserRole::Guardian)),
            ("guardian", Some(UserRole::Guardian)),
            ("relative", Some(UserRole::Guardian)),
            ("aide", Some(UserRole::Staff)),
            ("proctor", Some(UserRole::Staff)),
            ("counselor", Some(UserRole::Staff)),
            ("administrator", Some(UserRole::Admin)),
            ("districtAdministrator", Some(UserRole::Admin)),
            ("siteAdministrator", Some(UserRole::Admin)),
            ("systemAdministrator", Some(UserRole::Admin)),
            ("principal", Some(UserRole::Admin)),
            ("Student", None),
            ("headmaster", None),
        ];
        for (role, expected) in cases {
            assert_eq!(map_oneroster_role(role), expected, "{role}");
        }
        assert_eq!(
            map_enrollment_role("proctor"),
            Some(EnrollmentRole::Assistant)
        );
        assert_eq!(map_enrollment_role("guardian"), None);
    }

    #[test]
    fn status_follows_the_file_mode() {
        assert_eq!(parse_status("", FileMode::Bulk), Ok(false));
        assert_eq!(parse_status("active", FileMode::Bulk), Ok(false));
        assert!(parse_status("tobedeleted", FileMode::Bulk).is_err());
        assert_eq!(parse_status("tobedeleted", FileMode::Delta), Ok(true));
        assert!(parse_status("", FileMode::Delta).is_err());
        assert!(parse_status("inactive", FileMode::Delta).is_err());
    }

    #[test]
    fn date_last_modified_is_iso_8601_when_given() {
        assert!(check_date_last_modified("").is_ok());
        assert!(check_date_last_modified("2025-08-01").is_ok());
        assert!(check_date_last_modified("2025-08-01T12:00:00.000Z").is_ok());
        assert!(check_date_last_modified("1.8.2025").is_err());
    }
}
