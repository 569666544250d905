//! Command line: `mfa-web [--config FILE]` serves; `mfa-web --check-config FILE` checks the
//! file's `socket` and `[web]` (and the TLS files it names) and exits.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tokio::net::TcpListener;

use crate::app::{AppState, router};
use crate::config::{Config, ConfigError, default_path};
use crate::daemon::{DAEMON_TIMEOUT, Daemon, trusted_listeners};
use crate::logging;
use crate::rate_limit::{RateLimiter, RatePolicy};
use crate::server::{ServeLimits, serve};
use crate::tls::{TlsError, acceptor};

/// The pages of pam-mfa that users reach from a phone or browser: adding a passkey and
/// approving a sign-in. A go-between for the browser and mfa-daemon, which verifies
/// everything.
#[derive(Debug, Parser)]
#[command(name = "mfa-web", version)]
struct Args {
    /// The config file (the daemon's; only `socket` and `[web]` are read). Default:
    /// $CREDENTIALS_DIRECTORY/config.toml when systemd passes it, else /etc/mfa/config.toml.
    #[arg(long, value_name = "FILE", conflicts_with = "check_config")]
    config: Option<PathBuf>,
    /// Check FILE's `socket` and `[web]`, and the TLS files it names, then exit.
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
}

/// Why `mfa-web` stopped or did not start.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr} (web.listen): {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Runs the command line; exit 0 when stopped by a signal or the file is good, 1 on an
/// error (logged as one line), 2 for bad arguments.
pub fn main() -> ExitCode {
    let args = Args::parse();
    logging::install();
    let result = match &args.check_config {
        Some(path) => check(path),
        None => run(&args.config.clone().unwrap_or_else(default_path)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path) -> Result<(), CliError> {
    let config = Config::load(path)?;
    if let Some((cert, key)) = config.web.tls_files() {
        acceptor(cert, key)?;
    }
    println!("mfa-web: {} is good", path.display());
    Ok(())
}

fn run(path: &Path) -> Result<(), CliError> {
    let config = Config::load(path)?;
    let tls = match config.web.tls_files() {
        Some((cert, key)) => Some(acceptor(cert, key)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let listen = config.web.listen;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| CliError::Listen {
                addr: listen,
                source,
            })?;
        let state = state(&config, tls.is_some());
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(
            "listening on {scheme}://{} for {}",
            listener.local_addr().unwrap_or(listen),
            config.web.public_url
        );
        serve(
            listener,
            router(state),
            tls,
            ServeLimits {
                proxy_on_loopback: config.web.forwarded_for,
                ..ServeLimits::default()
            },
            stopped(),
        )
        .await;
        tracing::info!("stopping");
        Ok(())
    })
}

/// What the handlers share, from the checked config.
fn state(config: &Config, tls: bool) -> AppState {
    let (origin, https) = match config.web.public_url() {
        Ok(url) => (url.origin(), url.scheme == "https"),
        // Checked when loaded; unreachable, but an origin no page has refuses all POSTs.
        Err(_) => (String::new(), true),
    };
    AppState {
        daemon: Arc::new(Daemon::new(
            &config.socket,
            trusted_listeners(),
            DAEMON_TIMEOUT,
        )),
        limiter: Arc::new(RateLimiter::new(RatePolicy::default())),
        forwarded_for: config.web.forwarded_for,
        origin: origin.into(),
        // Behind a TLS-terminating proxy the browser is still on https.
        hsts: tls || https,
    }
}

/// Completes on SIGTERM or SIGINT.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the default action (exit) still stops the process.
        _ => std::future::pending().await,
    }
}
