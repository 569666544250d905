//! The connection limits over real sockets on loopback.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::server::{ServeLimits, serve};

async fn start(limits: ServeLimits) -> (SocketAddr, StandIn) {
    let daemon = StandIn::start();
    let router = daemon.router();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        router,
        None,
        limits,
        std::future::pending(),
    ));
    (addr, daemon)
}

/// Everything the server sends until it closes.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got).await;
    String::from_utf8_lossy(&got).into_owned()
}

const GET: &[u8] = b"GET /app.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

#[tokio::test(start_paused = true)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let limits = ServeLimits {
        header_timeout: Duration::from_secs(10),
        ..ServeLimits::default()
    };
    let (addr, _daemon) = start(limits).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /app.css HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    // Without our deadline hyper would still cut it off, at its default of 30 s: the
    // upper bound tells ours from that.
    // Paused time moves on by itself while everything waits: to the header deadline.
    let got = read_to_close(&mut slow).await;
    assert!(!got.contains("200 OK"), "{got}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "{waited:?}"
    );
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_the_rest_are_served() {
    let limits = ServeLimits {
        max_connections: 1,
        ..ServeLimits::default()
    };
    let (addr, _daemon) = start(limits).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    // Let the server take the first connection before the second arrives.
    first.write_all(b"GET /app.css HTTP/1.1\r\n").await.unwrap();
    tokio::task::yield_now().await;
    let mut second = TcpStream::connect(addr).await.unwrap();
    let _ = second.write_all(GET).await;
    let refused = tokio::time::timeout(Duration::from_secs(5), read_to_close(&mut second))
        .await
        .expect("the second connection is closed at once");
    assert!(refused.is_empty(), "{refused}");
    first
        .write_all(b"Host: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let served = read_to_close(&mut first).await;
    assert!(served.starts_with("HTTP/1.1 200 OK"), "{served}");
    assert!(served.contains("x-frame-options: DENY"), "{served}");
}
