//! The send limits on [`Pg`]: one row per counted send and key, checked and added in one
//! transaction under the keys' advisory locks, so that every host's sends add up (two hosts
//! cannot each send a user `max_sends` codes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mfa_core::send_book::{BucketFull, SendBucket};

use super::{Pg, SENDS_LOCK_SEED, client};
use crate::delivery::outbox::{LedgerError, SendLedger};
use crate::store::CallerClass;

/// Limits above this are not checked: no window holds that many sends.
const MAX_CHECKED_LIMIT: u32 = 100_000;
/// Every this many sends admitted by this host, rows whose windows have passed are deleted.
const PRUNE_SENDS_EVERY: u64 = 64;

/// The send counts of a fleet, in table `mfa_sends`.
#[derive(Debug)]
pub struct PgSendLedger {
    pg: Arc<Pg>,
    class: CallerClass,
    admitted: AtomicU64,
}

impl PgSendLedger {
    /// The ledger on `pg`, on the connections of `class`.
    pub fn new(pg: Arc<Pg>, class: CallerClass) -> PgSendLedger {
        PgSendLedger {
            pg,
            class,
            admitted: AtomicU64::new(0),
        }
    }
}

fn db_time(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

impl SendLedger for PgSendLedger {
    fn admit(
        &self,
        buckets: &[SendBucket],
        now: u64,
    ) -> Result<Result<(), BucketFull>, LedgerError> {
        let buckets = buckets.to_vec();
        let prune = self.admitted.fetch_add(1, Ordering::Relaxed) % PRUNE_SENDS_EVERY
            == PRUNE_SENDS_EVERY - 1;
        self.pg
            .run(self.class, move |pool, ready| async move {
                let mut client = client(&pool, &ready).await?;
                let txn = client.transaction().await?;
                // Locks taken in one order on every host, so two sends never wait on each other
                // in a circle.
                let mut keys: Vec<&str> = buckets.iter().map(|b| b.key.as_str()).collect();
                keys.sort_unstable();
                keys.dedup();
                for key in keys {
                    txn.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))",
                        &[&key, &SENDS_LOCK_SEED],
                    )
                    .await?;
                }
                for (index, bucket) in buckets.iter().enumerate() {
                    // A bucket this wide only records (a farewell notice's burst).
                    if bucket.limit > MAX_CHECKED_LIMIT {
                        continue;
                    }
                    let since = db_time(now.saturating_sub(bucket.window));
                    let rows = txn
                        .query(
                            "SELECT at FROM mfa_sends WHERE key = $1 AND at > $2 \
                         ORDER BY at DESC LIMIT $3",
                            &[&bucket.key, &since, &i64::from(bucket.limit)],
                        )
                        .await?;
                    if rows.len() >= bucket.limit as usize {
                        // Room comes back when the `limit`-th newest send leaves the window.
                        let at = rows.last().map_or(now, |row| {
                            u64::try_from(row.get::<_, i64>(0)).unwrap_or(now)
                        });
                        return Ok(Err(BucketFull {
                            index,
                            retry_at: at.saturating_add(bucket.window),
                            crowded: false,
                        }));
                    }
                }
                for bucket in &buckets {
                    txn.execute(
                        "INSERT INTO mfa_sends (key, at, expires_at) VALUES ($1, $2, $3)",
                        &[
                            &bucket.key,
                            &db_time(now),
                            &db_time(now.saturating_add(bucket.window)),
                        ],
                    )
                    .await?;
                }
                txn.commit().await?;
                if prune {
                    client
                        .execute(
                            "DELETE FROM mfa_sends WHERE expires_at < $1",
                            &[&db_time(now)],
                        )
                        .await?;
                }
                Ok(Ok(()))
            })
            .map_err(LedgerError::from)
    }
}
