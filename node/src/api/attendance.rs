//! Attendance: teachers' marks per lesson, guardians' absence reports and clearances, a pupil's
//! absences with their totals, and the alerts for pupils whose absences crossed a threshold.
//!
//! Attendance is kept per class and term (`model::attendance`): one document holds the marks of
//! every lesson of the class in the term and the guardians' reports about its pupils. A date's
//! term is the class's academic session that contains it (see [`super::timetable::term_on`]), and
//! a marked lesson must be in the class's timetable for that term, on the date's weekday.
//!
//! Absence hours and the alert thresholds (30, 50 and 70 hours) are counted per **school year**,
//! as Finnish schools do: the absences view and the alerts cover one school year, by default the
//! one of the latest term that has begun by node time (so during the summer break the year that
//! just ended). A pupil's totals sum the documents of the pupil's own classes in that year's terms
//! only (about fifteen classes and two terms), so reads stay bounded by what one pupil attends.
//!
//! A guardian's report is written into the attendance document of every class of the pupil whose
//! term overlaps the reported dates, under one id. A report that names lessons goes only to the
//! classes whose timetables hold those lessons. Clearing a report makes the absences it covers
//! count as explained: a guardian's clearance is their explanation (as in Finnish practice, where
//! the guardian explains the absences), and applies in every class; a teacher's clearance accepts
//! the report for the classes that teacher teaches. A guardian may also explain absences in one
//! step, which files a report and clears it at once.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::SchoolCode;

use super::{Access, ApiError, RosterIndex, blocking, node_now_millis, roster_index};
use crate::auth::Caller;
use crate::model::attendance::{
    ABSENCE_ALERT_THRESHOLD_HOURS, AbsenceReport, AbsenceReportInput, AbsenceTotals,
    AttendanceDocument, AttendanceMark, AttendanceStatus, MarkEntry, absence_hours, attendance_doc,
};
use crate::model::common::{CalendarDate, ItemId, NodeTime, Weekday};
use crate::model::roster::MAX_ENROLLMENTS_PER_CLASS;
use crate::model::timetable::{TimetableDocument, timetable_doc};
use crate::model::{UserId, UserRole};
use crate::repository::Repository;
use crate::school::calendar::school_today;
use crate::school::timetable::{
    LessonView, display_name, lesson_view, read_timetables_now, require_known_pupil, term_on,
};
use crate::state::AppState;

/// Marks in one request: a lesson marks each pupil of the class at most once, and a class has at
/// most this many members.
pub const MAX_MARKS_PER_REQUEST: usize = MAX_ENROLLMENTS_PER_CLASS;

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

/// A pupil's attendance at a lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MarkStatus {
    Present,
    Absent,
    Late,
}

impl From<MarkStatus> for AttendanceStatus {
    fn from(status: MarkStatus) -> Self {
        match status {
            MarkStatus::Present => AttendanceStatus::Present,
            MarkStatus::Absent => AttendanceStatus::Absent,
            MarkStatus::Late => AttendanceStatus::Late,
        }
    }
}

impl From<AttendanceStatus> for MarkStatus {
    fn from(status: AttendanceStatus) -> Self {
        match status {
            AttendanceStatus::Present => MarkStatus::Present,
            AttendanceStatus::Absent => MarkStatus::Absent,
            AttendanceStatus::Late => MarkStatus::Late,
        }
    }
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

/// One mark, with where it belongs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MarkView {
    pub class: String,
    pub term: String,
    pub lesson_id: String,
    #[schema(value_type = String, format = Date)]
    pub date: CalendarDate,
    pub pupil: UserId,
    pub pupil_name: String,
    pub status: MarkStatus,
    pub reason: Option<String>,
    /// The lesson's length when it was marked.
    pub lesson_minutes: u32,
    /// Whether a cleared guardian report covers the mark.
    pub explained: bool,
    pub marked_by: UserId,
    /// Node time, Unix milliseconds.
    pub marked_at: i64,
}

/// The marks of one lesson on one date.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LessonAttendanceView {
    pub class: String,
    pub term: String,
    #[schema(value_type = String, format = Date)]
    pub date: CalendarDate,
    pub lesson: LessonView,
    pub marks: Vec<MarkView>,
}

