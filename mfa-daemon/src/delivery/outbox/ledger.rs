//! Counting sends against the limits: the store's ledger keeps the counts, and a memory of
//! the buckets it found full spares it the sends that are sure to be refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mfa_core::send_book::{BucketFull, SendBucket};
use mfa_core::send_limits::{SendPlan, SendRefusal};

/// Most full buckets remembered; beyond it, sends ask the store.
const MAX_KNOWN_FULL: usize = 10_000;

/// Why a send could not be counted (the store failed or is out of reach).
pub type LedgerError = Box<dyn std::error::Error + Send + Sync>;

/// Where the counts behind the send limits live: kept by the daemon's store, durably (files)
/// or shared by a fleet (PostgreSQL), so that neither a restart nor a second host starts
/// them afresh. Every method may block.
pub trait SendLedger: Send + Sync + std::fmt::Debug {
    /// Counts one send at `now` in every bucket if each has room, durably (or in the shared
    /// database) before it returns; otherwise counts nothing and names the first full
    /// bucket. An error means the send could not be counted, and it is not made.
    fn admit(
        &self,
        buckets: &[SendBucket],
        now: u64,
    ) -> Result<Result<(), BucketFull>, LedgerError>;
}

/// Counts sends in a [`SendLedger`], remembering the buckets it found full.
pub(super) struct SendCounter {
    ledger: Arc<dyn SendLedger>,
    /// Buckets the ledger found full, by key, and until when (see
    /// [`SendCounter::known_full`]).
    known_full: Mutex<HashMap<String, u64>>,
}

impl SendCounter {
    pub(super) fn new(ledger: Arc<dyn SendLedger>) -> Self {
        SendCounter {
            ledger,
            known_full: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a message in the ledger, on a blocking thread (the store may write a file or
    /// ask the database), unless one of its buckets is already known to be full.
    pub(super) async fn count(
        &self,
        plan: SendPlan,
        now: u64,
    ) -> Result<Result<(), SendRefusal>, LedgerError> {
        if let Some(full) = self.known_full(&plan, now) {
            return Ok(Err(plan.refusal(full)));
        }
        let ledger = self.ledger.clone();
        let buckets = plan.buckets().to_vec();
        let counted = tokio::task::spawn_blocking(move || ledger.admit(&buckets, now))
            .await
            .unwrap_or_else(|e| Err(format!("counting the send failed: {e}").into()))?;
        Ok(counted.map_err(|full| {
            self.remember_full(&plan, full, now);
            plan.refusal(full)
        }))
    }

    /// Forgets every bucket found full: new limits may give one room again.
    pub(super) fn forget_full(&self) {
        self.known_full_table().clear();
    }

    fn known_full_table(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.known_full
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The first of `plan`'s buckets that a refusal found full until after `now`. A full
    /// bucket stays full at least until then (its sends only age, and a send can only be
    /// added), so such a send is refused without asking the store: a user choosing a text
    /// message from the menu over and over costs the database nothing.
    fn known_full(&self, plan: &SendPlan, now: u64) -> Option<BucketFull> {
        let known = self.known_full_table();
        plan.buckets()
            .iter()
            .enumerate()
            .find_map(|(index, bucket)| {
                known
                    .get(&bucket.key)
                    .filter(|&&until| until > now)
                    .map(|&retry_at| BucketFull {
                        index,
                        retry_at,
                        crowded: false,
                    })
            })
    }

    fn remember_full(&self, plan: &SendPlan, full: BucketFull, now: u64) {
        let Some(bucket) = plan.buckets().get(full.index).filter(|_| !full.crowded) else {
            return;
        };
        let mut known = self.known_full_table();
        if known.len() >= MAX_KNOWN_FULL {
            known.retain(|_, until| *until > now);
        }
        if known.len() < MAX_KNOWN_FULL {
            known.insert(bucket.key.clone(), full.retry_at);
        }
    }
}
