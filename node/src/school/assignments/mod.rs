//! Assignments and submissions: a class's teachers set work with a deadline, each pupil saves a
//! draft and submits it, and the teachers return it with feedback and a grade. The JSON API
//! (`crate::api::assignments`), the web pages (`crate::web::assignments`) and LTI deep linking
//! call these operations; each decides the caller's permission with [`crate::school::policy`].
//!
//! **Time.** The node's clock, read when the request arrives, decides lateness and the cut-off: a
//! pupil's device may have been offline for hours with a wrong clock. What the device reports is
//! stored beside the attempt for the teacher and decides nothing (see `node/DATA-MODEL.md`).
//!
//! **Finding a class's assignments** goes through the class's index document
//! ([`ClassAssignmentsIndex`]). Creating writes the assignment first and the index entry second: a
//! crash between the two leaves an assignment that is reachable by id but not listed (its creator
//! got no answer and creates it again), never an entry without an assignment; listing skips such
//! entries all the same.
//!
//! **A pupil's work across their classes** ([`work_of`], [`work_due_in_week`]) reads the newest
//! page of each class's index and the pupil's submission on each; which classes the caller sees is
//! decided class by class (`work.rs`).
//!
//! **One edit per change.** A change that depends on a document's current state is computed inside
//! the repository's update of that document, under its lock: a pupil's web form adds a file to
//! the files the draft holds *at the moment of the write* ([`WorkFiles::DraftFilesAnd`]), so two
//! saves of one draft at once (two tabs, a double click, a retry) each keep the other's file.

mod reading;
mod views;
mod work;

use std::collections::BTreeSet;

use sync_protocol::ids::SchoolCode;

use crate::auth::Caller;
use crate::model::UserId;
pub use crate::model::assignments::FeedbackInput;
use crate::model::assignments::{
    AssignmentDocument, AssignmentInput, LtiLink, SubmissionDocument, Work, assignment_doc,
    submission_doc,
};
pub use crate::model::class_assignments::MAX_ASSIGNMENTS_PER_CLASS;
use crate::model::class_assignments::{ClassAssignmentsIndex, class_assignments_doc};
use crate::model::common::{FileRef, ItemId, ModelError, NodeTime};
use crate::repository::Repository;
use crate::school::access::{Access, Target, roster_index};
use crate::school::error::ServiceError;
use crate::school::files::{check_stored, require_stored};
use crate::school::policy::{Action, Relation, permits};
use crate::school::roster_index::RosterIndex;
use crate::school::runtime::{blocking, node_now};
use crate::state::AppState;

// ---------------------------------------------------------------------------------------------
// Inputs.
// ---------------------------------------------------------------------------------------------

/// A new assignment: the model's fields, and the LTI tool it is done in, if any.
#[derive(Debug)]
pub struct NewAssignment {
    pub content: AssignmentInput,
    pub lti_tool: Option<LtiToolChoice>,
}

/// An LTI 1.3 tool the school has activated, chosen for an assignment.
#[derive(Debug)]
pub struct LtiToolChoice {
    /// The catalogue's service id of the tool.
    pub service_id: String,
    /// The line item's score maximum, more than 0; with one the tool reports scores.
    pub score_maximum: Option<f64>,
}

/// A pupil's personal deadline.
#[derive(Debug, Clone, Copy)]
pub struct ExtensionInput {
    pub due_at: NodeTime,
    /// The later of the new due time and the assignment's cut-off when absent.
    pub cut_off_at: Option<NodeTime>,
}

/// Which files saved work holds.
#[derive(Debug)]
pub enum WorkFiles {
    /// Exactly these: the JSON API's `PUT` sends the whole work.
    Exactly(Vec<FileRef>),
    /// The files the draft holds when the change is written, and this one more when there is one:
    /// the web form adds one file per save.
    DraftFilesAnd(Option<FileRef>),
}

/// A pupil saving their work, as a draft or submitted.
#[derive(Debug)]
pub struct SubmissionInput {
    pub text: String,
    pub files: WorkFiles,
    /// Submit the work as a new attempt; otherwise it is saved as the draft.
    pub submit: bool,
    /// The device's clock (Unix ms), recorded for the teacher's information only.
    pub device_time: Option<i64>,
}

