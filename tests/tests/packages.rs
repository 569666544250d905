//! The packages as a sysadmin gets them. `packaging/build.sh` makes the .deb and the .rpm
//! (once per run of this suite); lintian and rpmlint judge them; the .rpm's file list, modes,
//! owners and scriptlets are read with `rpm -qp` and it is installed into a scratch root; the
//! .deb is installed, used, upgraded and purged in a throw-away Debian root made with
//! debootstrap (the host's suite, the mirror from the host's apt sources), where the daemon
//! runs as its unit would and a user logs in through `pam-auth-update`'s common-auth.
//!
//! The debootstrap root is cached as a tarball under `target/package-tests/`; each test
//! unpacks its own copy under `target/package-tests/roots/root-<pid>-<n>` and removes it,
//! with every process running inside it, on drop; a later run removes what a killed one left.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mfa_tests::text::{CODE_PROMPT, PAMTESTER_SUCCESS};
use mfa_tests::{Authenticator, Interaction, json_line_with, root_suite_ready};
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The workspace: where `packaging/build.sh` runs.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Everything this suite keeps or makes: packages, the cached root, the unpacked roots.
fn suite_dir() -> PathBuf {
    workspace().join("target/package-tests")
}

/// Longest a package build may take (a clean one installs cargo-deb and cargo-generate-rpm).
const BUILD_TIMEOUT: Duration = Duration::from_secs(40 * 60);
/// Longest debootstrap may take to make the cached root.
const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Longest a command inside the root may take (apt, dpkg, pam-auth-update).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The files both packages install, with their modes (all owned by root; config.toml's group
/// is mfa once installed, see [`CONFIG`]). The .deb puts the module in Debian's multiarch
/// directory and keeps PAM modules 0644; the .rpm in /usr/lib64/security with 0755, as
/// Fedora's own modules are.
const COMMON_FILES: [(&str, u32); 18] = [
    ("/usr/sbin/mfa-daemon", 0o755),
    ("/usr/sbin/mfactl", 0o755),
    ("/usr/sbin/mfa-web", 0o755),
    ("/usr/sbin/mfa-radius", 0o755),
    ("/usr/bin/mfa-enroll", 0o755),
    (CONFIG, 0o640),
    ("/usr/share/pam-mfa/check-pam-lines", 0o755),
    ("/usr/lib/sysusers.d/mfa.conf", 0o644),
    ("/usr/lib/tmpfiles.d/mfa.conf", 0o644),
    ("/usr/share/man/man8/pam_mfa.8.gz", 0o644),
    ("/usr/share/man/man8/mfa-daemon.8.gz", 0o644),
    ("/usr/share/man/man8/mfactl.8.gz", 0o644),
    ("/usr/share/man/man8/mfa-web.8.gz", 0o644),
    ("/usr/share/man/man8/mfa-radius.8.gz", 0o644),
    ("/usr/share/man/man1/mfa-enroll.1.gz", 0o644),
    ("/usr/share/man/man5/mfa.toml.5.gz", 0o644),
    ("/usr/share/doc/pam-mfa/README.md", 0o644),
    ("/usr/share/doc/pam-mfa/CONTRACT.md", 0o644),
];
/// The configuration: it names who skips the second factor, so only root and the daemon's
/// group (mfa) read it.
const CONFIG: &str = "/etc/mfa/config.toml";
/// `stat -c '%a %U:%G'` of [`CONFIG`] once installed.
const CONFIG_STAT: &str = "640 root:mfa";
/// The override a removal needs while a PAM file calls the module (README, "Removing the
/// package").
const FORCE_REMOVE: &str = "PAM_MFA_FORCE_REMOVE=1";
/// The web pages' unit: installed, never enabled by the packages.
const WEB_UNIT: &str = "mfa-web.service";
/// The link `systemctl enable mfa-web.service` makes.
const WEB_UNIT_ENABLED: &str = "/etc/systemd/system/multi-user.target.wants/mfa-web.service";
/// The account mfa-web runs as (packaging/systemd/mfa.sysusers).
const WEB_USER: &str = "mfa-web";
/// The RADIUS server's unit: installed, never enabled by the packages.
const RADIUS_UNIT: &str = "mfa-radius.service";
/// The link `systemctl enable mfa-radius.service` makes.
const RADIUS_UNIT_ENABLED: &str = "/etc/systemd/system/multi-user.target.wants/mfa-radius.service";
/// The account mfa-radius runs as (packaging/systemd/mfa.sysusers).
const RADIUS_USER: &str = "mfa-radius";

const DEB_ONLY_FILES: [(&str, u32); 5] = [
    ("/usr/lib/x86_64-linux-gnu/security/pam_mfa.so", 0o644),
    ("/usr/share/pam-configs/mfa", 0o644),
    ("/usr/share/doc/pam-mfa/copyright", 0o644),
    ("/usr/share/doc/pam-mfa/changelog.Debian.gz", 0o644),
    ("/usr/share/lintian/overrides/pam-mfa", 0o644),
];
const RPM_ONLY_FILES: [(&str, u32); 4] = [
    ("/usr/lib64/security/pam_mfa.so", 0o755),
    ("/usr/share/doc/pam-mfa/authselect/README.md", 0o644),
    ("/usr/share/doc/pam-mfa/authselect/README.feature", 0o644),
    ("/usr/share/doc/pam-mfa/authselect/with-mfa.sed", 0o644),
];

/// The expected files, with the systemd units from packaging/systemd: the daemon's service
/// and the socket units it comes with (`mfa-daemon*`), `mfa-web.service` and
/// `mfa-radius.service`.
fn expected_files(only: &[(&'static str, u32)]) -> BTreeSet<(String, u32)> {
    let units_dir = workspace().join("packaging/systemd");
    let units = fs::read_dir(&units_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", units_dir.display()))
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("mfa-daemon") || name == WEB_UNIT || name == RADIUS_UNIT)
        .map(|name| (format!("/usr/lib/systemd/system/{name}"), 0o644));
    COMMON_FILES
        .iter()
        .chain(only)
        .map(|(path, mode)| ((*path).to_owned(), *mode))
        .chain(units)
        .collect()
}

/// The packages build.sh made.
#[derive(Debug)]
struct Packages {
    version: String,
    deb: PathBuf,
    rpm: PathBuf,
}

/// The workspace version, as build.sh reads it.
fn workspace_version() -> String {
    let manifest = fs::read_to_string(workspace().join("Cargo.toml")).expect("Cargo.toml");
    manifest
        .split("[workspace.package]")
        .nth(1)
        .and_then(|section| {
            section
                .lines()
                .find_map(|line| line.strip_prefix("version = \""))
        })
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a version in [workspace.package]")
        .to_owned()
}

/// The packages of `version` in `out`, made by `packaging/build.sh` unless this test run
/// made them already. Under a lock, since nextest runs each test in a process of its own:
/// the first process builds, the others of the same run (`NEXTEST_RUN_ID`) find them. A
/// build goes to a staging directory and its files are renamed into `out`, so a process
/// still reading an earlier package (copying it into a root) never sees it half written.
fn build_packages(version: &str, out: &Path) -> Packages {
    fs::create_dir_all(suite_dir()).expect("create target/package-tests");
    let lock = fs::File::create(suite_dir().join("build.lock")).expect("create build.lock");
    let _held = Flock::lock(lock, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("lock build.lock");
    let packages = Packages {
        version: version.to_owned(),
        deb: out.join(format!("pam-mfa_{version}-1_amd64.deb")),
        rpm: out.join(format!("pam-mfa-{version}-1.x86_64.rpm")),
    };
    let stamp = out.join(".built-for-run");
    let run = std::env::var("NEXTEST_RUN_ID").ok();
    let built_this_run = run.is_some()
        && fs::read_to_string(&stamp).ok() == run
        && packages.deb.is_file()
        && packages.rpm.is_file();
    if built_this_run {
        return packages;
    }
    let staging = suite_dir().join(format!("staging-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let output = Command::new("timeout")
        .arg(BUILD_TIMEOUT.as_secs().to_string())
        .arg(workspace().join("packaging/build.sh"))
        .args(["--version", version, "--out"])
        .arg(&staging)
        .current_dir(workspace())
        .output()
        .expect("run packaging/build.sh");
    assert!(
        output.status.success(),
        "packaging/build.sh failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    fs::create_dir_all(out).expect("create the packages' directory");
    for file in [&packages.deb, &packages.rpm] {
        let made = staging.join(file.file_name().expect("a file name"));
        assert!(made.is_file(), "build.sh made no {}", made.display());
        fs::rename(&made, file).expect("move the package into place");
    }
    let _ = fs::remove_dir_all(&staging);
    if let Some(run) = run {
        fs::write(&stamp, run).expect("write the build stamp");
    }
    packages
}

/// The packages of the workspace version, built once per process.
fn packages() -> &'static Packages {
    static BUILT: OnceLock<Packages> = OnceLock::new();
    BUILT.get_or_init(|| build_packages(&workspace_version(), &suite_dir().join("dist")))
}

/// Runs `program args`, panicking with its output unless it exits 0; returns stdout.
fn check_output(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "`{program} {}` failed ({}):\n{}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

#[test]
fn deb_passes_lintian_and_lists_the_expected_files() {
    if !root_suite_ready() {
        return;
    }
    let packages = packages();
    let deb = path_str(&packages.deb);

    // Warnings we keep are in packaging/debian/lintian-overrides, each with its reason.
    let output = Command::new("lintian")
        .args(["--no-tag-display-limit", "--display-info", deb])
        .output()
        .expect("run lintian");
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    eprintln!("lintian {deb}:\n{report}");
    let complaints: Vec<&str> = report
        .lines()
        .filter(|line| line.starts_with("E: ") || line.starts_with("W: "))
        .collect();
    assert!(
        complaints.is_empty(),
        "lintian errors or warnings:\n{}",
        complaints.join("\n")
    );

    let listing = check_output("dpkg-deb", &["--contents", deb]);
    let mut files = BTreeSet::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (perms, owner, path) = (fields[0], fields[1], fields[5]);
        assert!(
            owner == "root/root" || owner == "0/0",
            "owner of {path}: {owner}"
        );
        if perms.starts_with('-') {
            let path = path.trim_start_matches('.').to_owned();
            files.insert((path, mode_from_perms(perms)));
        }
    }
    assert_eq!(files, expected_files(&DEB_ONLY_FILES), "files in {deb}");

    let control = check_output("dpkg-deb", &["--field", deb]);
    for expected in [
        "Package: pam-mfa",
        &format!("Version: {}-1", packages.version),
        "Architecture: amd64",
    ] {
        assert!(control.contains(expected), "no {expected:?} in:\n{control}");
    }
    let depends = control
        .lines()
        .find(|line| line.starts_with("Depends: "))
        .unwrap_or_else(|| panic!("no Depends in:\n{control}"));
    for dependency in ["libc6", "libpam0g", "adduser", "libpam-runtime"] {
        assert!(
            depends.contains(dependency),
            "{dependency} not in {depends}"
        );
    }
    let conffiles = check_output("dpkg-deb", &["--info", deb, "conffiles"]);
    assert_eq!(conffiles.trim(), "/etc/mfa/config.toml");
}

/// `-rwxr-xr-x` → 0o755.
fn mode_from_perms(perms: &str) -> u32 {
    perms
        .chars()
        .skip(1)
        .take(9)
        .fold(0, |mode, c| (mode << 1) | u32::from(c != '-'))
}

#[test]
fn rpm_lists_the_expected_files_modes_owners_and_scriptlets() {
    if !root_suite_ready() {
        return;
    }
    let packages = packages();
    let rpm = path_str(&packages.rpm);

    let header = check_output(
        "rpm",
        &[
            "-qp",
            "--qf",
            "%{NAME} %{VERSION} %{RELEASE} %{ARCH}\n",
            rpm,
        ],
    );
    assert_eq!(
        header.trim(),
        format!("pam-mfa {} 1 x86_64", packages.version)
    );

    let listing = check_output(
        "rpm",
        &[
            "-qp",
            "--qf",
            "[%{FILEMODES:perms}|%{FILEUSERNAME}|%{FILEGROUPNAME}|%{FILEFLAGS:fflags}|%{FILENAMES}\n]",
            rpm,
        ],
    );
    let mut files = BTreeSet::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split('|').collect();
        let (perms, user, group, flags, path) =
            (fields[0], fields[1], fields[2], fields[3], fields[4]);
        let expected_group = if path == CONFIG { "mfa" } else { "root" };
        assert_eq!((user, group), ("root", expected_group), "owner of {path}");
        if path == CONFIG {
            assert!(
                flags.contains('c') && flags.contains('n'),
                "config.toml is {flags}, not %config(noreplace)"
            );
        }
        if perms.starts_with('-') {
            files.insert((path.to_owned(), mode_from_perms(perms)));
        }
    }
    assert_eq!(files, expected_files(&RPM_ONLY_FILES), "files in {rpm}");
    // `rpm -qlp` agrees: the same paths (directories are not owned by the package).
    let names: BTreeSet<String> = check_output("rpm", &["-qlp", rpm])
        .lines()
        .map(str::to_owned)
        .collect();
    let expected_names: BTreeSet<String> = files.iter().map(|(path, _)| path.clone()).collect();
    assert_eq!(names, expected_names);
    let long = check_output("rpm", &["-qlvp", rpm]);
    let config = long
        .lines()
        .find(|line| line.ends_with(&format!(" {CONFIG}")))
        .unwrap_or_else(|| panic!("no {CONFIG} in rpm -qlvp:\n{long}"));
    let fields: Vec<&str> = config.split_whitespace().collect();
    assert_eq!(
        (fields[0], fields[2], fields[3]),
        ("-rw-r-----", "root", "mfa"),
        "{config}"
    );

    let requires = check_output("rpm", &["-qp", "--requires", rpm]);
    for dependency in ["pam", "libpam.so.0", "libc.so.6", "/bin/sh"] {
        assert!(
            requires.contains(dependency),
            "{dependency} not required:\n{requires}"
        );
    }

    let scripts = check_output("rpm", &["-qp", "--scripts", rpm]);
    for expected in [
        "preinstall scriptlet",
        "systemd-sysusers --replace=/usr/lib/sysusers.d/mfa.conf -",
        "useradd --system",
        "postinstall scriptlet",
        "install -d -m 0700 -o mfa -g mfa /var/lib/mfa",
        "systemctl enable --now $units",
        "preuninstall scriptlet",
        "check-pam-lines --before-removal || exit 1",
        "systemctl disable --now $units mfa-web.service mfa-radius.service",
        "postuninstall scriptlet",
        "systemctl try-restart mfa-daemon.service",
        // mfa-web's account beside the daemon's; its unit restarted only if it runs.
        "'u mfa-web - \"pam-mfa web pages\"'",
        "--comment \"pam-mfa web pages\" mfa-web",
        "systemctl try-restart mfa-web.service mfa-radius.service",
        // mfa-radius's account too.
        "'u mfa-radius - \"pam-mfa RADIUS server\"'",
        "--comment \"pam-mfa RADIUS server\" mfa-radius",
    ] {
        assert!(
            scripts.contains(expected),
            "no {expected:?} in the scriptlets:\n{scripts}"
        );
    }
    // Nothing changes PAM (no authselect command, no edit of /etc/pam.d): outside comments
    // and the messages it prints, no scriptlet line names them.
    let commands: Vec<&str> = scripts
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#') && !line.starts_with("echo "))
        .collect();
    // mfa-web and mfa-radius are the admin's to enable ($units holds only the daemon's units).
    let enabling: Vec<&&str> = commands
        .iter()
        .filter(|line| line.contains("systemctl enable") || line.contains("systemctl start"))
        .collect();
    assert!(
        !enabling.is_empty()
            && enabling
                .iter()
                .all(|line| !line.contains("mfa-web") && !line.contains("mfa-radius")),
        "the scriptlets enable or start {WEB_UNIT} or {RADIUS_UNIT}: {enabling:?}"
    );
    for forbidden in [
        "authselect select",
        "authselect enable-feature",
        "authselect apply-changes",
        "pam-auth-update",
        "sed -i",
    ] {
        let found: Vec<&&str> = commands
            .iter()
            .filter(|line| line.contains(forbidden))
            .collect();
        assert!(
            found.is_empty(),
            "{forbidden:?} in the scriptlets: {found:?}"
        );
    }
}

#[test]
fn rpm_passes_rpmlint() {
    if !root_suite_ready() {
        return;
    }
    let rpm = path_str(&packages().rpm);
    let config = workspace().join("packaging/rpm/rpmlint.toml");
    let output = Command::new("rpmlint")
        .arg("-c")
        .arg(&config)
        .arg(rpm)
        .output()
        .expect("run rpmlint");
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    eprintln!("rpmlint {rpm}:\n{report}");
    // Findings we keep are filtered in packaging/rpm/rpmlint.toml, each with its reason.
    let findings: Vec<&str> = report
        .lines()
        .filter(|line| line.contains(": E: ") || line.contains(": W: "))
        .collect();
    assert!(
        findings.is_empty(),
        "rpmlint errors or warnings:\n{}",
        findings.join("\n")
    );
}

/// The .rpm with its scriptlets, in a copy of the cached Debian root: rpm runs them chrooted
/// there, and the root has what they use (a shell, getent, useradd, awk). %pre makes the
/// account before the files, so config.toml lands root:mfa 0640; %preun refuses an erase while
/// a PAM file calls the module, until the line is gone or the override is given.
#[test]
fn rpm_installs_and_erases_in_a_scratch_root() {
    if !root_suite_ready() {
        return;
    }
    let rpm = path_str(&packages().rpm);
    let tarball = cached_root_tarball()
        .expect("no root for the .rpm's scriptlets: debootstrap could not reach the mirror");
    let root = unpack_root(&tarball);
    let root_str = path_str(root.path());
    // --nodeps: the root's RPM database is empty, so glibc and pam cannot be met there.
    let install = || check_output("rpm", &["-i", "--root", root_str, "--nodeps", rpm]);
    let installed = install();
    assert!(
        installed.contains("mfa-enroll totp"),
        "%post did not say what to do next:\n{installed}"
    );
    let mfa_gid = group_id(root.path(), "mfa");
    // %pre made mfa-web's and mfa-radius's accounts too (and their groups).
    let passwd = fs::read_to_string(root.path().join("etc/passwd")).expect("the root's passwd");
    for user in [WEB_USER, RADIUS_USER] {
        group_id(root.path(), user);
        assert!(
            passwd
                .lines()
                .any(|line| line.starts_with(&format!("{user}:"))),
            "no {user} account after rpm -i:\n{passwd}"
        );
    }
    for (path, mode) in expected_files(&RPM_ONLY_FILES) {
        let file = root.path().join(path.trim_start_matches('/'));
        let meta = fs::metadata(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "mode of {path}");
        let gid = if path == CONFIG { mfa_gid } else { 0 };
        assert_eq!((meta.uid(), meta.gid()), (0, gid), "owner of {path}");
    }
    check_output("rpm", &["-V", "--root", root_str, "--nodeps", "pam-mfa"]);

    // A line added by hand, as the README shows for sshd: the erase stops, naming it.
    let service = format!("mfa-rpm-test-{}", std::process::id());
    let pam_file = root.path().join("etc/pam.d").join(&service);
    fs::write(&pam_file, "# added by hand\nauth required pam_mfa.so\n")
        .expect("write the PAM file");
    let erase = |force: bool| {
        let mut command = Command::new("rpm");
        command.args(["-e", "--root", root_str, "--nodeps", "pam-mfa"]);
        if force {
            let (name, value) = FORCE_REMOVE.split_once('=').expect("NAME=VALUE");
            command.env(name, value);
        } else {
            command.env_remove("PAM_MFA_FORCE_REMOVE");
        }
        command.output().expect("run rpm -e")
    };
    let refused = erase(false);
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        !refused.status.success()
            && said.contains(&format!("/etc/pam.d/{service}:2: auth required pam_mfa.so"))
            && said.contains(FORCE_REMOVE),
        "rpm -e with a hand-added pam_mfa.so line ({}):\n{said}",
        refused.status
    );
    check_output("rpm", &["-q", "--root", root_str, "pam-mfa"]);
    for (path, _) in expected_files(&RPM_ONLY_FILES) {
        assert!(
            root.path().join(path.trim_start_matches('/')).exists(),
            "{path} gone after a refused erase"
        );
    }

    // With the override the erase goes ahead, and says what it leaves.
    let forced = erase(true);
    let said = String::from_utf8_lossy(&forced.stderr).into_owned();
    assert!(
        forced.status.success() && said.contains(&format!("/etc/pam.d/{service}:2")),
        "rpm -e with {FORCE_REMOVE} ({}):\n{said}",
        forced.status
    );

    // authselect's with-mfa feature still on (its file linked as authselect links
    // system-auth): the erase stops too, saying how to turn the feature off.
    install();
    fs::write(&pam_file, "# auth required pam_mfa.so, taken out\n").expect("edit the PAM file");
    let selected = format!("system-auth-{service}");
    let authselect = root.path().join("etc/authselect");
    fs::create_dir_all(&authselect).expect("create etc/authselect");
    fs::write(authselect.join(&selected), "auth required pam_mfa.so\n")
        .expect("write authselect's file");
    let link = root.path().join("etc/pam.d").join(&selected);
    std::os::unix::fs::symlink(format!("/etc/authselect/{selected}"), &link)
        .expect("link it into pam.d");
    let refused = erase(false);
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        !refused.status.success() && said.contains("authselect disable-feature with-mfa"),
        "rpm -e with authselect's with-mfa on ({}):\n{said}",
        refused.status
    );
    check_output("rpm", &["-q", "--root", root_str, "pam-mfa"]);
    fs::remove_file(&link).expect("unlink authselect's file");

    // Without the lines, a plain erase works.
    let erased = erase(false);
    assert!(
        erased.status.success(),
        "rpm -e without the line failed ({}):\n{}",
        erased.status,
        String::from_utf8_lossy(&erased.stderr)
    );
    for (path, _) in expected_files(&RPM_ONLY_FILES) {
        assert!(
            !root.path().join(path.trim_start_matches('/')).exists(),
            "{path} left after rpm -e"
        );
    }
}

/// The gid of `name` in `root`'s /etc/group.
fn group_id(root: &Path, name: &str) -> u32 {
    let groups = fs::read_to_string(root.join("etc/group")).expect("the root's /etc/group");
    groups
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&name)).then(|| fields.get(2)?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no group {name} in the root's /etc/group"))
}

/// `check-pam-lines` (the prerm's and %preun's check) on PAM files of each kind: only the
/// lines no tool takes out itself are counted, and --all counts those too.
#[test]
fn check_pam_lines_counts_only_lines_no_tool_takes_out() {
    let dir = ThrowAwayDir::new("pam-lines");
    let pam_d = dir.path().join("pam.d");
    fs::create_dir_all(&pam_d).expect("create pam.d");
    fs::create_dir_all(dir.path().join("authselect")).expect("create authselect");
    // pam-auth-update's block (as in a Debian common-auth), and a line after it by hand.
    let common_auth = "# here are the per-package modules (the \"Primary\" block)\n\
        auth\t[success=1 default=ignore]\tpam_unix.so nullok\n\
        # here's the fallback if no module succeeds\n\
        auth\trequisite\t\t\tpam_deny.so\n\
        auth\trequired\t\t\tpam_permit.so\n\
        # and here are more per-package modules (the \"Additional\" block)\n\
        auth\trequired\t\t\tpam_mfa.so\n\
        # end of pam-auth-update config\n\
        auth required pam_mfa.so\n";
    let service = "# auth required pam_mfa.so\n\
        @include common-auth\n\
        auth required /usr/lib/x86_64-linux-gnu/security/pam_mfa.so nullok\n\
        -auth required pam_mfa.so\n\
        auth required pam_unix.so # then pam_mfa.so\n\
        auth required pam_mfa.so.bak\n";
    for (name, text) in [
        ("common-auth", common_auth),
        ("sshd", service),
        ("sshd.dpkg-old", service),
        ("login.rpmsave", service),
        ("sudo", "@include common-auth\n"),
    ] {
        fs::write(pam_d.join(name), text).expect("write a PAM file");
    }
    // authselect's file, linked as authselect links /etc/pam.d/system-auth.
    fs::write(
        dir.path().join("authselect/system-auth"),
        "auth required pam_mfa.so {include if \"with-mfa\"}\n",
    )
    .expect("write system-auth");
    std::os::unix::fs::symlink("../authselect/system-auth", pam_d.join("system-auth"))
        .expect("link system-auth");

    let script = workspace().join("packaging/check-pam-lines");
    let run = |args: &[&str]| {
        let output = Command::new("sh")
            .arg(&script)
            .args(args)
            .arg(&pam_d)
            .env_remove("PAM_MFA_FORCE_REMOVE")
            .output()
            .expect("run check-pam-lines");
        let listed = String::from_utf8_lossy(&output.stdout).into_owned();
        (
            output.status.code(),
            listed,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let p = pam_d.display();
    let hand = format!(
        "{p}/common-auth:9: auth required pam_mfa.so\n\
         {p}/sshd:3: auth required /usr/lib/x86_64-linux-gnu/security/pam_mfa.so nullok\n"
    );
    assert_eq!(run(&[]), (Some(1), hand.clone(), String::new()));
    let all = format!(
        "{p}/common-auth:7: auth\trequired\t\t\tpam_mfa.so\n{hand}\
         {p}/system-auth:1: auth required pam_mfa.so {{include if \"with-mfa\"}}\n"
    );
    let (code, listed, _) = run(&["--all"]);
    assert_eq!((code, listed), (Some(1), all));
    let (code, listed, said) = run(&["--before-removal"]);
    assert_eq!((code, listed.as_str()), (Some(1), ""));
    assert!(
        said.contains(&hand) && said.contains(FORCE_REMOVE),
        "{said}"
    );

    // Without those two lines nothing is left to refuse for.
    fs::write(pam_d.join("sshd"), "@include common-auth\n").expect("rewrite sshd");
    let auth_without = common_auth.replace("config\nauth required pam_mfa.so\n", "config\n");
    fs::write(pam_d.join("common-auth"), auth_without).expect("rewrite common-auth");
    assert_eq!(
        run(&["--before-removal"]),
        (Some(0), String::new(), String::new())
    );
}

/// A directory `target/package-tests/roots/<what>-<pid>-<n>`, removed on drop together with
/// every process whose root or working directory is inside it. A later run removes those of
/// a killed run (whose pid is gone).
#[derive(Debug)]
struct ThrowAwayDir {
    path: PathBuf,
}

impl ThrowAwayDir {
    fn new(what: &str) -> ThrowAwayDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let roots = suite_dir().join("roots");
        fs::create_dir_all(&roots).expect("create target/package-tests/roots");
        remove_dead_runs_dirs(&roots);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = roots.join(format!("{what}-{}-{n}", std::process::id()));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod root");
        ThrowAwayDir { path }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ThrowAwayDir {
    fn drop(&mut self) {
        remove_throw_away_dir(&self.path);
    }
}

fn remove_dead_runs_dirs(roots: &Path) {
    let Ok(entries) = fs::read_dir(roots) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name
            .rsplit('-')
            .nth(1)
            .and_then(|pid| pid.parse::<i32>().ok());
        if owner.is_some_and(|pid| kill(Pid::from_raw(pid), None).is_err()) {
            remove_throw_away_dir(&entry.path());
        }
    }
}

/// Kills every process running inside `dir` (its root or cwd there), then removes `dir`.
fn remove_throw_away_dir(dir: &Path) {
    for _ in 0..50 {
        let inside = processes_inside(dir);
        if inside.is_empty() {
            break;
        }
        for pid in inside {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        thread::sleep(Duration::from_millis(100));
    }
    let _ = fs::remove_dir_all(dir);
}

fn processes_inside(dir: &Path) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            ["root", "cwd"].iter().any(|link| {
                fs::read_link(format!("/proc/{pid}/{link}"))
                    .is_ok_and(|target| target.starts_with(dir))
            })
        })
        .collect()
}

/// The host's Debian suite (`VERSION_CODENAME`) and the mirror its apt sources use for it.
fn host_suite_and_mirror() -> (String, String) {
    let os_release = fs::read_to_string("/etc/os-release").expect("/etc/os-release");
    let suite = os_release
        .lines()
        .find_map(|line| line.strip_prefix("VERSION_CODENAME="))
        .map(|value| value.trim_matches('"').to_owned())
        .expect("VERSION_CODENAME in /etc/os-release");
    let mirror = apt_mirror_for(&suite)
        .unwrap_or_else(|| panic!("no deb source for suite {suite} in the host's apt sources"));
    (suite, mirror)
}

/// The URI of the first `deb` source for `suite` in /etc/apt/sources.list(.d), one-line
/// or deb822 style.
fn apt_mirror_for(suite: &str) -> Option<String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let found = match file.extension().and_then(|ext| ext.to_str()) {
            Some("sources") => deb822_mirror(&text, suite),
            Some("list") | None => one_line_mirror(&text, suite),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn one_line_mirror(text: &str, suite: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            return None;
        }
        let mut rest: Vec<&str> = words.collect();
        if rest.first().is_some_and(|word| word.starts_with('[')) {
            let end = rest.iter().position(|word| word.ends_with(']'))?;
            rest.drain(..=end);
        }
        (rest.get(1) == Some(&suite)).then(|| rest[0].to_owned())
    })
}

