//! The authentication conversation that `pam_mfa.so` relays.

use std::sync::Arc;

use mfa_proto::{AuthRequest, FrameError, Outcome, Request, Secret, Step};

use crate::accounts;
use crate::audit::AuditEvent;
use crate::authority::{Factor, Rejection, Verdict, unix_now};
use crate::connection::Connection;
use crate::recovery;
use crate::server::{Shared, bad_request};

/// The prompt, the same for every user so that it reveals nothing about enrollment.
pub const PROMPT: &str = "Verification code: ";
const INVALID: &str = "Invalid verification code.";
const NO_ANSWER: &str = "No code was entered in time.";
const REPLAYED: &str = "That code has already been used. Wait for the next one.";
const ACCOUNT_LOCKED: &str =
    "Too many failed attempts on this account: only a recovery code is accepted now.";
/// Longest value accepted in any field of an authentication request.
const MAX_FIELD: usize = 1024;

/// "Try again in N minutes." for a lockout ending at `until`.
pub fn lockout_message(until: u64, now: u64) -> String {
    let minutes = until.saturating_sub(now).div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("Too many failed attempts. Try again in {minutes} {unit}.")
}

/// The source failures are counted against: the remote host, or `service:tty` for local
/// logins.
pub fn source_of(auth: &AuthRequest) -> String {
    match auth.rhost.as_deref().filter(|h| !h.is_empty()) {
        Some(rhost) => rhost.to_owned(),
        None => format!("{}:{}", auth.service, auth.tty.as_deref().unwrap_or("")),
    }
}

struct Attempt<'a> {
    shared: &'a Arc<Shared>,
    auth: &'a AuthRequest,
    source: String,
    uid: u32,
}

impl Attempt<'_> {
    fn audit(&self, outcome: &str, factor: Option<&str>, reason: Option<&str>, until: Option<u64>) {
        self.shared.audit.record(&AuditEvent {
            event: if until.is_some() && outcome == "locked_out" {
                "lockout"
            } else {
                "auth"
            },
            user: &self.auth.user,
            service: Some(&self.auth.service),
            rhost: self.auth.rhost.as_deref(),
            source: Some(&self.source),
            factor,
            outcome,
            reason,
            until,
            uid: Some(self.uid),
        });
    }
}

/// Runs one authentication to its `Done`.
pub async fn authenticate(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    auth: AuthRequest,
) -> Result<(), FrameError> {
    let fields = [
        Some(&auth.user),
        Some(&auth.service),
        auth.rhost.as_ref(),
        auth.tty.as_ref(),
        auth.ruser.as_ref(),
        auth.auth_info.as_ref(),
    ];
    if auth.user.is_empty() || fields.iter().flatten().any(|f| f.len() > MAX_FIELD) {
        return conn
            .send(&bad_request(
                "user must be set and no field may exceed 1024 bytes",
            ))
            .await;
    }
    let attempt = Attempt {
        shared,
        source: source_of(&auth),
        auth: &auth,
        uid: conn.peer_uid,
    };
    let outcome = converse(&attempt, conn).await?;
    conn.send(&Step::Done { outcome }).await
}