/// Which page of a class's assignments.
#[derive(Debug, Default)]
pub struct ListPage {
    /// Assignments per page: [`DEFAULT_ASSIGNMENTS_PER_PAGE`] when absent, at most
    /// [`MAX_ASSIGNMENTS_PER_PAGE`] (larger values are lowered).
    pub limit: Option<usize>,
    /// The previous page's `next_before`: this page starts after that assignment.
    pub before: Option<String>,
}

pub use self::reading::{DEFAULT_ASSIGNMENTS_PER_PAGE, MAX_ASSIGNMENTS_PER_PAGE};
use self::reading::{newest_assignments, read_assignment, read_submission};
pub use self::views::{
    AssignmentPage, AssignmentSummary, AssignmentView, AttemptView, DeadlineView, ExtensionView,
    FeedbackView, LtiLinkView, SubmissionCounts, SubmissionStatusView, SubmissionSummary,
    SubmissionView, ToolScoreView, WorkView,
};
use self::views::{assignment_view, submission_summary, submission_view};
pub use self::work::{
    DueWorkView, PupilWorkOverview, WORK_ASSIGNMENTS_PER_CLASS, WorkItemView, WorkState,
    work_due_in_week, work_of,
};

// ---------------------------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------------------------

/// Creates an assignment for `class`: teachers of the class only. Attachments must be the
/// teacher's own uploads, held here.
pub async fn create_assignment(
    state: &AppState,
    caller: &Caller,
    class: &str,
    new: NewAssignment,
) -> Result<AssignmentView, ServiceError> {
    let now = node_now();
    let access = Access::new(caller, roster_index(state).await?);
    require_class_work(&access, class)?;
    let lti_link = match &new.lti_tool {
        Some(tool) => Some(
            crate::school::services::assignment_link(
                state,
                &tool.service_id,
                None,
                tool.score_maximum,
            )
            .await?,
        ),
        None => None,
    };
    require_stored(state, &caller.user_id, &new.content.attachments).await?;
    let assignment = create_in_class(
        state,
        ItemId::generate(),
        class,
        &caller.user_id,
        new.content,
        lti_link,
        now,
    )
    .await?;
    Ok(assignment_view(&access, &assignment))
}

/// Writes a new assignment of `class` and its index entry (see the module documentation for the
/// order). The caller has checked that `creator` may set the class's work.
pub(crate) async fn create_in_class(
    state: &AppState,
    id: ItemId,
    class: &str,
    creator: &str,
    input: AssignmentInput,
    lti_link: Option<LtiLink>,
    now: NodeTime,
) -> Result<AssignmentDocument, ServiceError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let creator = creator.to_owned();
    let class = class.to_owned();
    blocking(move || {
        let index_doc = class_assignments_doc(&school, &class);
        // Checked before the assignment is written, so a full index refuses cleanly; the update of
        // the index checks again for a creation that raced this one.
        repository
            .read_or_default::<ClassAssignmentsIndex>(&index_doc)?
            .check_room(&id)?;
        let assignment = repository.update(
            &assignment_doc(&school, &id),
            |assignment: &mut AssignmentDocument| {
                assignment.create(&id, &class, input, &creator, now)?;
                assignment.lti_link = lti_link;
                Ok::<_, ModelError>(assignment.clone())
            },
        )?;
        repository.update(&index_doc, |index: &mut ClassAssignmentsIndex| {
            index.add(&class, &id, now)
        })?;
        Ok(assignment)
    })
    .await
}

