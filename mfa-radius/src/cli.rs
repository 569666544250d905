//! Command line: `mfa-radius [--config FILE]` serves; `--check-config` checks the file's
//! `socket`, `answer_timeout` and `[radius]` and every client's secret file, prints what
//! would be served, and exits.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use mfa_proto::radius::PasswordCheck;
use tokio::net::UdpSocket;

use crate::clients::{Clients, SecretError};
use crate::config::{Config, ConfigError, credentials_directory, default_path};
use crate::daemon::{Daemon, trusted_listeners};
use crate::logging::{self, Sanitized};
use crate::login::{PasswordChecker, Relay};
use crate::pam::{PamError, check_password};
use crate::server::{Server, serve};

/// A RADIUS server for VPNs, firewalls and Wi-Fi controllers: it relays each login to
/// mfa-daemon, which asks for the same factors as for SSH.
#[derive(Debug, Parser)]
#[command(name = "mfa-radius", version)]
struct Args {
    /// The config file (the daemon's; only `socket`, `answer_timeout` and `[radius]` are
    /// read). Default: $CREDENTIALS_DIRECTORY/config.toml when systemd passes it, else
    /// /etc/mfa/config.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the config and every client's secret file, print what would be served, exit.
    #[arg(long)]
    check_config: bool,
}

/// Why `mfa-radius` stopped or did not start.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("config {}: {source}", path.display())]
    Secret {
        path: PathBuf,
        #[source]
        source: SecretError,
    },
    #[error("cannot listen on {addr} (radius.listen): {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] io::Error),
}

