//! Attendance: teachers' marks per lesson, guardians' absence reports and clearances, a pupil's
//! absences with their totals, and the alerts for pupils whose absences crossed a threshold. The
//! JSON API (`crate::api::attendance`) and the web pages (`crate::web::attendance`,
//! `crate::web::absences`, the home page) call these operations; each decides the caller's
//! permission with [`crate::school::policy`]:
//!
//! - The class's teachers mark its lessons, and administrators correct the record
//!   ([`Action::MarkClassAttendance`]); the class's teachers and school staff read a class's day
//!   ([`Action::ReadClassAttendance`]).
//! - A pupil's absences are read by those who read the pupil's records
//!   ([`Action::ReadPupilRecords`]).
//! - A guardian of the pupil reports and explains absences ([`Action::ExplainPupilAbsence`]); a
//!   report is cleared in a class by a guardian of the pupil or a teacher of that class
//!   ([`Action::ClearPupilAbsenceReport`]).
//! - Staff and administrators see the alerts of the whole school, teachers those of the pupils of
//!   their classes ([`Action::ReadAbsenceAlerts`]).
//!
//! Attendance is kept per class and term (`model::attendance`): one document holds the marks of
//! every lesson of the class in the term and the guardians' reports about its pupils. A date's
//! term is the class's academic session that contains it (see [`crate::school::timetable::term_on`]),
//! and a marked lesson must be in the class's timetable for that term, on the date's weekday.
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

mod views;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use sync_protocol::ids::SchoolCode;

use crate::auth::Caller;
use crate::model::UserId;
use crate::model::attendance::{
    ABSENCE_ALERT_THRESHOLD_HOURS, AbsenceReport, AbsenceReportInput, AbsenceTotals,
    AttendanceDocument, AttendanceStatus, MarkEntry, attendance_doc,
};
use crate::model::common::{CalendarDate, ItemId};
use crate::model::roster::MAX_ENROLLMENTS_PER_CLASS;
use crate::model::timetable::{TimetableDocument, timetable_doc};
use crate::repository::Repository;
use crate::school::access::{Access, Target, roster_index};
use crate::school::calendar::school_today;
use crate::school::error::{Problem, ServiceError};
use crate::school::policy::Action;
use crate::school::roster_index::RosterIndex;
use crate::school::runtime::{blocking, node_now};
use crate::school::timetable::{
    display_name, lesson_view, read_timetables_now, require_known_pupil, term_on,
};
use crate::state::AppState;

/// Marks taken at once: a lesson marks each pupil of the class at most once, and a class has at
/// most this many members.
pub const MAX_MARKS_AT_ONCE: usize = MAX_ENROLLMENTS_PER_CLASS;

// ---------------------------------------------------------------------------------------------
// Inputs.
// ---------------------------------------------------------------------------------------------

/// What a teacher enters for one pupil at a lesson.
#[derive(Debug, Clone)]
pub struct PupilMark {
    pub status: MarkStatus,
    pub reason: Option<String>,
}

/// What a guardian reports: a date range (one day when `last_date` is left out), optionally only
/// some lessons, and the reason.
#[derive(Debug, Clone)]
pub struct NewAbsenceReport {
    pub first_date: CalendarDate,
    pub last_date: Option<CalendarDate>,
    /// Lesson ids from the pupil's timetables; empty means whole days.
    pub lesson_ids: Vec<String>,
    pub reason: String,
}

pub use self::views::{
    AlertsView, ClassDayAttendanceView, LessonAttendanceView, MarkStatus, MarkView,
    PupilAbsencesView, PupilAlertView, ReportPlacementView, ReportView, TotalsView,
};
use self::views::{mark_view, marks_with_prefix, report_views, single_report_view};

/// A class and one of its terms: the key of a timetable and of an attendance document.
type ClassTerm = (String, String);

// ---------------------------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------------------------

