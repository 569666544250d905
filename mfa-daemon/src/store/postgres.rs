//! The PostgreSQL engine: one database shared by a fleet of hosts, so that a user enrolls
//! once, a code used on one host is refused on every other, a lockout holds fleet-wide and
//! an admin's reset reaches every host on its next login.
//!
//! - A record transaction is a database transaction that first takes a transaction-scoped
//!   advisory lock on the user's name (`pg_advisory_xact_lock`): every host's transactions
//!   of one user run one after another, whether the user has a row yet or not, so exactly one
//!   of N concurrent uses of a code wins across all hosts. The commit returns after
//!   PostgreSQL's `COMMIT` did, i.e. durably under the server's `synchronous_commit`.
//! - Records are sealed ([`super::sealing`]) with the hosts' `key_file`: a dump of the
//!   database yields neither TOTP seeds nor hashes. Attempt limits are not secret and are kept
//!   as JSON, in the same kind of transaction.
//! - Nothing is cached: every read asks the database, so a change made through another host
//!   is seen at once.
//! - The daemon starts whether or not the database answers. While it does not, every login
//!   fails closed (the module returns PAM_AUTHINFO_UNAVAIL whatever its failmode), one line
//!   says so in the log, and the pool reconnects by itself: the first login after the
//!   database is back works, and a second line says so.
//! - The schema is created and migrated by the daemon on its first connection, under an
//!   advisory lock so that hosts starting together do it once.
//!
//! The daemon's code is synchronous on blocking threads; the driver is async. Each database
//! task runs on a small runtime of this engine's own, and the blocking caller waits for its
//! result with a deadline, so no caller context (async or not) can deadlock it.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, mpsc};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use mfa_core::lockout::{FailureEffect, LimitState, LockoutPolicy};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres_rustls::MakeRustlsConnect;
use zeroize::Zeroizing;

use super::sealing::Sealer;
use super::{
    CallerClass, Limits, RecordStore, StoreError, Txn, UserRecord, decode_record,
    ensure_private_dir, take_instance_lock,
};
use crate::config::{StoreConfig, connection_config};
use crate::username;

mod sends;
pub use sends::PgSendLedger;

const ENGINE: &str = "postgres";
/// The schema this daemon writes. A database migrated by a newer daemon is refused.
pub const SCHEMA_VERSION: i32 = 2;
/// The advisory lock key under which the schema is created or migrated.
const MIGRATION_LOCK: i64 = 0x6d66_615f_7363_6800;
/// Seeds of `hashtextextended` for the per-name advisory locks of records and of limits.
const RECORD_LOCK_SEED: i64 = 0;
const LIMITS_LOCK_SEED: i64 = 1;
/// Seed of the per-key advisory locks of send counts.
const SENDS_LOCK_SEED: i64 = 2;
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

const LOCK_NAME: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))";
const SELECT_RECORD: &str = "SELECT data FROM mfa_users WHERE name = $1";
const UPSERT_RECORD: &str = "INSERT INTO mfa_users (name, data, updated_by) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, updated_at = now(), \
     updated_by = EXCLUDED.updated_by";
const SELECT_LIMITS: &str = "SELECT state FROM mfa_limits WHERE name = $1";

/// Version 1 of the schema.
const SCHEMA_V1: &str = "
CREATE TABLE mfa_users (
    name text PRIMARY KEY,
    data bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);