/// A class's attendance on one date.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassDayAttendanceView {
    pub class: String,
    pub class_title: String,
    pub term: String,
    #[schema(value_type = String, format = Date)]
    pub date: CalendarDate,
    #[schema(value_type = String, example = "monday")]
    pub weekday: Weekday,
    /// The lessons the timetable has on that weekday, in start order.
    pub lessons: Vec<LessonView>,
    /// Every mark of the date, including marks of lessons since removed from the timetable.
    pub marks: Vec<MarkView>,
    /// Guardian reports covering the date.
    pub reports: Vec<ReportView>,
}

/// Absence totals; hours are lesson hours of 45 minutes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotalsView {
    pub absent_lessons: u32,
    pub absent_minutes: u32,
    pub absence_hours: f64,
    /// The part of the absences covered by a cleared guardian report.
    pub explained_minutes: u32,
    pub explained_hours: f64,
    pub late_lessons: u32,
}

impl From<AbsenceTotals> for TotalsView {
    fn from(totals: AbsenceTotals) -> Self {
        Self {
            absent_lessons: totals.absent_lessons,
            absent_minutes: totals.absent_minutes,
            absence_hours: totals.absence_hours(),
            explained_minutes: totals.explained_minutes,
            explained_hours: absence_hours(totals.explained_minutes),
            late_lessons: totals.late_lessons,
        }
    }
}

/// Where a report is stored, and whether it is cleared there.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportPlacementView {
    pub class: String,
    pub term: String,
    /// The lessons concerned in this class; empty means whole days.
    pub lesson_ids: Vec<String>,
    pub cleared_by: Option<UserId>,
    /// Node time, Unix milliseconds.
    pub cleared_at: Option<i64>,
}

/// A guardian's absence report, across the classes it is stored in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    pub id: String,
    pub pupil: UserId,
    #[schema(value_type = String, format = Date)]
    pub first_date: CalendarDate,
    #[schema(value_type = String, format = Date)]
    pub last_date: CalendarDate,
    pub reason: String,
    pub reported_by: UserId,
    /// Node time, Unix milliseconds.
    pub reported_at: i64,
    /// Cleared in every class it is stored in.
    pub cleared: bool,
    pub placements: Vec<ReportPlacementView>,
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

