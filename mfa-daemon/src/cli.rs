//! Command line: `mfa-daemon [--config FILE]`, `mfa-daemon --check-config FILE`,
//! `mfa-daemon [--config FILE] --import-records STATE_DIR`.
//!
//! What the command line has to tell the person who ran it (a usage error, the result of a
//! check or an import) is returned for `main` to print: it is not a log line. A daemon that
//! starts writes to its log (`crate::logging`), and why it did not start comes back as a
//! [`StartError`] for `main` to log.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::accounts;
use crate::config::{Config, ConfigError, DEFAULT_CONFIG};
use crate::decisions::Deciders;
use crate::delivery::Delivery;
use crate::delivery::outbox::Outbox;
use crate::logging::Logging;
use crate::server::socket_activation::PassedSockets;
use crate::server::{FrontDoor, FrontEnd, Listeners, ServeError};
use crate::store::CallerClass;
use crate::store::StoreError;
use crate::web::{Web, WebOptions, WebSetupError};

/// What `--help` prints, and a usage error after its reason.
pub const USAGE: &str = "usage: mfa-daemon [--config FILE]\n       mfa-daemon --check-config FILE\n       \
mfa-daemon [--config FILE] --import-records STATE_DIR\n\n\
Runs the pam-mfa daemon in the foreground (default config /etc/mfa/config.toml;\n\
if that file is missing, built-in defaults are used). --import-records copies the\n\
records of a file-engine state directory into the database of a config with\n\
[store] engine = \"postgres\" (users already there are left alone; stop the daemons\n\
of both first).";

#[derive(Debug)]
enum Command {
    Run { config: PathBuf, explicit: bool },
    Check(PathBuf),
    Import { config: PathBuf, from: PathBuf },
    Help,
    Version,
}

/// Arguments that are none of the documented forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// `--config` or `--check-config` (the flag) without its file.
    NeedsFile(String),
    /// `--import-records` without the state directory.
    NeedsStateDir,
    /// Anything else: the arguments as given.
    Unexpected(Vec<String>),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::NeedsFile(flag) => write!(f, "{flag} needs a file name"),
            UsageError::NeedsStateDir => {
                f.write_str("--import-records needs the state directory to import from")
            }
            UsageError::Unexpected(args) => write!(f, "unexpected arguments: {}", args.join(" ")),
        }
    }
}

impl std::error::Error for UsageError {}

/// What a command that did its work reports; `main` prints it on stdout.
#[derive(Debug)]
pub enum Finished {
    /// `--help`: the usage text.
    Help,
    /// `--version`.
    Version,
    /// `--check-config`: the file (and what it names) is good.
    ConfigOk(PathBuf),
    /// `--import-records`: what was copied, and the records that were not.
    Imported(Imported),
    /// The daemon served until SIGTERM or SIGINT; its log has said so.
    Stopped,
}

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finished::Help => f.write_str(USAGE),
            Finished::Version => write!(f, "mfa-daemon {}", env!("CARGO_PKG_VERSION")),
            Finished::ConfigOk(path) => write!(f, "{}: ok", path.display()),
            Finished::Imported(imported) => write!(f, "{imported}"),
            Finished::Stopped => Ok(()),
        }
    }
}

/// The counts of an import; its display is the summary line.
#[derive(Debug, Default)]
pub struct Imported {
    /// Records copied into the database.
    pub imported: usize,
    /// Users who already had a record there, left as it was.
    pub kept: usize,
    /// Records that could not be read or written; the others went on.
    pub failed: Vec<NotImported>,
}

impl fmt::Display for Imported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} record(s); {} left as they were (already in the database); {} failed",
            self.imported,
            self.kept,
            self.failed.len()
        )
    }
}

/// A record the import could not copy.
#[derive(Debug)]
pub struct NotImported {
    /// Whose record.
    pub user: String,
    /// Why.
    pub error: StoreError,
}

impl fmt::Display for NotImported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} not imported: {}", self.user, self.error)
    }
}

