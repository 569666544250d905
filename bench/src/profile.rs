//! Where a pam_mfa login's time goes, from system-call traces (`strace -ttt -T -y`):
//! - [`daemon`]: the daemon's system calls over a number of logins, by class on the login's
//!   path (accepting, reading and writing frames, the record's lstat, open, pwrite and
//!   fdatasync, the audit line, thread hand-offs), per login; and each connection's time
//!   from accept to the last frame written;
//! - [`module`]: pamtester with `libpam_mfa.so` against pamtester with `pam_permit.so`, each
//!   run under strace, cut at the module's own system calls (opening the library, the
//!   socket, connect, close) into load, connect, conversation and the rest.
//!
//! strace stops the traced process at every system call, so traced times are inflated by a
//! fixed cost per call; the module report gives the same runs untraced beside them, and the
//! counts of calls, which strace does not change.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::roster;
use crate::schedule;
use crate::stats::Summary;

/// One system call from an strace log.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    /// Thread id (0 when the log has none).
    pid: u32,
    /// Start, seconds since the epoch.
    start: f64,
    /// Time inside the call (`-T`), seconds; 0 when strace did not give one.
    duration: f64,
    /// `openat`, `futex`, ...
    name: String,
    /// Arguments and result as printed (file descriptors decorated by `-y`).
    text: String,
}

impl Call {
    fn end(&self) -> f64 {
        self.start + self.duration
    }

    /// The `socket:[INODE]` of the first argument (or of the result, for accept).
    fn socket_inode(&self, in_result: bool) -> Option<&str> {
        let text = if in_result {
            self.text.rsplit_once(" = ")?.1
        } else {
            self.text.split(',').next()?
        };
        let start = text.find("socket:[")? + "socket:[".len();
        let len = text.get(start..)?.find(']')?;
        text.get(start..start + len)
    }
}

/// Parses an strace log written with `-ttt -T` (and `-f`, `-y` if given): unfinished and
/// resumed halves are joined; signals and exits are skipped.
fn parse(log: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut unfinished: HashMap<u32, (f64, String, String)> = HashMap::new();
    for line in log.lines() {
        let mut rest = line.trim_start();
        let mut pid = 0;
        if let Some((first, tail)) = rest.split_once(' ')
            && !first.contains('.')
            && let Ok(p) = first.parse()
        {
            pid = p;
            rest = tail.trim_start();
        }
        let Some((ts, body)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(start) = ts.parse::<f64>() else {
            continue;
        };
        if body.starts_with("---") || body.starts_with("+++") {
            continue;
        }
        if let Some(resumed) = body.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            let (start, name, head) = unfinished
                .remove(&pid)
                .filter(|(_, n, _)| n == name)
                .unwrap_or((start, name.to_owned(), String::new()));
            let text = format!("{head}{tail}");
            calls.push(Call {
                pid,
                start,
                duration: duration_of(&text),
                name,
                text,
            });
            continue;
        }
        let Some((name, args)) = body.split_once('(') else {
            continue;
        };
        if let Some(head) = args.strip_suffix(" <unfinished ...>") {
            unfinished.insert(pid, (start, name.to_owned(), head.to_owned()));
            continue;
        }
        calls.push(Call {
            pid,
            start,
            duration: duration_of(args),
            name: name.to_owned(),
            text: args.to_owned(),
        });
    }
    calls
}

/// The `<0.000123>` at the end of a call's line, in seconds.
fn duration_of(text: &str) -> f64 {
    text.trim_end()
        .strip_suffix('>')
        .and_then(|t| t.rsplit_once('<'))
        .and_then(|(_, d)| d.parse().ok())
        .unwrap_or(0.0)
}

/// What a daemon system call is for, on a login's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Class {
    Accept,
    ReadFrames,
    WriteFrames,
    RecordLstat,
    RecordOpen,
    RecordFstat,
    RecordPwrite,
    RecordFdatasync,
    RecordClose,
    OtherClose,
    AuditWrite,
    Nss,
    FutexWake,
    FutexWait,
    EpollWait,
    Other,
}

