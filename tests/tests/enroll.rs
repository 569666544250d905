//! mfa-enroll against the real daemon: enrollment output, self-service with proof,
//! peer-credential checks, recovery-code renewal, unlock and removal.

use mfa_tests::text::PAM_AUTH_ERR;
use mfa_tests::{
    Daemon, EnrollTotp, Interaction, LoginSetup, ONE_PROMPT_PER_LOGIN, PamService, Pamtester, Run,
    TestUser, assert_pam_mfa_ignores, enroll_totp, json_line_with, mfa_enroll, root_suite_ready,
    run, status,
};

/// The contract's recovery code shape: three groups of four letters or digits.
fn is_recovery_code(code: &str) -> bool {
    let groups: Vec<_> = code.split('-').collect();
    groups.len() == 3
        && groups
            .iter()
            .all(|group| group.len() == 4 && group.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Asserts that mfa-enroll refused: exit status 1 and, after any prompts on stderr, one
/// `mfa-enroll: ...` line that says why.
fn assert_refused(done: &Run) {
    assert_eq!(done.status.and_then(|s| s.code()), Some(1), "{done}");
    let message = done.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        message.starts_with("mfa-enroll: ") && message.len() > "mfa-enroll: ".len(),
        "no clear `mfa-enroll: ...` message: {done}"
    );
}

#[test]
fn enrollment_shows_uri_secret_and_ten_recovery_codes() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();

    let enrollment = enroll_totp(&daemon, &user);

    let uri = &enrollment.otpauth_uri;
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(
        uri.contains(&format!("secret={}", enrollment.authenticator.secret())),
        "{uri}"
    );
    assert!(uri.contains("issuer=pam-mfa"), "{uri}");
    assert!(uri.contains(user.name()), "{uri}");
    assert_eq!(
        enrollment.recovery_codes.len(),
        10,
        "{:?}",
        enrollment.recovery_codes
    );
    assert!(
        enrollment
            .recovery_codes
            .iter()
            .all(|code| is_recovery_code(code)),
        "{:?}",
        enrollment.recovery_codes
    );
    let report = status(&daemon, user.name());
    let [totp] = report.authenticators.as_slice() else {
        panic!(
            "status shows one authenticator app: {:?}",
            report.authenticators
        );
    };
    assert_eq!(totp.label, "app");
    assert_eq!(
        (totp.algorithm.as_str(), totp.digits, totp.period),
        ("SHA1", 6, 30)
    );
    assert_eq!(report.recovery_codes_left, 10);

    let service = PamService::mfa(daemon.socket(), "");
    let code = enrollment.authenticator.next_code();
    let login = Pamtester::new(&service, user.name()).authenticate(&[&code]);
    assert!(login.succeeded(), "{login}\n{}", daemon.log_section());
    daemon.assert_log_omits(&enrollment.secrets());
}

#[test]
fn wrong_confirmation_code_enrolls_nothing() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();

    let mut enroll =
        Interaction::spawn(mfa_enroll(&daemon, None, &["totp", "--user", user.name()]));
    assert!(
        enroll.wait_for("\"secret\"", 1),
        "no secret shown: {}",
        enroll.finish()
    );
    let shown = json_line_with(&enroll.stdout(), "secret").expect("secret line");
    let app = mfa_tests::Authenticator::from_enrollment(
        shown["secret"].as_str().expect("secret"),
        shown["otpauth_uri"].as_str().expect("otpauth_uri"),
    );
    enroll.send(&format!("{}\n", app.wrong_code()));
    let done = enroll.finish();

    assert_refused(&done);
    assert!(!done.stdout.contains("recovery_codes"), "{done}");
    assert!(status(&daemon, user.name()).authenticators.is_empty());
    daemon.assert_log_omits(&[app.secret().to_owned()]);
}

