//! The attempt limits on [`Pg`]: one row of JSON per name in `mfa_limits`, changed in a
//! transaction under the name's advisory lock, so that failures counted on every host add up.
//! Not secret, so not sealed.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};

use deadpool_postgres::Object;
use mfa_core::lockout::{FailureEffect, LimitState, LockoutPolicy};
use tokio_postgres::types::Json;

use super::{LOCK_NAME, Pg, PgError, client};
use crate::store::{CallerClass, Limits, StoreError};

/// Seed of `hashtextextended` for the per-name advisory locks of limits.
const LIMITS_LOCK_SEED: i64 = 1;
/// Seconds after the last failure (or the end of a lockout) that a limits row still
/// matters: a day, as the file engine forgets idle counters.
const LIMITS_KEEP_SECS: i64 = 24 * 3600;
/// Names with attempt limits kept in the database, all hosts together (the file engine keeps
/// 10,000 per host); beyond it the rows that matter least are deleted.
const MAX_LIMIT_ROWS: i64 = 100_000;
/// Every this many failures counted by this host, rows nobody needs any more are deleted.
const PRUNE_EVERY: u64 = 256;
/// A limits row that the bound never deletes (issue 14 item 7: a flood of made-up names
/// must not flush a real user's count): a failure inside the window (`$since`) or a lock in
/// force (`$now`), of a source or of the account. `$2` of the queries that use it.
const PROTECTED_ROW: &str = "(jsonb_path_exists(state, \
     '$.account ? (@.locked_until > $now || @.failures[*] > $since)', $2) \
     OR jsonb_path_exists(state, \
     '$.sources.* ? (@.locked_until > $now || @.failures[*] > $since)', $2))";
const SELECT_LIMITS: &str = "SELECT state FROM mfa_limits WHERE name = $1";

/// The attempt limits on [`Pg`]: one row per name, changed in a transaction under the
/// name's advisory lock, so that failures counted on every host add up. One for each class
/// of caller, on that class's connections.
#[derive(Debug)]
pub struct PgLimits {
    pg: Arc<Pg>,
    class: CallerClass,
    policy: RwLock<LockoutPolicy>,
}

impl PgLimits {
    /// The limits on `pg`, on the connections of `class`.
    pub fn new(pg: Arc<Pg>, class: CallerClass, policy: LockoutPolicy) -> PgLimits {
        PgLimits {
            pg,
            class,
            policy: RwLock::new(policy),
        }
    }

    fn policy(&self) -> LockoutPolicy {
        self.policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn read(&self, user: &str) -> Result<LimitState, StoreError> {
        let name = user.to_owned();
        self.pg.run(self.class, |pool, ready| async move {
            let client = client(&pool, &ready).await?;
            let select = client.prepare_cached(SELECT_LIMITS).await?;
            let row = client.query_opt(&select, &[&name]).await?;
            Ok(row
                .map(|row| row.get::<_, Json<LimitState>>(0).0)
                .unwrap_or_default())
        })
    }

    /// Changes the name's state in one transaction; returns what `change` returns. With
    /// `prune` (the failure window, in seconds), rows nobody needs are deleted afterwards.
    fn change<T: Send + 'static>(
        &self,
        user: &str,
        now: u64,
        prune: Option<u64>,
        change: impl FnOnce(&mut LimitState) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let name = user.to_owned();
        self.pg.run(self.class, move |pool, ready| async move {
            let mut client = client(&pool, &ready).await?;
            let txn = client.transaction().await?;
            txn.execute(LOCK_NAME, &[&name, &LIMITS_LOCK_SEED]).await?;
            let mut state = txn
                .query_opt(SELECT_LIMITS, &[&name])
                .await?
                .map(|row| row.get::<_, Json<LimitState>>(0).0)
                .unwrap_or_default();
            let result = change(&mut state);
            if state.is_clear() {
                txn.execute("DELETE FROM mfa_limits WHERE name = $1", &[&name])
                    .await?;
            } else {
                let expires = keep_until(&state, now);
                txn.execute(
                    "INSERT INTO mfa_limits (name, state, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, \
                     expires_at = EXCLUDED.expires_at, updated_at = now()",
                    &[&name, &Json(&state), &expires],
                )
                .await?;
            }
            txn.commit().await?;
            if let Some(window) = prune {
                prune_rows(&client, now, window).await?;
            }
            Ok(result)
        })
    }
}

