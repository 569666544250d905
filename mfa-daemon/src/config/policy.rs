//! `[policy]` and its `[[policy.rule]]`s: who is asked for a second factor, who is exempt,
//! what happens to users without one, how long a device is remembered.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use mfa_core::device::MAX_REMEMBER_SECS;
use mfa_core::policy::{
    MAX_AUTHENTICATORS_RANGE, MIN_FACTORS_RANGE, Policy, Require, Rule, SecurityKeys, Unenrolled,
};

use super::Invalid;
use super::check::{duration, optional_duration, shown};

/// `[policy]`: who is asked, who is exempt, what happens to users without a factor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// `all`, or `groups` (only members of `require_groups` are asked).
    pub require: RequireSetting,
    /// With `require = "groups"`.
    pub require_groups: Vec<String>,
    /// Never asked (`PAM_IGNORE`).
    pub exempt_users: Vec<String>,
    /// Members are never asked.
    pub exempt_groups: Vec<String>,
    /// Networks (CIDR, or single addresses) whose logins are not asked, except for services
    /// in `always_ask`.
    pub exempt_sources: Vec<String>,
    /// Services that never honour `exempt_sources` and are never remembered (default: every
    /// service that gives another account's rights, `su-l` and `sudo-i` included).
    pub always_ask: Vec<String>,
    /// `deny`, `allow` or `enroll` users without a factor.
    pub unenrolled: UnenrolledSetting,
    /// With `unenrolled = "enroll"`: how long after the first enrollment prompt a user may
    /// still skip it (at most 90 days).
    #[serde(deserialize_with = "duration")]
    pub grace_period: Duration,
    /// Factors (apps, phones, addresses) a user must keep; 1 to 5.
    pub min_factors: usize,
    /// Authenticator apps per user; 1 to 5.
    pub max_authenticators: usize,
    /// How long a device that passed may skip the prompt (`"0s"`: never; at most 90 days).
    #[serde(deserialize_with = "duration")]
    pub remember: Duration,
    /// `[[policy.rule]]`: stricter settings for some groups or services.
    #[serde(rename = "rule")]
    pub rules: Vec<RuleConfig>,
    /// Approval on the phone for users with a passkey: `ask` (a menu entry) or `auto`
    /// (started at once; the prompt still takes a code).
    pub push: PushSetting,
    /// How long nothing notifies a user who answered "This wasn't me" of an approval
    /// request (the prompt still shows its link; codes still work); at most 1 day.
    #[serde(deserialize_with = "duration")]
    pub push_cooldown: Duration,
    /// Approval requests one user can cause in an hour; 1 to 60.
    pub max_pushes_per_hour: usize,
    /// How the link of an approval request reaches the user besides the prompt: `push`
    /// (Web Push to the browsers they subscribed), `sms` and `email` (to their verified
    /// phones and addresses). Empty: only the prompt shows it.
    #[serde(deserialize_with = "approval_channels")]
    pub approval_channels: Vec<ApprovalChannel>,
    /// `ask`, or `second_factor`: an SSH login whose first step was a FIDO security key is
    /// not asked again (root's callers only, never for `always_ask` services).
    pub ssh_security_keys: SecurityKeysSetting,
    /// Whether app passwords (`mfa-enroll app-password`, module option `app_password`) work;
    /// rules may allow or forbid them for some groups or services.
    pub app_passwords: bool,
}

/// `policy.ssh_security_keys` (and a rule's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityKeysSetting {
    /// Asked like any other login.
    #[default]
    Ask,
    /// The security key sshd checked is the second factor.
    SecondFactor,
}

impl SecurityKeysSetting {
    fn policy(self) -> SecurityKeys {
        match self {
            SecurityKeysSetting::Ask => SecurityKeys::Ask,
            SecurityKeysSetting::SecondFactor => SecurityKeys::SecondFactor,
        }
    }
}

/// One entry of `policy.approval_channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalChannel {
    /// Web Push to each browser the user subscribed.
    Push,
    /// A text message to each verified phone that takes texts (never a call).
    Sms,
    /// An email to each verified address.
    Email,
}

impl ApprovalChannel {
    /// Every channel, as the default lists them.
    pub const ALL: [ApprovalChannel; 3] = [
        ApprovalChannel::Push,
        ApprovalChannel::Sms,
        ApprovalChannel::Email,
    ];

    /// The name the config writes.
    pub fn name(self) -> &'static str {
        match self {
            ApprovalChannel::Push => "push",
            ApprovalChannel::Sms => "sms",
            ApprovalChannel::Email => "email",
        }
    }
}

