//! Start-up benchmark: `cargo bench --bench startup` (release build).
//!
//! Terraform launches a provider several times per command, so the figures a
//! user feels are: process start to handshake line, the first RPC over the
//! mutually authenticated connection, the memory held while serving, and the
//! whole `terraform providers schema -json`. Launches are made the way
//! Terraform makes them (cookie, `PLUGIN_PROTOCOL_VERSIONS=5,6`, a P-521
//! client certificate in `PLUGIN_CLIENT_CERT`).
//!
//! Options (after `--`): `--launches N` (default 50), `--terraform-runs N`
//! (default 10, 0 to skip the Terraform CLI measurement).

#[path = "common/machine.rs"]
mod machine;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::plugin_client::{COOKIE, ClientIdentity, channel, client_config, fixture_text, parse_handshake};
use test_support::terraform;
use tpu::proto::plugin::Empty;
use tpu::proto::plugin::grpc_controller_client::GrpcControllerClient;
use tpu::proto::tfplugin6::get_provider_schema;
use tpu::proto::tfplugin6::provider_client::ProviderClient;

/// The provider binary Cargo built for this bench (release profile).
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");

fn main() {
    let mut launches = 50usize;
    let mut terraform_runs = 10usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--launches" => launches = args.next().and_then(|v| v.parse().ok()).unwrap_or(launches),
            "--terraform-runs" => terraform_runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(terraform_runs),
            _ => {} // cargo passes `--bench`
        }
    }

    let provider = PathBuf::from(PROVIDER);
    println!("provider: {}", provider.display());
    println!("machine:  {}", machine::describe());

    // Warm the page cache and the dynamic loader so the first sample is not an outlier.
    launch(&provider).stop();

    let mut handshake = Vec::with_capacity(launches);
    for _ in 0..launches {
        let launched = launch(&provider);
        handshake.push(launched.handshake);
        launched.stop();
    }
    handshake.sort();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let serving = runtime.block_on(first_rpc(&provider));

    let mut rows = vec![
        (
            "start -> handshake line, median".to_owned(),
            ms(percentile(&handshake, 50)),
        ),
        (
            "start -> handshake line, p90".to_owned(),
            ms(percentile(&handshake, 90)),
        ),
        ("start -> handshake line, min".to_owned(), ms(handshake[0])),
        (
            "connect + mTLS + GetProviderSchema (first call)".to_owned(),
            ms(serving.first_call),
        ),
        ("GetProviderSchema (warm)".to_owned(), ms(serving.warm_call)),
        (
            "peak RSS while serving (VmHWM)".to_owned(),
            format!("{:.1} MB", serving.peak_rss_kb as f64 / 1024.0),
        ),
        ("Shutdown -> process exit".to_owned(), ms(serving.exit)),
    ];
    if terraform_runs > 0 {
        let mut cli = terraform_schema_runs(terraform_runs);
        cli.sort();
        rows.push((
            format!("terraform providers schema -json, median of {terraform_runs}"),
            ms(percentile(&cli, 50)),
        ));
    }

    println!("\n| measure ({launches} launches) | value |\n|---|---|");
    for (name, value) in rows {
        println!("| {name} | {value} |");
    }
}

/// A provider started as Terraform starts it, once its handshake line is read.
struct Launched {
    child: Child,
    handshake: Duration,
    socket: PathBuf,
    server_cert: Vec<u8>,
}

fn launch(provider: &std::path::Path) -> Launched {
    let cert = fixture_text("terraform-p521.pem");
    let mut command = Command::new(provider);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TF_") || key.to_string_lossy().starts_with("PLUGIN_") {
            command.env_remove(&key);
        }
    }
    command
        .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_CLIENT_CERT", cert)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let start = Instant::now();
    let mut child = command.spawn().expect("start the provider");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    stdout.read_line(&mut line).expect("read the handshake line");
    let handshake = start.elapsed();
    let (socket, server_cert) = parse_handshake(&line);
    Launched {
        child,
        handshake,
        socket,
        server_cert: server_cert.expect("AutoMTLS handshake carries the server certificate"),
    }
}

impl Launched {
    /// SIGTERM (a graceful stop that removes the socket), then reap.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

struct Serving {
    first_call: Duration,
    warm_call: Duration,
    peak_rss_kb: u64,
    exit: Duration,
}

/// One launch driven like Terraform: connect with mTLS, fetch the schema,
/// read peak memory, then `Shutdown` and time the exit.
async fn first_rpc(provider: &std::path::Path) -> Serving {
    let mut launched = launch(provider);
    let tls = client_config(&launched.server_cert, Some(&ClientIdentity::terraform()), false);
    let start = Instant::now();
    let channel = channel(&launched.socket, Some(tls)).await.expect("connect with mTLS");
    let mut client = ProviderClient::new(channel.clone())
        .max_decoding_message_size(256 * 1024 * 1024)
        .max_encoding_message_size(256 * 1024 * 1024);
    let response = client
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .expect("GetProviderSchema");
    let first_call = start.elapsed();
    assert!(
        response.get_ref().resource_schemas.contains_key("ucloud_custom_image"),
        "schema without ucloud_custom_image"
    );
    let start = Instant::now();
    client
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .expect("GetProviderSchema");
    let warm_call = start.elapsed();
    let peak_rss_kb = vm_hwm_kb(launched.child.id());

    // As go-plugin does: Shutdown, then close the connection while the process exits.
    drop(client);
    let start = Instant::now();
    GrpcControllerClient::new(channel)
        .shutdown(Empty {})
        .await
        .expect("Shutdown");
    while launched.child.try_wait().ok().flatten().is_none() {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let exit = start.elapsed();
    Serving {
        first_call,
        warm_call,
        peak_rss_kb,
        exit,
    }
}

/// Wall time of `terraform providers schema -json` through a dev override of this build.
fn terraform_schema_runs(runs: usize) -> Vec<Duration> {
    let tf = terraform::Terraform::new(PROVIDER);
    tf.write(
        "main.tf",
        "terraform {\n  required_providers {\n    ucloud = { source = \"ucloud-rs/ucloud\" }\n  }\n}\n",
    );
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            tf.run(&["providers", "schema", "-json"]).expect_success();
            start.elapsed()
        })
        .collect()
}

fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let index = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
