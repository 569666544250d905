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
            BenchError::Usage(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for BenchError {}
