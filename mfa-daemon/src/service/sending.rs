//! Recording a code that went out, or why it did not: the audit event, the log line, and
//! the error the caller is told. The same for a login's code and a contact's confirmation.

use mfa_proto::Channel;

use super::words::{channel_name, channel_phrase};
use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::delivery::SendErrorKind;
use crate::delivery::outbox::NotSent;
use crate::error::{DaemonError, NO_PROVIDER, SEND_FAILED};
use mfa_core::contact;

/// Records why a code was not sent (audit and log) and says what the user is told.
pub fn not_sent(
    shared: &Shared,
    user: &str,
    service: &str,
    channel: Channel,
    to: &str,
    why: &NotSent,
) -> DaemonError {
    let now = shared.decisions.now().secs();
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
