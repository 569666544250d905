//! Two daemons ("host A" and "host B": separate sockets, state directories and configs) on
//! one PostgreSQL database with one record key (issue 9): what one host accepts, locks or
//! removes, the other sees on its very next login; while PostgreSQL is down both fail closed
//! and they recover by themselves; an acknowledged success survives a kill -9; a dump holds no
//! seed, and a host with the wrong key refuses to use the records. Codes one host texted
//! count against the other's send limit, also when the requests race (issue 14).

use std::path::Path;
use std::process::Command;
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use data_encoding::{BASE32_NOPAD, BASE64, HEXLOWER};
use mfa_proto::{AuthRequest, Client, FailureKind, Outcome, Request, Step};
use mfa_tests::postgres::Cluster;
use mfa_tests::text::{
    CODE_ALREADY_USED, CODE_PROMPT, MENU_PROMPT, ONLY_RECOVERY_CODES, PAM_AUTHINFO_UNAVAIL,
    PAM_MAXTRIES, PAM_SYSTEM_ERR, PAMTESTER_SUCCESS, SEND_REFUSED, SENT_CODE_PROMPT,
    TOO_MANY_FAILURES,
};
use mfa_tests::{
    Daemon, Enrollment, MenuLogin, ONE_PROMPT_NO_LOCKOUT, ONE_PROMPT_PER_LOGIN, PamService,
    Pamtester, Providers, Run, ScratchDir, TestUser, enroll_totp, mfa_enroll, mfactl_binary,
    root_suite_ready, run, status,
};

/// How long the protocol clients wait for a daemon.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// What a daemon logs while it cannot reach the database.
const UNREACHABLE: &str = "PostgreSQL unreachable";
/// How long a daemon may take to notice that PostgreSQL is back.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RETRY_INTERVAL: Duration = Duration::from_millis(200);

/// Host A and host B on one cluster. Fields drop in declaration order: the daemons before
/// the database they use.
#[derive(Debug)]
struct Fleet {
    a: Daemon,
    b: Daemon,
    /// Each host's `url` and `key` files.
    _stores: [ScratchDir; 2],
    cluster: Cluster,
}

impl Fleet {
    /// Both hosts with the cluster's key; each daemon's config adds `settings`.
    fn start(settings: &str) -> Fleet {
        let cluster = Cluster::start();
        let key = *cluster.key();
        Fleet::on(cluster, settings, &key)
    }

    /// Host B with another key than the cluster's, which host A uses.
    fn start_with_another_key_on_b(settings: &str) -> Fleet {
        let cluster = Cluster::start();
        let mut other_key = *cluster.key();
        other_key[0] ^= 0xff;
        Fleet::on(cluster, settings, &other_key)
    }

    fn on(cluster: Cluster, settings: &str, b_key: &[u8; 32]) -> Fleet {
        let stores = [ScratchDir::create(), ScratchDir::create()];
        let a_store = cluster.store_config(stores[0].path());
        let b_store = cluster.store_config_with_key(stores[1].path(), b_key);
        let a = Daemon::start_with(&format!("{settings}\n{a_store}"));
        let b = Daemon::start_with(&format!("{settings}\n{b_store}"));
        Fleet {
            a,
            b,
            _stores: stores,
            cluster,
        }
    }

    /// Both daemons' logs and the server's, for assertion messages.
    fn logs(&self) -> String {
        format!(
            "--- host A ---\n{}\n--- host B ---\n{}\n{}",
            self.a.log_section(),
            self.b.log_section(),
            self.cluster.log_section()
        )
    }
}

/// An `Authenticate` request as pam_mfa.so would send it for `user` from `rhost`.
fn auth_request(user: &str, rhost: &str) -> AuthRequest {
    AuthRequest {
        user: user.to_owned(),
        service: "mfat-fleet".to_owned(),
        rhost: Some(rhost.to_owned()),
        tty: None,
        ruser: None,
        auth_info: None,
        nullok: false,
    }
}