/// The class's assignments, newest first, a page at a time: readers of the class. A pupil of the
/// class sees their own submission on each; the class's teachers see counts.
pub async fn list_assignments(
    state: &AppState,
    caller: &Caller,
    class: &str,
    page: ListPage,
) -> Result<AssignmentPage, ServiceError> {
    let roster = roster_index(state).await?;
    let access = Access::new(caller, roster.clone());
    access.require_class_reader(class)?;
    let limit = page
        .limit
        .unwrap_or(DEFAULT_ASSIGNMENTS_PER_PAGE)
        .clamp(1, MAX_ASSIGNMENTS_PER_PAGE);
    let me = caller.user_id.clone();
    let own_submissions = roster.attends(&me, class);
    let class_pupils: Option<Vec<UserId>> = roster.teaches(&me, class).then(|| {
        access
            .class(class)
            .map(|class| class.pupils().into_iter().cloned().collect())
            .unwrap_or_default()
    });
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class = class.to_owned();
    blocking(move || {
        let stored =
            newest_assignments(&repository, &school, &class, page.before.as_deref(), limit)?;
        let next_before = stored.next_before;
        let mut assignments = Vec::with_capacity(stored.assignments.len());
        for (id, assignment) in stored.assignments {
            let my_submission = if own_submissions {
                let submission = read_submission(&repository, &school, &id, &me)?;
                Some(submission_summary(
                    &roster,
                    &assignment,
                    &me,
                    submission.as_ref(),
                ))
            } else {
                None
            };
            let submission_counts = match &class_pupils {
                Some(pupils) => Some(submission_counts(
                    &repository,
                    &school,
                    &roster,
                    &assignment,
                    &id,
                    pupils,
                )?),
                None => None,
            };
            assignments.push(AssignmentSummary {
                id: assignment.id.clone(),
                class_id: assignment.class_sourced_id.clone(),
                title: assignment.title.clone(),
                created_at: assignment.created_at.0,
                updated_at: assignment.updated_at.0,
                due_at: assignment.due_at.0,
                cut_off_at: assignment.cut_off_at.0,
                attachment_count: assignment.attachments.len(),
                my_submission,
                submission_counts,
            });
        }
        Ok(AssignmentPage {
            assignments,
            next_before,
        })
    })
    .await
}

