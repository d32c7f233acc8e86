//! Static files of the web UI, compiled into the binary and served under names that carry a hash
//! of their content (`/static/style.1a2b3c4d5e6f7a8b.css`), so that browsers may keep them for a
//! year: a changed file is a new name.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The one stylesheet.
pub const STYLESHEET: &str = include_str!("../../static/style.css");

/// The script that submits an LTI launch form to the tool (`crate::lti::launch`).
pub const LTI_AUTOSUBMIT_SCRIPT: &str = include_str!("../../static/lti-autosubmit.js");

/// How long a browser may keep a hashed file: a year, never revalidated.
const IMMUTABLE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Hex digits of the content hash in a file's name: 64 bits, plenty to tell versions apart.
const NAME_HASH_HEX_DIGITS: usize = 16;

/// The stylesheet's path with its content hash.
pub fn stylesheet_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let digest = hex::encode(Sha256::digest(STYLESHEET.as_bytes()));
        format!("/static/style.{}.css", &digest[..NAME_HASH_HEX_DIGITS])
    })
}

/// The LTI auto-submit script's path with its content hash.
pub fn lti_autosubmit_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let digest = hex::encode(Sha256::digest(LTI_AUTOSUBMIT_SCRIPT.as_bytes()));
        format!(
            "/static/lti-autosubmit.{}.js",
            &digest[..NAME_HASH_HEX_DIGITS]
        )
    })
}

/// `GET /static/{name}`: a hashed file; any other name is not found.
pub async fn static_file(Path(name): Path<String>) -> Response {
    let path = format!("/static/{name}");
    let (content_type, body) = if path == stylesheet_path() {
        ("text/css; charset=utf-8", STYLESHEET)
    } else if path == lti_autosubmit_path() {
        ("text/javascript; charset=utf-8", LTI_AUTOSUBMIT_SCRIPT)
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(IMMUTABLE_CACHE_CONTROL),
            ),
        ],
        body,
    )
        .into_response()
}