/// Why a command failed. `main` prints it after `mfa-daemon: `, except [`CliError::Daemon`],
/// which is a line of the daemon's log.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Not a documented form of the command line; printed with [`USAGE`].
    #[error("{0}\n{USAGE}")]
    Usage(#[source] UsageError),
    /// The config, or a file it names, is refused.
    #[error("{0}")]
    Config(#[source] ConfigError),
    /// `--import-records` with a config of the file engine (the file).
    #[error("{}: [store] engine is \"files\": there is no database to import into", .0.display())]
    NoDatabase(PathBuf),
    /// The state directory to import from cannot be opened.
    #[error("cannot open {}: {error} (stop the daemon that uses it)", from.display())]
    ImportSource {
        /// The directory.
        from: PathBuf,
        /// Why.
        #[source]
        error: StoreError,
    },
    /// The records in the state directory cannot be listed.
    #[error("{0}")]
    ListRecords(#[source] StoreError),
    /// The database the config names cannot be set up.
    #[error("config {}, key `{}`: {error}", config.display(), error.key())]
    Database {
        /// The config file.
        config: PathBuf,
        /// Why, with the key at fault.
        #[source]
        error: crate::store::postgres::OpenError,
    },
    /// The daemon did not start, or stopped on an error.
    #[error("{0}")]
    Daemon(#[source] StartError),
}

impl CliError {
    /// 2 for what the admin wrote (arguments, config), 1 for what failed at run time.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_)
            | CliError::Config(_)
            | CliError::NoDatabase(_)
            | CliError::Database { .. } => ExitCode::from(2),
            CliError::ImportSource { .. } | CliError::ListRecords(_) => ExitCode::from(1),
            CliError::Daemon(e) => e.exit_code(),
        }
    }
}

/// Why the daemon did not start, or stopped on an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config, or what it names (delivery providers, secret files), is refused.
    #[error("{0}")]
    Config(#[source] ConfigError),
    /// Core dumps or ptrace access could not be turned off.
    #[error("cannot harden the process: {0}")]
    Harden(#[source] nix::Error),
    /// The sockets cannot be bound, or are not the ones systemd passed.
    #[error("{0}")]
    Sockets(#[source] ServeError),
    /// The state (store engine) cannot be opened.
    #[error("cannot open state: {0}")]
    State(#[source] crate::decisions::OpenError),
    /// The async runtime cannot start.
    #[error("cannot start runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The server failed while running.
    #[error("{0}")]
    Serve(#[source] ServeError),
    /// `[web]` cannot be served (its account is unknown, its address unusable).
    #[error("{0}")]
    Web(#[from] WebSetupError),
    /// `[radius]` names an account that does not exist, so no one could use its socket.
    #[error(
        "config key `radius.user`: account `{0}` does not exist; create it (the packages \
         make `mfa-radius`) or name the account mfa-radius runs as"
    )]
    RadiusAccount(String),
}

impl StartError {
    /// 2 for a refused config, 1 for anything else.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StartError::Config(_) => ExitCode::from(2),
            _ => ExitCode::from(1),
        }
    }
}

fn parse(args: &[String]) -> Result<Command, UsageError> {
    match args {
        [] => Ok(Command::Run {
            config: PathBuf::from(DEFAULT_CONFIG),
            explicit: false,
        }),
        [flag, file] if flag == "--config" => Ok(Command::Run {
            config: PathBuf::from(file),
            explicit: true,
        }),
        [flag, file] if flag == "--check-config" => Ok(Command::Check(PathBuf::from(file))),
        [flag, from] if flag == "--import-records" => Ok(Command::Import {
            config: PathBuf::from(DEFAULT_CONFIG),
            from: PathBuf::from(from),
        }),
        [c, file, flag, from] if c == "--config" && flag == "--import-records" => {
            Ok(Command::Import {
                config: PathBuf::from(file),
                from: PathBuf::from(from),
            })
        }
        [flag] if flag == "--help" || flag == "-h" => Ok(Command::Help),
        [flag] if flag == "--version" || flag == "-V" => Ok(Command::Version),
        [flag] if flag == "--config" || flag == "--check-config" => {
            Err(UsageError::NeedsFile(flag.clone()))
        }
        [.., flag] if flag == "--import-records" => Err(UsageError::NeedsStateDir),
        other => Err(UsageError::Unexpected(other.to_vec())),
    }
}

/// Entry point of the binary: does what the arguments ask. `passed` are the sockets systemd
/// passed, if it did; `logging` follows the config's `log_level` once the daemon has read it.
pub fn main(passed: PassedSockets, logging: &Logging) -> Result<Finished, CliError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).map_err(CliError::Usage)? {
        Command::Help => Ok(Finished::Help),
        Command::Version => Ok(Finished::Version),
        Command::Check(path) => check(&path)
            .map(|()| Finished::ConfigOk(path))
            .map_err(CliError::Config),
        Command::Run { config, explicit } => run(&config, explicit, passed, logging)
            .map(|()| Finished::Stopped)
            .map_err(CliError::Daemon),
        Command::Import { config, from } => import(&config, &from).map(Finished::Imported),
    }
}

