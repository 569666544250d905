//! Storing factors imported from another OTP system (`mfactl import`): apps, HOTP tokens and
//! scratch codes that become recovery codes. A user who already has a factor is left alone
//! unless the admin asked to replace, which makes a second run of the same import a no-op.

use zeroize::Zeroizing;

use mfa_core::factor::recovery;
use mfa_core::hotp::HotpToken;

use super::Decider;
use crate::error::DaemonError;
use crate::store::{TotpFactor, UserRecord};

/// What one user's import stores, already checked.
#[derive(Debug, Default)]
pub struct ImportPlan {
    /// Authenticator apps.
    pub apps: Vec<TotpFactor>,
    /// HOTP tokens.
    pub tokens: Vec<HotpToken>,
    /// Scratch codes, in canonical form, to hash into recovery codes.
    pub codes: Vec<Zeroizing<String>>,
}

/// How an import for one user ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportEnd {
    /// Stored.
    Imported,
    /// A dry run that would have stored it.
    WouldImport,
    /// The user has a factor and nothing was to be replaced.
    SkippedEnrolled,
}

impl Decider {
    /// Stores `plan` for `name` (an account NSS knows). With `replace`, apps and tokens of
    /// the same label are replaced, and the recovery codes when the plan has codes; without
    /// it, a user with any factor is skipped. The codes are hashed (argon2, one run each)
    /// only when something is going to be stored: call this within a hashing permit.
    pub fn import(
        &self,
        name: &str,
        plan: &ImportPlan,
        replace: bool,
        dry_run: bool,
    ) -> Result<ImportEnd, DaemonError> {
        let now = self.now().secs();
        let enrolled = self
            .store
            .load(name)?
            .is_some_and(|record| record.is_enrolled(now));
        if enrolled && !replace {
            return Ok(ImportEnd::SkippedEnrolled);
        }
        if dry_run {
            return Ok(ImportEnd::WouldImport);
        }
        let hashed = plan
            .codes
            .iter()
            .map(|code| recovery::hash(code))
            .collect::<Result<Vec<_>, _>>()?;
        // Checked again under the record's lock: an enrollment may have landed meanwhile.
        let stored = self.store.update(name, |record| {
            if record.is_enrolled(now) && !replace {
                return false;
            }
            merge(record, plan, hashed);
            true
        })?;
        Ok(if stored {
            ImportEnd::Imported
        } else {
            ImportEnd::SkippedEnrolled
        })
    }
}

/// Puts the plan's factors into `record`, replacing those of the same label.
fn merge(record: &mut UserRecord, plan: &ImportPlan, hashed: Vec<recovery::RecoveryCode>) {
    for app in &plan.apps {
        record.totp.retain(|old| old.label != app.label);
        record.totp.push(app.clone());
    }
    for token in &plan.tokens {
        record.hotp.retain(|old| old.label != token.label);
        record.hotp.push(token.clone());
    }
    if !hashed.is_empty() {
        record.recovery_codes = hashed;
    }
}
