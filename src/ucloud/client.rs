//! The signed HTTP client: builds the form body of an [`Action`], signs it,
//! sends it, reads UCloud's envelope (`RetCode`, `Message`, request id) and
//! applies the retry policy of [`retry`](super::retry) according to the
//! action's idempotence. Every attempt, retries included, first takes its
//! turn at the adaptive limiter of the endpoint and key
//! ([`rate`](super::rate)), shared by every client of the process, and
//! reports its answer to it. A throttled attempt (RetCode 153 or 150, HTTP
//! 429) is not a failure: it is sent again at the limiter's pace, without
//! counting toward `max_retries`, until the call's deadline. It honours
//! cancellation at every wait.
//!
//! What it reads is bounded, because the answer comes from outside the
//! process (proxies, outages and API changes included): at most
//! [`MAX_ANSWER_BYTES`], streamed and counted as it arrives, within one
//! deadline per attempt ([`ClientConfig::timeout`]) that covers the headers
//! and the whole body. An answer is decoded straight into the action's typed
//! response (no intermediate JSON tree) and then checked for the fields
//! callers rely on ([`Answer`](super::action::Answer)).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::action::{Action, Answer};
#[cfg(test)]
use super::envelope::BODY_SNIPPET_CHARS;
use super::envelope::{decode, read_envelope, snippet};
use super::error::{Awaited, Error};
use super::rate::{Class, Limiter, RateLimit, Stopped};
use super::retry::{Backoff, Failure, classify_ret_code, classify_status};
use super::secret::Secret;
use super::sign;

/// The public API endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.ucloud.cn";
/// How long a call with no deadline of its own keeps sending throttled
/// attempts again: far beyond any throttling that lets work through, short
/// enough that a key throttled for good is reported.
pub const DEFAULT_THROTTLE_PATIENCE: Duration = Duration::from_secs(20 * 60);
/// How often a failed call is repeated when nothing else is configured.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Per-request timeout, connect to last body byte: the API itself gives up
/// after 60 s (RetCode 110).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of a successful answer the client reads. The largest real
/// answer, a DescribeImage page (at most 100 images of ~2 KiB), is far
/// below 1 MiB; 8 MiB leaves room for bigger pages and verbose fields while
/// keeping a misbehaving server from making the provider hold tens of MiB
/// (decoded, an answer takes a few times its size). A larger answer is
/// [`Error::TooLarge`], read no further than the limit.
pub const MAX_ANSWER_BYTES: u64 = 8 * 1024 * 1024;
/// The most of a non-2xx answer (an error page) that is read: enough for a
/// UCloud envelope or a snippet; the rest is not needed to classify it.
const ERROR_PAGE_BYTES: u64 = 64 * 1024;

/// The header carrying UCloud's request id.
const REQUEST_ID_HEADER: &str = "X-UCLOUD-REQUEST-UUID";
/// Parameters that never appear in logs.
const NEVER_LOGGED: [&str; 3] = ["Signature", "PrivateKey", "SecurityToken"];

/// Everything a [`Client`] needs. `Debug` never shows the private key.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub base_url: String,
    pub public_key: String,
    pub private_key: Secret,
    pub max_retries: u32,
    /// One deadline per attempt, from connecting until the last byte of the
    /// answer, so a server that trickles its body is cut off too. Default
    /// [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Appended to the User-Agent, e.g. `terraform/1.11.4`.
    pub user_agent_extra: String,
    /// The most requests per second the process sends to this endpoint with
    /// this key (`max_requests_per_second`); none by default.
    pub rate_limit: RateLimit,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            public_key: String::new(),
            private_key: Secret::default(),
            max_retries: DEFAULT_MAX_RETRIES,
            timeout: DEFAULT_TIMEOUT,
            user_agent_extra: String::new(),
            rate_limit: RateLimit::default(),
        }
    }
}

/// A UCloud API client. Cheap to clone; one per provider configuration.
/// Every client of the process with the same endpoint and key shares one
/// adaptive limiter.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    endpoint: Url,
    public_key: String,
    private_key: Secret,
    max_retries: u32,
    timeout: Duration,
    user_agent: HeaderValue,
    backoff: Backoff,
    rate_limit: RateLimit,
    limiter: Arc<Limiter>,
}

