//! The provider binary as Terraform sees it: launch contract, handshake line,
//! mutual TLS, side services, shutdown and signals, debug (reattach) mode, and
//! the real Terraform CLI reaching it through a dev override.
//!
//! The tests play Terraform's side of AutoMTLS with the P-521 client
//! certificates in `crates/test-support/fixtures/` (made by
//! `generate-client-certs.sh`, shaped like Terraform's own). rustls' ring provider cannot sign with P-521,
//! so the client key here signs with the `p521` crate.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use test_support::plugin_client::{COOKIE, ClientIdentity, channel, client_config, fixture_text, parse_handshake};
use test_support::sim::Sim;
use test_support::terraform::{PROVIDER_SOURCE, Terraform};
use test_support::ucloud::{self, ProviderSettings};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tpu::proto::plugin::Empty;
use tpu::proto::plugin::grpc_controller_client::GrpcControllerClient;

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");

/// Terraform waits this long for a provider to exit after `Shutdown`, then kills it.
const TERRAFORM_SHUTDOWN_WAIT: Duration = Duration::from_secs(2);
/// Guards against a hung provider; Terraform's own limit for the handshake line.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(60);

/// Which client identity to present.
#[derive(Debug, Clone, Copy)]
enum Identity {
    /// The certificate and key announced in PLUGIN_CLIENT_CERT.
    Terraform,
    /// Another valid P-521 certificate with its own key.
    Intruder,
    /// The announced certificate, but signed with another key (no proof of possession).
    StolenCert,
    /// No client certificate.
    None,
}

fn tls(server_cert: &[u8], identity: Identity, tls12_only: bool) -> ClientConfig {
    let client = match identity {
        Identity::Terraform => Some(ClientIdentity::terraform()),
        Identity::Intruder => Some(ClientIdentity::from_fixtures("intruder-p521.pem", "intruder-p521.key")),
        Identity::StolenCert => Some(ClientIdentity::from_fixtures("terraform-p521.pem", "intruder-p521.key")),
        Identity::None => None,
    };
    client_config(server_cert, client.as_ref(), tls12_only)
}

/// The provider binary with a clean environment (no inherited go-plugin or TF variables).
fn provider_command() -> Command {
    let mut command = Command::new(PROVIDER);
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("TF_") || name.starts_with("PLUGIN_") {
            command.env_remove(&key);
        }
    }
    command.stdin(Stdio::null());
    command
}

/// A provider process started the way Terraform starts it.
struct Launched {
    child: Child,
    socket: PathBuf,
    server_cert: Vec<u8>,
    stdout_rest: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Launched {
    /// Launches with the cookie, `PLUGIN_PROTOCOL_VERSIONS=5,6` and the fixture
    /// client certificate, and reads the handshake line.
    fn start(extra_env: &[(&str, &str)]) -> Self {
        let mut command = provider_command();
        command
            .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
            .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
            .env("PLUGIN_CLIENT_CERT", fixture_text("terraform-p521.pem"))
            .envs(extra_env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start the provider");
        let (line_tx, line_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = line_tx.send(line);
            // Anything more on stdout would be a protocol violation: keep it for `stdout_after_handshake`.
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            let _ = line_tx.send(rest);
        });
        let stderr = spawn_line_reader(child.stderr.take().expect("piped stderr"));
        let line = line_rx.recv_timeout(HANDSHAKE_WAIT).unwrap_or_default();
        let (socket, server_cert) = parse_handshake(&line);
        Self {
            child,
            socket,
            server_cert: server_cert.expect("AutoMTLS: the handshake line must carry the server certificate"),
            stdout_rest: line_rx,
            stderr,
        }
    }

    /// Stderr so far (for failure messages).
    fn stderr_text(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// All of stderr and what followed the handshake on stdout; call after the process exited.
    fn output_after_exit(&self) -> (String, String) {
        let stderr = self.stderr.iter().collect::<Vec<_>>().join("\n");
        let stdout = self.stdout_rest.recv().unwrap_or_default();
        (stdout, stderr)
    }

    /// Waits for the process to exit by itself within `limit`; kills it otherwise.
    async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_for_exit(&mut self.child, limit).await
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        reap(&mut self.child, &self.socket);
    }
}

/// Ends a provider the test is done with, pass or fail: kills it if still
/// running and removes what a killed provider cannot (its socket and the
/// private directory holding it).
fn reap(child: &mut Child, socket: &Path) {
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_file(socket);
    if let Some(dir) = socket.parent().filter(|d| {
        d.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tpu-plugin"))
    }) {
        let _ = std::fs::remove_dir(dir);
    }
}

/// A `--debug` provider, reaped when the test ends.
struct DebugProvider {
    child: Child,
    reattach: serde_json::Value,
    socket: PathBuf,
}

impl Drop for DebugProvider {
    fn drop(&mut self) {
        reap(&mut self.child, &self.socket);
    }
}

/// Waits for `child` to exit by itself within `limit`; kills it otherwise.
/// Polls asynchronously so this side's connections stay serviced meanwhile,
/// as Terraform's do (a blocked client would stall the provider's graceful stop).
async fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn spawn_line_reader(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The health of service `plugin`, or why it could not be had.
async fn plugin_health(socket: &Path, tls: Option<ClientConfig>) -> Result<ServingStatus, String> {
    let channel = channel(socket, tls).await.map_err(|e| format!("connect: {e:?}"))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "plugin".to_owned(),
        })
        .await
        .map_err(|e| format!("health check: {e}"))?;
    Ok(response.into_inner().status())
}

