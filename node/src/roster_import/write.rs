//! Writing a plan: each document's new state through the repository. A large roster is written in
//! batches ([`USERS_PER_WRITE`], [`ORG_ENTRIES_PER_WRITE`]) so that no single automerge change
//! comes near the store's bound on one change; the last update of each document then sets the
//! whole state, which removes whatever the package removed.

use std::convert::Infallible;

use autosurgeon::{Hydrate, Reconcile};
use sync_protocol::ids::DocId;

use crate::model::roster::{RosterOrgDocument, RosterUsersDocument};
use crate::repository::{Repository, RepositoryError, UpdateError};

use super::RosterDocument;
use super::format::{ORG_ENTRIES_PER_WRITE, USERS_PER_WRITE};

/// Writes one document of a plan: its whole new state, in batches when it is large.
pub(super) fn write_document(
    repository: &Repository,
    doc: &DocId,
    document: &RosterDocument,
) -> Result<(), RepositoryError> {
    match document {
        RosterDocument::Users(users) => write_users(repository, doc, users),
        RosterDocument::Class(class) => replace_state(repository, doc, class.clone()),
        RosterDocument::Org(org) => write_org(repository, doc, org),
    }
}

/// Writes `roster-users` in batches of [`USERS_PER_WRITE`] changed users, then removes the users
/// that are gone.
fn write_users(
    repository: &Repository,
    doc: &DocId,
    users: &RosterUsersDocument,
) -> Result<(), RepositoryError> {
    let ids: Vec<&String> = users.users.keys().collect();
    for batch in ids.chunks(USERS_PER_WRITE) {
        repository
            .update(
                doc,
                |current: &mut RosterUsersDocument| -> Result<(), Infallible> {
                    for id in batch {
                        if let Some(user) = users.users.get(*id)
                            && current.users.get(*id) != Some(user)
                        {
                            current.users.insert((*id).clone(), user.clone());
                        }
                    }
                    Ok(())
                },
            )
            .map_err(into_repository_error)?;
    }
    replace_state(repository, doc, users.clone())
}

/// Writes `roster-org`: the orgs, sessions and courses first, then the class directory in batches
/// of [`ORG_ENTRIES_PER_WRITE`], then whatever is left (removals).
fn write_org(
    repository: &Repository,
    doc: &DocId,
    org: &RosterOrgDocument,
) -> Result<(), RepositoryError> {
    let course_ids: Vec<&String> = org.courses.keys().collect();
    for batch in course_ids.chunks(ORG_ENTRIES_PER_WRITE) {
        repository
            .update(
                doc,
                |current: &mut RosterOrgDocument| -> Result<(), Infallible> {
                    current.school_sourced_id.clone_from(&org.school_sourced_id);
                    current.orgs.clone_from(&org.orgs);
                    current.sessions.clone_from(&org.sessions);
                    for id in batch {
                        if let Some(course) = org.courses.get(*id) {
                            current.courses.insert((*id).clone(), course.clone());
                        }
                    }
                    Ok(())
                },
            )
            .map_err(into_repository_error)?;
    }
    let class_ids: Vec<&String> = org.classes.keys().collect();
    for batch in class_ids.chunks(ORG_ENTRIES_PER_WRITE) {
        repository
            .update(
                doc,
                |current: &mut RosterOrgDocument| -> Result<(), Infallible> {
                    for id in batch {
                        if let Some(class) = org.classes.get(*id) {
                            current.classes.insert((*id).clone(), class.clone());
                        }
                    }
                    Ok(())
                },
            )
            .map_err(into_repository_error)?;
    }
    replace_state(repository, doc, org.clone())
}

/// Replaces a document's state in one update.
fn replace_state<T>(repository: &Repository, doc: &DocId, state: T) -> Result<(), RepositoryError>
where
    T: Hydrate + Reconcile + Default,
{
    repository
        .update(doc, |current: &mut T| -> Result<(), Infallible> {
            *current = state;
            Ok(())
        })
        .map_err(into_repository_error)
}

