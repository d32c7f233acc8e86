//! Timetables: the weekly lessons of a class in a term, and a user's lessons on one day.
//!
//! - Everyone who may read the class ([`Action::ReadClass`]) sees its timetable.
//! - School staff and administrators set timetables (in Finnish schools the office plans them for
//!   the whole school), and so may the class's own teachers, as the data model allows
//!   ([`Action::EditClassTimetable`]).
//! - A day view lists the caller's own lessons, or a pupil's for whoever may read the pupil's
//!   records ([`Action::ReadPupilRecords`]).
//!
//! A class's timetable for a term is one document (`model::timetable`). The day view finds, for
//! each class of the person, the term that contains the date among the class's academic sessions,
//! and lists the lessons of that weekday. It reads one timetable document per class, so its cost is
//! bounded by the number of classes one person takes part in. Dates are the school's local
//! calendar ([`crate::school::calendar`]).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sync_protocol::ids::SchoolCode;

use crate::auth::Caller;
use crate::model::common::{CalendarDate, ClockTime, ItemId, Weekday};
use crate::model::roster::{AcademicSession, ClassDocument, RosterClass};
use crate::model::timetable::{
    Lesson, LessonInput, MAX_LESSONS_PER_TIMETABLE, TimetableDocument, timetable_doc,
};
use crate::model::{UserId, UserRole};
use crate::repository::Repository;
use crate::school::access::{Access, Target, roster_index};
use crate::school::calendar::school_today;
use crate::school::error::ServiceError;
use crate::school::policy::Action;
use crate::school::roster_index::RosterIndex;
use crate::school::runtime::blocking;
use crate::state::AppState;

/// One weekly lesson as a client sends it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct LessonRequest {
    /// In a whole-timetable replacement: the id of an existing lesson this entry keeps (so its
    /// attendance marks stay attached). Without it the lesson is new and gets a fresh id.
    #[serde(default)]
    pub id: Option<String>,
    #[schema(value_type = String, example = "monday")]
    pub weekday: Weekday,
    /// Local time, `HH:MM`.
    #[schema(value_type = String, example = "08:15")]
    pub start: ClockTime,
    /// Local time, `HH:MM`, after `start`.
    #[schema(value_type = String, example = "09:00")]
    pub end: ClockTime,
    #[serde(default)]
    pub room: Option<String>,
    /// The user id of a teacher of the class.
    pub teacher: UserId,
    /// A subject label, when it differs from the class's course (a combined lesson).
    #[serde(default)]
    pub subject: Option<String>,
    /// The course taught, by sourcedId; the class's own course when left out.
    #[serde(default)]
    pub course: Option<String>,
}

/// The whole timetable of a class in a term.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TimetableRequest {
    pub lessons: Vec<LessonRequest>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LessonView {
    pub id: String,
    #[schema(value_type = String, example = "monday")]
    pub weekday: Weekday,
    #[schema(value_type = String, example = "08:15")]
    pub start: ClockTime,
    #[schema(value_type = String, example = "09:00")]
    pub end: ClockTime,
    pub minutes: u16,
    pub room: Option<String>,
    pub teacher: UserId,
    pub teacher_name: String,
    pub subject: Option<String>,
    pub course: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TermView {
    pub id: String,
    pub title: String,
    #[schema(value_type = String, format = Date)]
    pub start_date: CalendarDate,
    #[schema(value_type = String, format = Date)]
    pub end_date: CalendarDate,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimetableView {
    pub class: String,
    pub class_title: String,
    pub term: TermView,
    /// In weekday and start order.
    pub lessons: Vec<LessonView>,
}

/// One lesson of a day.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayLessonView {
    pub class: String,
    pub class_title: String,
    pub term: String,
    pub lesson_id: String,
    #[schema(value_type = String, example = "08:15")]
    pub start: ClockTime,
    #[schema(value_type = String, example = "09:00")]
    pub end: ClockTime,
    pub room: Option<String>,
    pub teacher: UserId,
    pub teacher_name: String,
    pub subject: Option<String>,
    /// Why the lesson is listed: `pupil` (the pupil attends the class) or `teacher` (the caller
    /// teaches the lesson).
    pub role: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayView {
    #[schema(value_type = String, format = Date)]
    pub date: CalendarDate,
    #[schema(value_type = String, example = "monday")]
    pub weekday: Weekday,
    /// The user whose lessons these are.
    pub user: UserId,
    /// In start order.
    pub lessons: Vec<DayLessonView>,
}

/// The class's lessons in the term: everyone who may read the class.
pub async fn class_timetable(
    state: &AppState,
    caller: &Caller,
    class_id: &str,
    term_id: &str,
) -> Result<TimetableView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    access.require_class_reader(class_id)?;
    class_term(&access.roster, access.class(class_id)?, term_id)?;
    let timetable = read_timetable(state, class_id, term_id).await?;
    timetable_view(&access.roster, class_id, term_id, &timetable)
}

/// Replaces the class's lessons in the term: staff, administrators and the class's teachers.
/// Entries that name an existing lesson's id keep it; lessons left out are removed.
pub async fn replace_timetable(
    state: &AppState,
    caller: &Caller,
    class_id: &str,
    term_id: &str,
    lessons: Vec<LessonRequest>,
) -> Result<TimetableView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    require_timetable_writer(&access, class_id, term_id)?;
    if lessons.len() > MAX_LESSONS_PER_TIMETABLE {
        return Err(ServiceError::invalid(
            "lessons",
            format!(
                "a timetable holds at most {MAX_LESSONS_PER_TIMETABLE} lessons, the request has {}",
                lessons.len()
            ),
        ));
    }
    let class = access.class(class_id)?;
    let mut prepared = Vec::with_capacity(lessons.len());
    let mut seen_ids = BTreeSet::new();
    for lesson in lessons {
        let id = match lesson.id.as_deref() {
            Some(text) => ItemId::from_str(text)?,
            None => ItemId::generate(),
        };
        if !seen_ids.insert(id.clone()) {
            return Err(ServiceError::invalid(
                "lessons",
                format!("lesson {id} appears twice in the timetable"),
            ));
        }
        prepared.push((id, lesson_input(class, lesson)?));
    }
    let timetable = write_timetable(state, class_id, term_id, move |timetable| {
        // The new timetable is built from empty, so that an entry may take the slot of a lesson
        // that this same request removes; unchanged lessons reconcile to no change at all.
        let mut next = TimetableDocument {
            class_sourced_id: timetable.class_sourced_id.clone(),
            term_sourced_id: timetable.term_sourced_id.clone(),
            lessons: BTreeMap::new(),
        };
        for (id, input) in prepared {
            next.add_lesson(&id, input)?;
        }
        *timetable = next;
        Ok(())
    })
    .await?;
    timetable_view(&access.roster, class_id, term_id, &timetable)
}

