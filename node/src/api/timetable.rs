//! Timetables: the weekly lessons of a class in a term, and a user's lessons on one day.
//!
//! A class's timetable for a term is one document (`model::timetable`). School staff and
//! administrators set timetables (in Finnish schools the office plans them for the whole school),
//! and so may the class's own teachers, as the data model allows. Everyone who may read the class
//! sees its timetable.
//!
//! The day view (`GET /api/v1/timetable`) finds, for each class of the caller (or of a pupil the
//! caller may follow), the term that contains the date among the class's academic sessions, and
//! lists the lessons of that weekday. It reads one timetable document per class, so its cost is
//! bounded by the number of classes one person takes part in.
//!
//! Dates are the school's local calendar (Europe/Helsinki), taken from node time: see
//! [`school_today`].

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::SchoolCode;

use super::{Access, ApiError, RosterIndex, blocking, node_now_millis, roster_index};
use crate::auth::Caller;
use crate::model::UserId;
use crate::model::common::{CalendarDate, ClockTime, ItemId, NodeTime, Weekday};
use crate::model::roster::{AcademicSession, ClassDocument, RosterClass};
use crate::model::timetable::{
    Lesson, LessonInput, MAX_LESSONS_PER_TIMETABLE, TimetableDocument, timetable_doc,
};
use crate::repository::Repository;
use crate::state::AppState;

/// Finland's offset from UTC in winter (EET), in hours.
const HELSINKI_WINTER_OFFSET_HOURS: i8 = 2;
/// Finland's offset from UTC in summer (EEST), in hours.
const HELSINKI_SUMMER_OFFSET_HOURS: i8 = 3;
/// EU summer time begins and ends at this hour (UTC) on the last Sunday of March and of October.
const SUMMER_TIME_SWITCH_HOUR_UTC: u8 = 1;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/classes/{class}/timetable/{term}",
            get(class_timetable).put(replace_timetable),
        )
        .route(
            "/api/v1/classes/{class}/timetable/{term}/lessons",
            axum::routing::post(add_lesson),
        )
        .route(
            "/api/v1/classes/{class}/timetable/{term}/lessons/{lesson}",
            put(update_lesson).delete(remove_lesson),
        )
        .route("/api/v1/timetable", get(day_timetable))
}

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

/// `GET /api/v1/timetable` parameters.
#[derive(Debug, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// `YYYY-MM-DD`; today by the node's clock (school local time) when left out.
    pub date: Option<String>,
    /// A pupil whose lessons to show instead of the caller's own (for guardians, teachers, staff).
    pub pupil: Option<UserId>,
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

/// `GET /api/v1/classes/{class}/timetable/{term}`: the class's lessons in the term, for everyone
/// who may read the class.
#[utoipa::path(get, path = "/api/v1/classes/{class}/timetable/{term}", tag = "timetable",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"),
        ("term" = String, Path, description = "the term's OneRoster sourcedId")),
    responses((status = 200, body = TimetableView),
        (status = 403, description = "not a member, guardian of one, or staff"),
        (status = 404, description = "no such class, or the term is not one of the class's")))]
pub async fn class_timetable(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class_id, term_id)): UrlPath<(String, String)>,
) -> Result<Json<TimetableView>, ApiError> {
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster.clone());
    access.require_class_reader(&class_id)?;
    class_term(&roster, access.class(&class_id)?, &term_id)?;
    let timetable = read_timetable(&state, &class_id, &term_id).await?;
    Ok(Json(timetable_view(
        &roster, &class_id, &term_id, &timetable,
    )?))
}

/// `PUT /api/v1/classes/{class}/timetable/{term}`: replaces the class's lessons in the term.
/// Entries that name an existing lesson's id keep it; lessons left out are removed.
#[utoipa::path(put, path = "/api/v1/classes/{class}/timetable/{term}", tag = "timetable",
    request_body = TimetableRequest,
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"),
        ("term" = String, Path, description = "the term's OneRoster sourcedId")),
    responses((status = 200, body = TimetableView),
        (status = 400, description = "a lesson is invalid or its teacher does not teach the class"),
        (status = 403, description = "not staff, an administrator or a teacher of the class"),
        (status = 404, description = "no such class, or the term is not one of the class's"),
        (status = 409, description = "two lessons overlap")))]
