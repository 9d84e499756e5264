//! UFile, as far as the simulator plays it: the files under `--ufile-dir`
//! (`DIR/BUCKET/KEY`) are private objects, served path-style at
//! `/ufile/BUCKET/KEY` (HEAD, GET, `Range`) to requests signed by UFile's
//! rule, either in the `Authorization` header or as a presigned URL; and
//! ImportCustomImage reads the object its UFileUrl names through the
//! signature that URL carries.
//!
//! UFile's rule, written from its documentation (not from the provider's
//! code) and checked against vectors made by UCloud's Python SDK (tests
//! below): `Signature = Base64(HMAC-SHA1(private key, StringToSign))` with
//! `StringToSign = Verb \n Content-MD5 \n Content-Type \n Date \n
//! /BUCKET/KEY`, the key percent-decoded; a presigned URL carries
//! `UCloudPublicKey`, `Expires` (in Date's place) and `Signature`, and its
//! expiry is checked before its signature. A header signature that covers a
//! `Date` is refused when that Date is more than 15 minutes from the
//! simulator's clock (a replayed request; UFile documents no window, so
//! this follows common object stores). Failures answer UFile's JSON body
//! `{"RetCode": .., "ErrMsg": ..}` with an `X-SessionId` header.
//!
//! Uploads (PutFile, multipart, DeleteFile and the bucket-level listings)
//! are served by [`http`], with ETags from [`etag`], parts spooled by
//! [`uploads`] and faults from [`faults`].

pub mod etag;
pub mod faults;
pub mod http;
mod spool;
pub mod uploads;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::cli::Keys;

/// Where objects are served: `{sim}/ufile/BUCKET/KEY`, the value to give the
/// provider's `ufile_base_url` is `{sim}/ufile`.
pub const PATH_PREFIX: &str = "/ufile";
/// The header carrying the id UFile support asks for.
pub const SESSION_ID_HEADER: &str = "X-SessionId";

/// UFile's RetCodes as its SDKs handle them.
const NOT_FOUND: (i64, &str) = (-148654, "file not exist");
const BAD_SIGNATURE: (i64, &str) = (-148658, "invalid signature");
const NO_AUTHORIZATION: (i64, &str) = (-148643, "no authorization found");
/// How far a header signature's `Date` may be from the server's clock, as
/// object stores commonly allow (S3's is 15 minutes; UFile documents none,
/// so this is an inference).
pub const DATE_WINDOW_SECS: u64 = 15 * 60;

/// The objects under `--ufile-dir`.
#[derive(Clone, Debug)]
pub struct Objects {
    root: PathBuf,
}

impl Objects {
    /// `root` must be a directory; each subdirectory is a bucket.
    pub fn open(root: &Path) -> Result<Objects, String> {
        if !root.is_dir() {
            return Err(format!("--ufile-dir {}: not a directory", root.display()));
        }
        Ok(Objects {
            root: root.to_path_buf(),
        })
    }

    /// The directory holding the buckets.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every bucket (directory with a bucket's name) and when it was made.
    pub fn buckets(&self) -> Vec<(String, u64)> {
        let mut found: Vec<(String, u64)> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let made = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs());
                is_bucket_name(&name).then_some((name, made))
            })
            .collect();
        found.sort();
        found
    }

    /// Every object: bucket, key and size, in order.
    pub fn list(&self) -> Vec<(String, String, u64)> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, u64)>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let key = format!("{prefix}{name}");
                match entry.metadata() {
                    Ok(m) if m.is_dir() => walk(&entry.path(), &format!("{key}/"), out),
                    Ok(m) if m.is_file() => out.push((key, m.len())),
                    _ => {}
                }
            }
        }
        let mut all = Vec::new();
        for (bucket, _) in self.buckets() {
            let mut keys = Vec::new();
            walk(&self.root.join(&bucket), "", &mut keys);
            keys.sort();
            all.extend(keys.into_iter().map(|(k, size)| (bucket.clone(), k, size)));
        }
        all
    }

    /// Whether `bucket` is a directory here: URLs naming other buckets are
    /// not this simulator's to judge.
    pub fn has_bucket(&self, bucket: &str) -> bool {
        is_bucket_name(bucket) && self.root.join(bucket).is_dir()
    }

    /// The file of `bucket`/`key`; `None` for a key that would leave the
    /// bucket's directory (`..`, empty or absolute segments).
    pub fn file(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        if !is_bucket_name(bucket) || key.is_empty() {
            return None;
        }
        let mut path = self.root.join(bucket);
        for segment in key.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\\') {
                return None;
            }
            path.push(segment);
        }
        Some(path)
    }

    /// The size of an object that exists.
    fn size(&self, bucket: &str, key: &str) -> Option<u64> {
        let meta = std::fs::metadata(self.file(bucket, key)?).ok()?;
        meta.is_file().then_some(meta.len())
    }

    /// `len` bytes from `start` (fewer at the end of the file).
    fn read(&self, bucket: &str, key: &str, start: u64, len: u64) -> std::io::Result<Vec<u8>> {
        let path = self
            .file(bucket, key)
            .ok_or_else(|| std::io::Error::other("no such object"))?;
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(start))?;
        let mut out = Vec::new();
        f.take(len).read_to_end(&mut out)?;
        Ok(out)
    }
}

