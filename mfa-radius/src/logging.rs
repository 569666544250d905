//! The diagnostic log: plain lines on stderr, `mfa-radius: <message>`, for the journal (which
//! stamps the time). The level is `RUST_LOG` (the `tracing` filter syntax) or `info`.
//!
//! Nothing a RADIUS client sends is logged as it came: never a password, a code, a secret, a
//! `State` value or an authenticator; user names only through [`Sanitized`]. Drops are
//! counted and logged at most once a minute per client or address ([`DropLog`]), so that a
//! flood cannot fill the journal.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

/// What every line starts with; the end-to-end suites wait for `mfa-radius: listening on`.
const PREFIX: &str = "mfa-radius: ";

/// Installs the process's subscriber. Call once, first thing in `main`.
pub(crate) fn install() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| EnvFilter::builder().parse(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("warn,mfa_radius=info"));
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    // Fails only if a subscriber is installed already; then lines still reach stderr.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Line { journal })
        .try_init();
}

/// `<priority>` (sd-daemon(3), under the journal) `mfa-radius: [target: ]message fields`.
struct Line {
    journal: bool,
}

impl<S, N> FormatEvent<S, N> for Line
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
        let metadata = event.metadata();
        if self.journal {
            let priority = match *metadata.level() {
                Level::ERROR => 3,
                Level::WARN => 4,
                Level::INFO => 6,
                _ => 7,
            };
            write!(writer, "<{priority}>")?;
        }
        writer.write_str(PREFIX)?;
        let target = metadata.target();
        if target != "mfa_radius" && !target.starts_with("mfa_radius::") {
            write!(writer, "{target}: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Text from the network, shown with control characters, backslashes and quotes escaped
/// (`Debug`'s escapes) and cut at 64 characters, so that a user name cannot forge a log line.
pub(crate) struct Sanitized<'a>(pub(crate) &'a [u8]);

/// Longest part of a name shown.
const SHOWN_MAX: usize = 64;

impl fmt::Display for Sanitized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = String::from_utf8_lossy(self.0);
        let mut shown: String = text.chars().take(SHOWN_MAX).collect();
        if text.chars().count() > SHOWN_MAX {
            shown.push('…');
        }
        // `escape_debug` escapes control characters, quotes and backslashes.
        write!(f, "\"{}\"", shown.escape_debug())
    }
}

/// How often one key's drops are logged.
pub(crate) const DROP_LOG_EVERY: Duration = Duration::from_secs(60);
/// Most addresses whose drops are logged apart; beyond, only the total counts them.
const DROP_KEYS_MAX: usize = 1024;

/// Why a datagram got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DropReason {
    /// From an address no client has (RFC 2865 §3: silently discarded).
    UnknownClient,
    /// The client's `requests_per_second` was used up.
    RateLimited,
    /// Not a RADIUS packet, or a code this server does not serve.
    Malformed,
    /// No `Message-Authenticator`, and the client must send one (BlastRADIUS).
    NoMessageAuthenticator,
    /// The `Message-Authenticator` does not match (most often: the secrets differ).
    WrongMessageAuthenticator,
    /// The client's PAM checks were all busy; it retries.
    Busy,
    /// Every login slot (daemon connection) stayed busy; the client retries.
    LoginsBusy,
    /// The duplicate cache was full of requests under 30 s old.
    CacheFull,
}

impl DropReason {
    fn describe(self) -> &'static str {
        match self {
            DropReason::UnknownClient => "from an address no [[radius.client]] has",
            DropReason::RateLimited => "over the client's requests_per_second",
            DropReason::Malformed => "malformed or not an Access-Request",
            DropReason::NoMessageAuthenticator => {
                "no Message-Authenticator (require_message_authenticator = true)"
            }
            DropReason::WrongMessageAuthenticator => {
                "wrong Message-Authenticator (do the secrets differ?)"
            }
            DropReason::Busy => "every PAM check of the client busy",
            DropReason::LoginsBusy => "every login slot busy (logins in progress)",
            DropReason::CacheFull => "duplicate cache full",
        }
    }
}

/// Who a drop is logged under: a client by name, or an address no client has.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum DropSource {
    /// A configured client.
    Client(String),
    /// An unknown address.
    Address(IpAddr),
}

impl fmt::Display for DropSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropSource::Client(name) => write!(f, "client {name}"),
            DropSource::Address(ip) => write!(f, "address {ip}"),
        }
    }
}

#[derive(Debug)]
struct Tally {
    since_logged: u64,
    logged: Instant,
}

/// Counts drops, and says when one should be logged: the first of a (source, reason), then
/// at most once per [`DROP_LOG_EVERY`] with the count since the last line.
#[derive(Debug, Default)]
pub(crate) struct DropLog {
    inner: Mutex<Drops>,
}

