//! Assignments and submissions.
//!
//! - `school:S/assignment-<id>`: one assignment of one class, `<id>` a generated [`ItemId`]: its
//!   text, attachments, deadlines and per-pupil extensions. Written by the class's teachers.
//! - `school:S/submission-<assignment id>-<pupil key>`: one pupil's work on one assignment: the
//!   draft, every submitted attempt, and the teacher's feedback on each. One document per pupil so
//!   that a pupil's writes never touch another pupil's data, and a class of thirty submitting at the
//!   deadline writes thirty small documents rather than one contended large one.
//!
//! Deadlines are judged by node time only. A pupil's device may be offline with a wrong clock; what
//! it reports is stored as `device_time` for the teacher's information and never decides anything.
//! An attempt is late when the node receives it after the pupil's effective due time, and refused
//! after the effective cut-off time.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, SchoolCode};

use super::UserId;
use super::common::{
    FileRef, ItemId, MAX_BODY_CHARS, MAX_TITLE_CHARS, ModelError, NodeTime, claim_identity,
    insert_or_replace, multi_line, optional_single_line, school_doc, single_line, sourced_id,
    sourced_id_key, validate_files,
};

/// Files attached to an assignment by the teacher.
pub const MAX_ATTACHMENTS_PER_ASSIGNMENT: usize = 20;
/// Extensions on one assignment: one per pupil at most, and no class is this large.
pub const MAX_EXTENSIONS_PER_ASSIGNMENT: usize = 1_000;
/// Attempts in one submission document (first submission and resubmissions after return).
pub const MAX_ATTEMPTS_PER_SUBMISSION: usize = 20;
/// Files in one attempt or draft.
pub const MAX_FILES_PER_ATTEMPT: usize = 10;
/// A grade as the teacher writes it: "9-", "hyväksytty", "S".
pub const MAX_GRADE_CHARS: usize = 20;
/// The largest score or score maximum an LTI tool may send (AGS 2.0 sets no bound; no school
/// grade scale comes near it).
pub const MAX_TOOL_SCORE: f64 = 1_000_000.0;
/// A tool's comment on a score.
pub const MAX_TOOL_COMMENT_CHARS: usize = 1_000;

/// `school:S/assignment-<id>`.
pub fn assignment_doc(school: &SchoolCode, assignment_id: &ItemId) -> DocId {
    school_doc(school, &format!("assignment-{assignment_id}"))
}

/// `school:S/submission-<assignment id>-<pupil key>`, the pupil's key by [`sourced_id_key`].
pub fn submission_doc(school: &SchoolCode, assignment_id: &ItemId, pupil: &str) -> DocId {
    school_doc(
        school,
        &format!("submission-{assignment_id}-{}", sourced_id_key(pupil)),
    )
}

/// The times that apply to one pupil: late after `due_at`, refused after `cut_off_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deadline {
    pub due_at: NodeTime,
    pub cut_off_at: NodeTime,
}

/// A pupil's personal deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    pub due_at: NodeTime,
    pub cut_off_at: NodeTime,
    pub granted_by: UserId,
    pub granted_at: NodeTime,
}

/// What a teacher enters when creating or editing an assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentInput {
    pub title: String,
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub attachments: Vec<FileRef>,
    pub due_at: NodeTime,
    /// When submissions close; `None` closes them at the due time.
    pub cut_off_at: Option<NodeTime>,
}

/// The assignment document. `id` is empty until [`AssignmentDocument::create`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentDocument {
    pub id: String,
    pub class_sourced_id: String,
    pub title: String,
    pub instructions: String,
    pub attachments: Vec<FileRef>,
    pub created_by: UserId,
    pub created_at: NodeTime,
    pub updated_at: NodeTime,
    pub due_at: NodeTime,
    pub cut_off_at: NodeTime,
    /// By pupil.
    pub extensions: BTreeMap<UserId, Extension>,
    /// The LTI tool the assignment is done in, when it is (made by Deep Linking or by the teacher
    /// naming a tool). Set at creation; editing the text leaves it.
    #[serde(default)]
    pub lti_link: Option<LtiLink>,
}

