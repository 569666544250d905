//! SSH security keys as the second factor (issue 17 part 3): a real sshd and ssh, with
//! OpenSSH's software FIDO authenticator (`sk-dummy`) holding the keys.
//!
//! With `policy.ssh_security_keys = "second_factor"`, a login whose first step was an
//! `sk-ssh-ed25519` or `sk-ecdsa-sha2-nistp256` key is not asked for a code; an ordinary key,
//! the default `"ask"`, an `always_ask` service, a locked source and an unenrolled user still
//! are (or are refused). The attacks: a non-root caller that writes a security key into
//! `auth_info` itself (this test binary run again as the user, speaking the protocol), and
//! an `auth_info` whose security key is not the first step.

use std::path::Path;
use std::time::{Duration, Instant};

use mfa_proto::{AuthRequest, Client, Outcome, Request, Step};
use mfa_tests::text::CODE_PROMPT;
use mfa_tests::{
    Daemon, Enrollment, Sshd, TestUser, enroll_totp, is_sign_in, root_suite_ready, test_binary_as,
};
use serde_json::Value;

/// One wrong answer ends a login.
const SECOND_FACTOR: &str = "max_tries = 1\n[policy]\nssh_security_keys = \"second_factor\"\n";
/// Ends the login after one wrong answer, and locks a source after two failures.
const SECOND_FACTOR_STRICT: &str = "max_tries = 1\n[limits]\nmax_failures = 2\n\
     [policy]\nssh_security_keys = \"second_factor\"\n";
const SK_ED25519: &str = "sk-ssh-ed25519@openssh.com";

/// The `#[ignore]`d test the forging test runs as an unprivileged user.
const FORGER: &str = "forger";
const SOCKET_ENV: &str = "MFAT_SOCKET";
const USER_ENV: &str = "MFAT_USER";
const SERVICE_ENV: &str = "MFAT_SERVICE";
const AUTH_INFO_ENV: &str = "MFAT_AUTH_INFO";
/// Start of the forger's report of the daemon's first step.
const FIRST_STEP: &str = "FIRST STEP ";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A daemon with `settings`, an enrolled account, and an sshd where the account holds the
/// fixture's ordinary keys and one `ed25519-sk` key (made with `keygen_options`).
struct SkSetup {
    daemon: Daemon,
    user: TestUser,
    enrollment: Enrollment,
    sshd: Sshd,
    sk_key: std::path::PathBuf,
}

impl SkSetup {
    fn new(settings: &str, sshd_config: &str, keygen_options: &[&str]) -> SkSetup {
        let daemon = Daemon::start_with(settings);
        let user = TestUser::create();
        let enrollment = enroll_totp(&daemon, &user);
        let sshd = Sshd::start_with_config(&daemon, "", sshd_config);
        sshd.authorize(&user);
        let sk_key = sshd.add_security_key(&user, "ed25519-sk", keygen_options);
        SkSetup {
            daemon,
            user,
            enrollment,
            sshd,
            sk_key,
        }
    }

    /// The sign-in events of the account, as `outcome/factor` (or `outcome/reason`).
    fn sign_ins(&self) -> Vec<String> {
        self.daemon
            .audit_events()
            .iter()
            .filter(|e| is_sign_in(e) && e["user"] == self.user.name())
            .map(|e| {
                let detail = e.get("factor").or(e.get("reason")).and_then(Value::as_str);
                format!(
                    "{}/{}",
                    e["outcome"].as_str().unwrap_or_default(),
                    detail.unwrap_or_default()
                )
            })
            .collect()
    }

    fn context(&self) -> String {
        format!(
            "--- sshd log ---\n{}\n{}",
            self.sshd.log(),
            self.daemon.log_section()
        )
    }
}

/// The prompts that were the daemon's code prompt (askpass also answers ssh's own, such as a
/// security key's PIN).
fn code_prompts(prompts: &[String]) -> usize {
    prompts.iter().filter(|p| p.ends_with(CODE_PROMPT)).count()
}

