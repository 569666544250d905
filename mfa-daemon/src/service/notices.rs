//! Security notices: when a user's factors change, each of their other verified contacts
//! is told, in the background, within the notice limits (`send_limits::NOTICE_BURST`).

use std::sync::Arc;

use mfa_core::contact::{Contact, Destination};
use mfa_core::send_limits::NoticeKind;

use super::words::channel_name;
use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::config::ApprovalChannel;
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
        let text = security_notice(&user_, &what_);
        send_notices(&shared_, &user_, &text, &others, NoticeKind::Change).await;
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
        let text = security_notice(&user, &what);
        send_notices(&shared, &user, &text, &to, NoticeKind::Farewell).await;
    });
}

/// Sends the link of an approval request (in `text`: the link, host, service and source,
/// never a code or the number to match) to each of `user`'s verified phones, by text
/// message, and addresses, by email, as far as `channels` name them. In the background: the prompt does not
/// wait for providers. Within the send limits of [`NoticeKind::ApprovalLink`], `per_hour`
/// links a contact; each send is audited as `approval_link_sent`, without the link.
pub(crate) fn send_approval_link(
    shared: &Arc<Shared>,
    class: CallerClass,
    user: &UserName,
    text: String,
    channels: &[ApprovalChannel],
    per_hour: u32,
) {
    let sms = channels.contains(&ApprovalChannel::Sms);
    let email = channels.contains(&ApprovalChannel::Email);
    if !sms && !email {
        return;
    }
    let shared = shared.clone();
    let user = user.to_owned();
    tokio::spawn(async move {
        let target = user.clone();
        let Ok(record) = shared
            .blocking(class, move |a| Ok(a.record(&Subject::Account(target))?))
            .await
        else {
            return;
        };
        let to: Vec<Contact> = record
            .contacts
            .into_iter()
            .filter(|c| c.verified)
            .filter(|c| match c.destination {
                Destination::Phone { .. } => sms,
                Destination::Email { .. } => email,
            })
            .collect();
        let kind = NoticeKind::ApprovalLink { per_hour };
        send_notices(&shared, &user, &text, &to, kind).await;
    });
}

/// The audit event of a send of `kind`, and what the log calls it.
fn audited(kind: NoticeKind) -> (AuditKind, &'static str) {
    match kind {
        NoticeKind::Change | NoticeKind::Farewell => (AuditKind::NoticeSent, "a notice"),
        NoticeKind::ApprovalLink { .. } => (AuditKind::ApprovalLinkSent, "an approval link"),
    }
}

/// The text of a security notice to `user` that `what` happened.
fn security_notice(user: &str, what: &str) -> String {
    let host = crate::accounts::hostname();
    let when = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    format!(
        "Security notice for {user} on {host} at {when}: {what}. If this was not you, tell your administrator."
    )
}

/// Sends `text` to each of `to` and audits what became of each.
async fn send_notices(shared: &Shared, user: &str, text: &str, to: &[Contact], kind: NoticeKind) {
    if to.is_empty() {
        return;
    }
    let (event, what) = audited(kind);
    for result in shared
        .outbox
        .notify(user, to, kind, text, shared.decisions.now().secs())
        .await
    {
        let (outcome, reason) = match &result.outcome {
            Ok(()) => (AuditOutcome::Ok, None),
            Err(NoticeNotSent::Failed(_)) => (AuditOutcome::Error, None),
            Err(why) => (AuditOutcome::Refused, Some(why.reason())),
        };
        shared.audit.record(&AuditEvent {
            event,
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
                format_args!("could not send {what} to {} for {user}: {e}", result.to),
            );
        }
    }
}
