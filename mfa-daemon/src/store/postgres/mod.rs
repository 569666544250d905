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
use std::sync::{Arc, mpsc};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};

use super::sealing::Sealer;
use super::{CallerClass, StoreError, ensure_private_dir, take_instance_lock};
use crate::config::StoreConfig;

mod limits;
mod records;
mod schema;
mod sends;
mod settings;
pub use limits::PgLimits;
pub use records::PgStore;
pub use schema::SCHEMA_VERSION;
pub use sends::PgSendLedger;
pub use settings::{Settings, SettingsError, TlsError};

const ENGINE: &str = "postgres";
/// Takes a transaction-scoped advisory lock on a name (`$1`) in one of the lock spaces
/// (`$2`, the seed of `hashtextextended`): records, limits and send counts each have one.
const LOCK_NAME: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))";
/// Seed of the per-key advisory locks of send counts.
const SENDS_LOCK_SEED: i64 = 2;

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
    /// Failures counted through this host's limits of either class: every
    /// `limits::PRUNE_EVERY`, rows nobody needs any more are deleted.
    limit_failures: AtomicU64,
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

/// Why the postgres engine could not be set up. [`OpenError::key`] names the config key
/// at fault.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// What `[store]` names cannot be used.
    #[error("{0}")]
    Settings(#[from] SettingsError),
    /// The engine's runtime cannot be started.
    #[error("cannot start the database runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The connection pool cannot be built.
    #[error("cannot set up the pool: {0}")]
    Pool(#[source] deadpool_postgres::BuildError),
    /// The state directory cannot be used (or another daemon holds it).
    #[error("{0}")]
    StateDir(#[source] StoreError),
}

impl OpenError {
    /// The config key at fault, e.g. `store.key_file` or `state_dir`.
    pub fn key(&self) -> &'static str {
        match self {
            OpenError::Settings(e) => e.key(),
            OpenError::Runtime(_) | OpenError::Pool(_) => "store.engine",
            OpenError::StateDir(_) => "state_dir",
        }
    }
}

impl Pg {
    /// Reads the connection string and the key, and sets up the pool; connects to nothing
    /// yet (see the module's documentation). Errors name the `[store]` key at fault.
    pub fn open(config: &StoreConfig, state_dir: &Path) -> Result<Arc<Pg>, OpenError> {
        let settings = Settings::read(config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mfa-postgres")
            .enable_all()
            .build()
            .map_err(OpenError::Runtime)?;
        let pool = |size: usize| {
            let manager = Manager::from_config(
                settings.connection.clone(),
                settings.tls.clone(),
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
                .map_err(OpenError::Pool)
        };
        let (pool, users_pool) = (
            pool(config.pool_size)?,
            pool(users_share(config.pool_size))?,
        );
        ensure_private_dir(state_dir).map_err(OpenError::StateDir)?;
        let instance_lock = take_instance_lock(state_dir).map_err(OpenError::StateDir)?;
        Ok(Arc::new(Pg {
            pool,
            users_pool,
            runtime: Some(runtime),
            sealer: Arc::new(settings.sealer),
            timeout: config.timeout,
            schema_ready: Arc::new(AtomicBool::new(false)),
            down: AtomicBool::new(false),
            hostname: crate::accounts::hostname(),
            limit_failures: AtomicU64::new(0),
            _instance_lock: instance_lock,
        }))
    }

    /// The connections of callers of `class`.
    fn pool(&self, class: CallerClass) -> Pool {
        match class {
            CallerClass::Root => self.pool.clone(),
            CallerClass::User => self.users_pool.clone(),
        }
    }

    /// The names `query` (one text column) returns, sorted, asked on `class`'s connections.
    fn names(&self, class: CallerClass, query: &'static str) -> Result<Vec<String>, StoreError> {
        let mut names = self.run(class, |pool, ready| async move {
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
        self.run(CallerClass::Root, |pool, ready| async move {
            client(&pool, &ready).await.map(drop)
        })
    }

    /// Runs a database task on `class`'s connections on the engine's runtime and waits for
    /// it, at most a little longer than the task may take (its own steps are bounded by
    /// `timeout` each).
    fn run<T, F, Fut>(&self, class: CallerClass, task: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pool, Arc<AtomicBool>) -> Fut,
        Fut: Future<Output = Result<T, PgError>> + Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Err(self.unavailable("the daemon is stopping".to_owned()));
        };
        let (done, result) = mpsc::sync_channel(1);
        let future = task(self.pool(class), self.schema_ready.clone());
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
                    tracing::warn!("PostgreSQL reachable again; logins are served");
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
            tracing::error!("PostgreSQL unreachable ({why}); logins fail closed until it is back");
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

/// A connection from the pool, with the schema in place.
async fn client(pool: &Pool, schema_ready: &AtomicBool) -> Result<Object, PgError> {
    let mut client = pool.get().await?;
    if !schema_ready.load(Ordering::Acquire) {
        schema::migrate(&mut client).await?;
        schema_ready.store(true, Ordering::Release);
    }
    Ok(client)
}
