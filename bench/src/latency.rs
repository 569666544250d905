//! Latency of whole PAM authentications: `pamtester SERVICE USER authenticate` under
//! pam_wrapper (a private service directory, so /etc/pam.d is untouched), timed from spawn to
//! exit. A stack's added latency is its median minus the baseline's: process start, dynamic
//! loading, pam_wrapper and libpam cost the same in both and cancel out.
//!
//! Stacks are interleaved run by run, in an order that rotates, so that drift of the machine
//! (frequency, other load, cache) falls on every stack alike. Every run of a measured stack
//! uses the next user of its roster with a fresh code, because every verifier here refuses a
//! code it has accepted before.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::{LatencyTarget, StackArg};
use crate::error::BenchError;
use crate::pamtester::{self, Output};
use crate::roster::{self, BenchUser};
use crate::schedule;
use crate::stats::{Summary, ms};

/// What a stack without a roster (the baseline) is given to answer, so that every run is
/// fed the same way.
const FIXED_ANSWER: &str = "-";
/// The user a stack without a roster is run for.
const FIXED_USER: &str = "bench-user";
/// Runs at the start that warm caches and are not counted (one per stack).
const WARMUP_SLOTS: usize = 1;

struct Stack {
    label: String,
    service: String,
    /// `None` for a stack that needs no valid code.
    users: Option<Vec<BenchUser>>,
    samples: Vec<Duration>,
    /// This stack's run minus the baseline's run of the same slot, in ms.
    paired: Vec<f64>,
    failures: usize,
}

/// Runs the benchmark and prints its table.
pub fn run(
    pam_dir: &Path,
    baseline: StackArg,
    measured: Vec<StackArg>,
    rounds: usize,
    target: Option<LatencyTarget>,
) -> Result<(), BenchError> {
    let mut stacks = vec![Stack::new(baseline, None)];
    for arg in measured {
        let users = arg.roster.as_deref().map(roster::read).transpose()?;
        stacks.push(Stack::new(arg, users));
    }
    let slots = stacks
        .iter()
        .filter_map(|s| s.users.as_ref().map(Vec::len))
        .min()
        .unwrap_or(0);
    if slots <= WARMUP_SLOTS {
        return Err(BenchError::Usage(format!(
            "at least one stack needs a roster, and every roster more than {WARMUP_SLOTS} users"
        )));
    }
    let started = Instant::now();
    for round in 0..rounds {
        eprintln!(
            "mfa-bench: latency round {}/{rounds} ({slots} runs of each of {} stacks)",
            round + 1,
            stacks.len()
        );
        for slot in 0..slots {
            let counted = round > 0 || slot >= WARMUP_SLOTS;
            let mut times: Vec<Option<Duration>> = vec![None; stacks.len()];
            for k in 0..stacks.len() {
                let index = (k + slot + round) % stacks.len();
                if let Some(stack) = stacks.get_mut(index) {
                    let time = stack.run_once(pam_dir, slot)?;
                    if let Some(t) = times.get_mut(index) {
                        *t = time;
                    }
                }
            }
            if counted {
                record(&mut stacks, &times);
            }
        }
    }
    print_report(&stacks, rounds, slots, started.elapsed(), target.as_ref());
    Ok(())
}

impl Stack {
    fn new(arg: StackArg, users: Option<Vec<BenchUser>>) -> Stack {
        Stack {
            label: arg.label,
            service: arg.service,
            users,
            samples: Vec::new(),
            paired: Vec::new(),
            failures: 0,
        }
    }

    /// One pamtester run for the user of `slot`; its time if it authenticated.
    fn run_once(&mut self, pam_dir: &Path, slot: usize) -> Result<Option<Duration>, BenchError> {
        let user = self.users.as_mut().and_then(|users| users.get_mut(slot));
        let (name, answer, step) = match user.as_deref() {
            Some(user) => {
                let (step, code) = schedule::next_code(user);
                (user.name.clone(), code, Some(step))
            }
            None => (FIXED_USER.to_owned(), FIXED_ANSWER.to_owned(), None),
        };
        let run = pamtester::run(pam_dir, &self.service, &name, &answer, Output::Discard)?;
        if !run.succeeded {
            self.failures += 1;
            eprintln!(
                "mfa-bench: {} refused {name} (step {step:?}); not counted",
                self.label
            );
            return Ok(None);
        }
        if let (Some(user), Some(step)) = (user, step) {
            user.last_step = step;
        }
        Ok(Some(run.elapsed))
    }
}

fn record(stacks: &mut [Stack], times: &[Option<Duration>]) {
    let baseline = times.first().copied().flatten();
    for (stack, time) in stacks.iter_mut().zip(times) {
        if let Some(time) = time {
            stack.samples.push(*time);
            if let Some(baseline) = baseline {
                stack.paired.push(ms(*time) - ms(baseline));
            }
        }
    }
}

fn print_report(
    stacks: &[Stack],
    rounds: usize,
    slots: usize,
    elapsed: Duration,
    target: Option<&LatencyTarget>,
) {
    let baseline = stacks.first().and_then(|s| Summary::of(&s.samples));
    println!(
        "{rounds} rounds x {slots} users, stacks interleaved run by run in rotating order; \
         the first {WARMUP_SLOTS} run of each stack not counted; {:.0} s.\n",
        elapsed.as_secs_f64()
    );
    println!(
        "| stack | runs | refused | median ms | p90 ms | added: median - baseline median | \
         added: median of paired differences |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut verdict = None;
    for (index, stack) in stacks.iter().enumerate() {
        let Some(summary) = Summary::of(&stack.samples) else {
            println!(
                "| {} | 0 | {} | - | - | - | - |",
                stack.label, stack.failures
            );
            continue;
        };
        let (added, paired) = if index == 0 {
            ("(baseline)".to_owned(), "(baseline)".to_owned())
        } else {
            let added = baseline.map(|b| summary.p50 - b.p50);
            let paired = Summary::of_ms(&stack.paired).map(|p| p.p50);
            if let (Some(target), Some(added)) = (target, added) {
                if target.label == stack.label {
                    verdict = Some((added, paired));
                }
            }
            (fmt_ms(added), fmt_ms(paired))
        };
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {added} | {paired} |",
            stack.label, summary.count, stack.failures, summary.p50, summary.p90
        );
    }
    println!();
    match (target, verdict) {
        (Some(target), Some((added, paired))) => {
            let met =
                added <= target.max_added_ms && paired.is_none_or(|p| p <= target.max_added_ms);
            println!(
                "Target: {} adds at most {} ms: {} (median - baseline median {added:.2} ms, \
                 median of paired differences {}).",
                target.label,
                target.max_added_ms,
                if met { "MET" } else { "NOT MET" },
                fmt_ms(paired),
            );
        }
        (Some(target), None) => {
            println!("Target: {}: no successful runs to judge.", target.label)
        }
        (None, _) => {}
    }
}

fn fmt_ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:+.2} ms"))
}
