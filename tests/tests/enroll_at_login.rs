//! Enrollment at login (`[policy] unenrolled = "enroll"`): a known account with no factor is
//! shown a new app's key (QR code, otpauth URI, `Key: ` line) and logs in with the app's first
//! code, which saves the app and shows the recovery codes once, under a last prompt that waits
//! for Enter; inside `grace_period` an empty answer skips (`PAM_IGNORE`), counted from the
//! first time the account met the prompt, and after it an empty answer is refused. Through
//! pamtester, sudo and the real sshd and ssh. Unknown accounts, `nullok` and exempt accounts
//! never see it.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mfa_tests::text::{
    CODE_PROMPT, ENROLL_CODE_MISMATCH, ENROLL_NOTICE, ENROLL_PROMPT, ENROLL_PROMPT_NO_SKIP,
    ENROLL_REQUIRED, ENROLL_SKIP_OFFER, PAMTESTER_SUCCESS, RECOVERY_CODES_HEADING,
    SAVE_CODES_PROMPT,
};
use mfa_tests::{
    Daemon, Enrollment, EnrollmentOffer, Interaction, PamService, Pamtester, Run, Sshd, Sudo,
    TestUser, assert_pam_mfa_ignores, recovery_codes_shown, root_suite_ready, status,
    unused_user_name,
};
use serde_json::Value;

/// The audit events a login that sets up, skips or fails to set up an app may write.
const SETUP_EVENTS: [&str; 3] = [
    "mfa_setup_succeeded",
    "mfa_setup_failed",
    "mfa_setup_skipped",
];
/// How long text already written may take to show up in the captured output.
const OUTPUT_SETTLE: Duration = Duration::from_secs(2);
/// `grace_period = "3d"`, in seconds.
const THREE_DAYS: u64 = 3 * 24 * 3600;

/// A daemon whose config adds `settings` (top-level keys) and a `[policy]` table with
/// `unenrolled = "enroll"` and `policy` (more policy keys).
fn enrolling_daemon(settings: &str, policy: &str) -> Daemon {
    Daemon::start_with(&enrolling_settings(settings, policy))
}

fn enrolling_settings(settings: &str, policy: &str) -> String {
    format!("{settings}[policy]\nunenrolled = \"enroll\"\n{policy}")
}

/// The audit events named `event` for `user`, in order.
fn events(daemon: &Daemon, event: &str, user: &str) -> Vec<Value> {
    daemon
        .audit_events()
        .into_iter()
        .filter(|e| e["event"] == event && e["user"] == user)
        .collect()
}

