//! Per-address rate limit: a token bucket per client, in a map of bounded size.
//!
//! A flood of requests from many addresses must not grow memory without bound, so the map
//! holds at most `max_clients` buckets. When it is full, buckets that have refilled are
//! dropped first (a full bucket remembers nothing an empty map would not), then the one
//! seen longest ago. IPv6 clients are counted by /64, the block one host usually holds, so
//! that one machine cannot take a fresh bucket per address.
//!
//! Time is passed in, so tests move it instead of waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How many requests and how fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RatePolicy {
    /// Requests allowed at once from a fresh client.
    pub(crate) burst: u32,
    /// One more request allowed per this much time.
    pub(crate) every: Duration,
    /// Most clients remembered at once.
    pub(crate) max_clients: usize,
}

impl Default for RatePolicy {
    /// Enough for a person's enrollment or approval several times over (each is 2 to 5
    /// calls), far too little to guess links or load the daemon.
    fn default() -> Self {
        RatePolicy {
            burst: 20,
            every: Duration::from_secs(2),
            max_clients: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    /// When `tokens` was last topped up (advanced by whole periods only).
    refilled: Instant,
    seen: Instant,
}

/// The buckets.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    policy: RatePolicy,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// An empty limiter.
    pub(crate) fn new(policy: RatePolicy) -> RateLimiter {
        RateLimiter {
            policy,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `client`'s bucket at `now`; when it is empty, how long until
    /// the next request is allowed.
    pub(crate) fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = bucket_key(client);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&key) && buckets.len() >= self.policy.max_clients {
            self.make_room(&mut buckets, now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.policy.burst,
            refilled: now,
            seen: now,
        });
        self.refill(bucket, now);
        bucket.seen = now;
        if bucket.tokens > 0 {
            bucket.tokens -= 1;
            Ok(())
        } else {
            let waited = now.saturating_duration_since(bucket.refilled);
            Err(self.policy.every.saturating_sub(waited))
        }
    }

    /// How many clients are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let every = self.policy.every.max(Duration::from_millis(1));
        let elapsed = now.saturating_duration_since(bucket.refilled);
        let periods = elapsed.as_nanos() / every.as_nanos();
        if periods == 0 {
            return;
        }
        let room = u128::from(self.policy.burst - bucket.tokens.min(self.policy.burst));
        if periods >= room {
            bucket.tokens = self.policy.burst;
            bucket.refilled = now;
        } else {
            // periods < room <= u32::MAX, so both conversions hold.
            let added = u32::try_from(periods).unwrap_or(u32::MAX);
            bucket.tokens += added;
            bucket.refilled += every * added;
        }
    }

    fn make_room(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        buckets.retain(|_, bucket| {
            self.refill(bucket, now);
            bucket.tokens < self.policy.burst
        });
        if buckets.len() >= self.policy.max_clients
            && let Some(oldest) = buckets
                .iter()
                .min_by_key(|(_, bucket)| bucket.seen)
                .map(|(key, _)| *key)
        {
            buckets.remove(&oldest);
        }
    }
}

/// The key a client is counted under: its IPv4 address, or its IPv6 /64 (the connection
/// cap of `server` counts clients the same way).
pub(crate) fn bucket_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, max_clients: usize) -> RateLimiter {
        RateLimiter::new(RatePolicy {
            burst,
            every: Duration::from_secs(2),
            max_clients,
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_then_one_per_period() {
        let l = limiter(3, 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.take(ip("192.0.2.1"), t0).unwrap();
        }
        assert_eq!(l.take(ip("192.0.2.1"), t0), Err(Duration::from_secs(2)));
        // Another client has its own bucket.
        l.take(ip("192.0.2.2"), t0).unwrap();
        let t1 = t0 + Duration::from_millis(1500);
        assert_eq!(l.take(ip("192.0.2.1"), t1), Err(Duration::from_millis(500)));
        let t2 = t0 + Duration::from_secs(2);
        l.take(ip("192.0.2.1"), t2).unwrap();
        assert!(l.take(ip("192.0.2.1"), t2).is_err());
        // A long pause refills to the burst, not beyond.
        let t3 = t2 + Duration::from_secs(3600);
        for _ in 0..3 {
            l.take(ip("192.0.2.1"), t3).unwrap();
        }
        assert!(l.take(ip("192.0.2.1"), t3).is_err());
    }

    #[test]
    fn ipv6_is_counted_by_its_64() {
        let l = limiter(2, 10);
        let t0 = Instant::now();
        l.take(ip("2001:db8::1"), t0).unwrap();
        l.take(ip("2001:db8::ffff:2"), t0).unwrap();
        assert!(l.take(ip("2001:db8::3"), t0).is_err());
        l.take(ip("2001:db8:0:1::1"), t0).unwrap();
        // A v4-mapped address is the v4 client.
        l.take(ip("192.0.2.9"), t0).unwrap();
        l.take(ip("::ffff:192.0.2.9"), t0).unwrap();
        assert!(l.take(ip("192.0.2.9"), t0).is_err());
    }

    #[test]
    fn a_flood_of_addresses_stays_within_the_bound() {
        let l = limiter(2, 100);
        let t0 = Instant::now();
        l.take(ip("198.51.100.1"), t0).unwrap();
        l.take(ip("198.51.100.1"), t0).unwrap();
        for i in 0..10_000u32 {
            let addr = IpAddr::V4((0x0a00_0000 + i).into());
            l.take(addr, t0 + Duration::from_millis(u64::from(i)))
                .unwrap();
            assert!(l.len() <= 100);
        }
        assert_eq!(l.len(), 100);
        // A refilled bucket is dropped first, so room never costs a live client its count
        // while refilled ones remain.
        let l = limiter(2, 2);
        l.take(ip("198.51.100.1"), t0).unwrap();
        l.take(ip("198.51.100.1"), t0).unwrap();
        l.take(ip("198.51.100.2"), t0).unwrap();
        // At 3 s .2 has refilled (dropped), .1 has not (kept, still counting).
        let later = t0 + Duration::from_secs(3);
        l.take(ip("198.51.100.3"), later).unwrap();
        assert_eq!(l.len(), 2);
        l.take(ip("198.51.100.1"), later).unwrap();
        assert!(l.take(ip("198.51.100.1"), later).is_err());
    }
}
