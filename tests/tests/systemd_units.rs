//! What the packages hand to systemd and to the distributions' PAM tools, checked with those
//! tools: the service and its two socket units with `systemd-analyze verify`, the service with
//! `systemd-analyze security` (exposure below 2.0), mfa-web.service and mfa-radius.service with
//! both (exposure at most 1.2 and no more than the daemon's, and every sandbox setting of the
//! daemon's unit; mfa-web and mfa-radius traced against their SystemCallFilter=), the
//! sysusers file with
//! `systemd-sysusers --root`, the tmpfiles.d file with `systemd-tmpfiles --root`, the daemon
//! under `systemd-socket-activate` (systemd's own sd_listen_fds sender), Debian's pam-auth-update
//! profile applied with `pam-auth-update --root` to a scratch copy of `/etc/pam.d`, and the
//! authselect snippet applied with `sed` to a profile of the same shape as authselect's.
//!
//! Nothing here writes outside a scratch directory: pam-auth-update keeps its debconf answers
//! in a database of the scratch root (`DEBCONF_SYSTEMRC`), not the host's.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mfa_proto::{AuthRequest, Client, Outcome, Request, Response, Step};
use mfa_radius::packet::{self, Attribute, Code, attr};
use mfa_tests::{Authenticator, PamService, Run, ScratchDir, daemon_binary, root_suite_ready, run};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Highest exposure `systemd-analyze security` may give the unit (0 is best, 10 worst).
const MAX_EXPOSURE: f64 = 2.0;
const UNIT_NAME: &str = "mfa-daemon.service";
/// The web pages' unit (mfa-web), disabled until the admin sets `[web]`.
const WEB_UNIT_NAME: &str = "mfa-web.service";
/// Highest exposure the web unit may have: what it has (systemd 252), so that taking away
/// almost any setting the score counts (ProtectProc=, PrivateTmp=, ...) fails; the rest are
/// checked one by one. The daemon's is 1.4.
const MAX_WEB_EXPOSURE: f64 = 1.2;
/// Where the packages install mfa-web; the web unit's ExecStart names it.
const INSTALLED_WEB: &str = "/usr/sbin/mfa-web";
/// The RADIUS server's unit (mfa-radius), disabled until the admin sets `[radius]`.
const RADIUS_UNIT_NAME: &str = "mfa-radius.service";
/// Highest exposure the RADIUS unit may have: the web unit's, for the same reason.
const MAX_RADIUS_EXPOSURE: f64 = 1.2;
/// Where the packages install mfa-radius; the RADIUS unit's ExecStart names it.
const INSTALLED_RADIUS: &str = "/usr/sbin/mfa-radius";
/// The socket units that hold the daemon's sockets (socket activation).
const SOCKET_UNITS: [&str; 2] = ["mfa-daemon.socket", "mfa-daemon-privileged.socket"];
/// Where the packages install the daemon; the unit's ExecStart names it.
const INSTALLED_DAEMON: &str = "/usr/sbin/mfa-daemon";
const PAM_AUTH_UPDATE: &str = "/usr/sbin/pam-auth-update";
/// Debian's pam_unix profile, which ours must follow.
const UNIX_PROFILE: &str = "/usr/share/pam-configs/unix";
/// Profiles of the host kept in the scratch root beside ours, so that the order among
/// "Additional" modules is checked too (pam_cap, where libpam-cap is installed).
const OTHER_PROFILES: &[&str] = &["/usr/share/pam-configs/capability"];

