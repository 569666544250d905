//! Secret files: the one place that reads a file holding a secret (a provider's token or
//! password, the database's connection string, the key records are sealed with) and checks
//! that nobody else could read or change it.
//!
//! Every secret file is looked up the same way (a relative name inside systemd's
//! `$CREDENTIALS_DIRECTORY`), must be a regular file owned by root or by the daemon's user,
//! with no access for group or others, and of a bounded size; its bytes live in a buffer that
//! is wiped when dropped. An error names the file and what is wrong with it, never its
//! content.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Longest text secret read; a token, password or connection string is far shorter.
pub(crate) const MAX_TEXT_BYTES: u64 = 64 * 1024;

/// The directory systemd's `LoadCredential=` fills, if the daemon runs under it.
pub(crate) fn credentials_directory() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// What a secret file holds: how errors name it and what size it must have.
#[derive(Debug, Clone, Copy)]
pub struct SecretKind {
    /// How an error names such a file ("a credential file", "the key").
    pub name: &'static str,
    /// The size it must have.
    pub size: Size,
}

/// The size a secret file must have.
#[derive(Debug, Clone, Copy)]
pub enum Size {
    /// One line of UTF-8 text, not empty, of at most this many bytes.
    Text(u64),
    /// Exactly this many bytes; `how` tells the admin how to make such a file.
    Exactly {
        /// Bytes.
        len: usize,
        /// How to make a right one.
        how: &'static str,
    },
}

/// A provider's token or password, or the database's connection string.
pub(crate) const CREDENTIAL: SecretKind = SecretKind {
    name: "a credential file",
    size: Size::Text(MAX_TEXT_BYTES),
};

/// Why a secret file was refused. Shown as the file's path and the problem.
#[derive(Debug)]
pub struct SecretFileError {
    /// The file (after the lookup in `$CREDENTIALS_DIRECTORY`).
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: SecretFileProblem,
}

/// What is wrong with a secret file.
#[derive(Debug)]
pub enum SecretFileProblem {
    /// A relative name, but no `$CREDENTIALS_DIRECTORY` to find it in.
    RelativeWithoutCredentialsDirectory,
    /// It cannot be opened.
    Open(io::Error),
    /// Its metadata cannot be read.
    Stat(io::Error),
    /// Reading it failed.
    Read(io::Error),
    /// A directory, device, socket or the like.
    NotRegularFile,
    /// Owned by a user other than root and the daemon's, who could change it.
    Owner {
        /// The file's owner.
        uid: u32,
        /// The daemon's effective uid.
        daemon: u32,
    },
    /// Group or others may read or write it.
    Mode {
        /// Its permission bits.
        mode: u32,
        /// What the file holds.
        kind: SecretKind,
    },
    /// Longer than a text secret can be.
    TooLong {
        /// Its size in bytes.
        len: u64,
    },
    /// Nothing in it but a line end.
    Empty,
    /// Not UTF-8 text.
    NotUtf8,
    /// A control character, or more than one line.
    ControlCharacter,
    /// Not the size a key must have.
    WrongLength {
        /// Whether it is longer (rather than shorter) than `len`.
        longer: bool,
        /// The size it must have.
        len: usize,
        /// How to make a right one.
        how: &'static str,
    },
}

impl std::fmt::Display for SecretFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display();
        match &self.problem {
            SecretFileProblem::RelativeWithoutCredentialsDirectory => write!(
                f,
                "{path} is a relative path, which is looked up in $CREDENTIALS_DIRECTORY \
                 (systemd LoadCredential=), but that is not set: give an absolute path"
            ),
            SecretFileProblem::Open(e) => write!(f, "cannot open {path}: {e}"),
            SecretFileProblem::Stat(e) => write!(f, "cannot stat {path}: {e}"),
            SecretFileProblem::Read(e) => write!(f, "cannot read {path}: {e}"),
            SecretFileProblem::NotRegularFile => write!(f, "{path} is not a regular file"),
            SecretFileProblem::Owner { uid, daemon } => write!(
                f,
                "{path} is owned by uid {uid}, who could change it: a secret file must belong \
                 to root or to the daemon's user (uid {daemon})"
            ),
            SecretFileProblem::Mode { mode, kind } => write!(
                f,
                "{path} has mode {mode:04o}: {} must not be readable or writable by group or \
                 others (chmod 600 it)",
                kind.name
            ),
            SecretFileProblem::TooLong { len } => {
                write!(f, "{path} is {len} bytes long: that is no credential")
            }
            SecretFileProblem::Empty => write!(f, "{path} is empty"),
            SecretFileProblem::NotUtf8 => write!(f, "{path} is not UTF-8 text"),
            SecretFileProblem::ControlCharacter => {
                write!(f, "{path} holds a control character or more than one line")
            }
            SecretFileProblem::WrongLength { longer, len, how } => write!(
                f,
                "{path} is {} than {len} bytes: {how}",
                if *longer { "longer" } else { "shorter" }
            ),
        }
    }
}

impl std::error::Error for SecretFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            SecretFileProblem::Open(e)
            | SecretFileProblem::Stat(e)
            | SecretFileProblem::Read(e) => Some(e),
            _ => None,
        }
    }
}

/// Where `path` is: itself if absolute, else the credential of that name in
/// `credentials_dir` (`$CREDENTIALS_DIRECTORY`).
pub(crate) fn resolve(
    path: &Path,
    credentials_dir: Option<&Path>,
) -> Result<PathBuf, SecretFileError> {
    if path.is_absolute() {
        return Ok(path.to_owned());
    }
    match credentials_dir {
        Some(dir) => Ok(dir.join(path)),
        None => Err(SecretFileError {
            path: path.to_owned(),
            problem: SecretFileProblem::RelativeWithoutCredentialsDirectory,
        }),
    }
}

