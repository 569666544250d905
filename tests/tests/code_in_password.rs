//! The password and the code in one field (module option `code_in_password`, issue 17 part
//! 2), as a GUI or VPN client with a single password box sends them: pamtester answers ONE
//! prompt (`Password: `) and then has nothing more to say. The stack is the one the README
//! gives: `pam_mfa.so code_in_password` then `pam_unix.so use_first_pass`, both `required`,
//! with a real account whose Unix password the test sets through chpasswd.
//!
//! The adversarial cases are here too (they need this stack): a wrong password must never
//! tell whether the code was right, and a right code is consumed once.

use std::process::Command;
use std::thread;
use std::time::Duration;

use mfa_tests::text::{PAM_AUTH_ERR, PAMTESTER_SUCCESS};
use mfa_tests::{
    Daemon, Enrollment, PamService, Pamtester, Providers, Run, TestUser, command_as, enroll_totp,
    mfa_auth_line, mfa_enroll, root_suite_ready, run,
};

/// The prompt pam_mfa shows when no earlier module read the password.
const PASSWORD_PROMPT: &str = "Password: ";
/// The account's Unix password in most tests; it ends with digits on purpose, so that a
/// split guessed from the field would take some of them.
const PASSWORD: &str = "Summer2024";
/// Limits far above what a test's failures reach, and one prompt per login.
const SETTINGS: &str = "max_tries = 1\n[limits]\nmax_failures = 100\naccount_max_failures = 100\n";
const PHONE: &str = "+14155554567";

/// A daemon, an enrolled account with a Unix password, and the one-field stack. Fields drop
/// in the order declared: the service, the account, the daemon.
struct OneField {
    service: PamService,
    enrollment: Enrollment,
    user: TestUser,
    daemon: Daemon,
}

impl OneField {
    fn start(settings: &str, password: &[u8]) -> OneField {
        let daemon = Daemon::start_with(settings);
        let user = TestUser::create();
        set_password(&user, password);
        let enrollment = enroll_totp(&daemon, &user);
        let service = PamService::with_auth_stack(&[
            mfa_auth_line("required", daemon.socket(), "code_in_password"),
            // nodelay: pam_unix's two-second delay after a failure only slows the suite.
            "auth required pam_unix.so use_first_pass nodelay".to_owned(),
        ]);
        OneField {
            service,
            enrollment,
            user,
            daemon,
        }
    }

    /// One login whose only answer is `field`, typed at the password prompt.
    fn login(&self, field: &str) -> Run {
        let mut login = Pamtester::new(&self.service, self.user.name())
            .from_rhost("127.0.0.1")
            .start();
        assert!(
            login.wait_for(PASSWORD_PROMPT, 1),
            "no password prompt: {}",
            login.finish()
        );
        login.send(&format!("{field}\n"));
        login.finish()
    }

    fn code(&self) -> String {
        self.enrollment.authenticator.next_code()
    }

    fn outcomes(&self) -> Vec<String> {
        self.daemon.auth_outcomes(self.user.name())
    }

    fn assert_secrets_kept(&self) {
        let mut secrets = self.enrollment.secrets();
        secrets.push(PASSWORD.to_owned());
        self.daemon.assert_log_omits(&secrets);
    }
}

/// Sets the account's Unix password (bytes, so a test can set one that is not UTF-8).
/// chpasswd fails rather than wait while another suite's useradd holds /etc/shadow.
fn set_password(user: &TestUser, password: &[u8]) {
    use std::io::Write;
    for _ in 0..20 {
        let mut chpasswd = Command::new("chpasswd")
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("chpasswd runs");
        let mut line = format!("{}:", user.name()).into_bytes();
        line.extend_from_slice(password);
        line.push(b'\n');
        if let Some(mut stdin) = chpasswd.stdin.take() {
            stdin.write_all(&line).expect("chpasswd reads its input");
        }
        if chpasswd.wait().expect("chpasswd ends").success() {
            return;
        }
        thread::sleep(Duration::from_millis(200));
    }
    panic!("chpasswd could not set the password of {}", user.name());
}