pub async fn replace_timetable(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class_id, term_id)): UrlPath<(String, String)>,
    Json(body): Json<TimetableRequest>,
) -> Result<Json<TimetableView>, ApiError> {
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster.clone());
    require_timetable_writer(&access, &class_id, &term_id)?;
    if body.lessons.len() > MAX_LESSONS_PER_TIMETABLE {
        return Err(ApiError::BadRequest(format!(
            "a timetable holds at most {MAX_LESSONS_PER_TIMETABLE} lessons, the request has {}",
            body.lessons.len()
        )));
    }
    let class = access.class(&class_id)?;
    let mut prepared = Vec::with_capacity(body.lessons.len());
    let mut seen_ids = BTreeSet::new();
    for lesson in body.lessons {
        let id = match lesson.id.as_deref() {
            Some(text) => ItemId::from_str(text)?,
            None => ItemId::generate(),
        };
        if !seen_ids.insert(id.clone()) {
            return Err(ApiError::BadRequest(format!(
                "lesson {id} appears twice in the timetable"
            )));
        }
        prepared.push((id, lesson_input(class, lesson)?));
    }
    let timetable = write_timetable(&state, &class_id, &term_id, move |timetable| {
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
    Ok(Json(timetable_view(
        &roster, &class_id, &term_id, &timetable,
    )?))
}

/// `POST /api/v1/classes/{class}/timetable/{term}/lessons`: adds one lesson.
#[utoipa::path(post, path = "/api/v1/classes/{class}/timetable/{term}/lessons", tag = "timetable",
    request_body = LessonRequest,
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"),
        ("term" = String, Path, description = "the term's OneRoster sourcedId")),
    responses((status = 201, body = LessonView),
        (status = 400, description = "the lesson is invalid or its teacher does not teach the class"),
        (status = 403, description = "not staff, an administrator or a teacher of the class"),
        (status = 404, description = "no such class, or the term is not one of the class's"),
        (status = 409, description = "the lesson overlaps another, or the timetable is full")))]
pub async fn add_lesson(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class_id, term_id)): UrlPath<(String, String)>,
    Json(body): Json<LessonRequest>,
) -> Result<(StatusCode, Json<LessonView>), ApiError> {
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster.clone());
    require_timetable_writer(&access, &class_id, &term_id)?;
    let id = match body.id.as_deref() {
        Some(text) => ItemId::from_str(text)?,
        None => ItemId::generate(),
    };
    let input = lesson_input(access.class(&class_id)?, body)?;
    let lesson_id = id.to_string();
    let timetable = write_timetable(&state, &class_id, &term_id, move |timetable| {
        timetable.add_lesson(&id, input)?;
        Ok(())
    })
    .await?;
    let lesson = timetable
        .lesson(&lesson_id)
        .ok_or_else(|| ApiError::Internal(format!("lesson {lesson_id} vanished after adding")))?;
    Ok((StatusCode::CREATED, Json(lesson_view(&roster, lesson))))
}

/// `PUT /api/v1/classes/{class}/timetable/{term}/lessons/{lesson}`: changes one lesson, keeping
/// its id (and so its attendance marks).
#[utoipa::path(put, path = "/api/v1/classes/{class}/timetable/{term}/lessons/{lesson}", tag = "timetable",
    request_body = LessonRequest,
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"),
        ("term" = String, Path, description = "the term's OneRoster sourcedId"),
        ("lesson" = String, Path, description = "the lesson's id")),
    responses((status = 200, body = LessonView),
        (status = 400, description = "the lesson is invalid or its teacher does not teach the class"),
        (status = 403, description = "not staff, an administrator or a teacher of the class"),
        (status = 404, description = "no such class, term or lesson"),
        (status = 409, description = "the lesson overlaps another")))]
