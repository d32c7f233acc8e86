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
//! ([`crate::school::policy::Action::ReadClass`]); "teachers of the class" hold the teacher role and
//! teach it ([`crate::school::policy::Action::SetClassWork`]).
//! A pupil named in a path must be in the assignment's class (404 otherwise), and an unknown
//! assignment is 404.
//!
//! Each handler is a thin adapter over the operation of the same name in
//! [`crate::school::assignments`], which decides permissions, reads and writes.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiError;
use super::files::{self, FileRefView};
use crate::auth::Caller;
use crate::model::assignments::{AssignmentInput, FeedbackInput};
use crate::model::common::NodeTime;
use crate::school::assignments::{
    self as operations, ExtensionInput, ListPage, LtiToolChoice, NewAssignment, SubmissionInput,
    WorkFiles,
};
pub use crate::school::assignments::{
    AssignmentPage, AssignmentSummary, AssignmentView, AttemptView, DeadlineView, ExtensionView,
    FeedbackView, LtiLinkView, SubmissionCounts, SubmissionStatusView, SubmissionSummary,
    SubmissionView, ToolScoreView, WorkView,
};
use crate::state::AppState;

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
// Requests. Times are node time in Unix milliseconds.
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

impl AssignmentRequest {
    /// The assignment's content; the LTI tool is taken apart by the caller.
    fn into_input(self) -> Result<(AssignmentInput, Option<LtiToolRequest>), ApiError> {
        let content = AssignmentInput {
            title: self.title,
            instructions: self.instructions,
            attachments: FileRefView::into_file_refs(self.attachments)?,
            due_at: NodeTime(self.due_at),
            cut_off_at: self.cut_off_at.map(NodeTime),
        };
        Ok((content, self.lti_tool))
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
    let (content, lti_tool) = request.into_input()?;
    let new = NewAssignment {
        content,
        lti_tool: lti_tool.map(|tool| LtiToolChoice {
            service_id: tool.service_id,
            score_maximum: tool.score_maximum,
        }),
    };
    let assignment = operations::create_assignment(&state, &caller, &class_id, new).await?;
    let location = HeaderValue::try_from(format!("/api/v1/assignments/{}", assignment.id))
        .map_err(|error| ApiError::Internal(format!("location header: {error}")))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(assignment),
    )
        .into_response())
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
    let page = ListPage {
        limit: query.limit,
        before: query.before,
    };
    Ok(Json(
        operations::list_assignments(&state, &caller, &class_id, page).await?,
    ))
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
    Ok(Json(
        operations::get_assignment(&state, &caller, &id).await?,
    ))
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
    let (content, lti_tool) = request.into_input()?;
    if lti_tool.is_some() {
        return Err(ApiError::Invalid {
            field: "lti_tool",
            message: "an assignment's LTI tool is chosen when it is created".to_owned(),
        });
    }
    Ok(Json(
        operations::edit_assignment(&state, &caller, &id, content).await?,
    ))
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
    let extension = ExtensionInput {
        due_at: NodeTime(request.due_at),
        cut_off_at: request.cut_off_at.map(NodeTime),
    };
    Ok(Json(
        operations::grant_extension(&state, &caller, &id, &pupil, extension).await?,
    ))
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
    operations::revoke_extension(&state, &caller, &id, &pupil).await?;
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
    let input = SubmissionInput {
        text: request.text,
        files: WorkFiles::Exactly(FileRefView::into_file_refs(request.files)?),
        submit: request.submit,
        device_time: request.device_time,
    };
    Ok(Json(
        operations::save_submission(&state, &caller, &id, input).await?,
    ))
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
    Ok(Json(
        operations::list_submissions(&state, &caller, &id).await?,
    ))
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
    Ok(Json(
        operations::get_submission(&state, &caller, &id, &pupil).await?,
    ))
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
    let feedback = FeedbackInput {
        text: request.feedback,
        grade: request.grade,
        allow_resubmission: request.allow_resubmission,
    };
    Ok(Json(
        operations::return_submission(&state, &caller, &id, &pupil, feedback).await?,
    ))
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
    let file = operations::attachment(&state, &caller, &id, &blob).await?;
    files::blob_response(&state, &file, &headers).await
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
    let file = operations::submission_file(&state, &caller, &id, &pupil, &blob).await?;
    files::blob_response(&state, &file, &headers).await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

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
}
