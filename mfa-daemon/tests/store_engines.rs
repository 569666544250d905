//! The store interface's promises, tested once and run against each engine: the file engine
//! on a temp directory, and the PostgreSQL engine on a throw-away cluster
//! (`mfa_tests::postgres::Cluster`). docs/DESIGN.md invariants 1–3 at the level of the trait:
//! one winner among racing transactions, committed means durable (a new store instance,
//! as after a restart, reads it), nothing half-written, a record that cannot be read is an
//! error that leaves it as it was. The daemon-level suite is tests/tests/engines.rs.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use mfa_core::factor::totp::{Algorithm, Secret, TotpParams};
use mfa_core::lockout::FailureEffect;
use mfa_daemon::clock::SystemClock;
use mfa_daemon::config::Config;
use mfa_daemon::decisions::Deciders;
use mfa_daemon::store::attempt_limiter::AttemptLimiter;
use mfa_daemon::store::files::FileStore;
use mfa_daemon::store::postgres::{Pg, PgLimits, PgStore};
use mfa_daemon::store::{CallerClass, Limits, RecordStore, StoreError, TotpFactor, UserRecord};
use mfa_tests::postgres::Cluster;

const SECRET: [u8; 20] = *b"twenty-byte-secret!!";

fn with_app(last_step: u64) -> UserRecord {
    UserRecord {
        totp: vec![TotpFactor {
            label: "app".to_owned(),
            params: TotpParams {
                algorithm: Algorithm::Sha1,
                digits: 6,
                period: 30,
            },
            secret: Secret::from_bytes(SECRET.to_vec()),
            enrolled_at: 1,
            last_step,
            skew: None,
        }],
        ..UserRecord::default()
    }
}

/// Engines under test: a way to open a fresh instance on the same data (a restart).
trait Engine: Sync {
    fn open(&self) -> Box<dyn RecordStore>;
    /// Replaces the stored form of `user`'s record with garbage; returns what it wrote.
    fn corrupt(&self, user: &str) -> Vec<u8>;
    /// The stored form of `user`'s record, as bytes.
    fn stored(&self, user: &str) -> Vec<u8>;
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Engine for Files {
    fn open(&self) -> Box<dyn RecordStore> {
        // One daemon per state directory: wait for the previous instance's lock to go.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match FileStore::open(self.dir.path()) {
                Ok(store) => return Box::new(store),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn corrupt(&self, user: &str) -> Vec<u8> {
        let garbage = vec![b'g'; 8192];
        std::fs::write(self.dir.path().join(format!("users/{user}.rec")), &garbage).unwrap();
        garbage
    }

    fn stored(&self, user: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(format!("users/{user}.rec"))).unwrap()
    }
}

struct Postgres {
    cluster: Cluster,
    dir: tempfile::TempDir,
    config: Config,
    /// Instances get a state directory each (the instance lock is per directory).
    instances: std::sync::atomic::AtomicU32,
}

impl Postgres {
    fn new() -> Postgres {
        Postgres::with_timeout("3s")
    }

    /// `timeout` bounds each wait for the database, the wait for a user's lock included:
    /// short where a test waits for it to pass, the default where transactions queue.
    fn with_timeout(timeout: &str) -> Postgres {
        let cluster = Cluster::start();
        let dir = tempfile::tempdir().unwrap();
        // The harness's section has pool_size = 4: users get one connection.
        let text = format!(
            "{}timeout = \"{timeout}\"\n",
            cluster.store_config(dir.path())
        );
        let config = Config::parse(Path::new("test.toml"), &text).unwrap();
        Postgres {
            cluster,
            dir,
            config,
            instances: Default::default(),
        }
    }

    fn pg(&self) -> Arc<Pg> {
        let n = self
            .instances
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let state = self.dir.path().join(format!("state{n}"));
        Pg::open(&self.config.store, &state).unwrap_or_else(|e| panic!("{}: {e}", e.key()))
    }
}

impl Engine for Postgres {
    fn open(&self) -> Box<dyn RecordStore> {
        Box::new(PgStore::new(self.pg(), CallerClass::Root))
    }

