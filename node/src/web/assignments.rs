//! Assignments in the web UI: a pupil opens one, saves or submits work with a file, and reads the
//! feedback; a teacher creates one for a class, sees where each pupil stands, and reviews and returns
//! a submission with feedback. Every read and write is an operation of
//! [`crate::school::assignments`]; the pages ask the policy which parts to show.

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use maud::{Markup, html};

use super::i18n::Translator;
use super::layout::{Field, FormErrors, Frame, csrf_field, page_with_status};
use super::upload::{check_csrf, read_upload_form, upload_viewer};
use super::{Viewer, WebError, form_fields, service_status};
use crate::model::assignments::{AssignmentInput, FeedbackInput, MAX_GRADE_CHARS};
use crate::model::common::{MAX_BODY_CHARS, MAX_TITLE_CHARS, NodeTime};
use crate::school::assignments::{
    self as operations, AttemptView, NewAssignment, SubmissionInput, SubmissionStatusView,
    SubmissionSummary, SubmissionView, ToolScoreView, WorkFiles,
};
use crate::school::calendar::school_local_time_at;
use crate::school::files::{FileRefView, store_uploaded_file, upload_limit, upload_slot};
use crate::school::policy::Action;
use crate::school::{Access, ServiceError, Target, roster_index};
use crate::state::AppState;
use crate::url_path::path_segment;

/// What a page says after a successful form, from the redirect's query.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Notice {
    done: Option<String>,
}

impl Notice {
    fn render(&self, t: &Translator) -> Markup {
        let text = match self.done.as_deref() {
            Some("draft") => t.text("notice-draft-saved"),
            Some("submitted") => t.text("notice-submitted"),
            Some("returned") => t.text("notice-returned"),
            Some("created") => t.text("notice-created"),
            Some("linked") => t.text("notice-linked"),
            _ => return html! {},
        };
        html! { p class="notice" role="status" { (text) } }
    }
}

// ---------------------------------------------------------------------------------------------
// The assignment page: the pupil's work, or the teacher's overview.
// ---------------------------------------------------------------------------------------------

