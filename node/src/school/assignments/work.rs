//! A pupil's work across their classes: the overview behind a pupil's "my work" page, a
//! guardian's view of a child's work and the grades and feedback overview ([`work_of`]), and the
//! work due in one week for the week timetable ([`work_due_in_week`]).
//!
//! Both read the newest page of each class's assignment index (as a class's list does), so their
//! cost is bounded by the number of classes one pupil takes part in times
//! [`WORK_ASSIGNMENTS_PER_CLASS`], and one submission document for each assignment they show.
//! Which classes the caller sees is decided class by class with the policy: a pupil's own work and
//! a guardian's child's in every class, a teacher's view only in the classes they teach
//! ([`Action::ReadPupilWorkInClass`]).

use std::collections::BTreeSet;

use serde::Serialize;

use super::reading::{MAX_ASSIGNMENTS_PER_PAGE, newest_assignments, read_submission};
use super::views::{
    FeedbackView, SubmissionStatusView, ToolScoreView, display_name, submission_summary,
    tool_score_view,
};
use crate::auth::Caller;
use crate::model::UserId;
use crate::model::assignments::{AssignmentDocument, SubmissionDocument};
use crate::model::common::NodeTime;
use crate::school::access::{Access, Target, require_known_pupil, roster_index};
use crate::school::calendar::{SchoolWeek, school_date_at};
use crate::school::error::ServiceError;
use crate::school::policy::Action;
use crate::school::roster_index::RosterIndex;
use crate::school::runtime::{blocking, node_now};
use crate::state::AppState;

/// The newest assignments of each class that a pupil's work overview and a week's due work read:
/// one full page of the class's list ([`MAX_ASSIGNMENTS_PER_PAGE`]), about a term of work
/// in a class that gets a few assignments a week. Older assignments drop off the overview (it says
/// so, naming the class) but stay where they were.
pub const WORK_ASSIGNMENTS_PER_CLASS: usize = MAX_ASSIGNMENTS_PER_PAGE;

/// Where one pupil stands on one assignment, as their work overview groups it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkState {
    /// Nothing submitted yet, and the pupil's due time is still ahead.
    ToDo,
    /// Nothing submitted, and the pupil's due time has passed.
    Late,
    /// The latest attempt waits for the teacher.
    Submitted,
    /// The latest attempt was returned with feedback.
    Returned,
}

/// One assignment of a pupil's overview.
#[derive(Debug, Serialize)]
pub struct WorkItemView {
    pub assignment_id: String,
    pub title: String,
    pub class: String,
    pub class_title: String,
    pub state: WorkState,
    /// The pupil's effective due time and cut-off (their extension, if any), node time.
    pub due_at: i64,
    pub cut_off_at: i64,
    /// Whether the pupil may still hand work in: the submission is open and the cut-off is ahead.
    pub can_submit: bool,
    /// Node time of the latest attempt.
    pub submitted_at: Option<i64>,
    /// Whether the latest attempt came after the pupil's due time.
    pub submitted_late: bool,
    /// The newest feedback the pupil has had on this assignment (after a resubmission, the
    /// feedback on the attempt before), and who gave it.
    pub feedback: Option<FeedbackView>,
    pub feedback_by_name: Option<String>,
    pub resubmission_allowed: bool,
    /// The latest score from the assignment's LTI tool, if any.
    pub tool_score: Option<ToolScoreView>,
}

/// A pupil's work in the classes the caller may see it in.
#[derive(Debug, Serialize)]
pub struct PupilWorkOverview {
    pub pupil: UserId,
    pub pupil_name: String,
    /// Soonest due first.
    pub items: Vec<WorkItemView>,
    /// Titles of classes that have older assignments than the overview reads.
    pub classes_with_older_work: Vec<String>,
    /// How many of the pupil's classes the caller may not see the work of (a teacher sees their own
    /// classes only), so that a page can say the overview is partial.
    pub classes_not_shown: usize,
}

/// One assignment due in a week.
#[derive(Debug, Serialize)]
pub struct DueWorkView {
    pub assignment_id: String,
    pub title: String,
    pub class: String,
    pub class_title: String,
    /// Node time: the pupil's own due time in a class they attend, the class's otherwise.
    pub due_at: i64,
    /// Where the pupil's work stands, in a class they attend.
    pub status: Option<SubmissionStatusView>,
}

/// The pupil's work in every class of theirs that the caller may see it in: the pupil, their
/// guardians and school staff see every class, a teacher the classes they teach. 403 before 404, so
/// that the answer does not tell an outsider which pupils exist.
pub async fn work_of(
    state: &AppState,
    caller: &Caller,
    pupil: &str,
) -> Result<PupilWorkOverview, ServiceError> {
    let now = node_now();
    let access = Access::new(caller, roster_index(state).await?);
    access.require_pupil_reader(pupil)?;
    require_known_pupil(&access.roster, pupil)?;
    let attended = access
        .roster
        .classes_as_pupil
        .get(pupil)
        .cloned()
        .unwrap_or_default();
    let (visible, hidden): (Vec<String>, Vec<String>) = attended.into_iter().partition(|class| {
        access.may(
            Action::ReadPupilWorkInClass,
            Target::PupilInClass { pupil, class },
        )
    });
    let roster = access.roster.clone();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let pupil = pupil.to_owned();
    blocking(move || {
        let mut items = Vec::new();
        let mut classes_with_older_work = Vec::new();
        for class in &visible {
            let stored = newest_assignments(
                &repository,
                &school,
                class,
                None,
                WORK_ASSIGNMENTS_PER_CLASS,
            )?;
            if stored.next_before.is_some() {
                classes_with_older_work.push(class_title(&roster, class));
            }
            for (id, assignment) in stored.assignments {
                let submission = read_submission(&repository, &school, &id, &pupil)?;
                items.push(work_item(
                    &roster,
                    &assignment,
                    &pupil,
                    submission.as_ref(),
                    now,
                ));
            }
        }
        items.sort_by(|first, second| {
            (first.due_at, &first.title, &first.assignment_id).cmp(&(
                second.due_at,
                &second.title,
                &second.assignment_id,
            ))
        });
        Ok(PupilWorkOverview {
            pupil_name: display_name(&roster, &pupil),
            pupil,
            items,
            classes_with_older_work,
            classes_not_shown: hidden.len(),
        })
    })
    .await
}