/// One authentication as root on a daemon's privileged `socket`: `before_answer` runs once
/// the first prompt arrived (or, so that racers waiting on a barrier are not left hanging,
/// when the conversation ended without one), then `answer` is sent. Returns the first step
/// that is not a prompt or a message (`Done` or `Failed`), or `Err` when the connection broke
/// first.
fn authenticate(
    socket: &Path,
    user: &str,
    rhost: &str,
    answer: &str,
    before_answer: impl FnOnce(),
) -> Result<Step, String> {
    let mut before_answer = Some(before_answer);
    let ended = converse(socket, user, rhost, answer, &mut before_answer);
    if let Some(never_prompted) = before_answer.take() {
        never_prompted();
    }
    ended
}

fn converse(
    socket: &Path,
    user: &str,
    rhost: &str,
    answer: &str,
    before_answer: &mut Option<impl FnOnce()>,
) -> Result<Step, String> {
    let mut client =
        Client::connect(socket, CLIENT_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    client
        .send(&Request::Authenticate {
            auth: auth_request(user, rhost),
        })
        .map_err(|e| format!("send the request: {e}"))?;
    let mut answered = false;
    loop {
        match client.recv::<Step>().map_err(|e| format!("receive: {e}"))? {
            Step::Prompt { .. } if !answered => {
                answered = true;
                if let Some(wait) = before_answer.take() {
                    wait();
                }
                client
                    .send(&Request::Answer {
                        text: answer.into(),
                    })
                    .map_err(|e| format!("send the answer: {e}"))?;
            }
            Step::Info { .. } | Step::Error { .. } => {}
            other => return Ok(other),
        }
    }
}

fn is_success(step: &Result<Step, String>) -> bool {
    matches!(
        step,
        Ok(Step::Done {
            outcome: Outcome::Success
        })
    )
}

fn is_refusal(step: &Result<Step, String>) -> bool {
    matches!(
        step,
        Ok(Step::Done {
            outcome: Outcome::Failure
        })
    )
}

/// The daemon failing closed because of its store: `Failed Internal`, or the end of the
/// conversation with outcome `error` (which pam_mfa turns into PAM_SYSTEM_ERR).
fn is_store_failure(step: &Result<Step, String>) -> bool {
    matches!(
        step,
        Ok(Step::Failed {
            kind: FailureKind::Internal,
            ..
        } | Step::Done {
            outcome: Outcome::Error
        })
    )
}

/// What pamtester shows for a login the daemon failed closed: PAM_SYSTEM_ERR for the daemon's
/// `error` outcome, PAM_AUTHINFO_UNAVAIL for a daemon it could not get an answer from.
fn failed_closed(login: &Run) -> bool {
    !login.succeeded() && (login.mentions(PAM_SYSTEM_ERR) || login.mentions(PAM_AUTHINFO_UNAVAIL))
}

/// Waits until `daemon`'s log contains `text`; panics with `context` if it does not in time.
fn wait_for_log(daemon: &Daemon, text: &str, context: impl Fn() -> String) {
    let deadline = Instant::now() + RECONNECT_TIMEOUT;
    while !daemon.log().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no `{text}` in the log within {RECONNECT_TIMEOUT:?}\n{}",
            context()
        );
        thread::sleep(RETRY_INTERVAL);
    }
}

/// The base32 secret, the raw secret (hex, base64) and the recovery codes: none may be
/// readable in the database.
fn secrets_in_every_spelling(enrollment: &Enrollment) -> Vec<String> {
    let base32 = enrollment.authenticator.secret().to_owned();
    let normalized: String = base32
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let raw = BASE32_NOPAD
        .decode(normalized.as_bytes())
        .expect("the secret shown is base32");
    let mut secrets = vec![
        normalized.clone(),
        normalized.to_ascii_lowercase(),
        HEXLOWER.encode(&raw),
        HEXLOWER.encode(&raw).to_ascii_uppercase(),
        BASE64.encode(&raw),
    ];
    for code in &enrollment.recovery_codes {
        secrets.push(code.clone());
        secrets.push(code.replace('-', ""));
    }
    secrets
}

#[test]
fn cluster_answers_the_superuser_and_the_daemons_role() {
    if !root_suite_ready() {
        return;
    }
    let cluster = Cluster::start();
    assert_eq!(cluster.psql("select 1").trim(), "1");
    // The daemon's way in: loopback TCP, role mfa, its password (scram-sha-256).
    let mut psql = Command::new("psql");
    psql.args(["-X", "-At", "-c", "select current_user, current_database()"])
        .arg(cluster.conninfo());
    let done = run(psql, "");
    assert!(done.succeeded(), "{done}\n{}", cluster.log_section());
    assert_eq!(done.stdout.trim(), "mfa|mfa", "{done}");
}

