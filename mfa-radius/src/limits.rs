//! What bounds the work clients can cause: a token bucket of `requests_per_second` per
//! client (the burst the same), a cap on each client's PAM checks running at once, and one
//! on the logins in progress, which each hold a daemon connection.
//!
//! Time is passed in, so tests move it instead of waiting.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most PAM checks one client may have running at once; more are dropped (the client
/// retries). A check may block for seconds (pam_unix's delay after a wrong password), and
/// each takes a thread.
pub(crate) const PAM_CHECKS_PER_CLIENT: usize = 8;

/// Most logins in progress at once (a first round trip, or an answer's): the daemon
/// connections that open challenges do not hold (`sessions::DAEMON_CONNECTIONS` less
/// `sessions::SESSIONS_MAX`).
pub(crate) const LOGINS_IN_PROGRESS: usize = 32;
/// How long a request waits for a login slot before it is dropped (the client retries): a
/// VPN concentrator at a morning peak keeps dozens of requests outstanding, each done in
/// milliseconds, and a short wait serves them in turn instead of dropping half.
pub(crate) const LOGIN_SLOT_WAIT: Duration = Duration::from_secs(2);

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

/// The logins in progress, each holding a daemon connection.
#[derive(Debug, Clone)]
pub(crate) struct LoginSlots(Arc<Semaphore>);

impl LoginSlots {
    /// `slots` free slots.
    pub(crate) fn new(slots: usize) -> LoginSlots {
        LoginSlots(Arc::new(Semaphore::new(slots)))
    }

    /// A slot, held until the permit is dropped; `None` when none came free within `wait`.
    /// Called in a request's own task, never in the UDP loop.
    pub(crate) async fn take(&self, wait: Duration) -> Option<OwnedSemaphorePermit> {
        let acquiring = Arc::clone(&self.0).acquire_owned();
        tokio::time::timeout(wait, acquiring).await.ok()?.ok()
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

    #[tokio::test(start_paused = true)]
    async fn a_login_waits_a_little_for_a_slot_then_gives_up() {
        let slots = LoginSlots::new(1);
        let held = slots.take(LOGIN_SLOT_WAIT).await.unwrap();
        // Paused time: the wait passes at once, without sleeping.
        assert!(slots.take(LOGIN_SLOT_WAIT).await.is_none());
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take(LOGIN_SLOT_WAIT).await.is_some() }
        });
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiting.await.unwrap());
    }
}