/// An assignment done in an LTI 1.3 tool: opening it is a resource-link launch of the tool, and
/// the tool reports scores for it through Assignment and Grade Services (`crate::lti`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct LtiLink {
    /// The catalogue's service id (the tool's client id).
    pub service_id: String,
    /// The target link URI of the launch, when the tool picked one (Deep Linking); else the
    /// tool's registered launch URL.
    pub url: Option<String>,
    /// The line item's score maximum, a decimal as written by [`format_score`]; `None` when the
    /// assignment takes no scores from the tool.
    pub score_maximum: Option<String>,
}

/// A score as stored: the shortest decimal that reads back as the same number.
pub fn format_score(value: f64) -> String {
    format!("{value}")
}

/// Validates a score or maximum from a tool: finite, not negative, at most [`MAX_TOOL_SCORE`].
pub fn validate_score(field: &'static str, value: f64) -> Result<f64, ModelError> {
    if value.is_finite() && (0.0..=MAX_TOOL_SCORE).contains(&value) {
        Ok(value)
    } else {
        Err(ModelError::Invalid {
            field,
            reason: format!("{value} is not a number from 0 to {MAX_TOOL_SCORE}"),
        })
    }
}

impl AssignmentDocument {
    /// Fills a new (default) document. Refused when the document already holds an assignment, so
    /// a repeated request cannot overwrite one.
    pub fn create(
        &mut self,
        id: &ItemId,
        class_sourced_id: &str,
        input: AssignmentInput,
        created_by: &str,
        now: NodeTime,
    ) -> Result<(), ModelError> {
        if !self.id.is_empty() {
            return Err(ModelError::AlreadyExists {
                what: "assignment",
                id: self.id.clone(),
            });
        }
        let mut created = AssignmentDocument {
            id: id.to_string(),
            class_sourced_id: sourced_id("class", class_sourced_id)?,
            created_by: sourced_id("created by", created_by)?,
            created_at: now,
            ..AssignmentDocument::default()
        };
        created.edit(input, now)?;
        *self = created;
        Ok(())
    }

    /// Replaces the title, instructions, attachments and deadlines. Extensions stay; an extension
    /// never ends before the assignment's own times (see [`AssignmentDocument::deadline_for`]).
    pub fn edit(&mut self, input: AssignmentInput, now: NodeTime) -> Result<(), ModelError> {
        let cut_off_at = input.cut_off_at.unwrap_or(input.due_at);
        if cut_off_at < input.due_at {
            return Err(ModelError::Invalid {
                field: "cut-off time",
                reason: format!(
                    "the cut-off ({cut_off_at}) must not be before the due time ({})",
                    input.due_at
                ),
            });
        }
        validate_files(
            "attachments",
            &input.attachments,
            MAX_ATTACHMENTS_PER_ASSIGNMENT,
        )?;
        self.title = single_line("title", &input.title, MAX_TITLE_CHARS)?;
        self.instructions = multi_line("instructions", &input.instructions, MAX_BODY_CHARS, false)?;
        self.attachments = input.attachments;
        self.due_at = input.due_at;
        self.cut_off_at = cut_off_at;
        self.updated_at = now;
        Ok(())
    }

    /// Gives `pupil` a later due time (and optionally a later cut-off; by default the later of the
    /// new due time and the assignment's cut-off). Granting again replaces the extension.
    pub fn grant_extension(
        &mut self,
        pupil: &str,
        due_at: NodeTime,
        cut_off_at: Option<NodeTime>,
        granted_by: &str,
        now: NodeTime,
    ) -> Result<&Extension, ModelError> {
        let pupil = sourced_id("pupil", pupil)?;
        if due_at < self.due_at {
            return Err(ModelError::Invalid {
                field: "due time",
                reason: format!(
                    "an extension cannot end before the assignment's due time ({})",
                    self.due_at
                ),
            });
        }
        let cut_off_at = cut_off_at.unwrap_or(due_at.max(self.cut_off_at));
        if cut_off_at < due_at {
            return Err(ModelError::Invalid {
                field: "cut-off time",
                reason: format!(
                    "the cut-off ({cut_off_at}) must not be before the due time ({due_at})"
                ),
            });
        }
        if !self.extensions.contains_key(&pupil)
            && self.extensions.len() >= MAX_EXTENSIONS_PER_ASSIGNMENT
        {
            return Err(ModelError::LimitReached {
                what: "extensions",
                max: MAX_EXTENSIONS_PER_ASSIGNMENT,
            });
        }
        let extension = Extension {
            due_at,
            cut_off_at,
            granted_by: sourced_id("granted by", granted_by)?,
            granted_at: now,
        };
        Ok(insert_or_replace(&mut self.extensions, pupil, extension))
    }