impl Class {
    fn of(call: &Call) -> Class {
        let on_socket = call
            .text
            .split(',')
            .next()
            .is_some_and(|fd| fd.contains("socket:["));
        let on_record = call.text.contains(".rec");
        match call.name.as_str() {
            "accept" | "accept4" => Class::Accept,
            "read" | "recvfrom" | "recvmsg" | "readv" if on_socket => Class::ReadFrames,
            "write" | "sendto" | "sendmsg" | "writev" if on_socket => Class::WriteFrames,
            "write" | "writev" => Class::AuditWrite,
            "newfstatat" | "statx" | "lstat" | "stat" | "fstat" if on_record => {
                if call.text.contains("AT_EMPTY_PATH") || call.name == "fstat" {
                    Class::RecordFstat
                } else {
                    Class::RecordLstat
                }
            }
            "openat" | "open" if on_record => Class::RecordOpen,
            "openat" | "open" | "read" | "newfstatat" | "statx" | "lseek"
                if call.text.contains("passwd") || call.text.contains("group") =>
            {
                Class::Nss
            }
            "pwrite64" | "pwritev" => Class::RecordPwrite,
            "fdatasync" | "fsync" => Class::RecordFdatasync,
            "close" if on_record => Class::RecordClose,
            "close" => Class::OtherClose,
            "futex" if call.text.contains("WAKE") => Class::FutexWake,
            "futex" | "restart_syscall" => Class::FutexWait,
            "epoll_wait" | "epoll_pwait" | "epoll_pwait2" => Class::EpollWait,
            _ => Class::Other,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Class::Accept => "accept the connection (accept4)",
            Class::ReadFrames => "read frames from the socket",
            Class::WriteFrames => "write frames to the socket",
            Class::RecordLstat => "lstat of the record (the in-memory copy's check)",
            Class::RecordOpen => "open the record file",
            Class::RecordFstat => "fstat of the open record file",
            Class::RecordPwrite => "pwrite: the new slot, and the wipe of the previous one",
            Class::RecordFdatasync => "**fdatasync of the record**",
            Class::RecordClose => "close the record file",
            Class::OtherClose => "close (the connection, other files)",
            Class::AuditWrite => "write the audit and log lines (stderr)",
            Class::Nss => "NSS lookups (nss_wrapper's passwd and group files)",
            Class::FutexWake => "futex wake (hand a task to another thread)",
            Class::FutexWait => {
                "futex wait, and waits resumed after strace attached (threads waiting for work: idle)"
            }
            Class::EpollWait => "epoll_wait (the runtime waiting for events: idle)",
            Class::Other => "other system calls",
        }
    }

    fn is_idle(self) -> bool {
        matches!(self, Class::FutexWait | Class::EpollWait)
    }
}

/// Reads the daemon's trace and prints the per-login table.
pub fn daemon(strace_log: &Path, logins: usize) -> Result<(), BenchError> {
    let log = fs::read_to_string(strace_log)
        .map_err(BenchError::io(format!("read {}", strace_log.display())))?;
    let calls = parse(&log);
    let per_login = logins.max(1) as f64;
    let mut classes: HashMap<Class, (usize, f64)> = HashMap::new();
    for call in &calls {
        let entry = classes.entry(Class::of(call)).or_default();
        entry.0 += 1;
        entry.1 += call.duration;
    }
    // Each connection from the accept's return to the end of its last write: the daemon's
    // share of a login as the socket sees it.
    let mut connections: HashMap<String, (f64, f64)> = HashMap::new();
    for call in &calls {
        match Class::of(call) {
            Class::Accept => {
                if let Some(inode) = call.socket_inode(true) {
                    connections.insert(inode.to_owned(), (call.end(), call.end()));
                }
            }
            Class::WriteFrames => {
                if let Some(span) = call
                    .socket_inode(false)
                    .and_then(|inode| connections.get_mut(inode))
                {
                    span.1 = span.1.max(call.end());
                }
            }
            _ => {}
        }
    }
    let spans: Vec<Duration> = connections
        .values()
        .filter(|(accepted, last)| last > accepted)
        .map(|(accepted, last)| Duration::from_secs_f64(last - accepted))
        .collect();
    let threads = {
        let mut pids: Vec<u32> = calls.iter().map(|c| c.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        pids.len()
    };
    println!(
        "The daemon under `strace -f -ttt -T -y` for {logins} logins one after another ({} \
         system calls on {threads} threads, {} connections); time inside each call as strace \
         measures it, summed per class and divided by the logins:\n",
        calls.len(),
        connections.len()
    );
    println!("| system calls | calls per login | ms per login (traced) |");
    println!("|---|---:|---:|");
    let mut ordered: Vec<(Class, (usize, f64))> = classes.into_iter().collect();
    ordered.sort_by_key(|(class, _)| *class);
    let mut work = 0.0;
    for (class, (count, seconds)) in &ordered {
        if !class.is_idle() {
            work += seconds;
        }
        println!(
            "| {} | {:.1} | {:.3} |",
            class.describe(),
            *count as f64 / per_login,
            seconds * 1000.0 / per_login
        );
    }
    println!(
        "| **all but the idle waits** | | **{:.3}** |",
        work * 1000.0 / per_login
    );
    if let Some(s) = Summary::of(&spans) {
        println!(
            "\nConnection, accept to the last frame written (traced): median {:.3} ms, p90 \
             {:.3} ms.",
            s.p50, s.p90
        );
    }
    Ok(())
}

/// What to run for the module profile.
#[derive(Debug)]
pub struct ModulePlan<'a> {
    /// pam_wrapper's service directory.
    pub pam_dir: &'a Path,
    /// The service with pam_permit only.
    pub baseline: &'a str,
    /// The service with libpam_mfa.so.
    pub service: &'a str,
    /// Its enrolled users; each run takes the next with a fresh code.
    pub roster: &'a Path,
    /// Runs of each, traced and untraced.
    pub runs: usize,
    /// Where the traces go.
    pub out_dir: &'a Path,
}

