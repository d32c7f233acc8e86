//! What the assignment operations answer with: views of assignments and submissions for the
//! caller, built from the documents. Times are node time in Unix milliseconds.

use serde::Serialize;

use crate::model::assignments::{
    AssignmentDocument, Extension, SubmissionDocument, SubmissionStatus, Work,
};
use crate::model::common::NodeTime;
use crate::school::access::{Access, Target};
use crate::school::files::FileRefView;
use crate::school::policy::Action;
use crate::school::roster_index::RosterIndex;

/// The LTI tool of an assignment, as shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LtiLinkView {
    pub service_id: String,
    /// Where a pupil or teacher opens it: the node's launch of the tool for this assignment.
    pub launch_path: String,
    pub score_maximum: Option<f64>,
}

/// A score an LTI tool reported for the pupil (Assignment and Grade Services).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolScoreView {
    pub service_id: String,
    pub score_given: Option<f64>,
    pub score_maximum: Option<f64>,
    pub comment: Option<String>,
    pub activity_progress: String,
    pub grading_progress: String,
    /// Node time of receipt.
    pub received_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionStatusView {
    /// Nothing submitted yet (there may be a draft).
    Draft,
    /// The latest attempt waits for the teacher.
    Submitted,
    /// The latest attempt was returned with feedback.
    Returned,
}

