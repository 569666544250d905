//! How many messages may be sent: codes per user within a window, security notices per user
//! and per contact, and the whole host per hour, with part of the host's budget kept for
//! login codes. Checked before anything reaches a provider, against SMS pumping and toll
//! fraud.
//!
//! Every limit is a sliding window over one key (a user's codes, a user's notices, one
//! contact's notices, the host, the host's shared part). A message is admitted only if every
//! window it counts in has room, and then it is counted in all of them at once. All counts
//! live in one [`SendBook`] (crate::send_book), which the daemon's store keeps.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::send_book::{BucketFull, SendBook, SendBucket};

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
    /// The link of an approval request, sent when a sign-in asks for one. Never collapsed
    /// (each request has its own link) and kept apart from the security notices: it counts
    /// neither in a contact's burst nor in the user's notice limit, so approval requests,
    /// which whoever holds the password can cause, cannot swallow or use up the notices
    /// that tell the user of a change. Like a login code it may use the host's whole
    /// budget; each contact gets at most `per_hour` links an hour (the config's
    /// `policy.max_pushes_per_hour`), counted where the other limits are, so the bound
    /// holds across daemon restarts and hosts sharing a database.
    ApprovalLink {
        /// Links one contact may get in an hour.
        per_hour: u32,
    },
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
    /// The contact had as many approval links in the last hour as
    /// [`NoticeKind::ApprovalLink`] allows.
    ApprovalLinks {
        /// Unix time a link is possible again.
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
            SendRefusal::ApprovalLinks { .. } => "approval_link_limit",
        }
    }

    /// Unix time the refusal ends.
    pub fn retry_at(self) -> u64 {
        match self {
            SendRefusal::User { retry_at }
            | SendRefusal::Host { retry_at }
            | SendRefusal::HostShare { retry_at }
            | SendRefusal::UserNotices { retry_at }
            | SendRefusal::Collapsed { retry_at }
            | SendRefusal::ApprovalLinks { retry_at } => retry_at,
        }
    }
}

/// What one bucket counts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// A user's codes.
    Codes,
    /// A user's notices.
    Notices,
    /// The notices of one contact of a user.
    Contact,
    /// Every message of the host.
    Host,
    /// The host's messages that were not login codes.
    HostShare,
    /// The approval links of one contact of a user.
    ApprovalLinks,
}

/// The buckets one message counts in, each with the refusal it gives when full. The counts
/// themselves live in a [`SendBook`]: in memory, or kept by the daemon's store so that a
/// restart or a second host does not start them afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendPlan {
    buckets: Vec<SendBucket>,
    keys: Vec<Key>,
}

impl SendPlan {
    fn new() -> SendPlan {
        SendPlan {
            buckets: Vec::with_capacity(4),
            keys: Vec::with_capacity(4),
        }
    }

    fn with(mut self, key: Key, name: String, limit: u32, window: u64) -> SendPlan {
        self.buckets.push(SendBucket::new(name, limit, window));
        self.keys.push(key);
        self
    }

    /// The buckets, in the order they are checked.
    pub fn buckets(&self) -> &[SendBucket] {
        &self.buckets
    }

    /// Why the message is refused when `full` is.
    pub fn refusal(&self, full: BucketFull) -> SendRefusal {
        let retry_at = full.retry_at;
        if full.crowded {
            return SendRefusal::Host { retry_at };
        }
        match self.keys.get(full.index) {
            Some(Key::Codes) => SendRefusal::User { retry_at },
            Some(Key::Notices) => SendRefusal::UserNotices { retry_at },
            Some(Key::Contact) => SendRefusal::Collapsed { retry_at },
            Some(Key::HostShare) => SendRefusal::HostShare { retry_at },
            Some(Key::ApprovalLinks) => SendRefusal::ApprovalLinks { retry_at },
            Some(Key::Host) | None => SendRefusal::Host { retry_at },
        }
    }

