//! Root-only requests (`mfactl`, `mfa-enroll unlock`): list every name the daemon knows, and
//! clear lockouts. Each one is audited with the admin's uid and the target.

use std::sync::Arc;

use mfa_core::factor::bypass;
use mfa_proto::{FailureKind, FrameError, Request, Response, Secret, StatusReport};

use crate::accounts;
use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::connection::Connection;
use crate::decisions::Subject;
use crate::error::DaemonError;
use crate::handlers::common::{internal, invalid_user_name, status_report};
use crate::store::CallerClass;
use crate::username::{self, UserName};

/// What `admin_list` names as its target: every user.
const EVERY_USER: &str = "*";
/// Longest `source` an unlock may name: a remote host (255 bytes) or `service:tty`.
const MAX_SOURCE_LEN: usize = 512;
/// Serialized reports per [`Response::Users`] frame, well below the frame limit (one report
/// is at most about 12 KiB: 10 contacts, 32 sources of 255 bytes).
const LIST_BATCH_BYTES: usize = 40 * 1024;

/// Answers one root-only request; any other caller gets `Failed{not_authorized}`.
pub async fn handle(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    request: Request,
) -> Result<(), FrameError> {
    let uid = conn.caller.uid;
    let (event, target, source) = match &request {
        Request::ListUsers => (AuditKind::AdminList, EVERY_USER, None),
        Request::Unlock { user, source } => (AuditKind::AdminUnlock, user.as_str(), source.clone()),
        Request::Exempt { user, .. } => (AuditKind::AdminExempt, user.as_str(), None),
        Request::Bypass { user, .. } => (AuditKind::AdminBypass, user.as_str(), None),
        _ => {
            let refusal = DaemonError::BadRequest("not an admin request".to_owned());
            return conn.send(&refusal.response()).await;
        }
    };
    if uid != 0 {
        audit(
            shared,
            event,
            target,
            uid,
            source.as_deref(),
            AuditOutcome::NotAuthorized,
        );
        let refusal = Response::Failed {
            kind: FailureKind::NotAuthorized,
            message: "only root may list users, clear lockouts, exempt users or issue bypass codes"
                .to_owned(),
        };
        return conn.send(&refusal).await;
    }
    match request {
        Request::Unlock { user, source } => {
            let response = unlock(shared, &user, source).await;
            conn.send(&response).await
        }
        Request::Exempt { user, until } => {
            let response = exempt(shared, &user, until).await;
            conn.send(&response).await
        }
        Request::Bypass {
            user,
            uses,
            valid_secs,
        } => {
            let response = bypass_code(shared, conn.caller, &user, uses, valid_secs).await;
            conn.send(&response).await
        }
        _ => list(shared, conn).await,
    }
}

fn audit(
    shared: &Shared,
    event: AuditKind,
    user: &str,
    uid: u32,
    source: Option<&str>,
    outcome: AuditOutcome,
) {
    shared.audit.record(&AuditEvent {
        event,
        user,
        source,
        outcome,
        uid: Some(uid),
        ..AuditEvent::default()
    });
}

/// Exempts an account NSS knows from being asked until `until`, or ends its exemption.
async fn exempt(shared: &Arc<Shared>, given: &str, until: Option<u64>) -> Response {
    if !username::is_valid(given) {
        return invalid_user_name().response();
    }
    let now = shared.decisions.now().secs();
    if until.is_some_and(|u| u <= now) {
        return DaemonError::BadRequest("the exemption must end in the future".to_owned())
            .response();
    }
    let target = given.to_owned();
    let done = shared
        .blocking(CallerClass::Root, move |a| {
            let Some(account) = accounts::resolve(&target) else {
                return Ok(None);
            };
            a.set_exemption(&account.name, until)?;
            Ok(Some(account.name))
        })
        .await;
    match done {
        Ok(Some(user)) => {
            shared.audit.record(&AuditEvent {
                event: AuditKind::AdminExempt,
                user: &user,
                outcome: AuditOutcome::Ok,
                until,
                uid: Some(0),
                ..AuditEvent::default()
            });
            Response::Ok {
                message: match until {
                    Some(until) => {
                        format!("{user} is not asked for a second factor until {until} (Unix time)")
                    }
                    None => format!("{user} is asked for a second factor again"),
                },
            }
        }
        Ok(None) => unknown_account(shared, AuditKind::AdminExempt, given, 0),
        Err(e) => internal(&e),
    }
}