/// The enrollment audit events for `user` (any of [`SETUP_EVENTS`]).
fn setup_events(daemon: &Daemon, user: &str) -> Vec<Value> {
    daemon
        .audit_events()
        .into_iter()
        .filter(|e| SETUP_EVENTS.iter().any(|name| e["event"] == *name) && e["user"] == user)
        .collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The prompt inside the grace period with `left` (`3 days`, `1 minute`, ...) to go.
fn skip_prompt(left: &str) -> String {
    format!("{ENROLL_PROMPT} {ENROLL_SKIP_OFFER}{left} left): ")
}

/// A pamtester login that meets the enrollment prompt, answered one prompt at a time so that
/// the test can read the key shown before typing a code.
#[derive(Debug)]
struct EnrollingLogin {
    login: Interaction,
    answered: usize,
}

impl EnrollingLogin {
    fn start(pamtester: Pamtester<'_>) -> EnrollingLogin {
        EnrollingLogin {
            login: pamtester.start_line_buffered(),
            answered: 0,
        }
    }

    /// Waits until the enrollment prompt has been shown `times` times; panics with the output
    /// if the login ends first.
    fn wait_for_prompt(&self, times: usize) {
        assert!(
            self.login.wait_for(ENROLL_PROMPT, times),
            "the enrollment prompt {ENROLL_PROMPT:?} was not shown {times} time(s); output:\n{}",
            self.output()
        );
    }

    /// Everything printed so far, stdout then stderr.
    fn output(&self) -> String {
        format!("{}\n{}", self.login.stdout(), self.login.stderr())
    }

    /// The offer shown before the first prompt; panics with the output without one.
    ///
    /// The offer is the text of the first prompt, which pamtester writes to stderr in one
    /// piece, but the reading thread may see it in parts: this waits a moment for a complete
    /// `Key: ` line after the URI.
    fn offer(&self) -> EnrollmentOffer {
        self.wait_for_prompt(1);
        let deadline = Instant::now() + OUTPUT_SETTLE;
        while !key_line_complete(&self.output()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        EnrollmentOffer::read(&self.output()).unwrap_or_else(|| {
            panic!(
                "no otpauth://totp/ URI with a secret was shown:\n{}",
                self.output()
            )
        })
    }

    /// Answers the next enrollment prompt, once it is shown.
    fn answer(&mut self, answer: &str) {
        self.wait_for_prompt(self.answered + 1);
        self.login.send(&format!("{answer}\n"));
        self.answered += 1;
    }

    /// Presses Enter at the prompt under the recovery codes, once it is shown.
    fn save_codes(&mut self) {
        assert!(
            self.login.wait_for(SAVE_CODES_PROMPT, 1),
            "no {SAVE_CODES_PROMPT:?} after the recovery codes; output:\n{}",
            self.output()
        );
        self.login.send("\n");
    }

    fn finish(self) -> Run {
        self.login.finish()
    }
}

/// Whether `shown` holds an otpauth URI followed by a whole `Key: ` line.
fn key_line_complete(shown: &str) -> bool {
    shown
        .find("otpauth://totp/")
        .and_then(|uri| shown[uri..].find("\nKey: ").map(|key| uri + key + 1))
        .is_some_and(|key| shown[key..].contains('\n'))
}

/// The recovery codes in `shown` (the client's whole output), after asserting that each
/// appears exactly once and that there are as many as `expected`.
fn codes_shown_once(shown: &str, expected: usize) -> Vec<String> {
    let codes = recovery_codes_shown(shown);
    assert_eq!(
        codes.len(),
        expected,
        "{expected} recovery codes were saved, {} shown:\n{shown}",
        codes.len()
    );
    for code in &codes {
        assert_eq!(
            shown.matches(code.as_str()).count(),
            1,
            "the recovery code {code} was not shown exactly once:\n{shown}"
        );
    }
    codes
}

/// One pamtester login that answers each enrollment prompt with the next of `answers`.
fn enrolling_login(service: &PamService, user: &str, answers: &[&str]) -> Run {
    let mut login = EnrollingLogin::start(Pamtester::new(service, user));
    for answer in answers {
        login.answer(answer);
    }
    login.finish()
}

/// Asserts what every enrollment offer shows: the notice, a QR code of Unicode blocks
/// without terminal escapes, the otpauth URI and the key spelled out.
fn assert_offer_shown(shown: &str, offer: &EnrollmentOffer) {
    assert!(
        shown.contains(ENROLL_NOTICE),
        "no {ENROLL_NOTICE:?}:\n{shown}"
    );
    assert!(
        offer.qr_rows >= 10,
        "no QR code of Unicode half blocks ({} rows):\n{shown}",
        offer.qr_rows
    );
    assert!(!shown.contains('\u{1b}'), "ANSI escapes in:\n{shown:?}");
    assert!(
        offer.key_matches_uri(),
        "the Key: line {:?} is not the URI's secret {:?}:\n{shown}",
        offer.key,
        offer.uri_secret
    );
}

#[test]
fn an_unenrolled_user_sets_up_an_app_at_login_and_uses_it_next_time() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    // No grace_period: the default is "0s", so there is no way to skip.
    let daemon = enrolling_daemon("max_tries = 3\n", "");
    let service = PamService::mfa(daemon.socket(), "");

    let mut login = EnrollingLogin::start(Pamtester::new(&service, user.name()));
    let offer = login.offer();
    let shown = login.output();
    assert_offer_shown(&shown, &offer);
    assert!(
        shown.contains(ENROLL_PROMPT_NO_SKIP) && !shown.contains(ENROLL_SKIP_OFFER),
        "with no grace period the prompt must be exactly {ENROLL_PROMPT_NO_SKIP:?}:\n{shown}"
    );
    assert!(!shown.contains(CODE_PROMPT), "{shown}");

    login.answer(&offer.authenticator.wrong_code());
    login.wait_for_prompt(2);
    assert!(
        login.output().contains(ENROLL_CODE_MISMATCH),
        "a wrong code did not get {ENROLL_CODE_MISMATCH:?}:\n{}",
        login.output()
    );
    login.answer(&offer.authenticator.next_code());
    login.save_codes();
    let done = login.finish();
    assert!(
        done.succeeded() && done.mentions(PAMTESTER_SUCCESS),
        "{done}\n{}",
        daemon.log_section()
    );
    assert_eq!(done.count(ENROLL_PROMPT), 2, "{done}");
    assert_eq!(done.count(SAVE_CODES_PROMPT), 1, "{done}");
    assert!(done.mentions(RECOVERY_CODES_HEADING), "{done}");
    let recovery_codes = codes_shown_once(&format!("{}\n{}", done.stdout, done.stderr), 10);

    let setup = daemon.wait_for_audit(|e| e["event"] == "mfa_setup_succeeded");
    assert_eq!(setup["user"], user.name(), "{setup}");
    assert_eq!(setup["factor"], "totp", "{setup}");
    assert_eq!(setup["label"], "app", "{setup}");
    let signed_in = daemon.wait_for_audit(|e| e["event"] == "sign_in_succeeded");
    assert_eq!(signed_in["user"], user.name(), "{signed_in}");
    assert_eq!(signed_in["factor"], "totp", "{signed_in}");
    assert_eq!(signed_in["service"], service.name(), "{signed_in}");
    assert!(
        events(&daemon, "mfa_setup_failed", user.name()).is_empty(),
        "one wrong code is not a failed setup\n{}",
        daemon.log_section()
    );

    let report = status(&daemon, user.name());
    assert_eq!(report.authenticators.len(), 1, "{report:?}");
    assert_eq!(report.authenticators[0].label, "app", "{report:?}");
    assert_eq!(
        report.recovery_codes_left,
        recovery_codes.len(),
        "{report:?}"
    );
    assert_eq!(report.grace_until, None, "{report:?}");

    // The next login asks for a code as usual, and the app set up at login answers it (a
    // later time step than the confirmation's: that one is used).
    let next =
        Pamtester::new(&service, user.name()).authenticate(&[&offer.authenticator.next_code()]);
    assert!(next.succeeded(), "{next}\n{}", daemon.log_section());
    assert_eq!(next.count(CODE_PROMPT), 1, "{next}");
    assert!(!next.mentions(ENROLL_NOTICE), "{next}");
    // So does a recovery code shown at login.
    let recovered = Pamtester::new(&service, user.name()).authenticate(&[&recovery_codes[0]]);
    assert!(
        recovered.succeeded(),
        "{recovered}\n{}",
        daemon.log_section()
    );
    assert_eq!(events(&daemon, "mfa_setup_succeeded", user.name()).len(), 1);

    let enrollment = Enrollment {
        authenticator: offer.authenticator,
        otpauth_uri: offer.otpauth_uri,
        recovery_codes,
    };
    daemon.assert_log_omits(&enrollment.secrets());
}

#[test]
fn wrong_codes_up_to_max_tries_fail_the_login_and_save_nothing() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = enrolling_daemon("max_tries = 2\n", "");
    // pam_permit after the module: a login that must fail proves the module did not ignore.
    let service = PamService::mfa_then_permit(daemon.socket(), "");

    let mut login = EnrollingLogin::start(Pamtester::new(&service, user.name()));
    let offer = login.offer();
    login.answer(&offer.authenticator.wrong_code());
    login.answer(&offer.authenticator.wrong_code());
    let done = login.finish();
    assert!(!done.succeeded(), "{done}");
    assert_eq!(done.count(ENROLL_PROMPT), 2, "{done}");
    assert_eq!(done.count(ENROLL_CODE_MISMATCH), 2, "{done}");
    assert!(!done.mentions(RECOVERY_CODES_HEADING), "{done}");

    let failed = daemon.wait_for_audit(|e| e["event"] == "mfa_setup_failed");
    assert_eq!(failed["user"], user.name(), "{failed}");
    assert!(
        events(&daemon, "mfa_setup_succeeded", user.name()).is_empty(),
        "{}",
        daemon.log_section()
    );
    let report = status(&daemon, user.name());
    assert!(report.authenticators.is_empty(), "{report:?}");
    assert_eq!(report.recovery_codes_left, 0, "{report:?}");

    // Nothing was saved: the next login offers a key again, and the right code for the one
    // shown then sets the app up.
    let mut again = EnrollingLogin::start(Pamtester::new(&service, user.name()));
    let second_offer = again.offer();
    assert_offer_shown(&again.output(), &second_offer);
    again.answer(&second_offer.authenticator.next_code());
    again.save_codes();
    let done = again.finish();
    assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    daemon.assert_log_omits(&[offer.uri_secret, second_offer.uri_secret]);
}

