//! How many connections a caller may hold. A local user who opens connections and never
//! answers must not use up the slots that sshd, sudo and login (root) need to authenticate
//! anyone: root has its own pool, other users share another, each user at most a few.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Connections root may hold at once (PAM callers such as sshd and sudo run as root).
pub const ROOT_CONNECTIONS: usize = 256;
/// Connections all other users together may hold at once.
pub const USER_CONNECTIONS: usize = 256;
/// Connections one non-root user may hold at once (a screen locker and an `mfa-enroll` need
/// one each).
pub const CONNECTIONS_PER_USER: usize = 8;

#[derive(Debug, Default)]
struct Counts {
    root: usize,
    users: usize,
    per_user: HashMap<u32, usize>,
}

/// The counts, shared by every connection.
#[derive(Debug, Default)]
pub struct ConnectionLimits {
    counts: Mutex<Counts>,
}

/// A connection slot, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<ConnectionLimits>,
    uid: u32,
}

impl ConnectionLimits {
    /// A slot for a connection from `uid`, or `None` if that caller holds its share.
    pub fn try_take(self: &Arc<Self>, uid: u32) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if uid == 0 {
            if counts.root >= ROOT_CONNECTIONS {
                return None;
            }
            counts.root += 1;
        } else {
            let mine = counts.per_user.get(&uid).copied().unwrap_or(0);
            if mine >= CONNECTIONS_PER_USER || counts.users >= USER_CONNECTIONS {
                return None;
            }
            counts.users += 1;
            counts.per_user.insert(uid, mine + 1);
        }
        Some(Slot {
            limits: self.clone(),
            uid,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .limits
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.uid == 0 {
            counts.root = counts.root.saturating_sub(1);
            return;
        }
        counts.users = counts.users.saturating_sub(1);
        if let Some(mine) = counts.per_user.get_mut(&self.uid) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                counts.per_user.remove(&self.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_user_cannot_take_more_than_its_share() {
        let limits = Arc::new(ConnectionLimits::default());
        let held: Vec<Slot> = (0..CONNECTIONS_PER_USER)
            .map(|_| limits.try_take(1000).expect("within share"))
            .collect();
        assert!(limits.try_take(1000).is_none());
        assert!(
            limits.try_take(1001).is_some(),
            "another user is not affected"
        );
        assert!(limits.try_take(0).is_some(), "root is not affected");
        drop(held);
        assert!(
            limits.try_take(1000).is_some(),
            "slots come back when dropped"
        );
    }

    #[test]
    fn many_users_together_cannot_starve_root() {
        let limits = Arc::new(ConnectionLimits::default());
        let mut held = Vec::new();
        let mut uid = 1000;
        while let Some(slot) = limits.try_take(uid) {
            held.push(slot);
            if held.len() % CONNECTIONS_PER_USER == 0 {
                uid += 1;
            }
        }
        assert_eq!(held.len(), USER_CONNECTIONS);
        let root: Vec<Slot> = (0..ROOT_CONNECTIONS)
            .map(|_| limits.try_take(0).expect("root's own pool"))
            .collect();
        assert!(limits.try_take(0).is_none());
        drop(root);
        drop(held);
        assert!(limits.counts.lock().unwrap().per_user.is_empty());
    }
}
