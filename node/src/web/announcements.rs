//! Announcements in the web UI: everything announced to the viewer now, newest first; teachers
//! announce to a class they teach, staff and administrators to the whole school; authors (and
//! administrators) withdraw. Municipality announcements come from the municipality's operators
//! (`digione-operator`) and are only read here. Announcements are read and written through
//! [`crate::school::announcements`]; the page asks the policy which audiences to offer.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use maud::html;

use super::assignments::{
    add_refusal, is_form_refusal, refusal_status, school_local_to_node_millis,
};
use super::i18n::Translator;
use super::layout::{
    Field, FormErrors, Frame, OptionGroup, csrf_field, page_with_status, select_field,
};
use super::{Viewer, WebError, form_fields};
use crate::model::common::{MAX_BODY_CHARS, MAX_TITLE_CHARS, NodeTime};
use crate::school::announcements::{self as operations, AnnouncementInput, Audience};
use crate::school::policy::Action;
use crate::school::{Access, ServiceError, Target, node_now, roster_index};
use crate::state::AppState;

/// The audience field's value for the whole school; a class is `class:` and its sourcedId.
const SCHOOL_AUDIENCE: &str = "school";
const CLASS_AUDIENCE_PREFIX: &str = "class:";

#[derive(Debug, Default, serde::Deserialize)]
pub struct AnnouncementsNotice {
    done: Option<String>,
}

/// The publish form's values, as sent.
#[derive(Debug, Default)]
struct AnnouncementForm {
    audience: String,
    title: String,
    body: String,
    shown_until: String,
}

/// `GET /announcements`.
pub async fn announcements_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(notice): Query<AnnouncementsNotice>,
) -> Result<Response, WebError> {
    render(
        &state,
        &viewer,
        &AnnouncementForm::default(),
        &FormErrors::default(),
        StatusCode::OK,
        notice.done.as_deref(),
    )
    .await
}

/// Where the viewer may announce: the whole school (staff, administrators), then each class they
/// teach; as (field value, label) pairs.
async fn audiences(
    state: &AppState,
    viewer: &Viewer,
) -> Result<Vec<(String, String)>, ServiceError> {
    let t = viewer.t;
    let roster = roster_index(state).await?;
    let access = Access::new(&viewer.caller, roster.clone());
    let mut audiences = Vec::new();
    if access.may(Action::AnnounceToSchool, Target::School) {
        audiences.push((
            SCHOOL_AUDIENCE.to_owned(),
            t.text("announcements-whole-school"),
        ));
    }
    for class in roster
        .classes_as_teacher
        .get(&viewer.caller.user_id)
        .into_iter()
        .flatten()
    {
        if let Some(document) = roster.classes.get(class) {
            audiences.push((
                format!("{CLASS_AUDIENCE_PREFIX}{class}"),
                document.class.title.clone(),
            ));
        }
    }
    Ok(audiences)
}

fn audience_label(t: &Translator, audience: &Audience) -> String {
    match audience {
        Audience::Class { class_title, .. } => class_title.clone(),
        Audience::School => t.text("announcements-whole-school"),
        Audience::Municipality { municipality } => t.text_with(
            "announcements-municipality",
            &[("code", FluentValue::from(municipality.as_str()))],
        ),
    }
}

