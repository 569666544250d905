//! What several conversations share: checking a typed answer, the words for lockouts and
//! channels, and how a refused or failed send is recorded and told.

use std::sync::Arc;

use mfa_core::policy::Policy;
use mfa_proto::{
    BypassStatus, Channel, LastSuccessStatus, Lockout, Response, Secret, StatusReport, TotpStatus,
    TrustedDeviceStatus,
};

use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::authority::{Subject, Verdict, unix_now};
use crate::connection::{Caller, Presence};
use crate::delivery::SendErrorKind;
use crate::delivery::outbox::NotSent;
use crate::error::{DaemonError, NO_PROVIDER, SEND_FAILED};
use crate::store::UserRecord;
use crate::store::{Limits, StoreError};
use crate::username;
use mfa_core::contact;
use mfa_core::factor::{bypass, recovery};

/// "Try again in N minutes." for a lockout ending at `until`.
pub fn lockout_message(until: u64, now: u64) -> String {
    let minutes = until.saturating_sub(now).div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("Too many failed attempts. Try again in {minutes} {unit}.")
}

/// The source of a non-root caller.
pub fn uid_source(uid: u32) -> String {
    format!("uid:{uid}")
}

/// Longest PAM service name a caller other than root may send: every service in a
/// distribution's /etc/pam.d (`cinnamon-screensaver`, `gdm-fingerprint`, `polkit-1`) is far
/// shorter.
pub const MAX_USER_SERVICE: usize = 64;
/// Longest service name root's callers may send: a file name in /etc/pam.d (`NAME_MAX`).
pub const MAX_ROOT_SERVICE: usize = 255;

/// What is wrong with the PAM service a login names, if anything. It goes into every audit
/// line of the login, so a caller other than root (a screen locker, or anyone speaking the
/// protocol) must send a short file name of `/etc/pam.d`: letters, digits and `-_.+@`.
/// Root's callers name the service their application passed to `pam_start`, trusted but
/// capped in length.
pub fn service_problem(service: &str, caller_uid: u32) -> Option<String> {
    if caller_uid == 0 {
        return (service.len() > MAX_ROOT_SERVICE).then(|| {
            format!(
                "service may not exceed {MAX_ROOT_SERVICE} bytes, got {}",
                service.len()
            )
        });
    }
    let file_name = service
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.+@".contains(&b));
    let shaped = file_name && !service.starts_with('.');
    (service.is_empty() || service.len() > MAX_USER_SERVICE || !shaped).then(|| {
        format!(
            "service must be a PAM service name of 1 to {MAX_USER_SERVICE} letters, digits \
             and `-_.+@` (got {} bytes)",
            service.len()
        )
    })
}

/// Checks an answer on a blocking thread. A locked source is refused before anything
/// expensive; answers shaped like recovery or bypass codes (one argon2 run) go through the
/// caller's share of the hashing pools. The code is consumed only while `presence` says the
/// client is still there to hear the answer. `login` is the PAM service of a login (its
/// success is kept as the user's last), `None` for a proof.
pub async fn check_answer(
    shared: &Arc<Shared>,
    caller: Caller,
    subject: &Subject,
    source: &str,
    answer: Secret,
    login: Option<&str>,
    presence: Presence,
) -> Result<Verdict, DaemonError> {
    let hashed = recovery::normalize(answer.expose()).is_some()
        || bypass::normalize(answer.expose()).is_some();
    // A locked source does not get to spend the hashing budget (the authority checks the
    // lock again, for every answer, before it looks at one).
    if hashed {
        let (key, from) = (subject.key().to_owned(), source.to_owned());
        let locks = shared
            .blocking(move |a| Ok(a.locks(&key, &from, unix_now())?))
            .await?;
        if let Some(until) = locks.source {
            return Ok(Verdict::SourceLocked { until });
        }
    }
    let subject = subject.clone();
    let source = source.to_owned();
    let login = login.map(str::to_owned);
    let work = move |a: &crate::authority::Authority| {
        a.check_answer(
            &subject,
            &source,
            answer.expose().trim(),
            unix_now(),
            login.as_deref(),
            &|| presence.still_there(),
        )
    };
    if hashed {
        shared.blocking_hashing(caller, work).await
    } else {
        shared.blocking(work).await
    }
}

