//! Attempt limits of one user: failures are counted per source, and separately across all
//! sources. The daemon's attempt limiter keeps one [`LimitState`] per name in memory and makes
//! lockouts durable.
//!
//! Everything here is pure: the caller passes the time.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Failure counting and lockout (the config's `[limits]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures per user and source within `failure_window` before that source is locked out.
    pub max_failures: u32,
    /// Window in which failures are counted.
    pub failure_window: Duration,
    /// First lockout; doubles with each further round.
    pub lockout: Duration,
    /// Cap of the doubling lockout.
    pub max_lockout: Duration,
    /// Failures per user across all sources within `failure_window` before only recovery
    /// codes are accepted for that user.
    pub account_max_failures: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(60),
            max_lockout: Duration::from_secs(60 * 60),
            account_max_failures: 20,
        }
    }
}

/// A source's counters are forgotten this long after its last failure, once not locked.
const FORGET_AFTER_SECS: u64 = 24 * 60 * 60;
/// Most sources kept per user; the oldest unlocked ones are dropped first. Bounds what a
/// caller who can choose its source (a remote host name) can make the daemon keep.
pub const MAX_SOURCES: usize = 32;

/// Failure counters of one user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitState {
    /// Per source (remote host, or `service:tty`).
    pub sources: BTreeMap<String, Counter>,
    /// Across all sources.
    pub account: Counter,
}

/// Failures and lockout of one source, or of the whole account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Counter {
    /// Unix times of failures within the window.
    pub failures: Vec<u64>,
    /// Locked until this unix time (0: not locked).
    pub locked_until: u64,
    /// Lockouts so far; each doubles the next.
    pub rounds: u32,
    /// Unix time of the last failure.
    pub last_failure: u64,
}

/// What a failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureEffect {
    /// Nothing yet.
    Counted,
    /// The source is now locked until this unix time.
    SourceLocked(u64),
    /// The account-wide lock started (only recovery codes work until this unix time); the
    /// source itself is not locked.
    AccountLocked(u64),
}

impl FailureEffect {
    /// Whether a lockout started, which must survive a restart.
    pub fn started_a_lockout(self) -> bool {
        !matches!(self, FailureEffect::Counted)
    }
}

impl Counter {
    fn locked_at(&self, now: u64) -> Option<u64> {
        (self.locked_until > now).then_some(self.locked_until)
    }

    /// Counts a failure; returns the new lock end if this failure completed a round.
    fn fail(&mut self, now: u64, max: u32, limits: &LockoutPolicy) -> Option<u64> {
        let window = limits.failure_window.as_secs();
        self.failures.retain(|&t| t + window > now);
        self.failures.push(now);
        self.last_failure = now;
        if self.failures.len() < max as usize {
            return None;
        }
        self.failures.clear();
        self.rounds = self.rounds.saturating_add(1);
        let until = now + lockout_for_round(self.rounds, limits).as_secs();
        self.locked_until = until;
        Some(until)
    }
}

/// `lockout`, doubled for every round after the first, capped at `max_lockout`.
pub fn lockout_for_round(round: u32, limits: &LockoutPolicy) -> Duration {
    let doublings = round.saturating_sub(1).min(30);
    limits
        .lockout
        .checked_mul(1u32 << doublings)
        .unwrap_or(limits.max_lockout)
        .min(limits.max_lockout)
}

impl LimitState {
    /// When the source's lockout ends, if it is locked now.
    pub fn source_locked(&self, source: &str, now: u64) -> Option<u64> {
        self.sources.get(source).and_then(|c| c.locked_at(now))
    }

    /// When the account-wide lock ends, if it is on now (only recovery codes work then).
    pub fn account_locked(&self, now: u64) -> Option<u64> {
        self.account.locked_at(now)
    }

    /// Records a failed attempt from `source`.
    pub fn record_failure(
        &mut self,
        source: &str,
        now: u64,
        limits: &LockoutPolicy,
    ) -> FailureEffect {
        self.decay_account(now);
        let account = self.account.fail(now, limits.account_max_failures, limits);
        let counter = self.sources.entry(source.to_owned()).or_default();
        let effect = match (counter.fail(now, limits.max_failures, limits), account) {
            (Some(until), _) => FailureEffect::SourceLocked(until),
            (None, Some(until)) => FailureEffect::AccountLocked(until),
            (None, None) => FailureEffect::Counted,
        };
        self.prune(now);
        effect
    }

    /// A success from `source` clears that source, not the account-wide count (an attacker
    /// spread over many hosts must not be helped by the real user logging in).
    pub fn record_success(&mut self, source: &str, now: u64) {
        self.sources.remove(source);
        self.prune(now);
    }

    /// Sources locked now, with the time each lock ends.
    pub fn lockouts(&self, now: u64) -> Vec<(String, u64)> {
        self.sources
            .iter()
            .filter_map(|(s, c)| c.locked_at(now).map(|until| (s.clone(), until)))
            .collect()
    }

    /// Whether nothing is counted any more: the state can be forgotten.
    pub fn is_clear(&self) -> bool {
        self.sources.is_empty() && self.account == Counter::default()
    }

    /// Whether this state still matters beyond its pending counts: a lockout in force, or
    /// past rounds that make the next lockout longer (kept over idle names when the table
    /// is full).
    pub fn needs_persisting(&self, now: u64) -> bool {
        let matters = |c: &Counter| c.locked_until > now || c.rounds > 0;
        matters(&self.account) || self.sources.values().any(matters)
    }

    /// Unix time of the latest failure anywhere in this state.
    pub fn last_failure(&self) -> u64 {
        self.sources
            .values()
            .map(|c| c.last_failure)
            .chain([self.account.last_failure])
            .max()
            .unwrap_or(0)
    }

