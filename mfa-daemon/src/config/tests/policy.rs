//! `[policy]`: the core policy it makes, its refusals, and groups NSS does not know.

use std::path::Path;

use mfa_core::policy::{Require, Unenrolled};

use super::parse;

#[test]
fn groups_nss_does_not_know_are_refused_by_key_and_name() {
    let c = parse(
        "[policy]\nrequire = \"groups\"\nrequire_groups = [\"ssh-users\", \"gone\"]\n\
         exempt_groups = [\"robots\"]\n[[policy.rule]]\ngroups = [\"wheel\"]\n\
         unenrolled = \"deny\"\n",
    )
    .unwrap();
    let path = Path::new("/etc/mfa/test.toml");
    let all_known = |_: &str| true;
    assert!(c.check_groups(path, all_known).is_ok());
    let err = c.check_groups(path, |g| g != "gone").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("policy.require_groups"));
    assert!(err.message.contains("group `gone` is not known"), "{err}");
    for (missing, key) in [
        ("robots", "policy.exempt_groups"),
        ("wheel", "policy.rule.groups"),
    ] {
        let err = c.check_groups(path, |g| g != missing).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{err}");
        assert!(err.to_string().contains(missing), "{err}");
    }
    assert_eq!(
        c.unknown_groups(|g| g == "wheel"),
        [
            ("policy.require_groups", "ssh-users".to_owned()),
            ("policy.require_groups", "gone".to_owned()),
            ("policy.exempt_groups", "robots".to_owned()),
        ]
    );
}

#[test]
fn policy_parses_into_the_core_policy_and_bad_values_name_the_key() {
    let c = parse(
        "[policy]\nrequire = \"groups\"\nrequire_groups = [\"ssh-users\"]\nexempt_sources = [\"192.0.2.0/24\", \"10.1.2.3\", \"2001:db8::/32\"]\n[[policy.rule]]\ngroups = [\"wheel\"]\nunenrolled = \"deny\"\n",
    )
    .unwrap();
    let p = c.policy.policy();
    assert_eq!(p.require, Require::Groups);
    assert_eq!(p.exempt_sources.len(), 3);
    assert_eq!(p.always_ask, mfa_core::policy::DEFAULT_ALWAYS_ASK);
    assert_eq!(p.rules[0].unenrolled, Some(Unenrolled::Deny));
    for (text, key, words) in [
        (
            "[policy]\nrequire = \"groups\"\n",
            "policy.require_groups",
            "at least one group",
        ),
        (
            "[policy]\nexempt_sources = [\"10.0.0.0/33\"]\n",
            "policy.exempt_sources",
            "not a network",
        ),
        (
            "[policy]\nexempt_users = [\"\"]\n",
            "policy.exempt_users",
            "not a name",
        ),
        (
            "[[policy.rule]]\nunenrolled = \"deny\"\n",
            "policy.rule",
            "applies to nothing",
        ),
        (
            "[[policy.rule]]\ngroups = [\"x\"]\n",
            "policy.rule",
            "changes nothing",
        ),
        (
            "[policy]\nmin_factors = 0\n",
            "policy.min_factors",
            "from 1 to 5, got 0",
        ),
        (
            "[policy]\nmax_authenticators = 6\n",
            "policy.max_authenticators",
            "from 1 to 5, got 6",
        ),
        (
            "[policy]\ngrace_period = \"100d\"\n",
            "policy.grace_period",
            "at most 90 days",
        ),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.to_string().contains(words), "{e}");
    }
    let e = parse("[policy]\nunenrolled = \"ask\"\n").unwrap_err();
    assert!(e.to_string().contains("ask"), "{e}");
    let p = parse("[policy]\nunenrolled = \"enroll\"\ngrace_period = \"7d\"\n")
        .unwrap()
        .policy
        .policy();
    assert_eq!(p.unenrolled, Unenrolled::Enroll);
    assert_eq!(p.grace_period, 7 * 86_400);
    assert_eq!((p.min_factors, p.max_authenticators), (1, 5));
}

