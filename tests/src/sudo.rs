//! `sudo` through a PAM service of its own (`Defaults:USER pam_service=…`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::daemon::Daemon;
use crate::pam::PamService;
use crate::process::{Interaction, Run, command_as, run, run_setup};
use crate::scratch::{ScratchDir, unique_name, write_file};
use crate::user::TestUser;

/// A sudoers drop-in `/etc/sudoers.d/mfat-<pid>-<n>` that lets one test user run anything as
/// root after authenticating through a pam_mfa.so-only service. Checked with `visudo -cf`
/// before it is installed; removed on drop.
#[derive(Debug)]
pub struct Sudo {
    service: PamService,
    sudoers: PathBuf,
    user: String,
}

impl Sudo {
    /// Installs the rule for `user`, with `pam_mfa.so socket=<daemon's> MFA_OPTIONS`.
    pub fn allow(user: &TestUser, daemon: &Daemon, mfa_options: &str) -> Sudo {
        let service = PamService::mfa(daemon.socket(), mfa_options);
        let name = user.name();
        let rule = format!(
            "# Written by the pam-mfa end-to-end tests; removed when they finish.\n\
             Defaults:{name} pam_service={service}, timestamp_timeout=0, passwd_tries=1, !lecture\n\
             {name} ALL=(root) ALL\n",
            service = service.name()
        );
        // A broken drop-in would break sudo for everyone: check it before installing it.
        let draft_dir = ScratchDir::create();
        let draft = draft_dir.path().join("sudoers");
        write_file(&draft, &rule, 0o440);
        run_setup("visudo", &["-cf", &draft.to_string_lossy()]);
        let sudoers = Path::new("/etc/sudoers.d").join(unique_name());
        write_file(&sudoers, &rule, 0o440);
        Sudo {
            service,
            sudoers,
            user: name.to_owned(),
        }
    }

    /// The PAM service sudo uses for this user.
    pub fn service(&self) -> &str {
        self.service.name()
    }

    /// `runuser -u USER -- sudo -S -k -- COMMAND...` with `answer` on stdin.
    pub fn run_as_root(&self, command: &[&str], answer: &str) -> Run {
        let mut sudo = command_as(Some(&self.user), "sudo");
        sudo.args(["-S", "-k", "--"]).args(command);
        run(sudo, &format!("{answer}\n"))
    }

    /// Starts `runuser -u USER -- sudo -S -k -- COMMAND...` and leaves its prompts to the
    /// caller.
    pub fn start_as_root(&self, command: &[&str]) -> Interaction {
        let mut sudo = command_as(Some(&self.user), "sudo");
        sudo.args(["-S", "-k", "--"]).args(command);
        Interaction::spawn(sudo)
    }
}

impl Drop for Sudo {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.sudoers);
    }
}
