//! Compiles the project's own `.proto` files with `protox` (pure Rust), so a
//! fresh clone builds without a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTOS: &[&str] = &["proto/tfplugin6.proto", "proto/plugin.proto"];
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Clients are built on whatever channel the caller brings (tests connect over
        // unix sockets with their own TLS), so no `connect()` helper tied to tonic's transport.
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
