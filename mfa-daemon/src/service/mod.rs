//! The verification service: one login conversation, the same for every front end. A
//! front end (the PAM relay in `handlers::authenticate`; a web page and a RADIUS server
//! next) starts a login with [`start`], then loops: it shows each [`Next`]'s notices,
//! asks its question, and hands the answer back with [`Question::answer`], until the login
//! is [`Next::Done`]. The service decides everything in between (whom to ask, which factor
//! an answer is, what is sent, what is counted and audited); a front end only carries words.
//!
//! Each phase of the conversation is its own type, holding what that phase knows:
//! [`menu::Menu`] (a code from an app or a recovery code, or a choice of a contact to send a
//! code to), [`menu::SentCode`] (the code that was just sent), [`enrollment::Offer`]
//! (enrolling an app at login) and [`enrollment::SaveCodes`] (the recovery codes of that
//! enrollment, acknowledged). A phase can only be answered once: answering consumes it.

mod answers;
mod app_password;
mod approval;
mod attempt;
pub mod combined;
mod enrollment;
mod menu;
pub mod notices;
pub mod request;
mod security_key;
mod sending;
mod start;
#[cfg(test)]
mod tests;
pub mod words;

use zeroize::Zeroizing;

use mfa_proto::{Outcome, Secret};

pub use answers::check_answer;
pub use app_password::check_app_password;
pub use sending::{Send, audit_code_sent, not_sent};

use crate::audit::AuditOutcome;
use crate::connection::Presence;
use attempt::Attempt;
pub use start::start;

/// A line to show before the next question, or before the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Information (a menu, "a code was sent to ...").
    Info(String),
    /// Why the last answer did not pass, or why the login ends.
    Error(String),
}

/// What a front end does next.
#[derive(Debug)]
pub enum Next {
    /// Show the notices, then ask the question and give the answer to [`Question::answer`].
    Ask(Box<Question>),
    /// The login is over: show the notices, then end with the outcome.
    Done(Finished),
    /// The client went away before it could be told; nothing was consumed. End without a
    /// word.
    Gone,
}

/// How a login ended, and what to show before saying so.
#[derive(Debug)]
pub struct Finished {
    /// Shown first, in order.
    pub notices: Vec<Notice>,
    /// The outcome the front end reports (PAM maps it to its result codes).
    pub outcome: Outcome,
}

/// Which phase a question belongs to, for a front end that words or routes them itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    /// A code, or a choice from the menu of contacts.
    Menu,
    /// The code just sent.
    SentCode,
    /// Enrolling an authenticator app (the offer carries its key).
    Enrollment,
    /// The recovery codes of that enrollment, acknowledged with any answer.
    SaveCodes,
    /// Waiting for an approval on the phone (Enter, or a code instead).
    Approval,
}

/// A question to ask, and the phase its answer goes to.
#[derive(Debug)]
pub struct Question {
    /// Shown before the prompt, in order.
    pub notices: Vec<Notice>,
    /// The prompt; it may hold a secret (an enrollment's key, recovery codes).
    pub prompt: Zeroizing<String>,
    /// Whether the answer may be shown as it is typed.
    pub echo: bool,
    phase: Phase,
    attempt: Box<Attempt>,
}

#[derive(Debug)]
enum Phase {
    Menu(menu::Menu),
    SentCode(menu::SentCode),
    Enrollment(enrollment::Offer),
    SaveCodes(enrollment::SaveCodes),
    Approval(approval::Approving),
}

impl Question {
    /// Which phase this is.
    pub fn kind(&self) -> PhaseKind {
        match self.phase {
            Phase::Menu(_) => PhaseKind::Menu,
            Phase::SentCode(_) => PhaseKind::SentCode,
            Phase::Enrollment(_) => PhaseKind::Enrollment,
            Phase::SaveCodes(_) => PhaseKind::SaveCodes,
            Phase::Approval(_) => PhaseKind::Approval,
        }
    }

    /// Gives the answer to the phase that asked. `presence` tells, right before a code is
    /// consumed, whether the client is still there to be told.
    pub async fn answer(self: Box<Self>, answer: Secret, presence: Presence) -> Next {
        let attempt = self.attempt;
        match self.phase {
            Phase::Menu(menu) => menu.answer(attempt, answer, presence).await,
            Phase::SentCode(sent) => sent.answer(attempt, answer, presence).await,
            Phase::Enrollment(offer) => offer.answer(attempt, answer).await,
            Phase::SaveCodes(save) => save.answer(attempt),
            Phase::Approval(waiting) => waiting.answer(attempt, answer, presence).await,
        }
    }

    /// No answer came in time: the login fails.
    pub fn timed_out(self: Box<Self>) -> Finished {
        if let Phase::Approval(waiting) = &self.phase {
            waiting.withdraw(&self.attempt);
        }
        self.attempt
            .audit(AuditOutcome::Failure, None, Some("no_answer_in_time"), None);
        Finished {
            notices: vec![Notice::Error(words::NO_ANSWER.to_owned())],
            outcome: Outcome::Failure,
        }
    }

    /// The client went away (or broke the protocol) instead of answering. Once an app was
    /// enrolled at login, that is audited as an abandoned login with it.
    pub fn abandoned(self: Box<Self>) {
        if let Phase::Approval(waiting) = &self.phase {
            waiting.withdraw(&self.attempt);
        }
        if let Phase::SaveCodes(_) = self.phase {
            self.attempt.audit(
                AuditOutcome::Abandoned,
                Some(crate::decisions::Factor::Totp.name()),
                Some("client_gone"),
                None,
            );
        }
    }

    /// Checking the answer could not begin (the connection could not be watched): the
    /// login fails closed, as when the store fails.
    pub fn failed(self: Box<Self>, e: &crate::error::DaemonError) -> Finished {
        tracing::error!("cannot decide for {}: {e}", self.attempt.user);
        Finished {
            notices: Vec::new(),
            outcome: self.attempt.store_failed(e.is_unavailable()),
        }
    }
}

impl Next {
    fn ask(attempt: Box<Attempt>, notices: Vec<Notice>, prompt: String, phase: Phase) -> Next {
        Next::Ask(Box::new(Question {
            notices,
            prompt: Zeroizing::new(prompt),
            echo: false,
            phase,
            attempt,
        }))
    }

    fn done(notices: Vec<Notice>, outcome: Outcome) -> Next {
        Next::Done(Finished { notices, outcome })
    }
}
