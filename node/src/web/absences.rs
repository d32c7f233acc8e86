//! A pupil's absences in the web UI, above all for guardians: the absences of the school year with
//! those still to clear first, the totals, the guardians' reports, a form to explain absences (a
//! report cleared at once, as Finnish schools expect of guardians) and a button to clear a report
//! filed earlier. Teachers of the pupil may clear reports for their classes. Every read and write
//! is an operation of [`crate::school::attendance`]; the page asks the policy which forms and
//! buttons to show.

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use maud::{Markup, html};

use super::i18n::Translator;
use super::layout::{Field, FormErrors, Frame, csrf_field, page_with_status};
use super::{Viewer, WebError, form_fields};
use crate::model::attendance::MAX_ABSENCE_REPORT_DAYS;
use crate::model::common::{CalendarDate, MAX_REASON_CHARS};
use crate::school::attendance::{
    self as operations, MarkStatus, MarkView, NewAbsenceReport, PupilAbsencesView, ReportView,
};
use crate::school::policy::Action;
use crate::school::{Access, RosterIndex, ServiceError, Target, roster_index};
use crate::state::AppState;
use crate::url_path::path_segment;

#[derive(Debug, Default, serde::Deserialize)]
pub struct AbsencesNotice {
    done: Option<String>,
}

/// The explanation form's values, as sent.
#[derive(Debug, Default)]
struct ExplanationForm {
    first_date: String,
    last_date: String,
    reason: String,
}

/// The path of a pupil's absences page.
pub fn absences_path(pupil: &str) -> String {
    format!("/pupils/{}/absences", path_segment(pupil))
}

/// The pupil's absences that no cleared report explains yet: what a guardian has to clear.
pub fn unexplained(view: &PupilAbsencesView) -> impl Iterator<Item = &MarkView> {
    view.absences
        .iter()
        .filter(|mark| mark.status == MarkStatus::Absent && !mark.explained)
}

/// The pupil's absences in the current school year, as the viewer may read them.
pub async fn absences_of(
    state: &AppState,
    viewer: &Viewer,
    pupil: &str,
) -> Result<PupilAbsencesView, ServiceError> {
    operations::pupil_absences(state, &viewer.caller, pupil, None).await
}

