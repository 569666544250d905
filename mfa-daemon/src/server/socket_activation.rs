//! Sockets the service manager bound for the daemon (`mfa-daemon.socket` and
//! `mfa-daemon-privileged.socket`, sd_listen_fds(3)). systemd keeps them listening while no
//! daemon runs, at boot and across a restart, and the kernel queues every connection until the
//! next daemon accepts it: pam_mfa.so never finds "no daemon" in those moments.
//!
//! Each socket is recognised by its `FileDescriptorName=` and checked before it is trusted:
//! a listening Unix stream socket bound at the very path the config names, so a unit that
//! disagrees with the config is refused rather than served on the wrong door.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::sys::socket::{SockType, getsockopt, sockopt};

/// `FileDescriptorName=` of the socket every user reaches.
pub(crate) const PUBLIC_NAME: &str = "public";
/// `FileDescriptorName=` of root's socket, in the private directory.
pub(crate) const PRIVILEGED_NAME: &str = "privileged";

/// The listening sockets the service manager passed, with their names; none when the daemon
/// was not socket-activated (`$LISTEN_PID` is not its pid, or `$LISTEN_FDS` is unset).
#[derive(Debug)]
pub struct PassedSockets(io::Result<Vec<(OwnedFd, String)>>);

impl PassedSockets {
    /// The descriptors sd_listen_fds(3) found (or why it could not) and `$LISTEN_FDNAMES`,
    /// paired as sd_listen_fds_with_names(3) pairs them: names are read only when
    /// descriptors were passed to this process, and without any each is "unknown".
    pub fn new(listed: io::Result<Vec<OwnedFd>>, names: Option<String>) -> PassedSockets {
        PassedSockets(listed.and_then(|fds| {
            if fds.is_empty() {
                return Ok(Vec::new());
            }
            let names: Vec<String> = match names {
                Some(names) => names.split(':').map(str::to_owned).collect(),
                None => vec!["unknown".to_owned(); fds.len()],
            };
            if names.len() != fds.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "$LISTEN_FDS passes {} descriptors, $LISTEN_FDNAMES names {}",
                        fds.len(),
                        names.len()
                    ),
                ));
            }
            Ok(fds.into_iter().zip(names).collect())
        }))
    }

    /// The public and the privileged socket, each checked against the path the config gives
    /// it; `None` when nothing was passed.
    pub(crate) fn take(
        self,
        public_path: &Path,
        privileged_path: &Path,
    ) -> Result<Option<(UnixListener, UnixListener)>, ActivationError> {
        let passed = self.0.map_err(ActivationError::Environment)?;
        if passed.is_empty() {
            return Ok(None);
        }
        let mut public = None;
        let mut privileged = None;
        for (fd, name) in passed {
            let slot = match name.as_str() {
                PUBLIC_NAME => &mut public,
                PRIVILEGED_NAME => &mut privileged,
                _ => {
                    return Err(ActivationError::UnknownName {
                        fd: fd.as_raw_fd(),
                        name,
                    });
                }
            };
            if slot.is_some() {
                return Err(ActivationError::Duplicate { name });
            }
            *slot = Some(fd);
        }
        let public = public.ok_or(ActivationError::Missing(PUBLIC_NAME))?;
        let privileged = privileged.ok_or(ActivationError::Missing(PRIVILEGED_NAME))?;
        Ok(Some((
            checked(public, PUBLIC_NAME, public_path)?,
            checked(privileged, PRIVILEGED_NAME, privileged_path)?,
        )))
    }
}

/// The passed descriptor as a listener, if it is a listening Unix stream socket bound at
/// `expected`.
fn checked(
    fd: OwnedFd,
    name: &'static str,
    expected: &Path,
) -> Result<UnixListener, ActivationError> {
    let number = fd.as_raw_fd();
    let refuse = |problem| ActivationError::Unusable {
        name,
        fd: number,
        problem,
    };
    match getsockopt(&fd, sockopt::SockType) {
        Ok(SockType::Stream) => {}
        Ok(other) => return Err(refuse(Problem::NotStream(other))),
        Err(e) => return Err(refuse(Problem::NotSocket(e))),
    }
    let listener = UnixListener::from(fd);
    let bound = listener
        .local_addr()
        .map_err(|e| refuse(Problem::NotUnix(e)))?;
    match getsockopt(&listener, sockopt::AcceptConn) {
        Ok(true) => {}
        Ok(false) => return Err(refuse(Problem::NotListening)),
        Err(e) => return Err(refuse(Problem::NotSocket(e))),
    }
    match bound.as_pathname() {
        Some(path) if path == expected => Ok(listener),
        other => Err(refuse(Problem::WrongPath {
            bound: other.map(Path::to_owned),
            expected: expected.to_owned(),
        })),
    }
}

