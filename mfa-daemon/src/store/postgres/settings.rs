//! What `[store]` names for the postgres engine, read and checked without connecting: the
//! connection string (`url` or the secret file `url_file`), the key (`key_file`) and the TLS
//! set-up (`ca_file` or the system's roots).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{ConnectionStringError, StoreConfig, connection_string};
use crate::secret_file::{self, SecretFileError};
use crate::store::sealing::Sealer;

/// What `[store]` names, read and checked: the connection, the key and the TLS set-up.
pub struct Settings {
    pub(super) connection: tokio_postgres::Config,
    pub(super) sealer: Sealer,
    pub(super) tls: MakeRustlsConnect,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("hosts", &self.connection.get_hosts())
            .field("user", &self.connection.get_user())
            .finish_non_exhaustive()
    }
}

/// Why `[store]`'s settings cannot be used. [`SettingsError::key`] names the config key at
/// fault; the message says what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Neither `url` nor `url_file` is set.
    #[error("needs `url` or `url_file`")]
    NoUrl,
    /// `url_file` cannot be read or is not safe.
    #[error("{0}")]
    UrlFile(#[source] SecretFileError),
    /// The connection string (of `url`, or read from `url_file`) is refused.
    #[error("{error}")]
    ConnectionString {
        /// `store.url` or `store.url_file`.
        key: &'static str,
        /// What is wrong with it.
        #[source]
        error: ConnectionStringError,
    },
    /// No `key_file` is set.
    #[error("is required")]
    NoKeyFile,
    /// `key_file` cannot be read or is not a key.
    #[error("{0}")]
    KeyFile(#[source] SecretFileError),
    /// The TLS set-up (`ca_file`, or the system's roots) failed.
    #[error("{0}")]
    Tls(#[source] TlsError),
}

impl SettingsError {
    /// The config key at fault, e.g. `store.key_file`.
    pub fn key(&self) -> &'static str {
        match self {
            SettingsError::NoUrl => "store.engine",
            SettingsError::UrlFile(_) => "store.url_file",
            SettingsError::ConnectionString { key, .. } => key,
            SettingsError::NoKeyFile | SettingsError::KeyFile(_) => "store.key_file",
            SettingsError::Tls(_) => "store.ca_file",
        }
    }
}

impl Settings {
    /// Reads `url_file` (or `url`), `key_file` and `ca_file`; connects to nothing. What
    /// `mfa-daemon --check-config` checks, and the first step of [`super::Pg::open`].
    pub fn read(config: &StoreConfig) -> Result<Settings, SettingsError> {
        let credentials = secret_file::credentials_directory();
        let (text, key) = match (&config.url, &config.url_file) {
            (Some(url), _) => (zeroize::Zeroizing::new(url.clone()), "store.url"),
            (None, Some(path)) => (
                secret_file::read_text(path, credentials.as_deref())
                    .map_err(SettingsError::UrlFile)?,
                "store.url_file",
            ),
            (None, None) => return Err(SettingsError::NoUrl),
        };
        let mut connection = connection_string(&text, config.url.is_none())
            .map_err(|error| SettingsError::ConnectionString { key, error })?;
        connection.application_name("mfa-daemon");
        connection.connect_timeout(config.timeout);
        connection.keepalives_idle(Duration::from_secs(30));
        let key_file = config.key_file.as_deref().ok_or(SettingsError::NoKeyFile)?;
        let sealer = Sealer::from_key_file(key_file, credentials.as_deref())
            .map_err(SettingsError::KeyFile)?;
        let tls = tls_connector(config.ca_file.as_deref()).map_err(SettingsError::Tls)?;
        Ok(Settings {
            connection,
            sealer,
            tls,
        })
    }
}

/// Why the TLS set-up failed (all of it is `store.ca_file`'s).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls refused its own defaults.
    #[error("cannot set up TLS: {0}")]
    Setup(#[source] rustls::Error),
    /// `ca_file` cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A PEM block of `ca_file` is not a certificate.
    #[error("{} holds no PEM certificate: {source}", path.display())]
    NotPem {
        /// The file.
        path: std::path::PathBuf,
        /// The parser's error.
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate of `ca_file` cannot be a root.
    #[error("{}: unusable certificate: {source}", path.display())]
    Unusable {
        /// The file.
        path: std::path::PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// `ca_file` holds no certificate at all.
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate {
        /// The file.
        path: std::path::PathBuf,
    },
    /// Without `ca_file`: the system's roots cannot be loaded.
    #[error("cannot load the system's roots: {0}")]
    SystemRoots(#[source] rustls::Error),
}

/// The TLS set-up: the CA file's certificates, or the system's roots.
fn tls_connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?;
    let tls = match ca_file {
        Some(path) => builder
            .with_root_certificates(ca_roots(path)?)
            .with_no_client_auth(),
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(TlsError::SystemRoots)?
                .with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(tls))
}

/// The certificates of the PEM file `path`, at least one.
fn ca_roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|source| TlsError::NotPem {
            path: path.to_owned(),
            source,
        })?;
        roots.add(cert).map_err(|source| TlsError::Unusable {
            path: path.to_owned(),
            source,
        })?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(roots)
}
