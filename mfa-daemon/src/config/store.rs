//! `[store]`: which engine keeps records and attempt limits, and for `postgres` how to reach
//! the database. Checked when the config is parsed; the files it names are read when the
//! daemon opens the engine (and by `--check-config`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tokio_postgres::config::{Host, SslMode};

use super::duration;

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
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        let postgres_keys = [
            ("store.url", self.url.is_some()),
            ("store.url_file", self.url_file.is_some()),
            ("store.key_file", self.key_file.is_some()),
            ("store.ca_file", self.ca_file.is_some()),
        ];
        if self.engine == Engine::Files {
            if let Some((key, _)) = postgres_keys.iter().find(|(_, set)| *set) {
                return Err((
                    key,
                    "is a setting of engine = \"postgres\", but the engine is \"files\"".to_owned(),
                ));
            }
            return Ok(());
        }
        match (&self.url, &self.url_file) {
            (Some(_), Some(_)) => {
                return Err(("store.url", "give `url` or `url_file`, not both".to_owned()));
            }
            (None, None) => {
                return Err((
                    "store.engine",
                    "\"postgres\" needs `url` or `url_file` (a file holding the connection string)"
                        .to_owned(),
                ));
            }
            (Some(url), None) => {
                connection_config(url, false).map_err(|e| ("store.url", e))?;
            }
            // A relative url_file or key_file is a credential's name in
            // $CREDENTIALS_DIRECTORY (systemd LoadCredential=), checked when it is read.
            (None, Some(_)) => {}
        }
        if self.key_file.is_none() {
            return Err((
                "store.key_file",
                "\"postgres\" needs a key_file: 32 random bytes, the same on every host \
                 (`head -c 32 /dev/urandom > FILE && chmod 600 FILE`)"
                    .to_owned(),
            ));
        }
        if let Some(path) = &self.ca_file
            && !path.is_absolute()
        {
            return Err((
                "store.ca_file",
                format!("must be an absolute path, got `{}`", path.display()),
            ));
        }
        if !(1..=64).contains(&self.pool_size) {
            return Err((
                "store.pool_size",
                format!("must be between 1 and 64, got {}", self.pool_size),
            ));
        }
        if self.timeout < Duration::from_millis(100) || self.timeout > Duration::from_secs(30) {
            return Err((
                "store.timeout",
                format!(
                    "must be between 100ms and 30s, got {}",
                    humantime::format_duration(self.timeout)
                ),
            ));
        }
        Ok(())
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

/// Parses a connection string (libpq `key=value` or a `postgresql://` URL) and checks it
/// the way this daemon uses it: a user named; TLS either off for a loopback or Unix-socket
/// host, or verified (`require` and `verify-full` both verify the chain and the host name
/// here, through rustls); never `prefer`, which lets anyone on the path turn TLS off. A
/// password is refused unless `password_allowed` (it came from a 0600 file).
pub fn connection_config(
    text: &str,
    password_allowed: bool,
) -> Result<tokio_postgres::Config, String> {
    let mut text = text.trim().to_owned();
    for strict in ["sslmode=verify-full", "sslmode=verify-ca"] {
        text = text.replace(strict, "sslmode=require");
    }
    let explicit_prefer = text.contains("sslmode=prefer");
    let mut config: tokio_postgres::Config = text
        .parse()
        .map_err(|e| format!("not a PostgreSQL connection string: {e}"))?;
    if config.get_password().is_some() && !password_allowed {
        return Err(
            "holds a password, and the config file is readable by others: put the \
                    connection string in a url_file (chmod 600) instead"
                .to_owned(),
        );
    }
    if config.get_user().is_none() {
        return Err("names no user (`user=…`)".to_owned());
    }
    if config.get_hosts().is_empty() {
        return Err("names no host (`host=…`)".to_owned());
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
            return Err(
                "give `sslmode=verify-full` (the server's certificate is checked \
                        against ca_file or the system's roots), or `sslmode=disable` for a \
                        loopback or Unix-socket host; `prefer` lets an attacker on the path \
                        turn TLS off"
                    .to_owned(),
            );
        }
        config.ssl_mode(SslMode::Disable);
    }
    config.application_name("mfa-daemon");
    Ok(config)
}