/// Adds one lesson: staff, administrators and the class's teachers.
pub async fn add_lesson(
    state: &AppState,
    caller: &Caller,
    class_id: &str,
    term_id: &str,
    lesson: LessonRequest,
) -> Result<LessonView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    require_timetable_writer(&access, class_id, term_id)?;
    let id = match lesson.id.as_deref() {
        Some(text) => ItemId::from_str(text)?,
        None => ItemId::generate(),
    };
    let input = lesson_input(access.class(class_id)?, lesson)?;
    let lesson_id = id.to_string();
    let timetable = write_timetable(state, class_id, term_id, move |timetable| {
        timetable.add_lesson(&id, input)?;
        Ok(())
    })
    .await?;
    let lesson = timetable.lesson(&lesson_id).ok_or_else(|| {
        ServiceError::Internal(format!("lesson {lesson_id} vanished after adding"))
    })?;
    Ok(lesson_view(&access.roster, lesson))
}

/// Changes one lesson, keeping its id (and so its attendance marks): staff, administrators and
/// the class's teachers.
pub async fn update_lesson(
    state: &AppState,
    caller: &Caller,
    class_id: &str,
    term_id: &str,
    lesson_id: &str,
    lesson: LessonRequest,
) -> Result<LessonView, ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    require_timetable_writer(&access, class_id, term_id)?;
    let input = lesson_input(access.class(class_id)?, lesson)?;
    let changed_id = lesson_id.to_owned();
    let timetable = write_timetable(state, class_id, term_id, move |timetable| {
        timetable.update_lesson(&changed_id, input)?;
        Ok(())
    })
    .await?;
    let lesson = timetable.lesson(lesson_id).ok_or_else(|| {
        ServiceError::Internal(format!("lesson {lesson_id} vanished after updating"))
    })?;
    Ok(lesson_view(&access.roster, lesson))
}

