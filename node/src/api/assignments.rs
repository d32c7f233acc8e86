//! Assignments and submissions: a class's teachers set work with a deadline, each pupil saves a
//! draft and submits it, and the teachers return it with feedback and a grade.
//!
//! | Route | Who may |
//! |---|---|
//! | `POST /api/v1/classes/{class}/assignments` | teachers of the class |
//! | `GET /api/v1/classes/{class}/assignments` | readers of the class |
//! | `GET /api/v1/assignments/{id}` | readers of the class |
//! | `PUT /api/v1/assignments/{id}` | teachers of the class |
//! | `PUT`, `DELETE /api/v1/assignments/{id}/extensions/{pupil}` | teachers of the class |
//! | `PUT /api/v1/assignments/{id}/submission` | a pupil of the class, for themself |
//! | `GET /api/v1/assignments/{id}/submissions` | teachers of the class |
//! | `GET /api/v1/assignments/{id}/submissions/{pupil}` | the pupil, their guardians, teachers of the class, school staff |
//! | `POST /api/v1/assignments/{id}/submissions/{pupil}/return` | teachers of the class |
//! | `GET /api/v1/assignments/{id}/attachments/{blob}` | readers of the class |
//! | `GET /api/v1/assignments/{id}/submissions/{pupil}/files/{blob}` | whoever may read that submission |
//!
//! "Readers of the class" are its members, their guardians and school staff
//! ([`Access::require_class_reader`]); "teachers of the class" hold the teacher role and teach it.
//! A pupil named in a path must be in the assignment's class (404 otherwise), and an unknown
//! assignment is 404.
//!
//! **Time.** The node's clock, read when the request arrives, decides lateness and the cut-off: a
//! pupil's device may have been offline for hours with a wrong clock. What the device reports is
//! stored beside the attempt for the teacher and decides nothing (see `node/DATA-MODEL.md`).
//!
//! **Finding a class's assignments.** An assignment's document is named by its random id only
//! (`school:S/assignment-<id>`), so its class is known only by reading it. Listing from the store's
//! document ids would scan every document id of the school (submissions alone are pupils ×
//! assignments, tens of thousands a year) and then read every assignment of the school to learn its
//! class, on every request. Instead each class has an index document,
//! `school:S/assignments-<class key>` ([`ClassAssignmentsIndex`]): assignment id → creation time.
//! Listing reads the index, then only the page of assignments it answers with
//! ([`MAX_ASSIGNMENTS_PER_PAGE`] at most). The index is an ordinary document: it syncs like the
//! rest, so a node restored from the relay lists the same assignments, and concurrent creations add
//! different keys of one map, which merge. It holds at most [`MAX_ASSIGNMENTS_PER_CLASS`] entries.
//! Creating writes the assignment first and the index entry second: a crash between the two leaves
//! an assignment that is reachable by id but not listed (its creator got no answer and creates it
//! again), never an entry without an assignment; listing skips such entries all the same.

use std::collections::{BTreeMap, BTreeSet};

use autosurgeon::{Hydrate, Reconcile};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, SchoolCode};

use super::files::{self, FileRefView};
use super::{Access, ApiError, RosterIndex, blocking, node_now_millis, roster_index};
use crate::auth::Caller;
use crate::model::assignments::{
    AssignmentDocument, AssignmentInput, Extension, FeedbackInput, SubmissionDocument,
    SubmissionStatus, Work, assignment_doc, submission_doc,
};
use crate::model::common::{
    FileRef, ItemId, ModelError, NodeTime, claim_identity, school_doc, sourced_id_key,
};
use crate::model::{UserId, UserRole};
use crate::repository::Repository;
use crate::server::AppState;

/// Assignments one class's index keeps. A class lasts a school year or two; even daily homework in
/// every lesson stays far below this, and a full index saves to under 20 KB (a unit test measures
/// it).
pub const MAX_ASSIGNMENTS_PER_CLASS: usize = 2_000;
/// Assignments per page of a class's list when the request names no `limit`.
pub const DEFAULT_ASSIGNMENTS_PER_PAGE: usize = 20;
/// The most assignments one page lists. A teacher's page reads one submission document per pupil
/// of the class for each assignment listed, so this bounds a page's reads to this times the class
/// size.
pub const MAX_ASSIGNMENTS_PER_PAGE: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/classes/{class}/assignments",
            post(create_assignment).get(list_assignments),
        )
        .route(
            "/api/v1/assignments/{id}",
            get(get_assignment).put(edit_assignment),
        )
        .route(
            "/api/v1/assignments/{id}/extensions/{pupil}",
            put(grant_extension).delete(revoke_extension),
        )
        .route("/api/v1/assignments/{id}/submission", put(save_submission))
        .route(
            "/api/v1/assignments/{id}/submissions",
            get(list_submissions),
        )
        .route(
            "/api/v1/assignments/{id}/submissions/{pupil}",
            get(get_submission),
        )
        .route(
            "/api/v1/assignments/{id}/submissions/{pupil}/return",
            post(return_submission),
        )
        .route(
            "/api/v1/assignments/{id}/attachments/{blob}",
            get(download_attachment),
        )
        .route(
            "/api/v1/assignments/{id}/submissions/{pupil}/files/{blob}",
            get(download_submission_file),
        )
}

