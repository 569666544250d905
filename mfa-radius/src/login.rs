//! One login relayed to the daemon: the conversation `pam_mfa.so` has, with RADIUS packets
//! in place of PAM prompts. The daemon's steps become one verdict per Access-Request:
//! accept, reject, or challenge (the daemon asks something; the connection is kept for the
//! answer).
//!
//! With `radius.password = "none"` the client checked the password, and `User-Password` is
//! the answer to the daemon's first prompt (a code, a recovery code, a menu number).
//! With `"pam"` the field is password and code in one (as the module's `code_in_password`):
//! the daemon is sent the field's end and says how many bytes were the code
//! ([`Step::StripPassword`]); the rest is the password, checked with PAM before any
//! challenge is sent and before any accept. A field ending in a delivery keyword (`,sms`)
//! has its password checked first, so that a wrong password never sends a code.

use std::sync::Arc;
use std::time::Duration;

use mfa_proto::{AuthRequest, FIELD_END_MAX, Outcome, Request, Secret, Step};
use tokio::sync::OwnedSemaphorePermit;
use zeroize::{Zeroize, Zeroizing};

use crate::daemon::{DAEMON_TIMEOUT, Daemon, DaemonError, Login};

/// Most steps one Access-Request may take. The daemon asks at most 10 times, each with an
/// answer and an error, so this only stops a daemon that never says `Done`.
const MAX_STEPS: usize = 100;

/// What an Access-Request led to.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Access-Accept, with the daemon's notices (may be empty).
    Accept { text: String },
    /// Access-Reject, with the daemon's notices (may be empty).
    Reject { text: String },
    /// Access-Challenge: the notices and the prompt; the login waits for the answer.
    Challenge {
        text: String,
        echo: bool,
        login: Login,
    },
}

impl Verdict {
    fn reject() -> Verdict {
        Verdict::Reject {
            text: String::new(),
        }
    }
}

/// Why a login could not be relayed (the request is rejected: fail closed).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    /// The daemon could not be reached or broke off.
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// The daemon never said `Done`.
    #[error("the daemon sent more than {MAX_STEPS} steps without an end")]
    TooManySteps,
    /// The daemon said more bytes were the code than it was sent, or said it twice.
    #[error("the daemon asked to strip {bytes} bytes of a field end of {sent}")]
    BadStrip { bytes: u16, sent: usize },
    /// The daemon refused the request (a client it does not know, a malformed request).
    #[error("the daemon refused the login: {0}")]
    Refused(String),
    /// A PAM check could not be run (its thread failed).
    #[error("the PAM check failed to run: {0}")]
    PamThread(#[from] tokio::task::JoinError),
}

/// Checks a password (second) for a user (first) logging in from a source (third: PAM's
/// remote host); blocks (it runs on a blocking thread).
pub(crate) type PasswordChecker = Arc<dyn Fn(&str, &[u8], &str) -> bool + Send + Sync>;

/// A PAM check for one login, holding one of its client's PAM slots until it ends.
pub(crate) struct PamCheck {
    /// The check itself.
    pub(crate) checker: PasswordChecker,
    /// The login's source, for PAM's remote host.
    pub(crate) rhost: String,
    /// The slot, freed when the check is dropped.
    #[expect(dead_code, reason = "held for its drop, never read")]
    pub(crate) slot: OwnedSemaphorePermit,
}

impl std::fmt::Debug for PamCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PamCheck")
    }
}

impl PamCheck {
    async fn passes(&self, user: &str, password: Zeroizing<Vec<u8>>) -> Result<bool, RelayError> {
        let checker = Arc::clone(&self.checker);
        let user = user.to_owned();
        let rhost = self.rhost.clone();
        Ok(tokio::task::spawn_blocking(move || checker(&user, &password, &rhost)).await?)
    }
}

/// How the password field of `"pam"` mode is split before the daemon sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PamPlan {
    /// The field ends in `,WORD`, a delivery keyword: the password is the field's first
    /// `password_len` bytes, checked first; the daemon gets `,WORD`.
    Keyword {
        password_len: usize,
        field_end: Secret,
    },
    /// The daemon gets the field's end and says how much of it was the code.
    Tail { field_end: Secret },
}

/// The delivery keywords the daemon reads after a field's last comma (its `Keyword::parse`).
const KEYWORDS: [&str; 4] = ["sms", "call", "email", "push"];

