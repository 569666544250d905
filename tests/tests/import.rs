//! `mfactl import` against the real daemon, from files the real tools wrote: Debian's
//! `google-authenticator` CLI (run as the test user, so the file is theirs), pam_oath's users
//! file after a real pam_oath login moved its counter, and the RFC 6030 PSKC examples. Each
//! imported user then logs in through pamtester with codes from `oathtool` and with a
//! google-authenticator scratch code. A dry run changes nothing, a second run skips, --replace
//! imports again, --json gives an array, and no secret reaches the output or the daemon log.
//!
//! The `adversarial_*` tests: a google-authenticator file owned by someone else, a symbolic
//! link, a huge file, a group-writable file and a malformed or wrongly keyed PSKC file are
//! refused with a reason naming the file, and nothing is imported.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use mfa_tests::text::PAMTESTER_SUCCESS;
use mfa_tests::{
    Daemon, ONE_PROMPT_NO_LOCKOUT, PamService, Pamtester, Run, ScratchDir, TestUser, command_as,
    mfactl_binary, root_suite_ready, run, run_answering,
};
use serde_json::Value;

/// The RFC 6030 examples, as mfa-import's tests keep them.
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../mfa-import/tests/fixtures/pskc"
);
/// The pre-shared key of RFC 6030 section 6.1.
const RFC_KEY: &str = "12345678901234567890123456789012";
/// The secret of the RFC 6030 examples (RFC 4226's test key), in hex for oathtool.
const RFC_SECRET_HEX: &str = "3132333435363738393031323334353637383930";
/// pam_oath's prompt.
const OATH_PROMPT: &str = "One-time password";

/// `mfactl --socket SOCKET ARGS...` as root.
fn mfactl(daemon: &Daemon, args: &[&str]) -> Run {
    let mut command = command_as(None, mfactl_binary());
    command.arg("--socket").arg(daemon.socket()).args(args);
    run(command, "")
}

