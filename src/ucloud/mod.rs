//! The UCloud API client: signed requests, retries that never create twice,
//! a client-side rate limit, typed image actions, the credential chain, and
//! UFile reads. It knows nothing of Terraform, so another program could use
//! it: errors name UCloud's things (the object URL, a [`Setting`] of the
//! chain), and the provider and resources word them with their attribute
//! names (`tests/architecture.rs` fails on an attribute name written here).

mod action;
mod client;
pub mod credentials;
mod error;
pub mod image;
mod rate;
mod retry;
mod secret;
pub mod sign;
pub mod ufile;

pub use action::{Action, Answer, Params};
pub use client::{
    Client, ClientConfig, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, MAX_ANSWER_BYTES, sends_in_clear,
};
pub use credentials::*;
pub use error::{Awaited, Error, RET_CODE_NOT_FOUND};
pub use image::*;
pub use rate::{DEFAULT_MAX_REQUESTS_PER_SECOND, RateLimit};
pub use retry::Backoff;
pub use secret::{Secret, redact_url};
