//! One login attempt: who it is for, where it comes from, who asked, and the audit events
//! it writes. Every phase of the conversation carries it.

use std::sync::Arc;

use mfa_core::device::DeviceId;
use mfa_core::record::{DEFAULT_APP_LABEL, LastSuccess};
use mfa_proto::{AuthRequest, Outcome};

use super::words::lockout_message;
use super::{Next, Notice};
use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::connection::Caller;
use crate::decisions::{DeviceTrust, Factor};

/// A login attempt and what every audit line of it carries.
#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) shared: Arc<Shared>,
    pub(super) auth: AuthRequest,
    /// The canonical account name once resolved, else the name as given.
    pub(super) user: String,
    /// What failures are counted against (see [`super::request::source_of`]).
    pub(super) source: String,
    pub(super) caller: Caller,
}

impl Attempt {
    /// The time now, by the service's clock.
    pub(super) fn now(&self) -> u64 {
        self.shared.decisions.now().secs()
    }

    /// Tells the user how long the lockout lasts; the login ends `locked_out`.
    pub(super) fn locked_out(&self, until: u64) -> Next {
        Next::done(
            vec![Notice::Error(lockout_message(until, self.now()))],
            Outcome::LockedOut,
        )
    }

    /// Ends the attempt closed because the store failed (audited with reason `store`, or
    /// `store_unavailable` when a shared database is out of reach).
    pub(super) fn store_failed(&self, unavailable: bool) -> Outcome {
        if unavailable {
            self.audit(AuditOutcome::Error, None, Some("store_unavailable"), None);
            Outcome::Unavailable
        } else {
            self.audit(AuditOutcome::Error, None, Some("store"), None);
            Outcome::Error
        }
    }

    /// An event of `kind` about this attempt, with what every such event carries; the
    /// caller fills in the rest.
    pub(super) fn event(&self, kind: AuditKind, outcome: AuditOutcome) -> AuditEvent<'_> {
        AuditEvent {
            event: kind,
            user: &self.user,
            service: Some(&self.auth.service),
            // Only root's callers know the remote host; anyone else's is its own word, and
            // varying it must not make a flood's lines distinct (identical ones are throttled).
            rhost: self
                .auth
                .rhost
                .as_deref()
                .filter(|_| self.caller.relays_for_anyone()),
            source: Some(&self.source),
            outcome,
            uid: Some(self.caller.uid),
            ..AuditEvent::default()
        }
    }

    /// An event about enrolling an app at login.
    pub(super) fn audit_enrollment(
        &self,
        kind: AuditKind,
        outcome: AuditOutcome,
        reason: Option<&str>,
        until: Option<u64>,
    ) {
        self.shared.audit.record(&AuditEvent {
            factor: Some(Factor::Totp.name()),
            label: Some(DEFAULT_APP_LABEL),
            reason,
            until,
            ..self.event(kind, outcome)
        });
    }

    /// An event of `kind` about this attempt.
    pub(super) fn audit_as(&self, kind: AuditKind, outcome: AuditOutcome, reason: Option<&str>) {
        self.shared.audit.record(&AuditEvent {
            reason,
            ..self.event(kind, outcome)
        });
    }

    /// The sign-in event for `outcome` (`sign_in_succeeded`, `sign_in_failed`, ...).
    pub(super) fn audit(
        &self,
        outcome: AuditOutcome,
        factor: Option<&str>,
        reason: Option<&str>,
        until: Option<u64>,
    ) {
        let kind = match outcome {
            AuditOutcome::Success => AuditKind::SignInSucceeded,
            AuditOutcome::LockedOut => AuditKind::LockedOut,
            AuditOutcome::Ignore => AuditKind::SignInSkipped,
            AuditOutcome::Abandoned => AuditKind::SignInAbandoned,
            _ => AuditKind::SignInFailed,
        };
        self.shared.audit.record(&AuditEvent {
            factor,
            reason,
            until,
            ..self.event(kind, outcome)
        });
    }

    /// Keeps a success that consumed nothing on disk (a sent code, a trusted device, an
    /// enrollment) as the user's last, in the background: the answer does not wait for
    /// this write, which is only informational (a crash before it loses the line in
    /// `mfactl list`, never a security decision). A failure is logged.
    pub(super) fn note_success(&self, factor: &str) {
        let (shared, caller) = (self.shared.clone(), self.caller);
        let user = self.user.clone();
        let last = LastSuccess {
            at: self.now(),
            source: self.source.clone(),
            service: self.auth.service.clone(),
            factor: factor.to_owned(),
        };
        tokio::spawn(async move {
            let name = user.clone();
            if let Err(e) = shared
                .blocking(caller.class(), move |a| a.note_success(&name, last))
                .await
            {
                tracing::warn!("could not keep the last login of {user}: {e}");
            }
        });
    }

    /// Trusts the device a login came from, unless the factors changed since `revision`,
    /// the record's revision the login was decided against (a reset or a removed app
    /// between the check and this write must not leave the device trusted); a failure
    /// costs only the convenience (logged).
    pub(super) async fn remember(&self, device: DeviceId, revision: u64, secs: u64) {
        let user = self.user.clone();
        let key = device.key.clone();
        let now = self.now();
        let trusted = self
            .shared
            .blocking(self.caller.class(), move |a| {
                a.trust_device(&user, device, revision, secs, now)
            })
            .await;
        match trusted {
            Ok(DeviceTrust::Trusted) => self.audit_as(
                AuditKind::DeviceTrusted,
                AuditOutcome::Ok,
                Some(if key.is_some() { "ssh_key" } else { "source" }),
            ),
            Ok(DeviceTrust::FactorsChanged) => tracing::info!(
                "did not remember the device of {}: the factors changed during the login",
                self.user
            ),
            Err(e) => tracing::warn!("could not remember the device of {}: {e}", self.user),
        }
    }
}
