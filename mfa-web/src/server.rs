//! Accepting connections: a cap on how many are open, a deadline on the TLS handshake and on
//! each request's headers (against clients that open connections and send nothing, or a
//! byte at a time), and a limit on a connection's life.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServeLimits {
    /// Connections open at once; more are closed at once.
    pub(crate) max_connections: usize,
    /// Time for the TLS handshake.
    pub(crate) handshake_timeout: Duration,
    /// Time for a request's headers, from the connection or the last answer on it.
    pub(crate) header_timeout: Duration,
    /// Longest a connection stays open, however busy.
    pub(crate) max_connection_life: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: 256,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_connection_life: Duration::from_secs(120),
        }
    }
}

/// Largest request head (line and headers) read, in bytes; hyper's smallest buffer.
const MAX_HEAD: usize = 8 * 1024;

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown` completes.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, mostly: wait for some to close.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::debug!(
                "{} connections open: closing one from {peer}",
                limits.max_connections
            );
            drop(stream);
            continue;
        };
        let connection = Connection {
            peer,
            router: router.clone(),
            limits,
            _permit: permit,
        };
        tokio::spawn(connection.run(stream, tls.clone()));
    }
}

/// One accepted connection, holding its place under the cap until it ends.
struct Connection {
    peer: SocketAddr,
    router: Router,
    limits: ServeLimits,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let _ = stream.set_nodelay(true);
        let life = self.limits.max_connection_life;
        let served = tokio::time::timeout(life, async {
            match tls {
                None => self.http(stream).await,
                Some(acceptor) => {
                    let handshake = self.limits.handshake_timeout;
                    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => self.http(stream).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {}: {e}", self.peer),
                        Err(_) => tracing::debug!("TLS handshake with {} timed out", self.peer),
                    }
                }
            }
        });
        let _ = served.await;
    }

    async fn http<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(&self, stream: S) {
        let peer = self.peer;
        let router = self.router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let served = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .max_buf_size(MAX_HEAD)
            .serve_connection(TokioIo::new(stream), service)
            .await;
        if let Err(e) = served {
            tracing::debug!("connection from {peer}: {e}");
        }
    }
}
