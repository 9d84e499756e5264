//! Reads the ends of a UFile object: its size, its first [`Ends::head`]
//! bytes and its last [`Ends::tail`] bytes, in at most three
//! requests (usually two ranged GETs; a third only to confirm an empty
//! object), never reading more of a body than it needs.
//!
//! Failures are typed by what they prove: a [`ProbeError`] is *definite*
//! when UFile itself said the object cannot be imported (404, 401/403 with
//! UFile's session id, empty, signature expired) and *inconclusive* when the
//! check could not be made (network, timeout, 5xx, unmappable host,
//! credentials that cannot sign), in which case the import should go on.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{CONTENT_RANGE, HeaderMap};
use reqwest::{Method, StatusCode};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::http::{Failure, Reply, Request, Signer, UfileHttp, answer_of, header};
use super::sign::{Credentials, CredentialsError};
use super::url::{ObjectUrl, UrlError, parse_base_url};
use crate::ucloud::Backoff;

/// The header carrying the id UFile support asks for.
pub const SESSION_ID_HEADER: &str = "X-SessionId";
/// The storage class of the object (an archived object needs a restore).
pub const STORAGE_CLASS_HEADER: &str = "X-Ufile-Storage-Class";
/// Per-request limit: a check that cannot finish quickly is skipped.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an [`ObjectReader`] needs.
#[derive(Clone, Debug)]
pub struct ReaderConfig {
    /// The UFile base URL: send object requests path-style to `{base}/BUCKET/KEY`.
    pub base_url: Option<String>,
    /// The key pair that signs requests for URLs that carry no signature.
    /// `Err` keeps why it cannot sign, for the skipped-check warning.
    pub credentials: Result<Credentials, CredentialsError>,
    pub timeout: Duration,
    pub user_agent: String,
}

/// Reads object heads and tails. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ObjectReader {
    http: UfileHttp,
    base_url: Option<Url>,
    credentials: Result<Credentials, CredentialsError>,
    timeout: Duration,
}

/// Why an [`ObjectReader`] cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ReaderConfigError {
    #[error(transparent)]
    BaseUrl(UrlError),
    #[error("the User-Agent {0:?} contains characters HTTP does not allow")]
    UserAgent(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// How many bytes of each end of an object a probe reads: whoever judges
/// the bytes says how many it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ends {
    /// Leading bytes (at least 1 is read: the first request also gives the size).
    pub head: usize,
    /// Trailing bytes.
    pub tail: usize,
}

/// What was read.
#[derive(Clone, PartialEq, Eq)]
pub struct Probe {
    pub size: u64,
    /// The first `min(size, ends.head)` bytes.
    pub head: Vec<u8>,
    /// The last `min(size, ends.tail)` bytes.
    pub tail: Vec<u8>,
    /// How many HTTP requests it took (at most 3).
    pub requests: u32,
    /// From the last answer.
    pub session_id: Option<String>,
    pub storage_class: Option<String>,
    pub content_type: Option<String>,
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("object_size", &self.size)
            .field("head_len", &self.head.len())
            .field("tail_len", &self.tail.len())
            .field("requests", &self.requests)
            .field("session_id", &self.session_id)
            .field("storage_class", &self.storage_class)
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// What UFile said in a failed answer, for the evidence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// `X-SessionId`: present on answers from UFile itself.
    pub session_id: Option<String>,
    /// From UFile's JSON body `{"RetCode": .., "ErrMsg": ..}`.
    pub ret_code: Option<i64>,
    pub message: Option<String>,
    /// The start of a body that is not UFile's JSON.
    pub body: Option<String>,
    pub storage_class: Option<String>,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        match (self.ret_code, &self.message) {
            (Some(code), Some(msg)) => write!(f, ", RetCode {code} \"{msg}\"")?,
            (Some(code), None) => write!(f, ", RetCode {code}")?,
            (None, Some(msg)) => write!(f, ", \"{msg}\"")?,
            (None, None) => {}
        }
        if let Some(body) = &self.body {
            write!(f, ", body {body:?}")?;
        }
        if let Some(class) = &self.storage_class {
            write!(f, ", storage class {class}")?;
        }
        if let Some(id) = &self.session_id {
            write!(f, ", UFile session id {id}")?;
        }
        Ok(())
    }
}