/// What one attempt learned, for the log line and the error.
#[derive(Default)]
struct Exchange {
    http_status: Option<u16>,
    request_id: Option<String>,
    ret_code: Option<i64>,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client, Error> {
        let endpoint = parse_base_url(&cfg.base_url).map_err(|detail| Error::Config { detail })?;
        if cfg.timeout.is_zero() {
            return Err(Error::Config {
                detail: "the request timeout must be longer than zero".to_owned(),
            });
        }
        let user_agent = HeaderValue::from_str(&user_agent(&cfg.user_agent_extra)).map_err(|_| Error::Config {
            detail: format!(
                "the User-Agent suffix {:?} contains characters HTTP does not allow",
                cfg.user_agent_extra
            ),
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeout.min(Duration::from_secs(30)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config {
                detail: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })?;
        Ok(Client {
            limiter: Limiter::shared(endpoint.as_str(), &cfg.public_key, cfg.rate_limit),
            http,
            endpoint,
            public_key: cfg.public_key,
            private_key: cfg.private_key,
            max_retries: cfg.max_retries,
            timeout: cfg.timeout,
            user_agent,
            backoff: Backoff::default(),
            rate_limit: cfg.rate_limit,
        })
    }

    /// The ceiling this client was configured with.
    pub fn rate_limit(&self) -> RateLimit {
        self.rate_limit
    }

    /// This client with a limiter of its own instead of the process's
    /// shared one (tests that must not see each other's throttling).
    pub fn with_own_limiter(mut self) -> Self {
        self.limiter = Arc::new(Limiter::new(self.endpoint.as_str(), self.rate_limit));
        self
    }

    /// The pace the limiter keeps now, requests per second; `None` while
    /// nothing throttled (or after a long stretch without throttling).
    pub fn current_rate(&self) -> Option<f64> {
        self.limiter.rate()
    }

    /// The User-Agent it sends, for other clients of the same program (UFile reads).
    pub fn user_agent(&self) -> &str {
        self.user_agent.to_str().unwrap_or_default()
    }

    /// This client with another wait between retries.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sends `req`, retrying as its idempotence allows, and returns its
    /// response fields. Returns [`Error::Cancelled`] promptly once `cancel`
    /// fires, also while waiting between attempts. Throttled attempts are
    /// sent again for up to [`DEFAULT_THROTTLE_PATIENCE`].
    pub async fn call<A: Action>(&self, req: &A, cancel: &CancellationToken) -> Result<A::Response, Error> {
        let deadline = tokio::time::Instant::now() + DEFAULT_THROTTLE_PATIENCE;
        self.send(req, cancel, deadline, true).await
    }

    /// [`call`](Self::call) within an operation's deadline, and never
    /// interrupting an attempt in flight: throttled attempts are sent again
    /// until `deadline`, then the call fails with [`Error::Throttled`];
    /// `cancel` ends only the waits before and between attempts, when
    /// nothing has been sent. For a create, whose interrupted request may
    /// leave an image nobody knows about.
    pub async fn call_whole<A: Action>(
        &self,
        req: &A,
        cancel: &CancellationToken,
        deadline: tokio::time::Instant,
    ) -> Result<A::Response, Error> {
        self.send(req, cancel, deadline, false).await
    }

    async fn send<A: Action>(
        &self,
        req: &A,
        cancel: &CancellationToken,
        deadline: tokio::time::Instant,
        interrupt_in_flight: bool,
    ) -> Result<A::Response, Error> {
        if let Some(param) = req.missing_param() {
            return Err(Error::MissingParameter { action: A::NAME, param });
        }
        // Counted until this future ends in any way, dropped included.
        let _active = self.limiter.active();
        let form = signed_form(A::NAME, req.params(), &self.public_key, &self.private_key);
        tracing::trace!(target: "tpu::ucloud", action = A::NAME, params = ?loggable(&form), "request parameters");
        let body = encode_form(&form);
        let url = endpoint_for(&self.endpoint, A::NAME);
        let cancelled = || Error::Cancelled {
            action: A::NAME,
            outcome_unknown: false,
        };
        let class = Class::of(A::NAME);
        let first = tokio::time::Instant::now();

        // Attempts sent, and of them the ones UCloud throttled, which do
        // not count toward max_retries.
        let (mut attempt, mut throttled): (u32, u32) = (0, 0);
        loop {
            // A whole call already stopped still makes its first attempt if
            // the limiter lets it go at once: the caller decided to send.
            if cancel.is_cancelled() && (interrupt_in_flight || attempt > 0) {
                return Err(cancelled());
            }
            match self.limiter.acquire(class, cancel, deadline).await {
                Ok(()) => {}
                Err(Stopped::Cancelled) => return Err(cancelled()),
                Err(Stopped::Deadline) => {
                    return Err(Error::Throttled {
                        action: A::NAME,
                        throttled,
                        waited: first.elapsed(),
                    });
                }
            }
            attempt += 1;
            let sent_at = tokio::time::Instant::now();
            let started = Instant::now();
            let mut exchange = Exchange::default();
            let in_flight = self.attempt::<A>(&url, &body, &mut exchange);
            let result = if interrupt_in_flight {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {
                        tracing::debug!(
                            target: "tpu::ucloud", action = A::NAME, attempt,
                            duration_ms = elapsed_ms(started), outcome = "cancelled",
                        );
                        return Err(Error::Cancelled { action: A::NAME, outcome_unknown: !A::IDEMPOTENT });
                    }
                    r = in_flight => r,
                }
            } else {
                in_flight.await
            };
            let duration_ms = elapsed_ms(started);
            let is_throttle = matches!(&result, Err((Failure::NotProcessed, e)) if e.is_throttled());
            self.limiter.answered(sent_at, is_throttle);
            let (failure, error) = match result {
                Ok(response) => {
                    log_attempt(A::NAME, attempt, duration_ms, &exchange, "ok", None);
                    return Ok(response);
                }
                Err(failed) => failed,
            };
            if is_throttle {
                // Not processed: safe to send again for any action, at the
                // pace the limiter now keeps.
                throttled += 1;
                log_attempt(A::NAME, attempt, duration_ms, &exchange, "throttled", Some(&error));
                continue;
            }
            let counted = attempt - throttled;
            if failure.retryable(A::IDEMPOTENT) && counted <= self.max_retries {
                log_attempt(A::NAME, attempt, duration_ms, &exchange, "retry", Some(&error));
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Err(cancelled()),
                    _ = tokio::time::sleep(self.backoff.delay(counted)) => {}
                }
                continue;
            }
            log_attempt(A::NAME, attempt, duration_ms, &exchange, "error", Some(&error));
            let error = error.after_attempts(attempt);
            if !A::IDEMPOTENT && failure.leaves_outcome_unknown() {
                return Err(Error::OutcomeUnknown {
                    action: A::NAME,
                    cause: Box::new(error),
                });
            }
            return Err(error);
        }
    }