/// Everything a one-field client would see of a login: the exit status and the output.
fn seen(run: &Run) -> (Option<i32>, String, String) {
    (
        run.status.and_then(|s| s.code()),
        run.stdout.clone(),
        run.stderr.clone(),
    )
}

#[test]
fn right_password_and_right_code_in_one_field_log_in() {
    if !root_suite_ready() {
        return;
    }
    let f = OneField::start(SETTINGS, PASSWORD.as_bytes());
    let login = f.login(&format!("{PASSWORD}{}", f.code()));
    assert!(
        login.succeeded() && login.mentions(PAMTESTER_SUCCESS),
        "{login}\n{}",
        f.daemon.log_section()
    );
    assert_eq!(login.count(PASSWORD_PROMPT), 1, "asked twice: {login}");
    assert_eq!(f.daemon.auth_success()["factor"], "totp");
    f.assert_secrets_kept();
}

#[test]
fn right_password_with_a_wrong_code_fails() {
    if !root_suite_ready() {
        return;
    }
    let f = OneField::start(SETTINGS, PASSWORD.as_bytes());
    let wrong = f.enrollment.authenticator.wrong_code();
    let login = f.login(&format!("{PASSWORD}{wrong}"));
    assert!(
        !login.succeeded() && login.mentions(PAM_AUTH_ERR),
        "{login}"
    );
    assert_eq!(login.count(PASSWORD_PROMPT), 1, "{login}");
    assert_eq!(f.outcomes(), ["failure"]);
    f.assert_secrets_kept();
}

#[test]
fn wrong_password_with_the_right_code_fails() {
    if !root_suite_ready() {
        return;
    }
    let f = OneField::start(SETTINGS, PASSWORD.as_bytes());
    let login = f.login(&format!("Winter2024{}", f.code()));
    assert!(
        !login.succeeded() && login.mentions(PAM_AUTH_ERR),
        "{login}"
    );
    // The daemon accepted the code; pam_unix refused the password.
    assert_eq!(f.outcomes(), ["success"]);
}

/// Adversarial (issue 17): with a wrong password, a right code and a wrong one give the
/// same PAM result and the same words, so the field cannot test codes. Before this option
/// existed, the module had no way to take a code from the password field at all; the check
/// that matters is that the daemon shows no "Invalid code" and asks nothing more in this
/// mode, which the ordinary menu does (checked below against the plain stack).
#[test]
fn a_wrong_password_never_tells_whether_the_code_was_right() {
    if !root_suite_ready() {
        return;
    }
    let f = OneField::start(SETTINGS, PASSWORD.as_bytes());
    let right = f.login(&format!("Winter2024{}", f.code()));
    let wrong = f.login(&format!(
        "Winter2024{}",
        f.enrollment.authenticator.wrong_code()
    ));
    assert!(!right.succeeded() && !wrong.succeeded(), "{right}\n{wrong}");
    assert_eq!(
        seen(&right),
        seen(&wrong),
        "right and wrong code differ to the client:\n{right}\n{wrong}"
    );
    // And with the right password, a wrong code looks like a wrong password.
    let wrong_code = f.login(&format!(
        "{PASSWORD}{}",
        f.enrollment.authenticator.wrong_code()
    ));
    assert_eq!(seen(&wrong_code), seen(&wrong), "{wrong_code}\n{wrong}");
    assert_eq!(f.outcomes(), ["success", "failure", "failure"]);
}

/// Adversarial: a right code sent with a wrong password was used; it does not log in again
/// with the right password, and the next code does.
#[test]
fn a_right_code_is_consumed_once_even_with_a_wrong_password() {
    if !root_suite_ready() {
        return;
    }
    let f = OneField::start(SETTINGS, PASSWORD.as_bytes());
    let code = f.code();
    let first = f.login(&format!("Winter2024{code}"));
    let again = f.login(&format!("{PASSWORD}{code}"));
    assert!(!first.succeeded() && !again.succeeded(), "{first}\n{again}");
    assert_eq!(seen(&first), seen(&again));
    let next = f.login(&format!("{PASSWORD}{}", f.code()));
    assert!(next.succeeded(), "{next}\n{}", f.daemon.log_section());
    assert_eq!(f.outcomes(), ["success", "failure", "success"]);
}