// ---------------------------------------------------------------------------------------------
// Requests and responses. Times are node time in Unix milliseconds.
// ---------------------------------------------------------------------------------------------

/// An assignment as a teacher creates or replaces it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRequest {
    pub title: String,
    #[serde(default)]
    pub instructions: String,
    /// References from `POST /api/v1/files`.
    #[serde(default)]
    pub attachments: Vec<FileRefView>,
    /// Submissions after this are late.
    pub due_at: i64,
    /// Submissions after this are refused; the due time when absent.
    pub cut_off_at: Option<i64>,
    /// The LTI tool the assignment is done in (only when creating; see [`LtiToolRequest`]).
    pub lti_tool: Option<LtiToolRequest>,
}

/// An assignment done in an LTI 1.3 tool the school has activated: opening it launches the tool,
/// and with a `score_maximum` the tool reports each pupil's score into the assignment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LtiToolRequest {
    /// The catalogue's service id of the tool.
    pub service_id: String,
    /// The line item's score maximum, more than 0.
    pub score_maximum: Option<f64>,
}

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

impl AssignmentRequest {
    fn into_input(self) -> Result<AssignmentInput, ApiError> {
        Ok(AssignmentInput {
            title: self.title,
            instructions: self.instructions,
            attachments: FileRefView::into_file_refs(self.attachments)?,
            due_at: NodeTime(self.due_at),
            cut_off_at: self.cut_off_at.map(NodeTime),
        })
    }
}

/// A pupil's personal deadline.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRequest {
    pub due_at: i64,
    /// The later of the new due time and the assignment's cut-off when absent.
    pub cut_off_at: Option<i64>,
}

/// A pupil saving their work: as a draft, or submitted.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionRequest {
    #[serde(default)]
    pub text: String,
    /// References from `POST /api/v1/files`.
    #[serde(default)]
    pub files: Vec<FileRefView>,
    /// Submit the work as a new attempt; otherwise it is saved as the draft.
    #[serde(default)]
    pub submit: bool,
    /// The device's clock (Unix ms), recorded for the teacher's information only.
    pub device_time: Option<i64>,
}

/// A teacher returning the latest attempt.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    #[serde(default)]
    pub feedback: String,
    pub grade: Option<String>,
    /// Whether the pupil may submit again.
    #[serde(default)]
    pub allow_resubmission: bool,
}

/// The query of a class's assignment list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssignmentListQuery {
    /// Assignments per page: 20 by default, at most 50 (larger values are lowered).
    pub limit: Option<usize>,
    /// The previous page's `next_before`: this page starts after that assignment.
    pub before: Option<String>,
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
    fn new(pupil: &str, extension: &Extension) -> Self {
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

// ---------------------------------------------------------------------------------------------
// Handlers, in the order of the routes.
// ---------------------------------------------------------------------------------------------

/// `POST /api/v1/classes/{class}/assignments`: creates an assignment for the class.
#[utoipa::path(post, path = "/api/v1/classes/{class}/assignments", tag = "assignments",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId")),
    request_body = AssignmentRequest,
    responses(
        (status = 201, body = AssignmentView, description = "created; `Location` names it"),
        (status = 400, description = "invalid input, or an attachment the caller did not upload to this node"),
        (status = 403, description = "not a teacher of the class"),
        (status = 404, description = "no such class"),
        (status = 409, description = "the class has the most assignments a class keeps"),
    ))]
pub async fn create_assignment(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(class_id): UrlPath<String>,
    Json(request): Json<AssignmentRequest>,
) -> Result<Response, ApiError> {
    let now = node_now();
    let access = Access::new(&caller, roster_index(&state).await?);
    require_class_teacher(&access, &class_id)?;
    let lti_link = match &request.lti_tool {
        Some(tool) => Some(
            crate::lti::assignment_link(&state, &tool.service_id, None, tool.score_maximum).await?,
        ),
        None => None,
    };
    let input = request.into_input()?;
    files::require_stored(&state, &caller.user_id, &input.attachments).await?;

    let assignment = create_in_class(
        &state,
        ItemId::generate(),
        &class_id,
        &caller.user_id,
        input,
        lti_link,
        now,
    )
    .await?;

    let location = HeaderValue::try_from(format!("/api/v1/assignments/{}", assignment.id))
        .map_err(|error| ApiError::Internal(format!("location header: {error}")))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(assignment_view(&access, &assignment)),
    )
        .into_response())
}

/// Writes a new assignment of `class` and its index entry (see the module documentation for the
/// order). The caller has checked that `creator` teaches the class.
pub(crate) async fn create_in_class(
    state: &AppState,
    id: ItemId,
    class: &str,
    creator: &str,
    input: AssignmentInput,
    lti_link: Option<crate::model::assignments::LtiLink>,
    now: NodeTime,
) -> Result<AssignmentDocument, ApiError> {
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

/// `GET /api/v1/classes/{class}/assignments`: the class's assignments, newest first, a page at a
/// time. A pupil of the class sees their own submission on each; the class's teachers see counts.
#[utoipa::path(get, path = "/api/v1/classes/{class}/assignments", tag = "assignments",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"), AssignmentListQuery),
    responses(
        (status = 200, body = AssignmentPage),
        (status = 400, description = "a bad `limit` or an unknown `before`"),
        (status = 403, description = "not a member, guardian of one, or staff"),
        (status = 404, description = "no such class"),
    ))]