/// `GET /assignments/{id}`.
pub async fn assignment_page(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(id): UrlPath<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, WebError> {
    render_assignment_page(
        &state,
        &viewer,
        &id,
        &notice,
        StatusCode::OK,
        &SubmissionForm::default(),
    )
    .await
}

/// The pupil's form as they sent it, with its errors, when it must be shown again.
#[derive(Debug, Default)]
struct SubmissionForm {
    text: Option<String>,
    errors: FormErrors,
}

async fn render_assignment_page(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    notice: &Notice,
    status: StatusCode,
    form: &SubmissionForm,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let caller = &viewer.caller;
    let assignment = operations::get_assignment(state, caller, id).await?;
    let access = Access::new(caller, roster_index(state).await?);
    let class = Target::Class(&assignment.class_id);
    let submission = if access.may(Action::SubmitOwnWork, class) {
        Some(operations::get_submission(state, caller, id, &caller.user_id).await?)
    } else {
        None
    };
    let submissions = if access.may(Action::SetClassWork, class) {
        Some(operations::list_submissions(state, caller, id).await?)
    } else {
        None
    };
    let due_at = assignment
        .my_deadline
        .as_ref()
        .map_or(assignment.due_at, |deadline| deadline.due_at);
    let content = html! {
        (notice.render(&t))
        p class="meta" { (t.text_with("assignment-due", &[("when", FluentValue::from(t.date_time(due_at)))])) }
        @if let Some(link) = &assignment.lti_link {
            p { a href=(link.launch_path) { (t.text("assignment-open-in-tool")) } }
        }
        section aria-labelledby="instructions-heading" {
            h2 id="instructions-heading" { (t.text("assignment-instructions")) }
            @if assignment.instructions.is_empty() {
                p { (t.text("assignment-no-instructions")) }
            } @else {
                div class="prose" { (paragraphs(&assignment.instructions)) }
            }
            @if !assignment.attachments.is_empty() {
                h3 { (t.text("assignment-attachments")) }
                (file_list(&t, &assignment.attachments, |blob| format!("/api/v1/assignments/{id}/attachments/{blob}")))
            }
        }
        @if let Some(submission) = &submission {
            (pupil_section(&t, viewer, id, submission, form))
        }
        @if let Some(submissions) = &submissions {
            (teacher_section(&t, id, submissions))
        }
    };
    let frame = Frame::new(state, viewer, &format!("/assignments/{id}"));
    Ok(page_with_status(&frame, status, &assignment.title, content))
}

/// Text as paragraphs, one per blank-line-separated block; never as HTML.
fn paragraphs(text: &str) -> Markup {
    html! {
        @for block in text.split("\n\n").filter(|block| !block.trim().is_empty()) {
            p { (block.trim()) }
        }
    }
}

fn file_list(t: &Translator, files: &[FileRefView], link: impl Fn(&str) -> String) -> Markup {
    html! {
        ul class="files" {
            @for file in files {
                li {
                    a href=(link(&file.blob)) download=(file.file_name) { (file.file_name) }
                    " "
                    span class="meta" { "(" (t.file_size(file.size_bytes)) ")" }
                }
            }
        }
    }
}

fn status_text(t: &Translator, status: SubmissionStatusView) -> String {
    match status {
        SubmissionStatusView::Draft => t.text("status-not-submitted"),
        SubmissionStatusView::Submitted => t.text("status-submitted"),
        SubmissionStatusView::Returned => t.text("status-returned"),
    }
}

fn attempts(t: &Translator, id: &str, pupil: &str, attempts: &[AttemptView]) -> Markup {
    html! {
        @for attempt in attempts.iter().rev() {
            article class="attempt" aria-labelledby=(format!("attempt-{}", attempt.number)) {
                h3 id=(format!("attempt-{}", attempt.number)) {
                    (t.text_with("attempt-title", &[("number", FluentValue::from(attempt.number))]))
                }
                p class="meta" {
                    (t.text_with("attempt-submitted-at", &[("when", FluentValue::from(t.date_time(attempt.submitted_at)))]))
                    @if attempt.late { " " strong class="late" { (t.text("attempt-late")) } }
                }
                @if !attempt.work.text.is_empty() {
                    div class="prose" { (paragraphs(&attempt.work.text)) }
                }
                @if !attempt.work.files.is_empty() {
                    (file_list(t, &attempt.work.files, |blob| format!("/api/v1/assignments/{id}/submissions/{}/files/{blob}", path_segment(pupil))))
                }
                @if let Some(feedback) = &attempt.feedback {
                    div class="feedback" {
                        h4 { (t.text("feedback-title")) }
                        @if let Some(grade) = &feedback.grade {
                            p { strong { (t.text_with("assignment-grade", &[("grade", FluentValue::from(grade.as_str()))])) } }
                        }
                        div class="prose" { (paragraphs(&feedback.text)) }
                        p class="meta" { (t.date_time(feedback.returned_at)) }
                    }
                }
            }
        }
    }
}

fn pupil_section(
    t: &Translator,
    viewer: &Viewer,
    id: &str,
    submission: &SubmissionView,
    form: &SubmissionForm,
) -> Markup {
    let draft_text = submission
        .draft
        .as_ref()
        .map(|draft| draft.text.as_str())
        .unwrap_or("");
    let text = form.text.as_deref().unwrap_or(draft_text);
    html! {
        section aria-labelledby="work-heading" {
            h2 id="work-heading" { (t.text("assignment-my-work")) }
            p { (t.text_with("assignment-status", &[("status", FluentValue::from(status_text(t, submission.status)))])) }
            @if let Some(score) = tool_score_text(t, submission.tool_score.as_ref()) {
                p { (score) }
            }
            // A submitted draft stays in the model; its files are shown only while they can still
            // be handed in (again).
            @if let Some(draft) = submission.draft.as_ref().filter(|_| submission.can_submit) {
                @if !draft.files.is_empty() {
                    h3 { (t.text("assignment-draft-files")) }
                    (file_list(t, &draft.files, |blob| format!("/api/v1/assignments/{id}/submissions/{}/files/{blob}", path_segment(&viewer.caller.user_id))))
                }
            }
            @if submission.can_submit {
                form method="post" action=(format!("/assignments/{id}/submission")) enctype="multipart/form-data" class="stack" novalidate {
                    (form.errors.summary(t))
                    (csrf_field(viewer))
                    (Field::new("text", t.text("submission-text"), "textarea", text)
                        .max_chars(MAX_BODY_CHARS).render(&form.errors))
                    (Field::new("file", t.text("submission-file"), "file", "")
                        .hint(t.text("submission-file-hint")).render(&form.errors))
                    div class="buttons" {
                        button type="submit" name="action" value="submit" { (t.text("submission-submit")) }
                        button type="submit" name="action" value="draft" class="secondary" { (t.text("submission-save-draft")) }
                    }
                }
            } @else if submission.status != SubmissionStatusView::Returned {
                p { (t.text("submission-closed")) }
            }
        }
        @if !submission.attempts.is_empty() {
            section aria-labelledby="attempts-heading" {
                h2 id="attempts-heading" { (t.text("assignment-attempts")) }
                (attempts(t, id, &viewer.caller.user_id, &submission.attempts))
            }
        }
    }
}

/// The score an assignment's LTI tool reported, as "given / maximum", when it gave one: the
/// teacher sees it beside their own grade, and the pupil on their assignment page.
fn tool_score_text(t: &Translator, score: Option<&ToolScoreView>) -> Option<String> {
    let score = score?;
    let given = score.score_given?;
    let value = match score.score_maximum {
        Some(maximum) => format!("{given} / {maximum}"),
        None => given.to_string(),
    };
    Some(t.text_with(
        "assignment-tool-score",
        &[("score", FluentValue::from(value))],
    ))
}

fn teacher_section(t: &Translator, id: &str, submissions: &[SubmissionSummary]) -> Markup {
    html! {
        section aria-labelledby="pupils-heading" {
            h2 id="pupils-heading" { (t.text("assignment-pupils")) }
            table {
                caption class="visually-hidden" { (t.text("assignment-pupils")) }
                thead {
                    tr {
                        th scope="col" { (t.text("column-pupil")) }
                        th scope="col" { (t.text("column-status")) }
                        th scope="col" { (t.text("column-submitted")) }
                        th scope="col" { (t.text("column-grade")) }
                    }
                }
                tbody {
                    @for summary in submissions {
                        tr {
                            th scope="row" {
                                a href=(format!("/assignments/{id}/submissions/{}", path_segment(&summary.pupil))) { (summary.display_name) }
                            }
                            td { (status_text(t, summary.status)) @if summary.late { " " strong class="late" { (t.text("attempt-late")) } } }
                            td { @if let Some(at) = summary.submitted_at { (t.date_time(at)) } }
                            td {
                                (summary.grade.as_deref().unwrap_or(""))
                                @if let Some(score) = tool_score_text(t, summary.tool_score.as_ref()) {
                                    @if summary.grade.is_some() { " " }
                                    span class="meta" { (score) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A pupil saves or submits work.
// ---------------------------------------------------------------------------------------------

/// The submission form's text fields and their bounds: four bytes a character at most and a
/// little over, so the length check can answer next to the field rather than refusing the form.
const SUBMISSION_TEXT_FIELDS: [(&str, usize); 2] =
    [("text", 4 * MAX_BODY_CHARS + 1024), ("action", 64)];

/// `POST /assignments/{id}/submission` (`multipart/form-data`): saves the pupil's text and an
/// optional file as the draft, or submits them.
pub async fn save_submission(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    let viewer = upload_viewer(&state, &method, &uri, &headers)?;
    let t = viewer.t;
    let _slot = upload_slot().await?;
    let upload = match read_upload_form(
        multipart,
        "file",
        upload_limit(&state),
        &SUBMISSION_TEXT_FIELDS,
    )
    .await
    {
        Ok(upload) => upload,
        // A file over the limit is shown on the form, like any other problem of a field, with
        // the status that says why. (The CSRF token may not have been read: nothing is written.)
        Err(error @ ServiceError::TooLarge(_)) => {
            let mut errors = FormErrors::default();
            errors.add("file", t.text("error-file-too-large"));
            return show_submission_form_again(
                &state,
                &viewer,
                &id,
                None,
                errors,
                service_status(&error),
            )
            .await;
        }
        Err(other) => return Err(other.into()),
    };
    check_csrf(&viewer, &upload)?;
    let text = upload.field("text").to_owned();
    let submit = upload.field("action") == "submit";

    let mut errors = FormErrors::default();
    if text.chars().count() > MAX_BODY_CHARS {
        errors.add_too_long("text", &t, MAX_BODY_CHARS);
    }
    if submit && text.trim().is_empty() && upload.file.is_none() {
        errors.add("text", t.text("submission-empty"));
    }
    if !errors.is_empty() {
        return show_submission_form_again(
            &state,
            &viewer,
            &id,
            Some(text),
            errors,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }

    // The file joins the files the draft holds when the save is written, not when this form
    // was read: two saves at once (two tabs, a double click) each keep the other's file.
    let added = match upload.file {
        Some(file) => {
            let stored = store_uploaded_file(
                &state,
                &viewer.caller.user_id,
                &file.name,
                &file.media_type,
                file.content,
            )
            .await;
            match stored {
                Ok(file) => Some(file),
                Err(error) => {
                    let mut errors = FormErrors::default();
                    errors.add("file", refusal_text(&t, &error));
                    return show_submission_form_again(
                        &state,
                        &viewer,
                        &id,
                        Some(text),
                        errors,
                        service_status(&error),
                    )
                    .await;
                }
            }
        }
        None => None,
    };
    let input = SubmissionInput {
        text: text.clone(),
        files: WorkFiles::DraftFilesAnd(added),
        submit,
        device_time: None,
    };
    match operations::save_submission(&state, &viewer.caller, &id, input).await {
        Ok(_) => {
            let done = if submit { "submitted" } else { "draft" };
            Ok(
                Redirect::to(&format!("/assignments/{}?done={done}", path_segment(&id)))
                    .into_response(),
            )
        }
        Err(refusal) if is_form_refusal(&refusal) => {
            let mut errors = FormErrors::default();
            add_refusal(
                &mut errors,
                &t,
                &refusal,
                &[
                    ("text", "text"),
                    ("files", "file"),
                    ("submission (text or files)", "text"),
                ],
            );
            show_submission_form_again(
                &state,
                &viewer,
                &id,
                Some(text),
                errors,
                refusal_status(&refusal),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// The assignment page again with the pupil's form as they sent it and what was wrong with it.
async fn show_submission_form_again(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    text: Option<String>,
    errors: FormErrors,
    status: StatusCode,
) -> Result<Response, WebError> {
    let form = SubmissionForm { text, errors };
    render_assignment_page(state, viewer, id, &Notice::default(), status, &form).await
}

/// Whether an operation's refusal is about what the form sent (shown on the form again), rather
/// than a page of its own (forbidden, not found, the node failed).
pub fn is_form_refusal(refusal: &ServiceError) -> bool {
    matches!(
        refusal,
        ServiceError::Invalid { .. } | ServiceError::Conflict(_)
    )
}

/// The status of a form shown again after an operation's refusal.
pub fn refusal_status(refusal: &ServiceError) -> StatusCode {
    match refusal {
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Puts an operation's refusal on the form: next to the field it names (`fields` maps the
/// operation's input names to the form's), else above the form.
pub fn add_refusal(
    errors: &mut FormErrors,
    t: &Translator,
    refusal: &ServiceError,
    fields: &[(&str, &'static str)],
) {
    let form_field = refusal.field().and_then(|field| {
        fields
            .iter()
            .find(|(input, _)| *input == field)
            .map(|(_, form_field)| *form_field)
    });
    match (refusal, form_field) {
        (ServiceError::Invalid { problem, .. }, Some(form_field)) => {
            errors.add(form_field, super::layout::problem_text(t, *problem));
        }
        (ServiceError::Conflict(_), _) => errors.form = Some(t.text("error-conflict")),
        _ => errors.form = Some(t.text("error-bad-request")),
    }
}

/// A refusal of the node, in the viewer's language where we know its kind.
pub fn refusal_text(t: &Translator, error: &ServiceError) -> String {
    match error {
        ServiceError::TooLarge(_) => t.text("error-file-too-large"),
        ServiceError::QuotaExceeded(_) => t.text("error-too-many"),
        ServiceError::Conflict(_) => t.text("error-conflict"),
        _ => t.text("error-bad-request"),
    }
}

// ---------------------------------------------------------------------------------------------
// A teacher creates an assignment.
// ---------------------------------------------------------------------------------------------

/// The create form's values, as sent.
#[derive(Debug, Default)]
struct AssignmentForm {
    title: String,
    instructions: String,
    due_date: String,
    due_time: String,
}

/// `GET /classes/{class}/assignments/new`.
pub async fn new_assignment_page(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(class): UrlPath<String>,
) -> Result<Response, WebError> {
    let class_title = teacher_class_title(&state, &viewer, &class).await?;
    let form = AssignmentForm {
        due_time: "16:00".into(),
        ..AssignmentForm::default()
    };
    let content_tools = crate::school::services::content_tools(&state, &class).await?;
    Ok(assignment_form_page(
        &state,
        &viewer,
        &class,
        &class_title,
        &content_tools,
        &form,
        &FormErrors::default(),
        StatusCode::OK,
    ))
}

/// The class's title, when the viewer sets its work; the refusal otherwise.
async fn teacher_class_title(
    state: &AppState,
    viewer: &Viewer,
    class: &str,
) -> Result<String, WebError> {
    Ok(operations::class_for_new_work(state, &viewer.caller, class).await?)
}

#[allow(clippy::too_many_arguments)]
fn assignment_form_page(
    state: &AppState,
    viewer: &Viewer,
    class: &str,
    class_title: &str,
    content_tools: &[(String, String)],
    form: &AssignmentForm,
    errors: &FormErrors,
    status: StatusCode,
) -> Response {
    let t = viewer.t;
    let frame = Frame::new(
        state,
        viewer,
        &format!("/classes/{}/assignments/new", path_segment(class)),
    );
    let title = t.text_with(
        "new-assignment-title",
        &[("class", FluentValue::from(class_title))],
    );
    page_with_status(
        &frame,
        status,
        &title,
        html! {
            form method="post" action=(format!("/classes/{}/assignments", path_segment(class))) class="stack" novalidate {
                (errors.summary(&t))
                (csrf_field(viewer))
                (Field::new("title", t.text("new-assignment-name"), "text", &form.title)
                    .required().max_chars(MAX_TITLE_CHARS).render(errors))
                (Field::new("instructions", t.text("new-assignment-instructions"), "textarea", &form.instructions)
                    .max_chars(MAX_BODY_CHARS).render(errors))
                (Field::new("due_date", t.text("new-assignment-due-date"), "date", &form.due_date)
                    .required().hint(t.text("new-assignment-due-date-hint")).render(errors))
                (Field::new("due_time", t.text("new-assignment-due-time"), "time", &form.due_time)
                    .required().hint(t.text("new-assignment-due-time-hint")).render(errors))
                button type="submit" { (t.text("new-assignment-create")) }
            }
            @if !content_tools.is_empty() {
                section aria-labelledby="pick-content-heading" {
                    h2 id="pick-content-heading" { (t.text("new-assignment-pick-content")) }
                    p { (t.text("new-assignment-pick-content-hint")) }
                    ul {
                        @for (service, name) in content_tools {
                            li {
                                a href=(format!("/lti/deep-linking/{}?class={}", path_segment(service), path_segment(class))) { (name) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `POST /classes/{class}/assignments` (form): checks every field, and only when all are right
/// creates the assignment through the API.
pub async fn create_assignment(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(class): UrlPath<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let class_title = teacher_class_title(&state, &viewer, &class).await?;
    let fields = form_fields(&body);
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let form = AssignmentForm {
        title: field("title").trim().to_owned(),
        instructions: field("instructions"),
        due_date: field("due_date").trim().to_owned(),
        due_time: field("due_time").trim().to_owned(),
    };
    let mut errors = FormErrors::default();
    if form.title.is_empty() {
        errors.add("title", t.text("new-assignment-name-missing"));
    } else if form.title.chars().count() > MAX_TITLE_CHARS {
        errors.add_too_long("title", &t, MAX_TITLE_CHARS);
    }
    if form.instructions.chars().count() > MAX_BODY_CHARS {
        errors.add_too_long("instructions", &t, MAX_BODY_CHARS);
    }
    let date = time::Date::parse(
        &form.due_date,
        time::macros::format_description!("[year]-[month]-[day]"),
    );
    let clock = time::Time::parse(
        &form.due_time,
        time::macros::format_description!("[hour]:[minute]"),
    );
    if date.is_err() {
        errors.add("due_date", t.text("new-assignment-due-date-invalid"));
    }
    if clock.is_err() {
        errors.add("due_time", t.text("new-assignment-due-time-invalid"));
    }
    let due_at = match (date, clock) {
        (Ok(date), Ok(clock)) => school_local_to_node_millis(date, clock),
        _ => None,
    };
    if let Some(due_at) = due_at
        && due_at <= crate::school::node_now().unix_millis()
    {
        errors.add("due_date", t.text("new-assignment-due-in-past"));
    }
    if !errors.is_empty() {
        return Ok(assignment_form_page(
            &state,
            &viewer,
            &class,
            &class_title,
            &[],
            &form,
            &errors,
            StatusCode::BAD_REQUEST,
        ));
    }
    let Some(due_at) = due_at else {
        return Err(ServiceError::invalid("due_at", "no due time").into());
    };
    let new = NewAssignment {
        content: AssignmentInput {
            title: form.title.clone(),
            instructions: form.instructions.clone(),
            attachments: Vec::new(),
            due_at: NodeTime::from_unix_millis(due_at),
            cut_off_at: None,
        },
        lti_tool: None,
    };
    match operations::create_assignment(&state, &viewer.caller, &class, new).await {
        Ok(assignment) => Ok(Redirect::to(&format!(
            "/assignments/{}?done=created",
            path_segment(&assignment.id)
        ))
        .into_response()),
        Err(refusal) if is_form_refusal(&refusal) => {
            add_refusal(
                &mut errors,
                &t,
                &refusal,
                &[
                    ("title", "title"),
                    ("instructions", "instructions"),
                    ("due time", "due_date"),
                ],
            );
            Ok(assignment_form_page(
                &state,
                &viewer,
                &class,
                &class_title,
                &[],
                &form,
                &errors,
                refusal_status(&refusal),
            ))
        }
        Err(other) => Err(other.into()),
    }
}

/// A date and clock time on the school's local clock as node time. Finnish time is UTC+2 or, in
/// summer, UTC+3; the offset that the school's clock has at the resulting moment is the right one.
pub fn school_local_to_node_millis(date: time::Date, clock: time::Time) -> Option<i64> {
    let local = time::PrimitiveDateTime::new(date, clock);
    for hours in [3, 2] {
        let offset = time::UtcOffset::from_hms(hours, 0, 0).ok()?;
        let moment = local.assume_offset(offset);
        let millis = i64::try_from(moment.unix_timestamp_nanos() / 1_000_000).ok()?;
        let school_offset = school_local_time_at(NodeTime::from_unix_millis(millis))
            .ok()?
            .offset();
        if school_offset == offset {
            return Some(millis);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// A teacher reviews a submission and returns it.
// ---------------------------------------------------------------------------------------------

/// The return form's values, as sent.
#[derive(Debug, Default)]
struct ReturnForm {
    feedback: String,
    grade: String,
    allow_resubmission: bool,
}

/// `GET /assignments/{id}/submissions/{pupil}`.
pub async fn review_page(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath((id, pupil)): UrlPath<(String, String)>,
) -> Result<Response, WebError> {
    render_review_page(
        &state,
        &viewer,
        &id,
        &pupil,
        &ReturnForm::default(),
        &FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

async fn render_review_page(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    pupil: &str,
    form: &ReturnForm,
    errors: &FormErrors,
    status: StatusCode,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let caller = &viewer.caller;
    let assignment = operations::get_assignment(state, caller, id).await?;
    let submission = operations::get_submission(state, caller, id, pupil).await?;
    let roster = roster_index(state).await?;
    let may_return = Access::new(caller, roster.clone())
        .may(Action::SetClassWork, Target::Class(&assignment.class_id));
    let pupil_name = roster
        .users
        .user(pupil)
        .map(|user| user.display_name())
        .unwrap_or_else(|| pupil.to_owned());
    let title = t.text_with(
        "review-title",
        &[
            ("pupil", FluentValue::from(pupil_name.as_str())),
            ("assignment", FluentValue::from(assignment.title.as_str())),
        ],
    );
    let content = html! {
        p { a href=(format!("/assignments/{id}")) { (t.text("review-back")) } }
        p { (t.text_with("assignment-status", &[("status", FluentValue::from(status_text(&t, submission.status)))])) }
        @if let Some(score) = tool_score_text(&t, submission.tool_score.as_ref()) {
            p { (score) }
        }
        @if submission.attempts.is_empty() {
            p { (t.text("review-nothing-submitted")) }
        } @else {
            section aria-labelledby="attempts-heading" {
                h2 id="attempts-heading" { (t.text("assignment-attempts")) }
                (attempts(&t, id, pupil, &submission.attempts))
            }
        }
        @if may_return && submission.status == SubmissionStatusView::Submitted {
            section aria-labelledby="return-heading" {
                h2 id="return-heading" { (t.text("review-return-heading")) }
                form method="post" action=(format!("/assignments/{id}/submissions/{}/return", path_segment(pupil))) class="stack" novalidate {
                    (errors.summary(&t))
                    (csrf_field(viewer))
                    (Field::new("feedback", t.text("review-feedback"), "textarea", &form.feedback)
                        .required().max_chars(MAX_BODY_CHARS).render(errors))
                    (Field::new("grade", t.text("review-grade"), "text", &form.grade)
                        .max_chars(MAX_GRADE_CHARS).hint(t.text("review-grade-hint")).render(errors))
                    div class="field checkbox" {
                        input type="checkbox" id="allow_resubmission" name="allow_resubmission" value="yes"
                            checked[form.allow_resubmission];
                        label for="allow_resubmission" { (t.text("review-allow-resubmission")) }
                    }
                    button type="submit" { (t.text("review-return")) }
                }
            }
        }
    };
    let frame = Frame::new(
        state,
        viewer,
        &format!("/assignments/{id}/submissions/{}", path_segment(pupil)),
    );
    Ok(page_with_status(&frame, status, &title, content))
}

/// `POST /assignments/{id}/submissions/{pupil}/return` (form).
pub async fn return_submission(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath((id, pupil)): UrlPath<(String, String)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let fields = form_fields(&body);
    let form = ReturnForm {
        feedback: fields.get("feedback").cloned().unwrap_or_default(),
        grade: fields
            .get("grade")
            .map(|grade| grade.trim().to_owned())
            .unwrap_or_default(),
        allow_resubmission: fields.contains_key("allow_resubmission"),
    };
    let mut errors = FormErrors::default();
    if form.feedback.trim().is_empty() {
        errors.add("feedback", t.text("review-feedback-missing"));
    } else if form.feedback.chars().count() > MAX_BODY_CHARS {
        errors.add_too_long("feedback", &t, MAX_BODY_CHARS);
    }
    if form.grade.chars().count() > MAX_GRADE_CHARS {
        errors.add_too_long("grade", &t, MAX_GRADE_CHARS);
    }
    if !errors.is_empty() {
        return render_review_page(
            &state,
            &viewer,
            &id,
            &pupil,
            &form,
            &errors,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let feedback = FeedbackInput {
        text: form.feedback.clone(),
        grade: (!form.grade.is_empty()).then(|| form.grade.clone()),
        allow_resubmission: form.allow_resubmission,
    };
    match operations::return_submission(&state, &viewer.caller, &id, &pupil, feedback).await {
        Ok(_) => Ok(
            Redirect::to(&format!("/assignments/{}?done=returned", path_segment(&id)))
                .into_response(),
        ),
        Err(refusal) if is_form_refusal(&refusal) => {
            add_refusal(
                &mut errors,
                &t,
                &refusal,
                &[("feedback", "feedback"), ("grade", "grade")],
            );
            render_review_page(
                &state,
                &viewer,
                &id,
                &pupil,
                &form,
                &errors,
                refusal_status(&refusal),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn school_local_times_become_node_time() {
        let winter = time::macros::date!(2026 - 11 - 27);
        let nine_fifteen = time::macros::time!(9:15);
        assert_eq!(
            school_local_to_node_millis(winter, nine_fifteen),
            Some(1_795_763_700_000)
        );
        let summer = time::macros::date!(2026 - 06 - 01);
        let noon = time::macros::time!(12:00);
        // 12:00 EEST is 09:00 UTC.
        assert_eq!(
            school_local_to_node_millis(summer, noon),
            Some(1_780_304_400_000)
        );
    }
}