/// One assignment: readers of its class.
pub async fn get_assignment(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<AssignmentView, ServiceError> {
    let opened = OpenAssignment::open(state, caller, id).await?;
    opened.access.require_class_reader(opened.class())?;
    Ok(assignment_view(&opened.access, &opened.assignment))
}

/// Replaces the title, instructions, attachments and deadlines: teachers of the class. Extensions
/// stay; the LTI tool is chosen when the assignment is created and cannot change.
pub async fn edit_assignment(
    state: &AppState,
    caller: &Caller,
    id: &str,
    content: AssignmentInput,
) -> Result<AssignmentView, ServiceError> {
    let now = node_now();
    let opened = OpenAssignment::open(state, caller, id).await?;
    require_class_work(&opened.access, opened.class())?;
    let added = files_not_in(&content.attachments, &opened.assignment.attachments);
    require_stored(state, &caller.user_id, &added).await?;
    let assignment = update_assignment(state, &opened.id, move |assignment| {
        assignment.edit(content, now)?;
        Ok(())
    })
    .await?;
    Ok(assignment_view(&opened.access, &assignment))
}

/// Gives one pupil of the class a later deadline, replacing an earlier extension: teachers of the
/// class.
pub async fn grant_extension(
    state: &AppState,
    caller: &Caller,
    id: &str,
    pupil: &str,
    extension: ExtensionInput,
) -> Result<ExtensionView, ServiceError> {
    let now = node_now();
    let opened = OpenAssignment::open(state, caller, id).await?;
    require_class_work(&opened.access, opened.class())?;
    require_pupil_in_class(&opened.access, opened.class(), pupil)?;
    let granted_by = caller.user_id.clone();
    let extension_pupil = pupil.to_owned();
    let assignment = update_assignment(state, &opened.id, move |assignment| {
        assignment.grant_extension(
            &extension_pupil,
            extension.due_at,
            extension.cut_off_at,
            &granted_by,
            now,
        )?;
        Ok(())
    })
    .await?;
    let extension = assignment.extensions.get(pupil).ok_or_else(|| {
        ServiceError::Internal(format!("the extension of {pupil:?} was not kept"))
    })?;
    Ok(ExtensionView::new(pupil, extension))
}

/// The pupil's deadline is the assignment's again: teachers of the class.
pub async fn revoke_extension(
    state: &AppState,
    caller: &Caller,
    id: &str,
    pupil: &str,
) -> Result<(), ServiceError> {
    let opened = OpenAssignment::open(state, caller, id).await?;
    require_class_work(&opened.access, opened.class())?;
    require_pupil_in_class(&opened.access, opened.class(), pupil)?;
    let pupil = pupil.to_owned();
    update_assignment(state, &opened.id, move |assignment| {
        assignment.revoke_extension(&pupil)?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// The calling pupil saves their draft or submits it. A submission after the pupil's due time (by
/// node time) is late; after their cut-off it is refused.
///
/// Files named for the first time must be the pupil's own uploads, held here: a pupil who learnt
/// the id of a classmate's file must not attach it and download it from their own submission
/// (`crate::upload_records`). Reading the assignment, checking those files and writing the
/// submission happen in one visit to the blocking pool, and the submission's new files are worked
/// out inside its update: draft saves are the node's most frequent write.
pub async fn save_submission(
    state: &AppState,
    caller: &Caller,
    id: &str,
    input: SubmissionInput,
) -> Result<SubmissionView, ServiceError> {
    let now = node_now();
    // A caller who could not submit even in a class they attend is refused before anything is
    // read, whatever the assignment.
    let in_any_class = Relation {
        attends_class: true,
        ..Relation::default()
    };
    if !permits(Action::SubmitOwnWork, &caller.roles, in_any_class) {
        return Err(ServiceError::Forbidden(
            Action::SubmitOwnWork.refusal().to_owned(),
        ));
    }
    let roster = roster_index(state).await?;
    let id: ItemId = id.parse()?;
    let pupil = caller.user_id.clone();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let records = state.upload_records.clone();
    let roles = caller.roles.clone();
    let (assignment, submission) = blocking(move || {
        let assignment = read_assignment(&repository, &school, &id)?
            .ok_or_else(|| ServiceError::NotFound(format!("assignment {id} does not exist")))?;
        let class = assignment.class_sourced_id.clone();
        let relation = Access::relation_in(&roster, &pupil, Target::Class(&class));
        if !permits(Action::SubmitOwnWork, &roles, relation) {
            return Err(ServiceError::Forbidden(format!(
                "{} (class {class:?})",
                Action::SubmitOwnWork.refusal()
            )));
        }
        let submission_doc = submission_doc(&school, &id, &pupil);
        let named_before: Vec<FileRef> = match &input.files {
            // Only a save that names files needs the current submission to tell which are new;
            // text-only saves (the common case while a pupil types) skip the read.
            WorkFiles::Exactly(files) if files.is_empty() => Vec::new(),
            WorkFiles::DraftFilesAnd(None) => Vec::new(),
            _ => repository
                .read::<SubmissionDocument>(&submission_doc)?
                .map(|existing| files_of(&existing, true).cloned().collect())
                .unwrap_or_default(),
        };
        let new_files = match &input.files {
            WorkFiles::Exactly(files) => files_not_in(files, &named_before),
            WorkFiles::DraftFilesAnd(added) => files_not_in(added.as_slice(), &named_before),
        };
        check_stored(repository.store(), &records, &pupil, &new_files)?;
        let deadline = assignment.deadline_for(&pupil);
        let SubmissionInput {
            text,
            files,
            submit,
            device_time,
        } = input;
        let submission =
            repository.update(&submission_doc, |submission: &mut SubmissionDocument| {
                submission.open_for(&id, &pupil)?;
                let files = match &files {
                    WorkFiles::Exactly(files) => files.clone(),
                    WorkFiles::DraftFilesAnd(added) => {
                        let mut files = submission.draft.files.clone();
                        if let Some(added) = added
                            && !files.iter().any(|file| file.blob == added.blob)
                        {
                            files.push(added.clone());
                        }
                        files
                    }
                };
                let work = Work {
                    text: text.clone(),
                    files,
                };
                if submit {
                    submission.submit(work, deadline, now, device_time)?;
                } else {
                    submission.save_draft(work, now)?;
                }
                Ok::<_, ModelError>(submission.clone())
            })?;
        Ok((assignment, submission))
    })
    .await?;
    Ok(submission_view(
        &assignment,
        &caller.user_id,
        Some(&submission),
        true,
        now,
    ))
}

/// Where every pupil of the class stands, in id order: teachers of the class.
pub async fn list_submissions(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Vec<SubmissionSummary>, ServiceError> {
    let opened = OpenAssignment::open(state, caller, id).await?;
    require_class_work(&opened.access, opened.class())?;
    let pupils: Vec<UserId> = opened
        .access
        .class(opened.class())?
        .pupils()
        .into_iter()
        .cloned()
        .collect();
    let roster = opened.access.roster.clone();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let (id, assignment) = (opened.id.clone(), opened.assignment.clone());
    blocking(move || {
        pupils
            .iter()
            .map(|pupil| {
                let submission = read_submission(&repository, &school, &id, pupil)?;
                Ok(submission_summary(
                    &roster,
                    &assignment,
                    pupil,
                    submission.as_ref(),
                ))
            })
            .collect()
    })
    .await
}

/// One pupil's work and the feedback on it: the pupil, their guardians, the class's teachers and
/// school staff. A pupil who has not started has an empty draft; only the pupil sees their draft.
pub async fn get_submission(
    state: &AppState,
    caller: &Caller,
    id: &str,
    pupil: &str,
) -> Result<SubmissionView, ServiceError> {
    let now = node_now();
    let opened = OpenAssignment::open(state, caller, id).await?;
    require_submission_reader(&opened.access, opened.class(), pupil)?;
    let submission = load_submission(state, &opened.id, pupil).await?;
    Ok(submission_view(
        &opened.assignment,
        pupil,
        submission.as_ref(),
        caller.user_id == pupil,
        now,
    ))
}

/// Returns the latest attempt with feedback and a grade, optionally allowing a resubmission:
/// teachers of the class.
pub async fn return_submission(
    state: &AppState,
    caller: &Caller,
    id: &str,
    pupil: &str,
    feedback: FeedbackInput,
) -> Result<SubmissionView, ServiceError> {
    let now = node_now();
    let opened = OpenAssignment::open(state, caller, id).await?;
    require_class_work(&opened.access, opened.class())?;
    require_pupil_in_class(&opened.access, opened.class(), pupil)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let (id, returned_pupil, teacher) =
        (opened.id.clone(), pupil.to_owned(), caller.user_id.clone());
    let submission = blocking(move || {
        Ok(repository.update(
            &submission_doc(&school, &id, &returned_pupil),
            |submission: &mut SubmissionDocument| {
                // On a pupil with no submission document this binds a fresh one, and returning it
                // then refuses (nothing submitted), so nothing is written.
                submission.open_for(&id, &returned_pupil)?;
                submission.return_with_feedback(feedback, &teacher, now)?;
                Ok::<_, ModelError>(submission.clone())
            },
        )?)
    })
    .await?;
    Ok(submission_view(
        &opened.assignment,
        pupil,
        Some(&submission),
        false,
        now,
    ))
}

/// One of the assignment's attachments, for download: readers of the class.
pub async fn attachment(
    state: &AppState,
    caller: &Caller,
    id: &str,
    blob: &str,
) -> Result<FileRef, ServiceError> {
    let opened = OpenAssignment::open(state, caller, id).await?;
    opened.access.require_class_reader(opened.class())?;
    opened
        .assignment
        .attachments
        .iter()
        .find(|file| file.blob == blob)
        .cloned()
        .ok_or_else(|| ServiceError::NotFound("the assignment has no such attachment".into()))
}

/// A file of the pupil's submitted attempts (and, for the pupil themself, of their draft), for
/// download: whoever may read that submission.
pub async fn submission_file(
    state: &AppState,
    caller: &Caller,
    id: &str,
    pupil: &str,
    blob: &str,
) -> Result<FileRef, ServiceError> {
    let opened = OpenAssignment::open(state, caller, id).await?;
    require_submission_reader(&opened.access, opened.class(), pupil)?;
    let submission = load_submission(state, &opened.id, pupil).await?;
    submission
        .as_ref()
        .and_then(|submission| {
            files_of(submission, caller.user_id == pupil).find(|file| file.blob == blob)
        })
        .cloned()
        .ok_or_else(|| ServiceError::NotFound("the submission has no such file".into()))
}

/// The title of a class the caller sets work for, for the page that creates an assignment there:
/// teachers of the class.
pub async fn class_for_new_work(
    state: &AppState,
    caller: &Caller,
    class: &str,
) -> Result<String, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    require_class_work(&access, class)?;
    Ok(access.class(class)?.class.title.clone())
}

// ---------------------------------------------------------------------------------------------
// Permissions, through the policy.
// ---------------------------------------------------------------------------------------------

/// Setting and reviewing the class's work ([`Action::SetClassWork`]); 404 for an unknown class.
pub(crate) fn require_class_work(access: &Access<'_>, class: &str) -> Result<(), ServiceError> {
    access.class(class)?;
    access.require(Action::SetClassWork, Target::Class(class))
}

/// A pupil named in a path must be one of the class's pupils; anyone else is unknown here.
fn require_pupil_in_class(
    access: &Access<'_>,
    class: &str,
    pupil: &str,
) -> Result<(), ServiceError> {
    if access.roster.attends(pupil, class) {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!(
            "{pupil:?} is not a pupil of class {class:?}"
        )))
    }
}

/// Reading a pupil's submission: a reader of the class (403 first, so that the answer does not
/// tell an outsider who is in the class), a pupil of the class (404), and
/// [`Action::ReadPupilWorkInClass`].
fn require_submission_reader(
    access: &Access<'_>,
    class: &str,
    pupil: &str,
) -> Result<(), ServiceError> {
    access.require_class_reader(class)?;
    require_pupil_in_class(access, class, pupil)?;
    access.require(
        Action::ReadPupilWorkInClass,
        Target::PupilInClass { pupil, class },
    )
}

// ---------------------------------------------------------------------------------------------
// Loading and writing.
// ---------------------------------------------------------------------------------------------

/// An existing assignment with the caller's access, for the operations on one assignment.
struct OpenAssignment<'caller> {
    id: ItemId,
    assignment: AssignmentDocument,
    access: Access<'caller>,
}

impl<'caller> OpenAssignment<'caller> {
    /// Parses the id and loads the assignment: 400 for a malformed id, 404 for an unknown one.
    async fn open(
        state: &AppState,
        caller: &'caller Caller,
        id: &str,
    ) -> Result<Self, ServiceError> {
        let id: ItemId = id.parse()?;
        let roster = roster_index(state).await?;
        let repository = state.repository.clone();
        let school = state.identity.school.clone();
        let lookup = id.clone();
        let assignment = blocking(move || read_assignment(&repository, &school, &lookup))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("assignment {id} does not exist")))?;
        Ok(Self {
            id,
            assignment,
            access: Access::new(caller, roster),
        })
    }

    fn class(&self) -> &str {
        &self.assignment.class_sourced_id
    }
}