    fn corrupt(&self, user: &str) -> Vec<u8> {
        self.cluster.psql(&format!(
            "update mfa_users set data = 'garbage'::bytea where name = '{user}'"
        ));
        b"garbage".to_vec()
    }

    fn stored(&self, user: &str) -> Vec<u8> {
        let hex = self.cluster.psql(&format!(
            "select encode(data, 'hex') from mfa_users where name = '{user}'"
        ));
        (0..hex.trim().len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex.trim()[i..i + 2], 16).unwrap())
            .collect()
    }
}

/// Thirty transactions race to use step 100 of one user's app: exactly one sees it unused.
fn one_winner_among_thirty(engine: &dyn Engine) {
    let store = engine.open();
    store.update("racer", |r| *r = with_app(99)).unwrap();
    let barrier = Barrier::new(30);
    let wins: usize = thread::scope(|scope| {
        let racers: Vec<_> = (0..30)
            .map(|_| {
                let (store, barrier) = (&store, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    store
                        .update("racer", |r| {
                            let app = &mut r.totp[0];
                            if app.last_step < 100 {
                                app.last_step = 100;
                                true
                            } else {
                                false
                            }
                        })
                        .unwrap()
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|r| usize::from(r.join().unwrap()))
            .sum()
    });
    assert_eq!(wins, 1);
    assert_eq!(store.load("racer").unwrap().unwrap().totp[0].last_step, 100);
}

/// What a commit returned for is there for the next instance; what was not committed is not.
fn committed_is_durable_and_uncommitted_is_not(engine: &dyn Engine) {
    let store = engine.open();
    store.update("dora", |r| *r = with_app(5)).unwrap();
    let txn = store.begin("dora").unwrap();
    assert_eq!(txn.record().totp[0].last_step, 5);
    drop(txn);
    // A transaction dropped without commit releases the user at once.
    store.update("dora", |r| r.totp[0].last_step = 6).unwrap();
    drop(store);
    let store = engine.open();
    assert_eq!(store.load("dora").unwrap().unwrap(), with_app(6));
    assert!(store.load("nobody-here").unwrap().is_none());
    assert_eq!(store.users().unwrap(), ["dora"]);
}

/// A record that cannot be read fails every read and every change, and stays as it was.
fn corrupt_record_fails_closed_and_stays(engine: &dyn Engine) {
    let store = engine.open();
    store.update("carl", |r| *r = with_app(1)).unwrap();
    let garbage = engine.corrupt("carl");
    let store = {
        drop(store);
        engine.open()
    };
    let refused = store.load("carl").unwrap_err();
    assert!(matches!(refused, StoreError::Corrupt { .. }), "{refused}");
    assert!(store.update("carl", |r| *r = with_app(2)).is_err());
    assert_eq!(engine.stored("carl"), garbage);
}

/// Invalid names are refused before they reach a path or a query.
fn invalid_names_are_refused(engine: &dyn Engine) {
    let store = engine.open();
    for name in ["", "../x", "a/b", ".hidden", "-flag"] {
        assert!(matches!(store.load(name), Err(StoreError::InvalidUser)));
        assert!(matches!(store.begin(name), Err(StoreError::InvalidUser)));
    }
}

#[test]
fn files_one_winner_among_thirty() {
    one_winner_among_thirty(&Files::new());
}

#[test]
fn files_committed_is_durable_and_uncommitted_is_not() {
    committed_is_durable_and_uncommitted_is_not(&Files::new());
}

#[test]
fn files_corrupt_record_fails_closed_and_stays() {
    corrupt_record_fails_closed_and_stays(&Files::new());
}

#[test]
fn files_invalid_names_are_refused() {
    invalid_names_are_refused(&Files::new());
}

/// The PostgreSQL half needs root (the cluster runs as `nobody`) and the server binaries.
fn postgres_ready() -> bool {
    mfa_tests::root_suite_ready()
}

#[test]
fn postgres_one_winner_among_thirty() {
    if postgres_ready() {
        one_winner_among_thirty(&Postgres::new());
    }
}

#[test]
fn postgres_committed_is_durable_and_uncommitted_is_not() {
    if postgres_ready() {
        committed_is_durable_and_uncommitted_is_not(&Postgres::new());
    }
}

#[test]
fn postgres_corrupt_record_fails_closed_and_stays() {
    if postgres_ready() {
        corrupt_record_fails_closed_and_stays(&Postgres::new());
    }
}

#[test]
fn postgres_invalid_names_are_refused() {
    if postgres_ready() {
        invalid_names_are_refused(&Postgres::new());
    }
}

/// Two hosts race on one user: one winner across both, and each sees the other's commit at
/// once (no cache).
#[test]
fn postgres_two_hosts_share_one_winner_and_see_each_other_at_once() {
    if !postgres_ready() {
        return;
    }
    let engine = Postgres::new();
    let (a, b) = (engine.open(), engine.open());
    a.update("fleet", |r| *r = with_app(10)).unwrap();
    assert_eq!(b.load("fleet").unwrap().unwrap().totp[0].last_step, 10);
    let barrier = Barrier::new(20);
    let wins: usize = thread::scope(|scope| {
        let racers: Vec<_> = (0..20)
            .map(|i| {
                let store = if i % 2 == 0 { &a } else { &b };
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    store
                        .update("fleet", |r| {
                            let fresh = r.totp[0].last_step < 11;
                            r.totp[0].last_step = 11;
                            fresh
                        })
                        .unwrap()
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|r| usize::from(r.join().unwrap()))
            .sum()
    });
    assert_eq!(wins, 1);
    b.update("fleet", |r| r.totp.clear()).unwrap();
    assert!(a.load("fleet").unwrap().unwrap().totp.is_empty());
}

/// A dump has no seed; a host with another key cannot open a record and changes nothing.
#[test]
fn postgres_records_are_sealed_with_the_hosts_key() {
    if !postgres_ready() {
        return;
    }
    let engine = Postgres::new();
    engine
        .open()
        .update("sealed", |r| *r = with_app(3))
        .unwrap();
    let dump = engine.cluster.pg_dump();
    let base32 = data_encoding::BASE32_NOPAD.encode(&SECRET);
    assert!(!dump.contains(&base32), "the seed is in the dump");
    let stored = engine.stored("sealed");
    assert!(!stored.windows(SECRET.len()).any(|w| w == SECRET));
    let json_secret: Vec<u8> = serde_json::to_vec(&with_app(3)).unwrap();
    assert!(
        !stored
            .windows(16)
            .any(|w| json_secret.windows(16).any(|j| j == w))
    );

    let other_dir = tempfile::tempdir().unwrap();
    let text = engine
        .cluster
        .store_config_with_key(other_dir.path(), &[9; 32]);
    let config = Config::parse(Path::new("other.toml"), &text).unwrap();
    let stranger: Box<dyn RecordStore> = Box::new(PgStore::new(
        Pg::open(&config.store, &other_dir.path().join("state"))
            .unwrap_or_else(|e| panic!("{}: {e}", e.key())),
        CallerClass::Root,
    ));
    let refused = stranger.load("sealed").unwrap_err();
    assert!(refused.to_string().contains("key_file"), "{refused}");
    assert!(stranger.update("sealed", |r| r.totp.clear()).is_err());
    assert_eq!(engine.stored("sealed"), stored);
}

/// PostgreSQL stopped: every call fails closed within the timeout, with Unavailable; started
/// again: the same store instance works, with no reopening.
#[test]
fn postgres_down_fails_closed_and_recovers_by_itself() {
    if !postgres_ready() {
        return;
    }
    let engine = Postgres::with_timeout("1s");
    let store = engine.open();
    store.update("patient", |r| *r = with_app(1)).unwrap();
    engine.cluster.stop();
    let asked = Instant::now();
    let refused = store.update("patient", |r| r.totp[0].last_step = 2);
    assert!(
        matches!(refused, Err(StoreError::Unavailable { .. })),
        "{refused:?}"
    );
    assert!(matches!(
        store.load("patient"),
        Err(StoreError::Unavailable { .. })
    ));
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "took {:?}",
        asked.elapsed()
    );
    engine.cluster.start_again();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.update("patient", |r| r.totp[0].last_step = 2) {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("did not recover: {e}"),
        }
    }
    assert_eq!(store.load("patient").unwrap().unwrap().totp[0].last_step, 2);
}

/// Failures counted on two hosts add up to one lockout that both see; a clear on one is
/// seen by the other.
#[test]
fn postgres_limits_add_up_across_hosts() {
    if !postgres_ready() {
        return;
    }
    let engine = Postgres::new();
    let policy = engine.config.limits.policy();
    let (a, b) = (
        PgLimits::new(engine.pg(), CallerClass::Root, policy.clone()),
        PgLimits::new(engine.pg(), CallerClass::Root, policy.clone()),
    );
    let now = 1_800_000_000;
    let mut effects = Vec::new();
    for i in 0..policy.max_failures {
        let host: &dyn Limits = if i % 2 == 0 { &a } else { &b };
        effects.push(host.record_failure("lock", "192.0.2.7", now).unwrap());
    }
    assert!(
        matches!(effects.last(), Some(FailureEffect::SourceLocked(_))),
        "{effects:?}"
    );
    for host in [&a as &dyn Limits, &b] {
        assert!(
            host.source_locked("lock", "192.0.2.7", now)
                .unwrap()
                .is_some()
        );
        assert!(
            host.source_locked("lock", "192.0.2.8", now)
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(a.names().unwrap(), ["lock"]);
    b.clear("lock").unwrap();
    assert!(a.source_locked("lock", "192.0.2.7", now).unwrap().is_none());
    assert!(a.names().unwrap().is_empty());
}

/// The file engine's limits keep their promise of the same interface.
#[test]
fn files_limits_lock_and_clear_through_the_interface() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Config::default().limits.policy();
    let (limits, _) = AttemptLimiter::open(dir.path(), policy.clone()).unwrap();
    let limits: &dyn Limits = &limits;
    let now = 1_800_000_000;
    for _ in 0..policy.max_failures {
        limits.record_failure("lock", "192.0.2.7", now).unwrap();
    }
    assert!(
        limits
            .source_locked("lock", "192.0.2.7", now)
            .unwrap()
            .is_some()
    );
    limits.clear("lock").unwrap();
    assert!(
        limits
            .source_locked("lock", "192.0.2.7", now)
            .unwrap()
            .is_none()
    );
}

/// `mfa-daemon --import-records DIR` copies a file engine's records into the database once:
/// a second run leaves them, and a user already in the database is not overwritten.
#[test]
fn postgres_import_copies_file_records_once() {
    if !postgres_ready() {
        return;
    }
    let engine = Postgres::new();
    let files = Files::new();
    {
        let source = files.open();
        source.update("imp1", |r| *r = with_app(7)).unwrap();
        source.update("imp2", |r| *r = with_app(8)).unwrap();
    }
    engine.open().update("imp2", |r| *r = with_app(99)).unwrap();
    let config = engine.dir.path().join("import.toml");
    let store_section = engine.cluster.store_config(engine.dir.path());
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n{store_section}",
            engine.dir.path().join("import-state").display()
        ),
    )
    .unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mfa-daemon"))
            .arg("--config")
            .arg(&config)
            .arg("--import-records")
            .arg(files.dir.path())
            .output()
            .unwrap()
    };
    let first = run();
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{first:?}");
    assert!(said.contains("imported 1 record(s); 1 left"), "{said}");
    let store = engine.open();
    assert_eq!(store.load("imp1").unwrap().unwrap(), with_app(7));
    assert_eq!(store.load("imp2").unwrap().unwrap(), with_app(99));
    drop(store);
    let again = run();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("imported 0 record(s); 2 left"),
        "{again:?}"
    );
}

