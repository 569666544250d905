//! Checking a typed answer on a blocking thread, for a login or a proof: a locked source is
//! refused before anything expensive, and answers shaped like recovery or bypass codes (one
//! argon2 run) go through the caller's share of the hashing pools.

use std::sync::Arc;

use mfa_core::factor::sent_code::CodeCheck;
use mfa_core::factor::{bypass, recovery};
use mfa_proto::{Channel, Secret};

use crate::app::Shared;
use crate::connection::{Caller, Presence};
use crate::decisions::{Decider, Factor, Rejection, Subject, Verdict};
use crate::delivery::outbox::{SentCheck, Ticket};
use crate::error::DaemonError;

/// Checks an answer. The code is consumed only while `presence` says the client is still
/// there to hear the answer. `login` is the PAM service of a login (its success is kept as
/// the user's last), `None` for a proof.
pub async fn check_answer(
    shared: &Arc<Shared>,
    caller: Caller,
    subject: &Subject,
    source: &str,
    answer: Secret,
    login: Option<&str>,
    presence: Presence,
) -> Result<Verdict, DaemonError> {
    // An 8-digit answer may be an imported google-authenticator scratch code.
    let hashed = recovery::normalize(answer.expose()).is_some()
        || recovery::normalize_scratch(answer.expose()).is_some()
        || bypass::normalize(answer.expose()).is_some();
    // A locked source does not get to spend the hashing budget (the decider checks the
    // lock again, for every answer, before it looks at one).
    if hashed {
        let (key, from) = (subject.key().to_owned(), source.to_owned());
        let locks = shared
            .blocking(caller.class(), move |a| {
                Ok(a.locks(&key, &from, a.now().secs())?)
            })
            .await?;
        if let Some(until) = locks.source {
            return Ok(Verdict::SourceLocked { until });
        }
    }
    let subject = subject.clone();
    let source = source.to_owned();
    let login = login.map(str::to_owned);
    let work = move |a: &Decider| {
        a.check_answer(
            &subject,
            &source,
            answer.expose().trim(),
            a.now().secs(),
            login.as_deref(),
            &|| presence.still_there(),
        )
    };
    if hashed {
        shared.blocking_hashing(caller, work).await
    } else {
        shared.blocking(caller.class(), work).await
    }
}

/// Checks an answer against the code sent for this conversation; a wrong one counts like
/// any wrong code.
pub(super) async fn check_sent(
    shared: &Arc<Shared>,
    caller: Caller,
    subject: &Subject,
    source: &str,
    sent: (Ticket, Channel),
    answer: &Secret,
    presence: Presence,
) -> Result<Verdict, DaemonError> {
    let (ticket, channel) = sent;
    let now = shared.decisions.now().secs();
    let (key, from) = (subject.key().to_owned(), source.to_owned());
    let locks = shared
        .blocking(caller.class(), move |a| Ok(a.locks(&key, &from, now)?))
        .await?;
    if let Some(until) = locks.source {
        return Ok(Verdict::SourceLocked { until });
    }
    let decided = if locks.account.is_some() {
        Err(Rejection::AccountLocked)
    } else {
        match shared
            .outbox
            .check(subject.key(), ticket, answer.expose(), now, &|| {
                presence.still_there()
            }) {
            SentCheck::Checked(CodeCheck::Accepted) => Ok(Factor::SentCode(channel)),
            SentCheck::Abandoned => return Ok(Verdict::Abandoned(Factor::SentCode(channel))),
            SentCheck::Checked(CodeCheck::Wrong { tries_left }) if tries_left > 0 => {
                Err(Rejection::Invalid)
            }
            SentCheck::Checked(_) | SentCheck::Superseded => Err(Rejection::Expired),
        }
    };
    let subject = subject.clone();
    let source = source.to_owned();
    shared
        .blocking(caller.class(), move |a| {
            a.settle_sent_code(&subject, &source, decided, now)
        })
        .await
}