#[test]
fn inside_the_grace_period_enter_skips_and_the_countdown_keeps_its_start() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = enrolling_daemon("", "grace_period = \"3d\"\n");
    let then_permit = PamService::mfa_then_permit(daemon.socket(), "");
    let alone = PamService::mfa(daemon.socket(), "");
    let three_days_left = skip_prompt("3 days");

    let before = unix_now();
    let first = enrolling_login(&then_permit, user.name(), &[""]);
    assert!(
        first.succeeded(),
        "Enter inside the grace period must leave the login to pam_permit (PAM_IGNORE): \
         {first}\n{}",
        daemon.log_section()
    );
    assert_eq!(first.count(&three_days_left), 1, "{first}");
    assert!(first.mentions(ENROLL_NOTICE), "{first}");
    assert!(!first.mentions(ENROLL_REQUIRED), "{first}");
    let skipped = daemon.wait_for_audit(|e| e["event"] == "mfa_setup_skipped");
    assert_eq!(skipped["user"], user.name(), "{skipped}");
    let until = skipped["until"]
        .as_u64()
        .unwrap_or_else(|| panic!("no Unix time `until` in {skipped}"));
    assert!(
        (before + THREE_DAYS..=unix_now() + THREE_DAYS).contains(&until),
        "until {until} is not three days after the first prompt ({before}): {skipped}"
    );

    // With pam_mfa alone the same skip is no way in: it is PAM_IGNORE, not PAM_SUCCESS. And
    // the countdown runs from the first prompt: still 3 days (rounded up), same end.
    let second = enrolling_login(&alone, user.name(), &[""]);
    assert!(
        !second.succeeded(),
        "a skip let a stack of pam_mfa alone succeed: {second}"
    );
    assert_eq!(second.count(&three_days_left), 1, "{second}");
    let skips = events(&daemon, "mfa_setup_skipped", user.name());
    assert_eq!(skips.len(), 2, "{skips:?}");
    assert_eq!(
        skips[1]["until"], until,
        "the grace period restarted at the second login: {skips:?}"
    );

    let report = status(&daemon, user.name());
    assert!(report.authenticators.is_empty(), "{report:?}");
    assert_eq!(report.grace_until, Some(until), "{report:?}");
}

