//! Sign-ins waiting for an approval on the phone: one open request per user, each with a
//! two-digit number the user must match on the page before the passkey is asked, a life of
//! `approval_timeout`, and limits against push bombing (a few requests an hour per user,
//! and no notification for a while after "This wasn't me").

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mfa_proto::web::ApprovalView;
use tokio::sync::watch;
use webauthn_rs::prelude::PasskeyAuthentication;

use super::{expired, new_token};
use crate::clock::UnixTime;
use crate::username::UserName;

/// The limits on a user's requests, from `[web]` and `[policy]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushLimits {
    /// How long a request waits (`web.approval_timeout`).
    pub life: Duration,
    /// Requests a user can cause in an hour (`policy.max_pushes_per_hour`).
    pub per_hour: usize,
    /// How long notifications stop after "This wasn't me" (`policy.push_cooldown`).
    pub cooldown: Duration,
}
/// Most requests open at once, for all users together.
const MAX_OPEN: usize = 1024;

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalEnd {
    /// Approved with the passkey of this label.
    Approved(String),
    /// Denied on the page; `not_me` when the user said it was not them.
    Denied {
        /// "This wasn't me".
        not_me: bool,
    },
    /// The number picked on the page was not the one shown.
    WrongNumber,
    /// The passkey's answer did not verify.
    NotVerified,
}

/// Why no request was made: the sign-in falls back to a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRefused {
    /// The hourly limit is used up.
    #[error("too many approval requests in the last hour")]
    TooMany,
    /// Too many requests are open, or no random id could be made.
    #[error("no approval request can be opened now")]
    Unavailable,
}

/// An open request.
#[derive(Debug)]
pub struct Approval {
    /// Whose sign-in.
    pub user: UserName,
    view: ApprovalView,
    number: u8,
    expires: UnixTime,
    cooldown: Duration,
    authentication: Option<PasskeyAuthentication>,
    end: watch::Sender<Option<ApprovalEnd>>,
}

#[derive(Debug, Default)]
struct Book {
    open: HashMap<String, Approval>,
    recent: HashMap<UserName, VecDeque<u64>>,
    paused: HashMap<UserName, UnixTime>,
}

/// The open requests and the per-user limits.
#[derive(Debug, Default)]
pub struct Approvals {
    book: Mutex<Book>,
}

/// What a new request is: its id, the number to show, and where its end is told.
#[derive(Debug)]
pub struct NewApproval {
    /// The request's id (the page's path).
    pub id: String,
    /// The number shown at the prompt.
    pub number: u8,
    /// When it expires.
    pub expires: UnixTime,
    /// Its end, once it has one.
    pub ended: watch::Receiver<Option<ApprovalEnd>>,
    /// Until when nothing may notify the user of it, after "This wasn't me": the request is
    /// open, and its link shown at the prompt works, but no push, text or email goes out.
    pub quiet_until: Option<UnixTime>,
}

/// What the sign-in is, for the page.
#[derive(Debug, Clone)]
pub struct SignIn {
    /// The account.
    pub user: UserName,
    /// This host.
    pub host: String,
    /// The PAM service.
    pub service: String,
    /// The remote address, or a local source.
    pub source: String,
}

