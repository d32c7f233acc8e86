//! Timetables: the weekly lessons of a class in a term, and a user's lessons on one day.
//!
//! - Everyone who may read the class ([`Action::ReadClass`]) sees its timetable.
//! - School staff and administrators set timetables (in Finnish schools the office plans them for
//!   the whole school), and so may the class's own teachers, as the data model allows
//!   ([`Action::EditClassTimetable`]).
//! - A day view and a week view list the caller's own lessons, or a pupil's for whoever may read
//!   the pupil's records ([`Action::ReadPupilRecords`]).
//!
//! A class's timetable for a term is one document (`model::timetable`). The day view finds, for
//! each class of the person, the term that contains the date among the class's academic sessions,
//! and lists the lessons of that weekday. It reads one timetable document per class, so its cost is
//! bounded by the number of classes one person takes part in. The week view does the same day by
//! day, since a term may end or begin in the middle of a week: it reads one timetable per class and
//! term that overlaps the week (one, or two in the week a term changes), and adds the work due in
//! the week from [`crate::school::assignments::work_due_in_week`]. Dates are the school's local
//! calendar ([`crate::school::calendar`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sync_protocol::ids::SchoolCode;

use crate::auth::Caller;
use crate::model::UserId;
use crate::model::common::{CalendarDate, ClockTime, ItemId, NodeTime, Weekday};
use crate::model::roster::{AcademicSession, ClassDocument, RosterClass};
use crate::model::timetable::{
    Lesson, LessonInput, MAX_LESSONS_PER_TIMETABLE, TimetableDocument, timetable_doc,
};
use crate::repository::Repository;
pub use crate::school::access::require_known_pupil;
use crate::school::access::{Access, Target, roster_index};
use crate::school::assignments::{DueWorkView, work_due_in_week};
use crate::school::calendar::{SchoolWeek, school_date_at, school_today};
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

/// Whose lessons a day or week view shows.
#[derive(Debug, Clone, Copy)]
pub enum DayOf<'name> {
    /// The caller's own: the lessons of the classes they attend and the lessons they teach.
    Me,
    /// A pupil's, for whoever may read the pupil's records (guardians, their teachers, staff).
    Pupil(&'name str),
}

/// The person a day or week view is about and their classes.
struct Whom {
    user: UserId,
    /// The classes they attend: every lesson of these is theirs.
    attended: BTreeSet<String>,
    /// The classes they teach: the lessons they give in these are theirs.
    taught: BTreeSet<String>,
}

impl Whom {
    /// Who `whose` names, with their classes. A pupil must be one the caller may read the records
    /// of (403), and then one the roster knows (404): refusing first does not tell an outsider
    /// which pupils exist.
    fn resolve(access: &Access<'_>, whose: DayOf<'_>) -> Result<Self, ServiceError> {
        let roster = &access.roster;
        let classes_of = |user: &str, classes: &HashMap<UserId, BTreeSet<String>>| {
            classes.get(user).cloned().unwrap_or_default()
        };
        match whose {
            DayOf::Pupil(pupil) => {
                access.require_pupil_reader(pupil)?;
                require_known_pupil(roster, pupil)?;
                Ok(Self {
                    user: pupil.to_owned(),
                    attended: classes_of(pupil, &roster.classes_as_pupil),
                    taught: BTreeSet::new(),
                })
            }
            DayOf::Me => {
                let me = access.me();
                Ok(Self {
                    user: me.to_owned(),
                    attended: classes_of(me, &roster.classes_as_pupil),
                    taught: classes_of(me, &roster.classes_as_teacher),
                })
            }
        }
    }

    /// Every class of theirs once, attended or taught.
    fn classes(&self) -> BTreeSet<&String> {
        self.attended.union(&self.taught).collect()
    }

    /// Why `lesson` of `class_id` is in this person's timetable, or `None` when it is not: every
    /// lesson of a class they attend (`pupil`), and of a class they teach the lessons they give
    /// (`teacher`).
    fn role_at(&self, class_id: &str, lesson: &Lesson) -> Option<&'static str> {
        if self.attended.contains(class_id) {
            Some("pupil")
        } else if self.taught.contains(class_id) && lesson.teacher == self.user {
            Some("teacher")
        } else {
            None
        }
    }
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
    // Who may not read the pupil's records is refused before the pupil is looked up, as in the
    // week view: a guardian probing ids learns nothing about which pupils exist.
    let whom = Whom::resolve(&access, whose)?;
    // One timetable per class, for the term that contains the date.
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for class_id in whom.classes() {
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
            let Some(role) = whom.role_at(class_id, lesson) else {
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
        user: whom.user,
        lessons,
    })
}