CREATE TABLE mfa_limits (
    name text PRIMARY KEY,
    state jsonb NOT NULL,
    expires_at bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mfa_limits_expires_at ON mfa_limits (expires_at);
";

/// Version 2: the send limits' counts (one row per counted send and key), shared like the
/// attempt limits.
const SCHEMA_V2: &str = "
CREATE TABLE mfa_sends (
    key text NOT NULL,
    at bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX mfa_sends_key_at ON mfa_sends (key, at);
CREATE INDEX mfa_sends_expires_at ON mfa_sends (expires_at);
";

/// What a database task failed with.
#[derive(Debug)]
enum PgError {
    /// Unreachable, timed out, or the server refused: fail closed and say so.
    Unavailable(String),
    /// A row that cannot be opened or parsed.
    Corrupt { name: String, why: String },
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        PgError::Unavailable(describe(&e))
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        PgError::Unavailable(match e {
            deadpool_postgres::PoolError::Backend(e) => describe(&e),
            deadpool_postgres::PoolError::Timeout(_) => "no connection in time".to_owned(),
            other => other.to_string(),
        })
    }
}

/// A driver error with its cause (the driver's own message alone is often just "error
/// connecting to server").
fn describe(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The connection pool, the runtime it runs on, and the key: shared by the record store
/// and the limits of one daemon.
pub struct Pg {
    /// Root's callers' connections (`pool_size`).
    pool: Pool,
    /// Every other caller's: a quarter of `pool_size`, at least one, apart from root's.
    users_pool: Pool,
    runtime: Option<tokio::runtime::Runtime>,
    sealer: Arc<Sealer>,
    timeout: Duration,
    schema_ready: Arc<AtomicBool>,
    /// Whether the last task found the database unreachable (a line is logged on each
    /// change).
    down: AtomicBool,
    hostname: String,
    /// Held for the daemon's lifetime: one daemon per state directory, as with files.
    _instance_lock: nix::fcntl::Flock<std::fs::File>,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("pool_size", &self.pool.status().max_size)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; the daemon may be ending inside its
        // own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What `[store]` names, read and checked: the connection, the key and the TLS set-up.
pub struct Settings {
    connection: tokio_postgres::Config,
    sealer: Sealer,
    tls: MakeRustlsConnect,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("hosts", &self.connection.get_hosts())
            .field("user", &self.connection.get_user())
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Reads `url_file` (or `url`), `key_file` and `ca_file`; connects to nothing. What
    /// `mfa-daemon --check-config` checks, and the first step of [`Pg::open`].
    pub fn read(config: &StoreConfig) -> Result<Settings, (&'static str, String)> {
        let credentials = crate::delivery::credential::credentials_directory();
        let text = match (&config.url, &config.url_file) {
            (Some(url), _) => Zeroizing::new(url.clone()),
            (None, Some(path)) => Zeroizing::new(
                crate::delivery::credential::read_credential(
                    "store.url_file",
                    path,
                    credentials.as_deref(),
                )
                .map_err(|e| ("store.url_file", e.problem))?
                .expose()
                .to_owned(),
            ),
            (None, None) => return Err(("store.engine", "needs `url` or `url_file`".to_owned())),
        };
        let key = if config.url.is_some() {
            "store.url"
        } else {
            "store.url_file"
        };
        let mut connection =
            connection_config(&text, config.url.is_none()).map_err(|e| (key, e))?;
        connection.connect_timeout(config.timeout);
        connection.keepalives_idle(Duration::from_secs(30));
        let key_file = config
            .key_file
            .as_deref()
            .ok_or(("store.key_file", "is required".to_owned()))?;
        let key_file = if key_file.is_absolute() {
            key_file.to_owned()
        } else {
            credentials
                .ok_or((
                    "store.key_file",
                    format!(
                        "{} is a relative path, which is looked up in $CREDENTIALS_DIRECTORY \
                         (systemd LoadCredential=), but that is not set: give an absolute path",
                        key_file.display()
                    ),
                ))?
                .join(key_file)
        };
        let sealer = Sealer::from_key_file(&key_file).map_err(|e| ("store.key_file", e))?;
        let tls = tls_connector(config.ca_file.as_deref())?;
        Ok(Settings {
            connection,
            sealer,
            tls,
        })
    }
}

impl Pg {
    /// Reads the connection string and the key, and sets up the pool; connects to nothing
    /// yet (see the module's documentation). Errors name the `[store]` key at fault.
    pub fn open(config: &StoreConfig, state_dir: &Path) -> Result<Arc<Pg>, (&'static str, String)> {
        let Settings {
            connection: pg_config,
            sealer,
            tls,
        } = Settings::read(config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mfa-postgres")
            .enable_all()
            .build()
            .map_err(|e| {
                (
                    "store.engine",
                    format!("cannot start the database runtime: {e}"),
                )
            })?;
        let pool = |size: usize| {
            let manager = Manager::from_config(
                pg_config.clone(),
                tls.clone(),
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            let _inside = runtime.enter();
            Pool::builder(manager)
                .max_size(size)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(config.timeout))
                .create_timeout(Some(config.timeout))
                .recycle_timeout(Some(config.timeout))
                .build()
                .map_err(|e| ("store.engine", format!("cannot set up the pool: {e}")))
        };
        let (pool, users_pool) = (
            pool(config.pool_size)?,
            pool(users_share(config.pool_size))?,
        );
        let state_error = |e: StoreError| ("state_dir", e.to_string());
        ensure_private_dir(state_dir).map_err(state_error)?;
        let instance_lock = take_instance_lock(state_dir).map_err(state_error)?;
        Ok(Arc::new(Pg {
            pool,
            users_pool,
            runtime: Some(runtime),
            sealer: Arc::new(sealer),
            timeout: config.timeout,
            schema_ready: Arc::new(AtomicBool::new(false)),
            down: AtomicBool::new(false),
            hostname: crate::accounts::hostname(),
            _instance_lock: instance_lock,
        }))
    }

    /// The pool of the class of caller this thread works for.
    fn caller_pool(&self) -> Pool {
        match CallerClass::current() {
            CallerClass::Root => self.pool.clone(),
            CallerClass::User => self.users_pool.clone(),
        }
    }

    /// The names `query` (one text column) returns, sorted.
    fn names(&self, query: &'static str) -> Result<Vec<String>, StoreError> {
        let mut names = self.run(|pool, ready| async move {
            let client = client(&pool, &ready).await?;
            let rows = client.query(query, &[]).await?;
            Ok(rows
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect::<Vec<_>>())
        })?;
        names.sort();
        Ok(names)
    }

    /// Connects once and migrates the schema, and logs the outcome: called at start so that
    /// a wrong password or an unreachable server shows in the log at once, not at the first
    /// login.
    pub fn check(&self) -> Result<(), StoreError> {
        self.run(|pool, ready| async move { client(&pool, &ready).await.map(drop) })
    }

    /// Runs a database task on the engine's runtime and waits for it, at most a little
    /// longer than the task may take (its own steps are bounded by `timeout` each).
    fn run<T, F, Fut>(&self, task: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pool, Arc<AtomicBool>) -> Fut,
        Fut: Future<Output = Result<T, PgError>> + Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Err(self.unavailable("the daemon is stopping".to_owned()));
        };
        let (done, result) = mpsc::sync_channel(1);
        let future = task(self.caller_pool(), self.schema_ready.clone());
        let deadline = self.timeout * 3;
        runtime.spawn(async move {
            let outcome = match tokio::time::timeout(deadline, future).await {
                Ok(outcome) => outcome,
                Err(_) => Err(PgError::Unavailable(format!(
                    "no answer within {}",
                    humantime::format_duration(deadline)
                ))),
            };
            let _ = done.send(outcome);
        });
        let outcome = result
            .recv_timeout(deadline + Duration::from_secs(1))
            .unwrap_or_else(|_| Err(PgError::Unavailable("no answer in time".to_owned())));
        self.settle(outcome)
    }

    /// Turns a task's outcome into the store's, logging when the database goes away or
    /// comes back.
    fn settle<T>(&self, outcome: Result<T, PgError>) -> Result<T, StoreError> {
        match outcome {
            Ok(value) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    eprintln!("mfa-daemon: PostgreSQL reachable again; logins are served");
                }
                Ok(value)
            }
            Err(PgError::Unavailable(why)) => Err(self.unavailable(why)),
            Err(PgError::Corrupt { name, why }) => Err(StoreError::Corrupt {
                path: format!("postgres:mfa_users/{name}").into(),
                why,
            }),
        }
    }

    fn unavailable(&self, why: String) -> StoreError {
        if !self.down.swap(true, Ordering::Relaxed) {
            eprintln!(
                "mfa-daemon: PostgreSQL unreachable ({why}); logins fail closed until it is back"
            );
        }
        StoreError::Unavailable {
            engine: ENGINE,
            why,
        }
    }
}

