//! How many messages may be sent: codes per user within a window, security notices per user
//! and per contact, and the whole host per hour, with part of the host's budget kept for
//! login codes. Checked before anything reaches a provider, against SMS pumping and toll
//! fraud.
//!
//! Every limit is a sliding window over one key (a user's codes, a user's notices, one
//! contact's notices, the host, the host's shared part). A message is admitted only if every
//! window it counts in has room, and then it is counted in all of them at once. All counts
//! live in one [`SendLimits`], so that they can move into a store as one piece.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Most keys remembered at once (about 1 KB per user with ten contacts at worst); beyond it
/// keys whose windows have passed are forgotten, and a message that needs a new key is
/// refused until one has (failing toward not sending).
const MAX_KEYS: usize = 30_000;
const HOUR: u64 = 3600;
/// Notices to one contact within this long of the last one sent to it are collapsed into
/// that one (dropped, and audited as `notice_collapsed`): a burst of changes, an attacker's
/// loop or a user tidying their factors, is one message per contact.
pub const NOTICE_BURST: Duration = Duration::from_secs(5 * 60);

/// The limits (the config's `[otp]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    /// Codes per user within `window`.
    pub max_sends: u32,
    /// The per-user window.
    pub window: Duration,
    /// Messages per hour from this host, all users together.
    pub max_per_hour: u32,
    /// Security notices per user per hour, all their contacts together.
    pub max_notices: u32,
}

impl Default for SendPolicy {
    fn default() -> Self {
        SendPolicy {
            max_sends: 5,
            window: Duration::from_secs(HOUR),
            max_per_hour: 200,
            // One burst can reach every contact a user may have.
            max_notices: crate::contact::MAX_CONTACTS as u32,
        }
    }
}

impl SendPolicy {
    /// Messages per hour that notices and contact confirmations together may take from
    /// `max_per_hour`: half, rounded up. Only login codes may use the rest, so that no user
    /// can spend what the others need to log in.
    pub fn shared_per_hour(&self) -> u32 {
        self.max_per_hour.div_ceil(2)
    }
}

/// What a code is sent for; decides which part of the host's budget it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// A login asked for it: it may use all of `max_per_hour`.
    Login,
    /// It confirms a contact being added (`mfa-enroll phone|email`). The user chooses when
    /// and how often, so it draws on the shared part, like notices.
    Confirmation,
}

/// Whether a notice may be collapsed into an earlier one to the same contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// To a contact the user still has: collapsed within [`NOTICE_BURST`] of the last one.
    Change,
    /// To a contact that was just removed: the last notice it will get, so never collapsed
    /// (it still counts toward the user's and the host's limits, and starts a burst).
    Farewell,
}

/// Why a message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    /// The user had `max_sends` codes within the window.
    User {
        /// Unix time a send is possible again.
        retry_at: u64,
    },
    /// The host had `max_per_hour` messages in the last hour (or too many users at once).
    Host {
        /// Unix time a send is possible again.
        retry_at: u64,
    },
    /// Notices and confirmation codes used their part of the host's budget; the rest is
    /// kept for login codes.
    HostShare {
        /// Unix time a send is possible again.
        retry_at: u64,
    },
    /// The user had `max_notices` notices in the last hour.
    UserNotices {
        /// Unix time a notice is possible again.
        retry_at: u64,
    },
    /// The contact had a notice less than [`NOTICE_BURST`] ago; this one is collapsed into
    /// it.
    Collapsed {
        /// Unix time the burst ends.
        retry_at: u64,
    },
}

