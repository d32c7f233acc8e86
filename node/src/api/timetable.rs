//! Timetables under `/api/v1/classes/{class}/timetable/{term}` and the day view
//! `/api/v1/timetable`: thin handlers over [`crate::school::timetable`], which says who may do what.

use std::str::FromStr;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiError;
use crate::auth::Caller;
use crate::model::UserId;
use crate::model::common::CalendarDate;
use crate::school::timetable::{self as operations, DayOf};
pub use crate::school::timetable::{
    DayLessonView, DayView, LessonRequest, LessonView, TermView, TimetableRequest, TimetableView,
};
use crate::state::AppState;

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

/// `GET /api/v1/timetable` parameters.
#[derive(Debug, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// `YYYY-MM-DD`; today by the node's clock (school local time) when left out.
    pub date: Option<String>,
    /// A pupil whose lessons to show instead of the caller's own (for guardians, teachers, staff).
    pub pupil: Option<UserId>,
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
    Ok(Json(
        operations::class_timetable(&state, &caller, &class_id, &term_id).await?,
    ))
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
    Ok(Json(
        operations::replace_timetable(&state, &caller, &class_id, &term_id, body.lessons).await?,
    ))
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
    let lesson = operations::add_lesson(&state, &caller, &class_id, &term_id, body).await?;
    Ok((StatusCode::CREATED, Json(lesson)))
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
    Ok(Json(
        operations::update_lesson(&state, &caller, &class_id, &term_id, &lesson_id, body).await?,
    ))
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
    operations::remove_lesson(&state, &caller, &class_id, &term_id, &lesson_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/timetable?date=YYYY-MM-DD&pupil=ID`: the lessons of one day. Without `pupil`, the
/// caller's own: the lessons of the classes they attend and the lessons they teach. With `pupil`,
/// that pupil's lessons, for whoever may read the pupil's records (guardians, their teachers,
/// staff).
#[utoipa::path(get, path = "/api/v1/timetable", tag = "timetable", params(DayQuery),
    responses((status = 200, body = DayView),
        (status = 400, description = "the date is not YYYY-MM-DD"),
        (status = 403, description = "may not read the pupil's records (also when no such pupil exists, unless the caller reads every pupil)"),
        (status = 404, description = "no such pupil, for staff and administrators")))]
pub async fn day_timetable(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DayQuery>,
) -> Result<Json<DayView>, ApiError> {
    let date = query
        .date
        .as_deref()
        .map(CalendarDate::from_str)
        .transpose()?;
    let whose = match query.pupil.as_deref() {
        Some(pupil) => DayOf::Pupil(pupil),
        None => DayOf::Me,
    };
    Ok(Json(
        operations::day_timetable(&state, &caller, date, whose).await?,
    ))
}