/// Connections for callers other than root: a quarter of root's, at least one.
fn users_share(pool_size: usize) -> usize {
    (pool_size / 4).max(1)
}

/// The TLS set-up: the CA file's certificates, or the system's roots.
fn tls_connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, (&'static str, String)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ("store.ca_file", format!("cannot set up TLS: {e}")))?;
    let tls = match ca_file {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let pem = std::fs::read(path).map_err(|e| {
                (
                    "store.ca_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    (
                        "store.ca_file",
                        format!("{} holds no PEM certificate: {e}", path.display()),
                    )
                })?;
                roots.add(cert).map_err(|e| {
                    (
                        "store.ca_file",
                        format!("{}: unusable certificate: {e}", path.display()),
                    )
                })?;
            }
            if roots.is_empty() {
                return Err((
                    "store.ca_file",
                    format!("{} holds no PEM certificate", path.display()),
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| {
                    (
                        "store.ca_file",
                        format!("cannot load the system's roots: {e}"),
                    )
                })?
                .with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(tls))
}

/// A connection from the pool, with the schema in place.
async fn client(pool: &Pool, schema_ready: &AtomicBool) -> Result<Object, PgError> {
    let mut client = pool.get().await?;
    if !schema_ready.load(Ordering::Acquire) {
        migrate(&mut client).await?;
        schema_ready.store(true, Ordering::Release);
    }
    Ok(client)
}

/// Creates or migrates the schema, once across hosts starting together.
async fn migrate(client: &mut Object) -> Result<(), PgError> {
    let txn = client.transaction().await?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    txn.batch_execute("CREATE TABLE IF NOT EXISTS mfa_schema (version integer NOT NULL)")
        .await?;
    let found: Option<i32> = txn
        .query_opt("SELECT max(version) FROM mfa_schema", &[])
        .await?
        .and_then(|row| row.get(0));
    let steps: [(i32, &str); 2] = [(1, SCHEMA_V1), (2, SCHEMA_V2)];
    match found {
        Some(version) if version > SCHEMA_VERSION => {
            return Err(PgError::Unavailable(format!(
                "the database's schema is version {version}, written by a newer pam-mfa; this \
                 daemon knows up to {SCHEMA_VERSION}: upgrade it"
            )));
        }
        Some(version) if version == SCHEMA_VERSION => {}
        found => {
            let from = found.unwrap_or(0);
            for (version, sql) in steps.iter().filter(|(v, _)| *v > from) {
                txn.batch_execute(sql).await?;
                txn.execute("INSERT INTO mfa_schema (version) VALUES ($1)", &[version])
                    .await?;
            }
            eprintln!(
                "mfa-daemon: PostgreSQL schema {} version {SCHEMA_VERSION}",
                if found.is_none() {
                    "created at"
                } else {
                    "migrated to"
                }
            );
        }
    }
    txn.commit().await?;
    Ok(())
}

/// The record engine on [`Pg`].
#[derive(Debug)]
pub struct PgStore {
    pg: Arc<Pg>,
}

impl PgStore {
    /// The record store on `pg`.
    pub fn new(pg: Arc<Pg>) -> PgStore {
        PgStore { pg }
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
    let plain = sealer.open(name, data).map_err(corrupt)?;
    decode_record(Path::new("record"), &plain).map_err(|e| match e {
        StoreError::Corrupt { why, .. } => corrupt(why),
        other => corrupt(other.to_string()),
    })
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
        let name = user.to_owned();
        let sealer = self.pg.sealer.clone();
        let hostname = self.pg.hostname.clone();
        let step = self.pg.timeout;
        let Some(runtime) = &self.pg.runtime else {
            return Err(self.pg.unavailable("the daemon is stopping".to_owned()));
        };
        let pool = self.pg.caller_pool();
        let ready = self.pg.schema_ready.clone();
        runtime.spawn(async move {
            let began = tokio::time::timeout(step * 2, async {
                let client = client(&pool, &ready).await?;
                let (lock, select) = tokio::try_join!(
                    client.prepare_cached(LOCK_NAME),
                    client.prepare_cached(SELECT_RECORD),
                )?;
                // Sent together (the driver pipelines futures polled at once), answered in
                // order: one round trip to begin, lock and read.
                let lock_params: [&(dyn ToSql + Sync); 2] = [&name, &RECORD_LOCK_SEED];
                let select_params: [&(dyn ToSql + Sync); 1] = [&name];
                let ((), _, row) = tokio::try_join!(
                    client.batch_execute("BEGIN"),
                    client.execute(&lock, &lock_params),
                    client.query_opt(&select, &select_params),
                )?;
                let record = match row {
                    Some(row) => Some(open_row(&sealer, &name, row.get(0))?),
                    None => None,
                };
                Ok::<_, PgError>((client, record))
            })
            .await
            .unwrap_or_else(|_| Err(PgError::Unavailable("no answer in time".to_owned())));
            let client = match began {
                Ok((client, record)) => {
                    if read_tx.send(Ok(record)).is_err() {
                        let _ = client.batch_execute("ROLLBACK").await;
                        return;
                    }
                    client
                }
                Err(e) => {
                    let _ = read_tx.send(Err(e));
                    return;
                }
            };
            // The caller decides; dropping the transaction rolls back.
            let Ok(data) = decide_rx.await else {
                if client.batch_execute("ROLLBACK").await.is_err() {
                    drop(Object::take(client));
                }
                return;
            };
            let committed = tokio::time::timeout(step, async {
                let upsert = client.prepare_cached(UPSERT_RECORD).await?;
                // One round trip: the write and the COMMIT; an error in the write aborts the
                // transaction, and the COMMIT then fails too.
                let params: [&(dyn ToSql + Sync); 3] = [&name, &data, &hostname];
                tokio::try_join!(
                    client.execute(&upsert, &params),
                    client.batch_execute("COMMIT"),
                )?;
                Ok::<_, PgError>(())
            })
            .await
            .unwrap_or_else(|_| Err(PgError::Unavailable("no answer in time".to_owned())));
            if committed.is_err() {
                // Whatever state the connection is in, it is not reused.
                drop(Object::take(client));
            }
            let _ = done_tx.send(committed);
        });
        let read = read_rx
            .recv_timeout(step * 2 + Duration::from_secs(1))
            .unwrap_or_else(|_| Err(PgError::Unavailable("no answer in time".to_owned())));
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
        self.pg.run(|pool, ready| async move {
            let client = client(&pool, &ready).await?;
            let select = client.prepare_cached(SELECT_RECORD).await?;
            let row = client.query_opt(&select, &[&name]).await?;
            row.map(|row| open_row(&sealer, &name, row.get(0)))
                .transpose()
        })
    }

    fn users(&self) -> Result<Vec<String>, StoreError> {
        self.pg.names("SELECT name FROM mfa_users")
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
        let json = Zeroizing::new(serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
            path: format!("postgres:mfa_users/{}", self.name).into(),
            why: format!("cannot serialize: {e}"),
        })?);
        let sealed = self
            .pg
            .sealer
            .seal(&self.name, &json)
            .map_err(|why| StoreError::Corrupt {
                path: format!("postgres:mfa_users/{}", self.name).into(),
                why,
            })?;
        if self.decide.send(sealed).is_err() {
            return Err(self
                .pg
                .unavailable("the transaction ended early".to_owned()));
        }
        let outcome = self
            .done
            .recv_timeout(self.pg.timeout + Duration::from_secs(1))
            .unwrap_or_else(|_| Err(PgError::Unavailable("no answer in time".to_owned())));
        self.pg.settle(outcome)
    }
}

