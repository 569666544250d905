//! Which account a name means, and who may act for it.
//!
//! Every name is resolved through NSS (`getpwnam`) to the account's canonical `pw_name`
//! before any decision: with SSSD (case-insensitive or fully qualified names) or winbind,
//! `Alice`, `alice@corp.example` and `CORP\alice` are one account, and must share one record,
//! one set of attempt limits and one answer to "is this user enrolled?".

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use mfa_core::policy::{Policy, Require};
use nix::unistd::{Group, User};

use crate::audit::throttle::LogThrottle;
use crate::username::{self, UserName};

/// How often the daemon says again that a group the policy names cannot be found.
const MISSING_GROUP_LOG_INTERVAL: Duration = Duration::from_secs(600);

/// An account NSS knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The canonical name (`pw_name`): records and limits are keyed by it.
    pub name: UserName,
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
    let name = UserName::canonical(user.name).filter(|_| valid)?;
    Some(Account {
        name,
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

/// Whether NSS knows a group called `name` now. A lookup that fails (a directory out of
/// reach) counts as not knowing it: the callers then fail closed.
pub fn group_exists(name: &str) -> bool {
    matches!(Group::from_name(name), Ok(Some(_)))
}

/// The groups `account` is judged by under `policy`: its own ([`group_names`]), plus every
/// group `require_groups` or a rule names that NSS cannot find now. A group that vanished
/// (or a directory that does not answer) must not make its members unknown and so "not
/// required" or out of a stricter rule: it is treated as if everyone were in it. Such a
/// group is never added when `exempt_groups` names it too (an exemption is never granted
/// this way), and missing groups are logged, once per group every ten minutes. Blocking,
/// like [`resolve`].
pub fn groups_for_policy(account: &Account, policy: &Policy) -> Vec<String> {
    let mut groups = group_names(account);
    let required = policy
        .require_groups
        .iter()
        .filter(|_| policy.require == Require::Groups)
        .map(|g| (g, "policy.require_groups"));
    let ruled = policy
        .rules
        .iter()
        .flat_map(|r| r.groups.iter())
        .map(|g| (g, "policy.rule.groups"));
    let exempting = policy
        .exempt_groups
        .iter()
        .map(|g| (g, "policy.exempt_groups"));
    let mut missing = Vec::new();
    for (group, key) in required.chain(ruled).chain(exempting) {
        if groups.contains(group) || missing.contains(group) || group_exists(group) {
            continue;
        }
        log_missing_group(group, key);
        if key != "policy.exempt_groups" && !policy.exempt_groups.contains(group) {
            missing.push(group.clone());
        }
    }
    groups.extend(missing);
    groups
}

fn log_missing_group(group: &str, key: &str) {
    static LOG: LazyLock<LogThrottle> =
        LazyLock::new(|| LogThrottle::new(1, MISSING_GROUP_LOG_INTERVAL));
    let what = if key == "policy.exempt_groups" {
        "it exempts nobody"
    } else {
        "every user is treated as its member"
    };
    if let Some(dropped) = LOG.admit(group, Instant::now()) {
        let again = if dropped > 0 {
            format!(" ({dropped} logins since the last time this was logged)")
        } else {
            String::new()
        };
        tracing::warn!(
            "group `{group}` named by {key} is not known to NSS: {what} until it is back{again}"
        );
    }
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
                name: UserName::canonical("root".to_owned()).unwrap(),
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
    fn a_missing_group_counts_toward_asking_and_never_exempts() {
        let root = resolve("root").unwrap();
        let gone = "mfa-test-no-such-group".to_owned();
        let policy = Policy {
            require: Require::Groups,
            require_groups: vec![gone.clone(), "root".to_owned()],
            ..Policy::default()
        };
        let groups = groups_for_policy(&root, &policy);
        assert!(groups.contains(&gone) && groups.contains(&"root".to_owned()));
        let exempted_too = Policy {
            exempt_groups: vec![gone.clone()],
            ..policy
        };
        assert!(!groups_for_policy(&root, &exempted_too).contains(&gone));
        assert!(group_exists("root"));
        assert!(!group_exists(&gone));
    }

    #[test]
    fn only_root_or_the_owner_may_act() {
        let alice = Account {
            name: UserName::canonical("alice".to_owned()).unwrap(),
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