/// Why the sockets the service manager passed are not used. The daemon exits: serving on a
/// socket other than the one the config and the module agree on would leave logins without
/// a daemon as surely as not serving at all, and the admin sees why at once.
#[derive(Debug)]
pub enum ActivationError {
    /// `$LISTEN_FDS`, `$LISTEN_PID` or `$LISTEN_FDNAMES` is malformed, or a descriptor is not
    /// open.
    Environment(io::Error),
    /// A descriptor with a name this daemon does not know.
    UnknownName {
        /// Its number.
        fd: RawFd,
        /// Its `FileDescriptorName=`.
        name: String,
    },
    /// Two descriptors with the same name.
    Duplicate {
        /// The name given twice.
        name: String,
    },
    /// One of the two sockets was not passed.
    Missing(&'static str),
    /// A passed descriptor is not the socket its name promises.
    Unusable {
        /// Its `FileDescriptorName=`.
        name: &'static str,
        /// Its number.
        fd: RawFd,
        /// What is wrong with it.
        problem: Problem,
    },
}

/// What is wrong with one passed descriptor.
#[derive(Debug)]
pub enum Problem {
    /// Not a socket at all.
    NotSocket(nix::Error),
    /// A socket of another type than a stream (e.g. `ListenSequentialPacket=`).
    NotStream(SockType),
    /// Not a Unix socket (e.g. a TCP port in `ListenStream=`).
    NotUnix(io::Error),
    /// Bound but not listening.
    NotListening,
    /// Bound elsewhere than the config's socket path (or unnamed, or abstract).
    WrongPath {
        /// Where it is bound.
        bound: Option<PathBuf>,
        /// Where the config says it must be.
        expected: PathBuf,
    },
}

impl fmt::Display for ActivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: &str = "mfa-daemon.socket must pass one socket named public and \
                             mfa-daemon-privileged.socket one named privileged \
                             (FileDescriptorName=)";
        write!(f, "socket activation: ")?;
        match self {
            ActivationError::Environment(e) => write!(
                f,
                "cannot take the sockets passed in $LISTEN_FDS/$LISTEN_FDNAMES: {e}"
            ),
            ActivationError::UnknownName { fd, name } => {
                write!(f, "descriptor {fd} is named {name:?}; {UNITS}")
            }
            ActivationError::Duplicate { name } => {
                write!(f, "two descriptors are named {name:?}; {UNITS}")
            }
            ActivationError::Missing(name) => {
                write!(f, "no socket named {name:?} was passed; {UNITS}")
            }
            ActivationError::Unusable { name, fd, problem } => {
                write!(f, "the socket named {name:?} (descriptor {fd}) ")?;
                match problem {
                    Problem::NotSocket(e) => write!(f, "is not a socket: {e}"),
                    Problem::NotStream(kind) => write!(
                        f,
                        "is a {kind:?} socket, not a stream socket (use ListenStream=)"
                    ),
                    Problem::NotUnix(e) => write!(
                        f,
                        "is not a Unix socket ({e}); ListenStream= must name a file path"
                    ),
                    Problem::NotListening => write!(f, "is not listening"),
                    Problem::WrongPath { bound, expected } => {
                        match bound {
                            Some(path) => write!(f, "is bound to {}", path.display())?,
                            None => write!(f, "is not bound to a file path")?,
                        }
                        write!(
                            f,
                            ", but the config's socket puts it at {}: the unit's ListenStream= \
                             and `socket` in the config must agree",
                            expected.display()
                        )
                    }
                }
            }
        }
    }
}

impl std::error::Error for ActivationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ActivationError::Environment(e) => Some(e),
            ActivationError::Unusable {
                problem: Problem::NotSocket(e),
                ..
            } => Some(e),
            ActivationError::Unusable {
                problem: Problem::NotUnix(e),
                ..
            } => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptors(count: usize) -> Vec<OwnedFd> {
        (0..count)
            .map(|_| OwnedFd::from(std::fs::File::open("/dev/null").unwrap()))
            .collect()
    }

    fn names(passed: &PassedSockets) -> Vec<&str> {
        let listed = passed.0.as_ref().unwrap();
        listed.iter().map(|(_, name)| name.as_str()).collect()
    }

    #[test]
    fn names_pair_with_descriptors_in_order() {
        let passed = PassedSockets::new(Ok(descriptors(2)), Some("public:privileged".into()));
        assert_eq!(names(&passed), ["public", "privileged"]);
    }

    #[test]
    fn without_names_each_descriptor_is_unknown() {
        let passed = PassedSockets::new(Ok(descriptors(2)), None);
        assert_eq!(names(&passed), ["unknown", "unknown"]);
    }

    #[test]
    fn names_without_descriptors_mean_not_activated() {
        // Inherited $LISTEN_FDNAMES with a $LISTEN_PID of another process.
        let passed = PassedSockets::new(Ok(Vec::new()), Some("public:privileged".into()));
        assert!(names(&passed).is_empty());
        let taken = passed.take(Path::new("/x/mfa.sock"), Path::new("/x/private/mfa.sock"));
        assert!(matches!(taken, Ok(None)));
    }

    #[test]
    fn a_count_mismatch_is_refused_with_both_counts() {
        let passed = PassedSockets::new(Ok(descriptors(2)), Some("public".into()));
        let err = passed
            .take(Path::new("/x/mfa.sock"), Path::new("/x/private/mfa.sock"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("$LISTEN_FDS passes 2 descriptors, $LISTEN_FDNAMES names 1"),
            "{err}"
        );
    }
}
