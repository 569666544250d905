//! Security invariants 1–3 (docs: docs/DESIGN.md) as one suite run against each store engine: the
//! file engine (the default) and the PostgreSQL engine on a throw-away cluster. Each test is a
//! function of the [`Engine`]; the `#[test]` wrappers at the end run it once per engine.
//!
//! - 1: one code, 30 parallel logins, one success; a recovery code works once, also when ten
//!   logins race it.
//! - 1 and 3: a success acknowledged right before kill -9 is refused after the restart.
//! - 2: a source's lockout survives kill -9.
//! - 3: a corrupt record fails closed and is left as it is (never "repaired" by a write).
//!
//! A full or read-only disk under the file engine is tests/tests/disk.rs; the file engine's
//! crash safety under hundreds of kills is tests/tests/crash.rs.

use std::fs;
use std::path::PathBuf;

use mfa_tests::postgres::Cluster;
use mfa_tests::text::{
    CODE_ALREADY_USED, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_MAXTRIES, PAM_SYSTEM_ERR,
    PAMTESTER_SUCCESS, TOO_MANY_FAILURES,
};
use mfa_tests::{
    EnrollTotp, LoginSetup, ONE_PROMPT_NO_LOCKOUT, ONE_PROMPT_PER_LOGIN, Pamtester, Run,
    ScratchDir, TestUser, enroll_totp, root_suite_ready, status,
};

/// Where user records, replay state and lockouts live.
#[derive(Debug, Clone, Copy)]
enum Engine<'a> {
    /// `STATE_DIR/users/`, the default.
    Files,
    /// The `mfa_users` and `mfa_limits` tables of this cluster's database.
    Postgres(&'a Cluster),
}

/// A [`LoginSetup`] on one engine, and the directory with the engine's `url` and `key` files.
/// Fields drop in order: the daemon goes before the files it reads.
struct Setup<'a> {
    login: LoginSetup<mfa_tests::PamService>,
    engine: Engine<'a>,
    _store_files: ScratchDir,
}

impl<'a> Engine<'a> {
    /// A daemon on this engine whose config adds `settings` (top-level keys, then tables),
    /// with one account enrolled and a PAM service in front.
    fn setup(self, settings: &str) -> Setup<'a> {
        let store_files = ScratchDir::create();
        let store = match self {
            Engine::Files => String::new(),
            Engine::Postgres(cluster) => cluster.store_config(store_files.path()),
        };
        Setup {
            login: LoginSetup::through_pam_service(&format!("{settings}\n{store}")),
            engine: self,
            _store_files: store_files,
        }
    }
}

impl Setup<'_> {
    fn user(&self) -> &str {
        self.login.user.name()
    }

    fn pamtester(&self) -> Pamtester<'_> {
        Pamtester::new(&self.login.via, self.login.user.name())
    }

    /// The daemon's log, and PostgreSQL's, to append to assertion messages.
    fn logs(&self) -> String {
        let daemon = self.login.daemon.log_section();
        match self.engine {
            Engine::Files => daemon,
            Engine::Postgres(cluster) => format!("{daemon}\n{}", cluster.log_section()),
        }
    }

    /// Overwrites `user`'s stored record with garbage and returns the garbage, as it must
    /// stay. Files: the whole record file, both slots (with the daemon stopped, so that no
    /// cached copy hides it). PostgreSQL: the `data` column, under the running daemon.
    fn corrupt_record(&mut self, user: &str) -> Vec<u8> {
        match self.engine {
            Engine::Files => {
                let path = self.record_file(user);
                let length = fs::metadata(&path).expect("the record file").len();
                let garbage: Vec<u8> = b"garbage!"
                    .iter()
                    .copied()
                    .cycle()
                    .take(usize::try_from(length).expect("small"))
                    .collect();
                self.login.daemon.stop();
                fs::write(&path, &garbage).expect("overwrite the record file");
                self.login.daemon.restart();
                garbage
            }
            Engine::Postgres(cluster) => {
                let updated = cluster.psql(&format!(
                    "with changed as (update mfa_users set data = 'garbage' where name = \
                     '{user}' returning name) select name from changed"
                ));
                assert_eq!(updated.trim(), user, "no row for {user} in mfa_users");
                b"garbage".to_vec()
            }
        }
    }

    /// What is stored for `user` now, in the form [`Setup::corrupt_record`] returns.
    fn stored_record(&self, user: &str) -> Vec<u8> {
        match self.engine {
            Engine::Files => fs::read(self.record_file(user)).expect("the record file"),
            Engine::Postgres(cluster) => cluster
                .psql(&format!(
                    "select encode(data, 'hex') from mfa_users where name = '{user}'"
                ))
                .trim()
                .as_bytes()
                .chunks(2)
                .map(|pair| {
                    u8::from_str_radix(std::str::from_utf8(pair).expect("hex"), 16).expect("hex")
                })
                .collect(),
        }
    }

    /// The file engine's record of `user`: `NAME.rec`, or `NAME.json` before the two-slot
    /// format.
    fn record_file(&self, user: &str) -> PathBuf {
        let users = self.login.daemon.users_dir();
        let slots = users.join(format!("{user}.rec"));
        if slots.exists() {
            slots
        } else {
            users.join(format!("{user}.json"))
        }
    }
}