/// The user's record as `mfactl --json show` prints it.
fn shown(daemon: &Daemon, user: &str) -> Value {
    let done = mfactl(daemon, &["--json", "show", user]);
    assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    serde_json::from_str(done.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {done}"))
}

/// How many entries `field` of the shown record has (0 when absent).
fn count(report: &Value, field: &str) -> usize {
    report[field].as_array().map_or(0, Vec::len)
}

/// The home directory of an account.
fn home(user: &TestUser) -> PathBuf {
    nix::unistd::User::from_name(user.name())
        .unwrap()
        .expect("test user exists")
        .dir
}

/// A google-authenticator file as the user's own tool writes it.
struct GaFile {
    secret: String,
    scratch: Vec<String>,
    path: PathBuf,
}

/// Runs Debian's `google-authenticator` as `user` with its non-interactive flags; `kind` is
/// `-t` (TOTP) or `-c` (HOTP).
fn google_authenticator(user: &TestUser, kind: &str, extra: &[&str]) -> GaFile {
    let path = home(user).join(".google_authenticator");
    let mut command = command_as(Some(user.name()), "google-authenticator");
    // Without -r, -u says "no rate limit" (else the tool asks on the terminal).
    let rate = if extra.contains(&"-r") {
        &[][..]
    } else {
        &["-u"][..]
    };
    command
        .args([kind, "-f", "-q", "-Q", "NONE", "-l", "import-test"])
        .args(rate)
        .args(extra)
        .arg("-s")
        .arg(&path);
    let done = run(command, "");
    assert!(done.succeeded(), "google-authenticator failed: {done}");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let secret = lines.next().expect("a secret line").to_owned();
    let scratch = lines
        .filter(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .collect();
    GaFile {
        secret,
        scratch,
        path,
    }
}

/// `oathtool ARGS...`'s code.
fn oathtool(args: &[&str]) -> String {
    let done = run(
        {
            let mut c = Command::new("oathtool");
            c.args(args);
            c
        },
        "",
    );
    assert!(done.succeeded(), "oathtool failed: {done}");
    done.stdout.trim().to_owned()
}

/// Logs `user` in through pam_mfa with `code`.
fn login(daemon: &Daemon, user: &str, code: &str) -> Run {
    let service = PamService::mfa(daemon.socket(), "");
    Pamtester::new(&service, user).authenticate(&[code])
}

fn assert_logs_in(daemon: &Daemon, user: &str, code: &str) {
    let done = login(daemon, user, code);
    assert!(
        done.stdout.contains(PAMTESTER_SUCCESS) || done.stderr.contains(PAMTESTER_SUCCESS),
        "{user} did not log in with an imported code: {done}\n{}",
        daemon.log_section()
    );
}

fn assert_refused_login(daemon: &Daemon, user: &str, code: &str) {
    let done = login(daemon, user, code);
    assert!(!done.succeeded(), "{user} logged in with {code}: {done}");
}

/// Asserts that nothing in `texts` nor the daemon log holds any of `secrets`.
fn assert_no_secret(daemon: &Daemon, texts: &[&Run], secrets: &[String]) {
    for done in texts {
        for secret in secrets {
            assert!(
                !done.stdout.contains(secret.as_str()) && !done.stderr.contains(secret.as_str()),
                "a secret was printed: {done}"
            );
        }
    }
    daemon.assert_log_omits(secrets);
}

/// The `admin_import` audit events of `user`.
fn import_events(daemon: &Daemon, user: &str) -> Vec<Value> {
    daemon
        .audit_events()
        .into_iter()
        .filter(|e| e["event"] == "admin_import" && e["user"] == user)
        .collect()
}

#[test]
fn google_authenticator_totp_imports_with_its_window_and_scratch_codes_and_logs_in() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_NO_LOCKOUT);
    let user = TestUser::create();
    let name = user.name();
    let ga = google_authenticator(
        &user,
        "-t",
        &["-d", "-r", "3", "-R", "30", "-w", "5", "-e", "5"],
    );
    assert_eq!(ga.scratch.len(), 5, "{:?}", ga.path);

    let dry = mfactl(
        &daemon,
        &["import", "google-authenticator", name, "--dry-run"],
    );
    assert!(dry.succeeded(), "{dry}\n{}", daemon.log_section());
    assert_eq!(
        dry.stdout,
        format!("{name}: would import: app ga (6 digits, 30 s), 5 recovery codes\n")
    );
    assert_eq!(
        count(&shown(&daemon, name), "authenticators"),
        0,
        "a dry run stored"
    );

    let first = mfactl(&daemon, &["import", "google-authenticator", name]);
    assert!(first.succeeded(), "{first}\n{}", daemon.log_section());
    assert_eq!(
        first.stdout,
        format!("{name}: imported: app ga (6 digits, 30 s), 5 recovery codes\n")
    );
    let report = shown(&daemon, name);
    assert_eq!(report["authenticators"][0]["label"], "ga", "{report}");
    assert_eq!(report["recovery_codes_left"], 5, "{report}");

    // A code from the user's app (oathtool on the file's secret), and a scratch code once.
    assert_logs_in(&daemon, name, &oathtool(&["--totp", "-b", &ga.secret]));
    assert_logs_in(&daemon, name, &ga.scratch[0]);
    assert_refused_login(&daemon, name, &ga.scratch[0]);
    assert_eq!(shown(&daemon, name)["recovery_codes_left"], 4);

    let second = mfactl(&daemon, &["import", "google-authenticator", name]);
    assert!(second.succeeded(), "{second}");
    assert_eq!(
        second.stdout,
        format!("{name}: skipped: already enrolled\n")
    );
    assert_eq!(
        shown(&daemon, name)["recovery_codes_left"],
        4,
        "a skip changed the codes"
    );

    let replaced = mfactl(
        &daemon,
        &[
            "--json",
            "import",
            "google-authenticator",
            name,
            "--replace",
        ],
    );
    assert!(replaced.succeeded(), "{replaced}");
    let json: Value = serde_json::from_str(replaced.stdout.trim()).unwrap();
    assert_eq!(json[0]["user"], name, "{json}");
    assert_eq!(json[0]["status"], "imported", "{json}");
    assert_eq!(shown(&daemon, name)["recovery_codes_left"], 5);
    // The file is untouched: the old module still works with it (roll back).
    assert!(
        fs::read_to_string(&ga.path)
            .unwrap()
            .starts_with(&ga.secret)
    );

    let events = import_events(&daemon, name);
    let outcomes: Vec<&str> = events
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["ok", "ok", "refused", "ok"], "{events:?}");
    assert_eq!(events[1]["source"], "google-authenticator");
    assert_eq!(events[2]["reason"], "already_enrolled");
    let mut secrets = ga.scratch.clone();
    secrets.push(ga.secret.clone());
    assert_no_secret(&daemon, &[&dry, &first, &second, &replaced], &secrets);
}

