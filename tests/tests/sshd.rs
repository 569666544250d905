//! pam_mfa.so behind a real sshd (publickey, then keyboard-interactive), driven by the real
//! ssh client whose SSH_ASKPASS answers the code prompt.

use mfa_tests::text::CODE_PROMPT;
use mfa_tests::{LoginSetup, ONE_PROMPT_PER_LOGIN, is_sign_in, root_suite_ready};

#[test]
fn right_code_lets_ssh_run_a_command() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_sshd(ONE_PROMPT_PER_LOGIN);
    let sshd = &setup.via;

    let code = setup.enrollment.authenticator.next_code();
    let login = sshd.login(setup.user.name(), "127.0.0.1", &code);

    assert!(
        login.run.succeeded(),
        "{}\n--- sshd log ---\n{}\n{}",
        login.run,
        sshd.log(),
        setup.daemon.log_section()
    );
    // ssh shows keyboard-interactive prompts as "(user@host) PROMPT".
    assert_eq!(login.prompts.len(), 1, "{:?}", login.prompts);
    assert!(
        login.prompts[0].ends_with(CODE_PROMPT),
        "askpass was asked {:?}, not {CODE_PROMPT:?}",
        login.prompts[0]
    );
    assert!(
        sshd.log().contains(&format!(
            "Accepted keyboard-interactive/pam for {}",
            setup.user.name()
        )),
        "{}",
        sshd.log()
    );
    let success = setup.daemon.auth_success();
    assert_eq!(success["service"], sshd.service(), "{success}");
    assert_eq!(success["rhost"], "127.0.0.1", "{success}");
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn wrong_code_is_refused() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_sshd(ONE_PROMPT_PER_LOGIN);
    let sshd = &setup.via;

    let wrong = setup.enrollment.authenticator.wrong_code();
    let login = sshd.login(setup.user.name(), "127.0.0.1", &wrong);

    assert!(
        !login.run.succeeded(),
        "ssh got in with a wrong code: {}",
        login.run
    );
    assert!(login.run.mentions("Permission denied"), "{}", login.run);
    assert_eq!(login.prompts.len(), 1, "{:?}", login.prompts);
    assert_eq!(setup.daemon.auth_outcomes(setup.user.name()), ["failure"]);
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn lockout_over_ipv4_loopback_leaves_ipv6_loopback_working() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_sshd("max_tries = 1\n[limits]\nmax_failures = 2\n");
    let sshd = &setup.via;

    for attempt in 1..=2 {
        let wrong = setup.enrollment.authenticator.wrong_code();
        let login = sshd.login(setup.user.name(), "127.0.0.1", &wrong);
        assert!(!login.run.succeeded(), "attempt {attempt}: {}", login.run);
    }
    let code = setup.enrollment.authenticator.next_code();
    let locked = sshd.login(setup.user.name(), "127.0.0.1", &code);
    assert!(
        !locked.run.succeeded(),
        "a locked-out source got in: {}",
        locked.run
    );
    assert!(
        locked.prompts.is_empty(),
        "asked {:?} while locked out",
        locked.prompts
    );

    let other_source = sshd.login(setup.user.name(), "::1", &code);
    assert!(
        other_source.run.succeeded(),
        "::1 is locked out along with 127.0.0.1: {}\n{}",
        other_source.run,
        setup.daemon.log_section()
    );
    let rhosts: Vec<_> = setup
        .daemon
        .audit_events()
        .iter()
        .filter(|event| is_sign_in(event))
        .map(|event| format!("{}={}", event["rhost"], event["outcome"]))
        .collect();
    assert!(
        rhosts.contains(&"\"127.0.0.1\"=\"locked_out\"".to_owned())
            && rhosts.contains(&"\"::1\"=\"success\"".to_owned()),
        "{rhosts:?}"
    );
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn a_remembered_key_skips_the_prompt_and_another_key_is_asked() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_sshd("max_tries = 1\n[policy]\nremember = \"1h\"\n");
    let sshd = &setup.via;
    let user = setup.user.name();

    let first = sshd.login(
        user,
        "127.0.0.1",
        &setup.enrollment.authenticator.next_code(),
    );
    assert!(
        first.run.succeeded(),
        "{}\n{}",
        first.run,
        setup.daemon.log_section()
    );
    assert_eq!(first.prompts.len(), 1, "{:?}", first.prompts);
    let trusted = setup
        .daemon
        .audit_events()
        .into_iter()
        .filter(|e| e["event"] == "device_trusted")
        .collect::<Vec<_>>();
    assert_eq!(trusted.len(), 1, "{trusted:?}");
    assert_eq!(trusted[0]["reason"], "ssh_key", "{trusted:?}");

    // The same key from the same address: in without a prompt.
    let again = sshd.login(user, "127.0.0.1", "");
    assert!(
        again.run.succeeded(),
        "{}\n{}",
        again.run,
        setup.daemon.log_section()
    );
    assert!(again.prompts.is_empty(), "{:?}", again.prompts);

    // Another key of the same user from the same address is another device.
    let other = sshd.login_with_other_key(
        user,
        "127.0.0.1",
        &setup.enrollment.authenticator.wrong_code(),
    );
    assert!(
        !other.run.succeeded(),
        "a second key was let in: {}",
        other.run
    );
    assert_eq!(other.prompts.len(), 1, "{:?}", other.prompts);
}