pub async fn list_assignments(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(class_id): UrlPath<String>,
    query: Result<Query<AssignmentListQuery>, QueryRejection>,
) -> Result<Json<AssignmentPage>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster.clone());
    access.require_class_reader(&class_id)?;
    let limit = query
        .limit
        .unwrap_or(DEFAULT_ASSIGNMENTS_PER_PAGE)
        .clamp(1, MAX_ASSIGNMENTS_PER_PAGE);
    let me = caller.user_id.clone();
    let own_submissions = roster.attends(&me, &class_id);
    let class_pupils: Option<Vec<UserId>> = roster.teaches(&me, &class_id).then(|| {
        access
            .class(&class_id)
            .map(|class| class.pupils().into_iter().cloned().collect())
            .unwrap_or_default()
    });
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let page = blocking(move || {
        let index: ClassAssignmentsIndex =
            repository.read_or_default(&class_assignments_doc(&school, &class_id))?;
        let (ids, next_before) = index.page(query.before.as_deref(), limit)?;
        let mut assignments = Vec::with_capacity(ids.len());
        for id in ids {
            // Entries are written only by `create_assignment` with generated ids; one that does not
            // parse or lead to an assignment of this class is skipped rather than failing the list.
            let Ok(id) = id.parse::<ItemId>() else {
                continue;
            };
            let Some(assignment) = read_assignment(&repository, &school, &id)? else {
                continue;
            };
            if assignment.class_sourced_id != class_id {
                continue;
            }
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
    .await?;
    Ok(Json(page))
}

/// `GET /api/v1/assignments/{id}`: one assignment.
#[utoipa::path(get, path = "/api/v1/assignments/{id}", tag = "assignments",
    params(("id" = String, Path, description = "the assignment's id")),
    responses(
        (status = 200, body = AssignmentView),
        (status = 403, description = "not a member of the class, guardian of one, or staff"),
        (status = 404, description = "no such assignment"),
    ))]
pub async fn get_assignment(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<AssignmentView>, ApiError> {
    let context = AssignmentContext::open(&state, &caller, &id).await?;
    context.access.require_class_reader(context.class())?;
    Ok(Json(assignment_view(&context.access, &context.assignment)))
}

/// `PUT /api/v1/assignments/{id}`: replaces the title, instructions, attachments and deadlines.
/// Extensions stay.
#[utoipa::path(put, path = "/api/v1/assignments/{id}", tag = "assignments",
    params(("id" = String, Path, description = "the assignment's id")),
    request_body = AssignmentRequest,
    responses(
        (status = 200, body = AssignmentView),
        (status = 400, description = "invalid input, or an attachment the caller did not upload to this node"),
        (status = 403, description = "not a teacher of the class"),
        (status = 404, description = "no such assignment"),
    ))]
pub async fn edit_assignment(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    Json(request): Json<AssignmentRequest>,
) -> Result<Json<AssignmentView>, ApiError> {
    let now = node_now();
    let context = AssignmentContext::open(&state, &caller, &id).await?;
    require_class_teacher(&context.access, context.class())?;
    if request.lti_tool.is_some() {
        return Err(ApiError::BadRequest(
            "an assignment's LTI tool is chosen when it is created".to_owned(),
        ));
    }
    let input = request.into_input()?;
    let added = files_not_in(&input.attachments, &context.assignment.attachments);
    files::require_stored(&state, &caller.user_id, &added).await?;
    let assignment = update_assignment(&state, &context.id, move |assignment| {
        assignment.edit(input, now)?;
        Ok(())
    })
    .await?;
    Ok(Json(assignment_view(&context.access, &assignment)))
}

/// `PUT /api/v1/assignments/{id}/extensions/{pupil}`: gives one pupil a later deadline (replacing
/// an earlier extension).
#[utoipa::path(put, path = "/api/v1/assignments/{id}/extensions/{pupil}", tag = "assignments",
    params(("id" = String, Path, description = "the assignment's id"), ("pupil" = String, Path, description = "the pupil's user id")),
    request_body = ExtensionRequest,
    responses(
        (status = 200, body = ExtensionView),
        (status = 400, description = "the extension ends before the assignment's due time, or its cut-off before its due time"),
        (status = 403, description = "not a teacher of the class"),
        (status = 404, description = "no such assignment, or the pupil is not in the class"),
    ))]
pub async fn grant_extension(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((id, pupil)): UrlPath<(String, String)>,
    Json(request): Json<ExtensionRequest>,
) -> Result<Json<ExtensionView>, ApiError> {
    let now = node_now();
    let context = AssignmentContext::open(&state, &caller, &id).await?;
    require_class_teacher(&context.access, context.class())?;
    require_pupil_in_class(&context.access, context.class(), &pupil)?;
    let granted_by = caller.user_id.clone();
    let extension_pupil = pupil.clone();
    let assignment = update_assignment(&state, &context.id, move |assignment| {
        assignment.grant_extension(
            &extension_pupil,
            NodeTime(request.due_at),
            request.cut_off_at.map(NodeTime),
            &granted_by,
            now,
        )?;
        Ok(())
    })
    .await?;
    let extension = assignment
        .extensions
        .get(&pupil)
        .ok_or_else(|| ApiError::Internal(format!("the extension of {pupil:?} was not kept")))?;
    Ok(Json(ExtensionView::new(&pupil, extension)))
}

