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

/// Where a code was to go: whose it was, for which service, by which channel, to whom
/// (masked).
#[derive(Debug, Clone, Copy)]
pub struct Send<'a> {
    /// The user the code is for.
    pub user: &'a str,
    /// The PAM service of the login, or `mfa-enroll` for a confirmation.
    pub service: &'a str,
    /// Text, call or email.
    pub channel: Channel,
    /// The masked destination.
    pub to: &'a str,
}

impl Send<'_> {
    /// An audit event about this send, with what every such event carries.
    fn event(&self, event: AuditKind, outcome: AuditOutcome) -> AuditEvent<'_> {
        AuditEvent {
            event,
            user: self.user,
            service: Some(self.service),
            outcome,
            channel: Some(channel_name(self.channel)),
            to: Some(self.to),
            ..AuditEvent::default()
        }
    }
}

/// Records why a code was not sent (audit and log) and says what the user is told.
pub fn not_sent(shared: &Shared, send: Send<'_>, why: &NotSent) -> DaemonError {
    let now = shared.decisions.now().secs();
    let (user, to) = (send.user, send.to);
    match why {
        NotSent::Refused(refusal) => {
            shared.audit.record(&AuditEvent {
                reason: Some(refusal.name()),
                ..send.event(AuditKind::SendRefused, AuditOutcome::Refused)
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
                reason: Some("country_refused"),
                ..send.event(AuditKind::SendRefused, AuditOutcome::Refused)
            });
            DaemonError::Contact(refused.clone())
        }
        NotSent::Random(e) => DaemonError::Random(*e),
        NotSent::Uncounted(e) => {
            shared.audit.record(&AuditEvent {
                reason: Some("store_unavailable"),
                ..send.event(AuditKind::SendRefused, AuditOutcome::Error)
            });
            shared.log_throttled(
                "send:ledger",
                format_args!("could not count a code for {user} against the send limits: {e}"),
            );
            DaemonError::DeliveryFailed(SEND_FAILED)
        }
        NotSent::Failed(e) => {
            shared.audit.record(&AuditEvent {
                provider: Some(e.provider),
                error_code: e.provider_code,
                ..send.event(AuditKind::SendFailed, AuditOutcome::Error)
            });
            shared.log_throttled(
                &format!("send:{}", e.provider),
                format_args!(
                    "could not send a code {} to {to} for {user}: {e}",
                    channel_phrase(send.channel)
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
pub fn audit_code_sent(shared: &Shared, send: Send<'_>) {
    shared
        .audit
        .record(&send.event(AuditKind::CodeSent, AuditOutcome::Ok));
}
