//! A simulator running inside the calling process, on its own thread with its
//! own tokio runtime, so tests and benchmarks need no separately built
//! binary and can start one simulator per test cheaply.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::cli::Config;
use crate::log::Log;
use crate::simulator::{Error, Simulator};

/// A simulator serving on a background thread. Dropping it stops it at once,
/// like killing the binary (no last save: every change is saved as it
/// happens); [`Background::shutdown`] stops it the way SIGTERM does.
pub struct Background {
    addr: SocketAddr,
    log: Log,
    graceful: Option<oneshot::Sender<()>>,
    abrupt: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl Background {
    /// Binds `config.listen` and starts answering; returns once the address
    /// is bound, or the reason it could not be. Lines are kept in memory
    /// (see [`Background::log`]).
    pub fn start(config: Config) -> Result<Self, Error> {
        let log = Log::memory();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<SocketAddr, Error>>();
        let (graceful, graceful_rx) = oneshot::channel::<()>();
        let (abrupt, abrupt_rx) = oneshot::channel::<()>();
        let thread_log = log.clone();
        let thread = std::thread::Builder::new()
            .name("ucloud-sim".to_string())
            .spawn(move || {
                // Two workers, as the binary has on this project's machines:
                // API answers take microseconds, but upload parts are hashed
                // and written as they arrive, and UFile takes parts in
                // parallel.
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(Error::Runtime);
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(());
                    }
                };
                runtime.block_on(async move {
                    let simulator = match Simulator::bind(config, thread_log).await {
                        Ok(simulator) => simulator,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let _ = ready_tx.send(Ok(simulator.local_addr()));
                    tokio::select! {
                        result = simulator.serve(async { let _ = graceful_rx.await; }) => result,
                        // Dropped mid-flight; the runtime's end closes every connection.
                        _ = abrupt_rx => Ok(()),
                    }
                })
            })
            .map_err(Error::Runtime)?;
        match ready_rx.recv() {
            Ok(Ok(addr)) => Ok(Background {
                addr,
                log,
                graceful: Some(graceful),
                abrupt: Some(abrupt),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                Err(Error::Stopped(thread.join().err().map_or_else(
                    || "the simulator thread ended".to_string(),
                    panic_message,
                )))
            }
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every line logged so far (one per API request unless `--quiet`).
    pub fn log(&self) -> String {
        self.log.contents()
    }

    /// Stops the way SIGTERM stops the binary: in-flight requests finish,
    /// the state file is written, then the thread ends.
    pub fn shutdown(mut self) -> Result<(), Error> {
        if let Some(graceful) = self.graceful.take() {
            let _ = graceful.send(());
        }
        self.join()
    }

    fn join(&mut self) -> Result<(), Error> {
        match self.thread.take() {
            None => Ok(()),
            Some(thread) => thread
                .join()
                .unwrap_or_else(|panic| Err(Error::Stopped(panic_message(panic)))),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(abrupt) = self.abrupt.take() {
            let _ = abrupt.send(());
        }
        let _ = self.join();
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string());
    format!("the simulator thread panicked: {text}")
}
