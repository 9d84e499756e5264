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
    match raw.find(['?', '#']) {
        None => raw.to_owned(),
        Some(at) if raw[at..].starts_with('?') && raw.len() > at + 1 && !raw[at + 1..].starts_with('#') => {
            format!("{}?***", &raw[..at])
        }
        Some(at) => raw[..at].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-private");
        assert_eq!(format!("{s:?} {s} {:?}", Some(&s)), "*** *** Some(***)");
        assert_eq!(s.expose(), "hunter2-private");
    }
}
