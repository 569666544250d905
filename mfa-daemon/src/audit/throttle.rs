//! Rate limits for log lines a caller can make the daemon write: a flood of refused
//! connections or of identical failures must not turn into gigabytes of log.
//!
//! Each key (a kind of line and who caused it, or the whole line) has a bucket of `burst`
//! lines that refills by one every `interval`. A line that finds its bucket empty is counted,
//! not written; the next line of that key that is written says how many were dropped.
//!
//! [`UidBudget`] bounds the audit lines of each caller uid as a whole: lines that differ
//! (a new PAM service name in every request) pass the per-line buckets, but not it.

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

/// Caller uids with a window open at once; a uid beyond it is not limited (audit lines are
/// worth more than the bound, and only that many distinct peers could get here at once).
const MAX_UIDS: usize = 4096;

/// One uid's current window.
#[derive(Debug)]
struct Window {
    started: Instant,
    written: u32,
    dropped: u64,
}

/// Audit lines each caller uid other than root may cause: `lines` per `interval`, counted in
/// windows that start at the uid's first line. Lines past that are counted, and the count is
/// handed back once, when the window has ended, to be written as one summary line. Root's
/// callers (sshd, sudo, login) are never limited here: their lines cannot be crowded out by a
/// local user's flood, which has a budget of its own.
#[derive(Debug)]
pub(crate) struct UidBudget {
    lines: u32,
    interval: Duration,
    windows: Mutex<HashMap<u32, Window>>,
}

/// What [`UidBudget::admit`] decided about one line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Admission {
    /// Whether the line may be written.
    pub(crate) write: bool,
    /// `(uid, dropped)` for every window that ended with lines dropped, each reported once.
    pub(crate) summaries: Vec<(u32, u64)>,
}

impl UidBudget {
    /// Up to `lines` audit lines per uid per `interval`.
    pub(crate) fn new(lines: u32, interval: Duration) -> UidBudget {
        UidBudget {
            lines: lines.max(1),
            interval,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a line caused by `uid` (none: the daemon's own) may be written at `now`, and
    /// the summaries of windows that have ended since the last call.
    pub(crate) fn admit(&self, uid: Option<u32>, now: Instant) -> Admission {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let mut summaries = Vec::new();
        windows.retain(|&uid, w| {
            let open = now.saturating_duration_since(w.started) < self.interval;
            if !open && w.dropped > 0 {
                summaries.push((uid, w.dropped));
            }
            open
        });
        summaries.sort_unstable();
        let write = match uid {
            None | Some(0) => true,
            Some(uid) if !windows.contains_key(&uid) && windows.len() >= MAX_UIDS => true,
            Some(uid) => {
                let window = windows.entry(uid).or_insert(Window {
                    started: now,
                    written: 0,
                    dropped: 0,
                });
                if window.written < self.lines {
                    window.written += 1;
                    true
                } else {
                    window.dropped += 1;
                    false
                }
            }
        };
        Admission { write, summaries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_uid_has_its_own_budget_and_root_has_none() {
        let budget = UidBudget::new(3, Duration::from_secs(10));
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let written = |uid, now| budget.admit(Some(uid), now).write;
        for _ in 0..3 {
            assert!(written(1000, start));
        }
        for _ in 0..10_000 {
            assert!(!written(1000, at(1)), "past the budget of uid 1000");
        }
        assert!(written(1001, at(1)), "another uid is not crowded out");
        for _ in 0..1000 {
            assert!(written(0, at(2)), "root's callers are never limited");
            assert!(
                budget.admit(None, at(2)).write,
                "nor the daemon's own lines"
            );
        }
        // The window ends: one summary for uid 1000, none for 1001, which dropped nothing.
        let next = budget.admit(Some(1000), at(10));
        assert_eq!(next.summaries, [(1000, 10_000)]);
        assert!(next.write, "a new window, a new budget");
        assert!(
            budget.admit(Some(0), at(11)).summaries.is_empty(),
            "reported once"
        );
        assert!(written(1000, at(11)) && written(1000, at(12)));
        assert!(!written(1000, at(19)));
        assert_eq!(budget.admit(Some(0), at(20)).summaries, [(1000, 1)]);
    }

    #[test]
    fn a_flood_writes_a_bounded_number_of_lines() {
        let budget = UidBudget::new(30, Duration::from_secs(10));
        let start = Instant::now();
        let (mut lines, mut summaries) = (0, 0);
        // 100,000 lines spread over 60 seconds.
        for i in 0..100_000u64 {
            let admission = budget.admit(Some(1000), start + Duration::from_micros(i * 600));
            lines += u64::from(admission.write);
            summaries += admission.summaries.len();
        }
        assert_eq!(lines, 6 * 30);
        assert_eq!(summaries, 5, "one per ended window");
    }

    #[test]
    fn uids_are_bounded() {
        let budget = UidBudget::new(1, Duration::from_secs(10));
        let now = Instant::now();
        for uid in 1..=(MAX_UIDS as u32 * 2) {
            budget.admit(Some(uid), now);
        }
        assert_eq!(budget.windows.lock().unwrap().len(), MAX_UIDS);
    }

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
