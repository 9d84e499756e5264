//! The plugin layer: how Terraform starts, reaches and stops the provider
//! (go-plugin's handshake, AutoMTLS, side services). It knows nothing of
//! what is served: the caller hands it the tfplugin6 service.
//!
//! Start-up cost is the figure users feel (Terraform launches a provider
//! several times per plan), so nothing expensive happens before the
//! handshake line: the service is built after it is printed.

pub mod handshake;
pub mod serve;
pub mod tls;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use handshake::Launch;
use serve::{GrpcService, SocketListener};

/// What the command line asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Serve Terraform that launched us (the normal case, no arguments).
    Serve,
    /// Serve without TLS and print `TF_REATTACH_PROVIDERS` for a debugger session.
    Debug,
    /// Print usage.
    Help,
    /// Print the version.
    Version,
}

/// Parses the arguments (without the program name). Go-style single-dash
/// spellings are accepted too, as users of Go providers type them.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut command = Command::Serve;
    for arg in args {
        command = match arg.to_str() {
            Some("--debug" | "-debug") => Command::Debug,
            Some("--help" | "-help" | "-h") => return Ok(Command::Help),
            Some("--version" | "-version" | "-v") => return Ok(Command::Version),
            _ => return Err(format!("unknown argument {:?}", arg.to_string_lossy())),
        };
    }
    Ok(command)
}

fn usage() -> String {
    format!(
        "{name} {version}: Terraform provider for UCloud custom images.\n\n\
         Usage: {name} [--debug | --help | --version]\n\n  \
         --debug    serve without Terraform starting the provider, for a debugger; prints a\n             \
         TF_REATTACH_PROVIDERS value to export where you run terraform\n  \
         --help     this text\n  \
         --version  print the version\n\n\
         Logging: TF_LOG_PROVIDER (or TF_LOG) = TRACE|DEBUG|INFO|WARN|ERROR writes JSON lines to stderr.\n\n{hint}\n",
        name = env!("CARGO_PKG_NAME"),
        version = env!("CARGO_PKG_VERSION"),
        hint = handshake::USAGE_HINT,
    )
}

/// The provider binary's `main`: parses the arguments, checks that Terraform
/// launched us, listens, prints the handshake line and serves `make_service()`
/// (plus go-plugin's side services) until Terraform's `Shutdown` or SIGTERM.
pub fn main<F, P>(make_service: F) -> ExitCode
where
    F: FnOnce() -> P,
    P: GrpcService,
{
    let command = match parse_args(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("{message}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let mode = match command {
        Command::Help => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Debug => Mode::Debug,
        Command::Serve => match Launch::from_env(|key| std::env::var(key).ok()) {
            Ok(launch) => Mode::Plugin(launch),
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        },
    };
    crate::logging::init_from_env();

    // Two workers: enough for a provider's mostly-waiting calls, cheap to start.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(mode, make_service));
    // Calls abandoned after the drain grace period must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "provider stopped");
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// How the process was started.
#[derive(Debug)]
enum Mode {
    /// By Terraform, per the go-plugin contract.
    Plugin(Launch),
    /// By hand with `--debug`.
    Debug,
}

/// Fatal start-up or serving errors, shown on stderr.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
    #[error("could not write the handshake to stdout: {0}")]
    Stdout(#[from] std::io::Error),
}

async fn run<F, P>(mode: Mode, make_service: F) -> Result<(), RunError>
where
    F: FnOnce() -> P,
    P: GrpcService,
{
    let shutdown = CancellationToken::new();
    let (socket_dir, client_cert, protocol) = match &mode {
        Mode::Plugin(launch) => (
            launch.socket_dir.as_deref(),
            launch.client_cert_pem.as_deref(),
            launch.protocol,
        ),
        Mode::Debug => (None, None, handshake::PROTOCOL_VERSION),
    };
    let tls = match client_cert {
        Some(pem) => {
            let client_cert = tls::parse_client_cert(pem)?;
            let identity = tls::ServerIdentity::generate()?;
            let cert_der = identity.cert_der().to_vec();
            Some((Arc::new(tls::server_config(identity, client_cert)?), cert_der))
        }
        None => None,
    };
    let mut listener = SocketListener::bind(socket_dir)?;
    watch_signals(matches!(mode, Mode::Debug), shutdown.clone());

    let mut stdout = std::io::stdout().lock();
    match mode {
        Mode::Plugin(_) => {
            let cert = tls.as_ref().map(|(_, der)| der.as_slice());
            writeln!(stdout, "{}", handshake::handshake_line(protocol, listener.path(), cert))?;
        }
        Mode::Debug => write!(
            stdout,
            "{}",
            handshake::debug_instructions(std::process::id(), listener.path())
        )?,
    }
    stdout.flush()?;
    drop(stdout);
    tracing::info!(
        socket = %listener.path().display(),
        protocol,
        mtls = tls.is_some(),
        "serving Terraform"
    );

    let service = make_service();
    serve::serve(&mut listener, tls.map(|(config, _)| config), service, shutdown).await?;
    // What the run's UCloud calls met, unless an idle spell reported it already.
    crate::ucloud::log_request_reports();
    tracing::debug!("stopped");
    Ok(())
}

/// SIGTERM always stops the provider. SIGINT stops it only in debug mode:
/// under Terraform, Ctrl-C reaches the whole process group and Terraform
/// handles it by calling `StopProvider`, so the provider must outlive it.
fn watch_signals(debug: bool, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (terminate, interrupt) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, "could not install signal handlers");
            return;
        }
    };
    let (mut terminate, mut interrupt) = (terminate, interrupt);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = terminate.recv() => {
                    tracing::debug!("SIGTERM: stopping");
                    shutdown.cancel();
                    return;
                }
                _ = interrupt.recv() => {
                    if debug {
                        tracing::debug!("SIGINT: stopping");
                        shutdown.cancel();
                        return;
                    }
                    tracing::debug!("SIGINT ignored: Terraform stops operations through StopProvider");
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_args(args(&[])), Ok(Command::Serve));
        assert_eq!(parse_args(args(&["--debug"])), Ok(Command::Debug));
        assert_eq!(parse_args(args(&["-debug"])), Ok(Command::Debug));
        assert_eq!(parse_args(args(&["--debug", "--help"])), Ok(Command::Help));
        assert_eq!(parse_args(args(&["--version"])), Ok(Command::Version));
        assert!(parse_args(args(&["serve"])).unwrap_err().contains("serve"));
    }

    #[test]
    fn usage_says_how_to_debug_and_log() {
        let text = usage();
        assert!(
            text.contains("--debug") && text.contains("TF_REATTACH_PROVIDERS"),
            "{text}"
        );
        assert!(text.contains("TF_LOG_PROVIDER"), "{text}");
    }
}
