//! Rate limits for log lines a caller can make the daemon write: a flood of refused
//! connections or of identical failures must not turn into gigabytes of log.
//!
//! Each key (a kind of line and who caused it, or the whole line) has a bucket of `burst`
//! lines that refills by one every `interval`. A line that finds its bucket empty is counted,
//! not written; the next line of that key that is written says how many were dropped.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Keys remembered at once; beyond it the oldest buckets are forgotten.
const MAX_KEYS: usize = 4096;

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    refilled: Instant,
    dropped: u64,
}

/// Per-key rate limits of log lines.
#[derive(Debug)]
pub struct LogThrottle {
    burst: u32,
    interval: Duration,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl LogThrottle {
    /// Up to `burst` lines of one key at once, then one per `interval`.
    pub fn new(burst: u32, interval: Duration) -> LogThrottle {
        LogThrottle {
            burst: burst.max(1),
            interval,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a line of `key` may be written now: `Some(dropped)`, the lines of this key
    /// dropped since the last one written, or `None` to drop this one.
    pub fn admit(&self, key: &str, now: Instant) -> Option<u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(key) && buckets.len() >= MAX_KEYS {
            let interval = self.interval * self.burst;
            buckets.retain(|_, b| now.duration_since(b.refilled) < interval);
            if buckets.len() >= MAX_KEYS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            refilled: now,
            dropped: 0,
        });
        let elapsed = now.duration_since(bucket.refilled);
        let earned = elapsed.as_nanos() / self.interval.as_nanos().max(1);
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            bucket.tokens = bucket.tokens.saturating_add(earned).min(self.burst);
            bucket.refilled = now;
        }
        if bucket.tokens == 0 {
            bucket.dropped += 1;
            return None;
        }
        bucket.tokens -= 1;
        Some(std::mem::take(&mut bucket.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_line_per_interval_with_the_count_dropped() {
        let t = LogThrottle::new(3, Duration::from_secs(10));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.admit("k", start), Some(0));
        }
        for _ in 0..1000 {
            assert_eq!(t.admit("k", start + Duration::from_secs(1)), None);
        }
        assert_eq!(t.admit("other", start), Some(0), "keys are separate");
        assert_eq!(t.admit("k", start + Duration::from_secs(11)), Some(1000));
        assert_eq!(t.admit("k", start + Duration::from_secs(12)), None);
    }

    #[test]
    fn keys_are_bounded() {
        let t = LogThrottle::new(1, Duration::from_secs(10));
        let now = Instant::now();
        for i in 0..(MAX_KEYS * 3) {
            t.admit(&format!("k{i}"), now);
        }
        assert!(t.buckets.lock().unwrap().len() <= MAX_KEYS);
    }
}
