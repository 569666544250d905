//! How long the daemon takes to start: from spawning `mfa-daemon --config FILE` to its
//! "listening on" line on stderr (both sockets bound and listening; READY=1 is sent at the
//! same point), and its resident set at that moment. The daemon is killed after each start;
//! the file engine's instance lock goes with the process.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::stats::Summary;

/// What the daemon prints once it accepts connections.
const READY_LINE: &str = "listening on";

/// Starts the daemon `starts` times and prints one Markdown table row: label | starts |
/// median ms | min ms | max ms | RSS at that point (median, KiB).
pub fn run(daemon: &Path, config: &Path, starts: usize, label: &str) -> Result<(), BenchError> {
    let mut times = Vec::with_capacity(starts);
    let mut rss = Vec::with_capacity(starts);
    for _ in 0..starts {
        let (time, kib) = start_once(daemon, config)?;
        times.push(time);
        rss.push(kib as f64);
    }
    let (Some(t), Some(r)) = (Summary::of(&times), Summary::of_ms(&rss)) else {
        return Err(BenchError::Usage("--starts must be at least 1".to_owned()));
    };
    let min = times.iter().min().copied().unwrap_or_default();
    println!(
        "| {label} | {} | {:.1} | {:.1} | {:.1} | {:.1} MiB |",
        t.count,
        t.p50,
        min.as_secs_f64() * 1000.0,
        t.max,
        r.p50 / 1024.0
    );
    Ok(())
}

fn start_once(daemon: &Path, config: &Path) -> Result<(Duration, u64), BenchError> {
    let started = Instant::now();
    let mut child = Command::new(daemon)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(BenchError::io(format!("run {}", daemon.display())))?;
    let mut ready = None;
    let mut said = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(READY_LINE) {
                ready = Some(started.elapsed());
                break;
            }
            said.push(line);
        }
    }
    let kib = fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    // Killed (not asked to stop): only the time to readiness is measured here.
    let _ = child.kill();
    let _ = child.wait();
    match ready {
        Some(time) => Ok((time, kib)),
        None => Err(BenchError::Program {
            program: daemon.to_owned(),
            why: format!("did not say it was listening: {}", said.join(" / ")),
        }),
    }
}