    /// One HTTP exchange, classified for the retry policy.
    async fn attempt<A: Action>(
        &self,
        url: &Url,
        body: &str,
        exchange: &mut Exchange,
    ) -> Result<A::Response, (Failure, Error)> {
        let action = A::NAME;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let sent = self
            .http
            .post(url.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header(USER_AGENT, self.user_agent.clone())
            .header("U-Timestamp-Ms", now_ms().to_string())
            .body(body.to_owned())
            .send();
        let mut response = match tokio::time::timeout_at(deadline, sent).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(self.network_failure(action, &e, Awaited::Headers, None)),
            Err(_) => return Err(self.timed_out(action, Awaited::Headers, None)),
        };
        let status = response.status().as_u16();
        let success = response.status().is_success();
        exchange.http_status = Some(status);
        exchange.request_id = response
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request_id = exchange.request_id.clone();
        let (limit, overflow) = if success {
            (MAX_ANSWER_BYTES, Overflow::Fail)
        } else {
            (ERROR_PAGE_BYTES, Overflow::Truncate)
        };
        let bytes = match read_bounded(&mut response, limit, overflow, deadline).await {
            Ok(b) => b,
            Err(BodyError::Elapsed) => return Err(self.timed_out(action, Awaited::Body, request_id)),
            Err(BodyError::Transport(e)) => return Err(self.network_failure(action, &e, Awaited::Body, request_id)),
            Err(BodyError::TooLarge { declared }) => {
                let error = Error::TooLarge {
                    action,
                    limit,
                    declared,
                    request_id,
                };
                return Err((Failure::Garbled, error));
            }
        };
        drop(response);
        let garbled = |detail: String, request_id: Option<String>| {
            (
                Failure::Garbled,
                Error::Decode {
                    action,
                    detail,
                    request_id,
                },
            )
        };

        let envelope = match read_envelope(&bytes) {
            Ok(envelope) => envelope,
            Err(why) if success => {
                let detail = format!("HTTP {status} with a body that is not a UCloud answer ({why})");
                let detail = match snippet(&bytes) {
                    s if s.is_empty() => detail,
                    s => format!("{detail}: {s}"),
                };
                return Err(garbled(detail, request_id));
            }
            Err(_) => {
                let error = Error::Http {
                    action,
                    status,
                    request_id,
                    body: snippet(&bytes),
                };
                return Err((classify_status(status), error));
            }
        };
        let ret_code = match envelope.ret_code {
            Ok(code) => code,
            Err(detail) => return Err(garbled(detail, request_id)),
        };
        exchange.ret_code = Some(ret_code);
        if ret_code != 0 {
            let error = Error::Api {
                action,
                ret_code,
                message: envelope.message,
                http_status: status,
                request_id,
            };
            return Err((classify_ret_code(ret_code), error));
        }
        let answer: A::Response = match decode(&bytes) {
            Ok(answer) => answer,
            Err(detail) => return Err(garbled(format!("unexpected response fields: {detail}"), request_id)),
        };
        if let Some(field) = answer.missing_field() {
            let error = Error::MissingField {
                action,
                field,
                request_id,
            };
            return Err((Failure::Garbled, error));
        }
        Ok(answer)
    }

