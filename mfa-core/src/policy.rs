//! Who must use a second factor, decided once per conversation from the config's `[policy]`
//! and the account's groups, service and source. Rules can only make the result stricter:
//! when several apply, the strictest setting of each wins.

use std::net::IpAddr;

use ipnet::IpNet;

/// Who is asked at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    /// Everyone (but the exempt).
    All,
    /// Only members of `require_groups`; others are not asked (the module returns
    /// `PAM_IGNORE`, so the rest of the stack decides).
    Groups,
}

/// What happens to a user with no factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unenrolled {
    /// Skipped, like the module's `nullok` (the least strict).
    Allow,
    /// Shown an authenticator secret (QR code) at login and let in once they confirm it; within
    /// `grace_period` of the first time they were shown it, they may skip.
    Enroll,
    /// Refused, like an unknown user (the strictest).
    Deny,
}

/// Whether a login whose first SSH step was a FIDO security key (sshd's
/// `sk-ssh-ed25519@openssh.com` or `sk-ecdsa-sha2-nistp256@openssh.com` key) is asked again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecurityKeys {
    /// The key counts as the second factor: no prompt (the less strict).
    SecondFactor,
    /// Asked like any other login (the default, and the strictest).
    #[default]
    Ask,
}

/// A rule for some groups or services; its settings apply when the user is in one of its
/// groups or the service is one of its services, and only where they are stricter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Matches members of any of these.
    pub groups: Vec<String>,
    /// Matches any of these PAM services.
    pub services: Vec<String>,
    /// A stricter treatment of users without a factor.
    pub unenrolled: Option<Unenrolled>,
    /// A shorter trust of devices, in seconds (0: never).
    pub remember: Option<u64>,
    /// [`SecurityKeys::Ask`] here although `[policy]` lets security keys count.
    pub ssh_security_keys: Option<SecurityKeys>,
    /// Whether app passwords work for these groups or services: `false` anywhere a rule
    /// applies wins, else `true` from a rule allows them although `[policy]` does not.
    pub app_passwords: Option<bool>,
}

impl Rule {
    fn applies(&self, who: &Context<'_>) -> bool {
        self.groups.iter().any(|g| who.groups.contains(g))
            || self.services.iter().any(|s| s == who.service)
    }
}

/// The policy as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Who is asked.
    pub require: Require,
    /// With [`Require::Groups`]: the groups whose members are asked.
    pub require_groups: Vec<String>,
    /// Whether an SSH login that began with a FIDO security key is asked again.
    pub ssh_security_keys: SecurityKeys,
    /// Whether app passwords work (rules may allow or forbid them for some groups or
    /// services).
    pub app_passwords: bool,
    /// Never asked.
    pub exempt_users: Vec<String>,
    /// Members are never asked.
    pub exempt_groups: Vec<String>,
    /// Logins from these networks are not asked, except for services in `always_ask`.
    pub exempt_sources: Vec<IpNet>,
    /// Services that never honour `exempt_sources`.
    pub always_ask: Vec<String>,
    /// Users without a factor.
    pub unenrolled: Unenrolled,
    /// How long a device that passed is trusted, in seconds (0: never). Never for services
    /// in `always_ask`.
    pub remember: u64,
    /// With [`Unenrolled::Enroll`]: how long after the first enrollment prompt a user may
    /// still skip it, in seconds.
    pub grace_period: u64,
    /// Factors (apps, phones, addresses) a user must keep: removing below this needs root.
    pub min_factors: usize,
    /// Authenticator apps a user may have.
    pub max_authenticators: usize,
    /// Per-group or per-service tightening.
    pub rules: Vec<Rule>,
}

/// The services `always_ask` names by default: every PAM service that gives another
/// account's rights (`su`, `sudo`, `runuser`, polkit's `pkexec`) under each name it uses,
/// login shells (`su -`: `su-l`, `sudo -i`: `sudo-i`) included.
pub const DEFAULT_ALWAYS_ASK: [&str; 8] = [
    "sudo",
    "sudo-i",
    "su",
    "su-l",
    "runuser",
    "runuser-l",
    "polkit-1",
    "pkexec",
];

/// Lowest and highest `min_factors`.
pub const MIN_FACTORS_RANGE: std::ops::RangeInclusive<usize> = 1..=5;
/// Lowest and highest `max_authenticators`.
pub const MAX_AUTHENTICATORS_RANGE: std::ops::RangeInclusive<usize> = 1..=5;