#[derive(Debug, Default)]
struct Drops {
    tallies: HashMap<(DropSource, DropReason), Tally>,
    total: u64,
}

/// One line to log: `count` drops since the last line for this source and reason.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DropLine {
    /// Who sent them.
    pub(crate) source: DropSource,
    /// Why they were dropped.
    pub(crate) reason: DropReason,
    /// How many since the last line (the first line: 1).
    pub(crate) count: u64,
    /// Every drop since the start.
    pub(crate) total: u64,
}

impl fmt::Display for DropLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dropped {} request(s) from {}: {} ({} dropped in all)",
            self.count,
            self.source,
            self.reason.describe(),
            self.total
        )
    }
}

impl DropLog {
    /// Counts one drop at `now`; the line to log, if one is due.
    pub(crate) fn count(
        &self,
        source: DropSource,
        reason: DropReason,
        now: Instant,
    ) -> Option<DropLine> {
        let mut drops = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        drops.total += 1;
        let total = drops.total;
        let key = (source, reason);
        if !drops.tallies.contains_key(&key) && drops.tallies.len() >= DROP_KEYS_MAX {
            drops
                .tallies
                .retain(|_, t| now.saturating_duration_since(t.logged) < DROP_LOG_EVERY);
            if drops.tallies.len() >= DROP_KEYS_MAX {
                // A flood from many addresses: only the total counts it, until room frees.
                return None;
            }
        }
        match drops.tallies.get_mut(&key) {
            Some(tally) => {
                tally.since_logged += 1;
                if now.saturating_duration_since(tally.logged) < DROP_LOG_EVERY {
                    return None;
                }
                let count = std::mem::take(&mut tally.since_logged);
                tally.logged = now;
                Some(DropLine {
                    source: key.0,
                    reason: key.1,
                    count,
                    total,
                })
            }
            None => {
                drops.tallies.insert(
                    key.clone(),
                    Tally {
                        since_logged: 0,
                        logged: now,
                    },
                );
                Some(DropLine {
                    source: key.0,
                    reason: key.1,
                    count: 1,
                    total,
                })
            }
        }
    }

    /// Every drop since the start.
    #[cfg(test)]
    pub(crate) fn total(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }

    /// Counts one drop and logs it when due (a warning).
    pub(crate) fn note(&self, source: DropSource, reason: DropReason, now: Instant) {
        if let Some(line) = self.count(source, reason, now) {
            tracing::warn!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shown_with_control_characters_escaped() {
        assert_eq!(Sanitized(b"alice").to_string(), "\"alice\"");
        assert_eq!(
            Sanitized(b"bob\nmfa-radius: accepted root").to_string(),
            "\"bob\\nmfa-radius: accepted root\""
        );
        assert_eq!(
            Sanitized(b"a\x1b[31m\"").to_string(),
            "\"a\\u{1b}[31m\\\"\""
        );
        assert_eq!(Sanitized(b"\xff").to_string(), "\"\u{fffd}\"");
        let long = Sanitized(&[b'x'; 300]).to_string();
        assert_eq!(long.chars().count(), SHOWN_MAX + 3);
    }

    #[test]
    fn drops_are_logged_once_a_minute_with_their_count() {
        let log = DropLog::default();
        let t0 = Instant::now();
        let vpn = || DropSource::Client("vpn1".into());
        let first = log.count(vpn(), DropReason::RateLimited, t0).unwrap();
        assert_eq!(first.count, 1);
        assert!(first.to_string().contains("client vpn1"), "{first}");
        for i in 1..=10 {
            let at = t0 + Duration::from_secs(i);
            assert_eq!(log.count(vpn(), DropReason::RateLimited, at), None);
        }
        // Another reason or source has its own line.
        assert!(log.count(vpn(), DropReason::Malformed, t0).is_some());
        let later = t0 + DROP_LOG_EVERY;
        let line = log.count(vpn(), DropReason::RateLimited, later).unwrap();
        assert_eq!((line.count, line.total), (11, 13));
    }

    #[test]
    fn a_flood_of_addresses_stays_within_the_bound() {
        let log = DropLog::default();
        let t0 = Instant::now();
        let mut lines = 0;
        for i in 0..5000u32 {
            let ip = IpAddr::V4((0x0a00_0000 + i).into());
            if log
                .count(DropSource::Address(ip), DropReason::UnknownClient, t0)
                .is_some()
            {
                lines += 1;
            }
        }
        assert_eq!(lines, DROP_KEYS_MAX);
        let inner = log.inner.lock().unwrap();
        assert_eq!((inner.tallies.len(), inner.total), (DROP_KEYS_MAX, 5000));
    }
}
