//! The menu phase: the user types a code from an app, a recovery or bypass code, or picks a
//! phone or address to be sent a code; then the sent-code phase, where the code that went
//! out is typed. Every try and every round is counted, so a login
//! always ends, whatever is typed.

use mfa_core::contact::{Contact, MenuOption};
use mfa_core::device::DeviceId;
use mfa_proto::{Channel, Outcome, Secret};

use super::answers::{check_answer, check_sent};
use super::sending::{Send, audit_code_sent, not_sent};
use super::words::{
    ACCOUNT_LOCKED, CODE_PROMPT, EXPIRED, INVALID, REPLAYED, SEND_FAILED, SEND_REFUSED,
    channel_phrase, menu_choice, menu_prompt, menu_text,
};
use super::{Attempt, Next, Notice, Phase};
use crate::audit::AuditOutcome;
use crate::connection::Presence;
use crate::decisions::{Factor, Rejection, Subject, Verdict};
use crate::delivery::outbox::{CodePurpose, NotSent, Ticket};
use crate::error::DaemonError;
use crate::store::UserRecord;

/// The menu, waiting for a code or a choice.
#[derive(Debug)]
pub(super) struct Menu {
    pub(super) login: Verifying,
}

/// What the menu and sent-code phases know about the login being verified.
#[derive(Debug)]
pub(super) struct Verifying {
    pub(super) subject: Subject,
    /// The record's revision the login was decided against (a trusted device is tied to it).
    revision: u64,
    contacts: Vec<Contact>,
    /// The device to trust after a success, and for how many seconds.
    device: Option<(DeviceId, u64)>,
    options: Vec<MenuOption>,
    /// Whether the menu offers approval on the phone (entry 1): the user has a passkey and
    /// the web pages are configured.
    approve: bool,
    max_tries: u32,
    tries: u32,
    rounds: u32,
}

/// What came of a menu choice.
enum Chosen {
    /// The code went out.
    Sent(Ticket),
    /// It did not; tell the user this and show the menu again.
    NotSent(&'static str),
    /// The login ends (the source is locked).
    End(Next),
}

impl Menu {
    /// A choice sends a code; anything else is checked as a code.
    pub(super) async fn answer(
        self,
        attempt: Box<Attempt>,
        answer: Secret,
        presence: Presence,
    ) -> Next {
        let login = self.login;
        let entries = login.options.len() + usize::from(login.approve);
        match menu_choice(answer.expose(), entries) {
            Some(0) if login.approve => login.ask_approval(attempt).await,
            Some(i) => {
                let contact = i - usize::from(login.approve);
                login.send_chosen(attempt, contact).await
            }
            None => login.answer_code(attempt, answer, presence).await,
        }
    }
}

impl Verifying {
    pub(super) fn new(
        subject: Subject,
        record: &UserRecord,
        device: Option<(DeviceId, u64)>,
        options: Vec<MenuOption>,
        max_tries: u32,
        web: bool,
    ) -> Verifying {
        let approve = web && matches!(subject, Subject::Account(_)) && !record.passkeys.is_empty();
        Verifying {
            subject,
            revision: record.revision,
            contacts: record.contacts.clone(),
            device,
            approve,
            options,
            max_tries,
            tries: 0,
            rounds: 0,
        }
    }

    /// Checks `answer` as a code from an app, a recovery or a bypass code (a try).
    pub(super) async fn answer_code(
        mut self,
        attempt: Box<Attempt>,
        answer: Secret,
        presence: Presence,
    ) -> Next {
        self.tries += 1;
        let verdict = check_answer(
            &attempt.shared,
            attempt.caller,
            &self.subject,
            &attempt.source,
            answer,
            Some(&attempt.auth.service),
            presence,
        )
        .await;
        self.settle(attempt, verdict).await
    }

    /// The account being verified, if NSS knows it (the menu offers approval only then).
    pub(super) fn account(&self) -> Option<&crate::username::UserName> {
        match &self.subject {
            Subject::Account(name) => Some(name),
            Subject::Unknown(_) => None,
        }
    }

    /// The phone approved the sign-in.
    pub(super) async fn approved(self, attempt: Box<Attempt>) -> Next {
        attempt.note_success(Factor::Passkey.name());
        self.accepted(attempt, Factor::Passkey).await
    }

