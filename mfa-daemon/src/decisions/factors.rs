//! Removing factors, and adding or removing phones and email addresses: each in one write
//! of the user's record, within `policy.min_factors` for a caller other than root.

use mfa_core::contact::{self, Contact, ContactError};
use mfa_proto::ContactKind;

use super::Decider;
use crate::error::DaemonError;
use crate::store::UserRecord;

impl Decider {
    /// Removes the app labelled `label`; with `min_factors` (a non-root caller) only if at
    /// least that many factors remain.
    pub fn remove_app(
        &self,
        name: &str,
        label: &str,
        min_factors: Option<usize>,
    ) -> Result<Removal<()>, DaemonError> {
        self.remove_one(name, min_factors, |r| &mut r.totp, |a| a.label == label)
    }

    /// Removes the HOTP token labelled `label`; with `min_factors` (a non-root caller) only
    /// if at least that many factors remain.
    pub fn remove_hotp(
        &self,
        name: &str,
        label: &str,
        min_factors: Option<usize>,
    ) -> Result<Removal<()>, DaemonError> {
        self.remove_one(name, min_factors, |r| &mut r.hotp, |t| t.label == label)
    }

    /// Removes every factor; `None` if there was nothing to remove, else the contacts that
    /// were removed (to be told).
    pub fn remove_factors(&self, name: &str) -> Result<Option<Vec<Contact>>, DaemonError> {
        Ok(self.store.update(name, |record| {
            if !record.is_enrolled(self.now().secs()) && record.app_passwords.is_empty() {
                return None;
            }
            record.revision += 1;
            record.app_passwords.clear();
            record.totp.clear();
            record.hotp.clear();
            record.passkeys.clear();
            record.push.clear();
            record.recovery_codes.clear();
            record.bypass = None;
            // A user reset to nothing gets a fresh grace period to enroll again.
            record.first_seen = None;
            Some(std::mem::take(&mut record.contacts))
        })?)
    }

    /// Adds `contact` to the user's record, unless the record changed since `revision`
    /// (when given: the revision the confirmation code was sent against), the contact is
    /// already there, or there is no room.
    pub fn add_contact(
        &self,
        name: &str,
        contact: Contact,
        revision: Option<u64>,
    ) -> Result<ContactChange, DaemonError> {
        Ok(self.store.update(name, |record| {
            if revision.is_some_and(|r| r != record.revision) {
                return ContactChange::Conflict;
            }
            if let Err(e) = contact::check_new(&contact.destination, &record.contacts) {
                return ContactChange::Refused(e);
            }
            if record
                .contacts
                .iter()
                .any(|c| c.label.eq_ignore_ascii_case(&contact.label))
            {
                return ContactChange::Refused(ContactError::Duplicate);
            }
            record.revision += 1;
            record.contacts.push(contact.clone());
            ContactChange::Done(contact.clone())
        })?)
    }

    /// Removes the one contact of `kind` that `which` names (label, masked form, or the
    /// number or address); with `min_factors` (a non-root caller) only if at least that many
    /// factors remain.
    pub fn remove_contact(
        &self,
        name: &str,
        kind: ContactKind,
        which: &str,
        min_factors: Option<usize>,
    ) -> Result<ContactRemoval, DaemonError> {
        Ok(self.store.update(name, |record| {
            let matching: Vec<usize> = record
                .contacts
                .iter()
                .enumerate()
                .filter(|(_, c)| c.destination.kind() == kind && c.is_named(which))
                .map(|(i, _)| i)
                .collect();
            match matching.as_slice() {
                [] => ContactRemoval::NotFound,
                [_] if below_minimum_after_one(record, min_factors) => {
                    ContactRemoval::BelowMinimum(record.factor_count())
                }
                [i] => {
                    record.revision += 1;
                    ContactRemoval::Removed(record.contacts.remove(*i))
                }
                more => ContactRemoval::Ambiguous(more.len()),
            }
        })?)
    }
}

/// How adding a contact ended.
#[derive(Debug)]
pub enum ContactChange {
    /// Saved.
    Done(Contact),
    /// Already there, or no room.
    Refused(ContactError),
    /// The factors changed since the confirmation code was sent; nothing saved.
    Conflict,
}

/// How removing a contact ended.
#[derive(Debug)]
pub enum ContactRemoval {
    /// Removed; here it is.
    Removed(Contact),
    /// Nothing of that kind has that name.
    NotFound,
    /// The name fits this many (two numbers with one mask): use the label.
    Ambiguous(usize),
    /// It would leave fewer factors than `policy.min_factors`; the user has this many.
    BelowMinimum(usize),
}

/// How removing one factor ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal<T> {
    /// Removed.
    Removed(T),
    /// Nothing has that name.
    NotFound,
    /// It would leave fewer factors than `policy.min_factors`; the user has this many.
    BelowMinimum(usize),
}

/// The refusal of a removal below `policy.min_factors`.
pub fn below_minimum(min: usize, have: usize) -> DaemonError {
    DaemonError::Policy(format!(
        "policy.min_factors is {min} and you have {have} factor(s): add another app, phone \
         or email address before removing this one (or ask an administrator)"
    ))
}

impl Decider {
    /// Removes the first factor `is` picks from the list `list` gives of the user's record,
    /// unless that would leave fewer than `min_factors`; a removal is a change of factors
    /// (the revision moves on).
    pub(super) fn remove_one<T>(
        &self,
        name: &str,
        min_factors: Option<usize>,
        list: impl Fn(&mut UserRecord) -> &mut Vec<T>,
        is: impl Fn(&T) -> bool,
    ) -> Result<Removal<()>, DaemonError> {
        Ok(self.store.update(name, |record| {
            let Some(i) = list(record).iter().position(&is) else {
                return Removal::NotFound;
            };
            if below_minimum_after_one(record, min_factors) {
                return Removal::BelowMinimum(record.factor_count());
            }
            record.revision += 1;
            list(record).remove(i);
            Removal::Removed(())
        })?)
    }
}

/// Whether removing one factor of `record` would leave fewer than `min_factors` (a
/// non-root caller's limit; `None` for root, who may remove anything).
pub(super) fn below_minimum_after_one(record: &UserRecord, min_factors: Option<usize>) -> bool {
    min_factors.is_some_and(|min| record.factor_count().saturating_sub(1) < min)
}
