//! `GET /home`: one home page, with a section for each of the viewer's roles: a pupil's day (today's
//! lessons, work to do, feedback, unread messages, announcements), a teacher's (today's lessons,
//! submissions to review, classes), a guardian's (children, messages), school IT's (the node and its
//! sync, the roster).

use axum::extract::State;
use axum::response::Response;
use fluent_bundle::FluentValue;
use maud::{Markup, html};

use super::absences::{absences_of, absences_path, unexplained};
use super::layout::{Frame, page};
use super::materials::materials_path;
use super::{Viewer, WebError};
use crate::model::UserRole;
use crate::school::announcements::{AnnouncementView, my_announcements};
use crate::school::assignments::{AssignmentSummary, ListPage, SubmissionStatusView};
use crate::school::messages::{ThreadPage, ThreadSummary, list_threads};
use crate::school::policy::Action;
use crate::school::timetable::{DayOf, DayView, day_timetable};
use crate::school::tools::ToolView;
use crate::school::{Access, ServiceError, Target, node_now, roster_index};
use crate::state::AppState;
use crate::sync::SyncState;
use crate::web::i18n::Translator;

/// Announcements a home page shows; the newest first.
const ANNOUNCEMENTS_SHOWN: usize = 5;
/// Unread threads a home page lists.
const UNREAD_THREADS_SHOWN: usize = 10;
/// Assignments read per class for a home page: the newest page of the class's list.
const ASSIGNMENTS_READ_PER_CLASS: usize = 20;

pub async fn home(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    let t = viewer.t;
    let caller = &viewer.caller;
    let roster = roster_index(&state).await?;
    let name = roster
        .users
        .user(&caller.user_id)
        .map(|user| user.display_name())
        .unwrap_or_else(|| caller.user_id.clone());

    let is_pupil = caller.has_role(UserRole::Pupil);
    let is_teacher = caller.has_role(UserRole::Teacher);
    let is_guardian = caller.has_role(UserRole::Guardian);
    // The school-wide section is for those the policy lets see the whole school; of them, only
    // administrators get the links to administer it.
    let access = Access::new(caller, roster.clone());
    let sees_school_wide = access.may(Action::ReadSchoolWide, Target::School);
    let administers = access.may(Action::AdministerSchool, Target::School);

    let today = if is_pupil || is_teacher {
        Some(day_timetable(&state, caller, None, DayOf::Me).await?)
    } else {
        None
    };
    let threads = list_threads(&state, caller, ThreadPage::default()).await?;
    let announcements = my_announcements(&state, caller).await?;

    // Each child's absences still to explain: what a guardian comes to the home page for.
    let mut children = Vec::new();
    if is_guardian {
        for child in roster.children.get(&caller.user_id).into_iter().flatten() {
            let name = roster
                .users
                .user(child)
                .map(|user| user.display_name())
                .unwrap_or_else(|| child.clone());
            // A child the roster no longer lists as a pupil has no absences page.
            match absences_of(&state, &viewer, child).await {
                Ok(absences) => {
                    children.push((child.clone(), name, unexplained(&absences).count()))
                }
                Err(ServiceError::NotFound(_)) => {}
                Err(other) => return Err(other.into()),
            }
        }
    }
    let pupil_classes: Vec<(String, String)> = roster
        .classes_as_pupil
        .get(&caller.user_id)
        .into_iter()
        .flatten()
        .filter_map(|class| {
            let document = roster.classes.get(class)?;
            Some((class.clone(), document.class.title.clone()))
        })
        .collect();

    // The school's connected tools, for pupils and teachers: each opens with the node's login.
    let tools = if is_pupil || is_teacher {
        crate::school::services::my_tools(&state, caller).await?
    } else {
        Vec::new()
    };
    let school_is_offline = super::layout::offline_changes(&state).is_some();

    let mut pupil_assignments = Vec::new();
    if is_pupil {
        for class in roster
            .classes_as_pupil
            .get(&caller.user_id)
            .into_iter()
            .flatten()
        {
            pupil_assignments.extend(class_assignments(&state, &viewer, class).await?);
        }
    }
    let mut taught_assignments = Vec::new();
    let mut taught_classes = Vec::new();
    if is_teacher {
        for class in roster
            .classes_as_teacher
            .get(&caller.user_id)
            .into_iter()
            .flatten()
        {
            let title = roster
                .classes
                .get(class)
                .map(|document| document.class.title.clone())
                .unwrap_or_else(|| class.clone());
            taught_classes.push((class.clone(), title));
            taught_assignments.extend(class_assignments(&state, &viewer, class).await?);
        }
    }

    let content = html! {
        p class="lead" { (t.text_with("home-greeting", &[("name", FluentValue::from(name.as_str()))])) }
        @if let Some(today) = &today {
            (todays_lessons(&t, today))
        }
        @if is_pupil {
            (pupil_work(&t, &pupil_assignments))
            (pupil_work_links(&t, &caller.user_id))
            (pupil_classes_list(&t, &pupil_classes))
        }
        @if is_teacher {
            (teacher_work(&t, &taught_assignments, &taught_classes))
        }
        @if !tools.is_empty() {
            (tool_list(&t, &tools, school_is_offline))
        }
        @if is_guardian {
            (guardian_children(&t, &children))
        }
        (unread_messages(&t, &threads))
        (announcement_list(&t, &announcements))
        @if sees_school_wide {
            (admin_status(&t, &state, &roster, administers))
        }
    };
    let frame = Frame::new(&state, &viewer, "/home");
    Ok(page(&frame, &t.text("home-title"), content))
}