/// A pupil's absences and late arrivals in one school year.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PupilAbsencesView {
    pub pupil: UserId,
    pub pupil_name: String,
    /// `None` when the roster has no term that has begun yet.
    pub school_year: Option<String>,
    /// Absent and late marks, in date order.
    pub absences: Vec<MarkView>,
    pub reports: Vec<ReportView>,
    pub totals: TotalsView,
    /// The alert thresholds (hours) the absences reached, in rising order.
    pub crossed_thresholds: Vec<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PupilAlertView {
    pub pupil: UserId,
    pub pupil_name: String,
    pub totals: TotalsView,
    pub crossed_thresholds: Vec<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertsView {
    pub school_year: Option<String>,
    /// The thresholds in hours, in rising order.
    pub thresholds: Vec<u32>,
    /// Pupils who reached at least the first threshold, most absent first.
    pub alerts: Vec<PupilAlertView>,
}

/// A class and one of its terms: the key of a timetable and of an attendance document.
type ClassTerm = (String, String);

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
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster.clone());
    let class = access.class(&class_id)?;
    if !access.has_role(UserRole::Admin) {
        access.require_teacher_of(&class_id)?;
    }
    let lesson_id = ItemId::from_str(&lesson_id)
        .map_err(|_| ApiError::NotFound(format!("lesson {lesson_id:?} does not exist")))?;
    let term = term_on(&roster, &class.class, date)
        .ok_or_else(|| ApiError::NotFound(format!("class {class_id:?} has no term on {date}")))?;
    if body.marks.is_empty() {
        return Err(ApiError::BadRequest("no marks were given".into()));
    }
    if body.marks.len() > MAX_MARKS_PER_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_MARKS_PER_REQUEST} marks are accepted at once"
        )));
    }
    if let Some(stranger) = body.marks.keys().find(|pupil| !class.is_pupil(pupil)) {
        return Err(ApiError::BadRequest(format!(
            "{stranger:?} is not a pupil of class {class_id:?}"
        )));
    }
    let entries: Vec<MarkEntry> = body
        .marks
        .into_iter()
        .map(|(pupil, mark)| MarkEntry {
            pupil,
            status: mark.status.into(),
            reason: mark.reason,
        })
        .collect();
    let today = school_today()?;
    let now = NodeTime::from_unix_millis(node_now_millis());
    let me = access.me().to_owned();
    let term_id = term.sourced_id.clone();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let place = (class_id.clone(), term_id.clone());
    let (lesson, attendance) = blocking(move || {
        let timetable = read_timetables_now(&repository, &school, BTreeMap::from([place.clone()]))?
            .remove(&place)
            .unwrap_or_default();
        let lesson = timetable
            .lesson(lesson_id.as_str())
            .cloned()
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "lesson {lesson_id} is not in the timetable of class {:?} for term {:?}",
                    place.0, place.1
                ))
            })?;
        if lesson.weekday != date.weekday() {
            return Err(ApiError::BadRequest(format!(
                "lesson {lesson_id} is on {:?}s, but {date} is a {:?}",
                lesson.weekday,
                date.weekday()
            )));
        }
        let doc = attendance_doc(&school, &place.0, &place.1);
        let attendance = repository.update(&doc, |attendance: &mut AttendanceDocument| {
            attendance.open_for(&place.0, &place.1)?;
            for entry in entries {
                attendance.mark(&lesson, date, entry, &me, now, today)?;
            }
            Ok::<_, ApiError>(attendance.clone())
        })?;
        Ok((lesson, attendance))
    })
    .await?;
    let prefix = format!("{date}_{}_", lesson.id);
    let marks = marks_with_prefix(&attendance, &prefix)
        .map(|mark| mark_view(&roster, &class_id, &term_id, &attendance, mark))
        .collect();
    Ok(Json(LessonAttendanceView {
        class: class_id,
        term: term_id,
        date,
        lesson: lesson_view(&roster, &lesson),
        marks,
    }))
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
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster.clone());
    let class = access.class(&class_id)?;
    if !access.is_school_wide() {
        access.require_teacher_of(&class_id)?;
    }
    let term = term_on(&roster, &class.class, date)
        .ok_or_else(|| ApiError::NotFound(format!("class {class_id:?} has no term on {date}")))?;
    let term_id = term.sourced_id.clone();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let place = (class_id.clone(), term_id.clone());
    let (timetable, attendance) = blocking(move || {
        let timetable = read_timetables_now(&repository, &school, BTreeMap::from([place.clone()]))?
            .remove(&place)
            .unwrap_or_default();
        let attendance = repository
            .read_or_default::<AttendanceDocument>(&attendance_doc(&school, &place.0, &place.1))?;
        Ok((timetable, attendance))
    })
    .await?;
    let marks = marks_with_prefix(&attendance, &format!("{date}_"))
        .map(|mark| mark_view(&roster, &class_id, &term_id, &attendance, mark))
        .collect();
    let covering: Vec<(&str, &str, &AbsenceReport)> = attendance
        .absence_reports
        .values()
        .filter(|report| report.first_date <= date && date <= report.last_date)
        .map(|report| (class_id.as_str(), term_id.as_str(), report))
        .collect();
    Ok(Json(ClassDayAttendanceView {
        class_title: class.class.title.clone(),
        class: class_id.clone(),
        term: term_id.clone(),
        date,
        weekday: date.weekday(),
        lessons: timetable
            .lessons_on(date.weekday())
            .into_iter()
            .map(|lesson| lesson_view(&roster, lesson))
            .collect(),
        marks,
        reports: report_views(covering),
    }))
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
    let roster = roster_index(&state).await?;
    require_known_pupil(&roster, &pupil)?;
    Access::new(&caller, roster.clone()).require_pupil_reader(&pupil)?;
    let school_year = resolve_school_year(&roster, query.school_year)?;
    let places = match &school_year {
        Some(year) => pupil_places(&roster, &pupil, Some(year)),
        None => Vec::new(),
    };
    let documents = read_attendance(&state, places).await?;
    let mut absences = Vec::new();
    let mut totals = AbsenceTotals::default();
    let mut reports = Vec::new();
    for ((class_id, term_id), attendance) in &documents {
        absences.extend(
            attendance
                .marks
                .values()
                .filter(|mark| mark.pupil == pupil && mark.status != AttendanceStatus::Present)
                .map(|mark| mark_view(&roster, class_id, term_id, attendance, mark)),
        );
        totals.add(attendance.absence_totals(&pupil));
        reports.extend(
            attendance
                .absence_reports
                .values()
                .filter(|report| report.pupil == pupil)
                .map(|report| (class_id.as_str(), term_id.as_str(), report)),
        );
    }
    absences.sort_by(|first, second| {
        (first.date, &first.class, &first.lesson_id).cmp(&(
            second.date,
            &second.class,
            &second.lesson_id,
        ))
    });
    Ok(Json(PupilAbsencesView {
        pupil_name: display_name(&roster, &pupil),
        pupil,
        school_year,
        absences,
        reports: report_views(reports),
        crossed_thresholds: totals.crossed_thresholds(),
        totals: totals.into(),
    }))
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
    let roster = roster_index(&state).await?;
    require_known_pupil(&roster, &pupil)?;
    let access = Access::new(&caller, roster.clone());
    require_guardian_of(&access, &pupil)?;
    let report = file_report(&state, &roster, access.me(), &pupil, body, false).await?;
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
    let roster = roster_index(&state).await?;
    require_known_pupil(&roster, &pupil)?;
    let access = Access::new(&caller, roster.clone());
    match (body.report_id, body.explanation) {
        (None, Some(explanation)) => {
            require_guardian_of(&access, &pupil)?;
            let report =
                file_report(&state, &roster, access.me(), &pupil, explanation, true).await?;
            Ok(Json(report))
        }
        (Some(report_id), None) => {
            let report = clear_report(&state, &access, &pupil, &report_id).await?;
            Ok(Json(report))
        }
        _ => Err(ApiError::BadRequest(
            "give either report_id (to clear a report) or explanation (to explain absences)".into(),
        )),
    }
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
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster.clone());
    let pupils: BTreeSet<UserId> = if access.is_school_wide() {
        roster.classes_as_pupil.keys().cloned().collect()
    } else {
        access.require_role(UserRole::Teacher)?;
        roster
            .classes_as_teacher
            .get(access.me())
            .into_iter()
            .flatten()
            .filter_map(|class_id| roster.classes.get(class_id))
            .flat_map(|class| class.pupils())
            .cloned()
            .collect()
    };
    let school_year = resolve_school_year(&roster, query.school_year)?;
    let mut places = BTreeSet::new();
    if let Some(year) = &school_year {
        for pupil in &pupils {
            places.extend(pupil_places(&roster, pupil, Some(year)));
        }
    }
    let documents = read_attendance(&state, places.into_iter().collect()).await?;
    let mut totals: BTreeMap<&UserId, AbsenceTotals> = BTreeMap::new();
    for attendance in documents.values() {
        // Only pupils with an absence in the document can add to a total.
        let absent: BTreeSet<&UserId> = attendance
            .marks
            .values()
            .filter(|mark| mark.status == AttendanceStatus::Absent)
            .filter_map(|mark| pupils.get(&mark.pupil))
            .collect();
        for pupil in absent {
            totals
                .entry(pupil)
                .or_default()
                .add(attendance.absence_totals(pupil));
        }
    }
    let mut alerts: Vec<PupilAlertView> = totals
        .into_iter()
        .filter(|(_, totals)| !totals.crossed_thresholds().is_empty())
        .map(|(pupil, totals)| PupilAlertView {
            pupil: pupil.clone(),
            pupil_name: display_name(&roster, pupil),
            crossed_thresholds: totals.crossed_thresholds(),
            totals: totals.into(),
        })
        .collect();
    alerts.sort_by(|first, second| {
        second
            .totals
            .absent_minutes
            .cmp(&first.totals.absent_minutes)
            .then_with(|| first.pupil.cmp(&second.pupil))
    });
    Ok(Json(AlertsView {
        school_year,
        thresholds: ABSENCE_ALERT_THRESHOLD_HOURS.to_vec(),
        alerts,
    }))
}

