//! Who is calling: the account a command acts for unless `--user` names another.

use nix::unistd::{Uid, User, getuid};

use crate::error::EnrollError;

/// The user name of the calling (real) uid.
pub fn calling_user() -> Result<String, EnrollError> {
    user_name(getuid())
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
    fn uid_without_passwd_entry_is_an_error() {
        // Far above any uid a test machine hands out.
        let err = user_name(Uid::from_raw(3_999_999_937)).unwrap_err();
        assert!(
            matches!(err, EnrollError::UnknownCaller { uid: 3_999_999_937 }),
            "{err}"
        );
    }
}