/// `policy.approval_channels`: a list of channel names, each once; the error names the
/// entry that is not one, or is there twice.
fn approval_channels<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ApprovalChannel>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    let mut channels = Vec::with_capacity(names.len());
    for name in &names {
        let Some(channel) = ApprovalChannel::ALL.into_iter().find(|c| c.name() == name) else {
            return Err(serde::de::Error::custom(format!(
                "`{name}` is not an approval channel: use \"push\", \"sms\" or \"email\""
            )));
        };
        if channels.contains(&channel) {
            return Err(serde::de::Error::custom(format!(
                "`{name}` is listed twice"
            )));
        }
        channels.push(channel);
    }
    Ok(channels)
}

/// `policy.push`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushSetting {
    /// The menu offers "Approve on your phone".
    #[default]
    Ask,
    /// The approval request starts as soon as the prompt is shown, like Duo's autopush.
    Auto,
}

/// `[[policy.rule]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Applies to members of any of these groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Applies to any of these PAM services.
    #[serde(default)]
    pub services: Vec<String>,
    /// Users without a factor, where stricter than `[policy]`'s.
    pub unenrolled: Option<UnenrolledSetting>,
    /// A shorter `remember` for these groups or services.
    #[serde(default, deserialize_with = "optional_duration")]
    pub remember: Option<Duration>,
    /// `ask` for these groups or services although `[policy]` lets security keys count.
    pub ssh_security_keys: Option<SecurityKeysSetting>,
    /// Allow (`true`) or forbid (`false`) app passwords for these groups or services.
    pub app_passwords: Option<bool>,
}

/// `policy.require`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequireSetting {
    /// Everyone.
    #[default]
    All,
    /// Members of `require_groups`.
    Groups,
}

/// `policy.unenrolled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnenrolledSetting {
    /// Refused, like an unknown user.
    #[default]
    Deny,
    /// Skipped (`PAM_IGNORE`), like the module's `nullok`.
    Allow,
    /// Shown a QR code at login, and let in once they confirm a code from it.
    Enroll,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let p = Policy::default();
        PolicyConfig {
            require: RequireSetting::All,
            require_groups: Vec::new(),
            exempt_users: Vec::new(),
            exempt_groups: Vec::new(),
            exempt_sources: Vec::new(),
            always_ask: p.always_ask,
            unenrolled: UnenrolledSetting::Deny,
            grace_period: Duration::ZERO,
            min_factors: p.min_factors,
            max_authenticators: p.max_authenticators,
            remember: Duration::ZERO,
            rules: Vec::new(),
            push: PushSetting::Ask,
            push_cooldown: Duration::from_secs(15 * 60),
            max_pushes_per_hour: 5,
            approval_channels: ApprovalChannel::ALL.to_vec(),
            ssh_security_keys: SecurityKeysSetting::Ask,
            app_passwords: false,
        }
    }
}

/// A network as `exempt_sources` gives it: CIDR, or one address.
fn network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|net| net.trunc())
}

impl UnenrolledSetting {
    fn policy(self) -> Unenrolled {
        match self {
            UnenrolledSetting::Deny => Unenrolled::Deny,
            UnenrolledSetting::Allow => Unenrolled::Allow,
            UnenrolledSetting::Enroll => Unenrolled::Enroll,
        }
    }
}

impl PolicyConfig {
    /// Whether the link of an approval request goes out by `channel`.
    pub fn approval_by(&self, channel: ApprovalChannel) -> bool {
        self.approval_channels.contains(&channel)
    }

    /// Every group these settings name, with the key that names it.
    pub fn named_groups(&self) -> Vec<(&'static str, &str)> {
        let required = self
            .require_groups
            .iter()
            .map(|g| ("policy.require_groups", g));
        let exempting = self
            .exempt_groups
            .iter()
            .map(|g| ("policy.exempt_groups", g));
        let ruled = self
            .rules
            .iter()
            .flat_map(|r| r.groups.iter().map(|g| ("policy.rule.groups", g)));
        required
            .chain(exempting)
            .chain(ruled)
            .map(|(key, g)| (key, g.as_str()))
            .collect()
    }

    /// The policy these settings make (after [`Config::parse`](super::Config::parse)
    /// validated them).
    pub fn policy(&self) -> Policy {
        Policy {
            require: match self.require {
                RequireSetting::All => Require::All,
                RequireSetting::Groups => Require::Groups,
            },
            require_groups: self.require_groups.clone(),
            ssh_security_keys: self.ssh_security_keys.policy(),
            app_passwords: self.app_passwords,
            exempt_users: self.exempt_users.clone(),
            exempt_groups: self.exempt_groups.clone(),
            exempt_sources: self
                .exempt_sources
                .iter()
                .filter_map(|s| network(s))
                .collect(),
            always_ask: self.always_ask.clone(),
            unenrolled: self.unenrolled.policy(),
            remember: self.remember.as_secs(),
            grace_period: self.grace_period.as_secs(),
            min_factors: self.min_factors,
            max_authenticators: self.max_authenticators,
            rules: self
                .rules
                .iter()
                .map(|r| Rule {
                    groups: r.groups.clone(),
                    services: r.services.clone(),
                    unenrolled: r.unenrolled.map(UnenrolledSetting::policy),
                    remember: r.remember.map(|d| d.as_secs()),
                    ssh_security_keys: r.ssh_security_keys.map(SecurityKeysSetting::policy),
                    app_passwords: r.app_passwords,
                })
                .collect(),
        }
    }

