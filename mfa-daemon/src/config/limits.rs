//! `[limits]`: how many failed answers are allowed, and how long a source or an account is
//! locked out after them.

use std::time::Duration;

use serde::Deserialize;

use mfa_core::lockout::LockoutPolicy;

use super::Invalid;
use super::check::{duration, positive, range};

/// Failure counting and lockout.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Failures per user and source within `failure_window` before that source is locked out.
    pub max_failures: u32,
    /// Window in which failures are counted.
    #[serde(deserialize_with = "duration")]
    pub failure_window: Duration,
    /// First lockout; doubles with each further round.
    #[serde(deserialize_with = "duration")]
    pub lockout: Duration,
    /// Cap of the doubling lockout.
    #[serde(deserialize_with = "duration")]
    pub max_lockout: Duration,
    /// Failures per user across all sources within `failure_window` before only recovery
    /// codes are accepted for that user.
    pub account_max_failures: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let p = LockoutPolicy::default();
        LimitsConfig {
            max_failures: p.max_failures,
            failure_window: p.failure_window,
            lockout: p.lockout,
            max_lockout: p.max_lockout,
            account_max_failures: p.account_max_failures,
        }
    }
}

impl LimitsConfig {
    /// The policy these settings make.
    pub fn policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            max_failures: self.max_failures,
            failure_window: self.failure_window,
            lockout: self.lockout,
            max_lockout: self.max_lockout,
            account_max_failures: self.account_max_failures,
        }
    }

    /// Refuses limits that cannot work or contradict each other, naming the key.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        range("limits.max_failures", self.max_failures, 1, 1000)?;
        positive("limits.failure_window", self.failure_window)?;
        positive("limits.lockout", self.lockout)?;
        if self.max_lockout < self.lockout {
            return Err(Invalid::new(
                "limits.max_lockout",
                "must not be shorter than limits.lockout",
            ));
        }
        range(
            "limits.account_max_failures",
            self.account_max_failures,
            self.max_failures,
            100_000,
        )
    }
}
