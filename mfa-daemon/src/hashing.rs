//! Who may run argon2 when. An argon2id run takes 19 MiB and tens of milliseconds of a core,
//! so it is the one thing a caller can make expensive. Root's callers (the privileged socket:
//! sshd, sudo, login) have a pool of their own and never wait behind a user's work; users
//! share a smaller pool, and each uid runs at most one such job at a time, so a few users
//! flooding recovery-code-shaped answers cannot delay anyone's login.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::connection::{Caller, Door};

/// argon2 jobs one non-root uid may run at once.
pub const JOBS_PER_UID: usize = 1;

/// The pools.
#[derive(Debug)]
pub struct HashingPools {
    privileged: Arc<Semaphore>,
    users: Arc<Semaphore>,
    per_uid: Mutex<HashMap<u32, Arc<Semaphore>>>,
}

/// The right to run one argon2 job; given back when dropped.
#[derive(Debug)]
pub struct HashingPermit {
    _pool: OwnedSemaphorePermit,
    _own: Option<OwnedSemaphorePermit>,
}

impl HashingPools {
    /// One job per core for root's callers; half as many (at least one) for all users
    /// together. That bounds CPU and memory (19 MiB per job) whatever the number of clients.
    pub fn new(cores: usize) -> HashingPools {
        let cores = cores.max(1);
        HashingPools {
            privileged: Arc::new(Semaphore::new(cores)),
            users: Arc::new(Semaphore::new((cores / 2).max(1))),
            per_uid: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for the right to run an argon2 job for `caller`.
    pub async fn permit(&self, caller: Caller) -> HashingPermit {
        if caller.door == Door::Privileged {
            return HashingPermit {
                _pool: acquire(&self.privileged).await,
                _own: None,
            };
        }
        let own = self.uid_semaphore(caller.uid);
        let own_permit = acquire(&own).await;
        drop(own);
        let pool = acquire(&self.users).await;
        self.forget_idle(caller.uid);
        HashingPermit {
            _pool: pool,
            _own: Some(own_permit),
        }
    }

    fn uid_semaphore(&self, uid: u32) -> Arc<Semaphore> {
        let mut map = self.per_uid.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(uid)
            .or_insert_with(|| Arc::new(Semaphore::new(JOBS_PER_UID)))
            .clone()
    }

    /// Drops the semaphores of uids nobody is waiting on or holding, so the map stays small.
    fn forget_idle(&self, uid: u32) {
        let mut map = self.per_uid.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|&u, s| {
            u == uid || Arc::strong_count(s) > 1 || s.available_permits() < JOBS_PER_UID
        });
    }
}

async fn acquire(semaphore: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    // The semaphores are never closed, so acquiring cannot fail; a closed one would mean
    // shutdown, where waiting forever is right.
    match semaphore.clone().acquire_owned().await {
        Ok(permit) => permit,
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn user(uid: u32) -> Caller {
        Caller {
            uid,
            door: Door::Public,
        }
    }

    const ROOT: Caller = Caller {
        uid: 0,
        door: Door::Privileged,
    };

    #[tokio::test]
    async fn root_never_waits_behind_users() {
        let pools = HashingPools::new(2);
        let _held = pools.permit(user(1000)).await;
        // The users' pool (one job on two cores) is full; root still gets both of its own.
        let a = tokio::time::timeout(Duration::from_millis(100), pools.permit(ROOT)).await;
        let b = tokio::time::timeout(Duration::from_millis(100), pools.permit(ROOT)).await;
        assert!(a.is_ok() && b.is_ok());
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), pools.permit(user(1001))).await;
        assert!(blocked.is_err(), "the users' pool is shared");
    }

    #[tokio::test]
    async fn one_job_per_uid() {
        let pools = HashingPools::new(8);
        let first = pools.permit(user(1000)).await;
        let second =
            tokio::time::timeout(Duration::from_millis(50), pools.permit(user(1000))).await;
        assert!(second.is_err(), "a second job of the same uid waits");
        let other = tokio::time::timeout(Duration::from_millis(50), pools.permit(user(1001))).await;
        assert!(other.is_ok(), "another uid does not");
        drop(first);
        drop(other);
        let again = tokio::time::timeout(Duration::from_millis(50), pools.permit(user(1000))).await;
        assert!(again.is_ok());
    }
}
