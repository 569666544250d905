//! How many connections each caller may hold on each socket, and whose connection gives way
//! when a socket is full.
//!
//! Every socket has a total, and every holder (a uid, or on root's socket the class of root
//! process a connection serves) a share of it. A connection beyond its holder's share is
//! refused at once. When the total is reached, the newcomer is not simply turned away, which
//! would let a few uids that hold their full shares keep everyone else out: the holder with
//! the most connections gives one up (its oldest that waits for its peer), as long as it
//! holds at least two more than the newcomer's holder, so that slots end up spread evenly
//! over whoever wants them. On root's socket, callers that serve no user (sshd before the
//! session, see [`Holder::Service`]) also keep a reserve that no other holder can take.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::connection::Eviction;

/// Who a connection counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Holder {
    /// A user: the peer's uid on the public socket; on root's socket the user a root
    /// process serves (the real uid of a setuid program such as `su`, or the login uid of
    /// a root process inside someone's session).
    User(u32),
    /// A root process outside any login session (real uid 0, no login uid): sshd, login
    /// and display managers before the session. It keeps the reserve.
    Service,
    /// A root process whose /proc entry could not be read (gone, or hidden from the
    /// daemon): the most restricted holder, one share for all of them, never the reserve.
    Unidentified,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::User(uid) => write!(f, "uid {uid}"),
            Holder::Service => write!(f, "root's services"),
            Holder::Unidentified => write!(f, "unidentified root processes"),
        }
    }
}

/// The sizes of one socket's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Connections the socket serves at once.
    pub total: usize,
    /// Connections one holder may have at once ([`Holder::Service`] has no share: it may
    /// use every free slot).
    pub share: usize,
    /// Slots only [`Holder::Service`] may use.
    pub reserve: usize,
}

/// The public socket: a screen locker and an `mfa-enroll` need one connection each, so 8
/// per uid is plenty, and 64 uids holding their full shares fill it.
pub(crate) const PUBLIC: Budget = Budget {
    total: 512,
    share: 8,
    reserve: 0,
};

/// Root's socket. Half of it stays free for sshd and the other callers outside a session
/// (the old single budget was 256, all of it shared); any one user's `su` and `sudo`
/// prompts get 32. Both sockets' totals together stay well below the 1024 descriptors a
/// service gets by default.
pub(crate) const PRIVILEGED: Budget = Budget {
    total: 256,
    share: 32,
    reserve: 128,
};

/// The web socket: only `mfa-web` (and root) reach it, and `mfa-web` keeps a few
/// connections for its pages; 64 leaves room for a burst of browsers.
pub(crate) const WEB: Budget = Budget {
    total: 64,
    share: 64,
    reserve: 0,
};

/// The RADIUS socket: only `mfa-radius` (and root). `mfa-radius` holds one connection per
/// login in progress, an open challenge included, and keeps its own count of them below
/// this (a flood of challenges from one RADIUS client cannot take the others' share).
/// With the other sockets' totals it stays below the 1024 descriptors a service gets.
pub(crate) const RADIUS: Budget = Budget {
    total: 128,
    share: 128,
    reserve: 0,
};

/// Why a connection was not given a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its holder already has its share.
    OverShare,
    /// The socket is full, and no holder has enough more than the newcomer's to give one up.
    Full,
}

/// A slot given to a new connection, and whose connection was closed to make room.
#[derive(Debug)]
pub(crate) struct Admission {
    /// The new connection's slot.
    pub slot: Slot,
    /// The holder that gave up a connection for it, if the socket was full.
    pub evicted_from: Option<Holder>,
}

#[derive(Debug)]
struct Held {
    id: u64,
    eviction: Arc<Eviction>,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    held: usize,
    held_by_service: usize,
    /// Each holder's connections, oldest first.
    holders: HashMap<Holder, Vec<Held>>,
}

impl Table {
    fn count(&self, holder: Holder) -> usize {
        self.holders.get(&holder).map_or(0, Vec::len)
    }

    /// The holder other than `newcomer` and [`Holder::Service`] with the most connections,
    /// if it has at least two more than `newcomer`: taking one of its connections then
    /// never leaves it with fewer than the newcomer gets, so two holders never take turns
    /// evicting each other. Ties go to the holder with the oldest connection.
    fn largest_other(&self, newcomer: Holder) -> Option<Holder> {
        let floor = self.count(newcomer) + 2;
        self.holders
            .iter()
            .filter(|(holder, held)| {
                **holder != newcomer && **holder != Holder::Service && held.len() >= floor
            })
            .max_by_key(|(_, held)| {
                (
                    held.len(),
                    std::cmp::Reverse(held.first().map_or(u64::MAX, |h| h.id)),
                )
            })
            .map(|(holder, _)| *holder)
    }

    /// Takes one of `holder`'s connections out of the table and asks its conversation to
    /// end: the oldest that is waiting for its peer (for a first message or an answer at a
    /// prompt), else the oldest, which ends at its next wait.
    fn evict_one(&mut self, holder: Holder) {
        let Some(held) = self.holders.get_mut(&holder) else {
            return;
        };
        let at = held
            .iter()
            .position(|h| h.eviction.is_waiting())
            .unwrap_or(0);
        if at >= held.len() {
            return;
        }
        let gone = held.remove(at);
        if held.is_empty() {
            self.holders.remove(&holder);
        }
        self.held -= 1;
        gone.eviction.request();
    }

