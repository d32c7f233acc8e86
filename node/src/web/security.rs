//! The security headers every response of the node carries (pages, the JSON API, static files,
//! errors, redirects), and the ones only HTTPS responses carry.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The content security policy of every response that sets none of its own (file downloads set a
/// stricter, sandboxing one). Scripts and styles only from the node's own files, never inline, so an
/// injected `<script>` or `style=` does nothing; no framing (clickjacking); forms post only to the
/// node; no `<base>` to redirect relative links; no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// `Strict-Transport-Security` for HTTPS responses: a year. No `includeSubDomains`: the node is one
/// host on a school's LAN and knows nothing of its siblings.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Middleware: the headers of every response.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // For browsers older than `frame-ancestors`.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}

/// Middleware for the HTTPS listener only: HSTS. Sent over plain HTTP it would be ignored at best,
/// and a node without a certificate must stay reachable.
pub async fn strict_transport_security(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
    );
    response
}
