//! What the attendance operations answer with: marks, guardians' reports, a class's day, a pupil's
//! absences with their totals, and the alerts, built from the attendance documents. Times are node
//! time in Unix milliseconds; dates are the school's calendar.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::UserId;
use crate::model::attendance::{
    AbsenceReport, AbsenceTotals, AttendanceDocument, AttendanceMark, AttendanceStatus,
    absence_hours,
};
use crate::model::common::{CalendarDate, Weekday};
use crate::school::error::ServiceError;
use crate::school::roster_index::RosterIndex;
use crate::school::timetable::{LessonView, display_name};

/// A pupil's attendance at a lesson: what a teacher marks, and what a mark says.
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

/// The marks whose keys start with `prefix` (keys begin `date_lesson_`, so a date or a lesson on a
/// date is one range of the map).
pub(super) fn marks_with_prefix<'document>(
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

pub(super) fn mark_view(
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
pub(super) fn report_views<'stored>(
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
pub(super) fn single_report_view(
    stored: &[(String, String, AbsenceReport)],
) -> Result<ReportView, ServiceError> {
    report_views(
        stored
            .iter()
            .map(|(class_id, term_id, report)| (class_id.as_str(), term_id.as_str(), report)),
    )
    .into_iter()
    .next()
    .ok_or_else(|| ServiceError::Internal("a report was stored nowhere".into()))
}