    fn insert(&mut self, holder: Holder) -> (u64, Arc<Eviction>) {
        let id = self.next_id;
        self.next_id += 1;
        let eviction = Arc::new(Eviction::default());
        self.holders.entry(holder).or_default().push(Held {
            id,
            eviction: eviction.clone(),
        });
        self.held += 1;
        if holder == Holder::Service {
            self.held_by_service += 1;
        }
        (id, eviction)
    }

    fn remove(&mut self, holder: Holder, id: u64) {
        let Some(held) = self.holders.get_mut(&holder) else {
            return;
        };
        // Absent when it was evicted: its slot was already given to someone else.
        let Some(at) = held.iter().position(|h| h.id == id) else {
            return;
        };
        held.remove(at);
        if held.is_empty() {
            self.holders.remove(&holder);
        }
        self.held -= 1;
        if holder == Holder::Service {
            self.held_by_service -= 1;
        }
    }
}

/// One socket's connections, shared by its accept task and every connection's slot.
#[derive(Debug)]
pub(crate) struct ConnectionLimits {
    budget: Budget,
    table: Mutex<Table>,
}

/// A connection's place in its socket's budget, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    limits: Arc<ConnectionLimits>,
    holder: Holder,
    id: u64,
    eviction: Arc<Eviction>,
}

impl Slot {
    /// How the budget asks this connection's conversation to end, should its holder have to
    /// give up a connection to a newcomer.
    pub(crate) fn eviction(&self) -> Arc<Eviction> {
        self.eviction.clone()
    }
}