#[test]
fn a_code_accepted_on_one_host_is_refused_on_the_other() {
    if !root_suite_ready() {
        return;
    }
    let fleet = Fleet::start(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();
    let enrollment = enroll_totp(&fleet.a, &user);
    let via_a = PamService::mfa(fleet.a.socket(), "");
    let via_b = PamService::mfa(fleet.b.socket(), "");
    let app = &enrollment.authenticator;

    let seen_by_b = status(&fleet.b, user.name());
    assert_eq!(
        (
            seen_by_b.authenticators.len(),
            seen_by_b.recovery_codes_left
        ),
        (1, enrollment.recovery_codes.len()),
        "host B does not see the enrollment made through host A: {seen_by_b:?}"
    );

    for (first, second, names) in [(&via_a, &via_b, "A then B"), (&via_b, &via_a, "B then A")] {
        let code = app.next_code();
        let accepted = Pamtester::new(first, user.name()).authenticate(&[&code]);
        assert!(
            accepted.succeeded() && accepted.mentions(PAMTESTER_SUCCESS),
            "{names}: {accepted}\n{}",
            fleet.logs()
        );
        let replayed = Pamtester::new(second, user.name()).authenticate(&[&code]);
        assert!(
            !replayed.succeeded(),
            "{names}: a code used on one host was accepted on the other: {replayed}\n{}",
            fleet.logs()
        );
        assert!(
            replayed.mentions(CODE_ALREADY_USED),
            "{names}: not refused as a replay: {replayed}\n{}",
            fleet.logs()
        );
    }
    fleet.a.assert_log_omits(&enrollment.secrets());
    fleet.b.assert_log_omits(&enrollment.secrets());
}

#[test]
fn thirty_logins_racing_one_code_on_two_hosts_give_exactly_one_success() {
    const PER_HOST: usize = 15;
    if !root_suite_ready() {
        return;
    }
    let fleet = Fleet::start(ONE_PROMPT_NO_LOCKOUT);
    let user = TestUser::create();
    let enrollment = enroll_totp(&fleet.a, &user);
    let code = enrollment.authenticator.next_code();

    // Every racer is connected and prompted before any answers.
    let all_prompted = Barrier::new(2 * PER_HOST);
    let steps: Vec<Result<Step, String>> = thread::scope(|scope| {
        let racers: Vec<_> = (0..2 * PER_HOST)
            .map(|i| {
                let host = if i < PER_HOST { &fleet.a } else { &fleet.b };
                let socket = host.root_socket();
                let (all_prompted, code, user) = (&all_prompted, &code, &user);
                scope.spawn(move || {
                    let rhost = format!("192.0.2.{}", i + 1);
                    authenticate(&socket, user.name(), &rhost, code, || {
                        all_prompted.wait();
                    })
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|racer| racer.join().expect("racer thread"))
            .collect()
    });

    let successes = steps.iter().filter(|step| is_success(step)).count();
    assert_eq!(
        successes,
        1,
        "one code, {} logins on two hosts: {successes} accepted\n{steps:?}\n{}",
        2 * PER_HOST,
        fleet.logs()
    );
    let not_refused: Vec<_> = steps
        .iter()
        .filter(|step| !is_success(step) && !is_refusal(step))
        .collect();
    assert!(
        not_refused.is_empty(),
        "losers of the race must be refused as replays, not fail otherwise: {not_refused:?}\n{}",
        fleet.logs()
    );
    fleet.a.assert_log_omits(&enrollment.secrets());
    fleet.b.assert_log_omits(&enrollment.secrets());
}

#[test]
fn lockouts_reached_on_one_host_hold_on_the_other() {
    const FIRST_ATTACKER: &str = "127.0.0.2";
    const SECOND_ATTACKER: &str = "127.0.0.3";
    if !root_suite_ready() {
        return;
    }
    // Each source is locked after 3 failures; the account after 6 from all sources.
    let fleet = Fleet::start(
        "max_tries = 1\n[limits]\nmax_failures = 3\naccount_max_failures = 6\nlockout = \"1m\"\n",
    );
    let user = TestUser::create();
    let enrollment = enroll_totp(&fleet.a, &user);
    let app = &enrollment.authenticator;
    let via_a = PamService::mfa(fleet.a.socket(), "");
    let via_b = PamService::mfa(fleet.b.socket(), "");
    let login = |service, rhost, answer: &str| {
        Pamtester::new(service, user.name())
            .from_rhost(rhost)
            .authenticate(&[answer])
    };

    for attempt in 1..=3 {
        let wrong = login(&via_a, FIRST_ATTACKER, &app.wrong_code());
        assert!(!wrong.succeeded(), "attempt {attempt}: {wrong}");
    }
    // Locked on host B as well: refused before any prompt, so the right code is not used up.
    let code = app.next_code();
    let locked = login(&via_b, FIRST_ATTACKER, &code);
    assert!(
        !locked.succeeded(),
        "a source locked through host A logged in through host B: {locked}\n{}",
        fleet.logs()
    );
    assert!(
        locked.mentions(TOO_MANY_FAILURES) && locked.mentions(PAM_MAXTRIES),
        "{locked}\n{}",
        fleet.logs()
    );
    assert_eq!(locked.count(CODE_PROMPT), 0, "{locked}");
    let report = status(&fleet.b, user.name());
    let sources: Vec<_> = report.lockouts.iter().map(|l| l.source.as_str()).collect();
    assert_eq!(sources, [FIRST_ATTACKER], "{report:?}");

    // Three more failures through host B reach the account-wide limit...
    for attempt in 1..=3 {
        let wrong = login(&via_b, SECOND_ATTACKER, &app.wrong_code());
        assert!(!wrong.succeeded(), "attempt {attempt}: {wrong}");
    }
    let report = status(&fleet.a, user.name());
    assert!(
        report.account_locked_until.is_some(),
        "host A does not see the account lock reached through host B: {report:?}\n{}",
        fleet.logs()
    );
    // ...which host A enforces: the right app code from a fresh source is refused...
    let refused = login(&via_a, "127.0.0.4", &code);
    assert!(
        !refused.succeeded(),
        "an app code passed the account lock on the other host: {refused}\n{}",
        fleet.logs()
    );
    assert!(refused.mentions(ONLY_RECOVERY_CODES), "{refused}");
    // ...while a recovery code still lets the real user in.
    let rescued = login(&via_a, "127.0.0.5", &enrollment.recovery_codes[0]);
    assert!(
        rescued.succeeded() && rescued.mentions(PAMTESTER_SUCCESS),
        "{rescued}\n{}",
        fleet.logs()
    );
    fleet.a.assert_log_omits(&enrollment.secrets());
    fleet.b.assert_log_omits(&enrollment.secrets());
}

#[test]
fn a_reset_through_one_host_is_seen_by_the_other_at_once() {
    if !root_suite_ready() {
        return;
    }
    let fleet = Fleet::start(ONE_PROMPT_PER_LOGIN);
    let user = TestUser::create();
    let enrollment = enroll_totp(&fleet.a, &user);
    let via_b = PamService::mfa(fleet.b.socket(), "");
    // Host B has read the record before the reset (a cache would keep it).
    let before = status(&fleet.b, user.name());
    assert_eq!(before.authenticators.len(), 1, "{before:?}");
    let code = enrollment.authenticator.next_code();
    let warm = Pamtester::new(&via_b, user.name()).authenticate(&[&code]);
    assert!(warm.succeeded(), "{warm}\n{}", fleet.logs());

    let mut reset = Command::new(mfactl_binary());
    reset
        .arg("--socket")
        .arg(fleet.a.socket())
        .args(["reset", "--yes", user.name()]);
    let done = run(reset, "");
    assert!(done.succeeded(), "{done}\n{}", fleet.logs());

    let after = status(&fleet.b, user.name());
    assert_eq!(
        (
            after.authenticators.len(),
            after.recovery_codes_left,
            after.contacts.len()
        ),
        (0, 0, 0),
        "host B still sees factors removed through host A: {after:?}\n{}",
        fleet.logs()
    );
    for answer in [
        enrollment.authenticator.next_code(),
        enrollment.recovery_codes[0].clone(),
    ] {
        let login = Pamtester::new(&via_b, user.name()).authenticate(&[&answer]);
        assert!(
            !login.succeeded(),
            "a factor removed through host A still logs in through host B: {login}\n{}",
            fleet.logs()
        );
    }
    fleet.a.assert_log_omits(&enrollment.secrets());
    fleet.b.assert_log_omits(&enrollment.secrets());
}

#[test]
fn both_hosts_fail_closed_while_postgres_is_down_and_recover_without_a_restart() {
    if !root_suite_ready() {
        return;
    }
    // A break-glass account the config exempts: decided before the database is needed.
    let glass = TestUser::create();
    let mut fleet = Fleet::start(&format!(
        "{ONE_PROMPT_NO_LOCKOUT}[policy]\nexempt_users = [\"{}\"]\n",
        glass.name()
    ));
    let user = TestUser::create();
    let enrollment = enroll_totp(&fleet.a, &user);
    // A plain stack on A; on B pam_mfa with failmode=safe then pam_permit, so that a module
    // that ignored instead of failing would let the login through.
    let via_a = PamService::mfa(fleet.a.socket(), "");
    let via_b = PamService::mfa_then_permit(fleet.b.socket(), "failmode=safe");
    let code = enrollment.authenticator.next_code();

    fleet.cluster.stop();
    for (host, service, name) in [(&fleet.a, &via_a, "A"), (&fleet.b, &via_b, "B")] {
        // The right code, and still no success.
        let login = Pamtester::new(service, user.name()).authenticate(&[&code]);
        assert!(
            !login.succeeded(),
            "host {name} let a login through with PostgreSQL down: {login}\n{}",
            fleet.logs()
        );
        // The daemon is there; what it needs is not: PAM_AUTHINFO_UNAVAIL whatever the
        // failmode, never PAM_IGNORE.
        assert!(
            login.mentions(PAM_AUTHINFO_UNAVAIL),
            "host {name}: not PAM_AUTHINFO_UNAVAIL: {login}\n{}",
            fleet.logs()
        );
        let step = authenticate(&host.root_socket(), user.name(), "127.0.0.1", &code, || {});
        assert!(
            matches!(
                step,
                Ok(Step::Done {
                    outcome: Outcome::Unavailable
                })
            ),
            "host {name}: not the unavailable outcome with PostgreSQL down: {step:?}\n{}",
            fleet.logs()
        );
        wait_for_log(host, UNREACHABLE, || fleet.logs());
    }
    let glass_login = Pamtester::new(&via_b, glass.name()).authenticate(&[]);
    assert!(
        glass_login.succeeded(),
        "the exempt break-glass account was refused with PostgreSQL down: {glass_login}\n{}",
        fleet.logs()
    );
    assert!(fleet.a.is_running(), "host A died:\n{}", fleet.logs());
    assert!(fleet.b.is_running(), "host B died:\n{}", fleet.logs());

    fleet.cluster.start_again();
    let started_again = Instant::now();
    // The code refused while the database was down was not used up.
    let recovered = loop {
        let login = Pamtester::new(&via_b, user.name()).authenticate(&[&code]);
        if login.succeeded() || started_again.elapsed() > RECONNECT_TIMEOUT {
            break login;
        }
        thread::sleep(RETRY_INTERVAL);
    };
    assert!(
        recovered.succeeded() && recovered.mentions(PAMTESTER_SUCCESS),
        "host B did not recover within {RECONNECT_TIMEOUT:?} of PostgreSQL's return: \
         {recovered}\n{}",
        fleet.logs()
    );
    println!(
        "host B logged in again {:?} after PostgreSQL came back",
        started_again.elapsed()
    );
    let next = enrollment.authenticator.next_code();
    let on_a = Pamtester::new(&via_a, user.name()).authenticate(&[&next]);
    assert!(
        on_a.succeeded(),
        "host A did not recover: {on_a}\n{}",
        fleet.logs()
    );
    assert!(fleet.a.is_running() && fleet.b.is_running());
    fleet.a.assert_log_omits(&enrollment.secrets());
    fleet.b.assert_log_omits(&enrollment.secrets());
}

#[test]
fn a_success_acknowledged_before_kill_9_is_refused_on_the_other_host() {
    const USERS: usize = 5;
    const RECOVERY_LOGINS_PER_USER: usize = 3;
    if !root_suite_ready() {
        return;
    }
    let mut fleet = Fleet::start(ONE_PROMPT_NO_LOCKOUT);
    let users: Vec<TestUser> = (0..USERS).map(|_| TestUser::create()).collect();
    // Enrollment hashes ten recovery codes per user: do it side by side.
    let enrollments: Vec<Enrollment> = thread::scope(|scope| {
        let enrolling: Vec<_> = users
            .iter()
            .map(|user| {
                let daemon = &fleet.a;
                scope.spawn(move || enroll_totp(daemon, user))
            })
            .collect();
        enrolling
            .into_iter()
            .map(|enrolling| enrolling.join().expect("enrollment thread"))
            .collect()
    });
    // Twenty fresh answers: each user's next TOTP code and three of its recovery codes.
    let answers: Vec<(&str, String)> = users
        .iter()
        .zip(&enrollments)
        .flat_map(|(user, enrollment)| {
            let totp = enrollment.authenticator.next_code();
            std::iter::once(totp)
                .chain(
                    enrollment.recovery_codes[..RECOVERY_LOGINS_PER_USER]
                        .iter()
                        .cloned(),
                )
                .map(move |answer| (user.name(), answer))
        })
        .collect();
    // Host A is killed once it acknowledged this many successes, with the rest in flight;
    // it varies from run to run (printed, to tell runs apart).
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since_epoch| since_epoch.subsec_nanos());
    let kill_after = 1 + usize::try_from(nanos).unwrap_or(0) % (answers.len() / 2);
    println!("killing host A after {kill_after} acknowledged successes");

    let acknowledged: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let all_prompted = Barrier::new(answers.len() + 1);
    let socket_a = fleet.a.root_socket();
    let steps: Vec<Result<Step, String>> = thread::scope(|scope| {
        let logins: Vec<_> = answers
            .iter()
            .enumerate()
            .map(|(i, (user, answer))| {
                let (socket, acknowledged, all_prompted) =
                    (&socket_a, &acknowledged, &all_prompted);
                scope.spawn(move || {
                    let rhost = format!("192.0.2.{}", i + 1);
                    let step = authenticate(socket, user, &rhost, answer, || {
                        all_prompted.wait();
                    });
                    if is_success(&step) {
                        acknowledged.lock().expect("acknowledged lock").push(i);
                    }
                    step
                })
            })
            .collect();
        all_prompted.wait();
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        while acknowledged.lock().expect("acknowledged lock").len() < kill_after
            && Instant::now() < deadline
        {
            thread::yield_now();
        }
        fleet.a.kill();
        logins
            .into_iter()
            .map(|login| login.join().expect("login thread"))
            .collect()
    });

    let acknowledged = acknowledged.into_inner().expect("acknowledged lock");
    let broken = steps.iter().filter(|step| step.is_err()).count();
    println!(
        "{} of {} logins acknowledged as a success before the kill, {broken} cut off by it, \
         {} answered otherwise",
        acknowledged.len(),
        answers.len(),
        answers.len() - acknowledged.len() - broken
    );
    assert!(!acknowledged.is_empty(), "{steps:?}\n{}", fleet.logs());
    for &i in &acknowledged {
        let (user, answer) = &answers[i];
        let replay = authenticate(&fleet.b.root_socket(), user, "198.51.100.1", answer, || {});
        assert!(
            is_refusal(&replay),
            "login {i} ({user}) was acknowledged as a success by host A before kill -9, and \
             host B then answered {replay:?} to the same answer\n{}",
            fleet.logs()
        );
    }
    for enrollment in &enrollments {
        fleet.a.assert_log_omits(&enrollment.secrets());
        fleet.b.assert_log_omits(&enrollment.secrets());
    }
}

#[test]
fn a_dump_holds_no_seed_and_a_host_with_another_key_fails_closed() {
    if !root_suite_ready() {
        return;
    }
    let fleet = Fleet::start_with_another_key_on_b(ONE_PROMPT_NO_LOCKOUT);
    let user = TestUser::create();
    let enrollment = enroll_totp(&fleet.a, &user);

    let dump = fleet.cluster.pg_dump();
    let rows = fleet.cluster.psql("copy mfa_users to stdout");
    assert!(
        rows.contains(user.name()),
        "no row for {} in mfa_users:\n{rows}",
        user.name()
    );
    for secret in secrets_in_every_spelling(&enrollment) {
        for (what, text) in [("pg_dump", &dump), ("copy mfa_users", &rows)] {
            assert!(
                !text.contains(&secret),
                "{what} contains the secret or a recovery code {secret:?}:\n{text}"
            );
        }
    }

    // Host B holds another key: it must not use (nor rewrite) the record host A wrote.
    let record = || {
        fleet.cluster.psql(&format!(
            "select encode(data, 'hex') from mfa_users where name = '{}'",
            user.name()
        ))
    };
    let before = record();
    let code = enrollment.authenticator.next_code();
    let step = authenticate(
        &fleet.b.root_socket(),
        user.name(),
        "127.0.0.1",
        &code,
        || {},
    );
    assert!(
        is_store_failure(&step),
        "host B with another key answered {step:?}, not an error outcome\n{}",
        fleet.logs()
    );
    let via_b = PamService::mfa_then_permit(fleet.b.socket(), "failmode=safe");
    let login = Pamtester::new(&via_b, user.name()).authenticate(&[&code]);
    assert!(
        failed_closed(&login),
        "host B with another key: {login}\n{}",
        fleet.logs()
    );
    // The line that says why names the user and the key (the record cannot be opened with
    // this host's key), not just "error".
    let says_why = fleet.b.log().lines().any(|line| {
        let line = line.to_lowercase();
        line.contains(user.name()) && line.contains("key") && !line.starts_with("audit: ")
    });
    assert!(
        says_why,
        "host B does not say that it cannot decrypt the record with its key:\n{}",
        fleet.logs()
    );
    assert!(
        !fleet.b.log().contains("sign_in_succeeded"),
        "{}",
        fleet.logs()
    );
    assert_eq!(record(), before, "host B changed the record it cannot read");

    // Host A, with the right key, still accepts the very code B refused.
    let via_a = PamService::mfa(fleet.a.socket(), "");
    let on_a = Pamtester::new(&via_a, user.name()).authenticate(&[&code]);
    assert!(on_a.succeeded(), "{on_a}\n{}", fleet.logs());
    fleet.a.assert_log_omits(&enrollment.secrets());
    fleet.b.assert_log_omits(&enrollment.secrets());
}

/// The phone the send-limit tests text.
const PHONE: &str = "+14155554567";
/// `otp.max_sends` in the send-limit tests.
const MAX_SENDS: usize = 3;

/// Host A and host B sending through `providers` with room for [`MAX_SENDS`] codes per user,
/// and a user whose only factor is [`PHONE`], saved unverified by root through host A.
fn texting_fleet(providers: &Providers) -> (Fleet, TestUser) {
    let fleet = Fleet::start(&format!(
        "max_tries = 1\n[otp]\nmax_sends = {MAX_SENDS}\n{}",
        providers.config()
    ));
    let user = TestUser::create();
    let saved = run(
        mfa_enroll(
            &fleet.a,
            None,
            &["phone", PHONE, "--unverified", "--user", user.name()],
        ),
        "",
    );
    assert!(
        saved.succeeded() && saved.stdout.contains("{\"enrolled\""),
        "saving the phone failed: {saved}\n{}",
        fleet.logs()
    );
    (fleet, user)
}

/// Issue 14 item 4: each daemon counted `max_sends` in its own memory, so two hosts on one
/// database sent one user twice as many codes (the review saw 5 + 5 with `max_sends = 5`).
/// Before the fix requests 4 to 6 here were sent too: 6 texts for a limit of 3.
#[test]
fn max_sends_counts_the_codes_of_both_hosts_together() {
    if !root_suite_ready() {
        return;
    }
    let providers = Providers::start();
    let (fleet, user) = texting_fleet(&providers);
    let hosts = [
        ("A", PamService::mfa(fleet.a.socket(), "")),
        ("B", PamService::mfa(fleet.b.socket(), "")),
    ];

    // Alternately on A and B, twice the limit; each sent code is used to log in.
    let mut seen = Vec::new();
    for request in 0..2 * MAX_SENDS {
        let (host, service) = &hosts[request % 2];
        let mut login = MenuLogin::new(Pamtester::new(service, user.name()).start());
        login.at_menu("1");
        login.wait_until_one_of(&[SEND_REFUSED, SENT_CODE_PROMPT]);
        let shown = login.output();
        if shown.contains(SENT_CODE_PROMPT) {
            let code = providers.sms_code(PHONE);
            login.at_code(&code);
            let done = login.finish();
            assert!(
                done.succeeded(),
                "request {} on host {host}: {done}\n{}",
                request + 1,
                fleet.logs()
            );
            seen.push(format!("{}: sent by {host}", request + 1));
        } else {
            assert!(
                shown.contains(SEND_REFUSED) && login.menu_shown_again(),
                "request {} on host {host}: neither a code prompt nor the refusal: {}\n{}",
                request + 1,
                login.output(),
                fleet.logs()
            );
            login.finish();
            seen.push(format!("{}: refused by {host}", request + 1));
        }
    }

    let expected: Vec<String> = (0..2 * MAX_SENDS)
        .map(|request| {
            let host = hosts[request % 2].0;
            let verdict = if request < MAX_SENDS {
                "sent"
            } else {
                "refused"
            };
            format!("{}: {verdict} by {host}", request + 1)
        })
        .collect();
    assert_eq!(
        seen,
        expected,
        "max_sends = {MAX_SENDS} across two hosts; the stand-in received {} texts\n{}",
        providers.twilio.requests(),
        fleet.logs()
    );
    assert_eq!(providers.twilio.requests(), MAX_SENDS, "{}", fleet.logs());
    for (name, daemon) in [("A", &fleet.a), ("B", &fleet.b)] {
        let refusals: Vec<_> = daemon
            .audit_events()
            .into_iter()
            .filter(|event| event["event"] == "send_refused")
            .collect();
        assert!(
            !refusals.is_empty()
                && refusals
                    .iter()
                    .all(|event| event["reason"] == "user_send_limit"
                        && event["user"] == user.name()),
            "host {name}: {refusals:?}\n{}",
            fleet.logs()
        );
    }
    fleet.a.assert_log_omits(&providers.secrets());
    fleet.b.assert_log_omits(&providers.secrets());
}

/// Issue 14 item 4, raced: eight requests for a text to one user, four on each host, all
/// prompted before any chooses, may not send more than `max_sends` between them. A check and
/// a count that are not one step in the store let racers through; before the fix each host
/// sent its own three (6 of 8).
#[test]
fn eight_racing_text_requests_on_two_hosts_send_at_most_max_sends() {
    const PER_HOST: usize = 4;
    if !root_suite_ready() {
        return;
    }
    let providers = Providers::start();
    let (fleet, user) = texting_fleet(&providers);

    let all_prompted = Barrier::new(2 * PER_HOST);
    let steps: Vec<Result<Step, String>> = thread::scope(|scope| {
        let racers: Vec<_> = (0..2 * PER_HOST)
            .map(|i| {
                let host = if i % 2 == 0 { &fleet.a } else { &fleet.b };
                let socket = host.root_socket();
                let (all_prompted, user) = (&all_prompted, &user);
                scope.spawn(move || {
                    let rhost = format!("192.0.2.{}", i + 1);
                    // "1": the text message, the menu's first option.
                    authenticate(&socket, user.name(), &rhost, "1", || {
                        all_prompted.wait();
                    })
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|racer| racer.join().expect("racer thread"))
            .collect()
    });

    // A racer that was sent a code is at the `Code: ` prompt; one refused is at the menu.
    let prompted_for_code = steps
        .iter()
        .filter(|step| matches!(step, Ok(Step::Prompt { text, .. }) if text == SENT_CODE_PROMPT))
        .count();
    let back_at_menu = steps
        .iter()
        .filter(
            |step| matches!(step, Ok(Step::Prompt { text, .. }) if text.starts_with(MENU_PROMPT)),
        )
        .count();
    let texts = providers.twilio.requests();
    assert!(
        texts <= MAX_SENDS,
        "max_sends = {MAX_SENDS}, {} racers on two hosts: {texts} texts sent\n{steps:?}\n{}",
        2 * PER_HOST,
        fleet.logs()
    );
    assert_eq!(
        (prompted_for_code, back_at_menu, texts),
        (MAX_SENDS, 2 * PER_HOST - MAX_SENDS, MAX_SENDS),
        "the racers within the limit get their code, the others the refusal\n{steps:?}\n{}",
        fleet.logs()
    );
}
