//! What every connection shares: the authority (policy, store, limits), the audit log, the
//! hashing pools and the log throttle. The handlers use it; nothing here knows a socket, so
//! dependencies point one way: server -> handlers (auth, manage) -> app -> authority.

use std::sync::Arc;
use std::time::Instant;

use mfa_proto::{FailureKind, Response};

use crate::audit::AuditLog;
use crate::authority::{Authority, AuthorityError};
use crate::connection::Caller;
use crate::hashing::{HashingPermit, HashingPools};
use crate::log_throttle::LogThrottle;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    /// Policy and state.
    pub authority: Authority,
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
        work: impl FnOnce(&Authority) -> Result<T, AuthorityError> + Send + 'static,
    ) -> Result<T, String> {
        let shared = self.clone();
        match tokio::task::spawn_blocking(move || work(&shared.authority)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("internal error: {e}")),
        }
    }

    /// Like [`Shared::blocking`], for work that runs argon2, within `caller`'s share of the
    /// hashing pools (root's callers never wait behind a user's work).
    pub async fn blocking_hashing<T: Send + 'static>(
        self: &Arc<Self>,
        caller: Caller,
        work: impl FnOnce(&Authority) -> Result<T, AuthorityError> + Send + 'static,
    ) -> Result<T, String> {
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

/// A `Failed{bad_request}` response.
pub fn bad_request(message: &str) -> Response {
    Response::Failed {
        kind: FailureKind::BadRequest,
        message: message.to_owned(),
    }
}