/// `sms`, `voice`, `email`.
pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms",
        Channel::Voice => "voice",
        Channel::Email => "email",
    }
}

/// `by text message`, ... for a person.
pub fn channel_phrase(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "by text message",
        Channel::Voice => "by phone call",
        Channel::Email => "by email",
    }
}

/// Records why a code was not sent (audit and log) and says what the user is told.
pub fn not_sent(
    shared: &Shared,
    user: &str,
    service: &str,
    channel: Channel,
    to: &str,
    why: &NotSent,
) -> DaemonError {
    let now = unix_now();
    match why {
        NotSent::Refused(refusal) => {
            shared.audit.record(&AuditEvent {
                event: AuditKind::SendRefused,
                user,
                service: Some(service),
                outcome: AuditOutcome::Refused,
                reason: Some(refusal.name()),
                channel: Some(channel_name(channel)),
                to: Some(to),
                ..AuditEvent::default()
            });
            let minutes = refusal.retry_at().saturating_sub(now).div_ceil(60).max(1);
            DaemonError::RateLimited(format!(
                "too many codes were sent recently; nothing was sent: try again in {minutes} minutes"
            ))
        }
        NotSent::DomainRefused(domain) => {
            DaemonError::Contact(contact::ContactError::DomainRefused(domain.clone()))
        }
        NotSent::CountryRefused(refused) => {
            // A phone stored before `otp.allowed_countries` / `denied_countries` changed.
            shared.audit.record(&AuditEvent {
                event: AuditKind::SendRefused,
                user,
                service: Some(service),
                outcome: AuditOutcome::Refused,
                reason: Some("country_refused"),
                channel: Some(channel_name(channel)),
                to: Some(to),
                ..AuditEvent::default()
            });
            DaemonError::Contact(refused.clone())
        }
        NotSent::Random(e) => DaemonError::Internal(format!("random number generator failed: {e}")),
        NotSent::Uncounted(e) => {
            shared.audit.record(&AuditEvent {
                event: AuditKind::SendRefused,
                user,
                service: Some(service),
                outcome: AuditOutcome::Error,
                reason: Some("store_unavailable"),
                channel: Some(channel_name(channel)),
                to: Some(to),
                ..AuditEvent::default()
            });
            shared.log_throttled(
                "send:ledger",
                format_args!("could not count a code for {user} against the send limits: {e}"),
            );
            DaemonError::DeliveryFailed(SEND_FAILED)
        }
        NotSent::Failed(e) => {
            shared.audit.record(&AuditEvent {
                event: AuditKind::SendFailed,
                user,
                service: Some(service),
                outcome: AuditOutcome::Error,
                channel: Some(channel_name(channel)),
                to: Some(to),
                provider: Some(e.provider),
                error_code: e.provider_code,
                ..AuditEvent::default()
            });
            shared.log_throttled(
                &format!("send:{}", e.provider),
                format_args!(
                    "could not send a code {} to {to} for {user}: {e}",
                    channel_phrase(channel)
                ),
            );
            match e.kind {
                SendErrorKind::InvalidDestination => DaemonError::BadRequest(
                    "the SMS provider refused this number as invalid; check it and try again".to_owned(),
                ),
                SendErrorKind::NotMobile => DaemonError::BadRequest(
                    "this number cannot receive text messages; add it with --voice-only to be called instead".to_owned(),
                ),
                SendErrorKind::NotConfigured => DaemonError::DeliveryFailed(NO_PROVIDER),
                _ => DaemonError::DeliveryFailed(SEND_FAILED),
            }
        }
    }
}

/// Audits a code that went out.
pub fn audit_code_sent(shared: &Shared, user: &str, service: &str, channel: Channel, to: &str) {
    shared.audit.record(&AuditEvent {
        event: AuditKind::CodeSent,
        user,
        service: Some(service),
        outcome: AuditOutcome::Ok,
        channel: Some(channel_name(channel)),
        to: Some(to),
        ..AuditEvent::default()
    });
}

/// The response for `e`; the daemon's own failures are logged first.
pub fn internal(e: &DaemonError) -> Response {
    if e.is_internal() {
        eprintln!("mfa-daemon: {e}");
    }
    e.response()
}

