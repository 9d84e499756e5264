//! The [`Action`] trait, one implementation per UCloud API action; [`Answer`],
//! which every response type implements to say which of its fields callers
//! rely on; and [`Params`], the builder that renders parameter values the way
//! UCloud signs them. Whether an action may be retried after an uncertain
//! failure is a property of its type (`IDEMPOTENT`), never a flag chosen at a
//! call site.

use serde::de::DeserializeOwned;

use super::sign;

/// One UCloud API action: its name, whether repeating it is harmless, its
/// parameters and the shape of its answer.
pub trait Action {
    /// The `Action` parameter, e.g. `DescribeImage`.
    const NAME: &'static str;
    /// `true` when sending the request twice has the same effect as once.
    /// A non-idempotent action is only retried where the request certainly
    /// was not processed.
    const IDEMPOTENT: bool;
    /// The action's own response fields (the envelope, `RetCode`/`Message`,
    /// is handled by the client).
    type Response: Answer;

    /// The parameters, without `Action`, `PublicKey` and `Signature`.
    /// Parameters with empty values are dropped by the client.
    fn params(&self) -> Vec<(String, String)>;

    /// A required parameter that is empty, checked before anything is sent.
    /// Empty values are dropped from the request, so an empty id is at best
    /// rejected as missing and at worst widens the request (a DescribeImage
    /// without ImageId lists every image).
    fn missing_param(&self) -> Option<String> {
        None
    }
}

/// A decoded answer. The client rejects one that lacks a field callers rely
/// on, so an empty id never reaches them: for a non-idempotent action that
/// answer counts as one whose outcome is unknown.
pub trait Answer: DeserializeOwned {
    /// The first required field that is missing, null or blank, as a path
    /// into the answer (`ImageId`, `ImageSet[3].State`).
    fn missing_field(&self) -> Option<String>;
}

/// An untyped answer (tests, exploratory calls) has no required fields.
impl Answer for serde_json::Value {
    fn missing_field(&self) -> Option<String> {
        None
    }
}

/// Whether a required text value counts as absent.
pub(crate) fn blank(value: &str) -> bool {
    value.trim().is_empty()
}

/// Collects parameters rendered the way UCloud signs them: booleans as
/// `true`/`false`, integers in decimal, floats through
/// [`sign::render_float`], lists flattened to `Key.0`, `Key.1`, ...
/// Empty and absent values are skipped: they are neither sent nor signed.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    pub fn str(mut self, key: &str, value: &str) -> Self {
        if !value.is_empty() {
            self.0.push((key.to_owned(), value.to_owned()));
        }
        self
    }

    pub fn opt_str(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.str(key, v),
            None => self,
        }
    }

    pub fn bool(self, key: &str, value: bool) -> Self {
        self.str(key, if value { "true" } else { "false" })
    }

    pub fn int(self, key: &str, value: i64) -> Self {
        self.str(key, &value.to_string())
    }

    pub fn opt_int(self, key: &str, value: Option<i64>) -> Self {
        match value {
            Some(v) => self.int(key, v),
            None => self,
        }
    }

    pub fn float(self, key: &str, value: f64) -> Self {
        self.str(key, &sign::render_float(value))
    }

    /// A list parameter, flattened to `key.0`, `key.1`, ... Empty elements
    /// keep their index so the server sees the positions the caller meant.
    pub fn list<S: AsRef<str>>(mut self, key: &str, values: &[S]) -> Self {
        for (i, v) in values.iter().enumerate() {
            self = self.str(&format!("{key}.{i}"), v.as_ref());
        }
        self
    }

    pub fn build(self) -> Vec<(String, String)> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_values_and_drops_empty_ones() {
        let p = Params::new()
            .str("Region", "cn-bj2")
            .str("Empty", "")
            .opt_str("ProjectId", None)
            .opt_str("Zone", Some(""))
            .bool("Auth", true)
            .bool("Off", false)
            .int("Limit", 20)
            .opt_int("Offset", Some(0))
            .float("Proportion", 35.0)
            .list("ImageIds", &["a", "b"])
            .build();
        let want: Vec<(String, String)> = [
            ("Region", "cn-bj2"),
            ("Auth", "true"),
            ("Off", "false"),
            ("Limit", "20"),
            ("Offset", "0"),
            ("Proportion", "35"),
            ("ImageIds.0", "a"),
            ("ImageIds.1", "b"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(p, want);
    }
}
