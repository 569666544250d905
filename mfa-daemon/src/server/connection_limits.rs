//! How many connections a caller may hold on the public socket. Root's callers (sshd, sudo,
//! login) use the privileged socket, with its own accept task and budget, so nothing here can
//! delay them; this keeps one local user from taking every public slot from the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Connections root's callers may hold at once on the privileged socket.
pub const ROOT_CONNECTIONS: usize = 256;
/// Connections all callers together may hold at once on the public socket.
pub const USER_CONNECTIONS: usize = 256;
/// Connections one uid may hold at once on the public socket (a screen locker and an
/// `mfa-enroll` need one each).
pub const CONNECTIONS_PER_USER: usize = 8;

#[derive(Debug, Default)]
struct Counts {
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
        let mine = counts.per_user.get(&uid).copied().unwrap_or(0);
        if mine >= CONNECTIONS_PER_USER || counts.users >= USER_CONNECTIONS {
            return None;
        }
        counts.users += 1;
        counts.per_user.insert(uid, mine + 1);
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

        drop(held);
        assert!(
            limits.try_take(1000).is_some(),
            "slots come back when dropped"
        );
    }

    #[test]
    fn the_public_pool_is_bounded() {
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
        assert!(limits.try_take(uid + 1).is_none());
        drop(held);
        assert!(limits.counts.lock().unwrap().per_user.is_empty());
    }
}