    pub fn revoke_extension(&mut self, pupil: &str) -> Result<Extension, ModelError> {
        self.extensions
            .remove(pupil)
            .ok_or_else(|| ModelError::NotFound {
                what: "extension for pupil",
                id: pupil.to_owned(),
            })
    }

    /// The pupil's effective deadline: their extension where they have one, but never earlier than
    /// the assignment's own times (a teacher may move the assignment past an old extension).
    pub fn deadline_for(&self, pupil: &str) -> Deadline {
        let general = Deadline {
            due_at: self.due_at,
            cut_off_at: self.cut_off_at,
        };
        match self.extensions.get(pupil) {
            None => general,
            Some(extension) => Deadline {
                due_at: extension.due_at.max(general.due_at),
                cut_off_at: extension.cut_off_at.max(general.cut_off_at),
            },
        }
    }
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile,
)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionStatus {
    /// Nothing submitted yet (there may be a draft).
    #[default]
    #[autosurgeon(rename = "draft")]
    Draft,
    /// The latest attempt waits for the teacher.
    #[autosurgeon(rename = "submitted")]
    Submitted,
    /// The teacher returned the latest attempt with feedback.
    #[autosurgeon(rename = "returned")]
    Returned,
}

impl SubmissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Draft => "draft",
            SubmissionStatus::Submitted => "submitted",
            SubmissionStatus::Returned => "returned",
        }
    }
}

/// Text and files as the pupil sends them, for a draft or an attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Work {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub files: Vec<FileRef>,
}

impl Work {
    fn validate(&self) -> Result<(), ModelError> {
        multi_line("text", &self.text, MAX_BODY_CHARS, false)?;
        validate_files("files", &self.files, MAX_FILES_PER_ATTEMPT)
    }

    fn is_empty(&self) -> bool {
        self.text.trim().is_empty() && self.files.is_empty()
    }
}

/// The teacher's response to an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Feedback {
    pub text: String,
    pub grade: Option<String>,
    pub returned_at: NodeTime,
    pub returned_by: UserId,
}

/// What a teacher enters when returning an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackInput {
    #[serde(default)]
    pub text: String,
    pub grade: Option<String>,
    /// Whether the pupil may submit again.
    #[serde(default)]
    pub allow_resubmission: bool,
}

/// One submission of the pupil's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1 for the first submission, counting up. The key of the list of attempts.
    #[key]
    pub number: u32,
    pub work: Work,
    /// Node time of receipt: what lateness and ordering go by.
    pub submitted_at: NodeTime,
    /// The device's clock as it reported it (Unix ms), for information only.
    pub device_time: Option<i64>,
    /// Received after the pupil's effective due time.
    pub late: bool,
    pub feedback: Option<Feedback>,
}

/// The submission document of one pupil for one assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionDocument {
    pub assignment_id: String,
    pub pupil: UserId,
    pub status: SubmissionStatus,
    /// Work in progress, saved by the pupil; submitting copies it into an attempt.
    pub draft: Work,
    pub draft_saved_at: Option<NodeTime>,
    pub attempts: Vec<Attempt>,
    /// Set by the teacher on return; cleared by the next submission.
    pub resubmission_allowed: bool,
    /// The latest score the assignment's LTI tool reported for the pupil (AGS 2.0).
    #[serde(default)]
    pub tool_score: Option<ToolScore>,
}

/// A score from an LTI tool (Assignment and Grade Services 2.0, the score publish service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct ToolScore {
    pub service_id: String,
    /// Decimals as [`format_score`] writes them; both or neither.
    pub score_given: Option<String>,
    pub score_maximum: Option<String>,
    pub comment: Option<String>,
    /// `Initialized`, `Started`, `InProgress`, `Submitted` or `Completed`.
    pub activity_progress: String,
    /// `FullyGraded`, `Pending`, `PendingManual`, `Failed` or `NotReady`.
    pub grading_progress: String,
    /// When the tool says the score was set (its clock, Unix ms): a score older than the one
    /// kept is refused, as AGS requires.
    pub timestamp_millis: i64,
    /// Node time of receipt.
    pub received_at: NodeTime,
}

