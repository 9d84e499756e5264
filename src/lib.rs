//! terraform-provider-ucloud as a library: the provider binary (`main.rs`),
//! the integration tests and the benchmarks build on it. The simulator
//! (`crates/ucloud-sim`) deliberately does not.
//!
//! Layers, top to bottom (arrows point down only; `tests/architecture.rs`
//! checks it): [`plugin`] (go-plugin handshake, mTLS, serving),
//! [`framework`] (tfplugin6 RPCs to typed calls), [`provider`] (the provider
//! block and its lists), [`list_resources`] (`terraform query`, above both),
//! [`resources`] and [`data_sources`] (UCloud's Terraform surface) with
//! [`provider_data`] (what they receive), [`images`]
//! (what image resources share), [`ucloud`] (the API client).

#![forbid(unsafe_code)]

pub mod data_sources;
pub mod framework;
pub mod images;
pub mod list_resources;
pub mod logging;
pub mod plugin;
pub mod provider;
pub mod provider_data;
pub mod resources;
pub mod ucloud;

#[allow(clippy::all, missing_docs)]
pub mod proto {
    //! Code generated from `proto/` by `build.rs`.
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
}
