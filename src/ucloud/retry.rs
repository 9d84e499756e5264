//! The retry policy: which failures may be repeated for which kind of action,
//! and how long to wait in between. A request that certainly was not
//! processed may always be repeated; one whose fate is unknown only when the
//! action is idempotent, because repeating an import creates a second image.
//!
//! | failure | idempotent action | non-idempotent action |
//! |---|---|---|
//! | HTTP 429, RetCode 150/153 (throttled) | sent again at the limiter's pace until the deadline, not counted as a retry | the same |
//! | connect error | retried | retried |
//! | per-request timeout (no headers, or a body that trickles) | retried | outcome unknown |
//! | connection reset or dropped, also after the headers | retried | outcome unknown |
//! | HTTP 502/503/504 without an envelope, RetCode 110 | retried | outcome unknown |
//! | RetCode >= 2000 | retried | reported |
//! | answer larger than the limit, not JSON, HTML with 200, empty, wrongly typed fields, a required field missing | reported | outcome unknown |
//! | any other RetCode or HTTP status | reported | reported |
//!
//! Retries count toward `max_retries` and wait [`Backoff`]; throttled
//! attempts do neither: UCloud asked the process to slow down, which its
//! [limiter](super::rate) does for every call at once.
//!
//! An unreadable answer is not retried even for idempotent actions: it came
//! from something that handled the request (UCloud after an API change, a
//! proxy, a captive portal), and asking again gets the same answer.

use std::time::Duration;

/// How one attempt failed, as far as repeating it is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The request certainly was not processed (connect error, HTTP 429,
    /// RetCode 150/153): safe to repeat for any action.
    NotProcessed,
    /// Nobody knows whether it was processed (timeout waiting for the headers
    /// or the body, connection dropped after sending or while the answer was
    /// arriving, HTTP 502/503/504, RetCode 110): repeat only idempotent
    /// actions; for the others the outcome is unknown.
    Uncertain,
    /// The service answered with an internal error (RetCode >= 2000): repeat
    /// idempotent actions, report the error for the others.
    ServerError,
    /// The service handled the request but its answer could not be used (too
    /// large, not a UCloud envelope, wrongly typed, a required field missing):
    /// idempotent actions report it; for the others the outcome is unknown.
    Garbled,
    /// A definite answer that repeating will not change.
    Final,
}

impl Failure {
    /// Whether another attempt is allowed for an action of this idempotence.
    pub(crate) fn retryable(self, idempotent: bool) -> bool {
        match self {
            Failure::NotProcessed => true,
            Failure::Uncertain | Failure::ServerError => idempotent,
            Failure::Garbled | Failure::Final => false,
        }
    }

    /// Whether, once no further attempt is made, a non-idempotent action's
    /// outcome is unknown.
    pub(crate) fn leaves_outcome_unknown(self) -> bool {
        matches!(self, Failure::Uncertain | Failure::Garbled)
    }
}

/// Classifies a non-zero RetCode.
pub(crate) fn classify_ret_code(ret_code: i64) -> Failure {
    match ret_code {
        150 | 153 => Failure::NotProcessed,
        110 => Failure::Uncertain,
        // "does not exist" is a definite answer: retrying would only delay
        // the caller (a delete of an image that is already gone).
        super::error::RET_CODE_NOT_FOUND => Failure::Final,
        c if c >= 2000 => Failure::ServerError,
        _ => Failure::Final,
    }
}

/// Classifies a non-2xx HTTP status that came without a UCloud envelope.
pub(crate) fn classify_status(status: u16) -> Failure {
    match status {
        429 => Failure::NotProcessed,
        502..=504 => Failure::Uncertain,
        _ => Failure::Final,
    }
}

/// Capped exponential backoff with jitter: before retry `n` (1-based) wait
/// `(base + random(0..jitter)) * factor^(n-1)`, at most `cap`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub jitter: Duration,
    pub factor: u32,
    pub cap: Duration,
}

impl Default for Backoff {
    /// 100-199 ms, x4 per retry, at most 5 s: what UCloud's SDKs do, capped.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(100),
            jitter: Duration::from_millis(100),
            factor: 4,
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// No waiting at all (tests).
    pub fn none() -> Self {
        Backoff {
            base: Duration::ZERO,
            jitter: Duration::ZERO,
            factor: 1,
            cap: Duration::ZERO,
        }
    }

    /// The wait before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let jitter_ms = u64::try_from(self.jitter.as_millis()).unwrap_or(u64::MAX);
        let first = self.base + Duration::from_millis(if jitter_ms == 0 { 0 } else { fastrand::u64(0..jitter_ms) });
        let growth = self.factor.max(1).saturating_pow(retry.saturating_sub(1));
        first.checked_mul(growth).unwrap_or(self.cap).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_backoff_grows_by_four_and_is_capped() {
        let b = Backoff::default();
        for _ in 0..50 {
            let d1 = b.delay(1).as_millis();
            assert!((100..200).contains(&d1), "{d1}");
            let d2 = b.delay(2).as_millis();
            assert!((400..800).contains(&d2), "{d2}");
            assert!(b.delay(3).as_millis() >= 1600);
            assert_eq!(b.delay(4), Duration::from_secs(5));
            assert_eq!(b.delay(40), Duration::from_secs(5));
        }
        assert_eq!(Backoff::none().delay(3), Duration::ZERO);
    }

    #[test]
    fn non_idempotent_actions_repeat_only_what_was_not_processed() {
        let cases = [
            (classify_status(429), true, true),
            (classify_ret_code(153), true, true),
            (classify_ret_code(150), true, true),
            (classify_status(503), false, true),
            (classify_status(502), false, true),
            (classify_ret_code(110), false, true),
            (classify_ret_code(5000), false, true),
            (classify_ret_code(171), false, false),
            (classify_ret_code(230), false, false),
            (classify_ret_code(8956), false, false),
            (classify_status(500), false, false),
        ];
        for (failure, non_idempotent, idempotent) in cases {
            assert_eq!(failure.retryable(false), non_idempotent, "{failure:?} non-idempotent");
            assert_eq!(failure.retryable(true), idempotent, "{failure:?} idempotent");
        }
        assert!(classify_status(504).leaves_outcome_unknown());
        assert!(!classify_status(429).leaves_outcome_unknown());
        assert!(!classify_ret_code(5000).leaves_outcome_unknown());
    }
}