impl SubmissionDocument {
    /// Keeps `score` as the pupil's tool score unless the one kept is newer by the tool's clock.
    pub fn record_tool_score(&mut self, score: ToolScore) -> Result<(), ModelError> {
        if let Some(kept) = &self.tool_score
            && kept.timestamp_millis > score.timestamp_millis
        {
            return Err(ModelError::Conflict(
                "a newer score from the tool is already recorded".to_owned(),
            ));
        }
        if let Some(comment) = &score.comment {
            multi_line("comment", comment, MAX_TOOL_COMMENT_CHARS, false)?;
        }
        self.tool_score = Some(score);
        Ok(())
    }
}

impl SubmissionDocument {
    /// Binds a new document to its assignment and pupil, or checks an existing one is theirs.
    pub fn open_for(&mut self, assignment_id: &ItemId, pupil: &str) -> Result<(), ModelError> {
        claim_identity(
            &mut self.assignment_id,
            assignment_id.as_str(),
            "assignment",
        )?;
        claim_identity(&mut self.pupil, pupil, "pupil")
    }

    /// Whether the pupil may change the draft and submit now (time aside).
    pub fn is_open(&self) -> bool {
        match self.status {
            SubmissionStatus::Draft => true,
            SubmissionStatus::Submitted => false,
            SubmissionStatus::Returned => self.resubmission_allowed,
        }
    }

    /// Saves the pupil's work in progress.
    pub fn save_draft(&mut self, work: Work, now: NodeTime) -> Result<(), ModelError> {
        self.check_open("saving a draft")?;
        work.validate()?;
        self.draft = work;
        self.draft_saved_at = Some(now);
        Ok(())
    }

    /// Submits `work` as a new attempt, judged against `deadline` by node time `now`: refused after
    /// the cut-off, marked late after the due time. `device_time` is stored as reported.
    pub fn submit(
        &mut self,
        work: Work,
        deadline: Deadline,
        now: NodeTime,
        device_time: Option<i64>,
    ) -> Result<&Attempt, ModelError> {
        self.check_open("submitting")?;
        if now > deadline.cut_off_at {
            return Err(ModelError::PastCutOff {
                cut_off_at: deadline.cut_off_at,
                now,
            });
        }
        work.validate()?;
        if work.is_empty() {
            return Err(ModelError::Empty {
                field: "submission (text or files)",
            });
        }
        if self.attempts.len() >= MAX_ATTEMPTS_PER_SUBMISSION {
            return Err(ModelError::LimitReached {
                what: "attempts",
                max: MAX_ATTEMPTS_PER_SUBMISSION,
            });
        }
        let number = self
            .attempts
            .iter()
            .map(|attempt| attempt.number)
            .max()
            .unwrap_or(0)
            + 1;
        self.draft = work.clone();
        self.draft_saved_at = Some(now);
        self.status = SubmissionStatus::Submitted;
        self.resubmission_allowed = false;
        self.attempts.push(Attempt {
            number,
            work,
            submitted_at: now,
            device_time,
            late: now > deadline.due_at,
            feedback: None,
        });
        self.latest_attempt().ok_or(ModelError::NotFound {
            what: "attempt",
            id: number.to_string(),
        })
    }

    /// The teacher returns the latest attempt with feedback, optionally allowing a resubmission.
    pub fn return_with_feedback(
        &mut self,
        input: FeedbackInput,
        returned_by: &str,
        now: NodeTime,
    ) -> Result<&Attempt, ModelError> {
        if self.status != SubmissionStatus::Submitted {
            return Err(ModelError::WrongSubmissionStatus {
                status: self.status.as_str(),
                action: "returning it",
            });
        }
        let feedback = Feedback {
            text: multi_line("feedback", &input.text, MAX_BODY_CHARS, false)?,
            grade: optional_single_line("grade", input.grade.as_deref(), MAX_GRADE_CHARS)?,
            returned_at: now,
            returned_by: sourced_id("returned by", returned_by)?,
        };
        let latest = self
            .attempts
            .last_mut()
            .ok_or_else(|| ModelError::NotFound {
                what: "attempt",
                id: "latest".to_owned(),
            })?;
        latest.feedback = Some(feedback);
        self.status = SubmissionStatus::Returned;
        self.resubmission_allowed = input.allow_resubmission;
        Ok(latest)
    }

