//! The one HTTP exchange every UFile request goes through, so signing,
//! deadlines, bounded reads, retries, cancellation and redacted logging are
//! written once: the object reader and the upload client differ only in
//! what they ask and how they judge the answer.
//!
//! An attempt is signed afresh (its `Date` is part of the signature), bounded
//! by one deadline from connecting to the last byte read, and repeated with
//! [`Backoff`] after a 5xx, a failed connection, a reset or a timeout, up to
//! the request's `retries`. A 4xx is the answer: it is never repeated. A
//! file body is opened again for every attempt, so a retry resends it whole.
//! Cancellation drops the attempt in flight at once.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderMap, HeaderValue, RANGE, USER_AGENT};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::reader::{Answer, ReaderConfigError, SESSION_ID_HEADER, STORAGE_CLASS_HEADER};
use super::sign::{Credentials, CredentialsError, StringToSign};
use crate::ucloud::Backoff;
use crate::ucloud::secret::redact_url;

/// How much of a failure body is read: enough for UFile's error JSON.
pub(super) const ERROR_BODY_LIMIT: usize = 4096;
/// How much of a failure body an error quotes when it is not UFile's JSON.
const ERROR_SNIPPET_CHARS: usize = 200;
/// The read size of a file body.
const FILE_CHUNK: usize = 64 * 1024;

/// What a request sends.
#[derive(Clone, Debug)]
pub(super) enum Body {
    Empty,
    /// Cheap to clone for each attempt.
    Bytes(Bytes),
    /// `len` bytes of `path` from `offset`, streamed, the file opened anew
    /// for each attempt.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

/// Who signs a request, and for which resource (`/bucket/key`, the key
/// empty for bucket-level requests).
#[derive(Clone, Copy, Debug)]
pub(super) struct Signer<'a> {
    pub credentials: &'a Credentials,
    pub bucket: &'a str,
    pub key: &'a str,
}

/// One logical request.
#[derive(Clone, Debug)]
pub(super) struct Request<'a> {
    /// UFile's name of the operation, for logs and errors (`UploadPart`).
    pub op: &'static str,
    /// `bucket/key`, for logs and errors.
    pub object: &'a str,
    pub method: Method,
    /// May carry a signature: only ever logged through [`redact_url`].
    pub url: &'a Url,
    /// `None`: the URL carries its own signature, or none is needed.
    pub signer: Option<Signer<'a>>,
    /// Sent and signed.
    pub content_type: Option<&'static str>,
    pub range: Option<(u64, u64)>,
    pub body: Body,
    /// Per attempt, from connecting to the last byte read.
    pub timeout: Duration,
    /// The most of a success body that is read (a HEAD reads none); the
    /// rest is never read. Ask one byte more than allowed to detect excess.
    pub limit: usize,
    /// Attempts after the first.
    pub retries: u32,
}

impl<'a> Request<'a> {
    pub fn new(op: &'static str, object: &'a str, method: Method, url: &'a Url) -> Self {
        Request {
            op,
            object,
            method,
            url,
            signer: None,
            content_type: None,
            range: None,
            body: Body::Empty,
            timeout: Duration::from_secs(10),
            limit: 0,
            retries: 0,
        }
    }
}

/// An answer: status, headers, a bounded body.
#[derive(Debug)]
pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why no answer came. None of it carries the URL's query or a signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    Timeout {
        endpoint: String,
        after: Duration,
    },
    /// The connection could not be made.
    Connect {
        endpoint: String,
        detail: String,
    },
    /// The connection broke off (reset, closed early, bad HTTP).
    Network {
        endpoint: String,
        detail: String,
    },
    /// The body to send could not be read; not repeated.
    Local {
        detail: String,
    },
    CannotSign(CredentialsError),
    Cancelled,
}

impl Failure {
    fn retryable(&self) -> bool {
        matches!(
            self,
            Failure::Timeout { .. } | Failure::Connect { .. } | Failure::Network { .. }
        )
    }
}

/// The HTTP client of every UFile request. Cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct UfileHttp {
    http: reqwest::Client,
    backoff: Backoff,
}