impl Approvals {
    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a request for `sign_in`, ending the user's earlier one, within the limits.
    pub fn request(
        &self,
        sign_in: SignIn,
        now: UnixTime,
        limits: PushLimits,
    ) -> Result<NewApproval, ApprovalRefused> {
        let id = new_token().map_err(|_| ApprovalRefused::Unavailable)?;
        let (number, choices) = numbers().ok_or(ApprovalRefused::Unavailable)?;
        let mut book = self.lock();
        book.open
            .retain(|_, a| !expired(a.expires, now) && a.user != sign_in.user);
        // "This wasn't me" only quiets the notifications: refusing requests would let
        // whoever holds the password, and so sees an approval link at the prompt, shut the
        // user out of approving their own sign-ins by pressing it.
        book.paused.retain(|_, until| now.secs() < until.secs());
        let quiet_until = book.paused.get(&sign_in.user).copied();
        let recent = book.recent.entry(sign_in.user.clone()).or_default();
        recent.retain(|at| now.secs() < at + 3600);
        if recent.len() >= limits.per_hour {
            return Err(ApprovalRefused::TooMany);
        }
        recent.push_back(now.secs());
        if book.open.len() >= MAX_OPEN {
            return Err(ApprovalRefused::Unavailable);
        }
        let expires = UnixTime::from_secs(now.secs() + limits.life.as_secs());
        let (end, ended) = watch::channel(None);
        let view = ApprovalView {
            user: sign_in.user.to_string(),
            host: sign_in.host,
            service: sign_in.service,
            source: sign_in.source,
            requested_at: now.secs(),
            expires_at: expires.secs(),
            choices,
        };
        let approval = Approval {
            user: sign_in.user,
            view,
            number,
            expires,
            cooldown: limits.cooldown,
            authentication: None,
            end,
        };
        book.open.insert(id.clone(), approval);
        Ok(NewApproval {
            id,
            number,
            expires,
            ended,
            quiet_until,
        })
    }

    /// What the page shows for request `id`, if it is open.
    pub fn view(&self, id: &str, now: UnixTime) -> Option<ApprovalView> {
        let book = self.lock();
        let approval = book.open.get(id).filter(|a| !expired(a.expires, now))?;
        Some(approval.view.clone())
    }

    /// Checks the number the user gave: the right one gives the user the passkey is asked
    /// of; a wrong one ends the request (and gives whose it was, for the audit log).
    pub fn check_number(
        &self,
        id: &str,
        number: u8,
        now: UnixTime,
    ) -> Option<Result<UserName, UserName>> {
        let mut book = self.lock();
        let approval = book.open.get(id).filter(|a| !expired(a.expires, now))?;
        if approval.number == number {
            return Some(Ok(approval.user.clone()));
        }
        let approval = book.open.remove(id)?;
        let _ = approval.end.send(Some(ApprovalEnd::WrongNumber));
        Some(Err(approval.user))
    }

    /// Keeps the authentication state of the challenge the page was just given.
    pub fn begin(&self, id: &str, authentication: PasskeyAuthentication) -> bool {
        match self.lock().open.get_mut(id) {
            Some(approval) => {
                approval.authentication = Some(authentication);
                true
            }
            None => false,
        }
    }

    /// Takes the authentication state out of request `id`, so one assertion answers it.
    pub fn take(&self, id: &str, now: UnixTime) -> Option<(UserName, PasskeyAuthentication)> {
        let mut book = self.lock();
        let approval = book.open.get_mut(id).filter(|a| !expired(a.expires, now))?;
        let authentication = approval.authentication.take()?;
        Some((approval.user.clone(), authentication))
    }

    /// Ends request `id` with `end`; "This wasn't me" also quiets the user's notifications.
    /// The user whose request it was, if it was open.
    pub fn end(&self, id: &str, end: ApprovalEnd, now: UnixTime) -> Option<UserName> {
        let mut book = self.lock();
        let approval = book.open.remove(id)?;
        if end == (ApprovalEnd::Denied { not_me: true }) {
            let until = UnixTime::from_secs(now.secs() + approval.cooldown.as_secs());
            book.paused.insert(approval.user.clone(), until);
        }
        let _ = approval.end.send(Some(end));
        Some(approval.user)
    }

    /// The sign-in stopped waiting (answered with a code, timed out, went away).
    pub fn withdraw(&self, id: &str) {
        self.lock().open.remove(id);
    }
}

/// A random two-digit number and three choices that hold it, in random order.
fn numbers() -> Option<(u8, [u8; 3])> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).ok()?;
    let pick = |b: u8| 10 + b % 90;
    let number = pick(bytes[0]);
    let mut others = bytes[1..].iter().map(|&b| pick(b)).filter(|&n| n != number);
    let first = others.next()?;
    let second = others.find(|&n| n != first)?;
    let mut choices = [number, first, second];
    let at = usize::from(bytes[7] % 3);
    choices.swap(0, at);
    Some((number, choices))
}