/// Reads the secret file `path` holding a `kind` (a relative name is looked up in
/// `credentials_dir`), after checking its type, owner, mode and size. For [`Size::Exactly`]
/// the bytes are the file's; for [`Size::Text`] see [`read_text`].
pub(crate) fn read(
    path: &Path,
    credentials_dir: Option<&Path>,
    kind: SecretKind,
) -> Result<Zeroizing<Vec<u8>>, SecretFileError> {
    read_resolved(&resolve(path, credentials_dir)?, kind)
}

/// [`read`] of a path already resolved.
fn read_resolved(path: &Path, kind: SecretKind) -> Result<Zeroizing<Vec<u8>>, SecretFileError> {
    let fail = |problem| SecretFileError {
        path: path.to_owned(),
        problem,
    };
    let mut file = File::open(path).map_err(|e| fail(SecretFileProblem::Open(e)))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(SecretFileProblem::Stat(e)))?;
    check(&meta, kind).map_err(fail)?;
    let limit = match kind.size {
        Size::Text(max) => max,
        // One byte more than the key, to tell a longer file from a right one.
        Size::Exactly { len, .. } => len as u64 + 1,
    };
    // Sized up front so that the buffer never moves and leaves an unwiped copy behind.
    let capacity = meta.len().min(limit) as usize + 1;
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    (&mut file)
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(SecretFileProblem::Read(e)))?;
    if let Size::Exactly { len, how } = kind.size
        && bytes.len() != len
    {
        return Err(fail(SecretFileProblem::WrongLength {
            longer: bytes.len() > len,
            len,
            how,
        }));
    }
    Ok(bytes)
}

/// The checks made before reading: a regular file, owned by root or the daemon's user, with
/// no access for group or others, and not longer than a text secret can be.
fn check(meta: &std::fs::Metadata, kind: SecretKind) -> Result<(), SecretFileProblem> {
    if !meta.is_file() {
        return Err(SecretFileProblem::NotRegularFile);
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretFileProblem::Mode { mode, kind });
    }
    let daemon = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != daemon {
        return Err(SecretFileProblem::Owner {
            uid: meta.uid(),
            daemon,
        });
    }
    if let Size::Text(max) = kind.size
        && meta.len() > max
    {
        return Err(SecretFileProblem::TooLong { len: meta.len() });
    }
    Ok(())
}

/// Reads a text secret (a [`CREDENTIAL`]): one line, not empty, UTF-8, no control
/// character; one trailing newline (or CRLF) is dropped.
pub(crate) fn read_text(
    path: &Path,
    credentials_dir: Option<&Path>,
) -> Result<Zeroizing<String>, SecretFileError> {
    let path = resolve(path, credentials_dir)?;
    let bytes = read_resolved(&path, CREDENTIAL)?;
    let fail = |problem| SecretFileError {
        path: path.clone(),
        problem,
    };
    let mut end = bytes.len();
    if bytes[..end].ends_with(b"\n") {
        end -= 1;
        if bytes[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    if end == 0 {
        return Err(fail(SecretFileProblem::Empty));
    }
    let text = std::str::from_utf8(&bytes[..end]).map_err(|_| fail(SecretFileProblem::NotUtf8))?;
    if text.chars().any(char::is_control) {
        return Err(fail(SecretFileProblem::ControlCharacter));
    }
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const KEY: SecretKind = SecretKind {
        name: "the key",
        size: Size::Exactly {
            len: 4,
            how: "make one",
        },
    };

    /// Writes `contents` to a new file `name` in `dir` with `mode`: a secret file as the
    /// tests of its readers want it.
    pub(crate) fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_file_another_user_owns_is_refused_naming_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "token", b"s3cret\n", 0o600);
        let daemon = nix::unistd::geteuid().as_raw();
        assert_eq!(&*read_text(&path, None).unwrap(), "s3cret");
        // Only root can give a file away; as another user this check cannot be made.
        if daemon != 0 {
            return;
        }
        nix::unistd::chown(&path, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        let e = read_text(&path, None).unwrap_err();
        assert!(matches!(
            e.problem,
            SecretFileProblem::Owner { uid: 65534, .. }
        ));
        let shown = e.to_string();
        assert!(shown.contains(&path.display().to_string()), "{shown}");
        assert!(shown.contains("owned by uid 65534"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn exact_sizes_are_read_and_others_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = read(&write(dir.path(), "k", b"\x00\x01\x02\n", 0o400), None, KEY).unwrap();
        assert_eq!(&key[..], b"\x00\x01\x02\n");
        for (bytes, words) in [(&b"abc"[..], "shorter than 4"), (b"abcde", "longer than 4")] {
            let path = write(dir.path(), "k", bytes, 0o600);
            let e = read(&path, None, KEY).unwrap_err().to_string();
            assert!(e.contains(words) && e.contains("make one"), "{e}");
        }
        let e = read(&write(dir.path(), "k", b"abcd", 0o660), None, KEY).unwrap_err();
        assert!(e.to_string().contains("mode 0660: the key must not"), "{e}");
    }

    #[test]
    fn io_errors_are_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_text(&dir.path().join("missing"), None).unwrap_err();
        let source = std::error::Error::source(&e).expect("the open error");
        assert!(e.to_string().ends_with(&source.to_string()), "{e}");
        let e = read_text(Path::new("relative"), None).unwrap_err();
        assert!(std::error::Error::source(&e).is_none());
        assert!(e.to_string().contains("CREDENTIALS_DIRECTORY"), "{e}");
    }
}
