//! Request parameters as UCloud sees them: a flat list of `key=value` strings,
//! whether they came from a form body, a query string or a JSON body, and the
//! signature check over them (the rule itself lives in [`crate::sign`]).

use serde_json::Value;

use crate::cli::Keys;
use crate::sign;

/// The parameters of one request, in the order received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parameters of a form body or a query string.
    pub fn from_urlencoded(bytes: &[u8]) -> Self {
        Params(
            url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Parameters of a JSON object body, rendered as they are signed: strings
    /// as is, booleans `true`/`false`, integers in decimal, floats without a
    /// zero fraction, arrays flattened to `Key.0`, `Key.1`, .. and objects to
    /// `Key.Field`. Nulls are not parameters.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("the JSON body does not parse: {e}"))?;
        let Value::Object(map) = value else {
            return Err("the JSON body is not an object".to_string());
        };
        let mut out = Vec::new();
        for (key, value) in map {
            flatten(key, &value, &mut out);
        }
        Ok(Params(out))
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// The first non-empty value of `key`; an empty value counts as absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The values of a flattened list `prefix.0`, `prefix.1`, .. in index order.
    pub fn list(&self, prefix: &str) -> Vec<&str> {
        let mut items: Vec<(u64, &str)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix(prefix)?.strip_prefix('.')?.parse().ok()?;
                (!v.is_empty()).then_some((index, v.as_str()))
            })
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// Every parameter except `Signature`: what is signed and what the journal shows.
    pub fn unsigned(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter(|(k, _)| k != "Signature")
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Checks `Signature` against the private key of `PublicKey`.
    pub fn verify(&self, keys: &Keys) -> Result<(), AuthError> {
        let signature = self.get("Signature").ok_or(AuthError::Missing("Signature"))?;
        let public = self.get("PublicKey").ok_or(AuthError::Missing("PublicKey"))?;
        let private = keys.get(public).ok_or(AuthError::UnknownKey)?;
        let expected = sign::signature(self.unsigned(), private.expose());
        if constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            Ok(())
        } else {
            Err(AuthError::Mismatch)
        }
    }
}

fn flatten(key: String, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((key, b.to_string())),
        Value::Number(n) => {
            let rendered = if n.is_i64() || n.is_u64() {
                n.to_string()
            } else {
                sign::render_float(n.as_f64().unwrap_or(f64::NAN))
            };
            out.push((key, rendered));
        }
        Value::String(s) => out.push((key, s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(format!("{key}.{i}"), item, out);
            }
        }
        Value::Object(fields) => {
            for (field, item) in fields {
                flatten(format!("{key}.{field}"), item, out);
            }
        }
    }
}

/// Compares without an early exit, so timing does not reveal a prefix match.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a request's signature was refused, with UCloud's RetCode for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// `Signature` or `PublicKey` missing: 170.
    Missing(&'static str),
    /// No such public key: 172.
    UnknownKey,
    /// The signature does not match: 171.
    Mismatch,
}

impl AuthError {
    pub fn ret_code(self) -> u32 {
        match self {
            AuthError::Missing(_) => 170,
            AuthError::Mismatch => 171,
            AuthError::UnknownKey => 172,
        }
    }

    pub fn message(self) -> String {
        match self {
            AuthError::Missing(what) => format!("Missing signature: param [{what}] not available"),
            AuthError::Mismatch => "Signature VerifyAC Error".to_string(),
            AuthError::UnknownKey => "User not exist: the PublicKey is unknown".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::PrivateKey;

    const DOC_PUB: &str = "ucloudsomeone@example.com1296235120854146120";
    const DOC_PRIV: &str = "46f09bb9fab4f12dfc160dae12273d5332b5debe";

    fn doc_keys() -> Keys {
        Keys::from([(DOC_PUB.to_string(), PrivateKey::new(DOC_PRIV))])
    }

    #[test]
    fn the_official_describe_uhost_vector_verifies() {
        let body = format!(
            "Action=DescribeUHostInstance&Region=cn-bj2&Limit=10&PublicKey={}&Signature=cba5cf5ec4d4233d206b1b54951e3787350a642f",
            DOC_PUB.replace('@', "%40")
        );
        assert_eq!(Params::from_urlencoded(body.as_bytes()).verify(&doc_keys()), Ok(()));
    }

    #[test]
    fn the_official_float_vector_verifies_from_a_json_number() {
        let body = serde_json::json!({
            "Action": "DescribeUHostInstance", "Region": "cn-bj2", "PublicKey": DOC_PUB,
            "Proportion": 35.0, "Signature": "da620b97de476947302291fc93a2d8b0710be328",
        });
        let params = Params::from_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(params.get("Proportion"), Some("35"));
        assert_eq!(params.verify(&doc_keys()), Ok(()));
    }

    #[test]
    fn an_altered_vector_is_a_mismatch_and_missing_parts_are_named() {
        let altered = Params::from_pairs(&[
            ("Action", "DescribeUHostInstance"),
            ("Region", "cn-bj2"),
            ("Limit", "11"),
            ("PublicKey", DOC_PUB),
            ("Signature", "cba5cf5ec4d4233d206b1b54951e3787350a642f"),
        ]);
        assert_eq!(altered.verify(&doc_keys()), Err(AuthError::Mismatch));
        let unsigned = Params::from_pairs(&[("Action", "X"), ("PublicKey", DOC_PUB)]);
        assert_eq!(unsigned.verify(&doc_keys()), Err(AuthError::Missing("Signature")));
        let anonymous = Params::from_pairs(&[("Action", "X"), ("Signature", "00")]);
        assert_eq!(anonymous.verify(&doc_keys()), Err(AuthError::Missing("PublicKey")));
        let stranger = Params::from_pairs(&[("Action", "X"), ("PublicKey", "who"), ("Signature", "00")]);
        assert_eq!(stranger.verify(&doc_keys()), Err(AuthError::UnknownKey));
        assert_eq!(
            [
                AuthError::Missing("Signature"),
                AuthError::Mismatch,
                AuthError::UnknownKey
            ]
            .map(AuthError::ret_code),
            [170, 171, 172]
        );
    }

    #[test]
    fn json_values_render_as_they_are_signed() {
        let body = br#"{"Auth":true,"Limit":10,"Ratio":65.722,"ImageIds":["a","b"],"Tag":null,"Obj":{"K":"v"}}"#;
        let params = Params::from_json(body).unwrap();
        let mut pairs: Vec<_> = params.unsigned().collect();
        pairs.sort();
        assert_eq!(
            pairs,
            [
                ("Auth", "true"),
                ("ImageIds.0", "a"),
                ("ImageIds.1", "b"),
                ("Limit", "10"),
                ("Obj.K", "v"),
                ("Ratio", "65.722")
            ]
        );
        assert!(Params::from_json(b"[1]").is_err());
        assert!(Params::from_json(b"{").is_err());
    }

    #[test]
    fn lists_come_back_in_index_order_and_empty_values_are_absent() {
        let params = Params::from_urlencoded(b"Ids.10=k&Ids.2=c&Ids.0=a&Ids.x=no&Idsz.1=no&Region=&Ids.3=");
        assert_eq!(params.list("Ids"), ["a", "c", "k"]);
        assert_eq!(params.get("Region"), None);
    }
}
