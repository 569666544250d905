//! What every connection shares: the authority (policy, store, limits), the audit log, the
//! hashing pools and the log throttle. The handlers use it; nothing here knows a socket, so
//! dependencies point one way: server -> handlers (auth, manage) -> app -> authority.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::accounts;
use crate::audit::AuditLog;
use crate::audit::throttle::LogThrottle;
use crate::authority::Authority;
use crate::config::Config;
use crate::connection::Caller;
use crate::delivery::Delivery;
use crate::delivery::outbox::Outbox;
use crate::error::DaemonError;
use crate::hashing::{HashingPermit, HashingPools};
use crate::store::CallerClass;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    /// Policy and state.
    pub authority: Authority,
    /// Sent codes: limits, codes waiting for an answer, providers.
    pub outbox: Outbox,
    /// Audit events.
    pub audit: AuditLog,
    /// Who may run argon2 when.
    pub hashing: HashingPools,
    /// Rate limits of the log lines callers can cause.
    pub log_throttle: LogThrottle,
}

impl Shared {
    /// Runs `work` on a blocking thread; a panic there becomes an internal error, never a
    /// crash of the daemon.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Authority) -> Result<T, DaemonError> + Send + 'static,
    ) -> Result<T, DaemonError> {
        let shared = self.clone();
        // Root's work draws on the store's own connections, users' on a smaller share (see
        // store::CallerClass): a flood by local users cannot take root's.
        let class = CALLER_UID
            .try_with(|uid| CallerClass::of(*uid))
            .unwrap_or(CallerClass::Root);
        match tokio::task::spawn_blocking(move || class.enter(|| work(&shared.authority))).await {
            Ok(result) => result,
            Err(e) => Err(DaemonError::Internal(format!(
                "a blocking task failed: {e}"
            ))),
        }
    }

    /// Like [`Shared::blocking`], for work that runs argon2, within `caller`'s share of the
    /// hashing pools (root's callers never wait behind a user's work).
    pub async fn blocking_hashing<T: Send + 'static>(
        self: &Arc<Self>,
        caller: Caller,
        work: impl FnOnce(&Authority) -> Result<T, DaemonError> + Send + 'static,
    ) -> Result<T, DaemonError> {
        let _permit: HashingPermit = self.hashing.permit(caller).await;
        self.blocking(work).await
    }

    /// Logs a line a caller caused, rate-limited per `key`.
    pub fn log_throttled(&self, key: &str, line: std::fmt::Arguments<'_>) {
        if let Some(dropped) = self.log_throttle.admit(key, Instant::now()) {
            if dropped > 0 {
                eprintln!("mfa-daemon: {line} ({dropped} more like this not logged)");
            } else {
                eprintln!("mfa-daemon: {line}");
            }
        }
    }
}

impl Shared {
    /// Reads `path` again and puts it in force for what starts from now on: policy, limits,
    /// codes, providers. A config that does not parse, names a group NSS does not know or a
    /// bad credential file, or changes the socket or the state directory is refused with the
    /// reason, and the running one stays. Blocking (it reads files).
    pub fn reload(&self, path: &Path, default_if_missing: bool) -> Result<(), String> {
        let config = Config::load(path, default_if_missing).map_err(|e| e.to_string())?;
        config
            .check_groups(path, accounts::group_exists)
            .map_err(|e| e.to_string())?;
        let delivery = Delivery::from_config(&config, path, &accounts::hostname())
            .map_err(|e| e.to_string())?;
        let (code, send, domains, countries) = (
            config.otp.code_policy(),
            config.otp.send_policy(),
            config.otp.domain_rules(),
            config.otp.country_rules(),
        );
        self.authority.reload(config)?;
        self.outbox.reload(delivery, code, send, domains, countries);
        Ok(())
    }
}

tokio::task_local! {
    /// The uid of the peer a conversation serves.
    static CALLER_UID: u32;
}

/// Runs a conversation as `uid`'s: the blocking work it starts knows whose it is.
pub async fn as_caller<F: std::future::Future>(uid: u32, conversation: F) -> F::Output {
    CALLER_UID.scope(uid, conversation).await
}
