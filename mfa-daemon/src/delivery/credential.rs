//! Provider credentials read from files (or systemd credentials), never from the config
//! itself, refused when other users could read or change them.

use std::path::Path;

use zeroize::Zeroizing;

use super::config::DeliveryConfigError;
pub(crate) use crate::secret_file::credentials_directory;
use crate::secret_file::read_text;

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

/// Reads the credential that config key `key` names at `path`: a relative name is looked up
/// in `credentials_dir` (`$CREDENTIALS_DIRECTORY`). The file must be a regular file that only
/// its owner may read or write, not empty; one trailing newline is dropped
/// ([`crate::secret_file`] checks it).
pub(crate) fn read_credential(
    key: &str,
    path: &Path,
    credentials_dir: Option<&Path>,
) -> Result<Credential, DeliveryConfigError> {
    read_text(path, credentials_dir)
        .map(Credential)
        .map_err(|e| DeliveryConfigError::new(key, e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::secret_file::tests::write;

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
