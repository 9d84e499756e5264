//! A simulator bound to its address, and its serve loop: what the binary runs
//! under SIGTERM/SIGINT and what [`crate::Background`] runs on its own thread.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::Config;
use crate::conn::{Kill, KillableListener};
use crate::log::Log;
use crate::server::{self, Sim};
use crate::store::Store;
use crate::ufile::Objects;
use crate::ufile::http::Ufile;

/// How long in-flight requests may take to finish once shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Why the simulator could not start or stopped unexpectedly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--state-file` cannot be read, parsed or written.
    #[error("{0}")]
    StateFile(String),
    /// `--ufile-dir` is not a directory, or its upload spool cannot be made.
    #[error("{0}")]
    UfileDir(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("server stopped: {0}")]
    Stopped(String),
}

/// A simulator listening on its address, not yet answering.
pub struct Simulator {
    sim: Arc<Sim>,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    seed: u64,
}

impl Simulator {
    /// Opens the state file (if any) and binds `config.listen`; port 0 picks a free one.
    pub async fn bind(config: Config, log: Log) -> Result<Self, Error> {
        let store = Store::open(config.state_file.clone()).map_err(Error::StateFile)?;
        // Write once now so an unwritable --state-file fails at start, not silently later.
        if let Some(path) = &config.state_file {
            store
                .save()
                .map_err(|e| Error::StateFile(format!("cannot write the state file {}: {e}", path.display())))?;
        }
        let objects = config
            .ufile_dir
            .as_deref()
            .map(Objects::open)
            .transpose()
            .map_err(Error::UfileDir)?;
        let seed = config.seed.unwrap_or_else(|| fastrand::u64(..));
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
        if !config.quiet {
            log.line(format_args!(
                "ucloud-sim: seed {seed} (pass --seed {seed} to replay the same faults)"
            ));
        }
        let ufile = Ufile::new(
            config.keys.clone(),
            objects,
            crate::ufile::http::UploadLimits {
                blk_size: config.ufile_blk_size,
                put_limit: config.ufile_put_limit,
            },
            config.ufile_faults.clone(),
            seed,
            config.quiet,
            log.clone(),
        )
        .map_err(Error::UfileDir)?;
        let sim = Arc::new(Sim::new(&config, store, seed, log, ufile));
        Ok(Simulator {
            sim,
            listener,
            addr,
            seed,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The seed of the fault and id generators (given or drawn).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Answers requests until `shutdown` resolves, then gives in-flight
    /// requests a short grace and writes the state file a last time.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Simulator { sim, listener, .. } = self;
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
                    Ok(Err(e)) => Err(Error::Stopped(e.to_string())),
                    Err(e) => Err(Error::Stopped(e.to_string())),
                };
            }
            () = shutdown => {}
        }
        let _ = stop_tx.send(());
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await.is_err() {
            server.abort();
        }
        sim.save();
        Ok(())
    }
}
