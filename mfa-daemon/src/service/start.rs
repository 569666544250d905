//! The start of a login: the request checked, the name resolved, the caller authorized,
//! the policy applied, and the first phase chosen (none at all for an exempt user or a
//! trusted device).

use std::net::IpAddr;
use std::sync::Arc;

use mfa_core::contact;
use mfa_core::device::{self, DeviceId};
use mfa_core::policy::{Ask, Context, Resolved, Unenrolled};
use mfa_proto::{AuthRequest, Outcome};

use super::menu::Verifying;
use super::request::{field_problem, service_problem, source_of};
use super::words::ACCOUNT_LOCKED;
use super::{Attempt, Next, Notice, enrollment, security_key};
use crate::accounts;
use crate::app::Shared;
use crate::audit::{AuditKind, AuditOutcome};
use crate::config::PushSetting;
use crate::connection::Caller;
use crate::decisions::{Locks, Subject};
use crate::error::DaemonError;
use crate::store::{StoreError, UserRecord};

/// The factor a trusted device's login is audited with.
const REMEMBERED: &str = "remembered";

/// What the first look finds: the subject, its groups, and its record and lockouts (or
/// why they could not be read).
type FirstLook = (
    Subject,
    Vec<String>,
    Result<(UserRecord, Locks), StoreError>,
);

/// Starts a login of `auth.user` for `auth.service` by `caller`. A request whose fields are
/// not fit to be looked up or logged is refused with what is wrong; anything else runs to a
/// first [`Next`].
pub async fn start(
    shared: &Arc<Shared>,
    auth: AuthRequest,
    caller: Caller,
) -> Result<Next, DaemonError> {
    // The service goes into every audit line of the login: bounded before it starts.
    if let Some(problem) = service_problem(&auth.service, caller).or_else(|| field_problem(&auth)) {
        return Err(DaemonError::BadRequest(problem));
    }
    let mut attempt = Box::new(Attempt {
        shared: shared.clone(),
        source: source_of(&auth, caller),
        user: auth.user.clone(),
        auth,
        caller,
    });
    let (subject, groups, stored) = match first_look(&attempt).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            attempt.audit(AuditOutcome::NotAuthorized, None, None, None);
            return Ok(Next::done(Vec::new(), Outcome::NotAuthorized));
        }
        Err(e) => {
            tracing::error!("cannot look up {}: {e}", attempt.user);
            attempt.audit(AuditOutcome::Error, None, Some("internal"), None);
            return Ok(Next::done(Vec::new(), Outcome::Error));
        }
    };
    attempt.user = subject.key().to_owned();
    let policy = resolve_policy(&attempt, &groups, &stored);
    if let Some(why) = exemption(&policy) {
        attempt.audit_as(AuditKind::Exempt, AuditOutcome::Ignore, Some(why));
        return Ok(Next::done(Vec::new(), Outcome::Ignore));
    }
    let (record, locks) = match stored {
        Ok(stored) => stored,
        Err(e) => {
            tracing::error!("cannot read record of {}: {e}", attempt.user);
            let outcome = attempt.store_failed(e.is_unavailable());
            return Ok(Next::done(Vec::new(), outcome));
        }
    };
    Ok(first_phase(attempt, subject, &policy, record, locks).await)
}

/// Resolution, authorization and the first look at the record and the lockouts in one
/// trip to a blocking thread; nothing is read for a caller who may not see it (`None`).
pub(super) async fn first_look(attempt: &Attempt) -> Result<Option<FirstLook>, DaemonError> {
    let name = attempt.auth.user.clone();
    let source = attempt.source.clone();
    let caller = attempt.caller;
    attempt
        .shared
        .blocking(caller.class(), move |a| {
            let now = a.now().secs();
            let account = accounts::resolve(&name);
            if !caller.relays_for_anyone() && !accounts::may_act_for(caller.uid, account.as_ref()) {
                return Ok(None);
            }
            let groups = match &account {
                _ if !a.policy().needs_groups() => Vec::new(),
                Some(account) => accounts::groups_for_policy(account, &a.policy()),
                None => {
                    accounts::decoy_group_lookup(&name);
                    Vec::new()
                }
            };
            let subject = match account {
                Some(account) => Subject::Account(account.name),
                None => Subject::Unknown(name),
            };
            // A store that cannot be read fails the login closed, but only once the policy
            // said the user is asked at all: users exempt by the config (a break-glass
            // account) still get in while a shared database is down.
            let stored = a
                .record(&subject)
                .and_then(|record| Ok((record, a.locks(subject.key(), &source, now)?)));
            Ok(Some((subject, groups, stored)))
        })
        .await
}

