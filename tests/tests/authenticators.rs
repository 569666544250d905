//! Several authenticator apps per user (`mfa-enroll totp --label`): each logs in and has its
//! own replay state; adding one keeps the recovery codes, replacing one renews them;
//! `policy.max_authenticators` caps them, `policy.min_factors` keeps a user from removing the
//! last one (root can), and a bad label is refused before anything is shown.

use std::process::Command;

use mfa_tests::text::{CODE_ALREADY_USED, PROOF_PROMPT};
use mfa_tests::{
    Authenticator, Daemon, EnrollTotp, Enrollment, Interaction, PamService, Pamtester, Run,
    TestUser, command_as, enroll_binary, enroll_totp, mfa_enroll, root_suite_ready, run,
    run_answering,
};
use serde_json::Value;

/// mfa-enroll's question after showing a new secret.
const CONFIRM_PROMPT: &str = "Code shown in your authenticator app: ";

/// A daemon with `policy` as its `[policy]` table and one prompt per login, on a clock that
/// the apps move when they need a later time step.
fn daemon_with_policy(policy: &str) -> Daemon {
    Daemon::start_on_moving_clock(&format!("max_tries = 1\n[policy]\n{policy}"))
}

/// `mfa-enroll --socket SOCKET ARGS...` without `--json`, run as `caller` or root: the text a
/// person reads.
fn mfa_enroll_text(daemon: &Daemon, caller: Option<&str>, args: &[&str]) -> Command {
    let mut command = command_as(caller, enroll_binary());
    command
        .env("TZ", "UTC")
        .arg("--socket")
        .arg(daemon.socket())
        .args(args);
    command
}

/// `mfa-enroll --json status` as root, as JSON: the new fields are read by name, so that a
/// missing one fails the assertion that wants it rather than the parse.
fn status_json(daemon: &Daemon, user: &str) -> Value {
    let done = run(mfa_enroll(daemon, None, &["status", "--user", user]), "");
    assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    serde_json::from_str(done.stdout.trim())
        .unwrap_or_else(|e| panic!("status is not JSON ({e}): {done}"))
}

/// The labels of the apps `status --json` lists, in its order.
fn app_labels(daemon: &Daemon, user: &str) -> Vec<String> {
    let report = status_json(daemon, user);
    assert!(
        report.get("totp").is_none(),
        "status still has the old `totp` object: {report}"
    );
    report["authenticators"]
        .as_array()
        .unwrap_or_else(|| panic!("no `authenticators` list in {report}"))
        .iter()
        .map(|app| {
            app["label"]
                .as_str()
                .unwrap_or_else(|| panic!("an app without a label: {report}"))
                .to_owned()
        })
        .collect()
}

/// Adds an app labelled `label` for `user` as root, in text mode, confirming it with a code
/// for the secret shown; returns the app and the run (whose stdout says what happened to the
/// recovery codes). Panics unless mfa-enroll shows a secret, asks for the code and exits 0.
fn add_app_as_text(daemon: &Daemon, user: &str, label: &str) -> (Authenticator, Run) {
    let mut enroll = Interaction::spawn(mfa_enroll_text(
        daemon,
        None,
        &["totp", "--label", label, "--user", user],
    ));
    if !enroll.wait_for(CONFIRM_PROMPT, 1) {
        panic!("no code asked for: {}", enroll.finish());
    }
    let stdout = enroll.stdout();
    let field = |name: &str| -> String {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{stdout}"))
    };
    let app =
        Authenticator::from_enrollment(&field("Secret:"), &field("URI:")).on_clock(daemon.clock());
    enroll.send(&format!("{}\n", app.next_code()));
    let done = enroll.finish();
    assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    (app, done)
}

/// Asserts mfa-enroll refused: exit 1 and a last stderr line `mfa-enroll: ...` containing each
/// of `words`.
fn assert_refused(done: &Run, words: &[&str]) {
    assert_eq!(done.status.and_then(|s| s.code()), Some(1), "{done}");
    let message = done.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(message.starts_with("mfa-enroll: "), "no message: {done}");
    for word in words {
        assert!(
            message.contains(word),
            "{word:?} not in the message: {done}"
        );
    }
}

