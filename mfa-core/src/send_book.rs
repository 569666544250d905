//! Sliding-window counts of messages sent, by key: the state behind every send limit (a
//! user's codes, a user's notices, one contact's notices, the host's budget and its share
//! for notices). A send is admitted only if every bucket it counts in has room, and then it
//! is counted in all of them at once, so the limits can never disagree about one send.
//!
//! The book is pure; the daemon's store keeps it durable (files) or shared by a fleet
//! (PostgreSQL), so that a restart or a second host does not start the counts afresh.

use std::collections::{HashMap, VecDeque};

/// Most keys remembered at once (about 1 KB per user with ten contacts at worst); beyond it,
/// keys whose windows have passed are forgotten, and a send that needs a new key is refused
/// until one has (failing toward not sending).
pub const MAX_KEYS: usize = 30_000;

/// One limit a send counts against: at most `limit` sends under `key` within `window`
/// seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendBucket {
    /// What is counted, e.g. `user:alice` or `host:web1`.
    pub key: String,
    /// Sends allowed within the window.
    pub limit: u32,
    /// Seconds.
    pub window: u64,
}

impl SendBucket {
    /// A bucket of `limit` sends per `window` seconds under `key`.
    pub fn new(key: impl Into<String>, limit: u32, window: u64) -> SendBucket {
        SendBucket {
            key: key.into(),
            limit,
            window,
        }
    }
}

/// A send refused: the bucket at `index` of those asked for is full until `retry_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketFull {
    /// Index into the buckets passed to [`SendBook::admit`].
    pub index: usize,
    /// Unix time at which the bucket has room again.
    pub retry_at: u64,
    /// The book holds [`MAX_KEYS`] live keys and the bucket at `index` would be a new one.
    pub crowded: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Sends {
    /// The longest window this key was counted with: how long its sends matter.
    window: u64,
    at: VecDeque<u64>,
}

impl Sends {
    fn expire(&mut self, now: u64) {
        while self
            .at
            .front()
            .is_some_and(|&t| t.saturating_add(self.window) <= now)
        {
            self.at.pop_front();
        }
    }

    /// When fewer than `limit` sends are left within the last `window` seconds: `None` if
    /// that is already so.
    fn full_until(&self, limit: u32, window: u64, now: u64) -> Option<u64> {
        let start = self
            .at
            .partition_point(|&t| t.saturating_add(window) <= now);
        let count = self.at.len() - start;
        let limit = limit as usize;
        if count < limit {
            return None;
        }
        // Room comes back when the send `limit`-th from the newest leaves the window.
        let at = self
            .at
            .get(start + count - limit.max(1))
            .copied()
            .unwrap_or(now);
        Some(at.saturating_add(window))
    }
}

/// The recent sends of every key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendBook {
    keys: HashMap<String, Sends>,
}

impl SendBook {
    /// No sends yet.
    pub fn new() -> SendBook {
        SendBook::default()
    }

    /// Counts one send at `now` in every bucket, if each has room; otherwise counts nothing
    /// and names the first full bucket.
    pub fn admit(&mut self, buckets: &[SendBucket], now: u64) -> Result<(), BucketFull> {
        if let Some(full) = self.refusal(buckets, now) {
            return Err(full);
        }
        for bucket in buckets {
            self.record(&bucket.key, bucket.window, now);
        }
        Ok(())
    }

    /// The first full bucket of `buckets` at `now`, without counting anything (a store
    /// makes the send durable between this and [`SendBook::record`]). May forget sends whose
    /// windows have passed, to make room for new keys.
    pub fn refusal(&mut self, buckets: &[SendBucket], now: u64) -> Option<BucketFull> {
        let new_keys = buckets
            .iter()
            .filter(|b| !self.keys.contains_key(&b.key))
            .count();
        if self.keys.len() + new_keys > MAX_KEYS {
            self.prune(now);
            if self.keys.len() + new_keys > MAX_KEYS {
                let index = buckets
                    .iter()
                    .position(|b| !self.keys.contains_key(&b.key))
                    .unwrap_or(0);
                let window = buckets.get(index).map_or(0, |b| b.window);
                return Some(BucketFull {
                    index,
                    retry_at: now.saturating_add(window),
                    crowded: true,
                });
            }
        }
        buckets.iter().enumerate().find_map(|(index, bucket)| {
            let full_until = match self.keys.get(&bucket.key) {
                Some(sends) => sends.full_until(bucket.limit, bucket.window, now),
                None if bucket.limit == 0 => Some(now),
                None => None,
            };
            full_until.map(|retry_at| BucketFull {
                index,
                retry_at,
                crowded: false,
            })
        })
    }

