//! What every connection shares: the decider (policy, store, limits, clock), the outbox,
//! the audit log, the hashing pools and the log throttle. The service and the handlers use
//! it; nothing here knows a socket, so dependencies point one way: server -> handlers ->
//! service -> app -> decisions.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::accounts;
use crate::audit::AuditLog;
use crate::audit::throttle::LogThrottle;
use crate::config::{Config, ConfigError};
use crate::connection::Caller;
use crate::decisions::{Decider, Deciders, NeedsRestart};
use crate::delivery::Delivery;
use crate::delivery::outbox::Outbox;
use crate::error::DaemonError;
use crate::hashing::{HashingPermit, HashingPools};
use crate::store::CallerClass;
use crate::username::UserName;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    /// Policy and state, with a decider for each class of caller.
    pub decisions: Deciders,
    /// Sent codes: limits, codes waiting for an answer, providers.
    pub outbox: Outbox,
    /// Audit events.
    pub audit: AuditLog,
    /// Who may run argon2 when.
    pub hashing: HashingPools,
    /// Rate limits of the log lines callers can cause.
    pub log_throttle: LogThrottle,
    /// Passkey links and approval requests, when `[web]` is configured.
    pub web: Option<crate::web::Web>,
}

/// At most one log line per this interval for each kind of refusal a caller can cause.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Shared {
    /// What every connection shares, around the decider and the outbox: a fresh audit log,
    /// hashing pools sized to the machine, and the log throttle.
    pub fn new(decisions: Deciders, outbox: Outbox) -> Shared {
        Shared {
            decisions,
            outbox,
            audit: AuditLog::open(),
            hashing: HashingPools::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
            log_throttle: LogThrottle::new(1, REFUSAL_LOG_INTERVAL),
            web: None,
        }
    }

    /// The same, serving the web pages' requests with `web`.
    pub fn with_web(self, web: Option<crate::web::Web>) -> Shared {
        Shared { web, ..self }
    }

    /// Runs `work` on a blocking thread with the decider of `class`; a panic there becomes
    /// an internal error, never a crash of the daemon. Root's work draws on the store's own
    /// connections, users' on a smaller share (see [`CallerClass`]): a flood by local users
    /// cannot take root's.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        class: CallerClass,
        work: impl FnOnce(&Decider) -> Result<T, DaemonError> + Send + 'static,
    ) -> Result<T, DaemonError> {
        let shared = self.clone();
        match tokio::task::spawn_blocking(move || work(shared.decisions.for_class(class))).await {
            Ok(result) => result,
            Err(e) => Err(DaemonError::TaskFailed(e)),
        }
    }

    /// Runs `work` on `user`'s account on a blocking thread, in the share of the caller
    /// `uid` (see [`Shared::blocking`]).
    pub async fn for_user<T: Send + 'static>(
        self: &Arc<Self>,
        uid: u32,
        user: &UserName,
        work: impl FnOnce(&Decider, &UserName) -> Result<T, DaemonError> + Send + 'static,
    ) -> Result<T, DaemonError> {
        let user = user.clone();
        self.blocking(CallerClass::of(uid), move |a| work(a, &user))
            .await
    }

    /// Like [`Shared::blocking`], for work that runs argon2, within `caller`'s share of the
    /// hashing pools (root's callers never wait behind a user's work).
    pub async fn blocking_hashing<T: Send + 'static>(
        self: &Arc<Self>,
        caller: Caller,
        work: impl FnOnce(&Decider) -> Result<T, DaemonError> + Send + 'static,
    ) -> Result<T, DaemonError> {
        let _permit: HashingPermit = self.hashing.permit(caller).await;
        self.blocking(caller.class(), work).await
    }

    /// Logs a line a caller caused, rate-limited per `key`, as a warning: each is something
    /// refused or failed that a caller can repeat at will.
    pub fn log_throttled(&self, key: &str, line: std::fmt::Arguments<'_>) {
        if let Some(dropped) = self.log_throttle.admit(key, Instant::now()) {
            if dropped > 0 {
                tracing::warn!("{line} ({dropped} more like this not logged)");
            } else {
                tracing::warn!("{line}");
            }
        }
    }
}

impl Shared {
    /// Reads `path` again and puts it in force for what starts from now on: policy, limits,
    /// codes, providers. A config that does not parse, names a group NSS does not know or a
    /// bad credential file, or changes the socket or the state directory is refused with the
    /// reason, and the running one stays. Blocking (it reads files).
    pub fn reload(&self, path: &Path, default_if_missing: bool) -> Result<(), ReloadError> {
        let config = Config::load(path, default_if_missing)?;
        config.check_groups(path, accounts::group_exists)?;
        let delivery = Delivery::from_config(&config, path, &accounts::hostname())?;
        let otp = config.otp.clone();
        self.decisions.reload(config)?;
        self.outbox.reload_otp(delivery, &otp);
        Ok(())
    }
}

/// Why a reloaded config was refused; the running one stays.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file does not parse or check, names an unknown group, or a provider's
    /// credential cannot be read.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// It changes what only a restart can (the socket, the state directory, the store).
    #[error("{0}")]
    NeedsRestart(#[from] NeedsRestart),
    /// The reload's blocking task ended before it could say (it panicked).
    #[error("the reload failed: {0}")]
    Interrupted(#[source] tokio::task::JoinError),
}