#[test]
fn push_keys_parse_and_bad_values_name_the_key() {
    let c = parse("[policy]\npush = \"auto\"\npush_cooldown = \"1h\"\nmax_pushes_per_hour = 3\n")
        .unwrap();
    assert_eq!(c.policy.push, crate::config::PushSetting::Auto);
    assert_eq!(c.policy.push_cooldown, std::time::Duration::from_secs(3600));
    assert_eq!(c.policy.max_pushes_per_hour, 3);
    let d = parse("").unwrap();
    assert_eq!(d.policy.push, crate::config::PushSetting::Ask);
    assert_eq!(d.policy.push_cooldown, std::time::Duration::from_secs(900));
    assert_eq!(d.policy.max_pushes_per_hour, 5);
    for (text, key, words) in [
        (
            "[policy]\nmax_pushes_per_hour = 0\n",
            "policy.max_pushes_per_hour",
            "from 1 to 60, got 0",
        ),
        (
            "[policy]\npush_cooldown = \"2d\"\n",
            "policy.push_cooldown",
            "at most 1 day",
        ),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.to_string().contains(words), "{e}");
    }
    let e = parse("[policy]\npush = \"always\"\n").unwrap_err();
    assert!(e.to_string().contains("always"), "{e}");
}

#[test]
fn approval_channels_default_to_all_may_be_empty_and_bad_entries_are_named() {
    use crate::config::ApprovalChannel;
    let d = parse("").unwrap();
    assert_eq!(d.policy.approval_channels, ApprovalChannel::ALL);
    assert!(d.policy.approval_by(ApprovalChannel::Sms));
    let c = parse("[policy]\napproval_channels = [\"email\", \"push\"]\n").unwrap();
    assert_eq!(
        c.policy.approval_channels,
        [ApprovalChannel::Email, ApprovalChannel::Push]
    );
    assert!(!c.policy.approval_by(ApprovalChannel::Sms));
    let none = parse("[policy]\napproval_channels = []\n").unwrap();
    assert!(none.policy.approval_channels.is_empty());
    for (text, words) in [
        (
            "[policy]\napproval_channels = [\"push\", \"fax\"]\n",
            "`fax` is not an approval channel",
        ),
        (
            "[policy]\napproval_channels = [\"sms\", \"sms\"]\n",
            "`sms` is listed twice",
        ),
        (
            "[policy]\napproval_channels = \"sms\"\n",
            "approval_channels",
        ),
    ] {
        let e = parse(text).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains(words), "{shown}");
        assert!(shown.contains("approval_channels"), "{shown}");
    }
}

#[test]
fn ssh_security_keys_parse_and_a_rule_may_only_say_ask() {
    use mfa_core::policy::SecurityKeys;
    let p = parse("").unwrap().policy.policy();
    assert_eq!(p.ssh_security_keys, SecurityKeys::Ask);
    let c = parse(
        "[policy]\nssh_security_keys = \"second_factor\"\n[[policy.rule]]\n\
         groups = [\"admins\"]\nssh_security_keys = \"ask\"\n",
    )
    .unwrap();
    let p = c.policy.policy();
    assert_eq!(p.ssh_security_keys, SecurityKeys::SecondFactor);
    assert_eq!(p.rules[0].ssh_security_keys, Some(SecurityKeys::Ask));
    let e = parse(
        "[policy]\nssh_security_keys = \"second_factor\"\n[[policy.rule]]\n\
         services = [\"sshd\"]\nssh_security_keys = \"second_factor\"\n",
    )
    .unwrap_err();
    assert_eq!(
        e.key.as_deref(),
        Some("policy.rule.ssh_security_keys"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("rule 1 cannot let security keys count"),
        "{e}"
    );
    let e = parse("[policy]\nssh_security_keys = \"yes\"\n").unwrap_err();
    assert!(e.to_string().contains("`yes`"), "{e}");
}
