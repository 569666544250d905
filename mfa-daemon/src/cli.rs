//! Command line: `mfa-daemon [--config FILE]`, `mfa-daemon --check-config FILE`,
//! `mfa-daemon [--config FILE] --import-records STATE_DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::accounts;
use crate::authority::Authority;
use crate::config::{Config, ConfigError, DEFAULT_CONFIG};
use crate::delivery::Delivery;
use crate::delivery::outbox::Outbox;
use crate::server::Listeners;
use crate::server::socket_activation::PassedSockets;

const USAGE: &str = "usage: mfa-daemon [--config FILE]\n       mfa-daemon --check-config FILE\n       \
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

fn parse(args: &[String]) -> Result<Command, String> {
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
            Err(format!("{flag} needs a file name"))
        }
        [.., flag] if flag == "--import-records" => {
            Err(format!("{flag} needs the state directory to import from"))
        }
        other => Err(format!("unexpected arguments: {}", other.join(" "))),
    }
}

/// Entry point of the binary; `passed` are the sockets systemd passed, if it did.
pub fn main(passed: PassedSockets) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Err(e) => {
            eprintln!("mfa-daemon: {e}\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("mfa-daemon {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Check(path)) => match Config::load(&path, false)
            .and_then(|c| c.check_groups(&path, accounts::group_exists).map(|()| c))
            .and_then(|c| Delivery::from_config(&c, &path, &accounts::hostname()).map(|_| c))
            .and_then(|c| check_store(&c, &path).map(|()| c))
        {
            Ok(_) => {
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mfa-daemon: {e}");
                ExitCode::from(2)
            }
        },
        Ok(Command::Run { config, explicit }) => run(&config, explicit, passed),
        Ok(Command::Import { config, from }) => import(&config, &from),
    }
}

/// Reads what `[store]` names for the postgres engine (connection file, key, CA) without
/// connecting; nothing to read for the file engine.
fn check_store(config: &Config, path: &std::path::Path) -> Result<(), ConfigError> {
    if config.store.engine == crate::config::Engine::Files {
        return Ok(());
    }
    crate::store::postgres::Settings::read(&config.store)
        .map(drop)
        .map_err(|(key, message)| ConfigError::for_key(path, key, message))
}

/// Copies every record of the file engine in `from` into the database `path`'s config
/// names. A user who already has a record there is left alone; a record that cannot be read
/// is reported and the others go on. Exit status 1 if any failed.
fn import(path: &std::path::Path, from: &std::path::Path) -> ExitCode {
    use crate::store::RecordStore;
    use crate::store::files::FileStore;
    use crate::store::postgres::{Pg, PgStore};
    let config = match Config::load(path, false) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mfa-daemon: {e}");
            return ExitCode::from(2);
        }
    };
    if config.store.engine != crate::config::Engine::Postgres {
        eprintln!(
            "mfa-daemon: {}: [store] engine is \"files\": there is no database to import into",
            path.display()
        );
        return ExitCode::from(2);
    }
    let source = match FileStore::open(from) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "mfa-daemon: cannot open {}: {e} (stop the daemon that uses it)",
                from.display()
            );
            return ExitCode::from(1);
        }
    };
    let target = match Pg::open(&config.store, &config.state_dir) {
        Ok(pg) => PgStore::new(pg),
        Err((key, why)) => {
            eprintln!("mfa-daemon: config {}, key `{key}`: {why}", path.display());
            return ExitCode::from(2);
        }
    };
    let target: &dyn RecordStore = &target;
    let names = match source.users() {
        Ok(names) => names,
        Err(e) => {
            eprintln!("mfa-daemon: {e}");
            return ExitCode::from(1);
        }
    };
    let (mut imported, mut kept, mut failed) = (0, 0, 0);
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
            Ok(true) => imported += 1,
            Ok(false) => kept += 1,
            Err(e) => {
                failed += 1;
                eprintln!("mfa-daemon: {name} not imported: {e}");
            }
        }
    }
    println!(
        "imported {imported} record(s); {kept} left as they were (already in the database); \
         {failed} failed"
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run(path: &std::path::Path, explicit: bool, passed: PassedSockets) -> ExitCode {
    let config = match Config::load(path, !explicit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mfa-daemon: {e}");
            return ExitCode::from(2);
        }
    };
    // Started all the same (a directory may answer late at boot); logins treat such a group
    // as everyone's where that asks more, and it exempts nobody.
    for (key, group) in config.unknown_groups(accounts::group_exists) {
        eprintln!(
            "mfa-daemon: warning: group `{group}` named by {key} is not known to NSS; until it \
             is, logins are decided as if every user were in it (exempt_groups: nobody is)"
        );
    }
    // Files the daemon creates are its own: no group or other access, whatever the umask.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    if let Err(e) = harden_process() {
        eprintln!("mfa-daemon: cannot harden the process: {e}");
        return ExitCode::from(1);
    }
    // Bound (or taken from systemd) first, while this is the only thread (socket modes come
    // from the umask).
    let listeners = match Listeners::open(&config.socket, passed) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mfa-daemon: {e}");
            return ExitCode::from(1);
        }
    };
    let delivery = match Delivery::from_config(&config, path, &accounts::hostname()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mfa-daemon: {e}");
            return ExitCode::from(2);
        }
    };
    let (code, send, domains, countries) = (
        config.otp.code_policy(),
        config.otp.send_policy(),
        config.otp.domain_rules(),
        config.otp.country_rules(),
    );
    let authority = match Authority::open(config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mfa-daemon: cannot open state: {e}");
            return ExitCode::from(1);
        }
    };
    // The send limits count in the store, so that a restart (or another host on the same
    // database) does not start them afresh.
    let outbox = Outbox::new(
        delivery,
        code,
        send,
        domains,
        countries,
        authority.send_ledger(),
        &accounts::hostname(),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mfa-daemon")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mfa-daemon: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(crate::server::serve(
        authority,
        outbox,
        listeners,
        crate::server::ConfigSource {
            path: path.to_owned(),
            default_if_missing: !explicit,
        },
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mfa-daemon: {e}");
            ExitCode::from(1)
        }
    }
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
        assert!(
            parse(&args(&["--config"]))
                .unwrap_err()
                .contains("needs a file")
        );
        assert!(parse(&args(&["--bogus"])).unwrap_err().contains("--bogus"));
    }
}
