//! What every UCloud answer is before it is a typed one: the envelope
//! (`RetCode`, `Message`) read without holding the rest, the typed decode
//! whose errors name the field, and the one-line snippet of a body that is
//! not an answer at all.

use super::action::Answer;

/// How much of an unexpected body an error quotes.
pub(super) const BODY_SNIPPET_CHARS: usize = 200;
/// How much of a body is looked at for that quote.
const SNIPPET_SCAN_BYTES: usize = 4096;

/// The envelope fields every UCloud answer has.
pub(super) struct Envelope {
    /// RetCode may come as a number or as a string (some services send
    /// `"RetCode": "0"`): both are accepted when they hold an integer.
    pub(super) ret_code: Result<i64, String>,
    pub(super) message: String,
}

/// The envelope of `bytes`, or why it is not a UCloud answer. Reads only
/// `RetCode` and `Message`: the rest is skipped without being held.
pub(super) fn read_envelope(bytes: &[u8]) -> Result<Envelope, String> {
    #[derive(serde::Deserialize)]
    struct Raw {
        #[serde(rename = "RetCode", default)]
        ret_code: Option<serde_json::Value>,
        #[serde(rename = "Message", default)]
        message: Option<serde_json::Value>,
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err("empty body".to_owned()),
        // Not an object: a struct would also accept a JSON array, by position.
        Some(b) if *b != b'{' => {
            return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => "JSON that is not an object".to_owned(),
                Err(e) => format!("not JSON: {e}"),
            });
        }
        Some(_) => {}
    }
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let code = raw.ret_code.ok_or_else(|| "JSON without RetCode".to_owned())?;
    let ret_code = match &code {
        serde_json::Value::Number(n) => n.as_i64().ok_or_else(|| format!("RetCode {n} is not an integer")),
        serde_json::Value::String(s) => s.trim().parse().map_err(|_| format!("RetCode {s:?} is not an integer")),
        other => Err(format!("RetCode {other} is not an integer")),
    };
    let message = match raw.message {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    Ok(Envelope { ret_code, message })
}

/// Decodes the typed answer straight from the bytes; a failure names the
/// field (`ImageSet[2].ImageSize: expected an integer`).
pub(super) fn decode<R: Answer>(bytes: &[u8]) -> Result<R, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// The start of a body, on one line, for error messages. Looks only at the
/// first few KiB, however large the body.
pub(super) fn snippet(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(SNIPPET_SCAN_BYTES)];
    let text = String::from_utf8_lossy(head);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = collapsed.chars().take(BODY_SNIPPET_CHARS).collect();
    if collapsed.chars().count() > BODY_SNIPPET_CHARS || head.len() < bytes.len() {
        out.push_str("...");
    }
    out
}
