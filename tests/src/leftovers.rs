//! Removes what a killed earlier run left behind: processes it recorded, scratch directories,
//! PAM services, sudoers drop-ins and accounts, but only those whose owning run is gone.

use std::fs;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::scratch::{SCRATCH_ROOT, owner_of_name, owner_of_user_name};
use crate::user::delete_account;

/// Directories whose entries are named [`crate::scratch::unique_name`]s.
const NAMED_FILE_DIRS: [&str; 2] = ["/etc/pam.d", "/etc/sudoers.d"];

pub(crate) fn remove_leftovers_of_dead_runs() {
    for dir in dead_runs_entries(Path::new(SCRATCH_ROOT)) {
        stop_recorded_processes(&dir);
        unmount_everything_under(&dir);
        let _ = fs::remove_dir_all(&dir);
    }
    for dir in NAMED_FILE_DIRS {
        for file in dead_runs_entries(Path::new(dir)) {
            let _ = fs::remove_file(file);
        }
    }
    for name in account_names() {
        if owner_of_user_name(&name).is_some_and(|owner| !is_alive(owner)) {
            delete_account(&name);
        }
    }
}

/// Lazily unmounts file systems a killed test mounted inside `dir` (the disk tests mount a
/// small tmpfs over a state directory), deepest first, so that the directory can be removed.
fn unmount_everything_under(dir: &Path) {
    let Ok(mounts) = fs::read_to_string("/proc/self/mounts") else {
        return;
    };
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|point| Path::new(point).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(point)
            .status();
    }
}

fn dead_runs_entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            owner_of_name(&name.to_string_lossy()).is_some_and(|owner| !is_alive(owner))
        })
        .map(|entry| entry.path())
        .collect()
}

/// Kills every process recorded in a `*.pid` file of `dir` that is still running with `dir`
/// on its command line; a PID that was reused by something else is left alone.
fn stop_recorded_processes(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let dir_text = dir.to_string_lossy();
    for entry in entries.flatten() {
        if entry.path().extension().is_none_or(|ext| ext != "pid") {
            continue;
        }
        let Some(pid) = fs::read_to_string(entry.path())
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(dir_text.as_ref()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

fn is_alive(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

fn account_names() -> Vec<String> {
    fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(':').next())
        .map(str::to_owned)
        .collect()
}