#[test]
fn once_the_grace_period_is_over_an_empty_answer_is_refused() {
    if !root_suite_ready() {
        return;
    }
    const GRACE: Duration = Duration::from_secs(2);
    let user = TestUser::create();
    let daemon = Daemon::start_on_moving_clock(&enrolling_settings(
        "max_tries = 2\n",
        "grace_period = \"2s\"\n",
    ));
    let service = PamService::mfa_then_permit(daemon.socket(), "");

    // The first prompt starts the grace period; what is left is rounded up to a minute.
    let mut first = EnrollingLogin::start(Pamtester::new(&service, user.name()));
    first.wait_for_prompt(1);
    first.answer("");
    let first = first.finish();
    assert!(first.succeeded(), "{first}\n{}", daemon.log_section());
    assert_eq!(first.count(&skip_prompt("1 minute")), 1, "{first}");

    // The daemon wrote the start before it showed the prompt: a second past its end is enough.
    daemon.clock().advance(GRACE + Duration::from_secs(1));
    let late = enrolling_login(&service, user.name(), &["", ""]);
    assert!(
        !late.succeeded(),
        "an empty answer after the grace period got in: {late}"
    );
    assert_eq!(late.count(ENROLL_PROMPT_NO_SKIP), 2, "{late}");
    assert!(!late.mentions(ENROLL_SKIP_OFFER), "{late}");
    assert_eq!(late.count(ENROLL_REQUIRED), 2, "{late}");
    assert_eq!(
        events(&daemon, "mfa_setup_skipped", user.name()).len(),
        1,
        "{}",
        daemon.log_section()
    );
    daemon.wait_for_audit(|e| e["event"] == "mfa_setup_failed" && e["user"] == user.name());
}

/// The text an ssh client got from the server so far: the keyboard-interactive prompts (sshd
/// puts the PAM messages that precede a prompt into the prompt itself, which ssh hands to
/// askpass) and ssh's own output (messages that come with no prompt after them ssh prints
/// itself, on stderr, and sshd repeats them among the login messages).
fn client_text(prompts: &[String], output: &str) -> String {
    format!("{}\n{output}", prompts.join("\n"))
}

/// What an enrollment through ssh showed the client.
#[derive(Debug)]
struct SshEnrollment {
    /// The client's text up to the first prompt.
    offered: String,
    offer: EnrollmentOffer,
    /// The client's text at the end.
    received: String,
    recovery_codes: Vec<String>,
}

