//! The account page: a user names their account, signs a challenge with one of its
//! passkeys, and gets a short session in which the page lists their passkeys, trusted
//! devices and notified browsers and can remove them.
//!
//! Nothing here says whether an account exists: an unknown name, or one with no passkey,
//! gets a challenge of the same shape, naming a credential id derived from the name with a
//! key that lives as long as the daemon, so asking twice gives the same answer. Its
//! assertion can never verify.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use webauthn_rs::prelude::PasskeyAuthentication;

use super::{expired, new_token};
use crate::clock::UnixTime;
use crate::username::UserName;

/// How long a challenge of the account page may wait for its passkey.
pub const CHALLENGE_LIFE: Duration = Duration::from_secs(120);
/// How long a session lasts after the passkey check; it is never extended.
pub const SESSION_LIFE: Duration = Duration::from_secs(600);
/// Most challenges waiting at once, for all names together.
const MAX_CHALLENGES: usize = 1024;
/// Most challenges waiting for one name; a new one ends the oldest.
const MAX_CHALLENGES_PER_USER: usize = 4;
/// Most sessions at once, for all users together.
const MAX_SESSIONS: usize = 256;
/// Bytes of a decoy credential id (a platform passkey's id is often this long).
const DECOY_ID_BYTES: usize = 16;

/// A challenge waiting for its passkey: whose and its state, or `None` for a decoy.
#[derive(Debug)]
struct Waiting {
    owner: Option<(UserName, PasskeyAuthentication)>,
    expires: UnixTime,
}

#[derive(Debug)]
struct Session {
    user: UserName,
    /// The passkey that opened it.
    label: String,
    expires: UnixTime,
}

#[derive(Debug, Default)]
struct Book {
    waiting: HashMap<String, Waiting>,
    sessions: HashMap<String, Session>,
}

/// Why the account page cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ManageRefused {
    /// Too many challenges or sessions are open.
    #[error("too many people are signing in to the account page; try again in a minute")]
    Full,
    /// No random token could be made.
    #[error("no random token could be made")]
    Random,
}

/// The account page's challenges and sessions.
#[derive(Debug)]
pub struct Sessions {
    book: Mutex<Book>,
    decoy_key: [u8; 32],
}

