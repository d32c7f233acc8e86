//! The frame of every page and the pieces forms are made of.
//!
//! Every page has `lang` set, a skip link to the main content, a banner (`header`) with the
//! navigation and the language links, one `main` holding the page's only `h1`, and a footer with the
//! accessibility statement. When the school has no link to the DigiOne service, a banner under the
//! header says so and how many changes wait to be sent, in words a pupil understands.
//!
//! Form fields always have a visible `label`; a field's error is printed next to it and tied to it
//! with `aria-describedby` and `aria-invalid`, and listed in a summary (`role="alert"`) at the top
//! of the form, whose links move the focus to the field.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluent_bundle::FluentValue;
use maud::{DOCTYPE, Markup, html};

use super::Viewer;
use super::assets::stylesheet_path;
use super::i18n::{Language, Translator};
use crate::model::UserRole;
use crate::state::AppState;

/// What the frame of one page needs to know.
#[derive(Debug)]
pub struct Frame<'viewer> {
    pub t: Translator,
    pub viewer: Option<&'viewer Viewer>,
    /// Changes waiting to be sent while the school is offline; `None` when it is linked.
    pub offline_changes: Option<u64>,
    /// The page's own path, where the language links come back to.
    pub path: String,
}

impl<'viewer> Frame<'viewer> {
    pub fn new(state: &AppState, viewer: &'viewer Viewer, path: &str) -> Self {
        Frame {
            t: viewer.t,
            viewer: Some(viewer),
            offline_changes: offline_changes(state),
            path: path.to_owned(),
        }
    }

    /// The frame of a page for someone not logged in.
    pub fn anonymous(state: Option<&AppState>, t: Translator, path: &str) -> Self {
        Frame {
            t,
            viewer: None,
            offline_changes: state.and_then(offline_changes),
            path: path.to_owned(),
        }
    }
}

/// How many changes wait to be sent when the node has no link to the relay (offline, or a
/// standalone node that never syncs); `None` while it is linked.
pub fn offline_changes(state: &AppState) -> Option<u64> {
    let status = state.sync.view();
    if status.connected {
        None
    } else {
        Some(status.documents_waiting_to_send + status.blobs_waiting_to_send)
    }
}

/// A whole page as an HTML response that no cache keeps (it carries the session's CSRF token).
pub fn page(frame: &Frame<'_>, title: &str, content: Markup) -> Response {
    page_with_status(frame, StatusCode::OK, title, content)
}