    /// Counts a send under `key` at `at` without checking any limit: how a journal is
    /// replayed, or another host's sends are merged.
    pub fn record(&mut self, key: &str, window: u64, at: u64) {
        let sends = self.keys.entry(key.to_owned()).or_default();
        sends.window = sends.window.max(window);
        // Kept in time order: replayed lines may come slightly out of order.
        let position = sends.at.partition_point(|&t| t <= at);
        sends.at.insert(position, at);
    }

    /// Forgets the sends whose windows have passed, and keys left with none.
    pub fn prune(&mut self, now: u64) {
        self.keys.retain(|_, sends| {
            sends.expire(now);
            !sends.at.is_empty()
        });
    }

    /// Every send still inside its key's window at `now`: `(key, window, at)`, to write a
    /// compacted journal.
    pub fn live(&self, now: u64) -> Vec<(&str, u64, u64)> {
        let mut live: Vec<(&str, u64, u64)> = self
            .keys
            .iter()
            .flat_map(|(key, sends)| {
                sends
                    .at
                    .iter()
                    .filter(move |&&t| t.saturating_add(sends.window) > now)
                    .map(move |&t| (key.as_str(), sends.window, t))
            })
            .collect();
        live.sort_unstable_by_key(|&(key, _, at)| (at, key));
        live
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const HOUR: u64 = 3600;

    fn user(name: &str, limit: u32) -> SendBucket {
        SendBucket::new(format!("user:{name}"), limit, HOUR)
    }

    #[test]
    fn a_send_counts_in_every_bucket_or_in_none() {
        let mut book = SendBook::new();
        let host = SendBucket::new("host:h", 3, HOUR);
        book.admit(&[user("a", 2), host.clone()], NOW).unwrap();
        book.admit(&[user("a", 2), host.clone()], NOW + 1).unwrap();
        // a's own bucket is full: nothing is counted against the host either.
        assert_eq!(
            book.admit(&[user("a", 2), host.clone()], NOW + 2),
            Err(BucketFull {
                index: 0,
                retry_at: NOW + HOUR,
                crowded: false,
            })
        );
        book.admit(&[user("b", 2), host.clone()], NOW + 3).unwrap();
        assert_eq!(
            book.admit(&[user("c", 2), host.clone()], NOW + 4),
            Err(BucketFull {
                index: 1,
                retry_at: NOW + HOUR,
                crowded: false,
            })
        );
        // The window slides: a's first send leaves it an hour later.
        book.admit(&[user("a", 2), host], NOW + HOUR).unwrap();
    }

    #[test]
    fn a_shorter_window_on_the_same_key_sees_only_its_own_span() {
        let mut book = SendBook::new();
        book.record("notice:a:+1", HOUR, NOW);
        let burst = SendBucket::new("notice:a:+1", 1, 300);
        assert!(book.admit(std::slice::from_ref(&burst), NOW + 299).is_err());
        book.admit(&[burst], NOW + 300).unwrap();
    }

    #[test]
    fn replayed_sends_count_like_admitted_ones_and_expire() {
        let mut book = SendBook::new();
        for at in [NOW + 5, NOW, NOW + 3] {
            book.record("user:a", HOUR, at);
        }
        assert!(book.admit(&[user("a", 3)], NOW + 10).is_err());
        assert_eq!(
            book.live(NOW + 10)
                .iter()
                .map(|&(_, _, at)| at)
                .collect::<Vec<_>>(),
            vec![NOW, NOW + 3, NOW + 5]
        );
        book.prune(NOW + HOUR + 5);
        assert!(book.is_empty());
    }

    #[test]
    fn a_flood_of_new_keys_is_refused_rather_than_forgetting_live_counts() {
        let mut book = SendBook::new();
        for i in 0..MAX_KEYS {
            book.admit(&[user(&i.to_string(), 1)], NOW).unwrap();
        }
        let refused = book.admit(&[user("new", 1)], NOW + 1).unwrap_err();
        assert!(refused.crowded && refused.index == 0);
        // The live counts stayed: user 0 is still at its limit.
        assert!(book.admit(&[user("0", 1)], NOW + 1).is_err());
        // Once the window has passed, old keys make room.
        book.admit(&[user("new", 1)], NOW + HOUR).unwrap();
        assert_eq!(book.len(), 1);
    }
}
