//! `[policy]` through pamtester: exempt users, groups and networks skip the prompt
//! (`PAM_IGNORE`, audit `exempt`), `require = "groups"` leaves non-members to the rest of the
//! stack, `unenrolled = "allow"` and a stricter group rule, a non-root caller cannot claim
//! an exempt network, and trusted devices (`remember`): never a terminal, never a change of
//! factors outlived.

use std::process::Command;

use mfa_tests::text::{CODE_PROMPT, PAMTESTER_SUCCESS};
use mfa_tests::{
    Daemon, PamService, Pamtester, Run, ScratchDir, TestUser, enroll_totp, mfa_auth_line,
    root_suite_ready, run_answering, status,
};
use serde_json::Value;

/// A daemon with `policy` as its `[policy]` table and one prompt per login.
fn daemon_with_policy(policy: &str) -> Daemon {
    Daemon::start_with(&format!("max_tries = 1\n[policy]\n{policy}"))
}

fn exempt_events(daemon: &Daemon, user: &str) -> Vec<Value> {
    daemon
        .audit_events()
        .into_iter()
        .filter(|e| e["event"] == "exempt" && e["user"] == user)
        .collect()
}

#[test]
fn an_exempt_user_or_group_is_not_asked_and_others_are() {
    if !root_suite_ready() {
        return;
    }
    let exempt = TestUser::create();
    let in_group = TestUser::create();
    let asked = TestUser::create();
    // useradd gives each account a group of its own name.
    let daemon = daemon_with_policy(&format!(
        "exempt_users = [\"{}\"]\nexempt_groups = [\"{}\"]\n",
        exempt.name(),
        in_group.name()
    ));
    let enrolled = enroll_totp(&daemon, &asked);
    let service = PamService::mfa_then_permit(daemon.socket(), "");

    for (user, reason) in [(&exempt, "exempt_user"), (&in_group, "exempt_group")] {
        let login = Pamtester::new(&service, user.name()).authenticate(&[]);
        assert!(
            login.succeeded() && login.mentions(PAMTESTER_SUCCESS),
            "{login}"
        );
        assert_eq!(login.count(CODE_PROMPT), 0, "{login}");
        let events = exempt_events(&daemon, user.name());
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["reason"], reason, "{events:?}");
        assert_eq!(events[0]["outcome"], "ignore", "{events:?}");
    }
    // Everyone else is asked, and a wrong code fails even with pam_permit after the module.
    let login = Pamtester::new(&service, asked.name())
        .authenticate(&[&enrolled.authenticator.wrong_code()]);
    assert!(!login.succeeded(), "{login}");
    assert_eq!(login.count(CODE_PROMPT), 1, "{login}");
    assert!(exempt_events(&daemon, asked.name()).is_empty());
}

#[test]
fn require_groups_asks_members_only() {
    if !root_suite_ready() {
        return;
    }
    let member = TestUser::create();
    let other = TestUser::create();
    let daemon = daemon_with_policy(&format!(
        "require = \"groups\"\nrequire_groups = [\"{}\"]\n",
        member.name()
    ));
    let enrolled = enroll_totp(&daemon, &member);
    enroll_totp(&daemon, &other);
    let service = PamService::mfa_then_permit(daemon.socket(), "");

    let login = Pamtester::new(&service, other.name()).authenticate(&[]);
    assert!(login.succeeded(), "{login}");
    assert_eq!(login.count(CODE_PROMPT), 0, "{login}");
    assert_eq!(
        exempt_events(&daemon, other.name())[0]["reason"],
        "not_required"
    );

    let login = Pamtester::new(&service, member.name())
        .authenticate(&[&enrolled.authenticator.wrong_code()]);
    assert!(!login.succeeded(), "{login}");
    assert_eq!(login.count(CODE_PROMPT), 1, "{login}");
}