/// Runs the command line; exit 0 when stopped by a signal or the file is good, 1 on an
/// error (logged as one line), 2 for bad arguments.
pub fn main() -> ExitCode {
    let args = Args::parse();
    logging::install();
    let path = args.config.clone().unwrap_or_else(default_path);
    let result = load(&path).and_then(|(config, clients)| {
        if args.check_config {
            print_check(&path, &config, &clients);
            Ok(())
        } else {
            run(config, clients)
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The checked config and the clients with their secrets.
fn load(path: &Path) -> Result<(Config, Clients), CliError> {
    let config = Config::load(path)?;
    let me = nix::unistd::geteuid().as_raw();
    let credentials = credentials_directory();
    let clients = Clients::load(&config.radius, credentials.as_deref(), me, Instant::now())
        .map_err(|source| CliError::Secret {
            path: path.to_owned(),
            source,
        })?;
    Ok((config, clients))
}

/// What `--check-config` prints: what would be served, never a secret.
fn print_check(path: &Path, config: &Config, clients: &Clients) {
    let radius = &config.radius;
    println!("mfa-radius: {} is good", path.display());
    let listen: Vec<String> = radius.listen.iter().map(ToString::to_string).collect();
    println!("listen: {}", listen.join(", "));
    match radius.password {
        PasswordCheck::None => {
            println!("password: none (the client checks it; the field is the code)")
        }
        PasswordCheck::Pam => {
            println!(
                "password: pam (checked by /etc/pam.d/{}; the code follows it in the field)",
                radius.pam_service
            );
            if let Some(warning) = missing_pam_service(&radius.pam_service, &PAM_DIRS) {
                println!("warning: {warning}");
            }
        }
    }
    println!(
        "daemon: {}",
        mfa_proto::radius::radius_socket(&config.socket).display()
    );
    println!(
        "challenges: open for {}",
        humantime::format_duration(config.answer_timeout)
    );
    for client in clients.iter() {
        let s = &client.settings;
        let authenticator = if s.require_message_authenticator {
            "Message-Authenticator required"
        } else {
            "Message-Authenticator optional (BlastRADIUS: require it once the client sends it)"
        };
        println!(
            "client {}: {}, secret_file {}, {authenticator}, {} requests/s",
            s.name,
            s.address,
            s.secret_file.display(),
            s.requests_per_second
        );
    }
}

fn run(config: Config, clients: Clients) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let result = runtime.block_on(async {
        let sockets = bind(&config.radius.listen)?;
        let relay = Relay {
            daemon: Daemon::new(&config.socket, trusted_listeners()),
            answer_timeout: config.answer_timeout,
        };
        tracing::info!(
            "relaying to {} (password: {})",
            relay.daemon.socket().display(),
            config.radius.password
        );
        if config.radius.password == PasswordCheck::Pam
            && let Some(warning) = missing_pam_service(&config.radius.pam_service, &PAM_DIRS)
        {
            tracing::warn!("{warning}");
        }
        let checker = pam_checker(config.radius.pam_service.clone());
        let server = Server::new(clients, relay, config.radius.password, checker);
        serve(Arc::new(server), sockets, stopped()).await;
        tracing::info!("stopping");
        Ok(())
    });
    // PAM checks still running on blocking threads are not waited for: no answer is sent
    // after a stop.
    runtime.shutdown_background();
    result
}

/// Where Linux-PAM looks for a service's file: the admin's, then the distribution's.
const PAM_DIRS: [&str; 2] = ["/etc/pam.d", "/usr/lib/pam.d"];

/// A warning when no directory in `dirs` has a file for `service`: PAM then runs the
/// `other` stack, which on Debian includes `common-auth` and so, once enabled, pam_mfa.so,
/// asked as this unprivileged account for another user: every login would fail, and not
/// for a reason the admin can see in mfa-radius's log.
fn missing_pam_service(service: &str, dirs: &[&str]) -> Option<String> {
    if dirs
        .iter()
        .any(|dir| Path::new(dir).join(service).is_file())
    {
        return None;
    }
    Some(format!(
        "radius.pam_service: no {}/{service}: PAM would check passwords with the `other` \
         stack; create it with pam_unix only (see mfa-radius(8))",
        dirs.first().copied().unwrap_or("/etc/pam.d")
    ))
}

/// The PAM check of `password = "pam"` with `service`'s stack.
fn pam_checker(service: String) -> PasswordChecker {
    Arc::new(move |user: &str, password: &[u8], rhost: &str| {
        match check_password(&service, user, password, rhost) {
            Ok(()) => true,
            Err(e @ PamError::Refused { .. }) => {
                tracing::info!(
                    "user {}: PAM refused the password: {e}",
                    Sanitized(user.as_bytes())
                );
                false
            }
            Err(e) => {
                tracing::error!("user {}: {e}", Sanitized(user.as_bytes()));
                false
            }
        }
    })
}

/// One socket per `listen` address. The IPv6 wildcard is IPv6 only (so that it does not
/// clash with the IPv4 one); when IPv6 is off it is skipped with a warning, as long as
/// another address is served.
fn bind(listen: &[SocketAddr]) -> Result<Vec<UdpSocket>, CliError> {
    let mut sockets = Vec::new();
    let mut skipped = None;
    for &addr in listen {
        match bind_one(addr) {
            Ok(socket) => {
                let local = socket.local_addr().unwrap_or(addr);
                tracing::info!("listening on {local}");
                sockets.push(socket);
            }
            Err(source) if addr.is_ipv6() && ipv6_off(&source) => {
                tracing::warn!("not listening on {addr}: {source} (is IPv6 off?)");
                skipped = Some(CliError::Listen { addr, source });
            }
            Err(source) => return Err(CliError::Listen { addr, source }),
        }
    }
    match skipped {
        Some(e) if sockets.is_empty() => Err(e),
        _ => Ok(sockets),
    }
}

fn ipv6_off(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
    )
}

fn bind_one(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_pam_service_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().to_str().unwrap()];
        let warning = missing_pam_service("mfa-radius", &dirs).expect("a warning");
        assert!(warning.contains("mfa-radius"), "{warning}");
        assert!(warning.contains("`other`"), "{warning}");
        std::fs::write(dir.path().join("mfa-radius"), "auth required pam_unix.so\n").unwrap();
        assert_eq!(missing_pam_service("mfa-radius", &dirs), None);
    }
}