/// Marks pupils of the class at a lesson of its timetable on `date`: the class's teachers, or an
/// administrator correcting the record. Answers with every mark of that lesson on that date.
pub async fn mark_lesson(
    state: &AppState,
    caller: &Caller,
    class_id: &str,
    date: CalendarDate,
    lesson: &str,
    marks: BTreeMap<UserId, PupilMark>,
) -> Result<LessonAttendanceView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    let class = access.class(class_id)?;
    access.require(Action::MarkClassAttendance, Target::Class(class_id))?;
    let lesson_id = ItemId::from_str(lesson)
        .map_err(|_| ServiceError::NotFound(format!("lesson {lesson:?} does not exist")))?;
    let term = term_on(&access.roster, &class.class, date).ok_or_else(|| {
        ServiceError::NotFound(format!("class {class_id:?} has no term on {date}"))
    })?;
    if marks.is_empty() {
        return Err(ServiceError::Invalid {
            field: Some("marks"),
            problem: Problem::Missing,
            message: "no marks were given".into(),
        });
    }
    if marks.len() > MAX_MARKS_AT_ONCE {
        return Err(ServiceError::invalid(
            "marks",
            format!("at most {MAX_MARKS_AT_ONCE} marks are accepted at once"),
        ));
    }
    if let Some(stranger) = marks.keys().find(|pupil| !class.is_pupil(pupil)) {
        return Err(ServiceError::invalid(
            "marks",
            format!("{stranger:?} is not a pupil of class {class_id:?}"),
        ));
    }
    let entries: Vec<MarkEntry> = marks
        .into_iter()
        .map(|(pupil, mark)| MarkEntry {
            pupil,
            status: mark.status.into(),
            reason: mark.reason,
        })
        .collect();
    let today = school_today()?;
    let now = node_now();
    let me = access.me().to_owned();
    let term_id = term.sourced_id.clone();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let place = (class_id.to_owned(), term_id.clone());
    let (lesson, attendance) = blocking(move || {
        let timetable = read_timetables_now(&repository, &school, BTreeMap::from([place.clone()]))?
            .remove(&place)
            .unwrap_or_default();
        let lesson = timetable
            .lesson(lesson_id.as_str())
            .cloned()
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "lesson {lesson_id} is not in the timetable of class {:?} for term {:?}",
                    place.0, place.1
                ))
            })?;
        if lesson.weekday != date.weekday() {
            return Err(ServiceError::invalid(
                "date",
                format!(
                    "lesson {lesson_id} is on {:?}s, but {date} is a {:?}",
                    lesson.weekday,
                    date.weekday()
                ),
            ));
        }
        let doc = attendance_doc(&school, &place.0, &place.1);
        let attendance = repository.update(&doc, |attendance: &mut AttendanceDocument| {
            attendance.open_for(&place.0, &place.1)?;
            for entry in entries {
                attendance.mark(&lesson, date, entry, &me, now, today)?;
            }
            Ok::<_, ServiceError>(attendance.clone())
        })?;
        Ok((lesson, attendance))
    })
    .await?;
    let prefix = format!("{date}_{}_", lesson.id);
    let marks = marks_with_prefix(&attendance, &prefix)
        .map(|mark| mark_view(&access.roster, class_id, &term_id, &attendance, mark))
        .collect();
    Ok(LessonAttendanceView {
        class: class_id.to_owned(),
        term: term_id,
        date,
        lesson: lesson_view(&access.roster, &lesson),
        marks,
    })
}

/// The class's lessons, marks and covering reports on `date`: the class's teachers and school
/// staff.
pub async fn class_attendance_on(
    state: &AppState,
    caller: &Caller,
    class_id: &str,
    date: CalendarDate,
) -> Result<ClassDayAttendanceView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    let class = access.class(class_id)?;
    access.require(Action::ReadClassAttendance, Target::Class(class_id))?;
    let term = term_on(&access.roster, &class.class, date).ok_or_else(|| {
        ServiceError::NotFound(format!("class {class_id:?} has no term on {date}"))
    })?;
    let term_id = term.sourced_id.clone();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let place = (class_id.to_owned(), term_id.clone());
    let (timetable, attendance) = blocking(move || {
        let timetable = read_timetables_now(&repository, &school, BTreeMap::from([place.clone()]))?
            .remove(&place)
            .unwrap_or_default();
        let attendance = repository
            .read_or_default::<AttendanceDocument>(&attendance_doc(&school, &place.0, &place.1))?;
        Ok((timetable, attendance))
    })
    .await?;
    let roster = &access.roster;
    let marks = marks_with_prefix(&attendance, &format!("{date}_"))
        .map(|mark| mark_view(roster, class_id, &term_id, &attendance, mark))
        .collect();
    let covering: Vec<(&str, &str, &AbsenceReport)> = attendance
        .absence_reports
        .values()
        .filter(|report| report.first_date <= date && date <= report.last_date)
        .map(|report| (class_id, term_id.as_str(), report))
        .collect();
    Ok(ClassDayAttendanceView {
        class_title: class.class.title.clone(),
        class: class_id.to_owned(),
        term: term_id.clone(),
        date,
        weekday: date.weekday(),
        lessons: timetable
            .lessons_on(date.weekday())
            .into_iter()
            .map(|lesson| lesson_view(roster, lesson))
            .collect(),
        marks,
        reports: report_views(covering),
    })
}

