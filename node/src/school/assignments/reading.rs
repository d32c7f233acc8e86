//! Reading a class's assignments and a pupil's submissions from the repository, for the
//! operations of [`super`] and the work overview of [`super::work`] alike; and the bounds of a page
//! of a class's list.

use sync_protocol::ids::SchoolCode;

use crate::model::assignments::{
    AssignmentDocument, SubmissionDocument, assignment_doc, submission_doc,
};
use crate::model::class_assignments::{ClassAssignmentsIndex, class_assignments_doc};
use crate::model::common::ItemId;
use crate::repository::Repository;
use crate::school::error::ServiceError;

/// Assignments per page of a class's list when the request names no `limit`.
pub const DEFAULT_ASSIGNMENTS_PER_PAGE: usize = 20;
/// The most assignments one page lists. A teacher's page reads one submission document per pupil
/// of the class for each assignment listed, so this bounds a page's reads to this times the class
/// size.
pub const MAX_ASSIGNMENTS_PER_PAGE: usize = 50;

/// The assignment, or `None` when the store holds no assignment under that id.
pub(super) fn read_assignment(
    repository: &Repository,
    school: &SchoolCode,
    id: &ItemId,
) -> Result<Option<AssignmentDocument>, ServiceError> {
    let found: Option<AssignmentDocument> = repository.read(&assignment_doc(school, id))?;
    Ok(found.filter(|assignment| assignment.id == id.as_str()))
}

/// The pupil's submission for the assignment, or `None` when they have not started one.
pub(super) fn read_submission(
    repository: &Repository,
    school: &SchoolCode,
    id: &ItemId,
    pupil: &str,
) -> Result<Option<SubmissionDocument>, ServiceError> {
    Ok(repository.read(&submission_doc(school, id, pupil))?)
}

/// A page of one class's assignments as the store holds them.
#[derive(Debug)]
pub(super) struct StoredPage {
    /// Newest first, each with its parsed id.
    pub assignments: Vec<(ItemId, AssignmentDocument)>,
    /// The id to continue from when the class has more.
    pub next_before: Option<String>,
}

/// Up to `limit` of the class's assignments, newest first, starting after `before`. Index entries
/// that do not lead to an assignment of this class are skipped (see the module documentation of
/// [`super`]).
pub(super) fn newest_assignments(
    repository: &Repository,
    school: &SchoolCode,
    class: &str,
    before: Option<&str>,
    limit: usize,
) -> Result<StoredPage, ServiceError> {
    let index: ClassAssignmentsIndex =
        repository.read_or_default(&class_assignments_doc(school, class))?;
    let (ids, next_before) = index.page(before, limit)?;
    let mut assignments = Vec::with_capacity(ids.len());
    for id in ids {
        // Entries are written only by `create_in_class` with generated ids; one that does not
        // parse or lead to an assignment of this class is skipped rather than failing the list.
        let Ok(id) = id.parse::<ItemId>() else {
            continue;
        };
        let Some(assignment) = read_assignment(repository, school, &id)? else {
            continue;
        };
        if assignment.class_sourced_id != class {
            continue;
        }
        assignments.push((id, assignment));
    }
    Ok(StoredPage {
        assignments,
        next_before,
    })
}
