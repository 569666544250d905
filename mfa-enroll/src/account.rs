//! Who is calling (the account a command acts for unless `--user` names another), and who
//! may answer (the daemon's account).

use nix::unistd::{Uid, User, geteuid, getuid};

use crate::error::EnrollError;

/// The user name of the calling (real) uid.
pub fn calling_user() -> Result<String, EnrollError> {
    user_name(getuid())
}

/// Whether this process runs as root, which then talks to the daemon's privileged socket
/// (the effective uid is what the daemon sees and what the socket's permissions check).
pub fn runs_as_root() -> bool {
    geteuid().is_root()
}

/// The uids whose listener on the daemon's socket may be talked to: root, and `daemon_user`
/// when the passwd database has it.
pub fn trusted_listeners(daemon_user: &str) -> Result<Vec<u32>, EnrollError> {
    let mut trusted = vec![0];
    match User::from_name(daemon_user) {
        Ok(Some(user)) => trusted.push(user.uid.as_raw()),
        Ok(None) => {}
        // getpwnam(3): these also mean "not found" from some NSS sources (nss_wrapper says
        // ENOENT); only root is trusted then, as for a clean miss.
        Err(
            nix::errno::Errno::ENOENT
            | nix::errno::Errno::ESRCH
            | nix::errno::Errno::EBADF
            | nix::errno::Errno::EPERM,
        ) => {}
        Err(source) => {
            return Err(EnrollError::DaemonUserLookup {
                name: daemon_user.to_owned(),
                source,
            });
        }
    }
    Ok(trusted)
}

/// The user name of `uid` from the passwd database.
fn user_name(uid: Uid) -> Result<String, EnrollError> {
    match User::from_uid(uid) {
        Ok(Some(user)) => Ok(user.name),
        Ok(None) => Err(EnrollError::UnknownCaller { uid: uid.as_raw() }),
        Err(source) => Err(EnrollError::CallerLookup {
            uid: uid.as_raw(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_named_root() {
        assert_eq!(user_name(Uid::from_raw(0)).unwrap(), "root");
    }

    #[test]
    fn trusted_listeners_are_root_and_the_daemon_user_if_known() {
        assert_eq!(trusted_listeners("root").unwrap(), vec![0, 0]);
        assert_eq!(
            trusted_listeners("no-such-user-mfa-enroll-test").unwrap(),
            vec![0]
        );
    }

    #[test]
    fn uid_without_passwd_entry_is_an_error() {
        // Far above any uid a test machine hands out.
        let err = user_name(Uid::from_raw(3_999_999_937)).unwrap_err();
        assert!(
            matches!(err, EnrollError::UnknownCaller { uid: 3_999_999_937 }),
            "{err}"
        );
    }
}