impl SendRefusal {
    /// Name in audit events.
    pub fn name(self) -> &'static str {
        match self {
            SendRefusal::User { .. } => "user_send_limit",
            SendRefusal::Host { .. } => "host_send_limit",
            SendRefusal::HostShare { .. } => "host_share_limit",
            SendRefusal::UserNotices { .. } => "user_notice_limit",
            SendRefusal::Collapsed { .. } => "notice_collapsed",
        }
    }

    /// Unix time the refusal ends.
    pub fn retry_at(self) -> u64 {
        match self {
            SendRefusal::User { retry_at }
            | SendRefusal::Host { retry_at }
            | SendRefusal::HostShare { retry_at }
            | SendRefusal::UserNotices { retry_at }
            | SendRefusal::Collapsed { retry_at } => retry_at,
        }
    }
}

/// What one window counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A user's codes.
    Codes(String),
    /// A user's notices.
    Notices(String),
    /// The notices of one contact (user, address).
    Contact(String, String),
    /// Every message of the host.
    Host,
    /// The host's messages that were not login codes.
    HostShare,
}

/// One limit a message counts against: at most `limit` within `window` seconds.
#[derive(Debug)]
struct Window {
    key: Key,
    limit: u32,
    window: u64,
}

/// Recent sends: every count the limits need, in one place.
#[derive(Debug)]
pub struct SendLimits {
    policy: SendPolicy,
    sent: HashMap<Key, VecDeque<u64>>,
}

impl SendLimits {
    /// No sends yet.
    pub fn new(policy: SendPolicy) -> SendLimits {
        SendLimits {
            policy,
            sent: HashMap::new(),
        }
    }

    /// New limits; the sends already counted stay counted.
    pub fn set_policy(&mut self, policy: SendPolicy) {
        self.policy = policy;
    }

    /// Counts a code for `user` at `now` if the user's limit and the host's (for `purpose`)
    /// allow it.
    pub fn admit(&mut self, user: &str, purpose: CodePurpose, now: u64) -> Result<(), SendRefusal> {
        let p = self.policy;
        let mut windows = vec![
            host(p),
            Window {
                key: Key::Codes(user.to_owned()),
                limit: p.max_sends,
                window: p.window.as_secs(),
            },
        ];
        if purpose == CodePurpose::Confirmation {
            windows.push(host_share(p));
        }
        self.count(&windows, now)
    }

    /// Counts a security notice for `user` to the contact at address `to`, if the contact's
    /// burst (for a [`NoticeKind::Change`]), the user's notice limit and the host's shared
    /// part allow it.
    pub fn admit_notice(
        &mut self,
        user: &str,
        to: &str,
        kind: NoticeKind,
        now: u64,
    ) -> Result<(), SendRefusal> {
        let p = self.policy;
        let contact = Window {
            key: Key::Contact(user.to_owned(), to.to_owned()),
            limit: 1,
            window: NOTICE_BURST.as_secs(),
        };
        // The burst is checked first: a collapsed notice is reported as collapsed even when
        // a limit is reached as well.
        let mut windows = Vec::with_capacity(4);
        if kind == NoticeKind::Change {
            windows.push(contact);
        }
        windows.extend([
            host(p),
            host_share(p),
            Window {
                key: Key::Notices(user.to_owned()),
                limit: p.max_notices,
                window: HOUR,
            },
        ]);
        self.count(&windows, now)?;
        if kind == NoticeKind::Farewell {
            // Starts a burst like any notice, so a loop of removals is collapsed too.
            let key = Key::Contact(user.to_owned(), to.to_owned());
            let sent = self.sent.entry(key).or_default();
            sent.clear();
            sent.push_back(now);
        }
        Ok(())
    }

