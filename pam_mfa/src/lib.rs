//! `pam_mfa.so`: asks for a second factor by relaying the conversation that `mfa-daemon`
//! drives.
//!
//! ```text
//! auth required pam_mfa.so [socket=PATH] [nullok] [failmode=secure|safe] [timeout=SECONDS] [debug]
//! ```
//!
//! - `socket=PATH`: the daemon's socket, an absolute path (default `/run/mfa/mfa.sock`).
//! - `nullok`: users with no factor enrolled are skipped (`PAM_IGNORE`) instead of failing.
//! - `failmode=secure|safe`: what to do when the daemon cannot be reached or does not answer
//!   the opening request in time: `secure` (default) denies with `PAM_AUTHINFO_UNAVAIL`,
//!   `safe` returns `PAM_IGNORE`. A daemon that stops answering once the conversation has
//!   begun always gives `PAM_AUTHINFO_UNAVAIL`, so that a slow answer cannot skip the factor.
//! - `timeout=SECONDS`: how long to wait for the daemon's connection and each of its messages,
//!   1 to 300 (default 10). Time the user spends typing is not counted.
//! - `debug`: logs each step of the conversation (never what the user typed).
//!
//! An unknown, repeated or malformed option is logged and denies with `PAM_SERVICE_ERR`.
//! Only `auth` does anything: `setcred` returns `PAM_SUCCESS`, the other hooks `PAM_IGNORE`.
//!
//! The flow is in the `authenticate` module, generic over the `PamHandler` trait so that it
//! is tested with a fake handle and a fake daemon; only the `ffi` module touches PAM's C
//! interface, and `result_code` is the one place where an ending becomes a PAM code.
#![deny(unsafe_code)]
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
