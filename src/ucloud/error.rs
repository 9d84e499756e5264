//! The client's [`Error`]: what went wrong, for which action, with the
//! request id UCloud support asks for, and a hint saying what to do for the
//! RetCodes users actually hit. No variant carries credentials.

use std::fmt;
use std::time::Duration;

use super::credentials::{PRIVATE_KEY_NAME, PUBLIC_KEY_NAME};

/// RetCode UCloud answers for an image that does not exist or is not a
/// custom image.
pub const RET_CODE_NOT_FOUND: i64 = 8956;

/// What had not arrived when an attempt's deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    /// The status line and headers: the server never answered.
    Headers,
    /// The rest of the body: the server answered, but sent it too slowly.
    Body,
}

/// A failed [`Client::call`](super::Client::call). `Clone` so that one
/// failed call shared by several waits can be reported to each.
#[derive(Clone, Debug)]
pub enum Error {
    /// UCloud answered with a non-zero RetCode.
    Api {
        action: &'static str,
        ret_code: i64,
        message: String,
        http_status: u16,
        request_id: Option<String>,
    },
    /// A non-2xx HTTP answer without a UCloud envelope (a gateway or proxy).
    Http {
        action: &'static str,
        status: u16,
        request_id: Option<String>,
        /// The start of the body, for the user to recognise the sender.
        body: String,
    },
    /// The API could not be reached, or the exchange broke off, and retrying
    /// did not help.
    Network {
        action: &'static str,
        detail: String,
        attempts: u32,
        /// Set when the connection broke after the headers had arrived.
        request_id: Option<String>,
    },
    /// An attempt did not complete within the per-request timeout, which
    /// bounds the whole exchange (connect, headers and body), and retrying
    /// did not help.
    Timeout {
        action: &'static str,
        limit: Duration,
        awaited: Awaited,
        attempts: u32,
        request_id: Option<String>,
    },
    /// The answer was larger than the client reads
    /// ([`MAX_ANSWER_BYTES`](super::MAX_ANSWER_BYTES)); the rest was not read.
    TooLarge {
        action: &'static str,
        limit: u64,
        /// The Content-Length, when the server declared one.
        declared: Option<u64>,
        request_id: Option<String>,
    },
    /// RetCode 0, but a field callers rely on is missing, null or blank.
    MissingField {
        action: &'static str,
        /// A path into the answer, e.g. `ImageId` or `ImageSet[3].State`.
        field: String,
        request_id: Option<String>,
    },
    /// A non-idempotent request was sent but its outcome is unknown (timeout,
    /// connection dropped after sending, gateway error, an answer that could
    /// not be read or lacked a required field): it may or may not have been
    /// carried out. The caller must look before repeating it. `cause` is the
    /// failure that left it unknown.
    OutcomeUnknown { action: &'static str, cause: Box<Error> },
    /// UCloud kept throttling: the operation's deadline passed before the
    /// request got a turn to be sent again. Nothing was processed.
    Throttled {
        action: &'static str,
        /// How many attempts UCloud throttled.
        throttled: u32,
        /// How long the call lasted in all.
        waited: Duration,
    },
    /// The caller cancelled the call. `outcome_unknown` is set when a
    /// non-idempotent request was in flight at that moment.
    Cancelled {
        action: &'static str,
        outcome_unknown: bool,
    },
    /// The answer could not be read (not JSON, or not the expected shape).
    Decode {
        action: &'static str,
        detail: String,
        request_id: Option<String>,
    },
    /// A required parameter of the request is empty: nothing was sent.
    MissingParameter { action: &'static str, param: String },
    /// The client could not be built from its configuration.
    Config { detail: String },
}

impl Error {
    /// The error itself, or for an outcome-unknown one the failure behind it:
    /// what the classifying accessors look at.
    fn root(&self) -> &Error {
        match self {
            Error::OutcomeUnknown { cause, .. } => cause.root(),
            other => other,
        }
    }

    /// The UCloud RetCode, when the API answered with one.
    pub fn ret_code(&self) -> Option<i64> {
        match self.root() {
            Error::Api { ret_code, .. } => Some(*ret_code),
            _ => None,
        }
    }

    /// The `X-UCLOUD-REQUEST-UUID` of the answer, when there was one.
    pub fn request_id(&self) -> Option<&str> {
        match self.root() {
            Error::Api { request_id, .. }
            | Error::Http { request_id, .. }
            | Error::Network { request_id, .. }
            | Error::Timeout { request_id, .. }
            | Error::TooLarge { request_id, .. }
            | Error::MissingField { request_id, .. }
            | Error::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self.root() {
            Error::Api { http_status, .. } => Some(*http_status),
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The action that failed (`None` for configuration errors).
    pub fn action(&self) -> Option<&'static str> {
        match self {
            Error::Api { action, .. }
            | Error::Http { action, .. }
            | Error::Network { action, .. }
            | Error::Timeout { action, .. }
            | Error::TooLarge { action, .. }
            | Error::MissingField { action, .. }
            | Error::OutcomeUnknown { action, .. }
            | Error::Cancelled { action, .. }
            | Error::Throttled { action, .. }
            | Error::Decode { action, .. }
            | Error::MissingParameter { action, .. } => Some(action),
            Error::Config { .. } => None,
        }
    }

    /// The resource does not exist (RetCode 8956).
    pub fn is_not_found(&self) -> bool {
        self.ret_code() == Some(RET_CODE_NOT_FOUND)
    }

    /// UCloud asked the client to slow down: RetCode 153 (throttled) or 150
    /// (service unavailable, retry later), or HTTP 429.
    /// Also a call that stayed throttled until its deadline.
    pub fn is_throttled(&self) -> bool {
        matches!(self.ret_code(), Some(150 | 153))
            || self.http_status() == Some(429)
            || matches!(self.root(), Error::Throttled { .. })
    }

    /// The service failed on its side: RetCode 110 (API timeout) or >= 2000
    /// as the retry policy reads them (not 8956, "does not exist"), or an
    /// HTTP 5xx without a UCloud answer.
    pub fn is_server_error(&self) -> bool {
        use super::retry::{Failure, classify_ret_code};
        match self.root() {
            Error::Api { ret_code, .. } => {
                matches!(classify_ret_code(*ret_code), Failure::ServerError | Failure::Uncertain)
            }
            Error::Http { status, .. } => (500..600).contains(status),
            _ => false,
        }
    }

    /// A non-idempotent request may or may not have been carried out.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(
            self,
            Error::OutcomeUnknown { .. }
                | Error::Cancelled {
                    outcome_unknown: true,
                    ..
                }
        )
    }

    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled { .. })
    }

