//! The UCloud API client: signed requests, retries that never create twice,
//! an adaptive request rate that follows UCloud's throttling, typed image
//! actions, the credential chain, and UFile reads. It knows nothing of
//! Terraform, so another program could use it: errors name UCloud's things
//! (the object URL, a [`Setting`] of the chain), and the provider and
//! resources word them with their attribute names (`tests/architecture.rs`
//! fails on an attribute name written here).

mod action;
mod client;
pub mod credentials;
mod envelope;
mod error;
pub mod image;
pub mod rate;
mod retry;
mod secret;
pub mod sign;
pub mod ufile;

pub use action::{Action, Answer, Params};
pub use client::{
    Client, ClientConfig, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_THROTTLE_PATIENCE, DEFAULT_TIMEOUT,
    MAX_ANSWER_BYTES, sends_in_clear,
};
pub use credentials::*;
pub use error::{Awaited, Error, RET_CODE_NOT_FOUND};
pub use image::*;
pub use rate::{RateLimit, log_reports as log_request_reports};
pub use retry::Backoff;
pub use secret::{Secret, redact_url, without_query};
