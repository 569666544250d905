//! What only root asks for: exemptions, unlocks, one-time bypass codes and the list of
//! every name the daemon knows.

use zeroize::Zeroizing;

use mfa_core::factor::bypass;

use super::Decider;
use crate::error::DaemonError;

impl Decider {
    /// A new bypass code for `name` (replacing any earlier one); the code in display form
    /// and when it expires.
    pub fn issue_bypass(
        &self,
        name: &str,
        uses: u8,
        valid_secs: u64,
        now: u64,
        admin: u32,
    ) -> Result<(Zeroizing<String>, u64), DaemonError> {
        let (code, grant) = bypass::issue(uses, valid_secs, now, admin)?;
        let expires_at = grant.expires_at;
        self.store
            .update(name, |record| record.bypass = Some(grant.clone()))?;
        Ok((code, expires_at))
    }

    /// Sets or clears `name`'s admin exemption.
    pub fn set_exemption(&self, name: &str, until: Option<u64>) -> Result<(), DaemonError> {
        Ok(self
            .store
            .update(name, |record| record.exempt_until = until)?)
    }

    /// Clears every failure counter and lockout of the user, durably.
    pub fn unlock(&self, key: &str) -> Result<(), DaemonError> {
        Ok(self.limiter.clear(key)?)
    }

    /// Clears the counters and lockout of one source of the user, durably (the account-wide
    /// counter stays); false if nothing was counted for that source.
    pub fn unlock_source(&self, key: &str, source: &str) -> Result<bool, DaemonError> {
        Ok(self.limiter.clear_source(key, source)?)
    }

    /// Every name with a record or with failures counted, sorted, each once.
    pub fn known_names(&self) -> Result<Vec<String>, DaemonError> {
        let mut names = self.store.users()?;
        names.extend(self.limiter.names()?);
        names.sort();
        names.dedup();
        Ok(names)
    }
}
