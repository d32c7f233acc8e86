//! Cross-site request forgery defences for cookie-authenticated requests.
//!
//! A browser attaches the session cookie to any request for the node, including one that a page of
//! another site makes it send. `SameSite=Lax` already withholds the cookie from most cross-site
//! subrequests and form posts; on top of it every unsafe request (anything but GET, HEAD, OPTIONS,
//! TRACE) must carry the session's CSRF token, which only the node's own pages can read, and must
//! not come from a foreign `Origin`.
//!
//! The token travels in the `X-CSRF-Token` header (the JSON API; the token comes from
//! `POST`/`GET /api/v1/session`) or, for the HTML forms of the future web UI, in a form field
//! `csrf_token` of an `application/x-www-form-urlencoded` body. The [`lift_form_csrf_token`]
//! middleware moves the form field into the header, so that one check in [`crate::auth::Caller`]
//! covers both; a server that serves such forms must install it.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::AuthError;

/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The form field that carries the CSRF token in HTML forms.
pub const CSRF_FORM_FIELD: &str = "csrf_token";

/// The largest form body [`lift_form_csrf_token`] reads to find the token: axum's own default body
/// limit, so that the middleware never refuses a form the handler would have taken. Bodies of other
/// types (JSON, multipart uploads) are never read by it.
pub const MAX_FORM_BODY_BYTES: usize = 2 * 1024 * 1024;

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Whether `method` can change state and so needs the CSRF defences. Unknown methods count as
/// unsafe.
pub fn is_unsafe_method(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether `presented` is the session's token `expected`. Both are hashed first so that the
/// comparison takes the same time whatever the presented length, then compared in constant time.
pub fn csrf_tokens_match(presented: &[u8], expected: &str) -> bool {
    let presented: [u8; 32] = Sha256::digest(presented).into();
    let expected: [u8; 32] = Sha256::digest(expected.as_bytes()).into();
    presented.ct_eq(&expected).into()
}

/// Checks the request's CSRF token header against the session's token.
pub fn check_csrf_header(headers: &HeaderMap, expected: &str) -> Result<(), AuthError> {
    let Some(presented) = headers.get(CSRF_HEADER) else {
        return Err(AuthError::CsrfTokenMissing);
    };
    if csrf_tokens_match(presented.as_bytes(), expected) {
        Ok(())
    } else {
        Err(AuthError::CsrfTokenMismatch)
    }
}

/// The port a URL of `scheme` uses when it names none.
fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("https") {
        Some(443)
    } else if scheme.eq_ignore_ascii_case("http") {
        Some(80)
    } else {
        None
    }
}

/// Whether the request's `Origin` (if it has one) names the host the request was sent to.
///
/// A request without `Origin` passes: non-browser clients and some same-origin browser requests
/// send none, and the CSRF token is the main defence. `Origin: null` (sandboxed frames, some
/// redirects) and anything unreadable fail. Host names compare without case, ports after filling in
/// the scheme's default. Schemes are not compared, so a node behind a TLS-terminating proxy (the
/// browser says `https://`, the node hears plain HTTP) still works.
pub fn origin_matches_host(headers: &HeaderMap, uri: &Uri) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Ok(origin) = origin.parse::<Uri>() else {
        return false;
    };
    let (Some(origin_scheme), Some(origin_authority)) = (origin.scheme_str(), origin.authority())
    else {
        return false;
    };
    let host = match headers.get(header::HOST) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.parse::<Authority>().ok()),
        None => uri.authority().cloned(),
    };
    let Some(host) = host else {
        return false;
    };
    let origin_port = origin_authority
        .port_u16()
        .or_else(|| default_port(origin_scheme));
    let host_port = host.port_u16().or_else(|| default_port(origin_scheme));
    origin_authority.host().eq_ignore_ascii_case(host.host()) && origin_port == host_port
}

/// Refuses an unsafe request from a foreign origin.
pub fn check_origin(method: &Method, headers: &HeaderMap, uri: &Uri) -> Result<(), AuthError> {
    if is_unsafe_method(method) && !origin_matches_host(headers, uri) {
        return Err(AuthError::CrossOrigin);
    }
    Ok(())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE))
}

/// Middleware (`axum::middleware::from_fn(lift_form_csrf_token)`) for HTML forms: on an unsafe
/// `application/x-www-form-urlencoded` request without an `X-CSRF-Token` header, it reads the body
/// (at most [`MAX_FORM_BODY_BYTES`]) and copies its `csrf_token` field into that header, then passes
/// the request on with the body intact. It grants nothing by itself: the token is still compared
/// with the session's by [`crate::auth::Caller`].
pub async fn lift_form_csrf_token(request: Request, next: Next) -> Response {
    if !is_unsafe_method(request.method())
        || request.headers().contains_key(CSRF_HEADER)
        || !is_form(request.headers())
    {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BODY_BYTES).await else {
        return AuthError::FormTooLarge.into_response();
    };
    let token = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == CSRF_FORM_FIELD)
        .and_then(|(_, value)| HeaderValue::from_str(&value).ok());
    if let Some(token) = token {
        parts.headers.insert(CSRF_HEADER, token);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_get_head_options_and_trace_are_safe() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            assert!(!is_unsafe_method(&method));
        }
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_unsafe_method(&method));
        }
        let custom = Method::from_bytes(b"PROPPATCH").expect("valid method");
        assert!(is_unsafe_method(&custom));
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        assert!(csrf_tokens_match(b"abc123", "abc123"));
        assert!(!csrf_tokens_match(b"abc12", "abc123"));
        assert!(!csrf_tokens_match(b"", "abc123"));
        assert!(!csrf_tokens_match(b"abc1234", "abc123"));
    }

    #[test]
    fn origins_must_name_the_host() {
        let uri = Uri::from_static("/api/v1/thing");
        let same = [
            [("origin", "http://koulu.local"), ("host", "koulu.local")],
            [("origin", "http://KOULU.local"), ("host", "koulu.LOCAL")],
            [
                ("origin", "http://koulu.local:8080"),
                ("host", "koulu.local:8080"),
            ],
            [("origin", "http://koulu.local"), ("host", "koulu.local:80")],
            [("origin", "https://koulu.local"), ("host", "koulu.local")],
            [
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:3000"),
            ],
        ];
        for pairs in same {
            assert!(origin_matches_host(&headers(&pairs), &uri), "{pairs:?}");
        }
        let foreign = [
            [("origin", "http://evil.example"), ("host", "koulu.local")],
            [
                ("origin", "http://koulu.local:8081"),
                ("host", "koulu.local:8080"),
            ],
            [
                ("origin", "http://koulu.local"),
                ("host", "koulu.local:8080"),
            ],
            [("origin", "null"), ("host", "koulu.local")],
            [("origin", "koulu.local"), ("host", "koulu.local")],
            [
                ("origin", "http://koulu.local.evil.example"),
                ("host", "koulu.local"),
            ],
        ];
        for pairs in foreign {
            assert!(!origin_matches_host(&headers(&pairs), &uri), "{pairs:?}");
        }
        assert!(origin_matches_host(
            &headers(&[("host", "koulu.local")]),
            &uri
        ));
        assert!(!origin_matches_host(
            &headers(&[("origin", "http://koulu.local")]),
            &uri
        ));
    }

    #[test]
    fn form_content_type_is_recognised_with_parameters() {
        assert!(is_form(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8"
        )])));
        assert!(!is_form(&headers(&[("content-type", "application/json")])));
        assert!(!is_form(&HeaderMap::new()));
    }
}
