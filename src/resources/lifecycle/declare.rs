//! The declarations of the computed [`Core`](super::Core) attributes, worded for each
//! resource: `pub size: Maybe<i64> = lifecycle::declare::size(WORDS)`.

use super::Words;
use crate::framework::{Attribute, attr};

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