    /// The deadline passed: nobody knows whether the request was processed.
    fn timed_out(&self, action: &'static str, awaited: Awaited, request_id: Option<String>) -> (Failure, Error) {
        let error = Error::Timeout {
            action,
            limit: self.timeout,
            awaited,
            attempts: 1,
            request_id,
        };
        (Failure::Uncertain, error)
    }

    /// A transport error: certainly unsent if the connection never came up,
    /// otherwise of unknown fate. `awaited` is what was being read.
    fn network_failure(
        &self,
        action: &'static str,
        e: &reqwest::Error,
        awaited: Awaited,
        request_id: Option<String>,
    ) -> (Failure, Error) {
        let (failure, detail) = if e.is_connect() {
            (Failure::NotProcessed, format!("cannot connect: {}", error_chain(e)))
        } else if e.is_builder() {
            (Failure::Final, format!("cannot build the request: {}", error_chain(e)))
        } else if awaited == Awaited::Body {
            (
                Failure::Uncertain,
                format!(
                    "the connection broke off while the answer was arriving: {}",
                    error_chain(e)
                ),
            )
        } else {
            (
                Failure::Uncertain,
                format!("the connection broke off: {}", error_chain(e)),
            )
        };
        let error = Error::Network {
            action,
            detail,
            attempts: 1,
            request_id,
        };
        (failure, error)
    }
}

/// What to do with the part of a body beyond the limit.
#[derive(Clone, Copy)]
enum Overflow {
    /// It makes the answer unusable (a success answer must be read whole).
    Fail,
    /// It is not needed (an error page: its start classifies it).
    Truncate,
}

/// Why a body could not be read.
enum BodyError {
    Elapsed,
    TooLarge { declared: Option<u64> },
    Transport(reqwest::Error),
}

/// Reads the body chunk by chunk, never holding more than `limit` bytes and
/// giving up at `deadline`. A declared Content-Length above the limit is
/// refused before reading anything.
async fn read_bounded(
    response: &mut reqwest::Response,
    limit: u64,
    overflow: Overflow,
    deadline: tokio::time::Instant,
) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length();
    if let (Some(n), Overflow::Fail) = (declared, overflow)
        && n > limit
    {
        return Err(BodyError::TooLarge { declared });
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut body = Vec::with_capacity(declared.map_or(0, |n| usize::try_from(n).unwrap_or(cap).min(cap)));
    loop {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return Ok(body),
            Ok(Err(e)) => return Err(BodyError::Transport(e)),
            Err(_) => return Err(BodyError::Elapsed),
        };
        let room = cap - body.len();
        let take = chunk.len().min(room);
        // Doubling as Vec does, but never past the limit: amortised growth
        // alone could reserve nearly twice the limit.
        if body.capacity() - body.len() < take {
            let want = body.capacity().saturating_mul(2).max(body.len() + take).min(cap);
            body.reserve_exact(want - body.len());
        }
        body.extend_from_slice(&chunk[..take]);
        if take < chunk.len() {
            return match overflow {
                Overflow::Fail => Err(BodyError::TooLarge { declared }),
                Overflow::Truncate => Ok(body),
            };
        }
    }
}