    /// Counts the message in `book` if every bucket has room.
    pub fn admit(&self, book: &mut SendBook, now: u64) -> Result<(), SendRefusal> {
        book.admit(&self.buckets, now)
            .map_err(|full| self.refusal(full))
    }
}

/// The send limits in force: which buckets each message counts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendLimits {
    policy: SendPolicy,
    /// The host's name in its buckets' keys: hosts sharing a database each keep their own
    /// budget, while a user's limits hold across them.
    host: String,
}

impl SendLimits {
    /// The limits of `policy` on the host called `host`.
    pub fn new(policy: SendPolicy, host: &str) -> SendLimits {
        SendLimits {
            policy,
            host: host.to_owned(),
        }
    }

    /// New limits; the sends already counted stay counted.
    pub fn set_policy(&mut self, policy: SendPolicy) {
        self.policy = policy;
    }

    /// The host's budget: every message counts in it.
    fn host(&self, plan: SendPlan) -> SendPlan {
        let key = format!("host:{}", self.host);
        plan.with(Key::Host, key, self.policy.max_per_hour, HOUR)
    }

    /// The host's shared part: every message but a login code counts in it.
    fn host_share(&self, plan: SendPlan) -> SendPlan {
        let key = format!("host-share:{}", self.host);
        plan.with(Key::HostShare, key, self.policy.shared_per_hour(), HOUR)
    }

    /// The buckets of a code for `user`: the user's limit and the host's (for `purpose`).
    pub fn code(&self, user: &str, purpose: CodePurpose) -> SendPlan {
        let p = self.policy;
        let plan = self.host(SendPlan::new()).with(
            Key::Codes,
            format!("codes:{user}"),
            p.max_sends,
            p.window.as_secs(),
        );
        match purpose {
            CodePurpose::Login => plan,
            CodePurpose::Confirmation => self.host_share(plan),
        }
    }

    /// The buckets of a security notice for `user` to the contact at address `to`: the
    /// contact's burst (a [`NoticeKind::Farewell`] is counted in it but never refused by
    /// it), the host's budget and shared part, and the user's notice limit.
    ///
    /// A [`NoticeKind::ApprovalLink`] counts instead in the contact's approval links and the
    /// host's budget only (see there why).
    pub fn notice(&self, user: &str, to: &str, kind: NoticeKind) -> SendPlan {
        let p = self.policy;
        let burst_limit = match kind {
            NoticeKind::Change => 1,
            NoticeKind::Farewell => u32::MAX,
            NoticeKind::ApprovalLink { per_hour } => {
                let links = SendPlan::new().with(
                    Key::ApprovalLinks,
                    format!("approval-{}", contact_key(user, to)),
                    per_hour,
                    HOUR,
                );
                return self.host(links);
            }
        };
        // The burst is checked first: a collapsed notice is reported as collapsed even when
        // a limit is reached as well.
        let burst = SendPlan::new().with(
            Key::Contact,
            contact_key(user, to),
            burst_limit,
            NOTICE_BURST.as_secs(),
        );
        self.host_share(self.host(burst)).with(
            Key::Notices,
            format!("notices:{user}"),
            p.max_notices,
            HOUR,
        )
    }
}

