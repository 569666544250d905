//! The sent-code phase: a code went out by text, call or email, and the user types it.

use mfa_proto::{Channel, Secret};

use super::answers::check_sent;
use super::menu::Verifying;
use super::{Attempt, Next};
use crate::connection::Presence;
use crate::delivery::outbox::Ticket;

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
