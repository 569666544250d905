//! How many codes may be sent: per user within a window, and by the whole host per hour.
//! Checked before anything reaches a provider, against SMS pumping and toll fraud.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Most users whose recent sends are remembered; beyond it the oldest are forgotten only
/// once their window has passed, and new users are refused until then.
const MAX_TRACKED_USERS: usize = 10_000;
const HOUR: u64 = 3600;

/// The limits (the config's `[otp]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    /// Codes per user within `window`.
    pub max_sends: u32,
    /// The per-user window.
    pub window: Duration,
    /// Codes per hour from this host, all users together.
    pub max_per_hour: u32,
}

impl Default for SendPolicy {
    fn default() -> Self {
        SendPolicy {
            max_sends: 5,
            window: Duration::from_secs(HOUR),
            max_per_hour: 200,
        }
    }
}

/// Why a send is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    /// The user had `max_sends` within the window; a send is possible again at `retry_at`.
    User {
        /// Unix time.
        retry_at: u64,
    },
    /// The host had `max_per_hour` in the last hour.
    Host {
        /// Unix time.
        retry_at: u64,
    },
}

impl SendRefusal {
    /// Name in audit events.
    pub fn name(self) -> &'static str {
        match self {
            SendRefusal::User { .. } => "user_send_limit",
            SendRefusal::Host { .. } => "host_send_limit",
        }
    }
}

/// Recent sends.
#[derive(Debug)]
pub struct SendLimits {
    policy: SendPolicy,
    users: HashMap<String, VecDeque<u64>>,
    host: VecDeque<u64>,
}

impl SendLimits {
    /// No sends yet.
    pub fn new(policy: SendPolicy) -> SendLimits {
        SendLimits {
            policy,
            users: HashMap::new(),
            host: VecDeque::new(),
        }
    }

    /// New limits; the sends already counted stay counted.
    pub fn set_policy(&mut self, policy: SendPolicy) {
        self.policy = policy;
    }

    /// Counts a send for `user` at `now` if both limits allow it.
    pub fn admit(&mut self, user: &str, now: u64) -> Result<(), SendRefusal> {
        let window = self.policy.window.as_secs();
        expire(&mut self.host, now, HOUR);
        if self.host.len() >= self.policy.max_per_hour as usize {
            let retry_at = self.host.front().map_or(now, |t| t + HOUR);
            return Err(SendRefusal::Host { retry_at });
        }
        if !self.users.contains_key(user) && self.users.len() >= MAX_TRACKED_USERS {
            self.users.retain(|_, sent| {
                expire(sent, now, window);
                !sent.is_empty()
            });
            if self.users.len() >= MAX_TRACKED_USERS {
                return Err(SendRefusal::Host {
                    retry_at: now + window,
                });
            }
        }
        let sent = self.users.entry(user.to_owned()).or_default();
        expire(sent, now, window);
        if sent.len() >= self.policy.max_sends as usize {
            let retry_at = sent.front().map_or(now, |t| t + window);
            return Err(SendRefusal::User { retry_at });
        }
        sent.push_back(now);
        self.host.push_back(now);
        Ok(())
    }

    /// Counts a host-wide send that no user asked for (a notice), if the host limit allows.
    pub fn admit_notice(&mut self, now: u64) -> Result<(), SendRefusal> {
        expire(&mut self.host, now, HOUR);
        if self.host.len() >= self.policy.max_per_hour as usize {
            let retry_at = self.host.front().map_or(now, |t| t + HOUR);
            return Err(SendRefusal::Host { retry_at });
        }
        self.host.push_back(now);
        Ok(())
    }
}

fn expire(sent: &mut VecDeque<u64>, now: u64, window: u64) {
    while sent.front().is_some_and(|&t| t + window <= now) {
        sent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn per_user_window_slides() {
        let mut l = SendLimits::new(SendPolicy::default());
        for i in 0..5 {
            l.admit("alice", NOW + i).unwrap();
        }
        assert_eq!(
            l.admit("alice", NOW + 10),
            Err(SendRefusal::User {
                retry_at: NOW + HOUR
            })
        );
        l.admit("bob", NOW + 10).unwrap();
        l.admit("alice", NOW + HOUR).unwrap();
    }

    #[test]
    fn host_limit_holds_for_everyone() {
        let policy = SendPolicy {
            max_per_hour: 3,
            ..SendPolicy::default()
        };
        let mut l = SendLimits::new(policy);
        for user in ["a", "b", "c"] {
            l.admit(user, NOW).unwrap();
        }
        assert!(matches!(
            l.admit("d", NOW + 1),
            Err(SendRefusal::Host { .. })
        ));
        assert!(matches!(
            l.admit_notice(NOW + 1),
            Err(SendRefusal::Host { .. })
        ));
        l.admit("d", NOW + HOUR).unwrap();
    }
}
