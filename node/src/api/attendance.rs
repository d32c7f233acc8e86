//! Attendance under `/api/v1`: thin handlers over [`crate::school::attendance`], which says who
//! may do what.
//!
//! - `PUT /api/v1/classes/{class}/attendance/{date}/{lesson}`: the class's teachers mark a lesson
//!   (administrators correct the record); `GET /api/v1/classes/{class}/attendance/{date}`: the
//!   class's teachers and school staff read the day.
//! - `GET /api/v1/pupils/{pupil}/absences`: the pupil's absences, totals and reports in a school
//!   year, for those who read the pupil's records.
//! - `POST /api/v1/pupils/{pupil}/absence-reports` and `POST /api/v1/pupils/{pupil}/absences/clear`:
//!   guardians report and explain absences; guardians and the pupil's teachers clear reports.
//! - `GET /api/v1/attendance/alerts`: pupils whose absences crossed 30, 50 or 70 hours in the
//!   school year.
//!
//! How attendance is kept and counted (per class and term, per school year) is said in
//! [`crate::school::attendance`].

use std::collections::BTreeMap;
use std::str::FromStr;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, roster_index};
use crate::auth::Caller;
use crate::model::UserId;
use crate::model::common::CalendarDate;
use crate::school::attendance::{self as operations, NewAbsenceReport, PupilMark};
pub use crate::school::attendance::{
    AlertsView, ClassDayAttendanceView, LessonAttendanceView, MarkStatus, MarkView,
    PupilAbsencesView, PupilAlertView, ReportPlacementView, ReportView, TotalsView,
};
use crate::school::timetable::require_known_pupil;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/classes/{class}/attendance/{date}",
            get(class_attendance_on),
        )
        .route(
            "/api/v1/classes/{class}/attendance/{date}/{lesson}",
            put(mark_lesson),
        )
        .route("/api/v1/pupils/{pupil}/absences", get(pupil_absences))
        .route(
            "/api/v1/pupils/{pupil}/absence-reports",
            post(report_absence),
        )
        .route(
            "/api/v1/pupils/{pupil}/absences/clear",
            post(clear_absences),
        )
        .route("/api/v1/attendance/alerts", get(absence_alerts))
}

/// What a teacher enters for one pupil.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PupilMarkRequest {
    pub status: MarkStatus,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `PUT /api/v1/classes/{class}/attendance/{date}/{lesson}` body: marks by pupil id.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LessonMarksRequest {
    pub marks: BTreeMap<UserId, PupilMarkRequest>,
}

/// What a guardian reports: a date range (one day when `last_date` is left out), optionally only
/// some lessons, and the reason.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct AbsenceReportRequest {
    #[schema(value_type = String, format = Date)]
    pub first_date: CalendarDate,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub last_date: Option<CalendarDate>,
    /// Lesson ids from the pupil's timetables; empty or left out means whole days.
    #[serde(default)]
    pub lesson_ids: Vec<String>,
    pub reason: String,
}

impl From<AbsenceReportRequest> for NewAbsenceReport {
    fn from(request: AbsenceReportRequest) -> Self {
        NewAbsenceReport {
            first_date: request.first_date,
            last_date: request.last_date,
            lesson_ids: request.lesson_ids,
            reason: request.reason,
        }
    }
}

/// `POST /api/v1/pupils/{pupil}/absences/clear` body: either an existing report to clear, or (for
/// guardians) an explanation, filed as a report and cleared at once.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ClearAbsencesRequest {
    #[serde(default)]
    pub report_id: Option<String>,
    #[serde(default)]
    pub explanation: Option<AbsenceReportRequest>,
}

/// Which school year to count.
#[derive(Debug, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SchoolYearQuery {
    /// The school year as OneRoster writes it, the calendar year in which it ends (`2026`); by
    /// default the year of the latest term that has begun.
    pub school_year: Option<String>,
}