/// Logs `user` in through `sshd` with ssh in `locale`, answering the enrollment prompt with
/// the first code of the key shown and the prompt under the recovery codes with Enter;
/// asserts that the login got in with those two prompts and showed each code once.
fn enroll_through_ssh(
    daemon: &Daemon,
    sshd: &Sshd,
    user: &TestUser,
    locale: &str,
) -> SshEnrollment {
    let mut pending = sshd.start_login_in_locale(user.name(), "127.0.0.1", locale);
    assert!(
        pending.wait_for_prompts(1),
        "ssh was never prompted: {}\n--- sshd log ---\n{}\n{}",
        pending.output(),
        sshd.log(),
        daemon.log_section()
    );
    let offered = client_text(&pending.prompts(), &pending.output());
    let offer = EnrollmentOffer::read(&offered)
        .unwrap_or_else(|| panic!("no otpauth URI reached the ssh client:\n{offered}"));
    assert!(offered.contains(ENROLL_NOTICE), "{offered}");
    assert!(offer.key_matches_uri(), "{offered}");
    pending.answer(&offer.authenticator.next_code());
    assert!(
        pending.wait_for_prompts(2),
        "no prompt after the recovery codes: {:?}\n{}\n--- sshd log ---\n{}\n{}",
        pending.prompts(),
        pending.output(),
        sshd.log(),
        daemon.log_section()
    );
    pending.answer("");
    let login = pending.finish();
    assert!(
        login.run.succeeded(),
        "{}\n--- sshd log ---\n{}\n{}",
        login.run,
        sshd.log(),
        daemon.log_section()
    );
    assert_eq!(login.prompts.len(), 2, "{:?}", login.prompts);
    assert!(
        login.prompts[0].ends_with(ENROLL_PROMPT_NO_SKIP),
        "askpass was asked {:?}",
        login.prompts[0]
    );
    assert!(
        login.prompts[1].contains(RECOVERY_CODES_HEADING)
            && login.prompts[1].ends_with(SAVE_CODES_PROMPT),
        "askpass was asked {:?}",
        login.prompts[1]
    );
    assert!(
        sshd.log().contains(&format!(
            "Accepted keyboard-interactive/pam for {}",
            user.name()
        )),
        "{}",
        sshd.log()
    );
    let received = client_text(
        &login.prompts,
        &format!("{}\n{}", login.run.stdout, login.run.stderr),
    );
    let saved = status(daemon, user.name()).recovery_codes_left;
    let recovery_codes = codes_shown_once(&received, saved);
    SshEnrollment {
        offered,
        offer,
        received,
        recovery_codes,
    }
}

/// The octal escape ssh writes for the first two bytes of U+2580..U+2588, the QR code's
/// half and full blocks (E2 96 xx in UTF-8).
const ESCAPED_BLOCK: &str = "\\342\\226";

// What ssh does with the QR code: sshd puts the PAM info text (notice, QR code, URI, key) in
// front of the keyboard-interactive prompt, and ssh shows that prompt (on the terminal, or
// as askpass's argument). In a UTF-8 locale the half blocks arrive as they are and the code
// can be scanned; in the C or POSIX locale ssh writes each byte of them as an octal escape
// (`\342\226\210`), so the QR code is garbage but the URI and the `Key: ` line are plain
// ASCII and still usable. The recovery codes come the same way, in front of the last prompt
// (`Save these codes, then press Enter: `), and so reach the client once. Issue 20.1: they
// used to come with no prompt after them, and ssh showed them twice.
#[test]
fn through_ssh_the_key_reaches_the_client_and_its_code_logs_in() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = enrolling_daemon("max_tries = 3\n", "");
    let sshd = Sshd::start(&daemon, "");
    sshd.authorize(&user);

    let shown = enroll_through_ssh(&daemon, &sshd, &user, "C.UTF-8");
    assert!(
        shown.offer.qr_rows >= 10 && !shown.offered.contains(ESCAPED_BLOCK),
        "the QR code did not reach a UTF-8 ssh client intact:\n{}",
        shown.offered
    );
    let signed_in = daemon.wait_for_audit(|e| e["event"] == "sign_in_succeeded");
    assert_eq!(signed_in["service"], sshd.service(), "{signed_in}");
    assert_eq!(signed_in["rhost"], "127.0.0.1", "{signed_in}");
    assert_eq!(signed_in["factor"], "totp", "{signed_in}");
    let setup = daemon.wait_for_audit(|e| e["event"] == "mfa_setup_succeeded");
    assert_eq!(setup["label"], "app", "{setup}");

    // The codes that reached the client are the ones saved.
    let service = PamService::mfa(daemon.socket(), "");
    let recovered = Pamtester::new(&service, user.name()).authenticate(&[&shown.recovery_codes[0]]);
    assert!(
        recovered.succeeded(),
        "{recovered}\n--- ssh client got ---\n{}\n{}",
        shown.received,
        daemon.log_section()
    );
    let enrollment = Enrollment {
        authenticator: shown.offer.authenticator,
        otpauth_uri: shown.offer.otpauth_uri,
        recovery_codes: shown.recovery_codes,
    };
    daemon.assert_log_omits(&enrollment.secrets());
}