    /// The per-request timeout passed (also behind an outcome-unknown error).
    pub fn is_timeout(&self) -> bool {
        matches!(self.root(), Error::Timeout { .. })
    }

    /// The answer exceeded the size limit (also behind an outcome-unknown error).
    pub fn is_too_large(&self) -> bool {
        matches!(self.root(), Error::TooLarge { .. })
    }

    /// The required answer field that was missing or empty (also behind an
    /// outcome-unknown error).
    pub fn missing_field(&self) -> Option<&str> {
        match self.root() {
            Error::MissingField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The same error, counting `attempts` tries where it says how many.
    pub(crate) fn after_attempts(self, attempts: u32) -> Error {
        match self {
            Error::Network {
                action,
                detail,
                request_id,
                ..
            } => Error::Network {
                action,
                detail,
                attempts,
                request_id,
            },
            Error::Timeout {
                action,
                limit,
                awaited,
                request_id,
                ..
            } => Error::Timeout {
                action,
                limit,
                awaited,
                attempts,
                request_id,
            },
            other => other,
        }
    }

    /// What went wrong, without the action name: used inside other messages.
    pub(crate) fn cause(&self) -> String {
        match self {
            Error::Api { ret_code, message, .. } => format!("RetCode {ret_code}: {message}"),
            Error::Http { status, body, .. } if body.is_empty() => format!("HTTP {status}"),
            Error::Http { status, body, .. } => format!("HTTP {status}: {body}"),
            Error::Timeout {
                limit,
                awaited: Awaited::Headers,
                ..
            } => format!("no answer within {}", humantime::format_duration(*limit)),
            Error::Timeout {
                limit,
                awaited: Awaited::Body,
                ..
            } => format!(
                "the answer was not complete within {}: the server sent its body too slowly",
                humantime::format_duration(*limit)
            ),
            Error::TooLarge { limit, declared, .. } => {
                let declared = declared
                    .map(|n| format!(" (it declared {n} bytes)"))
                    .unwrap_or_default();
                format!(
                    "the answer is larger than the {} the client reads{declared}; no UCloud answer is that \
                     large, so a proxy or gateway may be sending it",
                    size(*limit)
                )
            }
            Error::MissingField { field, .. } => {
                format!("RetCode 0, but the answer's required field {field} is missing or empty")
            }
            Error::MissingParameter { param, .. } => format!("the required parameter {param} is empty"),
            Error::OutcomeUnknown { cause, .. } => cause.cause(),
            Error::Network { detail, .. } | Error::Decode { detail, .. } | Error::Config { detail } => detail.clone(),
            Error::Cancelled { .. } => "cancelled".to_owned(),
            Error::Throttled { throttled, waited, .. } => format!(
                "UCloud throttled {} and the operation's deadline passed after {} of waiting for a turn",
                attempts(*throttled),
                humantime::format_duration(Duration::from_secs(waited.as_secs()))
            ),
        }
    }
}

/// `8 MiB` for whole mebibytes, else bytes.
fn size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

fn attempts(n: u32) -> String {
    if n == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{n} attempts")
    }
}

/// What to do about a RetCode, for the ones with a known remedy.
fn hint(ret_code: i64, action: &str) -> Option<String> {
    let text = match ret_code {
        150 => "the UCloud service is temporarily unavailable; try again later".to_owned(),
        153 => "UCloud is throttling requests from this key; try again later".to_owned(),
        // UCloud's names for the key pair, as its CLI and SDKs write them.
        171 => format!(
            "the signature was rejected: check that {PUBLIC_KEY_NAME} and {PRIVATE_KEY_NAME} belong to the same API \
             key pair"
        ),
        172 => format!("UCloud does not know this {PUBLIC_KEY_NAME}: check it (the key may have been deleted)"),
        230 => "a parameter was rejected; the message above names it".to_owned(),
        292 => "the project does not exist or this key cannot use it: check the project id (sub-accounts must set it)"
            .to_owned(),
        294 => "UCloud refused this client's IP address: check the key's IP allow-list".to_owned(),
        299 => format!("the key's IAM permissions do not allow {action}: grant the UHost image permissions"),
        _ => return None,
    };
    Some(text)
}

fn write_request_id(f: &mut fmt::Formatter<'_>, request_id: &Option<String>) -> fmt::Result {
    match request_id {
        Some(id) => write!(f, " (request id {id})"),
        None => Ok(()),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api {
                action,
                ret_code,
                message,
                request_id,
                ..
            } => {
                write!(f, "UCloud {action} failed with RetCode {ret_code}: {message}")?;
                write_request_id(f, request_id)?;
                if let Some(h) = hint(*ret_code, action) {
                    write!(f, ". Hint: {h}")?;
                }
                Ok(())
            }
            Error::Http {
                action,
                status,
                request_id,
                body,
            } => {
                write!(f, "UCloud {action} failed: HTTP {status} without a UCloud answer")?;
                write_request_id(f, request_id)?;
                if !body.is_empty() {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            Error::Network {
                action,
                detail,
                attempts: n,
                request_id,
            } => {
                write!(f, "UCloud {action} failed after {}: {detail}", attempts(*n))?;
                write_request_id(f, request_id)?;
                write!(
                    f,
                    ". Check network access to the API endpoint (the API base URL) and any proxy settings"
                )
            }
            Error::Timeout {
                action,
                attempts: n,
                request_id,
                ..
            } => {
                write!(f, "UCloud {action} failed after {}: {}", attempts(*n), self.cause())?;
                write_request_id(f, request_id)?;
                write!(
                    f,
                    ". The timeout covers the whole exchange; check network access to the API endpoint (the API base \
                     URL) and any proxy"
                )
            }
            Error::TooLarge { action, request_id, .. } => {
                write!(f, "UCloud {action} failed: {}", self.cause())?;
                write_request_id(f, request_id)
            }
            Error::MissingField { action, request_id, .. } => {
                write!(f, "UCloud {action} returned an unusable answer: {}", self.cause())?;
                write_request_id(f, request_id)
            }
            Error::MissingParameter { action, .. } => write!(f, "UCloud {action} was not sent: {}", self.cause()),
            Error::OutcomeUnknown { action, cause } => {
                write!(
                    f,
                    "UCloud {action}: the request may or may not have been carried out ({})",
                    cause.cause()
                )?;
                if let Some(id) = cause.request_id() {
                    write!(f, " (request id {id})")?;
                }
                write!(
                    f,
                    ". It was not repeated because doing it twice could create a duplicate; check UCloud before \
                     trying again"
                )
            }
            Error::Cancelled {
                action,
                outcome_unknown: false,
            } => write!(f, "UCloud {action} was cancelled"),
            Error::Cancelled {
                action,
                outcome_unknown: true,
            } => write!(
                f,
                "UCloud {action} was cancelled while the request was in flight: it may or may not have been \
                 carried out; check UCloud before trying again"
            ),
            Error::Decode {
                action,
                detail,
                request_id,
            } => {
                write!(f, "UCloud {action} returned an answer that could not be read: {detail}")?;
                write_request_id(f, request_id)
            }
            Error::Config { detail } => write!(f, "invalid UCloud client configuration: {detail}"),
            Error::Throttled { action, .. } => write!(
                f,
                "UCloud {action} was not sent: {}. Other users of the key share its quota: raise the operation's \
                 timeout, lower -parallelism, or run fewer applies on the key at once",
                self.cause()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::OutcomeUnknown { cause, .. } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(ret_code: i64) -> Error {
        Error::Api {
            action: "DescribeImage",
            ret_code,
            message: "Signature VerifyAC Error".into(),
            http_status: 200,
            request_id: Some("req-1".into()),
        }
    }

    #[test]
    fn api_error_reads_well_and_hints() {
        let e = api(171);
        assert_eq!(
            e.to_string(),
            "UCloud DescribeImage failed with RetCode 171: Signature VerifyAC Error (request id req-1). Hint: the \
             signature was rejected: check that public_key and private_key belong to the same API key pair"
        );
        assert_eq!(e.ret_code(), Some(171));
        assert_eq!(e.request_id(), Some("req-1"));
        assert!(!e.is_not_found() && !e.is_outcome_unknown() && !e.is_cancelled());
    }

    #[test]
    fn every_documented_ret_code_has_a_hint() {
        for code in [153, 171, 172, 230, 292, 299] {
            assert!(api(code).to_string().contains("Hint: "), "RetCode {code}");
        }
        assert!(!api(8301).to_string().contains("Hint: "));
        assert!(api(299).to_string().contains("do not allow DescribeImage"));
        assert!(api(292).to_string().contains("check the project id"));
    }

    #[test]
    fn not_found_and_outcome_flags() {
        assert!(api(RET_CODE_NOT_FOUND).is_not_found());
        let unknown = Error::OutcomeUnknown {
            action: "ImportCustomImage",
            cause: Box::new(Error::Timeout {
                action: "ImportCustomImage",
                limit: Duration::from_secs(60),
                awaited: Awaited::Headers,
                attempts: 1,
                request_id: None,
            }),
        };
        assert!(unknown.is_outcome_unknown() && unknown.is_timeout());
        assert!(
            unknown
                .to_string()
                .contains("may or may not have been carried out (no answer within 1m)"),
            "{unknown}"
        );
        let in_flight = Error::Cancelled {
            action: "ImportCustomImage",
            outcome_unknown: true,
        };
        assert!(in_flight.is_cancelled() && in_flight.is_outcome_unknown());
        let idle = Error::Cancelled {
            action: "DescribeImage",
            outcome_unknown: false,
        };
        assert!(idle.is_cancelled() && !idle.is_outcome_unknown());
    }

    #[test]
    fn throttling_and_server_errors_are_told_apart_from_final_ones() {
        let http = |status| Error::Http {
            action: "DescribeImage",
            status,
            request_id: None,
            body: String::new(),
        };
        for throttled in [api(153), api(150), http(429)] {
            assert!(throttled.is_throttled() && !throttled.is_server_error(), "{throttled}");
        }
        for server in [api(110), api(2000), api(5000), http(502), http(503)] {
            assert!(server.is_server_error() && !server.is_throttled(), "{server}");
        }
        for other in [api(171), api(230), api(RET_CODE_NOT_FOUND), http(404)] {
            assert!(!other.is_throttled() && !other.is_server_error(), "{other}");
        }
    }

    #[test]
    fn bounded_reads_and_validation_name_action_limit_field_and_request_id() {
        let big = Error::TooLarge {
            action: "DescribeImage",
            limit: 8 * 1024 * 1024,
            declared: Some(52_428_800),
            request_id: Some("req-9".into()),
        };
        assert_eq!(
            big.to_string(),
            "UCloud DescribeImage failed: the answer is larger than the 8 MiB the client reads (it declared \
             52428800 bytes); no UCloud answer is that large, so a proxy or gateway may be sending it (request id \
             req-9)"
        );
        assert!(big.is_too_large() && !big.is_timeout());

        let slow = Error::Timeout {
            action: "DescribeImage",
            limit: Duration::from_millis(1500),
            awaited: Awaited::Body,
            attempts: 2,
            request_id: Some("req-8".into()),
        };
        let shown = slow.to_string();
        assert!(
            shown.starts_with(
                "UCloud DescribeImage failed after 2 attempts: the answer was not complete within 1s 500ms"
            ),
            "{shown}"
        );
        assert!(shown.contains("(request id req-8)"), "{shown}");

        let missing = Error::MissingField {
            action: "ImportCustomImage",
            field: "ImageId".into(),
            request_id: Some("req-7".into()),
        };
        let unknown = Error::OutcomeUnknown {
            action: "ImportCustomImage",
            cause: Box::new(missing),
        };
        assert!(unknown.is_outcome_unknown());
        assert_eq!(unknown.missing_field(), Some("ImageId"));
        assert_eq!(unknown.request_id(), Some("req-7"));
        let shown = unknown.to_string();
        assert!(
            shown.contains(
                "may or may not have been carried out (RetCode 0, but the answer's required field ImageId \
                            is missing or empty) (request id req-7)"
            ),
            "{shown}"
        );
        assert!(std::error::Error::source(&unknown).is_some());

        let refused = Error::MissingParameter {
            action: "TerminateCustomImage",
            param: "ImageId".into(),
        };
        assert!(
            refused
                .to_string()
                .starts_with("UCloud TerminateCustomImage was not sent: the required parameter ImageId is empty"),
            "{refused}"
        );
        assert_eq!(size(1000), "1000 bytes");
    }
}
