//! A pupil's work across their classes, in two pages:
//!
//! - `GET /assignments` ("my work"): every assignment of the pupil's classes, grouped as late, to
//!   do, waiting for the teacher and returned with feedback, each with its class and due time. A
//!   guardian sees one child at a time (`?pupil=ID`).
//! - `GET /pupils/{pupil}/grades`: the grades and feedback the pupil has had, class by class, with
//!   the whole feedback: for the pupil, their guardians, and their teachers in the classes they
//!   teach.
//!
//! Both are built on [`crate::school::assignments::work_of`], which decides class by class what the
//! viewer may see.

use axum::extract::{Path as UrlPath, Query, State};
use axum::response::Response;
use fluent_bundle::FluentValue;
use maud::{Markup, html};

use super::i18n::Translator;
use super::layout::{Frame, page};
use super::pupil_choice::{Shown, child_links, children_of, choose};
use super::{Viewer, WebError};
use crate::model::UserRole;
use crate::school::assignments::{PupilWorkOverview, WorkItemView, WorkState, work_of};
use crate::school::policy::Action;
use crate::school::{Access, Target, roster_index};
use crate::state::AppState;
use crate::url_path::path_segment;

/// The most characters of a teacher's feedback the work page shows for each returned assignment;
/// the grades page shows it whole. Feedback may be pages long, and the work page lists a whole
/// term's assignments.
const FEEDBACK_EXCERPT_CHARS: usize = 280;

#[derive(Debug, Default, serde::Deserialize)]
pub struct WorkQuery {
    pupil: Option<String>,
}

/// The address of a pupil's work page, or the viewer's own.
pub fn work_path(pupil: Option<&str>) -> String {
    match pupil {
        Some(pupil) => format!("/assignments?pupil={}", path_segment(pupil)),
        None => "/assignments".to_owned(),
    }
}

/// The address of a pupil's grades and feedback.
pub fn grades_path(pupil: &str) -> String {
    format!("/pupils/{}/grades", path_segment(pupil))
}

// ---------------------------------------------------------------------------------------------
// My work.
// ---------------------------------------------------------------------------------------------

/// `GET /assignments`.
pub async fn work_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<WorkQuery>,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let roster = roster_index(&state).await?;
    let is_pupil = viewer.caller.has_role(UserRole::Pupil);
    let shown = choose(&roster, &viewer, query.pupil.as_deref(), is_pupil);
    let (pupil, own) = match &shown {
        Shown::Pupil(pupil) => (pupil.clone(), false),
        Shown::Me => (viewer.caller.user_id.clone(), true),
        Shown::Nobody => return Ok(nobody_page(&state, &viewer)),
    };
    let overview = work_of(&state, &viewer.caller, &pupil).await?;
    let children = children_of(&roster, &viewer);
    let title = if own {
        t.text("work-title")
    } else {
        t.text_with(
            "work-title-of",
            &[("name", FluentValue::from(overview.pupil_name.as_str()))],
        )
    };
    let in_state = |state: WorkState| -> Vec<&WorkItemView> {
        overview
            .items
            .iter()
            .filter(|item| item.state == state)
            .collect()
    };
    let late = in_state(WorkState::Late);
    let to_do = in_state(WorkState::ToDo);
    // Newest first: what was handed in or returned last is what the pupil looks for.
    let mut submitted = in_state(WorkState::Submitted);
    submitted.sort_by_key(|item| std::cmp::Reverse(item.submitted_at));
    let mut returned = in_state(WorkState::Returned);
    returned.sort_by_key(|item| {
        std::cmp::Reverse(item.feedback.as_ref().map(|feedback| feedback.returned_at))
    });
    let content = html! {
        (child_links(&t, &children, &shown, |child| work_path(Some(child))))
        (overview_notes(&t, &overview))
        p { a href=(grades_path(&overview.pupil)) { (t.text("work-grades-link")) } }
        (work_section(&t, "late", t.text("work-late-heading"), t.text("work-late-none"), &late))
        (work_section(&t, "to-do", t.text("work-to-do-heading"), t.text("work-to-do-none"), &to_do))
        (work_section(&t, "submitted", t.text("work-submitted-heading"), t.text("work-submitted-none"), &submitted))
        (work_section(&t, "returned", t.text("work-returned-heading"), t.text("work-returned-none"), &returned))
    };
    let frame = Frame::new(
        &state,
        &viewer,
        &work_path((!own).then_some(overview.pupil.as_str())),
    );
    Ok(page(&frame, &title, content))
}

