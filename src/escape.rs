//! Escaping for the few pages and URLs written by hand rather than by a template: the
//! dashboard's login page and redirects, and the simulator's sign-in pages. One set of
//! rules for both, so neither drifts.
//!
//! It depends on no other Flotilla module, so the simulator may use it.

/// Escapes text for HTML content and attribute values.
pub fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a query value).
pub fn percent(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
