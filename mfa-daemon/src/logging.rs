//! The daemon's diagnostic log: one `tracing` subscriber writing plain lines to stderr.
//!
//! Each line is `mfa-daemon: <message>`, without colours or a timestamp: under systemd the
//! journal stamps every line itself. When stderr is the journal (`$JOURNAL_STREAM` names it),
//! each line starts with its sd-daemon(3) priority, `<3>` to `<7>`, so that the journal keeps
//! the level (`journalctl -p warning`). The audit log is not written here: it is its own JSON
//! channel (`crate::audit`), whatever the level.
//!
//! The level comes from `RUST_LOG` when it is set (the `tracing` filter syntax, so
//! `RUST_LOG=mfa_daemon=debug,rustls=trace` works), else from the config's `log_level`,
//! which a SIGHUP reload applies. Dependencies that log through the `log` crate (rustls,
//! tokio-postgres, lettre, reqwest) come through as well: their warnings and errors at
//! `info`, all their diagnostics at `debug` and below.

use std::fmt;

use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_log::{AsLog, NormalizeEvent};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::LogLevel;

/// What every line of the daemon's own starts with; the end-to-end suites wait for lines such
/// as `mfa-daemon: listening on`.
const PREFIX: &str = "mfa-daemon: ";

/// The crate's own target; events from any other (a dependency) name theirs in the line.
const OWN_TARGET: &str = "mfa_daemon";

/// The installed subscriber's level, to follow the config on reload.
#[derive(Clone)]
pub struct Logging {
    filter: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set and valid: it wins over `log_level`, at start and on reload.
    from_env: bool,
}

impl fmt::Debug for Logging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logging")
            .field("from_env", &self.from_env)
            .finish_non_exhaustive()
    }
}

impl Logging {
    /// Installs the process's one subscriber: level from `RUST_LOG` or, until the config is
    /// read ([`Logging::follow`]), `info`. Call it once, first thing in `main`.
    pub fn install() -> Logging {
        let rust_log = std::env::var("RUST_LOG").ok();
        let (filter, refused) = filter(rust_log.as_deref(), LogLevel::default());
        let from_env =
            rust_log.as_deref().is_some_and(|s| !s.trim().is_empty()) && refused.is_none();
        let max = filter.max_level_hint().unwrap_or(LevelFilter::TRACE);
        let (filter, handle) = reload::Layer::new(filter);
        let lines = tracing_subscriber::fmt::layer()
            .event_format(JournalFormat {
                journal: stderr_is_journal(),
            })
            .with_writer(std::io::stderr);
        let subscriber = Registry::default().with(filter).with(lines);
        // Both fail only if a logger is already installed, which main never does: then the
        // first one stays, and lines still reach stderr.
        let _ = tracing::subscriber::set_global_default(subscriber);
        let _ = tracing_log::LogTracer::builder()
            .with_max_level(max.as_log())
            .init();
        if let Some(e) = refused {
            tracing::warn!("RUST_LOG is not a valid filter ({e}); using log_level instead");
        }
        Logging {
            filter: handle,
            from_env,
        }
    }

    /// Sets the level the config names, unless `RUST_LOG` chose it.
    pub fn follow(&self, configured: LogLevel) {
        if self.from_env {
            return;
        }
        let (filter, _) = filter(None, configured);
        let max = filter.max_level_hint().unwrap_or(LevelFilter::TRACE);
        if self.filter.reload(filter).is_ok() {
            // The `log` crate checks its own maximum before it calls the bridge.
            tracing_log::log::set_max_level(max.as_log());
        }
    }
}

/// The filter for `rust_log` (the value of `RUST_LOG`) if it is set, not empty and valid;
/// else for `configured`, with the reason `rust_log` was refused, if it was.
fn filter(rust_log: Option<&str>, configured: LogLevel) -> (EnvFilter, Option<String>) {
    let mut refused = None;
    if let Some(directives) = rust_log.filter(|s| !s.trim().is_empty()) {
        match EnvFilter::builder().parse(directives) {
            Ok(filter) => return (filter, None),
            Err(e) => refused = Some(e.to_string()),
        }
    }
    (EnvFilter::new(directives_for(configured)), refused)
}

