//! One login for each of a slice of roster users, a few at a time, through the daemon's
//! protocol as root (as [`crate::concurrency`] does): for the memory of a daemon with many
//! records after many of them were read, and for the profile of a login. The steps used are
//! written back to the roster, so that a later run of any subcommand picks later codes.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::concurrency::authenticate;
use crate::error::BenchError;
use crate::name_timing::root_socket;
use crate::roster::{self, BenchUser};
use crate::schedule;
use crate::stats::Summary;

/// Error messages shown in the report at most.
const ERRORS_SHOWN: usize = 3;

/// What to run.
#[derive(Debug)]
pub struct SweepPlan<'a> {
    /// The daemon's public socket (its privileged one is used when it exists).
    pub socket: &'a Path,
    /// The roster; rewritten with the steps used.
    pub roster: &'a Path,
    /// Index of the first user of the slice, and how many.
    pub first: usize,
    pub count: usize,
    /// Logins at a time.
    pub jobs: usize,
    /// The first cell of the row printed.
    pub label: &'a str,
}

/// Runs the logins and prints one Markdown table row: label | logins | errors | p50 | p90 |
/// p99 | max (ms) | wall s | logins/s.
pub fn run(plan: &SweepPlan<'_>) -> Result<(), BenchError> {
    let mut users = roster::read(plan.roster)?;
    let end = plan.first.saturating_add(plan.count).min(users.len());
    let slice = users.get_mut(plan.first..end).unwrap_or_default();
    let socket = root_socket(plan.socket);
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<&mut BenchUser>> = slice.iter_mut().map(Mutex::new).collect();
    let results: Mutex<Vec<Result<Duration, String>>> = Mutex::new(Vec::new());
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..plan.jobs.max(1) {
            scope.spawn(|| {
                while let Some(slot) = slots.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut user = slot
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let (step, code) = schedule::next_code(&user);
                    let login_started = Instant::now();
                    let result = authenticate(&socket, &user.name, code.into());
                    let elapsed = login_started.elapsed();
                    if result.is_ok() {
                        user.last_step = step;
                    }
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(result.map(|()| elapsed));
                }
            });
        }
    });
    let wall = started.elapsed();
    drop(slots);
    roster::write(plan.roster, &users)?;
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let times: Vec<Duration> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .copied()
        .collect();
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    for why in errors.iter().take(ERRORS_SHOWN) {
        eprintln!("mfa-bench: {}: {why}", plan.label);
    }
    let cells = Summary::of(&times).map_or_else(
        || "- | - | - | -".to_owned(),
        |s| format!("{:.2} | {:.2} | {:.2} | {:.2}", s.p50, s.p90, s.p99, s.max),
    );
    println!(
        "| {} | {} | {} | {cells} | {:.1} | {:.0} |",
        plan.label,
        results.len(),
        errors.len(),
        wall.as_secs_f64(),
        times.len() as f64 / wall.as_secs_f64()
    );
    Ok(())
}
