//! Concurrent authentications through the daemon: one thread per enrolled user, all
//! released at once each round, each speaking the protocol pam_mfa.so speaks (Authenticate,
//! Prompt, Answer with the code, Done) as root. Each round's codes are for a later time step
//! than the last, so every success is recorded durably by the daemon before it answers.

use std::path::Path;
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mfa_proto::{AuthRequest, Client, Outcome, Request, Secret, Step};

use crate::error::BenchError;
use crate::name_timing::root_socket;
use crate::roster;
use crate::schedule;
use crate::stats::{Summary, ms};

/// The docs/DESIGN.md target for the 99th percentile.
const P99_TARGET: Duration = Duration::from_millis(50);
/// Connect, read and write timeout of each connection (pam_mfa's default).
const TIMEOUT: Duration = mfa_proto::DEFAULT_TIMEOUT;
/// The PAM service the daemon is told about (it only shows up in audit lines).
const SERVICE: &str = "mfa-bench";
/// Error messages shown in the report at most.
const ERRORS_SHOWN: usize = 5;

/// One authentication's result.
struct Sample {
    round: usize,
    latency: Duration,
    result: Result<(), String>,
}

/// What to run.
#[derive(Debug)]
pub struct ConcurrencyPlan<'a> {
    /// The daemon's public socket (its privileged one is used when it exists).
    pub socket: &'a Path,
    /// The roster of enrolled users; rewritten with the steps used.
    pub roster: &'a Path,
    /// Threads: the roster's first this many users (all when `None`).
    pub threads: Option<usize>,
    /// Rounds; each authenticates every thread's user once, with a later time step.
    pub rounds: usize,
    /// What the report calls the daemon, e.g. `files`.
    pub label: &'a str,
}

/// Runs the benchmark and prints its table row, per-round lines and target line.
pub fn run(plan: &ConcurrencyPlan<'_>) -> Result<(), BenchError> {
    let mut all_users = roster::read(plan.roster)?;
    let threads = plan.threads.unwrap_or(all_users.len()).min(all_users.len());
    let rounds = plan.rounds;
    // Root's callers (sshd, sudo) use the privileged socket; on the public one root has a
    // user's share of connections, far fewer than the threads here.
    let socket = root_socket(plan.socket);
    let socket = socket.as_path();
    let barrier = Barrier::new(threads);
    let samples = Mutex::new(Vec::with_capacity(threads * rounds));
    let round_walls = Mutex::new(vec![(None::<Instant>, None::<Instant>); rounds]);
    eprintln!(
        "mfa-bench: {}: {threads} threads x {rounds} rounds of authentication",
        plan.label
    );
    thread::scope(|scope| {
        for user in all_users.iter_mut().take(threads) {
            let (barrier, samples, round_walls) = (&barrier, &samples, &round_walls);
            scope.spawn(move || {
                for round in 0..rounds {
                    // Waits (if this user's codes for the period are used up) before the
                    // barrier, so that every thread starts the round at once.
                    schedule::next_code(user);
                    barrier.wait();
                    // Taken again after the barrier: a code chosen before it may have
                    // expired while the others waited for their next step.
                    let (step, code) = schedule::next_code(user);
                    let started = Instant::now();
                    let result = authenticate(socket, &user.name, code.into());
                    let finished = Instant::now();
                    if result.is_ok() {
                        user.last_step = step;
                    }
                    if let Some((first, last)) = lock(round_walls).get_mut(round) {
                        *first = Some(first.map_or(started, |f| f.min(started)));
                        *last = Some(last.map_or(finished, |l| l.max(finished)));
                    }
                    lock(samples).push(Sample {
                        round,
                        latency: finished - started,
                        result,
                    });
                }
            });
        }
    });
    roster::write(plan.roster, &all_users)?;
    let samples = samples
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let walls: Vec<Duration> = round_walls
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .filter_map(|(first, last)| Some(last? - first?))
        .collect();
    print_report(plan.label, &samples, threads, rounds, &walls);
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One authentication conversation, answering the first prompt with `code`; `Ok` when the
/// daemon ends it with success.
pub(crate) fn authenticate(socket: &Path, user: &str, code: Secret) -> Result<(), String> {
    let mut client = Client::connect(socket, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    client
        .send(&Request::Authenticate {
            auth: AuthRequest {
                user: user.to_owned(),
                service: SERVICE.to_owned(),
                rhost: None,
                tty: None,
                ruser: None,
                auth_info: None,
                nullok: false,
            },
        })
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = Some(code);
    loop {
        match client.recv::<Step>().map_err(|e| format!("receive: {e}"))? {
            Step::Prompt { .. } => {
                let text = answer
                    .take()
                    .ok_or("prompted again: the code was refused")?;
                client
                    .send(&Request::Answer { text })
                    .map_err(|e| format!("send answer: {e}"))?;
            }
            Step::Info { .. } | Step::StripPassword { .. } => {}
            Step::Error { text } => return Err(format!("daemon: {text}")),
            Step::Done {
                outcome: Outcome::Success,
            } => return Ok(()),
            Step::Done { outcome } => return Err(format!("outcome {outcome:?}")),
            Step::Failed { message, .. } => return Err(format!("refused: {message}")),
        }
    }
}

fn print_report(
    label: &str,
    samples: &[Sample],
    threads: usize,
    rounds: usize,
    walls: &[Duration],
) {
    let latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    let errors: Vec<&Sample> = samples.iter().filter(|s| s.result.is_err()).collect();
    let Some(all) = Summary::of(&latencies) else {
        println!("| {label} | {threads} | 0 | 0 | - | - | - | - | - | - |");
        return;
    };
    let wall = Summary::of(walls);
    let (wall_ms, throughput) = match wall {
        Some(w) => (
            format!("{:.1}", w.p50),
            format!("{:.0}", threads as f64 / w.p50 * 1000.0),
        ),
        None => ("-".to_owned(), "-".to_owned()),
    };
    println!(
        "| {label} | {threads} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {wall_ms} | {throughput} |",
        all.count,
        errors.len(),
        all.p50,
        all.p90,
        all.p99,
        all.max
    );
    let per_round: Vec<String> = (0..rounds)
        .filter_map(|round| {
            let of_round: Vec<Duration> = samples
                .iter()
                .filter(|s| s.round == round)
                .map(|s| s.latency)
                .collect();
            Summary::of(&of_round).map(|s| format!("{:.1} / {:.1} / {:.1}", s.p50, s.p99, s.max))
        })
        .collect();
    println!(
        "- {label}, {threads} at once, per round (p50 / p99 / max ms): {}",
        per_round.join("; ")
    );
    for sample in errors.iter().take(ERRORS_SHOWN) {
        if let Err(why) = &sample.result {
            println!(
                "- {label}, {threads} at once: error in round {}: {why}",
                sample.round + 1
            );
        }
    }
    let met = errors.is_empty() && all.p99 < ms(P99_TARGET);
    println!(
        "Target: {label}, {threads} concurrent: no errors and p99 under {} ms: {} ({} errors, p99 {:.2} ms).",
        ms(P99_TARGET),
        if met { "MET" } else { "NOT MET" },
        errors.len(),
        all.p99
    );
}