impl Policy {
    /// When a user first seen at `first_seen` may no longer skip enrolling.
    pub fn grace_until(&self, first_seen: u64) -> u64 {
        first_seen.saturating_add(self.grace_period)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            require: Require::All,
            require_groups: Vec::new(),
            ssh_security_keys: SecurityKeys::Ask,
            app_passwords: false,
            exempt_users: Vec::new(),
            exempt_groups: Vec::new(),
            exempt_sources: Vec::new(),
            always_ask: DEFAULT_ALWAYS_ASK.iter().map(|s| (*s).to_owned()).collect(),
            unenrolled: Unenrolled::Deny,
            remember: 0,
            grace_period: 0,
            min_factors: 1,
            max_authenticators: 5,
            rules: Vec::new(),
        }
    }
}

/// What the policy is decided from.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The canonical account name.
    pub user: &'a str,
    /// The names of the account's groups (primary and supplementary); empty for unknown names.
    pub groups: &'a [String],
    /// The PAM service.
    pub service: &'a str,
    /// The remote address, only when a trusted caller (root's: sshd) reported it and it is an
    /// address, not a host name.
    pub source: Option<IpAddr>,
    /// Until when an admin exempted the user (the record's `exempt_until`).
    pub exempt_until: Option<u64>,
    /// The time of the login.
    pub now: u64,
}

/// Whether the user is asked for a factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Asked.
    Yes,
    /// Not asked: exempt (named in `exempt_users` or `exempt_groups`, or from an exempt
    /// network).
    Exempt(Exemption),
    /// Not asked: `require = "groups"` and not a member of one.
    NotRequired,
}

/// Why a user is exempt; in audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exemption {
    /// `exempt_users`.
    User,
    /// `exempt_groups`.
    Group,
    /// `exempt_sources`.
    Source,
    /// An admin's time-limited exemption (`mfactl exempt`).
    Admin,
}

impl Exemption {
    /// Name in audit events.
    pub fn name(self) -> &'static str {
        match self {
            Exemption::User => "exempt_user",
            Exemption::Group => "exempt_group",
            Exemption::Source => "exempt_source",
            Exemption::Admin => "exempt_until",
        }
    }
}

/// The policy for one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// Whether to ask.
    pub ask: Ask,
    /// Users without a factor.
    pub unenrolled: Unenrolled,
    /// How long to trust the device after a successful login, in seconds (0: not at all).
    pub remember: u64,
    /// Whether a first SSH step with a FIDO security key is the second factor; always
    /// [`SecurityKeys::Ask`] for an `always_ask` service.
    pub ssh_security_keys: SecurityKeys,
    /// Whether an app password may stand in for this login.
    pub app_passwords: bool,
}

impl Policy {
    /// Whether any setting depends on the account's groups (if not, they need not be looked
    /// up).
    pub fn needs_groups(&self) -> bool {
        !self.exempt_groups.is_empty()
            || self.require == Require::Groups
            || self.rules.iter().any(|r| !r.groups.is_empty())
    }

    /// The policy for `who`.
    pub fn resolve(&self, who: &Context<'_>) -> Resolved {
        let unenrolled = self
            .rules
            .iter()
            .filter(|r| r.applies(who))
            .filter_map(|r| r.unenrolled)
            .fold(self.unenrolled, Ord::max);
        let always_ask = self.always_ask.iter().any(|s| s == who.service);
        let remember = if always_ask {
            0
        } else {
            self.rules
                .iter()
                .filter(|r| r.applies(who))
                .filter_map(|r| r.remember)
                .fold(self.remember, Ord::min)
        };
        let ssh_security_keys = if always_ask {
            SecurityKeys::Ask
        } else {
            self.rules
                .iter()
                .filter(|r| r.applies(who))
                .filter_map(|r| r.ssh_security_keys)
                .fold(self.ssh_security_keys, Ord::max)
        };
        let app_passwords = self.resolve_app_passwords(who);
        let in_any = |names: &[String]| names.iter().any(|g| who.groups.contains(g));
        let ask = if self.exempt_users.iter().any(|u| u == who.user) {
            Ask::Exempt(Exemption::User)
        } else if who.exempt_until.is_some_and(|until| who.now < until) {
            Ask::Exempt(Exemption::Admin)
        } else if in_any(&self.exempt_groups) {
            Ask::Exempt(Exemption::Group)
        } else if !always_ask
            && who
                .source
                .is_some_and(|ip| self.exempt_sources.iter().any(|net| net.contains(&ip)))
        {
            Ask::Exempt(Exemption::Source)
        } else if self.require == Require::Groups && !in_any(&self.require_groups) {
            Ask::NotRequired
        } else {
            Ask::Yes
        };
        Resolved {
            ask,
            unenrolled,
            remember,
            ssh_security_keys,
            app_passwords,
        }
    }

    /// A rule's `false` wins over everything (forbidding is the strict side); else a rule's
    /// `true`, else `[policy]`'s own.
    fn resolve_app_passwords(&self, who: &Context<'_>) -> bool {
        let said: Vec<bool> = self
            .rules
            .iter()
            .filter(|r| r.applies(who))
            .filter_map(|r| r.app_passwords)
            .collect();
        if said.contains(&false) {
            false
        } else {
            said.contains(&true) || self.app_passwords
        }
    }

