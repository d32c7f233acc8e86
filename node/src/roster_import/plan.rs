//! Planning: the package's rows parsed and merged onto the current roster, checked across kinds,
//! and turned into the documents that change. [`plan_package`] runs the steps in order; each
//! step is a function below it, in the order it runs.

use std::collections::{BTreeMap, BTreeSet};

use sync_protocol::ids::{DocId, SchoolCode};

use crate::model::roster::{
    ClassDocument, MAX_ORGS, Org, OrgType, RosterClass, RosterOrgDocument, RosterUser,
    RosterUsersDocument, class_doc, roster_org_doc, roster_users_doc,
};

use super::format::RosterFile;
use super::merge::{Merged, MergedRoster, merge};
use super::read::Package;
use super::report::Report;
use super::rows::{
    Changes, EnrollmentRow, RoleRow, parse_class, parse_course, parse_enrollment, parse_org,
    parse_role, parse_rows, parse_session, parse_user,
};
use super::validate::{check_bounds, check_references, check_users_and_their_roles};
use super::{CurrentRoster, ImportPlan, ImportSummary, RosterDocument};

/// Plans the package onto `current`, or reports why it cannot be imported and returns `None`.
/// The checks report into `report` and planning goes on after a problem, so that one run reports
/// every problem it can find; only a package with no problems at all yields a plan.
pub(super) fn plan_package(
    package: Package,
    school: &SchoolCode,
    current: &CurrentRoster,
    report: &mut Report,
) -> Option<ImportPlan> {
    let mut summary = summary_of_package(&package);
    let MergedPackage {
        mut roster,
        school_org,
        users_with_rejected_roles,
    } = merge_package_onto_current(&package, school, current, report);
    summary.removed_with_their_owner = remove_with_their_owner(
        &roster.classes,
        &mut roster.users,
        &mut roster.roles,
        &mut roster.enrollments,
    );
    check_references(report, &roster);
    // Without this school's org no role can be placed, so the checks of roles stop here; why the
    // org is missing was reported already, by `find_school_org` or as a problem with orgs.csv.
    let school_org = school_org?;
    summary.roles_ignored =
        assign_roles(&roster.orgs, &school_org, &mut roster.users, &roster.roles);
    check_users_and_their_roles(report, &roster, &users_with_rejected_roles);
    check_bounds(report, &roster);
    if !report.errors.is_empty() {
        return None;
    }

    summary.enrollments = roster.enrollments.items.len();
    let new_roster = new_roster_documents(roster, school_org);
    count_totals(&mut summary, current, &new_roster);
    let documents = changed_documents(school, current, new_roster);
    Some(ImportPlan { documents, summary })
}

/// What the summary knows from the package alone: each file's mode and the rows read.
fn summary_of_package(package: &Package) -> ImportSummary {
    ImportSummary {
        modes: RosterFile::ALL
            .iter()
            .map(|file| (file.name(), package.mode(*file)))
            .collect(),
        rows_read: package.tables.values().map(|table| table.rows.len()).sum(),
        ..ImportSummary::default()
    }
}

/// The package merged onto the current roster, with what the later steps need to know of it.
#[derive(Debug)]
struct MergedPackage {
    roster: MergedRoster,
    /// The sourcedId of this school's org, when exactly one org is this school.
    school_org: Option<String>,
    /// The users whose `roles.csv` rows were bad (see [`rejected_role_users`]).
    users_with_rejected_roles: BTreeSet<String>,
}

/// Parses each file's rows and merges them onto the current records of their kind, file by file
/// in package order. Classes and enrollments are parsed once this school's org is known, because
/// each of their rows must name it.
fn merge_package_onto_current(
    package: &Package,
    school: &SchoolCode,
    current: &CurrentRoster,
    report: &mut Report,
) -> MergedPackage {
    let orgs = merge(
        package,
        RosterFile::Orgs,
        current.org.orgs.clone(),
        parse_rows(package, RosterFile::Orgs, report, parse_org),
    );
    let school_org = find_school_org(&orgs, school, report);
    let sessions = merge(
        package,
        RosterFile::AcademicSessions,
        current.org.sessions.clone(),
        parse_rows(package, RosterFile::AcademicSessions, report, parse_session),
    );
    let courses = merge(
        package,
        RosterFile::Courses,
        current.org.courses.clone(),
        parse_rows(package, RosterFile::Courses, report, parse_course),
    );
    let classes = merge(
        package,
        RosterFile::Classes,
        current.org.classes.clone(),
        parse_rows(package, RosterFile::Classes, report, |table, row| {
            parse_class(table, row, school_org.as_deref())
        }),
    );
    let users = merge(
        package,
        RosterFile::Users,
        current.users.users.clone(),
        parse_rows(package, RosterFile::Users, report, parse_user),
    );
    let role_changes = parse_rows(package, RosterFile::Roles, report, parse_role);
    let users_with_rejected_roles = rejected_role_users(package, &role_changes);
    let roles = merge(
        package,
        RosterFile::Roles,
        current_role_rows(current),
        role_changes,
    );
    let enrollments = merge(
        package,
        RosterFile::Enrollments,
        current_enrollment_rows(current),
        parse_rows(package, RosterFile::Enrollments, report, |table, row| {
            parse_enrollment(table, row, school_org.as_deref())
        }),
    );
    MergedPackage {
        roster: MergedRoster {
            orgs,
            sessions,
            courses,
            classes,
            users,
            roles,
            enrollments,
        },
        school_org,
        users_with_rejected_roles,
    }
}

