//! What every image resource and data source shares: where an image lives,
//! the UCloud image calls in one place ([`ImageApi`]), waiting for an image
//! to settle or to go ([`Waiter`], which polls every image in flight of a
//! location with one DescribeImage per tick), and creating an image exactly
//! once even when the answer to a non-idempotent call is lost
//! ([`create_once`]), even when Terraform is killed while it waits
//! ([`Pending`]), what a disk image file is from its ends
//! ([`format::detect`]), and image files staged in UFile shared by the
//! images of one run ([`Staging`]).
//!
//! Below the resources and above the client: it knows UCloud's image states
//! and nothing of Terraform (errors are plain messages the resources turn
//! into diagnostics).

mod api;
mod batch;
pub mod format;
mod pending;
mod reconcile;
mod staging;
mod wait;

pub use api::{ImageApi, Location, Pages};
pub use batch::DescribeIds;
pub use pending::Pending;
pub use reconcile::{CreateFailure, CreatesImage, create_once};
pub use staging::Staging;
pub use wait::{Halt, POLL_INTERVAL_ENV, PollSchedule, Settled, Waiter};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether `id` looks like a UCloud image id; an empty or malformed id in
/// a state or a configuration is refused before any API call.
pub fn is_image_id(id: &str) -> bool {
    id.strip_prefix("uimage-")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

/// A duration as a user reads it, to the second.
pub fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Now, in unix seconds (UCloud's CreateTime unit).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds as RFC 3339 (UTC); `None` for a missing (zero or negative) time.
pub fn rfc3339(unix: i64) -> Option<String> {
    let secs = u64::try_from(unix).ok().filter(|s| *s > 0)?;
    Some(humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string())
}
