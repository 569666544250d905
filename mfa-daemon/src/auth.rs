//! The authentication conversation that `pam_mfa.so` relays.

use std::sync::Arc;

use mfa_proto::{AuthRequest, FrameError, Outcome, Request, Secret, Step};

use crate::accounts;
use crate::app::{Shared, bad_request};
use crate::audit::AuditEvent;
use crate::authority::{Factor, Rejection, Subject, Verdict, unix_now};
use crate::connection::{Caller, Connection, Presence};
use crate::recovery;
use crate::username;

/// The prompt, the same for every user so that it reveals nothing about enrollment.
pub const PROMPT: &str = "Verification code: ";
const INVALID: &str = "Invalid verification code.";
const NO_ANSWER: &str = "No code was entered in time.";
const REPLAYED: &str = "That code has already been used. Wait for the next one.";
const ACCOUNT_LOCKED: &str =
    "Too many failed attempts on this account: only a recovery code is accepted now.";
/// Longest value accepted in the other fields of an authentication request.
const MAX_FIELD: usize = 1024;
/// Longest `SSH_AUTH_INFO_0` accepted: it lists the public keys that passed, and an RSA
/// key alone is over 700 bytes.
const MAX_AUTH_INFO: usize = 16 * 1024;
/// Longest remote host accepted: a DNS name is at most 253 bytes.
pub const MAX_RHOST: usize = 255;

/// "Try again in N minutes." for a lockout ending at `until`.
pub fn lockout_message(until: u64, now: u64) -> String {
    let minutes = until.saturating_sub(now).div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("Too many failed attempts. Try again in {minutes} {unit}.")
}

/// The source failures are counted against. For root's callers (sshd, sudo, login) the
/// remote host, or `service:tty` for local logins. For any other caller its uid: what it
/// says about its host and terminal is its own word, and must not let it spread its guesses
/// over sources it invents.
pub fn source_of(auth: &AuthRequest, caller: Caller) -> String {
    if caller.uid != 0 {
        return uid_source(caller.uid);
    }
    match auth.rhost.as_deref().filter(|h| !h.is_empty()) {
        Some(rhost) => rhost.to_owned(),
        None => format!("{}:{}", auth.service, auth.tty.as_deref().unwrap_or("")),
    }
}

/// The source of a non-root caller.
pub fn uid_source(uid: u32) -> String {
    format!("uid:{uid}")
}

/// What is wrong with a request's fields, if anything: the user name must be one that can
/// be looked up, the remote host a host name or address, nothing oversized.
pub fn field_problem(auth: &AuthRequest) -> Option<String> {
    if auth.user.is_empty() || auth.user.len() > username::MAX_LEN {
        return Some(format!(
            "user must be 1 to {} bytes, got {}",
            username::MAX_LEN,
            auth.user.len()
        ));
    }
    if let Some(rhost) = auth.rhost.as_deref() {
        let host_shaped = rhost
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:%[]".contains(&b));
        if rhost.len() > MAX_RHOST || !host_shaped {
            return Some(format!(
                "rhost must be a host name or address of at most {MAX_RHOST} bytes"
            ));
        }
    }
    let others = [Some(&auth.service), auth.tty.as_ref(), auth.ruser.as_ref()];
    if others.iter().flatten().any(|f| f.len() > MAX_FIELD) {
        return Some(format!(
            "service, tty and ruser may not exceed {MAX_FIELD} bytes"
        ));
    }
    if auth
        .auth_info
        .as_ref()
        .is_some_and(|i| i.len() > MAX_AUTH_INFO)
    {
        return Some(format!("auth_info may not exceed {MAX_AUTH_INFO} bytes"));
    }
    None
}

struct Attempt<'a> {
    shared: &'a Arc<Shared>,
    auth: &'a AuthRequest,
    /// The canonical account name once resolved, else the name as given.
    user: String,
    source: String,
    caller: Caller,
}

impl Attempt<'_> {
    fn audit(&self, outcome: &str, factor: Option<&str>, reason: Option<&str>, until: Option<u64>) {
        self.shared.audit.record(&AuditEvent {
            event: if until.is_some() && outcome == "locked_out" {
                "lockout"
            } else {
                "auth"
            },
            user: &self.user,
            service: Some(&self.auth.service),
            // Only root's callers know the remote host; anyone else's is its own word, and
            // varying it must not make a flood's lines distinct (identical ones are throttled).
            rhost: self.auth.rhost.as_deref().filter(|_| self.caller.uid == 0),
            source: Some(&self.source),
            factor,
            outcome,
            reason,
            until,
            uid: Some(self.caller.uid),
            ..AuditEvent::default()
        });
    }
}

/// Runs one authentication to its `Done`.
pub async fn authenticate(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    auth: AuthRequest,
) -> Result<(), FrameError> {
    if let Some(problem) = field_problem(&auth) {
        return conn.send(&bad_request(&problem)).await;
    }
    let mut attempt = Attempt {
        shared,
        source: source_of(&auth, conn.caller),
        user: auth.user.clone(),
        auth: &auth,
        caller: conn.caller,
    };
    let outcome = converse(&mut attempt, conn).await?;
    conn.send(&Step::Done { outcome }).await
}

