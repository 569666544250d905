//! A throw-away PostgreSQL cluster from Debian's `postgresql` package, for the daemon's
//! `postgres` engine: `initdb` and `pg_ctl` in a scratch directory, run as `nobody`
//! (PostgreSQL refuses to run as root), listening on 127.0.0.1 only, on a free port.
//!
//! The postmaster's PID is recorded in the scratch directory, so the sweep of a later run
//! ([`crate::root_suite_ready`]) kills a cluster whose test process was killed before its
//! `Drop`; [`Cluster::start`] also kills postmasters of dead runs it finds by their command line.

use std::fs::{self, File};
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Group, Pid, User};
use serde_json::Value;

use crate::process::{Run, run};
use crate::scratch::{SCRATCH_ROOT, ScratchDir, owner_of_name, set_mode, write_file};

/// Where Debian's packages put each major version's server binaries.
const POSTGRESQL_LIB: &str = "/usr/lib/postgresql";
/// The account the cluster runs as, and its group.
const CLUSTER_USER: &str = "nobody";
const CLUSTER_GROUP: &str = "nogroup";
/// The superuser initdb creates (local socket, trust) and the daemon's role and database.
const SUPERUSER: &str = "postgres";
const ROLE: &str = "mfa";
const DATABASE: &str = "mfa";
/// Starting on a port another process took between our probe and the bind is retried.
const START_ATTEMPTS: u32 = 5;
/// How long `pg_ctl` waits for the server to start or stop.
const PG_CTL_WAIT_SECONDS: &str = "30";
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long Drop waits for the postmaster to be gone after SIGKILL.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// Server settings for a test cluster: loopback only, small, and no fsync (a crash of the
/// machine is not what these tests simulate; a crash of the daemon or a stopped server is).
const SERVER_SETTINGS: &str = "
listen_addresses = '127.0.0.1'
max_connections = 60
shared_buffers = 16MB
fsync = off
full_page_writes = off
synchronous_commit = on
log_min_messages = warning
log_connections = off
include_if_exists = 'mfa-tests-port.conf'
";

/// A running PostgreSQL with role `mfa` (a random password, scram-sha-256 over TCP) owning
/// database `mfa`, and a 32-byte record key for the daemons that share it. Stopped (immediate
/// mode, then SIGKILL if need be) and removed on drop.
#[derive(Debug)]
pub struct Cluster {
    scratch: ScratchDir,
    /// Owned by [`CLUSTER_USER`], mode 0700: the data directory, sockets and server log.
    home: PathBuf,
    data: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    uid: u32,
    gid: u32,
    port: u16,
    password: String,
    key: [u8; 32],
}

impl Cluster {
    /// Creates and starts a cluster; panics with pg_ctl's and the server's log on failure.
    pub fn start() -> Cluster {
        kill_postmasters_of_dead_runs_once();
        let scratch = ScratchDir::create();
        let home = scratch.path().join("pg");
        let data = home.join("data");
        let log = home.join("postgres.log");
        let user = User::from_name(CLUSTER_USER)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no account {CLUSTER_USER} to run PostgreSQL as"));
        let group = Group::from_name(CLUSTER_GROUP)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no group {CLUSTER_GROUP} to run PostgreSQL as"));
        fs::create_dir(&home).unwrap_or_else(|e| panic!("cannot create {}: {e}", home.display()));
        chown(&home, Some(user.uid.as_raw()), Some(group.gid.as_raw()))
            .unwrap_or_else(|e| panic!("cannot chown {}: {e}", home.display()));
        set_mode(&home, 0o700);
        let mut cluster = Cluster {
            scratch,
            home,
            data,
            log,
            bin: server_binaries(),
            uid: user.uid.as_raw(),
            gid: group.gid.as_raw(),
            port: 0,
            password: hex(&random_bytes::<16>()),
            key: random_bytes(),
        };
        cluster.init();
        cluster.start_on_a_free_port();
        cluster.psql_in(
            "postgres",
            &format!("create role {ROLE} login password '{}'", cluster.password),
        );
        cluster.psql_in(
            "postgres",
            &format!("create database {DATABASE} owner {ROLE}"),
        );
        cluster
    }