/// What the overview leaves out: classes the viewer may not see the work of, and older work.
fn overview_notes(t: &Translator, overview: &PupilWorkOverview) -> Markup {
    html! {
        @if overview.classes_not_shown > 0 {
            p class="meta" { (t.text("work-partial")) }
        }
        @if !overview.classes_with_older_work.is_empty() {
            p class="meta" {
                (t.text_with("work-older", &[
                    ("count", FluentValue::from(crate::school::assignments::WORK_ASSIGNMENTS_PER_CLASS)),
                    ("names", FluentValue::from(overview.classes_with_older_work.join(", "))),
                ]))
            }
        }
    }
}

fn work_section(
    t: &Translator,
    id: &str,
    heading: String,
    none: String,
    items: &[&WorkItemView],
) -> Markup {
    let heading_id = format!("{id}-heading");
    html! {
        section aria-labelledby=(heading_id) {
            h2 id=(heading_id) { (heading) " " span class="count" { "(" (items.len()) ")" } }
            @if items.is_empty() {
                p { (none) }
            } @else {
                ul class="cards" {
                    @for item in items {
                        li { (work_item(t, item)) }
                    }
                }
            }
        }
    }
}

fn work_item(t: &Translator, item: &WorkItemView) -> Markup {
    let due = FluentValue::from(t.date_time(item.due_at));
    html! {
        a href=(format!("/assignments/{}", path_segment(&item.assignment_id))) { (item.title) }
        " "
        span class="meta" { (item.class_title) }
        @match item.state {
            WorkState::ToDo => p { (t.text_with("assignment-due", &[("when", due)])) },
            WorkState::Late => p {
                strong class="late" { (t.text_with("work-was-due", &[("when", due)])) }
                @if !item.can_submit { " " (t.text("submission-closed")) }
            },
            WorkState::Submitted => p {
                @if let Some(at) = item.submitted_at {
                    (t.text_with("attempt-submitted-at", &[("when", FluentValue::from(t.date_time(at)))]))
                }
                @if item.submitted_late { " " strong class="late" { (t.text("attempt-late")) } }
            },
            WorkState::Returned => {
                @if let Some(feedback) = &item.feedback {
                    @if let Some(grade) = &feedback.grade {
                        p { strong { (t.text_with("assignment-grade", &[("grade", FluentValue::from(grade.as_str()))])) } }
                    }
                    p { (excerpt(&feedback.text, FEEDBACK_EXCERPT_CHARS)) }
                }
                @if item.resubmission_allowed && item.can_submit {
                    p { (t.text("work-may-resubmit")) }
                }
            },
        }
    }
}

/// The first `max_chars` characters of `text`, cut at a word where one is near, with an ellipsis
/// when something was left out.
fn excerpt(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max_chars).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(space) if space > cut.len() / 2 => cut[..space].trim_end(),
        _ => cut.as_str(),
    };
    format!("{at_word}…")
}

