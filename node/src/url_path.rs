//! Building URL paths from ids.

/// Percent-encodes one segment of a URL path: sourcedIds may hold any characters (`{…}`, `/`,
/// spaces), and a link built from one must name that id and nothing else. Everything but the
/// unreserved characters of RFC 3986 is encoded.
pub fn path_segment(segment: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(segment, RESERVED).to_string()
}
