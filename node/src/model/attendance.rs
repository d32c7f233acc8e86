//! `school:S/attendance-<class key>-<term key>`: attendance of one class in one term.
//!
//! Teachers mark each pupil present, absent or late per lesson and date. Guardians report absences
//! in advance or afterwards (a date range, optionally only some lessons), and a teacher clears a
//! report once it is accepted; an absence covered by a cleared report counts as explained.
//!
//! Absence hours follow Finnish school practice, where absences are counted in lesson hours
//! (`oppitunti`, 45 minutes): a pupil's absence hours are the minutes of the lessons they missed
//! divided by [`ABSENCE_HOUR_MINUTES`]. A 45-minute lesson counts as one hour, a 75-minute lesson as
//! 1 2/3 hours, a 90-minute double lesson as two. Each mark copies its lesson's length when it is
//! made, so later timetable edits never change totals already counted. Late marks are counted
//! separately and add no absence hours. Every absence counts towards the alert thresholds, explained
//! or not: the thresholds exist to start a conversation about the pupil's wellbeing, whatever the
//! reason.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, SchoolCode};

use super::UserId;
use super::common::{
    CalendarDate, ItemId, MAX_REASON_CHARS, ModelError, NodeTime, claim_identity,
    insert_or_replace, multi_line, optional_single_line, school_doc, sourced_id, sourced_id_key,
};
use super::timetable::{Lesson, MAX_LESSONS_PER_TIMETABLE};

/// Minutes of lesson time that make one absence hour (one Finnish lesson hour).
pub const ABSENCE_HOUR_MINUTES: u32 = 45;
/// Absence hours at which the school must react, in rising order: at 30 hours the class teacher
/// contacts the guardians, at 50 the pupil welfare group is involved, at 70 a multi-professional
/// meeting is held.
pub const ABSENCE_ALERT_THRESHOLD_HOURS: [u32; 3] = [30, 50, 70];
/// Marks in one document: 35 pupils × 6 lessons a week × 20 weeks is 4,200; the bound leaves room
/// for long terms and large groups.
pub const MAX_MARKS_PER_ATTENDANCE: usize = 20_000;
/// Guardian absence reports in one document.
pub const MAX_ABSENCE_REPORTS_PER_ATTENDANCE: usize = 2_000;
/// The longest span one absence report may cover, in days (a long illness is reported again).
pub const MAX_ABSENCE_REPORT_DAYS: i64 = 90;

/// `school:S/attendance-<class key>-<term key>`, keys by [`sourced_id_key`].
pub fn attendance_doc(school: &SchoolCode, class_sourced_id: &str, term_sourced_id: &str) -> DocId {
    school_doc(
        school,
        &format!(
            "attendance-{}-{}",
            sourced_id_key(class_sourced_id),
            sourced_id_key(term_sourced_id)
        ),
    )
}

/// Hours of absence, from minutes of missed lessons (see the module documentation).
pub fn absence_hours(absent_minutes: u32) -> f64 {
    f64::from(absent_minutes) / f64::from(ABSENCE_HOUR_MINUTES)
}

/// The alert thresholds (in hours, from [`ABSENCE_ALERT_THRESHOLD_HOURS`]) that `absent_minutes` of
/// absence have reached or passed, in rising order. Compared in minutes, so no rounding is involved.
pub fn crossed_absence_thresholds(absent_minutes: u32) -> Vec<u32> {
    ABSENCE_ALERT_THRESHOLD_HOURS
        .into_iter()
        .filter(|hours| absent_minutes >= hours * ABSENCE_HOUR_MINUTES)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "lowercase")]
pub enum AttendanceStatus {
    #[autosurgeon(rename = "present")]
    Present,
    #[autosurgeon(rename = "absent")]
    Absent,
    #[autosurgeon(rename = "late")]
    Late,
}

