//! TLS: the server answers over rustls with HSTS, and bad certificate files are named.
//! `tls/localhost.{crt,key}` is a self-signed P-256 pair for `localhost`, made for these
//! tests only (valid until 2126); `tls/other.key` belongs to no certificate here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

use super::*;
use crate::server::{ServeLimits, serve};
use crate::tls::{TlsError, acceptor};

fn file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/tests/tls")
        .join(name)
}

#[tokio::test]
async fn pages_are_served_over_tls_with_hsts() {
    let acceptor = acceptor(&file("localhost.crt"), &file("localhost.key")).unwrap();
    let daemon = StandIn::start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ServeLimits::default();
    tokio::spawn(serve(
        listener,
        daemon.router(),
        Some(acceptor),
        limits,
        std::future::pending(),
    ));

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(file("localhost.crt")).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /app.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tls.read_to_end(&mut got).await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    assert!(
        got.contains("strict-transport-security: max-age=31536000"),
        "{got}"
    );
}

/// The refusal of `cert` with `key`.
fn refused(cert: &str, key: &str) -> TlsError {
    match acceptor(&file(cert), &file(key)) {
        Ok(_) => panic!("{cert} with {key} must be refused"),
        Err(e) => e,
    }
}

#[test]
fn bad_tls_files_are_named_with_their_key() {
    let missing = refused("missing.crt", "localhost.key");
    assert!(matches!(missing, TlsError::Certificate { .. }), "{missing}");
    assert!(
        missing.to_string().starts_with("web.tls_cert_file "),
        "{missing}"
    );
    let no_key = refused("localhost.crt", "localhost.crt");
    assert!(
        no_key.to_string().starts_with("web.tls_key_file "),
        "{no_key}"
    );
    let no_cert = refused("localhost.key", "localhost.key");
    assert!(
        matches!(no_cert, TlsError::NoCertificate { .. }),
        "{no_cert}"
    );
    let mismatched = refused("localhost.crt", "other.key");
    assert!(matches!(mismatched, TlsError::Config(_)), "{mismatched}");
}
