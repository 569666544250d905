//! Which account a name means, and who may act for it.
//!
//! Every name is resolved through NSS (`getpwnam`) to the account's canonical `pw_name`
//! before any decision: with SSSD (case-insensitive or fully qualified names) or winbind,
//! `Alice`, `alice@corp.example` and `CORP\alice` are one account, and must share one record,
//! one set of attempt limits and one answer to "is this user enrolled?".

use nix::unistd::User;

use crate::username;

/// An account NSS knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The canonical name (`pw_name`): records and limits are keyed by it.
    pub name: String,
    /// The account's uid.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

/// The account `name` means, or `None` if NSS does not know it or the name may not be looked
/// up at all. Blocking (NSS may ask a directory): call it off the async threads.
pub fn resolve(name: &str) -> Option<Account> {
    let valid = username::is_valid(name);
    // An invalid name is still looked up (in a form that cannot match) so that it takes the
    // same path, and about the same time, as an unknown one.
    let spelling = if valid {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(format!("%{}", username::file_stem(name)))
    };
    let user = User::from_name(&spelling).ok().flatten()?;
    // A canonical name that could not itself be looked up is not one we can key by.
    (valid && username::is_valid(&user.name)).then(|| Account {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    })
}

/// The names of `account`'s groups, primary and supplementary, as NSS gives them (so LDAP
/// and SSSD groups count). Blocking, like [`resolve`]. Groups without a name are left out;
/// a failed lookup gives what was found, and a policy keyed on groups then treats the
/// account as a member of none (exempt groups do not apply: it is asked).
pub fn group_names(account: &Account) -> Vec<String> {
    let Ok(name) = std::ffi::CString::new(account.name.as_str()) else {
        return Vec::new();
    };
    let gids = nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(account.gid))
        .unwrap_or_else(|_| vec![nix::unistd::Gid::from_raw(account.gid)]);
    gids.into_iter()
        .filter_map(|gid| nix::unistd::Group::from_gid(gid).ok().flatten())
        .map(|g| g.name)
        .collect()
}

/// Looks the groups of a name NSS does not know up all the same and forgets the answer, so
/// that a policy keyed on groups takes as long for unknown names as for accounts
/// (invariant 10). The name is given in a form no account can have.
pub fn decoy_group_lookup(name: &str) {
    if let Ok(name) = std::ffi::CString::new(format!("%{}", username::file_stem(name))) {
        let _ = nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(65534));
    }
}

/// Whether a peer with `peer_uid` may act for `account`: root for anyone, any other uid
/// only for its own account (an unknown name is nobody's own).
pub fn may_act_for(peer_uid: u32, account: Option<&Account>) -> bool {
    peer_uid == 0 || account.is_some_and(|a| a.uid == peer_uid)
}

/// This host's name, as codes and notices name it.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_in_the_root_group() {
        let root = resolve("root").unwrap();
        assert!(group_names(&root).contains(&"root".to_owned()));
    }

    #[test]
    fn root_resolves_to_itself() {
        let root = resolve("root").expect("every system has root");
        assert_eq!(
            root,
            Account {
                name: "root".to_owned(),
                uid: 0,
                gid: 0
            }
        );
    }

    #[test]
    fn unknown_and_invalid_names_resolve_to_nothing() {
        assert_eq!(resolve("no-such-user-mfa-test"), None);
        assert_eq!(resolve("../root"), None);
        assert_eq!(resolve(""), None);
    }

    #[test]
    fn only_root_or_the_owner_may_act() {
        let alice = Account {
            name: "alice".to_owned(),
            uid: 1000,
            gid: 1000,
        };
        assert!(may_act_for(0, Some(&alice)));
        assert!(may_act_for(0, None));
        assert!(may_act_for(1000, Some(&alice)));
        assert!(!may_act_for(1001, Some(&alice)));
        assert!(!may_act_for(1000, None));
    }
}
