//! Provider credentials read from files (or systemd credentials), never from the config
//! itself, refused when other users could read or change them.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::config::DeliveryConfigError;

/// Longest credential file read; a token or password is far shorter.
const MAX_CREDENTIAL_BYTES: u64 = 64 * 1024;

/// A token, password or key, wiped from memory when dropped; never printed.
pub(crate) struct Credential(Zeroizing<String>);

impl Credential {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// The directory systemd's `LoadCredential=` fills, if the daemon runs under it.
pub(crate) fn credentials_directory() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// Reads the credential that config key `key` names at `path`: a relative name is looked up
/// in `credentials_dir` (`$CREDENTIALS_DIRECTORY`). The file must be a regular file that only
/// its owner may read or write, not empty; one trailing newline is dropped.
pub(crate) fn read_credential(
    key: &str,
    path: &Path,
    credentials_dir: Option<&Path>,
) -> Result<Credential, DeliveryConfigError> {
    let path = if path.is_absolute() {
        path.to_owned()
    } else {
        let dir = credentials_dir.ok_or_else(|| {
            DeliveryConfigError::new(
                key,
                format!(
                    "{} is a relative path, which is looked up in $CREDENTIALS_DIRECTORY \
                     (systemd LoadCredential=), but that is not set: give an absolute path",
                    path.display()
                ),
            )
        })?;
        dir.join(path)
    };
    let fail = |problem: String| DeliveryConfigError::new(key, problem);
    let mut file =
        File::open(&path).map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot stat {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(fail(format!("{} is not a regular file", path.display())));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "{} has mode {mode:04o}: a credential file must not be readable or writable by \
             group or others (chmod 600 it)",
            path.display()
        )));
    }
    if meta.len() > MAX_CREDENTIAL_BYTES {
        return Err(fail(format!(
            "{} is {} bytes long: that is no credential",
            path.display(),
            meta.len()
        )));
    }
    // Sized up front so that the buffer never moves and leaves an unwiped copy behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    (&mut file)
        .take(MAX_CREDENTIAL_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    let mut end = bytes.len();
    if bytes[..end].ends_with(b"\n") {
        end -= 1;
        if bytes[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    if end == 0 {
        return Err(fail(format!("{} is empty", path.display())));
    }
    let text = std::str::from_utf8(&bytes[..end])
        .map_err(|_| fail(format!("{} is not UTF-8 text", path.display())))?;
    if text.chars().any(char::is_control) {
        return Err(fail(format!(
            "{} holds a control character or more than one line",
            path.display()
        )));
    }
    Ok(Credential(Zeroizing::new(text.to_owned())))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write(dir: &Path, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn reads_and_trims_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "token", "s3cret\n", 0o600);
        let read = read_credential("twilio.auth_token_file", &path, None).unwrap();
        assert_eq!(read.expose(), "s3cret");
        let path = write(dir.path(), "crlf", "pw\r\n", 0o400);
        assert_eq!(read_credential("k", &path, None).unwrap().expose(), "pw");
        let path = write(dir.path(), "inner", "pw\n\n", 0o400);
        assert!(read_credential("k", &path, None).is_err());
    }

    #[test]
    fn group_or_other_access_is_refused_with_key_path_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o640, 0o604, 0o620, 0o602, 0o644, 0o666] {
            let path = write(dir.path(), "token", "s3cret", mode);
            let e = read_credential("twilio.auth_token_file", &path, None).unwrap_err();
            assert_eq!(e.key, "twilio.auth_token_file");
            let shown = e.to_string();
            assert!(shown.contains(&path.display().to_string()), "{shown}");
            assert!(shown.contains(&format!("{mode:04o}")), "{shown}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }

    #[test]
    fn empty_missing_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for contents in ["", "\n", "\r\n"] {
            let path = write(dir.path(), "empty", contents, 0o600);
            let e = read_credential("webhook.secret_file", &path, None).unwrap_err();
            assert!(e.problem.contains("empty"), "{e}");
        }
        let e = read_credential("k", &dir.path().join("missing"), None).unwrap_err();
        assert!(e.problem.contains("cannot open"), "{e}");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let e = read_credential("k", dir.path(), None).unwrap_err();
        assert!(e.problem.contains("not a regular file"), "{e}");
    }

    #[test]
    fn relative_names_are_looked_up_in_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "twilio-token", "tok\n", 0o400);
        let read = read_credential(
            "twilio.auth_token_file",
            Path::new("twilio-token"),
            Some(dir.path()),
        )
        .unwrap();
        assert_eq!(read.expose(), "tok");
        let e = read_credential("email.password_file", Path::new("smtp"), None).unwrap_err();
        assert_eq!(e.key, "email.password_file");
        assert!(e.problem.contains("CREDENTIALS_DIRECTORY"), "{e}");
    }

    #[test]
    fn debug_hides_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t", "hunter2", 0o600);
        let read = read_credential("k", &path, None).unwrap();
        assert!(!format!("{read:?}").contains("hunter2"));
    }
}