/// Only a guardian of the pupil reports and explains the pupil's absences.
fn require_guardian_of(access: &Access<'_>, pupil: &str) -> Result<(), ApiError> {
    Ok(access.require(
        crate::school::policy::Action::ExplainPupilAbsence,
        crate::school::Target::Pupil(pupil),
    )?)
}

/// Files a guardian's report in the attendance documents of the pupil's classes whose terms
/// overlap the dates (and, when lessons are named, whose timetables hold them); `cleared` clears it
/// at once (an explanation).
async fn file_report(
    state: &AppState,
    roster: &RosterIndex,
    guardian: &str,
    pupil: &str,
    request: AbsenceReportRequest,
    cleared: bool,
) -> Result<ReportView, ApiError> {
    let input = AbsenceReportInput {
        pupil: pupil.to_owned(),
        first_date: request.first_date,
        last_date: request.last_date.unwrap_or(request.first_date),
        lesson_ids: request.lesson_ids,
        reason: request.reason,
    };
    let id = ItemId::generate();
    let now = NodeTime::from_unix_millis(node_now_millis());
    // Checked once on a scratch document first, so that a bad report is refused before any class's
    // document is written.
    AttendanceDocument::default().report_absence(&id, input.clone(), guardian, now)?;
    let places: Vec<ClassTerm> = roster
        .classes_as_pupil
        .get(pupil)
        .into_iter()
        .flatten()
        .filter_map(|class_id| roster.classes.get(class_id))
        .flat_map(|class| {
            roster
                .org
                .terms_of(&class.class)
                .into_iter()
                .filter(|term| {
                    term.start_date <= input.last_date && input.first_date <= term.end_date
                })
                .map(|term| (class.class.sourced_id.clone(), term.sourced_id.clone()))
        })
        .collect();
    if places.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "no term of {pupil:?}'s classes covers {} to {}",
            input.first_date, input.last_date
        )));
    }
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let guardian = guardian.to_owned();
    let stored = blocking(move || {
        let targets = report_targets(&repository, &school, places, &input)?;
        let mut stored = Vec::with_capacity(targets.len());
        for ((class_id, term_id), lesson_ids) in targets {
            let doc = attendance_doc(&school, &class_id, &term_id);
            let class_input = AbsenceReportInput {
                lesson_ids,
                ..input.clone()
            };
            let report = repository.update(&doc, |attendance: &mut AttendanceDocument| {
                attendance.open_for(&class_id, &term_id)?;
                attendance.report_absence(&id, class_input, &guardian, now)?;
                let report = if cleared {
                    attendance.clear_report(id.as_str(), &guardian, now)?
                } else {
                    attendance
                        .absence_reports
                        .get(id.as_str())
                        .ok_or_else(|| ApiError::Internal(format!("report {id} vanished")))?
                };
                Ok::<_, ApiError>(report.clone())
            })?;
            stored.push((class_id, term_id, report));
        }
        Ok(stored)
    })
    .await?;
    single_report_view(&stored)
}

