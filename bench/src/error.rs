//! Why a benchmark could not run.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a benchmark could not run. Slow or failed authentications are results, not errors.
#[derive(Debug)]
pub enum BenchError {
    /// An I/O error.
    Io {
        /// What was being done, e.g. `write /tmp/x/users.txt`.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// A line of a roster file that cannot be read.
    Roster {
        /// The roster file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// `mfa-enroll` did not enroll a bench user.
    Enroll {
        /// The bench user.
        user: String,
        /// What went wrong, with `mfa-enroll`'s own message when it gave one.
        why: String,
    },
    /// The daemon's file engine refused to open the state directory or write a record.
    Store {
        /// The user whose record was being written, if any.
        user: Option<String>,
        /// The engine's error.
        source: mfa_daemon::store::StoreError,
    },
    /// argon2 could not hash the recovery code copied into every written record.
    Hash(String),
    /// A program the bench runs did not do what it must (start, or leave a trace).
    Program {
        /// The program.
        program: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The arguments cannot be used together.
    Usage(String),
}

impl BenchError {
    /// An [`BenchError::Io`] for `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Io { what, source } => write!(f, "cannot {what}: {source}"),
            BenchError::Roster { path, line, why } => {
                write!(f, "{}:{line}: {why}", path.display())
            }
            BenchError::Enroll { user, why } => write!(f, "cannot enroll {user}: {why}"),
            BenchError::Store {
                user: Some(user),
                source,
            } => {
                write!(f, "cannot write the record of {user}: {source}")
            }
            BenchError::Store { user: None, source } => write!(f, "{source}"),
            BenchError::Hash(why) => write!(f, "cannot hash a recovery code: {why}"),
            BenchError::Program { program, why } => write!(f, "{}: {why}", program.display()),
            BenchError::Usage(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Io { source, .. } => Some(source),
            BenchError::Store { source, .. } => Some(source),
            _ => None,
        }
    }
}
