//! `[store]`: which engine keeps records and attempt limits, and for `postgres` how to reach
//! the database. Checked when the config is parsed; the files it names are read when the
//! daemon opens the engine (and by `--check-config`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tokio_postgres::config::{Host, SslMode};

use super::Invalid;
use super::check::{absolute, duration, range, shown};

/// `[store] engine`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// Two-slot files in `state_dir` (the default).
    #[default]
    Files,
    /// One PostgreSQL database shared by a fleet of hosts.
    Postgres,
}

/// `[store]`: the engine, and for `postgres` how to reach the database and the key records
/// are sealed with.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Which engine.
    pub engine: Engine,
    /// Connection string (`host=… port=… user=… dbname=… sslmode=…` or a `postgresql://`
    /// URL) without a password.
    pub url: Option<String>,
    /// A file (0600) holding the connection string, password included; a relative path is
    /// a credential in `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`).
    pub url_file: Option<PathBuf>,
    /// A file (0600) of 32 random bytes, the same on every host, that seals records; a
    /// relative path is a credential, as for `url_file`.
    pub key_file: Option<PathBuf>,
    /// Connections kept open to the database.
    pub pool_size: usize,
    /// CA certificates (PEM) the server's certificate must chain to, with
    /// `sslmode=verify-full`; without it, the system's roots.
    pub ca_file: Option<PathBuf>,
    /// How long a login waits for the database (to connect, or to answer) before it fails
    /// closed.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

impl StoreConfig {
    /// Refuses settings that cannot work, naming the key; the files named are read later,
    /// when the engine is opened.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if self.engine == Engine::Files {
            return self.check_no_postgres_keys();
        }
        match (&self.url, &self.url_file) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    "store.url",
                    "give `url` or `url_file`, not both",
                ));
            }
            (None, None) => {
                return Err(Invalid::new(
                    "store.engine",
                    "\"postgres\" needs `url` or `url_file` (a file holding the connection string)",
                ));
            }
            (Some(url), None) => {
                connection_string(url, false)
                    .map_err(|e| Invalid::new("store.url", e.to_string()))?;
            }
            // A relative url_file or key_file is a credential's name in
            // $CREDENTIALS_DIRECTORY (systemd LoadCredential=), checked when it is read.
            (None, Some(_)) => {}
        }
        if self.key_file.is_none() {
            return Err(Invalid::new(
                "store.key_file",
                "\"postgres\" needs a key_file: 32 random bytes, the same on every host \
                 (`head -c 32 /dev/urandom > FILE && chmod 600 FILE`)",
            ));
        }
        if let Some(path) = &self.ca_file {
            absolute("store.ca_file", path)?;
        }
        range("store.pool_size", self.pool_size, 1, 64)?;
        if self.timeout < Duration::from_millis(100) || self.timeout > Duration::from_secs(30) {
            return Err(Invalid::new(
                "store.timeout",
                format!("must be between 100ms and 30s, got {}", shown(self.timeout)),
            ));
        }
        Ok(())
    }

    /// With the files engine, a key only postgres reads is a mistake worth naming.
    fn check_no_postgres_keys(&self) -> Result<(), Invalid> {
        let postgres_keys = [
            ("store.url", self.url.is_some()),
            ("store.url_file", self.url_file.is_some()),
            ("store.key_file", self.key_file.is_some()),
            ("store.ca_file", self.ca_file.is_some()),
        ];
        match postgres_keys.iter().find(|(_, set)| *set) {
            Some((key, _)) => Err(Invalid::new(
                key,
                "is a setting of engine = \"postgres\", but the engine is \"files\"",
            )),
            None => Ok(()),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            engine: Engine::Files,
            url: None,
            url_file: None,
            key_file: None,
            pool_size: 8,
            ca_file: None,
            timeout: Duration::from_secs(3),
        }
    }
}

/// A connection string this daemon will not use.
#[derive(Debug)]
pub enum ConnectionStringError {
    /// Neither libpq `key=value` pairs nor a `postgresql://` URL.
    Unparsable(tokio_postgres::Error),
    /// A password in a string that came from the config file, which others may read.
    PasswordInConfig,
    /// No `user=`.
    NoUser,
    /// No `host=`.
    NoHost,
    /// `sslmode=prefer` (said, or the default for a remote host): anyone on the path can
    /// turn TLS off.
    TlsNegotiable,
}

impl fmt::Display for ConnectionStringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionStringError::Unparsable(e) => {
                write!(f, "not a PostgreSQL connection string: {e}")
            }
            ConnectionStringError::PasswordInConfig => f.write_str(
                "holds a password, and the config file is readable by others: put the \
                 connection string in a url_file (chmod 600) instead",
            ),
            ConnectionStringError::NoUser => f.write_str("names no user (`user=…`)"),
            ConnectionStringError::NoHost => f.write_str("names no host (`host=…`)"),
            ConnectionStringError::TlsNegotiable => f.write_str(
                "give `sslmode=verify-full` (the server's certificate is checked \
                 against ca_file or the system's roots), or `sslmode=disable` for a \
                 loopback or Unix-socket host; `prefer` lets an attacker on the path \
                 turn TLS off",
            ),
        }
    }
}

impl std::error::Error for ConnectionStringError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectionStringError::Unparsable(e) => Some(e),
            _ => None,
        }
    }
}

/// Parses a connection string (libpq `key=value` or a `postgresql://` URL) and checks it
/// the way this daemon uses it: a user named; TLS either off for a loopback or Unix-socket
/// host, or verified (`require` and `verify-full` both verify the chain and the host name
/// here, through rustls); never `prefer`, which lets anyone on the path turn TLS off. A
/// password is refused unless `password_allowed` (it came from a 0600 file). The engine
/// adds what only it cares about (timeouts, application name).
pub fn connection_string(
    text: &str,
    password_allowed: bool,
) -> Result<tokio_postgres::Config, ConnectionStringError> {
    let mut text = text.trim().to_owned();
    for strict in ["sslmode=verify-full", "sslmode=verify-ca"] {
        text = text.replace(strict, "sslmode=require");
    }
    let explicit_prefer = text.contains("sslmode=prefer");
    let mut config: tokio_postgres::Config =
        text.parse().map_err(ConnectionStringError::Unparsable)?;
    if config.get_password().is_some() && !password_allowed {
        return Err(ConnectionStringError::PasswordInConfig);
    }
    if config.get_user().is_none() {
        return Err(ConnectionStringError::NoUser);
    }
    if config.get_hosts().is_empty() {
        return Err(ConnectionStringError::NoHost);
    }
    if config.get_ssl_mode() == SslMode::Prefer {
        let local = config.get_hosts().iter().all(|host| match host {
            Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            Host::Unix(_) => true,
        });
        if explicit_prefer || !local {
            return Err(ConnectionStringError::TlsNegotiable);
        }
        config.ssl_mode(SslMode::Disable);
    }
    Ok(config)
}