/// How `field` is split (see [`PamPlan`]).
pub(crate) fn pam_plan(field: &[u8]) -> PamPlan {
    if let Some(comma) = field.iter().rposition(|&b| b == b',')
        && let Some(end) = field.get(comma..)
        && let Ok(end) = std::str::from_utf8(end)
        && KEYWORDS
            .iter()
            .any(|k| end.get(1..).is_some_and(|w| w.eq_ignore_ascii_case(k)))
    {
        return PamPlan::Keyword {
            password_len: comma,
            field_end: Secret::from(end),
        };
    }
    PamPlan::Tail {
        field_end: field_end(field),
    }
}

/// The last bytes of the field that are whole UTF-8 text, at most [`FIELD_END_MAX`] (as
/// `pam_mfa.so` sends them): a password with other bytes (Latin-1) still works, as long as
/// the code after it is text.
pub(crate) fn field_end(field: &[u8]) -> Secret {
    let first = field.len().saturating_sub(FIELD_END_MAX);
    (first..=field.len())
        .find_map(|start| {
            let end = field.get(start..)?;
            std::str::from_utf8(end).ok().map(Secret::from)
        })
        .unwrap_or_else(|| Secret::from(""))
}

/// The password of a tail-split field not yet checked: the field less what the daemon
/// strips.
#[derive(Debug)]
pub(crate) struct Unchecked {
    field: Zeroizing<Vec<u8>>,
    sent: usize,
    strip: Option<usize>,
}

impl Unchecked {
    /// `field`, of which the last `sent` bytes went to the daemon.
    pub(crate) fn new(field: Zeroizing<Vec<u8>>, sent: usize) -> Unchecked {
        Unchecked {
            field,
            sent,
            strip: None,
        }
    }

    /// The daemon's word that the last `bytes` were the code.
    pub(crate) fn strip(&mut self, bytes: u16) -> Result<(), RelayError> {
        let n = usize::from(bytes);
        if n > self.sent || self.strip.is_some() {
            return Err(RelayError::BadStrip {
                bytes,
                sent: self.sent,
            });
        }
        self.strip = Some(n);
        Ok(())
    }

    /// The password: the field less the stripped end (the whole field if nothing was).
    pub(crate) fn password(&self) -> Zeroizing<Vec<u8>> {
        let keep = self.field.len() - self.strip.unwrap_or(0);
        Zeroizing::new(self.field.get(..keep).unwrap_or_default().to_vec())
    }
}

/// Text from a User-Password, as the daemon takes answers; `None` when it is not UTF-8.
pub(crate) fn into_secret(mut bytes: Zeroizing<Vec<u8>>) -> Option<Secret> {
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Some(Secret::from(Zeroizing::new(text))),
        Err(e) => {
            e.into_bytes().zeroize();
            None
        }
    }
}

/// Relays logins to the daemon.
#[derive(Debug, Clone)]
pub(crate) struct Relay {
    /// Where the daemon is.
    pub(crate) daemon: Daemon,
    /// How long the daemon may work on an answer (it may wait for a phone's approval).
    pub(crate) answer_timeout: Duration,
}

/// What the conversation does before a verdict.
struct Turn<'a> {
    /// The answer to give the first prompt (`"none"` mode's field).
    first_answer: Option<Secret>,
    /// The password to check before any challenge or accept (`"pam"` mode).
    unchecked: Option<Unchecked>,
    pam: Option<&'a PamCheck>,
    user: &'a str,
    /// How long the first step may take.
    first_wait: Duration,
}

impl Relay {
    /// A new login of `"none"` mode: `field` answers the daemon's first prompt (an empty
    /// field: the prompt goes back as a challenge), or it is a delivery keyword alone
    /// (`,sms`), which the daemon reads as a one-field client's choice from its menu.
    pub(crate) async fn start(
        &self,
        auth: AuthRequest,
        field: Zeroizing<Vec<u8>>,
    ) -> Result<Verdict, RelayError> {
        let keyword = match pam_plan(&field) {
            PamPlan::Keyword {
                password_len: 0,
                field_end,
            } => Some(field_end),
            _ => None,
        };
        let Some(answer) = into_secret(field) else {
            return Ok(Verdict::reject());
        };
        let mut login = self.daemon.connect().await?;
        let user = auth.user.clone();
        let (opening, answer) = match keyword {
            Some(field_end) => (Request::CodeInPassword { auth, field_end }, None),
            None => (Request::Authenticate { auth }, Some(answer)),
        };
        login.send(&opening).await?;
        let turn = Turn {
            first_answer: answer.filter(|a| !a.expose().is_empty()),
            unchecked: None,
            pam: None,
            user: &user,
            first_wait: DAEMON_TIMEOUT,
        };
        self.converse(login, turn).await
    }