fn assert_refused_as_used(login: &Run, what: &str, setup: &Setup) {
    assert!(
        !login.succeeded() && login.mentions(PAM_AUTH_ERR),
        "{what} was not refused: {login}\n{}",
        setup.logs()
    );
}

// --- The invariants, for any engine -------------------------------------------------------

fn thirty_parallel_logins_with_one_code_give_exactly_one_success(engine: Engine) {
    const LOGINS: usize = 30;
    let setup = engine.setup(ONE_PROMPT_NO_LOCKOUT);
    let code = setup.login.enrollment.authenticator.next_code();

    let logins = setup.pamtester().answer_together(LOGINS, &code, || {});

    let accepted = logins.iter().filter(|run| run.succeeded()).count();
    assert_eq!(
        accepted,
        1,
        "one code, {LOGINS} parallel logins: {accepted} accepted\n{}",
        setup.logs()
    );
    for run in logins.iter().filter(|run| !run.succeeded()) {
        assert!(
            run.mentions(CODE_ALREADY_USED) && run.mentions(PAM_AUTH_ERR),
            "a parallel login was not refused as a replay: {run}\n{}",
            setup.logs()
        );
    }
    let outcomes = setup.login.daemon.auth_outcomes(setup.user());
    assert_eq!(outcomes.iter().filter(|o| *o == "success").count(), 1);
    assert_eq!(
        outcomes.iter().filter(|o| *o == "failure").count(),
        LOGINS - 1
    );
    setup
        .login
        .daemon
        .assert_log_omits(&setup.login.enrollment.secrets());
}

fn recovery_code_works_once_also_when_ten_race(engine: Engine) {
    const LOGINS: usize = 10;
    let setup = engine.setup(ONE_PROMPT_NO_LOCKOUT);
    let codes = &setup.login.enrollment.recovery_codes;

    let raced = setup.pamtester().answer_together(LOGINS, &codes[0], || {});
    let accepted = raced.iter().filter(|run| run.succeeded()).count();
    assert_eq!(
        accepted,
        1,
        "one recovery code, {LOGINS} parallel logins: {accepted} accepted\n{}",
        setup.logs()
    );
    for run in raced.iter().filter(|run| !run.succeeded()) {
        assert_refused_as_used(run, "a racing login with a used recovery code", &setup);
    }
    let again = setup.pamtester().authenticate(&[&codes[0]]);
    assert_refused_as_used(&again, "the raced recovery code, used again", &setup);

    let once = setup.pamtester().authenticate(&[&codes[1]]);
    assert!(once.mentions(PAMTESTER_SUCCESS), "{once}\n{}", setup.logs());
    let twice = setup.pamtester().authenticate(&[&codes[1]]);
    assert_refused_as_used(&twice, "a recovery code used a second time", &setup);

    assert_eq!(
        status(&setup.login.daemon, setup.user()).recovery_codes_left,
        codes.len() - 2
    );
    setup
        .login
        .daemon
        .assert_log_omits(&setup.login.enrollment.secrets());
}

fn success_acknowledged_before_kill_9_is_refused_after_restart(engine: Engine) {
    let mut setup = engine.setup(ONE_PROMPT_NO_LOCKOUT);
    let code = setup.login.enrollment.authenticator.next_code();
    let recovery_code = setup.login.enrollment.recovery_codes[0].clone();

    let by_code = setup.pamtester().authenticate(&[&code]);
    let by_recovery_code = setup.pamtester().authenticate(&[&recovery_code]);
    setup.login.daemon.kill();
    assert!(
        by_code.mentions(PAMTESTER_SUCCESS) && by_recovery_code.mentions(PAMTESTER_SUCCESS),
        "{by_code}\n{by_recovery_code}\n{}",
        setup.logs()
    );
    setup.login.daemon.restart();

    let code_again = setup.pamtester().authenticate(&[&code]);
    assert!(
        code_again.mentions(CODE_ALREADY_USED),
        "{code_again}\n{}",
        setup.logs()
    );
    assert_refused_as_used(&code_again, "a code used right before kill -9", &setup);
    let recovery_again = setup.pamtester().authenticate(&[&recovery_code]);
    assert_refused_as_used(
        &recovery_again,
        "a recovery code used right before kill -9",
        &setup,
    );
    assert_eq!(
        status(&setup.login.daemon, setup.user()).recovery_codes_left,
        setup.login.enrollment.recovery_codes.len() - 1
    );
    let fresh =
        setup
            .pamtester()
            .authenticate(&[&setup.login.enrollment.authenticator.next_code()]);
    assert!(
        fresh.mentions(PAMTESTER_SUCCESS),
        "{fresh}\n{}",
        setup.logs()
    );
}

