//! Misbehaviours of UFile's upload path that a client must survive, set at
//! start (`--ufile-*` flags) or at runtime through `POST
//! /_sim/ufile/faults`: failed parts, answers lost after the work was done,
//! connections cut mid-body, a slow link, and parts stored corrupted. The
//! counts are used up one request at a time, so a test gets a fault exactly
//! where it wants one.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The fault settings; every field defaults to "no fault".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadFaults {
    /// Fraction of UploadPart requests answered 500 without storing the
    /// part (drawn from the simulator's seeded generator).
    pub part_error_rate: f64,
    /// The next N FinishMultipartUpload requests complete the object, then
    /// the connection is closed without an answer.
    pub lose_finish: u32,
    /// The next N UploadPart requests are cut off after half their body:
    /// the connection closes and nothing is stored.
    pub reset_part_mid_body: u32,
    /// A cap on the bytes per second received by all upload bodies
    /// together; 0 is no cap.
    pub bandwidth_bytes_per_sec: u64,
    /// The next N stored parts get one byte flipped on disk while the true
    /// ETag is answered: listing the parts later shows the stored bytes' ETag.
    pub corrupt_part: u32,
    /// The next N UploadPart requests store one byte flipped and answer the
    /// ETag of what they stored.
    pub corrupt_part_answer: u32,
}

impl UploadFaults {
    /// These settings with the fields of `patch` (a JSON object) replaced;
    /// an unknown field or a bad value is an error naming it.
    pub fn patched(&self, patch: &Value) -> Result<UploadFaults, String> {
        let Value::Object(fields) = patch else {
            return Err("expected a JSON object of fault settings".to_owned());
        };
        let mut merged = serde_json::to_value(self).map_err(|e| e.to_string())?;
        if let Value::Object(current) = &mut merged {
            current.extend(fields.clone());
        }
        let faults: UploadFaults = serde_json::from_value(merged).map_err(|e| e.to_string())?;
        if !(0.0..=1.0).contains(&faults.part_error_rate) {
            return Err("part_error_rate must be between 0.0 and 1.0".to_owned());
        }
        Ok(faults)
    }

    /// Takes one from `count` if any is left.
    pub fn take(count: &mut u32) -> bool {
        let left = *count > 0;
        if left {
            *count -= 1;
        }
        left
    }
}

/// The cap on received upload bytes: each piece of a body is given the next
/// free slot of the link, so concurrent uploads share the rate.
#[derive(Debug, Default)]
pub struct Link {
    free_at: Option<Instant>,
}

impl Link {
    /// When `bytes` received now may be taken in at `per_sec` bytes per
    /// second (`None`: at once).
    pub fn slot(&mut self, bytes: usize, per_sec: u64, now: Instant) -> Option<Instant> {
        if per_sec == 0 {
            self.free_at = None;
            return None;
        }
        let start = self.free_at.map_or(now, |t| t.max(now));
        let end = start + Duration::from_secs_f64(bytes as f64 / per_sec as f64);
        self.free_at = Some(end);
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_changes_only_the_fields_it_names() {
        let base = UploadFaults {
            bandwidth_bytes_per_sec: 1000,
            ..UploadFaults::default()
        };
        let patched = base.patched(&serde_json::json!({"lose_finish": 2})).unwrap();
        assert_eq!((patched.lose_finish, patched.bandwidth_bytes_per_sec), (2, 1000));
        assert!(base.patched(&serde_json::json!({"lose_finnish": 2})).is_err());
        assert!(base.patched(&serde_json::json!({"part_error_rate": 2.0})).is_err());
        assert!(base.patched(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn the_link_shares_its_rate_between_pieces() {
        let mut link = Link::default();
        let t0 = Instant::now();
        assert_eq!(link.slot(100, 1000, t0), Some(t0 + Duration::from_millis(100)));
        assert_eq!(link.slot(100, 1000, t0), Some(t0 + Duration::from_millis(200)));
        assert_eq!(link.slot(100, 0, t0), None);
    }
}