    /// Counts one message in every window if each has room; otherwise counts nothing and
    /// returns the first full one's refusal.
    fn count(&mut self, windows: &[Window], now: u64) -> Result<(), SendRefusal> {
        let new_keys = windows
            .iter()
            .filter(|w| !self.sent.contains_key(&w.key))
            .count();
        if self.sent.len() + new_keys > MAX_KEYS {
            self.sent.retain(|key, sent| {
                expire(sent, now, longest_window(key, &self.policy));
                !sent.is_empty()
            });
            if self.sent.len() + new_keys > MAX_KEYS {
                return Err(SendRefusal::Host {
                    retry_at: now + HOUR.min(self.policy.window.as_secs()),
                });
            }
        }
        for w in windows {
            let Some(sent) = self.sent.get_mut(&w.key) else {
                if w.limit == 0 {
                    return Err(refusal(&w.key, now));
                }
                continue;
            };
            expire(sent, now, w.window);
            if sent.len() >= w.limit as usize {
                let retry_at = sent.front().map_or(now, |t| t + w.window);
                return Err(refusal(&w.key, retry_at));
            }
        }
        for w in windows {
            self.sent.entry(w.key.clone()).or_default().push_back(now);
        }
        Ok(())
    }
}

fn host(p: SendPolicy) -> Window {
    Window {
        key: Key::Host,
        limit: p.max_per_hour,
        window: HOUR,
    }
}

fn host_share(p: SendPolicy) -> Window {
    Window {
        key: Key::HostShare,
        limit: p.shared_per_hour(),
        window: HOUR,
    }
}

/// How long a key's sends can matter, whatever message counts in it.
fn longest_window(key: &Key, policy: &SendPolicy) -> u64 {
    match key {
        Key::Codes(_) => policy.window.as_secs(),
        Key::Contact(..) => NOTICE_BURST.as_secs(),
        Key::Notices(_) | Key::Host | Key::HostShare => HOUR,
    }
}

