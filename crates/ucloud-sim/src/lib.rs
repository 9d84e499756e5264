//! `ucloud-sim`: a local stand-in for UCloud's image API, so the provider's
//! acceptance tests and the quick start run without an account or network.
//!
//! It answers ImportCustomImage, CopyCustomImage, DescribeImage and
//! TerminateCustomImage like UCloud (signature check, RetCodes, asynchronous
//! imports and copies), can inject faults and lost answers, records a journal
//! of every request, and exposes test hooks under `/_sim/`. With
//! `--ufile-dir` it also plays UFile: the files there are private objects
//! served path-style at `/ufile/BUCKET/KEY` with UFile's signature check
//! ([`ufile`]), uploads to them follow UFile's documented API (PutFile,
//! multipart uploads spooled to disk, DeleteFile, the listings, ETags, with
//! faults and counters for tests: [`ufile::http`]), and an import of such an
//! object reads it through the URL it was given and ends `Available` or
//! `Unavailable` by its real bytes. Other
//! imports end `Unavailable` when the UFileUrl path contains `corrupt`,
//! `Available` otherwise. A copy is `Copying`, then `Available`, or
//! `Unavailable` when its source was imported from a path containing
//! `corrupt-copy`.
//! See `ucloud-sim --help`.
//!
//! The library is what the `ucloud-sim` binary runs ([`Simulator`]) and what
//! tests embed ([`Background`]: the same simulator on a thread of the test
//! process). It shares no code with the provider, so the provider is tested
//! against UCloud's rules, not against its own.

#![forbid(unsafe_code)]

mod api;
mod background;
pub mod cli;
mod conn;
mod faults;
mod image_file;
mod log;
mod params;
mod server;
pub mod sign;
mod simulator;
mod store;
mod throttle;
pub mod ufile;

pub use background::Background;
pub use faults::FaultKind;
pub use log::Log;
pub use simulator::{Error, Simulator};
