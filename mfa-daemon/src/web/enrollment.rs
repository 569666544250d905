//! One-time links that enroll a passkey: made for one user on `mfa-enroll passkey`, opened
//! in a browser, used once. The `mfa-enroll` that asked waits on the link and is told how
//! it ended; if it goes away, so does the link.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;
use webauthn_rs::prelude::PasskeyRegistration;

use super::{ENROLL_LINK_LIFE, expired, new_token};
use crate::clock::UnixTime;
use crate::username::UserName;

/// Most links open at once, for all users together (one per user).
const MAX_LINKS: usize = 256;
/// Credentials a link may refuse before it is spent.
const MAX_FAILURES: u8 = 3;

/// How an enrollment link ended, for the `mfa-enroll` waiting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollEnd {
    /// The passkey is stored under this label.
    Enrolled(String),
    /// The browser's credentials were refused too often; the link is spent.
    Refused,
}

/// An open link.
#[derive(Debug)]
pub struct EnrollLink {
    /// Whose passkey it adds.
    pub user: UserName,
    /// The label the passkey gets.
    pub label: String,
    expires: UnixTime,
    registration: Option<PasskeyRegistration>,
    failures: u8,
    waiter: oneshot::Sender<EnrollEnd>,
}

/// The open links, by token.
#[derive(Debug, Default)]
pub struct Links {
    open: Mutex<HashMap<String, EnrollLink>>,
    /// Links just used, kept for the page that used them to subscribe its browser to Web
    /// Push ("Notify me" shows once the passkey is added): whose, and until when.
    used: Mutex<HashMap<String, (UserName, UnixTime)>>,
}

/// Why no link was made.
#[derive(Debug, thiserror::Error)]
pub enum LinkRefused {
    /// Too many links are open.
    #[error("too many passkey enrollments are open; try again in a few minutes")]
    Full,
    /// No random token could be made.
    #[error("cannot make a random link: {0}")]
    Random(#[source] getrandom::Error),
}

impl Links {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, EnrollLink>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new link for `user`, replacing any earlier one of theirs: its token, when it
    /// expires, and where its end is told.
    pub fn create(
        &self,
        user: UserName,
        label: String,
        now: UnixTime,
    ) -> Result<(String, UnixTime, oneshot::Receiver<EnrollEnd>), LinkRefused> {
        let token = new_token().map_err(LinkRefused::Random)?;
        let expires = UnixTime::from_secs(now.secs() + ENROLL_LINK_LIFE.as_secs());
        let (waiter, ended) = oneshot::channel();
        let mut open = self.lock();
        open.retain(|_, l| l.user != user && !expired(l.expires, now) && !l.waiter.is_closed());
        if open.len() >= MAX_LINKS {
            return Err(LinkRefused::Full);
        }
        let link = EnrollLink {
            user,
            label,
            expires,
            registration: None,
            failures: 0,
            waiter,
        };
        open.insert(token.clone(), link);
        Ok((token, expires, ended))
    }

    /// Whose link `token` is, if it is open (not expired, its `mfa-enroll` still waiting).
    pub fn user_of(&self, token: &str, now: UnixTime) -> Option<(UserName, String)> {
        let mut open = self.lock();
        let live = open
            .get(token)
            .is_some_and(|l| !expired(l.expires, now) && !l.waiter.is_closed());
        if !live {
            open.remove(token);
            return None;
        }
        open.get(token).map(|l| (l.user.clone(), l.label.clone()))
    }

    /// Keeps the state of the registration the page was just given (a later open replaces
    /// it: only the newest challenge counts).
    pub fn begin(&self, token: &str, registration: PasskeyRegistration) -> bool {
        match self.lock().get_mut(token) {
            Some(link) => {
                link.registration = Some(registration);
                true
            }
            None => false,
        }
    }

    /// Takes the registration state out of the link, so one credential answers it.
    pub fn take(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Option<(UserName, String, PasskeyRegistration)> {
        let mut open = self.lock();
        let link = open.get_mut(token)?;
        if expired(link.expires, now) || link.waiter.is_closed() {
            open.remove(token);
            return None;
        }
        let registration = link.registration.take()?;
        Some((link.user.clone(), link.label.clone(), registration))
    }

    /// A credential for the link was refused; the third refusal spends it.
    pub fn refused(&self, token: &str) {
        let mut open = self.lock();
        let spent = open.get_mut(token).is_some_and(|l| {
            l.failures += 1;
            l.failures >= MAX_FAILURES
        });
        if let Some(link) = spent.then(|| open.remove(token)).flatten() {
            let _ = link.waiter.send(EnrollEnd::Refused);
        }
    }

    /// The passkey is stored: the link is spent and its `mfa-enroll` told. The page that
    /// used it may still subscribe its browser until the link would have expired.
    pub fn enrolled(&self, token: &str, now: UnixTime) {
        let Some(link) = self.lock().remove(token) else {
            return;
        };
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        used.retain(|_, (_, until)| !expired(*until, now));
        if used.len() < MAX_LINKS {
            used.insert(token.to_owned(), (link.user.clone(), link.expires));
        }
        let _ = link.waiter.send(EnrollEnd::Enrolled(link.label));
    }

    /// Whose browser may subscribe with `token`: an open link's user, or the user of a link
    /// used to add a passkey, until it would have expired.
    pub fn subscriber_of(&self, token: &str, now: UnixTime) -> Option<UserName> {
        if let Some((user, _)) = self.user_of(token, now) {
            return Some(user);
        }
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        used.retain(|_, (_, until)| !expired(*until, now));
        used.get(token).map(|(user, _)| user.clone())
    }

    /// Forgets `token` (its `mfa-enroll` stopped waiting).
    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }
}