fn refusal(key: &Key, retry_at: u64) -> SendRefusal {
    match key {
        Key::Codes(_) => SendRefusal::User { retry_at },
        Key::Notices(_) => SendRefusal::UserNotices { retry_at },
        Key::Contact(..) => SendRefusal::Collapsed { retry_at },
        Key::Host => SendRefusal::Host { retry_at },
        Key::HostShare => SendRefusal::HostShare { retry_at },
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
    const BURST: u64 = NOTICE_BURST.as_secs();

    #[test]
    fn per_user_window_slides() {
        let mut l = SendLimits::new(SendPolicy::default());
        for i in 0..5 {
            l.admit("alice", CodePurpose::Login, NOW + i).unwrap();
        }
        assert_eq!(
            l.admit("alice", CodePurpose::Login, NOW + 10),
            Err(SendRefusal::User {
                retry_at: NOW + HOUR
            })
        );
        l.admit("bob", CodePurpose::Login, NOW + 10).unwrap();
        l.admit("alice", CodePurpose::Login, NOW + HOUR).unwrap();
    }

    #[test]
    fn host_limit_holds_for_everyone() {
        let policy = SendPolicy {
            max_per_hour: 3,
            ..SendPolicy::default()
        };
        let mut l = SendLimits::new(policy);
        for user in ["a", "b", "c"] {
            l.admit(user, CodePurpose::Login, NOW).unwrap();
        }
        assert!(matches!(
            l.admit("d", CodePurpose::Login, NOW + 1),
            Err(SendRefusal::Host { .. })
        ));
        assert!(matches!(
            l.admit_notice("d", "+14155550123", NoticeKind::Change, NOW + 1),
            Err(SendRefusal::Host { .. })
        ));
        l.admit("d", CodePurpose::Login, NOW + HOUR).unwrap();
    }

    #[test]
    fn notices_to_one_contact_collapse_within_a_burst() {
        let mut l = SendLimits::new(SendPolicy::default());
        let to = "+14155550123";
        l.admit_notice("alice", to, NoticeKind::Change, NOW)
            .unwrap();
        for i in 1..25 {
            assert_eq!(
                l.admit_notice("alice", to, NoticeKind::Change, NOW + i),
                Err(SendRefusal::Collapsed {
                    retry_at: NOW + BURST
                })
            );
        }
        // Another contact, and another user's contact at the same address, are their own.
        l.admit_notice("alice", "a@example.com", NoticeKind::Change, NOW + 1)
            .unwrap();
        l.admit_notice("bob", to, NoticeKind::Change, NOW + 1)
            .unwrap();
        l.admit_notice("alice", to, NoticeKind::Change, NOW + BURST)
            .unwrap();
        // A removed contact hears of it even inside a burst, and starts one.
        l.admit_notice("alice", to, NoticeKind::Farewell, NOW + BURST + 1)
            .unwrap();
        assert_eq!(
            l.admit_notice("alice", to, NoticeKind::Change, NOW + BURST + 2),
            Err(SendRefusal::Collapsed {
                retry_at: NOW + 2 * BURST + 1
            })
        );
    }

    #[test]
    fn notices_per_user_are_bounded_across_bursts() {
        let policy = SendPolicy {
            max_notices: 4,
            ..SendPolicy::default()
        };
        let mut l = SendLimits::new(policy);
        let contacts = ["+8821", "+8822", "+8823"];
        let mut sent = 0;
        // An attacker's loop: a change every 10 s for an hour, three contacts each time.
        for t in (0..HOUR).step_by(10) {
            for to in contacts {
                if l.admit_notice("mallory", to, NoticeKind::Change, NOW + t)
                    .is_ok()
                {
                    sent += 1;
                }
            }
        }
        assert_eq!(sent, 4);
        assert!(matches!(
            l.admit_notice("mallory", "+8824", NoticeKind::Farewell, NOW + 100),
            Err(SendRefusal::UserNotices { retry_at }) if retry_at == NOW + HOUR
        ));
        // Other users are not held back by mallory's count.
        l.admit_notice("alice", "+8821", NoticeKind::Change, NOW + 100)
            .unwrap();
        l.admit_notice("mallory", "+8821", NoticeKind::Change, NOW + HOUR + BURST)
            .unwrap();
    }

    #[test]
    fn notices_and_confirmations_leave_half_the_host_budget_to_logins() {
        let policy = SendPolicy {
            max_sends: 1000,
            max_per_hour: 10,
            max_notices: 1000,
            ..SendPolicy::default()
        };
        assert_eq!(policy.shared_per_hour(), 5);
        let mut l = SendLimits::new(policy);
        for i in 0..3 {
            l.admit("mallory", CodePurpose::Confirmation, NOW).unwrap();
            let _ = l.admit_notice("mallory", &format!("+88{i}"), NoticeKind::Change, NOW);
        }
        assert_eq!(
            l.admit("mallory", CodePurpose::Confirmation, NOW + 1),
            Err(SendRefusal::HostShare {
                retry_at: NOW + HOUR
            })
        );
        assert!(matches!(
            l.admit_notice("mallory", "+999", NoticeKind::Change, NOW + 1),
            Err(SendRefusal::HostShare { .. })
        ));
        for user in ["a", "b", "c", "d", "e"] {
            l.admit(user, CodePurpose::Login, NOW + 2).unwrap();
        }
        assert!(matches!(
            l.admit("f", CodePurpose::Login, NOW + 2),
            Err(SendRefusal::Host { .. })
        ));
        // Logins may use the shared part when nothing else did.
        let mut l = SendLimits::new(policy);
        for i in 0..10 {
            l.admit(&format!("u{i}"), CodePurpose::Login, NOW).unwrap();
        }
    }

    #[test]
    fn a_full_table_refuses_new_keys_until_old_ones_expire() {
        let mut l = SendLimits::new(SendPolicy::default());
        for i in 0..MAX_KEYS - 1 {
            l.sent
                .insert(Key::Notices(format!("u{i}")), VecDeque::from([NOW]));
        }
        assert!(matches!(
            l.admit_notice("new", "+14155550123", NoticeKind::Change, NOW + 1),
            Err(SendRefusal::Host { .. })
        ));
        l.admit_notice("new", "+14155550123", NoticeKind::Change, NOW + HOUR)
            .unwrap();
        assert!(l.sent.len() < 10, "{}", l.sent.len());
    }
}
