//! PAM services in /etc/pam.d and `pamtester`, which drives one through a conversation.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Barrier;
use std::thread;

use crate::artifacts::pam_module;
use crate::process::{Interaction, Run, command_as, run_answering};
use crate::scratch::{ScratchDir, unique_name, write_file};
use crate::text::CODE_PROMPT;

/// pam_wrapper, preloaded to give a program a private PAM configuration directory.
const PAM_WRAPPER_LIBRARY: &str = "libpam_wrapper.so";

/// An auth line that lets the stack succeed when no earlier required module failed.
pub const PERMIT_AUTH_LINE: &str = "auth required pam_permit.so";
/// An auth line that fails the stack unless an earlier `sufficient` module succeeded.
pub const DENY_AUTH_LINE: &str = "auth required pam_deny.so";

/// `auth CONTROL /abs/path/libpam_mfa.so socket=SOCKET OPTIONS`.
pub fn mfa_auth_line(control: &str, socket: &Path, options: &str) -> String {
    format!(
        "auth {control} {} socket={} {options}",
        pam_module().display(),
        socket.display()
    )
    .trim_end()
    .to_owned()
}

/// Asserts that pam_mfa.so with `options` returns PAM_IGNORE for `user` without prompting:
/// followed by pam_permit the stack succeeds, and as `sufficient` before pam_deny it fails.
/// PAM_SUCCESS would pass both stacks, a failure neither.
pub fn assert_pam_mfa_ignores(socket: &Path, options: &str, user: &str) {
    let then_permit = PamService::mfa_then_permit(socket, options);
    let sufficient_then_deny = PamService::with_auth_stack(&[
        mfa_auth_line("sufficient", socket, options),
        DENY_AUTH_LINE.to_owned(),
    ]);
    let permitted = Pamtester::new(&then_permit, user).authenticate(&[]);
    assert!(
        permitted.succeeded(),
        "pam_mfa {options} failed where PAM_IGNORE was due: {permitted}"
    );
    let denied = Pamtester::new(&sufficient_then_deny, user).authenticate(&[]);
    assert!(
        !denied.succeeded(),
        "pam_mfa {options} returned PAM_SUCCESS where PAM_IGNORE was due: {denied}"
    );
    for run in [&permitted, &denied] {
        assert!(!run.mentions(CODE_PROMPT), "prompted: {run}");
    }
}

/// A PAM service named `mfat-<pid>-<n>`: the given auth stack, then account and session
/// stacks of `pam_permit.so`. Its file is `/etc/pam.d/<name>`, or for a private service a
/// file in a scratch directory that only programs run under pam_wrapper see. Removed on drop.
#[derive(Debug)]
pub struct PamService {
    name: String,
    location: ServiceLocation,
}

#[derive(Debug)]
enum ServiceLocation {
    /// The file in /etc/pam.d.
    System(PathBuf),
    /// The directory pam_wrapper reads service files from instead of /etc/pam.d.
    Private(ScratchDir),
}

impl PamService {
    /// A service whose auth stack is `pam_mfa.so` alone, talking to `socket`.
    pub fn mfa(socket: &Path, options: &str) -> PamService {
        PamService::with_auth_stack(&[mfa_auth_line("required", socket, options)])
    }

    /// A service whose auth stack is `pam_mfa.so` (required) then pam_permit: it succeeds
    /// when the module returns PAM_SUCCESS or PAM_IGNORE, so a login that must fail through
    /// it proves the module did not ignore.
    pub fn mfa_then_permit(socket: &Path, options: &str) -> PamService {
        PamService::with_auth_stack(&[
            mfa_auth_line("required", socket, options),
            PERMIT_AUTH_LINE.to_owned(),
        ])
    }

    /// A service in /etc/pam.d whose auth stack is `auth_lines`.
    pub fn with_auth_stack(auth_lines: &[String]) -> PamService {
        let name = unique_name();
        let path = Path::new("/etc/pam.d").join(&name);
        write_service_file(&path, auth_lines);
        PamService {
            name,
            location: ServiceLocation::System(path),
        }
    }

    /// A service whose auth stack is `auth_lines`, outside /etc/pam.d: only
    /// [`Pamtester`] runs see it, through pam_wrapper (`LD_PRELOAD=libpam_wrapper.so`).
    pub fn private(auth_lines: &[String]) -> PamService {
        let name = unique_name();
        let dir = ScratchDir::create();
        write_service_file(&dir.path().join(&name), auth_lines);
        PamService {
            name,
            location: ServiceLocation::Private(dir),
        }
    }