/// The error of an update whose closure cannot fail: only the repository can have failed.
fn into_repository_error(error: UpdateError<Infallible>) -> RepositoryError {
    match error {
        UpdateError::Rejected(never) => match never {},
        UpdateError::Repository(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserRole;
    use crate::model::roster::{
        ClassDocument, ClassType, Enrollment, EnrollmentRole, MAX_ENROLLMENTS_PER_CLASS,
        MAX_ROSTER_USERS, RoleAssignment, RoleType, RosterClass, RosterUser,
    };

    fn sample_user(number: usize) -> RosterUser {
        let id = format!("{{9f3c6a2e-1b4d-4c8e-a7f1-{number:012}}}");
        let mut user = RosterUser {
            sourced_id: id.clone(),
            username: format!("etunimi.sukunimi{number}"),
            given_name: "Aino-Marjatta Kristiina".to_owned(),
            family_name: "Mäkinen-Virtanen".to_owned(),
            preferred_given_name: Some("Aino".to_owned()),
            email: Some(format!("etunimi.sukunimi{number}@edu.kaupunki.example.fi")),
            identifier: Some(format!("{number:08}")),
            enabled: true,
            roles: Vec::new(),
            role_assignments: (0..2)
                .map(|index| {
                    let sourced_id = format!("{id}-role-{index}");
                    let assignment = RoleAssignment {
                        sourced_id: sourced_id.clone(),
                        role: UserRole::Pupil,
                        oneroster_role: "student".to_owned(),
                        role_type: RoleType::Primary,
                        org_sourced_id: "{0c1d2e3f-4a5b-6c7d-8e9f-000000030076}".to_owned(),
                        begin_date: "2025-08-11".parse().ok(),
                        end_date: "2026-05-30".parse().ok(),
                    };
                    (sourced_id, assignment)
                })
                .collect(),
            grades: vec!["07".to_owned()],
            agent_sourced_ids: (1..=2)
                .map(|guardian| format!("{{9f3c6a2e-1b4d-4c8e-a7f1-{:012}}}", number + guardian))
                .collect(),
        };
        user.derive_roles();
        user
    }

    /// The bytes of the change that reconciling `value` into a fresh document makes.
    fn change_bytes<T: Reconcile>(value: &T) -> usize {
        let mut document = automerge::AutoCommit::new();
        autosurgeon::reconcile(&mut document, value).expect("reconcile");
        document.commit();
        document
            .get_changes(&[])
            .iter()
            .map(|change| change.raw_bytes().len())
            .sum()
    }

    #[test]
    fn one_write_of_each_roster_document_fits_well_within_the_change_bound() {
        let half_bound = sync_protocol::store::MAX_CHANGE_BYTES / 2;
        let users = RosterUsersDocument {
            users: (0..USERS_PER_WRITE)
                .map(|number| {
                    let user = sample_user(number * 3);
                    (user.sourced_id.clone(), user)
                })
                .collect(),
        };
        let bytes = change_bytes(&users);
        assert!(
            bytes < half_bound,
            "{bytes} bytes for {USERS_PER_WRITE} users"
        );

        let class = |number: usize| RosterClass {
            sourced_id: format!("{{5e1f0c2a-7b3d-4e9f-8a6c-{number:012}}}"),
            title: "7A Äidinkieli ja kirjallisuus, ryhmä 2".to_owned(),
            course_sourced_id: format!("{{5e1f0c2a-7b3d-4e9f-8a6c-{:012}}}", number / 4),
            class_code: Some(format!("AI7.{number}")),
            class_type: ClassType::Scheduled,
            grades: vec!["07".to_owned()],
            term_sourced_ids: vec![
                "{term-autumn-2025}".to_owned(),
                "{term-spring-2026}".to_owned(),
            ],
            subjects: vec!["Äidinkieli ja kirjallisuus".to_owned()],
            location: Some("B204".to_owned()),
        };
        let org = RosterOrgDocument {
            classes: (0..ORG_ENTRIES_PER_WRITE)
                .map(|number| (class(number).sourced_id, class(number)))
                .collect(),
            ..RosterOrgDocument::default()
        };
        let bytes = change_bytes(&org);
        assert!(
            bytes < half_bound,
            "{bytes} bytes for {ORG_ENTRIES_PER_WRITE} classes"
        );

        let full_class = ClassDocument {
            class: class(0),
            removed: false,
            enrollments: (0..MAX_ENROLLMENTS_PER_CLASS)
                .map(|number| {
                    let enrollment = Enrollment {
                        sourced_id: format!("{{0b7e5d1c-2f4a-4b6c-9d8e-{number:012}}}"),
                        user_sourced_id: sample_user(number).sourced_id,
                        role: EnrollmentRole::Pupil,
                        primary: false,
                        begin_date: "2025-08-11".parse().ok(),
                        end_date: "2026-05-30".parse().ok(),
                    };
                    (enrollment.sourced_id.clone(), enrollment)
                })
                .collect(),
        };
        let bytes = change_bytes(&full_class);
        assert!(
            bytes < half_bound,
            "{bytes} bytes for a class of {MAX_ENROLLMENTS_PER_CLASS} enrollments"
        );
    }

    #[test]
    fn a_full_users_document_stays_well_within_the_document_bound() {
        let users = RosterUsersDocument {
            users: (0..MAX_ROSTER_USERS)
                .map(|number| {
                    let user = sample_user(number);
                    (user.sourced_id.clone(), user)
                })
                .collect(),
        };
        let mut document = automerge::AutoCommit::new();
        autosurgeon::reconcile(&mut document, &users).expect("reconcile");
        let saved = document.save().len() as u64;
        assert!(
            saved < sync_protocol::store::MAX_DOCUMENT_BYTES / 4,
            "{saved} bytes for {MAX_ROSTER_USERS} users"
        );
    }
}