/// A pamtester run's segments, seconds.
#[derive(Debug, Default)]
struct Segments {
    total: f64,
    calls: usize,
    before_load: f64,
    load: f64,
    load_calls: usize,
    connect: f64,
    /// From connect to the module's first frame (its check of the daemon's peer).
    before_request: f64,
    before_request_calls: usize,
    /// From the first frame to the prompt's frame read (the daemon).
    to_prompt: f64,
    /// From the prompt read to the answer sent (pamtester's conversation).
    prompt: f64,
    /// From the answer sent to the last frame read (the daemon: check, durable write).
    to_done: f64,
    after: f64,
}

/// Runs pamtester with and without the module, traced and untraced, and prints the table.
pub fn module(plan: &ModulePlan<'_>) -> Result<(), BenchError> {
    fs::create_dir_all(plan.out_dir)
        .map_err(BenchError::io(format!("create {}", plan.out_dir.display())))?;
    let mut users = roster::read(plan.roster)?;
    let mut baseline_traced = Vec::new();
    let mut module_traced = Vec::new();
    let mut baseline_plain = Vec::new();
    let mut module_plain = Vec::new();
    let runs = plan.runs.min(users.len() / 2);
    for run in 0..runs {
        let trace = plan.out_dir.join(format!("permit.{run}"));
        pamtester(plan.pam_dir, plan.baseline, "bench-user", "-", Some(&trace))?;
        baseline_traced.push(segments(&trace, None)?);
        baseline_plain.push(pamtester(
            plan.pam_dir,
            plan.baseline,
            "bench-user",
            "-",
            None,
        )?);
        for (traced, user) in [(true, run * 2), (false, run * 2 + 1)] {
            let Some(user) = users.get_mut(user) else {
                continue;
            };
            let (step, code) = schedule::next_code(user);
            let trace = plan.out_dir.join(format!("mfa.{run}"));
            let elapsed = pamtester(
                plan.pam_dir,
                plan.service,
                &user.name,
                &code,
                traced.then_some(trace.as_path()),
            )?;
            user.last_step = step;
            if traced {
                module_traced.push(segments(&trace, Some("libpam_mfa.so"))?);
            } else {
                module_plain.push(elapsed);
            }
        }
    }
    roster::write(plan.roster, &users)?;
    let median = |values: Vec<f64>| Summary::of_ms(&values).map_or(0.0, |s| s.p50);
    let seg = |runs: &[Segments], f: fn(&Segments) -> f64| {
        median(runs.iter().map(|s| f(s) * 1000.0).collect())
    };
    let count = |runs: &[Segments], f: fn(&Segments) -> usize| {
        median(runs.iter().map(|s| f(s) as f64).collect())
    };
    let plain = |runs: &[Duration]| Summary::of(runs).map_or(0.0, |s| s.p50);
    println!(
        "pamtester under pam_wrapper, {runs} runs of each stack (`pam_permit.so` alone; \
         `libpam_mfa.so` against the measured daemon, a fresh code each run), every run \
         once under `strace -ttt -T -y` and once untraced; medians. The module's runs are \
         cut at its own system calls: the `openat` of libpam_mfa.so, its `socket`, \
         `connect` and the `close` of that socket.\n"
    );
    println!("| segment | pam_permit: calls | traced ms | pam_mfa: calls | traced ms |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| pamtester, libpam, pam_wrapper up to the module (to the `openat` of libpam_mfa.so) | | | | {:.3} |",
        seg(&module_traced, |s| s.before_load)
    );
    println!(
        "| load: dlopen of libpam_mfa.so and libgcc_s.so.1 (map, relocate), pam_sm_authenticate up to `socket` | | | {:.0} | {:.3} |",
        count(&module_traced, |s| s.load_calls),
        seg(&module_traced, |s| s.load)
    );
    println!(
        "| connect to the daemon's socket | | | | {:.3} |",
        seg(&module_traced, |s| s.connect)
    );
    println!(
        "| connected to first frame sent: the module's check of the daemon (SO_PEERCRED, NSS lookup of the daemon's account) | | | {:.0} | {:.3} |",
        count(&module_traced, |s| s.before_request_calls),
        seg(&module_traced, |s| s.before_request)
    );
    println!(
        "| Authenticate sent to the prompt read (the daemon) | | | | {:.3} |",
        seg(&module_traced, |s| s.to_prompt)
    );
    println!(
        "| the prompt through pamtester's conversation (write the prompt, read the code) | | | | {:.3} |",
        seg(&module_traced, |s| s.prompt)
    );
    println!(
        "| answer sent to Done read (the daemon: check the code, durable write) | | | | {:.3} |",
        seg(&module_traced, |s| s.to_done)
    );
    println!(
        "| after: close, dlclose, pam_end, exit | | | | {:.3} |",
        seg(&module_traced, |s| s.after)
    );
    println!(
        "| **whole run, traced** | {:.0} | {:.3} | {:.0} | {:.3} |",
        count(&baseline_traced, |s| s.calls),
        seg(&baseline_traced, |s| s.total),
        count(&module_traced, |s| s.calls),
        seg(&module_traced, |s| s.total)
    );
    println!(
        "| **whole run, untraced** (spawn to exit) | | {:.3} | | {:.3} |",
        plain(&baseline_plain),
        plain(&module_plain)
    );
    Ok(())
}