impl From<SubmissionStatus> for SubmissionStatusView {
    fn from(status: SubmissionStatus) -> Self {
        match status {
            SubmissionStatus::Draft => SubmissionStatusView::Draft,
            SubmissionStatus::Submitted => SubmissionStatusView::Submitted,
            SubmissionStatus::Returned => SubmissionStatusView::Returned,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadlineView {
    pub due_at: i64,
    pub cut_off_at: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExtensionView {
    pub pupil: String,
    pub due_at: i64,
    pub cut_off_at: i64,
    pub granted_by: String,
    pub granted_at: i64,
}

impl ExtensionView {
    pub(super) fn new(pupil: &str, extension: &Extension) -> Self {
        Self {
            pupil: pupil.to_owned(),
            due_at: extension.due_at.0,
            cut_off_at: extension.cut_off_at.0,
            granted_by: extension.granted_by.clone(),
            granted_at: extension.granted_at.0,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignmentView {
    pub id: String,
    pub class_id: String,
    pub title: String,
    pub instructions: String,
    pub attachments: Vec<FileRefView>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub due_at: i64,
    pub cut_off_at: i64,
    /// The extensions the caller may see: every one for the class's teachers and school staff, a
    /// pupil's own, a guardian's children's.
    pub extensions: Vec<ExtensionView>,
    /// For a pupil of the class: the deadline that applies to them.
    pub my_deadline: Option<DeadlineView>,
    /// When the assignment is done in an LTI tool.
    pub lti_link: Option<LtiLinkView>,
}

/// One pupil's submission at a glance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubmissionSummary {
    pub pupil: String,
    pub display_name: String,
    pub status: SubmissionStatusView,
    pub attempts: usize,
    /// Node time of the latest attempt.
    pub submitted_at: Option<i64>,
    /// Whether the latest attempt was late.
    pub late: bool,
    /// The latest returned attempt's grade.
    pub grade: Option<String>,
    /// The latest score from the assignment's LTI tool, if any (AGS 2.0).
    pub tool_score: Option<ToolScoreView>,
    pub resubmission_allowed: bool,
    /// The pupil's effective deadline (their extension, if any).
    pub due_at: i64,
    pub cut_off_at: i64,
    pub has_extension: bool,
}

/// How a class's pupils stand on one assignment, for its teachers.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct SubmissionCounts {
    pub pupils: usize,
    /// Pupils with nothing submitted.
    pub not_submitted: usize,
    /// Pupils whose latest attempt waits for the teacher.
    pub submitted: usize,
    /// Pupils whose latest attempt was returned.
    pub returned: usize,
    /// Pupils whose latest attempt was late.
    pub late: usize,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignmentSummary {
    pub id: String,
    pub class_id: String,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub due_at: i64,
    pub cut_off_at: i64,
    pub attachment_count: usize,
    /// For a pupil of the class: their own submission.
    pub my_submission: Option<SubmissionSummary>,
    /// For the class's teachers.
    pub submission_counts: Option<SubmissionCounts>,
}

/// A page of a class's assignments, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignmentPage {
    pub assignments: Vec<AssignmentSummary>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkView {
    pub text: String,
    pub files: Vec<FileRefView>,
}

impl From<&Work> for WorkView {
    fn from(work: &Work) -> Self {
        Self {
            text: work.text.clone(),
            files: work.files.iter().map(FileRefView::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackView {
    pub text: String,
    pub grade: Option<String>,
    pub returned_at: i64,
    pub returned_by: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub number: u32,
    pub work: WorkView,
    /// Node time of receipt: what lateness goes by.
    pub submitted_at: i64,
    /// The device's clock as it reported it, for information only.
    pub device_time: Option<i64>,
    pub late: bool,
    pub feedback: Option<FeedbackView>,
}

/// One pupil's work on one assignment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubmissionView {
    pub assignment_id: String,
    pub pupil: String,
    pub status: SubmissionStatusView,
    /// The pupil's effective deadline.
    pub due_at: i64,
    pub cut_off_at: i64,
    /// Whether the pupil may submit now: the submission is open and the cut-off has not passed.
    pub can_submit: bool,
    pub resubmission_allowed: bool,
    /// Only for the pupil themself: work in progress is theirs until they submit it.
    pub draft: Option<WorkView>,
    pub draft_saved_at: Option<i64>,
    /// Oldest first.
    pub attempts: Vec<AttemptView>,
    /// The latest score from the assignment's LTI tool, if any.
    pub tool_score: Option<ToolScoreView>,
}

pub(super) fn assignment_view(
    access: &Access<'_>,
    assignment: &AssignmentDocument,
) -> AssignmentView {
    let class = assignment.class_sourced_id.as_str();
    let me = access.me();
    let my_deadline = access.roster.attends(me, class).then(|| {
        let deadline = assignment.deadline_for(me);
        DeadlineView {
            due_at: deadline.due_at.0,
            cut_off_at: deadline.cut_off_at.0,
        }
    });
    AssignmentView {
        id: assignment.id.clone(),
        class_id: assignment.class_sourced_id.clone(),
        title: assignment.title.clone(),
        instructions: assignment.instructions.clone(),
        attachments: assignment
            .attachments
            .iter()
            .map(FileRefView::from)
            .collect(),
        created_by: assignment.created_by.clone(),
        created_at: assignment.created_at.0,
        updated_at: assignment.updated_at.0,
        due_at: assignment.due_at.0,
        cut_off_at: assignment.cut_off_at.0,
        extensions: assignment
            .extensions
            .iter()
            .filter(|(pupil, _)| {
                access.may(
                    Action::ReadPupilWorkInClass,
                    Target::PupilInClass { pupil, class },
                )
            })
            .map(|(pupil, extension)| ExtensionView::new(pupil, extension))
            .collect(),
        my_deadline,
        lti_link: assignment.lti_link.as_ref().map(|link| LtiLinkView {
            service_id: link.service_id.clone(),
            launch_path: crate::school::tools::launch_path(
                &link.service_id,
                None,
                Some(&assignment.id),
            ),
            score_maximum: link
                .score_maximum
                .as_deref()
                .and_then(|maximum| maximum.parse().ok()),
        }),
    }
}

pub(super) fn display_name(roster: &RosterIndex, user: &str) -> String {
    roster
        .users
        .user(user)
        .map(|user| user.display_name())
        .unwrap_or_else(|| user.to_owned())
}

pub(super) fn submission_summary(
    roster: &RosterIndex,
    assignment: &AssignmentDocument,
    pupil: &str,
    submission: Option<&SubmissionDocument>,
) -> SubmissionSummary {
    let deadline = assignment.deadline_for(pupil);
    let latest = submission.and_then(SubmissionDocument::latest_attempt);
    SubmissionSummary {
        pupil: pupil.to_owned(),
        display_name: display_name(roster, pupil),
        status: submission
            .map_or(SubmissionStatus::Draft, |submission| submission.status)
            .into(),
        attempts: submission.map_or(0, |submission| submission.attempts.len()),
        submitted_at: latest.map(|attempt| attempt.submitted_at.0),
        late: latest.is_some_and(|attempt| attempt.late),
        grade: latest
            .and_then(|attempt| attempt.feedback.as_ref())
            .and_then(|feedback| feedback.grade.clone()),
        tool_score: submission
            .and_then(|submission| submission.tool_score.as_ref())
            .map(tool_score_view),
        resubmission_allowed: submission.is_some_and(|submission| submission.resubmission_allowed),
        due_at: deadline.due_at.0,
        cut_off_at: deadline.cut_off_at.0,
        has_extension: assignment.extensions.contains_key(pupil),
    }
}

pub(super) fn submission_view(
    assignment: &AssignmentDocument,
    pupil: &str,
    submission: Option<&SubmissionDocument>,
    show_draft: bool,
    now: NodeTime,
) -> SubmissionView {
    let deadline = assignment.deadline_for(pupil);
    let open = submission.is_none_or(SubmissionDocument::is_open);
    let attempts = submission
        .map(|submission| {
            submission
                .attempts
                .iter()
                .map(|attempt| AttemptView {
                    number: attempt.number,
                    work: WorkView::from(&attempt.work),
                    submitted_at: attempt.submitted_at.0,
                    device_time: attempt.device_time,
                    late: attempt.late,
                    feedback: attempt.feedback.as_ref().map(|feedback| FeedbackView {
                        text: feedback.text.clone(),
                        grade: feedback.grade.clone(),
                        returned_at: feedback.returned_at.0,
                        returned_by: feedback.returned_by.clone(),
                    }),
                })
                .collect()
        })
        .unwrap_or_default();
    let draft = show_draft.then(|| {
        submission.map_or(
            WorkView {
                text: String::new(),
                files: Vec::new(),
            },
            |submission| WorkView::from(&submission.draft),
        )
    });
    SubmissionView {
        assignment_id: assignment.id.clone(),
        pupil: pupil.to_owned(),
        status: submission
            .map_or(SubmissionStatus::Draft, |submission| submission.status)
            .into(),
        due_at: deadline.due_at.0,
        cut_off_at: deadline.cut_off_at.0,
        can_submit: open && now <= deadline.cut_off_at,
        resubmission_allowed: submission.is_some_and(|submission| submission.resubmission_allowed),
        draft,
        draft_saved_at: if show_draft {
            submission
                .and_then(|submission| submission.draft_saved_at)
                .map(|saved| saved.0)
        } else {
            None
        },
        attempts,
        tool_score: submission
            .and_then(|submission| submission.tool_score.as_ref())
            .map(tool_score_view),
    }
}

pub(super) fn tool_score_view(score: &crate::model::assignments::ToolScore) -> ToolScoreView {
    ToolScoreView {
        service_id: score.service_id.clone(),
        score_given: score
            .score_given
            .as_deref()
            .and_then(|given| given.parse().ok()),
        score_maximum: score
            .score_maximum
            .as_deref()
            .and_then(|maximum| maximum.parse().ok()),
        comment: score.comment.clone(),
        activity_progress: score.activity_progress.clone(),
        grading_progress: score.grading_progress.clone(),
        received_at: score.received_at.0,
    }
}