#[test]
fn an_exempt_network_skips_the_prompt_for_root_callers_only() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = daemon_with_policy("exempt_sources = [\"127.0.0.0/8\", \"2001:db8::/32\"]\n");
    let enrolled = enroll_totp(&daemon, &user);
    let service = PamService::mfa_then_permit(daemon.socket(), "");

    for rhost in ["127.0.0.1", "2001:db8::7"] {
        let login = Pamtester::new(&service, user.name())
            .from_rhost(rhost)
            .authenticate(&[]);
        assert!(login.succeeded(), "{rhost}: {login}");
        assert_eq!(login.count(CODE_PROMPT), 0, "{rhost}: {login}");
    }
    assert!(
        exempt_events(&daemon, user.name())
            .iter()
            .all(|e| e["reason"] == "exempt_source")
    );
    // Another network is asked.
    let wrong = enrolled.authenticator.wrong_code();
    let login = Pamtester::new(&service, user.name())
        .from_rhost("10.9.9.9")
        .authenticate(&[&wrong]);
    assert!(!login.succeeded(), "{login}");
    assert_eq!(login.count(CODE_PROMPT), 1, "{login}");
    // A screen locker (the user's own uid) says what it likes about its host: not trusted.
    let login = Pamtester::new(&service, user.name())
        .as_caller(user.name())
        .from_rhost("127.0.0.1")
        .authenticate(&[&wrong]);
    assert!(
        !login.succeeded(),
        "a non-root caller claimed an exempt network: {login}"
    );
    assert_eq!(login.count(CODE_PROMPT), 1, "{login}");
}

#[test]
fn unenrolled_allow_skips_them_but_a_group_rule_can_deny() {
    if !root_suite_ready() {
        return;
    }
    let relaxed = TestUser::create();
    let strict = TestUser::create();
    let daemon = daemon_with_policy(&format!(
        "unenrolled = \"allow\"\n[[policy.rule]]\ngroups = [\"{}\"]\nunenrolled = \"deny\"\n",
        strict.name()
    ));
    let service = PamService::mfa_then_permit(daemon.socket(), "");

    let login = Pamtester::new(&service, relaxed.name()).authenticate(&[]);
    assert!(login.succeeded(), "{login}");
    assert_eq!(login.count(CODE_PROMPT), 0, "{login}");

    let login = Pamtester::new(&service, strict.name()).authenticate(&["123456"]);
    assert!(!login.succeeded(), "{login}");
    assert_eq!(login.count(CODE_PROMPT), 1, "{login}");
}

#[test]
fn a_bad_policy_is_refused_by_name() {
    if !root_suite_ready() {
        return;
    }
    for (policy, key) in [
        (
            "exempt_sources = [\"10.0.0.0/33\"]\n",
            "policy.exempt_sources",
        ),
        ("require = \"groups\"\n", "policy.require_groups"),
        ("remember_forever = true\n", "remember_forever"),
    ] {
        let dir = ScratchDir::create();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, format!("[policy]\n{policy}")).unwrap();
        let out = std::process::Command::new(mfa_tests::daemon_binary())
            .arg("--check-config")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{policy}: {stderr}");
        assert!(stderr.contains(key), "{policy}: {stderr}");
    }
}