#[test]
fn a_security_key_is_the_second_factor_and_an_ordinary_key_is_still_asked() {
    if !root_suite_ready() {
        return;
    }
    let s = SkSetup::new(SECOND_FACTOR, "", &[]);
    let user = s.user.name();

    let sk = s
        .sshd
        .login_with_security_key(&s.sk_key, user, "127.0.0.1", "");
    assert!(sk.run.succeeded(), "{}\n{}", sk.run, s.context());
    assert_eq!(code_prompts(&sk.prompts), 0, "{:?}", sk.prompts);
    assert!(
        s.sshd
            .log()
            .contains(&format!("Partial publickey for {user} from 127.0.0.1 port"))
            && s.sshd.log().contains("ED25519-SK"),
        "{}",
        s.sshd.log()
    );
    let success = s.daemon.auth_success();
    assert_eq!(success["factor"], "security_key", "{success}");
    assert_eq!(success["service"], s.sshd.service(), "{success}");

    // The ecdsa kind of key counts too.
    let ecdsa = s.sshd.add_security_key(&s.user, "ecdsa-sk", &[]);
    let login = s.sshd.login_with_security_key(&ecdsa, user, "::1", "");
    assert!(login.run.succeeded(), "{}\n{}", login.run, s.context());
    assert_eq!(code_prompts(&login.prompts), 0, "{:?}", login.prompts);

    // Kept as the last login, in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let last = mfa_tests::status(&s.daemon, user).last_success;
        if last.as_ref().is_some_and(|l| l.factor == "security_key") {
            break;
        }
        assert!(Instant::now() < deadline, "last success not kept: {last:?}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let wrong = s
        .sshd
        .login(user, "127.0.0.1", &s.enrollment.authenticator.wrong_code());
    assert!(
        !wrong.run.succeeded(),
        "an ordinary key got in: {}",
        wrong.run
    );
    assert_eq!(code_prompts(&wrong.prompts), 1, "{:?}", wrong.prompts);
    let code = s.enrollment.authenticator.next_code();
    let ordinary = s.sshd.login(user, "127.0.0.1", &code);
    assert!(
        ordinary.run.succeeded(),
        "{}\n{}",
        ordinary.run,
        s.context()
    );
    assert_eq!(code_prompts(&ordinary.prompts), 1, "{:?}", ordinary.prompts);
    assert_eq!(
        s.sign_ins(),
        [
            "success/security_key",
            "success/security_key",
            "failure/invalid_code",
            "success/totp"
        ]
    );
    s.daemon.assert_log_omits(&s.enrollment.secrets());
}

#[test]
fn by_default_a_security_key_login_is_asked_for_a_code() {
    if !root_suite_ready() {
        return;
    }
    let s = SkSetup::new("", "", &[]);
    let user = s.user.name();
    let code = s.enrollment.authenticator.next_code();
    let login = s
        .sshd
        .login_with_security_key(&s.sk_key, user, "127.0.0.1", &code);
    assert!(login.run.succeeded(), "{}\n{}", login.run, s.context());
    assert_eq!(code_prompts(&login.prompts), 1, "{:?}", login.prompts);
    assert_eq!(s.sign_ins(), ["success/totp"]);
}

#[test]
fn an_always_ask_service_asks_security_key_logins() {
    if !root_suite_ready() {
        return;
    }
    let s = SkSetup::new(SECOND_FACTOR, "", &[]);
    let user = s.user.name();
    // The sshd's PAM service has a name made up at its start: the policy learns it by reload.
    let config = std::fs::read_to_string(s.daemon.config()).expect("read the config");
    let always = format!("{config}always_ask = [\"{}\"]\n", s.sshd.service());
    std::fs::write(s.daemon.config(), always).expect("write the config");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.daemon.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .expect("signal the daemon");
    wait_for_log(&s.daemon, "mfa-daemon: reloaded");

    let wrong = s.enrollment.authenticator.wrong_code();
    let login = s
        .sshd
        .login_with_security_key(&s.sk_key, user, "127.0.0.1", &wrong);
    assert!(!login.run.succeeded(), "{}\n{}", login.run, s.context());
    assert_eq!(code_prompts(&login.prompts), 1, "{:?}", login.prompts);
    assert_eq!(s.sign_ins(), ["failure/invalid_code"]);
}

#[test]
fn a_locked_source_is_refused_even_with_a_security_key() {
    if !root_suite_ready() {
        return;
    }
    let s = SkSetup::new(SECOND_FACTOR_STRICT, "", &[]);
    let user = s.user.name();
    for attempt in 1..=2 {
        let wrong = s.enrollment.authenticator.wrong_code();
        let login = s.sshd.login(user, "127.0.0.1", &wrong);
        assert!(!login.run.succeeded(), "attempt {attempt}: {}", login.run);
    }
    let locked = s
        .sshd
        .login_with_security_key(&s.sk_key, user, "127.0.0.1", "");
    assert!(
        !locked.run.succeeded(),
        "a locked source got in with a security key: {}\n{}",
        locked.run,
        s.context()
    );
    assert_eq!(code_prompts(&locked.prompts), 0, "{:?}", locked.prompts);
    assert_eq!(
        s.sign_ins().last().map(String::as_str),
        Some("locked_out/source_locked")
    );
    // Another source is not locked: the key counts there.
    let other = s.sshd.login_with_security_key(&s.sk_key, user, "::1", "");
    assert!(other.run.succeeded(), "{}\n{}", other.run, s.context());
}

#[test]
fn an_unenrolled_user_is_denied_even_with_a_security_key() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with(SECOND_FACTOR);
    let user = TestUser::create();
    let sshd = Sshd::start(&daemon, "");
    sshd.authorize(&user);
    let key = sshd.add_security_key(&user, "ed25519-sk", &[]);
    let login = sshd.login_with_security_key(&key, user.name(), "127.0.0.1", "");
    assert!(
        !login.run.succeeded(),
        "an unenrolled user got in on a security key alone: {}\n{}",
        login.run,
        daemon.log_section()
    );
    let outcomes = daemon.auth_outcomes(user.name());
    assert!(!outcomes.contains(&"success".to_owned()), "{outcomes:?}");
}