/// The work due in `week` (by the school's calendar) in the classes of a week timetable, soonest
/// first: in the `attended` classes with `pupil`'s own due time and status, where the caller may
/// see the pupil's work there; in the `taught` classes (the caller's own) with the class's due
/// time.
pub async fn work_due_in_week(
    state: &AppState,
    access: &Access<'_>,
    pupil: &str,
    attended: &BTreeSet<String>,
    taught: &BTreeSet<String>,
    week: SchoolWeek,
) -> Result<Vec<DueWorkView>, ServiceError> {
    let mut classes: Vec<(String, bool)> = attended
        .iter()
        .filter(|class| {
            access.may(
                Action::ReadPupilWorkInClass,
                Target::PupilInClass { pupil, class },
            )
        })
        .map(|class| (class.clone(), true))
        .collect();
    classes.extend(
        taught
            .iter()
            .filter(|class| !attended.contains(*class))
            .filter(|class| access.may(Action::ReadClass, Target::Class(class)))
            .map(|class| (class.clone(), false)),
    );
    let roster = access.roster.clone();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let pupil = pupil.to_owned();
    blocking(move || {
        let mut due = Vec::new();
        for (class, as_pupil) in &classes {
            let stored = newest_assignments(
                &repository,
                &school,
                class,
                None,
                WORK_ASSIGNMENTS_PER_CLASS,
            )?;
            for (id, assignment) in stored.assignments {
                let due_at = if *as_pupil {
                    assignment.deadline_for(&pupil).due_at
                } else {
                    assignment.due_at
                };
                if !week.contains(school_date_at(due_at)?) {
                    continue;
                }
                let status = if *as_pupil {
                    let submission = read_submission(&repository, &school, &id, &pupil)?;
                    Some(
                        submission_summary(&roster, &assignment, &pupil, submission.as_ref())
                            .status,
                    )
                } else {
                    None
                };
                due.push(DueWorkView {
                    assignment_id: assignment.id.clone(),
                    title: assignment.title.clone(),
                    class: class.clone(),
                    class_title: class_title(&roster, class),
                    due_at: due_at.0,
                    status,
                });
            }
        }
        due.sort_by(|first, second| {
            (first.due_at, &first.title, &first.assignment_id).cmp(&(
                second.due_at,
                &second.title,
                &second.assignment_id,
            ))
        });
        Ok(due)
    })
    .await
}

fn class_title(roster: &RosterIndex, class: &str) -> String {
    roster
        .classes
        .get(class)
        .map(|document| document.class.title.clone())
        .unwrap_or_else(|| class.to_owned())
}

fn work_item(
    roster: &RosterIndex,
    assignment: &AssignmentDocument,
    pupil: &str,
    submission: Option<&SubmissionDocument>,
    now: NodeTime,
) -> WorkItemView {
    let summary = submission_summary(roster, assignment, pupil, submission);
    let state = match summary.status {
        SubmissionStatusView::Returned => WorkState::Returned,
        SubmissionStatusView::Submitted => WorkState::Submitted,
        SubmissionStatusView::Draft if now.0 > summary.due_at => WorkState::Late,
        SubmissionStatusView::Draft => WorkState::ToDo,
    };
    let feedback = submission.and_then(|submission| {
        submission
            .attempts
            .iter()
            .rev()
            .find_map(|attempt| attempt.feedback.as_ref())
    });
    let open = submission.is_none_or(SubmissionDocument::is_open);
    WorkItemView {
        assignment_id: assignment.id.clone(),
        title: assignment.title.clone(),
        class: assignment.class_sourced_id.clone(),
        class_title: class_title(roster, &assignment.class_sourced_id),
        state,
        due_at: summary.due_at,
        cut_off_at: summary.cut_off_at,
        can_submit: open && now.0 <= summary.cut_off_at,
        submitted_at: summary.submitted_at,
        submitted_late: summary.late,
        feedback_by_name: feedback.map(|feedback| display_name(roster, &feedback.returned_by)),
        feedback: feedback.map(|feedback| FeedbackView {
            text: feedback.text.clone(),
            grade: feedback.grade.clone(),
            returned_at: feedback.returned_at.0,
            returned_by: feedback.returned_by.clone(),
        }),
        resubmission_allowed: summary.resubmission_allowed,
        tool_score: submission
            .and_then(|submission| submission.tool_score.as_ref())
            .map(tool_score_view),
    }
}
