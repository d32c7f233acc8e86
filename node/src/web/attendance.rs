//! Marking a lesson's attendance in the web UI: every pupil of the class with present, absent or
//! late (present unless already marked otherwise), saved at once by
//! [`crate::school::attendance::mark_lesson`], which decides who may mark.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use maud::html;

use super::i18n::Translator;
use super::layout::{FormErrors, Frame, csrf_field, page_with_status};
use super::{Viewer, WebError, form_fields};
use crate::model::common::CalendarDate;
use crate::school::attendance::{self as operations, MarkStatus, PupilMark};
use crate::school::{ServiceError, roster_index};
use crate::state::AppState;
use crate::url_path::path_segment;

#[derive(Debug, Default, serde::Deserialize)]
pub struct AttendanceNotice {
    done: Option<String>,
}

const STATUSES: [MarkStatus; 3] = [MarkStatus::Present, MarkStatus::Absent, MarkStatus::Late];

fn status_value(status: MarkStatus) -> &'static str {
    match status {
        MarkStatus::Present => "present",
        MarkStatus::Absent => "absent",
        MarkStatus::Late => "late",
    }
}

fn status_label(t: &Translator, status: MarkStatus) -> String {
    match status {
        MarkStatus::Present => t.text("attendance-present"),
        MarkStatus::Absent => t.text("attendance-absent"),
        MarkStatus::Late => t.text("attendance-late"),
    }
}

/// `GET /classes/{class}/attendance/{date}/{lesson}`.
pub async fn attendance_page(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath((class, date, lesson)): UrlPath<(String, String, String)>,
    Query(notice): Query<AttendanceNotice>,
) -> Result<Response, WebError> {
    render(
        &state,
        &viewer,
        (&class, &date, &lesson),
        &BTreeMap::new(),
        &FormErrors::default(),
        StatusCode::OK,
        notice.done.as_deref() == Some("marked"),
    )
    .await
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    (class, date, lesson): (&str, &str, &str),
    entered: &BTreeMap<String, MarkStatus>,
    errors: &FormErrors,
    status: StatusCode,
    marked: bool,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let day =
        operations::class_attendance_on(state, &viewer.caller, class, page_date(date)?).await?;
    let Some(lesson_view) = day.lessons.iter().find(|candidate| candidate.id == lesson) else {
        return Err(ServiceError::NotFound(format!("no lesson {lesson:?} on {date}")).into());
    };
    let roster = roster_index(state).await?;
    let pupils: Vec<(String, String)> = roster
        .classes
        .get(class)
        .map(|document| {
            document
                .pupils()
                .into_iter()
                .map(|pupil| {
                    let name = roster
                        .users
                        .user(pupil)
                        .map(|user| user.display_name())
                        .unwrap_or_else(|| pupil.clone());
                    (pupil.clone(), name)
                })
                .collect()
        })
        .unwrap_or_default();
    let recorded: BTreeMap<&str, MarkStatus> = day
        .marks
        .iter()
        .filter(|mark| mark.lesson_id == lesson)
        .map(|mark| (mark.pupil.as_str(), mark.status))
        .collect();
    let start = lesson_view.start.minutes_since_midnight();
    let title = t.text_with(
        "attendance-title",
        &[
            ("class", FluentValue::from(day.class_title.as_str())),
            ("date", FluentValue::from(t.date(day.date))),
            (
                "time",
                FluentValue::from(t.clock((start / 60) as u8, (start % 60) as u8)),
            ),
        ],
    );
    let content = html! {
        @if marked {
            p class="notice" role="status" { (t.text("notice-marked")) }
        }
        form method="post" action=(attendance_path_text(class, date, lesson)) class="stack" novalidate {
            (errors.summary(&t))
            (csrf_field(viewer))
            @for (pupil, name) in &pupils {
                @let chosen = entered.get(pupil).copied()
                    .or_else(|| recorded.get(pupil.as_str()).copied())
                    .unwrap_or(MarkStatus::Present);
                fieldset class="marks" id=(format!("mark-{pupil}")) {
                    legend { (name) }
                    @for status in STATUSES {
                        @let id = format!("mark-{pupil}-{}", status_value(status));
                        span class="choice" {
                            input type="radio" id=(id) name=(format!("mark-{pupil}"))
                                value=(status_value(status)) checked[status == chosen];
                            label for=(id) { (status_label(&t, status)) }
                        }
                    }
                }
            }
            button type="submit" { (t.text("attendance-save")) }
        }
    };
    let frame = Frame::new(state, viewer, &attendance_path_text(class, date, lesson));
    Ok(page_with_status(&frame, status, &title, content))
}

/// `POST /classes/{class}/attendance/{date}/{lesson}` (form).
pub async fn mark(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath((class, date, lesson)): UrlPath<(String, String, String)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let fields = form_fields(&body);
    let mut entered = BTreeMap::new();
    let mut errors = FormErrors::default();
    for (name, value) in &fields {
        let Some(pupil) = name.strip_prefix("mark-") else {
            continue;
        };
        match STATUSES
            .into_iter()
            .find(|status| status_value(*status) == value)
        {
            Some(status) => {
                entered.insert(pupil.to_owned(), status);
            }
            None => errors.form = Some(t.text("error-bad-request")),
        }
    }
    if entered.is_empty() {
        errors.form = Some(t.text("error-bad-request"));
    }
    if !errors.is_empty() {
        return render(
            &state,
            &viewer,
            (&class, &date, &lesson),
            &entered,
            &errors,
            StatusCode::BAD_REQUEST,
            false,
        )
        .await;
    }
    let marks = entered
        .iter()
        .map(|(pupil, status)| {
            let mark = PupilMark {
                status: *status,
                reason: None,
            };
            (pupil.clone(), mark)
        })
        .collect();
    let saved = operations::mark_lesson(
        &state,
        &viewer.caller,
        &class,
        page_date(&date)?,
        &lesson,
        marks,
    )
    .await;
    // A refusal of what the form sent (a pupil not in the class, a date in the future, a lesson on
    // another weekday, a document bound elsewhere) shows the form again with what was chosen.
    let refusal_status = match saved {
        Ok(_) => {
            return Ok(Redirect::to(&format!(
                "{}?done=marked",
                attendance_path_text(&class, &date, &lesson)
            ))
            .into_response());
        }
        Err(ServiceError::Invalid { .. }) => StatusCode::BAD_REQUEST,
        Err(ServiceError::Conflict(_)) => StatusCode::CONFLICT,
        Err(other) => return Err(other.into()),
    };
    errors.form = Some(t.text("error-bad-request"));
    render(
        &state,
        &viewer,
        (&class, &date, &lesson),
        &entered,
        &errors,
        refusal_status,
        false,
    )
    .await
}

/// The date of the page's path; one that is not `YYYY-MM-DD` is a bad request, as in the API.
fn page_date(date: &str) -> Result<CalendarDate, ServiceError> {
    Ok(date.parse::<CalendarDate>()?)
}

/// The link to a lesson's attendance page.
pub fn attendance_path(class: &str, date: CalendarDate, lesson: &str) -> String {
    attendance_path_text(class, &date.to_string(), lesson)
}

/// The same, from the date as the path had it; class and lesson ids are percent-encoded, since a
/// sourcedId may hold any character.
fn attendance_path_text(class: &str, date: &str, lesson: &str) -> String {
    format!(
        "/classes/{}/attendance/{}/{}",
        path_segment(class),
        path_segment(date),
        path_segment(lesson)
    )
}
