//! The provider binary: everything lives in the library (`tpu`).

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    let code = tpu::plugin::main(|stopping| tpu::framework::server::routes(tpu::provider::UcloudProvider, stopping));
    // What the run's UCloud calls met, unless an idle spell reported it already.
    tpu::ucloud::log_request_reports();
    code
}