#[test]
fn user_enrolls_self_and_replacing_needs_proof() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();
    let as_user = EnrollTotp::new(&daemon).as_caller(user.name());

    let first = as_user
        .run()
        .unwrap_or_else(|done| panic!("self-enrollment failed: {done}\n{}", daemon.log_section()));
    let without_proof = as_user
        .run()
        .expect_err("replaced an enrollment without proof");
    assert_refused(&without_proof);
    let wrong = first.authenticator.wrong_code();
    let wrong_proof = as_user
        .with_proof(&wrong)
        .run()
        .expect_err("replaced an enrollment with a wrong proof");
    assert_refused(&wrong_proof);
    let second = as_user
        .with_proof(&first.recovery_codes[0])
        .replacing(&first.authenticator)
        .run()
        .unwrap_or_else(|done| {
            panic!(
                "re-enrollment with a recovery code failed: {done}\n{}",
                daemon.log_section()
            )
        });
    assert_ne!(first.authenticator.secret(), second.authenticator.secret());

    let service = PamService::mfa(daemon.socket(), "");
    let old_code = first.authenticator.next_code();
    let old = Pamtester::new(&service, user.name()).authenticate(&[&old_code]);
    assert!(!old.succeeded(), "the replaced secret still works: {old}");
    let new_code = second.authenticator.next_code();
    let new = Pamtester::new(&service, user.name()).authenticate(&[&new_code]);
    assert!(new.succeeded(), "{new}\n{}", daemon.log_section());

    let mut secrets = first.secrets();
    secrets.extend(second.secrets());
    daemon.assert_log_omits(&secrets);
}

#[test]
fn non_root_cannot_enroll_or_inspect_another_user() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let caller = TestUser::create();
    let victim = TestUser::create();

    let enroll = EnrollTotp::new(&daemon)
        .as_caller(caller.name())
        .for_user(victim.name())
        .run()
        .expect_err("a user enrolled another user");
    assert_refused(&enroll);
    assert!(
        !enroll.stdout.contains("secret"),
        "a secret was shown: {enroll}"
    );

    let inspect = run(
        mfa_enroll(
            &daemon,
            Some(caller.name()),
            &["status", "--user", victim.name()],
        ),
        "",
    );
    assert_refused(&inspect);
    let unlock = run(
        mfa_enroll(
            &daemon,
            Some(caller.name()),
            &["unlock", "--user", caller.name()],
        ),
        "",
    );
    assert_refused(&unlock);

    assert!(status(&daemon, victim.name()).authenticators.is_empty());
}

#[test]
fn new_recovery_codes_replace_the_old_set() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();
    let enrollment = enroll_totp(&daemon, &user);

    let renewed = run(
        mfa_enroll(&daemon, None, &["recovery-codes", "--user", user.name()]),
        "",
    );
    assert!(renewed.succeeded(), "{renewed}\n{}", daemon.log_section());
    let listed = json_line_with(&renewed.stdout, "recovery_codes")
        .unwrap_or_else(|| panic!("no recovery_codes line: {renewed}"));
    let new_codes: Vec<String> = listed["recovery_codes"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|code| code.as_str().expect("a string").to_owned())
        .collect();
    assert_eq!(new_codes.len(), 10, "{new_codes:?}");

    let service = PamService::mfa(daemon.socket(), "");
    let old = Pamtester::new(&service, user.name()).authenticate(&[&enrollment.recovery_codes[0]]);
    assert!(!old.succeeded(), "an old recovery code still works: {old}");
    let new = Pamtester::new(&service, user.name()).authenticate(&[&new_codes[0]]);
    assert!(new.succeeded(), "{new}\n{}", daemon.log_section());

    let mut secrets = enrollment.secrets();
    secrets.extend(new_codes);
    daemon.assert_log_omits(&secrets);
}

#[test]
fn root_unlock_clears_a_lockout() {
    const SOURCE: &str = "127.0.0.4";
    if !root_suite_ready() {
        return;
    }
    let setup = LoginSetup::through_pam_service("max_tries = 1\n[limits]\nmax_failures = 2\n");
    let service = &setup.via;
    let login = |answer: &str| {
        Pamtester::new(service, setup.user.name())
            .from_rhost(SOURCE)
            .authenticate(&[answer])
    };
    for _ in 0..2 {
        login(&setup.enrollment.authenticator.wrong_code());
    }
    assert_eq!(
        status(&setup.daemon, setup.user.name()).lockouts.len(),
        1,
        "{}",
        setup.daemon.log_section()
    );

    let unlock = run(
        mfa_enroll(
            &setup.daemon,
            None,
            &["unlock", "--user", setup.user.name()],
        ),
        "",
    );
    assert!(unlock.succeeded(), "{unlock}");
    assert!(status(&setup.daemon, setup.user.name()).lockouts.is_empty());
    let code = setup.enrollment.authenticator.next_code();
    let after = login(&code);
    assert!(
        after.succeeded(),
        "still locked after unlock: {after}\n{}",
        setup.daemon.log_section()
    );
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn removed_factors_leave_the_user_unenrolled() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();
    let enrollment = enroll_totp(&daemon, &user);

    let removed = run(
        mfa_enroll(&daemon, None, &["remove", "--user", user.name()]),
        "",
    );
    assert!(removed.succeeded(), "{removed}\n{}", daemon.log_section());
    let report = status(&daemon, user.name());
    assert_eq!(
        (report.authenticators.len(), report.recovery_codes_left),
        (0, 0)
    );

    let strict = PamService::mfa(daemon.socket(), "");
    let code = enrollment.authenticator.next_code();
    let refused = Pamtester::new(&strict, user.name()).authenticate(&[&code]);
    assert!(
        !refused.succeeded() && refused.mentions(PAM_AUTH_ERR),
        "{refused}"
    );
    assert_pam_mfa_ignores(daemon.socket(), "nullok", user.name());
    daemon.assert_log_omits(&enrollment.secrets());
}

