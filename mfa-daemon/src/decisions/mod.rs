//! What the daemon decides about second factors, over the record store, the attempt limits
//! and the send counts of one engine. Synchronous (file I/O, database calls, argon2): the
//! service runs it on blocking threads. One file per concern:
//! - [`answers`]: whether an answer passes (app, recovery, bypass and sent codes), counted
//!   against the attempt limits;
//! - [`enrollment`]: new authenticator apps and recovery codes;
//! - [`factors`]: removing apps and adding or removing phones and email addresses, within
//!   `policy.min_factors`;
//! - [`hotp`]: HOTP soft tokens enrolled, and root's resynchronisation of a token;
//! - [`passkeys`]: passkeys the web pages enrolled, and browsers told by Web Push;
//! - [`devices`]: trusting the device a login came from, and forgetting it;
//! - [`admin`]: exemptions, unlocks, bypass codes and the list of known names;
//! - [`import`]: factors read from another OTP system's files (`mfactl import`).
//!
//! A [`Decider`] works for callers of one [`CallerClass`] (its store handles draw on that
//! class's connections); [`Deciders`] holds one for each, sharing the policy in force.

mod admin;
mod answers;
mod app_passwords;
mod devices;
mod enrollment;
mod factors;
mod hotp;
mod import;
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
use crate::store::{self, ByClass, CallerClass, Limits, RecordStore, StoreError, UserRecord};
use crate::username::UserName;

pub use answers::{Locks, Verdict};
pub use app_passwords::AppPasswordCheck;
pub use devices::DeviceTrust;
pub use enrollment::{Activation, PendingTotp};
pub use factors::{ContactChange, ContactRemoval, Removal, below_minimum};
pub use hotp::{PendingHotp, Resync};
pub use import::{ImportEnd, ImportPlan};
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

/// Policy, store and the decisions made with them, for callers of one class.
#[derive(Debug)]
pub struct Decider {
    /// Shared with the other class's decider: a reload reaches both.
    config: Arc<RwLock<Arc<Config>>>,
    /// Shared with the other class's decider.
    policy: Arc<RwLock<Arc<Policy>>>,
    store: Arc<dyn RecordStore>,
    limiter: Arc<dyn Limits>,
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

/// The decider of each class of caller: the same policy, records and limits, reached
/// through the store handles of that class (see [`CallerClass`]).
#[derive(Debug)]
pub struct Deciders(ByClass<Decider>);

impl Deciders {
    /// Opens the store and the attempt limits named by `config`; `clock` tells the time.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Deciders, OpenError> {
        let engines = store::open(&config, clock.now()).map_err(OpenError::Store)?;
        let decoy_hash = recovery::hash("decoy-not-a-code")
            .map_err(OpenError::Decoys)?
            .hash;
        let params = config_params(&config);
        let decoy_secret = Secret::generate(params.algorithm)
            .map_err(|e| OpenError::Decoys(RecoveryError::Random(e)))?;
        let root = Decider {
            decoy_totp: Generator::new(params, &decoy_secret),
            policy: Arc::new(RwLock::new(Arc::new(config.policy.policy()))),
            config: Arc::new(RwLock::new(Arc::new(config))),
            store: engines.root.records,
            limiter: engines.root.limits,
            sends: engines.root.sends,
            hostname: crate::accounts::hostname(),
            decoy_hash,
            clock,
        };
        let user = Decider {
            config: root.config.clone(),
            policy: root.policy.clone(),
            store: engines.user.records,
            limiter: engines.user.limits,
            sends: engines.user.sends,
            hostname: root.hostname.clone(),
            decoy_hash: root.decoy_hash.clone(),
            decoy_totp: root.decoy_totp.clone(),
            clock: root.clock.clone(),
        };
        Ok(Deciders(ByClass { root, user }))
    }

    /// The decider for callers of `class`.
    pub fn for_class(&self, class: CallerClass) -> &Decider {
        self.0.get(class)
    }

    /// Who must use a second factor.
    pub fn policy(&self) -> Arc<Policy> {
        self.0.root.policy()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.0.root.config()
    }

    /// The time now, by the clock the deciders were opened with.
    pub fn now(&self) -> UnixTime {
        self.0.root.now()
    }

    /// The step at which `code` matches an app being enrolled (see
    /// [`Decider::pending_code_step`]); no store is asked.
    pub fn pending_code_step(&self, pending: &PendingTotp, code: &str, now: u64) -> Option<u64> {
        self.0.root.pending_code_step(pending, code, now)
    }

    /// Puts `new` in force for every conversation that starts from now on (SIGHUP), for
    /// both classes. The socket, the state directory and the store cannot change under a
    /// running daemon: a config that changes them is refused, and the running one kept.
    pub fn reload(&self, new: Config) -> Result<(), NeedsRestart> {
        let limits = new.limits.policy();
        // Root's decider checks and writes the config and policy the two share; the users'
        // limits keep a copy of the lockout policy of their own.
        self.0.root.reload(new)?;
        self.0.user.limiter.set_policy(limits);
        Ok(())
    }
}

impl Decider {
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

    /// Checks `new` and puts its config and policy in force for both classes (they share
    /// them) and its lockout policy in this decider's limits; [`Deciders::reload`] tells the
    /// other's limits.
    fn reload(&self, new: Config) -> Result<(), NeedsRestart> {
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