async fn shutdown(launched: &Launched) {
    let channel = channel(
        &launched.socket,
        Some(tls(&launched.server_cert, Identity::Terraform, false)),
    )
    .await
    .expect("connect for Shutdown");
    GrpcControllerClient::new(channel)
        .shutdown(Empty {})
        .await
        .expect("Shutdown answers");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

// ----- (a) launched by hand -----

#[test]
fn run_by_hand_it_explains_what_it_is_and_exits_1() {
    let out = provider_command().output().expect("run the provider");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Terraform provider plugin"), "{stderr}");
    assert!(stderr.contains("dev_overrides"), "{stderr}");
    assert!(stderr.contains("--debug"), "{stderr}");

    let out = provider_command()
        .env("TF_PLUGIN_MAGIC_COOKIE", "wrong")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TF_PLUGIN_MAGIC_COOKIE"));
}

#[test]
fn only_protocol_5_offered_names_the_terraform_version_needed() {
    let out = provider_command()
        .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5")
        .output()
        .expect("run the provider");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Terraform >= 1.0"), "{stderr}");
    assert!(stderr.contains("protocol 6"), "{stderr}");
}

#[test]
fn help_and_version_work_without_terraform() {
    let out = provider_command().arg("--version").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = provider_command().arg("--help").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--debug"));
    let out = provider_command().arg("--bogus").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
}

// ----- (b) launched as Terraform does, with AutoMTLS -----

#[tokio::test]
async fn terraform_client_cert_gets_in_and_shutdown_exits_promptly() {
    let mut launched = Launched::start(&[]);
    let socket = launched.socket.clone();
    let private_dir = socket.parent().expect("socket dir").to_path_buf();
    assert_eq!(mode(&socket) & 0o077, 0, "socket must be owner-only");
    assert_eq!(mode(&private_dir), 0o700, "socket directory must be private");

    let status = plugin_health(&socket, Some(tls(&launched.server_cert, Identity::Terraform, false))).await;
    assert_eq!(
        status,
        Ok(ServingStatus::Serving),
        "stderr:\n{}",
        launched.stderr_text()
    );
    // TLS 1.2 clients prove possession with a different signature path.
    let status = plugin_health(&socket, Some(tls(&launched.server_cert, Identity::Terraform, true))).await;
    assert_eq!(
        status,
        Ok(ServingStatus::Serving),
        "TLS 1.2; stderr:\n{}",
        launched.stderr_text()
    );

    shutdown(&launched).await;
    let status = launched.wait_exit(TERRAFORM_SHUTDOWN_WAIT).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "provider must exit cleanly before Terraform's {TERRAFORM_SHUTDOWN_WAIT:?} kill deadline: {status:?}\n{}",
        launched.stderr_text()
    );
    assert!(!socket.exists(), "socket {} left behind", socket.display());
    assert!(
        !private_dir.exists(),
        "socket directory {} left behind",
        private_dir.display()
    );
    let (stdout, _) = launched.output_after_exit();
    assert_eq!(stdout, "", "nothing but the handshake line on stdout");
}