/// `GET /pupils/{pupil}/absences`.
pub async fn absences_page(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(pupil): UrlPath<String>,
    Query(notice): Query<AbsencesNotice>,
) -> Result<Response, WebError> {
    render(
        &state,
        &viewer,
        &pupil,
        None,
        &FormErrors::default(),
        StatusCode::OK,
        notice.done.as_deref(),
    )
    .await
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    pupil: &str,
    entered: Option<&ExplanationForm>,
    errors: &FormErrors,
    status: StatusCode,
    done: Option<&str>,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let view = operations::pupil_absences(state, &viewer.caller, pupil, None).await?;
    let access = Access::new(&viewer.caller, roster_index(state).await?);
    let roster = &access.roster;
    let is_guardian = access.may(Action::ExplainPupilAbsence, Target::Pupil(pupil));
    // A report's button shows where clearing it would do something: in a class that has it still
    // open and where the viewer may clear it, as the operation decides.
    let may_clear = |report: &ReportView| {
        report.placements.iter().any(|placement| {
            placement.cleared_by.is_none()
                && access.may(
                    Action::ClearPupilAbsenceReport,
                    Target::PupilInClass {
                        pupil,
                        class: &placement.class,
                    },
                )
        })
    };
    let to_clear: Vec<&MarkView> = unexplained(&view).collect();
    // The form starts at the first absence still to clear: the usual case is explaining it.
    let suggested = to_clear
        .first()
        .map(|mark| mark.date.to_string())
        .unwrap_or_default();
    let form = match entered {
        Some(form) => ExplanationForm {
            first_date: form.first_date.clone(),
            last_date: form.last_date.clone(),
            reason: form.reason.clone(),
        },
        None => ExplanationForm {
            first_date: suggested.clone(),
            last_date: suggested,
            reason: String::new(),
        },
    };
    let hours = |value: f64| t.text_with("absences-hours", &[("hours", FluentValue::from(value))]);
    let content = html! {
        @match done {
            Some("explained") => p class="notice" role="status" { (t.text("notice-explained")) },
            Some("cleared") => p class="notice" role="status" { (t.text("notice-cleared")) },
            _ => {},
        }
        @if view.school_year.is_none() {
            p { (t.text("absences-no-year")) }
        }
        dl class="facts" {
            dt { (t.text("absences-total")) } dd { (hours(view.totals.absence_hours)) }
            dt { (t.text("absences-explained")) } dd { (hours(view.totals.explained_hours)) }
            dt { (t.text("absences-late")) } dd { (view.totals.late_lessons) }
        }
        @if let Some(threshold) = view.crossed_thresholds.last() {
            p class="warning" { (t.text_with("absences-threshold", &[("hours", FluentValue::from(*threshold))])) }
        }
        section aria-labelledby="to-clear-heading" {
            h2 id="to-clear-heading" { (t.text("absences-to-clear")) }
            @if to_clear.is_empty() {
                p { (t.text("absences-nothing-to-clear")) }
            } @else {
                (marks_table(&t, roster, &to_clear, "absences-to-clear"))
            }
        }
        @if is_guardian {
            section aria-labelledby="explain-heading" {
                h2 id="explain-heading" { (t.text("absences-explain")) }
                form method="post" action=(format!("{}/explain", absences_path(pupil))) class="stack" novalidate {
                    (errors.summary(&t))
                    (csrf_field(viewer))
                    (Field::new("first_date", t.text("absences-first-date"), "date", &form.first_date).required().render(errors))
                    (Field::new("last_date", t.text("absences-last-date"), "date", &form.last_date)
                        .hint(t.text("absences-last-date-hint")).render(errors))
                    (Field::new("reason", t.text("absences-reason"), "textarea", &form.reason)
                        .required().max_chars(MAX_REASON_CHARS).render(errors))
                    button type="submit" { (t.text("absences-explain-button")) }
                }
            }
        }
        section aria-labelledby="reports-heading" {
            h2 id="reports-heading" { (t.text("absences-reports")) }
            @if view.reports.is_empty() {
                p { (t.text("absences-no-reports")) }
            } @else {
                ul class="cards" {
                    @for report in &view.reports {
                        li {
                            strong { (date_range(&t, report.first_date, report.last_date)) }
                            " "
                            span class="meta" {
                                (display_name(roster, &report.reported_by)) ", " (t.date_time(report.reported_at))
                            }
                            p { (report.reason) }
                            @if report.cleared {
                                p class="meta" { (t.text("absences-report-cleared")) }
                            } @else {
                                p class="meta" { (t.text("absences-report-open")) }
                                @if may_clear(report) {
                                    form method="post" action=(format!("{}/clear", absences_path(pupil))) {
                                        (csrf_field(viewer))
                                        input type="hidden" name="report_id" value=(report.id);
                                        button type="submit" class="secondary" {
                                            (t.text_with("absences-clear-report", &[("dates", FluentValue::from(date_range(&t, report.first_date, report.last_date)))]))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="all-heading" {
            h2 id="all-heading" { (t.text("absences-all")) }
            @if view.absences.is_empty() {
                p { (t.text("absences-none")) }
            } @else {
                (marks_table(&t, roster, &view.absences.iter().collect::<Vec<_>>(), "absences-all"))
            }
        }
    };
    let title = t.text_with(
        "absences-title",
        &[("name", FluentValue::from(view.pupil_name.as_str()))],
    );
    let frame = Frame::new(state, viewer, &absences_path(pupil));
    Ok(page_with_status(&frame, status, &title, content))
}

fn display_name(roster: &RosterIndex, user: &str) -> String {
    roster
        .users
        .user(user)
        .map(|user| user.display_name())
        .unwrap_or_else(|| user.to_owned())
}

fn date_range(t: &Translator, first: CalendarDate, last: CalendarDate) -> String {
    if first == last {
        t.date(first)
    } else {
        format!("{}–{}", t.date(first), t.date(last))
    }
}

fn marks_table(
    t: &Translator,
    roster: &RosterIndex,
    marks: &[&MarkView],
    caption: &'static str,
) -> Markup {
    html! {
        table {
            caption class="visually-hidden" { (t.text(caption)) }
            thead {
                tr {
                    th scope="col" { (t.text("absences-date")) }
                    th scope="col" { (t.text("absences-class")) }
                    th scope="col" { (t.text("absences-kind")) }
                    th scope="col" { (t.text("absences-state")) }
                }
            }
            tbody {
                @for mark in marks {
                    tr {
                        td { (t.date(mark.date)) }
                        td {
                            (roster.classes.get(&mark.class).map_or(mark.class.as_str(), |class| class.class.title.as_str()))
                        }
                        td {
                            @match mark.status {
                                MarkStatus::Late => (t.text("attendance-late")),
                                _ => (t.text("attendance-absent")),
                            }
                        }
                        td {
                            @if mark.explained { (t.text("absences-state-explained")) }
                            @else if mark.status == MarkStatus::Late { "" }
                            @else { (t.text("absences-state-open")) }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /pupils/{pupil}/absences/explain` (form): a guardian explains absences.
pub async fn explain(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(pupil): UrlPath<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let fields = form_fields(&body);
    let form = ExplanationForm {
        first_date: fields.get("first_date").cloned().unwrap_or_default(),
        last_date: fields.get("last_date").cloned().unwrap_or_default(),
        reason: fields.get("reason").cloned().unwrap_or_default(),
    };
    let mut errors = FormErrors::default();
    let first_date = form.first_date.trim().parse::<CalendarDate>().ok();
    if first_date.is_none() {
        errors.add("first_date", t.text("absences-date-invalid"));
    }
    let last_date = match form.last_date.trim() {
        "" => None,
        text => match text.parse::<CalendarDate>() {
            Ok(date) => Some(date),
            Err(_) => {
                errors.add("last_date", t.text("absences-date-invalid"));
                None
            }
        },
    };
    if let (Some(first), Some(last)) = (first_date, last_date)
        && last < first
    {
        errors.add("last_date", t.text("absences-last-before-first"));
    }
    errors.check_required_text(
        "reason",
        &form.reason,
        MAX_REASON_CHARS,
        &t,
        "absences-reason-missing",
    );
    let Some(first_date) = first_date.filter(|_| errors.is_empty()) else {
        return render(
            &state,
            &viewer,
            &pupil,
            Some(&form),
            &errors,
            StatusCode::BAD_REQUEST,
            None,
        )
        .await;
    };
    let explanation = NewAbsenceReport {
        first_date,
        last_date,
        lesson_ids: Vec::new(),
        reason: form.reason.trim().to_owned(),
    };
    match operations::explain_absences(&state, &viewer.caller, &pupil, explanation).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("{}?done=explained", absences_path(&pupil))).into_response())
        }
        // The dates are outside every term, or longer than one report may cover: said on the
        // form, which keeps what was entered. (The operation's reason is English, for developers.)
        Err(ServiceError::Invalid { .. }) => {
            errors.form = Some(t.text_with(
                "absences-refused",
                &[("days", FluentValue::from(MAX_ABSENCE_REPORT_DAYS))],
            ));
            render(
                &state,
                &viewer,
                &pupil,
                Some(&form),
                &errors,
                StatusCode::BAD_REQUEST,
                None,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /pupils/{pupil}/absences/clear` (form, `report_id`): clears a report.
pub async fn clear(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(pupil): UrlPath<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let fields = form_fields(&body);
    let report_id = fields.get("report_id").cloned().unwrap_or_default();
    operations::clear_report(&state, &viewer.caller, &pupil, &report_id).await?;
    Ok(Redirect::to(&format!("{}?done=cleared", absences_path(&pupil))).into_response())
}