/// The key of one contact's notices: a digest of the user and the address, so that the
/// counts (kept in clear, also in a shared database) hold no phone number or address, and
/// no two pairs share a key.
fn contact_key(user: &str, to: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(user.len().to_be_bytes());
    digest.update(user.as_bytes());
    digest.update(to.as_bytes());
    let digest = digest.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("contact:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits with their counts in memory.
    struct Counted {
        limits: SendLimits,
        book: SendBook,
    }

    impl Counted {
        fn new(policy: SendPolicy) -> Counted {
            Counted {
                limits: SendLimits::new(policy, "h"),
                book: SendBook::new(),
            }
        }

        fn admit(&mut self, user: &str, purpose: CodePurpose, now: u64) -> Result<(), SendRefusal> {
            self.limits.code(user, purpose).admit(&mut self.book, now)
        }

        fn admit_notice(
            &mut self,
            user: &str,
            to: &str,
            kind: NoticeKind,
            now: u64,
        ) -> Result<(), SendRefusal> {
            self.limits
                .notice(user, to, kind)
                .admit(&mut self.book, now)
        }
    }

    const NOW: u64 = 1_800_000_000;
    const BURST: u64 = NOTICE_BURST.as_secs();

    #[test]
    fn per_user_window_slides() {
        let mut l = Counted::new(SendPolicy::default());
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
        let mut l = Counted::new(policy);
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
        let mut l = Counted::new(SendPolicy::default());
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
        let mut l = Counted::new(policy);
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
        let mut l = Counted::new(policy);
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
        let mut l = Counted::new(policy);
        for i in 0..10 {
            l.admit(&format!("u{i}"), CodePurpose::Login, NOW).unwrap();
        }
    }

    #[test]
    fn a_full_book_refuses_new_keys_as_the_host_limit_until_old_ones_expire() {
        let mut l = Counted::new(SendPolicy::default());
        for i in 0..crate::send_book::MAX_KEYS - 1 {
            l.book.record(&format!("notices:u{i}"), HOUR, NOW);
        }
        assert!(matches!(
            l.admit_notice("new", "+14155550123", NoticeKind::Change, NOW + 1),
            Err(SendRefusal::Host { .. })
        ));
        l.admit_notice("new", "+14155550123", NoticeKind::Change, NOW + HOUR)
            .unwrap();
        assert!(l.book.len() < 10, "{}", l.book.len());
    }

    #[test]
    fn approval_links_are_bounded_per_contact_and_leave_notices_alone() {
        let policy = SendPolicy {
            max_notices: 2,
            ..SendPolicy::default()
        };
        let mut l = Counted::new(policy);
        let to = "+14155550123";
        let link = NoticeKind::ApprovalLink { per_hour: 3 };
        // Never collapsed: three links within seconds all go.
        for i in 0..3 {
            l.admit_notice("alice", to, link, NOW + i).unwrap();
        }
        assert_eq!(
            l.admit_notice("alice", to, link, NOW + 3),
            Err(SendRefusal::ApprovalLinks {
                retry_at: NOW + HOUR
            })
        );
        assert_eq!(
            SendRefusal::ApprovalLinks { retry_at: 0 }.name(),
            "approval_link_limit"
        );
        // Another contact has its own count.
        l.admit_notice("alice", "a@example.com", link, NOW + 3)
            .unwrap();
        // The links neither started a burst nor used the user's notices.
        l.admit_notice("alice", to, NoticeKind::Change, NOW + 4)
            .unwrap();
        l.admit_notice("alice", "a@example.com", NoticeKind::Change, NOW + 4)
            .unwrap();
        // And notices do not use up the links.
        l.admit_notice("alice", "a@example.com", link, NOW + 5)
            .unwrap();
        l.admit_notice("alice", to, link, NOW + HOUR).unwrap();
    }

    #[test]
    fn approval_links_count_in_the_host_budget_but_not_its_shared_part() {
        let policy = SendPolicy {
            max_per_hour: 4,
            ..SendPolicy::default()
        };
        let mut l = Counted::new(policy);
        let link = NoticeKind::ApprovalLink { per_hour: 60 };
        // Like login codes, links may use more than the shared half (2).
        for i in 0..3 {
            l.admit_notice(&format!("u{i}"), "+8821", link, NOW)
                .unwrap();
        }
        l.admit("u9", CodePurpose::Login, NOW).unwrap();
        assert!(matches!(
            l.admit_notice("u4", "+8821", link, NOW + 1),
            Err(SendRefusal::Host { .. })
        ));
    }

    #[test]
    fn contact_keys_hold_no_address_and_do_not_collide() {
        let key = contact_key("alice", "+14155550123");
        assert!(
            !key.contains("4155550123") && !key.contains("alice"),
            "{key}"
        );
        assert_ne!(contact_key("ab", "c"), contact_key("a", "bc"));
        assert_eq!(key, contact_key("alice", "+14155550123"));
    }
}
