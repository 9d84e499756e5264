//! What every image resource declares alike: the computed [`Core`](super::Core)
//! attributes, worded for each resource (`pub size: Maybe<i64> =
//! lifecycle::declare::size(WORDS)`), and the `timeouts` block with its defaults.

use std::time::Duration;

use super::Words;
use crate::framework::timeouts::{Op, Timeouts};
use crate::framework::{Attribute, attr};

/// How long making an image (an import, or a copy across regions of a large
/// system disk) may take by default; UCloud's Packer plugin waits an hour too.
pub const DEFAULT_CREATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How long a read (refresh, import) of an image may take by default,
/// retries included: UCloud answers in well under a second, so this only
/// ends a read against an endpoint that accepts and never answers.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long deleting an image may take by default.
pub const DEFAULT_DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The `timeouts` block of every image resource: its operations and
/// defaults, in one place.
pub const TIMEOUTS: Timeouts = Timeouts::new(&[
    (Op::Create, DEFAULT_CREATE_TIMEOUT),
    (Op::Read, DEFAULT_READ_TIMEOUT),
    (Op::Delete, DEFAULT_DELETE_TIMEOUT),
]);

pub fn status(w: Words) -> Attribute {
    attr::computed(format!(
        "The state of the {}: `Available` once made (`{}` until then).",
        w.object, w.in_progress
    ))
    .use_state_for_unknown()
}

pub fn size(_: Words) -> Attribute {
    attr::computed("The image size in GB.").use_state_for_unknown()
}

pub fn create_time(w: Words) -> Attribute {
    attr::computed(format!("When the {} was created, RFC 3339 (UTC).", w.object)).use_state_for_unknown()
}

pub fn features(w: Words) -> Attribute {
    attr::computed(format!(
        "Features UCloud reports for the {}, e.g. `CloudInit`, `HotPlug`, `IPv6`.",
        w.object
    ))
    .use_state_for_unknown()
}