#[test]
fn a_field_shorter_than_any_code_fails_quietly() {
    if !root_suite_ready() {
        return;
    }
    let f = OneField::start(SETTINGS, PASSWORD.as_bytes());
    for field in ["", "12345", "pw"] {
        let login = f.login(field);
        assert!(
            !login.succeeded() && login.mentions(PAM_AUTH_ERR),
            "{login}"
        );
        assert_eq!(login.count(PASSWORD_PROMPT), 1, "{login}");
    }
    assert_eq!(f.outcomes(), ["failure", "failure", "failure"]);
}

#[test]
fn a_field_of_only_a_code_leaves_an_empty_password() {
    if !root_suite_ready() {
        return;
    }
    let f = OneField::start(SETTINGS, PASSWORD.as_bytes());
    let login = f.login(&f.code());
    // The code was right; the empty password is pam_unix's to refuse.
    assert!(
        !login.succeeded() && login.mentions(PAM_AUTH_ERR),
        "{login}"
    );
    assert_eq!(f.outcomes(), ["success"]);
}

#[test]
fn commas_in_the_password_are_kept() {
    if !root_suite_ready() {
        return;
    }
    let password = "a,b,sms,c";
    let f = OneField::start(SETTINGS, password.as_bytes());
    let login = f.login(&format!("{password}{}", f.code()));
    assert!(login.succeeded(), "{login}\n{}", f.daemon.log_section());
}

#[test]
fn a_password_that_is_not_utf8_still_logs_in() {
    if !root_suite_ready() {
        return;
    }
    // Latin-1 "passwört": the module keeps those bytes and sends the daemon only the end.
    let f = OneField::start(SETTINGS, b"passw\xf6rt");
    let code = f.code();
    let script = format!(
        "printf 'passw\\366rt{code}\\n' | pamtester -v {} {} authenticate",
        f.service.name(),
        f.user.name()
    );
    let mut command = command_as(None, "sh");
    command.args(["-c", &script]);
    let login = run(command, "");
    assert!(
        login.succeeded() && login.mentions(PAMTESTER_SUCCESS),
        "{login}\n{}",
        f.daemon.log_section()
    );
}

#[test]
fn a_recovery_code_in_the_field_logs_in() {
    if !root_suite_ready() {
        return;
    }
    let f = OneField::start(SETTINGS, PASSWORD.as_bytes());
    let recovery = f.enrollment.recovery_codes[0].clone();
    let login = f.login(&format!("{PASSWORD}{recovery}"));
    assert!(login.succeeded(), "{login}\n{}", f.daemon.log_section());
    // No "recovery code accepted; N left": a one-field client shows nothing of the code.
    assert!(!login.mentions("left"), "{login}");
    assert_eq!(f.daemon.auth_success()["factor"], "recovery_code");
}

#[test]
fn an_eight_digit_app_takes_eight_digits() {
    if !root_suite_ready() {
        return;
    }
    let settings = format!("{SETTINGS}[totp]\ndigits = 8\n");
    let f = OneField::start(&settings, PASSWORD.as_bytes());
    let code = f.code();
    assert_eq!(code.len(), 8, "premise: an 8-digit app");
    let login = f.login(&format!("{PASSWORD}{code}"));
    assert!(login.succeeded(), "{login}\n{}", f.daemon.log_section());
}

#[test]
fn a_keyword_sends_a_code_asked_for_at_the_next_prompt() {
    if !root_suite_ready() {
        return;
    }
    let providers = Providers::start();
    let settings = format!("{SETTINGS}{}", providers.config());
    let f = OneField::start(&settings, PASSWORD.as_bytes());
    let saved = run(
        mfa_enroll(
            &f.daemon,
            None,
            &["phone", PHONE, "--unverified", "--user", f.user.name()],
        ),
        "",
    );
    assert!(saved.succeeded(), "{saved}");
    let mut login = Pamtester::new(&f.service, f.user.name()).start();
    assert!(login.wait_for(PASSWORD_PROMPT, 1), "{}", login.finish());
    login.send(&format!("{PASSWORD},sms\n"));
    assert!(login.wait_for("Code: ", 1), "{}", login.finish());
    let code = providers.sms_code(PHONE);
    login.send(&format!("{code}\n"));
    let done = login.finish();
    assert!(
        done.succeeded() && done.mentions(PAMTESTER_SUCCESS),
        "{done}\n{}",
        f.daemon.log_section()
    );
    assert_eq!(f.daemon.auth_success()["factor"], "sms");
}