#[test]
fn a_remembered_device_skips_the_prompt_until_the_factors_change() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = daemon_with_policy("remember = \"1h\"\n");
    let enrolled = enroll_totp(&daemon, &user);
    let service = PamService::mfa(daemon.socket(), "");
    let from = |rhost: &'static str, answers: &[&str]| {
        Pamtester::new(&service, user.name())
            .from_rhost(rhost)
            .authenticate(answers)
    };

    let first = from("192.0.2.10", &[&enrolled.authenticator.next_code()]);
    assert!(first.succeeded(), "{first}\n{}", daemon.log_section());
    assert_eq!(first.count(CODE_PROMPT), 1, "{first}");
    let trusted: Vec<Value> = daemon
        .audit_events()
        .into_iter()
        .filter(|e| e["event"] == "device_trusted")
        .collect();
    assert_eq!(trusted.len(), 1, "{trusted:?}");
    assert_eq!(trusted[0]["reason"], "source", "{trusted:?}");

    // The same device again: no prompt, audited as remembered.
    let again = from("192.0.2.10", &[]);
    assert!(again.succeeded(), "{again}");
    assert_eq!(again.count(CODE_PROMPT), 0, "{again}");
    let remembered = daemon
        .audit_events()
        .into_iter()
        .filter(|e| e["factor"] == "remembered" && e["outcome"] == "success")
        .count();
    assert_eq!(remembered, 1);

    // Another address is another device, and a screen locker's word is never enough.
    let elsewhere = from("192.0.2.11", &[&enrolled.authenticator.wrong_code()]);
    assert!(!elsewhere.succeeded(), "{elsewhere}");
    assert_eq!(elsewhere.count(CODE_PROMPT), 1, "{elsewhere}");
    let locker = Pamtester::new(&service, user.name())
        .as_caller(user.name())
        .from_rhost("192.0.2.10")
        .authenticate(&[&enrolled.authenticator.wrong_code()]);
    assert!(!locker.succeeded(), "{locker}");

    // mfa-enroll lists the device, and `forget` makes it pass a factor again.
    let out = mfa_tests::mfa_enroll(&daemon, None, &["devices", "--user", user.name()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let devices = listed["trusted_devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{listed}");
    assert_eq!(devices[0]["source"], "192.0.2.10", "{listed}");
    assert_eq!(devices[0]["service"], service.name(), "{listed}");
    let out = mfa_tests::mfa_enroll(&daemon, None, &["forget", "--user", user.name()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let asked = from("192.0.2.10", &[&enrolled.authenticator.next_code()]);
    assert!(asked.succeeded(), "{asked}");
    assert_eq!(
        asked.count(CODE_PROMPT),
        1,
        "forgotten device not asked: {asked}"
    );

    // A change of factors (a new set of recovery codes) ends every trust.
    let out = mfa_tests::mfa_enroll(&daemon, None, &["recovery-codes", "--user", user.name()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = from("192.0.2.10", &[&enrolled.authenticator.wrong_code()]);
    assert!(
        !after.succeeded(),
        "trust survived a factor change: {after}"
    );
    assert_eq!(after.count(CODE_PROMPT), 1, "{after}");
}

/// pam_wrapper, which lets pamtester read its service files from a private directory: the
/// services below keep the real names (`su-l`) without touching /etc/pam.d.
const PAM_WRAPPER_LIBRARY: &str = "libpam_wrapper.so";

/// `pamtester -I tty=TTY SERVICE USER authenticate` as root with no remote host, `SERVICE`
/// read from `services` (through pam_wrapper), each code prompt answered with the next of
/// `answers`: what `su -` or a console login on that terminal gives the daemon.
fn login_on_tty(
    services: &ScratchDir,
    service: &str,
    user: &str,
    tty: &str,
    answers: &[&str],
) -> Run {
    let mut pamtester = Command::new("pamtester");
    pamtester
        .env("LD_PRELOAD", PAM_WRAPPER_LIBRARY)
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", services.path())
        .args([
            "-v",
            "-I",
            &format!("tty={tty}"),
            service,
            user,
            "authenticate",
        ]);
    run_answering(pamtester, CODE_PROMPT, answers)
}

// Issue 14.3: with `remember = "1h"`, user A ran `su - C` on /dev/pts/0 with the password
// and a code; user B later got /dev/pts/0 and ran `su - C` with the password only, and got a
// shell as C (`factor: remembered`): the device was `su-l:/dev/pts/0`, and `su-l` (like
// `sudo-i`) was not in `always_ask`. Before the fix, both second logins below passed
// without a prompt. A login with no remote host is never remembered, whatever its service.
#[test]
fn a_login_with_no_remote_host_is_never_remembered() {
    const TTY: &str = "/dev/pts/0";
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = daemon_with_policy("remember = \"1h\"\n");
    let enrolled = enroll_totp(&daemon, &user);
    let services = ScratchDir::create();
    // pam_mfa.so alone: a login it does not pass fails, and one it ignores fails too.
    let stack = format!(
        "{}\naccount required pam_permit.so\nsession required pam_permit.so\n",
        mfa_auth_line("required", daemon.socket(), "")
    );
    // `su-l` is in the default always_ask; `login` is not, and has no remote host either.
    for service in ["su-l", "login"] {
        std::fs::write(services.path().join(service), &stack).unwrap();
        let first = login_on_tty(
            &services,
            service,
            user.name(),
            TTY,
            &[&enrolled.authenticator.next_code()],
        );
        assert!(
            first.succeeded(),
            "{service}: {first}\n{}",
            daemon.log_section()
        );
        assert_eq!(first.count(CODE_PROMPT), 1, "{service}: {first}");
        // The next holder of the terminal, with the password only (no code).
        let second = login_on_tty(&services, service, user.name(), TTY, &[""]);
        assert!(
            !second.succeeded(),
            "{service} on {TTY} was remembered: {second}\n{}",
            daemon.log_section()
        );
        assert_eq!(
            second.count(CODE_PROMPT),
            1,
            "{service} not asked: {second}"
        );
    }
    let audited = daemon.audit_events();
    assert!(
        !audited
            .iter()
            .any(|e| e["event"] == "device_trusted" || e["factor"] == "remembered"),
        "a terminal was trusted: {audited:?}"
    );
    let record = status(&daemon, user.name());
    assert!(record.trusted_devices.is_empty(), "{record:?}");
}

/// Waits until the daemon's log contains `text` (at most 10 s).
fn wait_for_log(daemon: &Daemon, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !daemon.log().contains(text) {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never logged {text:?}:\n{}",
            daemon.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_the_policy_and_a_bad_config_keeps_the_running_one() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = daemon_with_policy("");
    let enrolled = enroll_totp(&daemon, &user);
    let service = PamService::mfa_then_permit(daemon.socket(), "");
    let wrong = enrolled.authenticator.wrong_code();
    let login = Pamtester::new(&service, user.name()).authenticate(&[&wrong]);
    assert!(!login.succeeded(), "{login}");

    let hup = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(daemon.pid() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap()
    };
    let original = std::fs::read_to_string(daemon.config()).unwrap();
    let exempting = format!("{original}exempt_users = [\"{}\"]\n", user.name());
    std::fs::write(daemon.config(), &exempting).unwrap();
    hup();
    wait_for_log(&daemon, "mfa-daemon: reloaded");
    let login = Pamtester::new(&service, user.name()).authenticate(&[]);
    assert!(login.succeeded(), "{login}\n{}", daemon.log_section());
    assert_eq!(login.count(CODE_PROMPT), 0, "{login}");

    // A broken file is refused by name, and the policy in force stays.
    std::fs::write(
        daemon.config(),
        format!("{exempting}exempt_sources = [\"not-a-network\"]\n"),
    )
    .unwrap();
    hup();
    wait_for_log(&daemon, "kept the running config");
    assert!(
        daemon.log().contains("policy.exempt_sources"),
        "{}",
        daemon.log()
    );
    let login = Pamtester::new(&service, user.name()).authenticate(&[]);
    assert!(login.succeeded(), "{login}");
    assert_eq!(login.count(CODE_PROMPT), 0, "{login}");
}

/// Issue 14 item 8: before, a `require_groups` group NSS did not know was taken by SIGHUP
/// (and `--check-config`), and a required group that vanished under a running daemon made
/// its members "not required": everyone skipped the second factor. Now SIGHUP refuses such a
/// config by key and group, and a group that vanishes later is logged and counts as
/// everyone's, so everyone is asked.
#[test]
fn an_unknown_or_vanished_required_group_is_refused_or_asks_everyone() {
    if !root_suite_ready() {
        return;
    }
    // useradd gives each account a group of its own name; userdel takes it away.
    let member = TestUser::create();
    let group = member.name().to_owned();
    let other = TestUser::create();
    let daemon = daemon_with_policy(&format!(
        "require = \"groups\"\nrequire_groups = [\"{group}\"]\n"
    ));
    let enrolled = enroll_totp(&daemon, &other);
    let service = PamService::mfa_then_permit(daemon.socket(), "");
    let login = Pamtester::new(&service, other.name()).authenticate(&[]);
    assert!(login.succeeded(), "{login}");
    assert_eq!(
        login.count(CODE_PROMPT),
        0,
        "not a member, not asked: {login}"
    );

    let original = std::fs::read_to_string(daemon.config()).unwrap();
    let gone = format!("mfat-gone-{}", std::process::id());
    std::fs::write(daemon.config(), original.replace(&group, &gone)).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    wait_for_log(&daemon, "kept the running config");
    let log = daemon.log();
    assert!(
        log.contains("policy.require_groups") && log.contains(&format!("group `{gone}`")),
        "SIGHUP did not refuse the unknown group by key and name:\n{log}"
    );

    drop(member);
    let code = enrolled.authenticator.next_code();
    let login = Pamtester::new(&service, other.name()).authenticate(&[&code]);
    assert_eq!(
        login.count(CODE_PROMPT),
        1,
        "with its required group gone, a user was not asked: {login}\n{}",
        daemon.log_section()
    );
    assert!(login.succeeded(), "{login}");
    wait_for_log(
        &daemon,
        &format!("group `{group}` named by policy.require_groups is not known to NSS"),
    );
}