impl ConnectionLimits {
    /// An empty budget of these sizes.
    pub(crate) fn new(budget: Budget) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            budget,
            table: Mutex::new(Table::default()),
        })
    }

    /// A slot for a new connection counted against `holder`, closing a connection of the
    /// largest holder if the socket is full; or why there is none.
    pub(crate) fn admit(self: &Arc<Self>, holder: Holder) -> Result<Admission, Refusal> {
        let budget = self.budget;
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let mut evicted_from = None;
        if holder == Holder::Service {
            if table.held >= budget.total {
                return Err(Refusal::Full);
            }
        } else {
            if table.count(holder) >= budget.share {
                return Err(Refusal::OverShare);
            }
            let others = table.held - table.held_by_service;
            let room =
                others < budget.total.saturating_sub(budget.reserve) && table.held < budget.total;
            if !room {
                let victim = table.largest_other(holder).ok_or(Refusal::Full)?;
                table.evict_one(victim);
                evicted_from = Some(victim);
            }
        }
        let (id, eviction) = table.insert(holder);
        Ok(Admission {
            slot: Slot {
                limits: self.clone(),
                holder,
                id,
                eviction,
            },
            evicted_from,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limits
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.holder, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Budget = Budget {
        total: 10,
        share: 4,
        reserve: 0,
    };

    fn take(limits: &Arc<ConnectionLimits>, holder: Holder) -> Slot {
        limits
            .admit(holder)
            .unwrap_or_else(|e| panic!("{holder} was refused: {e:?}"))
            .slot
    }

    fn counts(limits: &ConnectionLimits) -> (usize, usize) {
        let table = limits.table.lock().unwrap();
        (table.held, table.held_by_service)
    }

    #[test]
    fn one_user_cannot_take_more_than_its_share() {
        let limits = ConnectionLimits::new(PUBLIC);
        let held: Vec<Slot> = (0..PUBLIC.share)
            .map(|_| take(&limits, Holder::User(1000)))
            .collect();
        assert_eq!(
            limits.admit(Holder::User(1000)).err(),
            Some(Refusal::OverShare)
        );
        take(&limits, Holder::User(1001));

        drop(held);
        take(&limits, Holder::User(1000));
        assert_eq!(counts(&limits), (0, 0), "slots come back when dropped");
    }

    #[test]
    fn a_full_socket_takes_a_connection_from_the_largest_holder_not_the_newcomer() {
        let limits = ConnectionLimits::new(SMALL);
        let small: Vec<Slot> = (0..2).map(|_| take(&limits, Holder::User(1))).collect();
        let large: Vec<Slot> = (0..4).map(|_| take(&limits, Holder::User(2))).collect();
        let medium: Vec<Slot> = (0..4).map(|_| take(&limits, Holder::User(3))).collect();
        assert_eq!(counts(&limits).0, SMALL.total);

        let admitted = limits
            .admit(Holder::User(4))
            .expect("the newcomer gets a slot");
        // Users 2 and 3 hold 4 each; the tie goes to the one that connected first.
        assert_eq!(admitted.evicted_from, Some(Holder::User(2)));
        assert!(large[0].eviction().is_requested(), "the oldest gives way");
        assert!(large[1..].iter().all(|s| !s.eviction().is_requested()));
        assert!(
            small
                .iter()
                .chain(&medium)
                .all(|s| !s.eviction().is_requested())
        );
        assert_eq!(counts(&limits).0, SMALL.total, "the total is kept");

        // The evicted connection's slot is not given back twice when its task ends.
        drop(large);
        assert_eq!(counts(&limits).0, SMALL.total - 3);
        drop((small, medium, admitted));
        assert_eq!(counts(&limits), (0, 0));
    }

    #[test]
    fn a_connection_waiting_for_its_peer_gives_way_before_a_busy_one() {
        let limits = ConnectionLimits::new(SMALL);
        let mine: Vec<Slot> = (0..4).map(|_| take(&limits, Holder::User(1))).collect();
        let _others: Vec<Slot> = (0..6)
            .map(|n| take(&limits, Holder::User(10 + n)))
            .collect();
        let third = mine[2].eviction();
        let _waiting = third.waiting();
        let admitted = limits.admit(Holder::User(2)).expect("a slot");
        assert_eq!(admitted.evicted_from, Some(Holder::User(1)));
        let requested: Vec<bool> = mine.iter().map(|s| s.eviction().is_requested()).collect();
        assert_eq!(requested, [false, false, true, false]);
    }

    #[test]
    fn equal_holders_do_not_evict_each_other() {
        let limits = ConnectionLimits::new(SMALL);
        let _held: Vec<Slot> = (0..10)
            .map(|n| take(&limits, Holder::User(n / 2)))
            .collect();
        // Everyone holds 2; a newcomer with none takes one of them...
        let first = limits.admit(Holder::User(100)).expect("a slot");
        assert!(first.evicted_from.is_some());
        // ...but with one it is not two behind anyone, so it waits its turn.
        assert_eq!(limits.admit(Holder::User(100)).err(), Some(Refusal::Full));
    }

    #[test]
    fn a_late_user_finds_room_on_a_public_socket_full_of_full_shares() {
        let limits = ConnectionLimits::new(PUBLIC);
        let mut held = Vec::new();
        for uid in 0..64 {
            for _ in 0..PUBLIC.share {
                held.push(take(&limits, Holder::User(uid)));
            }
        }
        assert_eq!(counts(&limits).0, PUBLIC.total);
        let late = limits.admit(Holder::User(1000)).expect("a late user");
        assert_eq!(late.evicted_from, Some(Holder::User(0)));
        assert_eq!(
            held.iter().filter(|s| s.eviction().is_requested()).count(),
            1
        );
    }

    #[test]
    fn users_on_roots_socket_cannot_take_the_services_reserve() {
        let limits = ConnectionLimits::new(PRIVILEGED);
        // Enough users, each with a full share, to fill everything but the reserve.
        let users = (PRIVILEGED.total - PRIVILEGED.reserve) / PRIVILEGED.share;
        let mut held = Vec::new();
        for uid in 1..=users as u32 {
            for _ in 0..PRIVILEGED.share {
                held.push(take(&limits, Holder::User(uid)));
            }
        }
        assert_eq!(counts(&limits).0, PRIVILEGED.total - PRIVILEGED.reserve);
        // One more user gets a slot only by taking one of theirs.
        let more = limits.admit(Holder::Unidentified).expect("a slot");
        assert_eq!(more.evicted_from, Some(Holder::User(1)));
        assert_eq!(counts(&limits).0, PRIVILEGED.total - PRIVILEGED.reserve);

        let service: Vec<Slot> = (0..PRIVILEGED.reserve)
            .map(|_| take(&limits, Holder::Service))
            .collect();
        assert!(held.iter().filter(|s| s.eviction().is_requested()).count() == 1);
        assert_eq!(limits.admit(Holder::Service).err(), Some(Refusal::Full));
        assert_eq!(counts(&limits), (PRIVILEGED.total, PRIVILEGED.reserve));
        // The service never gives up its connections to a user.
        assert!(limits.admit(Holder::User(99)).is_ok());
        assert!(service.iter().all(|s| !s.eviction().is_requested()));
    }

    #[test]
    fn the_service_may_use_the_whole_socket_when_no_one_else_does() {
        let limits = ConnectionLimits::new(PRIVILEGED);
        let service: Vec<Slot> = (0..PRIVILEGED.total)
            .map(|_| take(&limits, Holder::Service))
            .collect();
        assert_eq!(limits.admit(Holder::Service).err(), Some(Refusal::Full));
        // A user then finds the socket full and no one to take a slot from.
        assert_eq!(limits.admit(Holder::User(1000)).err(), Some(Refusal::Full));
        drop(service);
        assert_eq!(counts(&limits), (0, 0));
    }

    #[test]
    fn unidentified_callers_share_one_share() {
        let limits = ConnectionLimits::new(PRIVILEGED);
        let _held: Vec<Slot> = (0..PRIVILEGED.share)
            .map(|_| take(&limits, Holder::Unidentified))
            .collect();
        assert_eq!(
            limits.admit(Holder::Unidentified).err(),
            Some(Refusal::OverShare)
        );
        take(&limits, Holder::Service);
    }
}
