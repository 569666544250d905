//! Security notices: when a user's factors change, each of their other verified contacts
//! is told, in the background, within the notice limits (`send_limits::NOTICE_BURST`).

use std::sync::Arc;

use mfa_core::contact::Contact;
use mfa_core::send_limits::NoticeKind;

use super::words::channel_name;
use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::decisions::Subject;
use crate::delivery::outbox::NoticeNotSent;
use crate::store::CallerClass;
use crate::username::UserName;

/// Tells the user, through every verified contact except `except`, that `what` happened to
/// their factors. In the background: the answer to the request does not wait for it. A
/// burst of changes reaches each contact once (`send_limits::NOTICE_BURST`).
pub fn notify_others(
    shared: &Arc<Shared>,
    class: CallerClass,
    user: &UserName,
    what: &str,
    except: Option<&Contact>,
) {
    let shared_ = shared.clone();
    let user_ = user.to_owned();
    let what_ = what.to_owned();
    let except = except.map(|c| c.destination.address().to_owned());
    tokio::spawn(async move {
        let target = user_.clone();
        let Ok(record) = shared_
            .blocking(class, move |a| Ok(a.record(&Subject::Account(target))?))
            .await
        else {
            return;
        };
        let others: Vec<Contact> = record
            .contacts
            .into_iter()
            .filter(|c| c.verified && Some(c.destination.address()) != except.as_deref())
            .collect();
        send_notices(&shared_, &user_, &what_, &others, NoticeKind::Change).await;
    });
}

/// Tells the user through each verified contact of `to`, contacts that were just removed,
/// that `what` happened. Their last notice, so never collapsed into an earlier one.
pub fn notify_removed(shared: &Arc<Shared>, user: &str, what: &str, to: Vec<Contact>) {
    let shared = shared.clone();
    let user = user.to_owned();
    let what = what.to_owned();
    let to: Vec<Contact> = to.into_iter().filter(|c| c.verified).collect();
    tokio::spawn(async move {
        send_notices(&shared, &user, &what, &to, NoticeKind::Farewell).await;
    });
}

async fn send_notices(shared: &Shared, user: &str, what: &str, to: &[Contact], kind: NoticeKind) {
    if to.is_empty() {
        return;
    }
    let host = crate::accounts::hostname();
    let when = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let text = format!(
        "Security notice for {user} on {host} at {when}: {what}. If this was not you, tell your administrator."
    );
    for result in shared
        .outbox
        .notify(user, to, kind, &text, shared.decisions.now().secs())
        .await
    {
        let (outcome, reason) = match &result.outcome {
            Ok(()) => (AuditOutcome::Ok, None),
            Err(NoticeNotSent::Failed(_)) => (AuditOutcome::Error, None),
            Err(why) => (AuditOutcome::Refused, Some(why.reason())),
        };
        shared.audit.record(&AuditEvent {
            event: AuditKind::NoticeSent,
            user,
            outcome,
            reason,
            channel: result.channel.map(channel_name),
            to: Some(&result.to),
            ..AuditEvent::default()
        });
        if let Err(e @ NoticeNotSent::Failed(_)) = &result.outcome {
            shared.log_throttled(
                "notice",
                format_args!("could not send a notice to {} for {user}: {e}", result.to),
            );
        }
    }
}
