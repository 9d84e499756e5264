//! [`Secret`]: a string that must never be printed. The UCloud private key
//! travels through configuration, the client and its errors inside this type,
//! so a stray `{:?}` or `tracing` field shows `***` instead of the key. And
//! [`redact_url`]: how every URL is shown, without the query that may carry
//! a signature.

use std::fmt;

/// A secret string. `Debug` and `Display` print `***`; the value is only
/// reachable through [`Secret::expose`], which makes every use greppable.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for the one place that needs it (signing).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `raw` as logs, errors and messages show a URL: scheme, host and path,
/// with a query replaced by `?***` and a fragment dropped. A query may carry
/// a signature or a token under any name (UFile's `Signature`, a CDN's
/// `auth_key`, percent-encoded names), so none of it is shown: redaction by
/// construction, not by a list of names. Works on text that does not parse
/// as a URL too.
pub fn redact_url(raw: &str) -> String {
    let plain = without_query(raw);
    match raw[plain.len()..].strip_prefix('?') {
        Some(query) if !query.is_empty() && !query.starts_with('#') => format!("{plain}?***"),
        _ => plain.to_owned(),
    }
}

/// `raw` without its query and fragment: the plain URL of an object, to
/// suggest in place of a signed one.
pub fn without_query(raw: &str) -> &str {
    raw.split(['?', '#']).next().unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_keep_no_query_whatever_its_names() {
        for (raw, shown) in [
            (
                "https://b.cn-bj.ufileos.com/a.raw?UCloudPublicKey=p&Signature=s&Expires=9",
                "https://b.cn-bj.ufileos.com/a.raw?***",
            ),
            (
                "https://cdn.example.com/a.raw?auth_key=1700000000-0-0-abcdef",
                "https://cdn.example.com/a.raw?***",
            ),
            (
                "https://b.cn-bj.ufileos.com/a.raw?Sig%6Eature=s#frag",
                "https://b.cn-bj.ufileos.com/a.raw?***",
            ),
            ("x?a=1&signature=abc#f", "x?***"),
            (
                "https://b.cn-bj.ufileos.com/a.raw#only-a-fragment",
                "https://b.cn-bj.ufileos.com/a.raw",
            ),
            (
                "https://b.cn-bj.ufileos.com/a.raw?",
                "https://b.cn-bj.ufileos.com/a.raw",
            ),
            ("no query", "no query"),
        ] {
            assert_eq!(redact_url(raw), shown, "{raw}");
            assert_eq!(without_query(raw), shown.trim_end_matches("?***"), "{raw}");
        }
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-private");
        assert_eq!(format!("{s:?} {s} {:?}", Some(&s)), "*** *** Some(***)");
        assert_eq!(s.expose(), "hunter2-private");
    }
}