/// The audit events of `kind` for `user`.
fn audited(daemon: &Daemon, kind: &str, user: &str) -> Vec<Value> {
    daemon
        .audit_events()
        .into_iter()
        .filter(|event| event["event"] == kind && event["user"] == user)
        .collect()
}

/// Logs `user` in through `service` with `code`.
fn login(service: &PamService, user: &str, code: &str) -> Run {
    Pamtester::new(service, user).authenticate(&[code])
}

#[test]
fn two_apps_both_log_in_each_with_its_own_replay_state() {
    if !root_suite_ready() {
        return;
    }
    let daemon = daemon_with_policy("");
    let user = TestUser::create();
    let me = EnrollTotp::new(&daemon).as_caller(user.name());
    let first = me
        .run()
        .unwrap_or_else(|done| panic!("self-enrollment failed: {done}\n{}", daemon.log_section()));

    // Adding an app needs proof, like any change; the codes left are kept.
    let without_proof = me
        .with_label("phone2")
        .run()
        .expect_err("added an app without proof");
    assert_refused(&without_proof, &[]);
    let proof = first.authenticator.next_code();
    let second = me
        .with_label("phone2")
        .with_proof(&proof)
        .run()
        .unwrap_or_else(|done| {
            panic!(
                "adding a second app failed: {done}\n{}",
                daemon.log_section()
            )
        });
    assert_ne!(first.authenticator.secret(), second.authenticator.secret());
    assert!(
        second.recovery_codes.is_empty(),
        "adding an app showed new recovery codes: {:?}",
        second.recovery_codes
    );
    assert_eq!(app_labels(&daemon, user.name()), ["app", "phone2"]);
    let report = status_json(&daemon, user.name());
    assert_eq!(report["recovery_codes_left"], 10, "{report}");
    for app in report["authenticators"].as_array().into_iter().flatten() {
        assert_eq!(
            (&app["algorithm"], &app["digits"], &app["period"]),
            (&"SHA1".into(), &6.into(), &30.into()),
            "{report}"
        );
        assert!(app["enrolled_at"].as_u64().is_some(), "{report}");
    }
    let setup = audited(&daemon, "mfa_setup_succeeded", user.name());
    assert!(
        setup
            .iter()
            .any(|e| e["factor"] == "totp" && e["label"] == "phone2"),
        "no mfa_setup_succeeded for phone2: {setup:?}\n{}",
        daemon.log_section()
    );

    let text = run(mfa_enroll_text(&daemon, Some(user.name()), &["status"]), "");
    assert!(text.succeeded(), "{text}");
    assert!(text.stdout.contains("Authenticator apps:\n"), "{text}");
    for label in ["app", "phone2"] {
        assert!(
            text.stdout.contains(&format!("\n  {label}: enrolled ")),
            "status does not list the app {label}:\n{}",
            text.stdout
        );
    }

    // Both apps' codes for the same time step: the second is no replay of the first.
    let service = PamService::mfa(daemon.socket(), "");
    let from_first = first.authenticator.latest_code();
    let from_second = second.authenticator.latest_code();
    for code in [&from_first, &from_second] {
        let done = login(&service, user.name(), code);
        assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    }
    for code in [&from_first, &from_second] {
        let replayed = login(&service, user.name(), code);
        assert!(
            !replayed.succeeded() && replayed.mentions(CODE_ALREADY_USED),
            "a code was accepted twice: {replayed}"
        );
    }
    let successes = audited(&daemon, "sign_in_succeeded", user.name());
    assert_eq!(successes.len(), 2, "{}", daemon.log_section());
    assert!(
        successes.iter().all(|e| e["factor"] == "totp"),
        "{successes:?}"
    );
    let failures = audited(&daemon, "sign_in_failed", user.name());
    assert_eq!(failures.len(), 2, "{}", daemon.log_section());
    assert!(
        // The spec says `replayed`; the daemon has always written `replayed_code`.
        failures
            .iter()
            .all(|e| e["reason"] == "replayed" || e["reason"] == "replayed_code"),
        "{failures:?}"
    );

    let mut secrets = first.secrets();
    secrets.extend(second.secrets());
    daemon.assert_log_omits(&secrets);
}