/// Issue 20 item 3: Ctrl-C at a code prompt left the terminal without echo (the process died
/// of SIGINT before it could put the settings back; fails on dcbfe8e). The real mfa-enroll
/// runs with a pty as its controlling terminal and is interrupted while it waits for the
/// confirmation code, once by the pty's INTR character and once by SIGTERM; `stty -a` on that
/// pty must show `echo` again.
#[test]
fn ctrl_c_or_sigterm_at_a_code_prompt_leaves_echo_on() {
    use nix::sys::signal::Signal;

    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        interrupt_at_code_prompt(&daemon, &user, signal);
    }
}

/// Runs `mfa-enroll totp` for `user` on a fresh pty, sends `signal` at the code prompt
/// (SIGINT as the pty's INTR character, as Ctrl-C does) and checks that the program died of
/// it with the pty's echo back on.
fn interrupt_at_code_prompt(daemon: &Daemon, user: &TestUser, signal: nix::sys::signal::Signal) {
    use std::io::{Read, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use nix::sys::signal::{Signal, kill};
    use nix::sys::termios::{LocalFlags, SpecialCharacterIndices, tcgetattr};
    use nix::unistd::Pid;

    let pty = nix::pty::openpty(None, None).expect("open a pty");
    let echo_on = || {
        tcgetattr(&pty.slave)
            .expect("pty settings")
            .local_flags
            .contains(LocalFlags::ECHO)
    };
    assert!(echo_on(), "a new pty echoes");
    let slave = || Stdio::from(pty.slave.try_clone().expect("dup the pty"));
    // A session of its own with the pty as controlling terminal, as in a login shell, so
    // that the INTR character signals its process group.
    let mut enroll = Command::new("setsid");
    enroll
        .arg("--ctty")
        .arg(mfa_tests::enroll_binary())
        .arg("--json")
        .arg("--socket")
        .arg(daemon.socket())
        .args(["totp", "--user", user.name()])
        .stdin(slave())
        .stdout(slave())
        .stderr(slave());
    let mut child = enroll.spawn().expect("start mfa-enroll on the pty");
    // What mfa-enroll writes is drained, so that it never blocks on a full pty.
    let mut master = std::fs::File::from(pty.master);
    let mut reader = master.try_clone().expect("dup the pty master");
    let shown = Arc::new(Mutex::new(Vec::new()));
    let drained = Arc::clone(&shown);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = reader.read(&mut buffer) {
            drained.lock().unwrap().extend_from_slice(&buffer[..n]);
        }
    });
    let output = || String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();

    // At the prompt: the code question is shown and echo is off.
    let deadline = Instant::now() + Duration::from_secs(10);
    while echo_on() || !output().contains("Code shown in your authenticator app") {
        assert!(
            Instant::now() < deadline,
            "mfa-enroll never reached the code prompt with echo off:\n{}\n{}",
            output(),
            daemon.log_section()
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "mfa-enroll ended early:\n{}",
            output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    if signal == Signal::SIGINT {
        let intr = tcgetattr(&pty.slave).expect("pty settings").control_chars
            [SpecialCharacterIndices::VINTR as usize];
        master.write_all(&[intr]).expect("type Ctrl-C");
    } else {
        let pid = i32::try_from(child.id()).expect("a pid fits an i32");
        kill(Pid::from_raw(pid), signal).expect("signal mfa-enroll");
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mfa-enroll did not end on {signal}:\n{}", output());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        status.signal(),
        Some(signal as i32),
        "mfa-enroll should die of {signal}, as before: {status:?}\n{}",
        output()
    );
    let stty = Command::new("stty")
        .arg("-a")
        .stdin(slave())
        .output()
        .expect("run stty -a");
    let settings = String::from_utf8_lossy(&stty.stdout);
    assert!(stty.status.success(), "stty -a: {stty:?}");
    assert!(
        settings.split_whitespace().any(|flag| flag == "echo"),
        "echo is still off after {signal}: {settings}"
    );
}