    /// Whether app passwords work for anyone at all (`[policy]` or any rule allows them):
    /// if not, making one is refused.
    pub fn app_passwords_anywhere(&self) -> bool {
        self.app_passwords || self.rules.iter().any(|r| r.app_passwords == Some(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who<'a>(user: &'a str, groups: &'a [String], service: &'a str, ip: &str) -> Context<'a> {
        Context {
            user,
            groups,
            service,
            source: ip.parse().ok(),
            exempt_until: None,
            now: 1_800_000_000,
        }
    }

    /// A rule for `groups` and `services` with these settings.
    fn rule(
        groups: &[&str],
        services: &[&str],
        unenrolled: Option<Unenrolled>,
        remember: Option<u64>,
    ) -> Rule {
        Rule {
            groups: names(groups),
            services: names(services),
            unenrolled,
            remember,
            ssh_security_keys: None,
            app_passwords: None,
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_ask_everyone_and_deny_the_unenrolled() {
        let r = Policy::default().resolve(&who("alice", &[], "sshd", "10.0.0.1"));
        assert_eq!(
            r,
            Resolved {
                ask: Ask::Yes,
                unenrolled: Unenrolled::Deny,
                remember: 0,
                ssh_security_keys: SecurityKeys::Ask,
                app_passwords: false,
            }
        );
        assert!(!Policy::default().needs_groups());
    }

    #[test]
    fn exemptions_by_user_group_and_network_but_never_for_always_ask_services() {
        let p = Policy {
            exempt_users: names(&["backup"]),
            exempt_groups: names(&["robots"]),
            exempt_sources: vec![
                "192.0.2.0/24".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ],
            ..Policy::default()
        };
        let none = names(&[]);
        let robots = names(&["staff", "robots"]);
        let by_source = Ask::Exempt(Exemption::Source);
        for (user, groups, service, source, ask) in [
            ("backup", &none, "sudo", "", Ask::Exempt(Exemption::User)),
            ("r2", &robots, "sshd", "", Ask::Exempt(Exemption::Group)),
            ("alice", &none, "sshd", "192.0.2.77", by_source),
            ("alice", &none, "sshd", "2001:db8::5", by_source),
            ("alice", &none, "sudo", "192.0.2.77", Ask::Yes),
            ("alice", &none, "sshd", "192.0.3.1", Ask::Yes),
            ("alice", &none, "sshd", "", Ask::Yes),
        ] {
            assert_eq!(
                p.resolve(&who(user, groups, service, source)).ask,
                ask,
                "{user} on {service} from {source:?}"
            );
        }
    }

    #[test]
    fn an_admin_exemption_holds_until_its_end_even_for_always_ask_services() {
        let p = Policy::default();
        let mut ctx = who("alice", &[], "sudo", "");
        ctx.exempt_until = Some(ctx.now + 60);
        assert_eq!(p.resolve(&ctx).ask, Ask::Exempt(Exemption::Admin));
        ctx.exempt_until = Some(ctx.now);
        assert_eq!(p.resolve(&ctx).ask, Ask::Yes);
    }

    #[test]
    fn require_groups_leaves_others_to_the_rest_of_the_stack() {
        let p = Policy {
            require: Require::Groups,
            require_groups: names(&["ssh-users"]),
            ..Policy::default()
        };
        assert!(p.needs_groups());
        let member = names(&["ssh-users"]);
        assert_eq!(p.resolve(&who("a", &member, "sshd", "")).ask, Ask::Yes);
        assert_eq!(p.resolve(&who("b", &[], "sshd", "")).ask, Ask::NotRequired);
    }

    #[test]
    fn the_strictest_rule_wins() {
        let p = Policy {
            unenrolled: Unenrolled::Allow,
            remember: 86_400 * 7,
            rules: vec![
                rule(&["wheel"], &[], Some(Unenrolled::Deny), Some(0)),
                rule(&["staff"], &[], Some(Unenrolled::Allow), Some(86_400 * 30)),
                rule(&[], &["login"], Some(Unenrolled::Deny), None),
            ],
            ..Policy::default()
        };
        let staff = names(&["staff"]);
        let both = names(&["staff", "wheel"]);
        assert_eq!(
            p.resolve(&who("a", &staff, "sshd", "")).unenrolled,
            Unenrolled::Allow
        );
        assert_eq!(
            p.resolve(&who("a", &both, "sshd", "")).unenrolled,
            Unenrolled::Deny
        );
        assert_eq!(
            p.resolve(&who("a", &staff, "login", "")).unenrolled,
            Unenrolled::Deny
        );
        // enroll sits between allow and deny.
        let enroll = Policy {
            unenrolled: Unenrolled::Enroll,
            rules: vec![
                rule(&["staff"], &[], Some(Unenrolled::Allow), None),
                rule(&["wheel"], &[], Some(Unenrolled::Deny), None),
            ],
            ..Policy::default()
        };
        assert_eq!(
            enroll.resolve(&who("a", &staff, "sshd", "")).unenrolled,
            Unenrolled::Enroll,
            "a rule cannot loosen enroll to allow"
        );
        assert_eq!(
            enroll.resolve(&who("a", &both, "sshd", "")).unenrolled,
            Unenrolled::Deny
        );
        // The shortest trust wins, a rule cannot lengthen it, always_ask services get none.
        assert_eq!(
            p.resolve(&who("a", &staff, "sshd", "")).remember,
            86_400 * 7
        );
        assert_eq!(p.resolve(&who("a", &both, "sshd", "")).remember, 0);
        assert_eq!(p.resolve(&who("a", &[], "login", "")).remember, 86_400 * 7);
        assert_eq!(p.resolve(&who("a", &[], "sudo", "")).remember, 0);
        // A rule cannot loosen the base setting.
        let strict = Policy {
            unenrolled: Unenrolled::Deny,
            ..p
        };
        assert_eq!(
            strict.resolve(&who("a", &staff, "sshd", "")).unenrolled,
            Unenrolled::Deny
        );
    }

    #[test]
    fn by_default_every_service_that_gives_another_accounts_rights_is_always_asked() {
        // `su -` and `sudo -i` run as `su-l` and `sudo-i`: with only `su` and `sudo` named,
        // they were remembered and skipped the exempt networks.
        let p = Policy {
            remember: 3600,
            exempt_sources: vec!["192.0.2.0/24".parse().unwrap()],
            ..Policy::default()
        };
        for service in [
            "sudo",
            "sudo-i",
            "su",
            "su-l",
            "runuser",
            "runuser-l",
            "polkit-1",
            "pkexec",
        ] {
            let r = p.resolve(&who("alice", &[], service, "192.0.2.7"));
            assert_eq!((r.ask, r.remember), (Ask::Yes, 0), "{service}");
        }
        let sshd = p.resolve(&who("alice", &[], "sshd", "192.0.2.7"));
        assert_eq!(sshd.ask, Ask::Exempt(Exemption::Source));
        assert_eq!(p.resolve(&who("alice", &[], "sshd", "")).remember, 3600);
    }

    #[test]
    fn security_keys_count_only_where_no_rule_or_always_ask_service_says_ask() {
        let ask_for_admins = Rule {
            ssh_security_keys: Some(SecurityKeys::Ask),
            ..rule(&["admins"], &[], None, None)
        };
        let p = Policy {
            ssh_security_keys: SecurityKeys::SecondFactor,
            rules: vec![ask_for_admins],
            ..Policy::default()
        };
        let keys = |groups: &[String], service| {
            p.resolve(&who("a", groups, service, "")).ssh_security_keys
        };
        assert_eq!(keys(&[], "sshd"), SecurityKeys::SecondFactor);
        assert_eq!(keys(&names(&["admins"]), "sshd"), SecurityKeys::Ask);
        assert_eq!(keys(&[], "sudo"), SecurityKeys::Ask);
        let by_default = Policy::default().resolve(&who("a", &[], "sshd", ""));
        assert_eq!(by_default.ssh_security_keys, SecurityKeys::Ask);
    }

    #[test]
    fn app_passwords_off_by_default_allowed_by_a_rule_and_a_rule_false_wins() {
        let allow = |groups: &[&str], services: &[&str], allows| Rule {
            app_passwords: Some(allows),
            ..rule(groups, services, None, None)
        };
        let p = Policy {
            rules: vec![allow(&["mail"], &[], true), allow(&[], &["sudo"], false)],
            ..Policy::default()
        };
        let on =
            |groups: &[String], service| p.resolve(&who("a", groups, service, "")).app_passwords;
        assert!(
            !Policy::default()
                .resolve(&who("a", &[], "sshd", ""))
                .app_passwords
        );
        assert!(!Policy::default().app_passwords_anywhere());
        assert!(p.app_passwords_anywhere());
        assert!(!on(&[], "dovecot"));
        assert!(on(&names(&["mail"]), "dovecot"));
        assert!(!on(&names(&["mail"]), "sudo"), "a rule's false wins");
        let everywhere = Policy {
            app_passwords: true,
            rules: vec![allow(&[], &["sudo"], false)],
            ..Policy::default()
        };
        assert!(everywhere.resolve(&who("a", &[], "sshd", "")).app_passwords);
        assert!(!everywhere.resolve(&who("a", &[], "sudo", "")).app_passwords);
    }
}