#[tokio::test]
async fn anyone_but_terraform_is_refused() {
    let launched = Launched::start(&[]);
    let cert = &launched.server_cert;
    for identity in [Identity::Intruder, Identity::StolenCert, Identity::None] {
        for tls12 in [false, true] {
            let result = plugin_health(&launched.socket, Some(tls(cert, identity, tls12))).await;
            assert!(
                result.is_err(),
                "{identity:?} (TLS 1.2 only: {tls12}) must be refused, got {result:?}"
            );
        }
    }
    let plaintext = plugin_health(&launched.socket, None).await;
    assert!(
        plaintext.is_err(),
        "plaintext must be refused when AutoMTLS is on: {plaintext:?}"
    );
    // Refusals do not disturb the real client.
    let status = plugin_health(&launched.socket, Some(tls(cert, Identity::Terraform, false))).await;
    assert_eq!(status, Ok(ServingStatus::Serving));
}

#[tokio::test]
async fn every_launch_has_its_own_server_certificate() {
    let a = Launched::start(&[]);
    let b = Launched::start(&[]);
    assert_ne!(a.server_cert, b.server_cert);
    assert_ne!(a.socket, b.socket);
    // A client pinned to another launch's certificate does not get in.
    let crossed = plugin_health(&a.socket, Some(tls(&b.server_cert, Identity::Terraform, false))).await;
    assert!(crossed.is_err(), "{crossed:?}");
}

#[tokio::test]
async fn socket_goes_where_terraform_asks_and_is_removed_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut launched = Launched::start(&[("PLUGIN_UNIX_SOCKET_DIR", &dir.path().to_string_lossy())]);
    assert_eq!(launched.socket.parent(), Some(dir.path()));
    assert_eq!(mode(&launched.socket) & 0o077, 0, "socket must be owner-only");
    let client = tls(&launched.server_cert, Identity::Terraform, false);
    assert_eq!(
        plugin_health(&launched.socket, Some(client)).await,
        Ok(ServingStatus::Serving)
    );

    launched.signal("TERM");
    let status = launched.wait_exit(TERRAFORM_SHUTDOWN_WAIT).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM must stop it cleanly: {status:?}"
    );
    assert!(!launched.socket.exists(), "socket left behind");
    assert!(
        dir.path().exists(),
        "a directory chosen by Terraform is not ours to remove"
    );
}

#[tokio::test]
async fn ctrl_c_is_left_to_terraform() {
    let mut launched = Launched::start(&[]);
    launched.signal("INT");
    let client = tls(&launched.server_cert, Identity::Terraform, false);
    assert_eq!(
        plugin_health(&launched.socket, Some(client)).await,
        Ok(ServingStatus::Serving),
        "SIGINT must not stop a provider Terraform is driving"
    );
    shutdown(&launched).await;
    let status = launched.wait_exit(TERRAFORM_SHUTDOWN_WAIT).await;
    // Killed by SIGINT would show as a signal, not a clean exit.
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[tokio::test]
async fn provider_logs_reach_terraform_as_hclog_json() {
    let mut launched = Launched::start(&[("TF_LOG_PROVIDER", "DEBUG")]);
    shutdown(&launched).await;
    assert!(
        launched
            .wait_exit(TERRAFORM_SHUTDOWN_WAIT)
            .await
            .is_some_and(|s| s.success())
    );
    let (stdout, stderr) = launched.output_after_exit();
    assert_eq!(
        stdout, "",
        "logs must not go to stdout (Terraform reads the handshake there)"
    );
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}")))
        .collect();
    let serving = lines
        .iter()
        .find(|l| l["@message"] == "serving Terraform")
        .unwrap_or_else(|| panic!("no start-up line in {lines:?}"));
    assert_eq!(serving["@level"], "info");
    assert_eq!(serving["@module"], "provider.plugin");
    assert_eq!(serving["mtls"], true);
    assert!(serving["@timestamp"].is_string());
}

// ----- (c) debug mode -----

/// Runs `--debug` and checks what it prints.
fn start_debug() -> DebugProvider {
    let mut child = provider_command()
        .arg("--debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start --debug");
    let lines = spawn_line_reader(child.stdout.take().expect("stdout"));
    let deadline = Instant::now() + HANDSHAKE_WAIT;
    let mut seen = Vec::new();
    let json = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no TF_REATTACH_PROVIDERS line; stdout: {seen:?}"));
        if let Some(value) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            break value.trim_end_matches('\'').to_owned();
        }
        seen.push(line);
    };
    assert!(
        seen.iter().any(|l| l.contains("debug")),
        "instructions before the line: {seen:?}"
    );
    let reattach: serde_json::Value = serde_json::from_str(&json).expect("reattach JSON");
    let entry = &reattach[PROVIDER_SOURCE];
    assert_eq!(entry["Protocol"], "grpc");
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Pid"], child.id());
    assert_eq!(entry["Test"], true);
    assert_eq!(entry["Addr"]["Network"], "unix");
    let socket = PathBuf::from(entry["Addr"]["String"].as_str().expect("socket path"));
    DebugProvider {
        child,
        reattach,
        socket,
    }
}

