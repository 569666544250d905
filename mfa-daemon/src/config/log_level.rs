//! `log_level`: how much the daemon's diagnostic log says. The audit log is a separate channel
//! and is not affected.

use std::fmt;

use serde::Deserialize;

/// The top-level `log_level` key: the least severe level written to stderr (the journal).
/// `RUST_LOG`, when set, overrides it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and what a sysadmin should look at.
    Warn,
    /// Starts, reloads and other events worth a line (the default).
    #[default]
    Info,
    /// Also each step of a request, and dependencies' diagnostics (TLS, database, SMTP, HTTP).
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The level's name as written in the config file and understood by `RUST_LOG`-style
    /// filters (`"info"`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