/// Everything the daemon would refuse at start, without binding or connecting.
fn check(path: &Path) -> Result<(), ConfigError> {
    let config = Config::load(path, false)?;
    config.check_groups(path, accounts::group_exists)?;
    Delivery::from_config(&config, path, &accounts::hostname())?;
    check_store(&config, path)
}

/// Reads what `[store]` names for the postgres engine (connection file, key, CA) without
/// connecting; nothing to read for the file engine.
fn check_store(config: &Config, path: &Path) -> Result<(), ConfigError> {
    if config.store.engine == crate::config::Engine::Files {
        return Ok(());
    }
    crate::store::postgres::Settings::read(&config.store)
        .map(drop)
        .map_err(|e| ConfigError::for_key(path, e.key(), e.to_string()))
}

/// Copies every record of the file engine in `from` into the database `path`'s config
/// names. A user who already has a record there is left alone; a record that cannot be read
/// is reported and the others go on.
fn import(path: &Path, from: &Path) -> Result<Imported, CliError> {
    use crate::store::RecordStore;
    use crate::store::files::FileStore;
    use crate::store::postgres::{Pg, PgStore};
    let config = Config::load(path, false).map_err(CliError::Config)?;
    if config.store.engine != crate::config::Engine::Postgres {
        return Err(CliError::NoDatabase(path.to_owned()));
    }
    let source = FileStore::open(from).map_err(|error| CliError::ImportSource {
        from: from.to_owned(),
        error,
    })?;
    let target = Pg::open(&config.store, &config.state_dir)
        // Run by root, from a shell.
        .map(|pg| PgStore::new(pg, CallerClass::Root))
        .map_err(|error| CliError::Database {
            config: path.to_owned(),
            error,
        })?;
    let names = source.users().map_err(CliError::ListRecords)?;
    Ok(copy_records(&source, &target, names))
}

/// Copies each of `names`' records from `source` to `target` where `target` has none.
fn copy_records(
    source: &dyn crate::store::RecordStore,
    target: &dyn crate::store::RecordStore,
    names: Vec<String>,
) -> Imported {
    let mut done = Imported::default();
    for name in names {
        let copied = source.load(&name).and_then(|record| {
            let Some(record) = record else {
                return Ok(false);
            };
            target.update(&name, |existing| {
                let empty = *existing == crate::store::UserRecord::default();
                if empty {
                    *existing = record;
                }
                empty
            })
        });
        match copied {
            Ok(true) => done.imported += 1,
            Ok(false) => done.kept += 1,
            Err(error) => done.failed.push(NotImported { user: name, error }),
        }
    }
    done
}