/// Local users' work draws on its own share of the database connections (a quarter of
/// `pool_size`): users holding every connection of their share cannot make root's callers
/// wait. With pool_size 4 users get one connection; while one user transaction holds it, a
/// second user's waits (and fails closed after `timeout`), and root's go through at once.
/// The class is the store handle's: the deciders the daemon opens hold one for each class,
/// and `Shared::blocking(class, ..)` hands the work that class's decider.
#[test]
fn postgres_users_cannot_take_root_s_connections() {
    if !postgres_ready() {
        return;
    }
    let engine = Postgres::with_timeout("1s");
    let mut config = engine.config.clone();
    config.state_dir = engine.dir.path().join("state-deciders");
    let deciders = Deciders::open(config, Arc::new(SystemClock)).unwrap();
    let root = deciders.for_class(CallerClass::Root).store();
    let users = deciders.for_class(CallerClass::User).store();
    root.update("root-side", |r| *r = with_app(1)).unwrap();
    let held = users.begin("user-one").unwrap();
    let asked = Instant::now();
    let second_user = users.begin("user-two").map(drop);
    assert!(
        matches!(second_user, Err(StoreError::Unavailable { .. })),
        "a second user transaction got a connection of a share of one: {second_user:?}"
    );
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "{:?}",
        asked.elapsed()
    );
    for step in 2..6 {
        let asked = Instant::now();
        root.update("root-side", |r| r.totp[0].last_step = step)
            .unwrap();
        assert!(
            asked.elapsed() < Duration::from_millis(900),
            "root waited {:?} behind users",
            asked.elapsed()
        );
    }
    drop(held);
    users.update("user-two", |r| *r = with_app(1)).unwrap();
}