#[test]
fn through_ssh_in_the_c_locale_the_qr_code_is_escaped_but_the_key_is_usable() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = enrolling_daemon("max_tries = 3\n", "");
    let sshd = Sshd::start(&daemon, "");
    sshd.authorize(&user);

    let shown = enroll_through_ssh(&daemon, &sshd, &user, "C");
    assert_eq!(shown.offer.qr_rows, 0, "{}", shown.offered);
    assert!(
        shown.offered.contains(ESCAPED_BLOCK),
        "ssh in the C locale no longer escapes the half blocks:\n{}",
        shown.offered
    );
    daemon.wait_for_audit(|e| e["event"] == "mfa_setup_succeeded" && e["user"] == user.name());
}

/// What the shell of an interactive ssh session is given to type: a line whose output
/// ([`SHELL_STARTED`]) differs from its echo on the pty, so that seeing it proves a shell ran,
/// then `exit`.
const SHELL_INPUT: &str = "echo shell-$((6 * 7))-up; exit\n";
/// What [`SHELL_INPUT`] prints.
const SHELL_STARTED: &str = "shell-42-up";

// Issue 20.1 as a person meets it: `ssh host` with no command, on a pty, the only session for
// which sshd shows its login messages (after a command such as the `true` above, or with a
// ~/.hushlogin, the login is quiet). A PAM message with no prompt after it at the end of
// keyboard-interactive is printed by ssh and kept among those messages, so it was shown a
// second time before the shell's first output. The codes are counted before the prompts are
// looked at, so that the code before the fix (no prompt under the codes) fails on the count:
// against the binaries of 5dc592a~1 each of the 10 codes was shown twice (on ssh's stderr at
// the end of keyboard-interactive, then on the pty before the shell's prompt); after, once.
#[test]
fn an_interactive_ssh_session_shows_each_recovery_code_once() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let home = nix::unistd::User::from_name(user.name())
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("{} cannot be looked up", user.name()))
        .dir;
    assert!(
        !home.join(".hushlogin").exists(),
        "{} has a ~/.hushlogin (from /etc/skel?): sshd would show no login messages",
        user.name()
    );
    let daemon = enrolling_daemon("max_tries = 3\n", "");
    let sshd = Sshd::start(&daemon, "");
    sshd.authorize(&user);

    let mut pending = sshd.start_shell_login(user.name(), "127.0.0.1", "C.UTF-8");
    assert!(
        pending.wait_for_prompts(1),
        "ssh was never prompted: {}\n--- sshd log ---\n{}\n{}",
        pending.output(),
        sshd.log(),
        daemon.log_section()
    );
    let offered = client_text(&pending.prompts(), &pending.output());
    let offer = EnrollmentOffer::read(&offered)
        .unwrap_or_else(|| panic!("no otpauth URI reached the ssh client:\n{offered}"));
    pending.answer(&offer.authenticator.next_code());
    // Enter under the codes, given ahead: askpass takes it when that prompt comes.
    pending.answer("");
    // ssh reads its stdin only once the session is open; the pty keeps the line for the shell.
    pending.send(SHELL_INPUT);
    let started = pending.wait_for_output(SHELL_STARTED);
    let login = pending.finish();
    let received = client_text(
        &login.prompts,
        &format!("{}\n{}", login.run.stdout, login.run.stderr),
    );
    assert!(
        started && login.run.succeeded(),
        "the shell did not run {SHELL_INPUT:?}: {}\nprompts: {:?}\n--- sshd log ---\n{}\n{}",
        login.run,
        login.prompts,
        sshd.log(),
        daemon.log_section()
    );

    let saved = status(&daemon, user.name()).recovery_codes_left;
    let mut codes = recovery_codes_shown(&received);
    codes.sort();
    codes.dedup();
    let times: Vec<usize> = codes
        .iter()
        .map(|code| received.matches(code.as_str()).count())
        .collect();
    eprintln!(
        "{} distinct recovery codes reached the client ({saved} saved), each shown {times:?} times",
        codes.len()
    );
    assert!(
        codes.len() == saved && times.iter().all(|&n| n == 1),
        "{saved} recovery codes were saved and {} reached the client, shown {times:?} times; \
         each must be shown exactly once:\n{received}",
        codes.len()
    );
    assert_eq!(login.prompts.len(), 2, "{:?}", login.prompts);
    assert!(
        login.prompts[1].contains(RECOVERY_CODES_HEADING)
            && login.prompts[1].ends_with(SAVE_CODES_PROMPT),
        "askpass was asked {:?}",
        login.prompts[1]
    );
}