/// `PUT /api/v1/classes/{class}/attendance/{date}/{lesson}`: a teacher of the class (or an
/// administrator, correcting the record) marks pupils of the class at a lesson of its timetable.
#[utoipa::path(put, path = "/api/v1/classes/{class}/attendance/{date}/{lesson}", tag = "attendance",
    request_body = LessonMarksRequest,
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"),
        ("date" = String, Path, description = "the lesson's date, YYYY-MM-DD"),
        ("lesson" = String, Path, description = "the lesson's id in the class's timetable")),
    responses((status = 200, body = LessonAttendanceView),
        (status = 400, description = "a bad date, a date in the future or on another weekday, or a pupil not in the class"),
        (status = 403, description = "not a teacher of the class"),
        (status = 404, description = "no such class, no term on the date, or no such lesson in its timetable")))]
pub async fn mark_lesson(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class_id, date, lesson_id)): UrlPath<(String, String, String)>,
    Json(body): Json<LessonMarksRequest>,
) -> Result<Json<LessonAttendanceView>, ApiError> {
    let date = CalendarDate::from_str(&date)?;
    let marks = body
        .marks
        .into_iter()
        .map(|(pupil, mark)| {
            let mark = PupilMark {
                status: mark.status,
                reason: mark.reason,
            };
            (pupil, mark)
        })
        .collect();
    let marked =
        operations::mark_lesson(&state, &caller, &class_id, date, &lesson_id, marks).await?;
    Ok(Json(marked))
}

/// `GET /api/v1/classes/{class}/attendance/{date}`: the class's lessons, marks and covering
/// reports on a date, for the class's teachers and school staff.
#[utoipa::path(get, path = "/api/v1/classes/{class}/attendance/{date}", tag = "attendance",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"),
        ("date" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 200, body = ClassDayAttendanceView),
        (status = 400, description = "the date is not YYYY-MM-DD"),
        (status = 403, description = "not a teacher of the class or staff"),
        (status = 404, description = "no such class, or no term of it on the date")))]
pub async fn class_attendance_on(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class_id, date)): UrlPath<(String, String)>,
) -> Result<Json<ClassDayAttendanceView>, ApiError> {
    let date = CalendarDate::from_str(&date)?;
    Ok(Json(
        operations::class_attendance_on(&state, &caller, &class_id, date).await?,
    ))
}

/// `GET /api/v1/pupils/{pupil}/absences?school_year=`: the pupil's absent and late marks across
/// their classes, the guardians' reports, the totals and the thresholds reached, for the pupil,
/// their guardians, their teachers and school staff.
#[utoipa::path(get, path = "/api/v1/pupils/{pupil}/absences", tag = "attendance",
    params(("pupil" = String, Path, description = "the pupil's user id"), SchoolYearQuery),
    responses((status = 200, body = PupilAbsencesView),
        (status = 403, description = "not the pupil, a guardian or teacher of theirs, or staff"),
        (status = 404, description = "no such pupil or school year")))]
pub async fn pupil_absences(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(pupil): UrlPath<UserId>,
    Query(query): Query<SchoolYearQuery>,
) -> Result<Json<PupilAbsencesView>, ApiError> {
    Ok(Json(
        operations::pupil_absences(&state, &caller, &pupil, query.school_year).await?,
    ))
}

/// `POST /api/v1/pupils/{pupil}/absence-reports`: a guardian of the pupil reports an absence.
#[utoipa::path(post, path = "/api/v1/pupils/{pupil}/absence-reports", tag = "attendance",
    request_body = AbsenceReportRequest,
    params(("pupil" = String, Path, description = "the pupil's user id")),
    responses((status = 201, body = ReportView),
        (status = 400, description = "bad dates or reason, no term covers the dates, or an unknown lesson"),
        (status = 403, description = "not a guardian of the pupil"),
        (status = 404, description = "no such pupil")))]
pub async fn report_absence(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(pupil): UrlPath<UserId>,
    Json(body): Json<AbsenceReportRequest>,
) -> Result<(StatusCode, Json<ReportView>), ApiError> {
    let report = operations::report_absence(&state, &caller, &pupil, body.into()).await?;
    Ok((StatusCode::CREATED, Json(report)))
}