    /// The TCP port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The libpq connection string for role `mfa` on database `mfa`, with its password.
    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={ROLE} dbname={DATABASE} password={}",
            self.port, self.password
        )
    }

    /// The record key this cluster's daemons share (see [`Cluster::store_config`]).
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// Writes `url` ([`Cluster::conninfo`]) and `key` ([`Cluster::key`]) files, both mode
    /// 0600, into `dir` and returns the daemon's `[store]` section that names them.
    pub fn store_config(&self, dir: &Path) -> String {
        self.store_config_with_key(dir, &self.key)
    }

    /// Like [`Cluster::store_config`] with another record key (a host with the wrong key).
    pub fn store_config_with_key(&self, dir: &Path, key: &[u8; 32]) -> String {
        let url_file = dir.join("url");
        let key_file = dir.join("key");
        write_file(&url_file, &format!("{}\n", self.conninfo()), 0o600);
        fs::write(&key_file, key)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", key_file.display()));
        set_mode(&key_file, 0o600);
        format!(
            "[store]\nengine = \"postgres\"\nurl_file = {}\nkey_file = {}\npool_size = 4\n",
            toml_string(&url_file),
            toml_string(&key_file)
        )
    }

    /// Runs `sql` with `psql -At` as the superuser in database `mfa` (over the unix socket)
    /// and returns its stdout; panics with its stderr on failure.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in(DATABASE, sql)
    }

    /// Like [`Cluster::psql`] in database `database`.
    pub fn psql_in(&self, database: &str, sql: &str) -> String {
        let mut command = self.command("psql");
        command
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.home)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                database,
            ])
            .args(["-c", sql]);
        let done = run(command, "");
        assert!(done.succeeded(), "psql failed: {done}");
        done.stdout
    }

    /// A plain-text `pg_dump` of database `mfa`, as the superuser: what a backup holds.
    pub fn pg_dump(&self) -> String {
        let mut command = self.command("pg_dump");
        command.arg("-h").arg(&self.home).args([
            "-p",
            &self.port.to_string(),
            "-U",
            SUPERUSER,
            DATABASE,
        ]);
        let done = run(command, "");
        assert!(done.succeeded(), "pg_dump failed: {done}");
        done.stdout
    }

    /// Stops the server (`pg_ctl stop -m fast`: clients are disconnected) and waits for it.
    pub fn stop(&self) {
        let done = self.pg_ctl(&["stop", "-m", "fast"]);
        assert!(
            done.succeeded(),
            "pg_ctl stop failed: {done}\n{}",
            self.log_section()
        );
    }

    /// Starts the stopped server again on the same port and data.
    pub fn start_again(&self) {
        let done = self.pg_ctl_start();
        assert!(
            done.succeeded(),
            "pg_ctl start failed: {done}\n{}",
            self.log_section()
        );
        self.record_postmaster();
    }

    /// Turns on TLS with a certificate for 127.0.0.1 signed by a new test CA, and from then
    /// on accepts the daemon's role over TCP only through TLS (`hostssl`); restarts the
    /// server. Returns the CA's PEM file, for `[store] ca_file`.
    pub fn enable_tls(&self) -> PathBuf {
        let certs = self.scratch.path().join("tls");
        fs::create_dir_all(&certs)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", certs.display()));
        let (ca, cert, key) = crate::standins::smtp::make_certificates(&certs);
        for (from, name) in [(&cert, "server.crt"), (&key, "server.key")] {
            let text = fs::read_to_string(from)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
            self.write_owned(&self.data.join(name), &text);
        }
        self.write_owned(
            &self.data.join("pg_hba.conf"),
            &format!("local all all trust\nhostssl all {ROLE} 127.0.0.1/32 scram-sha-256\n"),
        );
        self.write_owned(
            &self.data.join("mfa-tests-tls.conf"),
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
        );
        let conf = self.data.join("postgresql.conf");
        let mut settings = fs::read_to_string(&conf)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", conf.display()));
        settings.push_str("include_if_exists = 'mfa-tests-tls.conf'\n");
        self.write_owned(&conf, &settings);
        self.stop();
        self.start_again();
        ca
    }

    /// Whether the postmaster is running.
    pub fn is_running(&self) -> bool {
        self.postmaster_pid().is_some_and(is_alive)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log under a heading, to append to assertion messages.
    pub fn log_section(&self) -> String {
        format!("--- postgres log ---\n{}", self.log().trim_end())
    }

    fn init(&self) {
        let mut initdb = self.command("initdb");
        initdb.arg("-D").arg(&self.data).args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        let done = run(initdb, "");
        assert!(done.succeeded(), "initdb failed: {done}");
        // Anyone over the socket, which only the cluster's account can reach; over loopback
        // TCP only the daemon's role, with its password.
        self.write_owned(
            &self.data.join("pg_hba.conf"),
            &format!("local all all trust\nhost all {ROLE} 127.0.0.1/32 scram-sha-256\n"),
        );
        let conf = self.data.join("postgresql.conf");
        let mut settings = fs::read_to_string(&conf)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", conf.display()));
        settings.push_str(SERVER_SETTINGS);
        settings.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            self.home.display()
        ));
        self.write_owned(&conf, &settings);
    }

    fn start_on_a_free_port(&mut self) {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            self.port = free_loopback_port();
            self.write_owned(
                &self.data.join("mfa-tests-port.conf"),
                &format!("port = {}\n", self.port),
            );
            let done = self.pg_ctl_start();
            if done.succeeded() {
                self.record_postmaster();
                return;
            }
            failures.push(format!("port {}: {done}", self.port));
        }
        panic!(
            "PostgreSQL did not start in {START_ATTEMPTS} attempts:\n{}\n{}",
            failures.join("\n"),
            self.log_section()
        );
    }

    fn pg_ctl_start(&self) -> Run {
        self.pg_ctl(&["start", "-l", &self.log.to_string_lossy()])
    }

    fn pg_ctl(&self, args: &[&str]) -> Run {
        let mut command = self.command("pg_ctl");
        command
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", PG_CTL_WAIT_SECONDS])
            .args(args);
        run(command, "")
    }

    /// `program` from the server's bin directory, run as [`CLUSTER_USER`] in its home.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command
            .uid(self.uid)
            .gid(self.gid)
            .current_dir(&self.home)
            .env("HOME", &self.home)
            .env("LC_ALL", "C")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .env_remove("PGUSER")
            .env_remove("PGDATABASE")
            .env_remove("PGPASSWORD");
        command
    }

    /// Writes a file the server reads, owned by [`CLUSTER_USER`].
    fn write_owned(&self, path: &Path, contents: &str) {
        write_file(path, contents, 0o600);
        chown(path, Some(self.uid), Some(self.gid))
            .unwrap_or_else(|e| panic!("cannot chown {}: {e}", path.display()));
    }

    /// Records the postmaster's PID where the sweep of a later run looks for it.
    fn record_postmaster(&self) {
        let pid = self
            .postmaster_pid()
            .unwrap_or_else(|| panic!("no postmaster.pid after start\n{}", self.log_section()));
        self.scratch
            .record_pid("postgres", u32::try_from(pid).expect("PIDs are positive"));
    }

    fn postmaster_pid(&self) -> Option<i32> {
        postmaster_pid(&self.data)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.postmaster_pid().is_some() {
            let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
        }
        if let Some(pid) = self.postmaster_pid().filter(|pid| is_alive(*pid)) {
            kill_and_wait(pid);
        }
    }
}

