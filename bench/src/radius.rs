//! RADIUS servers under load: Access-Requests with PAP `User-Password` carrying a fresh HOTP
//! code each, N outstanding at a time, against FreeRADIUS (rlm_pam → pam_oath or pam_mfa.so)
//! and mfa-radius. Two clients: Debian's `radclient` (throughput: wall time of the whole run,
//! its own accept/reject/lost summary) and a load client here, built on mfa-radius's codec,
//! that keeps N requests outstanding on one UDP socket and records each one's latency.
//!
//! HOTP users, not TOTP: every verifier here refuses a used code, and a TOTP user gets one
//! login per 30 s step; an HOTP user gets the next counter at once. A roster file has one user
//! a line, `NAME SECRET_HEX NEXT_COUNTER`; the counters used by a run are written back, a
//! refused or lost request's counter too (the verifiers' look-ahead windows absorb the gap).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Args;
use mfa_radius::packet::{self, Attribute, Code, Packet, VerifyError, attr};
use totp_rs::{Algorithm, TOTP};

use crate::error::BenchError;
use crate::stats::Summary;

/// Digits of every bench code (pam_oath's `digits=6`, pam-mfa's import of a 6-digit line).
const DIGITS: usize = 6;
/// Secret length: 160 bits, as RFC 4226 recommends.
const SECRET_LEN: usize = 20;

/// `radius-users`: HOTP bench users, as a roster and as a pam_oath usersfile.
#[derive(Debug, Args)]
pub struct UsersArgs {
    /// User names are PREFIX followed by a number.
    #[arg(long)]
    pub prefix: String,
    /// How many users.
    #[arg(long)]
    pub count: usize,
    /// The roster to write (`NAME SECRET_HEX NEXT_COUNTER`, counters at 0).
    #[arg(long)]
    pub roster: PathBuf,
    /// The same users as pam_oath `HOTP NAME - SECRET_HEX` lines (also what `mfactl import
    /// oath` reads).
    #[arg(long)]
    pub oath_users: PathBuf,
}

/// `radius-load`: one measured run against one server.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The server, e.g. 127.0.0.1:1812.
    #[arg(long)]
    pub server: SocketAddr,
    /// The shared secret, in a file (one trailing newline ignored).
    #[arg(long)]
    pub secret_file: PathBuf,
    /// The HOTP roster of the server's users; rewritten with the counters used.
    #[arg(long)]
    pub roster: PathBuf,
    /// Requests outstanding at a time.
    #[arg(long)]
    pub outstanding: usize,
    /// Requests in the run (users in turn, each with its next counter).
    #[arg(long)]
    pub requests: usize,
    /// The row's first cell (the server).
    #[arg(long)]
    pub label: String,
    /// Drive the run with this radclient binary (`-p OUTSTANDING -s`) instead of the load
    /// client here; latency percentiles are then not known.
    #[arg(long)]
    pub radclient: Option<PathBuf>,
    /// A request unanswered this long is lost (no retransmission).
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
}

/// One HOTP bench user.
#[derive(Debug, Clone)]
struct HotpUser {
    name: String,
    secret: Vec<u8>,
    next_counter: u64,
}

impl HotpUser {
    /// The code for the next counter, which is then used up.
    fn take_code(&mut self) -> String {
        // RFC 4226 HOTP is RFC 6238 TOTP with a 1-second step at time = counter.
        let code = TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, 1, self.secret.clone())
            .generate(self.next_counter);
        self.next_counter += 1;
        code
    }
}