async fn converse(at: &Attempt<'_>, conn: &mut Connection) -> Result<Outcome, FrameError> {
    let shared = at.shared;
    let user = at.auth.user.clone();
    let peer = conn.peer_uid;
    // Authorization and the first look at the record in one trip to a blocking thread; the
    // record is not read for a caller who may not see it.
    let looked_up = shared
        .blocking(move |a| {
            if !accounts::may_act_for(peer, &user) {
                return Ok(None);
            }
            Ok(Some(a.record(&user)?))
        })
        .await;
    let record = match looked_up {
        Ok(Some(record)) => record,
        Ok(None) => {
            at.audit("not_authorized", None, None, None);
            return Ok(Outcome::NotAuthorized);
        }
        Err(e) => {
            eprintln!("mfa-daemon: cannot read record of {}: {e}", at.auth.user);
            at.audit("error", None, Some("store"), None);
            return Ok(Outcome::Error);
        }
    };
    if at.auth.nullok && !record.is_enrolled() {
        at.audit("ignore", None, Some("not_enrolled"), None);
        return Ok(Outcome::Ignore);
    }
    let now = unix_now();
    if let Some(until) = record.limits.source_locked(&at.source, now) {
        at.audit("locked_out", None, Some("source_locked"), None);
        return locked_out(conn, until).await;
    }
    if record.limits.account_locked(now).is_some() {
        conn.send(&Step::Info {
            text: ACCOUNT_LOCKED.to_owned(),
        })
        .await?;
    }
    let config = shared.authority.config();
    for _ in 0..config.max_tries {
        conn.send(&Step::Prompt {
            text: PROMPT.to_owned(),
            echo: false,
        })
        .await?;
        let answer = match conn.read(config.answer_timeout).await {
            Ok(Request::Answer { text }) => text,
            Err(FrameError::Timeout) => {
                at.audit("failure", None, Some("no_answer_in_time"), None);
                conn.send(&Step::Error {
                    text: NO_ANSWER.to_owned(),
                })
                .await?;
                return Ok(Outcome::Failure);
            }
            Err(e) => return Err(e),
            _ => {
                conn.send(&bad_request("expected an answer to the prompt"))
                    .await?;
                return Err(FrameError::Closed);
            }
        };
        match check_answer(shared, &at.auth.user, &at.source, answer).await {
            Err(e) => {
                eprintln!("mfa-daemon: cannot decide for {}: {e}", at.auth.user);
                at.audit("error", None, Some("store"), None);
                return Ok(Outcome::Error);
            }
            Ok(Verdict::Accepted(factor)) => {
                at.audit("success", Some(factor.name()), None, None);
                if let Factor::RecoveryCode { left } = factor {
                    conn.send(&Step::Info {
                        text: format!(
                            "Recovery code accepted; {left} left. Run `mfa-enroll recovery-codes` for a new set."
                        ),
                    })
                    .await?;
                }
                return Ok(Outcome::Success);
            }
            Ok(Verdict::SourceLocked { until }) => {
                at.audit("locked_out", None, Some("source_locked"), None);
                return locked_out(conn, until).await;
            }
            Ok(Verdict::Rejected {
                reason,
                locked_until,
            }) => {
                at.audit("failure", None, Some(reason.name()), None);
                if let Some(until) = locked_until {
                    at.audit("locked_out", None, Some("too_many_failures"), Some(until));
                    return locked_out(conn, until).await;
                }
                let text = match reason {
                    Rejection::Invalid => INVALID,
                    Rejection::Replayed => REPLAYED,
                    Rejection::AccountLocked => ACCOUNT_LOCKED,
                };
                conn.send(&Step::Error {
                    text: text.to_owned(),
                })
                .await?;
            }
        }
    }
    Ok(Outcome::Failure)
}

/// Tells the user how long the lockout lasts; the conversation ends `locked_out`.
async fn locked_out(conn: &mut Connection, until: u64) -> Result<Outcome, FrameError> {
    conn.send(&Step::Error {
        text: lockout_message(until, unix_now()),
    })
    .await?;
    Ok(Outcome::LockedOut)
}

/// Checks an answer on a blocking thread; recovery codes (an argon2 run per stored hash) go
/// through the hashing limit.
pub async fn check_answer(
    shared: &Arc<Shared>,
    user: &str,
    source: &str,
    answer: Secret,
) -> Result<Verdict, String> {
    let user = user.to_owned();
    let source = source.to_owned();
    let recovery_shaped = recovery::normalize(answer.expose()).is_some();
    let work = move |a: &crate::authority::Authority| {
        a.check_answer(&user, &source, answer.expose().trim(), unix_now())
    };
    if recovery_shaped {
        shared.blocking_hashing(work).await
    } else {
        shared.blocking(work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(rhost: Option<&str>, tty: Option<&str>) -> AuthRequest {
        AuthRequest {
            user: "alice".into(),
            service: "sudo".into(),
            rhost: rhost.map(Into::into),
            tty: tty.map(Into::into),
            ruser: None,
            auth_info: None,
            nullok: false,
        }
    }

    #[test]
    fn source_is_rhost_else_service_and_tty() {
        assert_eq!(
            source_of(&auth(Some("10.1.2.3"), Some("/dev/pts/1"))),
            "10.1.2.3"
        );
        assert_eq!(
            source_of(&auth(Some(""), Some("/dev/pts/1"))),
            "sudo:/dev/pts/1"
        );
        assert_eq!(source_of(&auth(None, None)), "sudo:");
    }

    #[test]
    fn lockout_message_rounds_up() {
        assert_eq!(
            lockout_message(160, 100),
            "Too many failed attempts. Try again in 1 minute."
        );
        assert_eq!(
            lockout_message(221, 100),
            "Too many failed attempts. Try again in 3 minutes."
        );
        assert_eq!(
            lockout_message(100, 100),
            "Too many failed attempts. Try again in 1 minute."
        );
    }
}