/// UFile bucket names: 3-63 of `a-z 0-9 -`, not starting or ending with `-`.
fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The text a UFile signature covers.
pub fn string_to_sign(
    verb: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    bucket: &str,
    key: &str,
) -> String {
    format!("{verb}\n{content_md5}\n{content_type}\n{date}\n/{bucket}/{key}")
}

type HmacSha1 = Hmac<Sha1>;

fn mac(private_key: &str, text: &str) -> HmacSha1 {
    // HMAC takes keys of any length.
    let mut mac = match HmacSha1::new_from_slice(private_key.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(text.as_bytes());
    mac
}

/// `Base64(HMAC-SHA1(private_key, text))`, standard alphabet.
pub fn signature(private_key: &str, text: &str) -> String {
    STANDARD.encode(mac(private_key, text).finalize().into_bytes())
}

/// Whether `claimed` is the signature of `text`, compared in constant time.
pub fn verify(private_key: &str, text: &str, claimed: &str) -> bool {
    match STANDARD.decode(claimed.trim()) {
        Ok(bytes) => mac(private_key, text).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// Why UFile refuses a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NoAuthorization,
    /// Signed both in the header and in the URL.
    Twice,
    /// Only some of UCloudPublicKey, Expires, Signature.
    IncompleteUrl,
    Expired {
        expires: u64,
    },
    UnknownKey,
    BadSignature,
    /// A header signature whose `Date` is more than [`DATE_WINDOW_SECS`]
    /// from now (or unreadable): a replayed request.
    Stale {
        date: String,
    },
}

impl Refusal {
    /// HTTP status, RetCode and ErrMsg. The codes for the cases UFile's SDKs
    /// do not show (twice, incomplete, expired) are the simulator's choice.
    pub fn answer(&self) -> (u16, i64, String) {
        match self {
            Refusal::NoAuthorization => (401, NO_AUTHORIZATION.0, NO_AUTHORIZATION.1.to_owned()),
            Refusal::Twice => (
                400,
                BAD_SIGNATURE.0,
                "signature in both the header and the URL".to_owned(),
            ),
            Refusal::IncompleteUrl => (
                401,
                NO_AUTHORIZATION.0,
                "a signed URL needs UCloudPublicKey, Expires and Signature".to_owned(),
            ),
            Refusal::Expired { .. } => (403, BAD_SIGNATURE.0, "signature expired".to_owned()),
            Refusal::Stale { .. } => (
                403,
                BAD_SIGNATURE.0,
                "request date too far from the server time".to_owned(),
            ),
            Refusal::UnknownKey | Refusal::BadSignature => (403, BAD_SIGNATURE.0, BAD_SIGNATURE.1.to_owned()),
        }
    }

    /// For the hook view of a failed import.
    pub fn describe(&self) -> String {
        match self {
            Refusal::NoAuthorization => "the URL carries no signature and the bucket is private".to_owned(),
            Refusal::Twice => "signed twice".to_owned(),
            Refusal::IncompleteUrl => "the URL's signature is incomplete".to_owned(),
            Refusal::Expired { expires } => format!("the URL's signature expired (Expires={expires})"),
            Refusal::Stale { date } => format!("the request's Date ({date}) is too far from now"),
            Refusal::UnknownKey => "the URL is signed with an unknown public key".to_owned(),
            Refusal::BadSignature => "the URL's signature is wrong".to_owned(),
        }
    }
}

/// What a request presents to be let in.
pub struct Presented<'a> {
    pub verb: &'a str,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    pub content_md5: &'a str,
    pub content_type: &'a str,
    pub date: &'a str,
    /// The decoded query parameters.
    pub query: &'a [(String, String)],
    /// The `Range` header (not signed).
    pub range: Option<&'a str>,
}

/// Checks a request for `bucket`/`key` (key decoded) at unix time `now`.
pub fn authorize(keys: &Keys, p: &Presented<'_>, bucket: &str, key: &str, now: u64) -> Result<(), Refusal> {
    let param = |name: &str| p.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let url = (param("UCloudPublicKey"), param("Expires"), param("Signature"));
    let in_url = url.0.is_some() || url.1.is_some() || url.2.is_some();
    match (p.authorization, in_url) {
        (Some(_), true) => Err(Refusal::Twice),
        (None, false) => Err(Refusal::NoAuthorization),
        (Some(header), false) => {
            let (public, claimed) = header
                .trim()
                .strip_prefix("UCloud ")
                .and_then(|rest| rest.rsplit_once(':'))
                .ok_or(Refusal::BadSignature)?;
            let private = keys.get(public.trim()).ok_or(Refusal::UnknownKey)?;
            let text = string_to_sign(p.verb, p.content_md5, p.content_type, p.date, bucket, key);
            if !verify(private.expose(), &text, claimed) {
                return Err(Refusal::BadSignature);
            }
            // A signed Date must be near now: a captured header expires.
            if !p.date.is_empty() {
                let at = httpdate::parse_http_date(p.date)
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs());
                match at {
                    Some(at) if at.abs_diff(now) <= DATE_WINDOW_SECS => {}
                    _ => {
                        return Err(Refusal::Stale {
                            date: p.date.to_owned(),
                        });
                    }
                }
            }
            Ok(())
        }
        (None, true) => {
            let (Some(public), Some(expires), Some(claimed)) = url else {
                return Err(Refusal::IncompleteUrl);
            };
            let at: u64 = expires.trim().parse().map_err(|_| Refusal::BadSignature)?;
            if now >= at {
                return Err(Refusal::Expired { expires: at });
            }
            let private = keys.get(public).ok_or(Refusal::UnknownKey)?;
            let text = string_to_sign(p.verb, p.content_md5, p.content_type, expires, bucket, key);
            verify(private.expose(), &text, claimed)
                .then_some(())
                .ok_or(Refusal::BadSignature)
        }
    }
}

