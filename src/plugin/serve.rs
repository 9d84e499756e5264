//! The serving side of the plugin: a private unix socket, TLS handshakes off
//! the accept path, go-plugin's side services, and a prompt, graceful exit.

use std::convert::Infallible;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;
use tonic::transport::server::{Connected, UdsConnectInfo};
use tonic::{Request, Response, Status};

use crate::proto::plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use crate::proto::plugin::grpc_stdio_server::{GrpcStdio, GrpcStdioServer};
use crate::proto::plugin::{Empty, StdioData};

/// Largest gRPC message accepted or sent, as Go providers allow.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;
/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight calls may run on after a shutdown request. They
/// were told to stop at that moment (the service's `stopping` token), so a
/// wait answers at once; the grace is for a call already sent to UCloud,
/// whose answer carries the id of an image Terraform must learn about.
/// With nothing in flight the server stops at once: after its own
/// `Shutdown`, Terraform kills the process 2 s later anyway.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The socket could not be created.
    #[error(
        "could not listen on a unix socket in {dir}: {source} (set PLUGIN_UNIX_SOCKET_DIR or TMPDIR to a short, writable directory)"
    )]
    Listen {
        /// The directory tried.
        dir: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The gRPC server stopped with an error.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A listening unix socket; the file (and the private directory holding it,
/// if we made one) is removed on drop.
#[derive(Debug)]
pub struct SocketListener {
    listener: Option<UnixListener>,
    path: PathBuf,
    _private_dir: Option<tempfile::TempDir>,
}

impl SocketListener {
    /// Listens in `dir` when given (Terraform's `PLUGIN_UNIX_SOCKET_DIR`),
    /// else in a fresh temporary directory only this user can enter. The
    /// socket itself is made owner-only either way. Needs a tokio runtime.
    pub fn bind(dir: Option<&Path>) -> Result<Self, ServeError> {
        let (private_dir, path) = match dir {
            Some(dir) => (None, dir.join(format!("plugin{:016x}.sock", fastrand::u64(..)))),
            None => {
                let tmp = tempfile::Builder::new()
                    .prefix("tpu-plugin")
                    .tempdir()
                    .map_err(|source| ServeError::Listen {
                        dir: std::env::temp_dir(),
                        source,
                    })?;
                let private = tmp.path().to_path_buf();
                std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))
                    .map_err(|source| ServeError::Listen { dir: private, source })?;
                let path = tmp.path().join("plugin.sock");
                (Some(tmp), path)
            }
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let listen_error = |source| ServeError::Listen {
            dir: dir.clone(),
            source,
        };
        let listener = UnixListener::bind(&path).map_err(listen_error)?;
        let this = Self {
            listener: Some(listener),
            path,
            _private_dir: private_dir,
        };
        std::fs::set_permissions(&this.path, std::fs::Permissions::from_mode(0o600)).map_err(listen_error)?;
        Ok(this)
    }

    /// The socket's path, as announced in the handshake line.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketListener {
    fn drop(&mut self) {
        drop(self.listener.take());
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One accepted client connection, plain (debug mode, no AutoMTLS) or TLS.
#[derive(Debug)]
pub enum Connection {
    /// No TLS.
    Plain(UnixStream),
    /// After a completed mutual TLS handshake.
    Tls(Box<TlsStream<UnixStream>>),
}

impl Connected for Connection {
    type ConnectInfo = UdsConnectInfo;

    fn connect_info(&self) -> UdsConnectInfo {
        match self {
            Self::Plain(stream) => stream.connect_info(),
            Self::Tls(stream) => stream.get_ref().0.connect_info(),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Accepts connections until `stop`, handing ready ones to the returned
/// stream. TLS handshakes run in their own tasks, so a slow or hostile client
/// never holds up the next one.
fn accept_connections(
    listener: UnixListener,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
) -> ReceiverStream<io::Result<Connection>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Typically EMFILE: back off instead of spinning.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Some(acceptor) = tls.clone() else {
                if tx.send(Ok(Connection::Plain(stream))).await.is_err() {
                    return;
                }
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        tracing::trace!("TLS client authenticated");
                        let _ = tx.send(Ok(Connection::Tls(Box::new(tls)))).await;
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "TLS handshake refused (only the Terraform process that launched the provider may connect)")
                    }
                    Err(_) => tracing::warn!("TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// go-plugin's controller: `Shutdown` answers, then the process exits.
#[derive(Debug)]
struct Controller {
    shutdown: CancellationToken,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::debug!("shutdown requested by Terraform");
        // Graceful: the server stops accepting, still sends this response, then drains.
        self.shutdown.cancel();
        Ok(Response::new(Empty {}))
    }
}

/// go-plugin's stdio mirror. This provider never writes to stdout after the
/// handshake and logs to stderr (which Terraform reads directly), so the
/// stream carries nothing; it exists so Terraform does not log a warning,
/// and it ends on shutdown so it never holds up a graceful stop.
#[derive(Debug)]
struct Stdio {
    shutdown: CancellationToken,
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = ReceiverStream<Result<StdioData, Status>>;

    async fn stream_stdio(&self, _request: Request<()>) -> Result<Response<Self::StreamStdioStream>, Status> {
        let (tx, rx) = mpsc::channel(1);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            drop(tx);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A gRPC service as tonic generates it: named, cheap to clone, always ready.
pub trait GrpcService:
    Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future = BoxFuture<http::Response<Body>, Infallible>,
    > + NamedService
    + Clone
    + Send
    + 'static
{
}

impl<T> GrpcService for T where
    T: Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future = BoxFuture<http::Response<Body>, Infallible>,
        > + NamedService
        + Clone
        + Send
        + 'static
{
}

/// Serves `provider` (the tfplugin6 service) plus gRPC health (`plugin` =
/// SERVING), the controller and stdio services on `listener` until
/// `shutdown` is cancelled (by the controller or a signal), then drains for
/// at most [`DRAIN_GRACE`].
pub async fn serve<P: GrpcService>(
    listener: &mut SocketListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    provider: P,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let Some(unix) = listener.listener.take() else {
        return Ok(());
    };
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let services = Services {
        provider,
        health: health
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE),
        controller: GrpcControllerServer::new(Controller {
            shutdown: shutdown.clone(),
        })
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE),
        stdio: GrpcStdioServer::new(Stdio {
            shutdown: shutdown.clone(),
        })
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE),
    };
    let stop_accepting = shutdown.child_token();
    let incoming = accept_connections(unix, tls.map(TlsAcceptor::from), stop_accepting.clone());
    let server = tonic::transport::Server::builder().serve_with_incoming_shutdown(
        services,
        incoming,
        shutdown.clone().cancelled_owned(),
    );
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(DRAIN_GRACE).await;
    };
    let result = tokio::select! {
        result = server => result.map_err(ServeError::from),
        () = deadline => {
            tracing::debug!("calls still running after the drain grace period; exiting anyway");
            Ok(())
        }
    };
    stop_accepting.cancel();
    result
}

/// Every service the plugin serves, routed by the service name in the path
/// (`/<package.Service>/<Method>`); an unknown service is UNIMPLEMENTED, as
/// gRPC servers answer it. Four fixed services need no general router.
#[derive(Clone)]
struct Services<P, H> {
    provider: P,
    health: H,
    controller: GrpcControllerServer<Controller>,
    stdio: GrpcStdioServer<Stdio>,
}

impl<P: GrpcService, H: GrpcService> Service<http::Request<Body>> for Services<P, H> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<http::Response<Body>, Infallible>;

    /// Generated services are always ready, so this router is too.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let name = request
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|path| path.split_once('/'))
            .map_or("", |(service, _method)| service);
        if name == P::NAME {
            self.provider.call(request)
        } else if name == H::NAME {
            self.health.call(request)
        } else if name == <GrpcControllerServer<Controller> as NamedService>::NAME {
            self.controller.call(request)
        } else if name == <GrpcStdioServer<Stdio> as NamedService>::NAME {
            self.stdio.call(request)
        } else {
            Box::pin(async { Ok(Status::unimplemented("").into_http()) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The services with `controller` stopping `stopped`; the go-plugin stdio
    /// service stands in for tfplugin6 (any generated service will do).
    fn services(stopped: &CancellationToken) -> Services<impl GrpcService, impl GrpcService> {
        let (_reporter, health) = tonic_health::server::health_reporter();
        let unrelated = CancellationToken::new();
        Services {
            provider: GrpcStdioServer::new(Stdio {
                shutdown: unrelated.clone(),
            }),
            health,
            controller: GrpcControllerServer::new(Controller {
                shutdown: stopped.clone(),
            }),
            stdio: GrpcStdioServer::new(Stdio { shutdown: unrelated }),
        }
    }

    /// Calls `path` with one empty message; the `grpc-status` header, if any
    /// (a successful unary answer carries its status in the trailers instead).
    async fn call(services: &mut Services<impl GrpcService, impl GrpcService>, path: &str) -> Option<String> {
        let request = http::Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            // One gRPC frame: uncompressed, zero-length message.
            .body(Body::new(String::from("\0\0\0\0\0")))
            .expect("a valid request");
        let response = services.call(request).await.expect("infallible");
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    #[tokio::test]
    async fn unknown_services_and_malformed_paths_are_unimplemented() {
        let stopped = CancellationToken::new();
        let mut services = services(&stopped);
        for path in [
            "/tfplugin5.Provider/GetSchema",
            "/plugin.GRPCBroker/StartStream",
            "/",
            "/nothing",
        ] {
            assert_eq!(call(&mut services, path).await.as_deref(), Some("12"), "{path}");
        }
        assert!(!stopped.is_cancelled());
    }

    #[tokio::test]
    async fn calls_reach_the_service_their_path_names() {
        let stopped = CancellationToken::new();
        let mut services = services(&stopped);
        assert_eq!(call(&mut services, "/grpc.health.v1.Health/Check").await, None);
        assert!(!stopped.is_cancelled());
        assert_eq!(call(&mut services, "/plugin.GRPCController/Shutdown").await, None);
        assert!(stopped.is_cancelled(), "Shutdown reached the controller");
    }
}