fn deb822_mirror(text: &str, suite: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let enabled = field("Enabled").is_none_or(|value| value != "no");
        let is_deb = field("Types")?.split_whitespace().any(|t| t == "deb");
        let has_suite = field("Suites")?.split_whitespace().any(|s| s == suite);
        (enabled && is_deb && has_suite)
            .then(|| field("URIs")?.split_whitespace().next().map(str::to_owned))
            .flatten()
    })
}

/// Runs `command` with a deadline, panicking with its output unless it exits 0.
fn run_checked(mut command: Command, timeout: Duration) -> Output {
    let description = format!("{command:?}");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
    let output = wait_with_deadline(child, timeout, &description);
    assert!(
        output.status.success(),
        "{description} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn wait_with_deadline(child: Child, timeout: Duration, description: &str) -> Output {
    let pid = child.id();
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let finished = std::sync::Arc::clone(&finished);
        thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
                if finished.load(Ordering::SeqCst) {
                    return false;
                }
                thread::sleep(Duration::from_millis(200));
            }
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            true
        })
    };
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {description}: {e}"));
    finished.store(true, Ordering::SeqCst);
    let timed_out = watchdog.join().unwrap_or(false);
    assert!(
        !timed_out,
        "{description} ran past {timeout:?} and was killed"
    );
    output
}