/// Removes one lesson: staff, administrators and the class's teachers. Marks already made for it
/// stay in the attendance record.
pub async fn remove_lesson(
    state: &AppState,
    caller: &Caller,
    class_id: &str,
    term_id: &str,
    lesson_id: &str,
) -> Result<(), ServiceError> {
    let access = Access::new(caller, roster_index(state).await?);
    require_timetable_writer(&access, class_id, term_id)?;
    let lesson_id = lesson_id.to_owned();
    write_timetable(state, class_id, term_id, move |timetable| {
        timetable.remove_lesson(&lesson_id)?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// Whose lessons a day view shows.
#[derive(Debug, Clone, Copy)]
pub enum DayOf<'name> {
    /// The caller's own: the lessons of the classes they attend and the lessons they teach.
    Me,
    /// A pupil's, for whoever may read the pupil's records (guardians, their teachers, staff).
    Pupil(&'name str),
}

/// The lessons of one day (today by the school's calendar when `date` is `None`), in start order.
pub async fn day_timetable(
    state: &AppState,
    caller: &Caller,
    date: Option<CalendarDate>,
    whose: DayOf<'_>,
) -> Result<DayView, ServiceError> {
    let date = match date {
        Some(date) => date,
        None => school_today()?,
    };
    let access = Access::new(caller, roster_index(state).await?);
    let roster = access.roster.clone();
    let (user, attended, taught) = match whose {
        DayOf::Pupil(pupil) => {
            require_known_pupil(&roster, pupil)?;
            access.require_pupil_reader(pupil)?;
            let attended = roster
                .classes_as_pupil
                .get(pupil)
                .cloned()
                .unwrap_or_default();
            (pupil.to_owned(), attended, BTreeSet::new())
        }
        DayOf::Me => {
            let me = access.me().to_owned();
            let attended = roster
                .classes_as_pupil
                .get(&me)
                .cloned()
                .unwrap_or_default();
            let taught = roster
                .classes_as_teacher
                .get(&me)
                .cloned()
                .unwrap_or_default();
            (me, attended, taught)
        }
    };
    // One timetable per class, for the term that contains the date.
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for class_id in attended.iter().chain(taught.iter()) {
        if let Some(class) = roster.classes.get(class_id)
            && let Some(term) = term_on(&roster, &class.class, date)
        {
            wanted.insert(class_id.clone(), term.sourced_id.clone());
        }
    }
    let timetables = read_timetables(state, wanted).await?;
    let mut lessons = Vec::new();
    for ((class_id, term_id), timetable) in &timetables {
        let class_title = roster
            .classes
            .get(class_id)
            .map(|class| class.class.title.clone())
            .unwrap_or_else(|| class_id.clone());
        for lesson in timetable.lessons_on(date.weekday()) {
            let role = if attended.contains(class_id) {
                "pupil"
            } else if taught.contains(class_id) && lesson.teacher == user {
                "teacher"
            } else {
                continue;
            };
            lessons.push(DayLessonView {
                class: class_id.clone(),
                class_title: class_title.clone(),
                term: term_id.clone(),
                lesson_id: lesson.id.clone(),
                start: lesson.starts_at,
                end: lesson.ends_at,
                room: lesson.room.clone(),
                teacher: lesson.teacher.clone(),
                teacher_name: display_name(&roster, &lesson.teacher),
                subject: lesson.subject.clone(),
                role,
            });
        }
    }
    lessons.sort_by(|first, second| {
        (first.start, &first.class, &first.lesson_id).cmp(&(
            second.start,
            &second.class,
            &second.lesson_id,
        ))
    });
    Ok(DayView {
        date,
        weekday: date.weekday(),
        user,
        lessons,
    })
}

/// School staff, administrators and the class's own teachers set a class's timetable; the term
/// must be one of the class's terms.
fn require_timetable_writer(
    access: &Access<'_>,
    class_id: &str,
    term_id: &str,
) -> Result<(), ServiceError> {
    let class = access.class(class_id)?;
    class_term(&access.roster, class, term_id)?;
    access.require(Action::EditClassTimetable, Target::Class(class_id))
}

/// Checks a lesson as entered against the class: its teacher must teach the class. The model checks
/// the rest (times, lengths, texts, overlaps) when the lesson is stored.
fn lesson_input(class: &ClassDocument, lesson: LessonRequest) -> Result<LessonInput, ServiceError> {
    if !class.is_teacher(&lesson.teacher) {
        return Err(ServiceError::invalid(
            "teacher",
            format!(
                "{:?} is not a teacher of class {:?}",
                lesson.teacher, class.class.sourced_id
            ),
        ));
    }
    Ok(LessonInput {
        weekday: lesson.weekday,
        starts_at: lesson.start,
        ends_at: lesson.end,
        room: lesson.room,
        teacher: lesson.teacher,
        course_sourced_id: lesson
            .course
            .or_else(|| Some(class.class.course_sourced_id.clone())),
        subject: lesson.subject,
    })
}

/// The academic session `term_id`, when it is one of the class's terms.
pub fn class_term<'roster>(
    roster: &'roster RosterIndex,
    class: &ClassDocument,
    term_id: &str,
) -> Result<&'roster AcademicSession, ServiceError> {
    let listed = class
        .class
        .term_sourced_ids
        .iter()
        .any(|term| term == term_id);
    match roster.org.sessions.get(term_id) {
        Some(term) if listed => Ok(term),
        _ => Err(ServiceError::NotFound(format!(
            "term {term_id:?} is not a term of class {:?}",
            class.class.sourced_id
        ))),
    }
}

/// The class's term that contains `date`: the shortest of its sessions that does, so that a class
/// listed under both a school year and its terms is found in the term.
pub fn term_on<'roster>(
    roster: &'roster RosterIndex,
    class: &RosterClass,
    date: CalendarDate,
) -> Option<&'roster AcademicSession> {
    roster
        .org
        .terms_of(class)
        .into_iter()
        .filter(|term| term.contains(date))
        .min_by_key(|term| term.start_date.days_until(term.end_date))
}

