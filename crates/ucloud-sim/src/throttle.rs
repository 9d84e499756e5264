//! UCloud's own rate limit, as the simulator plays it (`--rate-limit`): a
//! token bucket per API public key (UCloud throttles per account) holding at
//! most one second of requests and refilled continuously. A request that
//! finds the bucket empty is answered RetCode 153 and not performed, so a
//! client that sends bursts sees what it would see from UCloud.

use std::collections::HashMap;
use std::time::Instant;

/// The buckets of every key seen.
#[derive(Debug)]
pub struct Throttle {
    per_second: f64,
    buckets: HashMap<String, Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Throttle {
    /// `per_second` requests per second per key, in bursts of as many.
    pub fn new(per_second: u32) -> Self {
        Throttle {
            per_second: f64::from(per_second.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Whether a request of `key` arriving at `now` is let through (and
    /// takes a token).
    pub fn admit(&mut self, key: &str, now: Instant) -> bool {
        let capacity = self.per_second;
        let bucket = self.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_beyond_one_second_of_requests_is_refused_until_it_refills() {
        let mut t = Throttle::new(5);
        let start = Instant::now();
        let admitted: Vec<bool> = (0..7).map(|_| t.admit("k", start)).collect();
        assert_eq!(admitted, [true, true, true, true, true, false, false]);
        assert!(t.admit("other", start), "each key has its own bucket");
        assert!(!t.admit("k", start + Duration::from_millis(100)));
        assert!(t.admit("k", start + Duration::from_millis(200)));
        assert!(!t.admit("k", start + Duration::from_millis(210)));
        let later = start + Duration::from_secs(60);
        assert_eq!(
            (0..6).filter(|_| t.admit("k", later)).count(),
            5,
            "never more than one second's worth"
        );
    }
}
