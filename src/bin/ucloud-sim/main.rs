//! `ucloud-sim`: a local stand-in for UCloud's image API, so the provider's
//! acceptance tests and the quick start run without an account or network.
//!
//! It answers ImportCustomImage, DescribeImage and TerminateCustomImage like
//! UCloud (signature check, RetCodes, asynchronous imports), can inject
//! faults and lost answers, records a journal of every request, and exposes
//! test hooks under `/_sim/`. An import whose UFileUrl path contains
//! `corrupt` ends `Unavailable`; every other import ends `Available`.
//! See `ucloud-sim --help`.

mod api;
mod cli;
mod conn;
mod faults;
mod params;
mod server;
mod sign;
mod store;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::Command;
use crate::conn::{Kill, KillableListener};
use crate::server::Sim;
use crate::store::Store;

/// How long in-flight requests may take to finish after SIGTERM/SIGINT.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let config = match cli::parse(std::env::args().skip(1), std::env::var(cli::KEYS_ENV).ok()) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{}", cli::HELP);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ucloud-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ucloud-sim: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ucloud-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: cli::Config) -> Result<(), String> {
    let store = Store::open(config.state_file.clone())?;
    // Write once now so an unwritable --state-file fails at start, not silently later.
    if let Some(path) = &config.state_file {
        store
            .save()
            .map_err(|e| format!("cannot write the state file {}: {e}", path.display()))?;
    }
    let seed = config.seed.unwrap_or_else(|| fastrand::u64(..));
    let sim = Arc::new(Sim::new(&config, store, seed));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;

    {
        // The one line on stdout: callers parse the URL from it.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ucloud-sim listening on http://{addr}");
        let _ = out.flush();
    }
    if !config.quiet {
        let _ = writeln!(
            std::io::stderr(),
            "ucloud-sim: seed {seed} (pass --seed {seed} to replay the same faults)"
        );
    }

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let app = server::router(sim.clone()).into_make_service_with_connect_info::<Kill>();
    let serve = axum::serve(KillableListener(listener), app).with_graceful_shutdown(async move {
        let _ = stop_rx.await;
    });
    let mut server = tokio::spawn(async move { serve.await });

    tokio::select! {
        result = &mut server => {
            sim.save();
            return match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("server stopped: {e}")),
                Err(e) => Err(format!("server stopped: {e}")),
            };
        }
        () = shutdown_signal() => {}
    }
    let _ = stop_tx.send(());
    if tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await.is_err() {
        server.abort();
    }
    sim.save();
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
