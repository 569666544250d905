//! The wall clock a test daemon sees, which a test may move forward instead of sleeping.
//!
//! The daemon has no clock of its own to set from outside (a release binary must not grow a
//! back door for tests), so a daemon started on a [`Clock::moving`] clock runs under Debian's
//! libfaketime: `LD_PRELOAD` of its library, with the offset in a file of the test's scratch
//! directory that libfaketime reads on every call. Only `CLOCK_REALTIME` and its kin move;
//! the monotonic clocks stay real, so that the daemon's timers and timeouts (tokio's) and
//! every interval it measures keep real time. File times are the kernel's and stay real too.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::scratch::write_file;

/// Where Debian's `libfaketime` package puts the library. Its `MT` build serializes the time
/// calls of a multi-threaded process, so that two of the daemon's threads never read the
/// offset file into libfaketime's one buffer at the same time.
const LIBFAKETIME_PATHS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
];

/// The clock of one daemon, as the test sees it: the real clock, or the real clock plus an
/// offset the test moves forward. Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    moving: Option<Arc<MovingClock>>,
}

#[derive(Debug)]
struct MovingClock {
    /// The file libfaketime reads the offset from (`+SECONDS`).
    offset_file: PathBuf,
    offset: Mutex<Duration>,
}

impl Clock {
    /// The real clock: [`Clock::advance`] sleeps.
    pub fn real() -> Clock {
        Clock::default()
    }

    /// A clock at offset 0 whose offset lives in `offset_file`; panics if libfaketime is not
    /// installed. The daemon's environment for it comes from [`Clock::daemon_env`].
    pub(crate) fn moving(offset_file: &Path) -> Clock {
        let clock = Clock {
            moving: Some(Arc::new(MovingClock {
                offset_file: offset_file.to_owned(),
                offset: Mutex::new(Duration::ZERO),
            })),
        };
        clock.write_offset(Duration::ZERO);
        clock
    }

    /// The variables that put a daemon on this clock: none for the real clock.
    pub(crate) fn daemon_env(&self) -> Vec<(String, String)> {
        let Some(moving) = &self.moving else {
            return Vec::new();
        };
        vec![
            ("LD_PRELOAD".to_owned(), libfaketime().to_owned()),
            (
                "FAKETIME_TIMESTAMP_FILE".to_owned(),
                moving.offset_file.to_string_lossy().into_owned(),
            ),
            // Read the file on every call, so that a move is seen by the next clock read.
            ("FAKETIME_NO_CACHE".to_owned(), "1".to_owned()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned()),
            ("NO_FAKE_STAT".to_owned(), "1".to_owned()),
        ]
    }

    /// Whether [`Clock::advance`] moves the clock rather than sleeping.
    pub fn is_moving(&self) -> bool {
        self.moving.is_some()
    }

    /// How far the clock is ahead of the real one.
    pub fn offset(&self) -> Duration {
        self.moving.as_ref().map_or(Duration::ZERO, |moving| {
            *moving.offset.lock().expect("clock lock")
        })
    }

    /// Now on this clock.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + self.offset()
    }

    /// Milliseconds since the epoch on this clock.
    pub fn unix_time_ms(&self) -> u64 {
        let since_epoch = self
            .now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970");
        u64::try_from(since_epoch.as_millis()).expect("time fits in u64")
    }

    /// Lets `by` pass on this clock: moves a moving clock forward by `by` rounded up to whole
    /// seconds (libfaketime's offsets are whole seconds), and sleeps on the real one.
    pub fn advance(&self, by: Duration) {
        let Some(moving) = &self.moving else {
            thread::sleep(by);
            return;
        };
        let seconds = by.as_secs() + u64::from(by.subsec_nanos() > 0);
        let mut offset = moving.offset.lock().expect("clock lock");
        let moved = *offset + Duration::from_secs(seconds);
        // The file first: the test must never be ahead of the daemon.
        self.write_offset(moved);
        *offset = moved;
    }

    fn write_offset(&self, offset: Duration) {
        let moving = self.moving.as_ref().expect("a moving clock");
        // Written beside and renamed over, so that libfaketime never reads half a file.
        let next = moving.offset_file.with_extension("next");
        write_file(&next, &format!("+{}\n", offset.as_secs()), 0o644);
        fs::rename(&next, &moving.offset_file).unwrap_or_else(|e| {
            panic!(
                "cannot move {} over {}: {e}",
                next.display(),
                moving.offset_file.display()
            )
        });
    }
}

/// The path of libfaketime's multi-threaded library; panics naming the package if absent.
fn libfaketime() -> &'static str {
    LIBFAKETIME_PATHS
        .iter()
        .copied()
        .find(|path| Path::new(path).exists())
        .unwrap_or_else(|| {
            panic!(
                "a test daemon on a moving clock needs libfaketime (Debian package \
                 `libfaketime`, see scripts/install-deps.sh); looked for {LIBFAKETIME_PATHS:?}"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::{Daemon, ONE_PROMPT_NO_LOCKOUT};
    use crate::enroll::{Authenticator, enroll_totp};
    use crate::pam::{PamService, Pamtester};
    use crate::user::TestUser;

    /// The daemon reads the moved time: an hour ahead, a code of an hour ahead logs in and
    /// one of the real now is refused, on the same login prompt as ever (the answer timeout,
    /// on the monotonic clock, did not jump).
    #[test]
    fn the_daemon_sees_the_moved_time() {
        if !crate::root_suite_ready() {
            return;
        }
        let daemon = Daemon::start_on_moving_clock(ONE_PROMPT_NO_LOCKOUT);
        let user = TestUser::create();
        let enrollment = enroll_totp(&daemon, &user);
        let clock = daemon.clock();
        assert!(clock.is_moving());
        clock.advance(Duration::from_secs(3600));
        assert_eq!(clock.offset(), Duration::from_secs(3600));

        let service = PamService::mfa(daemon.socket(), "");
        let real_app = Authenticator::from_enrollment(
            enrollment.authenticator.secret(),
            &enrollment.otpauth_uri,
        );
        let now = Pamtester::new(&service, user.name()).authenticate(&[&real_app.next_code()]);
        assert!(
            !now.succeeded(),
            "a code of the real now logged in an hour later: {now}\n{}",
            daemon.log_section()
        );
        let hour_ahead = enrollment.authenticator.next_code();
        let ahead = Pamtester::new(&service, user.name()).authenticate(&[&hour_ahead]);
        assert!(
            ahead.succeeded(),
            "a code of an hour ahead was refused: {ahead}\n{}",
            daemon.log_section()
        );
        assert_eq!(daemon.auth_outcomes(user.name()), ["failure", "success"]);
    }

    #[test]
    fn the_real_clock_has_no_offset_and_no_daemon_env() {
        let clock = Clock::real();
        assert!(!clock.is_moving());
        assert_eq!(clock.offset(), Duration::ZERO);
        assert!(clock.daemon_env().is_empty());
    }
}
