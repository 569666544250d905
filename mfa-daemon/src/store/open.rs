//! Engine selection: the record store, the attempt limits and the send counts of the
//! engine `[store]` names, opened together, with one set of handles per [`CallerClass`].

use std::sync::Arc;

use super::attempt_limiter::AttemptLimiter;
use super::files::FileStore;
use super::postgres::{Pg, PgLimits, PgSendLedger, PgStore};
use super::send_ledger::FileSendLedger;
use super::{ByClass, CallerClass, Limits, RecordStore, StoreError};
use crate::clock::UnixTime;
use crate::config::{Config, Engine};
use crate::delivery::outbox::SendLedger;

/// The record store, the attempt limits and the send counts of one engine, for callers of
/// one class.
#[derive(Debug, Clone)]
pub struct Engines {
    /// Users' records.
    pub records: Arc<dyn RecordStore>,
    /// Failure counts and lockouts.
    pub limits: Arc<dyn Limits>,
    /// The counts behind the send limits.
    pub sends: Arc<dyn SendLedger>,
}

/// Why the engine could not be opened; the daemon does not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file engine's state directory or files cannot be used.
    #[error("{0}")]
    Files(#[from] StoreError),
    /// The postgres engine's settings or set-up failed.
    #[error("config key `{key}`: {0}", key = .0.key())]
    Postgres(#[source] super::postgres::OpenError),
}

impl OpenError {
    /// The config key at fault, if a setting is (`store.key_file`, `state_dir`, ...).
    pub fn key(&self) -> Option<&'static str> {
        match self {
            OpenError::Files(_) => None,
            OpenError::Postgres(e) => Some(e.key()),
        }
    }
}

/// Opens the engine `config`'s `[store]` names, at `now` (the file engine's send counts
/// forget what is older than their windows), with handles for each class of caller. The
/// file engine serves both classes with the same handles; the postgres engine's draw on the
/// class's own connections. The postgres engine connects once, so that a wrong password or
/// an unreachable server shows in the log at start; the daemon serves (failing closed)
/// either way.
pub fn open(config: &Config, now: UnixTime) -> Result<ByClass<Engines>, OpenError> {
    match config.store.engine {
        Engine::Files => {
            let records = FileStore::open(&config.state_dir)?;
            let (limits, warning) =
                AttemptLimiter::open(&config.state_dir, config.limits.policy())?;
            let (sends, sends_warning) = FileSendLedger::open(&config.state_dir, now.secs())?;
            for warning in [warning, sends_warning].into_iter().flatten() {
                tracing::warn!("{warning}");
            }
            let engines = Engines {
                records: Arc::new(records),
                limits: Arc::new(limits),
                sends: Arc::new(sends),
            };
            Ok(ByClass {
                root: engines.clone(),
                user: engines,
            })
        }
        Engine::Postgres => {
            let pg = Pg::open(&config.store, &config.state_dir).map_err(OpenError::Postgres)?;
            if pg.check().is_ok() {
                tracing::info!("store: PostgreSQL reachable, schema ready");
            }
            let engines = |class| Engines {
                limits: Arc::new(PgLimits::new(pg.clone(), class, config.limits.policy())),
                sends: Arc::new(PgSendLedger::new(pg.clone(), class)),
                records: Arc::new(PgStore::new(pg.clone(), class)),
            };
            Ok(ByClass {
                root: engines(CallerClass::Root),
                user: engines(CallerClass::User),
            })
        }
    }
}
