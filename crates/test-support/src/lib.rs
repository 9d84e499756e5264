//! Helpers shared by the integration tests and benchmarks of the workspace:
//! [`sim`] runs `ucloud-sim` inside the test process and talks to it,
//! [`images`] makes image files of any size in a known format,
//! [`terraform`] runs the real `terraform` in a temporary working directory
//! with a dev override for the provider binary it is given, [`ucloud`] wires
//! such a directory to a simulator, and [`plugin_client`] plays Terraform's
//! side of the go-plugin connection, [`protocol`] replays core's calls on it
//! (what Terraform >= 1.12 would send), and [`scripted`] is the one scripted
//! HTTP server of the client's tests (a broken UCloud, a UFile).
//!
//! `env!("CARGO_BIN_EXE_...")` exists only in the package owning a binary, so
//! the provider's tests pass `env!("CARGO_BIN_EXE_terraform-provider-ucloud")`
//! in; nothing here builds or finds a binary by itself.

pub mod images;
#[cfg(feature = "provider")]
pub mod plugin_client;
#[cfg(feature = "provider")]
pub mod protocol;
#[cfg(feature = "provider")]
pub mod scripted;
pub mod sim;
pub mod terraform;
#[cfg(feature = "provider")]
pub mod ucloud;
