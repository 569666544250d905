//! Codes waiting for an answer: one per user, the newest, named by a ticket so that a
//! conversation can tell its code from a newer one.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use mfa_core::factor::sent_code::{CodeCheck, SentCode};

/// Most users with a code waiting; beyond it, dead codes are dropped first, then a new code
/// for a new user waits until one expires.
const MAX_PENDING: usize = 10_000;

/// Identifies one sent code, so that a conversation can tell its code from a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// What checking an answer against a user's sent code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentCheck {
    /// As the code itself decided.
    Checked(CodeCheck),
    /// A newer code was sent to the user since (or none is waiting): this one is dead.
    Superseded,
    /// Right, but the client left: nothing consumed.
    Abandoned,
}

struct Pending {
    ticket: Ticket,
    code: SentCode,
}

/// The codes of the whole daemon that wait for an answer, by user.
#[derive(Default)]
pub(super) struct PendingCodes {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    by_user: HashMap<String, Pending>,
    last_ticket: u64,
}

impl PendingCodes {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `code` as the one `user` may answer, in place of any older one, and returns its
    /// ticket. With [`MAX_PENDING`] users waiting and none of their codes dead, the code is
    /// not kept: the user gets it but cannot use it.
    pub(super) fn keep(&self, user: &str, code: SentCode, now: u64) -> Ticket {
        let mut table = self.table();
        table.last_ticket += 1;
        let ticket = Ticket(table.last_ticket);
        let codes = &mut table.by_user;
        if codes.len() >= MAX_PENDING && !codes.contains_key(user) {
            codes.retain(|_, p| p.code.is_live(now));
        }
        if codes.len() < MAX_PENDING || codes.contains_key(user) {
            codes.insert(user.to_owned(), Pending { ticket, code });
        }
        ticket
    }

    /// Checks `answer` against the code `ticket` names for `user`; a code that was used, is
    /// dead, or was replaced by a newer one is forgotten.
    pub(super) fn check(
        &self,
        user: &str,
        ticket: Ticket,
        answer: &str,
        now: u64,
        still_wanted: &dyn Fn() -> bool,
    ) -> SentCheck {
        let mut table = self.table();
        let codes = &mut table.by_user;
        let Some(entry) = codes.get_mut(user).filter(|p| p.ticket == ticket) else {
            return SentCheck::Superseded;
        };
        let Some(check) = entry.code.verify(answer, now, still_wanted) else {
            return SentCheck::Abandoned;
        };
        if !entry.code.is_live(now) {
            codes.remove(user);
        }
        SentCheck::Checked(check)
    }

    /// Forgets any code waiting for `user`.
    pub(super) fn forget(&self, user: &str) {
        self.table().by_user.remove(user);
    }
}