/// A `Range` header: `bytes=A-B`, `bytes=A-` or `bytes=-N` (one range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    From(u64, Option<u64>),
    Last(u64),
}

impl Range {
    pub fn parse(value: &str) -> Option<Range> {
        let spec = value.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        match (a.trim(), b.trim()) {
            ("", n) => Some(Range::Last(n.parse().ok()?)),
            (a, "") => Some(Range::From(a.parse().ok()?, None)),
            (a, b) => {
                let (a, b) = (a.parse().ok()?, b.parse().ok()?);
                (a <= b).then_some(Range::From(a, Some(b)))
            }
        }
    }

    /// The inclusive byte span of an object of `size` bytes, or `None` when
    /// it holds none of them (416).
    pub fn span(self, size: u64) -> Option<(u64, u64)> {
        match self {
            Range::From(a, _) if a >= size => None,
            Range::From(a, b) => Some((a, b.map_or(size - 1, |b| b.min(size - 1)))),
            Range::Last(0) => None,
            Range::Last(_) if size == 0 => None,
            Range::Last(n) => Some((size.saturating_sub(n), size - 1)),
        }
    }
}

/// One answer to an object request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Answers `HEAD`/`GET` of `bucket`/`key` (decoded). `session_id` goes into
/// every answer, as UFile's does.
pub fn serve(
    objects: &Objects,
    keys: &Keys,
    p: &Presented<'_>,
    bucket: &str,
    key: &str,
    now: u64,
    session_id: &str,
) -> Reply {
    let head = p.verb == "HEAD";
    let fail = |status: u16, code: i64, message: &str| Reply {
        status,
        headers: vec![
            (SESSION_ID_HEADER, session_id.to_owned()),
            ("Content-Type", "application/json".to_owned()),
        ],
        body: if head {
            Vec::new()
        } else {
            serde_json::json!({ "RetCode": code, "ErrMsg": message })
                .to_string()
                .into_bytes()
        },
    };
    if !matches!(p.verb, "GET" | "HEAD") {
        return fail(405, -148600, "method not allowed");
    }
    if let Err(r) = authorize(keys, p, bucket, key, now) {
        let (status, code, message) = r.answer();
        return fail(status, code, &message);
    }
    let Some(size) = objects.size(bucket, key) else {
        return fail(404, NOT_FOUND.0, NOT_FOUND.1);
    };
    let mut headers = vec![
        (SESSION_ID_HEADER, session_id.to_owned()),
        ("Content-Type", "application/octet-stream".to_owned()),
        ("Accept-Ranges", "bytes".to_owned()),
        ("X-Ufile-Storage-Class", "STANDARD".to_owned()),
    ];
    // An unreadable Range is ignored, as HTTP servers do.
    let (status, start, end) = match p.range.and_then(Range::parse) {
        None if size == 0 => (200, 0, None),
        None => (200, 0, Some(size - 1)),
        Some(r) => match r.span(size) {
            Some((a, b)) => {
                headers.push(("Content-Range", format!("bytes {a}-{b}/{size}")));
                (206, a, Some(b))
            }
            None => {
                let mut reply = fail(416, -148600, "requested range not satisfiable");
                reply.headers.push(("Content-Range", format!("bytes */{size}")));
                return reply;
            }
        },
    };
    let len = end.map_or(0, |e| e + 1 - start);
    headers.push(("Content-Length", len.to_string()));
    let body = if head || len == 0 {
        Vec::new()
    } else {
        match objects.read(bucket, key, start, len) {
            Ok(b) => b,
            Err(_) => return fail(500, -148600, "cannot read the object"),
        }
    };
    Reply { status, headers, body }
}