/// The cached minbase root of the host's suite (with pamtester, and adduser, which every
/// Debian system but a minbase one has), made by debootstrap on first use. `None` when the
/// mirror cannot be reached.
fn cached_root_tarball() -> Option<PathBuf> {
    let (suite, mirror) = host_suite_and_mirror();
    let tarball = suite_dir().join(format!("debootstrap-{suite}-minbase.tar"));
    if tarball.is_file() {
        return Some(tarball);
    }
    let lock = suite_dir().join("debootstrap.lock");
    fs::create_dir_all(suite_dir()).expect("create target/package-tests");
    let staging = ThrowAwayDir::new("debootstrap");
    let staging_root = staging.path().join("root");
    let script = format!(
        "[ -f '{tarball}' ] && exit 0
         timeout {secs} debootstrap --variant=minbase --include=pamtester,adduser {suite} '{root}' '{mirror}' \
             > '{log}' 2>&1 || {{ tail -n 30 '{log}' >&2; exit 3; }}
         tar -C '{root}' -cf '{tarball}.tmp' . && mv '{tarball}.tmp' '{tarball}'",
        tarball = tarball.display(),
        secs = DEBOOTSTRAP_TIMEOUT.as_secs(),
        root = staging_root.display(),
        log = staging.path().join("debootstrap.log").display(),
    );
    eprintln!(
        "debootstrap: making a {suite} minbase root from {mirror} (cached in {})",
        tarball.display()
    );
    let output = Command::new("flock")
        .arg(&lock)
        .args(["sh", "-c", &script])
        .output()
        .expect("run debootstrap");
    if output.status.success() {
        return Some(tarball);
    }
    eprintln!(
        "debootstrap could not make a root from {mirror}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    None
}

/// A copy of the cached root, in a directory of its own.
fn unpack_root(tarball: &Path) -> ThrowAwayDir {
    let root = ThrowAwayDir::new("root");
    let mut untar = Command::new("tar");
    untar.arg("-C").arg(root.path()).arg("-xf").arg(tarball);
    run_checked(untar, COMMAND_TIMEOUT);
    fs::copy("/etc/resolv.conf", root.path().join("etc/resolv.conf")).ok();
    root
}

/// Where the .deb is installed: a throw-away root, or (CI only, when no mirror is reachable)
/// this machine itself.
#[derive(Debug)]
enum Target {
    Chroot(ThrowAwayDir),
    Host,
}

impl Target {
    fn prepare() -> Target {
        if let Some(tarball) = cached_root_tarball() {
            return Target::Chroot(unpack_root(&tarball));
        }
        assert!(
            std::env::var("CI").as_deref() == Ok("true"),
            "debootstrap could not reach the mirror; outside CI this suite does not install \
             the package on this machine (run it with CI=true to allow that)"
        );
        eprintln!(
            "NOTE: no mirror for debootstrap: installing the .deb on this machine itself (CI=true)"
        );
        assert!(
            !Path::new("/var/lib/dpkg/info/pam-mfa.list").exists(),
            "pam-mfa is already installed on this machine; the fallback will not touch it"
        );
        Target::Host
    }

    /// `path` (absolute) as seen from outside the target.
    fn file(&self, path: &str) -> PathBuf {
        match self {
            Target::Chroot(root) => root.path().join(path.trim_start_matches('/')),
            Target::Host => PathBuf::from(path),
        }
    }

    /// Whether `path` (absolute) exists in the target, as a file, directory or symlink (whose
    /// absolute target means something only inside the root).
    fn present(&self, path: &str) -> bool {
        fs::symlink_metadata(self.file(path)).is_ok()
    }

    /// `program args` inside the target, with a clean environment.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = match self {
            Target::Chroot(root) => {
                let mut command = Command::new("chroot");
                command.arg(root.path()).arg(program);
                command
            }
            Target::Host => Command::new(program),
        };
        command
            .args(args)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LC_ALL", "C.UTF-8")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("HOME", "/root");
        command
    }

    /// Runs `sh -c script` inside the target; panics unless it exits 0; returns stdout.
    fn sh(&self, script: &str) -> String {
        let output = run_checked(self.command("/bin/sh", &["-c", script]), COMMAND_TIMEOUT);
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    }

    /// Copies a package into the target's /tmp and returns its path there.
    fn copy_in(&self, package: &Path) -> String {
        let name = package.file_name().expect("file name").to_string_lossy();
        let inside = format!("/tmp/{name}");
        fs::copy(package, self.file(&inside))
            .unwrap_or_else(|e| panic!("copy {} in: {e}", package.display()));
        inside
    }
}

