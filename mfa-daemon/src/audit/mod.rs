//! Audit events: one JSON line per enrollment, success, failure and lockout, to stderr and
//! to syslog (facility authpriv) when `/dev/log` exists. Never a code, a secret or a hash:
//! the event type has no field that could hold one.

pub mod throttle;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audit::throttle::LogThrottle;

/// Identical audit lines written at once before the rest are only counted.
const IDENTICAL_BURST: u32 = 64;
/// Then one identical line per this long, carrying the count of those dropped.
const IDENTICAL_INTERVAL: Duration = Duration::from_secs(1);

const SYSLOG_SOCKET: &str = "/dev/log";
const LOG_AUTHPRIV: u8 = 10;
const LOG_WARNING: u8 = 4;
const LOG_INFO: u8 = 6;

/// What an audit event is about. The names follow the hosted services' vocabulary
/// (`sign_in_succeeded`, `mfa_setup_succeeded`, ...); docs/CONTRACT.md lists every event
/// with its fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A login passed a factor (`factor`) or a trusted device (`factor: remembered`).
    SignInSucceeded,
    /// A login's answer was refused (`reason`), or the login could not be decided.
    #[default]
    SignInFailed,
    /// A login was not asked for a factor because the user has none and `nullok` or
    /// `unenrolled = "allow"` skip such users.
    SignInSkipped,
    /// The right answer arrived after the client left; nothing was consumed.
    SignInAbandoned,
    /// A source (or the account) is locked out (`until`).
    LockedOut,
    /// The policy says this login is not asked (`reason`: which exemption).
    Exempt,
    /// A device that passed may skip the prompt for `policy.remember`.
    DeviceTrusted,
    /// Every trust of a user's devices was ended by the user.
    DevicesForgotten,
    /// An authenticator app was enrolled (`label`), at login or by `mfa-enroll`.
    MfaSetupSucceeded,
    /// An enrollment's confirmation code did not match, or the factors changed meanwhile.
    MfaSetupFailed,
    /// A user inside the grace period skipped enrolling at login (`until`: end of grace).
    MfaSetupSkipped,
    /// A user removed one authenticator app (`factor: totp`, `label`); contacts have
    /// `contact_removed`, and removing everything is root's `admin_reset`.
    FactorRemoved,
    /// A new set of recovery codes was made.
    RecoveryCodesGenerated,
    /// `mfa-enroll`'s proof (a current code for a change) was refused.
    ProofFailed,
    /// A caller asked to act for a user it may not act for.
    RequestRefused,
    /// A code went out (`channel`, `to` masked).
    CodeSent,
    /// A code was not sent: the send limits (`reason`).
    SendRefused,
    /// A provider did not take a code (`provider`, `error_code`).
    SendFailed,
    /// A phone or address was added.
    ContactAdded,
    /// A phone or address was removed.
    ContactRemoved,
    /// A user was told of a change through their other contacts.
    NoticeSent,
    /// Root cleared lockouts (all, or one `source`).
    AdminUnlock,
    /// Root removed every factor of a user.
    AdminReset,
    /// Root listed every user the daemon knows.
    AdminList,
    /// Root looked at one user's factors and lockouts.
    AdminShow,
    /// Root exempted a user until `until` (or ended it).
    AdminExempt,
    /// Root ended the trust of every device of a user.
    AdminForget,
    /// Root issued a bypass code (`uses`, `until`).
    AdminBypass,
}

/// How the audited thing ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// `success`.
    Success,
    /// `failure`.
    #[default]
    Failure,
    /// `locked_out`.
    LockedOut,
    /// `ignore`.
    Ignore,
    /// `not_authorized`.
    NotAuthorized,
    /// `error`.
    Error,
    /// `ok`.
    Ok,
    /// `abandoned`.
    Abandoned,
    /// `refused`.
    Refused,
}

/// One audit event.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AuditEvent<'a> {
    /// What happened.
    pub event: AuditKind,
    /// Account acted on.
    pub user: &'a str,
    /// PAM service, or `mfa-enroll`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'a str>,
    /// Remote host, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rhost: Option<&'a str>,
    /// Source the attempt was counted against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'a str>,
    /// `totp`, `recovery_code`, `sms`, `voice`, `email`, `bypass_code`, `remembered`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factor: Option<&'a str>,
    /// The label of the app or contact concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<&'a str>,
    /// Logins a bypass code allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses: Option<u8>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Why, for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// Unix time a lockout, an exemption, a grace period or a bypass code ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// `sms`, `voice` or `email`, for sent codes and contacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'a str>,
    /// Where a code went, masked (`+1 •••-•••-4567`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<&'a str>,
    /// The provider of a failed send (`twilio`, `webhook`, `smtp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'a str>,
    /// The provider's error code, where it gives one (Twilio's 21211, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    /// Peer uid of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Lines identical to this one that were not written since the last one that was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeated: Option<u64>,
}

/// Where audit events go.
#[derive(Debug)]
pub struct AuditLog {
    syslog: Option<UnixDatagram>,
    identical: LogThrottle,
}

impl AuditLog {
    /// Opens syslog if `/dev/log` exists.
    pub fn open() -> AuditLog {
        let syslog = Path::new(SYSLOG_SOCKET)
            .exists()
            .then(UnixDatagram::unbound)
            .and_then(Result::ok);
        AuditLog {
            syslog,
            identical: LogThrottle::new(IDENTICAL_BURST, IDENTICAL_INTERVAL),
        }
    }

    /// Writes one event. A flood of identical events (one caller failing over and over)
    /// is written in part: after a burst, one line a second says how many it stands for.
    pub fn record(&self, event: &AuditEvent<'_>) {
        let Ok(key) = serde_json::to_string(event) else {
            return self.write(event, "{\"event\":\"audit_error\"}".to_owned());
        };
        let Some(dropped) = self.identical.admit(&key, Instant::now()) else {
            return;
        };
        if dropped == 0 {
            return self.write(event, key);
        }
        let counted = AuditEvent {
            repeated: Some(dropped),
            ..event.clone()
        };
        let json = serde_json::to_string(&counted).unwrap_or(key);
        self.write(event, json);
    }

    fn write(&self, event: &AuditEvent<'_>, json: String) {
        eprintln!("audit: {json}");
        if let Some(socket) = &self.syslog {
            let severity = match event.outcome {
                AuditOutcome::Success | AuditOutcome::Ok | AuditOutcome::Ignore => LOG_INFO,
                _ => LOG_WARNING,
            };
            let pri = LOG_AUTHPRIV * 8 + severity;
            let line = format!("<{pri}>mfa-daemon[{}]: {json}", std::process::id());
            // Syslog being down must not stop logins; stderr still has the event.
            let _ = socket.send_to(line.as_bytes(), SYSLOG_SOCKET);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_floods_are_counted_not_written() {
        let log = AuditLog {
            syslog: None,
            identical: LogThrottle::new(2, Duration::from_secs(3600)),
        };
        let event = AuditEvent {
            event: AuditKind::SignInFailed,
            user: "alice",
            outcome: AuditOutcome::Failure,
            ..AuditEvent::default()
        };
        let now = Instant::now();
        assert_eq!(log.identical.admit("x", now), Some(0));
        for _ in 0..3 {
            log.record(&event);
        }
        let key = serde_json::to_string(&event).unwrap();
        assert_eq!(log.identical.admit(&key, now), None, "burst of 2 used up");
    }
}
