//! The client's [`Error`]: what went wrong, for which action, with the
//! request id UCloud support asks for, and a hint saying what to do for the
//! RetCodes users actually hit. No variant carries credentials.

use std::fmt;

/// RetCode UCloud answers for an image that does not exist or is not a
/// custom image.
pub const RET_CODE_NOT_FOUND: i64 = 8956;

/// A failed [`Client::call`](super::Client::call).
#[derive(Debug)]
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
    },
    /// A non-idempotent request was sent but its outcome is unknown (timeout,
    /// connection dropped after sending, gateway error): it may or may not
    /// have been carried out. The caller must look before repeating it.
    OutcomeUnknown {
        action: &'static str,
        detail: String,
        request_id: Option<String>,
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
    /// The client could not be built from its configuration.
    Config { detail: String },
}

impl Error {
    /// The UCloud RetCode, when the API answered with one.
    pub fn ret_code(&self) -> Option<i64> {
        match self {
            Error::Api { ret_code, .. } => Some(*ret_code),
            _ => None,
        }
    }

    /// The `X-UCLOUD-REQUEST-UUID` of the answer, when there was one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. }
            | Error::Http { request_id, .. }
            | Error::OutcomeUnknown { request_id, .. }
            | Error::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
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
            | Error::OutcomeUnknown { action, .. }
            | Error::Cancelled { action, .. }
            | Error::Decode { action, .. } => Some(action),
            Error::Config { .. } => None,
        }
    }

    /// The resource does not exist (RetCode 8956).
    pub fn is_not_found(&self) -> bool {
        self.ret_code() == Some(RET_CODE_NOT_FOUND)
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

    /// What went wrong, without the action name: used inside other messages.
    pub(crate) fn cause(&self) -> String {
        match self {
            Error::Api { ret_code, message, .. } => format!("RetCode {ret_code}: {message}"),
            Error::Http { status, body, .. } if body.is_empty() => format!("HTTP {status}"),
            Error::Http { status, body, .. } => format!("HTTP {status}: {body}"),
            Error::Network { detail, .. }
            | Error::OutcomeUnknown { detail, .. }
            | Error::Decode { detail, .. }
            | Error::Config { detail } => detail.clone(),
            Error::Cancelled { .. } => "cancelled".to_owned(),
        }
    }
}

/// What to do about a RetCode, for the ones with a known remedy.
fn hint(ret_code: i64, action: &str) -> Option<String> {
    let text = match ret_code {
        150 => "the UCloud service is temporarily unavailable; try again later".to_owned(),
        153 => "UCloud is throttling requests from this key; try again later or raise max_retries".to_owned(),
        171 => "the signature was rejected: check that public_key and private_key belong to the same API key pair"
            .to_owned(),
        172 => "UCloud does not know this public_key: check it (the key may have been deleted)".to_owned(),
        230 => "a parameter was rejected; the message above names it".to_owned(),
        292 => "the project does not exist or this key cannot use it: check project_id (sub-accounts must set it)"
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
                attempts,
            } => {
                let tries = if *attempts == 1 {
                    "1 attempt".to_owned()
                } else {
                    format!("{attempts} attempts")
                };
                write!(
                    f,
                    "UCloud {action} failed after {tries}: {detail}. Check network access to the API endpoint \
                     (base_url) and any proxy settings"
                )
            }
            Error::OutcomeUnknown {
                action,
                detail,
                request_id,
            } => {
                write!(
                    f,
                    "UCloud {action}: the request may or may not have been carried out ({detail})"
                )?;
                write_request_id(f, request_id)?;
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
        }
    }
}

impl std::error::Error for Error {}

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
        assert!(api(292).to_string().contains("project_id"));
    }

    #[test]
    fn not_found_and_outcome_flags() {
        assert!(api(RET_CODE_NOT_FOUND).is_not_found());
        let unknown = Error::OutcomeUnknown {
            action: "ImportCustomImage",
            detail: "timed out".into(),
            request_id: None,
        };
        assert!(unknown.is_outcome_unknown());
        assert!(
            unknown
                .to_string()
                .contains("may or may not have been carried out (timed out)")
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
}
