//! Adding and removing phones and email addresses (`mfa-enroll phone|email|remove`), and the
//! notices a user gets through their other contacts when their factors change.

use std::sync::Arc;
use std::time::Duration;

use mfa_core::contact::{self, Contact, Destination, EmailAddress, PhoneNumber};
use mfa_core::factor::sent_code::CodeCheck;
use mfa_proto::{ContactKind, FrameError, NewContact, Request, Response, Secret};

use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::connection::Connection;
use crate::decisions::{ContactChange, ContactRemoval, below_minimum};
use crate::delivery::outbox::{CodePurpose, SentCheck};
use crate::error::DaemonError;
use crate::handlers::common::{contact_status, internal};
use crate::service::notices::{notify_others, notify_removed};
use crate::service::{Send, audit_code_sent, not_sent};
use crate::store::CallerClass;
use crate::username::UserName;

/// How long a person may take to read the code and type it.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(600);

fn audit_contact(
    shared: &Shared,
    event: AuditKind,
    user: &str,
    uid: u32,
    outcome: AuditOutcome,
    c: &Contact,
) {
    let masked = c.destination.masked();
    shared.audit.record(&AuditEvent {
        event,
        user,
        service: Some("mfa-enroll"),
        outcome,
        channel: Some(match c.destination.kind() {
            ContactKind::Phone => "phone",
            ContactKind::Email => "email",
        }),
        to: Some(&masked),
        uid: Some(uid),
        ..AuditEvent::default()
    });
}

/// Parses what the user asked to add.
fn destination(
    shared: &Shared,
    contact: &NewContact,
) -> Result<(Destination, Option<String>), DaemonError> {
    Ok(match contact {
        NewContact::Phone {
            number,
            voice_only,
            label,
        } => {
            let number = PhoneNumber::parse(number)?;
            shared.outbox.countries().check(&number)?;
            (
                Destination::Phone {
                    number,
                    voice_only: *voice_only,
                },
                label.clone(),
            )
        }
        NewContact::Email { address, label } => {
            let address = EmailAddress::parse(address)?;
            shared.outbox.domains().check(&address)?;
            (Destination::Email { address }, label.clone())
        }
    })
}

/// Adds a contact: parsed, checked against the record, then either saved at once (root's
/// `unverified`) or confirmed by a code sent to it.
pub async fn add(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    user: &UserName,
    contact: NewContact,
    unverified: bool,
) -> Result<(), FrameError> {
    let uid = conn.caller.uid;
    let (new, revision) = match checked_contact(shared, uid, user, contact, unverified).await {
        Ok(checked) => checked,
        Err(refusal) => return conn.send(&refusal).await,
    };
    if unverified {
        let response = save(shared, uid, user, new, None).await;
        return conn.send(&response).await;
    }
    let channel = new.destination.channels()[0];
    let masked = new.destination.masked();
    let ticket = match shared
        .outbox
        .send_code(
            user,
            &new.destination,
            channel,
            CodePurpose::Confirmation,
            shared.decisions.now().secs(),
        )
        .await
    {
        Ok(ticket) => ticket,
        Err(why) => {
            let e = not_sent(shared, confirmation(user, channel, &masked), &why);
            return conn.send(&internal(&e)).await;
        }
    };
    audit_code_sent(shared, confirmation(user, channel, &masked));
    conn.send(&Response::CodeSent {
        channel,
        to: masked.clone(),
    })
    .await?;
    loop {
        let code: Secret = match conn.read(CONFIRM_TIMEOUT).await? {
            Request::ConfirmContact { code } => code,
            _ => {
                return conn
                    .send(
                        &DaemonError::BadRequest("expected confirm_contact".to_owned()).response(),
                    )
                    .await;
            }
        };
        let presence = match conn.presence() {
            Ok(p) => p,
            Err(e) => return conn.send(&internal(&e)).await,
        };
        let check = shared.outbox.check(
            user,
            ticket,
            code.expose(),
            shared.decisions.now().secs(),
            &|| presence.still_there(),
        );
        let refusal = match check {
            SentCheck::Checked(CodeCheck::Accepted) => {
                let response = save(shared, uid, user, new, Some(revision)).await;
                return conn.send(&response).await;
            }
            SentCheck::Abandoned => return Err(FrameError::Closed),
            SentCheck::Checked(CodeCheck::Wrong { tries_left }) if tries_left > 0 => {
                DaemonError::WrongCode("that is not the code that was sent; check it and try again")
            }
            SentCheck::Checked(_) | SentCheck::Superseded => DaemonError::LockedOut(
                "the code is no longer valid (too many wrong tries, expired, or a newer one was sent); nothing was saved: start again".to_owned(),
            ),
        };
        let last = matches!(refusal, DaemonError::LockedOut(_));
        conn.send(&refusal.response()).await?;
        if last {
            return Ok(());
        }
    }
}

