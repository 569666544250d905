//! App passwords (issue 17 part 1) through pamtester and a real PAM stack:
//!
//! ```text
//! auth [success=done default=ignore] pam_mfa.so app_password
//! auth requisite pam_unix.so use_first_pass
//! auth required pam_mfa.so
//! ```
//!
//! with a test account whose Unix password is set by `chpasswd`: the app password logs in
//! with no second prompt, the Unix password still needs the code, neither is ever logged.
//! The attacks of the issue (an app password on a service it is not for, guessing app
//! passwords against the lockout) are the `adversarial_` tests here: they need this stack.

use std::time::Duration;

use mfa_tests::text::{CODE_PROMPT, PAMTESTER_SUCCESS};
use mfa_tests::{
    Daemon, PamService, Pamtester, Run, TestUser, command_as, enroll_totp, mfa_auth_line,
    mfa_enroll, mfactl_binary, root_suite_ready, run, status,
};
use serde_json::Value;

/// What pamtester shows for the password, asked by pam_mfa's `app_password` line.
const PASSWORD_PROMPT: &str = "Password: ";
/// App passwords allowed everywhere, one code prompt per login.
const ALLOWED: &str = "max_tries = 1\n[policy]\napp_passwords = true\n";
/// The account's Unix password (set with chpasswd).
const UNIX_PASSWORD: &str = "Unix-pw-4-tests!";

/// The stack of the README: app password, else Unix password and a code.
fn full_stack(daemon: &Daemon) -> PamService {
    PamService::with_auth_stack(&[
        mfa_auth_line(
            "[success=done default=ignore]",
            daemon.socket(),
            "app_password",
        ),
        "auth requisite pam_unix.so use_first_pass".to_owned(),
        mfa_auth_line("required", daemon.socket(), ""),
    ])
}

/// A stack that succeeds only when the app password line does.
fn app_password_only(daemon: &Daemon) -> PamService {
    PamService::with_auth_stack(&[
        mfa_auth_line("sufficient", daemon.socket(), "app_password"),
        "auth required pam_deny.so".to_owned(),
    ])
}

/// Sets the account's Unix password.
fn set_unix_password(user: &TestUser) {
    let done = run(
        command_as(None, "chpasswd"),
        &format!("{}:{UNIX_PASSWORD}\n", user.name()),
    );
    assert!(done.succeeded(), "chpasswd: {done}");
}

/// `mfa-enroll --json app-password add LABEL --user USER EXTRA...` as root: the password.
fn add(daemon: &Daemon, user: &TestUser, label: &str, extra: &[&str]) -> String {
    let mut args = vec!["app-password", "add", label, "--user", user.name()];
    args.extend_from_slice(extra);
    let done = run(mfa_enroll(daemon, None, &args), "");
    assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    let made: Value = serde_json::from_str(done.stdout.trim()).expect("one JSON line");
    let password = made["app_password"]["password"].as_str().expect("password");
    assert_eq!(made["app_password"]["label"], label, "{made}");
    password.to_owned()
}

/// A login through `service` answering the password prompt with `password`, then each code
/// prompt with the next of `codes`.
fn login(service: &PamService, user: &TestUser, password: &str, codes: &[&str]) -> Run {
    let mut session = Pamtester::new(service, user.name())
        .from_rhost("127.0.0.1")
        .start();
    if session.wait_for(PASSWORD_PROMPT, 1) {
        session.send(&format!("{password}\n"));
    }
    for (asked, code) in codes.iter().enumerate() {
        if !session.wait_for(CODE_PROMPT, asked + 1) {
            break;
        }
        session.send(&format!("{code}\n"));
    }
    session.finish()
}

/// The audit events of `user` of kind `event`.
fn events(daemon: &Daemon, user: &TestUser, event: &str) -> Vec<Value> {
    daemon
        .audit_events()
        .into_iter()
        .filter(|e| e["user"] == user.name() && e["event"] == event)
        .collect()
}