/// One pupil's attendance at one lesson on one date. Marking again replaces the mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct AttendanceMark {
    pub lesson_id: String,
    pub date: CalendarDate,
    pub pupil: UserId,
    pub status: AttendanceStatus,
    pub reason: Option<String>,
    /// The lesson's length when marked.
    pub lesson_minutes: u32,
    pub marked_by: UserId,
    pub marked_at: NodeTime,
}

/// What a teacher enters for one pupil.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkEntry {
    pub pupil: UserId,
    pub status: AttendanceStatus,
    pub reason: Option<String>,
}

/// A teacher's acceptance of an absence report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Clearance {
    pub cleared_by: UserId,
    pub cleared_at: NodeTime,
}

/// A guardian's report that a pupil is or was absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct AbsenceReport {
    pub id: String,
    pub pupil: UserId,
    pub first_date: CalendarDate,
    pub last_date: CalendarDate,
    /// The lessons concerned on each date; empty means whole days.
    pub lesson_ids: Vec<String>,
    pub reason: String,
    pub reported_by: UserId,
    pub reported_at: NodeTime,
    pub clearance: Option<Clearance>,
}

impl AbsenceReport {
    /// Whether this report covers `pupil` at `lesson_id` on `date`.
    pub fn covers(&self, pupil: &str, lesson_id: &str, date: CalendarDate) -> bool {
        self.pupil == pupil
            && self.first_date <= date
            && date <= self.last_date
            && (self.lesson_ids.is_empty() || self.lesson_ids.iter().any(|id| id == lesson_id))
    }
}

/// What a guardian submits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbsenceReportInput {
    pub pupil: UserId,
    pub first_date: CalendarDate,
    pub last_date: CalendarDate,
    #[serde(default)]
    pub lesson_ids: Vec<String>,
    pub reason: String,
}

/// One pupil's totals in one document, or summed over several with [`AbsenceTotals::add`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbsenceTotals {
    pub absent_lessons: u32,
    pub absent_minutes: u32,
    /// The part of `absent_minutes` covered by a cleared guardian report.
    pub explained_minutes: u32,
    pub late_lessons: u32,
}

impl AbsenceTotals {
    pub fn absence_hours(&self) -> f64 {
        absence_hours(self.absent_minutes)
    }

    pub fn crossed_thresholds(&self) -> Vec<u32> {
        crossed_absence_thresholds(self.absent_minutes)
    }

    /// Adds another document's totals (a pupil attends several classes in a term).
    pub fn add(&mut self, other: AbsenceTotals) {
        self.absent_lessons = self.absent_lessons.saturating_add(other.absent_lessons);
        self.absent_minutes = self.absent_minutes.saturating_add(other.absent_minutes);
        self.explained_minutes = self
            .explained_minutes
            .saturating_add(other.explained_minutes);
        self.late_lessons = self.late_lessons.saturating_add(other.late_lessons);
    }
}

/// The attendance document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct AttendanceDocument {
    pub class_sourced_id: String,
    pub term_sourced_id: String,
    /// By [`AttendanceDocument::mark_key`]: one flat map rather than nested maps, so that two
    /// teachers marking different pupils of the same lesson at once never create the same nested
    /// object twice (which automerge would resolve by keeping only one of them).
    pub marks: BTreeMap<String, AttendanceMark>,
    pub absence_reports: BTreeMap<String, AbsenceReport>,
}

impl AttendanceDocument {
    /// Binds a new document to its class and term, or checks an existing one is theirs.
    pub fn open_for(
        &mut self,
        class_sourced_id: &str,
        term_sourced_id: &str,
    ) -> Result<(), ModelError> {
        claim_identity(&mut self.class_sourced_id, class_sourced_id, "class")?;
        claim_identity(&mut self.term_sourced_id, term_sourced_id, "term")
    }

    /// The key of a mark: date, lesson and the pupil's key, so that it sorts by date.
    pub fn mark_key(lesson_id: &str, date: CalendarDate, pupil: &str) -> String {
        format!("{date}_{lesson_id}_{}", sourced_id_key(pupil))
    }

