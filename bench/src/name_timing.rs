//! Whether the daemon's answer time tells one class of user name from another (docs/DESIGN.md,
//! invariant 10: unknown, invalid, unenrolled and enrolled names take the same path and the
//! same time). As root, through the daemon's protocol: for each class, conversations that
//! answer the prompt with a wrong six-digit code or a wrong recovery-shaped code, timed from
//! sending the answer to receiving the daemon's error step.
//!
//! Classes and answer shapes are interleaved sample by sample, in an order that rotates, so
//! that drift of the machine falls on every class alike. Every sample is a failure the daemon
//! counts: run it against a daemon whose limits allow them all (e.g. `[limits] max_failures =
//! 1000`, `account_max_failures = 100000`); a reply other than the error step is counted in
//! the last column, never hidden.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mfa_proto::{AuthRequest, Client, Request, Secret, Step};

use crate::error::BenchError;
use crate::flood::random_recovery_code;
use crate::stats::Summary;

/// The PAM service the daemon is told about.
const SERVICE: &str = "mfa-bench";

/// The names to compare.
#[derive(Debug)]
pub struct NameClasses {
    /// An account with a factor enrolled.
    pub enrolled: String,
    /// An account NSS knows, with nothing enrolled.
    pub unenrolled: String,
    /// Names never used before are this followed by the sample's number.
    pub unknown_prefix: String,
    /// A name no account can have.
    pub invalid: String,
}

/// The wrong answers given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    SixDigits,
    Recovery,
}

impl Shape {
    const ALL: [Shape; 2] = [Shape::SixDigits, Shape::Recovery];

    fn label(self) -> &'static str {
        match self {
            Shape::SixDigits => "wrong 6-digit code",
            Shape::Recovery => "wrong recovery code",
        }
    }

    fn answer(self) -> String {
        match self {
            Shape::SixDigits => {
                let mut bytes = [0u8; 4];
                let _ = getrandom::fill(&mut bytes);
                format!("{:06}", u32::from_le_bytes(bytes) % 1_000_000)
            }
            Shape::Recovery => random_recovery_code(),
        }
    }
}

struct Series {
    class: &'static str,
    shape: Shape,
    samples: Vec<Duration>,
    /// Replies other than the error step, as they came.
    other: Vec<String>,
}

/// Runs the comparison and prints its table.
pub fn run(
    public: &Path,
    names: &NameClasses,
    samples: usize,
    rhost: &str,
) -> Result<(), BenchError> {
    let socket = root_socket(public);
    let classes: [(&'static str, &dyn Fn(usize) -> String); 4] = [
        ("enrolled account", &|_| names.enrolled.clone()),
        ("account, nothing enrolled", &|_| names.unenrolled.clone()),
        ("never-seen valid name", &|i| {
            format!("{}{i}", names.unknown_prefix)
        }),
        ("invalid name", &|_| names.invalid.clone()),
    ];
    let mut series: Vec<Series> = classes
        .iter()
        .flat_map(|(class, _)| {
            Shape::ALL.map(|shape| Series {
                class,
                shape,
                samples: Vec::with_capacity(samples),
                other: Vec::new(),
            })
        })
        .collect();
    eprintln!(
        "mfa-bench: name-timing, {samples} samples x {} series on {}",
        series.len(),
        socket.display()
    );
    let started = Instant::now();
    for sample in 0..samples {
        for k in 0..series.len() {
            let index = (k + sample) % series.len();
            let Some(s) = series.get_mut(index) else {
                continue;
            };
            let Some((_, name_of)) = classes.iter().find(|(class, _)| *class == s.class) else {
                continue;
            };
            match time_wrong_answer(&socket, &name_of(sample), rhost, s.shape) {
                Ok(time) => s.samples.push(time),
                Err(other) => s.other.push(other),
            }
        }
    }
    println!(
        "{samples} samples per row, rows interleaved in rotating order; as root on {}, remote \
         host {rhost}; time from sending the answer to receiving the error step; {:.0} s.\n",
        socket.display(),
        started.elapsed().as_secs_f64()
    );
    println!("| name class | answer | samples | median ms | p90 ms | other replies |");
    println!("|---|---|---:|---:|---:|---|");
    for s in &series {
        let other = if s.other.is_empty() {
            "0".to_owned()
        } else {
            let first = s.other.first().map(String::as_str).unwrap_or_default();
            format!("{} (first: {first})", s.other.len())
        };
        match Summary::of(&s.samples) {
            Some(summary) => println!(
                "| {} | {} | {} | {:.3} | {:.3} | {other} |",
                s.class,
                s.shape.label(),
                summary.count,
                summary.p50,
                summary.p90
            ),
            None => println!(
                "| {} | {} | 0 | - | - | {other} |",
                s.class,
                s.shape.label()
            ),
        }
    }
    Ok(())
}

/// Root's socket: the privileged one beside `public` when the daemon has one (since the
/// hardening of issue 5), else `public` itself.
pub(crate) fn root_socket(public: &Path) -> PathBuf {
    let privileged = mfa_proto::privileged_socket(public);
    match std::fs::metadata(&privileged) {
        Ok(meta) if meta.file_type().is_socket() => privileged,
        _ => public.to_owned(),
    }
}

/// One conversation up to the daemon's reply to one wrong answer: the time from sending the
/// answer to receiving the error step, or what came instead.
fn time_wrong_answer(
    socket: &Path,
    user: &str,
    rhost: &str,
    shape: Shape,
) -> Result<Duration, String> {
    let mut client =
        Client::connect(socket, mfa_proto::DEFAULT_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    client
        .send(&Request::Authenticate {
            auth: AuthRequest {
                user: user.to_owned(),
                service: SERVICE.to_owned(),
                rhost: Some(rhost.to_owned()),
                tty: None,
                ruser: None,
                auth_info: None,
                nullok: false,
            },
        })
        .map_err(|e| format!("send: {e}"))?;
    loop {
        match client.recv::<Step>().map_err(|e| format!("receive: {e}"))? {
            Step::Prompt { .. } => break,
            Step::Info { .. } => {}
            other => return Err(format!("before the prompt: {other:?}")),
        }
    }
    let answer = Secret::from(shape.answer());
    let sent = Instant::now();
    client
        .send(&Request::Answer { text: answer })
        .map_err(|e| format!("send answer: {e}"))?;
    let reply = client.recv::<Step>().map_err(|e| format!("receive: {e}"))?;
    let elapsed = sent.elapsed();
    match reply {
        Step::Error { .. } => Ok(elapsed),
        other => Err(format!("{other:?}")),
    }
}
