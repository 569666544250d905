//! Open challenges: an Access-Challenge carries a fresh random `State`; the client's next
//! Access-Request sends it back with the answer. Each session holds its login's daemon
//! connection until it is answered or expires.
//!
//! A session is taken once (a replayed `State` finds nothing), only by the client and the
//! user it was made for (anyone else is refused and the session stays for its owner), and
//! only within its lifetime (the daemon's `answer_timeout`). The table is bounded in all and
//! per client, so a client cannot hold every slot. Time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Bytes of a `State` value: 128 random bits.
pub(crate) const STATE_LEN: usize = 16;
/// Most open challenges at once.
pub(crate) const SESSIONS_MAX: usize = 4096;
/// Most open challenges of one client.
pub(crate) const SESSIONS_PER_CLIENT_MAX: usize = 256;

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
    /// [`SESSIONS_MAX`] are open.
    Total(T),
    /// The client has [`SESSIONS_PER_CLIENT_MAX`] open.
    Client(T),
}

/// The open challenges, each holding a `T` (the login's daemon connection).
#[derive(Debug)]
pub(crate) struct Sessions<T> {
    lifetime: Duration,
    max: usize,
    max_per_client: usize,
    open: HashMap<StateValue, Session<T>>,
    per_client: HashMap<String, usize>,
}

impl<T> Sessions<T> {
    /// An empty table whose sessions live `lifetime`, with the default bounds.
    pub(crate) fn new(lifetime: Duration) -> Sessions<T> {
        Sessions::bounded(lifetime, SESSIONS_MAX, SESSIONS_PER_CLIENT_MAX)
    }

    /// An empty table with the given bounds.
    pub(crate) fn bounded(lifetime: Duration, max: usize, max_per_client: usize) -> Sessions<T> {
        Sessions {
            lifetime,
            max,
            max_per_client,
            open: HashMap::new(),
            per_client: HashMap::new(),
        }
    }

    /// Opens a session under `state` for `client` and `user` at `now`. A `state` already
    /// open (128 random bits: never in practice) is refused like a full table.
    pub(crate) fn open(
        &mut self,
        state: StateValue,
        client: &str,
        user: &[u8],
        held: T,
        now: Instant,
    ) -> Result<(), Full<T>> {
        if self.open.len() >= self.max {
            self.expire(now);
        }
        if self.open.len() >= self.max || self.open.contains_key(&state) {
            return Err(Full::Total(held));
        }
        if self.count(client) >= self.max_per_client {
            drop(self.expire(now));
            if self.count(client) >= self.max_per_client {
                return Err(Full::Client(held));
            }
        }
        *self.per_client.entry(client.to_owned()).or_insert(0) += 1;
        self.open.insert(
            state,
            Session {
                client: client.to_owned(),
                user: user.to_owned(),
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
        let session = self.remove(&state).ok_or(TakeError::Unknown)?;
        if expired {
            return Err(TakeError::Expired);
        }
        Ok(session)
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
            .filter_map(|state| self.remove(state))
            .collect()
    }

    /// How many sessions are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }

    fn count(&self, client: &str) -> usize {
        self.per_client.get(client).copied().unwrap_or(0)
    }

    fn remove(&mut self, state: &StateValue) -> Option<T> {
        let session = self.open.remove(state)?;
        if let Some(count) = self.per_client.get_mut(&session.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_client.remove(&session.client);
            }
        }
        Some(session.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: Duration = Duration::from_secs(180);

    fn state(n: u8) -> StateValue {
        [n; STATE_LEN]
    }

    #[test]
    fn a_session_is_taken_once_by_its_owner() {
        let mut sessions = Sessions::new(LIFETIME);
        let t0 = Instant::now();
        sessions
            .open(state(1), "vpn1", b"alice", "conn", t0)
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
        let mut sessions = Sessions::new(LIFETIME);
        let t0 = Instant::now();
        sessions
            .open(state(1), "vpn1", b"alice", "conn", t0)
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
        let mut sessions: Sessions<&str> = Sessions::new(LIFETIME);
        let t0 = Instant::now();
        assert_eq!(
            sessions.take(&state(9), "vpn1", b"alice", t0),
            Err(TakeError::Unknown)
        );
        sessions
            .open(state(1), "vpn1", b"alice", "conn", t0)
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
        let mut sessions = Sessions::new(LIFETIME);
        let t0 = Instant::now();
        sessions.open(state(1), "vpn1", b"alice", "a", t0).unwrap();
        sessions
            .open(state(2), "vpn1", b"bob", "b", t0 + Duration::from_secs(60))
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
    fn the_table_is_bounded_in_all_and_per_client() {
        let mut sessions = Sessions::bounded(LIFETIME, 4, 2);
        let t0 = Instant::now();
        sessions.open(state(1), "vpn1", b"a", 1, t0).unwrap();
        sessions.open(state(2), "vpn1", b"b", 2, t0).unwrap();
        assert!(matches!(
            sessions.open(state(3), "vpn1", b"c", 3, t0),
            Err(Full::Client(3))
        ));
        sessions.open(state(4), "vpn2", b"d", 4, t0).unwrap();
        sessions.open(state(5), "vpn3", b"e", 5, t0).unwrap();
        assert!(matches!(
            sessions.open(state(6), "vpn4", b"f", 6, t0),
            Err(Full::Total(6))
        ));
        // A duplicate State is never opened over another.
        assert!(sessions.take(&state(1), "vpn1", b"a", t0).is_ok());
        assert!(matches!(
            sessions.open(state(2), "vpn4", b"f", 6, t0),
            Err(Full::Total(6))
        ));
        // Room comes back when sessions are taken or expire.
        sessions.open(state(3), "vpn1", b"c", 3, t0).unwrap();
        let later = t0 + LIFETIME;
        sessions.open(state(7), "vpn1", b"g", 7, later).unwrap();
        sessions.open(state(8), "vpn1", b"h", 8, later).unwrap();
        assert_eq!(sessions.len(), 2);
    }

    #[test]
    fn fresh_states_differ() {
        assert_ne!(new_state().unwrap(), new_state().unwrap());
    }
}