    /// Marks `pupil` at `lesson` on `date`. The date must be the lesson's weekday and not after
    /// `today` (the node's local date: nobody is marked for a lesson that has not happened).
    pub fn mark(
        &mut self,
        lesson: &Lesson,
        date: CalendarDate,
        entry: MarkEntry,
        marked_by: &str,
        now: NodeTime,
        today: CalendarDate,
    ) -> Result<&AttendanceMark, ModelError> {
        if date.weekday() != lesson.weekday {
            return Err(ModelError::Invalid {
                field: "date",
                reason: format!(
                    "{date} is a {:?}, but the lesson is on {:?}",
                    date.weekday(),
                    lesson.weekday
                ),
            });
        }
        if date > today {
            return Err(ModelError::Invalid {
                field: "date",
                reason: format!("{date} is in the future (today is {today})"),
            });
        }
        let key = Self::mark_key(&lesson.id, date, &entry.pupil);
        if !self.marks.contains_key(&key) && self.marks.len() >= MAX_MARKS_PER_ATTENDANCE {
            return Err(ModelError::LimitReached {
                what: "attendance marks",
                max: MAX_MARKS_PER_ATTENDANCE,
            });
        }
        let mark = AttendanceMark {
            lesson_id: lesson.id.clone(),
            date,
            pupil: sourced_id("pupil", &entry.pupil)?,
            status: entry.status,
            reason: optional_single_line("reason", entry.reason.as_deref(), MAX_REASON_CHARS)?,
            lesson_minutes: u32::from(lesson.minutes()),
            marked_by: sourced_id("marked by", marked_by)?,
            marked_at: now,
        };
        Ok(insert_or_replace(&mut self.marks, key, mark))
    }

    pub fn mark_for(
        &self,
        lesson_id: &str,
        date: CalendarDate,
        pupil: &str,
    ) -> Option<&AttendanceMark> {
        self.marks.get(&Self::mark_key(lesson_id, date, pupil))
    }

    /// Records a guardian's absence report. Whether the reporter is the pupil's guardian is the API
    /// layer's check (it reads the roster); this checks the report itself.
    pub fn report_absence(
        &mut self,
        id: &ItemId,
        input: AbsenceReportInput,
        reported_by: &str,
        now: NodeTime,
    ) -> Result<&AbsenceReport, ModelError> {
        if self.absence_reports.contains_key(id.as_str()) {
            return Err(ModelError::AlreadyExists {
                what: "absence report",
                id: id.to_string(),
            });
        }
        if self.absence_reports.len() >= MAX_ABSENCE_REPORTS_PER_ATTENDANCE {
            return Err(ModelError::LimitReached {
                what: "absence reports",
                max: MAX_ABSENCE_REPORTS_PER_ATTENDANCE,
            });
        }
        let days = input.first_date.days_until(input.last_date);
        if days < 0 {
            return Err(ModelError::Invalid {
                field: "last date",
                reason: format!(
                    "the absence ends ({}) before it begins ({})",
                    input.last_date, input.first_date
                ),
            });
        }
        if days >= MAX_ABSENCE_REPORT_DAYS {
            return Err(ModelError::Invalid {
                field: "last date",
                reason: format!(
                    "one report covers at most {MAX_ABSENCE_REPORT_DAYS} days; report a longer absence in parts"
                ),
            });
        }
        if input.lesson_ids.len() > MAX_LESSONS_PER_TIMETABLE {
            return Err(ModelError::LimitReached {
                what: "lessons in one report",
                max: MAX_LESSONS_PER_TIMETABLE,
            });
        }
        for lesson in &input.lesson_ids {
            ItemId::try_from(lesson.clone())?;
        }
        let report = AbsenceReport {
            id: id.to_string(),
            pupil: sourced_id("pupil", &input.pupil)?,
            first_date: input.first_date,
            last_date: input.last_date,
            lesson_ids: input.lesson_ids,
            reason: multi_line("reason", &input.reason, MAX_REASON_CHARS, true)?,
            reported_by: sourced_id("reported by", reported_by)?,
            reported_at: now,
            clearance: None,
        };
        Ok(self.absence_reports.entry(id.to_string()).or_insert(report))
    }

