//! The time every decision is made at, passed in rather than read where it is used, so
//! that tests move it instead of sleeping (the end-to-end suites keep the real clock).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A moment as seconds since the Unix epoch, the unit of every record, code step and
/// lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The moment `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> UnixTime {
        UnixTime(secs)
    }

    /// Seconds since the epoch, as the decisions in `mfa_core` take them.
    pub const fn secs(self) -> u64 {
        self.0
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where the time comes from.
pub trait Clock: fmt::Debug + Send + Sync {
    /// The time now.
    fn now(&self) -> UnixTime;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    }
}

/// A clock that stands still until it is moved: for tests of the service and the decisions.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn at(at: UnixTime) -> ManualClock {
        ManualClock(AtomicU64::new(at.0))
    }

    /// Moves the clock `secs` seconds ahead.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(UnixTime::from_secs(1_000));
        assert_eq!(clock.now().secs(), 1_000);
        clock.advance(31);
        assert_eq!(clock.now(), UnixTime::from_secs(1_031));
    }

    #[test]
    fn the_system_clock_is_past_2020() {
        assert!(SystemClock.now().secs() > 1_577_836_800);
    }
}