fn lockout_of_a_source_survives_kill_9(engine: Engine) {
    const ATTACKER: &str = "127.0.0.2";
    const OWNER: &str = "127.0.0.3";
    let mut setup = engine.setup("max_tries = 1\n[limits]\nmax_failures = 3\nlockout = \"1m\"\n");

    for attempt in 1..=3 {
        let wrong = setup.login.enrollment.authenticator.wrong_code();
        let login = setup
            .pamtester()
            .from_rhost(ATTACKER)
            .authenticate(&[&wrong]);
        assert!(!login.succeeded(), "attempt {attempt}: {login}");
    }
    setup.login.daemon.kill();
    setup.login.daemon.restart();

    let code = setup.login.enrollment.authenticator.next_code();
    let locked = setup
        .pamtester()
        .from_rhost(ATTACKER)
        .authenticate(&[&code]);
    assert!(
        !locked.succeeded() && locked.mentions(TOO_MANY_FAILURES) && locked.mentions(PAM_MAXTRIES),
        "the lockout did not survive kill -9: {locked}\n{}",
        setup.logs()
    );
    let owner = setup.pamtester().from_rhost(OWNER).authenticate(&[&code]);
    assert!(
        owner.mentions(PAMTESTER_SUCCESS),
        "another source is locked out too: {owner}\n{}",
        setup.logs()
    );
}

fn corrupt_record_fails_closed_and_is_not_overwritten(engine: Engine) {
    let mut setup = engine.setup(ONE_PROMPT_PER_LOGIN);
    let other = TestUser::create();
    let other_enrollment = enroll_totp(&setup.login.daemon, &other);
    let user = setup.user().to_owned();
    let garbage = setup.corrupt_record(&user);

    let login =
        setup
            .pamtester()
            .authenticate(&[&setup.login.enrollment.authenticator.next_code()]);
    assert!(
        !login.succeeded()
            && (login.mentions(PAM_SYSTEM_ERR) || login.mentions(PAM_AUTHINFO_UNAVAIL)),
        "a login on a corrupt record did not fail closed with an error: {login}\n{}",
        setup.logs()
    );
    let recovery = setup
        .pamtester()
        .authenticate(&[&setup.login.enrollment.recovery_codes[0]]);
    assert!(
        !recovery.succeeded(),
        "a recovery code passed on a corrupt record: {recovery}\n{}",
        setup.logs()
    );
    let enrolled = EnrollTotp::new(&setup.login.daemon).for_user(&user).run();
    assert!(
        enrolled.is_err(),
        "a new app was enrolled over a corrupt record\n{}",
        setup.logs()
    );
    assert_eq!(
        setup.stored_record(&user),
        garbage,
        "the corrupt record was overwritten\n{}",
        setup.logs()
    );

    let other_login = Pamtester::new(&setup.login.via, other.name())
        .authenticate(&[&other_enrollment.authenticator.next_code()]);
    assert!(
        other_login.mentions(PAMTESTER_SUCCESS),
        "another user's login failed beside a corrupt record: {other_login}\n{}",
        setup.logs()
    );
}

// --- One wrapper per engine ---------------------------------------------------------------

/// Runs `test` on a fresh PostgreSQL cluster (stopped after the test's daemon).
fn on_postgres(test: fn(Engine)) {
    if !root_suite_ready() {
        return;
    }
    let cluster = Cluster::start();
    test(Engine::Postgres(&cluster));
}

fn on_files(test: fn(Engine)) {
    if !root_suite_ready() {
        return;
    }
    test(Engine::Files);
}

#[test]
fn thirty_parallel_logins_with_one_code_give_exactly_one_success_files() {
    on_files(thirty_parallel_logins_with_one_code_give_exactly_one_success);
}

#[test]
fn thirty_parallel_logins_with_one_code_give_exactly_one_success_postgres() {
    on_postgres(thirty_parallel_logins_with_one_code_give_exactly_one_success);
}

#[test]
fn recovery_code_works_once_also_when_ten_race_files() {
    on_files(recovery_code_works_once_also_when_ten_race);
}

#[test]
fn recovery_code_works_once_also_when_ten_race_postgres() {
    on_postgres(recovery_code_works_once_also_when_ten_race);
}

#[test]
fn success_acknowledged_before_kill_9_is_refused_after_restart_files() {
    on_files(success_acknowledged_before_kill_9_is_refused_after_restart);
}

#[test]
fn success_acknowledged_before_kill_9_is_refused_after_restart_postgres() {
    on_postgres(success_acknowledged_before_kill_9_is_refused_after_restart);
}

#[test]
fn lockout_of_a_source_survives_kill_9_files() {
    on_files(lockout_of_a_source_survives_kill_9);
}

#[test]
fn lockout_of_a_source_survives_kill_9_postgres() {
    on_postgres(lockout_of_a_source_survives_kill_9);
}

#[test]
fn corrupt_record_fails_closed_and_is_not_overwritten_files() {
    on_files(corrupt_record_fails_closed_and_is_not_overwritten);
}

#[test]
fn corrupt_record_fails_closed_and_is_not_overwritten_postgres() {
    on_postgres(corrupt_record_fails_closed_and_is_not_overwritten);
}
