//! pam_mfa.so through pamtester: right, wrong and replayed codes, concurrent logins, recovery
//! codes, per-source lockout, unenrolled users, nullok, fail modes and peer credentials.

use mfa_tests::text::{
    CODE_ALREADY_USED, CODE_PROMPT, INVALID_CODE, ONLY_RECOVERY_CODES, PAM_AUTH_ERR,
    PAM_AUTHINFO_UNAVAIL, PAM_MAXTRIES, PAMTESTER_SUCCESS, TOO_MANY_FAILURES,
};
use mfa_tests::{
    Daemon, LoginSetup, ONE_PROMPT_NO_LOCKOUT, ONE_PROMPT_PER_LOGIN, PERMIT_AUTH_LINE, PamService,
    Pamtester, TestUser, assert_pam_mfa_ignores, enroll_totp, mfa_auth_line, root_suite_ready,
    status, unused_user_name,
};

#[test]
fn right_code_is_accepted() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_pam_service(ONE_PROMPT_PER_LOGIN);
    let service = &setup.via;

    let code = setup.enrollment.authenticator.next_code();
    let login = Pamtester::new(service, setup.user.name())
        .from_rhost("127.0.0.1")
        .authenticate(&[&code]);

    assert!(
        login.succeeded() && login.mentions(PAMTESTER_SUCCESS),
        "{login}\n{}",
        setup.daemon.log_section()
    );
    assert_eq!(login.count(CODE_PROMPT), 1, "{login}");
    let success = setup.daemon.auth_success();
    assert_eq!(success["user"], setup.user.name(), "{success}");
    assert_eq!(success["service"], service.name(), "{success}");
    assert_eq!(success["rhost"], "127.0.0.1", "{success}");
    assert_eq!(success["factor"], "totp", "{success}");
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn wrong_code_is_rejected() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_pam_service(ONE_PROMPT_PER_LOGIN);
    let service = &setup.via;

    let wrong = setup.enrollment.authenticator.wrong_code();
    let login = Pamtester::new(service, setup.user.name()).authenticate(&[&wrong]);

    assert!(!login.succeeded(), "{login}");
    assert!(
        login.mentions(INVALID_CODE) && login.mentions(PAM_AUTH_ERR),
        "{login}\n{}",
        setup.daemon.log_section()
    );
    assert_eq!(setup.daemon.auth_outcomes(setup.user.name()), ["failure"]);
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn same_code_twice_is_rejected_the_second_time() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_pam_service(ONE_PROMPT_PER_LOGIN);
    let service = &setup.via;
    let code = setup.enrollment.authenticator.next_code();

    let first = Pamtester::new(service, setup.user.name()).authenticate(&[&code]);
    let second = Pamtester::new(service, setup.user.name()).authenticate(&[&code]);

    assert!(first.succeeded(), "{first}\n{}", setup.daemon.log_section());
    assert!(
        !second.succeeded(),
        "a replayed code was accepted: {second}"
    );
    // A rejection (PAM_AUTH_ERR with the replay message), not a daemon error.
    assert!(
        second.mentions(CODE_ALREADY_USED) && second.mentions(PAM_AUTH_ERR),
        "{second}\n{}",
        setup.daemon.log_section()
    );
    assert_eq!(
        setup.daemon.auth_outcomes(setup.user.name()),
        ["success", "failure"]
    );
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn thirty_parallel_logins_with_one_code_give_exactly_one_success() {
    const LOGINS: usize = 30;
    if !root_suite_ready() {
        return;
    }
    // Limits high enough that 29 replays lock nothing out.
    let mut setup = LoginSetup::through_pam_service(ONE_PROMPT_NO_LOCKOUT);
    let service = &setup.via;
    let code = setup.enrollment.authenticator.next_code();

    // Every pamtester is connected and prompted before any answers, then all answer at once.
    let logins = Pamtester::new(service, setup.user.name()).answer_together(LOGINS, &code, || {});

    let (accepted, rejected): (Vec<_>, Vec<_>) = logins.iter().partition(|run| run.succeeded());
    assert_eq!(
        accepted.len(),
        1,
        "one code, {LOGINS} parallel logins: {} accepted\n{}",
        accepted.len(),
        setup.daemon.log_section()
    );
    for run in &rejected {
        assert!(
            run.mentions(CODE_ALREADY_USED) && run.mentions(PAM_AUTH_ERR),
            "a parallel login was not rejected as a replay: {run}"
        );
    }
    let outcomes = setup.daemon.auth_outcomes(setup.user.name());
    assert_eq!(outcomes.iter().filter(|o| *o == "success").count(), 1);
    assert_eq!(
        outcomes.iter().filter(|o| *o == "failure").count(),
        LOGINS - 1
    );

    assert!(
        setup.daemon.is_running(),
        "the daemon died:\n{}",
        setup.daemon.log_section()
    );
    let afterwards = Pamtester::new(service, setup.user.name())
        .authenticate(&[&setup.enrollment.recovery_codes[0]]);
    assert!(
        afterwards.succeeded(),
        "the daemon no longer serves after the burst: {afterwards}\n{}",
        setup.daemon.log_section()
    );
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn recovery_code_works_once() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_pam_service(ONE_PROMPT_PER_LOGIN);
    let service = &setup.via;
    let recovery_code = &setup.enrollment.recovery_codes[0];

    let first = Pamtester::new(service, setup.user.name()).authenticate(&[recovery_code]);
    let second = Pamtester::new(service, setup.user.name()).authenticate(&[recovery_code]);

    assert!(first.succeeded(), "{first}\n{}", setup.daemon.log_section());
    assert!(
        !second.succeeded(),
        "a recovery code worked twice: {second}"
    );
    assert!(second.mentions(PAM_AUTH_ERR), "{second}");
    let success = setup.daemon.auth_success();
    assert_eq!(success["factor"], "recovery_code", "{success}");
    assert_eq!(
        status(&setup.daemon, setup.user.name()).recovery_codes_left,
        setup.enrollment.recovery_codes.len() - 1
    );
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn lockout_of_one_source_leaves_another_source_working() {
    const ATTACKER: &str = "127.0.0.2";
    const OWNER: &str = "127.0.0.3";
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_pam_service(
        "max_tries = 1\n[limits]\nmax_failures = 3\nlockout = \"1m\"\n",
    );
    let service = &setup.via;
    let from = |rhost| Pamtester::new(service, setup.user.name()).from_rhost(rhost);

    for attempt in 1..=3 {
        let wrong = setup.enrollment.authenticator.wrong_code();
        let login = from(ATTACKER).authenticate(&[&wrong]);
        assert!(!login.succeeded(), "attempt {attempt}: {login}");
        // The failure that reaches the limit may already be answered with the lockout.
        let reaches_limit = attempt == 3;
        assert!(
            login.mentions(INVALID_CODE) || (reaches_limit && login.mentions(TOO_MANY_FAILURES)),
            "attempt {attempt}: {login}"
        );
    }
    // Locked: refused before any prompt, so the right code is not even asked for (nor used up).
    let code = setup.enrollment.authenticator.next_code();
    let locked = from(ATTACKER).authenticate(&[&code]);
    assert!(
        !locked.succeeded(),
        "a locked-out source logged in: {locked}"
    );
    assert!(
        locked.mentions(TOO_MANY_FAILURES) && locked.mentions(PAM_MAXTRIES),
        "{locked}\n{}",
        setup.daemon.log_section()
    );
    assert_eq!(locked.count(CODE_PROMPT), 0, "{locked}");

    let report = status(&setup.daemon, setup.user.name());
    let sources: Vec<_> = report.lockouts.iter().map(|l| l.source.as_str()).collect();
    assert_eq!(sources, [ATTACKER], "{report:?}");

    let owner = from(OWNER).authenticate(&[&code]);
    assert!(
        owner.succeeded(),
        "another source is locked out too: {owner}\n{}",
        setup.daemon.log_section()
    );
    assert!(
        setup
            .daemon
            .auth_outcomes(setup.user.name())
            .contains(&"locked_out".to_owned())
    );
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn unenrolled_and_unknown_users_look_like_a_wrong_code() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_pam_service(ONE_PROMPT_PER_LOGIN);
    let service = &setup.via;
    let enrolled = &setup.user;
    let unenrolled = TestUser::create();
    let unknown = unused_user_name();
    let wrong = setup.enrollment.authenticator.wrong_code();

    let as_seen = |user: &str| {
        let login = Pamtester::new(service, user).authenticate(&[&wrong]);
        let hide_name = |text: &str| text.replace(user, "USER");
        (
            login.status,
            hide_name(&login.stdout),
            hide_name(&login.stderr),
            login,
        )
    };
    let (wrong_status, wrong_out, wrong_err, wrong_login) = as_seen(enrolled.name());
    assert!(!wrong_login.succeeded(), "{wrong_login}");
    assert_eq!(wrong_login.count(CODE_PROMPT), 1, "{wrong_login}");
    assert!(wrong_login.mentions(INVALID_CODE), "{wrong_login}");

    for user in [unenrolled.name(), unknown.as_str()] {
        let (status, out, err, login) = as_seen(user);
        assert_eq!(
            (status, &out, &err),
            (wrong_status, &wrong_out, &wrong_err),
            "{user} is told apart from an enrolled user with a wrong code:\n{login}\n\
             --- versus ---\n{wrong_login}"
        );
    }
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn nullok_skips_only_unenrolled_users_and_without_a_prompt() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let unenrolled = TestUser::create();
    let enrolled = TestUser::create();
    let enrollment = enroll_totp(&daemon, &enrolled);

    assert_pam_mfa_ignores(daemon.socket(), "nullok", unenrolled.name());
    assert!(
        daemon
            .auth_outcomes(unenrolled.name())
            .iter()
            .all(|o| o == "ignore"),
        "{}",
        daemon.log_section()
    );

    let service = PamService::with_auth_stack(&[
        mfa_auth_line("required", daemon.socket(), "nullok"),
        PERMIT_AUTH_LINE.to_owned(),
    ]);
    let wrong = enrollment.authenticator.wrong_code();
    let still_asked = Pamtester::new(&service, enrolled.name()).authenticate(&[&wrong]);
    assert!(
        !still_asked.succeeded(),
        "nullok let an enrolled user through: {still_asked}"
    );
    assert_eq!(still_asked.count(CODE_PROMPT), 1, "{still_asked}");
    daemon.assert_log_omits(&enrollment.secrets());
}

#[test]
fn second_try_in_one_login_can_succeed() {
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_pam_service("max_tries = 3\n");
    let service = &setup.via;
    let wrong = setup.enrollment.authenticator.wrong_code();
    let code = setup.enrollment.authenticator.next_code();

    let login = Pamtester::new(service, setup.user.name()).authenticate(&[&wrong, &code]);

    assert!(login.succeeded(), "{login}\n{}", setup.daemon.log_section());
    assert_eq!(login.count(CODE_PROMPT), 2, "{login}");
    assert!(login.mentions(INVALID_CODE), "{login}");
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn daemon_down_with_failmode_secure_denies() {
    if !root_suite_ready() {
        return;
    }
    let mut daemon = Daemon::start();
    let user = TestUser::create();
    let stack_with = |options| {
        PamService::with_auth_stack(&[
            mfa_auth_line("required", daemon.socket(), options),
            PERMIT_AUTH_LINE.to_owned(),
        ])
    };
    let default_mode = stack_with("");
    let secure_mode = stack_with("failmode=secure");
    daemon.stop();

    for service in [&default_mode, &secure_mode] {
        let login = Pamtester::new(service, user.name()).authenticate(&[]);
        assert!(
            !login.succeeded(),
            "logged in with the daemon down: {login}"
        );
        assert!(
            login.mentions(PAM_AUTHINFO_UNAVAIL),
            "not PAM_AUTHINFO_UNAVAIL: {login}"
        );
        assert_eq!(login.count(CODE_PROMPT), 0, "{login}");
    }
}

#[test]
fn daemon_down_with_failmode_safe_is_ignored() {
    if !root_suite_ready() {
        return;
    }
    let mut daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();
    let enrollment = enroll_totp(&daemon, &user);

    // While the daemon runs, failmode=safe still demands a right code.
    let service = PamService::with_auth_stack(&[
        mfa_auth_line("required", daemon.socket(), "failmode=safe"),
        PERMIT_AUTH_LINE.to_owned(),
    ]);
    let wrong = enrollment.authenticator.wrong_code();
    let refused = Pamtester::new(&service, user.name()).authenticate(&[&wrong]);
    assert!(
        !refused.succeeded(),
        "failmode=safe skipped a running daemon: {refused}"
    );

    daemon.stop();
    assert_pam_mfa_ignores(daemon.socket(), "failmode=safe", user.name());
    daemon.assert_log_omits(&enrollment.secrets());
}

#[test]
fn non_root_caller_cannot_authenticate_another_user() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let caller = TestUser::create();
    let victim = TestUser::create();
    let caller_enrollment = enroll_totp(&daemon, &caller);
    let victim_enrollment = enroll_totp(&daemon, &victim);
    let service = PamService::mfa(daemon.socket(), "");

    let victim_code = victim_enrollment.authenticator.next_code();
    let foreign = Pamtester::new(&service, victim.name())
        .as_caller(caller.name())
        .authenticate(&[&victim_code]);
    assert!(
        !foreign.succeeded(),
        "{} authenticated {}: {foreign}",
        caller.name(),
        victim.name()
    );
    assert_eq!(foreign.count(CODE_PROMPT), 0, "{foreign}");
    assert_eq!(
        daemon.auth_outcomes(victim.name()),
        ["not_authorized"],
        "{}",
        daemon.log_section()
    );

    // The same unprivileged caller may verify itself (a screen locker does that).
    let own_code = caller_enrollment.authenticator.next_code();
    let own = Pamtester::new(&service, caller.name())
        .as_caller(caller.name())
        .authenticate(&[&own_code]);
    assert!(own.succeeded(), "{own}\n{}", daemon.log_section());

    let mut secrets = caller_enrollment.secrets();
    secrets.extend(victim_enrollment.secrets());
    daemon.assert_log_omits(&secrets);
}

#[test]
fn private_stack_under_pam_wrapper_works_like_pam_d() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();
    let enrollment = enroll_totp(&daemon, &user);
    let service = PamService::private(&[mfa_auth_line("required", daemon.socket(), "")]);

    let wrong = enrollment.authenticator.wrong_code();
    let refused = Pamtester::new(&service, user.name()).authenticate(&[&wrong]);
    assert!(
        !refused.succeeded() && refused.mentions(INVALID_CODE),
        "{refused}"
    );
    let code = enrollment.authenticator.next_code();
    let accepted = Pamtester::new(&service, user.name()).authenticate(&[&code]);
    assert!(accepted.succeeded(), "{accepted}\n{}", daemon.log_section());
    assert_eq!(daemon.auth_outcomes(user.name()), ["failure", "success"]);
    daemon.assert_log_omits(&enrollment.secrets());
}

