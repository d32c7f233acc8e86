//! The session cookie: its name, its attributes, and reading it back. Parsing and formatting are the
//! `cookie` crate's (through `axum-extra`), never our own.

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::session::SessionToken;

/// The cookie's name when the node serves plain HTTP (a school LAN without certificates).
pub const PLAIN_COOKIE_NAME: &str = "digione_session";

/// The cookie's name over HTTPS. Browsers accept a `__Host-` cookie only with `Secure`, `Path=/` and
/// no `Domain`, so another host (a sibling subdomain) can neither set nor shadow it.
pub const SECURE_COOKIE_NAME: &str = "__Host-digione_session";

/// The session cookie's name for a node that serves HTTPS (`https`) or plain HTTP.
pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        SECURE_COOKIE_NAME
    } else {
        PLAIN_COOKIE_NAME
    }
}

/// The cookie without its value: `HttpOnly` keeps scripts (an injected one included) from reading
/// it, `SameSite=Lax` keeps other sites' subrequests and form posts from sending it, `Path=/` makes
/// it valid for the whole node. It has no `Max-Age`: the browser forgets it when it closes, which is
/// what a shared classroom computer needs; the server's limits end it anyway.
fn base_cookie(https: bool, value: String) -> Cookie<'static> {
    Cookie::build((session_cookie_name(https), value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(https)
        .build()
}

/// The `Set-Cookie` value that gives the browser `token`.
pub fn set_session_cookie(https: bool, token: &SessionToken) -> String {
    base_cookie(https, token.to_cookie_value()).to_string()
}

/// The `Set-Cookie` value that makes the browser forget the session cookie.
pub fn clear_session_cookie(https: bool) -> String {
    let mut cookie = base_cookie(https, String::new());
    cookie.make_removal();
    cookie.to_string()
}

/// The session token in the request's cookies, if there is a well-formed one.
pub fn session_token_from_headers(headers: &HeaderMap, https: bool) -> Option<SessionToken> {
    let jar = CookieJar::from_headers(headers);
    let cookie = jar.get(session_cookie_name(https))?;
    SessionToken::from_cookie_value(cookie.value())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use axum::http::header::COOKIE;

    use super::*;

    #[test]
    fn cookies_carry_the_required_attributes() {
        let token = SessionToken::generate().expect("random works");
        let plain = set_session_cookie(false, &token);
        assert!(plain.starts_with(&format!("digione_session={}", token.to_cookie_value())));
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(plain.contains(attribute), "{plain} lacks {attribute}");
        }
        assert!(!plain.contains("Secure"));

        let secure = set_session_cookie(true, &token);
        assert!(secure.starts_with("__Host-digione_session="));
        assert!(secure.contains("Secure"));
        assert!(!secure.contains("Domain"));

        let cleared = clear_session_cookie(false);
        assert!(cleared.starts_with("digione_session=;"));
        assert!(cleared.contains("Max-Age=0"));
    }

    #[test]
    fn the_token_is_read_from_the_cookie_header_by_name() {
        let token = SessionToken::generate().expect("random works");
        let mut headers = HeaderMap::new();
        let header = format!("theme=dark; digione_session={}", token.to_cookie_value());
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&header).expect("valid header"),
        );
        assert_eq!(session_token_from_headers(&headers, false), Some(token));
        assert_eq!(session_token_from_headers(&headers, true), None);

        headers.insert(COOKIE, HeaderValue::from_static("digione_session=short"));
        assert_eq!(session_token_from_headers(&headers, false), None);
    }
}