/// The pupil's absent and late marks across their classes in `school_year` (by default the year
/// of the latest term that has begun), the guardians' reports, the totals and the thresholds
/// reached: those who may read the pupil's records.
pub async fn pupil_absences(
    state: &AppState,
    caller: &Caller,
    pupil: &str,
    school_year: Option<String>,
) -> Result<PupilAbsencesView, ServiceError> {
    let roster = roster_index(state).await?;
    require_known_pupil(&roster, pupil)?;
    Access::new(caller, roster.clone()).require_pupil_reader(pupil)?;
    let school_year = resolve_school_year(&roster, school_year)?;
    let places = match &school_year {
        Some(year) => pupil_places(&roster, pupil, Some(year)),
        None => Vec::new(),
    };
    let documents = read_attendance(state, places).await?;
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
        totals.add(attendance.absence_totals(pupil));
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
    Ok(PupilAbsencesView {
        pupil_name: display_name(&roster, pupil),
        pupil: pupil.to_owned(),
        school_year,
        absences,
        reports: report_views(reports),
        crossed_thresholds: totals.crossed_thresholds(),
        totals: totals.into(),
    })
}

/// A guardian of the pupil reports an absence; the report waits to be cleared.
pub async fn report_absence(
    state: &AppState,
    caller: &Caller,
    pupil: &str,
    report: NewAbsenceReport,
) -> Result<ReportView, ServiceError> {
    let access = guardian_access(state, caller, pupil).await?;
    file_report(state, &access, pupil, report, false).await
}

/// A guardian of the pupil explains absences: a report, cleared at once in every class it is
/// filed in.
pub async fn explain_absences(
    state: &AppState,
    caller: &Caller,
    pupil: &str,
    explanation: NewAbsenceReport,
) -> Result<ReportView, ServiceError> {
    let access = guardian_access(state, caller, pupil).await?;
    file_report(state, &access, pupil, explanation, true).await
}

/// Clears report `report_id` of `pupil` in the classes where the caller may clear it: every class
/// of the pupil for a guardian of theirs, the classes they teach for a teacher of the pupil.
pub async fn clear_report(
    state: &AppState,
    caller: &Caller,
    pupil: &str,
    report_id: &str,
) -> Result<ReportView, ServiceError> {
    let roster = roster_index(state).await?;
    require_known_pupil(&roster, pupil)?;
    let access = Access::new(caller, roster);
    let not_found =
        || ServiceError::NotFound(format!("absence report {report_id:?} does not exist"));
    let report_id = ItemId::from_str(report_id).map_err(|_| not_found())?;
    let places: Vec<ClassTerm> = pupil_places(&access.roster, pupil, None)
        .into_iter()
        .filter(|(class_id, _)| {
            access.may(
                Action::ClearPupilAbsenceReport,
                Target::PupilInClass {
                    pupil,
                    class: class_id,
                },
            )
        })
        .collect();
    if places.is_empty() {
        return Err(ServiceError::Forbidden(format!(
            "only a guardian of {pupil:?} or a teacher of their classes may clear their absence \
             reports"
        )));
    }
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let me = access.me().to_owned();
    let pupil_id = pupil.to_owned();
    let now = node_now();
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
                    Ok::<_, ServiceError>(
                        attendance
                            .clear_report(report_id.as_str(), &me, now)?
                            .clone(),
                    )
                })?
            };
            stored.push((class_id, term_id, report));
        }
        if stored.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "absence report {report_id} does not exist"
            )));
        }
        if cleared_now == 0 {
            return Err(ServiceError::Conflict(format!(
                "absence report {report_id} is already cleared"
            )));
        }
        Ok(stored)
    })
    .await?;
    single_report_view(&stored)
}