/// The bin directory of the highest PostgreSQL version installed.
fn server_binaries() -> PathBuf {
    let entries = fs::read_dir(POSTGRESQL_LIB).unwrap_or_else(|e| {
        panic!("cannot read {POSTGRESQL_LIB} ({e}): install the `postgresql` package")
    });
    entries
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| {
            panic!("no {POSTGRESQL_LIB}/*/bin/initdb: install the `postgresql` package")
        })
}

/// A port nothing listens on at this moment on 127.0.0.1.
fn free_loopback_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"))
}

/// The PID on the first line of `data/postmaster.pid`, if there is one.
fn postmaster_pid(data: &Path) -> Option<i32> {
    fs::read_to_string(data.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Whether `pid` runs; a zombie does not (a killed postmaster stays one until its parent,
/// which is not this process, reaps it).
fn is_alive(pid: i32) -> bool {
    if matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH)) {
        return false;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses and may hold spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, None | Some("Z" | "X"))
}

fn kill_and_wait(pid: i32) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let deadline = Instant::now() + KILL_TIMEOUT;
    while is_alive(pid) && Instant::now() < deadline {
        thread::sleep(POLL_INTERVAL);
    }
}

/// Kills, once per process, every postmaster whose data directory lies in a scratch
/// directory of a run that is gone (a run killed after `pg_ctl start` but before it recorded
/// the PID leaves one the generic sweep cannot find).
fn kill_postmasters_of_dead_runs_once() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        crate::sweep_leftovers_once();
        let Ok(processes) = fs::read_dir("/proc") else {
            return;
        };
        for process in processes.flatten() {
            let Some(pid) = process
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<i32>().ok())
            else {
                continue;
            };
            let cmdline = fs::read(process.path().join("cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|byte| *byte == 0)
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            let is_postmaster = args
                .first()
                .is_some_and(|program| program.starts_with(POSTGRESQL_LIB));
            let owner = args
                .iter()
                .find_map(|arg| Path::new(arg).strip_prefix(SCRATCH_ROOT).ok())
                .and_then(|below| below.components().next())
                .and_then(|first| owner_of_name(&first.as_os_str().to_string_lossy()));
            if is_postmaster && owner.is_some_and(|owner| !is_alive(owner)) {
                kill_and_wait(pid);
            }
        }
    });
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    File::open("/dev/urandom")
        .and_then(|mut urandom| urandom.read_exact(&mut bytes))
        .unwrap_or_else(|e| panic!("cannot read /dev/urandom: {e}"));
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `path` as a TOML basic string.
fn toml_string(path: &Path) -> String {
    Value::String(path.to_string_lossy().into_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::hex;

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0, 0x0f, 0xab]), "000fab");
    }
}
