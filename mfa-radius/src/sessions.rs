//! Open challenges: an Access-Challenge carries a fresh random `State`; the client's next
//! Access-Request sends it back with the answer. Each session holds its login's daemon
//! connection until it is answered or expires.
//!
//! A session is taken once (a replayed `State` finds nothing), only by the client and the
//! user it was made for (anyone else is refused and the session stays for its owner), and
//! only within its lifetime (the daemon's `answer_timeout`). The table is bounded in all,
//! per client and per user of a client, below the daemon's cap on radius.sock connections
//! (128), so that logins with the code in the first packet (which hold a connection only
//! for their round trip) always find room; when it is full a NEW challenge is refused, an
//! open one is never evicted. Time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Bytes of a `State` value: 128 random bits.
pub(crate) const STATE_LEN: usize = 16;
/// Connections the daemon gives `mfa-radius` on radius.sock (`RADIUS` in
/// mfa-daemon/src/server/connection_limits.rs): every open challenge holds one, and so does
/// every login in progress. Over it the daemon refuses, and logins fail.
pub(crate) const DAEMON_CONNECTIONS: usize = 128;
/// Most open challenges at once; the other [`DAEMON_CONNECTIONS`] stay for logins in
/// progress (`limits::LOGINS_IN_PROGRESS`), so that a code in the first packet always finds
/// a connection.
pub(crate) const SESSIONS_MAX: usize = 96;
/// Fewest open challenges a client may hold, however many clients share
/// [`SESSIONS_MAX`] (each gets an equal part, at least this).
pub(crate) const SESSIONS_PER_CLIENT_MIN: usize = 8;
/// Most open challenges of one user name at one client (a login and a retry).
pub(crate) const SESSIONS_PER_USER_MAX: usize = 2;
/// Most open challenges from one Calling-Station-Id at one client, when the client sends
/// one: one caller cannot hold the client's part with made-up names.
pub(crate) const SESSIONS_PER_CALLER_MAX: usize = 4;

// The open challenges and the logins in progress never ask the daemon for more
// connections than it gives.
const _: () = assert!(SESSIONS_MAX + crate::limits::LOGINS_IN_PROGRESS <= DAEMON_CONNECTIONS);

/// A `State` value.
pub(crate) type StateValue = [u8; STATE_LEN];

/// A fresh `State` from the system's generator.
pub(crate) fn new_state() -> Result<StateValue, getrandom::Error> {
    let mut state = [0u8; STATE_LEN];
    getrandom::fill(&mut state)?;
    Ok(state)
}

#[derive(Debug)]
struct Session<T> {
    client: String,
    user: Vec<u8>,
    caller: Option<Vec<u8>>,
    expires: Instant,
    held: T,
}

/// Why a `State` was not taken.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TakeError {
    /// No such session: never made, already used, or forgotten after it expired.
    #[error("no open challenge has this State (used already, or never made)")]
    Unknown,
    /// The session is past its lifetime (it is gone now).
    #[error("the challenge expired")]
    Expired,
    /// Another client or user sent it; the session stays for its owner.
    #[error("the State belongs to another client or user")]
    NotOwner,
}

/// Why a session could not be opened; the held value comes back (dropping it closes it).
#[derive(Debug)]
pub(crate) enum Full<T> {
    /// The table is full.
    Total(T),
    /// The client has its most open.
    Client(T),
    /// The user has its most open at this client.
    User(T),
    /// The Calling-Station-Id has its most open at this client.
    Caller(T),
}

/// Whose challenge it is: the client, the user name, and where the user is (the
/// Calling-Station-Id, when the client sends one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner<'a> {
    /// The client's name.
    pub(crate) client: &'a str,
    /// The User-Name.
    pub(crate) user: &'a [u8],
    /// The Calling-Station-Id.
    pub(crate) caller: Option<&'a [u8]>,
}

/// How many sessions the table holds, in all and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// In all.
    pub(crate) total: usize,
    /// Of one client.
    pub(crate) per_client: usize,
    /// Of one user name at one client.
    pub(crate) per_user: usize,
    /// Of one Calling-Station-Id at one client.
    pub(crate) per_caller: usize,
}

impl Bounds {
    /// The bounds for `clients` clients: [`SESSIONS_MAX`] shared equally, at least
    /// [`SESSIONS_PER_CLIENT_MIN`] each.
    pub(crate) fn for_clients(clients: usize) -> Bounds {
        Bounds {
            total: SESSIONS_MAX,
            per_client: (SESSIONS_MAX / clients.max(1)).max(SESSIONS_PER_CLIENT_MIN),
            per_user: SESSIONS_PER_USER_MAX,
            per_caller: SESSIONS_PER_CALLER_MAX,
        }
    }
}

/// The open challenges, each holding a `T` (the login's daemon connection).
#[derive(Debug)]
pub(crate) struct Sessions<T> {
    lifetime: Duration,
    bounds: Bounds,
    open: HashMap<StateValue, Session<T>>,
}

