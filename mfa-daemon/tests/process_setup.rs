//! What the real daemon binary sets up before it serves: socket modes fixed at `bind`, the
//! privileged socket's private directory, and a process that cannot dump its secrets.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Kills the daemon when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> Running {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "socket = \"{}\"\nstate_dir = \"{}\"\n",
            dir.join("run/mfa.sock").display(),
            dir.join("state").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mfa-daemon"))
        .arg("--config")
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mfa-daemon");
    let stderr = child.stderr.take().unwrap();
    let running = Running(child);
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().expect("a line").expect("readable");
    assert!(first.starts_with("mfa-daemon: listening on "), "{first}");
    running
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn sockets_get_their_modes_at_bind_and_root_has_a_private_one() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path());
    let run = dir.path().join("run");
    assert_eq!(mode(&run.join("mfa.sock")), 0o666, "public socket");
    assert_eq!(mode(&run.join("private")), 0o700, "private directory");
    assert_eq!(
        mode(&run.join("private/mfa.sock")),
        0o600,
        "privileged socket"
    );
    let me = nix::unistd::geteuid().as_raw();
    assert_eq!(std::fs::metadata(run.join("private")).unwrap().uid(), me);
    drop(daemon);
}

#[test]
fn a_private_directory_owned_by_someone_else_or_too_open_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("run/private");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o777)).unwrap();
    // Too open: tightened, not trusted as it was.
    let daemon = start(dir.path());
    assert_eq!(mode(&private), 0o700);
    drop(daemon);
    if nix::unistd::geteuid().is_root() {
        nix::unistd::chown(&private, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_mfa-daemon"))
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("is owned by uid 65534, not by the daemon's uid 0"),
            "{stderr}"
        );
    }
}

#[test]
fn the_daemon_cannot_dump_core() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path());
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", daemon.0.id())).expect("limits");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(fields[4..6], ["0", "0"], "{core}");
}