/// Whether an error settles the question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The object cannot be imported as it is: fail without importing.
    Definite,
    /// The check could not be made: warn and import anyway.
    Inconclusive,
}

/// A failed probe. No variant carries a signature or a key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("the object {object} does not exist in UFile ({answer})")]
    NotFound { object: String, answer: Answer },
    #[error("UFile refused to read {object} with the provider's key pair or the URL's signature ({answer})")]
    Denied { object: String, answer: Answer },
    #[error("the object {object} is empty (0 bytes){}", session(.session_id))]
    Empty { object: String, session_id: Option<String> },
    #[error("the URL's signature expired at {} (Expires={expires})", humantime::format_rfc3339_seconds(*.at))]
    Expired { expires: u64, at: SystemTime },
    #[error(transparent)]
    Url(UrlError),
    #[error("cannot sign UFile requests: {0}")]
    CannotSign(CredentialsError),
    #[error("cannot connect to {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error("{endpoint} did not answer within {}", humantime::format_duration(*.after))]
    Timeout { endpoint: String, after: Duration },
    #[error("the connection to {endpoint} broke off: {detail}")]
    Network { endpoint: String, detail: String },
    #[error("UFile could not serve {object} ({answer})")]
    Server { object: String, answer: Answer },
    #[error("unexpected answer for {object} ({answer})")]
    Unexpected { object: String, answer: Answer },
    #[error("unusable answer for {object}: {detail}")]
    Protocol { object: String, detail: String },
    #[error("the check was cancelled")]
    Cancelled,
}

fn session(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!(", UFile session id {id}"))
        .unwrap_or_default()
}

impl ProbeError {
    pub fn outcome(&self) -> Outcome {
        match self {
            ProbeError::NotFound { .. }
            | ProbeError::Denied { .. }
            | ProbeError::Empty { .. }
            | ProbeError::Expired { .. } => Outcome::Definite,
            ProbeError::Url(e) if e.is_definite() => Outcome::Definite,
            _ => Outcome::Inconclusive,
        }
    }

    pub fn is_definite(&self) -> bool {
        self.outcome() == Outcome::Definite
    }

    /// UFile's session id for the failed request, when it sent one.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            ProbeError::NotFound { answer, .. }
            | ProbeError::Denied { answer, .. }
            | ProbeError::Server { answer, .. }
            | ProbeError::Unexpected { answer, .. } => answer.session_id.as_deref(),
            ProbeError::Empty { session_id, .. } => session_id.as_deref(),
            _ => None,
        }
    }
}

impl ObjectReader {
    pub fn new(cfg: ReaderConfig) -> Result<ObjectReader, ReaderConfigError> {
        let base_url = match cfg.base_url.as_deref().map(str::trim) {
            Some(b) if !b.is_empty() => Some(parse_base_url(b).map_err(ReaderConfigError::BaseUrl)?),
            _ => None,
        };
        let timeout = if cfg.timeout.is_zero() {
            DEFAULT_TIMEOUT
        } else {
            cfg.timeout
        };
        let http = UfileHttp::new(&cfg.user_agent, timeout, Backoff::default())?;
        Ok(ObjectReader::on(http, base_url, cfg.credentials, timeout))
    }

    /// A reader on an existing connection pool (the upload client's).
    pub(super) fn on(
        http: UfileHttp,
        base_url: Option<Url>,
        credentials: Result<Credentials, CredentialsError>,
        timeout: Duration,
    ) -> ObjectReader {
        ObjectReader {
            http,
            base_url,
            credentials,
            timeout,
        }
    }

    /// The key pair that signs object requests (and presigned URLs), or why
    /// there is none.
    pub fn credentials(&self) -> Result<&Credentials, &CredentialsError> {
        self.credentials.as_ref()
    }

    /// Maps an object URL to its object, honouring the UFile base URL.
    pub fn object(&self, url: &str) -> Result<ObjectUrl, UrlError> {
        ObjectUrl::parse(url, self.base_url.as_ref())
    }

    /// Size and `ends` of the object behind `url`.
    pub async fn probe_url(&self, url: &str, ends: Ends, cancel: &CancellationToken) -> Result<Probe, ProbeError> {
        let object = self.object(url).map_err(ProbeError::Url)?;
        self.probe(&object, ends, cancel).await
    }

