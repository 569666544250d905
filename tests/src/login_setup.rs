//! The setup most suites start from: a daemon, one account enrolled in it, and the way that
//! account logs in.

use crate::daemon::Daemon;
use crate::enroll::{Enrollment, enroll_totp};
use crate::pam::PamService;
use crate::sshd::Sshd;
use crate::sudo::Sudo;
use crate::user::TestUser;

/// A running daemon, an account enrolled in it with a TOTP app, and `via`, what the account
/// logs in through: a [`PamService`], an [`Sshd`] or a [`Sudo`] rule, each with `pam_mfa.so`
/// alone and no options. Tests use the fields directly, so that one can be borrowed while
/// another changes (`setup.daemon.stop()` while a closure holds `&setup.via`).
///
/// Fields drop in the order they are declared, the reverse of the order they are set up in:
/// the way in first, then the account, the daemon last.
#[derive(Debug)]
pub struct LoginSetup<Via> {
    /// What the account logs in through.
    pub via: Via,
    /// What enrolling the account gave it: its authenticator app and recovery codes.
    pub enrollment: Enrollment,
    /// The enrolled account.
    pub user: TestUser,
    /// The daemon the account is enrolled in.
    pub daemon: Daemon,
}

impl LoginSetup<PamService> {
    /// Logins through a PAM service in /etc/pam.d whose auth stack is `pam_mfa.so` alone,
    /// against a daemon whose config adds `daemon_settings`.
    pub fn through_pam_service(daemon_settings: &str) -> LoginSetup<PamService> {
        LoginSetup::with_way_in(Daemon::start_with(daemon_settings), |daemon, _| {
            PamService::mfa(daemon.socket(), "")
        })
    }

    /// [`LoginSetup::through_pam_service`] with the daemon on a clock the test moves
    /// ([`Daemon::start_on_moving_clock`]): the app moves it when it needs a later time step.
    pub fn through_pam_service_on_moving_clock(daemon_settings: &str) -> LoginSetup<PamService> {
        LoginSetup::with_way_in(
            Daemon::start_on_moving_clock(daemon_settings),
            |daemon, _| PamService::mfa(daemon.socket(), ""),
        )
    }
}

impl LoginSetup<Sshd> {
    /// Logins through a private sshd that already accepts the account's client key, so that
    /// only pam_mfa.so's prompt stands between the account and a command; the daemon's config
    /// adds `daemon_settings`.
    pub fn through_sshd(daemon_settings: &str) -> LoginSetup<Sshd> {
        LoginSetup::with_way_in(Daemon::start_with(daemon_settings), |daemon, user| {
            let sshd = Sshd::start(daemon, "");
            sshd.authorize(user);
            sshd
        })
    }
}

impl LoginSetup<Sudo> {
    /// `sudo` by the account, which a sudoers rule lets run anything as root after the code
    /// prompt; the daemon's config adds `daemon_settings`.
    pub fn through_sudo(daemon_settings: &str) -> LoginSetup<Sudo> {
        LoginSetup::with_way_in(Daemon::start_with(daemon_settings), |daemon, user| {
            Sudo::allow(user, daemon, "")
        })
    }
}

impl<Via> LoginSetup<Via> {
    /// Creates and enrolls the account in `daemon`, then sets up its way in.
    fn with_way_in(
        daemon: Daemon,
        way_in: impl FnOnce(&Daemon, &TestUser) -> Via,
    ) -> LoginSetup<Via> {
        let user = TestUser::create();
        let enrollment = enroll_totp(&daemon, &user);
        let via = way_in(&daemon, &user);
        LoginSetup {
            via,
            enrollment,
            user,
            daemon,
        }
    }
}
