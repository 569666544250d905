//! Security invariant 3 under kill -9, the crash-safety proof of the file engine: the daemon is
//! killed over and over at a random moment while logins with fresh codes are in flight, and
//! restarted on the same state directory. Every restart must come up and serve (no torn
//! record: a torn one fails a login with an internal error), and every answer whose success
//! was acknowledged before the kill must be refused afterwards (the used step was durable
//! before the success was sent).
//!
//! Fresh answers are TOTP codes: with `skew = 10` and `period = 15` each user has 21
//! acceptable steps, usable in increasing order, and one more every 15 s; a few dozen users
//! give the few hundred answers the kills need.
//!
//! The run is random but replayable: it prints its seed, and `MFAT_CRASH_SEED=N` repeats it.

use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use data_encoding::BASE32_NOPAD;
use mfa_proto::{AuthRequest, Client, FailureKind, Outcome, Request, Response, Step};
use mfa_tests::{Daemon, TestUser, root_suite_ready};
use totp_rs::{Algorithm, TOTP};

/// Kills of the daemon, each with logins in flight.
const KILLS: usize = 200;
/// Enrolled accounts; each login slot of an iteration takes a different one.
const USERS: usize = 24;
/// Most logins in flight at one kill.
const MAX_SLOTS: usize = 3;
/// Seconds per TOTP step and steps accepted either side of now (the largest skew allowed).
const PERIOD: u64 = 15;
const SKEW: u64 = 10;
/// Steps this close to the old edge of the window are not used: a code chosen now must still
/// be inside the window when the daemon checks it (and when its replay is checked).
const EDGE_MARGIN: u64 = 2;
/// One prompt per login; failure limits far above the replays the checks cause.
const SETTINGS: &str = "max_tries = 1\n\
                        [totp]\nperiod = 15\nskew = 10\n\
                        [limits]\nmax_failures = 1000\naccount_max_failures = 100000\n";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Overrides the time-based seed, to replay a failed run.
const SEED_ENV: &str = "MFAT_CRASH_SEED";

/// splitmix64: enough randomness for delays and choices, and replayable from its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn seed() -> u64 {
    match std::env::var(SEED_ENV) {
        Ok(seed) => seed
            .parse()
            .unwrap_or_else(|e| panic!("{SEED_ENV}={seed:?} is not a number: {e}")),
        Err(_) => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
            u64::try_from(now.as_nanos() % u128::from(u64::MAX)).expect("fits")
        }
    }
}

fn current_step() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        / PERIOD
}

/// An enrolled account and the TOTP steps used on it so far.
struct Account {
    user: TestUser,
    totp: TOTP,
    /// The latest step sent (acknowledged or not): later answers must use later steps.
    last_sent: u64,
}

impl Account {
    /// The step this account's next fresh answer uses, if the window has one now.
    fn next_step(&self) -> Option<u64> {
        let now = current_step();
        let step = (self.last_sent + 1).max(now - SKEW + EDGE_MARGIN);
        (step <= now + SKEW).then_some(step)
    }

    fn code(&self, step: u64) -> String {
        self.totp.generate(step * PERIOD)
    }
}