/// A new bypass code for an account NSS knows, replacing any earlier one.
async fn bypass_code(
    shared: &Arc<Shared>,
    caller: crate::connection::Caller,
    given: &str,
    uses: u8,
    valid_secs: u64,
) -> Response {
    if !username::is_valid(given) {
        return invalid_user_name().response();
    }
    if !(1..=bypass::MAX_USES).contains(&uses) {
        return DaemonError::BadRequest(format!(
            "uses must be from 1 to {}, got {uses}",
            bypass::MAX_USES
        ))
        .response();
    }
    if !(1..=bypass::MAX_VALID_SECS).contains(&valid_secs) {
        return DaemonError::BadRequest(format!(
            "valid_secs must be from 1 to {} (7 days), got {valid_secs}",
            bypass::MAX_VALID_SECS
        ))
        .response();
    }
    let target = given.to_owned();
    let done = shared
        .blocking_hashing(caller, move |a| {
            let Some(account) = accounts::resolve(&target) else {
                return Ok(None);
            };
            let (code, expires_at) =
                a.issue_bypass(&account.name, uses, valid_secs, a.now().secs(), caller.uid)?;
            Ok(Some((account.name, code, expires_at)))
        })
        .await;
    match done {
        Ok(Some((user, code, expires_at))) => {
            shared.audit.record(&AuditEvent {
                event: AuditKind::AdminBypass,
                user: &user,
                outcome: AuditOutcome::Ok,
                uses: Some(uses),
                until: Some(expires_at),
                uid: Some(caller.uid),
                ..AuditEvent::default()
            });
            Response::BypassCode {
                code: Secret::from(code),
                uses,
                expires_at,
            }
        }
        Ok(None) => unknown_account(shared, AuditKind::AdminBypass, given, caller.uid),
        Err(e) => internal(&e),
    }
}

/// The refusal of an admin request for a name NSS does not know, audited.
fn unknown_account(shared: &Shared, event: AuditKind, given: &str, uid: u32) -> Response {
    shared.audit.record(&AuditEvent {
        event,
        user: given,
        outcome: AuditOutcome::Refused,
        reason: Some("unknown_account"),
        uid: Some(uid),
        ..AuditEvent::default()
    });
    DaemonError::NotEnrolled(format!(
        "no account named {given} is known to this host (NSS)"
    ))
    .response()
}

/// Clears every counter and lockout of `given` (by its canonical name when NSS knows it),
/// or only those of `source`.
async fn unlock(shared: &Arc<Shared>, given: &str, source: Option<String>) -> Response {
    if !username::is_valid(given) {
        return invalid_user_name().response();
    }
    let bad_source =
        |s: &String| s.is_empty() || s.len() > MAX_SOURCE_LEN || s.chars().any(char::is_control);
    if source.as_ref().is_some_and(bad_source) {
        return DaemonError::BadRequest(format!(
            "source must be 1 to {MAX_SOURCE_LEN} bytes without control characters, as \
             `mfactl show` lists it"
        ))
        .response();
    }
    let target = given.to_owned();
    let only = source.clone();
    let done = shared
        .blocking(CallerClass::Root, move |a| {
            let user = match accounts::resolve(&target) {
                Some(account) => account.name.as_str().to_owned(),
                None => target,
            };
            let cleared = match &only {
                Some(source) => a.unlock_source(&user, source)?,
                None => {
                    a.unlock(&user)?;
                    true
                }
            };
            Ok((user, cleared))
        })
        .await;
    let (user, cleared) = match done {
        Ok(done) => done,
        Err(e) => return internal(&e),
    };
    audit(
        shared,
        AuditKind::AdminUnlock,
        &user,
        0,
        source.as_deref(),
        AuditOutcome::Ok,
    );
    let message = match (&source, cleared) {
        (None, _) => format!("cleared all failure counters and lockouts of {user}"),
        (Some(source), true) => {
            format!("cleared the failure counter and lockout of {user} from {source}")
        }
        (Some(source), false) => {
            format!("no failures of {user} from {source} were counted; nothing to clear")
        }
    };
    Response::Ok { message }
}