/// One lesson of a week view, with what a printed timetable shows of it.
#[derive(Debug, Serialize)]
pub struct WeekLessonView {
    pub class: String,
    pub class_title: String,
    pub lesson_id: String,
    pub start: ClockTime,
    pub end: ClockTime,
    /// The lesson's own subject label, else the class's subjects as the roster lists them.
    pub subject: Option<String>,
    /// The lesson's room, else the class's location in the roster (where it is usually taught).
    pub room: Option<String>,
    pub teacher: UserId,
    pub teacher_name: String,
    /// `pupil` (the person attends the class) or `teacher` (they teach the lesson).
    pub role: &'static str,
}

/// One day of a week view.
#[derive(Debug, Serialize)]
pub struct WeekDayView {
    pub date: CalendarDate,
    pub weekday: Weekday,
    /// The day is today by the school's calendar.
    pub is_today: bool,
    /// In start order.
    pub lessons: Vec<WeekLessonView>,
    /// The work due on the day, soonest first.
    pub due: Vec<DueWorkView>,
}

/// One person's week: their lessons and the work due, day by day.
#[derive(Debug)]
pub struct WeekView {
    pub week: SchoolWeek,
    /// The weeks before and after, when they can be written (see [`SchoolWeek::previous`]).
    pub previous: Option<SchoolWeek>,
    pub next: Option<SchoolWeek>,
    /// Today by the school's calendar.
    pub today: CalendarDate,
    /// The user whose week this is, and their name.
    pub user: UserId,
    pub user_name: String,
    /// Monday to Friday, and Saturday and Sunday only when they have lessons or work due: Finnish
    /// schools teach on weekdays, and an empty weekend would only make the week longer to read.
    pub days: Vec<WeekDayView>,
}

impl WeekView {
    /// Whether any day of the week has a lesson.
    pub fn has_lessons(&self) -> bool {
        self.days.iter().any(|day| !day.lessons.is_empty())
    }
}

/// One person's lessons and work due in `week`: the caller's own, or a pupil's for whoever may
/// read the pupil's records. Each day's lessons come from the term that contains that day.
pub async fn week_timetable(
    state: &AppState,
    caller: &Caller,
    week: SchoolWeek,
    whose: DayOf<'_>,
) -> Result<WeekView, ServiceError> {
    let today = school_today()?;
    let access = Access::new(caller, roster_index(state).await?);
    let roster = access.roster.clone();
    let whom = Whom::resolve(&access, whose)?;
    let timetables = read_timetables(state, timetables_of_week(&roster, &whom, week)).await?;
    let due = work_due_in_week(
        state,
        &access,
        &whom.user,
        &whom.attended,
        &whom.taught,
        week,
    )
    .await?;
    let days = week_days(&roster, &whom, week, today, &timetables, due)?;
    Ok(WeekView {
        week,
        previous: week.previous(),
        next: week.next(),
        today,
        user_name: display_name(&roster, &whom.user),
        user: whom.user,
        days,
    })
}

/// The timetables a week of `whom` needs: for each of their classes, the term that contains each
/// day of the week. A term may end or begin in the middle of a week, so one class may need two.
fn timetables_of_week(
    roster: &RosterIndex,
    whom: &Whom,
    week: SchoolWeek,
) -> BTreeSet<(String, String)> {
    let mut wanted = BTreeSet::new();
    for date in week.days() {
        for class_id in whom.classes() {
            if let Some(class) = roster.classes.get(class_id)
                && let Some(term) = term_on(roster, &class.class, date)
            {
                wanted.insert((class_id.clone(), term.sourced_id.clone()));
            }
        }
    }
    wanted
}