/// Enrolls `user` over the protocol as root, confirming with a code from near the old edge of
/// the window so that nearly the whole window is left for the test.
fn enroll(socket: &Path, user: TestUser) -> Account {
    let mut client = Client::connect(socket, CLIENT_TIMEOUT).expect("connect to enroll");
    let started = client.call::<Response>(&Request::EnrollTotp {
        user: user.name().to_owned(),
        proof: None,
        label: None,
    });
    let Ok(Response::TotpEnrollment(pending)) = started else {
        panic!("enrolling {} did not start: {started:?}", user.name());
    };
    let uri = pending.otpauth_uri.expose();
    let parameter = |name: &str| {
        uri.split_once('?')
            .into_iter()
            .flat_map(|(_, query)| query.split('&'))
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    assert!(
        parameter("period") == Some("15")
            && parameter("digits").unwrap_or("6") == "6"
            && parameter("algorithm").unwrap_or("SHA1") == "SHA1",
        "not the configured TOTP parameters (SHA1, 6 digits, {PERIOD} s): {uri}"
    );
    let key = BASE32_NOPAD
        .decode(pending.secret.expose().trim_end_matches('=').as_bytes())
        .expect("the secret is base32");
    let totp = TOTP::new_unchecked(Algorithm::SHA1, 6, 0, PERIOD, key);
    let step = current_step() - SKEW + EDGE_MARGIN;
    let confirmed = client.call::<Response>(&Request::ConfirmTotp {
        code: totp.generate(step * PERIOD).into(),
    });
    assert!(
        matches!(confirmed, Ok(Response::RecoveryCodes { .. })),
        "confirming {} failed: {confirmed:?}",
        user.name()
    );
    Account {
        user,
        totp,
        last_sent: step,
    }
}

fn auth_request(user: &str) -> AuthRequest {
    AuthRequest {
        user: user.to_owned(),
        service: "mfat-crash".to_owned(),
        rhost: Some("127.0.0.1".to_owned()),
        tty: None,
        ruser: None,
        auth_info: None,
        nullok: false,
    }
}

/// Opens a login for `user` and reads up to its prompt, so that only the answer is left.
fn open_login(socket: &Path, user: &str) -> Result<Client, String> {
    let mut client = Client::connect(socket, CLIENT_TIMEOUT).map_err(|e| e.to_string())?;
    client
        .send(&Request::Authenticate {
            auth: auth_request(user),
        })
        .map_err(|e| e.to_string())?;
    loop {
        match client.recv::<Step>().map_err(|e| e.to_string())? {
            Step::Prompt { .. } => return Ok(client),
            Step::Info { .. } | Step::Error { .. } => {}
            other => return Err(format!("no prompt: {other:?}")),
        }
    }
}

/// Sends `answer` and reads the verdict: `None` when the daemon died before giving one.
fn answer(client: &mut Client, answer: &str) -> Option<Step> {
    client
        .send(&Request::Answer {
            text: answer.into(),
        })
        .ok()?;
    loop {
        match client.recv::<Step>().ok()? {
            Step::Info { .. } | Step::Error { .. } => {}
            verdict => return Some(verdict),
        }
    }
}

/// What became of one answer sent while the daemon was being killed.
enum Fate {
    /// The daemon died before the answer could be sent.
    NotSent,
    /// Sent, and no verdict came: the kill landed while the daemon worked on it.
    Unacknowledged,
    /// The daemon's verdict.
    Verdict(Step),
}

/// One login in flight: which account, which step, and what became of it.
struct Slot {
    account: usize,
    step: u64,
    fate: Fate,
}

fn is_success(step: &Step) -> bool {
    matches!(
        step,
        Step::Done {
            outcome: Outcome::Success
        }
    )
}

fn is_internal(step: &Step) -> bool {
    matches!(
        step,
        Step::Failed {
            kind: FailureKind::Internal,
            ..
        } | Step::Done {
            outcome: Outcome::Error
        }
    )
}

/// What the whole run saw, for the closing line.
#[derive(Default)]
struct Tally {
    kills: usize,
    kills_mid_write: usize,
    answers_sent: usize,
    acknowledged: usize,
    unacknowledged: usize,
    replays_refused: usize,
    kills_with_a_short_delay: usize,
}

struct Run {
    daemon: Daemon,
    socket: PathBuf,
    accounts: Vec<Account>,
    random: Random,
    seed: u64,
    /// Acknowledged successes not yet checked after a restart: (account, step).
    to_check: Vec<(usize, u64)>,
    tally: Tally,
}

impl Run {
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n(seed {}: rerun with {SEED_ENV}={})\n{}",
            self.seed,
            self.seed,
            self.daemon.log_section()
        )
    }

    /// After a restart: every acknowledged answer is refused now, as a replay, and nothing
    /// fails with an internal error.
    fn check_acknowledged_answers_are_refused(&mut self) {
        for (account, step) in std::mem::take(&mut self.to_check) {
            let name = self.accounts[account].user.name().to_owned();
            let code = self.accounts[account].code(step);
            let mut client = open_login(&self.socket, &name).unwrap_or_else(|e| {
                self.fail(&format!("after a restart, no login for {name}: {e}"))
            });
            match answer(&mut client, &code) {
                Some(Step::Done {
                    outcome: Outcome::Failure,
                }) => self.tally.replays_refused += 1,
                verdict => self.fail(&format!(
                    "after kill -9 and restart, the acknowledged answer of {name} (step {step}) \
                     got {verdict:?} instead of a refusal"
                )),
            }
        }
    }

    /// Accounts for the next logins: distinct, with a fresh step each. Waits for the window
    /// to move on if every account has used up its steps.
    fn pick_accounts(&mut self) -> Vec<(usize, u64)> {
        let wanted = 1 + usize::try_from(self.random.below(MAX_SLOTS as u64)).expect("small");
        loop {
            let mut ready: Vec<(usize, u64)> = self
                .accounts
                .iter()
                .enumerate()
                .filter_map(|(index, account)| Some((index, account.next_step()?)))
                .collect();
            if !ready.is_empty() {
                let mut picked = Vec::new();
                while picked.len() < wanted && !ready.is_empty() {
                    let at = usize::try_from(self.random.below(ready.len() as u64)).expect("small");
                    picked.push(ready.swap_remove(at));
                }
                return picked;
            }
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// Opens logins for fresh answers, sends them all at once and kills the daemon after a
    /// random delay; returns what became of each.
    fn logins_cut_by_a_kill(&mut self) -> Vec<Slot> {
        let picked = self.pick_accounts();
        let mut clients = Vec::new();
        for &(account, step) in &picked {
            let name = self.accounts[account].user.name().to_owned();
            let client = open_login(&self.socket, &name)
                .unwrap_or_else(|e| self.fail(&format!("no login for {name}: {e}")));
            self.accounts[account].last_sent = step;
            clients.push((client, self.accounts[account].code(step)));
        }
        // Half of the kills come within 3 ms, when the answers are still being worked on;
        // the rest anywhere up to 30 ms.
        let delay_us = if self.random.below(2) == 0 {
            self.tally.kills_with_a_short_delay += 1;
            self.random.below(3_000)
        } else {
            self.random.below(30_000)
        };
        let start = Barrier::new(clients.len() + 1);
        let fates: Vec<Fate> = thread::scope(|scope| {
            let logins: Vec<_> = clients
                .into_iter()
                .map(|(mut client, code)| {
                    let start = &start;
                    scope.spawn(move || {
                        start.wait();
                        if client
                            .send(&Request::Answer {
                                text: code.as_str().into(),
                            })
                            .is_err()
                        {
                            return Fate::NotSent;
                        }
                        loop {
                            match client.recv::<Step>() {
                                Ok(Step::Info { .. } | Step::Error { .. }) => {}
                                Ok(verdict) => return Fate::Verdict(verdict),
                                Err(_) => return Fate::Unacknowledged,
                            }
                        }
                    })
                })
                .collect();
            start.wait();
            thread::sleep(Duration::from_micros(delay_us));
            self.daemon.kill();
            logins
                .into_iter()
                .map(|login| login.join().expect("login thread"))
                .collect()
        });
        picked
            .into_iter()
            .zip(fates)
            .map(|((account, step), fate)| Slot {
                account,
                step,
                fate,
            })
            .collect()
    }

    fn record(&mut self, slots: Vec<Slot>) {
        let mut mid_write = false;
        for slot in slots {
            let name = self.accounts[slot.account].user.name().to_owned();
            match slot.fate {
                Fate::NotSent => {}
                Fate::Unacknowledged => {
                    self.tally.answers_sent += 1;
                    self.tally.unacknowledged += 1;
                    mid_write = true;
                }
                Fate::Verdict(verdict) if is_success(&verdict) => {
                    self.tally.answers_sent += 1;
                    self.tally.acknowledged += 1;
                    self.to_check.push((slot.account, slot.step));
                }
                Fate::Verdict(verdict) if is_internal(&verdict) => self.fail(&format!(
                    "a fresh answer of {name} (step {}) failed inside the daemon (a torn or \
                     lost record?): {verdict:?}",
                    slot.step
                )),
                Fate::Verdict(verdict) => self.fail(&format!(
                    "a fresh answer of {name} (step {}, later than every step sent before) \
                     was refused: {verdict:?}",
                    slot.step
                )),
            }
        }
        self.tally.kills += 1;
        if mid_write {
            self.tally.kills_mid_write += 1;
        }
    }
}

#[test]
fn kill_9_during_logins_never_tears_a_record_or_forgets_a_used_code() {
    if !root_suite_ready() {
        return;
    }
    let started = Instant::now();
    let seed = seed();
    eprintln!("crash test seed: {seed} (rerun with {SEED_ENV}={seed})");
    let daemon = Daemon::start_with(SETTINGS);
    let socket = daemon.root_socket();
    let users: Vec<TestUser> = (0..USERS).map(|_| TestUser::create()).collect();
    // Two at a time: enrollment hashes ten recovery codes with argon2, and there are 2 cores.
    let mut accounts = Vec::new();
    let mut users = users.into_iter();
    loop {
        let pair: Vec<TestUser> = users.by_ref().take(2).collect();
        if pair.is_empty() {
            break;
        }
        accounts.extend(thread::scope(|scope| {
            let enrolling: Vec<_> = pair
                .into_iter()
                .map(|user| scope.spawn(|| enroll(&socket, user)))
                .collect();
            enrolling
                .into_iter()
                .map(|e| e.join().expect("enroll thread"))
                .collect::<Vec<_>>()
        }));
    }
    let enrolled_in = started.elapsed();
    let mut run = Run {
        daemon,
        socket,
        accounts,
        random: Random(seed),
        seed,
        to_check: Vec::new(),
        tally: Tally::default(),
    };

    while run.tally.kills < KILLS {
        let slots = run.logins_cut_by_a_kill();
        run.record(slots);
        run.daemon.restart();
        run.check_acknowledged_answers_are_refused();
    }

    // The state directory still serves every account a fresh code after all the kills.
    let everyone: Vec<usize> = (0..run.accounts.len()).collect();
    for account in everyone {
        let name = run.accounts[account].user.name().to_owned();
        let Some(step) = run.accounts[account].next_step() else {
            continue;
        };
        run.accounts[account].last_sent = step;
        let code = run.accounts[account].code(step);
        let mut client = open_login(&run.socket, &name)
            .unwrap_or_else(|e| run.fail(&format!("no login for {name}: {e}")));
        let verdict = answer(&mut client, &code);
        if !verdict.as_ref().is_some_and(is_success) {
            run.fail(&format!(
                "after {KILLS} kills a fresh code of {name} got {verdict:?}"
            ));
        }
    }
    let tally = &run.tally;
    eprintln!(
        "crash test: {} kills, {} of them mid-write (answers sent, no verdict yet); {} answers \
         sent: {} acknowledged (each refused after the restart: {}), {} unacknowledged; {} kills \
         within 3 ms; {USERS} users enrolled in {:.1} s, whole run {:.1} s (seed {seed})",
        tally.kills,
        tally.kills_mid_write,
        tally.answers_sent,
        tally.acknowledged,
        tally.replays_refused,
        tally.unacknowledged,
        tally.kills_with_a_short_delay,
        enrolled_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(tally.replays_refused, tally.acknowledged);
}