impl UfileHttp {
    /// A client that sends `user_agent`, gives up connecting after
    /// `connect_timeout` and follows no redirect (a redirect would carry the
    /// signature elsewhere).
    pub fn new(user_agent: &str, connect_timeout: Duration, backoff: Backoff) -> Result<Self, ReaderConfigError> {
        let value =
            HeaderValue::from_str(user_agent).map_err(|_| ReaderConfigError::UserAgent(user_agent.to_owned()))?;
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, value);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ReaderConfigError::Http(error_chain(e)))?;
        Ok(UfileHttp { http, backoff })
    }

    /// Sends `req` until an answer that is not a 5xx, or its retries run
    /// out (the last 5xx is then returned as the answer). Returns
    /// [`Failure::Cancelled`] as soon as `cancel` fires, also between attempts.
    pub async fn send(&self, req: &Request<'_>, cancel: &CancellationToken) -> Result<Reply, Failure> {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    log(req, attempt, started, "cancelled", None);
                    return Err(Failure::Cancelled);
                }
                r = tokio::time::timeout(req.timeout, self.attempt(req)) => r.unwrap_or_else(|_| Err(Failure::Timeout {
                    endpoint: endpoint_of(req.url),
                    after: req.timeout,
                })),
            };
            let retryable = match &result {
                Ok(reply) => {
                    log(req, attempt, started, "answered", Some(reply));
                    reply.status.is_server_error()
                }
                Err(failure) => {
                    let outcome = match failure {
                        Failure::Timeout { .. } => "timeout",
                        Failure::Connect { .. } => "connect",
                        Failure::Network { .. } => "network",
                        Failure::Local { .. } => "local",
                        Failure::CannotSign(_) => "cannot sign",
                        Failure::Cancelled => "cancelled",
                    };
                    log(req, attempt, started, outcome, None);
                    failure.retryable()
                }
            };
            if !retryable || attempt > req.retries {
                return result;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(Failure::Cancelled),
                _ = tokio::time::sleep(self.backoff.delay(attempt)) => {}
            }
        }
    }

    async fn attempt(&self, req: &Request<'_>) -> Result<Reply, Failure> {
        let endpoint = || endpoint_of(req.url);
        let mut builder = self.http.request(req.method.clone(), req.url.clone());
        if let Some((start, end)) = req.range {
            builder = builder.header(RANGE, format!("bytes={start}-{end}"));
        }
        if let Some(content_type) = req.content_type {
            builder = builder.header(CONTENT_TYPE, content_type);
        }
        if let Some(s) = req.signer {
            let date = httpdate::fmt_http_date(SystemTime::now());
            let sts = StringToSign {
                content_type: req.content_type.unwrap_or_default(),
                ..StringToSign::dated(req.method.as_str(), s.bucket, s.key, &date)
            };
            let mut value = HeaderValue::from_str(s.credentials.authorization(&sts).expose())
                .map_err(|_| Failure::CannotSign(CredentialsError::PublicKeyNotHeaderSafe))?;
            value.set_sensitive(true);
            builder = builder.header(DATE, date).header(AUTHORIZATION, value);
        }
        builder = match &req.body {
            Body::Empty => builder,
            Body::Bytes(b) => builder.body(b.clone()),
            Body::File { path, offset, len } => {
                let local = |e: std::io::Error| Failure::Local {
                    detail: format!("cannot read {}: {e}", path.display()),
                };
                let mut file = tokio::fs::File::open(path).await.map_err(local)?;
                file.seek(SeekFrom::Start(*offset)).await.map_err(local)?;
                let stream = tokio_util::io::ReaderStream::with_capacity(file.take(*len), FILE_CHUNK);
                builder
                    .header(CONTENT_LENGTH, *len)
                    .body(reqwest::Body::wrap_stream(stream))
            }
        };
        let classify = |e: reqwest::Error| {
            let (timeout, connect) = (e.is_timeout(), e.is_connect());
            let detail = error_chain(e);
            if timeout {
                Failure::Timeout {
                    endpoint: endpoint(),
                    after: req.timeout,
                }
            } else if connect {
                Failure::Connect {
                    endpoint: endpoint(),
                    detail,
                }
            } else {
                Failure::Network {
                    endpoint: endpoint(),
                    detail,
                }
            }
        };
        let mut resp = builder.send().await.map_err(classify)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let limit = if status.is_success() {
            req.limit
        } else {
            ERROR_BODY_LIMIT
        };
        let mut body = Vec::with_capacity(limit.min(ERROR_BODY_LIMIT));
        if req.method != Method::HEAD {
            while body.len() < limit {
                let Some(chunk) = resp.chunk().await.map_err(classify)? else {
                    break;
                };
                let take = chunk.len().min(limit - body.len());
                body.extend_from_slice(&chunk[..take]);
            }
        }
        Ok(Reply { status, headers, body })
    }
}

