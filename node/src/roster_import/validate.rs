//! The checks that look across records, run on the merged roster ([`MergedRoster`]): references
//! between kinds, each user's roles and username, each enrollment's role, and the bounds of the
//! documents. Rows judged bad in [`super::rows`] and files that could not be read are not judged
//! again here: what refers to them is left alone, since the cause is reported already.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::UserRole;
use crate::model::common::sourced_id_key;
use crate::model::roster::{
    EnrollmentRole, MAX_ACADEMIC_SESSIONS, MAX_CLASSES_PER_SCHOOL, MAX_COURSES_PER_SCHOOL,
    MAX_ENROLLMENTS_PER_CLASS, MAX_LIST_ITEMS, MAX_ORGS, MAX_ROSTER_USERS, RosterUser,
};

use super::format::RosterFile;
use super::merge::{Merged, MergedRoster};
use super::report::Report;
use super::rows::EnrollmentRow;

/// Every reference names a record of its kind that exists once the package is applied: the
/// parents of orgs and sessions, a course's org and school year, a class's course and terms, a
/// user's guardians, and the user, org and class of each role row and enrollment.
pub(super) fn check_references(report: &mut Report, roster: &MergedRoster) {
    let MergedRoster {
        orgs,
        sessions,
        courses,
        classes,
        users,
        roles,
        enrollments,
    } = roster;
    for (id, staged) in &orgs.items {
        if let Some(parent) = &staged.value.parent_sourced_id {
            check_reference(
                report,
                (orgs, id, staged.line),
                "parentSourcedId",
                orgs,
                parent,
            );
        }
    }
    for (id, staged) in &sessions.items {
        if let Some(parent) = &staged.value.parent_sourced_id {
            check_reference(
                report,
                (sessions, id, staged.line),
                "parentSourcedId",
                sessions,
                parent,
            );
        }
    }
    for (id, staged) in &courses.items {
        let referrer = (courses, id.as_str(), staged.line);
        check_reference(
            report,
            referrer,
            "orgSourcedId",
            orgs,
            &staged.value.org_sourced_id,
        );
        if let Some(year) = &staged.value.school_year_sourced_id {
            check_reference(report, referrer, "schoolYearSourcedId", sessions, year);
        }
    }
    for (id, staged) in &classes.items {
        let referrer = (classes, id.as_str(), staged.line);
        check_reference(
            report,
            referrer,
            "courseSourcedId",
            courses,
            &staged.value.course_sourced_id,
        );
        for term in &staged.value.term_sourced_ids {
            check_reference(report, referrer, "termSourcedIds", sessions, term);
        }
    }
    for (id, staged) in &users.items {
        for agent in &staged.value.agent_sourced_ids {
            check_reference(
                report,
                (users, id, staged.line),
                "agentSourcedIds",
                users,
                agent,
            );
        }
    }
    for (id, staged) in &roles.items {
        let referrer = (roles, id.as_str(), staged.line);
        check_reference(report, referrer, "userSourcedId", users, &staged.value.user);
        check_reference(
            report,
            referrer,
            "orgSourcedId",
            orgs,
            &staged.value.assignment.org_sourced_id,
        );
    }
    for (id, staged) in &enrollments.items {
        let referrer = (enrollments, id.as_str(), staged.line);
        check_reference(
            report,
            referrer,
            "classSourcedId",
            classes,
            &staged.value.class,
        );
        check_reference(
            report,
            referrer,
            "userSourcedId",
            users,
            &staged.value.enrollment.user_sourced_id,
        );
    }
}

/// Reports `target_id` when it is not in `target`. A row of the package is reported at its line; a
/// record of the current roster is reported on the target's file, since the package deleted what
/// it refers to.
fn check_reference<T, U>(
    report: &mut Report,
    referrer: (&Merged<T>, &str, Option<u64>),
    column: &str,
    target: &Merged<U>,
    target_id: &str,
) {
    let (referrer_kind, referrer_id, referrer_line) = referrer;
    if target.items.contains_key(target_id) || !target.can_judge(target_id) {
        return;
    }
    match referrer_line {
        Some(line) => report.add(
            referrer_kind.file.name(),
            Some(line),
            format!(
                "{column} {target_id:?} is not {} in this package or the current roster",
                target.file.a_kind()
            ),
        ),
        None => report.add(
            target.file.name(),
            None,
            format!(
                "{} {target_id:?} is deleted, but {} {referrer_id:?} (already imported) still refers to it",
                target.file.kind(),
                referrer_kind.file.kind()
            ),
        ),
    }
}

/// Each user against the roles the package leaves them, and each enrollment against its user's
/// roles.
pub(super) fn check_users_and_their_roles(
    report: &mut Report,
    roster: &MergedRoster,
    users_with_rejected_roles: &BTreeSet<String>,
) {
    // Without readable users and roles, whether a user lacks a role cannot be judged.
    let roles_known = !roster.users.unreadable && !roster.roles.unreadable;
    check_users(
        report,
        &roster.users,
        roles_known,
        users_with_rejected_roles,
    );
    if roles_known {
        check_enrollment_roles(
            report,
            &roster.users,
            &roster.enrollments,
            users_with_rejected_roles,
        );
    }
}

