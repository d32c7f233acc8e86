//! `GET /timetable?week=YYYY-Www&pupil=ID`: one person's school week, Monday to Friday (and a
//! weekend day when it has something), each lesson with its time, class, subject, room and teacher,
//! and the work due on each day. Pupils and teachers see their own week, a guardian one child at a
//! time; today is marked in words and with `aria-current="date"`. The address names the week, so a
//! week can be bookmarked and printed (the stylesheet's print rules leave out the navigation).
//!
//! Everything on the page comes from [`crate::school::timetable::week_timetable`], which decides
//! whose week the viewer may see.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use fluent_bundle::FluentValue;
use maud::{Markup, html};

use super::i18n::Translator;
use super::layout::{Frame, page, page_with_status};
use super::pupil_choice::{Shown, child_links, children_of, choose};
use super::{Viewer, WebError};
use crate::model::UserRole;
use crate::model::common::{ClockTime, NodeTime, Weekday};
use crate::school::assignments::{DueWorkView, SubmissionStatusView};
use crate::school::calendar::{SchoolWeek, school_local_time_at};
use crate::school::timetable::{DayOf, WeekDayView, WeekView, week_timetable};
use crate::school::{ServiceError, roster_index};
use crate::state::AppState;
use crate::url_path::path_segment;

/// The page's query, as sent: both are checked by the page, not by the extractor, so that a bad
/// week gets the page that explains the form of a week.
#[derive(Debug, Default, serde::Deserialize)]
pub struct WeekQuery {
    week: Option<String>,
    pupil: Option<String>,
}

/// The address of a week's timetable, for `pupil` or the viewer's own.
pub fn week_path(week: Option<SchoolWeek>, pupil: Option<&str>) -> String {
    let mut query = Vec::new();
    if let Some(week) = week {
        query.push(format!("week={week}"));
    }
    if let Some(pupil) = pupil {
        query.push(format!("pupil={}", path_segment(pupil)));
    }
    if query.is_empty() {
        "/timetable".to_owned()
    } else {
        format!("/timetable?{}", query.join("&"))
    }
}

/// `GET /timetable`.
pub async fn week_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<WeekQuery>,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let roster = roster_index(&state).await?;
    let own_applies = viewer.caller.has_role(UserRole::Pupil)
        || viewer.caller.has_role(UserRole::Teacher)
        || children_of(&roster, &viewer).is_empty();
    let shown = choose(&roster, &viewer, query.pupil.as_deref(), own_applies);
    let pupil = match &shown {
        Shown::Pupil(pupil) => Some(pupil.as_str()),
        Shown::Me | Shown::Nobody => None,
    };
    let named_pupil = query.pupil.as_deref().filter(|pupil| !pupil.is_empty());
    let week = match query.week.as_deref() {
        None | Some("") => SchoolWeek::current()?,
        Some(text) => match text.parse::<SchoolWeek>() {
            Ok(week) => week,
            Err(ServiceError::Invalid { .. }) => {
                return Ok(bad_week_page(&state, &viewer, named_pupil));
            }
            Err(other) => return Err(other.into()),
        },
    };
    let whose = match pupil {
        Some(pupil) => DayOf::Pupil(pupil),
        None => DayOf::Me,
    };
    let view = week_timetable(&state, &viewer.caller, week, whose).await?;
    let children = children_of(&roster, &viewer);
    let title = if pupil.is_some() {
        t.text_with(
            "week-title-of",
            &[
                ("name", FluentValue::from(view.user_name.as_str())),
                ("number", FluentValue::from(week.number())),
            ],
        )
    } else {
        t.text_with(
            "week-title",
            &[("number", FluentValue::from(week.number()))],
        )
    };
    let content = html! {
        (child_links(&t, &children, &shown, |child| week_path(Some(week), Some(child))))
        p class="lead" { (week_dates(&t, week)) }
        (week_links(&t, &view, pupil))
        @if !view.has_lessons() {
            p class="empty-state" { (t.text("week-no-lessons")) }
        }
        @for day in &view.days {
            (day_section(&t, day))
        }
    };
    let frame = Frame::new(&state, &viewer, &week_path(Some(week), pupil));
    Ok(page(&frame, &title, content))
}

/// The week's first and last day, `8.9.2025–14.9.2025`.
fn week_dates(t: &Translator, week: SchoolWeek) -> String {
    let days = week.days();
    match days.last() {
        Some(sunday) => format!("{}–{}", t.date(week.monday()), t.date(*sunday)),
        None => t.date(week.monday()),
    }
}