/// The withdraw form's audience value of an announcement; `None` for a municipality's.
fn audience_value(audience: &Audience) -> Option<String> {
    match audience {
        Audience::Class { class_id, .. } => Some(format!("{CLASS_AUDIENCE_PREFIX}{class_id}")),
        Audience::School => Some(SCHOOL_AUDIENCE.to_owned()),
        Audience::Municipality { .. } => None,
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    form: &AnnouncementForm,
    errors: &FormErrors,
    status: StatusCode,
    done: Option<&str>,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let announcements = operations::my_announcements(state, &viewer.caller).await?;
    let audiences = audiences(state, viewer).await?;
    let content = html! {
        @match done {
            Some("published") => p class="notice" role="status" { (t.text("notice-published")) },
            Some("withdrawn") => p class="notice" role="status" { (t.text("notice-withdrawn")) },
            _ => {},
        }
        @if announcements.is_empty() {
            p { (t.text("home-no-announcements")) }
        } @else {
            @for announcement in &announcements {
                article class="message" aria-labelledby=(format!("announcement-{}", announcement.id)) {
                    h2 id=(format!("announcement-{}", announcement.id)) { (announcement.title) }
                    p class="meta" {
                        (audience_label(&t, &announcement.audience)) " · "
                        (announcement.author_name.as_deref().unwrap_or(&announcement.author))
                        ", " (t.date_time(announcement.published_at))
                        @if let Some(expires_at) = announcement.expires_at {
                            " · " (t.text_with("announcements-shown-until-at", &[("when", FluentValue::from(t.date_time(expires_at)))]))
                        }
                    }
                    p { (announcement.body) }
                    @if let (true, Some(audience)) = (announcement.can_withdraw, audience_value(&announcement.audience)) {
                        form method="post" action="/announcements/withdraw" {
                            (csrf_field(viewer))
                            input type="hidden" name="audience" value=(audience);
                            input type="hidden" name="id" value=(announcement.id);
                            button type="submit" class="secondary" {
                                (t.text_with("announcements-withdraw", &[("title", FluentValue::from(announcement.title.as_str()))]))
                            }
                        }
                    }
                }
            }
        }
        @if !audiences.is_empty() {
            section aria-labelledby="publish-heading" {
                h2 id="publish-heading" { (t.text("announcements-publish")) }
                form method="post" action="/announcements" class="stack" novalidate {
                    (errors.summary(&t))
                    (csrf_field(viewer))
                    (select_field("audience", t.text("announcements-audience"), &[OptionGroup { heading: None, options: audiences.clone() }], &form.audience, errors))
                    (Field::new("title", t.text("announcements-title-field"), "text", &form.title)
                        .required().max_chars(MAX_TITLE_CHARS).render(errors))
                    (Field::new("body", t.text("announcements-body"), "textarea", &form.body)
                        .required().max_chars(MAX_BODY_CHARS).render(errors))
                    (Field::new("shown_until", t.text("announcements-shown-until"), "date", &form.shown_until)
                        .hint(t.text("announcements-shown-until-hint")).render(errors))
                    button type="submit" { (t.text("announcements-publish-button")) }
                }
            }
        }
    };
    let frame = Frame::new(state, viewer, "/announcements");
    Ok(page_with_status(
        &frame,
        status,
        &t.text("announcements-title"),
        content,
    ))
}

/// `POST /announcements` (form): publishes to the chosen audience.
pub async fn publish(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let fields = form_fields(&body);
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let form = AnnouncementForm {
        audience: field("audience"),
        title: field("title").trim().to_owned(),
        body: field("body").trim().to_owned(),
        shown_until: field("shown_until").trim().to_owned(),
    };
    let mut errors = FormErrors::default();
    if !audiences(&state, &viewer)
        .await?
        .iter()
        .any(|(value, _)| *value == form.audience)
    {
        errors.add("audience", t.text("announcements-audience-invalid"));
    }
    errors.check_required_text(
        "title",
        &form.title,
        MAX_TITLE_CHARS,
        &t,
        "announcements-title-missing",
    );
    errors.check_required_text(
        "body",
        &form.body,
        MAX_BODY_CHARS,
        &t,
        "announcements-body-missing",
    );
    // "Shown until" a date means to the end of that day on the school's clock.
    let expires_at = if form.shown_until.is_empty() {
        None
    } else {
        let end_of_day = time::Date::parse(
            &form.shown_until,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()
        .and_then(|date| school_local_to_node_millis(date, time::macros::time!(23:59:59)));
        match end_of_day {
            Some(millis) if millis > node_now().unix_millis() => Some(millis),
            Some(_) => {
                errors.add("shown_until", t.text("announcements-shown-until-past"));
                None
            }
            None => {
                errors.add("shown_until", t.text("announcements-shown-until-invalid"));
                None
            }
        }
    };
    if !errors.is_empty() {
        return render(
            &state,
            &viewer,
            &form,
            &errors,
            StatusCode::BAD_REQUEST,
            None,
        )
        .await;
    }
    let input = AnnouncementInput {
        title: form.title.clone(),
        body: form.body.clone(),
        expires_at: expires_at.map(NodeTime::from_unix_millis),
    };
    let published = match form.audience.strip_prefix(CLASS_AUDIENCE_PREFIX) {
        Some(class) => {
            operations::publish_class_announcement(&state, &viewer.caller, class, input).await
        }
        None => operations::publish_school_announcement(&state, &viewer.caller, input).await,
    };
    match published {
        Ok(_) => Ok(Redirect::to("/announcements?done=published").into_response()),
        Err(refusal) if is_form_refusal(&refusal) => {
            add_refusal(
                &mut errors,
                &t,
                &refusal,
                &[
                    ("title", "title"),
                    ("body", "body"),
                    ("expires at", "shown_until"),
                ],
            );
            render(
                &state,
                &viewer,
                &form,
                &errors,
                refusal_status(&refusal),
                None,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /announcements/withdraw` (form: `audience`, `id`).
pub async fn withdraw(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, WebError> {
    let fields = form_fields(&body);
    let audience = fields.get("audience").cloned().unwrap_or_default();
    let id = fields.get("id").cloned().unwrap_or_default();
    match audience.strip_prefix(CLASS_AUDIENCE_PREFIX) {
        Some(class) => {
            operations::withdraw_class_announcement(&state, &viewer.caller, class, &id).await?;
        }
        None if audience == SCHOOL_AUDIENCE => {
            operations::withdraw_school_announcement(&state, &viewer.caller, &id).await?;
        }
        None => {
            return Err(
                ServiceError::invalid("audience", format!("no audience {audience:?}")).into(),
            );
        }
    }
    Ok(Redirect::to("/announcements?done=withdrawn").into_response())
}