/// Every user has a role at this school, at most [`MAX_LIST_ITEMS`] role rows, and a username no
/// other user has (compared without regard to case, as sign-in does).
fn check_users(
    report: &mut Report,
    users: &Merged<RosterUser>,
    roles_known: bool,
    users_with_rejected_roles: &BTreeSet<String>,
) {
    let users_file = RosterFile::Users.name();
    let mut usernames: BTreeMap<String, &str> = BTreeMap::new();
    for (id, staged) in &users.items {
        let user = &staged.value;
        if roles_known && user.roles.is_empty() && !users_with_rejected_roles.contains(id) {
            match staged.line {
                Some(line) => report.add(
                    users_file,
                    Some(line),
                    format!("user {id:?} has no role at this school in roles.csv"),
                ),
                None => report.add(
                    RosterFile::Roles.name(),
                    None,
                    format!(
                        "user {id:?} (already imported) would be left without a role at this school"
                    ),
                ),
            }
        }
        if user.role_assignments.len() > MAX_LIST_ITEMS {
            report.add(
                RosterFile::Roles.name(),
                None,
                format!(
                    "user {id:?} has {} role rows, more than the {MAX_LIST_ITEMS} accepted",
                    user.role_assignments.len()
                ),
            );
        }
        let folded = user.username.to_lowercase();
        if let Some(other) = usernames.insert(folded, id) {
            report.add(
                users_file,
                staged.line,
                format!(
                    "username {:?} of user {id:?} is already used by user {other:?}",
                    user.username
                ),
            );
        }
    }
}

/// A pupil enrollment needs the pupil role, a teacher enrollment the teacher role, an assistant
/// enrollment a staff, teacher or administrator role.
fn check_enrollment_roles(
    report: &mut Report,
    users: &Merged<RosterUser>,
    enrollments: &Merged<EnrollmentRow>,
    users_with_rejected_roles: &BTreeSet<String>,
) {
    for (id, staged) in &enrollments.items {
        let enrollment = &staged.value.enrollment;
        let Some(user) = users.items.get(&enrollment.user_sourced_id) else {
            continue;
        };
        if users_with_rejected_roles.contains(&enrollment.user_sourced_id) {
            continue;
        }
        let (fits, needed) = match enrollment.role {
            EnrollmentRole::Pupil => (user.value.has_role(UserRole::Pupil), "student"),
            EnrollmentRole::Teacher => (user.value.has_role(UserRole::Teacher), "teacher"),
            EnrollmentRole::Assistant => (
                [UserRole::Staff, UserRole::Teacher, UserRole::Admin]
                    .iter()
                    .any(|role| user.value.has_role(*role)),
                "staff, teacher or administrator",
            ),
        };
        if fits {
            continue;
        }
        let message = format!(
            "user {:?} is enrolled as {} but has no {needed} role at this school",
            enrollment.user_sourced_id,
            match enrollment.role {
                EnrollmentRole::Pupil => "student",
                EnrollmentRole::Teacher => "teacher",
                EnrollmentRole::Assistant => "assistant",
            }
        );
        match staged.line {
            Some(line) => report.add(RosterFile::Enrollments.name(), Some(line), message),
            None => report.add(
                RosterFile::Roles.name(),
                None,
                format!("{message} (enrollment {id:?}, already imported)"),
            ),
        }
    }
}

/// The documents' bounds, and distinct document keys for distinct classes.
pub(super) fn check_bounds(report: &mut Report, roster: &MergedRoster) {
    let MergedRoster {
        orgs,
        sessions,
        courses,
        classes,
        users,
        enrollments,
        ..
    } = roster;
    let mut bound = |file: RosterFile, count: usize, max: usize| {
        if count > max {
            report.add(
                file.name(),
                None,
                format!(
                    "the roster would hold {count} {}, more than the {max} a school keeps",
                    file.kinds()
                ),
            );
        }
    };
    bound(RosterFile::Orgs, orgs.items.len(), MAX_ORGS);
    bound(
        RosterFile::AcademicSessions,
        sessions.items.len(),
        MAX_ACADEMIC_SESSIONS,
    );
    bound(
        RosterFile::Courses,
        courses.items.len(),
        MAX_COURSES_PER_SCHOOL,
    );
    bound(
        RosterFile::Classes,
        classes.items.len(),
        MAX_CLASSES_PER_SCHOOL,
    );
    bound(RosterFile::Users, users.items.len(), MAX_ROSTER_USERS);

    let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
    for staged in enrollments.items.values() {
        *per_class.entry(staged.value.class.as_str()).or_default() += 1;
    }
    for (class, count) in per_class {
        if count > MAX_ENROLLMENTS_PER_CLASS {
            report.add(
                RosterFile::Enrollments.name(),
                None,
                format!(
                    "class {class:?} would have {count} enrollments, more than the {MAX_ENROLLMENTS_PER_CLASS} a class keeps"
                ),
            );
        }
    }

    let mut keys: BTreeMap<String, &str> = BTreeMap::new();
    for (id, staged) in &classes.items {
        if let Some(other) = keys.insert(sourced_id_key(id), id) {
            report.add(
                RosterFile::Classes.name(),
                staged.line,
                format!("classes {other:?} and {id:?} map to the same document key; change one sourcedId"),
            );
        }
    }
}