/// The pupil exists in the roster as a pupil; otherwise 404.
pub fn require_known_pupil(roster: &RosterIndex, pupil: &str) -> Result<(), ServiceError> {
    match roster.users.user(pupil) {
        Some(user) if user.has_role(UserRole::Pupil) => Ok(()),
        _ => Err(ServiceError::NotFound(format!(
            "pupil {pupil:?} does not exist"
        ))),
    }
}

/// The name to show for a user; the id itself when the roster no longer knows them.
pub fn display_name(roster: &RosterIndex, user: &str) -> String {
    roster
        .users
        .user(user)
        .map(|found| found.display_name())
        .unwrap_or_else(|| user.to_owned())
}

/// The class's timetable in the term; empty when none was set.
async fn read_timetable(
    state: &AppState,
    class_id: &str,
    term_id: &str,
) -> Result<TimetableDocument, ServiceError> {
    let repository = state.repository.clone();
    let doc = timetable_doc(&state.identity.school, class_id, term_id);
    blocking(move || Ok(repository.read_or_default::<TimetableDocument>(&doc)?)).await
}

/// Reads the timetables of `wanted` (class → term) on the blocking pool; classes without a
/// timetable are left out.
pub async fn read_timetables(
    state: &AppState,
    wanted: BTreeMap<String, String>,
) -> Result<BTreeMap<(String, String), TimetableDocument>, ServiceError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || read_timetables_now(&repository, &school, wanted)).await
}

/// As [`read_timetables`], for code already on the blocking pool.
pub fn read_timetables_now(
    repository: &Repository,
    school: &SchoolCode,
    wanted: BTreeMap<String, String>,
) -> Result<BTreeMap<(String, String), TimetableDocument>, ServiceError> {
    let mut found = BTreeMap::new();
    for (class_id, term_id) in wanted {
        let doc = timetable_doc(school, &class_id, &term_id);
        if let Some(timetable) = repository.read::<TimetableDocument>(&doc)? {
            found.insert((class_id, term_id), timetable);
        }
    }
    Ok(found)
}

/// Changes the class's timetable in the term durably, binding a new document to its class and
/// term first; returns the timetable as stored.
async fn write_timetable(
    state: &AppState,
    class_id: &str,
    term_id: &str,
    change: impl FnOnce(&mut TimetableDocument) -> Result<(), ServiceError> + Send + 'static,
) -> Result<TimetableDocument, ServiceError> {
    let repository = state.repository.clone();
    let doc = timetable_doc(&state.identity.school, class_id, term_id);
    let class_id = class_id.to_owned();
    let term_id = term_id.to_owned();
    blocking(move || {
        Ok(
            repository.update(&doc, |timetable: &mut TimetableDocument| {
                timetable.open_for(&class_id, &term_id)?;
                change(timetable)?;
                Ok::<_, ServiceError>(timetable.clone())
            })?,
        )
    })
    .await
}

fn timetable_view(
    roster: &RosterIndex,
    class_id: &str,
    term_id: &str,
    timetable: &TimetableDocument,
) -> Result<TimetableView, ServiceError> {
    let class = roster
        .classes
        .get(class_id)
        .ok_or_else(|| ServiceError::NotFound(format!("class {class_id:?} does not exist")))?;
    let term = class_term(roster, class, term_id)?;
    let mut lessons: Vec<&Lesson> = timetable.lessons.values().collect();
    lessons.sort_by_key(|lesson| (lesson.weekday, lesson.starts_at, lesson.id.clone()));
    Ok(TimetableView {
        class: class_id.to_owned(),
        class_title: class.class.title.clone(),
        term: TermView {
            id: term.sourced_id.clone(),
            title: term.title.clone(),
            start_date: term.start_date,
            end_date: term.end_date,
        },
        lessons: lessons
            .into_iter()
            .map(|lesson| lesson_view(roster, lesson))
            .collect(),
    })
}

pub fn lesson_view(roster: &RosterIndex, lesson: &Lesson) -> LessonView {
    LessonView {
        id: lesson.id.clone(),
        weekday: lesson.weekday,
        start: lesson.starts_at,
        end: lesson.ends_at,
        minutes: lesson.minutes(),
        room: lesson.room.clone(),
        teacher: lesson.teacher.clone(),
        teacher_name: display_name(roster, &lesson.teacher),
        subject: lesson.subject.clone(),
        course: lesson.course_sourced_id.clone(),
    }
}
