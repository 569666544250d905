//! Many enrolled users without enrolling each one: user records written straight into a state
//! directory through the daemon's own file engine ([`FileStore`]), for the startup and memory
//! figures with 10,000 records. Enrolling through the protocol costs ten argon2id hashes per
//! user; here one recovery-code hash is made once and copied into every record (its code is
//! never used), so a record has the shape and size of a real one: one authenticator app with
//! a secret the roster knows, and ten recovery codes.

use std::path::Path;
use std::time::Instant;

use mfa_core::factor::recovery::{self, CODES_PER_SET};
use mfa_core::factor::totp::{Algorithm, Secret, TotpParams};
use mfa_daemon::store::files::FileStore;
use mfa_daemon::store::{RECORD_VERSION, RecordStore, TotpFactor, UserRecord};

use crate::error::BenchError;
use crate::roster;
use crate::roster::PERIOD;
use crate::schedule;

/// Writes records for `PREFIX0` .. `PREFIX{count-1}` into `state_dir` (created if missing;
/// no daemon may be using it) and their roster to `out`.
pub fn write(state_dir: &Path, prefix: &str, count: usize, out: &Path) -> Result<(), BenchError> {
    let store =
        FileStore::open(state_dir).map_err(|source| BenchError::Store { user: None, source })?;
    let store: &dyn RecordStore = &store;
    let users = roster::random_users(prefix, count)?;
    let hash =
        recovery::hash("bench-recovery-code").map_err(|e| BenchError::Hash(e.to_string()))?;
    let now = schedule::now().as_secs();
    let started = Instant::now();
    for (i, user) in users.iter().enumerate() {
        let record = UserRecord {
            version: RECORD_VERSION,
            revision: 1,
            totp: vec![TotpFactor {
                label: "app".to_owned(),
                params: TotpParams {
                    algorithm: Algorithm::Sha1,
                    digits: 6,
                    period: PERIOD as u32,
                },
                secret: Secret::from_bytes(user.secret.clone()),
                enrolled_at: now,
                last_step: user.last_step,
                skew: None,
            }],
            recovery_codes: (0..CODES_PER_SET)
                .map(|n| recovery::RecoveryCode {
                    id: Some(format!("b{n:03}")),
                    hash: hash.hash.clone(),
                })
                .collect(),
            first_seen: Some(now),
            ..UserRecord::default()
        };
        store
            .update(&user.name, |r| *r = record)
            .map_err(|source| BenchError::Store {
                user: Some(user.name.clone()),
                source,
            })?;
        if (i + 1) % 1000 == 0 {
            eprintln!("mfa-bench: {} records written", i + 1);
        }
    }
    eprintln!(
        "mfa-bench: {count} records written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    roster::write(out, &users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::BenchUser;

    #[test]
    fn records_are_read_back_by_the_daemon_engine() {
        let dir = std::env::temp_dir().join(format!("mfa-bench-records-{}", std::process::id()));
        let out =
            std::env::temp_dir().join(format!("mfa-bench-records-{}.roster", std::process::id()));
        write(&dir, "rec", 3, &out).unwrap();
        let users: Vec<BenchUser> = roster::read(&out).unwrap();
        {
            let store = FileStore::open(&dir).unwrap();
            let store: &dyn RecordStore = &store;
            assert_eq!(store.users().unwrap(), vec!["rec0", "rec1", "rec2"]);
            let record = store.load("rec1").unwrap().unwrap();
            assert_eq!(record.totp.len(), 1);
            assert_eq!(record.recovery_codes.len(), CODES_PER_SET);
            let secret = Secret::from_bytes(users[1].secret.clone());
            assert_eq!(record.totp[0].secret, secret);
        }
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_file(&out).unwrap();
    }
}
