//! The provider binary: everything lives in the library (`tpu`).

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    tpu::plugin::main(|stopping| tpu::framework::server::routes(tpu::provider::UcloudProvider, stopping))
}
