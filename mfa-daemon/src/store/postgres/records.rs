//! The record engine on [`Pg`]: one sealed row per user in `mfa_users`, changed in a
//! database transaction that first takes the user's advisory lock, so that every host's
//! transactions of one user run one after another.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;
use zeroize::Zeroizing;

use super::{ENGINE, LOCK_NAME, Pg, PgError, client};
use crate::store::sealing::Sealer;
use crate::store::{CallerClass, RecordStore, StoreError, Txn, UserRecord, decode_record};
use crate::username;

/// Seed of `hashtextextended` for the per-name advisory locks of records.
const RECORD_LOCK_SEED: i64 = 0;
const SELECT_RECORD: &str = "SELECT data FROM mfa_users WHERE name = $1";
const UPSERT_RECORD: &str = "INSERT INTO mfa_users (name, data, updated_by) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, updated_at = now(), \
     updated_by = EXCLUDED.updated_by";

/// The record engine on [`Pg`], for callers of one class.
#[derive(Debug)]
pub struct PgStore {
    pg: Arc<Pg>,
    class: CallerClass,
}

impl PgStore {
    /// The record store on `pg`, on the connections of `class`.
    pub fn new(pg: Arc<Pg>, class: CallerClass) -> PgStore {
        PgStore { pg, class }
    }
}

fn valid(user: &str) -> Result<(), StoreError> {
    if username::is_valid(user) {
        Ok(())
    } else {
        Err(StoreError::InvalidUser)
    }
}

/// Opens and parses a row's data.
fn open_row(sealer: &Sealer, name: &str, data: &[u8]) -> Result<UserRecord, PgError> {
    let corrupt = |why: String| PgError::Corrupt {
        name: name.to_owned(),
        why,
    };
    let plain = sealer
        .open(name, data)
        .map_err(|e| corrupt(e.to_string()))?;
    decode_record(Path::new("record"), &plain).map_err(|e| match e {
        StoreError::Corrupt { why, .. } => corrupt(why),
        other => corrupt(other.to_string()),
    })
}

fn late<T>() -> Result<T, PgError> {
    Err(PgError::Unavailable("no answer in time".to_owned()))
}

/// What a record transaction's task needs, apart from its channels.
struct TxnTask {
    name: String,
    sealer: Arc<Sealer>,
    hostname: String,
    /// Each step's deadline.
    step: Duration,
    pool: deadpool_postgres::Pool,
    ready: Arc<std::sync::atomic::AtomicBool>,
}

impl TxnTask {
    /// Begins the transaction, takes the user's lock and reads the row: one round trip.
    async fn begin(&self) -> Result<(Object, Option<UserRecord>), PgError> {
        let client = client(&self.pool, &self.ready).await?;
        let (lock, select) = tokio::try_join!(
            client.prepare_cached(LOCK_NAME),
            client.prepare_cached(SELECT_RECORD),
        )?;
        // Sent together (the driver pipelines futures polled at once), answered in order.
        let lock_params: [&(dyn ToSql + Sync); 2] = [&self.name, &RECORD_LOCK_SEED];
        let select_params: [&(dyn ToSql + Sync); 1] = [&self.name];
        let ((), _, row) = tokio::try_join!(
            client.batch_execute("BEGIN"),
            client.execute(&lock, &lock_params),
            client.query_opt(&select, &select_params),
        )?;
        let record = match row {
            Some(row) => Some(open_row(&self.sealer, &self.name, row.get(0))?),
            None => None,
        };
        Ok((client, record))
    }

    /// Writes the sealed record and commits: one round trip. An error in the write aborts
    /// the transaction, and the COMMIT then fails too.
    async fn commit(&self, client: &Object, data: &[u8]) -> Result<(), PgError> {
        let upsert = client.prepare_cached(UPSERT_RECORD).await?;
        let params: [&(dyn ToSql + Sync); 3] = [&self.name, &data, &self.hostname];
        tokio::try_join!(
            client.execute(&upsert, &params),
            client.batch_execute("COMMIT"),
        )?;
        Ok(())
    }