/// TLS to the database: with `sslmode=verify-full` and the server's CA in `ca_file` the store
/// works (the server accepts the role only through TLS); with another CA, or without TLS,
/// it fails closed and says why.
#[test]
fn postgres_over_tls_checks_the_server_s_certificate() {
    if !postgres_ready() {
        return;
    }
    let cluster = Cluster::start();
    let ca = cluster.enable_tls();
    let other_ca = {
        let dir = tempfile::tempdir().unwrap();
        let other = Cluster::start();
        let path = dir.path().join("other-ca.pem");
        std::fs::copy(other.enable_tls(), &path).unwrap();
        (dir, path)
    };
    let dir = tempfile::tempdir().unwrap();
    let section = cluster.store_config(dir.path());
    let url_file = dir.path().join("url");
    let plain = std::fs::read_to_string(&url_file).unwrap();
    let open = |sslmode: &str, ca_file: &Path, n: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&url_file, format!("{} sslmode={sslmode}\n", plain.trim())).unwrap();
        std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = format!(
            "{section}ca_file = \"{}\"\ntimeout = \"2s\"\n",
            ca_file.display()
        );
        let config = Config::parse(Path::new("tls.toml"), &text).unwrap();
        let pg = Pg::open(&config.store, &dir.path().join(format!("state{n}")))
            .unwrap_or_else(|e| panic!("{}: {e}", e.key()));
        Box::new(PgStore::new(pg, CallerClass::Root)) as Box<dyn RecordStore>
    };
    let verified = open("verify-full", &ca, 0);
    verified.update("tls", |r| *r = with_app(4)).unwrap();
    assert_eq!(verified.load("tls").unwrap().unwrap(), with_app(4));

    let wrong_ca = open("verify-full", &other_ca.1, 1);
    let refused = wrong_ca.load("tls").unwrap_err();
    assert!(
        matches!(refused, StoreError::Unavailable { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("certificate"), "{refused}");

    let without_tls = open("disable", &ca, 2);
    let refused = without_tls.load("tls").unwrap_err();
    assert!(
        matches!(refused, StoreError::Unavailable { .. }),
        "{refused}"
    );
}

/// Names flooding the attempt limits (every name tried is counted) cannot grow the shared
/// table without bound: past 100,000 rows the idle ones go, and a lockout in force stays.
#[test]
fn postgres_limits_table_is_bounded_and_keeps_lockouts() {
    if !postgres_ready() {
        return;
    }
    let engine = Postgres::new();
    let policy = engine.config.limits.policy();
    let limits = PgLimits::new(engine.pg(), CallerClass::Root, policy.clone());
    let now: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for _ in 0..policy.max_failures {
        limits.record_failure("victim", "192.0.2.9", now).unwrap();
    }
    assert!(
        limits
            .source_locked("victim", "192.0.2.9", now)
            .unwrap()
            .is_some()
    );
    // Idle names of a flood, as the engine writes them: a failure now, kept for a day.
    engine.cluster.psql(&format!(
        "insert into mfa_limits (name, state, expires_at) select 'junk' || i, \
         '{{\"sources\":{{}},\"account\":{{\"failures\":[],\"locked_until\":0,\"rounds\":0,\"last_failure\":0}}}}', \
         {} from generate_series(1, 100100) as i",
        now + 86_400
    ));
    // Rows are pruned every 256 failures counted by a host: the last of these is the 256th.
    for i in 0..256 - policy.max_failures {
        limits
            .record_failure(&format!("flood{i}"), "192.0.2.10", now)
            .unwrap();
    }
    let rows: i64 = engine
        .cluster
        .psql("select count(*) from mfa_limits")
        .trim()
        .parse()
        .unwrap();
    assert!(rows <= 100_000, "{rows} rows");
    assert!(
        limits
            .source_locked("victim", "192.0.2.9", now)
            .unwrap()
            .is_some()
    );
}

/// Issue 14 item 7 on the shared table: four wrong codes for a victim, then more than
/// 100,000 names failing after it. Before, the bound deleted the rows with the earliest
/// expiry first, the victim's among them, and its count started again; now a row with a
/// failure inside the window (or a lock in force) is never deleted to make room, and the
/// victim's 5th guess locks.
#[test]
fn postgres_limits_flood_does_not_flush_a_victims_count() {
    if !postgres_ready() {
        return;
    }
    let engine = Postgres::new();
    let policy = engine.config.limits.policy();
    let limits = PgLimits::new(engine.pg(), CallerClass::Root, policy.clone());
    let now: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for _ in 1..policy.max_failures {
        limits
            .record_failure("victim", "192.0.2.9", now - 60)
            .unwrap();
    }
    // Names of a flood that failed after the victim, as the engine writes them.
    engine.cluster.psql(&format!(
        "insert into mfa_limits (name, state, expires_at) select 'flood' || i, \
         '{{\"sources\":{{\"192.0.2.10\":{{\"failures\":[{now}],\"locked_until\":0,\"rounds\":0,\"last_failure\":{now}}}}},\"account\":{{\"failures\":[{now}],\"locked_until\":0,\"rounds\":0,\"last_failure\":{now}}}}}', \
         {} from generate_series(1, 100100) as i",
        now + 86_400
    ));
    for i in 0..256 - (policy.max_failures - 1) {
        limits
            .record_failure(&format!("more{i}"), "192.0.2.10", now)
            .unwrap();
    }
    assert!(
        matches!(
            limits.record_failure("victim", "192.0.2.9", now).unwrap(),
            mfa_core::lockout::FailureEffect::SourceLocked(_)
        ),
        "the victim's 5th guess did not lock: its count was flushed by the flood"
    );
}