#[test]
fn google_authenticator_hotp_and_all_import_every_user_with_a_file() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_NO_LOCKOUT);
    let hotp_user = TestUser::create();
    let totp_user = TestUser::create();
    let ga_hotp = google_authenticator(&hotp_user, "-c", &["-w", "3", "-e", "2"]);
    let ga_totp = google_authenticator(&totp_user, "-t", &["-d", "-w", "3", "-e", "1"]);

    let done = mfactl(
        &daemon,
        &["--json", "import", "google-authenticator", "--all"],
    );
    // Other suites' users may be in /etc/passwd at the same time, with files of their own
    // that are refused on purpose (exit 1): only this test's users are checked.
    let code = done.status.and_then(|s| s.code());
    assert!(
        matches!(code, Some(0 | 1)),
        "{done}\n{}",
        daemon.log_section()
    );
    let json: Value = serde_json::from_str(done.stdout.trim()).unwrap();
    for user in [&hotp_user, &totp_user] {
        let item = json
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["user"] == user.name())
            .unwrap_or_else(|| panic!("{} not imported by --all: {json}", user.name()));
        assert_eq!(item["status"], "imported", "{item}");
    }
    let report = shown(&daemon, hotp_user.name());
    assert_eq!(count(&report, "authenticators"), 0, "{report}");
    assert_eq!(report["recovery_codes_left"], 2, "{report}");
    assert!(
        report.to_string().contains("\"ga\""),
        "the HOTP token is not shown: {report}"
    );
    // google-authenticator -c starts its counter at 1.
    let code = oathtool(&["-b", "-c", "1", &ga_hotp.secret]);
    assert_logs_in(&daemon, hotp_user.name(), &code);
    assert_refused_login(&daemon, hotp_user.name(), &code);
    assert_logs_in(&daemon, totp_user.name(), &ga_totp.scratch[0]);
}

#[test]
fn oath_users_file_after_a_real_pam_oath_login_imports_counters_and_time_tokens() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_NO_LOCKOUT);
    let scratch = ScratchDir::create();
    let (hotp, t30, t60, pin) = (
        TestUser::create(),
        TestUser::create(),
        TestUser::create(),
        TestUser::create(),
    );
    let key = RFC_SECRET_HEX;
    let users_file = scratch.path().join("users.oath");
    fs::write(
        &users_file,
        format!(
            "HOTP {} - {key}\nHOTP/T30 {} - {key}\nHOTP/T60/8 {} - {key}\nHOTP {} 1234 {key}\n",
            hotp.name(),
            t30.name(),
            t60.name(),
            pin.name()
        ),
    )
    .unwrap();
    fs::set_permissions(&users_file, fs::Permissions::from_mode(0o600)).unwrap();

    // pam_oath itself logs the HOTP user in with counter 0 and writes the counter back.
    let oath = PamService::with_auth_stack(&[format!(
        "auth required pam_oath.so usersfile={} window=5",
        users_file.display()
    )]);
    let mut command = Command::new("pamtester");
    command.args(["-v", oath.name(), hotp.name(), "authenticate"]);
    let code0 = oathtool(&["-c", "0", key]);
    let done = run_answering(command, OATH_PROMPT, &[&code0]);
    assert!(done.succeeded(), "pam_oath login failed: {done}");
    let after = fs::read_to_string(&users_file).unwrap();
    assert!(
        after.contains(&code0),
        "pam_oath did not record the login: {after}"
    );

    let file = users_file.to_str().unwrap();
    let imported = mfactl(&daemon, &["import", "oath", file]);
    assert_eq!(
        imported.status.and_then(|s| s.code()),
        Some(1),
        "{imported}"
    );
    let lines: Vec<&str> = imported.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{}: imported: HOTP token oath (counter 1)", hotp.name()),
            format!("{}: imported: app oath (6 digits, 30 s)", t30.name()),
            format!("{}: imported: app oath (8 digits, 60 s)", t60.name()),
            format!(
                "{}: refused: {file}: line 4: user {} has a PIN; pam-mfa does not keep OATH PINs",
                pin.name(),
                pin.name()
            ),
        ],
        "{imported}"
    );
    assert!(
        imported.stderr.contains("1 of 4 users were refused"),
        "{imported}"
    );

    assert_logs_in(&daemon, t30.name(), &oathtool(&["--totp", key]));
    assert_logs_in(
        &daemon,
        t60.name(),
        &oathtool(&["--totp", "-s", "60", "-d", "8", key]),
    );
    // Counter 0 was used with pam_oath: only later codes work here.
    assert_refused_login(&daemon, hotp.name(), &code0);
    assert_logs_in(&daemon, hotp.name(), &oathtool(&["-c", "1", key]));
    assert_eq!(count(&shown(&daemon, pin.name()), "authenticators"), 0);

    let again = mfactl(&daemon, &["--json", "import", "oath", file]);
    let json: Value = serde_json::from_str(again.stdout.trim()).unwrap();
    let statuses: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["status"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["skipped", "skipped", "skipped", "refused"],
        "{again}"
    );
    assert_no_secret(
        &daemon,
        &[&imported, &again],
        &[key.to_owned(), key.to_uppercase()],
    );
}