/// `POST /api/v1/pupils/{pupil}/absences/clear`: clears a report (a guardian of the pupil, in
/// every class; a teacher of the pupil, in the classes they teach), or files a guardian's
/// explanation as a report cleared at once.
#[utoipa::path(post, path = "/api/v1/pupils/{pupil}/absences/clear", tag = "attendance",
    request_body = ClearAbsencesRequest,
    params(("pupil" = String, Path, description = "the pupil's user id")),
    responses((status = 200, body = ReportView),
        (status = 400, description = "neither or both of report_id and explanation, or a bad explanation"),
        (status = 403, description = "not a guardian of the pupil or a teacher of their classes"),
        (status = 404, description = "no such pupil or report"),
        (status = 409, description = "the report is already cleared")))]
pub async fn clear_absences(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(pupil): UrlPath<UserId>,
    Json(body): Json<ClearAbsencesRequest>,
) -> Result<Json<ReportView>, ApiError> {
    let report = match (body.report_id, body.explanation) {
        (None, Some(explanation)) => {
            operations::explain_absences(&state, &caller, &pupil, explanation.into()).await?
        }
        (Some(report_id), None) => {
            operations::clear_report(&state, &caller, &pupil, &report_id).await?
        }
        _ => {
            // An unknown pupil is 404 whatever the body says, as every other answer of the route.
            let roster = roster_index(&state).await?;
            require_known_pupil(&roster, &pupil)?;
            return Err(ApiError::BadRequest(
                "give either report_id (to clear a report) or explanation (to explain absences)"
                    .into(),
            ));
        }
    };
    Ok(Json(report))
}

/// `GET /api/v1/attendance/alerts?school_year=`: pupils whose absences reached a threshold in the
/// school year. School staff and administrators see every pupil; a teacher sees the pupils of the
/// classes they teach, with totals over all of each pupil's classes.
#[utoipa::path(get, path = "/api/v1/attendance/alerts", tag = "attendance", params(SchoolYearQuery),
    responses((status = 200, body = AlertsView),
        (status = 403, description = "not staff, an administrator or a teacher"),
        (status = 404, description = "no such school year")))]
pub async fn absence_alerts(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<SchoolYearQuery>,
) -> Result<Json<AlertsView>, ApiError> {
    Ok(Json(
        operations::absence_alerts(&state, &caller, query.school_year).await?,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::OpenApi;

    use super::*;

    #[derive(OpenApi)]
    #[openapi(paths(
        mark_lesson,
        class_attendance_on,
        pupil_absences,
        report_absence,
        clear_absences,
        absence_alerts,
        super::super::timetable::class_timetable,
        super::super::timetable::replace_timetable,
        super::super::timetable::add_lesson,
        super::super::timetable::update_lesson,
        super::super::timetable::remove_lesson,
        super::super::timetable::day_timetable,
    ))]
    struct AttendanceApi;

    #[test]
    fn every_route_is_described_in_the_openapi_document() {
        let document = AttendanceApi::openapi();
        let described: BTreeSet<&str> = document.paths.paths.keys().map(String::as_str).collect();
        assert_eq!(
            described,
            BTreeSet::from([
                "/api/v1/attendance/alerts",
                "/api/v1/classes/{class}/attendance/{date}",
                "/api/v1/classes/{class}/attendance/{date}/{lesson}",
                "/api/v1/classes/{class}/timetable/{term}",
                "/api/v1/classes/{class}/timetable/{term}/lessons",
                "/api/v1/classes/{class}/timetable/{term}/lessons/{lesson}",
                "/api/v1/pupils/{pupil}/absence-reports",
                "/api/v1/pupils/{pupil}/absences",
                "/api/v1/pupils/{pupil}/absences/clear",
                "/api/v1/timetable",
            ])
        );
        let schemas = document
            .components
            .map(|components| components.schemas.len())
            .unwrap_or_default();
        assert!(schemas > 0, "the request and response types are described");
    }
}
