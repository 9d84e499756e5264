//! Helpers shared by the integration tests. Each test file uses only some of
//! them, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod hostile;
pub mod plugin_client;
pub mod sim;
pub mod terraform;
pub mod ucloud;
