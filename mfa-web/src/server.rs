//! Accepting connections: a cap on how many are open, and on how many of them one client
//! holds, a deadline on the TLS handshake and on each request's headers (against clients
//! that open connections and send nothing, or a byte at a time), and a limit on a
//! connection's life.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
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

use crate::rate_limit::bucket_key;

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServeLimits {
    /// Connections open at once; more are closed at once.
    pub(crate) max_connections: usize,
    /// Connections one client (an IPv4 address, an IPv6 /64) holds at once; more from it
    /// are closed at once, so that one machine cannot take every place under
    /// `max_connections`. A browser opens about six.
    pub(crate) max_per_client: usize,
    /// Whether loopback peers are a reverse proxy on this host (`[web] forwarded_for`):
    /// they carry every client's connections, so the per-client cap leaves them alone.
    pub(crate) proxy_on_loopback: bool,
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
            max_per_client: 64,
            proxy_on_loopback: false,
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
    let clients = Arc::new(PerClient::default());
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
        let client = peer.ip().to_canonical();
        let slot = if limits.proxy_on_loopback && client.is_loopback() {
            None
        } else {
            let Some(slot) = PerClient::take(&clients, client, limits.max_per_client) else {
                tracing::debug!(
                    "{} connections open from {client}: closing one more",
                    limits.max_per_client
                );
                drop(stream);
                continue;
            };
            Some(slot)
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
            _slot: slot,
        };
        tokio::spawn(connection.run(stream, tls.clone()));
    }
}

/// How many connections each client has open.
#[derive(Debug, Default)]
struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerClient {
    /// A place for one more connection of `client`, unless it holds `max` already.
    fn take(this: &Arc<PerClient>, client: IpAddr, max: usize) -> Option<ClientSlot> {
        let key = bucket_key(client);
        let mut open = this.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: Arc::clone(this),
            key,
        })
    }
}

/// A client's place for one connection, given back when the connection ends.
#[derive(Debug)]
struct ClientSlot {
    clients: Arc<PerClient>,
    key: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            // The map holds only clients with connections open, so it stays within the cap.
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// One accepted connection, holding its places under the caps until it ends.
struct Connection {
    peer: SocketAddr,
    router: Router,
    limits: ServeLimits,
    _permit: OwnedSemaphorePermit,
    _slot: Option<ClientSlot>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_share_and_gets_it_back() {
        let clients = Arc::new(PerClient::default());
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let held: Vec<ClientSlot> = (0..3)
            .map(|_| PerClient::take(&clients, one, 3).unwrap())
            .collect();
        assert!(PerClient::take(&clients, one, 3).is_none());
        // Another client, and the same IPv6 /64 under other addresses, are counted apart.
        assert!(PerClient::take(&clients, "192.0.2.2".parse().unwrap(), 3).is_some());
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let _a = PerClient::take(&clients, v6("2001:db8::1"), 2).unwrap();
        let _b = PerClient::take(&clients, v6("2001:db8::2"), 2).unwrap();
        assert!(PerClient::take(&clients, v6("2001:db8::3"), 2).is_none());
        drop(held);
        assert!(PerClient::take(&clients, one, 3).is_some());
        // Only clients with connections open are remembered.
        assert_eq!(clients.open.lock().unwrap().len(), 1);
    }
}