/// Copies an RFC 6030 example into a root-owned file in `dir`.
fn pskc_fixture(dir: &ScratchDir, name: &str) -> PathBuf {
    let path = dir.path().join(name);
    fs::copy(Path::new(FIXTURES).join(name), &path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn pskc_rfc6030_examples_assign_tokens_and_a_wrong_key_is_refused() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_NO_LOCKOUT);
    let scratch = ScratchDir::create();
    let (plain, encrypted) = (TestUser::create(), TestUser::create());
    let figure3 = pskc_fixture(&scratch, "rfc6030_figure3.pskc");
    let section6 = pskc_fixture(&scratch, "rfc6030_section6_1_pre_shared_key.pskc");
    let key_file = scratch.path().join("psk.hex");
    fs::write(&key_file, format!("{RFC_KEY}\n")).unwrap();
    let wrong_key = scratch.path().join("wrong.hex");
    fs::write(&wrong_key, "00112233445566778899aabbccddeeff\n").unwrap();

    let assign = format!("987654321={}", plain.name());
    let done = mfactl(
        &daemon,
        &[
            "import",
            "pskc",
            figure3.to_str().unwrap(),
            "--assign",
            &assign,
        ],
    );
    assert!(done.succeeded(), "{done}\n{}", daemon.log_section());
    assert_eq!(
        done.stdout,
        format!(
            "{}: imported: HOTP token pskc-987654321 (counter 0)\n",
            plain.name()
        )
    );
    // RFC 4226 appendix D, 8 digits: count 0 is 84755224.
    assert_logs_in(
        &daemon,
        plain.name(),
        &oathtool(&["-c", "0", "-d", "8", RFC_SECRET_HEX]),
    );

    let assign = format!("987654321={}", encrypted.name());
    let section6_path = section6.to_str().unwrap();
    let wrong = mfactl(
        &daemon,
        &[
            "import",
            "pskc",
            section6_path,
            "--assign",
            &assign,
            "--key-file",
            wrong_key.to_str().unwrap(),
        ],
    );
    assert_eq!(wrong.status.and_then(|s| s.code()), Some(1), "{wrong}");
    assert!(
        wrong.stderr.contains(section6_path)
            && wrong.stderr.contains("wrong pre-shared key")
            && wrong.stderr.contains("nothing was imported"),
        "{wrong}"
    );
    let no_key = mfactl(
        &daemon,
        &["import", "pskc", section6_path, "--assign", &assign],
    );
    assert!(
        no_key.stderr.contains("a pre-shared key is needed"),
        "{no_key}"
    );
    assert_eq!(
        count(&shown(&daemon, encrypted.name()), "authenticators"),
        0
    );
    assert!(import_events(&daemon, encrypted.name()).is_empty());

    let right = mfactl(
        &daemon,
        &[
            "import",
            "pskc",
            section6_path,
            "--assign",
            &assign,
            "--key-file",
            key_file.to_str().unwrap(),
        ],
    );
    assert!(right.succeeded(), "{right}\n{}", daemon.log_section());
    assert!(
        right.stdout.contains("imported: HOTP token pskc-987654321"),
        "{right}"
    );
    let missing = mfactl(
        &daemon,
        &[
            "import",
            "pskc",
            figure3.to_str().unwrap(),
            "--assign",
            "111=root",
        ],
    );
    assert!(
        missing.stdout.contains("root: refused:")
            && missing.stdout.contains("no token with serial 111"),
        "{missing}"
    );
    assert_no_secret(
        &daemon,
        &[&done, &wrong, &right],
        &[RFC_SECRET_HEX.to_owned()],
    );
}