    /// The menu's number for what a keyword of a one-field client chose (see
    /// `combined`), if the menu has it: approval first when offered, then the contacts.
    pub(super) fn entry_for(&self, keyword: Keyword) -> Option<usize> {
        let first = usize::from(self.approve) + 1;
        match keyword {
            Keyword::Push => self.approve.then_some(1),
            Keyword::Send(channel) => self
                .options
                .iter()
                .position(|o| o.channel == channel)
                .map(|i| first + i),
        }
    }

    /// Whether the menu offers approval on the phone.
    pub(super) fn offers_approval(&self) -> bool {
        self.approve
    }

    /// Counts a try (an answer that was checked, or an empty sent code).
    pub(super) fn count_try(&mut self) {
        self.tries += 1;
    }

    /// The menu again after `notices`, or the end once the tries (or, with failed sends and
    /// returns to the menu, three times as many rounds) are used up.
    pub(super) fn next_round(mut self, attempt: Box<Attempt>, mut notices: Vec<Notice>) -> Next {
        if self.rounds >= self.max_tries.saturating_mul(3) || self.tries >= self.max_tries {
            return Next::done(notices, Outcome::Failure);
        }
        self.rounds += 1;
        if self.approve || !self.options.is_empty() {
            notices.push(Notice::Info(menu_text(self.approve, &self.options)));
        }
        let prompt = menu_prompt(self.options.len() + usize::from(self.approve));
        Next::ask(attempt, notices, prompt, Phase::Menu(Menu { login: self }))
    }

    /// Sends a code to the contact of menu entry `i`, unless the source or the account is
    /// locked; the sent-code phase asks for it.
    async fn send_chosen(self, attempt: Box<Attempt>, i: usize) -> Next {
        let option = self.options[i].clone();
        match self.send(&attempt, &option).await {
            Chosen::Sent(ticket) => {
                let sent = format!(
                    "A code was sent {} to {}.",
                    channel_phrase(option.channel),
                    option.to
                );
                let phase = Phase::SentCode(SentCode {
                    login: self,
                    ticket,
                    channel: option.channel,
                });
                Next::ask(
                    attempt,
                    vec![Notice::Info(sent)],
                    CODE_PROMPT.to_owned(),
                    phase,
                )
            }
            Chosen::NotSent(text) => self.next_round(attempt, vec![Notice::Error(text.to_owned())]),
            Chosen::End(next) => next,
        }
    }

    async fn send(&self, attempt: &Attempt, option: &MenuOption) -> Chosen {
        let shared = &attempt.shared;
        let now = attempt.now();
        let (key, source) = (self.subject.key().to_owned(), attempt.source.clone());
        let locks = match shared
            .blocking(attempt.caller.class(), move |a| {
                Ok(a.locks(&key, &source, now)?)
            })
            .await
        {
            Ok(locks) => locks,
            Err(e) => {
                tracing::error!("cannot read the lockouts of {}: {e}", self.subject.key());
                return Chosen::NotSent(SEND_FAILED);
            }
        };
        if let Some(until) = locks.source {
            attempt.audit(AuditOutcome::LockedOut, None, Some("source_locked"), None);
            return Chosen::End(attempt.locked_out(until));
        }
        if locks.account.is_some() {
            return Chosen::NotSent(ACCOUNT_LOCKED);
        }
        let Some(contact) = self.contacts.get(option.contact) else {
            return Chosen::NotSent(SEND_FAILED);
        };
        let user = self.subject.key();
        let send = Send {
            user,
            service: &attempt.auth.service,
            channel: option.channel,
            to: &option.to,
        };
        match shared
            .outbox
            .send_code(
                user,
                &contact.destination,
                option.channel,
                CodePurpose::Login,
                now,
            )
            .await
        {
            Ok(ticket) => {
                audit_code_sent(shared, send);
                Chosen::Sent(ticket)
            }
            Err(why) => {
                let refused = matches!(why, NotSent::Refused(_));
                let e = not_sent(shared, send, &why);
                if e.is_internal() {
                    tracing::error!("{e}");
                }
                Chosen::NotSent(if refused { SEND_REFUSED } else { SEND_FAILED })
            }
        }
    }

