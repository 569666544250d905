//! Retransmissions (RFC 5080 §2.2.2): a client that got no answer in time sends the same
//! request again (same identifier and authenticator). Handling it again would check its code
//! twice (the second time refused as replayed, turning an accepted login into a rejected
//! one), so the first answer is kept for [`DUPLICATE_WINDOW`] and sent again, and a copy that
//! comes while the first is still being handled is dropped.
//!
//! Entries expire in the order they were made, so a queue finds the expired ones; the cache
//! holds at most `max` entries, and when it is full of live ones a new request is refused
//! rather than an entry forgotten early (which would let a code be checked twice).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long an answer is kept for a retransmission (RFC 5080 suggests 5 to 30 s; clients
/// retry for up to 30 s).
pub(crate) const DUPLICATE_WINDOW: Duration = Duration::from_secs(30);
/// Most requests remembered at once: 30 s of the default 50 requests a second from ~40
/// clients.
pub(crate) const DUPLICATES_MAX: usize = 64 * 1024;

/// What makes two requests the same (RFC 5080 §2.2.2: source, identifier, authenticator;
/// the client's name too, since two clients may share an address range).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RequestKey {
    /// The client's name.
    pub(crate) client: String,
    /// Address and port the request came from.
    pub(crate) from: SocketAddr,
    /// The packet's identifier.
    pub(crate) identifier: u8,
    /// The packet's request authenticator.
    pub(crate) authenticator: [u8; 16],
}

/// What the cache knows of a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Not seen (or expired): handle it; it is now in progress.
    New,
    /// Being handled: drop this copy.
    InProgress,
    /// Answered: send these bytes again.
    Answered(Vec<u8>),
    /// The cache is full of live requests: drop this one (the client retries).
    Full,
}

#[derive(Debug)]
struct Entry {
    made: Instant,
    answer: Option<Vec<u8>>,
}

/// The requests of the last [`DUPLICATE_WINDOW`] and their answers.
#[derive(Debug)]
pub(crate) struct Duplicates {
    max: usize,
    entries: HashMap<RequestKey, Entry>,
    /// Keys in the order they were made, for expiry (may hold keys already forgotten).
    order: VecDeque<(Instant, RequestKey)>,
}

impl Duplicates {
    /// An empty cache of at most `max` requests.
    pub(crate) fn new(max: usize) -> Duplicates {
        Duplicates {
            max,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Looks `key` up at `now`; a new one is recorded as in progress.
    pub(crate) fn begin(&mut self, key: &RequestKey, now: Instant) -> Seen {
        self.expire(now);
        if let Some(entry) = self.entries.get(key) {
            return match &entry.answer {
                Some(bytes) => Seen::Answered(bytes.clone()),
                None => Seen::InProgress,
            };
        }
        if self.entries.len() >= self.max {
            return Seen::Full;
        }
        self.entries.insert(
            key.clone(),
            Entry {
                made: now,
                answer: None,
            },
        );
        self.order.push_back((now, key.clone()));
        Seen::New
    }

    /// Keeps `answer` for the retransmissions of `key`.
    pub(crate) fn answered(&mut self, key: &RequestKey, answer: Vec<u8>) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.answer = Some(answer);
        }
    }

    /// Forgets `key`, which got no answer and changed nothing (dropped before the daemon
    /// saw it), so that the client's retransmission is handled.
    pub(crate) fn forget(&mut self, key: &RequestKey) {
        if self.entries.get(key).is_some_and(|e| e.answer.is_none()) {
            self.entries.remove(key);
        }
    }

    /// How many requests are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn expire(&mut self, now: Instant) {
        while let Some((made, _)) = self.order.front() {
            if now.saturating_duration_since(*made) < DUPLICATE_WINDOW {
                break;
            }
            if let Some((made, key)) = self.order.pop_front()
                && self.entries.get(&key).is_some_and(|e| e.made == made)
            {
                self.entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(identifier: u8) -> RequestKey {
        RequestKey {
            client: "vpn1".into(),
            from: "192.0.2.10:40000".parse().unwrap(),
            identifier,
            authenticator: [7; 16],
        }
    }

    #[test]
    fn a_retransmission_gets_the_first_answer_and_an_early_one_is_dropped() {
        let mut cache = Duplicates::new(10);
        let t0 = Instant::now();
        assert_eq!(cache.begin(&key(1), t0), Seen::New);
        assert_eq!(cache.begin(&key(1), t0), Seen::InProgress);
        cache.answered(&key(1), vec![2, 1, 0, 20]);
        let later = t0 + Duration::from_secs(29);
        assert_eq!(
            cache.begin(&key(1), later),
            Seen::Answered(vec![2, 1, 0, 20])
        );
        // Another identifier, authenticator, port or client is another request.
        assert_eq!(cache.begin(&key(2), t0), Seen::New);
        let mut other = key(1);
        other.authenticator[0] = 8;
        assert_eq!(cache.begin(&other, t0), Seen::New);
        let mut other = key(1);
        other.from.set_port(40001);
        assert_eq!(cache.begin(&other, t0), Seen::New);
        let mut other = key(1);
        other.client = "vpn2".into();
        assert_eq!(cache.begin(&other, t0), Seen::New);
    }

    #[test]
    fn answers_expire_after_the_window() {
        let mut cache = Duplicates::new(10);
        let t0 = Instant::now();
        assert_eq!(cache.begin(&key(1), t0), Seen::New);
        cache.answered(&key(1), vec![1]);
        assert_eq!(
            cache.begin(&key(2), t0 + Duration::from_secs(10)),
            Seen::New
        );
        let expired = t0 + DUPLICATE_WINDOW;
        assert_eq!(cache.begin(&key(1), expired), Seen::New);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.begin(&key(1), expired), Seen::InProgress);
        // The re-made entry is not expired by the first one's place in the queue.
        assert_eq!(
            cache.begin(&key(1), expired + Duration::from_secs(1)),
            Seen::InProgress
        );
    }

    #[test]
    fn a_forgotten_request_is_handled_again_but_never_an_answered_one() {
        let mut cache = Duplicates::new(10);
        let t0 = Instant::now();
        assert_eq!(cache.begin(&key(1), t0), Seen::New);
        cache.forget(&key(1));
        assert_eq!(cache.begin(&key(1), t0), Seen::New);
        cache.answered(&key(1), vec![1]);
        cache.forget(&key(1));
        assert_eq!(cache.begin(&key(1), t0), Seen::Answered(vec![1]));
    }

    #[test]
    fn a_full_cache_refuses_rather_than_forgets() {
        let mut cache = Duplicates::new(3);
        let t0 = Instant::now();
        for id in 0..3 {
            assert_eq!(cache.begin(&key(id), t0), Seen::New);
        }
        assert_eq!(cache.begin(&key(3), t0), Seen::Full);
        // The remembered ones still answer as before.
        assert_eq!(cache.begin(&key(0), t0), Seen::InProgress);
        assert_eq!(cache.begin(&key(3), t0 + DUPLICATE_WINDOW), Seen::New);
        assert_eq!(cache.len(), 1);
    }
}
