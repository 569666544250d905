//! What the daemon decides about second factors, over the record store, the attempt limits
//! and the send counts of one engine. Synchronous (file I/O, database calls, argon2): the
//! service runs it on blocking threads. One file per concern:
//! - [`answers`]: whether an answer passes (app, recovery, bypass and sent codes), counted
//!   against the attempt limits;
//! - [`enrollment`]: new authenticator apps and recovery codes;
//! - [`factors`]: removing apps and adding or removing phones and email addresses, within
//!   `policy.min_factors`;
//! - [`passkeys`]: passkeys the web pages enrolled, and browsers told by Web Push;
//! - [`devices`]: trusting the device a login came from, and forgetting it;
//! - [`admin`]: exemptions, unlocks, bypass codes and the list of known names.

mod admin;
mod answers;
mod devices;
mod enrollment;
mod factors;
mod passkeys;
#[cfg(test)]
mod tests;

use std::sync::{Arc, PoisonError, RwLock};

use mfa_core::factor::recovery::{self, RecoveryError};
use mfa_core::factor::totp::{Generator, Secret, TotpParams};
use mfa_core::policy::Policy;

use crate::clock::{Clock, UnixTime};
use crate::config::Config;
use crate::delivery::outbox::SendLedger;
use crate::store::{self, Limits, RecordStore, StoreError, UserRecord};
use crate::username::UserName;

pub use answers::{Locks, Verdict};
pub use devices::DeviceTrust;
pub use enrollment::{Activation, PendingTotp};
pub use factors::{ContactChange, ContactRemoval, Removal, below_minimum};
pub use mfa_core::Factor;
pub use mfa_core::factor::{Decision, Rejection};
pub use passkeys::PasskeyAdded;

/// Whom an answer is checked for: an account NSS knows, by its canonical name, or a name it
/// does not know (which can never succeed, but is counted and timed like any other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An account, by its canonical `pw_name`.
    Account(UserName),
    /// A name NSS does not know, as given.
    Unknown(String),
}

impl Subject {
    /// The key attempt limits are counted under.
    pub fn key(&self) -> &str {
        match self {
            Subject::Account(name) => name,
            Subject::Unknown(name) => name,
        }
    }
}

/// Policy, store and the decisions made with them.
#[derive(Debug)]
pub struct Decider {
    config: RwLock<Arc<Config>>,
    policy: RwLock<Arc<Policy>>,
    store: Box<dyn RecordStore>,
    limiter: Box<dyn Limits>,
    /// The counts behind the send limits, kept by the engine.
    sends: Arc<dyn SendLedger>,
    hostname: String,
    /// A hash of nothing, checked when no stored recovery code can match, so that every
    /// recovery-code check costs one argon2 run.
    decoy_hash: String,
    /// An authenticator nobody has, checked for users without one, so that a code costs
    /// the same whoever it is for.
    decoy_totp: Generator,
    /// The time the decisions that do not take it as an argument are made at.
    clock: Arc<dyn Clock>,
}

/// Why the decider could not be opened; the daemon does not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store engine `[store]` names could not be opened.
    #[error("{0}")]
    Store(#[source] store::OpenError),
    /// The decoys (a recovery-code hash and an app secret nobody has) could not be made:
    /// the random number generator or the hasher failed.
    #[error("cannot make the decoy secrets: {0}")]
    Decoys(#[source] RecoveryError),
}

/// A reloaded config changes what a running daemon cannot change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` changed: that needs a restart")]
pub struct NeedsRestart {
    /// The key that changed.
    pub key: &'static str,
}

impl Decider {
    /// Opens the store and the attempt limits named by `config`; `clock` tells the time.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Decider, OpenError> {
        let engines = store::open(&config, clock.now()).map_err(OpenError::Store)?;
        let hostname = crate::accounts::hostname();
        let decoy_hash = recovery::hash("decoy-not-a-code")
            .map_err(OpenError::Decoys)?
            .hash;
        let params = config_params(&config);
        let decoy_secret = Secret::generate(params.algorithm)
            .map_err(|e| OpenError::Decoys(RecoveryError::Random(e)))?;
        Ok(Decider {
            decoy_totp: Generator::new(params, &decoy_secret),
            policy: RwLock::new(Arc::new(config.policy.policy())),
            config: RwLock::new(Arc::new(config)),
            store: engines.records,
            limiter: engines.limits,
            sends: engines.sends,
            hostname,
            decoy_hash,
            clock,
        })
    }

    /// Who must use a second factor.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `new` in force for every conversation that starts from now on (SIGHUP). The
    /// socket and the state directory cannot change under a running daemon: a config that
    /// changes them is refused, and the running one kept.
    pub fn reload(&self, new: Config) -> Result<(), NeedsRestart> {
        let old = self.config();
        for (key, changed) in [
            ("socket", old.socket != new.socket),
            ("state_dir", old.state_dir != new.state_dir),
            ("store", old.store != new.store),
        ] {
            if changed {
                return Err(NeedsRestart { key });
            }
        }
        self.limiter.set_policy(new.limits.policy());
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(new.policy.policy());
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(new);
        Ok(())
    }

    /// The attempt limits of every name.
    pub fn limiter(&self) -> &dyn Limits {
        self.limiter.as_ref()
    }

    /// The counts behind the send limits (the outbox asks them before every send).
    pub fn send_ledger(&self) -> Arc<dyn SendLedger> {
        self.sends.clone()
    }

    /// The time now, by the clock the decider was opened with.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// The record engine.
    pub fn store(&self) -> &dyn RecordStore {
        self.store.as_ref()
    }

    /// The record of `subject`; an empty one for accounts never enrolled and for unknown
    /// names (those never reach the store).
    pub fn record(&self, subject: &Subject) -> Result<UserRecord, StoreError> {
        match subject {
            Subject::Account(name) => Ok(self.store.load(name)?.unwrap_or_default()),
            Subject::Unknown(_) => Ok(UserRecord::default()),
        }
    }
}

fn config_params(config: &Config) -> TotpParams {
    TotpParams {
        algorithm: config.totp.algorithm,
        digits: config.totp.digits,
        period: config.totp.period,
    }
}
