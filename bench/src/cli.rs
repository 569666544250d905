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
        /// How many users.
        #[arg(long)]
        count: usize,
        /// Enrollments run at once (each hashes ten recovery codes with argon2id).
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// The roster file to write.
        #[arg(long)]
        out: PathBuf,
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
        /// The roster of enrolled users; its size is the number of threads.
        #[arg(long)]
        roster: PathBuf,
        /// Rounds; each round authenticates every user once, with a later time step.
        #[arg(long, default_value_t = 6)]
        rounds: usize,
    },
    /// Times each step of the daemon's durable record write (temp file, write, fsync,
    /// rename, directory fsync) with plain files in a new directory under DIR.
    FsProbe {
        /// Where to probe: the filesystem of the daemon's state directory.
        #[arg(long)]
        dir: PathBuf,
        /// Size of one record.
        #[arg(long, default_value_t = 1500)]
        record_bytes: usize,
        /// Records replaced.
        #[arg(long, default_value_t = 100)]
        writes: usize,
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