/// The answer of a simulator started without `--ufile-dir`: a check that
/// cannot be made, not a verdict on the file.
pub fn not_served(session_id: &str) -> Reply {
    Reply {
        status: 503,
        headers: vec![
            (SESSION_ID_HEADER, session_id.to_owned()),
            ("Content-Type", "application/json".to_owned()),
        ],
        body: serde_json::json!({
            "RetCode": -1,
            "ErrMsg": "ucloud-sim serves no UFile objects (start it with --ufile-dir)",
        })
        .to_string()
        .into_bytes(),
    }
}

/// Bucket and key (decoded) of a UFile URL: `BUCKET.<region>.ufileos.com/KEY`,
/// the legacy `BUCKET.ufile.ucloud.cn/KEY` forms, or path-style
/// `<any host>/ufile/BUCKET/KEY` as this simulator serves it.
pub fn map_url(url: &url::Url) -> Option<(String, String)> {
    let host = url.host_str()?.to_ascii_lowercase();
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    let ufile_host = matches!(
        labels.get(1..).unwrap_or_default(),
        [_, "ufileos", "com"]
            | ["ufile", "ucloud", "cn"]
            | ["ufile", "ucloud", "com", "cn"]
            | ["ufile", _, "ucloud", "cn"]
    );
    let path = url.path();
    let (bucket, raw_key) = if let Some(rest) = path.strip_prefix(PATH_PREFIX).and_then(|r| r.strip_prefix('/')) {
        rest.split_once('/')?
    } else if ufile_host {
        (labels[0], path.strip_prefix('/')?)
    } else {
        return None;
    };
    let key = percent_decode(raw_key)?;
    (is_bucket_name(bucket) && !key.is_empty()).then(|| (bucket.to_owned(), key))
}

/// Percent-decodes a URL path into UTF-8 (`+` stays `+`).
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// What an import learns from its URL: the object's size and its first and
/// last bytes, or why UFile would not hand them over.
pub enum Fetched {
    /// The URL names no bucket under `--ufile-dir`: not this simulator's file.
    Elsewhere,
    Refused(String),
    Read {
        size: u64,
        head: Vec<u8>,
        tail: Vec<u8>,
    },
}

/// How many bytes of each end an import looks at.
pub const PEEK: u64 = 4096;