fn packaging(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging")
        .join(file)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn unit_text() -> String {
    read(&packaging("systemd/mfa-daemon.service"))
}

fn web_unit_text() -> String {
    read(&packaging(&format!("systemd/{WEB_UNIT_NAME}")))
}

/// The built mfa-web, beside the daemon (`cargo build --release --workspace` makes both).
fn web_binary() -> PathBuf {
    built_beside_the_daemon("mfa-web")
}

fn radius_unit_text() -> String {
    read(&packaging(&format!("systemd/{RADIUS_UNIT_NAME}")))
}

/// The built mfa-radius, beside the daemon.
fn radius_binary() -> PathBuf {
    built_beside_the_daemon("mfa-radius")
}

fn built_beside_the_daemon(name: &str) -> PathBuf {
    let path = daemon_binary().with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --release --workspace`",
        path.display()
    );
    path
}

/// What `systemd-analyze verify` said about the units in `scratch`: its lines about a unit
/// file elsewhere (the host's own, such as Debian's freeradius.service, which verify loads
/// through multi-user.target and which uses the deprecated MemoryLimit=) are the host's, not
/// ours.
fn our_warnings(stderr: &str, scratch: &Path) -> String {
    stderr
        .lines()
        .filter(|line| !line.starts_with('/') || line.starts_with(&*scratch.to_string_lossy()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A tool the README's test command installs (scripts/install-deps.sh); its absence is a
/// broken setup, not a reason to skip.
fn tool(path: &str) -> &str {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run scripts/install-deps.sh (packages systemd and libpam-runtime)"
    );
    path
}

fn checked(run: Run) -> Run {
    assert!(run.succeeded(), "{run}");
    run
}

/// The values of `key=` in the unit, in order (a key may be given more than once).
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    match unit_values(unit, key).as_slice() {
        [value] => value,
        other => panic!(
            "{key}= is given {} times in the unit: {other:?}",
            other.len()
        ),
    }
}

/// The unit in `dir` under its own name, with ExecStart pointing at the built daemon: verify
/// checks that the command exists and is executable, and nothing is installed into /usr by
/// the tests.
fn unit_for_verify(dir: &Path) -> PathBuf {
    unit_with_built_binary(
        dir,
        UNIT_NAME,
        &unit_text(),
        INSTALLED_DAEMON,
        &daemon_binary(),
    )
}

/// `text` written to `dir/name`, its one `ExecStart=installed` replaced by `built`.
fn unit_with_built_binary(
    dir: &Path,
    name: &str,
    text: &str,
    installed: &str,
    built: &Path,
) -> PathBuf {
    let exec_start = format!("ExecStart={installed}");
    assert_eq!(
        text.matches(&exec_start).count(),
        1,
        "{name} must start {installed}, where the packages put it"
    );
    let path = dir.join(name);
    let built = format!("ExecStart={}", built.display());
    fs::write(&path, text.replace(&exec_start, &built)).unwrap();
    path
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if !root_suite_ready() {
        return;
    }
    let scratch = ScratchDir::create();
    let unit = unit_for_verify(scratch.path());
    let mut verify = Command::new(tool("/usr/bin/systemd-analyze"));
    // --man=no: Documentation= names the man pages, which only the packages install; verify
    // would run `man` on each and fail here. Everything else is checked, and any warning
    // (an unknown key, a bad value, a missing ExecReload command) fails the test. The socket
    // units sit beside the service, where verify finds the ones its Sockets= names.
    verify.args(["verify", "--man=no"]).arg(&unit);
    for socket in SOCKET_UNITS {
        let path = scratch.path().join(socket);
        fs::copy(packaging(&format!("systemd/{socket}")), &path).unwrap();
        verify.arg(path);
    }
    let done = checked(run(verify, ""));
    assert_eq!(our_warnings(&done.stderr, scratch.path()), "", "{done}");
}

/// `systemd-analyze security --offline=true` of the unit `text` named `name`: the overall
/// exposure and the whole report.
fn exposure(name: &str, text: &str) -> (f64, String) {
    let scratch = ScratchDir::create();
    let unit = scratch.path().join(name);
    fs::write(&unit, text).unwrap();
    let mut security = Command::new(tool("/usr/bin/systemd-analyze"));
    security
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit);
    let report = checked(run(security, ""));
    let marker = format!("Overall exposure level for {name}: ");
    let score: f64 = report
        .stdout
        .lines()
        .find_map(|line| line.split_once(&marker))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in the report:\n{report}"));
    println!("systemd-analyze security: exposure {score} for {name}");
    (score, report.stdout)
}

#[test]
fn the_unit_is_exposed_less_than_2_0_by_systemd_analyze_security() {
    if !root_suite_ready() {
        return;
    }
    let (score, report) = exposure(UNIT_NAME, &unit_text());
    assert!(
        score < MAX_EXPOSURE,
        "exposure {score} is not below {MAX_EXPOSURE}:\n{report}"
    );
}

#[test]
fn the_web_unit_passes_systemd_analyze_verify() {
    if !root_suite_ready() {
        return;
    }
    let scratch = ScratchDir::create();
    let web = unit_with_built_binary(
        scratch.path(),
        WEB_UNIT_NAME,
        &web_unit_text(),
        INSTALLED_WEB,
        &web_binary(),
    );
    // The daemon's units beside it, where verify finds what its Wants=/After= name.
    unit_for_verify(scratch.path());
    for socket in SOCKET_UNITS {
        fs::copy(
            packaging(&format!("systemd/{socket}")),
            scratch.path().join(socket),
        )
        .unwrap();
    }
    let mut verify = Command::new(tool("/usr/bin/systemd-analyze"));
    verify.args(["verify", "--man=no"]).arg(&web);
    let done = checked(run(verify, ""));
    assert_eq!(our_warnings(&done.stderr, scratch.path()), "", "{done}");
}

#[test]
fn the_web_unit_is_exposed_no_more_than_the_daemons_unit() {
    if !root_suite_ready() {
        return;
    }
    let (daemon, _) = exposure(UNIT_NAME, &unit_text());
    let (web, report) = exposure(WEB_UNIT_NAME, &web_unit_text());
    assert!(
        web <= MAX_WEB_EXPOSURE && web <= daemon,
        "{WEB_UNIT_NAME}: exposure {web}, above {MAX_WEB_EXPOSURE} or the daemon's {daemon}:\n{report}"
    );
}

#[test]
fn the_radius_unit_passes_systemd_analyze_verify() {
    if !root_suite_ready() {
        return;
    }
    let scratch = ScratchDir::create();
    let radius = unit_with_built_binary(
        scratch.path(),
        RADIUS_UNIT_NAME,
        &radius_unit_text(),
        INSTALLED_RADIUS,
        &radius_binary(),
    );
    // The daemon's units beside it, where verify finds what its Wants=/After= name.
    unit_for_verify(scratch.path());
    for socket in SOCKET_UNITS {
        fs::copy(
            packaging(&format!("systemd/{socket}")),
            scratch.path().join(socket),
        )
        .unwrap();
    }
    let mut verify = Command::new(tool("/usr/bin/systemd-analyze"));
    verify.args(["verify", "--man=no"]).arg(&radius);
    let done = checked(run(verify, ""));
    assert_eq!(our_warnings(&done.stderr, scratch.path()), "", "{done}");
}

#[test]
fn the_radius_unit_is_exposed_no_more_than_the_daemons_unit() {
    if !root_suite_ready() {
        return;
    }
    let (daemon, _) = exposure(UNIT_NAME, &unit_text());
    let (radius, report) = exposure(RADIUS_UNIT_NAME, &radius_unit_text());
    assert!(
        radius <= MAX_RADIUS_EXPOSURE && radius <= daemon,
        "{RADIUS_UNIT_NAME}: exposure {radius}, above {MAX_RADIUS_EXPOSURE} or the daemon's \
         {daemon}:\n{report}"
    );
}

/// The daemon's sandbox settings the web unit has too, with the same values: those the
/// exposure score counts and those it does not see (UMask=, RemoveIPC=, ...).
const SHARED_SANDBOX: [&str; 28] = [
    "NoNewPrivileges",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "ProtectSystem",
    "ProtectHome",
    "PrivateMounts",
    "PrivateTmp",
    "PrivateDevices",
    "DevicePolicy",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "ProcSubset",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "RemoveIPC",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "SystemCallArchitectures",
    "SystemCallFilter",
    "SystemCallErrorNumber",
    "UMask",
    "LimitCORE",
];

#[test]
fn the_web_unit_has_the_daemons_sandbox_its_own_account_and_nothing_to_write() {
    let daemon = unit_text();
    let web = web_unit_text();
    for key in SHARED_SANDBOX {
        let expected = unit_values(&daemon, key);
        assert!(!expected.is_empty(), "{UNIT_NAME} has no {key}=");
        assert_eq!(
            unit_values(&web, key),
            expected,
            "{key}= of {WEB_UNIT_NAME}"
        );
    }
    // Stricter than the daemon, which must see its callers' processes.
    assert_eq!(unit_value(&web, "ProtectProc"), "invisible");
    assert_eq!(unit_value(&web, "PrivateIPC"), "yes");
    // mfa-web checks web.sock's listener by its SO_PEERCRED uid; in a private user namespace
    // the daemon's would read as nobody.
    assert!(unit_values(&web, "PrivateUsers").is_empty());
    for key in [
        "StateDirectory",
        "RuntimeDirectory",
        "CacheDirectory",
        "LogsDirectory",
        "ConfigurationDirectory",
        "ReadWritePaths",
        "SupplementaryGroups",
    ] {
        assert!(
            unit_values(&web, key).is_empty(),
            "{key}= in {WEB_UNIT_NAME}: it writes nothing and joins no group"
        );
    }
    assert!(!unit_value(&web, "MemoryMax").is_empty());
    assert!(unit_value(&web, "TasksMax").parse::<u32>().is_ok());

    // Its own account from the sysusers file, the one the daemon answers on web.sock.
    let user = mfa_proto::web::DEFAULT_WEB_USER;
    assert_ne!(user, mfa_proto::DEFAULT_DAEMON_USER);
    assert_eq!(unit_value(&web, "User"), user);
    assert_eq!(unit_value(&web, "Group"), user);
    let sysusers = read(&packaging("systemd/mfa.sysusers"));
    assert!(
        sysusers
            .lines()
            .any(|line| line.split_whitespace().take(2).eq(["u", user])),
        "no account {user} in mfa.sysusers:\n{sysusers}"
    );
    // The config reaches it as a credential: /etc/mfa/config.toml stays root:mfa 0640.
    assert_eq!(
        unit_values(&web, "LoadCredential"),
        ["config.toml:/etc/mfa/config.toml"]
    );
    for key in ["Wants", "After"] {
        let units = unit_value(&web, key);
        assert!(
            units.split_whitespace().any(|unit| unit == UNIT_NAME),
            "{key}= lacks {UNIT_NAME}: {units}"
        );
    }
    // The admin enables it; the packages do not (tests/tests/packages.rs).
    assert_eq!(unit_value(&web, "WantedBy"), "multi-user.target");

    // web.sock sits beside the public socket in /run/mfa, which every user may traverse, not
    // in root's private/ directory.
    let public = Path::new(mfa_proto::DEFAULT_SOCKET);
    let web_socket = mfa_proto::web::web_socket(public);
    assert_eq!(web_socket.parent(), public.parent());
    assert_ne!(
        web_socket.parent(),
        mfa_proto::privileged_socket(public).parent()
    );
    assert_eq!(unit_value(&daemon, "RuntimeDirectoryMode"), "0755");
}

#[test]
fn the_radius_unit_has_the_daemons_sandbox_its_own_account_and_nothing_to_write() {
    let daemon = unit_text();
    let radius = radius_unit_text();
    for key in SHARED_SANDBOX {
        let expected = unit_values(&daemon, key);
        assert!(!expected.is_empty(), "{UNIT_NAME} has no {key}=");
        assert_eq!(
            unit_values(&radius, key),
            expected,
            "{key}= of {RADIUS_UNIT_NAME}"
        );
    }
    // No capability: RADIUS's port is above 1024 (the shared keys above are both empty).
    const { assert!(mfa_proto::radius::RADIUS_PORT > 1024) };
    assert_eq!(unit_value(&radius, "CapabilityBoundingSet"), "");
    assert_eq!(unit_value(&radius, "AmbientCapabilities"), "");
    // Stricter than the daemon, which must see its callers' processes.
    assert_eq!(unit_value(&radius, "ProtectProc"), "invisible");
    assert_eq!(unit_value(&radius, "PrivateIPC"), "yes");
    // mfa-radius checks radius.sock's listener by its SO_PEERCRED uid; in a private user
    // namespace the daemon's would read as nobody, and so would the shadow group a
    // password = "pam" drop-in adds.
    assert!(unit_values(&radius, "PrivateUsers").is_empty());
    // The shadow group is the admin's choice in a drop-in (password = "pam"), which the
    // unit's comment shows; the unit itself joins no group.
    assert!(
        radius.contains("#   SupplementaryGroups=shadow\n"),
        "{RADIUS_UNIT_NAME} does not show the shadow drop-in"
    );
    for key in [
        "StateDirectory",
        "RuntimeDirectory",
        "CacheDirectory",
        "LogsDirectory",
        "ConfigurationDirectory",
        "ReadWritePaths",
        "SupplementaryGroups",
    ] {
        assert!(
            unit_values(&radius, key).is_empty(),
            "{key}= in {RADIUS_UNIT_NAME}: it writes nothing and joins no group"
        );
    }
    assert!(!unit_value(&radius, "MemoryMax").is_empty());
    assert!(unit_value(&radius, "TasksMax").parse::<u32>().is_ok());

    // Its own account from the sysusers file, the one the daemon answers on radius.sock.
    let user = mfa_proto::radius::DEFAULT_RADIUS_USER;
    assert_ne!(user, mfa_proto::DEFAULT_DAEMON_USER);
    assert_ne!(user, mfa_proto::web::DEFAULT_WEB_USER);
    assert_eq!(unit_value(&radius, "User"), user);
    assert_eq!(unit_value(&radius, "Group"), user);
    let sysusers = read(&packaging("systemd/mfa.sysusers"));
    assert!(
        sysusers
            .lines()
            .any(|line| line.split_whitespace().take(2).eq(["u", user])),
        "no account {user} in mfa.sysusers:\n{sysusers}"
    );
    // The config reaches it as a credential: /etc/mfa/config.toml stays root:mfa 0640.
    assert_eq!(
        unit_values(&radius, "LoadCredential"),
        ["config.toml:/etc/mfa/config.toml"]
    );
    for key in ["Wants", "After"] {
        let units = unit_value(&radius, key);
        assert!(
            units.split_whitespace().any(|unit| unit == UNIT_NAME),
            "{key}= lacks {UNIT_NAME}: {units}"
        );
    }
    // The admin enables it; the packages do not (tests/tests/packages.rs).
    assert_eq!(unit_value(&radius, "WantedBy"), "multi-user.target");

    // radius.sock sits beside the public socket in /run/mfa, which every user may traverse,
    // not in root's private/ directory: the daemon's unit needs nothing new for it.
    let public = Path::new(mfa_proto::DEFAULT_SOCKET);
    let radius_socket = mfa_proto::radius::radius_socket(public);
    assert_eq!(radius_socket.parent(), public.parent());
    assert_ne!(
        radius_socket.parent(),
        mfa_proto::privileged_socket(public).parent()
    );
    assert_eq!(unit_value(&daemon, "RuntimeDirectoryMode"), "0755");
}

/// Every system call in `group` (`@system-service`), nested groups resolved, as
/// `systemd-analyze syscall-filter` lists them.
fn syscall_group(group: &str) -> BTreeSet<String> {
    let mut listing = Command::new(tool("/usr/bin/systemd-analyze"));
    listing.args(["syscall-filter", "--no-pager", group]);
    let listing = checked(run(listing, ""));
    let mut calls = BTreeSet::new();
    for entry in listing.stdout.lines().skip(1).map(str::trim) {
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        if entry.starts_with('@') {
            calls.extend(syscall_group(entry));
        } else {
            calls.insert(entry.to_owned());
        }
    }
    calls
}

/// What the unit's SystemCallFilter= lets through: the first (allow) list less the `~` lists.
fn unit_syscall_filter(unit: &str) -> BTreeSet<String> {
    let mut allowed: Option<BTreeSet<String>> = None;
    for value in unit_values(unit, "SystemCallFilter") {
        let (deny, names) = match value.strip_prefix('~') {
            Some(names) => (true, names),
            None => (false, value),
        };
        let calls: BTreeSet<String> = names
            .split_whitespace()
            .flat_map(|name| {
                if name.starts_with('@') {
                    syscall_group(name)
                } else {
                    BTreeSet::from([name.to_owned()])
                }
            })
            .collect();
        let set = allowed.get_or_insert_with(BTreeSet::new);
        assert!(
            deny || set.is_empty(),
            "one allow list, then deny lists: {value}"
        );
        if deny {
            set.retain(|call| !calls.contains(call));
        } else {
            set.extend(calls);
        }
    }
    allowed.expect("SystemCallFilter= in the unit")
}

/// The daemon run under `strace -f`, killed (strace and daemon, by PID) when dropped.
struct TracedDaemon {
    strace: Child,
    daemon: Option<Pid>,
    log: PathBuf,
}

impl TracedDaemon {
    fn signal(&self, signal: Signal) {
        kill(self.daemon.expect("the daemon's pid"), signal).unwrap();
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains(text) {
            assert!(Instant::now() < deadline, "no {text:?} in\n{}", self.log());
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TracedDaemon {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon {
            let _ = kill(daemon, Signal::SIGKILL);
        }
        let _ = self.strace.kill();
        let _ = self.strace.wait();
    }
}

/// The traced daemon's pid: strace's only child.
fn child_of(parent: u32) -> Pid {
    let mut pgrep = Command::new("pgrep");
    pgrep.arg("-P").arg(parent.to_string());
    let found = checked(run(pgrep, ""));
    Pid::from_raw(found.stdout.trim().parse().unwrap())
}

fn connect(socket: &Path) -> Client {
    Client::connect(socket, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()))
}

#[test]
fn the_daemon_makes_only_system_calls_the_units_filter_allows() {
    if !root_suite_ready() {
        return;
    }
    let scratch = ScratchDir::create();
    let dir = scratch.path();
    let config = dir.join("config.toml");
    let socket = dir.join("run/mfa.sock");
    fs::write(
        &config,
        format!(
            "socket = \"{}\"\nstate_dir = \"{}\"\nmax_tries = 1\n",
            socket.display(),
            dir.join("state").display()
        ),
    )
    .unwrap();
    let trace = dir.join("syscalls.trace");
    let log = dir.join("daemon.log");
    let log_file = File::create(&log).unwrap();
    let strace = Command::new(tool("/usr/bin/strace"))
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(daemon_binary())
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("run strace");
    scratch.record_pid("strace", strace.id());
    let mut traced = TracedDaemon {
        strace,
        daemon: None,
        log,
    };
    traced.wait_for_log("mfa-daemon: listening on ");
    let daemon = child_of(traced.strace.id());
    scratch.record_pid("daemon", daemon.as_raw().unsigned_abs());
    traced.daemon = Some(daemon);

    // What a day of the daemon's life does: enroll (argon2 hashing of recovery codes, the
    // store's durable writes), a login through the protocol (verification, replay state,
    // audit to /dev/log), a status, a reload and a stop.
    let root_socket = mfa_proto::privileged_socket(&socket);
    let user = "root".to_owned();
    let enroll = Request::EnrollTotp {
        user: user.clone(),
        proof: None,
        label: None,
    };
    let mut client = connect(&root_socket);
    let Response::TotpEnrollment(offer) = client.call(&enroll).unwrap() else {
        panic!("no enrollment offer");
    };
    let app = Authenticator::from_enrollment(offer.secret.expose(), offer.otpauth_uri.expose());
    let confirm = Request::ConfirmTotp {
        code: app.next_code().into(),
    };
    let confirmed: Response = client.call(&confirm).unwrap();
    assert!(
        matches!(confirmed, Response::RecoveryCodes { .. }),
        "{confirmed:?}"
    );
    let login = Request::Authenticate {
        auth: AuthRequest {
            user: user.clone(),
            service: "mfat-syscalls".to_owned(),
            rhost: None,
            tty: None,
            ruser: None,
            auth_info: None,
            nullok: false,
        },
    };
    let mut client = connect(&root_socket);
    let step: Step = client.call(&login).unwrap();
    assert!(matches!(step, Step::Prompt { .. }), "{step:?}");
    client
        .send(&Request::Answer {
            text: app.next_code().into(),
        })
        .unwrap();
    let done = loop {
        match client.recv::<Step>().unwrap() {
            Step::Done { outcome } => break outcome,
            Step::Info { .. } | Step::Error { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(done, Outcome::Success);
    let status: Response = connect(&root_socket)
        .call(&Request::Status { user })
        .unwrap();
    assert!(matches!(status, Response::Status(_)), "{status:?}");
    traced.signal(Signal::SIGHUP);
    traced.wait_for_log("mfa-daemon: reloaded ");
    traced.signal(Signal::SIGTERM);
    let exit = traced.strace.wait().unwrap();
    traced.daemon = None;
    assert!(exit.success(), "{exit}\n{}", traced.log());

    let used = traced_calls(&trace);
    assert!(
        used.contains("prlimit64"),
        "the trace holds the daemon's calls: {used:?}"
    );
    let allowed = unit_syscall_filter(&unit_text());
    let refused: Vec<&String> = used.difference(&allowed).collect();
    assert!(
        refused.is_empty(),
        "the unit's SystemCallFilter= would refuse (EPERM) {refused:?}; the daemon made {used:?}"
    );
}

/// The system call names in an `strace -f -qq -o` log: `PID name(args) = result`;
/// resumptions, signals and exits are not calls.
fn traced_calls(trace: &Path) -> BTreeSet<String> {
    read(trace)
        .lines()
        .filter_map(|line| {
            let call = line.split_once(char::is_whitespace)?.1.trim_start();
            let name = call.split_once('(')?.0;
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then(|| name.to_owned())
        })
        .collect()
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; the whole answer.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn mfa_web_makes_only_system_calls_the_web_units_filter_allows() {
    if !root_suite_ready() {
        return;
    }
    let scratch = ScratchDir::create();
    let dir = scratch.path();
    let socket = dir.join("run/mfa.sock");
    fs::create_dir_all(socket.parent().unwrap()).unwrap();
    // A stand-in for the daemon on web.sock (root's, so mfa-web trusts it): it takes one
    // connection and closes it, so that mfa-web's whole path to the daemon is traced.
    let web_socket = mfa_proto::web::web_socket(&socket);
    let stand_in = std::os::unix::net::UnixListener::bind(&web_socket).unwrap();
    let stand_in = thread::spawn(move || {
        if let Ok((mut conn, _)) = stand_in.accept() {
            let mut header = [0u8; 4];
            let _ = std::io::Read::read(&mut conn, &mut header);
        }
    });
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("config.toml");
    fs::write(
        &config,
        format!(
            "socket = \"{}\"\n[web]\nlisten = \"127.0.0.1:{port}\"\n\
             public_url = \"http://localhost:{port}\"\n",
            socket.display()
        ),
    )
    .unwrap();
    let trace = dir.join("syscalls.trace");
    let log = dir.join("web.log");
    let log_file = File::create(&log).unwrap();
    let strace = Command::new(tool("/usr/bin/strace"))
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(web_binary())
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("run strace");
    scratch.record_pid("strace", strace.id());
    let mut traced = TracedDaemon {
        strace,
        daemon: None,
        log,
    };
    traced.wait_for_log("mfa-web: listening on ");
    let web = child_of(traced.strace.id());
    scratch.record_pid("mfa-web", web.as_raw().unsigned_abs());
    traced.daemon = Some(web);

    // A page, and an API call that goes to the daemon's socket.
    let page = http_get(port, "/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let api = http_get(port, "/api/push/key");
    assert!(api.starts_with("HTTP/1.1 "), "{api}");
    stand_in.join().unwrap();
    traced.signal(Signal::SIGTERM);
    let exit = traced.strace.wait().unwrap();
    traced.daemon = None;
    assert!(exit.success(), "{exit}\n{}", traced.log());

    let used = traced_calls(&trace);
    for expected in ["accept4", "connect", "getsockopt"] {
        assert!(
            used.contains(expected),
            "no {expected} in mfa-web's calls: {used:?}"
        );
    }
    let allowed = unit_syscall_filter(&web_unit_text());
    let refused: Vec<&String> = used.difference(&allowed).collect();
    assert!(
        refused.is_empty(),
        "{WEB_UNIT_NAME}'s SystemCallFilter= would refuse (EPERM) {refused:?}; mfa-web made \
         {used:?}"
    );
}

/// One Access-Request to mfa-radius on 127.0.0.1:`port`, signed with `secret`: the answer's
/// code, checked against the request's authenticator.
fn radius_exchange(port: u16, identifier: u8, password: &[u8], secret: &[u8]) -> Code {
    let authenticator: [u8; 16] = std::array::from_fn(|i| identifier ^ (i as u8 * 37));
    let user = Attribute {
        kind: attr::USER_NAME,
        value: b"root".to_vec(),
    };
    let request = packet::encode_request(
        identifier,
        authenticator,
        Some(password),
        &[user],
        secret,
        true,
    );
    let socket = std::net::UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    socket.send_to(&request, ("127.0.0.1", port)).unwrap();
    let mut answer = [0u8; packet::MAX_PACKET];
    let (len, _) = socket
        .recv_from(&mut answer)
        .expect("an answer from mfa-radius");
    packet::verify_response(&answer[..len], &authenticator, secret)
        .expect("an answer signed with the client's secret")
        .code
}

#[test]
fn mfa_radius_makes_only_system_calls_the_radius_units_filter_allows() {
    if !root_suite_ready() {
        return;
    }
    let scratch = ScratchDir::create();
    let dir = scratch.path();
    let socket = dir.join("run/mfa.sock");
    fs::create_dir_all(socket.parent().unwrap()).unwrap();
    // A stand-in for the daemon on radius.sock (root's, so mfa-radius trusts it): it takes
    // each connection and closes it, so that mfa-radius's whole path to the daemon is traced
    // (and the login is rejected, as when the daemon is down). Not joined: it waits in
    // accept() until the test process ends.
    let stand_in =
        std::os::unix::net::UnixListener::bind(mfa_proto::radius::radius_socket(&socket)).unwrap();
    thread::spawn(move || {
        for mut conn in stand_in.incoming().flatten() {
            let mut header = [0u8; 4];
            let _ = std::io::Read::read(&mut conn, &mut header);
        }
    });
    // password = "pam", so the trace holds libpam and pam_unix reading /etc/shadow, as with
    // the unit's shadow drop-in.
    let pam = PamService::with_auth_stack(&["auth required pam_unix.so".to_owned()]);
    let secret = b"a-secret-for-the-syscall-trace-0123";
    let secret_file = dir.join("trace.secret");
    fs::write(&secret_file, secret).unwrap();
    fs::set_permissions(&secret_file, fs::Permissions::from_mode(0o600)).unwrap();
    let port = mfa_tests::radius::free_udp_port();
    let config = dir.join("config.toml");
    fs::write(
        &config,
        format!(
            "socket = \"{}\"\n[radius]\nlisten = [\"127.0.0.1:{port}\"]\npassword = \"pam\"\n\
             pam_service = \"{}\"\n[[radius.client]]\nname = \"trace\"\n\
             address = \"127.0.0.1\"\nsecret_file = \"{}\"\n",
            socket.display(),
            pam.name(),
            secret_file.display()
        ),
    )
    .unwrap();
    let trace = dir.join("syscalls.trace");
    let log = dir.join("radius.log");
    let log_file = File::create(&log).unwrap();
    let strace = Command::new(tool("/usr/bin/strace"))
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(radius_binary())
        .arg("--config")
        .arg(&config)
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("run strace");
    scratch.record_pid("strace", strace.id());
    let mut traced = TracedDaemon {
        strace,
        daemon: None,
        log,
    };
    traced.wait_for_log("mfa-radius: listening on ");
    let radius = child_of(traced.strace.id());
    scratch.record_pid("mfa-radius", radius.as_raw().unsigned_abs());
    traced.daemon = Some(radius);

    // A keyword: the password goes to PAM first (wrong: rejected there). Then a code in the
    // field: the daemon is asked first (the stand-in hangs up: rejected).
    let keyword = radius_exchange(port, 1, b"not-the-password,sms", secret);
    assert_eq!(keyword, Code::AccessReject, "{}", traced.log());
    let code = radius_exchange(port, 2, b"not-the-password123456", secret);
    assert_eq!(code, Code::AccessReject, "{}", traced.log());
    traced.signal(Signal::SIGTERM);
    let exit = traced.strace.wait().unwrap();
    traced.daemon = None;
    assert!(exit.success(), "{exit}\n{}", traced.log());

    let used = traced_calls(&trace);
    for expected in ["recvfrom", "sendto", "connect", "getsockopt"] {
        assert!(
            used.contains(expected),
            "no {expected} in mfa-radius's calls: {used:?}"
        );
    }
    let shadow_read = read(&trace).contains("/etc/shadow");
    assert!(
        shadow_read,
        "pam_unix did not read /etc/shadow in the trace"
    );
    let allowed = unit_syscall_filter(&radius_unit_text());
    let refused: Vec<&String> = used.difference(&allowed).collect();
    assert!(
        refused.is_empty(),
        "{RADIUS_UNIT_NAME}'s SystemCallFilter= would refuse (EPERM) {refused:?}; mfa-radius \
         made {used:?}"
    );
}

#[test]
fn the_unit_runs_as_the_sysusers_account_with_the_directories_the_daemon_uses() {
    let unit = unit_text();
    assert_eq!(unit_value(&unit, "Type"), "notify");
    assert_eq!(unit_value(&unit, "NotifyAccess"), "main");
    let before = unit_value(&unit, "Before");
    for service in ["sshd.service", "ssh.service"] {
        assert!(
            before.split_whitespace().any(|s| s == service),
            "Before= lacks {service}: {before}"
        );
    }
    // The daemon authorizes callers by their SO_PEERCRED uid; in a private user namespace
    // every other uid would be nobody.
    assert!(unit_values(&unit, "PrivateUsers").is_empty());

    let sysusers = read(&packaging("systemd/mfa.sysusers"));
    let account = sysusers
        .lines()
        .find(|line| line.starts_with("u "))
        .expect("a u line in mfa.sysusers");
    let name = account.split_whitespace().nth(1).unwrap();
    assert_eq!(name, mfa_proto::DEFAULT_DAEMON_USER);
    assert_eq!(unit_value(&unit, "User"), name);
    assert_eq!(unit_value(&unit, "Group"), name);

    // RuntimeDirectory=mfa is /run/mfa, where the daemon's default socket lives;
    // StateDirectory=mfa is /var/lib/mfa, its default state directory and the account's home.
    let socket_dir = Path::new(mfa_proto::DEFAULT_SOCKET).parent().unwrap();
    assert_eq!(
        Path::new("/run").join(unit_value(&unit, "RuntimeDirectory")),
        socket_dir
    );
    assert_eq!(
        format!("/var/lib/{}", unit_value(&unit, "StateDirectory")),
        "/var/lib/mfa"
    );
    assert!(account.ends_with(" /var/lib/mfa"), "{account}");
    assert_eq!(unit_value(&unit, "StateDirectoryMode"), "0700");
    assert_eq!(unit_value(&unit, "UMask"), "0077");
}

#[test]
fn sysusers_creates_locked_system_accounts_without_a_shell() {
    if !root_suite_ready() {
        return;
    }
    let root = ScratchDir::create();
    fs::create_dir(root.path().join("etc")).unwrap();
    let mut sysusers = Command::new(tool("/usr/bin/systemd-sysusers"));
    sysusers
        .arg(format!("--root={}", root.path().display()))
        .arg(packaging("systemd/mfa.sysusers"));
    checked(run(sysusers, ""));

    let passwd = read(&root.path().join("etc/passwd"));
    let group = read(&root.path().join("etc/group"));
    let shadow = read(&root.path().join("etc/shadow"));
    // The daemon's, owning its state directory; mfa-web's and mfa-radius's, owning nothing.
    for (name, home) in [
        (mfa_proto::DEFAULT_DAEMON_USER, "/var/lib/mfa"),
        (mfa_proto::web::DEFAULT_WEB_USER, "/"),
        (mfa_proto::radius::DEFAULT_RADIUS_USER, "/"),
    ] {
        let fields: Vec<&str> = passwd
            .lines()
            .find(|line| line.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} account in\n{passwd}"))
            .split(':')
            .collect();
        let uid: u32 = fields[2].parse().unwrap();
        assert!(uid > 0 && uid < 1000, "{name}: not a system uid: {uid}");
        assert_eq!(fields[5], home, "{name}'s home");
        assert!(
            fields[6].ends_with("/nologin"),
            "{name}'s shell {}",
            fields[6]
        );
        assert!(
            group
                .lines()
                .any(|line| line == format!("{name}:x:{}:", fields[3])),
            "no group {name} with gid {} in\n{group}",
            fields[3]
        );
        let password = shadow
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")))
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_else(|| panic!("{name} not in shadow"));
        assert!(password.starts_with('!'), "{name} not locked: {password}");
    }
}

fn socket_unit_text(name: &str) -> String {
    read(&packaging(&format!("systemd/{name}")))
}

#[test]
fn the_socket_units_hold_the_daemons_two_sockets_by_name() {
    let public = Path::new(mfa_proto::DEFAULT_SOCKET);
    let privileged = mfa_proto::privileged_socket(public);
    let user = mfa_proto::DEFAULT_DAEMON_USER;
    for (unit, path, name, mode) in [
        (SOCKET_UNITS[0], public, "public", "0666"),
        (SOCKET_UNITS[1], privileged.as_path(), "privileged", "0600"),
    ] {
        let text = socket_unit_text(unit);
        let listen = unit_value(&text, "ListenStream");
        assert_eq!(Path::new(listen), path, "{unit}: ListenStream=");
        // The daemon takes each descriptor by this name (server/socket_activation.rs).
        assert_eq!(unit_value(&text, "FileDescriptorName"), name, "{unit}");
        assert_eq!(unit_value(&text, "SocketMode"), mode, "{unit}");
        assert_eq!(unit_value(&text, "Service"), UNIT_NAME, "{unit}");
        // A running daemon still serves through the file after the socket unit stops.
        assert_eq!(unit_value(&text, "RemoveOnStop"), "no", "{unit}");
        assert_eq!(unit_value(&text, "WantedBy"), "sockets.target", "{unit}");
    }
    let privileged_unit = socket_unit_text(SOCKET_UNITS[1]);
    assert_eq!(unit_value(&privileged_unit, "SocketUser"), user);
    assert_eq!(unit_value(&privileged_unit, "SocketGroup"), user);

    let service = unit_text();
    let sockets: Vec<&str> = unit_value(&service, "Sockets").split_whitespace().collect();
    assert_eq!(sockets, SOCKET_UNITS, "Sockets= of the service");
    let also: Vec<&str> = unit_value(&service, "Also").split_whitespace().collect();
    assert_eq!(
        also, SOCKET_UNITS,
        "Also=: enabling the service enables its sockets"
    );
    // systemd would remove /run/mfa, and the sockets the socket units hold in it, whenever
    // the daemon stops or restarts.
    assert_eq!(unit_value(&service, "RuntimeDirectoryPreserve"), "yes");
}

#[test]
fn tmpfiles_makes_the_private_directory_the_daemon_trusts_before_the_sockets_bind() {
    if !root_suite_ready() {
        return;
    }
    let root = ScratchDir::create();
    fs::create_dir(root.path().join("etc")).unwrap();
    let mut sysusers = Command::new(tool("/usr/bin/systemd-sysusers"));
    sysusers
        .arg(format!("--root={}", root.path().display()))
        .arg(packaging("systemd/mfa.sysusers"));
    checked(run(sysusers, ""));
    let passwd = read(&root.path().join("etc/passwd"));
    let ids: Vec<u32> = passwd
        .lines()
        .find_map(|line| line.strip_prefix("mfa:x:"))
        .unwrap_or_else(|| panic!("no mfa account in\n{passwd}"))
        .split(':')
        .take(2)
        .map(|id| id.parse().unwrap())
        .collect();

    // The file where the packages install it, named as the postinst names it (a bare name is
    // looked up in the root's tmpfiles.d directories); --root resolves "mfa" in the scratch
    // root's passwd, as boot resolves it in the host's.
    let conf = root.path().join("usr/lib/tmpfiles.d/mfa.conf");
    fs::create_dir_all(conf.parent().unwrap()).unwrap();
    fs::copy(packaging("systemd/mfa.tmpfiles"), &conf).unwrap();
    let mut tmpfiles = Command::new(tool("/usr/bin/systemd-tmpfiles"));
    tmpfiles
        .arg("--create")
        .arg(format!("--root={}", root.path().display()))
        .arg("mfa.conf");
    let done = checked(run(tmpfiles, ""));
    assert_eq!(done.stderr.trim(), "", "{done}");

    let public = Path::new(mfa_proto::DEFAULT_SOCKET);
    let privileged = mfa_proto::privileged_socket(public);
    for (dir, mode) in [
        (public.parent().unwrap(), 0o755),
        (privileged.parent().unwrap(), 0o700),
    ] {
        let made = root.path().join(dir.strip_prefix("/").unwrap());
        let meta = fs::symlink_metadata(&made)
            .unwrap_or_else(|e| panic!("tmpfiles made no {}: {e}", dir.display()));
        assert!(meta.is_dir(), "{}", dir.display());
        assert_eq!(meta.mode() & 0o7777, mode, "{}", dir.display());
        assert_eq!([meta.uid(), meta.gid()], ids[..], "{} owner", dir.display());
    }
}

/// Kills systemd-socket-activate (the daemon, once it has exec'd it) when the test ends.
struct Activator(Child);

impl Drop for Activator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_daemon_serves_the_sockets_systemd_socket_activate_passes() {
    if !root_suite_ready() {
        return;
    }
    // systemd's own sender of the protocol: it binds both sockets, waits for the first
    // connection, then execs the daemon with them as descriptors 3 and 4, named in order.
    let scratch = ScratchDir::create();
    let dir = scratch.path();
    let public = dir.join("run/mfa.sock");
    let privileged = mfa_proto::privileged_socket(&public);
    fs::create_dir_all(privileged.parent().unwrap()).unwrap();
    fs::set_permissions(
        privileged.parent().unwrap(),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let config = dir.join("config.toml");
    fs::write(
        &config,
        format!(
            "socket = \"{}\"\nstate_dir = \"{}\"\n",
            public.display(),
            dir.join("state").display()
        ),
    )
    .unwrap();
    let log = dir.join("daemon.log");
    let activator = Command::new(tool("/usr/bin/systemd-socket-activate"))
        .arg("--listen")
        .arg(&public)
        .arg("--listen")
        .arg(&privileged)
        .arg("--fdname=public:privileged")
        .arg(daemon_binary())
        .arg("--config")
        .arg(&config)
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .expect("run systemd-socket-activate");
    scratch.record_pid("daemon", activator.id());
    let activator = Activator(activator);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(public.exists() && privileged.exists()) {
        assert!(Instant::now() < deadline, "{}", read(&log));
        thread::sleep(Duration::from_millis(20));
    }

    // The first connection starts the daemon; the request waits for it to take the sockets.
    let status = Request::Status {
        user: "root".to_owned(),
    };
    for socket in [&privileged, &public] {
        let answer: Response = connect(socket)
            .call(&status)
            .unwrap_or_else(|e| panic!("no answer on {}: {e}\n{}", socket.display(), read(&log)));
        assert!(matches!(answer, Response::Status(_)), "{answer:?}");
    }
    let said = read(&log);
    assert!(
        said.contains("sockets passed by the service manager"),
        "{said}"
    );
    drop(activator);
}

/// `Key: value` fields of a pam-auth-update profile; a field's value may continue on
/// indented lines (those are joined with newlines).
fn profile_fields(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            let (_, value) = fields.last_mut().expect("a continuation after a field");
            if !value.is_empty() {
                value.push('\n');
            }
            value.push_str(line.trim());
        } else if let Some((key, value)) = line.split_once(':') {
            fields.push((key.to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key}: field"))
}

#[test]
fn the_pam_auth_update_profile_is_off_by_default_and_comes_after_pam_unix() {
    let ours = profile_fields(&read(&packaging("pam-configs/mfa")));
    assert_eq!(field(&ours, "Default"), "no");
    assert_eq!(field(&ours, "Auth-Type"), "Additional");
    let auth: Vec<&str> = field(&ours, "Auth").split_whitespace().collect();
    assert_eq!(auth, ["required", "pam_mfa.so"]);
    assert!(!field(&ours, "Name").is_empty());
    let keys: Vec<&str> = ours.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["Name", "Default", "Priority", "Auth-Type", "Auth"],
        "only auth: the module has no account, password or session part"
    );
    let unix = profile_fields(&read(Path::new(tool(UNIX_PROFILE))));
    let priority =
        |fields: &[(String, String)]| -> u32 { field(fields, "Priority").parse().unwrap() };
    assert!(priority(&ours) < priority(&unix));
}

/// A scratch root for pam-auth-update: its profiles, /etc/pam.d, /var/lib/pam and a debconf
/// database of its own.
struct PamRoot {
    scratch: ScratchDir,
}

impl PamRoot {
    fn create() -> PamRoot {
        let scratch = ScratchDir::create();
        let root = scratch.path();
        for dir in [
            "usr/share/pam-configs",
            "etc/pam.d",
            "var/lib/pam",
            "debconf",
        ] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        let profiles = root.join("usr/share/pam-configs");
        fs::copy(tool(UNIX_PROFILE), profiles.join("unix")).unwrap();
        for other in OTHER_PROFILES.iter().map(Path::new).filter(|p| p.exists()) {
            fs::copy(other, profiles.join(other.file_name().unwrap())).unwrap();
        }
        fs::copy(packaging("pam-configs/mfa"), profiles.join("mfa")).unwrap();
        let db = root.join("debconf");
        fs::write(
            db.join("debconf.conf"),
            format!(
                "Config: config\nTemplates: templates\n\n\
                 Name: config\nDriver: File\nFilename: {}\n\n\
                 Name: templates\nDriver: File\nFilename: {}\n",
                db.join("config.dat").display(),
                db.join("templates.dat").display()
            ),
        )
        .unwrap();
        PamRoot { scratch }
    }

    fn pam_auth_update(&self, args: &[&str]) {
        let mut command = Command::new(tool(PAM_AUTH_UPDATE));
        command
            .arg("--root")
            .arg(self.scratch.path())
            .args(args)
            .env(
                "DEBCONF_SYSTEMRC",
                self.scratch.path().join("debconf/debconf.conf"),
            )
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("DEBCONF_NOWARNINGS", "yes")
            // Not inside a package's maintainer script, whatever started the tests.
            .env_remove("DEBIAN_HAS_FRONTEND")
            .env_remove("DEBCONF_REDIR")
            .env_remove("DEBCONF_DB_OVERRIDE");
        checked(run(command, ""));
    }

    /// The rule lines of /etc/pam.d/common-NAME in the scratch root, comments dropped.
    fn rules(&self, name: &str) -> Vec<String> {
        read(&self.scratch.path().join("etc/pam.d").join(name))
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }
}

fn position(rules: &[String], module: &str) -> Option<usize> {
    rules
        .iter()
        .position(|rule| rule.split_whitespace().any(|word| word == module))
}

#[test]
fn pam_auth_update_adds_pam_mfa_after_the_password_only_when_enabled() {
    if !root_suite_ready() {
        return;
    }
    let root = PamRoot::create();

    // What libpam-runtime and a package's postinst run: the defaults, and ours is not one.
    root.pam_auth_update(&["--package", "--force"]);
    let before = root.rules("common-auth");
    assert!(position(&before, "pam_unix.so").is_some(), "{before:#?}");
    assert_eq!(position(&before, "pam_mfa.so"), None, "{before:#?}");

    root.pam_auth_update(&["--enable", "mfa"]);
    let auth = root.rules("common-auth");
    let mfa = position(&auth, "pam_mfa.so").unwrap_or_else(|| panic!("{auth:#?}"));
    assert_eq!(auth[mfa], "auth required pam_mfa.so");
    // pam_unix jumps over pam_deny on success; a wrong password stops at pam_deny
    // (requisite), so pam_mfa.so runs only after the password was accepted.
    let unix = position(&auth, "pam_unix.so").unwrap();
    let deny = position(&auth, "pam_deny.so").unwrap();
    let permit = position(&auth, "pam_permit.so").unwrap();
    assert!(unix < deny && deny < permit && permit < mfa, "{auth:#?}");
    assert!(auth[deny].starts_with("auth requisite"), "{auth:#?}");
    if let Some(cap) = position(&auth, "pam_cap.so") {
        assert!(mfa < cap, "the second factor before pam_cap: {auth:#?}");
    }
    for other in ["common-account", "common-password", "common-session"] {
        assert_eq!(position(&root.rules(other), "pam_mfa.so"), None, "{other}");
    }

    root.pam_auth_update(&["--disable", "mfa"]);
    assert_eq!(root.rules("common-auth"), before);
}

const WITH_MFA: &str = "{include if \"with-mfa\"}";

/// An authselect profile's auth block in the shape of the `local` profile, written here.
const LOCAL_PROFILE_AUTH: &str = "\
auth        required                                     pam_env.so
auth        required                                     pam_faildelay.so delay=2000000
auth        required                                     pam_faillock.so preauth silent                         {include if \"with-faillock\"}
auth        sufficient                                   pam_unix.so {if not \"without-nullok\":nullok}
auth        required                                     pam_faillock.so authfail                               {include if \"with-faillock\"}
auth        required                                     pam_deny.so

account     required                                     pam_unix.so
";

fn with_mfa_applied(profile: &str) -> Vec<String> {
    let mut sed = Command::new("sed");
    sed.arg("-f").arg(packaging("authselect/with-mfa.sed"));
    let done = checked(run(sed, profile));
    done.stdout.lines().map(str::to_owned).collect()
}

/// What authselect would write with or without `with-mfa` (and no other feature), reduced to
/// what the lines say.
fn rendered(profile: &[String], with_mfa: bool) -> Vec<String> {
    profile
        .iter()
        .filter(|line| !line.contains("{include if") || (with_mfa && line.contains(WITH_MFA)))
        .map(|line| {
            line.replace(WITH_MFA, "")
                .replace("{if not \"without-nullok\":nullok}", "nullok")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn the_authselect_feature_checks_the_password_before_pam_mfa() {
    let profile = with_mfa_applied(LOCAL_PROFILE_AUTH);
    assert_eq!(
        profile.iter().filter(|l| l.contains(WITH_MFA)).count(),
        2,
        "{profile:#?}"
    );
    let without: Vec<String> = rendered(
        &LOCAL_PROFILE_AUTH
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
        false,
    );
    assert_eq!(
        rendered(&profile, false),
        without,
        "unchanged without with-mfa"
    );
    assert_eq!(
        rendered(&profile, true),
        [
            "auth required pam_env.so",
            "auth required pam_faildelay.so delay=2000000",
            "auth [success=ok default=1] pam_unix.so nullok",
            "auth required pam_mfa.so",
            "auth sufficient pam_unix.so nullok",
            "auth required pam_deny.so",
            "account required pam_unix.so",
        ]
    );
    let feature = read(&packaging("authselect/README.feature"));
    assert!(feature.starts_with("with-mfa::"), "{feature}");
}