    /// Size and `ends` of `object`. A URL that carries a signature is
    /// used as given (GET only: a signature covers one verb); otherwise every
    /// request is signed with the key pair in the `Authorization` header.
    pub async fn probe(&self, object: &ObjectUrl, ends: Ends, cancel: &CancellationToken) -> Result<Probe, ProbeError> {
        let head_len = ends.head.max(1);
        if let Some(p) = object.presigned()
            && p.expired_at(SystemTime::now())
        {
            return Err(ProbeError::Expired {
                expires: p.expires,
                at: UNIX_EPOCH + Duration::from_secs(p.expires),
            });
        }
        let credentials = match (object.presigned(), &self.credentials) {
            (Some(_), _) => None,
            (None, Ok(c)) => Some(c),
            (None, Err(e)) => return Err(ProbeError::CannotSign(e.clone())),
        };
        let name = format!("{}/{}", object.bucket(), object.key());
        let mut requests = 0;

        // 1: the head, and the size from Content-Range.
        let want_head = head_len as u64;
        let first = self
            .send(
                object,
                credentials,
                Method::GET,
                Some((0, want_head - 1)),
                head_len,
                cancel,
            )
            .await?;
        requests += 1;
        let (size, head) = match first.status {
            StatusCode::PARTIAL_CONTENT => {
                let (start, end, total) = content_range(&first.headers).ok_or_else(|| ProbeError::Protocol {
                    object: name.clone(),
                    detail: format!(
                        "206 without a usable Content-Range ({:?})",
                        header(&first.headers, CONTENT_RANGE.as_str())
                    ),
                })?;
                let total = total.ok_or_else(|| ProbeError::Protocol {
                    object: name.clone(),
                    detail: "Content-Range gives no total size".to_owned(),
                })?;
                if start != 0 || end >= total || first.body.len() as u64 != (end + 1).min(want_head) {
                    return Err(ProbeError::Protocol {
                        object: name,
                        detail: format!(
                            "asked for bytes 0-{}, got Content-Range {start}-{end}/{total} with {} bytes",
                            want_head - 1,
                            first.body.len()
                        ),
                    });
                }
                (total, first.body)
            }
            StatusCode::OK => {
                // The server ignored Range: the length says the size.
                let size = header(&first.headers, "content-length")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .or_else(|| ((first.body.len() as u64) < want_head).then_some(first.body.len() as u64))
                    .ok_or_else(|| ProbeError::Protocol {
                        object: name.clone(),
                        detail: "200 without Content-Length to a ranged GET".to_owned(),
                    })?;
                (size, first.body)
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                // Only an empty object has no byte 0; confirm its size.
                let total = content_range(&first.headers)
                    .and_then(|(_, _, t)| t)
                    .or_else(|| unsatisfied_total(&first.headers));
                let size = match total {
                    Some(t) => t,
                    None => {
                        let verb = if object.presigned().is_some() {
                            Method::GET
                        } else {
                            Method::HEAD
                        };
                        let again = self.send(object, credentials, verb, None, 0, cancel).await?;
                        requests += 1;
                        if !again.status.is_success() {
                            return Err(self.failure(&name, again));
                        }
                        header(&again.headers, "content-length")
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .ok_or_else(|| ProbeError::Protocol {
                                object: name.clone(),
                                detail: "416 to bytes=0-1023, and no Content-Length to learn the size".to_owned(),
                            })?
                    }
                };
                if size != 0 {
                    return Err(ProbeError::Protocol {
                        object: name,
                        detail: format!("416 to bytes=0-1023 for an object of {size} bytes"),
                    });
                }
                (0, Vec::new())
            }
            _ => return Err(self.failure(&name, first)),
        };
        if size == 0 {
            return Err(ProbeError::Empty {
                object: name,
                session_id: header(&first.headers, SESSION_ID_HEADER),
            });
        }
        let mut last_headers = first.headers;

        // 2: the tail, unless the head already holds the whole object.
        let tail_len = size.min(ends.tail as u64);
        let tail = if tail_len == 0 {
            Vec::new()
        } else if size <= head.len() as u64 {
            head[head.len() - tail_len as usize..].to_vec()
        } else {
            let start = size - tail_len;
            let reply = self
                .send(
                    object,
                    credentials,
                    Method::GET,
                    Some((start, size - 1)),
                    ends.tail,
                    cancel,
                )
                .await?;
            requests += 1;
            if reply.status != StatusCode::PARTIAL_CONTENT {
                if reply.status == StatusCode::OK {
                    return Err(ProbeError::Protocol {
                        object: name,
                        detail: "the server ignores Range, so the end of the object cannot be read".to_owned(),
                    });
                }
                return Err(self.failure(&name, reply));
            }
            match content_range(&reply.headers) {
                Some((s, e, Some(t)))
                    if s == start && e == size - 1 && t == size && reply.body.len() as u64 == tail_len => {}
                got => {
                    return Err(ProbeError::Protocol {
                        object: name,
                        detail: format!(
                            "asked for bytes {start}-{} of {size}, got Content-Range {got:?} with {} bytes (did the object change during the check?)",
                            size - 1,
                            reply.body.len()
                        ),
                    });
                }
            }
            last_headers = reply.headers;
            reply.body
        };
        let mut head = head;
        head.truncate(usize::try_from(size).unwrap_or(usize::MAX).min(ends.head));
        Ok(Probe {
            size,
            head,
            tail,
            requests,
            session_id: header(&last_headers, SESSION_ID_HEADER),
            storage_class: header(&last_headers, STORAGE_CLASS_HEADER),
            content_type: header(&last_headers, "content-type"),
        })
    }