/// Writes `count` HOTP users with random secrets.
pub fn users(args: &UsersArgs) -> Result<(), BenchError> {
    let mut users = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let mut secret = vec![0u8; SECRET_LEN];
        getrandom::fill(&mut secret).map_err(|e| BenchError::Io {
            what: "get random bytes".to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?;
        users.push(HotpUser {
            name: format!("{}{i}", args.prefix),
            secret,
            next_counter: 0,
        });
    }
    write_roster(&args.roster, &users)?;
    let mut oath = String::new();
    for user in &users {
        let _ = writeln!(oath, "HOTP {} - {}", user.name, hex(&user.secret));
    }
    write_private(&args.oath_users, &oath)
}

/// Runs the load and prints one Markdown row: server | client | outstanding | requests |
/// accepted | rejected | lost | p50 ms | p99 ms | wall s | accepted/s.
pub fn load(args: &LoadArgs) -> Result<(), BenchError> {
    if args.outstanding == 0 || args.outstanding > 255 {
        return Err(BenchError::Usage(
            "--outstanding must be 1 to 255 (one socket, one identifier each)".to_owned(),
        ));
    }
    let mut users = read_roster(&args.roster)?;
    if users.is_empty() {
        return Err(BenchError::Roster {
            path: args.roster.clone(),
            line: 0,
            why: "no users".to_owned(),
        });
    }
    let secret = read_secret(&args.secret_file)?;
    let requests: Vec<(String, String)> = (0..args.requests)
        .map(|i| {
            let index = i % users.len();
            let user = &mut users[index];
            (user.name.clone(), user.take_code())
        })
        .collect();
    // The counters are spent whatever the run does: written back before it starts.
    write_roster(&args.roster, &users)?;
    let outcome = match &args.radclient {
        Some(radclient) => run_radclient(radclient, args, &requests)?,
        None => run_native(args, &secret, &requests)?,
    };
    let (p50, p99) = match Summary::of(&outcome.latencies) {
        Some(s) => (format!("{:.2}", s.p50), format!("{:.2}", s.p99)),
        None => ("-".to_owned(), "-".to_owned()),
    };
    let wall = outcome.wall.as_secs_f64();
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {p50} | {p99} | {wall:.2} | {:.0} |",
        args.label,
        if args.radclient.is_some() {
            "radclient"
        } else {
            "mfa-bench"
        },
        args.outstanding,
        args.requests,
        outcome.accepted,
        outcome.rejected,
        outcome.lost,
        outcome.accepted as f64 / wall.max(1e-9),
    );
    if outcome.unsigned > 0 {
        // One line per server whatever the counts, so that a report can keep one copy.
        println!(
            "- {}: its answers carry no Message-Authenticator (their Response Authenticator was checked).",
            args.label
        );
    }
    Ok(())
}

/// What a run gave.
#[derive(Debug, Default)]
struct Outcome {
    accepted: usize,
    rejected: usize,
    lost: usize,
    /// Answers without a Message-Authenticator (FreeRADIUS 3.2.1 sends none).
    unsigned: usize,
    /// Send to answer, of every answered request (the load client only).
    latencies: Vec<Duration>,
    wall: Duration,
}

/// A request in flight.
struct InFlight {
    authenticator: [u8; 16],
    sent: Instant,
}