// Issue 20.1 through sudo, on a terminal as a person uses it (`script` gives sudo a pty: sudo
// writes PAM's messages to stdout, which into a pipe would stay buffered until it exits):
// the codes once, then the prompt; the command runs only after Enter.
#[test]
fn through_sudo_the_codes_are_shown_once_before_the_command_runs() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = enrolling_daemon("max_tries = 3\n", "");
    let _sudo = Sudo::allow(&user, &daemon, "");

    let mut on_terminal = Command::new("script");
    on_terminal.args([
        "-q",
        "-e",
        "-c",
        &format!("runuser -u {} -- sudo -k -- echo ran-as-root", user.name()),
        "/dev/null",
    ]);
    let mut login = Interaction::spawn(on_terminal);
    assert!(
        login.wait_for(ENROLL_PROMPT_NO_SKIP, 1),
        "sudo never showed the enrollment prompt:\n{}\n{}\n{}",
        login.stdout(),
        login.stderr(),
        daemon.log_section()
    );
    let shown = login.stdout();
    let offer = EnrollmentOffer::read(&shown)
        .unwrap_or_else(|| panic!("no otpauth URI reached sudo's user:\n{shown}"));
    login.send(&format!("{}\n", offer.authenticator.next_code()));
    assert!(
        login.wait_for(SAVE_CODES_PROMPT, 1),
        "no {SAVE_CODES_PROMPT:?} through sudo:\n{}\n{}\n{}",
        login.stdout(),
        login.stderr(),
        daemon.log_section()
    );
    assert!(
        !login.stdout().contains("ran-as-root"),
        "the command ran before the codes were acknowledged:\n{}",
        login.stdout()
    );
    login.send("\n");
    assert!(
        login.wait_for("ran-as-root", 1),
        "the command did not run after Enter:\n{}\n{}",
        login.stdout(),
        daemon.log_section()
    );
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    assert_eq!(done.count(SAVE_CODES_PROMPT), 1, "{done}");
    let saved = status(&daemon, user.name()).recovery_codes_left;
    codes_shown_once(&format!("{}\n{}", done.stdout, done.stderr), saved);
}

// Leaving at the prompt under the codes (pamtester's input closed) fails the login, but the
// app is saved: its codes were shown, and the next login asks for a code from it.
#[test]
fn leaving_at_the_last_prompt_fails_the_login_but_keeps_the_app() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = enrolling_daemon("max_tries = 3\n", "");
    let service = PamService::mfa_then_permit(daemon.socket(), "");

    let mut login = EnrollingLogin::start(Pamtester::new(&service, user.name()));
    let offer = login.offer();
    login.answer(&offer.authenticator.next_code());
    assert!(
        login.login.wait_for(SAVE_CODES_PROMPT, 1),
        "{}",
        login.output()
    );
    let left = login.finish();
    assert!(!left.succeeded(), "{left}\n{}", daemon.log_section());
    let abandoned = daemon.wait_for_audit(|e| e["event"] == "sign_in_abandoned");
    assert_eq!(abandoned["user"], user.name(), "{abandoned}");
    assert!(
        events(&daemon, "sign_in_succeeded", user.name()).is_empty(),
        "{}",
        daemon.log_section()
    );
    let report = status(&daemon, user.name());
    assert_eq!(report.authenticators.len(), 1, "{report:?}");
    let next =
        Pamtester::new(&service, user.name()).authenticate(&[&offer.authenticator.next_code()]);
    assert!(next.succeeded(), "{next}\n{}", daemon.log_section());
    assert_eq!(next.count(CODE_PROMPT), 1, "{next}");
}

#[test]
fn through_ssh_enter_skips_inside_the_grace_period() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = enrolling_daemon("", "grace_period = \"3d\"\n");
    let sshd = Sshd::start_then_permit(&daemon, "");
    sshd.authorize(&user);

    let login = sshd.login(user.name(), "127.0.0.1", "");
    assert!(
        login.run.succeeded(),
        "{}\n--- sshd log ---\n{}\n{}",
        login.run,
        sshd.log(),
        daemon.log_section()
    );
    assert_eq!(login.prompts.len(), 1, "{:?}", login.prompts);
    assert!(
        login.prompts[0].ends_with(&skip_prompt("3 days")),
        "askpass was asked {:?}",
        login.prompts[0]
    );
    let skipped = daemon.wait_for_audit(|e| e["event"] == "mfa_setup_skipped");
    assert_eq!(skipped["user"], user.name(), "{skipped}");
}