/// Runs the daemon until SIGTERM or SIGINT.
fn run(
    path: &Path,
    explicit: bool,
    passed: PassedSockets,
    logging: &Logging,
) -> Result<(), StartError> {
    let config = Config::load(path, !explicit).map_err(StartError::Config)?;
    logging.follow(config.log_level);
    // Started all the same (a directory may answer late at boot); logins treat such a group
    // as everyone's where that asks more, and it exempts nobody.
    for (key, group) in config.unknown_groups(accounts::group_exists) {
        tracing::warn!(
            "warning: group `{group}` named by {key} is not known to NSS; until it is, logins \
             are decided as if every user were in it (exempt_groups: nobody is)"
        );
    }
    // Files the daemon creates are its own: no group or other access, whatever the umask.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    harden_process().map_err(StartError::Harden)?;
    // Bound (or taken from systemd) first, while this is the only thread (socket modes come
    // from the umask).
    let listeners = Listeners::open(&config.socket, passed).map_err(StartError::Sockets)?;
    let web = web_pages(&config)?;
    let radius = radius_door(&config)?;
    let delivery =
        Delivery::from_config(&config, path, &accounts::hostname()).map_err(StartError::Config)?;
    let otp = config.otp.clone();
    let decisions = Deciders::open(config, std::sync::Arc::new(crate::clock::SystemClock))
        .map_err(StartError::State)?;
    // The send limits count in the store, so that a restart (or another host on the same
    // database) does not start them afresh. The outbox serves every caller and counts on
    // root's connections (it knows no caller class).
    let outbox = Outbox::with_otp(
        delivery,
        &otp,
        decisions.for_class(CallerClass::Root).send_ledger(),
        &accounts::hostname(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mfa-daemon")
        .build()
        .map_err(StartError::Runtime)?;
    let source = crate::server::ConfigSource {
        path: path.to_owned(),
        default_if_missing: !explicit,
        logging: logging.clone(),
    };
    runtime
        .block_on(crate::server::serve(
            decisions, outbox, listeners, source, web, radius,
        ))
        .map_err(StartError::Serve)
}

/// The web socket and the passkey verifier, when `[web]` is configured: bound now, while
/// this is the only thread.
fn web_pages(config: &Config) -> Result<Option<(FrontDoor, Web)>, StartError> {
    let Some(settings) = &config.web else {
        return Ok(None);
    };
    let uid = accounts::resolve(&settings.user)
        .map(|a| a.uid)
        .ok_or_else(|| WebSetupError::NoAccount(settings.user.clone()))?;
    let push = crate::web::push_of(settings)?;
    let web = Web::new(WebOptions::of(settings, accounts::hostname())?, push)?;
    let door = FrontDoor::bind(&config.socket, uid, FrontEnd::Web).map_err(StartError::Sockets)?;
    Ok(Some((door, web)))
}

/// The RADIUS socket, when `[radius]` is configured: bound now, while this is the only
/// thread.
fn radius_door(config: &Config) -> Result<Option<FrontDoor>, StartError> {
    let Some(settings) = &config.radius else {
        return Ok(None);
    };
    let uid = accounts::resolve(&settings.user)
        .map(|a| a.uid)
        .ok_or_else(|| StartError::RadiusAccount(settings.user.clone()))?;
    FrontDoor::bind(&config.socket, uid, FrontEnd::Radius)
        .map(Some)
        .map_err(StartError::Sockets)
}

/// The daemon's memory holds TOTP secrets: no core dumps, and no ptrace or /proc/PID/mem
/// access by other processes of the daemon's user.
fn harden_process() -> nix::Result<()> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
    nix::sys::prctl::set_dumpable(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hardening_turns_off_core_dumps_and_dumpability() {
        // Harmless for the test process: it only loses the ability to dump core.
        harden_process().unwrap();
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE).unwrap();
        assert_eq!((soft, hard), (0, 0));
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
    }

    #[test]
    fn parses_the_documented_forms() {
        assert!(matches!(
            parse(&args(&[])),
            Ok(Command::Run {
                explicit: false,
                ..
            })
        ));
        assert!(matches!(
            parse(&args(&["--config", "/x"])),
            Ok(Command::Run { explicit: true, .. })
        ));
        assert!(matches!(
            parse(&args(&["--check-config", "/x"])),
            Ok(Command::Check(_))
        ));
        assert_eq!(
            parse(&args(&["--config"])).unwrap_err().to_string(),
            "--config needs a file name"
        );
        assert_eq!(
            parse(&args(&["--config", "/x", "--import-records"])).unwrap_err(),
            UsageError::NeedsStateDir
        );
        assert!(
            parse(&args(&["--bogus"]))
                .unwrap_err()
                .to_string()
                .contains("--bogus")
        );
    }
}
