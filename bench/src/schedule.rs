//! Which time step a user's next code is for.
//!
//! Every verifier benchmarked here accepts a code at most once and, after a step, only later
//! ones (pam_mfa and pam_oath) or at least not the same one again (google-authenticator's
//! DISALLOW_REUSE). With one step of skew either side (pam_mfa `skew = 1`, pam_oath
//! `window=1`, google-authenticator `WINDOW_SIZE 3`) a user can therefore authenticate three
//! times a period: with the codes for steps t-1, t and t+1, in that order. After that the
//! next code has to wait for the next period.

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::roster::{BenchUser, PERIOD};

/// A code for the oldest accepted step is not used this close to the end of its period: it
/// could expire between being computed and being checked.
const EXPIRY_MARGIN: Duration = Duration::from_secs(1);
/// Waiting for a step to become acceptable ends this long after it has.
const START_MARGIN: Duration = Duration::from_millis(50);

/// The step to use next and how long to wait before it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The time step.
    pub step: u64,
    /// How long from now until a verifier with one step of skew accepts it.
    pub wait: Duration,
}

/// The earliest step after `last_step` that is, or will next be, accepted at `now` (time
/// since the Unix epoch).
pub fn plan(last_step: u64, now: Duration) -> Plan {
    let period = Duration::from_secs(PERIOD);
    let current = now.as_secs() / PERIOD;
    let into_period = now.saturating_sub(Duration::from_secs(current * PERIOD));
    let oldest_safe = if into_period + EXPIRY_MARGIN >= period {
        current
    } else {
        current.saturating_sub(1)
    };
    let step = oldest_safe.max(last_step + 1);
    if step <= current + 1 {
        return Plan {
            step,
            wait: Duration::ZERO,
        };
    }
    // `step` is accepted once `step - 1` is the current step.
    let accepted_from = Duration::from_secs((step - 1) * PERIOD) + START_MARGIN;
    Plan {
        step,
        wait: accepted_from.saturating_sub(now),
    }
}

/// Time since the Unix epoch.
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The next step and code for `user`, after waiting until they are accepted. The caller
/// records the step in `user.last_step` once a verifier accepted it.
pub fn next_code(user: &BenchUser) -> (u64, String) {
    let plan = plan(user.last_step, now());
    if !plan.wait.is_zero() {
        thread::sleep(plan.wait);
    }
    (plan.step, user.code(plan.step))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_000_000;

    fn at(step: u64, seconds_into: u64) -> Duration {
        Duration::from_secs(step * PERIOD + seconds_into)
    }

    #[test]
    fn three_codes_a_period_then_waits_for_the_next() {
        let now = at(T, 5);
        assert_eq!(plan(0, now).step, T - 1);
        assert_eq!(plan(T - 1, now).step, T);
        assert_eq!(plan(T, now).step, T + 1);
        assert_eq!(plan(T, now).wait, Duration::ZERO);
        let next = plan(T + 1, now);
        assert_eq!(next.step, T + 2);
        assert_eq!(next.wait, Duration::from_secs(25) + START_MARGIN);
    }

    #[test]
    fn the_oldest_step_is_skipped_near_the_end_of_the_period() {
        assert_eq!(plan(0, at(T, 28)).step, T - 1);
        assert_eq!(plan(0, at(T, 29)).step, T);
    }
}
