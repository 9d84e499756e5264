//! The signed HTTP client: builds the form body of an [`Action`], signs it,
//! sends it, reads UCloud's envelope (`RetCode`, `Message`, request id) and
//! applies the retry policy of [`retry`](super::retry) according to the
//! action's idempotence. It honours cancellation at every wait.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::action::Action;
use super::error::Error;
use super::retry::{Backoff, Failure, classify_ret_code, classify_status};
use super::secret::Secret;
use super::sign;

/// The public API endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.ucloud.cn";
/// How often a failed call is repeated when nothing else is configured.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Per-request timeout: the API itself gives up after 60 s (RetCode 110).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The header carrying UCloud's request id.
const REQUEST_ID_HEADER: &str = "X-UCLOUD-REQUEST-UUID";
/// Parameters that never appear in logs.
const NEVER_LOGGED: [&str; 3] = ["Signature", "PrivateKey", "SecurityToken"];
/// How much of an unexpected body an error quotes.
const BODY_SNIPPET_CHARS: usize = 200;

/// Everything a [`Client`] needs. `Debug` never shows the private key.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub base_url: String,
    pub public_key: String,
    pub private_key: Secret,
    pub max_retries: u32,
    pub timeout: Duration,
    /// Appended to the User-Agent, e.g. `terraform/1.11.4`.
    pub user_agent_extra: String,
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
        }
    }
}

/// A UCloud API client. Cheap to clone; one per provider configuration.
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
            http,
            endpoint,
            public_key: cfg.public_key,
            private_key: cfg.private_key,
            max_retries: cfg.max_retries,
            timeout: cfg.timeout,
            user_agent,
            backoff: Backoff::default(),
        })
    }

    /// This client with another wait between retries.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sends `req`, retrying as its idempotence allows, and returns its
    /// response fields. Returns [`Error::Cancelled`] promptly once `cancel`
    /// fires, also while waiting between attempts.
    pub async fn call<A: Action>(&self, req: &A, cancel: &CancellationToken) -> Result<A::Response, Error> {
        let form = signed_form(A::NAME, req.params(), &self.public_key, &self.private_key);
        tracing::trace!(target: "tpu::ucloud", action = A::NAME, params = ?loggable(&form), "request parameters");
        let body = encode_form(&form);
        let url = endpoint_for(&self.endpoint, A::NAME);

        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if cancel.is_cancelled() {
                return Err(Error::Cancelled {
                    action: A::NAME,
                    outcome_unknown: false,
                });
            }
            let started = Instant::now();
            let mut exchange = Exchange::default();
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    tracing::debug!(
                        target: "tpu::ucloud", action = A::NAME, attempt,
                        duration_ms = elapsed_ms(started), outcome = "cancelled",
                    );
                    return Err(Error::Cancelled { action: A::NAME, outcome_unknown: !A::IDEMPOTENT });
                }
                r = self.attempt::<A>(&url, &body, &mut exchange) => r,
            };
            let duration_ms = elapsed_ms(started);
            let (failure, error) = match result {
                Ok(response) => {
                    log_attempt(A::NAME, attempt, duration_ms, &exchange, "ok", None);
                    return Ok(response);
                }
                Err(failed) => failed,
            };
            if failure.retryable(A::IDEMPOTENT) && attempt <= self.max_retries {
                log_attempt(A::NAME, attempt, duration_ms, &exchange, "retry", Some(&error));
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Err(Error::Cancelled { action: A::NAME, outcome_unknown: false }),
                    _ = tokio::time::sleep(self.backoff.delay(attempt)) => {}
                }
                continue;
            }
            log_attempt(A::NAME, attempt, duration_ms, &exchange, "error", Some(&error));
            if !A::IDEMPOTENT && failure.leaves_outcome_unknown() {
                return Err(Error::OutcomeUnknown {
                    action: A::NAME,
                    detail: error.cause(),
                    request_id: exchange.request_id,
                });
            }
            return Err(match error {
                Error::Network { action, detail, .. } => Error::Network {
                    action,
                    detail,
                    attempts: attempt,
                },
                other => other,
            });
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
        let sent = self
            .http
            .post(url.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header(USER_AGENT, self.user_agent.clone())
            .header("U-Timestamp-Ms", now_ms().to_string())
            .timeout(self.timeout)
            .body(body.to_owned())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Err(self.network_failure(action, &e)),
        };
        let status = response.status().as_u16();
        exchange.http_status = Some(status);
        exchange.request_id = response
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request_id = exchange.request_id.clone();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Err(self.network_failure(action, &e)),
        };

        let Some((ret_code, envelope)) = read_envelope(&bytes) else {
            if (200..300).contains(&status) {
                let detail = format!(
                    "HTTP {status} with a body that is not a UCloud answer: {}",
                    snippet(&bytes)
                );
                return Err((
                    Failure::Garbled,
                    Error::Decode {
                        action,
                        detail,
                        request_id,
                    },
                ));
            }
            let error = Error::Http {
                action,
                status,
                request_id,
                body: snippet(&bytes),
            };
            return Err((classify_status(status), error));
        };
        let ret_code = match ret_code {
            Ok(code) => code,
            Err(detail) => {
                return Err((
                    Failure::Garbled,
                    Error::Decode {
                        action,
                        detail,
                        request_id,
                    },
                ));
            }
        };
        exchange.ret_code = Some(ret_code);
        if ret_code != 0 {
            let message = envelope
                .get("Message")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_owned();
            let error = Error::Api {
                action,
                ret_code,
                message,
                http_status: status,
                request_id,
            };
            return Err((classify_ret_code(ret_code), error));
        }
        serde_json::from_value(envelope).map_err(|e| {
            let detail = format!("unexpected response fields: {e}");
            (
                Failure::Garbled,
                Error::Decode {
                    action,
                    detail,
                    request_id,
                },
            )
        })
    }

    /// A transport error: certainly unsent if the connection never came up,
    /// otherwise of unknown fate.
    fn network_failure(&self, action: &'static str, e: &reqwest::Error) -> (Failure, Error) {
        let (failure, detail) = if e.is_connect() {
            (Failure::NotProcessed, format!("cannot connect: {}", error_chain(e)))
        } else if e.is_timeout() {
            (
                Failure::Uncertain,
                format!("no answer within {}", humantime::format_duration(self.timeout)),
            )
        } else if e.is_builder() {
            (Failure::Final, format!("cannot build the request: {}", error_chain(e)))
        } else {
            (
                Failure::Uncertain,
                format!("the connection broke off: {}", error_chain(e)),
            )
        };
        (
            failure,
            Error::Network {
                action,
                detail,
                attempts: 1,
            },
        )
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
    let url = Url::parse(base_url.trim()).map_err(|e| format!("base_url {base_url:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "base_url {base_url:?} must be an http:// or https:// URL with a host"
        ));
    }
    Ok(url)
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