/// The full parameter list as sent: `Action`, the action's non-empty
/// parameters, `PublicKey`, then `Signature` over all of them.
pub(crate) fn signed_form(
    action: &str,
    params: Vec<(String, String)>,
    public_key: &str,
    private_key: &Secret,
) -> Vec<(String, String)> {
    let mut form = Vec::with_capacity(params.len() + 3);
    form.push(("Action".to_owned(), action.to_owned()));
    form.extend(
        params
            .into_iter()
            .filter(|(k, v)| !v.is_empty() && !matches!(k.as_str(), "Action" | "PublicKey" | "Signature")),
    );
    form.push(("PublicKey".to_owned(), public_key.to_owned()));
    let signature = sign::signature(form.iter().map(|(k, v)| (k.as_str(), v.as_str())), private_key.expose());
    form.push(("Signature".to_owned(), signature));
    form
}

pub(crate) fn encode_form(form: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

/// The User-Agent: this program, where it comes from, and the caller.
fn user_agent(extra: &str) -> String {
    let ua = format!(
        "terraform-provider-ucloud/{} (+https://registry.terraform.io/providers/ucloud-rs/ucloud) {}",
        env!("CARGO_PKG_VERSION"),
        extra.trim()
    );
    ua.trim_end().to_owned()
}

pub(crate) fn parse_base_url(base_url: &str) -> Result<Url, String> {
    let url = Url::parse(base_url.trim()).map_err(|e| format!("the API base URL {base_url:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "the API base URL {base_url:?} must be an http:// or https:// URL with a host"
        ));
    }
    Ok(url)
}

/// Whether requests to `url` would travel in clear to another machine:
/// `http://` to a host that is not a loopback name or address. Signed
/// requests sent that way can be read, and a UFile header signature
/// replayed, by anyone on the path.
pub fn sends_in_clear(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "http" && !loopback
}

/// `{base_url}/?Action=X`: the Action in the query only makes logs readable.
fn endpoint_for(base: &Url, action: &str) -> Url {
    let mut url = base.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_fragment(None);
    url.query_pairs_mut().clear().append_pair("Action", action);
    url
}

/// An error and its sources, joined: reqwest's top-level message alone
/// rarely says what happened.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The parameters as they may appear in a TRACE log: no signature, and URL
/// query strings (pre-signed UFile URLs carry tokens) cut off.
fn loggable(form: &[(String, String)]) -> Vec<(&str, String)> {
    form.iter()
        .filter(|(k, _)| !NEVER_LOGGED.contains(&k.as_str()))
        .map(|(k, v)| {
            let shown = if v.contains("://") {
                super::redact_url(v)
            } else {
                v.clone()
            };
            (k.as_str(), shown)
        })
        .collect()
}