/// One login on `service` whose only answer is `field`.
fn one_answer(service: &PamService, user: &TestUser, field: &str) -> Run {
    let mut login = Pamtester::new(service, user.name())
        .from_rhost("127.0.0.1")
        .start();
    assert!(
        login.wait_for(PASSWORD_PROMPT, 1),
        "no password prompt: {}",
        login.finish()
    );
    login.send(&format!("{field}\n"));
    login.finish()
}

/// The README's stack for both ways in: an app password alone ends the stack on the first
/// line; anything else goes on, read as password and code by the second. Both options on
/// one line are refused, since no control value serves both.
#[test]
fn an_app_password_or_the_password_and_a_code_in_the_same_field() {
    if !root_suite_ready() {
        return;
    }
    let settings = format!("{SETTINGS}[policy]\napp_passwords = true\n");
    let f = OneField::start(&settings, PASSWORD.as_bytes());
    let made = run(
        mfa_enroll(
            &f.daemon,
            None,
            &["app-password", "add", "vpn", "--user", f.user.name()],
        ),
        "",
    );
    assert!(made.succeeded(), "{made}\n{}", f.daemon.log_section());
    let made: serde_json::Value = serde_json::from_str(made.stdout.trim()).expect("one JSON line");
    let app_password = made["app_password"]["password"]
        .as_str()
        .expect("the password")
        .to_owned();
    let both = PamService::with_auth_stack(&[
        mfa_auth_line(
            "[success=done default=ignore]",
            f.daemon.socket(),
            "app_password",
        ),
        mfa_auth_line("required", f.daemon.socket(), "code_in_password"),
        "auth required pam_unix.so use_first_pass nodelay".to_owned(),
    ]);

    let by_app = one_answer(&both, &f.user, &app_password);
    assert!(by_app.succeeded(), "{by_app}\n{}", f.daemon.log_section());
    assert_eq!(by_app.count(PASSWORD_PROMPT), 1, "{by_app}");
    assert_eq!(f.daemon.auth_success()["factor"], "app_password");

    let by_code = one_answer(&both, &f.user, &format!("{PASSWORD}{}", f.code()));
    assert!(by_code.succeeded(), "{by_code}\n{}", f.daemon.log_section());
    assert_eq!(by_code.count(PASSWORD_PROMPT), 1, "{by_code}");
    let factors: Vec<serde_json::Value> = f
        .daemon
        .audit_events()
        .into_iter()
        .filter(|e| e["event"] == "sign_in_succeeded")
        .map(|e| e["factor"].clone())
        .collect();
    assert_eq!(factors, ["app_password", "totp"]);

    // A code after the app password is not an app password, and the rest is not the Unix
    // password; a wrong password with a right code fails too.
    let mixed = one_answer(&both, &f.user, &format!("{app_password}{}", f.code()));
    assert!(
        !mixed.succeeded() && mixed.mentions(PAM_AUTH_ERR),
        "{mixed}"
    );
    let wrong = one_answer(&both, &f.user, &format!("Winter2024{}", f.code()));
    assert!(
        !wrong.succeeded() && wrong.mentions(PAM_AUTH_ERR),
        "{wrong}"
    );

    let one_line = PamService::with_auth_stack(&[
        mfa_auth_line(
            "required",
            f.daemon.socket(),
            "app_password code_in_password",
        ),
        "auth required pam_unix.so use_first_pass nodelay".to_owned(),
    ]);
    let refused = Pamtester::new(&one_line, f.user.name())
        .from_rhost("127.0.0.1")
        .start()
        .finish();
    assert!(!refused.succeeded(), "{refused}");
    assert_eq!(refused.count(PASSWORD_PROMPT), 0, "{refused}");
    let mut secrets = f.enrollment.secrets();
    secrets.extend([PASSWORD.to_owned(), app_password]);
    f.daemon.assert_log_omits(&secrets);
}