/// The documents a report goes into, each with the lessons it concerns there. A whole-day report
/// goes everywhere; a report naming lessons goes where the timetable holds them, and every named
/// lesson must be found.
fn report_targets(
    repository: &Repository,
    school: &SchoolCode,
    places: Vec<ClassTerm>,
    input: &AbsenceReportInput,
) -> Result<Vec<(ClassTerm, Vec<String>)>, ApiError> {
    if input.lesson_ids.is_empty() {
        return Ok(places
            .into_iter()
            .map(|place| (place, Vec::new()))
            .collect());
    }
    let mut targets = Vec::new();
    let mut found = BTreeSet::new();
    for place in places {
        let timetable: TimetableDocument =
            repository.read_or_default(&timetable_doc(school, &place.0, &place.1))?;
        let lessons: Vec<String> = input
            .lesson_ids
            .iter()
            .filter(|lesson| timetable.lesson(lesson).is_some())
            .cloned()
            .collect();
        if !lessons.is_empty() {
            found.extend(lessons.iter().cloned());
            targets.push((place, lessons));
        }
    }
    if let Some(missing) = input
        .lesson_ids
        .iter()
        .find(|lesson| !found.contains(*lesson))
    {
        return Err(ApiError::BadRequest(format!(
            "lesson {missing:?} is not in the timetable of any class of {:?} in those dates",
            input.pupil
        )));
    }
    Ok(targets)
}

