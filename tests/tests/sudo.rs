//! pam_mfa.so behind sudo, through a PAM service of its own (`Defaults pam_service=…`).

use mfa_tests::{Daemon, ONE_PROMPT_PER_LOGIN, Sudo, TestUser, enroll_totp, root_suite_ready};

#[test]
fn right_code_runs_the_command_as_root() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();
    let enrollment = enroll_totp(&daemon, &user);
    let sudo = Sudo::allow(&user, &daemon, "");

    let code = enrollment.authenticator.next_code();
    let done = sudo.run_as_root(&["id", "-u"], &code);

    assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    assert_eq!(done.stdout.trim(), "0", "{done}");
    let success = daemon
        .audit_events()
        .into_iter()
        .find(|event| event["event"] == "auth" && event["outcome"] == "success")
        .unwrap_or_else(|| panic!("no auth success audited\n{}", daemon.log_section()));
    assert_eq!(success["user"], user.name(), "{success}");
    assert_eq!(success["service"], sudo.service(), "{success}");
    daemon.assert_log_omits(&enrollment.secrets());
}

#[test]
fn wrong_code_is_refused() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();
    let enrollment = enroll_totp(&daemon, &user);
    let sudo = Sudo::allow(&user, &daemon, "");

    let wrong = enrollment.authenticator.wrong_code();
    let done = sudo.run_as_root(&["id", "-u"], &wrong);

    assert!(!done.succeeded(), "sudo ran with a wrong code: {done}");
    assert!(done.stdout.trim().is_empty(), "the command ran: {done}");
    assert_eq!(daemon.auth_outcomes(user.name()), ["failure"]);
    daemon.assert_log_omits(&enrollment.secrets());
}