    /// A new login of `"pam"` mode: `field` is the password and the code (or a keyword).
    pub(crate) async fn start_with_password(
        &self,
        auth: AuthRequest,
        field: Zeroizing<Vec<u8>>,
        pam: &PamCheck,
    ) -> Result<Verdict, RelayError> {
        let user = auth.user.clone();
        let (field_end, unchecked) = match pam_plan(&field) {
            PamPlan::Keyword {
                password_len,
                field_end,
            } => {
                let password =
                    Zeroizing::new(field.get(..password_len).unwrap_or_default().to_vec());
                if !pam.passes(&user, password).await? {
                    return Ok(Verdict::reject());
                }
                (field_end, None)
            }
            PamPlan::Tail { field_end } => {
                let sent = field_end.expose().len();
                (field_end, Some(Unchecked::new(field, sent)))
            }
        };
        let mut login = self.daemon.connect().await?;
        login
            .send(&Request::CodeInPassword { auth, field_end })
            .await?;
        let turn = Turn {
            first_answer: None,
            unchecked,
            pam: Some(pam),
            user: &user,
            first_wait: DAEMON_TIMEOUT,
        };
        self.converse(login, turn).await
    }

    /// The answer to a challenge of `login`.
    pub(crate) async fn answer(
        &self,
        mut login: Login,
        user: &str,
        answer: Secret,
    ) -> Result<Verdict, RelayError> {
        login.send(&Request::Answer { text: answer }).await?;
        let turn = Turn {
            first_answer: None,
            unchecked: None,
            pam: None,
            user,
            first_wait: self.later_wait(),
        };
        self.converse(login, turn).await
    }

    /// How long a step after the first may take: the daemon may be waiting for a person
    /// (a phone's approval) up to its `answer_timeout`.
    fn later_wait(&self) -> Duration {
        self.answer_timeout + DAEMON_TIMEOUT
    }

    /// Reads steps to the next verdict.
    async fn converse(&self, mut login: Login, mut turn: Turn<'_>) -> Result<Verdict, RelayError> {
        let mut notices: Vec<String> = Vec::new();
        let mut wait = turn.first_wait;
        for _ in 0..MAX_STEPS {
            let step = login.recv(wait).await?;
            wait = self.later_wait();
            match step {
                Step::Info { text } | Step::Error { text } => notices.push(text),
                Step::StripPassword { bytes } => {
                    if let Some(unchecked) = turn.unchecked.as_mut() {
                        unchecked.strip(bytes)?;
                    }
                }
                Step::Prompt { text, echo } => {
                    if !turn.password_passes().await? {
                        return Ok(Verdict::reject());
                    }
                    if let Some(answer) = turn.first_answer.take() {
                        // The notices led to the prompt the field answers.
                        notices.clear();
                        login.send(&Request::Answer { text: answer }).await?;
                        continue;
                    }
                    notices.push(text);
                    return Ok(Verdict::Challenge {
                        text: notices.join("\n"),
                        echo,
                        login,
                    });
                }
                Step::Done { outcome } => {
                    // A wrong code still has its password checked, as a PAM stack would:
                    // the time taken does not tell which part was wrong.
                    if !turn.password_passes().await? {
                        return Ok(Verdict::reject());
                    }
                    let text = notices.join("\n");
                    return Ok(match outcome {
                        Outcome::Success | Outcome::Ignore => Verdict::Accept { text },
                        _ => Verdict::Reject { text },
                    });
                }
                Step::Failed { kind, message } => {
                    return Err(RelayError::Refused(format!("{kind:?}: {message}")));
                }
            }
        }
        Err(RelayError::TooManySteps)
    }
}

impl Turn<'_> {
    /// Checks the password still unchecked, if any (once).
    async fn password_passes(&mut self) -> Result<bool, RelayError> {
        let (Some(unchecked), Some(pam)) = (self.unchecked.take(), self.pam) else {
            return Ok(true);
        };
        pam.passes(self.user, unchecked.password()).await
    }
}

#[cfg(test)]
mod tests;
