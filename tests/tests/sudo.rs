//! pam_mfa.so behind sudo, through a PAM service of its own (`Defaults pam_service=…`).

use mfa_tests::{LoginSetup, ONE_PROMPT_PER_LOGIN, root_suite_ready};

#[test]
fn right_code_runs_the_command_as_root() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_sudo(ONE_PROMPT_PER_LOGIN);
    let sudo = &setup.via;

    let code = setup.enrollment.authenticator.next_code();
    let done = sudo.run_as_root(&["id", "-u"], &code);

    assert!(done.succeeded(), "{done}\n{}", setup.daemon.log_section());
    assert_eq!(done.stdout.trim(), "0", "{done}");
    let success = setup.daemon.auth_success();
    assert_eq!(success["user"], setup.user.name(), "{success}");
    assert_eq!(success["service"], sudo.service(), "{success}");
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn wrong_code_is_refused() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_sudo(ONE_PROMPT_PER_LOGIN);
    let sudo = &setup.via;

    let wrong = setup.enrollment.authenticator.wrong_code();
    let done = sudo.run_as_root(&["id", "-u"], &wrong);

    assert!(!done.succeeded(), "sudo ran with a wrong code: {done}");
    assert!(done.stdout.trim().is_empty(), "the command ran: {done}");
    assert_eq!(setup.daemon.auth_outcomes(setup.user.name()), ["failure"]);
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}
