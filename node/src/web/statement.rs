//! `GET /accessibility`: the accessibility statement that Finnish law (306/2019) requires of a
//! public digital service: how accessible the service is, what is known not to be, and how to
//! give feedback. Open to everyone, logged in or not.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;

use super::i18n::{Language, Translator};
use super::layout::{Frame, page};
use crate::state::AppState;

pub async fn statement(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let t = Translator::new(Language::for_request(&headers));
    let frame = Frame::anonymous(Some(&state), t, "/accessibility");
    page(
        &frame,
        &t.text("statement-title"),
        html! {
            p { (t.text("statement-intro")) }
            h2 { (t.text("statement-status-heading")) }
            p { (t.text("statement-status")) }
            h2 { (t.text("statement-how-heading")) }
            ul {
                li { (t.text("statement-how-keyboard")) }
                li { (t.text("statement-how-no-script")) }
                li { (t.text("statement-how-languages")) }
                li { (t.text("statement-how-contrast")) }
            }
            h2 { (t.text("statement-gaps-heading")) }
            p { (t.text("statement-gaps")) }
            h2 { (t.text("statement-feedback-heading")) }
            p { (t.text("statement-feedback")) }
            p { (t.text("statement-supervision")) }
        },
    )
}