/// Reads the object behind `ufile_url` as UHost would: through the URL's
/// own signature (a GET), at unix time `now`.
pub fn fetch_for_import(objects: &Objects, keys: &Keys, ufile_url: &str, now: u64) -> Fetched {
    let Ok(url) = url::Url::parse(ufile_url) else {
        return Fetched::Elsewhere;
    };
    let Some((bucket, key)) = map_url(&url) else {
        return Fetched::Elsewhere;
    };
    if !objects.has_bucket(&bucket) {
        return Fetched::Elsewhere;
    }
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let presented = Presented {
        verb: "GET",
        authorization: None,
        content_md5: "",
        content_type: "",
        date: "",
        query: &query,
        range: None,
    };
    if let Err(r) = authorize(keys, &presented, &bucket, &key, now) {
        return Fetched::Refused(r.describe());
    }
    let Some(size) = objects.size(&bucket, &key) else {
        return Fetched::Refused(format!("the object {bucket}/{key} does not exist"));
    };
    let head = objects.read(&bucket, &key, 0, PEEK.min(size));
    let tail_len = PEEK.min(size);
    let tail = objects.read(&bucket, &key, size - tail_len, tail_len);
    match (head, tail) {
        (Ok(head), Ok(tail)) => Fetched::Read { size, head, tail },
        _ => Fetched::Refused(format!("the object {bucket}/{key} cannot be read")),
    }
}

/// What the journal and hooks show in place of a signature.
pub const REDACTED: &str = "<redacted>";

/// Whether a query parameter (by its decoded name) carries a signature or
/// a token: UFile's `Signature`, a CDN's `auth_key`, S3-style
/// `X-Amz-Signature`, any `...token`.
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.ends_with("signature") || name == "auth_key" || name == "sign" || name.ends_with("token")
}