/// The school's own org: type `school`, identifier the school code. Exactly one must exist.
fn find_school_org(orgs: &Merged<Org>, school: &SchoolCode, report: &mut Report) -> Option<String> {
    let code = school.to_string();
    let matching: Vec<&String> = orgs
        .items
        .iter()
        .filter(|(_, staged)| {
            staged.value.org_type == OrgType::School
                && staged.value.identifier.as_deref() == Some(code.as_str())
        })
        .map(|(id, _)| id)
        .collect();
    match matching.as_slice() {
        [only] => Some((*only).clone()),
        [] => {
            if !orgs.unreadable && orgs.rejected.is_empty() {
                report.add(
                    RosterFile::Orgs.name(),
                    None,
                    format!("no org of type school has identifier {code:?} (this node's school)"),
                );
            }
            None
        }
        several => {
            report.add(
                RosterFile::Orgs.name(),
                None,
                format!(
                    "{} orgs of type school have identifier {code:?}; a package carries one school",
                    several.len()
                ),
            );
            None
        }
    }
}

/// The users whose `roles.csv` rows were bad: their missing roles are not reported again.
fn rejected_role_users(package: &Package, changes: &Changes<RoleRow>) -> BTreeSet<String> {
    let Some(table) = package.tables.get(&RosterFile::Roles) else {
        return BTreeSet::new();
    };
    table
        .rows
        .iter()
        .filter(|row| changes.rejected.contains(table.get(row, "sourcedId")))
        .map(|row| table.get(row, "userSourcedId").to_owned())
        .collect()
}

/// The current roster's role assignments as `roles.csv` rows, by role sourcedId.
fn current_role_rows(current: &CurrentRoster) -> impl Iterator<Item = (String, RoleRow)> + '_ {
    current.users.users.values().flat_map(|user| {
        user.role_assignments.values().map(|assignment| {
            (
                assignment.sourced_id.clone(),
                RoleRow {
                    user: user.sourced_id.clone(),
                    assignment: assignment.clone(),
                },
            )
        })
    })
}

/// The current roster's enrollments as `enrollments.csv` rows, by enrollment sourcedId.
fn current_enrollment_rows(
    current: &CurrentRoster,
) -> impl Iterator<Item = (String, EnrollmentRow)> + '_ {
    current.classes.values().flat_map(|document| {
        document.enrollments.values().map(|enrollment| {
            (
                enrollment.sourced_id.clone(),
                EnrollmentRow {
                    class: document.class.sourced_id.clone(),
                    enrollment: enrollment.clone(),
                },
            )
        })
    })
}

/// Removes earlier-imported enrollments, role rows and guardian links whose user or class is gone.
/// Rows of the package itself are kept, to be reported by [`check_references`].
fn remove_with_their_owner(
    classes: &Merged<RosterClass>,
    users: &mut Merged<RosterUser>,
    roles: &mut Merged<RoleRow>,
    enrollments: &mut Merged<EnrollmentRow>,
) -> usize {
    let user_ids: BTreeSet<String> = users.items.keys().cloned().collect();
    let before = enrollments.items.len() + roles.items.len();
    enrollments.items.retain(|_, staged| {
        staged.line.is_some()
            || (classes.items.contains_key(&staged.value.class)
                && user_ids.contains(&staged.value.enrollment.user_sourced_id))
    });
    roles
        .items
        .retain(|_, staged| staged.line.is_some() || user_ids.contains(&staged.value.user));
    let mut removed = before - enrollments.items.len() - roles.items.len();
    for staged in users
        .items
        .values_mut()
        .filter(|staged| staged.line.is_none())
    {
        let links = staged.value.agent_sourced_ids.len();
        staged
            .value
            .agent_sourced_ids
            .retain(|agent| user_ids.contains(agent));
        removed += links - staged.value.agent_sourced_ids.len();
    }
    removed
}