/// The previous and next weeks, and this week when another is shown.
fn week_links(t: &Translator, view: &WeekView, pupil: Option<&str>) -> Markup {
    let this_week = SchoolWeek::containing(view.today);
    html! {
        nav class="week-links" aria-label=(t.text("week-links-label")) {
            ul class="inline-list" {
                @if let Some(previous) = view.previous {
                    li {
                        a href=(week_path(Some(previous), pupil)) rel="prev" {
                            (t.text_with("week-previous", &[("number", FluentValue::from(previous.number()))]))
                        }
                    }
                }
                @if view.week != this_week {
                    li { a href=(week_path(Some(this_week), pupil)) { (t.text("week-this")) } }
                }
                @if let Some(next) = view.next {
                    li {
                        a href=(week_path(Some(next), pupil)) rel="next" {
                            (t.text_with("week-next", &[("number", FluentValue::from(next.number()))]))
                        }
                    }
                }
            }
        }
    }
}

fn weekday_name(t: &Translator, weekday: Weekday) -> String {
    match weekday {
        Weekday::Monday => t.text("weekday-monday"),
        Weekday::Tuesday => t.text("weekday-tuesday"),
        Weekday::Wednesday => t.text("weekday-wednesday"),
        Weekday::Thursday => t.text("weekday-thursday"),
        Weekday::Friday => t.text("weekday-friday"),
        Weekday::Saturday => t.text("weekday-saturday"),
        Weekday::Sunday => t.text("weekday-sunday"),
    }
}

fn clock(t: &Translator, time: ClockTime) -> String {
    let minutes = time.minutes_since_midnight();
    t.clock((minutes / 60) as u8, (minutes % 60) as u8)
}

/// A due time as a clock time on its day, the school's local time.
fn due_clock(t: &Translator, unix_millis: i64) -> String {
    match school_local_time_at(NodeTime::from_unix_millis(unix_millis)) {
        Ok(local) => t.clock(local.hour(), local.minute()),
        Err(_) => String::new(),
    }
}

/// One day: its heading (today marked in words and for assistive technology), its lessons and the
/// work due.
fn day_section(t: &Translator, day: &WeekDayView) -> Markup {
    let heading_id = format!("day-{}", day.date);
    let name = format!("{} {}", weekday_name(t, day.weekday), t.date(day.date));
    let class = if day.is_today { "day day-today" } else { "day" };
    html! {
        section class=(class) aria-labelledby=(heading_id) {
            h2 id=(heading_id) aria-current=[day.is_today.then_some("date")] {
                (name)
                @if day.is_today {
                    " " span class="today-marker" { (t.text("week-today")) }
                }
            }
            @if day.lessons.is_empty() {
                p class="meta" { (t.text("week-day-no-lessons")) }
            } @else {
                table class="timetable" {
                    caption class="visually-hidden" { (t.text_with("week-lessons-of-day", &[("date", FluentValue::from(name.as_str()))])) }
                    thead {
                        tr {
                            th scope="col" { (t.text("lesson-time")) }
                            th scope="col" { (t.text("week-column-class")) }
                            th scope="col" { (t.text("week-column-subject")) }
                            th scope="col" { (t.text("lesson-room")) }
                            th scope="col" { (t.text("lesson-teacher")) }
                        }
                    }
                    tbody {
                        @for lesson in &day.lessons {
                            tr {
                                td { (clock(t, lesson.start)) "–" (clock(t, lesson.end)) }
                                td { (lesson.class_title) }
                                td { (lesson.subject.as_deref().unwrap_or("")) }
                                td { (lesson.room.as_deref().unwrap_or("")) }
                                td { (lesson.teacher_name) }
                            }
                        }
                    }
                }
            }
            @if !day.due.is_empty() {
                h3 { (t.text("week-due-heading")) }
                ul class="due-list" {
                    @for work in &day.due {
                        (due_item(t, work))
                    }
                }
            }
        }
    }
}

fn due_item(t: &Translator, work: &DueWorkView) -> Markup {
    let status = work.status.map(|status| match status {
        SubmissionStatusView::Draft => t.text("status-not-submitted"),
        SubmissionStatusView::Submitted => t.text("status-submitted"),
        SubmissionStatusView::Returned => t.text("status-returned"),
    });
    html! {
        li {
            a href=(format!("/assignments/{}", path_segment(&work.assignment_id))) { (work.title) }
            " "
            span class="meta" {
                (t.text_with("week-due-at", &[
                    ("class", FluentValue::from(work.class_title.as_str())),
                    ("time", FluentValue::from(due_clock(t, work.due_at))),
                ]))
                @if let Some(status) = status {
                    ", " (status)
                }
            }
        }
    }
}

/// 400 with the form a week is written in and a way back to this week: what someone who typed or
/// edited the address needs to know.
fn bad_week_page(state: &AppState, viewer: &Viewer, pupil: Option<&str>) -> Response {
    let t = viewer.t;
    let frame = Frame::new(state, viewer, &week_path(None, pupil));
    page_with_status(
        &frame,
        StatusCode::BAD_REQUEST,
        &t.text("week-invalid-title"),
        html! {
            p { (t.text("week-invalid")) }
            p { a href=(week_path(None, pupil)) { (t.text("week-invalid-back")) } }
        },
    )
}