fn config_hcl(sim_url: &str) -> String {
    ProviderSettings::with_sim_keys().blocks(sim_url)
        + r#"
resource "ucloud_custom_image" "x" {
  name      = "img"
  ufile_url = "https://bucket.cn-bj.ufileos.com/images/c7.qcow2"
  format    = "qcow2"
  os_type   = "CentOS"
  os_name   = "CentOS 7.6 64位"
}
"#
}

#[tokio::test]
async fn debug_mode_serves_plaintext_until_ctrl_c() {
    let mut debug = start_debug();
    let socket = debug.socket.clone();
    assert_eq!(plugin_health(&socket, None).await, Ok(ServingStatus::Serving));
    let status = Command::new("kill")
        .args(["-INT", &debug.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = wait_for_exit(&mut debug.child, TERRAFORM_SHUTDOWN_WAIT).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "Ctrl-C stops debug mode cleanly: {status:?}"
    );
    assert!(!socket.exists(), "socket left behind");
}

#[test]
fn terraform_plans_through_a_debug_mode_provider() {
    let sim = Sim::start(&[]);
    let mut debug = start_debug();
    let mut tf = Terraform::new(PROVIDER);
    ucloud::isolate(&mut tf, 50);
    // Reattach instead of launching: the dev override is not what answers here.
    tf.env("TF_REATTACH_PROVIDERS", &debug.reattach.to_string());
    tf.write("main.tf", &config_hcl(&sim.url));
    let out = tf.run(&["plan", "-detailed-exitcode"]);
    out.expect_code(2);
    assert!(out.stdout.contains("ucloud_custom_image.x will be created"), "{out}");
    // Terraform never stops a provider it reattached to (Test: true).
    assert!(
        debug.child.try_wait().expect("try_wait").is_none(),
        "debug provider must outlive terraform"
    );
}

// ----- (d) the real Terraform CLI, launching the provider through a dev override -----

#[test]
fn terraform_sees_the_provider_schema() {
    let tf = Terraform::new(PROVIDER);
    // `providers schema` configures no provider: the block talks to nothing.
    tf.write(
        "main.tf",
        &ProviderSettings::with_sim_keys().blocks(&ucloud::closed_endpoint()),
    );
    let schema = tf.providers_schema();
    let provider = &schema["provider_schemas"][PROVIDER_SOURCE];
    assert!(provider.is_object(), "provider missing from {schema}");
    let resource = &provider["resource_schemas"]["ucloud_custom_image"];
    let attributes = &resource["block"]["attributes"];
    for name in ["name", "ufile_url", "format", "os_type", "os_name"] {
        assert!(attributes[name].is_object(), "attribute {name} missing: {resource}");
    }
}

#[test]
fn terraform_validates_and_plans_a_custom_image() {
    let sim = Sim::start(&[]);
    let mut tf = Terraform::new(PROVIDER);
    ucloud::isolate(&mut tf, 50);
    tf.write("main.tf", &config_hcl(&sim.url));
    let log = tf.log_to_file("INFO");
    let out = tf.run(&["validate"]);
    out.expect_success();
    assert!(out.stdout.contains("The configuration is valid"), "{out}");
    let out = tf.run(&["plan", "-detailed-exitcode"]);
    out.expect_code(2);
    assert!(out.stdout.contains("ucloud_custom_image.x will be created"), "{out}");
    assert!(
        out.stdout.contains("Plan: 1 to add, 0 to change, 0 to destroy"),
        "{out}"
    );
    // The provider's JSON log lines arrive in Terraform's log with their level.
    let log = std::fs::read_to_string(&log).expect("terraform log");
    assert!(
        log.lines()
            .any(|l| l.contains("[INFO]") && l.contains("serving Terraform")),
        "provider log line not in Terraform's log"
    );
    assert!(
        !log.contains("plugin does not support stdio"),
        "GRPCStdio must be served"
    );
}