/// Deletes the rows nobody needs: those whose day has passed, then, past [`MAX_LIMIT_ROWS`],
/// the rows that matter least, but never one with a failure inside the failure `window` or
/// a lock in force. While a flood keeps more than that many names inside their window, the
/// table holds them all (no overflow row: the rows are the database's disk, not the daemon's
/// memory) until the window passes.
async fn prune_rows(client: &Object, now: u64, window: u64) -> Result<(), PgError> {
    let vars = serde_json::json!({
        "now": now,
        "since": now.saturating_sub(window),
    });
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    client
        .execute("DELETE FROM mfa_limits WHERE expires_at < $1", &[&now])
        .await?;
    client
        .execute(
            &format!(
                "DELETE FROM mfa_limits WHERE name IN (SELECT name FROM mfa_limits \
                 WHERE NOT {PROTECTED_ROW} ORDER BY expires_at DESC \
                 OFFSET greatest($1 - (SELECT count(*) FROM mfa_limits \
                 WHERE {PROTECTED_ROW}), 0))"
            ),
            &[&MAX_LIMIT_ROWS, &Json(&vars)],
        )
        .await?;
    Ok(())
}

/// Until when a state still matters: a day after its last failure or the end of its last
/// lockout, whichever is later.
fn keep_until(state: &LimitState, now: u64) -> i64 {
    let last = state
        .lockouts(now)
        .iter()
        .map(|(_, until)| *until)
        .chain(state.account_locked(now))
        .chain([state.last_failure()])
        .max()
        .unwrap_or(now);
    i64::try_from(last)
        .unwrap_or(i64::MAX)
        .saturating_add(LIMITS_KEEP_SECS)
}

impl Limits for PgLimits {
    fn set_policy(&self, limits: LockoutPolicy) {
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = limits;
    }

    fn source_locked(&self, user: &str, source: &str, now: u64) -> Result<Option<u64>, StoreError> {
        Ok(self.read(user)?.source_locked(source, now))
    }

    fn account_locked(&self, user: &str, now: u64) -> Result<Option<u64>, StoreError> {
        Ok(self.read(user)?.account_locked(now))
    }

    fn locks(
        &self,
        user: &str,
        source: &str,
        now: u64,
    ) -> Result<(Option<u64>, Option<u64>), StoreError> {
        let state = self.read(user)?;
        Ok((state.source_locked(source, now), state.account_locked(now)))
    }

    fn lockouts(&self, user: &str, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(self.read(user)?.lockouts(now))
    }

    fn record_failure(
        &self,
        user: &str,
        source: &str,
        now: u64,
    ) -> Result<FailureEffect, StoreError> {
        let policy = self.policy();
        let source = source.to_owned();
        let prune = (self.pg.limit_failures.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY
            == PRUNE_EVERY - 1)
            .then_some(policy.failure_window.as_secs());
        self.change(user, now, prune, move |state| {
            state.record_failure(&source, now, &policy)
        })
    }

    fn record_success(&self, user: &str, source: &str, now: u64) -> Result<(), StoreError> {
        // Most successes have nothing to clear: one read, no transaction.
        if !self.read(user)?.sources.contains_key(source) {
            return Ok(());
        }
        let source = source.to_owned();
        self.change(user, now, None, move |state| {
            state.record_success(&source, now);
        })
    }

    fn clear(&self, user: &str) -> Result<(), StoreError> {
        self.change(user, 0, None, |state| *state = LimitState::default())
    }

    fn clear_source(&self, user: &str, source: &str) -> Result<bool, StoreError> {
        let source = source.to_owned();
        self.change(user, 0, None, move |state| {
            state.sources.remove(&source).is_some()
        })
    }

    fn names(&self) -> Result<Vec<String>, StoreError> {
        self.pg.names(self.class, "SELECT name FROM mfa_limits")
    }
}
