//! Test accounts: real entries in /etc/passwd, because sshd, sudo and the daemon's
//! peer-credential checks all look users up there.

use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use crate::process::run;
use crate::scratch::unique_user_name;

/// useradd and userdel lock /etc/passwd and fail rather than wait while another holds it.
const ACCOUNT_TOOL_ATTEMPTS: u32 = 20;
const ACCOUNT_TOOL_RETRY_DELAY: Duration = Duration::from_millis(200);

/// An account `mfat<pid>u<n>` with a home directory, shell /bin/sh and a password field that
/// does not lock it (`*`: no password can match, but sshd does not treat it as locked).
/// Deleted with its home on drop.
#[derive(Debug)]
pub struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TestUser {
    /// Creates the account.
    pub fn create() -> TestUser {
        let name = unique_user_name();
        run_account_tool(
            "useradd",
            &[
                "--create-home",
                "--shell",
                "/bin/sh",
                "--password",
                "*",
                &name,
            ],
        );
        let account = nix::unistd::User::from_name(&name)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("useradd succeeded but {name} cannot be looked up"));
        TestUser {
            name,
            uid: account.uid.as_raw(),
            gid: account.gid.as_raw(),
        }
    }

    /// The account name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The account's uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The account's primary gid.
    pub fn gid(&self) -> u32 {
        self.gid
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        delete_account(&self.name);
    }
}

/// A name in the suites' pattern that no account has, for "unknown user" cases.
pub fn unused_user_name() -> String {
    unique_user_name()
}

/// Deletes an account with its home directory and mail spool; best effort.
pub(crate) fn delete_account(name: &str) {
    let _ = try_account_tool("userdel", &["--remove", "--force", name]);
}

fn run_account_tool(tool: &str, args: &[&str]) {
    if let Err(failure) = try_account_tool(tool, args) {
        panic!("{failure}");
    }
}

fn try_account_tool(tool: &str, args: &[&str]) -> Result<(), String> {
    // Threads of one test process take turns; other processes are waited out by retrying.
    static ACCOUNT_DATABASE: Mutex<()> = Mutex::new(());
    let _turn = ACCOUNT_DATABASE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut attempt = 1;
    loop {
        let mut command = Command::new(tool);
        command.args(args);
        let done = run(command, "");
        if done.succeeded() {
            return Ok(());
        }
        if attempt == ACCOUNT_TOOL_ATTEMPTS || !done.stderr.contains("lock") {
            return Err(format!("account setup failed: {done}"));
        }
        attempt += 1;
        thread::sleep(ACCOUNT_TOOL_RETRY_DELAY);
    }
}
