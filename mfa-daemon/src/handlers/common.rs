//! What the management and admin conversations share: the response for an error, and how
//! a user's factors are reported (`status`, `mfactl list`).

use mfa_core::policy::Policy;
use mfa_proto::{
    BypassStatus, LastSuccessStatus, Lockout, Response, StatusReport, TotpStatus,
    TrustedDeviceStatus,
};

use crate::error::DaemonError;
use crate::store::UserRecord;
use crate::store::{Limits, StoreError};
use crate::username;

/// The response for `e`; the daemon's own failures are logged first.
pub fn internal(e: &DaemonError) -> Response {
    if e.is_internal() {
        tracing::error!("{e}");
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
        trusted_devices: trusted_devices(record, now),
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
        passkeys: passkeys(record),
        app_passwords: app_passwords(record),
        hotp: hotp_tokens(record),
    })
}

/// The devices of `record` trusted at `now` (a trust from before the last change of
/// factors, or past its end, is none).
pub fn trusted_devices(record: &UserRecord, now: u64) -> Vec<TrustedDeviceStatus> {
    record
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
        .collect()
}

/// The app passwords of `record`, as reports show them (never a hash).
pub fn app_passwords(record: &UserRecord) -> Vec<mfa_proto::AppPasswordStatus> {
    record
        .app_passwords
        .iter()
        .map(|p| mfa_proto::AppPasswordStatus {
            label: p.label.clone(),
            services: p.services.clone(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            last_used: p.last_used,
        })
        .collect()
}

/// The passkeys of `record`, as reports show them.
pub fn passkeys(record: &UserRecord) -> Vec<mfa_proto::PasskeyStatus> {
    record
        .passkeys
        .iter()
        .map(|p| mfa_proto::PasskeyStatus {
            label: p.label.clone(),
            enrolled_at: p.enrolled_at,
            last_used: p.last_used,
            aaguid: p.aaguid.clone(),
        })
        .collect()
}

/// The HOTP tokens of `record`, as reports show them (never the secret).
pub fn hotp_tokens(record: &UserRecord) -> Vec<mfa_proto::HotpStatus> {
    record
        .hotp
        .iter()
        .map(|t| mfa_proto::HotpStatus {
            label: t.label.clone(),
            algorithm: t.algorithm.name().to_owned(),
            digits: t.digits,
            counter: t.counter,
            enrolled_at: t.enrolled_at,
            last_used: t.last_used,
        })
        .collect()
}

/// The refusal of a `user` field that is not a name that may be looked up.
pub fn invalid_user_name() -> DaemonError {
    DaemonError::BadRequest(format!(
        "user must be an account name of 1 to {} bytes without control characters, `/` or `:`",
        username::MAX_LEN
    ))
}