/// `log_level` as filter directives. At `info` and above, dependencies say only what went
/// wrong (tokio-postgres, for one, logs every server NOTICE at info); from `debug` on, they
/// say everything the daemon's own code does.
fn directives_for(level: LogLevel) -> String {
    let others = match level {
        LogLevel::Info => LogLevel::Warn,
        other => other,
    };
    format!("{others},{OWN_TARGET}={level}")
}

/// Whether stderr is the journal's stream: `$JOURNAL_STREAM` holds its `device:inode`
/// (systemd.exec(5)). Comparing them, not only looking for the variable, keeps the priority
/// prefix off a stderr that a program started from a service redirected elsewhere.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stderr) = nix::sys::stat::fstat(std::io::stderr()) else {
        return false;
    };
    names_stream(&stream.to_string_lossy(), stderr.st_dev, stderr.st_ino)
}

/// Whether `journal_stream` (`$JOURNAL_STREAM`, "device:inode") names the file `dev`, `ino`.
fn names_stream(journal_stream: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = journal_stream.split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

/// The line's start: the sd-daemon(3) priority when the journal reads it, then the
/// daemon's name, then the target for an event of a dependency.
fn line_start(journal: bool, level: Level, target: &str) -> String {
    let priority = if !journal {
        ""
    } else if level == Level::ERROR {
        "<3>"
    } else if level == Level::WARN {
        "<4>"
    } else if level == Level::INFO {
        "<6>"
    } else {
        "<7>"
    };
    let own = target == OWN_TARGET || target.starts_with("mfa_daemon::");
    if own {
        format!("{priority}{PREFIX}")
    } else {
        format!("{priority}{PREFIX}{target}: ")
    }
}

/// One line per event: [`line_start`], the message and its fields, and the fields of the
/// spans it happened in.
struct JournalFormat {
    /// Put the sd-daemon priority first.
    journal: bool,
}

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Events from the `log` crate carry their real target in fields.
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let start = line_start(self.journal, *metadata.level(), metadata.target());
        writer.write_str(&start)?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, " {fields}")?;
                }
            }
        }
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer that keeps what the subscriber wrote.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What `log` writes through the daemon's format, with the journal's prefix or not.
    fn written(journal: bool, filter: EnvFilter, log: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let lines = tracing_subscriber::fmt::layer()
            .event_format(JournalFormat { journal })
            .with_writer(move || writer.clone());
        let subscriber = Registry::default().with(filter).with(lines);
        tracing::subscriber::with_default(subscriber, log);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn lines_carry_the_sd_daemon_priority_only_for_the_journal() {
        let log = || {
            tracing::error!("cannot open state: gone");
            tracing::warn!("kept the running config");
            tracing::info!("listening on /run/mfa/mfa.sock");
            tracing::debug!(user = "alice", "asked");
            tracing::trace!("every step");
        };
        assert_eq!(
            written(true, EnvFilter::new("trace"), log),
            "<3>mfa-daemon: cannot open state: gone\n\
             <4>mfa-daemon: kept the running config\n\
             <6>mfa-daemon: listening on /run/mfa/mfa.sock\n\
             <7>mfa-daemon: asked user=\"alice\"\n\
             <7>mfa-daemon: every step\n"
        );
        assert_eq!(
            written(false, EnvFilter::new("trace"), log),
            "mfa-daemon: cannot open state: gone\n\
             mfa-daemon: kept the running config\n\
             mfa-daemon: listening on /run/mfa/mfa.sock\n\
             mfa-daemon: asked user=\"alice\"\n\
             mfa-daemon: every step\n"
        );
    }

    #[test]
    fn a_dependencys_line_names_its_target() {
        let out = written(false, EnvFilter::new("debug"), || {
            tracing::debug!(target: "rustls::client::hs", "Sending ClientHello");
        });
        assert_eq!(out, "mfa-daemon: rustls::client::hs: Sending ClientHello\n");
        assert_eq!(
            line_start(true, Level::DEBUG, "mfa_daemon::server"),
            "<7>mfa-daemon: "
        );
    }

    #[test]
    fn records_of_the_log_crate_come_through_under_their_own_target() {
        // Process-wide, as in the daemon; another test may have installed it first.
        let _ = tracing_log::LogTracer::init();
        let out = written(false, EnvFilter::new("warn,tokio_postgres=debug"), || {
            tracing_log::log::debug!(target: "tokio_postgres::prepare", "preparing query s0");
            tracing_log::log::info!(target: "rustls::client", "not at warn");
        });
        assert_eq!(
            out,
            "mfa-daemon: tokio_postgres::prepare: preparing query s0\n"
        );
    }

    #[test]
    fn the_journal_is_recognised_by_device_and_inode() {
        assert!(names_stream("8:1234", 8, 1234));
        assert!(!names_stream("8:1234", 8, 1235));
        assert!(!names_stream("", 8, 1234));
        assert!(!names_stream("8-1234", 8, 1234));
    }

    /// The level `rust_log` and `configured` let through for the daemon's own lines and for a
    /// dependency's.
    fn levels(rust_log: Option<&str>, configured: LogLevel) -> (String, String) {
        let (filter, _) = filter(rust_log, configured);
        // Most severe first, so the last line written is the least severe let through.
        let out = written(false, filter, || {
            tracing::error!("ERROR");
            tracing::warn!("WARN");
            tracing::info!("INFO");
            tracing::debug!("DEBUG");
            tracing::trace!("TRACE");
            tracing::error!(target: "tokio_postgres", "ERROR");
            tracing::warn!(target: "tokio_postgres", "WARN");
            tracing::info!(target: "tokio_postgres", "INFO");
            tracing::debug!(target: "tokio_postgres", "DEBUG");
            tracing::trace!(target: "tokio_postgres", "TRACE");
        });
        let least = |own: bool| {
            out.lines()
                .filter(|line| line.contains("tokio_postgres") != own)
                .filter_map(|line| line.rsplit(' ').next())
                .next_back()
                .unwrap_or_default()
                .to_owned()
        };
        (least(true), least(false))
    }

    #[test]
    fn rust_log_wins_over_log_level_and_log_level_is_the_fallback() {
        let pair = |own: &str, others: &str| (own.to_owned(), others.to_owned());
        assert_eq!(levels(None, LogLevel::Info), pair("INFO", "WARN"));
        assert_eq!(levels(None, LogLevel::Error), pair("ERROR", "ERROR"));
        assert_eq!(levels(None, LogLevel::Warn), pair("WARN", "WARN"));
        assert_eq!(levels(None, LogLevel::Debug), pair("DEBUG", "DEBUG"));
        assert_eq!(levels(None, LogLevel::Trace), pair("TRACE", "TRACE"));
        assert_eq!(
            levels(Some("debug"), LogLevel::Error),
            pair("DEBUG", "DEBUG")
        );
        assert_eq!(
            levels(Some("error,tokio_postgres=trace"), LogLevel::Info),
            pair("ERROR", "TRACE")
        );
        // Unset, empty or not a filter: log_level decides, and the reason is kept to be said.
        assert_eq!(levels(Some(" "), LogLevel::Warn), pair("WARN", "WARN"));
        assert_eq!(
            levels(Some("=bogus=["), LogLevel::Warn),
            pair("WARN", "WARN")
        );
        assert!(filter(Some("=bogus=["), LogLevel::Warn).1.is_some());
    }
}
