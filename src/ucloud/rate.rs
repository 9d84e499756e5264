//! The client-side rate limit: one token bucket per [`Client`](super::Client)
//! (and its clones), taken before every HTTP attempt, retries included, so
//! that a provider process never sends UCloud more than
//! [`RateLimit::per_second`] requests per second on average, nor more than
//! [`RateLimit::burst`] at once.
//!
//! UCloud throttles per account (RetCode 153) and does not publish the
//! figure. Every other user of the account (the console, CI, other
//! Terraform runs) draws on the same quota, so the default,
//! [`DEFAULT_MAX_REQUESTS_PER_SECOND`], is deliberately modest: 10 per
//! second with a burst of 10 is the most conservative published per-user
//! limit of comparable clouds' describe APIs (10 QPS), and with the batched
//! waiter a wait costs about one call per second per location, so the limit
//! only shapes bursts: 50 imports started together by `-parallelism=50`
//! leave within 4 s, against imports that take minutes.
//!
//! The bucket is a GCRA (generic cell rate algorithm): one instant, the
//! theoretical arrival time of the next request, instead of a token count,
//! so reserving a slot is one comparison and the order of callers is kept.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Requests per second a client sends at most when nothing else is configured.
pub const DEFAULT_MAX_REQUESTS_PER_SECOND: u32 = 10;

/// How fast a client may send: `per_second` on average, at most `burst` at
/// once. `per_second == 0` turns the limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` requests per second, in bursts of at most as many (one
    /// second's worth); 0 means no limit.
    pub fn per_second(per_second: u32) -> Self {
        RateLimit {
            per_second,
            burst: per_second,
        }
    }

    /// No client-side limit.
    pub fn unlimited() -> Self {
        RateLimit::per_second(0)
    }

    pub fn is_unlimited(&self) -> bool {
        self.per_second == 0
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::per_second(DEFAULT_MAX_REQUESTS_PER_SECOND)
    }
}

/// A token bucket shared by a client and its clones.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Time between two requests at the sustained rate.
    interval: Duration,
    /// How far ahead of the sustained rate a request may be (the burst).
    tolerance: Duration,
    /// When the next request would be due at the sustained rate; `None`
    /// before the first.
    next_due: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// The limiter for `limit`, or `None` when it is off.
    pub(crate) fn new(limit: RateLimit) -> Option<Self> {
        if limit.is_unlimited() {
            return None;
        }
        let interval = Duration::from_secs(1) / limit.per_second;
        Some(RateLimiter {
            interval,
            tolerance: interval * limit.burst.max(1).saturating_sub(1),
            next_due: Mutex::new(None),
        })
    }

    /// Reserves the next slot and says when it may be used (now, or later).
    /// A reservation is kept even if its caller gives up waiting: the
    /// bucket only ever errs on the slow side.
    pub(crate) fn reserve(&self) -> Instant {
        let now = Instant::now();
        let mut next_due = self.next_due.lock().unwrap_or_else(|p| p.into_inner());
        let due = next_due.map_or(now, |d| d.max(now));
        let allowed = due.checked_sub(self.tolerance).map_or(now, |a| a.max(now));
        *next_due = Some(due + self.interval);
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When each of `n` requests reserved at once may go, relative to now.
    fn schedule(limiter: &RateLimiter, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        (0..n).map(|_| limiter.reserve() - start).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_and_the_rest_at_the_sustained_rate() {
        let limiter = RateLimiter::new(RateLimit::per_second(10)).expect("a limit");
        let at = schedule(&limiter, 25);
        assert!(at[..10].iter().all(|d| d.is_zero()), "{at:?}");
        let ms: Vec<u128> = at[10..].iter().map(Duration::as_millis).collect();
        assert_eq!(ms, (1..=15).map(|k| k * 100).collect::<Vec<u128>>());
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_refills_but_never_beyond_its_burst() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 4,
            burst: 2,
        })
        .expect("a limit");
        assert!(schedule(&limiter, 2).iter().all(|d| d.is_zero()));
        tokio::time::advance(Duration::from_secs(60)).await;
        let at = schedule(&limiter, 4);
        let ms: Vec<u128> = at.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![0, 0, 250, 500]);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_spaced_at_the_rate_never_wait() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 5,
            burst: 1,
        })
        .expect("a limit");
        for _ in 0..20 {
            assert_eq!(limiter.reserve(), Instant::now());
            tokio::time::advance(Duration::from_millis(200)).await;
        }
    }

    #[test]
    fn zero_turns_the_limit_off() {
        assert!(RateLimiter::new(RateLimit::unlimited()).is_none());
        assert_eq!(RateLimit::default().per_second, DEFAULT_MAX_REQUESTS_PER_SECOND);
    }
}
