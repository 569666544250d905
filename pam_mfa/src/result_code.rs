//! The one place where an authentication's end becomes a PAM result code.

use mfa_proto::Outcome;
use pam::constants::PamResultCode;

use crate::error::{AuthError, Unavailable, UserError};
use crate::options::FailMode;

/// The PAM code for how an authentication ended. `failmode` matters only when the daemon is
/// absent (socket missing, connection refused). A daemon that is there but busy, silent,
/// stalled, broken or not who it should be gives `PAM_AUTHINFO_UNAVAIL`, so that nobody can
/// skip the factor by overloading or impersonating it; the daemon's own `error` outcome is
/// `PAM_SYSTEM_ERR`.
pub fn result_code(end: Result<Outcome, AuthError>, failmode: FailMode) -> PamResultCode {
    match end {
        Ok(Outcome::Success) => PamResultCode::PAM_SUCCESS,
        Ok(Outcome::Failure) => PamResultCode::PAM_AUTH_ERR,
        Ok(Outcome::LockedOut) => PamResultCode::PAM_MAXTRIES,
        Ok(Outcome::Ignore) => PamResultCode::PAM_IGNORE,
        Ok(Outcome::NotAuthorized) => PamResultCode::PAM_PERM_DENIED,
        Ok(Outcome::Error) => PamResultCode::PAM_SYSTEM_ERR,
        Ok(Outcome::Unavailable) => PamResultCode::PAM_AUTHINFO_UNAVAIL,
        Err(AuthError::Options(_)) => PamResultCode::PAM_SERVICE_ERR,
        // What pam_unix does: pass pam_get_user's code on, asking to be called again when
        // the application wants to resume the conversation later.
        Err(AuthError::User(UserError::Lookup(PamResultCode::PAM_CONV_AGAIN))) => {
            PamResultCode::PAM_INCOMPLETE
        }
        // Codes that would let the stack go on are never passed on from a failure.
        Err(AuthError::User(UserError::Lookup(
            PamResultCode::PAM_SUCCESS | PamResultCode::PAM_IGNORE,
        ))) => PamResultCode::PAM_SYSTEM_ERR,
        Err(AuthError::User(UserError::Lookup(code))) => code,
        Err(AuthError::User(UserError::Empty)) => PamResultCode::PAM_USER_UNKNOWN,
        Err(AuthError::Item(_)) => PamResultCode::PAM_SYSTEM_ERR,
        Err(AuthError::Unavailable(Unavailable::Absent { .. })) => match failmode {
            FailMode::Secure => PamResultCode::PAM_AUTHINFO_UNAVAIL,
            FailMode::Safe => PamResultCode::PAM_IGNORE,
        },
        Err(AuthError::Unavailable(_) | AuthError::Stalled { .. } | AuthError::Protocol(_)) => {
            PamResultCode::PAM_AUTHINFO_UNAVAIL
        }
        Err(AuthError::Conversation(_)) => PamResultCode::PAM_CONV_ERR,
        Err(AuthError::AnswerTooLarge) => PamResultCode::PAM_AUTH_ERR,
        Err(AuthError::RequestTooLarge { .. }) => PamResultCode::PAM_SYSTEM_ERR,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use mfa_proto::FrameError;

    use super::*;
    use crate::error::ProtocolError;
    use crate::handler::{ConvError, ItemError, ItemProblem};
    use crate::options::OptionError;

    const BOTH: [FailMode; 2] = [FailMode::Secure, FailMode::Safe];

    /// What each outcome must become; also checked through a whole conversation in
    /// `authenticate::tests`.
    pub(crate) const OUTCOME_CODES: [(Outcome, PamResultCode); 7] = [
        (Outcome::Success, PamResultCode::PAM_SUCCESS),
        (Outcome::Failure, PamResultCode::PAM_AUTH_ERR),
        (Outcome::LockedOut, PamResultCode::PAM_MAXTRIES),
        (Outcome::Ignore, PamResultCode::PAM_IGNORE),
        (Outcome::NotAuthorized, PamResultCode::PAM_PERM_DENIED),
        (Outcome::Error, PamResultCode::PAM_SYSTEM_ERR),
        (Outcome::Unavailable, PamResultCode::PAM_AUTHINFO_UNAVAIL),
    ];

    #[test]
    fn each_outcome_has_its_code_whatever_the_failmode() {
        for failmode in BOTH {
            for (outcome, code) in OUTCOME_CODES {
                assert_eq!(result_code(Ok(outcome), failmode), code, "{outcome:?}");
            }
        }
    }

    /// How a failed `connect` with this errno is sorted.
    fn connect_error(errno: i32) -> Unavailable {
        Unavailable::connecting(
            PathBuf::from("/run/mfa/private/mfa.sock"),
            FrameError::Io(std::io::Error::from_raw_os_error(errno)),
        )
    }

    #[test]
    fn only_a_missing_socket_or_a_refused_connection_is_absent() {
        for errno in [libc::ENOENT, libc::ECONNREFUSED] {
            assert!(
                matches!(connect_error(errno), Unavailable::Absent { .. }),
                "{errno}"
            );
        }
        for errno in [libc::EACCES, libc::ECONNRESET, libc::ENOTDIR, libc::EMFILE] {
            assert!(
                matches!(connect_error(errno), Unavailable::Connect { .. }),
                "{errno}"
            );
        }
        for busy in [FrameError::Busy, FrameError::Timeout] {
            assert!(matches!(
                Unavailable::connecting(PathBuf::from("/s"), busy),
                Unavailable::Busy { .. }
            ));
        }
    }

    #[test]
    fn failmode_decides_only_when_the_daemon_is_absent() {
        for errno in [libc::ENOENT, libc::ECONNREFUSED] {
            let absent = || AuthError::Unavailable(connect_error(errno));
            assert_eq!(
                result_code(Err(absent()), FailMode::Secure),
                PamResultCode::PAM_AUTHINFO_UNAVAIL
            );
            assert_eq!(
                result_code(Err(absent()), FailMode::Safe),
                PamResultCode::PAM_IGNORE
            );
        }
        let there: Vec<fn() -> AuthError> = vec![
            || {
                Unavailable::Busy {
                    socket: "/s".into(),
                }
                .into()
            },
            || connect_error(libc::EACCES).into(),
            || {
                Unavailable::WrongListener {
                    socket: "/s".into(),
                    source: mfa_proto::ListenerError::Untrusted { uid: 1000 },
                }
                .into()
            },
            || {
                Unavailable::NoAnswer {
                    socket: "/s".into(),
                    timeout: Duration::from_secs(1),
                }
                .into()
            },
            || AuthError::Stalled {
                timeout: Duration::from_secs(1),
            },
            || AuthError::Protocol(ProtocolError::Frame(FrameError::Closed)),
            || {
                AuthError::Protocol(ProtocolError::Refused {
                    kind: mfa_proto::FailureKind::BadRequest,
                    message: "too many open connections from uid 1000".into(),
                })
            },
        ];
        for failmode in BOTH {
            for error in &there {
                let error = error();
                let shown = error.to_string();
                assert_eq!(
                    result_code(Err(error), failmode),
                    PamResultCode::PAM_AUTHINFO_UNAVAIL,
                    "{shown} ({failmode})"
                );
            }
        }
    }

    #[test]
    fn each_error_has_its_code_whatever_the_failmode() {
        let cases: Vec<(fn() -> AuthError, PamResultCode)> = vec![
            (
                || AuthError::Options(OptionError::Unknown { arg: "x".into() }),
                PamResultCode::PAM_SERVICE_ERR,
            ),
            (
                || AuthError::Protocol(ProtocolError::Frame(FrameError::Empty)),
                PamResultCode::PAM_AUTHINFO_UNAVAIL,
            ),
            (
                || AuthError::Protocol(ProtocolError::TooManySteps(100)),
                PamResultCode::PAM_AUTHINFO_UNAVAIL,
            ),
            (
                || AuthError::Conversation(ConvError::NoAnswer),
                PamResultCode::PAM_CONV_ERR,
            ),
            (
                || AuthError::Conversation(ConvError::Pam(PamResultCode::PAM_BUF_ERR)),
                PamResultCode::PAM_CONV_ERR,
            ),
            (
                || {
                    AuthError::Item(ItemError {
                        name: c"PAM_RHOST",
                        problem: ItemProblem::NotUtf8,
                    })
                },
                PamResultCode::PAM_SYSTEM_ERR,
            ),
            (
                || AuthError::User(UserError::Lookup(PamResultCode::PAM_CONV_ERR)),
                PamResultCode::PAM_CONV_ERR,
            ),
            (
                || AuthError::User(UserError::Lookup(PamResultCode::PAM_CONV_AGAIN)),
                PamResultCode::PAM_INCOMPLETE,
            ),
            (
                || AuthError::User(UserError::Lookup(PamResultCode::PAM_SUCCESS)),
                PamResultCode::PAM_SYSTEM_ERR,
            ),
            (
                || AuthError::User(UserError::Lookup(PamResultCode::PAM_IGNORE)),
                PamResultCode::PAM_SYSTEM_ERR,
            ),
            (
                || AuthError::User(UserError::Empty),
                PamResultCode::PAM_USER_UNKNOWN,
            ),
            (|| AuthError::AnswerTooLarge, PamResultCode::PAM_AUTH_ERR),
            (
                || AuthError::RequestTooLarge { len: 70_000 },
                PamResultCode::PAM_SYSTEM_ERR,
            ),
        ];
        for failmode in BOTH {
            for (error, code) in &cases {
                let error = error();
                let shown = error.to_string();
                assert_eq!(result_code(Err(error), failmode), *code, "{shown}");
            }
        }
    }
}