/// Every name with a record or counted failures, in [`Response::Users`] frames of at most
/// [`LIST_BATCH_BYTES`], then an empty one that ends the list.
async fn list(shared: &Arc<Shared>, conn: &mut Connection) -> Result<(), FrameError> {
    let reports = shared
        .blocking(CallerClass::Root, |a| {
            let now = a.now().secs();
            let policy = a.policy();
            let mut reports = Vec::new();
            for name in a.known_names()? {
                // A name that may not reach a path (counted for a caller who gave it) has
                // no record; any other name's record is read, if there is one.
                let subject = match UserName::of_stored(name.clone()) {
                    Some(user) => Subject::Account(user),
                    None => Subject::Unknown(name),
                };
                let report = a.record(&subject).and_then(|record| {
                    status_report(a.limiter(), &policy, subject.key(), &record, now)
                });
                match report {
                    Ok(report) => reports.push(report),
                    // One unreadable record must not hide every other user.
                    Err(e) => tracing::error!("admin list leaves out {}: {e}", subject.key()),
                }
            }
            Ok(reports)
        })
        .await;
    let reports = match reports {
        Ok(reports) => reports,
        Err(e) => {
            audit(
                shared,
                AuditKind::AdminList,
                EVERY_USER,
                0,
                None,
                AuditOutcome::Error,
            );
            return conn.send(&internal(&e)).await;
        }
    };
    audit(
        shared,
        AuditKind::AdminList,
        EVERY_USER,
        0,
        None,
        AuditOutcome::Ok,
    );
    for batch in batches(reports, LIST_BATCH_BYTES) {
        conn.send(&Response::Users(batch)).await?;
    }
    conn.send(&Response::Users(Vec::new())).await
}

/// Splits `reports` into non-empty batches whose JSON stays under `budget` bytes (a report
/// bigger than that alone gets a batch of its own).
fn batches(reports: Vec<StatusReport>, budget: usize) -> Vec<Vec<StatusReport>> {
    let mut batches = Vec::new();
    let mut batch = Vec::new();
    let mut size = 0;
    for report in reports {
        let len = serde_json::to_vec(&report).map_or(budget, |json| json.len() + 1);
        if !batch.is_empty() && size + len > budget {
            batches.push(std::mem::take(&mut batch));
            size = 0;
        }
        size += len;
        batch.push(report);
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(user: &str) -> StatusReport {
        StatusReport {
            user: user.to_owned(),
            ..StatusReport::default()
        }
    }

    #[test]
    fn batches_stay_under_the_budget_and_keep_every_report_in_order() {
        let reports: Vec<_> = (0..1000).map(|i| report(&format!("user{i:04}"))).collect();
        let one = serde_json::to_vec(&reports[0]).unwrap().len() + 1;
        let split = batches(reports.clone(), 10 * one);
        assert_eq!(split.len(), 100);
        assert!(split.iter().all(|b| b.len() == 10));
        assert_eq!(split.concat(), reports);
        for batch in batches(reports.clone(), LIST_BATCH_BYTES) {
            let frame = serde_json::to_vec(&Response::Users(batch)).unwrap();
            assert!(frame.len() < mfa_proto::MAX_FRAME_LEN, "{}", frame.len());
        }
        assert!(batches(Vec::new(), LIST_BATCH_BYTES).is_empty());
        // Too big for the budget alone: its own batch, never an empty one.
        assert_eq!(batches(reports[..3].to_vec(), 1).len(), 3);
    }
}