/// sk-dummy signs with the flags ssh asks for, so a key made with `-O verify-required`
/// carries the user-verified flag and sshd's `PubkeyAuthOptions verify-required` accepts
/// it, while a key made without it is refused by sshd before PAM. sk-dummy has no PIN
/// (ssh never asks for one): this checks the sshd side of user verification, not a PIN.
#[test]
fn with_verify_required_only_a_user_verified_key_gets_in() {
    if !root_suite_ready() {
        return;
    }
    let s = SkSetup::new(
        SECOND_FACTOR,
        "PubkeyAuthOptions verify-required\n",
        &["verify-required"],
    );
    let user = s.user.name();
    let login = s
        .sshd
        .login_with_security_key(&s.sk_key, user, "127.0.0.1", "1234");
    assert!(login.run.succeeded(), "{}\n{}", login.run, s.context());
    assert_eq!(code_prompts(&login.prompts), 0, "{:?}", login.prompts);
    assert_eq!(s.sign_ins(), ["success/security_key"]);

    let touch_only = s.sshd.add_security_key(&s.user, "ed25519-sk", &[]);
    let refused = s
        .sshd
        .login_with_security_key(&touch_only, user, "127.0.0.1", "");
    assert!(
        !refused.run.succeeded(),
        "a key without user verification got in: {}\n{}",
        refused.run,
        s.context()
    );
    assert_eq!(s.sign_ins(), ["success/security_key"]);
}

// --- Attacks ---------------------------------------------------------------------------

/// Not a test of its own: run as an unprivileged account by
/// [`a_non_root_caller_cannot_forge_a_security_key_in_auth_info`]. Sends the `auth_info` of
/// its environment as a login of its own account, and reports the daemon's first step.
#[test]
#[ignore = "run as an unprivileged user by the tests of this suite"]
fn forger() {
    let Ok(socket) = std::env::var(SOCKET_ENV) else {
        return;
    };
    let env = |key: &str| std::env::var(key).unwrap_or_else(|_| panic!("the forger needs {key}"));
    let step = first_step(
        Path::new(&socket),
        auth_request(&env(USER_ENV), &env(SERVICE_ENV), &env(AUTH_INFO_ENV)),
    );
    println!("{FIRST_STEP}{step:?}");
}

