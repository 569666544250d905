//! Security invariant 3: a full or read-only disk under the state directory leaves the record
//! as it was, and logins fail closed; once the disk recovers the same code still works, because
//! nothing was half-recorded.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use mfa_tests::text::{PAM_SYSTEM_ERR, PAMTESTER_SUCCESS};
use mfa_tests::{
    Daemon, ONE_PROMPT_PER_LOGIN, PamService, Pamtester, TestUser, enroll_totp, root_suite_ready,
};

/// A small tmpfs mounted over a directory for the test's lifetime.
struct SmallDisk {
    mount_point: PathBuf,
}

impl SmallDisk {
    fn mount(at: &Path) -> SmallDisk {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs on {}", at.display());
        SmallDisk {
            mount_point: at.to_owned(),
        }
    }

    fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.mount_point)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {mode}");
    }

    /// Fills the disk with a file; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.mount_point.join("filler");
        let mut file = File::create(&filler).expect("create filler");
        let block = vec![0u8; 4096];
        loop {
            match file.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) || e.kind() == ErrorKind::StorageFull => {
                    break;
                }
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

fn temp_files(users_dir: &Path) -> Vec<String> {
    fs::read_dir(users_dir)
        .expect("list users dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn full_and_read_only_disk_fail_closed_and_lose_nothing() {
    if !root_suite_ready() {
        return;
    }
    let mut daemon = Daemon::start_with(ONE_PROMPT_PER_LOGIN);
    daemon.stop();
    let disk = SmallDisk::mount(daemon.state_dir());
    daemon.restart();
    let user = TestUser::create();
    let enrollment = enroll_totp(&daemon, &user);
    let service = PamService::mfa(daemon.socket(), "");
    let users_dir = daemon.state_dir().join("users");
    let record = users_dir.join(format!("{}.json", user.name()));
    let before = fs::read(&record).expect("record after enrollment");

    // Full disk: the code cannot be recorded as used, so it must not be accepted.
    let filler = disk.fill();
    let code = enrollment.authenticator.next_code();
    let login = Pamtester::new(&service, user.name()).authenticate(&[&code]);
    assert!(
        !login.succeeded(),
        "accepted a code it could not record: {login}"
    );
    assert!(login.mentions(PAM_SYSTEM_ERR), "{login}");
    assert_eq!(
        fs::read(&record).unwrap(),
        before,
        "record changed on a full disk"
    );
    assert_eq!(temp_files(&users_dir), Vec::<String>::new());

    // Space again: the same code works, once.
    fs::remove_file(filler).unwrap();
    let login = Pamtester::new(&service, user.name()).authenticate(&[&code]);
    assert!(
        login.mentions(PAMTESTER_SUCCESS),
        "{login}\n{}",
        daemon.log_section()
    );
    let again = Pamtester::new(&service, user.name()).authenticate(&[&code]);
    assert!(!again.succeeded(), "{again}");

    // Read-only disk: same story.
    let after_success = fs::read(&record).unwrap();
    disk.remount("ro");
    let code = enrollment.authenticator.next_code();
    let login = Pamtester::new(&service, user.name()).authenticate(&[&code]);
    disk.remount("rw");
    assert!(
        !login.succeeded(),
        "accepted a code on a read-only disk: {login}"
    );
    assert!(login.mentions(PAM_SYSTEM_ERR), "{login}");
    assert_eq!(fs::read(&record).unwrap(), after_success);
    let login = Pamtester::new(&service, user.name()).authenticate(&[&code]);
    assert!(
        login.mentions(PAMTESTER_SUCCESS),
        "{login}\n{}",
        daemon.log_section()
    );
    daemon.assert_log_omits(&enrollment.secrets());
    drop(disk);
}