/// Pupils whose absences reached a threshold in `school_year` (by default the year of the latest
/// term that has begun). School staff and administrators see every pupil; a teacher sees the
/// pupils of the classes they teach, with totals over all of each pupil's classes.
pub async fn absence_alerts(
    state: &AppState,
    caller: &Caller,
    school_year: Option<String>,
) -> Result<AlertsView, ServiceError> {
    let roster = roster_index(state).await?;
    let access = Access::new(caller, roster.clone());
    access.require(Action::ReadAbsenceAlerts, Target::School)?;
    let pupils: BTreeSet<UserId> = if access.is_school_wide() {
        roster.classes_as_pupil.keys().cloned().collect()
    } else {
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
    let school_year = resolve_school_year(&roster, school_year)?;
    let mut places = BTreeSet::new();
    if let Some(year) = &school_year {
        for pupil in &pupils {
            places.extend(pupil_places(&roster, pupil, Some(year)));
        }
    }
    let documents = read_attendance(state, places.into_iter().collect()).await?;
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
    Ok(AlertsView {
        school_year,
        thresholds: ABSENCE_ALERT_THRESHOLD_HOURS.to_vec(),
        alerts,
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

/// The caller's access when they may report and explain the pupil's absences: a guardian of the
/// pupil. An unknown pupil is 404 before anyone is refused.
async fn guardian_access<'caller>(
    state: &AppState,
    caller: &'caller Caller,
    pupil: &str,
) -> Result<Access<'caller>, ServiceError> {
    let roster = roster_index(state).await?;
    require_known_pupil(&roster, pupil)?;
    let access = Access::new(caller, roster);
    access.require(Action::ExplainPupilAbsence, Target::Pupil(pupil))?;
    Ok(access)
}

/// Files the caller's report in the attendance documents of the pupil's classes whose terms
/// overlap the dates (and, when lessons are named, whose timetables hold them); `cleared` clears it
/// at once (an explanation).
async fn file_report(
    state: &AppState,
    access: &Access<'_>,
    pupil: &str,
    report: NewAbsenceReport,
    cleared: bool,
) -> Result<ReportView, ServiceError> {
    let roster = &access.roster;
    let input = AbsenceReportInput {
        pupil: pupil.to_owned(),
        first_date: report.first_date,
        last_date: report.last_date.unwrap_or(report.first_date),
        lesson_ids: report.lesson_ids,
        reason: report.reason,
    };
    let id = ItemId::generate();
    let now = node_now();
    let guardian = access.me().to_owned();
    // Checked once on a scratch document first, so that a bad report is refused before any class's
    // document is written.
    AttendanceDocument::default().report_absence(&id, input.clone(), &guardian, now)?;
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
        // About the dates together, not one of them: said above the form.
        return Err(ServiceError::Invalid {
            field: None,
            problem: Problem::NotValid,
            message: format!(
                "no term of {pupil:?}'s classes covers {} to {}",
                input.first_date, input.last_date
            ),
        });
    }
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
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
                        .ok_or_else(|| ServiceError::Internal(format!("report {id} vanished")))?
                };
                Ok::<_, ServiceError>(report.clone())
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
) -> Result<Vec<(ClassTerm, Vec<String>)>, ServiceError> {
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
        return Err(ServiceError::invalid(
            "lesson_ids",
            format!(
                "lesson {missing:?} is not in the timetable of any class of {:?} in those dates",
                input.pupil
            ),
        ));
    }
    Ok(targets)
}

/// The school year to count: the one asked for (it must have a session), or by default the year
/// of the latest session that has begun by node time.
fn resolve_school_year(
    roster: &RosterIndex,
    requested: Option<String>,
) -> Result<Option<String>, ServiceError> {
    if let Some(year) = requested {
        return if roster
            .org
            .sessions
            .values()
            .any(|session| session.school_year == year)
        {
            Ok(Some(year))
        } else {
            Err(ServiceError::NotFound(format!(
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
) -> Result<BTreeMap<ClassTerm, AttendanceDocument>, ServiceError> {
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
