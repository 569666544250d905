//! Passkeys in the user's record: adding one the verifier accepted, keeping its sign count,
//! removing one, and the browsers told of sign-ins by Web Push. The ceremonies themselves
//! are checked in [`crate::web`]; this part decides what the record may hold.

use mfa_core::passkey::{self, PasskeyFactor, PushTarget};
use mfa_core::record;

use super::Decider;
use super::factors::Removal;
use crate::error::DaemonError;

/// How adding a passkey ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PasskeyAdded {
    /// Stored.
    Done,
    /// The user already has a passkey with this credential id.
    Duplicate,
}

impl Decider {
    /// Whether `label` may name a new passkey of `name`: a well-formed label, and room
    /// under `policy.max_authenticators` (which counts apps and passkeys alike) unless it
    /// replaces the passkey of that label.
    pub fn check_new_passkey(&self, name: &str, label: &str) -> Result<(), DaemonError> {
        if let Some(problem) = record::label_problem(label) {
            return Err(DaemonError::BadRequest(problem));
        }
        let current = self.store.load(name)?.unwrap_or_default();
        self.room_for(&current, label)
    }

    fn room_for(&self, record: &record::UserRecord, label: &str) -> Result<(), DaemonError> {
        let max = self.policy().max_authenticators;
        if record.passkey(label).is_none() && record.totp.len() + record.passkeys.len() >= max {
            return Err(DaemonError::Policy(format!(
                "policy.max_authenticators allows {max} authenticator(s) (apps and passkeys) \
                 and you have {max}; remove one first, or reuse an existing label"
            )));
        }
        Ok(())
    }

    /// Stores `key`, replacing the passkey of the same label, within
    /// `policy.max_authenticators`.
    pub fn add_passkey(&self, name: &str, key: PasskeyFactor) -> Result<PasskeyAdded, DaemonError> {
        self.store.update(name, |record| {
            if record
                .passkeys
                .iter()
                .any(|p| p.id == key.id && p.label != key.label)
            {
                return Ok(PasskeyAdded::Duplicate);
            }
            self.room_for(record, &key.label)?;
            record.passkeys.retain(|p| p.label != key.label);
            record.passkeys.push(key.clone());
            record.revision += 1;
            Ok(PasskeyAdded::Done)
        })?
    }

    /// The user's passkeys, in enrollment order.
    pub fn passkeys(&self, name: &str) -> Result<Vec<PasskeyFactor>, DaemonError> {
        Ok(self
            .store
            .load(name)?
            .map(|r| r.passkeys)
            .unwrap_or_default())
    }

    /// Keeps the verifier's updated form of the passkey `id` (its new sign count) and when
    /// it was used. Not a change of factors: the revision stays.
    pub fn passkey_used(
        &self,
        name: &str,
        id: &str,
        credential: Option<serde_json::Value>,
        now: u64,
    ) -> Result<(), DaemonError> {
        Ok(self.store.update(name, |record| {
            if let Some(key) = record.passkeys.iter_mut().find(|p| p.id == id) {
                key.last_used = Some(now);
                if let Some(credential) = credential {
                    key.credential = credential;
                }
            }
        })?)
    }

    /// Removes the passkey labelled `label`; with `min_factors` (a non-root caller) only if
    /// at least that many factors remain.
    pub fn remove_passkey(
        &self,
        name: &str,
        label: &str,
        min_factors: Option<usize>,
    ) -> Result<Removal<()>, DaemonError> {
        self.remove_one(name, min_factors, |r| &mut r.passkeys, |p| p.label == label)
    }

    /// Keeps a browser to tell of `name`'s sign-ins.
    pub fn add_push_target(&self, name: &str, target: PushTarget) -> Result<(), DaemonError> {
        Ok(self.store.update(name, |record| {
            passkey::add_push_target(&mut record.push, target)
        })?)
    }

    /// Forgets the browser at `endpoint` (its push service said it is gone, or the user
    /// removed it); whether there was one.
    pub fn drop_push_target(&self, name: &str, endpoint: &str) -> Result<bool, DaemonError> {
        Ok(self.store.update(name, |record| {
            let before = record.push.len();
            record.push.retain(|t| t.endpoint != endpoint);
            record.push.len() != before
        })?)
    }
}