async fn converse(at: &mut Attempt<'_>, conn: &mut Connection) -> Result<Outcome, FrameError> {
    let shared = at.shared;
    let name = at.auth.user.clone();
    let caller = at.caller;
    // Resolution, authorization and the first look at the record in one trip to a blocking
    // thread; the record is not read for a caller who may not see it.
    let looked_up = shared
        .blocking(move |a| {
            let account = accounts::resolve(&name);
            if !accounts::may_act_for(caller.uid, account.as_ref()) {
                return Ok(None);
            }
            let subject = match account {
                Some(account) => Subject::Account(account.name),
                None => Subject::Unknown(name),
            };
            let record = a.record(&subject)?;
            Ok(Some((subject, record)))
        })
        .await;
    let (subject, record) = match looked_up {
        Ok(Some(found)) => found,
        Ok(None) => {
            at.audit("not_authorized", None, None, None);
            return Ok(Outcome::NotAuthorized);
        }
        Err(e) => {
            eprintln!("mfa-daemon: cannot read record of {}: {e}", at.user);
            at.audit("error", None, Some("store"), None);
            return Ok(Outcome::Error);
        }
    };
    at.user = subject.key().to_owned();
    if at.auth.nullok && !record.is_enrolled() {
        at.audit("ignore", None, Some("not_enrolled"), None);
        return Ok(Outcome::Ignore);
    }
    let limiter = shared.authority.limiter();
    let now = unix_now();
    if let Some(until) = limiter.source_locked(&at.user, &at.source, now) {
        at.audit("locked_out", None, Some("source_locked"), None);
        return locked_out(conn, until).await;
    }
    if limiter.account_locked(&at.user, now).is_some() {
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
        let verdict = match conn.presence() {
            Ok(presence) => {
                check_answer(shared, caller, &subject, &at.source, answer, presence).await
            }
            Err(e) => Err(format!("cannot watch the connection: {e}")),
        };
        match verdict {
            Err(e) => {
                eprintln!("mfa-daemon: cannot decide for {}: {e}", at.user);
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
            Ok(Verdict::Abandoned(factor)) => {
                at.audit("abandoned", Some(factor.name()), Some("client_gone"), None);
                return Err(FrameError::Closed);
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

/// Checks an answer on a blocking thread. A locked source is refused before anything
/// expensive; answers shaped like recovery codes (one argon2 run) go through the caller's
/// share of the hashing pools. The code is consumed only while `presence` says the client
/// is still there to hear the answer.
pub async fn check_answer(
    shared: &Arc<Shared>,
    caller: Caller,
    subject: &Subject,
    source: &str,
    answer: Secret,
    presence: Presence,
) -> Result<Verdict, String> {
    if let Some(until) = shared
        .authority
        .limiter()
        .source_locked(subject.key(), source, unix_now())
    {
        return Ok(Verdict::SourceLocked { until });
    }
    let subject = subject.clone();
    let source = source.to_owned();
    let recovery_shaped = recovery::normalize(answer.expose()).is_some();
    let work = move |a: &crate::authority::Authority| {
        a.check_answer(
            &subject,
            &source,
            answer.expose().trim(),
            unix_now(),
            &|| presence.still_there(),
        )
    };
    if recovery_shaped {
        shared.blocking_hashing(caller, work).await
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

    const ROOT: Caller = Caller {
        uid: 0,
        door: crate::connection::Door::Privileged,
    };

    #[test]
    fn source_is_rhost_else_service_and_tty_for_root() {
        assert_eq!(
            source_of(&auth(Some("10.1.2.3"), Some("/dev/pts/1")), ROOT),
            "10.1.2.3"
        );
        assert_eq!(
            source_of(&auth(Some(""), Some("/dev/pts/1")), ROOT),
            "sudo:/dev/pts/1"
        );
        assert_eq!(source_of(&auth(None, None), ROOT), "sudo:");
    }

    #[test]
    fn a_non_root_caller_is_its_own_source_whatever_it_says() {
        let user = Caller {
            uid: 1000,
            door: crate::connection::Door::Public,
        };
        for rhost in [Some("10.1.2.3"), Some("forged.example"), None] {
            assert_eq!(
                source_of(&auth(rhost, Some("/dev/pts/9")), user),
                "uid:1000"
            );
        }
    }

    #[test]
    fn oversized_and_odd_fields_are_refused() {
        assert_eq!(field_problem(&auth(Some("10.1.2.3"), None)), None);
        assert_eq!(field_problem(&auth(Some("fe80::1%eth0"), None)), None);
        assert_eq!(
            field_problem(&auth(Some("host-1.corp.example"), None)),
            None
        );
        let long = "a".repeat(MAX_RHOST + 1);
        for rhost in [long.as_str(), "a b", "evil/../x", "x\ny"] {
            let problem = field_problem(&auth(Some(rhost), None)).unwrap();
            assert!(problem.contains("rhost"), "{problem}");
        }
        let mut a = auth(None, None);
        a.user = "u".repeat(username::MAX_LEN + 1);
        assert!(field_problem(&a).unwrap().contains("user"));
        a.user = String::new();
        assert!(field_problem(&a).is_some());
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