#[test]
fn an_app_password_logs_in_with_no_second_prompt() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ALLOWED);
    let user = TestUser::create();
    set_unix_password(&user);
    let enrollment = enroll_totp(&daemon, &user);
    let password = add(&daemon, &user, "thunderbird", &[]);
    let service = full_stack(&daemon);

    let done = login(&service, &user, &password, &[]);

    assert!(
        done.succeeded() && done.mentions(PAMTESTER_SUCCESS),
        "{done}\n{}",
        daemon.log_section()
    );
    assert_eq!(done.count(PASSWORD_PROMPT), 1, "{done}");
    assert_eq!(done.count(CODE_PROMPT), 0, "a second prompt: {done}");
    let success = events(&daemon, &user, "sign_in_succeeded");
    assert_eq!(success.len(), 1, "{success:?}");
    assert_eq!(success[0]["factor"], "app_password", "{}", success[0]);
    assert_eq!(success[0]["label"], "thunderbird", "{}", success[0]);
    assert_eq!(success[0]["service"], service.name(), "{}", success[0]);
    let report = status(&daemon, user.name());
    assert!(report.app_passwords[0].last_used.is_some(), "{report:?}");
    let mut secrets = enrollment.secrets();
    secrets.push(password.clone());
    secrets.push(password.replace('-', ""));
    daemon.assert_log_omits(&secrets);
}

#[test]
fn the_unix_password_still_needs_the_code_and_is_never_logged() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ALLOWED);
    let user = TestUser::create();
    set_unix_password(&user);
    let enrollment = enroll_totp(&daemon, &user);
    let password = add(&daemon, &user, "mail", &[]);
    let service = full_stack(&daemon);

    let code = enrollment.authenticator.next_code();
    let done = login(&service, &user, UNIX_PASSWORD, &[&code]);
    let wrong = login(&service, &user, "not-the-password", &["000000"]);

    assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    assert_eq!(done.count(PASSWORD_PROMPT), 1, "asked twice: {done}");
    assert_eq!(done.count(CODE_PROMPT), 1, "{done}");
    assert!(!wrong.succeeded(), "{wrong}");
    assert_eq!(
        wrong.count(CODE_PROMPT),
        0,
        "pam_unix is requisite: {wrong}"
    );
    let success = daemon.auth_success();
    assert_eq!(success["factor"], "totp", "{success}");
    // A Unix password is not an app password: nothing about it is audited or counted.
    assert!(events(&daemon, &user, "sign_in_failed").is_empty());
    let report = status(&daemon, user.name());
    assert!(report.lockouts.is_empty(), "{report:?}");
    assert_eq!(report.app_passwords[0].last_used, None, "{report:?}");
    daemon.assert_log_omits(&[
        UNIX_PASSWORD.to_owned(),
        "not-the-password".to_owned(),
        password,
    ]);
}

#[test]
fn an_expired_app_password_no_longer_works() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_on_moving_clock(ALLOWED);
    let user = TestUser::create();
    enroll_totp(&daemon, &user);
    let password = add(&daemon, &user, "vpn", &["--expires", "1h"]);
    let service = app_password_only(&daemon);

    let before = login(&service, &user, &password, &[]);
    daemon.clock().advance(Duration::from_secs(3601));
    let after = login(&service, &user, &password, &[]);

    assert!(before.succeeded(), "{before}\n{}", daemon.log_section());
    assert!(
        !after.succeeded(),
        "an expired app password worked: {after}"
    );
    assert_eq!(events(&daemon, &user, "sign_in_succeeded").len(), 1);
}

#[test]
fn adversarial_an_app_password_works_only_on_its_services() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ALLOWED);
    let user = TestUser::create();
    enroll_totp(&daemon, &user);
    let service = app_password_only(&daemon);
    let for_mail = add(&daemon, &user, "mail", &["--services", "dovecot,imap"]);
    let for_here = add(&daemon, &user, "here", &["--services", service.name()]);

    let elsewhere = login(&service, &user, &for_mail, &[]);
    let here = login(&service, &user, &for_here, &[]);

    assert!(
        !elsewhere.succeeded(),
        "an app password for dovecot logged in to {}: {elsewhere}",
        service.name()
    );
    assert!(here.succeeded(), "{here}\n{}", daemon.log_section());
    let success = events(&daemon, &user, "sign_in_succeeded");
    assert_eq!(success.len(), 1, "{success:?}");
    assert_eq!(success[0]["label"], "here", "{}", success[0]);
}