async fn load_submission(
    state: &AppState,
    id: &ItemId,
    pupil: &str,
) -> Result<Option<SubmissionDocument>, ServiceError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let (id, pupil) = (id.clone(), pupil.to_owned());
    blocking(move || read_submission(&repository, &school, &id, &pupil)).await
}

/// Changes an existing assignment durably and returns it as written.
async fn update_assignment(
    state: &AppState,
    id: &ItemId,
    change: impl FnOnce(&mut AssignmentDocument) -> Result<(), ModelError> + Send + 'static,
) -> Result<AssignmentDocument, ServiceError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let id = id.clone();
    blocking(move || {
        Ok(repository.update(
            &assignment_doc(&school, &id),
            |assignment: &mut AssignmentDocument| {
                // The operations load the assignment first and documents are never deleted, so
                // this holds; checking keeps an update from ever writing a half-made assignment.
                if assignment.id != id.as_str() {
                    return Err(ModelError::NotFound {
                        what: "assignment",
                        id: id.to_string(),
                    });
                }
                change(assignment)?;
                Ok(assignment.clone())
            },
        )?)
    })
    .await
}

/// Counts over the class's current pupils, one submission read each.
fn submission_counts(
    repository: &Repository,
    school: &SchoolCode,
    roster: &RosterIndex,
    assignment: &AssignmentDocument,
    id: &ItemId,
    pupils: &[UserId],
) -> Result<SubmissionCounts, ServiceError> {
    let mut counts = SubmissionCounts {
        pupils: pupils.len(),
        ..SubmissionCounts::default()
    };
    for pupil in pupils {
        let submission = read_submission(repository, school, id, pupil)?;
        let summary = submission_summary(roster, assignment, pupil, submission.as_ref());
        match summary.status {
            SubmissionStatusView::Draft => counts.not_submitted += 1,
            SubmissionStatusView::Submitted => counts.submitted += 1,
            SubmissionStatusView::Returned => counts.returned += 1,
        }
        if summary.late {
            counts.late += 1;
        }
    }
    Ok(counts)
}

/// The files of `files` whose blobs `known` does not name: what a request adds.
fn files_not_in(files: &[FileRef], known: &[FileRef]) -> Vec<FileRef> {
    let known: BTreeSet<&str> = known.iter().map(|file| file.blob.as_str()).collect();
    files
        .iter()
        .filter(|file| !known.contains(file.blob.as_str()))
        .cloned()
        .collect()
}

/// Every file the submission's attempts name, and its draft's when `with_draft`.
fn files_of(submission: &SubmissionDocument, with_draft: bool) -> impl Iterator<Item = &FileRef> {
    let draft = with_draft.then_some(&submission.draft.files);
    submission
        .attempts
        .iter()
        .flat_map(|attempt| attempt.work.files.iter())
        .chain(draft.into_iter().flatten())
}
