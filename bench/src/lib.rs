//! Benchmarks of pam-mfa, run by `bench/run.sh`, beside the local TOTP modules people compare
//! it with (pam_oath, google-authenticator-libpam). The targets are in `docs/DESIGN.md`,
//! "Performance targets"; this binary measures and reports, it never fails on a slow figure.
//!
//! Subcommands:
//! - `secrets`: bench users with random TOTP secrets, for modules configured from files;
//! - `enroll`: bench users enrolled in `mfa-daemon` through `mfa-enroll --json`;
//! - `latency`: interleaved `pamtester` runs of several PAM stacks, each authentication with a
//!   fresh valid code, and what each stack adds to a baseline (`pam_permit`);
//! - `concurrency`: many threads authenticating at once through the daemon's real protocol;
//! - `write-records`: many user records written straight into a state directory;
//! - `sweep`: one protocol login for each of many users, a few at a time;
//! - `startup`: the daemon's time from spawn to listening;
//! - `fs-probe`: the cost of each step of the daemon's durable record writes on a filesystem;
//! - `profile-daemon`, `profile-module`: where a login's time goes, from strace logs;
//! - `name-timing`: whether the daemon's answer time tells unknown, invalid, unenrolled and
//!   enrolled names apart;
//! - `approval`: pamtester logins approved on the phone through mfa-web and headless
//!   Chromium, and mfa-web's memory;
//! - `radius-users`, `radius-load`: RADIUS servers (FreeRADIUS with rlm_pam, mfa-radius)
//!   under Access-Requests with fresh HOTP codes, N outstanding;
//! - `logins`, `flood-connections`, `flood-recovery`: root's logins while an unprivileged
//!   user attacks the daemon (driven by `bench/attack.sh`).
//!
//! Results are Markdown on stdout; progress and errors go to stderr.
#![forbid(unsafe_code)]

mod approval;
mod cli;
mod concurrency;
mod enroll;
mod error;
mod flood;
mod fs_probe;
mod latency;
mod logins;
mod name_timing;
mod pamtester;
mod profile;
mod radius;
mod records;
mod roster;
mod schedule;
mod sent_code;
mod startup;
mod stats;
mod sweep;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use cli::{Cli, Command};
use error::BenchError;

/// Runs the subcommand named on the command line.
///
/// Exit status: 0 when the measurement ran (whatever the figures), 1 when it could not run.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Nothing useful is left to do if stderr itself is gone.
            let _ = writeln!(io::stderr(), "mfa-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), BenchError> {
    match command {
        Command::Secrets { prefix, count, out } => {
            roster::write(&out, &roster::random_users(&prefix, count)?)
        }
        Command::Enroll {
            mfa_enroll,
            socket,
            prefix,
            first,
            count,
            jobs,
            out,
            codes_out,
        } => {
            let enrolled = enroll::enroll_all(&mfa_enroll, &socket, &prefix, first, count, jobs)?;
            let users: Vec<roster::BenchUser> = enrolled.iter().map(|e| e.user.clone()).collect();
            roster::write(&out, &users)?;
            match codes_out {
                Some(path) => {
                    let codes: Vec<roster::RecoveryCode> = enrolled
                        .iter()
                        .flat_map(|e| {
                            e.recovery_codes.iter().map(|code| roster::RecoveryCode {
                                user: e.user.name.clone(),
                                code: code.clone(),
                            })
                        })
                        .collect();
                    roster::write_codes(&path, &codes)
                }
                None => Ok(()),
            }
        }
        Command::Latency {
            pam_dir,
            baseline,
            stacks,
            rounds,
            target,
        } => latency::run(&pam_dir, baseline, stacks, rounds, target),
        Command::Concurrency {
            socket,
            roster,
            threads,
            rounds,
            label,
        } => concurrency::run(&concurrency::ConcurrencyPlan {
            socket: &socket,
            roster: &roster,
            threads,
            rounds,
            label: &label,
        }),
        Command::WriteRecords {
            state_dir,
            prefix,
            count,
            out,
        } => records::write(&state_dir, &prefix, count, &out),
        Command::Sweep {
            socket,
            roster,
            first,
            count,
            jobs,
            label,
        } => sweep::run(&sweep::SweepPlan {
            socket: &socket,
            roster: &roster,
            first,
            count,
            jobs,
            label: &label,
        }),
        Command::Startup {
            daemon,
            config,
            starts,
            label,
        } => startup::run(&daemon, &config, starts, &label),
        Command::ProfileDaemon { strace, logins } => profile::daemon(&strace, logins),
        Command::ProfileModule {
            pam_dir,
            baseline,
            service,
            roster,
            runs,
            out_dir,
        } => profile::module(&profile::ModulePlan {
            pam_dir: &pam_dir,
            baseline: &baseline,
            service: &service,
            roster: &roster,
            runs,
            out_dir: &out_dir,
        }),
        Command::FsProbe {
            dir,
            record_bytes,
            writes,
        } => fs_probe::run(&dir, record_bytes, writes),
        Command::Logins {
            pam_dir,
            service,
            roster,
            codes,
            count,
            ignore_marker,
        } => logins::run(&logins::LoginPlan {
            pam_dir: &pam_dir,
            service: &service,
            roster: &roster,
            codes: codes.as_deref(),
            count,
            ignore_marker: ignore_marker.as_deref(),
        }),
        Command::FloodConnections {
            socket,
            processes,
            threads,
            seconds,
            stop_file,
        } => flood::connections(
            &socket,
            processes,
            threads,
            &flood::AttackEnd {
                duration: Duration::from_secs(seconds),
                stop_file,
            },
        ),
        Command::FloodRecovery {
            socket,
            user,
            threads,
            seconds,
            stop_file,
        } => flood::recovery(
            &socket,
            &user,
            threads,
            &flood::AttackEnd {
                duration: Duration::from_secs(seconds),
                stop_file,
            },
        ),
        Command::SentCode {
            socket,
            roster,
            mfa_enroll,
            standin_dir,
            rounds,
        } => sent_code::run(&sent_code::SentCodePlan {
            socket: &socket,
            roster: &roster,
            mfa_enroll: &mfa_enroll,
            standin_dir: &standin_dir,
            rounds,
        }),
        Command::Approval { rounds } => approval::run(rounds),
        Command::RadiusUsers(args) => radius::users(&args),
        Command::RadiusLoad(args) => radius::load(&args),
        Command::NameTiming {
            socket,
            enrolled,
            unenrolled,
            unknown_prefix,
            invalid,
            samples,
            rhost,
        } => name_timing::run(
            &socket,
            &name_timing::NameClasses {
                enrolled,
                unenrolled,
                unknown_prefix,
                invalid,
            },
            samples,
            &rhost,
        ),
    }
}