/// Before `ssh_security_keys` only root's callers' `auth_info` was used (trusted devices);
/// this checks the new use keeps that rule. The forged line carries a real security key's
/// blob, so nothing but the caller check stands between it and a login without a code: the
/// same request from root is let in (shown first, so the test can fail), the user's own is
/// asked, and so is root's when the security key is not the first step.
#[test]
fn a_non_root_caller_cannot_forge_a_security_key_in_auth_info() {
    if !root_suite_ready() {
        return;
    }
    let s = SkSetup::new(SECOND_FACTOR, "", &[]);
    let blob = public_blob(&s.sk_key);
    let forged = format!("publickey {SK_ED25519} {blob}\n");

    let from_root = first_step(
        &s.daemon.privileged_socket(),
        auth_request(s.user.name(), s.sshd.service(), &forged),
    );
    assert_eq!(
        from_root,
        Step::Done {
            outcome: Outcome::Success
        },
        "{}",
        s.context()
    );

    for info in [forged.clone(), format!("publickey {SK_ED25519} AAAA\n")] {
        let mut forger = test_binary_as(&s.user, FORGER);
        forger
            .env(SOCKET_ENV, s.daemon.socket())
            .env(USER_ENV, s.user.name())
            .env(SERVICE_ENV, s.sshd.service())
            .env(AUTH_INFO_ENV, &info);
        let run = mfa_tests::run(forger, "");
        let step = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(FIRST_STEP))
            .unwrap_or_else(|| panic!("the forger reported no step: {run}"));
        assert!(
            step.starts_with("Prompt") && step.contains(CODE_PROMPT),
            "a non-root caller's forged {info:?} was believed: {step}\n{}",
            s.context()
        );
    }

    let ordinary = format!(
        "publickey ssh-ed25519 {}\n",
        public_blob(&s.sk_key.with_file_name("client_ed25519"))
    );
    for info in [
        format!("{ordinary}publickey {SK_ED25519} {blob}\n"),
        format!("password\n{forged}"),
        format!("publickey {SK_ED25519} {blob}  \n"),
    ] {
        let step = first_step(
            &s.daemon.privileged_socket(),
            auth_request(s.user.name(), s.sshd.service(), &info),
        );
        assert!(
            matches!(&step, Step::Prompt { text, .. } if text == CODE_PROMPT),
            "{info:?} let root's caller in without a code: {step:?}"
        );
    }
    s.daemon.assert_log_omits(&s.enrollment.secrets());
}

/// The base64 blob of the public key beside the private key `key`.
fn public_blob(key: &Path) -> String {
    let line = std::fs::read_to_string(key.with_extension("pub")).expect("read a public key");
    line.split(' ')
        .nth(1)
        .expect("a public key line has a blob")
        .to_owned()
}

/// A login of `user` for `service` from a remote host, as the module sends it under sshd.
fn auth_request(user: &str, service: &str, auth_info: &str) -> AuthRequest {
    AuthRequest {
        user: user.to_owned(),
        service: service.to_owned(),
        rhost: Some("192.0.2.1".to_owned()),
        tty: Some("ssh".to_owned()),
        ruser: None,
        auth_info: Some(auth_info.to_owned()),
        nullok: false,
    }
}

/// The daemon's first prompt or end for `auth` on `socket` (notices skipped); the login is
/// then abandoned.
fn first_step(socket: &Path, auth: AuthRequest) -> Step {
    let mut client = Client::connect(socket, CLIENT_TIMEOUT).expect("connect to the daemon");
    client
        .send(&Request::Authenticate { auth })
        .expect("send the request");
    loop {
        match client.recv::<Step>().expect("the daemon's next step") {
            Step::Info { .. } | Step::Error { .. } => {}
            other => return other,
        }
    }
}

fn wait_for_log(daemon: &Daemon, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !daemon.log().contains(text) {
        assert!(
            Instant::now() < deadline,
            "the daemon never logged {text:?}:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
