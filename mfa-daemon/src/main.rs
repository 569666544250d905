use std::os::fd::{FromRawFd, OwnedFd};

use std::process::ExitCode;

use mfa_daemon::cli::{CliError, Finished};
use mfa_daemon::logging::Logging;
use mfa_daemon::server::socket_activation::PassedSockets;

fn main() -> ExitCode {
    return_large_buffers_to_the_os();
    let passed = take_passed_sockets();
    let logging = Logging::install();
    match mfa_daemon::cli::main(passed, &logging) {
        Ok(finished) => report(&finished),
        Err(e) => {
            match &e {
                // The daemon's own failure belongs in its log, with its level.
                CliError::Daemon(failure) => tracing::error!("{failure}"),
                // The command line's answer to the person who typed it.
                _ => eprintln!("mfa-daemon: {e}"),
            }
            e.exit_code()
        }
    }
}

/// Prints what a command that did its work has to say: the result on stdout; an import's
/// records that could not be copied on stderr, first, and then exit status 1.
fn report(finished: &Finished) -> ExitCode {
    match finished {
        Finished::Stopped => ExitCode::SUCCESS,
        Finished::Imported(imported) => {
            for failure in &imported.failed {
                eprintln!("mfa-daemon: {failure}");
            }
            println!("{imported}");
            if imported.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        _ => {
            println!("{finished}");
            ExitCode::SUCCESS
        }
    }
}

/// The listening sockets systemd passed (socket activation, sd_listen_fds(3)) and their
/// names, for the server to check; none when `$LISTEN_PID` is not this process. The
/// `LISTEN_*` variables are removed either way, so nothing the daemon starts takes them for
/// its own.
fn take_passed_sockets() -> PassedSockets {
    let names = std::env::var("LISTEN_FDNAMES").ok();
    // SAFETY: removing environment variables races only with other threads reading or
    // writing the environment, and there are none: main has just begun.
    let listed = unsafe { sd_notify::listen_fds_and_unset_env() };
    // SAFETY: as above.
    unsafe { std::env::remove_var("LISTEN_FDNAMES") };
    let fds = listed.map(|fds| {
        fds.map(|fd| {
            // SAFETY: listen_fds set FD_CLOEXEC on each descriptor, which fails unless it is
            // open; by the sd_listen_fds protocol descriptors 3 to 3+$LISTEN_FDS-1 are handed
            // to this process to own, each number comes once, and nothing else in the daemon
            // uses them.
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
        .collect()
    });
    PassedSockets::new(fds, names)
}

/// argon2 needs 19 MiB per hash. glibc raises its mmap threshold once the first such buffer is
/// freed, after which later ones come from per-thread arenas and stay resident: measured, the
/// daemon grew by about 58 MB with every enrollment and never shrank. A fixed threshold keeps
/// every buffer of 1 MiB or more in its own mapping, returned to the OS when freed.
fn return_large_buffers_to_the_os() {
    // SAFETY: mallopt only tunes the allocator and is called before any other thread exists,
    // so nothing allocates concurrently; an unsupported value is ignored (returns 0).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