#[test]
fn replacing_an_app_renews_the_recovery_codes_and_keeps_the_other_app() {
    if !root_suite_ready() {
        return;
    }
    let daemon = daemon_with_policy("");
    let user = TestUser::create();
    let me = EnrollTotp::new(&daemon).as_caller(user.name());
    let first = me.run().unwrap_or_else(|done| panic!("{done}"));
    let proof = first.authenticator.next_code();
    let second = me
        .with_label("phone2")
        .with_proof(&proof)
        .run()
        .unwrap_or_else(|done| panic!("{done}\n{}", daemon.log_section()));

    // Replace `app`, proving it with the other one.
    let proof = second.authenticator.next_code();
    let replaced = me
        .with_label("app")
        .with_proof(&proof)
        .replacing(&first.authenticator)
        .run()
        .unwrap_or_else(|done| panic!("replacing `app` failed: {done}\n{}", daemon.log_section()));
    assert_eq!(
        replaced.recovery_codes.len(),
        10,
        "replacing an app must show a new set of recovery codes"
    );
    assert!(
        replaced
            .recovery_codes
            .iter()
            .all(|code| !first.recovery_codes.contains(code)),
        "{:?} vs {:?}",
        replaced.recovery_codes,
        first.recovery_codes
    );
    assert_eq!(app_labels(&daemon, user.name()), ["app", "phone2"]);

    let service = PamService::mfa(daemon.socket(), "");
    let old_code = first.authenticator.next_code();
    let old = login(&service, user.name(), &old_code);
    assert!(!old.succeeded(), "the replaced app still logs in: {old}");
    let old_recovery = login(&service, user.name(), &first.recovery_codes[1]);
    assert!(
        !old_recovery.succeeded(),
        "an old recovery code still works: {old_recovery}"
    );
    for code in [
        replaced.authenticator.next_code(),
        second.authenticator.next_code(),
        replaced.recovery_codes[0].clone(),
    ] {
        let done = login(&service, user.name(), &code);
        assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    }

    let mut secrets = first.secrets();
    secrets.extend(second.secrets());
    secrets.extend(replaced.secrets());
    daemon.assert_log_omits(&secrets);
}

#[test]
fn max_authenticators_refuses_one_more_and_removing_one_makes_room() {
    if !root_suite_ready() {
        return;
    }
    let daemon = daemon_with_policy("max_authenticators = 2\n");
    let user = TestUser::create();
    let first = enroll_totp(&daemon, &user);

    let (second, added) = add_app_as_text(&daemon, user.name(), "phone2");
    assert!(
        added
            .stdout
            .contains("Your recovery codes are unchanged (10 left)."),
        "{added}"
    );
    assert!(!added.stdout.contains("Recovery codes:"), "{added}");

    let third = EnrollTotp::new(&daemon)
        .for_user(user.name())
        .with_label("tablet")
        .run()
        .expect_err("a third app was added with max_authenticators = 2");
    assert_refused(
        &third,
        &["policy.max_authenticators", "mfa-enroll remove totp"],
    );
    assert!(!third.stdout.contains("\"secret\""), "{third}");
    assert_eq!(app_labels(&daemon, user.name()), ["app", "phone2"]);

    // At the limit, replacing an app that exists is no new app.
    let renewed = EnrollTotp::new(&daemon)
        .for_user(user.name())
        .with_label("phone2")
        .replacing(&second)
        .run()
        .unwrap_or_else(|done| {
            panic!(
                "replacing an app at the limit failed: {done}\n{}",
                daemon.log_section()
            )
        });
    assert_eq!(app_labels(&daemon, user.name()), ["app", "phone2"]);

    // The user removes one app (proving it with the other); two apps leave one, which
    // min_factors = 1 allows.
    let proof = first.authenticator.next_code();
    let removed = run_answering(
        mfa_enroll(&daemon, Some(user.name()), &["remove", "totp", "phone2"]),
        PROOF_PROMPT,
        &[&proof],
    );
    assert!(removed.succeeded(), "{removed}\n{}", daemon.log_section());
    assert_eq!(app_labels(&daemon, user.name()), ["app"]);
    let events = audited(&daemon, "factor_removed", user.name());
    assert_eq!(events.len(), 1, "{}", daemon.log_section());
    assert_eq!(events[0]["label"], "phone2", "{events:?}");

    let service = PamService::mfa(daemon.socket(), "");
    let gone = renewed.authenticator.next_code();
    let refused = login(&service, user.name(), &gone);
    assert!(!refused.succeeded(), "a removed app logs in: {refused}");
    let kept = first.authenticator.next_code();
    let done = login(&service, user.name(), &kept);
    assert!(done.succeeded(), "{done}\n{}", daemon.log_section());

    let tablet = EnrollTotp::new(&daemon)
        .for_user(user.name())
        .with_label("tablet")
        .run()
        .unwrap_or_else(|done| panic!("no room after a removal: {done}"));
    assert_eq!(app_labels(&daemon, user.name()), ["app", "tablet"]);

    let mut secrets = first.secrets();
    secrets.push(second.secret().to_owned());
    secrets.extend(second.codes_handed_out());
    secrets.extend(renewed.secrets());
    secrets.extend(tablet.secrets());
    daemon.assert_log_omits(&secrets);
}

