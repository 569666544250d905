//! Audit events: one JSON line per enrollment, success, failure and lockout, to stderr and
//! to syslog (facility authpriv) when `/dev/log` exists. Never a code, a secret or a hash:
//! the event type has no field that could hold one.

pub mod throttle;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audit::throttle::{LogThrottle, UidBudget};

/// Identical audit lines written at once before the rest are only counted.
const IDENTICAL_BURST: u32 = 64;
/// Then one identical line per this long, carrying the count of those dropped.
const IDENTICAL_INTERVAL: Duration = Duration::from_secs(1);
/// Audit lines one caller uid other than root may cause per [`UID_INTERVAL`]: far more than
/// a person unlocking a screen or running `mfa-enroll` causes, and few enough that a local
/// user's flood cannot push other events past journald's rate limit.
const UID_LINES: u32 = 30;
/// The window of [`UID_LINES`]; lines past it are summed up in one line per window.
const UID_INTERVAL: Duration = Duration::from_secs(10);

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
    /// Root resynchronised a user's HOTP token (`label`), or was refused (`reason`). Never
    /// the codes.
    AdminResync,
    /// Root imported factors from another OTP system (`source`: `google-authenticator`,
    /// `oath` or `pskc`; `label`: what was stored; `reason`: why skipped or refused). Never a
    /// secret or a code.
    AdminImport,
    /// A sign-in asked for an approval on the phone (a push or link went out).
    ApprovalRequested,
    /// The link of an approval request went to a contact by text or email, or was not sent
    /// (`reason`, as for `notice_sent`). Never the link itself.
    ApprovalLinkSent,
    /// An approval was refused: a wrong number, or a passkey answer that did not verify
    /// (another user's key, a replay, a foreign origin, a sign count going backwards).
    ApprovalRefused,
    /// The user denied a sign-in on the approval page.
    SignInDeniedByUser,
    /// A sign-in to the account page of `mfa-web` with a passkey (`reason` when refused).
    AccountPageSignIn,
    /// Events one caller `uid` caused past its share of audit lines were not written
    /// (`dropped`: how many, in the window that just ended).
    AuditEventsDropped,
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
    /// Events of `uid` not written because it exceeded its share (`audit_events_dropped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
}

/// Where audit events go.
#[derive(Debug)]
pub struct AuditLog {
    sink: Sink,
    identical: LogThrottle,
    per_uid: UidBudget,
}

/// Where written lines end up.
#[derive(Debug)]
enum Sink {
    /// Stderr, and syslog when it could be opened.
    Stderr { syslog: Option<UnixDatagram> },
    /// Kept in memory, for the tests of what is written.
    #[cfg(test)]
    Memory(std::sync::Mutex<Vec<String>>),
}

impl AuditLog {
    /// Opens syslog if `/dev/log` exists.
    pub fn open() -> AuditLog {
        let syslog = Path::new(SYSLOG_SOCKET)
            .exists()
            .then(UnixDatagram::unbound)
            .and_then(Result::ok);
        AuditLog {
            sink: Sink::Stderr { syslog },
            identical: LogThrottle::new(IDENTICAL_BURST, IDENTICAL_INTERVAL),
            per_uid: UidBudget::new(UID_LINES, UID_INTERVAL),
        }
    }

    /// Writes one event. A flood of identical events (one caller failing over and over)
    /// is written in part: after a burst, one line a second says how many it stands for.
    /// A caller uid other than root gets [`UID_LINES`] lines per [`UID_INTERVAL`] whatever
    /// they say; the rest are counted, and one `audit_events_dropped` line per window and
    /// uid says how many (written with the first event after the window ends).
    pub fn record(&self, event: &AuditEvent<'_>) {
        self.record_at(event, Instant::now());
    }