    /// The whole transaction: reads, sends the record to the caller, waits for its decision
    /// and commits it (or rolls back if the caller gave up).
    async fn run(
        self,
        read: mpsc::SyncSender<Result<Option<UserRecord>, PgError>>,
        decide: tokio::sync::oneshot::Receiver<Vec<u8>>,
        done: mpsc::SyncSender<Result<(), PgError>>,
    ) {
        let began = tokio::time::timeout(self.step * 2, self.begin())
            .await
            .unwrap_or_else(|_| late());
        let client = match began {
            Ok((client, record)) => {
                if read.send(Ok(record)).is_err() {
                    let _ = client.batch_execute("ROLLBACK").await;
                    return;
                }
                client
            }
            Err(e) => {
                let _ = read.send(Err(e));
                return;
            }
        };
        // The caller decides; dropping the transaction rolls back.
        let Ok(data) = decide.await else {
            if client.batch_execute("ROLLBACK").await.is_err() {
                drop(Object::take(client));
            }
            return;
        };
        let committed = tokio::time::timeout(self.step, self.commit(&client, &data))
            .await
            .unwrap_or_else(|_| late());
        if committed.is_err() {
            // Whatever state the connection is in, it is not reused.
            drop(Object::take(client));
        }
        let _ = done.send(committed);
    }
}

impl RecordStore for PgStore {
    fn engine(&self) -> &'static str {
        ENGINE
    }

    fn begin<'a>(&'a self, user: &str) -> Result<Box<dyn Txn + 'a>, StoreError> {
        valid(user)?;
        let (read_tx, read_rx) = mpsc::sync_channel::<Result<Option<UserRecord>, PgError>>(1);
        let (decide_tx, decide_rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
        let (done_tx, done_rx) = mpsc::sync_channel::<Result<(), PgError>>(1);
        let Some(runtime) = &self.pg.runtime else {
            return Err(self.pg.unavailable("the daemon is stopping".to_owned()));
        };
        let task = TxnTask {
            name: user.to_owned(),
            sealer: self.pg.sealer.clone(),
            hostname: self.pg.hostname.clone(),
            step: self.pg.timeout,
            pool: self.pg.pool(self.class),
            ready: self.pg.schema_ready.clone(),
        };
        let step = task.step;
        runtime.spawn(task.run(read_tx, decide_rx, done_tx));
        let read = read_rx
            .recv_timeout(step * 2 + Duration::from_secs(1))
            .unwrap_or_else(|_| late());
        let record = self.pg.settle(read)?;
        Ok(Box::new(PgTxn {
            pg: &self.pg,
            name: user.to_owned(),
            record: record.unwrap_or_default(),
            decide: decide_tx,
            done: done_rx,
        }))
    }

    fn load(&self, user: &str) -> Result<Option<UserRecord>, StoreError> {
        valid(user)?;
        let name = user.to_owned();
        let sealer = self.pg.sealer.clone();
        self.pg.run(self.class, |pool, ready| async move {
            let client = client(&pool, &ready).await?;
            let select = client.prepare_cached(SELECT_RECORD).await?;
            let row = client.query_opt(&select, &[&name]).await?;
            row.map(|row| open_row(&sealer, &name, row.get(0)))
                .transpose()
        })
    }

    fn users(&self) -> Result<Vec<String>, StoreError> {
        self.pg.names(self.class, "SELECT name FROM mfa_users")
    }
}

/// A record transaction: the database transaction runs in a task on the engine's runtime,
/// holding the user's advisory lock until this is committed or dropped.
struct PgTxn<'a> {
    pg: &'a Pg,
    name: String,
    record: UserRecord,
    decide: tokio::sync::oneshot::Sender<Vec<u8>>,
    done: mpsc::Receiver<Result<(), PgError>>,
}

impl Txn for PgTxn<'_> {
    fn record(&self) -> &UserRecord {
        &self.record
    }

    fn commit(self: Box<Self>, record: &UserRecord) -> Result<(), StoreError> {
        let corrupt = |why: String| StoreError::Corrupt {
            path: format!("postgres:mfa_users/{}", self.name).into(),
            why,
        };
        let json = Zeroizing::new(
            serde_json::to_vec(record).map_err(|e| corrupt(format!("cannot serialize: {e}")))?,
        );
        let sealed = self
            .pg
            .sealer
            .seal(&self.name, &json)
            .map_err(|e| corrupt(e.to_string()))?;
        if self.decide.send(sealed).is_err() {
            return Err(self
                .pg
                .unavailable("the transaction ended early".to_owned()));
        }
        let outcome = self
            .done
            .recv_timeout(self.pg.timeout + Duration::from_secs(1))
            .unwrap_or_else(|_| late());
        self.pg.settle(outcome)
    }
}