/// Clears report `report_id` of `pupil` in the documents the caller may clear it in: every class of
/// the pupil for a guardian, the classes they teach for a teacher of the pupil.
async fn clear_report(
    state: &AppState,
    access: &Access<'_>,
    pupil: &str,
    report_id: &str,
) -> Result<ReportView, ApiError> {
    let roster = &access.roster;
    let not_found = || ApiError::NotFound(format!("absence report {report_id:?} does not exist"));
    let report_id = ItemId::from_str(report_id).map_err(|_| not_found())?;
    let is_guardian =
        access.has_role(UserRole::Guardian) && roster.is_guardian_of(access.me(), pupil);
    let places: Vec<ClassTerm> = pupil_places(roster, pupil, None)
        .into_iter()
        .filter(|(class_id, _)| is_guardian || roster.teaches(access.me(), class_id))
        .collect();
    if places.is_empty() {
        return Err(ApiError::Forbidden(format!(
            "only a guardian of {pupil:?} or a teacher of their classes may clear their absence reports"
        )));
    }
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let me = access.me().to_owned();
    let pupil_id = pupil.to_owned();
    let now = NodeTime::from_unix_millis(node_now_millis());
    let stored = blocking(move || {
        let mut stored = Vec::new();
        let mut cleared_now = 0_usize;
        for (class_id, term_id) in places {
            let doc = attendance_doc(&school, &class_id, &term_id);
            let Some(attendance) = repository.read::<AttendanceDocument>(&doc)? else {
                continue;
            };
            let Some(report) = attendance
                .absence_reports
                .get(report_id.as_str())
                .filter(|report| report.pupil == pupil_id)
            else {
                continue;
            };
            let report = if report.clearance.is_some() {
                report.clone()
            } else {
                cleared_now += 1;
                repository.update(&doc, |attendance: &mut AttendanceDocument| {
                    Ok::<_, ApiError>(
                        attendance
                            .clear_report(report_id.as_str(), &me, now)?
                            .clone(),
                    )
                })?
            };
            stored.push((class_id, term_id, report));
        }
        if stored.is_empty() {
            return Err(ApiError::NotFound(format!(
                "absence report {report_id} does not exist"
            )));
        }
        if cleared_now == 0 {
            return Err(ApiError::Conflict(format!(
                "absence report {report_id} is already cleared"
            )));
        }
        Ok(stored)
    })
    .await?;
    single_report_view(&stored)
}

/// The school year to count: the one asked for (it must have a session), or by default the year
/// of the latest session that has begun by node time.
fn resolve_school_year(
    roster: &RosterIndex,
    requested: Option<String>,
) -> Result<Option<String>, ApiError> {
    if let Some(year) = requested {
        return if roster
            .org
            .sessions
            .values()
            .any(|session| session.school_year == year)
        {
            Ok(Some(year))
        } else {
            Err(ApiError::NotFound(format!(
                "the roster has no term in school year {year:?}"
            )))
        };
    }
    let today = school_today()?;
    Ok(roster
        .org
        .sessions
        .values()
        .filter(|session| session.start_date <= today)
        .max_by_key(|session| session.start_date)
        .map(|session| session.school_year.clone()))
}

/// The attendance documents a pupil's absences are in: each class the pupil attends with each of
/// its terms (only those of `school_year` when given).
fn pupil_places(roster: &RosterIndex, pupil: &str, school_year: Option<&str>) -> Vec<ClassTerm> {
    roster
        .classes_as_pupil
        .get(pupil)
        .into_iter()
        .flatten()
        .filter_map(|class_id| roster.classes.get(class_id))
        .flat_map(|class| {
            roster
                .org
                .terms_of(&class.class)
                .into_iter()
                .filter(|term| school_year.is_none_or(|year| term.school_year == year))
                .map(|term| (class.class.sourced_id.clone(), term.sourced_id.clone()))
        })
        .collect()
}