/// Asserts mfactl refused `user`'s file with a reason naming it and containing `why`, and
/// nothing was imported or audited as imported.
fn assert_ga_refused(daemon: &Daemon, user: &TestUser, why: &str, secrets: &[String]) {
    let name = user.name();
    let done = mfactl(daemon, &["import", "google-authenticator", name]);
    assert_eq!(done.status.and_then(|s| s.code()), Some(1), "{done}");
    let path = home(user).join(".google_authenticator");
    assert_eq!(
        done.stdout.trim_end(),
        format!("{name}: refused: {}: {why}", path.display()),
        "{done}"
    );
    let report = shown(daemon, name);
    assert_eq!(count(&report, "authenticators"), 0, "{report}");
    assert_eq!(report["recovery_codes_left"], 0, "{report}");
    assert!(import_events(daemon, name).is_empty());
    assert_no_secret(daemon, &[&done], secrets);
}

#[test]
fn adversarial_ga_file_of_another_owner_a_symlink_a_huge_or_writable_file_is_refused() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_NO_LOCKOUT);
    let victim = TestUser::create();
    let victim_file = google_authenticator(&victim, "-t", &["-d", "-w", "3", "-e", "3"]);
    let mut secrets = victim_file.scratch.clone();
    secrets.push(victim_file.secret.clone());

    // Someone else's file dropped into the user's home (copied, so its owner is root).
    let planted = TestUser::create();
    let planted_path = home(&planted).join(".google_authenticator");
    fs::copy(&victim_file.path, &planted_path).unwrap();
    fs::set_permissions(&planted_path, fs::Permissions::from_mode(0o400)).unwrap();
    assert_ga_refused(
        &daemon,
        &planted,
        &format!("is owned by uid 0, not the user's uid {}", planted.uid()),
        &secrets,
    );

    // A link to the victim's file: the user would take over the victim's secret.
    let linker = TestUser::create();
    symlink(
        &victim_file.path,
        home(&linker).join(".google_authenticator"),
    )
    .unwrap();
    assert_ga_refused(
        &daemon,
        &linker,
        "is a symbolic link; refusing to follow it",
        &secrets,
    );

    let huge = TestUser::create();
    let huge_file = google_authenticator(&huge, "-t", &["-d", "-w", "3", "-e", "1"]);
    let mut text = fs::read_to_string(&huge_file.path).unwrap();
    text.push_str(&"\" RATE_LIMIT 3 30\n".repeat(5_000));
    fs::write(&huge_file.path, text).unwrap();
    assert_ga_refused(&daemon, &huge, "is larger than 65536 bytes", &secrets);

    let writable = TestUser::create();
    let writable_file = google_authenticator(&writable, "-t", &["-d", "-w", "3", "-e", "1"]);
    fs::set_permissions(&writable_file.path, fs::Permissions::from_mode(0o620)).unwrap();
    assert_ga_refused(
        &daemon,
        &writable,
        "is writable by group or others (mode 0620)",
        &secrets,
    );
}

#[test]
fn adversarial_malformed_or_huge_pskc_is_refused_and_nothing_is_imported() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(ONE_PROMPT_NO_LOCKOUT);
    let scratch = ScratchDir::create();
    let user = TestUser::create();
    let assign = format!("987654321={}", user.name());
    let cases = [
        (
            "truncated.pskc",
            {
                let whole =
                    fs::read_to_string(Path::new(FIXTURES).join("rfc6030_figure3.pskc")).unwrap();
                whole[..whole.len() / 2].to_owned()
            },
            "not well-formed XML",
        ),
        (
            "entities.pskc",
            "<?xml version=\"1.0\"?><!DOCTYPE k [<!ENTITY a \"aaaaaaaa\">]><KeyContainer/>"
                .to_owned(),
            "not well-formed XML",
        ),
        (
            "huge.pskc",
            format!("<KeyContainer>{}</KeyContainer>", " ".repeat(5 << 20)),
            "is larger than",
        ),
    ];
    for (name, content, why) in cases {
        let path = scratch.path().join(name);
        fs::write(&path, content).unwrap();
        let file = path.to_str().unwrap();
        let done = mfactl(&daemon, &["import", "pskc", file, "--assign", &assign]);
        assert_eq!(done.status.and_then(|s| s.code()), Some(1), "{done}");
        assert!(
            done.stderr.contains(file) && done.stderr.contains(why) && done.stdout.is_empty(),
            "{name}: {done}"
        );
    }
    assert_eq!(count(&shown(&daemon, user.name()), "authenticators"), 0);
    assert!(import_events(&daemon, user.name()).is_empty());
}