/// Lays the week out day by day: each day's lessons from the timetable of the term that contains
/// that day, and the work `due` on it. Saturday and Sunday are left out when they have neither.
fn week_days(
    roster: &RosterIndex,
    whom: &Whom,
    week: SchoolWeek,
    today: CalendarDate,
    timetables: &BTreeMap<(String, String), TimetableDocument>,
    due: Vec<DueWorkView>,
) -> Result<Vec<WeekDayView>, ServiceError> {
    let mut due_by_date: BTreeMap<CalendarDate, Vec<DueWorkView>> = BTreeMap::new();
    for work in due {
        let date = school_date_at(NodeTime::from_unix_millis(work.due_at))?;
        due_by_date.entry(date).or_default().push(work);
    }
    let mut days = Vec::new();
    for date in week.days() {
        let mut lessons = Vec::new();
        for class_id in whom.classes() {
            let Some(class) = roster.classes.get(class_id).map(|class| &class.class) else {
                continue;
            };
            let Some(term) = term_on(roster, class, date) else {
                continue;
            };
            let Some(timetable) = timetables.get(&(class_id.clone(), term.sourced_id.clone()))
            else {
                continue;
            };
            let class_subjects = Some(class.subjects.join(", ")).filter(|text| !text.is_empty());
            for lesson in timetable.lessons_on(date.weekday()) {
                let Some(role) = whom.role_at(class_id, lesson) else {
                    continue;
                };
                lessons.push(WeekLessonView {
                    class: class_id.clone(),
                    class_title: class.title.clone(),
                    lesson_id: lesson.id.clone(),
                    start: lesson.starts_at,
                    end: lesson.ends_at,
                    subject: lesson.subject.clone().or_else(|| class_subjects.clone()),
                    room: lesson.room.clone().or_else(|| class.location.clone()),
                    teacher: lesson.teacher.clone(),
                    teacher_name: display_name(roster, &lesson.teacher),
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
        let due = due_by_date.remove(&date).unwrap_or_default();
        let weekend = matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
        if weekend && lessons.is_empty() && due.is_empty() {
            continue;
        }
        days.push(WeekDayView {
            date,
            weekday: date.weekday(),
            is_today: date == today,
            lessons,
            due,
        });
    }
    Ok(days)
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

/// Reads the timetables of `wanted` (class and term pairs, such as a map of class → term) on the
/// blocking pool; classes without a timetable are left out.
pub async fn read_timetables(
    state: &AppState,
    wanted: impl IntoIterator<Item = (String, String)> + Send + 'static,
) -> Result<BTreeMap<(String, String), TimetableDocument>, ServiceError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || read_timetables_now(&repository, &school, wanted)).await
}

/// As [`read_timetables`], for code already on the blocking pool.
pub fn read_timetables_now(
    repository: &Repository,
    school: &SchoolCode,
    wanted: impl IntoIterator<Item = (String, String)>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::roster::{ClassType, SessionType};

    fn date(text: &str) -> CalendarDate {
        text.parse().expect("test date")
    }

    fn term(id: &str, start: &str, end: &str) -> AcademicSession {
        AcademicSession {
            sourced_id: id.to_owned(),
            title: id.to_owned(),
            session_type: SessionType::Term,
            start_date: date(start),
            end_date: date(end),
            parent_sourced_id: None,
            school_year: "2026".to_owned(),
        }
    }

    /// A 45-minute lesson from `start` (`HH:00`).
    fn lesson(weekday: Weekday, start: &str, room: &str) -> LessonInput {
        let starts_at: ClockTime = start.parse().expect("start");
        let hour = u8::try_from(starts_at.minutes_since_midnight() / 60).expect("hour");
        LessonInput {
            weekday,
            starts_at,
            ends_at: ClockTime::from_hours_minutes(hour, 45).expect("end"),
            room: Some(room.to_owned()),
            teacher: "T01".to_owned(),
            course_sourced_id: None,
            subject: None,
        }
    }

    fn timetable(lessons: Vec<LessonInput>) -> TimetableDocument {
        let mut timetable = TimetableDocument::default();
        for (number, input) in lessons.into_iter().enumerate() {
            let id: ItemId = format!("{number:016x}").parse().expect("lesson id");
            timetable.add_lesson(&id, input).expect("lesson");
        }
        timetable
    }

    /// A class whose first term ends on Wednesday 2026-03-04 and whose second begins the next day,
    /// each with a Monday and a Thursday lesson of its own.
    fn a_class_changing_term_mid_week() -> (
        RosterIndex,
        BTreeMap<(String, String), TimetableDocument>,
        Whom,
    ) {
        let mut roster = RosterIndex::default();
        for session in [
            term("T1", "2026-01-07", "2026-03-04"),
            term("T2", "2026-03-05", "2026-05-30"),
        ] {
            roster
                .org
                .sessions
                .insert(session.sourced_id.clone(), session);
        }
        roster.classes.insert(
            "C".to_owned(),
            ClassDocument {
                class: RosterClass {
                    sourced_id: "C".to_owned(),
                    title: "7A matematiikka".to_owned(),
                    course_sourced_id: "MA7".to_owned(),
                    class_code: None,
                    class_type: ClassType::Scheduled,
                    grades: Vec::new(),
                    term_sourced_ids: vec!["T1".to_owned(), "T2".to_owned()],
                    subjects: vec!["Matematiikka".to_owned()],
                    location: Some("B204".to_owned()),
                },
                removed: false,
                enrollments: BTreeMap::new(),
            },
        );
        let timetables = BTreeMap::from([
            (
                ("C".to_owned(), "T1".to_owned()),
                timetable(vec![
                    lesson(Weekday::Monday, "08:00", "first term"),
                    lesson(Weekday::Thursday, "08:00", "first term"),
                ]),
            ),
            (
                ("C".to_owned(), "T2".to_owned()),
                timetable(vec![
                    lesson(Weekday::Monday, "09:00", "second term"),
                    lesson(Weekday::Thursday, "09:00", "second term"),
                ]),
            ),
        ]);
        let whom = Whom {
            user: "P01".to_owned(),
            attended: BTreeSet::from(["C".to_owned()]),
            taught: BTreeSet::new(),
        };
        (roster, timetables, whom)
    }

    fn rooms(day: &WeekDayView) -> Vec<&str> {
        day.lessons
            .iter()
            .map(|lesson| lesson.room.as_deref().unwrap_or(""))
            .collect()
    }

    #[test]
    fn each_day_of_a_week_goes_by_the_term_that_contains_it() {
        let (roster, timetables, whom) = a_class_changing_term_mid_week();
        let week = SchoolWeek::containing(date("2026-03-02"));
        assert_eq!(
            timetables_of_week(&roster, &whom, week),
            BTreeSet::from([
                ("C".to_owned(), "T1".to_owned()),
                ("C".to_owned(), "T2".to_owned()),
            ]),
            "both terms' timetables are read"
        );
        let days = week_days(
            &roster,
            &whom,
            week,
            date("2026-03-05"),
            &timetables,
            Vec::new(),
        )
        .expect("days");
        assert_eq!(days.len(), 5, "Monday to Friday, no empty weekend");
        assert_eq!(
            rooms(&days[0]),
            ["first term"],
            "Monday is in the first term"
        );
        assert_eq!(
            rooms(&days[3]),
            ["second term"],
            "Thursday is in the second"
        );
        assert!(days[3].is_today);
        assert_eq!(
            days.iter().filter(|day| day.is_today).count(),
            1,
            "one day is today"
        );
        // The lesson names no subject: the class's subjects stand in.
        assert_eq!(days[0].lessons[0].subject.as_deref(), Some("Matematiikka"));
    }

    #[test]
    fn a_weekend_day_is_shown_only_with_something_on_it() {
        let (roster, timetables, whom) = a_class_changing_term_mid_week();
        let week = SchoolWeek::containing(date("2026-03-09"));
        // Work due on Sunday 2026-03-15 at 12:00 in Helsinki (EET).
        let sunday_noon = 1_773_568_800_000;
        assert_eq!(
            school_date_at(NodeTime::from_unix_millis(sunday_noon)).expect("date"),
            date("2026-03-15")
        );
        let due = vec![DueWorkView {
            assignment_id: "a".to_owned(),
            title: "Essay".to_owned(),
            class: "C".to_owned(),
            class_title: "7A matematiikka".to_owned(),
            due_at: sunday_noon,
            status: None,
        }];
        let days =
            week_days(&roster, &whom, week, date("2026-01-01"), &timetables, due).expect("days");
        let shown: Vec<Weekday> = days.iter().map(|day| day.weekday).collect();
        assert_eq!(
            shown,
            [
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
                Weekday::Sunday,
            ]
        );
        assert_eq!(days[5].due.len(), 1);
        assert!(days.iter().all(|day| !day.is_today));
    }
}