impl Sessions {
    /// No challenge or session yet, and a fresh key for decoy credential ids.
    pub fn new() -> Result<Sessions, getrandom::Error> {
        let mut decoy_key = [0u8; 32];
        getrandom::fill(&mut decoy_key)?;
        Ok(Sessions {
            book: Mutex::default(),
            decoy_key,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The credential id a decoy challenge for `user` names: the same for the same name
    /// while the daemon runs, unrelated to any real one.
    pub fn decoy_id(&self, user: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.decoy_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(b"pam-mfa account page decoy\0");
        mac.update(user.as_bytes());
        let tag = mac.finalize().into_bytes();
        BASE64URL_NOPAD.encode(&tag[..DECOY_ID_BYTES])
    }

    /// Keeps the state of a challenge and whose it is (`None` for a decoy); its token.
    pub fn wait(
        &self,
        owner: Option<(UserName, PasskeyAuthentication)>,
        now: UnixTime,
    ) -> Result<String, ManageRefused> {
        let token = new_token().map_err(|_| ManageRefused::Random)?;
        let mut book = self.lock();
        book.waiting.retain(|_, w| !expired(w.expires, now));
        let user = owner.as_ref().map(|(user, _)| user);
        let mut mine: Vec<(String, u64)> = book
            .waiting
            .iter()
            .filter(|(_, w)| user.is_some() && w.owner.as_ref().map(|(u, _)| u) == user)
            .map(|(t, w)| (t.clone(), w.expires.secs()))
            .collect();
        if mine.len() >= MAX_CHALLENGES_PER_USER {
            mine.sort_by_key(|(_, expires)| *expires);
            book.waiting.remove(&mine[0].0);
        }
        if book.waiting.len() >= MAX_CHALLENGES {
            return Err(ManageRefused::Full);
        }
        let expires = UnixTime::from_secs(now.secs() + CHALLENGE_LIFE.as_secs());
        book.waiting
            .insert(token.clone(), Waiting { owner, expires });
        Ok(token)
    }

    /// Takes challenge `token` out, so one assertion answers it: whose it was and its
    /// state, or `Some(None)` for a decoy, which nothing can answer.
    #[allow(clippy::option_option)]
    pub fn take(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Option<Option<(UserName, PasskeyAuthentication)>> {
        let waiting = self.lock().waiting.remove(token)?;
        (!expired(waiting.expires, now)).then_some(waiting.owner)
    }

    /// Opens a session for `user`, who signed with the passkey `label`; its token and end.
    pub fn open(
        &self,
        user: UserName,
        label: String,
        now: UnixTime,
    ) -> Result<(String, UnixTime), ManageRefused> {
        let token = new_token().map_err(|_| ManageRefused::Random)?;
        let mut book = self.lock();
        book.sessions.retain(|_, s| !expired(s.expires, now));
        if book.sessions.len() >= MAX_SESSIONS {
            return Err(ManageRefused::Full);
        }
        let expires = UnixTime::from_secs(now.secs() + SESSION_LIFE.as_secs());
        let session = Session {
            user,
            label,
            expires,
        };
        book.sessions.insert(token.clone(), session);
        Ok((token, expires))
    }

    /// Whose session `token` is, and when it ends, while it lasts.
    pub fn user_of(&self, token: &str, now: UnixTime) -> Option<(UserName, UnixTime)> {
        let book = self.lock();
        let session = book
            .sessions
            .get(token)
            .filter(|s| !expired(s.expires, now))?;
        Some((session.user.clone(), session.expires))
    }

    /// Ends session `token`; whether it was open.
    pub fn end(&self, token: &str) -> bool {
        self.lock().sessions.remove(token).is_some()
    }

    /// Ends every session of `user` (every factor was removed: an admin reset).
    pub fn end_all(&self, user: &UserName) {
        self.lock().sessions.retain(|_, s| &s.user != user);
    }

    /// Ends every session of `user` that the passkey `label` opened: it was removed, maybe
    /// because it was lost, and whoever holds it must not keep managing the account.
    pub fn end_resting_on(&self, user: &UserName, label: &str) {
        self.lock()
            .sessions
            .retain(|_, s| &s.user != user || s.label != label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserName {
        UserName::of_stored("alice".to_owned()).unwrap()
    }

    #[test]
    fn a_challenge_is_answered_once_and_not_after_it_expired() {
        let s = Sessions::new().unwrap();
        let now = UnixTime::from_secs(1_000);
        let token = s.wait(None, now).unwrap();
        assert!(s.take(&token, now).is_some());
        assert!(s.take(&token, now).is_none());
        let token = s.wait(None, now).unwrap();
        let late = UnixTime::from_secs(1_000 + CHALLENGE_LIFE.as_secs());
        assert!(s.take(&token, late).is_none());
    }

    #[test]
    fn challenges_and_sessions_are_bounded() {
        let s = Sessions::new().unwrap();
        let now = UnixTime::from_secs(1_000);
        for _ in 0..MAX_CHALLENGES {
            s.wait(None, now).unwrap();
        }
        assert_eq!(s.wait(None, now), Err(ManageRefused::Full));
        for _ in 0..MAX_SESSIONS {
            s.open(alice(), "phone".to_owned(), now).unwrap();
        }
        let full = s.open(alice(), "phone".to_owned(), now);
        assert_eq!(full.unwrap_err(), ManageRefused::Full);
        s.end_resting_on(&alice(), "phone");
        assert!(s.open(alice(), "phone".to_owned(), now).is_ok());
    }

    #[test]
    fn a_session_ends_at_its_time_or_on_sign_out() {
        let s = Sessions::new().unwrap();
        let now = UnixTime::from_secs(1_000);
        let (token, expires) = s.open(alice(), "phone".to_owned(), now).unwrap();
        assert_eq!(s.user_of(&token, now), Some((alice(), expires)));
        assert_eq!(s.user_of(&token, expires), None);
        let (token, _) = s.open(alice(), "phone".to_owned(), now).unwrap();
        assert!(s.end(&token));
        assert_eq!(s.user_of(&token, now), None);
    }

    #[test]
    fn removing_a_passkey_ends_the_sessions_it_opened_and_no_other() {
        let s = Sessions::new().unwrap();
        let now = UnixTime::from_secs(1_000);
        let (lost, _) = s.open(alice(), "lost".to_owned(), now).unwrap();
        let (kept, _) = s.open(alice(), "phone".to_owned(), now).unwrap();
        let bob = UserName::of_stored("bob".to_owned()).unwrap();
        let (bobs, _) = s.open(bob, "lost".to_owned(), now).unwrap();
        s.end_resting_on(&alice(), "lost");
        assert!(s.user_of(&lost, now).is_none());
        assert!(s.user_of(&kept, now).is_some());
        assert!(s.user_of(&bobs, now).is_some());
        s.end_all(&alice());
        assert!(s.user_of(&kept, now).is_none());
        assert!(s.user_of(&bobs, now).is_some());
    }

    #[test]
    fn decoy_ids_are_stable_per_name_and_per_daemon() {
        let s = Sessions::new().unwrap();
        assert_eq!(s.decoy_id("bob"), s.decoy_id("bob"));
        assert_ne!(s.decoy_id("bob"), s.decoy_id("bob2"));
        assert_ne!(s.decoy_id("bob"), Sessions::new().unwrap().decoy_id("bob"));
        assert_eq!(s.decoy_id("bob").len(), 22);
    }
}