    /// The account counter decays like a source's: a day after its last failure, with no
    /// lock in force, its rounds are forgotten and the next lockout is short again.
    fn decay_account(&mut self, now: u64) {
        let a = &self.account;
        if a.locked_until <= now && a.last_failure + FORGET_AFTER_SECS <= now {
            self.account = Counter::default();
        }
    }

    /// Drops counters nobody needs any more, and bounds how many sources are kept.
    pub fn prune(&mut self, now: u64) {
        self.decay_account(now);
        self.sources
            .retain(|_, c| c.locked_until > now || c.last_failure + FORGET_AFTER_SECS > now);
        while self.sources.len() > MAX_SOURCES {
            let oldest = self
                .sources
                .iter()
                .filter(|(_, c)| c.locked_until <= now)
                .min_by_key(|(_, c)| c.last_failure)
                .or_else(|| self.sources.iter().min_by_key(|(_, c)| c.locked_until))
                .map(|(s, _)| s.clone());
            match oldest {
                Some(s) => {
                    self.sources.remove(&s);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LockoutPolicy {
        LockoutPolicy {
            max_failures: 5,
            failure_window: Duration::from_secs(900),
            lockout: Duration::from_secs(60),
            max_lockout: Duration::from_secs(3600),
            account_max_failures: 20,
        }
    }

    #[test]
    fn fifth_failure_locks_the_source_only() {
        let l = limits();
        let mut s = LimitState::default();
        let t = 1_000_000;
        for i in 0..4 {
            assert_eq!(
                s.record_failure("10.0.0.1", t + i, &l),
                FailureEffect::Counted
            );
        }
        assert_eq!(s.source_locked("10.0.0.1", t + 4), None);
        assert_eq!(
            s.record_failure("10.0.0.1", t + 4, &l),
            FailureEffect::SourceLocked(t + 64)
        );
        assert_eq!(s.source_locked("10.0.0.1", t + 5), Some(t + 64));
        assert_eq!(s.source_locked("10.0.0.2", t + 5), None);
        assert_eq!(s.source_locked("10.0.0.1", t + 64), None);
        assert_eq!(s.account_locked(t + 5), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let l = limits();
        let mut s = LimitState::default();
        let t = 1_000_000;
        for i in 0..4 {
            s.record_failure("h", t + i, &l);
        }
        assert_eq!(
            s.record_failure("h", t + 900 + 3, &l),
            FailureEffect::Counted
        );
    }

    #[test]
    fn lockout_doubles_each_round_up_to_the_cap() {
        let l = limits();
        let mut s = LimitState::default();
        let mut now = 1_000_000;
        let mut lengths = Vec::new();
        for _ in 0..8 {
            let mut effect = FailureEffect::Counted;
            for _ in 0..5 {
                effect = s.record_failure("h", now, &l);
            }
            let FailureEffect::SourceLocked(until) = effect else {
                panic!("no lockout after 5 failures")
            };
            lengths.push(until - now);
            now = until;
        }
        assert_eq!(lengths, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn success_clears_the_source_but_not_the_account() {
        let l = limits();
        let mut s = LimitState::default();
        for i in 0..4 {
            s.record_failure("h", 100 + i, &l);
        }
        s.record_success("h", 110);
        assert!(!s.sources.contains_key("h"));
        assert_eq!(s.account.failures.len(), 4);
        for i in 0..4 {
            assert_eq!(s.record_failure("h", 120 + i, &l), FailureEffect::Counted);
        }
    }

    #[test]
    fn many_sources_trip_the_account_lock() {
        let l = limits();
        let mut s = LimitState::default();
        for i in 0..19u64 {
            s.record_failure(&format!("10.0.0.{i}"), 1000 + i, &l);
        }
        assert_eq!(
            s.record_failure("10.0.0.19", 1019, &l),
            FailureEffect::AccountLocked(1019 + 60)
        );
        assert_eq!(s.account_locked(1020), Some(1019 + 60));
        assert!(s.lockouts(1020).is_empty());
    }

    #[test]
    fn sources_are_bounded_and_forgotten() {
        let l = limits();
        let mut s = LimitState::default();
        for i in 0..(MAX_SOURCES as u64 + 50) {
            s.record_failure(&format!("s{i}"), 1000 + i, &l);
        }
        assert!(s.sources.len() <= MAX_SOURCES);
        s.record_failure("late", 1000 + FORGET_AFTER_SECS + 10_000, &l);
        assert_eq!(s.sources.len(), 1);
    }

    #[test]
    fn account_rounds_decay_a_day_after_the_last_failure() {
        let l = limits();
        let mut s = LimitState::default();
        let mut now = 10_000;
        for round in 1..=3 {
            for i in 0..20u64 {
                s.record_failure(&format!("h{i}"), now, &l);
            }
            assert_eq!(s.account.rounds, round);
            now = s.account.locked_until;
        }
        s.record_failure("h", now + FORGET_AFTER_SECS + 1, &l);
        assert_eq!(s.account.rounds, 0, "rounds forgotten after a quiet day");
        assert_eq!(s.account.failures.len(), 1);
        s.prune(now + 3 * FORGET_AFTER_SECS);
        assert!(s.is_clear());
    }

    #[test]
    fn locked_sources_are_listed() {
        let l = limits();
        let mut s = LimitState::default();
        for _ in 0..5 {
            s.record_failure("a", 50, &l);
        }
        s.record_failure("b", 50, &l);
        assert_eq!(s.lockouts(51), vec![("a".to_owned(), 110)]);
    }
}
