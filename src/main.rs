//! The provider binary: everything lives in the library (`tpu`).

fn main() -> std::process::ExitCode {
    tpu::plugin::main(|| tpu::framework::server::routes(tpu::provider::UcloudProvider))
}