impl<T> Sessions<T> {
    /// An empty table whose sessions live `lifetime`, within `bounds`.
    pub(crate) fn new(lifetime: Duration, bounds: Bounds) -> Sessions<T> {
        Sessions {
            lifetime,
            bounds,
            open: HashMap::new(),
        }
    }

    /// Opens a session under `state` for `owner` at `now`. A `state` already open (128
    /// random bits: never in practice) is refused like a full table.
    pub(crate) fn open(
        &mut self,
        state: StateValue,
        owner: Owner<'_>,
        held: T,
        now: Instant,
    ) -> Result<(), Full<T>> {
        drop(self.expire(now));
        if self.open.len() >= self.bounds.total || self.open.contains_key(&state) {
            return Err(Full::Total(held));
        }
        let of_client = || self.open.values().filter(|s| s.client == owner.client);
        if of_client().count() >= self.bounds.per_client {
            return Err(Full::Client(held));
        }
        if of_client().filter(|s| s.user == owner.user).count() >= self.bounds.per_user {
            return Err(Full::User(held));
        }
        if let Some(caller) = owner.caller
            && of_client()
                .filter(|s| s.caller.as_deref() == Some(caller))
                .count()
                >= self.bounds.per_caller
        {
            return Err(Full::Caller(held));
        }
        self.open.insert(
            state,
            Session {
                client: owner.client.to_owned(),
                user: owner.user.to_owned(),
                caller: owner.caller.map(<[u8]>::to_vec),
                expires: now + self.lifetime,
                held,
            },
        );
        Ok(())
    }

    /// Takes the session `state` names, if `client` and `user` own it and it is live at
    /// `now`. It is gone afterwards, whatever comes of the answer.
    pub(crate) fn take(
        &mut self,
        state: &[u8],
        client: &str,
        user: &[u8],
        now: Instant,
    ) -> Result<T, TakeError> {
        let state: StateValue = state.try_into().map_err(|_| TakeError::Unknown)?;
        let session = self.open.get(&state).ok_or(TakeError::Unknown)?;
        if session.client != client || session.user != user {
            return Err(TakeError::NotOwner);
        }
        let expired = now >= session.expires;
        let session = self.open.remove(&state).ok_or(TakeError::Unknown)?;
        if expired {
            return Err(TakeError::Expired);
        }
        Ok(session.held)
    }

    /// Removes the sessions past their lifetime at `now` and returns what they held (to be
    /// dropped, which closes their daemon connections).
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<T> {
        let expired: Vec<StateValue> = self
            .open
            .iter()
            .filter(|(_, s)| now >= s.expires)
            .map(|(state, _)| *state)
            .collect();
        expired
            .iter()
            .filter_map(|state| self.open.remove(state))
            .map(|session| session.held)
            .collect()
    }

    /// How many sessions are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: Duration = Duration::from_secs(180);

    fn owner<'a>(client: &'a str, user: &'a [u8]) -> Owner<'a> {
        Owner {
            client,
            user,
            caller: None,
        }
    }

    fn sessions<T>() -> Sessions<T> {
        Sessions::new(LIFETIME, Bounds::for_clients(1))
    }

    fn state(n: u8) -> StateValue {
        [n; STATE_LEN]
    }

    #[test]
    fn a_session_is_taken_once_by_its_owner() {
        let mut sessions = sessions();
        let t0 = Instant::now();
        sessions
            .open(state(1), owner("vpn1", b"alice"), "conn", t0)
            .unwrap();
        assert_eq!(sessions.take(&state(1), "vpn1", b"alice", t0), Ok("conn"));
        // Replayed: gone.
        assert_eq!(
            sessions.take(&state(1), "vpn1", b"alice", t0),
            Err(TakeError::Unknown)
        );
        assert_eq!(sessions.len(), 0);
    }

    #[test]
    fn another_user_or_client_is_refused_and_the_owner_keeps_it() {
        let mut sessions = sessions();
        let t0 = Instant::now();
        sessions
            .open(state(1), owner("vpn1", b"alice"), "conn", t0)
            .unwrap();
        assert_eq!(
            sessions.take(&state(1), "vpn1", b"mallory", t0),
            Err(TakeError::NotOwner)
        );
        assert_eq!(
            sessions.take(&state(1), "vpn2", b"alice", t0),
            Err(TakeError::NotOwner)
        );
        // A name that differs only in case is another user.
        assert_eq!(
            sessions.take(&state(1), "vpn1", b"Alice", t0),
            Err(TakeError::NotOwner)
        );
        assert_eq!(sessions.take(&state(1), "vpn1", b"alice", t0), Ok("conn"));
    }