fn log_attempt(action: &str, attempt: u32, duration_ms: u64, ex: &Exchange, outcome: &str, error: Option<&Error>) {
    tracing::debug!(
        target: "tpu::ucloud",
        action,
        attempt,
        duration_ms,
        ret_code = ex.ret_code,
        request_id = ex.request_id.as_deref(),
        http_status = ex.http_status,
        outcome,
        error = error.map(tracing::field::display),
        "UCloud API call",
    );
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use sha1::{Digest, Sha1};

    use super::*;
    use crate::ucloud::image::{DescribeImage, DescribeImageResponse, ImageFormat, ImportCustomImage};

    const PUB: &str = "ucloudsomeone@example.com1296235120854146120";
    const PRIV: &str = "46f09bb9fab4f12dfc160dae12273d5332b5debe";

    fn sha1_hex(s: &str) -> String {
        hex::encode(Sha1::digest(s.as_bytes()))
    }

    fn import() -> ImportCustomImage {
        ImportCustomImage {
            region: "cn-bj2".into(),
            project_id: Some("org-abc".into()),
            image_name: "web-base".into(),
            ufile_url: "https://bkt.cn-bj.ufileos.com/img.qcow2?Expires=1&Signature=x".into(),
            os_type: "CentOS".into(),
            os_name: "CentOS 7.6 64位".into(),
            format: ImageFormat::Qcow2,
            auth: true,
            image_description: None,
            tag: Some(String::new()),
        }
    }

    #[test]
    fn import_form_body_is_exact_and_signed_over_raw_utf8() {
        let form = signed_form(ImportCustomImage::NAME, import().params(), PUB, &Secret::new(PRIV));
        // Sorted by key, concatenated, private key appended: written out by
        // hand, with the raw UTF-8 of "位" (not its percent-encoding).
        let plain = format!(
            "ActionImportCustomImageAuthtrueFormatqcow2ImageNameweb-baseOsNameCentOS 7.6 64位OsTypeCentOS\
             ProjectIdorg-abcPublicKey{PUB}Regioncn-bj2\
             UFileUrlhttps://bkt.cn-bj.ufileos.com/img.qcow2?Expires=1&Signature=x{PRIV}"
        );
        let want_sig = sha1_hex(&plain);
        let body = encode_form(&form);
        assert_eq!(
            body,
            format!(
                "Action=ImportCustomImage&Region=cn-bj2&ProjectId=org-abc&ImageName=web-base\
                 &UFileUrl=https%3A%2F%2Fbkt.cn-bj.ufileos.com%2Fimg.qcow2%3FExpires%3D1%26Signature%3Dx\
                 &OsType=CentOS&OsName=CentOS+7.6+64%E4%BD%8D&Format=qcow2&Auth=true\
                 &PublicKey=ucloudsomeone%40example.com1296235120854146120&Signature={want_sig}"
            )
        );

        // What a server does: decode the body, drop Signature, sign again.
        let decoded: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        let sent_sig = decoded.iter().find(|(k, _)| k == "Signature").map(|(_, v)| v.clone());
        let rest = decoded
            .iter()
            .filter(|(k, _)| k != "Signature")
            .map(|(k, v)| (k.as_str(), v.as_str()));
        assert_eq!(Some(sign::signature(rest, PRIV)), sent_sig);
        assert!(!body.contains(PRIV));
    }

    #[test]
    fn describe_form_flattens_ids_and_skips_empty_values() {
        let req = DescribeImage {
            region: "cn-bj2".into(),
            project_id: Some(String::new()),
            os_type: Some("Linux".into()),
            image_ids: vec!["uimage-a".into(), "uimage-b".into()],
            limit: Some(10),
            offset: Some(0),
            ..Default::default()
        };
        let form = signed_form(DescribeImage::NAME, req.params(), PUB, &Secret::new(PRIV));
        let plain = format!(
            "ActionDescribeImageImageIds.0uimage-aImageIds.1uimage-bLimit10Offset0OsTypeLinux\
             PublicKey{PUB}Regioncn-bj2{PRIV}"
        );
        assert_eq!(
            encode_form(&form),
            format!(
                "Action=DescribeImage&Region=cn-bj2&OsType=Linux&ImageIds.0=uimage-a&ImageIds.1=uimage-b\
                 &Offset=0&Limit=10&PublicKey=ucloudsomeone%40example.com1296235120854146120&Signature={}",
                sha1_hex(&plain)
            )
        );
    }

    #[test]
    fn non_ascii_os_name_in_describe_is_signed_raw() {
        // DescribeImage has no OsName; Tag carries the same kind of value.
        let req = DescribeImage {
            region: "cn-bj2".into(),
            tag: Some("业务组 A".into()),
            ..Default::default()
        };
        let form = signed_form(DescribeImage::NAME, req.params(), PUB, &Secret::new(PRIV));
        let sig = &form.last().map(|(_, v)| v.clone()).unwrap_or_default();
        assert_eq!(
            sig,
            &sha1_hex(&format!(
                "ActionDescribeImagePublicKey{PUB}Regioncn-bj2Tag业务组 A{PRIV}"
            ))
        );
        assert!(encode_form(&form).contains("&Tag=%E4%B8%9A%E5%8A%A1%E7%BB%84+A&"));
    }

    #[test]
    fn endpoint_keeps_a_path_prefix_and_sets_the_action() {
        let base = parse_base_url("http://127.0.0.1:9/prefix").map_err(|e| e.to_string());
        assert_eq!(
            base.map(|b| endpoint_for(&b, "DescribeImage").to_string()),
            Ok("http://127.0.0.1:9/prefix/?Action=DescribeImage".to_owned())
        );
        let root = parse_base_url(DEFAULT_BASE_URL).map(|b| endpoint_for(&b, "X").to_string());
        assert_eq!(root, Ok("https://api.ucloud.cn/?Action=X".to_owned()));
        assert!(parse_base_url("ftp://example.com").is_err());
        assert!(parse_base_url("api.ucloud.cn").is_err());
    }

    #[test]
    fn user_agent_names_the_provider_and_the_caller() {
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(
            user_agent("terraform/1.11.4"),
            format!(
                "terraform-provider-ucloud/{v} (+https://registry.terraform.io/providers/ucloud-rs/ucloud) terraform/1.11.4"
            )
        );
        assert!(user_agent("").ends_with("ucloud-rs/ucloud)"));
        assert!(
            Client::new(ClientConfig {
                user_agent_extra: "a\nb".into(),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn envelope_accepts_ret_code_as_number_or_string() {
        let code = |b: &[u8]| read_envelope(b).map(|e| e.ret_code);
        assert_eq!(code(br#"{"RetCode":0}"#), Ok(Ok(0)));
        assert_eq!(code(br#"{"RetCode":"8956","Message":"x"}"#), Ok(Ok(8956)));
        assert_eq!(code(br#"{"RetCode":" 0 "}"#), Ok(Ok(0)));
        for bad in [
            &br#"{"RetCode":"abc"}"#[..],
            br#"{"RetCode":1.5}"#,
            br#"{"RetCode":[0]}"#,
        ] {
            assert!(matches!(code(bad), Ok(Err(_))), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(
            read_envelope(br#"{"RetCode":230,"Message":"Params [ImageId] not available"}"#).map(|e| e.message),
            Ok("Params [ImageId] not available".to_owned())
        );
        let why = |b: &[u8]| read_envelope(b).err().unwrap_or_default();
        assert!(why(b"<html>502 Bad Gateway</html>").starts_with("not JSON"));
        assert!(why(br#"{"RetCode":0,"ImageSet":[{"Ima"#).contains("EOF while parsing"));
        assert_eq!(why(br#"{"message":"no envelope"}"#), "JSON without RetCode");
        assert_eq!(why(b" \r\n"), "empty body");
        assert_eq!(why(br#"[0,"x"]"#), "JSON that is not an object");
    }

    #[test]
    fn decode_errors_name_the_field() {
        let err = decode::<DescribeImageResponse>(br#"{"RetCode":0,"ImageSet":[{"ImageId":"u","ImageSize":"big"}]}"#);
        let err = err.err().unwrap_or_default();
        assert!(err.starts_with("ImageSet[0].ImageSize: expected an integer"), "{err}");
        let err = decode::<DescribeImageResponse>(br#"{"RetCode":0,"ImageSet":{"ImageId":"u"}}"#);
        assert!(err.err().unwrap_or_default().starts_with("ImageSet: invalid type: map"));
    }

    #[test]
    fn snippets_are_short_and_look_only_at_the_start() {
        assert_eq!(snippet(b"<html>\n  <b>down</b>\n</html>"), "<html> <b>down</b> </html>");
        assert_eq!(snippet(b""), "");
        let huge = vec![b'x'; 1 << 20];
        let s = snippet(&huge);
        assert_eq!(s.len(), BODY_SNIPPET_CHARS + 3);
        assert!(s.ends_with("..."));
    }

    #[test]
    fn logged_parameters_hide_signature_and_url_queries() {
        let form = signed_form(ImportCustomImage::NAME, import().params(), PUB, &Secret::new(PRIV));
        let shown = format!("{:?}", loggable(&form));
        assert!(!shown.contains("Signature"), "{shown}");
        assert!(!shown.contains("Expires=1"), "{shown}");
        assert!(shown.contains("https://bkt.cn-bj.ufileos.com/img.qcow2?***"), "{shown}");
        assert!(shown.contains("CentOS 7.6 64位"), "{shown}");
    }
}
