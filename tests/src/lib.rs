//! End-to-end test harness: fixtures that run the real `mfa-daemon`, `mfa-enroll` and
//! `pam_mfa.so` behind `pamtester`, `sshd` and `sudo`, on loopback only.
//!
//! Every fixture gives what it creates a name that carries this process's PID (files, PAM
//! services and sudoers drop-ins `mfat-<pid>-<n>`, accounts `mfat<pid>u<n>`), records the PIDs
//! of the processes it starts, stops them by PID and removes what it created on `Drop`.
//! [`root_suite_ready`] also sweeps away what an earlier, killed run left behind.

mod artifacts;
mod clock;
mod daemon;
mod enroll;
mod enrollment_offer;
mod leftovers;
mod login_setup;
mod menu;
mod nss;
mod pam;
mod process;
mod providers;
mod scratch;
mod sshd;
mod sudo;
mod user;
mod web;

pub mod approval;
pub mod browser;
pub mod postgres;
pub mod radius;
pub mod records;
pub mod standins;
pub mod text;

use std::sync::Once;

pub use artifacts::{
    daemon_binary, enroll_binary, mfactl_binary, pam_module, radius_binary, suite_output_dir,
    web_binary,
};
pub use clock::Clock;
pub use daemon::{
    Daemon, ONE_PROMPT_NO_LOCKOUT, ONE_PROMPT_PER_LOGIN, is_sign_in, privileged_socket,
};
pub use enroll::{
    Authenticator, EnrollTotp, Enrollment, enroll_totp, json_line_with, mfa_enroll, status,
};
pub use enrollment_offer::{EnrollmentOffer, recovery_codes_shown};
pub use login_setup::LoginSetup;
pub use menu::MenuLogin;
pub use nss::{DIRECTORY_DOMAIN, DIRECTORY_SHORT_DOMAIN, FakeNss};
pub use pam::{
    DENY_AUTH_LINE, PERMIT_AUTH_LINE, PamService, Pamtester, assert_pam_mfa_ignores, mfa_auth_line,
};
pub use process::{Interaction, Run, command_as, run, run_answering, test_binary_as};
pub use providers::{
    ContactEnrollment, DELIVERY_WAIT, PLAINTEXT_FOR_TESTS, Providers, SMS_SENDER,
    TWILIO_ACCOUNT_SID, add_contact,
};
pub use scratch::ScratchDir;
pub use sshd::{PendingSshLogin, SshLogin, Sshd};
pub use sudo::Sudo;
pub use user::{TestUser, unused_user_name};
pub use web::{MfaWeb, free_web_port, web_settings};

/// Call first in every end-to-end test; when it returns `false` the test returns at once.
///
/// The suites create accounts, PAM services and sudoers rules, so they need root. Without
/// root this prints why the test is skipped, unless `CI=true`, where it fails instead: CI must
/// never pass by skipping. The first call in a process removes leftovers of killed runs.
pub fn root_suite_ready() -> bool {
    if !nix::unistd::geteuid().is_root() {
        let why = "the end-to-end suites need root: they add accounts, /etc/pam.d services and \
                   sudoers rules (run `cargo test -p mfa-tests` as root)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipped: {why}");
        return false;
    }
    sweep_leftovers_once();
    true
}

/// Removes what killed earlier runs left behind, once per process (as root; a no-op for what
/// an unprivileged run cannot touch).
pub(crate) fn sweep_leftovers_once() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(leftovers::remove_leftovers_of_dead_runs);
}