#[test]
fn min_factors_keeps_the_last_app_from_the_user_but_not_from_root() {
    if !root_suite_ready() {
        return;
    }
    let daemon = daemon_with_policy("min_factors = 1\n");
    let user = TestUser::create();
    let enrolled: Enrollment = EnrollTotp::new(&daemon)
        .as_caller(user.name())
        .run()
        .unwrap_or_else(|done| panic!("{done}"));

    for args in [&["remove", "totp", "app"][..], &["remove"][..]] {
        let proof = enrolled.authenticator.next_code();
        let refused = run_answering(
            mfa_enroll(&daemon, Some(user.name()), args),
            PROOF_PROMPT,
            &[&proof],
        );
        assert_refused(&refused, &["min_factors"]);
    }
    assert_eq!(app_labels(&daemon, user.name()), ["app"]);
    assert_eq!(status_json(&daemon, user.name())["recovery_codes_left"], 10);
    assert!(
        audited(&daemon, "factor_removed", user.name()).is_empty(),
        "{}",
        daemon.log_section()
    );
    let service = PamService::mfa(daemon.socket(), "");
    let code = enrolled.authenticator.next_code();
    let still = login(&service, user.name(), &code);
    assert!(
        still.succeeded(),
        "a refused removal changed something: {still}\n{}",
        daemon.log_section()
    );

    let by_root = run(
        mfa_enroll(
            &daemon,
            None,
            &["remove", "totp", "app", "--user", user.name()],
        ),
        "",
    );
    assert!(by_root.succeeded(), "{by_root}\n{}", daemon.log_section());
    assert!(app_labels(&daemon, user.name()).is_empty());
    let code = enrolled.authenticator.next_code();
    let refused = login(&service, user.name(), &code);
    assert!(!refused.succeeded(), "the removed app logs in: {refused}");
    daemon.assert_log_omits(&enrolled.secrets());
}

#[test]
fn a_bad_label_is_refused_before_a_secret_is_shown() {
    if !root_suite_ready() {
        return;
    }
    let daemon = daemon_with_policy("");
    let user = TestUser::create();
    let too_long = "a".repeat(33);
    for label in ["", "a b", too_long.as_str(), "tél", "x/y"] {
        let done = run(
            mfa_enroll(
                &daemon,
                None,
                &["totp", "--label", label, "--user", user.name()],
            ),
            "",
        );
        assert!(
            matches!(done.status.and_then(|s| s.code()), Some(1 | 2)),
            "label {label:?}: {done}"
        );
        assert!(!done.stdout.contains("secret"), "label {label:?}: {done}");
        // An empty value is clap's to refuse; the others must say what a label may be.
        let message = done.stderr.trim_end();
        let says_what = label.is_empty()
            || message.contains("A-Za-z0-9")
            || message.contains("letters")
            || message.contains("32");
        assert!(
            message.contains("label") && says_what,
            "label {label:?} refused without saying what a label may be: {done}"
        );
    }
    assert!(app_labels(&daemon, user.name()).is_empty());

    // 32 characters of every allowed kind are a label.
    let longest = "Az09._-".repeat(5)[..32].to_owned();
    EnrollTotp::new(&daemon)
        .for_user(user.name())
        .with_label(&longest)
        .run()
        .unwrap_or_else(|done| panic!("a 32-character label was refused: {done}"));
    assert_eq!(app_labels(&daemon, user.name()), [longest]);
}