    fn record_at(&self, event: &AuditEvent<'_>, now: Instant) {
        let admission = self.per_uid.admit(event.uid, now);
        for (uid, dropped) in admission.summaries {
            self.write_summary(uid, dropped);
        }
        if !admission.write {
            return;
        }
        let Ok(key) = serde_json::to_string(event) else {
            return self.write(event, "{\"event\":\"audit_error\"}".to_owned());
        };
        let Some(dropped) = self.identical.admit(&key, now) else {
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

    /// The one line that stands for what `uid` was not let write in a window.
    fn write_summary(&self, uid: u32, dropped: u64) {
        let summary = AuditEvent {
            event: AuditKind::AuditEventsDropped,
            user: "*",
            outcome: AuditOutcome::Refused,
            uid: Some(uid),
            dropped: Some(dropped),
            ..AuditEvent::default()
        };
        if let Ok(json) = serde_json::to_string(&summary) {
            self.write(&summary, json);
        }
    }

    fn write(&self, event: &AuditEvent<'_>, json: String) {
        let syslog = match &self.sink {
            Sink::Stderr { syslog } => syslog,
            #[cfg(test)]
            Sink::Memory(lines) => {
                return lines
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(json);
            }
        };
        // The audit trail is its own channel, not a log line: written whatever the log level,
        // never filtered or reformatted by the subscriber, one write per event so that lines
        // from several threads do not interleave.
        let line = format!("audit: {json}\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        if let Some(socket) = syslog {
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

    fn memory_log(identical_burst: u32) -> AuditLog {
        AuditLog {
            sink: Sink::Memory(std::sync::Mutex::default()),
            identical: LogThrottle::new(identical_burst, Duration::from_secs(3600)),
            per_uid: UidBudget::new(UID_LINES, UID_INTERVAL),
        }
    }

    fn written(log: &AuditLog) -> Vec<serde_json::Value> {
        let Sink::Memory(lines) = &log.sink else {
            unreachable!("a test log")
        };
        let lines = lines.lock().unwrap();
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The flood of issue 14: every login of one local user with another service name, so
    /// that no two lines are identical. Its lines stay within its share, one line per window
    /// sums up the rest, and root's events in between are all written.
    #[test]
    fn a_uid_flooding_with_distinct_lines_gets_its_share_and_roots_events_pass() {
        let log = memory_log(IDENTICAL_BURST);
        let start = Instant::now();
        let services: Vec<String> = (0..20_000).map(|i| format!("svc-{i}")).collect();
        for (i, service) in services.iter().enumerate() {
            let now = start + Duration::from_millis(i as u64);
            log.record_at(
                &AuditEvent {
                    event: AuditKind::SignInFailed,
                    user: "mallory",
                    service: Some(service),
                    outcome: AuditOutcome::Failure,
                    uid: Some(1000),
                    ..AuditEvent::default()
                },
                now,
            );
            if i % 1000 == 0 {
                log.record_at(
                    &AuditEvent {
                        event: AuditKind::SignInSucceeded,
                        user: "alice",
                        service: Some("sshd"),
                        outcome: AuditOutcome::Success,
                        uid: Some(0),
                        ..AuditEvent::default()
                    },
                    now,
                );
            }
        }
        let lines = written(&log);
        let from = |uid: u32| lines.iter().filter(move |l| l["uid"] == uid);
        assert_eq!(from(0).count(), 20, "every one of root's events");
        let floods = from(1000)
            .filter(|l| l["event"] == "sign_in_failed")
            .count();
        assert_eq!(floods, 2 * UID_LINES as usize, "20 s of flood, two windows");
        let summaries: Vec<_> = from(1000)
            .filter(|l| l["event"] == "audit_events_dropped")
            .collect();
        assert_eq!(summaries.len(), 1, "the second window has not ended yet");
        assert_eq!(summaries[0]["dropped"], 10_000 - u64::from(UID_LINES));
        assert_eq!(summaries[0]["user"], "*");
    }

    #[test]
    fn identical_floods_are_counted_not_written() {
        let log = memory_log(2);
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