/// A contact as `status` shows it: masked.
pub fn contact_status(contact: &mfa_core::contact::Contact) -> mfa_proto::ContactStatus {
    mfa_proto::ContactStatus {
        kind: contact.destination.kind(),
        label: contact.label.clone(),
        masked: contact.destination.masked(),
        channels: contact.destination.channels().to_vec(),
        verified: contact.verified,
        added_at: contact.added_at,
    }
}

/// What `status` (and `mfactl list`) report for `user`: its factors from `record`, its
/// lockouts from `limiter`, its grace period from `policy`, at `now`.
pub fn status_report(
    limiter: &dyn Limits,
    policy: &Policy,
    user: &str,
    record: &UserRecord,
    now: u64,
) -> Result<StatusReport, StoreError> {
    Ok(StatusReport {
        user: user.to_owned(),
        authenticators: record
            .totp
            .iter()
            .map(|t| TotpStatus {
                label: t.label.clone(),
                algorithm: t.params.algorithm.name().to_owned(),
                digits: t.params.digits,
                period: t.params.period,
                enrolled_at: t.enrolled_at,
            })
            .collect(),
        recovery_codes_left: record.recovery_codes.len(),
        lockouts: limiter
            .lockouts(user, now)?
            .into_iter()
            .map(|(source, until)| Lockout { source, until })
            .collect(),
        account_locked_until: limiter.account_locked(user, now)?,
        contacts: record.contacts.iter().map(contact_status).collect(),
        trusted_devices: record
            .trusted
            .iter()
            .filter(|d| d.revision == record.revision && now < d.until)
            .map(|d| TrustedDeviceStatus {
                key: d.id.key.clone(),
                source: d.id.source.clone(),
                service: d.id.service.clone(),
                since: d.since,
                until: d.until,
            })
            .collect(),
        exempt_until: record.exempt_until.filter(|until| now < *until),
        last_success: record.last_success.as_ref().map(|l| LastSuccessStatus {
            at: l.at,
            source: l.source.clone(),
            service: l.service.clone(),
            factor: l.factor.clone(),
        }),
        // first_seen is only set where enrollment at login applied (by the base policy or
        // a rule), so it alone says the grace period runs.
        grace_until: record
            .first_seen
            .filter(|_| !record.is_enrolled(now))
            .map(|seen| policy.grace_until(seen))
            .filter(|until| now < *until),
        bypass: record
            .bypass
            .as_ref()
            .filter(|b| b.is_live(now))
            .map(|b| BypassStatus {
                uses_left: b.uses_left,
                expires_at: b.expires_at,
            }),
    })
}

/// The refusal of a `user` field that is not a name that may be looked up.
pub fn invalid_user_name() -> DaemonError {
    DaemonError::BadRequest(format!(
        "user must be an account name of 1 to {} bytes without control characters, `/` or `:`",
        username::MAX_LEN
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_service_names_pass_and_floods_do_not() {
        for service in [
            "sshd",
            "sudo-i",
            "su-l",
            "runuser-l",
            "systemd-user",
            "polkit-1",
            "gdm-password",
            "gdm-fingerprint",
            "cinnamon-screensaver",
            "xfce4-screensaver",
            "kde-fingerprint",
            "mfat-4242-7",
        ] {
            assert_eq!(service_problem(service, 1000), None, "{service}");
        }
        let long = "s".repeat(MAX_USER_SERVICE + 1);
        for bad in [
            "",
            long.as_str(),
            "a b",
            "../sshd",
            ".hidden",
            "x\u{7}",
            "ä",
            "a/b",
        ] {
            let problem = service_problem(bad, 1000).unwrap_or_default();
            assert!(problem.starts_with("service must be"), "{bad:?}: {problem}");
        }
        assert_eq!(service_problem(&"s".repeat(MAX_USER_SERVICE), 1000), None);
        // Root's callers pass what their application gave pam_start, only bounded in length.
        assert_eq!(service_problem("Weird Service", 0), None);
        assert_eq!(service_problem(&long, 0), None);
        assert!(service_problem(&"s".repeat(MAX_ROOT_SERVICE + 1), 0).is_some());
    }
}