    /// The teacher allows a resubmission of an attempt already returned without one.
    pub fn allow_resubmission(&mut self) -> Result<(), ModelError> {
        if self.status != SubmissionStatus::Returned {
            return Err(ModelError::WrongSubmissionStatus {
                status: self.status.as_str(),
                action: "allowing a resubmission",
            });
        }
        self.resubmission_allowed = true;
        Ok(())
    }

    pub fn latest_attempt(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    fn check_open(&self, action: &'static str) -> Result<(), ModelError> {
        if self.is_open() {
            Ok(())
        } else {
            Err(ModelError::WrongSubmissionStatus {
                status: if self.status == SubmissionStatus::Returned {
                    "returned without a resubmission allowed"
                } else {
                    self.status.as_str()
                },
                action,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::test_support::*;
    use super::*;

    const HOUR: i64 = 3_600_000;
    const DUE: NodeTime = NodeTime(1_760_000_000_000);

    fn assignment_id() -> ItemId {
        id("0123456789abcdef")
    }

    fn assignment() -> AssignmentDocument {
        let mut assignment = AssignmentDocument::default();
        assignment
            .create(
                &assignment_id(),
                "CLS-7A",
                AssignmentInput {
                    title: "Essee: Kalevala".to_owned(),
                    instructions: "Kirjoita 500 sanaa.\nPalauta PDF:nä.".to_owned(),
                    attachments: vec![file("ohje", "ohje.pdf")],
                    due_at: DUE,
                    cut_off_at: Some(NodeTime(DUE.0 + 48 * HOUR)),
                },
                "T1",
                NodeTime(DUE.0 - 7 * 24 * HOUR),
            )
            .expect("valid");
        assignment
    }

    fn work(text: &str) -> Work {
        Work {
            text: text.to_owned(),
            files: vec![file(text, "essee.pdf")],
        }
    }

    fn submission() -> SubmissionDocument {
        let mut submission = SubmissionDocument::default();
        submission.open_for(&assignment_id(), "P1").expect("new");
        submission
    }

    #[test]
    fn document_ids_name_the_assignment_and_the_pupil_key() {
        assert_eq!(
            assignment_doc(&school(), &assignment_id()).to_string(),
            "school:30076/assignment-0123456789abcdef"
        );
        assert_eq!(
            submission_doc(&school(), &assignment_id(), "P1").name(),
            format!("submission-0123456789abcdef-{}", sourced_id_key("P1"))
        );
    }

    #[test]
    fn creating_validates_and_never_overwrites() {
        let mut assignment = assignment();
        assert_eq!(assignment.cut_off_at, NodeTime(DUE.0 + 48 * HOUR));
        let input = AssignmentInput {
            title: "Toinen".to_owned(),
            instructions: String::new(),
            attachments: Vec::new(),
            due_at: DUE,
            cut_off_at: None,
        };
        assert!(matches!(
            assignment.create(&assignment_id(), "CLS-7A", input.clone(), "T1", DUE),
            Err(ModelError::AlreadyExists { .. })
        ));
        let mut fresh = AssignmentDocument::default();
        let early_cut_off = AssignmentInput {
            cut_off_at: Some(NodeTime(DUE.0 - 1)),
            ..input.clone()
        };
        assert!(matches!(
            fresh.create(&assignment_id(), "CLS-7A", early_cut_off, "T1", DUE),
            Err(ModelError::Invalid {
                field: "cut-off time",
                ..
            })
        ));
        let untitled = AssignmentInput {
            title: "  ".to_owned(),
            ..input.clone()
        };
        assert_eq!(
            fresh.create(&assignment_id(), "CLS-7A", untitled, "T1", DUE),
            Err(ModelError::Empty { field: "title" })
        );
        assert_eq!(
            fresh,
            AssignmentDocument::default(),
            "a refusal changes nothing"
        );
        fresh
            .create(&assignment_id(), "CLS-7A", input, "T1", DUE)
            .expect("valid");
        assert_eq!(
            fresh.cut_off_at, DUE,
            "the cut-off defaults to the due time"
        );
    }

    #[test]
    fn the_late_flag_comes_from_node_time_not_the_device_clock() {
        let assignment = assignment();
        let deadline = assignment.deadline_for("P1");

        let mut on_time = submission();
        // The device claims it is two days late; the node received it a minute early.
        let attempt = on_time
            .submit(
                work("valmis"),
                deadline,
                NodeTime(DUE.0 - 60_000),
                Some(DUE.0 + 48 * HOUR),
            )
            .expect("open");
        assert!(!attempt.late);
        assert_eq!(attempt.device_time, Some(DUE.0 + 48 * HOUR));

        let mut late = submission();
        // The device claims it is early; the node received it an hour after the due time.
        let attempt = late
            .submit(
                work("myöhässä"),
                deadline,
                NodeTime(DUE.0 + HOUR),
                Some(DUE.0 - HOUR),
            )
            .expect("before the cut-off");
        assert!(attempt.late);
        assert_eq!(late.status, SubmissionStatus::Submitted);

        let mut exactly = submission();
        assert!(
            !exactly
                .submit(work("tasan"), deadline, DUE, None)
                .expect("open")
                .late,
            "submitting at the due time is on time"
        );
    }

    #[test]
    fn submissions_after_the_cut_off_are_refused() {
        let assignment = assignment();
        let deadline = assignment.deadline_for("P1");
        let mut submission = submission();
        let after = NodeTime(deadline.cut_off_at.0 + 1);
        assert_eq!(
            submission.submit(work("liian myöhään"), deadline, after, None),
            Err(ModelError::PastCutOff {
                cut_off_at: deadline.cut_off_at,
                now: after
            })
        );
        assert!(submission.attempts.is_empty());
        assert_eq!(submission.status, SubmissionStatus::Draft);
        assert!(
            submission
                .submit(work("viime hetkellä"), deadline, deadline.cut_off_at, None)
                .is_ok()
        );
    }

    #[test]
    fn extensions_move_the_pupils_deadline_only() {
        let mut assignment = assignment();
        let new_due = NodeTime(DUE.0 + 72 * HOUR);
        let extension = assignment
            .grant_extension("P1", new_due, None, "T1", DUE)
            .expect("valid");
        assert_eq!(
            extension.cut_off_at, new_due,
            "cut-off follows the later due time"
        );
        assert_eq!(
            assignment.deadline_for("P1"),
            Deadline {
                due_at: new_due,
                cut_off_at: new_due
            }
        );
        assert_eq!(assignment.deadline_for("P2").due_at, DUE);

        // P1 submitting after the general cut-off but before their own due time is on time.
        let mut submission = submission();
        let attempt = submission
            .submit(
                work("lisäajalla"),
                assignment.deadline_for("P1"),
                NodeTime(DUE.0 + 60 * HOUR),
                None,
            )
            .expect("within the extension");
        assert!(!attempt.late);

        assert!(matches!(
            assignment.grant_extension("P2", NodeTime(DUE.0 - 1), None, "T1", DUE),
            Err(ModelError::Invalid {
                field: "due time",
                ..
            })
        ));
        assert!(
            assignment
                .grant_extension("P2", new_due, Some(DUE), "T1", DUE)
                .is_err()
        );
        assert!(assignment.revoke_extension("P1").is_ok());
        assert_eq!(assignment.deadline_for("P1").due_at, DUE);
        assert!(assignment.revoke_extension("P1").is_err());
    }

    #[test]
    fn resubmission_is_possible_only_after_a_return_that_allows_it() {
        let deadline = assignment().deadline_for("P1");
        let mut submission = submission();
        submission
            .save_draft(work("luonnos"), NodeTime(DUE.0 - 2 * HOUR))
            .expect("open");
        submission
            .submit(work("ensimmäinen"), deadline, NodeTime(DUE.0 - HOUR), None)
            .expect("open");
        assert!(matches!(
            submission.submit(work("toinen"), deadline, NodeTime(DUE.0 - HOUR), None),
            Err(ModelError::WrongSubmissionStatus { .. })
        ));
        assert!(submission.save_draft(work("muokkaus"), DUE).is_err());

        let returned = submission
            .return_with_feedback(
                FeedbackInput {
                    text: "Hyvä alku, lisää lähteitä.".to_owned(),
                    grade: Some("8".to_owned()),
                    allow_resubmission: false,
                },
                "T1",
                DUE,
            )
            .expect("submitted");
        assert_eq!(
            returned.feedback.as_ref().and_then(|f| f.grade.as_deref()),
            Some("8")
        );
        assert!(matches!(
            submission.submit(work("toinen"), deadline, DUE, None),
            Err(ModelError::WrongSubmissionStatus { .. })
        ));

        // The teacher reconsiders and allows a resubmission.
        submission.allow_resubmission().expect("returned");
        assert!(submission.is_open());
        submission
            .save_draft(work("korjattu luonnos"), DUE)
            .expect("open again");
        let second = submission
            .submit(work("toinen"), deadline, NodeTime(DUE.0 + HOUR), None)
            .expect("resubmission allowed");
        assert_eq!(second.number, 2);
        assert!(second.late);
        assert_eq!(submission.status, SubmissionStatus::Submitted);
        assert!(!submission.resubmission_allowed);
        assert!(submission.attempts[0].feedback.is_some());
        assert!(submission.attempts[1].feedback.is_none());
    }

    #[test]
    fn empty_and_oversized_work_is_refused() {
        let deadline = assignment().deadline_for("P1");
        let mut submission = submission();
        assert!(matches!(
            submission.submit(Work::default(), deadline, DUE, None),
            Err(ModelError::Empty { .. })
        ));
        let long = Work {
            text: "a".repeat(MAX_BODY_CHARS + 1),
            files: Vec::new(),
        };
        assert!(matches!(
            submission.submit(long, deadline, DUE, None),
            Err(ModelError::TooLong { .. })
        ));
        let too_many_files = Work {
            text: String::new(),
            files: (0..=MAX_FILES_PER_ATTEMPT)
                .map(|index| file(&index.to_string(), "liite.pdf"))
                .collect(),
        };
        assert!(matches!(
            submission.submit(too_many_files, deadline, DUE, None),
            Err(ModelError::LimitReached { .. })
        ));
        let mut returned = submission.clone();
        assert!(matches!(
            returned.return_with_feedback(
                FeedbackInput {
                    text: String::new(),
                    grade: None,
                    allow_resubmission: true
                },
                "T1",
                DUE
            ),
            Err(ModelError::WrongSubmissionStatus { .. })
        ));
    }

    #[test]
    fn assignments_and_submissions_round_trip_and_merge() {
        let mut assignment = assignment();
        assignment
            .grant_extension("P1", NodeTime(DUE.0 + HOUR), None, "T1", DUE)
            .expect("valid");
        assert_round_trip(&assignment);
        let merged = merge_concurrent(
            &assignment,
            |document| {
                document
                    .grant_extension("P2", NodeTime(DUE.0 + 2 * HOUR), None, "T1", DUE)
                    .expect("valid");
            },
            |document| {
                document
                    .grant_extension("P3", NodeTime(DUE.0 + 3 * HOUR), None, "T2", DUE)
                    .expect("valid");
            },
        );
        assert_eq!(merged.extensions.len(), 3);

        let mut submission = submission();
        submission
            .submit(
                work("valmis"),
                assignment.deadline_for("P1"),
                DUE,
                Some(DUE.0 - 5),
            )
            .expect("open");
        assert_round_trip(&submission);
        // The pupil saves a draft text change while the teacher's device writes feedback: both kept.
        let merged = merge_concurrent(
            &submission,
            |document| {
                document.draft_saved_at = Some(NodeTime(DUE.0 + 1));
            },
            |document| {
                document
                    .return_with_feedback(
                        FeedbackInput {
                            text: "Hyvä!".to_owned(),
                            grade: Some("9".to_owned()),
                            allow_resubmission: false,
                        },
                        "T1",
                        NodeTime(DUE.0 + 2),
                    )
                    .expect("submitted");
            },
        );
        assert_eq!(merged.draft_saved_at, Some(NodeTime(DUE.0 + 1)));
        assert_eq!(merged.status, SubmissionStatus::Returned);
        assert!(merged.attempts[0].feedback.is_some());
    }
}