    /// A teacher accepts a report: the absences it covers count as explained.
    pub fn clear_report(
        &mut self,
        id: &str,
        cleared_by: &str,
        now: NodeTime,
    ) -> Result<&AbsenceReport, ModelError> {
        let cleared_by = sourced_id("cleared by", cleared_by)?;
        let report = self
            .absence_reports
            .get_mut(id)
            .ok_or_else(|| ModelError::NotFound {
                what: "absence report",
                id: id.to_owned(),
            })?;
        if report.clearance.is_some() {
            return Err(ModelError::Conflict(format!(
                "absence report {id} is already cleared"
            )));
        }
        report.clearance = Some(Clearance {
            cleared_by,
            cleared_at: now,
        });
        Ok(report)
    }

    /// Whether a cleared report covers the mark.
    pub fn is_explained(&self, mark: &AttendanceMark) -> bool {
        self.absence_reports.values().any(|report| {
            report.clearance.is_some() && report.covers(&mark.pupil, &mark.lesson_id, mark.date)
        })
    }

    /// The pupil's absence totals in this document.
    pub fn absence_totals(&self, pupil: &str) -> AbsenceTotals {
        let mut totals = AbsenceTotals::default();
        for mark in self.marks.values().filter(|mark| mark.pupil == pupil) {
            match mark.status {
                AttendanceStatus::Present => {}
                AttendanceStatus::Late => totals.late_lessons += 1,
                AttendanceStatus::Absent => {
                    totals.absent_lessons += 1;
                    totals.absent_minutes += mark.lesson_minutes;
                    if self.is_explained(mark) {
                        totals.explained_minutes += mark.lesson_minutes;
                    }
                }
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::Weekday;
    use super::super::common::test_support::*;
    use super::*;

    const MONDAY: &str = "00000000000000a1";
    const WEDNESDAY_DOUBLE: &str = "00000000000000a2";

    fn lesson(id_text: &str, weekday: Weekday, starts: &str, ends: &str) -> Lesson {
        Lesson {
            id: id_text.to_owned(),
            weekday,
            starts_at: clock(starts),
            ends_at: clock(ends),
            room: None,
            teacher: "T1".to_owned(),
            course_sourced_id: None,
            subject: None,
        }
    }

    fn monday() -> Lesson {
        lesson(MONDAY, Weekday::Monday, "08:15", "09:00")
    }

    fn wednesday_double() -> Lesson {
        lesson(WEDNESDAY_DOUBLE, Weekday::Wednesday, "10:00", "11:30")
    }

    fn attendance() -> AttendanceDocument {
        let mut attendance = AttendanceDocument::default();
        attendance.open_for("CLS-7A", "TERM-1").expect("new");
        attendance
    }

    /// Marks one pupil, by teacher T1, with the node's date `today`.
    fn mark(
        document: &mut AttendanceDocument,
        lesson: &Lesson,
        on: CalendarDate,
        pupil: &str,
        status: AttendanceStatus,
        today: &str,
    ) -> Result<AttendanceMark, ModelError> {
        document
            .mark(
                lesson,
                on,
                MarkEntry {
                    pupil: pupil.to_owned(),
                    status,
                    reason: None,
                },
                "T1",
                NodeTime(1_760_000_000_000),
                date(today),
            )
            .cloned()
    }

    fn days_after(start: CalendarDate, days: i64) -> CalendarDate {
        CalendarDate::new(start.date().saturating_add(time::Duration::days(days)))
    }

    #[test]
    fn marks_must_fall_on_the_lessons_weekday_and_not_in_the_future() {
        use AttendanceStatus::{Absent, Late};
        let mut attendance = attendance();
        let today = "2025-09-10";
        // 2025-09-08 is a Monday, 2025-09-09 a Tuesday.
        assert!(
            mark(
                &mut attendance,
                &monday(),
                date("2025-09-08"),
                "P1",
                Absent,
                today
            )
            .is_ok()
        );
        assert!(matches!(
            mark(
                &mut attendance,
                &monday(),
                date("2025-09-09"),
                "P1",
                Absent,
                today
            ),
            Err(ModelError::Invalid { field: "date", .. })
        ));
        assert!(matches!(
            mark(
                &mut attendance,
                &monday(),
                date("2025-09-15"),
                "P1",
                Absent,
                today
            ),
            Err(ModelError::Invalid { field: "date", .. })
        ));
        // Marking again replaces the mark.
        attendance
            .mark(
                &monday(),
                date("2025-09-08"),
                MarkEntry {
                    pupil: "P1".to_owned(),
                    status: Late,
                    reason: Some("bussi myöhässä".to_owned()),
                },
                "T1",
                NodeTime(1),
                date(today),
            )
            .expect("valid");
        assert_eq!(attendance.marks.len(), 1);
        let marked = attendance
            .mark_for(MONDAY, date("2025-09-08"), "P1")
            .expect("marked");
        assert_eq!(marked.status, Late);
        assert_eq!(marked.reason.as_deref(), Some("bussi myöhässä"));
        assert_eq!(marked.lesson_minutes, 45);
    }

    #[test]
    fn absence_hours_count_lesson_minutes_in_45_minute_hours() {
        use AttendanceStatus::{Absent, Late, Present};
        let mut attendance = attendance();
        let today = "2025-12-31";
        mark(
            &mut attendance,
            &monday(),
            date("2025-09-08"),
            "P1",
            Absent,
            today,
        )
        .expect("valid");
        mark(
            &mut attendance,
            &wednesday_double(),
            date("2025-09-10"),
            "P1",
            Absent,
            today,
        )
        .expect("valid");
        mark(
            &mut attendance,
            &monday(),
            date("2025-09-15"),
            "P1",
            Late,
            today,
        )
        .expect("valid");
        mark(
            &mut attendance,
            &monday(),
            date("2025-09-22"),
            "P1",
            Present,
            today,
        )
        .expect("valid");
        mark(
            &mut attendance,
            &monday(),
            date("2025-09-08"),
            "P2",
            Absent,
            today,
        )
        .expect("valid");
        let totals = attendance.absence_totals("P1");
        assert_eq!(
            totals,
            AbsenceTotals {
                absent_lessons: 2,
                absent_minutes: 135,
                explained_minutes: 0,
                late_lessons: 1,
            }
        );
        assert!((totals.absence_hours() - 3.0).abs() < 1e-9);
        assert_eq!(attendance.absence_totals("P2").absent_minutes, 45);
    }

    #[test]
    fn thresholds_are_crossed_at_30_50_and_70_hours() {
        assert_eq!(crossed_absence_thresholds(0), Vec::<u32>::new());
        assert_eq!(crossed_absence_thresholds(30 * 45 - 1), Vec::<u32>::new());
        assert_eq!(crossed_absence_thresholds(30 * 45), [30]);
        assert_eq!(crossed_absence_thresholds(50 * 45), [30, 50]);
        assert_eq!(crossed_absence_thresholds(70 * 45 + 500), [30, 50, 70]);

        // Summed over two classes: 35 Monday lessons of 45 minutes in one document and 10 double
        // lessons in another make 35 + 20 = 55 hours.
        let mut first = attendance();
        let mut second = AttendanceDocument::default();
        second.open_for("CLS-7A-EN", "TERM-1").expect("new");
        let today = "2026-12-31";
        let first_monday = date("2025-09-08");
        for week in 0..35 {
            let monday_date = days_after(first_monday, 7 * week);
            mark(
                &mut first,
                &monday(),
                monday_date,
                "P1",
                AttendanceStatus::Absent,
                today,
            )
            .expect("valid");
            if week < 10 {
                let wednesday_date = days_after(monday_date, 2);
                mark(
                    &mut second,
                    &wednesday_double(),
                    wednesday_date,
                    "P1",
                    AttendanceStatus::Absent,
                    today,
                )
                .expect("valid");
            }
        }
        let mut totals = first.absence_totals("P1");
        totals.add(second.absence_totals("P1"));
        assert_eq!(totals.absent_minutes, 55 * 45);
        assert_eq!(totals.crossed_thresholds(), [30, 50]);
    }

    fn report(first: &str, last: &str, reason: &str) -> AbsenceReportInput {
        AbsenceReportInput {
            pupil: "P1".to_owned(),
            first_date: date(first),
            last_date: date(last),
            lesson_ids: Vec::new(),
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn guardian_reports_explain_absences_once_cleared() {
        let mut attendance = attendance();
        mark(
            &mut attendance,
            &monday(),
            date("2025-09-08"),
            "P1",
            AttendanceStatus::Absent,
            "2025-12-31",
        )
        .expect("valid");
        let report_id = id("00000000000000f1");
        attendance
            .report_absence(
                &report_id,
                report("2025-09-08", "2025-09-09", "Flunssa"),
                "G1",
                NodeTime(1),
            )
            .expect("valid");
        assert_eq!(attendance.absence_totals("P1").explained_minutes, 0);
        attendance
            .clear_report(report_id.as_str(), "T1", NodeTime(2))
            .expect("exists");
        assert_eq!(attendance.absence_totals("P1").explained_minutes, 45);
        assert!(matches!(
            attendance.clear_report(report_id.as_str(), "T1", NodeTime(3)),
            Err(ModelError::Conflict(_))
        ));

        let backwards = attendance.report_absence(
            &id("00000000000000f2"),
            report("2025-09-09", "2025-09-08", "Flunssa"),
            "G1",
            NodeTime(1),
        );
        assert!(matches!(
            backwards,
            Err(ModelError::Invalid {
                field: "last date",
                ..
            })
        ));
        let no_reason = attendance.report_absence(
            &id("00000000000000f3"),
            report("2025-09-09", "2025-09-09", " "),
            "G1",
            NodeTime(1),
        );
        assert_eq!(no_reason.err(), Some(ModelError::Empty { field: "reason" }));
        let too_long = attendance.report_absence(
            &id("00000000000000f4"),
            report("2025-09-01", "2025-12-31", "Pitkä sairaus"),
            "G1",
            NodeTime(1),
        );
        assert!(too_long.is_err());
    }

    #[test]
    fn attendance_round_trips_and_merges_marks_by_two_teachers() {
        let today = "2025-12-31";
        let mut base = attendance();
        mark(
            &mut base,
            &monday(),
            date("2025-09-08"),
            "P1",
            AttendanceStatus::Present,
            today,
        )
        .expect("valid");
        assert_round_trip(&base);
        let merged = merge_concurrent(
            &base,
            |document| {
                mark(
                    document,
                    &monday(),
                    date("2025-09-15"),
                    "P1",
                    AttendanceStatus::Absent,
                    today,
                )
                .expect("valid");
            },
            |document| {
                mark(
                    document,
                    &monday(),
                    date("2025-09-15"),
                    "P2",
                    AttendanceStatus::Late,
                    today,
                )
                .expect("valid");
            },
        );
        assert_eq!(merged.marks.len(), 3);
        assert_eq!(merged.absence_totals("P1").absent_minutes, 45);
        assert_eq!(merged.absence_totals("P2").late_lessons, 1);
    }

    #[test]
    fn the_document_id_names_class_and_term_keys() {
        assert_eq!(
            attendance_doc(&school(), "CLS-7A", "TERM-1").name(),
            format!(
                "attendance-{}-{}",
                sourced_id_key("CLS-7A"),
                sourced_id_key("TERM-1")
            )
        );
    }
}