/// Reads the attendance documents of `places` on the blocking pool; missing ones are left out.
async fn read_attendance(
    state: &AppState,
    places: Vec<ClassTerm>,
) -> Result<BTreeMap<ClassTerm, AttendanceDocument>, ApiError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || {
        let mut documents = BTreeMap::new();
        for (class_id, term_id) in places {
            let doc = attendance_doc(&school, &class_id, &term_id);
            if let Some(attendance) = repository.read::<AttendanceDocument>(&doc)? {
                documents.insert((class_id, term_id), attendance);
            }
        }
        Ok(documents)
    })
    .await
}

/// The marks whose keys start with `prefix` (keys begin `date_lesson_`, so a date or a lesson on a
/// date is one range of the map).
fn marks_with_prefix<'document>(
    attendance: &'document AttendanceDocument,
    prefix: &str,
) -> impl Iterator<Item = &'document AttendanceMark> {
    let prefix = prefix.to_owned();
    attendance
        .marks
        .range(prefix.clone()..)
        .take_while(move |(key, _)| key.starts_with(&prefix))
        .map(|(_, mark)| mark)
}

fn mark_view(
    roster: &RosterIndex,
    class_id: &str,
    term_id: &str,
    attendance: &AttendanceDocument,
    mark: &AttendanceMark,
) -> MarkView {
    MarkView {
        class: class_id.to_owned(),
        term: term_id.to_owned(),
        lesson_id: mark.lesson_id.clone(),
        date: mark.date,
        pupil: mark.pupil.clone(),
        pupil_name: display_name(roster, &mark.pupil),
        status: mark.status.into(),
        reason: mark.reason.clone(),
        lesson_minutes: mark.lesson_minutes,
        explained: mark.status == AttendanceStatus::Absent && attendance.is_explained(mark),
        marked_by: mark.marked_by.clone(),
        marked_at: mark.marked_at.unix_millis(),
    }
}

/// Groups copies of reports (one per class document) by id, in first-date order.
fn report_views<'stored>(
    copies: impl IntoIterator<Item = (&'stored str, &'stored str, &'stored AbsenceReport)>,
) -> Vec<ReportView> {
    let mut by_id: BTreeMap<&str, ReportView> = BTreeMap::new();
    for (class_id, term_id, report) in copies {
        let view = by_id
            .entry(report.id.as_str())
            .or_insert_with(|| ReportView {
                id: report.id.clone(),
                pupil: report.pupil.clone(),
                first_date: report.first_date,
                last_date: report.last_date,
                reason: report.reason.clone(),
                reported_by: report.reported_by.clone(),
                reported_at: report.reported_at.unix_millis(),
                cleared: true,
                placements: Vec::new(),
            });
        view.cleared &= report.clearance.is_some();
        view.placements.push(ReportPlacementView {
            class: class_id.to_owned(),
            term: term_id.to_owned(),
            lesson_ids: report.lesson_ids.clone(),
            cleared_by: report
                .clearance
                .as_ref()
                .map(|clearance| clearance.cleared_by.clone()),
            cleared_at: report
                .clearance
                .as_ref()
                .map(|clearance| clearance.cleared_at.unix_millis()),
        });
    }
    let mut views: Vec<ReportView> = by_id.into_values().collect();
    views.sort_by(|first, second| {
        (first.first_date, &first.id).cmp(&(second.first_date, &second.id))
    });
    views
}

/// The view of one report from its stored copies.
fn single_report_view(stored: &[(String, String, AbsenceReport)]) -> Result<ReportView, ApiError> {
    report_views(
        stored
            .iter()
            .map(|(class_id, term_id, report)| (class_id.as_str(), term_id.as_str(), report)),
    )
    .into_iter()
    .next()
    .ok_or_else(|| ApiError::Internal("a report was stored nowhere".into()))
}

#[cfg(test)]
mod tests {
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