/// The policy for this login. Only root's callers (sshd) report a remote address the
/// policy may trust.
pub(super) fn resolve_policy(
    attempt: &Attempt,
    groups: &[String],
    stored: &Result<(UserRecord, Locks), StoreError>,
) -> Resolved {
    let source = attempt
        .caller
        .is_root_witness()
        .then(|| {
            attempt
                .auth
                .rhost
                .as_deref()
                .and_then(|h| h.parse::<IpAddr>().ok())
        })
        .flatten();
    attempt.shared.decisions.policy().resolve(&Context {
        user: &attempt.user,
        groups,
        service: &attempt.auth.service,
        source,
        exempt_until: stored.as_ref().ok().and_then(|(r, _)| r.exempt_until),
        now: attempt.now(),
    })
}

/// Why the policy does not ask this login at all, if it does not.
fn exemption(policy: &Resolved) -> Option<&'static str> {
    match policy.ask {
        Ask::Yes => None,
        Ask::Exempt(why) => Some(why.name()),
        Ask::NotRequired => Some("not_required"),
    }
}

/// The first phase for a user the policy asks: none for an unenrolled user let through, a
/// locked source, a first SSH step with a security key that counts, or a trusted device;
/// the enrollment offer for an account without a factor that must enroll; else the menu.
async fn first_phase(
    attempt: Box<Attempt>,
    subject: Subject,
    policy: &Resolved,
    record: UserRecord,
    locks: Locks,
) -> Next {
    let now = attempt.now();
    let enrolled = record.is_enrolled(now);
    let skip_unenrolled = attempt.auth.nullok || policy.unenrolled == Unenrolled::Allow;
    if skip_unenrolled && !enrolled {
        attempt.audit(AuditOutcome::Ignore, None, Some("not_enrolled"), None);
        return Next::done(Vec::new(), Outcome::Ignore);
    }
    if let Some(until) = locks.source {
        attempt.audit(AuditOutcome::LockedOut, None, Some("source_locked"), None);
        return attempt.locked_out(until);
    }
    let is_account = matches!(subject, Subject::Account(_));
    if let Subject::Account(account) = &subject
        && !enrolled
        && policy.unenrolled == Unenrolled::Enroll
    {
        let policy = attempt.shared.decisions.policy();
        return enrollment::offer(attempt, account.clone(), &policy).await;
    }
    if let Some(done) = security_key::admit(&attempt, policy, enrolled, locks.account.is_some()) {
        return done;
    }
    // A device is only as trustworthy as what identifies it: root's callers (sshd) report
    // the address and key themselves; anyone else's word is not taken, and a login with no
    // remote host has no device at all (its terminal is the next user's tomorrow).
    let device = (attempt.caller.is_root_witness() && policy.remember > 0 && is_account)
        .then(|| {
            DeviceId::of_login(
                attempt.auth.auth_info.as_deref(),
                attempt.auth.rhost.as_deref(),
                &attempt.auth.service,
            )
        })
        .flatten();
    if let Some(device) = &device
        && enrolled
        && device::is_trusted(&record.trusted, device, record.revision, now)
    {
        attempt.audit(AuditOutcome::Success, Some(REMEMBERED), None, None);
        attempt.note_success(REMEMBERED);
        return Next::done(Vec::new(), Outcome::Success);
    }
    let mut notices = Vec::new();
    if locks.account.is_some() {
        notices.push(Notice::Info(ACCOUNT_LOCKED.to_owned()));
    }
    let shared = attempt.shared.clone();
    let verifying = Verifying::new(
        subject,
        &record,
        device.map(|d| (d, policy.remember)),
        contact::menu(&record.contacts, &|c| shared.outbox.can_send(c)),
        shared.decisions.config().max_tries,
        shared.web.is_some(),
    );
    let auto = shared.decisions.config().policy.push == PushSetting::Auto;
    if auto && verifying.offers_approval() && notices.is_empty() {
        // Like Duo's autopush: the request goes out at once; the prompt still takes a code.
        return verifying.ask_approval(attempt).await;
    }
    verifying.next_round(attempt, notices)
}
