//! Command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Benchmarks of pam-mfa beside pam_oath and google-authenticator-libpam.
#[derive(Debug, Parser)]
#[command(name = "mfa-bench", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes a roster of bench users with random TOTP secrets (SHA-1, 6 digits, 30 s), for
    /// modules configured from files.
    Secrets {
        /// User names are PREFIX followed by a number.
        #[arg(long)]
        prefix: String,
        /// How many users.
        #[arg(long)]
        count: usize,
        /// The roster file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Enrolls bench users in mfa-daemon with `mfa-enroll --json totp --user NAME` (as root)
    /// and writes their roster.
    Enroll {
        /// The mfa-enroll binary.
        #[arg(long)]
        mfa_enroll: PathBuf,
        /// The daemon's socket.
        #[arg(long)]
        socket: PathBuf,
        /// User names are PREFIX followed by a number.
        #[arg(long)]
        prefix: String,
        /// The number of the first user.
        #[arg(long, default_value_t = 0)]
        first: usize,
        /// How many users.
        #[arg(long)]
        count: usize,
        /// Enrollments run at once (each hashes ten recovery codes with argon2id).
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// The roster file to write.
        #[arg(long)]
        out: PathBuf,
        /// Also write the users' recovery codes (`NAME CODE` a line) to this file.
        #[arg(long)]
        codes_out: Option<PathBuf>,
    },
    /// Runs pamtester under pam_wrapper for every stack in turn, interleaved, each
    /// authentication with a fresh valid code, and reports latency and what each stack adds
    /// to the baseline.
    Latency {
        /// pam_wrapper's service directory (PAM_WRAPPER_SERVICE_DIR).
        #[arg(long)]
        pam_dir: PathBuf,
        /// The baseline stack, LABEL=SERVICE; it is given no code.
        #[arg(long, value_parser = parse_baseline)]
        baseline: StackArg,
        /// A stack to measure, LABEL=SERVICE=ROSTER: each of its runs takes the next user of
        /// ROSTER with a fresh code. LABEL=SERVICE for a stack that needs no valid code (it
        /// is given a fixed user and answer, like the baseline). Repeat for each stack.
        #[arg(long = "stack", value_parser = parse_stack, required = true)]
        stacks: Vec<StackArg>,
        /// Rounds; each round uses every roster user once.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// LABEL=MS: report whether LABEL's added median latency is at most MS.
        #[arg(long, value_parser = parse_target)]
        target: Option<LatencyTarget>,
    },
    /// Authenticates every roster user at once, one thread each, through the daemon's
    /// protocol (Authenticate, Prompt, Answer, Done), for several rounds.
    Concurrency {
        /// The daemon's socket.
        #[arg(long)]
        socket: PathBuf,
        /// The roster of enrolled users; rewritten with the steps used.
        #[arg(long)]
        roster: PathBuf,
        /// Threads: one per user of the roster's first THREADS (default: all of them).
        #[arg(long)]
        threads: Option<usize>,
        /// Rounds; each round authenticates every user once, with a later time step.
        #[arg(long, default_value_t = 6)]
        rounds: usize,
        /// What the report calls the daemon (its engine).
        #[arg(long, default_value = "files")]
        label: String,
    },
    /// Writes COUNT user records (one authenticator app with a secret of the roster, ten
    /// recovery codes) into a state directory no daemon is using, through the daemon's own
    /// file engine, and their roster.
    WriteRecords {
        /// The state directory (created if missing).
        #[arg(long)]
        state_dir: PathBuf,
        /// User names are PREFIX followed by a number.
        #[arg(long)]
        prefix: String,
        /// How many records.
        #[arg(long)]
        count: usize,
        /// The roster file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// One login through the daemon's protocol for each of a slice of roster users, JOBS at
    /// a time; prints a Markdown table row: LABEL | logins | errors | p50 | p90 | p99 | max
    /// (ms) | wall s | logins/s. The roster is rewritten with the steps used.
    Sweep {
        /// The daemon's socket.
        #[arg(long)]
        socket: PathBuf,
        /// The roster of enrolled users.
        #[arg(long)]
        roster: PathBuf,
        /// Index of the first user of the slice.
        #[arg(long, default_value_t = 0)]
        first: usize,
        /// Users in the slice (default: to the end of the roster).
        #[arg(long, default_value_t = usize::MAX)]
        count: usize,
        /// Logins at a time.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// The row's first cell.
        #[arg(long)]
        label: String,
    },
    /// Starts mfa-daemon STARTS times, each time from spawn to its "listening on" line,
    /// and kills it; prints a Markdown table row: LABEL | starts | median ms | min ms | max
    /// ms | RSS then (median).
    Startup {
        /// The mfa-daemon binary.
        #[arg(long)]
        daemon: PathBuf,
        /// Its config file.
        #[arg(long)]
        config: PathBuf,
        /// How many starts.
        #[arg(long, default_value_t = 5)]
        starts: usize,
        /// The row's first cell.
        #[arg(long)]
        label: String,
    },
    /// Summarizes an `strace -f -ttt -T -y` log of the daemon over LOGINS logins: system
    /// calls by class on a login's path, per login.
    ProfileDaemon {
        /// The strace log.
        #[arg(long)]
        strace: PathBuf,
        /// Logins the trace covers.
        #[arg(long)]
        logins: usize,
    },
    /// Runs pamtester with pam_permit and with libpam_mfa.so, each under strace and
    /// untraced, and cuts the module's runs into load, connect, conversation and the rest.
    ProfileModule {
        /// pam_wrapper's service directory (PAM_WRAPPER_SERVICE_DIR).
        #[arg(long)]
        pam_dir: PathBuf,
        /// The service with pam_permit alone.
        #[arg(long)]
        baseline: String,
        /// The service with libpam_mfa.so.
        #[arg(long)]
        service: String,
        /// Its enrolled users (two per run); rewritten with the steps used.
        #[arg(long)]
        roster: PathBuf,
        /// Runs of each stack, traced and untraced.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Where to keep the traces.
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Times each step of the daemon's durable record writes (in place: pwrite, fdatasync,
    /// wipe; and by rename: temp file, write, fsync, rename, directory fsync) with plain
    /// files in a new directory under DIR.
    FsProbe {
        /// Where to probe: the filesystem of the daemon's state directory.
        #[arg(long)]
        dir: PathBuf,
        /// Size of one record (a slot's content: header and JSON).
        #[arg(long, default_value_t = 1600)]
        record_bytes: usize,
        /// Records replaced.
        #[arg(long, default_value_t = 100)]
        writes: usize,
    },
    /// Root's logins one after another through a PAM stack (pamtester under pam_wrapper),
    /// each with a valid second factor, while something else (an attack) runs; prints one
    /// line of Markdown cells: logins | median ms | max ms | failures | PAM_IGNORE.
    Logins {
        /// pam_wrapper's service directory (PAM_WRAPPER_SERVICE_DIR).
        #[arg(long)]
        pam_dir: PathBuf,
        /// The PAM service to log in through.
        #[arg(long)]
        service: String,
        /// Roster of enrolled users; each login without --codes uses a fresh code of the
        /// user whose next code is accepted soonest. The steps used are written back.
        #[arg(long)]
        roster: PathBuf,
        /// Recovery codes (`NAME CODE` a line): each login uses the next one instead of a
        /// TOTP code, and the file is rewritten without the codes tried.
        #[arg(long)]
        codes: Option<PathBuf>,
        /// How many logins.
        #[arg(long, default_value_t = 25)]
        count: usize,
        /// Text the stack shows only when pam_mfa returned PAM_IGNORE (a pam_echo line after
        /// it); a login that passes showing it counts as PAM_IGNORE, not as authenticated.
        #[arg(long)]
        ignore_marker: Option<String>,
    },
    /// Attack (run as an unprivileged user): threads that connect to the daemon's socket,
    /// send nothing, and reconnect as soon as they are dropped.
    FloodConnections {
        /// The daemon's public socket.
        #[arg(long)]
        socket: PathBuf,
        /// Processes (this program run again), each with --threads threads.
        #[arg(long, default_value_t = 10)]
        processes: usize,
        /// Threads per process.
        #[arg(long, default_value_t = 100)]
        threads: usize,
        /// The longest the attack runs.
        #[arg(long)]
        seconds: u64,
        /// The attack ends as soon as this file exists.
        #[arg(long)]
        stop_file: Option<PathBuf>,
    },
    /// Attack (run as an unprivileged user): conversations in which USER authenticates
    /// itself with a forged remote host and answers every prompt with a random
    /// recovery-shaped code; each ended conversation is replaced at once.
    FloodRecovery {
        /// The daemon's public socket.
        #[arg(long)]
        socket: PathBuf,
        /// The attacker's own account.
        #[arg(long)]
        user: String,
        /// Conversations at a time.
        #[arg(long, default_value_t = 8)]
        threads: usize,
        /// The longest the attack runs.
        #[arg(long)]
        seconds: u64,
        /// The attack ends as soon as this file exists.
        #[arg(long)]
        stop_file: Option<PathBuf>,
    },
    /// As root through the daemon's protocol: logins with a code sent by text message
    /// through the menu, each step timed apart so that the provider call can be left out,
    /// beside TOTP logins of the same users at the same prompt. Gives each roster user a
    /// phone first (`mfa-enroll phone … --unverified`).
    SentCode {
        /// The daemon's public socket; the privileged one beside it is used if it exists.
        #[arg(long)]
        socket: PathBuf,
        /// The roster of users enrolled with TOTP.
        #[arg(long)]
        roster: PathBuf,
        /// The mfa-enroll binary.
        #[arg(long)]
        mfa_enroll: PathBuf,
        /// The directory of the provider stand-in (`mfa-standin --dir`), where it writes
        /// each message it receives as `messages/NNNN.json`.
        #[arg(long)]
        standin_dir: PathBuf,
        /// Rounds; each logs every user in once with each kind of code.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// As root: pamtester logins approved on the phone (a daemon with `[web]`, the real
    /// mfa-web, headless Chromium with a virtual authenticator), Enter pressed before the
    /// phone approves; the time from the page's "Approved" to PAM_SUCCESS, and mfa-web's RSS.
    /// Uses the binaries in target/release (or $MFA_BIN_DIR) and Debian's chromium.
    Approval {
        /// Logins to approve (at most 60: `policy.max_pushes_per_hour` caps one user).
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Writes HOTP bench users for the RADIUS runs: a roster and a pam_oath usersfile.
    RadiusUsers(crate::radius::UsersArgs),
    /// Access-Requests against a RADIUS server, a fresh HOTP code each, N outstanding; prints
    /// a Markdown row (accepted, rejected, lost, p50/p99 latency, requests/s).
    RadiusLoad(crate::radius::LoadArgs),
    /// As root through the daemon's protocol (its privileged socket when it has one): the
    /// time from a wrong answer to the daemon's error step, for each class of user name.
    NameTiming {
        /// The daemon's public socket; the privileged one beside it is used if it exists.
        #[arg(long)]
        socket: PathBuf,
        /// An account with a factor enrolled.
        #[arg(long)]
        enrolled: String,
        /// An account NSS knows, with nothing enrolled.
        #[arg(long)]
        unenrolled: String,
        /// Never-seen names are this followed by the sample's number.
        #[arg(long)]
        unknown_prefix: String,
        /// A name no account can have.
        #[arg(long, default_value = "bad/name")]
        invalid: String,
        /// Samples per class and answer shape.
        #[arg(long, default_value_t = 250)]
        samples: usize,
        /// The remote host every conversation names (its failures count against it).
        #[arg(long, default_value = "192.0.2.1")]
        rhost: String,
    },
}

/// A PAM stack on the command line.
#[derive(Debug, Clone)]
pub struct StackArg {
    /// Name in the report, e.g. `pam_oath`.
    pub label: String,
    /// PAM service name: a file in the pam_wrapper service directory.
    pub service: String,
    /// Roster of its users; `None` for a stack that needs no valid code.
    pub roster: Option<PathBuf>,
}

/// A latency target on the command line.
#[derive(Debug, Clone)]
pub struct LatencyTarget {
    /// The stack it applies to.
    pub label: String,
    /// Most added milliseconds (median) that meet it.
    pub max_added_ms: f64,
}

fn parse_baseline(arg: &str) -> Result<StackArg, String> {
    match parse_stack(arg)? {
        StackArg {
            roster: Some(_), ..
        } => Err("expected LABEL=SERVICE".to_owned()),
        stack => Ok(stack),
    }
}

fn parse_stack(arg: &str) -> Result<StackArg, String> {
    let mut parts = arg.splitn(3, '=');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(label), Some(service), roster)
            if !label.is_empty() && !service.is_empty() && roster != Some("") =>
        {
            Ok(StackArg {
                label: label.to_owned(),
                service: service.to_owned(),
                roster: roster.map(PathBuf::from),
            })
        }
        _ => Err("expected LABEL=SERVICE or LABEL=SERVICE=ROSTER".to_owned()),
    }
}

fn parse_target(arg: &str) -> Result<LatencyTarget, String> {
    let (label, ms) = arg
        .split_once('=')
        .ok_or_else(|| "expected LABEL=MILLISECONDS".to_owned())?;
    let max_added_ms = ms
        .parse::<f64>()
        .map_err(|e| format!("{ms:?} is not a number of milliseconds: {e}"))?;
    Ok(LatencyTarget {
        label: label.to_owned(),
        max_added_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_arguments() {
        let stack = parse_stack("pam_oath=bench-oath=/tmp/r=x").unwrap();
        assert_eq!(stack.label, "pam_oath");
        assert_eq!(stack.service, "bench-oath");
        assert_eq!(stack.roster, Some(PathBuf::from("/tmp/r=x")));
        let stack = parse_stack("pam_mfa, module only=bench-mfa-module").unwrap();
        assert_eq!(stack.label, "pam_mfa, module only");
        assert!(stack.roster.is_none());
        assert!(parse_stack("pam_oath=bench-oath=").is_err());
        assert!(parse_stack("pam_oath").is_err());
        assert!(parse_baseline("pam_permit=bench-permit").is_ok());
        assert!(parse_baseline("pam_permit=bench-permit=/tmp/r").is_err());
        let target = parse_target("pam_mfa=0.5").unwrap();
        assert_eq!(
            (target.label.as_str(), target.max_added_ms),
            ("pam_mfa", 0.5)
        );
        assert!(parse_target("pam_mfa=fast").is_err());
    }
}
