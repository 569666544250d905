//! What bounds the work one client can cause: a token bucket of `requests_per_second` (the
//! burst the same), and a cap on its PAM checks running at once.
//!
//! Time is passed in, so tests move it instead of waiting.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most PAM checks one client may have running at once; more are dropped (the client
/// retries). A check may block for seconds (pam_unix's delay after a wrong password), and
/// each takes a thread.
pub(crate) const PAM_CHECKS_PER_CLIENT: usize = 8;

/// One client's request rate: `rate` requests a second, `rate` at once after a pause.
#[derive(Debug)]
pub(crate) struct RequestRate {
    rate: u32,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    /// When `tokens` was last topped up (advanced by whole periods only, so no fraction is
    /// lost).
    refilled: Instant,
}

impl RequestRate {
    /// A full bucket for `rate` requests a second (at least 1) at `now`.
    pub(crate) fn new(rate: u32, now: Instant) -> RequestRate {
        let rate = rate.max(1);
        RequestRate {
            rate,
            bucket: Mutex::new(Bucket {
                tokens: rate,
                refilled: now,
            }),
        }
    }

    /// Takes one request at `now`; false when the bucket is empty.
    pub(crate) fn take(&self, now: Instant) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let period = Duration::from_secs(1) / self.rate;
        let periods = now.saturating_duration_since(bucket.refilled).as_nanos() / period.as_nanos();
        let room = self.rate - bucket.tokens;
        if periods >= u128::from(room) {
            bucket.tokens = self.rate;
            bucket.refilled = now;
        } else {
            // periods < room <= u32::MAX.
            let added = u32::try_from(periods).unwrap_or(u32::MAX);
            bucket.tokens += added;
            bucket.refilled += period * added;
        }
        if bucket.tokens == 0 {
            return false;
        }
        bucket.tokens -= 1;
        true
    }
}

/// The PAM checks one client may run at once.
#[derive(Debug, Clone)]
pub(crate) struct PamSlots(Arc<Semaphore>);

impl PamSlots {
    /// [`PAM_CHECKS_PER_CLIENT`] free slots.
    pub(crate) fn new() -> PamSlots {
        PamSlots(Arc::new(Semaphore::new(PAM_CHECKS_PER_CLIENT)))
    }

    /// A slot, held until the permit is dropped; `None` when all are taken (never waits:
    /// the UDP loop must not stall behind a slow PAM stack).
    pub(crate) fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.0).try_acquire_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_rate_then_the_rate() {
        let t0 = Instant::now();
        let rate = RequestRate::new(5, t0);
        for _ in 0..5 {
            assert!(rate.take(t0));
        }
        assert!(!rate.take(t0));
        // One request per 200 ms comes back.
        assert!(!rate.take(t0 + Duration::from_millis(199)));
        assert!(rate.take(t0 + Duration::from_millis(200)));
        assert!(!rate.take(t0 + Duration::from_millis(300)));
        assert!(rate.take(t0 + Duration::from_millis(400)));
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..5 {
            assert!(rate.take(later));
        }
        assert!(!rate.take(later));
    }

    #[test]
    fn a_flood_gets_the_rate_and_no_more() {
        let t0 = Instant::now();
        let rate = RequestRate::new(50, t0);
        let mut passed = 0;
        // 10 000 requests over 10 s: 50 at once, then 50 a second.
        for i in 0..10_000u64 {
            if rate.take(t0 + Duration::from_millis(i)) {
                passed += 1;
            }
        }
        assert_eq!(passed, 50 + 500 - 1);
    }

    #[test]
    fn pam_slots_are_bounded_and_come_back() {
        let slots = PamSlots::new();
        let held: Vec<_> = (0..PAM_CHECKS_PER_CLIENT)
            .map(|_| slots.try_take().unwrap())
            .collect();
        assert!(slots.try_take().is_none());
        drop(held);
        assert!(slots.try_take().is_some());
    }
}