fn run_native(
    args: &LoadArgs,
    secret: &[u8],
    requests: &[(String, String)],
) -> Result<Outcome, BenchError> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(BenchError::io("bind a UDP socket"))?;
    socket
        .connect(args.server)
        .map_err(BenchError::io(format!("connect to {}", args.server)))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(BenchError::io("set a read timeout"))?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut outcome = Outcome::default();
    let mut in_flight: HashMap<u8, InFlight> = HashMap::new();
    let mut free: Vec<u8> = (0..=255).rev().collect();
    let mut next = 0;
    let mut buffer = [0u8; packet::MAX_PACKET];
    let started = Instant::now();
    while next < requests.len() || !in_flight.is_empty() {
        while next < requests.len() && in_flight.len() < args.outstanding {
            let Some(identifier) = free.pop() else { break };
            let (name, code) = &requests[next];
            let authenticator = random_authenticator()?;
            let bytes = packet::encode_request(
                identifier,
                authenticator,
                Some(code.as_bytes()),
                &[Attribute::new(attr::USER_NAME, name.as_bytes())],
                secret,
                true,
            );
            let sent = Instant::now();
            socket
                .send(&bytes)
                .map_err(BenchError::io(format!("send to {}", args.server)))?;
            in_flight.insert(
                identifier,
                InFlight {
                    authenticator,
                    sent,
                },
            );
            next += 1;
        }
        match socket.recv(&mut buffer) {
            Ok(len) => {
                let answer = &buffer[..len];
                let Some(&identifier) = answer.get(1) else {
                    continue;
                };
                let Some(request) = in_flight.get(&identifier) else {
                    continue;
                };
                let Some((code, signed)) = check(answer, &request.authenticator, secret) else {
                    // Not an answer to this request (a late one to a lost request whose
                    // identifier was reused): ignored, the request stays in flight.
                    continue;
                };
                let elapsed = request.sent.elapsed();
                in_flight.remove(&identifier);
                free.push(identifier);
                outcome.latencies.push(elapsed);
                if !signed {
                    outcome.unsigned += 1;
                }
                if code == Code::AccessAccept {
                    outcome.accepted += 1;
                } else {
                    outcome.rejected += 1;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // ECONNREFUSED from an ICMP port unreachable: nobody listens; the requests in
            // flight will time out.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(BenchError::io(format!("receive from {}", args.server))(e)),
        }
        let now = Instant::now();
        let expired: Vec<u8> = in_flight
            .iter()
            .filter(|(_, r)| now.duration_since(r.sent) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for identifier in expired {
            in_flight.remove(&identifier);
            free.insert(0, identifier);
            outcome.lost += 1;
        }
    }
    outcome.wall = started.elapsed();
    Ok(outcome)
}

/// The answer's Code and whether it carried a Message-Authenticator, when its Response
/// Authenticator is right for the request.
fn check(answer: &[u8], authenticator: &[u8; 16], secret: &[u8]) -> Option<(Code, bool)> {
    match packet::verify_response(answer, authenticator, secret) {
        Ok(packet) => Some((packet.code, true)),
        // verify_response checks the Response Authenticator before it looks for a
        // Message-Authenticator: this error means the first check passed.
        Err(VerifyError::MissingMessageAuthenticator) => {
            Packet::parse(answer).ok().map(|p| (p.code, false))
        }
        Err(_) => None,
    }
}

fn run_radclient(
    radclient: &Path,
    args: &LoadArgs,
    requests: &[(String, String)],
) -> Result<Outcome, BenchError> {
    let mut file = String::new();
    for (name, code) in requests {
        // radclient computes the Message-Authenticator for the 0x00 placeholder.
        let _ = write!(
            file,
            "User-Name = \"{name}\"\nUser-Password = \"{code}\"\nMessage-Authenticator = 0x00\n\n"
        );
    }
    let requests_file = args.roster.with_extension("radclient");
    write_private(&requests_file, &file)?;
    let started = Instant::now();
    let output = Command::new(radclient)
        .arg("-q")
        .arg("-s")
        .arg("-f")
        .arg(&requests_file)
        .args(["-p", &args.outstanding.to_string()])
        .args([
            "-t",
            &(args.timeout_ms as f64 / 1000.0).to_string(),
            "-r",
            "1",
        ])
        .arg("-S")
        .arg(&args.secret_file)
        .arg(args.server.to_string())
        .arg("auth")
        .output()
        .map_err(BenchError::io(format!("run {}", radclient.display())))?;
    let wall = started.elapsed();
    let _ = fs::remove_file(&requests_file);
    let summary = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| -> Option<usize> {
        summary.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().parse().ok())?
        })
    };
    match (field("Accepted"), field("Rejected"), field("Lost")) {
        (Some(accepted), Some(rejected), Some(lost)) => Ok(Outcome {
            accepted,
            rejected,
            lost,
            wall,
            ..Outcome::default()
        }),
        _ => Err(BenchError::Program {
            program: radclient.to_owned(),
            why: format!(
                "no packet summary on stdout; stderr: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }),
    }
}

fn random_authenticator() -> Result<[u8; 16], BenchError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| BenchError::Io {
        what: "get random bytes".to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(bytes)
}

fn read_secret(path: &Path) -> Result<Vec<u8>, BenchError> {
    let mut bytes = fs::read(path).map_err(BenchError::io(format!("read {}", path.display())))?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    Ok(bytes)
}

fn read_roster(path: &Path) -> Result<Vec<HotpUser>, BenchError> {
    let text =
        fs::read_to_string(path).map_err(BenchError::io(format!("read {}", path.display())))?;
    let bad = |line: usize, why: &str| BenchError::Roster {
        path: path.to_owned(),
        line,
        why: why.to_owned(),
    };
    let mut users = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, secret, counter] = fields[..] else {
            return Err(bad(line_no, "expected NAME SECRET_HEX NEXT_COUNTER"));
        };
        users.push(HotpUser {
            name: name.to_owned(),
            secret: unhex(secret).ok_or_else(|| bad(line_no, "the secret is not hex"))?,
            next_counter: counter
                .parse()
                .map_err(|_| bad(line_no, "the counter is not a number"))?,
        });
    }
    Ok(users)
}

fn write_roster(path: &Path, users: &[HotpUser]) -> Result<(), BenchError> {
    let mut text = String::new();
    for user in users {
        let _ = writeln!(
            text,
            "{} {} {}",
            user.name,
            hex(&user.secret),
            user.next_counter
        );
    }
    write_private(path, &text)
}

/// Writes a file only its owner may read (secrets and codes).
fn write_private(path: &Path, text: &str) -> Result<(), BenchError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let what = format!("write {}", path.display());
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(BenchError::io(what.clone()))?;
    file.write_all(text.as_bytes())
        .map_err(BenchError::io(what))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotp_codes_are_rfc_4226_appendix_d() {
        let mut user = HotpUser {
            name: "u".to_owned(),
            secret: b"12345678901234567890".to_vec(),
            next_counter: 0,
        };
        let codes: Vec<String> = (0..3).map(|_| user.take_code()).collect();
        assert_eq!(codes, ["755224", "287082", "359152"]);
        assert_eq!(user.next_counter, 3);
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(unhex(&hex(&[0, 0xab, 0xff])), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
