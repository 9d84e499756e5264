//! A resource's private state: facts Terraform keeps with the resource and
//! hands back on the next call, which the user never sees (a local file's
//! fingerprint, say). Terraform treats it as opaque bytes; here it is a JSON
//! object of named entries, so several facts can live side by side and an
//! entry can be added later without breaking older states.
//!
//! Bytes that are not such an object (written by another framework, or a
//! test's placeholder) pass through untouched unless the resource writes an
//! entry, which starts a fresh object.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

/// Private state as read from Terraform, with the resource's changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Private {
    raw: Vec<u8>,
    entries: Map<String, Json>,
    changed: bool,
}

impl Private {
    pub fn from_bytes(raw: &[u8]) -> Private {
        let entries = match serde_json::from_slice::<Json>(raw) {
            Ok(Json::Object(m)) => m,
            _ => Map::new(),
        };
        Private {
            raw: raw.to_vec(),
            entries,
            changed: false,
        }
    }

    /// The entry `key`, if present and of type `T` (an entry of another
    /// shape, from an older release, reads as absent).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.entries.get(key).and_then(|v| T::deserialize(v).ok())
    }

    pub fn set<T: Serialize>(&mut self, key: &str, value: &T) {
        if let Ok(v) = serde_json::to_value(value) {
            if self.entries.get(key) != Some(&v) {
                self.changed = true;
            }
            self.entries.insert(key.to_owned(), v);
        }
    }

    pub fn remove(&mut self, key: &str) {
        if self.entries.remove(key).is_some() {
            self.changed = true;
        }
    }

    /// What goes back to Terraform: the bytes as received unless an entry changed.
    pub fn to_bytes(&self) -> Vec<u8> {
        if !self.changed {
            return self.raw.clone();
        }
        if self.entries.is_empty() {
            return Vec::new();
        }
        serde_json::to_vec(&self.entries).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_bytes_pass_through_until_an_entry_is_written() {
        let p = Private::from_bytes(b"opaque");
        assert_eq!(p.to_bytes(), b"opaque");
        assert_eq!(p.get::<u64>("size"), None);
        let mut p = p;
        p.set("size", &7u64);
        assert_eq!(p.to_bytes(), br#"{"size":7}"#);
    }

    #[test]
    fn entries_round_trip_and_unchanged_writes_keep_the_bytes() {
        let mut p = Private::from_bytes(br#"{"a":{"x":1},"b":"keep"}"#);
        assert_eq!(p.get::<String>("b").as_deref(), Some("keep"));
        // Wrong shape reads as absent.
        assert_eq!(p.get::<String>("a"), None);
        p.set("b", &"keep");
        assert_eq!(p.to_bytes(), br#"{"a":{"x":1},"b":"keep"}"#);
        p.remove("a");
        let back = Private::from_bytes(&p.to_bytes());
        assert_eq!(back.get::<String>("b").as_deref(), Some("keep"));
        assert_eq!(back.get::<Json>("a"), None);
    }
}