pub async fn update_lesson(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class_id, term_id, lesson_id)): UrlPath<(String, String, String)>,
    Json(body): Json<LessonRequest>,
) -> Result<Json<LessonView>, ApiError> {
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster.clone());
    require_timetable_writer(&access, &class_id, &term_id)?;
    let input = lesson_input(access.class(&class_id)?, body)?;
    let changed_id = lesson_id.clone();
    let timetable = write_timetable(&state, &class_id, &term_id, move |timetable| {
        timetable.update_lesson(&changed_id, input)?;
        Ok(())
    })
    .await?;
    let lesson = timetable
        .lesson(&lesson_id)
        .ok_or_else(|| ApiError::Internal(format!("lesson {lesson_id} vanished after updating")))?;
    Ok(Json(lesson_view(&roster, lesson)))
}

/// `DELETE /api/v1/classes/{class}/timetable/{term}/lessons/{lesson}`: removes one lesson. Marks
/// already made for it stay in the attendance record.
#[utoipa::path(delete, path = "/api/v1/classes/{class}/timetable/{term}/lessons/{lesson}", tag = "timetable",
    params(("class" = String, Path, description = "the class's OneRoster sourcedId"),
        ("term" = String, Path, description = "the term's OneRoster sourcedId"),
        ("lesson" = String, Path, description = "the lesson's id")),
    responses((status = 204, description = "removed"),
        (status = 403, description = "not staff, an administrator or a teacher of the class"),
        (status = 404, description = "no such class, term or lesson")))]