/// The newest assignments of one class, as the viewer may see them.
async fn class_assignments(
    state: &AppState,
    viewer: &Viewer,
    class: &str,
) -> Result<Vec<AssignmentSummary>, ServiceError> {
    let page = ListPage {
        limit: Some(ASSIGNMENTS_READ_PER_CLASS),
        before: None,
    };
    Ok(
        crate::school::assignments::list_assignments(state, &viewer.caller, class, page)
            .await?
            .assignments,
    )
}

fn clock(t: &Translator, time: crate::model::common::ClockTime) -> String {
    let minutes = time.minutes_since_midnight();
    t.clock((minutes / 60) as u8, (minutes % 60) as u8)
}

fn todays_lessons(t: &Translator, today: &DayView) -> Markup {
    html! {
        section aria-labelledby="today-heading" {
            h2 id="today-heading" { (t.text("home-today")) }
            @if today.lessons.is_empty() {
                p { (t.text("home-no-lessons")) }
            } @else {
                table class="timetable" {
                    caption class="visually-hidden" { (t.text("home-today")) }
                    thead {
                        tr {
                            th scope="col" { (t.text("lesson-time")) }
                            th scope="col" { (t.text("lesson-class")) }
                            th scope="col" { (t.text("lesson-room")) }
                            th scope="col" { (t.text("lesson-teacher")) }
                        }
                    }
                    tbody {
                        @for lesson in &today.lessons {
                            tr {
                                td { (clock(t, lesson.start)) "–" (clock(t, lesson.end)) }
                                td {
                                    (lesson.subject.as_deref().unwrap_or(&lesson.class_title))
                                    @if lesson.role == "teacher" {
                                        " "
                                        a href=(super::attendance::attendance_path(&lesson.class, today.date, &lesson.lesson_id)) {
                                            (t.text("lesson-mark-attendance"))
                                        }
                                    }
                                }
                                td { (lesson.room.as_deref().unwrap_or("")) }
                                td { (lesson.teacher_name) }
                            }
                        }
                    }
                }
            }
            p { a href="/timetable" { (t.text("home-week-link")) } }
        }
    }
}

/// Where a pupil finds all their work and every grade and feedback, beyond what the home page
/// lists.
fn pupil_work_links(t: &Translator, pupil: &str) -> Markup {
    html! {
        ul class="inline-list" {
            li { a href="/assignments" { (t.text("home-all-work")) } }
            li { a href=(super::work::grades_path(pupil)) { (t.text("home-grades")) } }
        }
    }
}