    #[test]
    fn unknown_and_misshapen_states_are_refused() {
        let mut sessions: Sessions<&str> = sessions();
        let t0 = Instant::now();
        assert_eq!(
            sessions.take(&state(9), "vpn1", b"alice", t0),
            Err(TakeError::Unknown)
        );
        sessions
            .open(state(1), owner("vpn1", b"alice"), "conn", t0)
            .unwrap();
        assert_eq!(
            sessions.take(&[1; 15], "vpn1", b"alice", t0),
            Err(TakeError::Unknown)
        );
        assert_eq!(
            sessions.take(&[1; 17], "vpn1", b"alice", t0),
            Err(TakeError::Unknown)
        );
    }

    #[test]
    fn sessions_expire_and_their_connections_are_handed_back() {
        let mut sessions = sessions();
        let t0 = Instant::now();
        sessions
            .open(state(1), owner("vpn1", b"alice"), "a", t0)
            .unwrap();
        sessions
            .open(
                state(2),
                owner("vpn1", b"bob"),
                "b",
                t0 + Duration::from_secs(60),
            )
            .unwrap();
        let end = t0 + LIFETIME;
        assert_eq!(
            sessions.take(&state(1), "vpn1", b"alice", end),
            Err(TakeError::Expired)
        );
        assert_eq!(
            sessions.take(&state(1), "vpn1", b"alice", end),
            Err(TakeError::Unknown)
        );
        assert!(sessions.expire(end).is_empty());
        assert_eq!(sessions.expire(end + Duration::from_secs(60)), vec!["b"]);
        assert_eq!(sessions.len(), 0);
    }

    #[test]
    fn the_table_is_bounded_in_all_per_client_and_per_user() {
        let bounds = Bounds {
            total: 4,
            per_client: 3,
            per_user: 2,
            per_caller: 4,
        };
        let mut sessions = Sessions::new(LIFETIME, bounds);
        let t0 = Instant::now();
        sessions.open(state(1), owner("vpn1", b"a"), 1, t0).unwrap();
        sessions.open(state(2), owner("vpn1", b"a"), 2, t0).unwrap();
        assert!(matches!(
            sessions.open(state(3), owner("vpn1", b"a"), 3, t0),
            Err(Full::User(3))
        ));
        // The same name at another client is another user.
        sessions.open(state(3), owner("vpn2", b"a"), 3, t0).unwrap();
        sessions.open(state(4), owner("vpn1", b"b"), 4, t0).unwrap();
        assert!(matches!(
            sessions.open(state(5), owner("vpn1", b"c"), 5, t0),
            Err(Full::Total(5))
        ));
        // Room comes back when a session is taken.
        assert!(sessions.take(&state(3), "vpn2", b"a", t0).is_ok());
        assert!(matches!(
            sessions.open(state(5), owner("vpn1", b"c"), 5, t0),
            Err(Full::Client(5))
        ));
        // A State already open is never opened over.
        assert!(matches!(
            sessions.open(state(1), owner("vpn3", b"d"), 6, t0),
            Err(Full::Total(6))
        ));
        sessions.open(state(6), owner("vpn3", b"d"), 6, t0).unwrap();
        // Or when they expire: nothing open is ever evicted before.
        let later = t0 + LIFETIME;
        sessions
            .open(state(7), owner("vpn1", b"a"), 7, later)
            .unwrap();
        sessions
            .open(state(8), owner("vpn1", b"a"), 8, later)
            .unwrap();
        assert_eq!(sessions.len(), 2);
    }

    #[test]
    fn one_caller_cannot_hold_a_clients_part_with_made_up_names() {
        let mut sessions = sessions();
        let t0 = Instant::now();
        let names: Vec<String> = (0..6).map(|i| format!("user{i}")).collect();
        let from = |i: usize| Owner {
            client: "vpn1",
            user: names[i].as_bytes(),
            caller: Some(b"203.0.113.9"),
        };
        for i in 0..SESSIONS_PER_CALLER_MAX {
            sessions
                .open(state(u8::try_from(i).unwrap()), from(i), i, t0)
                .unwrap();
        }
        assert!(matches!(
            sessions.open(state(9), from(5), 5, t0),
            Err(Full::Caller(5))
        ));
        // Another caller, or none, is not held back.
        let other = Owner {
            caller: Some(b"203.0.113.10"),
            ..from(5)
        };
        sessions.open(state(10), other, 5, t0).unwrap();
        sessions
            .open(state(11), owner("vpn1", b"user5"), 6, t0)
            .unwrap();
    }

    #[test]
    fn the_clients_share_the_table() {
        assert_eq!(Bounds::for_clients(1).per_client, SESSIONS_MAX);
        assert_eq!(Bounds::for_clients(4).per_client, 24);
        assert_eq!(Bounds::for_clients(50).per_client, SESSIONS_PER_CLIENT_MIN);
        assert_eq!(Bounds::for_clients(0).per_client, SESSIONS_MAX);
    }

    #[test]
    fn fresh_states_differ() {
        assert_ne!(new_state().unwrap(), new_state().unwrap());
    }
}