    /// One request, never repeated (a check that cannot finish quickly is
    /// skipped); reads at most `limit` bytes of a success body.
    async fn send(
        &self,
        object: &ObjectUrl,
        credentials: Option<&Credentials>,
        method: Method,
        range: Option<(u64, u64)>,
        limit: usize,
        cancel: &CancellationToken,
    ) -> Result<Reply, ProbeError> {
        let name = format!("{}/{}", object.bucket(), object.key());
        let op = if method == Method::HEAD { "HeadFile" } else { "GetFile" };
        let mut req = Request::new(op, &name, method, object.request_url());
        req.signer = credentials.map(|credentials| Signer {
            credentials,
            bucket: object.bucket(),
            key: object.key(),
        });
        req.range = range;
        req.timeout = self.timeout;
        req.limit = limit;
        self.http.send(&req, cancel).await.map_err(|failure| match failure {
            Failure::Timeout { endpoint, after } => ProbeError::Timeout { endpoint, after },
            Failure::Connect { endpoint, detail } => ProbeError::Unreachable { endpoint, detail },
            Failure::Network { endpoint, detail } => ProbeError::Network { endpoint, detail },
            Failure::Local { detail } => ProbeError::Protocol {
                object: name.clone(),
                detail,
            },
            Failure::CannotSign(e) => ProbeError::CannotSign(e),
            Failure::Cancelled => ProbeError::Cancelled,
        })
    }

    /// The error for a non-success answer.
    fn failure(&self, object: &str, reply: Reply) -> ProbeError {
        let answer = answer_of(&reply);
        let object = object.to_owned();
        match reply.status.as_u16() {
            404 => ProbeError::NotFound { object, answer },
            // Without UFile's session id the refusal may come from a proxy.
            401 | 403 if answer.session_id.is_some() => ProbeError::Denied { object, answer },
            500..=599 => ProbeError::Server { object, answer },
            _ => ProbeError::Unexpected { object, answer },
        }
    }
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
fn content_range(headers: &HeaderMap) -> Option<(u64, u64, Option<u64>)> {
    let v = header(headers, CONTENT_RANGE.as_str())?;
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = end.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    (start <= end).then_some((start, end, total))
}

/// `bytes */TOTAL`, the form of a 416 answer.
fn unsatisfied_total(headers: &HeaderMap) -> Option<u64> {
    header(headers, CONTENT_RANGE.as_str())?
        .trim()
        .strip_prefix("bytes */")?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::super::http::test_headers as headers;
    use super::*;

    #[test]
    fn parses_content_range_forms() {
        assert_eq!(
            content_range(&headers(&[("content-range", "bytes 0-1023/196616")])),
            Some((0, 1023, Some(196616)))
        );
        assert_eq!(
            content_range(&headers(&[("content-range", "bytes 5-9/*")])),
            Some((5, 9, None))
        );
        assert_eq!(content_range(&headers(&[("content-range", "bytes 9-5/10")])), None);
        assert_eq!(content_range(&headers(&[("content-range", "bytes */0")])), None);
        assert_eq!(unsatisfied_total(&headers(&[("content-range", "bytes */0")])), Some(0));
    }
}