fn pupil_work(t: &Translator, assignments: &[AssignmentSummary]) -> Markup {
    let now = node_now().unix_millis();
    let mut to_do: Vec<&AssignmentSummary> = assignments
        .iter()
        .filter(|assignment| {
            assignment.my_submission.as_ref().is_some_and(|submission| {
                submission.status == SubmissionStatusView::Draft && submission.cut_off_at > now
            })
        })
        .collect();
    to_do.sort_by_key(|assignment| {
        assignment
            .my_submission
            .as_ref()
            .map_or(assignment.due_at, |submission| submission.due_at)
    });
    let returned: Vec<&AssignmentSummary> = assignments
        .iter()
        .filter(|assignment| {
            assignment
                .my_submission
                .as_ref()
                .is_some_and(|submission| submission.status == SubmissionStatusView::Returned)
        })
        .collect();
    html! {
        section aria-labelledby="due-heading" {
            h2 id="due-heading" { (t.text("home-assignments-due")) }
            @if to_do.is_empty() {
                p { (t.text("home-nothing-due")) }
            } @else {
                ul class="cards" {
                    @for assignment in &to_do {
                        li {
                            a href=(format!("/assignments/{}", assignment.id)) { (assignment.title) }
                            " "
                            span class="meta" {
                                (t.text_with("assignment-due", &[("when", FluentValue::from(
                                    t.date_time(assignment.my_submission.as_ref()
                                        .map_or(assignment.due_at, |submission| submission.due_at))))]))
                            }
                        }
                    }
                }
            }
        }
        @if !returned.is_empty() {
            section aria-labelledby="feedback-heading" {
                h2 id="feedback-heading" { (t.text("home-feedback")) }
                ul class="cards" {
                    @for assignment in &returned {
                        li {
                            a href=(format!("/assignments/{}", assignment.id)) { (assignment.title) }
                            @if let Some(grade) = assignment.my_submission.as_ref().and_then(|submission| submission.grade.as_deref()) {
                                " "
                                span class="meta" { (t.text_with("assignment-grade", &[("grade", FluentValue::from(grade))])) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn teacher_work(
    t: &Translator,
    assignments: &[AssignmentSummary],
    classes: &[(String, String)],
) -> Markup {
    let waiting: Vec<(&AssignmentSummary, usize)> = assignments
        .iter()
        .filter_map(|assignment| {
            let submitted = assignment.submission_counts.as_ref()?.submitted;
            (submitted > 0).then_some((assignment, submitted))
        })
        .collect();
    html! {
        section aria-labelledby="review-heading" {
            h2 id="review-heading" { (t.text("home-to-review")) }
            @if waiting.is_empty() {
                p { (t.text("home-nothing-to-review")) }
            } @else {
                ul class="cards" {
                    @for (assignment, submitted) in &waiting {
                        li {
                            a href=(format!("/assignments/{}", assignment.id)) { (assignment.title) }
                            // A teacher of two groups sets the same assignment in both; the class
                            // tells the two entries apart.
                            " "
                            span class="class-title" { (class_title_of(classes, &assignment.class_id)) }
                            " "
                            span class="meta" { (t.text_with("home-waiting-count", &[("count", FluentValue::from(*submitted))])) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="classes-heading" {
            h2 id="classes-heading" { (t.text("home-my-classes")) }
            ul class="cards" {
                @for (class, title) in classes {
                    li {
                        span class="class-title" { (title) }
                        " "
                        a href=(format!("/classes/{}/assignments/new", crate::url_path::path_segment(class))) {
                            (t.text_with("home-new-assignment", &[("class", FluentValue::from(title.as_str()))]))
                        }
                        " "
                        a href=(materials_path(class)) {
                            (t.text_with("home-class-materials", &[("class", FluentValue::from(title.as_str()))]))
                        }
                        ul {
                            @for assignment in assignments.iter().filter(|assignment| &assignment.class_id == class) {
                                li { a href=(format!("/assignments/{}", assignment.id)) { (assignment.title) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The title of `class` among the teacher's classes; its id when the roster no longer names it.
fn class_title_of<'classes>(
    classes: &'classes [(String, String)],
    class: &'classes str,
) -> &'classes str {
    classes
        .iter()
        .find(|(id, _)| id == class)
        .map_or(class, |(_, title)| title.as_str())
}

/// A guardian's children, each with a link to their absences and how many wait to be explained,
/// and links to the child's week, work, and grades and feedback.
fn guardian_children(t: &Translator, children: &[(String, String, usize)]) -> Markup {
    html! {
        section aria-labelledby="children-heading" {
            h2 id="children-heading" { (t.text("home-children")) }
            ul class="cards" {
                @for (child, name, to_clear) in children {
                    li {
                        strong { (name) }
                        " "
                        a href=(absences_path(child)) {
                            (t.text_with("home-absences-to-clear", &[
                                ("count", FluentValue::from(*to_clear)),
                                ("name", FluentValue::from(name.as_str())),
                            ]))
                        }
                        ul class="inline-list" {
                            li {
                                a href=(super::week::week_path(None, Some(child))) {
                                    (t.text_with("home-child-week", &[("name", FluentValue::from(name.as_str()))]))
                                }
                            }
                            li {
                                a href=(super::work::work_path(Some(child))) {
                                    (t.text_with("home-child-work", &[("name", FluentValue::from(name.as_str()))]))
                                }
                            }
                            li {
                                a href=(super::work::grades_path(child)) {
                                    (t.text_with("home-child-grades", &[("name", FluentValue::from(name.as_str()))]))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The school's connected tools, each a link that opens it (its own login comes back to the node,
/// which answers from the session). While the school is offline, tools that need the internet say
/// so rather than failing when opened.
fn tool_list(t: &Translator, tools: &[ToolView], school_is_offline: bool) -> Markup {
    html! {
        section aria-labelledby="tools-heading" {
            h2 id="tools-heading" { (t.text("home-tools")) }
            ul class="cards" {
                @for tool in tools {
                    li {
                        a href=(tool.launch_url) rel="noopener" { (tool.name) }
                        " "
                        span class="meta" { (tool.provider) }
                        @if school_is_offline && !tool.works_offline {
                            p class="meta" { (t.text("home-tool-needs-internet")) }
                        }
                    }
                }
            }
        }
    }
}

/// A pupil's classes, each with its materials.
fn pupil_classes_list(t: &Translator, classes: &[(String, String)]) -> Markup {
    html! {
        @if !classes.is_empty() {
            section aria-labelledby="pupil-classes-heading" {
                h2 id="pupil-classes-heading" { (t.text("home-my-classes")) }
                ul class="inline-list" {
                    @for (class, title) in classes {
                        li {
                            a href=(materials_path(class)) {
                                (t.text_with("home-class-materials", &[("class", FluentValue::from(title.as_str()))]))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn unread_messages(t: &Translator, threads: &[ThreadSummary]) -> Markup {
    let unread: Vec<&ThreadSummary> = threads
        .iter()
        .filter(|thread| thread.unread_count > 0)
        .take(UNREAD_THREADS_SHOWN)
        .collect();
    html! {
        section aria-labelledby="messages-heading" {
            h2 id="messages-heading" { (t.text("home-unread-messages")) }
            @if unread.is_empty() {
                p { (t.text("home-no-unread")) }
            } @else {
                ul class="cards" {
                    @for thread in &unread {
                        li {
                            a href=(format!("/messages/{}", thread.id)) { (thread.subject) }
                            " "
                            span class="meta" {
                                (t.text_with("home-unread-from", &[
                                    ("count", FluentValue::from(thread.unread_count)),
                                    ("name", FluentValue::from(thread.last_message_author_name.as_str())),
                                ]))
                            }
                            p { (thread.last_message_preview) }
                        }
                    }
                }
            }
        }
    }
}

fn announcement_list(t: &Translator, announcements: &[AnnouncementView]) -> Markup {
    html! {
        section aria-labelledby="announcements-heading" {
            h2 id="announcements-heading" { (t.text("home-announcements")) }
            @if announcements.is_empty() {
                p { (t.text("home-no-announcements")) }
            } @else {
                ul class="cards" {
                    @for announcement in announcements.iter().take(ANNOUNCEMENTS_SHOWN) {
                        li {
                            strong { (announcement.title) }
                            " "
                            span class="meta" {
                                (announcement.author_name.as_deref().unwrap_or(&announcement.author))
                                ", "
                                (t.date_time(announcement.published_at))
                            }
                            p { (announcement.body) }
                        }
                    }
                }
            }
        }
    }
}

fn admin_status(
    t: &Translator,
    state: &AppState,
    roster: &crate::school::RosterIndex,
    state_is_admin: bool,
) -> Markup {
    let sync = state.sync.view();
    // The state, not the mode: a linked node whose content differs from the relay's must not read
    // as simply online.
    let mode = match sync.state {
        SyncState::InSync => t.text("admin-sync-in-sync"),
        SyncState::Sending => t.text("admin-sync-sending"),
        SyncState::Reconciling => match sync.documents_waiting_to_receive {
            Some(count) if count > 0 => t.text_with(
                "admin-sync-reconciling-count",
                &[("count", FluentValue::from(count))],
            ),
            _ => t.text("admin-sync-reconciling"),
        },
        SyncState::Offline => t.text("admin-sync-offline"),
        SyncState::Standalone => t.text("admin-sync-standalone"),
    };
    html! {
        section aria-labelledby="node-heading" {
            h2 id="node-heading" { (t.text("admin-node")) }
            dl class="facts" {
                dt { (t.text("admin-school")) } dd { (state.identity.school.to_string()) }
                dt { (t.text("admin-sync")) } dd { (mode) }
                dt { (t.text("admin-waiting")) }
                dd { (sync.documents_waiting_to_send) " / " (sync.blobs_waiting_to_send) }
                dt { (t.text("admin-last-sync")) }
                dd {
                    @match sync.last_complete_sync_unix {
                        Some(seconds) => (t.date_time(seconds.saturating_mul(1000))),
                        None => (t.text("admin-never")),
                    }
                }
                dt { (t.text("admin-users")) } dd { (roster.users.users.len()) }
                dt { (t.text("admin-classes")) } dd { (roster.classes.len()) }
            }
            @if state_is_admin {
                ul class="inline-list" {
                    li { a href="/admin/users" { (t.text("admin-users-link")) } }
                    li { a href="/admin/services" { (t.text("services-title")) } }
                    li { a href="/admin/roster" { (t.text("admin-import-roster")) } }
                }
            }
        }
    }
}
