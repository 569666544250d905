//! Who may act for whom: uid 0 for anyone, any other uid only for the account with that uid.

use nix::unistd::User;

/// Whether a peer with `peer_uid` may act for `user`. Looks the account up in the system's
/// user database (blocking: call it off the async threads).
pub fn may_act_for(peer_uid: u32, user: &str) -> bool {
    if peer_uid == 0 {
        return true;
    }
    matches!(User::from_name(user), Ok(Some(account)) if account.uid.as_raw() == peer_uid)
}
