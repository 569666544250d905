//! `pam_mfa.so`: asks for a second factor by relaying the conversation that `mfa-daemon`
//! drives.
//!
//! ```text
//! auth required pam_mfa.so [socket=PATH] [nullok] [failmode=secure|safe] [timeout=SECONDS]
//!                          [daemon_user=NAME] [debug]
//! ```
//!
//! - `socket=PATH`: the daemon's public socket, an absolute path of at most 99 bytes (default
//!   `/run/mfa/mfa.sock`). When the module runs as root (sshd, sudo, login, su) it connects
//!   only to the privileged socket beside it, `private/` + the same name
//!   (`/run/mfa/private/mfa.sock`), which users cannot reach; other callers (screen lockers)
//!   use the public one.
//! - `nullok`: users with no factor enrolled are skipped (`PAM_IGNORE`) instead of failing.
//! - `failmode=secure|safe`: what to do when the daemon is absent, that is when its socket is
//!   missing or nothing listens on it: `secure` (default) denies with `PAM_AUTHINFO_UNAVAIL`,
//!   `safe` returns `PAM_IGNORE`. A daemon that is there but busy (full listen queue), slow,
//!   silent, broken or run by the wrong user always gives `PAM_AUTHINFO_UNAVAIL`, so that no
//!   one can skip the factor by overloading or impersonating it.
//! - `timeout=SECONDS`: how long to wait for the daemon's connection and each of its messages,
//!   1 to 300 (default 10). Time the user spends typing is not counted.
//! - `daemon_user=NAME`: the account the daemon runs as (default `mfa`). Before sending
//!   anything the module reads the listener's uid (`SO_PEERCRED`) and talks only to root or
//!   this user; when the user does not exist, only to root.
//! - `debug`: logs each step of the conversation (never what the user typed).
//!
//! An unknown, repeated or malformed option is logged and denies with `PAM_SERVICE_ERR`.
//! Only `auth` does anything: `setcred` returns `PAM_SUCCESS`, the other hooks `PAM_IGNORE`.
//!
//! The flow is in the `authenticate` module, generic over the `PamHandler` trait so that it
//! is tested with a fake handle and a fake daemon; only the `ffi` module touches C (PAM and
//! libc), and `result_code` is the one place where an ending becomes a PAM code.
#![deny(unsafe_code)]
#![warn(clippy::too_many_lines)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod authenticate;
mod error;
#[allow(unsafe_code)]
mod ffi;
mod handler;
mod options;
mod result_code;
#[cfg(test)]
mod testing;

use ffi::PamMfa;

pam::pam_hooks!(PamMfa);