/// Runs pamtester once (under strace writing to `trace` if given); its time, spawn to exit.
fn pamtester(
    pam_dir: &Path,
    service: &str,
    user: &str,
    answer: &str,
    trace: Option<&Path>,
) -> Result<Duration, BenchError> {
    let mut command = match trace {
        Some(trace) => {
            let mut c = Command::new("strace");
            c.args(["-ttt", "-T", "-y", "-o"])
                .arg(trace)
                .arg("pamtester");
            c
        }
        None => Command::new("pamtester"),
    };
    command
        .args([service, user, "authenticate"])
        .env("LD_PRELOAD", "libpam_wrapper.so")
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", pam_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = command.spawn().map_err(BenchError::io("run pamtester"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = writeln!(stdin, "{answer}");
    }
    let status = child.wait().map_err(BenchError::io("wait for pamtester"))?;
    let elapsed = started.elapsed();
    if !status.success() {
        return Err(BenchError::Program {
            program: PathBuf::from("pamtester"),
            why: format!("{service} refused {user} ({status})"),
        });
    }
    Ok(elapsed)
}

/// Cuts one traced run into segments at the module's calls (`library` names it; `None` for
/// the baseline, which has only a total).
fn segments(trace: &Path, library: Option<&str>) -> Result<Segments, BenchError> {
    let log =
        fs::read_to_string(trace).map_err(BenchError::io(format!("read {}", trace.display())))?;
    let calls = parse(&log);
    let (Some(first), Some(last)) = (calls.first(), calls.last()) else {
        return Err(BenchError::Program {
            program: PathBuf::from("strace"),
            why: format!("{} holds no system calls", trace.display()),
        });
    };
    let mut seg = Segments {
        total: last.end() - first.start,
        calls: calls.len(),
        ..Segments::default()
    };
    let Some(library) = library else {
        return Ok(seg);
    };
    let missing = |what: &str| BenchError::Program {
        program: PathBuf::from("strace"),
        why: format!("{}: no {what}", trace.display()),
    };
    let open = calls
        .iter()
        .position(|c| c.name == "openat" && c.text.contains(library))
        .ok_or_else(|| missing("openat of the module"))?;
    let socket = (open..calls.len())
        .find(|&i| calls.get(i).is_some_and(|c| c.name == "socket"))
        .ok_or_else(|| missing("socket"))?;
    let connect = (socket..calls.len())
        .find(|&i| calls.get(i).is_some_and(|c| c.name == "connect"))
        .ok_or_else(|| missing("connect"))?;
    let inode = calls
        .get(connect)
        .and_then(|c| c.socket_inode(false))
        .ok_or_else(|| missing("socket of the connect"))?;
    let on_socket = |i: &usize, names: &[&str]| {
        calls.get(*i).is_some_and(|c| {
            names.contains(&c.name.as_str()) && c.socket_inode(false) == Some(inode)
        })
    };
    const SENDS: &[&str] = &["sendto", "write", "sendmsg", "writev"];
    const RECVS: &[&str] = &["recvfrom", "read", "recvmsg", "readv"];
    let sends: Vec<usize> = (connect..calls.len())
        .filter(|i| on_socket(i, SENDS))
        .collect();
    let (Some(&request), Some(&answer)) = (sends.first(), sends.get(1)) else {
        return Err(missing("two frames sent"));
    };
    let last_recv_before = |limit: usize| {
        (connect..limit)
            .rfind(|i| on_socket(i, RECVS))
            .ok_or_else(|| missing("frame read"))
    };
    let prompt = last_recv_before(answer)?;
    let close = (answer..calls.len())
        .find(|i| on_socket(i, &["close"]))
        .ok_or_else(|| missing("close of the socket"))?;
    let done = last_recv_before(close)?;
    let at = |i: usize| calls.get(i).map_or(0.0, |c| c.start);
    let end = |i: usize| calls.get(i).map_or(0.0, Call::end);
    seg.before_load = at(open) - first.start;
    seg.load = at(socket) - at(open);
    seg.load_calls = socket - open;
    seg.connect = end(connect) - at(socket);
    seg.before_request = at(request) - end(connect);
    seg.before_request_calls = request - connect - 1;
    seg.to_prompt = end(prompt) - at(request);
    seg.prompt = at(answer) - end(prompt);
    seg.to_done = end(done) - at(answer);
    seg.after = last.end() - end(done);
    Ok(seg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_unfinished_calls_and_classifies() {
        let log = "\
101 1000.000100 accept4(7<socket:[10]>, NULL, NULL, SOCK_CLOEXEC) = 9<socket:[11]> <0.000010>
102 1000.000200 fdatasync(12</s/users/a.rec> <unfinished ...>
101 1000.000300 read(9<socket:[11]>, \"x\", 4) = 4 <0.000005>
102 1000.000900 <... fdatasync resumed>) = 0 <0.000700>
101 1000.001000 write(9<socket:[11]>, \"y\", 4) = 4 <0.000004>
101 1000.001100 futex(0x1, FUTEX_WAKE_PRIVATE, 1) = 1 <0.000003>
102 1000.001200 newfstatat(AT_FDCWD, \"/s/users/a.rec\", {st_mode=S_IFREG}, AT_SYMLINK_NOFOLLOW) = 0 <0.000002>
+++ exited with 0 +++
";
        let calls = parse(log);
        assert_eq!(calls.len(), 6);
        let sync = calls.iter().find(|c| c.name == "fdatasync").unwrap();
        assert_eq!(sync.start, 1000.0002);
        assert!((sync.duration - 0.0007).abs() < 1e-9);
        assert_eq!(Class::of(sync), Class::RecordFdatasync);
        let classes: Vec<Class> = calls.iter().map(Class::of).collect();
        assert_eq!(
            classes,
            [
                Class::Accept,
                Class::ReadFrames,
                Class::RecordFdatasync,
                Class::WriteFrames,
                Class::FutexWake,
                Class::RecordLstat
            ]
        );
        assert_eq!(calls[0].socket_inode(true), Some("11"));
        assert_eq!(calls[1].socket_inode(false), Some("11"));
    }
}