/// The attempt limits on [`Pg`]: one row per name, changed in a transaction under the
/// name's advisory lock, so that failures counted on every host add up.
#[derive(Debug)]
pub struct PgLimits {
    pg: Arc<Pg>,
    policy: RwLock<LockoutPolicy>,
    failures: AtomicU64,
}

impl PgLimits {
    /// The limits on `pg`.
    pub fn new(pg: Arc<Pg>, policy: LockoutPolicy) -> PgLimits {
        PgLimits {
            pg,
            policy: RwLock::new(policy),
            failures: AtomicU64::new(0),
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
        self.pg.run(|pool, ready| async move {
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
        self.pg.run(move |pool, ready| async move {
            let mut client = client(&pool, &ready).await?;
            let txn = client.transaction().await?;
            txn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))",
                &[&name, &LIMITS_LOCK_SEED],
            )
            .await?;
            let mut state = txn
                .query_opt("SELECT state FROM mfa_limits WHERE name = $1", &[&name])
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
                let vars = serde_json::json!({
                    "now": now,
                    "since": now.saturating_sub(window),
                });
                let now = i64::try_from(now).unwrap_or(i64::MAX);
                client
                    .execute("DELETE FROM mfa_limits WHERE expires_at < $1", &[&now])
                    .await?;
                // Bounded like the file engine's table: past MAX_LIMIT_ROWS the rows that
                // matter least go first, but never one with a failure inside the window or
                // a lock in force. While a flood keeps more than that many names inside
                // their window, the table holds them all (no overflow row: the rows are
                // the database's disk, not the daemon's memory) until the window passes.
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
            }
            Ok(result)
        })
    }
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
        let prune = (self.failures.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY
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
        self.pg.names("SELECT name FROM mfa_limits")
    }
}