    /// What a checked answer leads to: the end of the login (a success, a lockout, a store
    /// that failed) or, after a refusal, the menu again.
    pub(super) async fn settle(
        self,
        attempt: Box<Attempt>,
        verdict: Result<Verdict, DaemonError>,
    ) -> Next {
        match verdict {
            Err(e) => {
                tracing::error!("cannot decide for {}: {e}", attempt.user);
                let outcome = attempt.store_failed(e.is_unavailable());
                Next::done(Vec::new(), outcome)
            }
            Ok(Verdict::Accepted(factor)) => self.accepted(attempt, factor).await,
            Ok(Verdict::Abandoned(factor)) => {
                attempt.audit(
                    AuditOutcome::Abandoned,
                    Some(factor.name()),
                    Some("client_gone"),
                    None,
                );
                Next::Gone
            }
            Ok(Verdict::SourceLocked { until }) => {
                attempt.audit(AuditOutcome::LockedOut, None, Some("source_locked"), None);
                attempt.locked_out(until)
            }
            Ok(Verdict::Rejected {
                reason,
                locked_until,
            }) => self.rejected(attempt, reason, locked_until),
        }
    }

    async fn accepted(self, attempt: Box<Attempt>, factor: Factor) -> Next {
        attempt.audit(AuditOutcome::Success, Some(factor.name()), None, None);
        if let Factor::SentCode(_) = factor {
            // An app, recovery or bypass code was kept as the last success in the write
            // that consumed it; a sent code lives in memory.
            attempt.note_success(factor.name());
        }
        if let Some((device, secs)) = self.device {
            attempt.remember(device, self.revision, secs).await;
        }
        let mut notices = Vec::new();
        if let Factor::RecoveryCode { left } = factor {
            notices.push(Notice::Info(format!(
                "Recovery code accepted; {left} left. Run `mfa-enroll recovery-codes` for a new set."
            )));
        }
        Next::done(notices, Outcome::Success)
    }

    fn rejected(self, attempt: Box<Attempt>, reason: Rejection, locked: Option<u64>) -> Next {
        attempt.audit(AuditOutcome::Failure, None, Some(reason.name()), None);
        if let Some(until) = locked {
            attempt.audit(
                AuditOutcome::LockedOut,
                None,
                Some("too_many_failures"),
                Some(until),
            );
            return attempt.locked_out(until);
        }
        let text = match reason {
            Rejection::Invalid => INVALID,
            Rejection::Replayed => REPLAYED,
            Rejection::AccountLocked => ACCOUNT_LOCKED,
            Rejection::Expired => EXPIRED,
        };
        self.next_round(attempt, vec![Notice::Error(text.to_owned())])
    }
}

/// A code sent for this login, waiting to be typed.
#[derive(Debug)]
pub(super) struct SentCode {
    pub(super) login: Verifying,
    pub(super) ticket: Ticket,
    pub(super) channel: Channel,
}

impl SentCode {
    /// Checks the typed code; an empty answer goes back to the menu (it costs a try).
    pub(super) async fn answer(
        mut self,
        attempt: Box<Attempt>,
        code: Secret,
        presence: Presence,
    ) -> Next {
        self.login.count_try();
        if code.expose().trim().is_empty() {
            return self.login.next_round(attempt, Vec::new());
        }
        let verdict = check_sent(
            &attempt.shared,
            attempt.caller,
            &self.login.subject,
            &attempt.source,
            (self.ticket, self.channel),
            &code,
            presence,
        )
        .await;
        self.login.settle(attempt, verdict).await
    }
}

/// A delivery chosen by a keyword after the field's last comma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keyword {
    /// `,sms`, `,call`, `,email`: send a code that way.
    Send(Channel),
    /// `,push`: ask for approval on the phone.
    Push,
}

impl Keyword {
    pub(super) fn parse(word: &str) -> Option<Keyword> {
        let word = word.to_ascii_lowercase();
        Some(match word.as_str() {
            "sms" => Keyword::Send(Channel::Sms),
            "call" => Keyword::Send(Channel::Voice),
            "email" => Keyword::Send(Channel::Email),
            "push" => Keyword::Push,
            _ => return None,
        })
    }
}
