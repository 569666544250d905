//! Everything that can stop a command, each with a message an admin can act on.

use std::fmt;
use std::io;
use std::path::PathBuf;

use mfa_enroll::EnrollError;

/// Why a command failed. `crate::main` prints it as `mfactl: <Display>` and exits 1.
#[derive(Debug)]
pub enum CtlError {
    /// Not run as root.
    NotRoot,
    /// Talking to the daemon failed, or it refused (its own words).
    Daemon(EnrollError),
    /// `reset` without `--yes` and without a terminal to ask at.
    ConfirmationNeeded {
        /// The user that would have been reset.
        user: String,
    },
    /// The admin did not confirm `reset`.
    NotConfirmed,
    /// Reading the confirmation failed.
    Input(io::Error),
    /// Writing output or a prompt failed.
    Output(io::Error),
    /// An import file (or the passwd database) that cannot be read or parsed: nothing was
    /// imported.
    File(Box<FileError>),
    /// Arguments that parse but do not fit together.
    Usage(String),
    /// Some users of an import were refused (each line says why); the others were done.
    ImportRefused {
        /// How many were refused.
        refused: usize,
        /// How many users the import had.
        total: usize,
    },
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtlError::NotRoot => write!(
                f,
                "must be run as root: it reads and changes every user's factors and lockouts \
                 through mfa-daemon's privileged socket (users see their own with \
                 `mfa-enroll status`)"
            ),
            CtlError::Daemon(e) => write!(f, "{e}"),
            CtlError::ConfirmationNeeded { user } => write!(
                f,
                "refusing to reset {} without confirmation: standard input is not a terminal; \
                 add --yes to reset anyway",
                mfa_enroll::one_line(user)
            ),
            CtlError::NotConfirmed => write!(f, "not confirmed; nothing was changed"),
            CtlError::Input(e) => write!(f, "cannot read the confirmation: {e}"),
            CtlError::Output(e) => write!(f, "cannot write output: {e}"),
            CtlError::File(e) => write!(f, "{e}; nothing was imported"),
            CtlError::Usage(text) => f.write_str(text),
            CtlError::ImportRefused { refused, total } => write!(
                f,
                "{refused} of {total} users were refused (see each line); the others are done"
            ),
        }
    }
}

impl std::error::Error for CtlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CtlError::Daemon(e) => Some(e),
            CtlError::Input(e) | CtlError::Output(e) => Some(e),
            CtlError::File(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<EnrollError> for CtlError {
    fn from(e: EnrollError) -> Self {
        CtlError::Daemon(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_one_line_and_says_what_to_do() {
        let cases = [
            (CtlError::NotRoot, "root"),
            (
                CtlError::ConfirmationNeeded {
                    user: "bob\nsmith".into(),
                },
                "--yes",
            ),
            (CtlError::NotConfirmed, "nothing was changed"),
        ];
        for (e, needle) in cases {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text:?}");
            assert!(text.contains(needle), "{text:?}");
        }
    }
}

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// The path is a symbolic link.
    #[error("is a symbolic link; refusing to follow it")]
    Symlink,
    /// Not there.
    #[error("does not exist")]
    Missing,
    /// A directory, a FIFO, a device.
    #[error("is not a regular file")]
    NotRegular,
    /// Owned by someone else.
    #[error("is owned by uid {found}, not {expected}")]
    Owner {
        /// Its owner.
        found: u32,
        /// Who should own it.
        expected: String,
    },
    /// Others may change it.
    #[error("is writable by group or others (mode {mode:04o})")]
    Writable {
        /// Its permission bits.
        mode: u32,
    },
    /// Larger than accepted.
    #[error("is larger than {limit} bytes")]
    TooLarge {
        /// The most accepted.
        limit: u64,
    },
    /// Opening or reading failed.
    #[error("cannot be read: {0}")]
    Io(#[source] io::Error),
    /// The content is not what the format needs.
    #[error("{0}")]
    Parse(#[source] Box<mfa_import::ImportError>),
    /// A pre-shared key file that holds no 16-byte key.
    #[error("holds no pre-shared key: write 32 hex digits (or the 16 bytes themselves)")]
    Key,
}

/// A file that cannot be imported, by path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: FileProblem,
}