    /// The service name, as passed to `pam_start`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes `command` find this service: for a private one, runs it under pam_wrapper.
    fn prepare(&self, command: &mut Command) {
        if let ServiceLocation::Private(dir) = &self.location {
            command
                .env("LD_PRELOAD", PAM_WRAPPER_LIBRARY)
                .env("PAM_WRAPPER", "1")
                .env("PAM_WRAPPER_SERVICE_DIR", dir.path());
        }
    }
}

impl Drop for PamService {
    fn drop(&mut self) {
        if let ServiceLocation::System(path) = &self.location {
            let _ = fs::remove_file(path);
        }
    }
}

fn write_service_file(path: &Path, auth_lines: &[String]) {
    let contents = format!(
        "# Written by the pam-mfa end-to-end tests; removed when they finish.\n{}\n\
         account required pam_permit.so\nsession required pam_permit.so\n",
        auth_lines.join("\n")
    );
    write_file(path, &contents, 0o644);
}

/// One `pamtester -v [-I rhost=…] SERVICE USER authenticate`, optionally run by another
/// account than root.
#[derive(Debug, Clone, Copy)]
pub struct Pamtester<'a> {
    service: &'a PamService,
    user: &'a str,
    rhost: Option<&'a str>,
    caller: Option<&'a str>,
    env: &'a [(String, String)],
}

impl<'a> Pamtester<'a> {
    /// Authenticates `user` through `service`, as root, with no remote host.
    pub fn new(service: &'a PamService, user: &'a str) -> Pamtester<'a> {
        Pamtester {
            service,
            user,
            rhost: None,
            caller: None,
            env: &[],
        }
    }

    /// Sets PAM_RHOST, the source the daemon counts failures for.
    pub fn from_rhost(self, rhost: &'a str) -> Pamtester<'a> {
        Pamtester {
            rhost: Some(rhost),
            ..self
        }
    }

    /// Runs pamtester as `caller` (through runuser) instead of root. Not for a private
    /// service: pam_wrapper would also redirect runuser's own PAM stack.
    pub fn as_caller(self, caller: &'a str) -> Pamtester<'a> {
        Pamtester {
            caller: Some(caller),
            ..self
        }
    }

    /// Adds `env` to pamtester's environment (for example nss_wrapper's variables, so that
    /// the module sees the same accounts as the daemon).
    pub fn with_env(self, env: &'a [(String, String)]) -> Pamtester<'a> {
        Pamtester { env, ..self }
    }

    fn command(&self) -> Command {
        self.pamtester_command(command_as(self.caller, "pamtester"))
    }

    /// Adds pamtester's environment and arguments to `command`, which runs pamtester.
    fn pamtester_command(&self, mut command: Command) -> Command {
        command.envs(self.env.iter().map(|(key, value)| (key, value)));
        self.service.prepare(&mut command);
        command.arg("-v");
        if let Some(rhost) = self.rhost {
            command.args(["-I", &format!("rhost={rhost}")]);
        }
        command.args([self.service.name(), self.user, "authenticate"]);
        command
    }

    /// Runs the authentication, answering each code prompt with the next of `answers`.
    pub fn authenticate(&self, answers: &[&str]) -> Run {
        run_answering(self.command(), CODE_PROMPT, answers)
    }

    /// Starts the authentication and leaves the conversation to the caller.
    pub fn start(&self) -> Interaction {
        Interaction::spawn(self.command())
    }

    /// Like [`Pamtester::start`], with pamtester's stdout line-buffered (`stdbuf -oL`):
    /// pamtester prints PAM_TEXT_INFO messages to stdout, which into a pipe would sit in its
    /// buffer until it exits, so a test could not read a message before answering the prompt
    /// that follows it.
    pub fn start_line_buffered(&self) -> Interaction {
        let mut stdbuf = command_as(self.caller, "stdbuf");
        stdbuf.args(["-oL", "pamtester"]);
        Interaction::spawn(self.pamtester_command(stdbuf))
    }

    /// Runs `logins` of this authentication side by side: each connects and waits for its code
    /// prompt, and once all are prompted they answer `answer` at the same moment, while
    /// `meanwhile` runs on the calling thread. A run that was never prompted does not answer.
    pub fn answer_together(
        &self,
        logins: usize,
        answer: &str,
        meanwhile: impl FnOnce(),
    ) -> Vec<Run> {
        let all_prompted = Barrier::new(logins + 1);
        thread::scope(|scope| {
            let handles: Vec<_> = (0..logins)
                .map(|_| {
                    scope.spawn(|| {
                        let mut login = self.start();
                        let prompted = login.wait_for(CODE_PROMPT, 1);
                        all_prompted.wait();
                        if prompted {
                            login.send(&format!("{answer}\n"));
                        }
                        login.finish()
                    })
                })
                .collect();
            all_prompted.wait();
            meanwhile();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("login thread"))
                .collect()
        })
    }
}