/// Gives every user the role rows at this school (or at one of its parent orgs, such as a
/// municipality-wide administrator), and derives their roles. Returns how many rows were at
/// other orgs and so ignored.
fn assign_roles(
    orgs: &Merged<Org>,
    school_org: &str,
    users: &mut Merged<RosterUser>,
    roles: &Merged<RoleRow>,
) -> usize {
    let mut this_school_and_parents = BTreeSet::new();
    let mut next = Some(school_org.to_owned());
    while let Some(org) = next {
        if !this_school_and_parents.insert(org.clone()) || this_school_and_parents.len() > MAX_ORGS
        {
            break;
        }
        next = orgs
            .items
            .get(&org)
            .and_then(|staged| staged.value.parent_sourced_id.clone());
    }
    for staged in users.items.values_mut() {
        staged.value.role_assignments.clear();
    }
    let mut ignored = 0;
    for (id, staged) in &roles.items {
        let assignment = &staged.value.assignment;
        if !this_school_and_parents.contains(&assignment.org_sourced_id) {
            ignored += 1;
            continue;
        }
        if let Some(user) = users.items.get_mut(&staged.value.user) {
            user.value
                .role_assignments
                .insert(id.clone(), assignment.clone());
        }
    }
    for staged in users.items.values_mut() {
        staged.value.derive_roles();
    }
    ignored
}

/// The roster's documents as the package leaves them.
#[derive(Debug)]
struct NewRoster {
    org: RosterOrgDocument,
    users: RosterUsersDocument,
    /// Every class's document with its enrollments, by class sourcedId.
    classes: BTreeMap<String, ClassDocument>,
}

/// Builds the new documents from the merged roster, once it has passed every check.
fn new_roster_documents(roster: MergedRoster, school_org: String) -> NewRoster {
    let org = RosterOrgDocument {
        school_sourced_id: school_org,
        orgs: values(roster.orgs),
        sessions: values(roster.sessions),
        courses: values(roster.courses),
        classes: values(roster.classes),
    };
    let users = RosterUsersDocument {
        users: values(roster.users),
    };
    let mut classes: BTreeMap<String, ClassDocument> = org
        .classes
        .values()
        .map(|class| {
            (
                class.sourced_id.clone(),
                ClassDocument {
                    class: class.clone(),
                    removed: false,
                    enrollments: BTreeMap::new(),
                },
            )
        })
        .collect();
    for (id, staged) in roster.enrollments.items {
        if let Some(document) = classes.get_mut(&staged.value.class) {
            document.enrollments.insert(id, staged.value.enrollment);
        }
    }
    NewRoster {
        org,
        users,
        classes,
    }
}

fn values<T>(merged: Merged<T>) -> BTreeMap<String, T> {
    merged
        .items
        .into_iter()
        .map(|(id, staged)| (id, staged.value))
        .collect()
}

/// The summary's totals after the import, and the classes it removes.
fn count_totals(summary: &mut ImportSummary, current: &CurrentRoster, new_roster: &NewRoster) {
    summary.orgs = new_roster.org.orgs.len();
    summary.academic_sessions = new_roster.org.sessions.len();
    summary.courses = new_roster.org.courses.len();
    summary.classes = new_roster.org.classes.len();
    summary.users = new_roster.users.users.len();
    summary.classes_removed = removed_classes(current, &new_roster.org).count();
}

/// The classes of the current roster that the new `roster-org` no longer lists.
fn removed_classes<'current>(
    current: &'current CurrentRoster,
    new_org: &RosterOrgDocument,
) -> impl Iterator<Item = (&'current String, &'current RosterClass)> {
    current
        .org
        .classes
        .iter()
        .filter(|(id, _)| !new_org.classes.contains_key(*id))
}

/// The documents that differ from the current roster, in the order [`ImportPlan`] promises: users,
/// then the class documents (changed ones, then the removed ones, marked removed), then
/// `roster-org`.
fn changed_documents(
    school: &SchoolCode,
    current: &CurrentRoster,
    new_roster: NewRoster,
) -> Vec<(DocId, RosterDocument)> {
    let NewRoster {
        org: new_org,
        users: new_users,
        classes: class_documents,
    } = new_roster;
    let mut documents = Vec::new();
    if new_users != current.users {
        documents.push((roster_users_doc(school), RosterDocument::Users(new_users)));
    }
    for (id, document) in class_documents {
        if current.classes.get(&id) != Some(&document) {
            documents.push((class_doc(school, &id), RosterDocument::Class(document)));
        }
    }
    for (id, class) in removed_classes(current, &new_org) {
        documents.push((
            class_doc(school, id),
            RosterDocument::Class(ClassDocument {
                class: class.clone(),
                removed: true,
                enrollments: BTreeMap::new(),
            }),
        ));
    }
    if new_org != current.org {
        documents.push((roster_org_doc(school), RosterDocument::Org(new_org)));
    }
    documents
}