/// The DEBUG line of one attempt; the URL without its query.
fn log(req: &Request<'_>, attempt: u32, started: Instant, outcome: &str, reply: Option<&Reply>) {
    let duration_ms = started.elapsed().as_millis() as u64;
    tracing::debug!(
        target: "tpu::ufile",
        op = req.op,
        object = req.object,
        method = %req.method,
        url = %redact_url(req.url.as_str()),
        range = ?req.range,
        status = reply.map(|r| r.status.as_u16()),
        session_id = reply.and_then(|r| header(&r.headers, SESSION_ID_HEADER)),
        bytes = reply.map(|r| r.body.len()),
        attempt,
        duration_ms,
        outcome,
    );
}

/// What UFile said in a failed answer: status, `X-SessionId`, and its JSON
/// `{"RetCode", "ErrMsg"}` or else the start of the body.
pub(super) fn answer_of(reply: &Reply) -> Answer {
    let mut answer = Answer {
        status: reply.status.as_u16(),
        session_id: header(&reply.headers, SESSION_ID_HEADER),
        storage_class: header(&reply.headers, STORAGE_CLASS_HEADER),
        ..Answer::default()
    };
    if reply.body.is_empty() {
        return answer;
    }
    match serde_json::from_slice::<serde_json::Value>(&reply.body) {
        Ok(v) if v.get("RetCode").is_some() || v.get("ErrMsg").is_some() => {
            answer.ret_code = v
                .get("RetCode")
                .and_then(|c| c.as_i64().or_else(|| c.as_str().and_then(|s| s.trim().parse().ok())));
            answer.message = v
                .get("ErrMsg")
                .and_then(|m| m.as_str())
                .filter(|m| !m.is_empty())
                .map(|m| snippet(m.as_bytes()));
        }
        _ => answer.body = Some(snippet(&reply.body)),
    }
    answer
}

/// A header's value, trimmed, when it is text.
pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

/// `scheme://host:port` of a request URL: errors name it, never the query.
pub(super) fn endpoint_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// The start of a body, printable: control characters blanked.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(ERROR_SNIPPET_CHARS).collect();
    if text.chars().count() > ERROR_SNIPPET_CHARS {
        out.push('…');
    }
    out.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// An error and its sources, without the URL (reqwest puts the full URL,
/// query and all, into its messages).
pub(super) fn error_chain(e: reqwest::Error) -> String {
    crate::ucloud::client::error_chain(&e.without_url())
}

/// Headers from name-value pairs, for the tests of this module and the reader's.
#[cfg(test)]
pub(super) fn test_headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).expect("a header value"));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_headers as headers;

    #[test]
    fn reads_ufile_error_bodies() {
        let reply = Reply {
            status: StatusCode::NOT_FOUND,
            headers: headers(&[(SESSION_ID_HEADER, "sess-1")]),
            body: br#"{"RetCode":-148654,"ErrMsg":"file not exist"}"#.to_vec(),
        };
        let a = answer_of(&reply);
        assert_eq!(
            (a.ret_code, a.message.as_deref()),
            (Some(-148654), Some("file not exist"))
        );
        assert_eq!(
            a.to_string(),
            "HTTP 404, RetCode -148654 \"file not exist\", UFile session id sess-1"
        );
        let reply = Reply {
            status: StatusCode::BAD_GATEWAY,
            headers: HeaderMap::new(),
            body: b"<html>\n bad gateway</html>".to_vec(),
        };
        assert_eq!(answer_of(&reply).body.as_deref(), Some("<html>  bad gateway</html>"));
    }
}