/// On the host fallback, purges the package and removes the test's account and PAM service
/// even when the test fails half-way.
#[derive(Debug)]
struct HostCleanup<'a> {
    target: &'a Target,
    user: &'a str,
}

impl Drop for HostCleanup<'_> {
    fn drop(&mut self) {
        if matches!(self.target, Target::Host) {
            let _ = Command::new("sh")
                .args([
                    "-c",
                    &format!(
                        "rm -f /etc/pam.d/{SERVICE}-sshd; dpkg --purge pam-mfa; userdel -r {} ; \
                         rm -f /etc/pam.d/{SERVICE}",
                        self.user
                    ),
                ])
                .status();
        }
    }
}

/// The PAM service the login goes through: the common stacks, as /etc/pam.d/login has them.
const SERVICE: &str = "mfa-package-test";

/// The daemon, started as `mfa-daemon.service` would start it.
#[derive(Debug)]
struct UnitDaemon {
    child: Child,
    log: PathBuf,
}

impl UnitDaemon {
    /// Reads the installed unit and runs its ExecStart= as its User=/Group=, with its UMask=,
    /// NoNewPrivileges= and RuntimeDirectory=/StateDirectory= (made as systemd makes them),
    /// then waits until both sockets exist.
    fn start(target: &Target, log: PathBuf) -> UnitDaemon {
        let unit = fs::read_to_string(target.file("/usr/lib/systemd/system/mfa-daemon.service"))
            .expect("the installed unit");
        let key = |name: &str| -> Option<String> {
            unit.lines()
                .rev()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
                .map(|value| value.trim().to_owned())
        };
        let user = key("User").expect("User= in the unit");
        let group = key("Group").unwrap_or_else(|| user.clone());
        let umask = key("UMask").unwrap_or_else(|| "0022".to_owned());
        let exec = key("ExecStart").expect("ExecStart= in the unit");
        let exec = exec
            .trim_start_matches(['-', '@', ':', '+', '!'])
            .to_owned();
        let no_new_privs = key("NoNewPrivileges").is_some_and(|v| v == "yes" || v == "true");
        let mut dirs = String::new();
        for (dir_key, mode_key, base) in [
            ("RuntimeDirectory", "RuntimeDirectoryMode", "/run"),
            ("StateDirectory", "StateDirectoryMode", "/var/lib"),
        ] {
            if let Some(name) = key(dir_key) {
                let mode = key(mode_key).unwrap_or_else(|| "0755".to_owned());
                dirs += &format!("install -d -m {mode} -o {user} -g {group} {base}/{name} && ");
            }
        }
        let state = target.sh(&format!("{dirs} stat -c '%a %U:%G' /var/lib/mfa"));
        assert_eq!(
            state.trim(),
            "700 mfa:mfa",
            "/var/lib/mfa after the postinst"
        );
        let log_file = fs::File::create(&log).expect("daemon log");
        let mut setpriv_args = vec![
            "--reuid".to_owned(),
            user.clone(),
            "--regid".to_owned(),
            group.clone(),
            "--clear-groups".to_owned(),
            "--pdeathsig".to_owned(),
            "KILL".to_owned(),
        ];
        if no_new_privs {
            setpriv_args.push("--no-new-privs".to_owned());
        }
        setpriv_args.extend([
            "--".to_owned(),
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            format!("umask {umask} && exec {exec}"),
        ]);
        let args: Vec<&str> = setpriv_args.iter().map(String::as_str).collect();
        let child = target
            .command("/usr/bin/setpriv", &args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .expect("start mfa-daemon");
        let daemon = UnitDaemon { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(target.file("/run/mfa/mfa.sock").exists()
            && target.file("/run/mfa/private/mfa.sock").exists())
        {
            assert!(
                Instant::now() < deadline,
                "the daemon made no sockets in 30 s:\n{}",
                daemon.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as `systemctl stop` sends, then waits for the exit.
    fn stop(mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for UnitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Enrolls `user` as root with the packaged mfa-enroll; returns their authenticator app.
fn enroll_in(target: &Target, user: &str, daemon: &UnitDaemon) -> Authenticator {
    let mut enroll = Interaction::spawn(
        target.command("/usr/bin/mfa-enroll", &["--json", "totp", "--user", user]),
    );
    let shown = enroll.wait_until(|output| output.contains("\"secret\""));
    assert!(
        shown,
        "mfa-enroll showed no secret: {}\n{}",
        enroll.stdout(),
        daemon.log()
    );
    let line = json_line_with(&enroll.stdout(), "secret").expect("the secret line");
    let app = Authenticator::from_enrollment(
        line["secret"].as_str().expect("secret"),
        line["otpauth_uri"].as_str().expect("otpauth_uri"),
    );
    enroll.send(&format!("{}\n", app.next_code()));
    let done = enroll.finish();
    assert!(
        done.succeeded(),
        "enrollment failed: {done}\n{}",
        daemon.log()
    );
    assert!(
        json_line_with(&done.stdout, "recovery_codes").is_some(),
        "{done}"
    );
    app
}

/// Logs `user` in through the common stacks with pamtester: password, then the code.
fn log_in(target: &Target, user: &str, password: &str, code: &str) -> mfa_tests::Run {
    let mut login =
        Interaction::spawn(target.command("/usr/bin/pamtester", &[SERVICE, user, "authenticate"]));
    if login.wait_for("assword", 1) {
        login.send(&format!("{password}\n"));
        if login.wait_for(CODE_PROMPT, 1) {
            login.send(&format!("{code}\n"));
        }
    }
    login.finish()
}

fn common_pam_files(target: &Target) -> String {
    target.sh("cat /etc/pam.d/common-auth /etc/pam.d/common-account /etc/pam.d/common-session /etc/pam.d/common-password")
}

#[test]
fn deb_installs_logs_in_upgrades_and_purges_in_a_debootstrap_root() {
    if !root_suite_ready() {
        return;
    }
    let packages = packages();
    let upgrade_version = format!("{}.1", packages.version);
    let upgrade = build_packages(&upgrade_version, &suite_dir().join("upgrade-dist"));
    let target = Target::prepare();
    let user = format!("mfapkg{}", std::process::id());
    let password = "pkg-Test-password-1";
    let _cleanup = HostCleanup {
        target: &target,
        user: &user,
    };
    let logs = ThrowAwayDir::new("logs");

    // Install: apt resolves the dependencies; PAM is left exactly as it was.
    let pam_before = common_pam_files(&target);
    let deb = target.copy_in(&packages.deb);
    let installed = target.sh(&format!("apt-get install -y --no-install-recommends {deb}"));
    assert!(
        installed.contains("pam-auth-update --enable mfa") && installed.contains("mfa-enroll totp"),
        "the postinst did not say what to do next:\n{installed}"
    );
    assert_eq!(
        common_pam_files(&target),
        pam_before,
        "installing changed PAM"
    );
    let status = target.sh("dpkg-query -W -f '${Status} ${Version}' pam-mfa");
    assert_eq!(
        status,
        format!("install ok installed {}-1", packages.version)
    );
    let account = target.sh("getent passwd mfa");
    assert!(
        account.contains(":/var/lib/mfa:"),
        "the mfa account: {account}"
    );
    assert!(
        target.present("/etc/systemd/system/multi-user.target.wants/mfa-daemon.service"),
        "the unit was not enabled"
    );
    // mfa-web and mfa-radius: their accounts are made, their units installed and left
    // disabled.
    for (user, unit, enabled) in [
        (WEB_USER, WEB_UNIT, WEB_UNIT_ENABLED),
        (RADIUS_USER, RADIUS_UNIT, RADIUS_UNIT_ENABLED),
    ] {
        let account = target.sh(&format!("getent passwd {user}"));
        assert!(
            account.contains("/nologin"),
            "the {user} account: {account}"
        );
        assert!(target.present(&format!("/usr/lib/systemd/system/{unit}")));
        assert!(!target.present(enabled), "installing enabled {unit}");
    }

    // Run the daemon as the unit would, enroll a user, turn the module on, log in.
    let daemon = UnitDaemon::start(&target, logs.path().join("daemon-1.log"));
    target.sh(&format!(
        "useradd -m {user} && echo '{user}:{password}' | chpasswd && \
         printf '@include common-auth\\n@include common-account\\n' > /etc/pam.d/{SERVICE}"
    ));
    assert_eq!(
        target.sh(&format!("stat -c '%a %U:%G' {CONFIG}")).trim(),
        CONFIG_STAT,
        "{CONFIG} after the postinst"
    );
    let read_by_user = target.sh(&format!(
        "setpriv --reuid {user} --regid {user} --clear-groups cat {CONFIG} >/dev/null 2>&1 \
         && echo read || echo refused"
    ));
    assert_eq!(read_by_user.trim(), "refused", "a user read {CONFIG}");
    let app = enroll_in(&target, &user, &daemon);
    // What the web and RADIUS users reach with the daemon running: /run/mfa (where web.sock
    // and radius.sock go), and not the config, the records or root's socket directory.
    for user in [WEB_USER, RADIUS_USER] {
        let reach = target.sh(&format!(
            "for path in /run/mfa /run/mfa/private /var/lib/mfa; do \
               setpriv --reuid {user} --regid {user} --clear-groups ls $path >/dev/null \
                 2>&1 && echo \"$path yes\" || echo \"$path no\"; done; \
             setpriv --reuid {user} --regid {user} --clear-groups cat {CONFIG} \
               >/dev/null 2>&1 && echo \"{CONFIG} yes\" || echo \"{CONFIG} no\""
        ));
        assert_eq!(
            reach.lines().collect::<Vec<_>>(),
            [
                "/run/mfa yes",
                "/run/mfa/private no",
                "/var/lib/mfa no",
                &format!("{CONFIG} no")
            ],
            "what {user} can read"
        );
    }
    target.sh("pam-auth-update --enable mfa");
    let common_auth =
        fs::read_to_string(target.file("/etc/pam.d/common-auth")).expect("common-auth");
    assert!(
        common_auth.contains("pam_mfa.so"),
        "pam-auth-update did not add the module:\n{common_auth}"
    );
    let wrong = log_in(&target, &user, password, &app.wrong_code());
    assert!(
        !wrong.succeeded() && !wrong.mentions(PAMTESTER_SUCCESS),
        "a wrong code logged in: {wrong}"
    );
    let login = log_in(&target, &user, password, &app.next_code());
    assert!(
        login.succeeded() && login.mentions(PAMTESTER_SUCCESS),
        "login through common-auth failed: {login}\n--- daemon ---\n{}",
        daemon.log()
    );

    // Upgrade to a higher version: the admin's edit of the config and the user's record stay.
    let config = target.file("/etc/mfa/config.toml");
    let edited = fs::read_to_string(&config)
        .expect("config.toml")
        .replace("issuer = \"pam-mfa\"", "issuer = \"edited-by-the-admin\"");
    assert!(
        edited.contains("edited-by-the-admin"),
        "no issuer line to edit"
    );
    fs::write(&config, &edited).expect("edit config.toml");
    // As an earlier package left it: the postinst gives it to mfa, as it still has the packaged
    // owner and mode.
    target.sh(&format!("chown root:root {CONFIG} && chmod 0644 {CONFIG}"));
    // pam_mfa.so added by hand, as the README shows for sshd: an upgrade goes ahead.
    let hand_file = format!("/etc/pam.d/{SERVICE}-sshd");
    fs::write(
        target.file(&hand_file),
        "@include common-account\nauth required pam_mfa.so\n",
    )
    .expect("write the hand-made PAM file");
    daemon.stop();
    // The admin enables mfa-web and mfa-radius (what `systemctl enable` makes): the upgrade
    // keeps them.
    for (unit, enabled) in [
        (WEB_UNIT, WEB_UNIT_ENABLED),
        (RADIUS_UNIT, RADIUS_UNIT_ENABLED),
    ] {
        target.sh(&format!("ln -s /usr/lib/systemd/system/{unit} {enabled}"));
    }
    let upgrade_deb = target.copy_in(&upgrade.deb);
    target.sh(&format!(
        "apt-get install -y --no-install-recommends {upgrade_deb}"
    ));
    let status = target.sh("dpkg-query -W -f '${Version}' pam-mfa");
    assert_eq!(status, format!("{upgrade_version}-1"));
    for (unit, enabled) in [
        (WEB_UNIT, WEB_UNIT_ENABLED),
        (RADIUS_UNIT, RADIUS_UNIT_ENABLED),
    ] {
        assert!(
            target.present(enabled),
            "the upgrade disabled {unit}, which the admin had enabled"
        );
    }
    assert_eq!(
        fs::read_to_string(&config).expect("config.toml"),
        edited,
        "the upgrade replaced the admin's config"
    );
    assert_eq!(
        target.sh(&format!("stat -c '%a %U:%G' {CONFIG}")).trim(),
        CONFIG_STAT,
        "{CONFIG} of an earlier package (root:root 0644) after the upgrade"
    );
    assert!(
        fs::read_to_string(target.file("/etc/pam.d/common-auth"))
            .expect("common-auth")
            .contains("pam_mfa.so"),
        "the upgrade turned the module off"
    );
    let daemon = UnitDaemon::start(&target, logs.path().join("daemon-2.log"));
    let login = log_in(&target, &user, password, &app.next_code());
    assert!(
        login.succeeded() && login.mentions(PAMTESTER_SUCCESS),
        "the enrolled user could not log in after the upgrade: {login}\n--- daemon ---\n{}",
        daemon.log()
    );
    daemon.stop();

    // Removal while the hand-made line calls the module: apt and dpkg both stop, naming the
    // line and the override, and the package and PAM stay as they were.
    let pam_before = common_pam_files(&target);
    let hand_line = format!("{hand_file}:2: auth required pam_mfa.so");
    for remove in ["apt-get remove -y pam-mfa", "dpkg -r pam-mfa"] {
        let refused = target
            .command("/bin/sh", &["-c", &format!("{remove} 2>&1")])
            .output()
            .expect("run the removal");
        let said = String::from_utf8_lossy(&refused.stdout).into_owned();
        assert!(
            !refused.status.success() && said.contains(&hand_line) && said.contains(FORCE_REMOVE),
            "`{remove}` with a hand-added pam_mfa.so line ({}):\n{said}",
            refused.status
        );
        let status = target.sh("dpkg-query -W -f '${Status} ${Version}' pam-mfa");
        assert!(
            status.ends_with(&format!("ok installed {upgrade_version}-1")),
            "after the refused `{remove}`: {status}"
        );
        assert_eq!(
            common_pam_files(&target),
            pam_before,
            "the refused `{remove}` changed PAM"
        );
    }
    // pam-auth-update leaves common-* files whose block was edited by hand as they are, so
    // pam_mfa.so would stay in common-auth: the removal stops then too, and nothing changes.
    let hand_made = fs::read_to_string(target.file(&hand_file)).expect("the hand-made file");
    fs::remove_file(target.file(&hand_file)).expect("remove the hand-made PAM file");
    let common_auth_file = target.file("/etc/pam.d/common-auth");
    let common_auth = fs::read_to_string(&common_auth_file).expect("common-auth");
    let mut edited_lines: Vec<&str> = common_auth.lines().collect();
    let mfa_line = edited_lines
        .iter()
        .position(|line| line.contains("pam_mfa.so"))
        .expect("pam_mfa.so in common-auth");
    edited_lines.insert(mfa_line + 1, "auth\toptional\tpam_echo.so edited by hand");
    fs::write(&common_auth_file, edited_lines.join("\n") + "\n").expect("edit common-auth");
    let refused = target
        .command("/bin/sh", &["-c", "dpkg -r pam-mfa 2>&1"])
        .output()
        .expect("run dpkg -r");
    let said = String::from_utf8_lossy(&refused.stdout).into_owned();
    let left = format!(
        "/etc/pam.d/common-auth:{}: {}",
        mfa_line + 1,
        edited_lines[mfa_line]
    );
    assert!(
        !refused.status.success() && said.contains("Local modifications") && said.contains(&left),
        "dpkg -r with pam_mfa.so left in an edited common-auth ({}):\n{said}",
        refused.status
    );
    let status = target.sh("dpkg-query -W -f '${Status}' pam-mfa");
    assert!(status.ends_with("ok installed"), "{status}");
    fs::write(&common_auth_file, &common_auth).expect("restore common-auth");
    fs::write(target.file(&hand_file), hand_made).expect("put the hand-made file back");

    // The override, through apt and dpkg to the prerm.
    let removed = target.sh(&format!("{FORCE_REMOVE} apt-get remove -y pam-mfa 2>&1"));
    assert!(
        removed.contains(&hand_line),
        "the forced removal did not name the line it leaves:\n{removed}"
    );
    let status = target.sh("dpkg-query -W -f '${Status}' pam-mfa");
    assert_eq!(status, "deinstall ok config-files");
    fs::remove_file(target.file(&hand_file)).expect("remove the hand-made PAM file");

    // Purge: the module leaves common-auth, and nothing of the package is left.
    let files = check_output("dpkg-deb", &["--contents", path_str(&upgrade.deb)]);
    target.sh("rm -rf /run/mfa && dpkg --purge pam-mfa");
    let common_auth =
        fs::read_to_string(target.file("/etc/pam.d/common-auth")).expect("common-auth");
    assert!(
        !common_auth.contains("pam_mfa"),
        "purge left pam_mfa in common-auth:\n{common_auth}"
    );
    for left in [
        "/etc/mfa",
        "/var/lib/mfa",
        "/etc/systemd/system/multi-user.target.wants/mfa-daemon.service",
        WEB_UNIT_ENABLED,
        "/var/lib/systemd/deb-systemd-helper-enabled/mfa-web.service.dsh-also",
        RADIUS_UNIT_ENABLED,
        "/var/lib/systemd/deb-systemd-helper-enabled/mfa-radius.service.dsh-also",
    ] {
        assert!(!target.present(left), "{left} left after purge");
    }
    for line in files.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields[0].starts_with('-') {
            let path = fields[5].trim_start_matches('.');
            assert!(!target.present(path), "{path} left after purge");
        }
    }
    let status = target.sh("dpkg-query -W -f '${Status}' pam-mfa 2>&1 || true");
    assert!(
        !status.contains("installed") || status.contains("not-installed"),
        "{status}"
    );
}