pub fn page_with_status(
    frame: &Frame<'_>,
    status: StatusCode,
    title: &str,
    content: Markup,
) -> Response {
    let t = &frame.t;
    let markup = html! {
        (DOCTYPE)
        html lang=(t.language.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – DigiOne" }
                link rel="stylesheet" href=(stylesheet_path());
            }
            body {
                a class="skip-link" href="#main" { (t.text("skip-to-content")) }
                header class="site-header" {
                    p class="brand" { a href="/home" { "DigiOne" } }
                    @if let Some(viewer) = frame.viewer {
                        nav aria-label=(t.text("nav-main-label")) {
                            ul {
                                @for (href, text) in main_links(t, viewer) {
                                    li {
                                        a href=(href) aria-current=[(frame.path.split('?').next() == Some(href)).then_some("page")] {
                                            (text)
                                        }
                                    }
                                }
                            }
                        }
                        form class="logout" method="post" action="/logout" {
                            input type="hidden" name="csrf_token" value=(viewer.csrf_token);
                            button type="submit" { (t.text("nav-log-out")) }
                        }
                    }
                    nav class="languages" aria-label=(t.text("nav-language-label")) {
                        ul {
                            @for language in Language::ALL {
                                li {
                                    a href=(language_link(language, &frame.path))
                                        lang=(language.code()) hreflang=(language.code())
                                        aria-current=[(language == t.language).then_some("true")] {
                                        (language.own_name())
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(count) = frame.offline_changes {
                    div class="offline-banner" role="status" {
                        p { (t.text_with("offline-banner", &[("count", FluentValue::from(count))])) }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
                footer class="site-footer" {
                    a href="/accessibility" { (t.text("footer-accessibility")) }
                }
            }
        }
    };
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// The main navigation's links for the viewer's roles: everyone's home, messages and
/// announcements; the week timetable for those who have one (pupils, teachers, guardians); and the
/// work page for pupils (their own) or guardians (their children's). Each text differs from the
/// others in every language, so that no two links with one name lead to different pages.
pub fn main_links(t: &Translator, viewer: &Viewer) -> Vec<(&'static str, String)> {
    let has = |role: UserRole| viewer.caller.has_role(role);
    let mut links = vec![("/home", t.text("nav-home"))];
    if has(UserRole::Pupil) || has(UserRole::Teacher) || has(UserRole::Guardian) {
        links.push(("/timetable", t.text("nav-timetable")));
    }
    if has(UserRole::Pupil) {
        links.push(("/assignments", t.text("nav-my-work")));
    } else if has(UserRole::Guardian) {
        links.push(("/assignments", t.text("nav-childrens-work")));
    }
    links.push(("/messages", t.text("nav-messages")));
    links.push(("/announcements", t.text("nav-announcements")));
    links
}

fn language_link(language: Language, back: &str) -> String {
    let back: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    format!("/language/{}?back={back}", language.code())
}

/// The page of an error, by its status.
pub fn error_page(t: Translator, status: StatusCode) -> Response {
    let (title, explanation) = match status {
        StatusCode::NOT_FOUND => (t.text("error-not-found-title"), t.text("error-not-found")),
        StatusCode::FORBIDDEN => (t.text("error-forbidden-title"), t.text("error-forbidden")),
        StatusCode::CONFLICT => (t.text("error-conflict-title"), t.text("error-conflict")),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (t.text("error-too-large-title"), t.text("error-too-large"))
        }
        StatusCode::TOO_MANY_REQUESTS => (t.text("error-too-many-title"), t.text("error-too-many")),
        status if status.is_client_error() => (
            t.text("error-bad-request-title"),
            t.text("error-bad-request"),
        ),
        _ => (t.text("error-internal-title"), t.text("error-internal")),
    };
    let frame = Frame::anonymous(None, t, "/home");
    page_with_status(
        &frame,
        status,
        &title,
        html! {
            p { (explanation) }
            p { a href="/home" { (t.text("error-back-home")) } }
        },
    )
}

/// A form field's problem, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// The errors of a form, for its summary and its fields.
#[derive(Debug, Default, Clone)]
pub struct FormErrors {
    pub fields: Vec<FieldError>,
    /// A problem of the form as a whole (the node refused the request).
    pub form: Option<String>,
}

impl FormErrors {
    pub fn add(&mut self, field: &'static str, message: String) {
        self.fields.push(FieldError { field, message });
    }

    /// The field's text is longer than `max_chars` characters, which the model would refuse.
    pub fn add_too_long(&mut self, field: &'static str, t: &Translator, max_chars: usize) {
        self.add(
            field,
            t.text_with("error-too-long", &[("max", FluentValue::from(max_chars))]),
        );
    }

    /// A required text field: its message (by `missing_key`) when it is blank, or the length error
    /// when it has more than `max_chars` characters.
    pub fn check_required_text(
        &mut self,
        field: &'static str,
        value: &str,
        max_chars: usize,
        t: &Translator,
        missing_key: &'static str,
    ) {
        if value.trim().is_empty() {
            self.add(field, t.text(missing_key));
        } else if value.chars().count() > max_chars {
            self.add_too_long(field, t, max_chars);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }

    pub fn for_field(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|error| error.field == field)
            .map(|error| error.message.as_str())
    }

    /// The summary at the top of a form; nothing when there are no errors.
    pub fn summary(&self, t: &Translator) -> Markup {
        html! {
            @if !self.is_empty() {
                div class="error-summary" role="alert" tabindex="-1" {
                    h2 { (t.text("form-errors-title")) }
                    ul {
                        @if let Some(message) = &self.form {
                            li { (message) }
                        }
                        @for error in &self.fields {
                            li { a href=(format!("#{}", error.field)) { (error.message) } }
                        }
                    }
                }
            }
        }
    }
}

/// One labelled form field: `input` of `kind`, or a `textarea` when `kind` is `"textarea"`.
#[derive(Debug)]
pub struct Field<'form> {
    pub id: &'static str,
    pub label: String,
    pub kind: &'static str,
    pub value: &'form str,
    pub required: bool,
    /// Characters at most (`maxlength`), when the field is text.
    pub max_chars: Option<usize>,
    pub hint: Option<String>,
    pub autocomplete: Option<&'static str>,
    /// For a file input: several files at once.
    pub multiple: bool,
}

impl<'form> Field<'form> {
    pub fn new(id: &'static str, label: String, kind: &'static str, value: &'form str) -> Self {
        Field {
            id,
            label,
            kind,
            value,
            required: false,
            max_chars: None,
            hint: None,
            autocomplete: None,
            multiple: false,
        }
    }

    pub fn multiple(mut self) -> Self {
        self.multiple = true;
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn max_chars(mut self, max_chars: usize) -> Self {
        self.max_chars = Some(max_chars);
        self
    }

    pub fn hint(mut self, hint: String) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn autocomplete(mut self, autocomplete: &'static str) -> Self {
        self.autocomplete = Some(autocomplete);
        self
    }

    pub fn render(&self, errors: &FormErrors) -> Markup {
        let error = errors.for_field(self.id);
        let error_id = format!("{}-error", self.id);
        let hint_id = format!("{}-hint", self.id);
        let mut described_by = Vec::new();
        if self.hint.is_some() {
            described_by.push(hint_id.as_str());
        }
        if error.is_some() {
            described_by.push(error_id.as_str());
        }
        let described_by = (!described_by.is_empty()).then(|| described_by.join(" "));
        let invalid = error.is_some().then_some("true");
        let class = if error.is_some() {
            "field field-invalid"
        } else {
            "field"
        };
        html! {
            div class=(class) {
                label for=(self.id) { (self.label) }
                @if let Some(hint) = &self.hint {
                    p class="hint" id=(hint_id) { (hint) }
                }
                @if let Some(error) = error {
                    p class="field-error" id=(error_id) { (error) }
                }
                @if self.kind == "textarea" {
                    textarea id=(self.id) name=(self.id) rows="6"
                        required[self.required] maxlength=[self.max_chars]
                        aria-describedby=[described_by.as_deref()] aria-invalid=[invalid] {
                        (self.value)
                    }
                } @else {
                    input id=(self.id) name=(self.id) type=(self.kind) value=(self.value)
                        required[self.required] maxlength=[self.max_chars]
                        autocomplete=[self.autocomplete] multiple[self.multiple]
                        aria-describedby=[described_by.as_deref()] aria-invalid=[invalid];
                }
            }
        }
    }
}

/// Options of a `select`, as (value, label) pairs, under a heading (`optgroup`) or none.
#[derive(Debug, Clone)]
pub struct OptionGroup {
    pub heading: Option<String>,
    pub options: Vec<(String, String)>,
}

/// A labelled `select` of grouped options, with its error tied to it like [`Field`]'s. `chosen`
/// is the selected value.
pub fn select_field(
    id: &'static str,
    label: String,
    groups: &[OptionGroup],
    chosen: &str,
    errors: &FormErrors,
) -> Markup {
    let error = errors.for_field(id);
    let error_id = format!("{id}-error");
    let option = |value: &String, text: &String| {
        html! { option value=(value) selected[*value == chosen] { (text) } }
    };
    html! {
        div class=(if error.is_some() { "field field-invalid" } else { "field" }) {
            label for=(id) { (label) }
            @if let Some(error) = error {
                p class="field-error" id=(error_id) { (error) }
            }
            select id=(id) name=(id) required
                aria-describedby=[error.map(|_| error_id.as_str())]
                aria-invalid=[error.map(|_| "true")] {
                @for group in groups {
                    @match &group.heading {
                        Some(heading) => optgroup label=(heading) {
                            @for (value, text) in &group.options { (option(value, text)) }
                        },
                        None => @for (value, text) in &group.options { (option(value, text)) },
                    }
                }
            }
        }
    }
}

/// The hidden CSRF field every form of a logged-in page carries.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name=(crate::auth::CSRF_FORM_FIELD) value=(viewer.csrf_token); }
}

/// What is wrong with a field, as an operation of the application layer said it, in the
/// viewer's language.
pub fn problem_text(t: &Translator, problem: crate::school::Problem) -> String {
    match problem {
        crate::school::Problem::Missing => t.text("error-missing"),
        crate::school::Problem::TooLong { max } => {
            t.text_with("error-too-long", &[("max", FluentValue::from(max))])
        }
        crate::school::Problem::ControlCharacter | crate::school::Problem::NotValid => {
            t.text("error-not-valid")
        }
    }
}