    /// Refuses settings that cannot work, naming the key.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if self.require == RequireSetting::Groups && self.require_groups.is_empty() {
            return Err(Invalid::new(
                "policy.require_groups",
                "must name at least one group when policy.require = \"groups\"",
            ));
        }
        self.check_names()?;
        self.check_durations()?;
        self.check_counts()?;
        if let Some(bad) = self.exempt_sources.iter().find(|s| network(s).is_none()) {
            return Err(Invalid::new(
                "policy.exempt_sources",
                format!(
                    "`{bad}` is not a network: write e.g. \"192.0.2.0/24\", \"2001:db8::/32\" or one address"
                ),
            ));
        }
        self.rules
            .iter()
            .enumerate()
            .try_for_each(|(i, rule)| rule.validate(i + 1))
    }

    /// User, group and service names: not empty, not absurdly long, no control characters.
    fn check_names(&self) -> Result<(), Invalid> {
        for (key, names) in [
            ("policy.require_groups", &self.require_groups),
            ("policy.exempt_users", &self.exempt_users),
            ("policy.exempt_groups", &self.exempt_groups),
            ("policy.always_ask", &self.always_ask),
        ] {
            if let Some(bad) = names
                .iter()
                .find(|n| n.is_empty() || n.len() > 256 || n.chars().any(char::is_control))
            {
                return Err(Invalid::new(key, format!("`{bad}` is not a name")));
            }
        }
        Ok(())
    }

    /// `remember` (here and in every rule) and `grace_period`: at most 90 days.
    fn check_durations(&self) -> Result<(), Invalid> {
        let longest = Duration::from_secs(MAX_REMEMBER_SECS);
        if self.remember > longest || self.rules.iter().any(|r| r.remember > Some(longest)) {
            return Err(Invalid::new(
                "policy.remember",
                format!("may be at most 90 days, got {}", shown(self.remember)),
            ));
        }
        if self.push_cooldown > Duration::from_secs(86_400) {
            return Err(Invalid::new(
                "policy.push_cooldown",
                format!("may be at most 1 day, got {}", shown(self.push_cooldown)),
            ));
        }
        if self.grace_period > longest {
            return Err(Invalid::new(
                "policy.grace_period",
                format!("may be at most 90 days, got {}", shown(self.grace_period)),
            ));
        }
        Ok(())
    }

    /// `min_factors` and `max_authenticators`: within what the core policy allows.
    fn check_counts(&self) -> Result<(), Invalid> {
        for (key, value, range) in [
            (
                "policy.max_pushes_per_hour",
                self.max_pushes_per_hour,
                1..=60,
            ),
            ("policy.min_factors", self.min_factors, MIN_FACTORS_RANGE),
            (
                "policy.max_authenticators",
                self.max_authenticators,
                MAX_AUTHENTICATORS_RANGE,
            ),
        ] {
            if !range.contains(&value) {
                return Err(Invalid::new(
                    key,
                    format!(
                        "must be from {} to {}, got {value}",
                        range.start(),
                        range.end()
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl RuleConfig {
    /// Refuses a rule that applies to nothing or changes nothing; `number` counts from 1.
    fn validate(&self, number: usize) -> Result<(), Invalid> {
        if self.groups.is_empty() && self.services.is_empty() {
            return Err(Invalid::new(
                "policy.rule",
                format!("rule {number} applies to nothing: give it groups or services"),
            ));
        }
        if self.unenrolled.is_none()
            && self.remember.is_none()
            && self.ssh_security_keys.is_none()
            && self.app_passwords.is_none()
        {
            return Err(Invalid::new(
                "policy.rule",
                format!(
                    "rule {number} changes nothing: give it unenrolled, remember, ssh_security_keys or app_passwords"
                ),
            ));
        }
        // Rules only make the policy stricter, so this one could never take effect.
        if self.ssh_security_keys == Some(SecurityKeysSetting::SecondFactor) {
            return Err(Invalid::new(
                "policy.rule.ssh_security_keys",
                format!(
                    "rule {number} cannot let security keys count (rules only make the policy stricter): set \"second_factor\" in [policy] and \"ask\" in rules"
                ),
            ));
        }
        Ok(())
    }
}