/// `text` with the values of its signature-like query parameters replaced by
/// [`REDACTED`], names recognised percent-decoded (`Sig%6Eature`); text
/// that is not a URL with a query comes back as it is. The journal and hooks
/// show URLs this way: a test or a developer reading them never holds a
/// working presigned URL.
pub fn redact_url(text: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(text) else {
        return text.to_owned();
    };
    if parsed.query().is_none() {
        return text.to_owned();
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if is_secret_param(&k) {
                REDACTED.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_urls_show_no_signature_however_it_is_spelled() {
        let shown = redact_url(
            "https://b.cn-bj.ufileos.com/img.raw?UCloudPublicKey=pk&Expires=9&Signature=s3cr3t%2B&Sig%6Eature=x&auth_key=1-0-abc",
        );
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("abc") && !shown.contains("=x"),
            "{shown}"
        );
        assert!(
            shown.contains("UCloudPublicKey=pk") && shown.contains("Expires=9"),
            "{shown}"
        );
        assert_eq!(
            redact_url("https://b.cn-bj.ufileos.com/img.raw"),
            "https://b.cn-bj.ufileos.com/img.raw"
        );
        assert_eq!(redact_url("CentOS 7"), "CentOS 7");
    }
    use crate::cli::PrivateKey;

    /// The vectors UCloud's Python SDK made (`tests/fixtures/ufile/` of the
    /// workspace, with the command that made them).
    fn vectors() -> serde_json::Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/ufile/vectors.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn keys(public: &str, private: &str) -> Keys {
        Keys::from([(public.to_owned(), PrivateKey::new(private))])
    }

    fn s<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
        v[k].as_str().unwrap_or_default()
    }

    #[test]
    fn the_verifier_accepts_the_python_sdk_vectors_and_nothing_else() {
        let file = vectors();
        let vectors = file["vectors"].as_array().expect("vectors");
        let (mut headers, mut urls, mut dated) = (0, 0, 0);
        for v in vectors {
            let (public, private) = (s(v, "public_key"), s(v, "private_key"));
            let (bucket, key, method) = (s(v, "bucket"), s(v, "key"), s(v, "method"));
            let keys = keys(public, private);
            match s(v, "kind") {
                "authorization" => {
                    let sts = string_to_sign(
                        method,
                        s(v, "content_md5"),
                        s(v, "content_type"),
                        s(v, "date"),
                        bucket,
                        key,
                    );
                    assert_eq!(sts, s(v, "string_to_sign"));
                    assert_eq!(
                        format!("UCloud {public}:{}", signature(private, &sts)),
                        s(v, "authorization")
                    );
                    let p = Presented {
                        verb: method,
                        authorization: Some(s(v, "authorization")),
                        content_md5: s(v, "content_md5"),
                        content_type: s(v, "content_type"),
                        date: s(v, "date"),
                        query: &[],
                        range: None,
                    };
                    // The server's clock at the signed Date: inside its window.
                    let now = httpdate::parse_http_date(s(v, "date"))
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_secs());
                    assert_eq!(authorize(&keys, &p, bucket, key, now), Ok(()), "{v}");
                    if now > 0 {
                        // The same header replayed after the window.
                        assert_eq!(
                            authorize(&keys, &p, bucket, key, now + DATE_WINDOW_SECS + 1),
                            Err(Refusal::Stale {
                                date: s(v, "date").to_owned()
                            }),
                            "{v}"
                        );
                        dated += 1;
                    }
                    let other = Presented {
                        verb: if method == "GET" { "HEAD" } else { "GET" },
                        ..p
                    };
                    assert_eq!(
                        authorize(&keys, &other, bucket, key, now),
                        Err(Refusal::BadSignature),
                        "{v}"
                    );
                    headers += 1;
                }
                "presigned_url" => {
                    // The SDK leaves the key unencoded (it may hold a `?`): the query is after the last one.
                    let (_, raw_query) = s(v, "signed_url").rsplit_once('?').expect("a query");
                    let query: Vec<(String, String)> =
                        url::form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect();
                    let p = Presented {
                        verb: "GET",
                        authorization: None,
                        content_md5: "",
                        content_type: "",
                        date: "",
                        query: &query,
                        range: None,
                    };
                    let expires = v["expires"].as_u64().expect("expires");
                    assert_eq!(authorize(&keys, &p, bucket, key, expires - 1), Ok(()), "{v}");
                    assert_eq!(
                        authorize(&keys, &p, bucket, key, expires),
                        Err(Refusal::Expired { expires }),
                        "expiry is checked first: {v}"
                    );
                    assert_eq!(
                        authorize(&keys, &p, bucket, &format!("{key}x"), 0),
                        Err(Refusal::BadSignature),
                        "{v}"
                    );
                    urls += 1;
                }
                other => panic!("unknown vector kind {other}"),
            }
        }
        assert!(headers >= 64 && urls >= 32, "{headers} header and {urls} URL vectors");
        assert!(dated > 0, "some header vectors carry a Date");
    }

    #[test]
    fn ranges_follow_http() {
        assert_eq!(Range::parse("bytes=0-1023").and_then(|r| r.span(5000)), Some((0, 1023)));
        assert_eq!(Range::parse("bytes=0-1023").and_then(|r| r.span(100)), Some((0, 99)));
        assert_eq!(
            Range::parse("bytes=-1536").and_then(|r| r.span(5000)),
            Some((3464, 4999))
        );
        assert_eq!(Range::parse("bytes=-1536").and_then(|r| r.span(10)), Some((0, 9)));
        assert_eq!(Range::parse("bytes=10-").and_then(|r| r.span(20)), Some((10, 19)));
        assert_eq!(Range::parse("bytes=0-0").and_then(|r| r.span(0)), None);
        assert_eq!(Range::parse("bytes=5-3"), None);
        assert_eq!(Range::parse("bytes=0-1,4-5"), None);
    }

    #[test]
    fn urls_map_to_buckets_host_style_or_path_style() {
        let map = |u: &str| map_url(&url::Url::parse(u).expect("url"));
        assert_eq!(
            map("https://images.cn-bj.ufileos.com/a%20b/c.qcow2"),
            Some(("images".into(), "a b/c.qcow2".into()))
        );
        assert_eq!(
            map("http://127.0.0.1:9/ufile/images/k.raw?x=1"),
            Some(("images".into(), "k.raw".into()))
        );
        assert_eq!(map("https://abc.ufile.ucloud.cn/k"), Some(("abc".into(), "k".into())));
        assert_eq!(map("https://cdn.example.com/k.raw"), None);
        assert_eq!(map("https://images.cn-bj.ufileos.com/"), None);
    }

    #[test]
    fn keys_cannot_leave_their_bucket() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("images")).expect("bucket");
        let objects = Objects::open(dir.path()).expect("objects");
        for key in ["../x", "a/../../x", "/etc/passwd", "a//b", "."] {
            assert_eq!(objects.file("images", key), None, "{key}");
        }
        assert!(objects.file("images", "a/b.raw").is_some());
        assert!(!objects.has_bucket("../images") && objects.has_bucket("images"));
    }
}
