//! Security invariant 3 on a disk that fails: a read-only state directory leaves the record as
//! it was and logins fail closed, and once the disk recovers the same code still works, because
//! nothing was half-recorded. On a full disk a record is still written in place (its blocks are
//! its own), so enrolled users keep logging in; what needs new space fails closed.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use mfa_tests::records::current_record;
use mfa_tests::text::{PAM_SYSTEM_ERR, PAMTESTER_SUCCESS};
use mfa_tests::{
    Daemon, EnrollTotp, ONE_PROMPT_PER_LOGIN, PamService, Pamtester, TestUser, enroll_totp,
    root_suite_ready,
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
    let record = users_dir.join(format!("{}.rec", user.name()));
    let last_step =
        |path: &Path| current_record(path).expect("a valid record")["totp"][0]["last_step"].clone();
    let before = last_step(&record);

    // Full disk. A record is written in place over blocks it already has, so the login of an
    // enrolled user needs no space: its code is recorded as used and accepted, once.
    let filler = disk.fill();
    let code = enrollment.authenticator.next_code();
    let login = Pamtester::new(&service, user.name()).authenticate(&[&code]);
    assert!(
        login.mentions(PAMTESTER_SUCCESS),
        "a login that needs no new space failed on a full disk: {login}\n{}",
        daemon.log_section()
    );
    assert_ne!(last_step(&record), before, "the used step was not recorded");
    let again = Pamtester::new(&service, user.name()).authenticate(&[&code]);
    assert!(
        !again.succeeded(),
        "a replay passed on a full disk: {again}"
    );

    // A write that needs space (a new user's first record) fails closed and leaves nothing.
    let newcomer = TestUser::create();
    let refused = EnrollTotp::new(&daemon).for_user(newcomer.name()).run();
    assert!(refused.is_err(), "enrolled on a full disk");
    assert_eq!(temp_files(&users_dir), Vec::<String>::new());
    assert!(!users_dir.join(format!("{}.rec", newcomer.name())).exists());

    // Space again: the newcomer enrolls.
    fs::remove_file(filler).unwrap();
    enroll_totp(&daemon, &newcomer);

    // Read-only disk: nothing can be recorded, so nothing is accepted, and the record stays.
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
    // Nothing was half-recorded: the same code works once the disk is writable.
    let login = Pamtester::new(&service, user.name()).authenticate(&[&code]);
    assert!(
        login.mentions(PAMTESTER_SUCCESS),
        "{login}\n{}",
        daemon.log_section()
    );
    daemon.assert_log_omits(&enrollment.secrets());
    drop(disk);
}