/// The contact a request adds, checked against the user's record (a valid number or
/// address, not there yet, a free label), and the record's revision it was checked at;
/// or the refusal.
async fn checked_contact(
    shared: &Arc<Shared>,
    uid: u32,
    user: &UserName,
    contact: NewContact,
    unverified: bool,
) -> Result<(Contact, u64), Response> {
    if unverified && uid != 0 {
        return Err(DaemonError::NotAuthorized(
            "only root may add a contact without confirming it (--unverified)".to_owned(),
        )
        .response());
    }
    let (destination, label) = match destination(shared, &contact) {
        Ok(parsed) => parsed,
        Err(e) => return Err(e.response()),
    };
    let record = match shared
        .for_user(uid, user, |a, user| {
            Ok(a.record(&crate::decisions::Subject::Account(user.clone()))?)
        })
        .await
    {
        Ok(record) => record,
        Err(e) => return Err(internal(&e)),
    };
    let checked = contact::check_new(&destination, &record.contacts)
        .and_then(|()| contact::label_for(label.as_deref(), destination.kind(), &record.contacts));
    let label = match checked {
        Ok(label) => label,
        Err(e) => return Err(DaemonError::Contact(e).response()),
    };
    let new = Contact {
        destination,
        label,
        verified: !unverified,
        added_at: shared.decisions.now().secs(),
    };
    let revision = record.revision;
    Ok((new, revision))
}

async fn save(
    shared: &Arc<Shared>,
    uid: u32,
    user: &UserName,
    new: Contact,
    revision: Option<u64>,
) -> Response {
    let contact = new.clone();
    match shared
        .for_user(uid, user, move |a, user| {
            a.add_contact(user, contact, revision)
        })
        .await
    {
        Ok(ContactChange::Done(added)) => {
            audit_contact(shared, AuditKind::ContactAdded, user, uid, AuditOutcome::Ok, &added);
            let what = format!(
                "{} {} was added as a way to receive verification codes",
                kind_word(added.destination.kind()),
                added.destination.masked()
            );
            notify_others(shared, CallerClass::of(uid), user, &what, Some(&added));
            Response::ContactAdded(contact_status(&added))
        }
        Ok(ContactChange::Refused(e)) => DaemonError::Contact(e).response(),
        Ok(ContactChange::Conflict) => DaemonError::ProofRequired(
            "the account's factors changed while this contact was being confirmed; nothing was saved: start again",
        )
        .response(),
        Err(e) => internal(&e),
    }
}

fn kind_word(kind: ContactKind) -> &'static str {
    match kind {
        ContactKind::Phone => "The phone",
        ContactKind::Email => "The email address",
    }
}

/// Removes the one contact `which` names.
pub async fn remove(
    shared: &Arc<Shared>,
    uid: u32,
    user: &UserName,
    kind: ContactKind,
    which: &str,
) -> Response {
    let which_owned = which.to_owned();
    let min = shared.decisions.policy().min_factors;
    let min_factors = (uid != 0).then_some(min);
    match shared
        .for_user(uid, user, move |a, user| {
            a.remove_contact(user, kind, &which_owned, min_factors)
        })
        .await
    {
        Ok(ContactRemoval::Removed(removed)) => {
            audit_contact(
                shared,
                AuditKind::ContactRemoved,
                user,
                uid,
                AuditOutcome::Ok,
                &removed,
            );
            shared.outbox.forget(user);
            let what = format!(
                "{} {} was removed from your verification options",
                kind_word(removed.destination.kind()),
                removed.destination.masked()
            );
            // The removed contact hears of it too: it may be the owner's, removed by someone
            // who took the account over.
            notify_removed(shared, user, &what, vec![removed.clone()]);
            notify_others(shared, CallerClass::of(uid), user, &what, None);
            Response::Ok {
                message: format!(
                    "removed {} ({})",
                    removed.destination.masked(),
                    removed.label
                ),
            }
        }
        Ok(ContactRemoval::NotFound) => DaemonError::NotEnrolled(format!(
            "{user} has no {} named `{which}`; `mfa-enroll status` lists them",
            match kind {
                ContactKind::Phone => "phone",
                ContactKind::Email => "email address",
            }
        ))
        .response(),
        Ok(ContactRemoval::Ambiguous(n)) => DaemonError::BadRequest(format!(
            "`{which}` matches {n} contacts; name one by its label"
        ))
        .response(),
        Ok(ContactRemoval::BelowMinimum(have)) => below_minimum(min, have).response(),
        Err(e) => internal(&e),
    }
}

/// A confirmation code's send, as audited: `mfa-enroll` stands for the service.
fn confirmation<'a>(user: &'a str, channel: mfa_proto::Channel, to: &'a str) -> Send<'a> {
    Send {
        user,
        service: "mfa-enroll",
        channel,
        to,
    }
}