/// A viewer who is no pupil and has no child: nothing of theirs is on this page.
fn nobody_page(state: &AppState, viewer: &Viewer) -> Response {
    let t = viewer.t;
    let frame = Frame::new(state, viewer, "/assignments");
    page(
        &frame,
        &t.text("work-title"),
        html! {
            p { (t.text("work-nobody")) }
            p { a href="/home" { (t.text("error-back-home")) } }
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Grades and feedback.
// ---------------------------------------------------------------------------------------------

/// `GET /pupils/{pupil}/grades`.
pub async fn grades_page(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(pupil): UrlPath<String>,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let overview = work_of(&state, &viewer.caller, &pupil).await?;
    let roster = roster_index(&state).await?;
    let access = Access::new(&viewer.caller, roster.clone());
    let children = children_of(&roster, &viewer);
    let own = viewer.caller.user_id == overview.pupil;
    let title = if own {
        t.text("grades-title")
    } else {
        t.text_with(
            "grades-title-of",
            &[("name", FluentValue::from(overview.pupil_name.as_str()))],
        )
    };
    // Class by class, in the order of the class titles; within a class the newest feedback first.
    let mut graded: Vec<&WorkItemView> = overview
        .items
        .iter()
        .filter(|item| item.feedback.is_some())
        .collect();
    graded.sort_by(|first, second| {
        let returned =
            |item: &WorkItemView| item.feedback.as_ref().map(|feedback| feedback.returned_at);
        (
            &first.class_title,
            &first.class,
            std::cmp::Reverse(returned(first)),
        )
            .cmp(&(
                &second.class_title,
                &second.class,
                std::cmp::Reverse(returned(second)),
            ))
    });
    let mut classes: Vec<(&str, &str, Vec<&WorkItemView>)> = Vec::new();
    for item in graded {
        match classes.last_mut() {
            Some((class, _, items)) if *class == item.class => items.push(item),
            _ => classes.push((&item.class, &item.class_title, vec![item])),
        }
    }
    // A teacher who sets the class's work goes on to the pupil's submission, where they return it;
    // everyone else to the assignment.
    let link = |item: &WorkItemView| {
        if access.may(Action::SetClassWork, Target::Class(&item.class)) {
            format!(
                "/assignments/{}/submissions/{}",
                path_segment(&item.assignment_id),
                path_segment(&overview.pupil)
            )
        } else {
            format!("/assignments/{}", path_segment(&item.assignment_id))
        }
    };
    let content = html! {
        (child_links(&t, &children, &Shown::Pupil(overview.pupil.clone()), grades_path))
        (overview_notes(&t, &overview))
        @if classes.is_empty() {
            p class="empty-state" { (t.text("grades-none")) }
        }
        @for (index, (_, class_title, items)) in classes.iter().enumerate() {
            @let heading_id = format!("class-{index}-heading");
            section aria-labelledby=(heading_id) {
                h2 id=(heading_id) { (class_title) }
                ul class="cards" {
                    @for item in items {
                        li {
                            h3 { a href=(link(item)) { (item.title) } }
                            @if let Some(feedback) = &item.feedback {
                                @if let Some(grade) = &feedback.grade {
                                    p { strong { (t.text_with("assignment-grade", &[("grade", FluentValue::from(grade.as_str()))])) } }
                                }
                                div class="prose" {
                                    @for block in feedback.text.split("\n\n").filter(|block| !block.trim().is_empty()) {
                                        p { (block.trim()) }
                                    }
                                }
                                p class="meta" {
                                    (t.text_with("grades-given-by", &[
                                        ("name", FluentValue::from(item.feedback_by_name.as_deref().unwrap_or(&feedback.returned_by))),
                                        ("when", FluentValue::from(t.date_time(feedback.returned_at))),
                                    ]))
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let frame = Frame::new(&state, &viewer, &grades_path(&overview.pupil));
    Ok(page(&frame, &title, content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_feedback_is_cut_at_a_word_with_an_ellipsis() {
        assert_eq!(excerpt("  Well done.  ", 280), "Well done.");
        assert_eq!(excerpt("one two three four", 12), "one two…");
        assert_eq!(excerpt("ääääääääää", 4), "ääää…");
    }
}