/// `(RetCode, whole answer)` when the body is a UCloud envelope. RetCode may
/// come as a number or as a string.
fn read_envelope(bytes: &[u8]) -> Option<(Result<i64, String>, serde_json::Value)> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let code = value.as_object()?.get("RetCode")?;
    let parsed = match code {
        serde_json::Value::Number(n) => n.as_i64().ok_or_else(|| format!("RetCode {n} is not an integer")),
        serde_json::Value::String(s) => s.trim().parse().map_err(|_| format!("RetCode {s:?} is not an integer")),
        other => Err(format!("RetCode {other} is not an integer")),
    };
    Some((parsed, value))
}

/// The start of a body, on one line, for error messages.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(BODY_SNIPPET_CHARS)
        .collect();
    if text.chars().count() > BODY_SNIPPET_CHARS {
        out.push_str("...");
    }
    out
}

/// An error and its sources, joined: reqwest's top-level message alone
/// rarely says what happened.
fn error_chain(e: &dyn std::error::Error) -> String {
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
            let shown = match v.split_once('?') {
                Some((before, _)) if v.contains("://") => format!("{before}?<query omitted>"),
                _ => v.clone(),
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
    use crate::ucloud::image::{DescribeImage, ImageFormat, ImportCustomImage};

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
        assert_eq!(read_envelope(br#"{"RetCode":0}"#).map(|(c, _)| c), Some(Ok(0)));
        assert_eq!(
            read_envelope(br#"{"RetCode":"8956","Message":"x"}"#).map(|(c, _)| c),
            Some(Ok(8956))
        );
        assert!(matches!(read_envelope(br#"{"RetCode":"abc"}"#), Some((Err(_), _))));
        assert!(read_envelope(b"<html>502 Bad Gateway</html>").is_none());
        assert!(read_envelope(br#"{"message":"no envelope"}"#).is_none());
    }

    #[test]
    fn logged_parameters_hide_signature_and_url_queries() {
        let form = signed_form(ImportCustomImage::NAME, import().params(), PUB, &Secret::new(PRIV));
        let shown = format!("{:?}", loggable(&form));
        assert!(!shown.contains("Signature"), "{shown}");
        assert!(!shown.contains("Expires=1"), "{shown}");
        assert!(
            shown.contains("https://bkt.cn-bj.ufileos.com/img.qcow2?<query omitted>"),
            "{shown}"
        );
        assert!(shown.contains("CentOS 7.6 64位"), "{shown}");
    }
}