pub async fn remove_lesson(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((class_id, term_id, lesson_id)): UrlPath<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    require_timetable_writer(&access, &class_id, &term_id)?;
    write_timetable(&state, &class_id, &term_id, move |timetable| {
        timetable.remove_lesson(&lesson_id)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/timetable?date=YYYY-MM-DD&pupil=ID`: the lessons of one day. Without `pupil`, the
/// caller's own: the lessons of the classes they attend and the lessons they teach. With `pupil`,
/// that pupil's lessons, for whoever may read the pupil's records (guardians, their teachers,
/// staff).
#[utoipa::path(get, path = "/api/v1/timetable", tag = "timetable", params(DayQuery),
    responses((status = 200, body = DayView),
        (status = 400, description = "the date is not YYYY-MM-DD"),
        (status = 403, description = "may not read the pupil's records"),
        (status = 404, description = "no such pupil")))]
pub async fn day_timetable(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DayQuery>,
) -> Result<Json<DayView>, ApiError> {
    let date = match query.date.as_deref() {
        Some(text) => CalendarDate::from_str(text)?,
        None => school_today()?,
    };
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster.clone());
    let (user, attended, taught) = match query.pupil {
        Some(pupil) => {
            require_known_pupil(&roster, &pupil)?;
            access.require_pupil_reader(&pupil)?;
            let attended = roster
                .classes_as_pupil
                .get(&pupil)
                .cloned()
                .unwrap_or_default();
            (pupil, attended, BTreeSet::new())
        }
        None => {
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
    let timetables = read_timetables(&state, wanted).await?;
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
    Ok(Json(DayView {
        date,
        weekday: date.weekday(),
        user,
        lessons,
    }))
}

/// School staff, administrators and the class's own teachers set a class's timetable; the term
/// must be one of the class's terms.
fn require_timetable_writer(
    access: &Access<'_>,
    class_id: &str,
    term_id: &str,
) -> Result<(), ApiError> {
    let class = access.class(class_id)?;
    class_term(&access.roster, class, term_id)?;
    Ok(access.require(
        crate::school::policy::Action::EditClassTimetable,
        crate::school::Target::Class(class_id),
    )?)
}

/// Checks a lesson as entered against the class: its teacher must teach the class. The model checks
/// the rest (times, lengths, texts, overlaps) when the lesson is stored.
fn lesson_input(class: &ClassDocument, lesson: LessonRequest) -> Result<LessonInput, ApiError> {
    if !class.is_teacher(&lesson.teacher) {
        return Err(ApiError::BadRequest(format!(
            "{:?} is not a teacher of class {:?}",
            lesson.teacher, class.class.sourced_id
        )));
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
pub(crate) fn class_term<'roster>(
    roster: &'roster RosterIndex,
    class: &ClassDocument,
    term_id: &str,
) -> Result<&'roster AcademicSession, ApiError> {
    let listed = class
        .class
        .term_sourced_ids
        .iter()
        .any(|term| term == term_id);
    match roster.org.sessions.get(term_id) {
        Some(term) if listed => Ok(term),
        _ => Err(ApiError::NotFound(format!(
            "term {term_id:?} is not a term of class {:?}",
            class.class.sourced_id
        ))),
    }
}

/// The class's term that contains `date`: the shortest of its sessions that does, so that a class
/// listed under both a school year and its terms is found in the term.
pub(crate) fn term_on<'roster>(
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
pub(crate) fn require_known_pupil(roster: &RosterIndex, pupil: &str) -> Result<(), ApiError> {
    match roster.users.user(pupil) {
        Some(user) if user.has_role(crate::model::UserRole::Pupil) => Ok(()),
        _ => Err(ApiError::NotFound(format!(
            "pupil {pupil:?} does not exist"
        ))),
    }
}

/// The name to show for a user; the id itself when the roster no longer knows them.
pub(crate) fn display_name(roster: &RosterIndex, user: &str) -> String {
    roster
        .users
        .user(user)
        .map(|found| found.display_name())
        .unwrap_or_else(|| user.to_owned())
}

/// Today in the school's local calendar (Europe/Helsinki), by node time.
pub(crate) fn school_today() -> Result<CalendarDate, ApiError> {
    school_date_at(NodeTime::from_unix_millis(node_now_millis()))
}

/// The school's local date at `moment`. Finnish schools keep Finnish time: EET, and EEST from the
/// last Sunday of March to the last Sunday of October (EU rules, switching at 01:00 UTC). Computed
/// here rather than from a time-zone database, which a node on an offline school LAN may lack or
/// have outdated.
pub(crate) fn school_date_at(moment: NodeTime) -> Result<CalendarDate, ApiError> {
    Ok(CalendarDate::new(school_local_time_at(moment)?.date()))
}

/// The school's local date and time at `moment` (Europe/Helsinki, see [`school_date_at`]); the web
/// UI shows times in it.
pub(crate) fn school_local_time_at(moment: NodeTime) -> Result<time::OffsetDateTime, ApiError> {
    let out_of_range = |what: &str| ApiError::Internal(format!("node time {moment} {what}"));
    let utc = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(moment.unix_millis()) * 1_000_000,
    )
    .map_err(|_| out_of_range("is out of range"))?;
    let summer_begins = summer_time_switch(utc.year(), time::Month::March)
        .ok_or_else(|| out_of_range("has no summer time start"))?;
    let summer_ends = summer_time_switch(utc.year(), time::Month::October)
        .ok_or_else(|| out_of_range("has no summer time end"))?;
    let hours = if summer_begins <= utc && utc < summer_ends {
        HELSINKI_SUMMER_OFFSET_HOURS
    } else {
        HELSINKI_WINTER_OFFSET_HOURS
    };
    let offset =
        time::UtcOffset::from_hms(hours, 0, 0).map_err(|_| out_of_range("has no valid offset"))?;
    utc.checked_to_offset(offset)
        .ok_or_else(|| out_of_range("is out of range in local time"))
}

/// 01:00 UTC on the last Sunday of `month` (March or October, which both have 31 days).
fn summer_time_switch(year: i32, month: time::Month) -> Option<time::OffsetDateTime> {
    let last_day = time::Date::from_calendar_date(year, month, 31).ok()?;
    let back_to_sunday =
        time::Duration::days(i64::from(last_day.weekday().number_days_from_sunday()));
    let sunday = last_day.checked_sub(back_to_sunday)?;
    Some(
        sunday
            .with_hms(SUMMER_TIME_SWITCH_HOUR_UTC, 0, 0)
            .ok()?
            .assume_utc(),
    )
}

/// The class's timetable in the term; empty when none was set.
async fn read_timetable(
    state: &AppState,
    class_id: &str,
    term_id: &str,
) -> Result<TimetableDocument, ApiError> {
    let repository = state.repository.clone();
    let doc = timetable_doc(&state.identity.school, class_id, term_id);
    blocking(move || Ok(repository.read_or_default::<TimetableDocument>(&doc)?)).await
}

/// Reads the timetables of `wanted` (class → term) on the blocking pool; classes without a
/// timetable are left out.
pub(crate) async fn read_timetables(
    state: &AppState,
    wanted: BTreeMap<String, String>,
) -> Result<BTreeMap<(String, String), TimetableDocument>, ApiError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || read_timetables_now(&repository, &school, wanted)).await
}

/// As [`read_timetables`], for code already on the blocking pool.
pub(crate) fn read_timetables_now(
    repository: &Repository,
    school: &SchoolCode,
    wanted: BTreeMap<String, String>,
) -> Result<BTreeMap<(String, String), TimetableDocument>, ApiError> {
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
    change: impl FnOnce(&mut TimetableDocument) -> Result<(), ApiError> + Send + 'static,
) -> Result<TimetableDocument, ApiError> {
    let repository = state.repository.clone();
    let doc = timetable_doc(&state.identity.school, class_id, term_id);
    let class_id = class_id.to_owned();
    let term_id = term_id.to_owned();
    blocking(move || {
        Ok(
            repository.update(&doc, |timetable: &mut TimetableDocument| {
                timetable.open_for(&class_id, &term_id)?;
                change(timetable)?;
                Ok::<_, ApiError>(timetable.clone())
            })?,
        )
    })
    .await
}

fn timetable_view(
    roster: &Arc<RosterIndex>,
    class_id: &str,
    term_id: &str,
    timetable: &TimetableDocument,
) -> Result<TimetableView, ApiError> {
    let class = roster
        .classes
        .get(class_id)
        .ok_or_else(|| ApiError::NotFound(format!("class {class_id:?} does not exist")))?;
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

pub(crate) fn lesson_view(roster: &RosterIndex, lesson: &Lesson) -> LessonView {
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

    fn date_at(iso_utc: &str) -> String {
        let moment =
            time::OffsetDateTime::parse(iso_utc, &time::format_description::well_known::Rfc3339)
                .expect("test time");
        let millis = i64::try_from(moment.unix_timestamp_nanos() / 1_000_000).expect("millis");
        school_date_at(NodeTime::from_unix_millis(millis))
            .expect("in range")
            .to_string()
    }

    #[test]
    fn the_school_date_follows_finnish_time_with_summer_time() {
        // Winter: UTC+2, so 22:30 UTC is already the next day in Helsinki.
        assert_eq!(date_at("2026-01-14T21:59:00Z"), "2026-01-14");
        assert_eq!(date_at("2026-01-14T22:30:00Z"), "2026-01-15");
        // Summer: UTC+3.
        assert_eq!(date_at("2026-06-10T20:59:00Z"), "2026-06-10");
        assert_eq!(date_at("2026-06-10T21:00:00Z"), "2026-06-11");
        // Summer time began on Sunday 2026-03-29 at 01:00 UTC and ends on Sunday 2026-10-25.
        assert_eq!(date_at("2026-03-28T21:30:00Z"), "2026-03-28");
        assert_eq!(date_at("2026-03-29T21:30:00Z"), "2026-03-30");
        assert_eq!(date_at("2026-10-25T21:30:00Z"), "2026-10-25");
        assert_eq!(date_at("2026-10-24T21:30:00Z"), "2026-10-25");
    }
}