#[test]
fn an_unknown_user_gets_the_usual_prompt_and_fails() {
    if !root_suite_ready() {
        return;
    }
    let unknown = unused_user_name();
    let daemon = enrolling_daemon("max_tries = 1\n", "grace_period = \"3d\"\n");
    let service = PamService::mfa_then_permit(daemon.socket(), "");

    let login = Pamtester::new(&service, &unknown).authenticate(&["123456"]);
    assert!(!login.succeeded(), "{login}");
    assert_eq!(login.count(CODE_PROMPT), 1, "{login}");
    for offered in [ENROLL_NOTICE, ENROLL_PROMPT, "otpauth://"] {
        assert!(!login.mentions(offered), "{offered:?} shown: {login}");
    }
    daemon.wait_for_audit(|e| e["event"] == "sign_in_failed" && e["user"] == unknown.as_str());
    assert!(
        setup_events(&daemon, &unknown).is_empty(),
        "{}",
        daemon.log_section()
    );
}

#[test]
fn nullok_skips_an_unenrolled_user_without_offering_enrollment() {
    if !root_suite_ready() {
        return;
    }
    let user = TestUser::create();
    let daemon = enrolling_daemon("", "grace_period = \"3d\"\n");
    let service = PamService::mfa_then_permit(daemon.socket(), "nullok");

    let login = Pamtester::new(&service, user.name()).authenticate(&[]);
    assert!(login.succeeded(), "{login}\n{}", daemon.log_section());
    for offered in [ENROLL_NOTICE, ENROLL_PROMPT, "otpauth://", CODE_PROMPT] {
        assert!(!login.mentions(offered), "{offered:?} shown: {login}");
    }
    let skipped = daemon.wait_for_audit(|e| e["event"] == "sign_in_skipped");
    assert_eq!(skipped["reason"], "not_enrolled", "{skipped}");
    assert_pam_mfa_ignores(daemon.socket(), "nullok", user.name());
    assert!(
        setup_events(&daemon, user.name()).is_empty(),
        "{}",
        daemon.log_section()
    );
}

#[test]
fn an_exempt_user_is_not_asked_to_enroll() {
    if !root_suite_ready() {
        return;
    }
    let exempt = TestUser::create();
    let daemon = enrolling_daemon("", &format!("exempt_users = [\"{}\"]\n", exempt.name()));
    let service = PamService::mfa_then_permit(daemon.socket(), "");

    let login = Pamtester::new(&service, exempt.name()).authenticate(&[]);
    assert!(login.succeeded(), "{login}\n{}", daemon.log_section());
    for offered in [ENROLL_NOTICE, ENROLL_PROMPT, "otpauth://", CODE_PROMPT] {
        assert!(!login.mentions(offered), "{offered:?} shown: {login}");
    }
    let event = daemon.wait_for_audit(|e| e["event"] == "exempt");
    assert_eq!(event["reason"], "exempt_user", "{event}");
    assert!(
        setup_events(&daemon, exempt.name()).is_empty(),
        "{}",
        daemon.log_section()
    );
}

#[test]
fn the_strictest_of_the_setting_and_the_rules_decides() {
    if !root_suite_ready() {
        return;
    }
    let allowed = TestUser::create();
    let enrolling = TestUser::create();
    let denied = TestUser::create();
    // useradd gives each account a group of its own name. `denied` is in both rules.
    let daemon = Daemon::start_with(&format!(
        "max_tries = 1\n[policy]\nunenrolled = \"allow\"\n\
         [[policy.rule]]\ngroups = [\"{enrolling}\", \"{denied}\"]\nunenrolled = \"enroll\"\n\
         [[policy.rule]]\ngroups = [\"{denied}\"]\nunenrolled = \"deny\"\n",
        enrolling = enrolling.name(),
        denied = denied.name(),
    ));
    let service = PamService::mfa_then_permit(daemon.socket(), "");

    let login = Pamtester::new(&service, allowed.name()).authenticate(&[]);
    assert!(login.succeeded(), "{login}\n{}", daemon.log_section());
    assert!(!login.mentions(ENROLL_PROMPT), "{login}");

    let mut login = EnrollingLogin::start(Pamtester::new(&service, enrolling.name()));
    let offer = login.offer();
    assert_offer_shown(&login.output(), &offer);
    login.answer(&offer.authenticator.wrong_code());
    let login = login.finish();
    assert!(!login.succeeded(), "{login}");

    let login = Pamtester::new(&service, denied.name()).authenticate(&["123456"]);
    assert!(!login.succeeded(), "{login}");
    assert_eq!(login.count(CODE_PROMPT), 1, "{login}");
    assert!(!login.mentions(ENROLL_PROMPT), "{login}");
}