/// `DELETE /api/v1/assignments/{id}/extensions/{pupil}`: the pupil's deadline is the assignment's
/// again.
#[utoipa::path(delete, path = "/api/v1/assignments/{id}/extensions/{pupil}", tag = "assignments",
    params(("id" = String, Path, description = "the assignment's id"), ("pupil" = String, Path, description = "the pupil's user id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 403, description = "not a teacher of the class"),
        (status = 404, description = "no such assignment, the pupil is not in the class, or has no extension"),
    ))]
pub async fn revoke_extension(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((id, pupil)): UrlPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let context = AssignmentContext::open(&state, &caller, &id).await?;
    require_class_teacher(&context.access, context.class())?;
    require_pupil_in_class(&context.access, context.class(), &pupil)?;
    update_assignment(&state, &context.id, move |assignment| {
        assignment.revoke_extension(&pupil)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/assignments/{id}/submission`: the calling pupil saves their draft or submits it.
/// A submission after the pupil's due time (by node time) is late; after their cut-off it is
/// refused with 409.
#[utoipa::path(put, path = "/api/v1/assignments/{id}/submission", tag = "assignments",
    params(("id" = String, Path, description = "the assignment's id")),
    request_body = SubmissionRequest,
    responses(
        (status = 200, body = SubmissionView),
        (status = 400, description = "invalid or empty work, or a file the pupil did not upload to this node"),
        (status = 403, description = "not a pupil of the class"),
        (status = 404, description = "no such assignment"),
        (status = 409, description = "past the cut-off, or submitted and not returned for resubmission"),
    ))]
pub async fn save_submission(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    Json(request): Json<SubmissionRequest>,
) -> Result<Json<SubmissionView>, ApiError> {
    let now = node_now();
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster.clone());
    access.require_role(UserRole::Pupil)?;
    let id: ItemId = id.parse()?;
    let pupil = caller.user_id.clone();
    let work = Work {
        text: request.text,
        files: FileRefView::into_file_refs(request.files)?,
    };
    // Files named for the first time must be the pupil's own uploads, stored here: a pupil who
    // learnt the id of a classmate's file must not attach it and download it from their own
    // submission (`crate::upload_records`). Only a save that names files needs
    // the current submission for that; text-only saves (the common case while a pupil types) skip it.
    if !work.files.is_empty() {
        let added = match load_submission(&state, &id, &pupil).await? {
            Some(existing) => {
                let named: Vec<FileRef> = files_of(&existing, true).cloned().collect();
                files_not_in(&work.files, &named)
            }
            None => work.files.clone(),
        };
        files::require_stored(&state, &caller.user_id, &added).await?;
    }
    // Reading the assignment, checking the pupil's place in its class and writing the submission
    // happen in one visit to the blocking pool: each visit is a thread hand-off, and draft saves are
    // the node's most frequent write.
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let (submit, device_time) = (request.submit, request.device_time);
    let (assignment, submission) = blocking(move || {
        let assignment = read_assignment(&repository, &school, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("assignment {id} does not exist")))?;
        let class = assignment.class_sourced_id.clone();
        if !roster.attends(&pupil, &class) {
            return Err(ApiError::Forbidden(format!(
                "only pupils of class {class:?} submit work for its assignments"
            )));
        }
        let deadline = assignment.deadline_for(&pupil);
        let submission = repository.update(
            &submission_doc(&school, &id, &pupil),
            |submission: &mut SubmissionDocument| {
                submission.open_for(&id, &pupil)?;
                if submit {
                    submission.submit(work, deadline, now, device_time)?;
                } else {
                    submission.save_draft(work, now)?;
                }
                Ok::<_, ModelError>(submission.clone())
            },
        )?;
        Ok((assignment, submission))
    })
    .await?;
    Ok(Json(submission_view(
        &assignment,
        &caller.user_id,
        Some(&submission),
        true,
        now,
    )))
}

/// `GET /api/v1/assignments/{id}/submissions`: where every pupil of the class stands.
#[utoipa::path(get, path = "/api/v1/assignments/{id}/submissions", tag = "assignments",
    params(("id" = String, Path, description = "the assignment's id")),
    responses(
        (status = 200, body = [SubmissionSummary], description = "the class's current pupils, in id order"),
        (status = 403, description = "not a teacher of the class"),
        (status = 404, description = "no such assignment"),
    ))]
pub async fn list_submissions(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Vec<SubmissionSummary>>, ApiError> {
    let context = AssignmentContext::open(&state, &caller, &id).await?;
    require_class_teacher(&context.access, context.class())?;
    let pupils: Vec<UserId> = context
        .access
        .class(context.class())?
        .pupils()
        .into_iter()
        .cloned()
        .collect();
    let roster = context.access.roster.clone();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let (id, assignment) = (context.id.clone(), context.assignment.clone());
    let summaries = blocking(move || {
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
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    Ok(Json(summaries))
}

/// `GET /api/v1/assignments/{id}/submissions/{pupil}`: one pupil's work and the feedback on it.
#[utoipa::path(get, path = "/api/v1/assignments/{id}/submissions/{pupil}", tag = "assignments",
    params(("id" = String, Path, description = "the assignment's id"), ("pupil" = String, Path, description = "the pupil's user id")),
    responses(
        (status = 200, body = SubmissionView, description = "a pupil who has not started has an empty draft"),
        (status = 403, description = "not the pupil, their guardian, a teacher of the class, or staff"),
        (status = 404, description = "no such assignment, or the pupil is not in the class"),
    ))]
pub async fn get_submission(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((id, pupil)): UrlPath<(String, String)>,
) -> Result<Json<SubmissionView>, ApiError> {
    let now = node_now();
    let context = AssignmentContext::open(&state, &caller, &id).await?;
    require_submission_reader(&context.access, context.class(), &pupil)?;
    let submission = load_submission(&state, &context.id, &pupil).await?;
    Ok(Json(submission_view(
        &context.assignment,
        &pupil,
        submission.as_ref(),
        caller.user_id == pupil,
        now,
    )))
}

/// `POST /api/v1/assignments/{id}/submissions/{pupil}/return`: returns the latest attempt with
/// feedback and a grade, optionally allowing a resubmission.
#[utoipa::path(post, path = "/api/v1/assignments/{id}/submissions/{pupil}/return", tag = "assignments",
    params(("id" = String, Path, description = "the assignment's id"), ("pupil" = String, Path, description = "the pupil's user id")),
    request_body = ReturnRequest,
    responses(
        (status = 200, body = SubmissionView),
        (status = 400, description = "invalid feedback or grade"),
        (status = 403, description = "not a teacher of the class"),
        (status = 404, description = "no such assignment, or the pupil is not in the class"),
        (status = 409, description = "nothing is waiting to be returned"),
    ))]
pub async fn return_submission(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((id, pupil)): UrlPath<(String, String)>,
    Json(request): Json<ReturnRequest>,
) -> Result<Json<SubmissionView>, ApiError> {
    let now = node_now();
    let context = AssignmentContext::open(&state, &caller, &id).await?;
    require_class_teacher(&context.access, context.class())?;
    require_pupil_in_class(&context.access, context.class(), &pupil)?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let (id, returned_pupil, teacher) = (context.id.clone(), pupil.clone(), caller.user_id.clone());
    let feedback = FeedbackInput {
        text: request.feedback,
        grade: request.grade,
        allow_resubmission: request.allow_resubmission,
    };
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
    Ok(Json(submission_view(
        &context.assignment,
        &pupil,
        Some(&submission),
        false,
        now,
    )))
}

/// `GET /api/v1/assignments/{id}/attachments/{blob}`: downloads one of the assignment's
/// attachments.
#[utoipa::path(get, path = "/api/v1/assignments/{id}/attachments/{blob}", tag = "assignments",
    params(("id" = String, Path, description = "the assignment's id"), ("blob" = String, Path, description = "the attachment's blob id")),
    responses(
        (status = 200, description = "the file, as an attachment", content_type = "application/octet-stream"),
        (status = 206, description = "the requested byte range of the file", content_type = "application/octet-stream"),
        (status = 416, description = "the requested range is outside the file"),
        (status = 403, description = "not a member of the class, guardian of one, or staff"),
        (status = 404, description = "no such assignment or attachment, or the node does not hold the file yet"),
    ))]
pub async fn download_attachment(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    UrlPath((id, blob)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    let context = AssignmentContext::open(&state, &caller, &id).await?;
    context.access.require_class_reader(context.class())?;
    let file = context
        .assignment
        .attachments
        .iter()
        .find(|file| file.blob == blob)
        .ok_or_else(|| ApiError::NotFound("the assignment has no such attachment".into()))?;
    files::blob_response(&state, file, &headers).await
}

/// `GET /api/v1/assignments/{id}/submissions/{pupil}/files/{blob}`: downloads a file of the pupil's
/// submitted attempts (and, for the pupil themself, of their draft).
#[utoipa::path(get, path = "/api/v1/assignments/{id}/submissions/{pupil}/files/{blob}", tag = "assignments",
    params(("id" = String, Path, description = "the assignment's id"), ("pupil" = String, Path, description = "the pupil's user id"), ("blob" = String, Path, description = "the file's blob id")),
    responses(
        (status = 200, description = "the file, as an attachment", content_type = "application/octet-stream"),
        (status = 206, description = "the requested byte range of the file", content_type = "application/octet-stream"),
        (status = 416, description = "the requested range is outside the file"),
        (status = 403, description = "may not read this submission"),
        (status = 404, description = "no such assignment, pupil in the class, or file, or the node does not hold the file yet"),
    ))]
pub async fn download_submission_file(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    UrlPath((id, pupil, blob)): UrlPath<(String, String, String)>,
) -> Result<Response, ApiError> {
    let context = AssignmentContext::open(&state, &caller, &id).await?;
    require_submission_reader(&context.access, context.class(), &pupil)?;
    let submission = load_submission(&state, &context.id, &pupil).await?;
    let file = submission
        .as_ref()
        .and_then(|submission| {
            files_of(submission, caller.user_id == pupil).find(|file| file.blob == blob)
        })
        .ok_or_else(|| ApiError::NotFound("the submission has no such file".into()))?;
    files::blob_response(&state, file, &headers).await
}

// ---------------------------------------------------------------------------------------------
// Authorisation.
// ---------------------------------------------------------------------------------------------

/// The teacher role and a teacher's enrollment in the class.
pub(crate) fn require_class_teacher(access: &Access<'_>, class: &str) -> Result<(), ApiError> {
    access.require_role(UserRole::Teacher)?;
    access.require_teacher_of(class)
}

/// A pupil named in a path must be one of the class's pupils; anyone else is unknown here.
fn require_pupil_in_class(access: &Access<'_>, class: &str, pupil: &str) -> Result<(), ApiError> {
    if access.roster.attends(pupil, class) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "{pupil:?} is not a pupil of class {class:?}"
        )))
    }
}

/// Reading a pupil's submission: a reader of the class, and of the pupil's records
/// ([`Access::require_pupil_reader`]), and among those only the pupil, their guardians, the
/// *class's* teachers and school staff. (A teacher of the pupil's other classes reads the pupil's
/// records but not their work in this class.)
fn require_submission_reader(
    access: &Access<'_>,
    class: &str,
    pupil: &str,
) -> Result<(), ApiError> {
    access.require_class_reader(class)?;
    require_pupil_in_class(access, class, pupil)?;
    access.require_pupil_reader(pupil)?;
    if sees_pupil_in_class(access, class, pupil) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the pupil, their guardians, the class's teachers and school staff may see this \
             pupil's work"
                .into(),
        ))
    }
}

/// Whether the caller may see what concerns `pupil` in `class` (their submission, their extension).
fn sees_pupil_in_class(access: &Access<'_>, class: &str, pupil: &str) -> bool {
    let me = access.me();
    me == pupil
        || access.roster.is_guardian_of(me, pupil)
        || access.roster.teaches(me, class)
        || access.is_school_wide()
}

// ---------------------------------------------------------------------------------------------
// Loading and writing.
// ---------------------------------------------------------------------------------------------

/// Node time now: the authority for every deadline.
fn node_now() -> NodeTime {
    NodeTime(node_now_millis())
}

/// An existing assignment with the caller's access, for the routes under `/assignments/{id}`.
struct AssignmentContext<'caller> {
    id: ItemId,
    assignment: AssignmentDocument,
    access: Access<'caller>,
}

impl<'caller> AssignmentContext<'caller> {
    /// Parses the id and loads the assignment: 400 for a malformed id, 404 for an unknown one.
    async fn open(state: &AppState, caller: &'caller Caller, id: &str) -> Result<Self, ApiError> {
        let id: ItemId = id.parse()?;
        let roster = roster_index(state).await?;
        let repository = state.repository.clone();
        let school = state.identity.school.clone();
        let lookup = id.clone();
        let assignment = blocking(move || read_assignment(&repository, &school, &lookup))
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("assignment {id} does not exist")))?;
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

/// The assignment, or `None` when the store holds no assignment under that id.
fn read_assignment(
    repository: &Repository,
    school: &SchoolCode,
    id: &ItemId,
) -> Result<Option<AssignmentDocument>, ApiError> {
    let found: Option<AssignmentDocument> = repository.read(&assignment_doc(school, id))?;
    Ok(found.filter(|assignment| assignment.id == id.as_str()))
}

fn read_submission(
    repository: &Repository,
    school: &SchoolCode,
    id: &ItemId,
    pupil: &str,
) -> Result<Option<SubmissionDocument>, ApiError> {
    Ok(repository.read(&submission_doc(school, id, pupil))?)
}

async fn load_submission(
    state: &AppState,
    id: &ItemId,
    pupil: &str,
) -> Result<Option<SubmissionDocument>, ApiError> {
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
) -> Result<AssignmentDocument, ApiError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let id = id.clone();
    blocking(move || {
        Ok(repository.update(
            &assignment_doc(&school, &id),
            |assignment: &mut AssignmentDocument| {
                // The routes load the assignment first and documents are never deleted, so this
                // holds; checking keeps an update from ever writing a half-made assignment.
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

// ---------------------------------------------------------------------------------------------
// Views.
// ---------------------------------------------------------------------------------------------

fn assignment_view(access: &Access<'_>, assignment: &AssignmentDocument) -> AssignmentView {
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
            .filter(|(pupil, _)| sees_pupil_in_class(access, class, pupil))
            .map(|(pupil, extension)| ExtensionView::new(pupil, extension))
            .collect(),
        my_deadline,
        lti_link: assignment.lti_link.as_ref().map(|link| LtiLinkView {
            service_id: link.service_id.clone(),
            launch_path: crate::lti::launch_path(&link.service_id, None, Some(&assignment.id)),
            score_maximum: link
                .score_maximum
                .as_deref()
                .and_then(|maximum| maximum.parse().ok()),
        }),
    }
}

fn display_name(roster: &RosterIndex, user: &str) -> String {
    roster
        .users
        .user(user)
        .map(|user| user.display_name())
        .unwrap_or_else(|| user.to_owned())
}

fn submission_summary(
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

/// Counts over the class's current pupils, one submission read each.
fn submission_counts(
    repository: &Repository,
    school: &SchoolCode,
    roster: &RosterIndex,
    assignment: &AssignmentDocument,
    id: &ItemId,
    pupils: &[UserId],
) -> Result<SubmissionCounts, ApiError> {
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

fn submission_view(
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

fn tool_score_view(score: &crate::model::assignments::ToolScore) -> ToolScoreView {
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

// ---------------------------------------------------------------------------------------------
// The class index (see the module documentation for why it exists).
// ---------------------------------------------------------------------------------------------

/// `school:S/assignments-<class key>`: the index of one class's assignments.
pub fn class_assignments_doc(school: &SchoolCode, class_sourced_id: &str) -> DocId {
    school_doc(
        school,
        &format!("assignments-{}", sourced_id_key(class_sourced_id)),
    )
}

/// The ids of a class's assignments with their creation times, so a list is ordered and paged
/// without reading the assignments it does not show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hydrate, Reconcile)]
pub struct ClassAssignmentsIndex {
    pub class_sourced_id: String,
    /// By assignment id. A map, so that assignments created concurrently merge.
    pub assignments: BTreeMap<String, IndexedAssignment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct IndexedAssignment {
    pub created_at: NodeTime,
}

impl ClassAssignmentsIndex {
    /// Refuses when the index is full and does not hold `id` already.
    pub fn check_room(&self, id: &ItemId) -> Result<(), ModelError> {
        if self.assignments.len() >= MAX_ASSIGNMENTS_PER_CLASS
            && !self.assignments.contains_key(id.as_str())
        {
            Err(ModelError::LimitReached {
                what: "assignments of this class",
                max: MAX_ASSIGNMENTS_PER_CLASS,
            })
        } else {
            Ok(())
        }
    }

    /// Records an assignment of the class (binding a new index to the class).
    pub fn add(
        &mut self,
        class: &str,
        id: &ItemId,
        created_at: NodeTime,
    ) -> Result<(), ModelError> {
        claim_identity(&mut self.class_sourced_id, class, "class")?;
        self.check_room(id)?;
        self.assignments
            .insert(id.to_string(), IndexedAssignment { created_at });
        Ok(())
    }

    /// Up to `limit` ids, newest first, starting after `before` (an id of the index); and the id
    /// to pass as `before` for the next page when there is one. Equal creation times are ordered
    /// by id, so the order is total and pages neither repeat nor skip an assignment.
    pub fn page(
        &self,
        before: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), ModelError> {
        let mut ordered: Vec<(NodeTime, &String)> = self
            .assignments
            .iter()
            .map(|(id, entry)| (entry.created_at, id))
            .collect();
        ordered.sort_unstable_by(|newer, older| older.cmp(newer));
        let start = match before {
            None => 0,
            Some(before) => {
                ordered
                    .iter()
                    .position(|(_, id)| id.as_str() == before)
                    .ok_or_else(|| ModelError::Invalid {
                        field: "before",
                        reason: "it is not an assignment of this class".to_owned(),
                    })?
                    + 1
            }
        };
        let page: Vec<String> = ordered
            .iter()
            .skip(start)
            .take(limit)
            .map(|(_, id)| (*id).clone())
            .collect();
        let next_before = if start + page.len() < ordered.len() {
            page.last().cloned()
        } else {
            None
        };
        Ok((page, next_before))
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ActorId, AutoCommit};

    use super::*;

    /// What a full index may take saved (about 18 KB measured), far below the store's 8 MiB
    /// document bound.
    const MAX_SAVED_INDEX_BYTES: usize = 64 * 1024;

    fn id(text: &str) -> ItemId {
        text.parse().expect("test id")
    }

    fn index_with(entries: &[(&str, i64)]) -> ClassAssignmentsIndex {
        let mut index = ClassAssignmentsIndex::default();
        for (entry, created_at) in entries {
            index
                .add("CLS-7A", &id(entry), NodeTime(*created_at))
                .expect("room");
        }
        index
    }

    #[test]
    fn pages_are_newest_first_and_neither_repeat_nor_skip() {
        let index = index_with(&[
            ("000000000000000a", 10),
            ("000000000000000b", 30),
            ("000000000000000c", 20),
            ("000000000000000d", 30),
        ]);
        let (first, next) = index.page(None, 2).expect("page");
        assert_eq!(first, vec!["000000000000000d", "000000000000000b"]);
        assert_eq!(next.as_deref(), Some("000000000000000b"));
        let (second, next) = index.page(next.as_deref(), 2).expect("page");
        assert_eq!(second, vec!["000000000000000c", "000000000000000a"]);
        assert_eq!(next, None, "the last page says so");
        assert!(index.page(Some("ffffffffffffffff"), 2).is_err());
    }

    #[test]
    fn the_index_belongs_to_one_class_and_is_bounded() {
        let mut index = index_with(&[("000000000000000a", 1)]);
        assert!(matches!(
            index.add("CLS-7B", &id("000000000000000b"), NodeTime(2)),
            Err(ModelError::WrongDocument { .. })
        ));
        // Numbered from 0x10000 so none repeats the first entry's id.
        for number in 0x1_0000..0x1_0000 + MAX_ASSIGNMENTS_PER_CLASS - 1 {
            index
                .add("CLS-7A", &id(&format!("{number:016x}")), NodeTime(3))
                .expect("room");
        }
        assert_eq!(index.assignments.len(), MAX_ASSIGNMENTS_PER_CLASS);
        assert!(matches!(
            index.add("CLS-7A", &id("ffffffffffffffff"), NodeTime(4)),
            Err(ModelError::LimitReached { .. })
        ));
        assert!(
            index.check_room(&id("000000000000000a")).is_ok(),
            "re-adding a listed assignment takes no room"
        );
    }

    #[test]
    fn a_full_index_stays_small() {
        use automerge::transaction::Transactable;
        use automerge::{ObjType, ROOT, ReadDoc};
        // One change per creation, as the API writes them, so the saved history is the real one.
        // Written with automerge directly: reconciling the whole index per entry would make this
        // test quadratic.
        let mut document = AutoCommit::new();
        document
            .put(ROOT, "class_sourced_id", "CLS-7A")
            .expect("class");
        let entries = document
            .put_object(ROOT, "assignments", ObjType::Map)
            .expect("map");
        document.commit();
        for number in 0..MAX_ASSIGNMENTS_PER_CLASS {
            let entry = document
                .put_object(&entries, format!("{:016x}", number * 7919), ObjType::Map)
                .expect("entry");
            document
                .put(
                    &entry,
                    "created_at",
                    1_760_000_000_000 + number as i64 * 60_000,
                )
                .expect("time");
            document.commit();
        }
        let index: ClassAssignmentsIndex = autosurgeon::hydrate(&document).expect("hydrate");
        assert_eq!(index.assignments.len(), MAX_ASSIGNMENTS_PER_CLASS);
        assert_eq!(document.length(&entries), MAX_ASSIGNMENTS_PER_CLASS);
        let saved = document.save().len();
        assert!(
            saved < MAX_SAVED_INDEX_BYTES,
            "a full index saves to {saved} bytes"
        );
    }

    #[test]
    fn concurrent_creations_both_stay_listed() {
        let base = index_with(&[("000000000000000a", 1)]);
        let mut first = AutoCommit::new().with_actor(ActorId::random());
        autosurgeon::reconcile(&mut first, &base).expect("reconcile base");
        first.commit();
        let mut second = first.fork().with_actor(ActorId::random());
        for (document, entry) in [
            (&mut first, "000000000000000b"),
            (&mut second, "000000000000000c"),
        ] {
            let mut index: ClassAssignmentsIndex =
                autosurgeon::hydrate(&*document).expect("hydrate");
            index.add("CLS-7A", &id(entry), NodeTime(2)).expect("room");
            autosurgeon::reconcile(document, &index).expect("reconcile");
        }
        first.merge(&mut second).expect("merge");
        let merged: ClassAssignmentsIndex = autosurgeon::hydrate(&first).expect("hydrate merged");
        assert_eq!(merged.assignments.len(), 3);
        assert_eq!(merged.class_sourced_id, "CLS-7A");
    }

    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        create_assignment,
        list_assignments,
        get_assignment,
        edit_assignment,
        grant_extension,
        revoke_extension,
        save_submission,
        list_submissions,
        get_submission,
        return_submission,
        download_attachment,
        download_submission_file,
        super::super::files::upload,
    ))]
    struct AssignmentsApi;

    #[test]
    fn every_route_is_described_in_the_openapi_document() {
        use utoipa::OpenApi;
        let document = AssignmentsApi::openapi();
        let described: BTreeSet<&str> = document.paths.paths.keys().map(String::as_str).collect();
        assert_eq!(
            described,
            BTreeSet::from([
                "/api/v1/assignments/{id}",
                "/api/v1/assignments/{id}/attachments/{blob}",
                "/api/v1/assignments/{id}/extensions/{pupil}",
                "/api/v1/assignments/{id}/submission",
                "/api/v1/assignments/{id}/submissions",
                "/api/v1/assignments/{id}/submissions/{pupil}",
                "/api/v1/assignments/{id}/submissions/{pupil}/files/{blob}",
                "/api/v1/assignments/{id}/submissions/{pupil}/return",
                "/api/v1/classes/{class}/assignments",
                "/api/v1/files",
            ])
        );
        let schemas = document
            .components
            .map(|components| components.schemas.len())
            .unwrap_or_default();
        assert!(schemas > 0, "the request and response types are described");
    }

    #[test]
    fn index_document_names_are_valid_and_distinct_from_assignments() {
        let school: SchoolCode = "30076".parse().expect("school");
        let doc = class_assignments_doc(&school, "{CLASS 7A/Math}");
        assert_eq!(
            doc.to_string(),
            format!(
                "school:30076/assignments-{}",
                sourced_id_key("{CLASS 7A/Math}")
            )
        );
        assert!(!doc.name().starts_with("assignment-"));
    }
}