#[test]
fn account_wide_limit_refuses_app_codes_but_not_recovery_codes() {
    if !root_suite_ready() {
        return;
    }
    // Two sources reach their own limit of 3; together they reach the account's 6.
    let setup = LoginSetup::through_pam_service(
        "max_tries = 1\n[limits]\nmax_failures = 3\naccount_max_failures = 6\nlockout = \"1m\"\n",
    );
    let service = &setup.via;
    let from = |rhost| Pamtester::new(service, setup.user.name()).from_rhost(rhost);
    for attacker in ["127.0.0.2", "127.0.0.3"] {
        for _ in 0..3 {
            let wrong = setup.enrollment.authenticator.wrong_code();
            assert!(!from(attacker).authenticate(&[&wrong]).succeeded());
        }
    }
    let report = status(&setup.daemon, setup.user.name());
    assert!(report.account_locked_until.is_some(), "{report:?}");

    // A third source: told why, and the right app code is refused...
    let code = setup.enrollment.authenticator.next_code();
    let refused = from("127.0.0.4").authenticate(&[&code]);
    assert!(
        !refused.succeeded(),
        "an app code passed the account lock: {refused}"
    );
    assert!(refused.mentions(ONLY_RECOVERY_CODES), "{refused}");
    // ...but a recovery code still lets the real user in.
    let recovery = &setup.enrollment.recovery_codes[0];
    let rescued = from("127.0.0.5").authenticate(&[recovery]);
    assert!(
        rescued.mentions(PAMTESTER_SUCCESS),
        "{rescued}\n{}",
        setup.daemon.log_section()
    );
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}