#[test]
fn adversarial_guessing_app_passwords_runs_into_the_lockout() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(&format!("{ALLOWED}[limits]\nmax_failures = 3\n"));
    let user = TestUser::create();
    enroll_totp(&daemon, &user);
    let password = add(&daemon, &user, "backup", &[]);
    let service = app_password_only(&daemon);
    // Guesses shaped like app passwords (the shape is public), one starting like the real
    // one so that its hash is checked.
    let guesses = [
        format!("{}-2222-3333-4444-5555", &password[..4]),
        "abcd-efgh-jkmn-pqrs-tvwx".to_owned(),
        "2345-6789-abcd-efgh-jkmn".to_owned(),
    ];

    for guess in &guesses {
        let done = login(&service, &user, guess, &[]);
        assert!(!done.succeeded(), "a guess logged in: {done}");
    }
    let right_but_locked = login(&service, &user, &password, &[]);

    assert!(
        !right_but_locked.succeeded(),
        "the source was not locked after {} failed guesses: {right_but_locked}\n{}",
        guesses.len(),
        daemon.log_section()
    );
    let failed = events(&daemon, &user, "sign_in_failed");
    assert_eq!(failed.len(), guesses.len(), "{failed:?}");
    assert!(failed.iter().all(|e| e["factor"] == "app_password"));
    assert!(!events(&daemon, &user, "locked_out").is_empty());
    assert!(events(&daemon, &user, "sign_in_succeeded").is_empty());
    let report = status(&daemon, user.name());
    assert!(!report.lockouts.is_empty(), "{report:?}");
    assert_eq!(report.app_passwords[0].last_used, None, "{report:?}");
}

#[test]
fn list_never_shows_the_password_remove_and_reset_end_it() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ALLOWED);
    let user = TestUser::create();
    enroll_totp(&daemon, &user);
    let first = add(
        &daemon,
        &user,
        "first",
        &["--services", "sshd", "--expires", "90d"],
    );
    let second = add(&daemon, &user, "second", &[]);
    let service = app_password_only(&daemon);

    let json = run(
        mfa_enroll(
            &daemon,
            None,
            &["app-password", "list", "--user", user.name()],
        ),
        "",
    );
    let shown = run(
        {
            let mut show = command_as(None, mfactl_binary());
            show.arg("--socket")
                .arg(daemon.socket())
                .args(["show", user.name()]);
            show
        },
        "",
    );
    assert!(json.succeeded() && shown.succeeded(), "{json}\n{shown}");
    let listed: Value = serde_json::from_str(json.stdout.trim()).expect("one JSON line");
    assert_eq!(listed["app_passwords"][0]["label"], "first", "{listed}");
    assert_eq!(
        listed["app_passwords"][0]["services"][0], "sshd",
        "{listed}"
    );
    assert!(
        listed["app_passwords"][0]["expires_at"].is_u64(),
        "{listed}"
    );
    assert!(
        shown.mentions("App passwords:") && shown.mentions("second"),
        "{shown}"
    );
    for secret in [&first, &second] {
        for output in [&json, &shown] {
            assert!(!output.mentions(secret), "a password was shown: {output}");
            assert!(!output.mentions(&secret.replace('-', "")), "{output}");
        }
    }
    assert!(!json.mentions("argon2"), "a hash was shown: {json}");

    let removed = run(
        mfa_enroll(
            &daemon,
            None,
            &["app-password", "remove", "second", "--user", user.name()],
        ),
        "",
    );
    assert!(removed.succeeded(), "{removed}");
    let after_remove = login(&service, &user, &second, &[]);
    assert!(
        !after_remove.succeeded(),
        "a removed app password worked: {after_remove}"
    );
    let reset = run(
        {
            let mut reset = command_as(None, mfactl_binary());
            reset
                .arg("--socket")
                .arg(daemon.socket())
                .args(["reset", "--yes", user.name()]);
            reset
        },
        "",
    );
    assert!(reset.succeeded(), "{reset}\n{}", daemon.log_section());
    assert!(status(&daemon, user.name()).app_passwords.is_empty());
}

#[test]
fn making_one_is_refused_where_the_policy_allows_none() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with("max_tries = 1\n");
    let user = TestUser::create();
    enroll_totp(&daemon, &user);

    let done = run(
        mfa_enroll(
            &daemon,
            None,
            &["app-password", "add", "mail", "--user", user.name()],
        ),
        "",
    );

    assert!(!done.succeeded(), "{done}");
    assert!(done.mentions("policy.app_passwords"), "{done}");
    assert!(status(&daemon, user.name()).app_passwords.is_empty());
}
