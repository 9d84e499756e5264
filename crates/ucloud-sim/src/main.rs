//! The `ucloud-sim` binary: parses the command line, serves until SIGTERM or
//! SIGINT, and prints the one line callers read the URL from. Everything
//! else lives in the library (`ucloud_sim`).

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use ucloud_sim::cli::{self, Args};
use ucloud_sim::{Log, Simulator};

fn main() -> ExitCode {
    // `--help` prints and exits 0; a bad argument is explained and exits 2.
    let args = Args::parse();
    let config = match args.into_config(std::env::var(cli::KEYS_ENV).ok().as_deref()) {
        Ok(config) => config,
        Err(e) => Args::command().error(ErrorKind::ValueValidation, e).exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ucloud-sim: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let simulator = Simulator::bind(config, Log::stderr()).await?;
        {
            // The one line on stdout: callers parse the URL from it.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ucloud-sim listening on http://{}", simulator.local_addr());
            let _ = out.flush();
        }
        simulator.serve(shutdown_signal()).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ucloud-sim: {e}");
            ExitCode::FAILURE
        }
    }
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
