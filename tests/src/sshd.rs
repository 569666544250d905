//! A private `sshd` on loopback whose PAM stack is `pam_mfa.so`, and the real `ssh` client
//! answering its keyboard-interactive prompts through `SSH_ASKPASS`.

use std::fs::{self, File};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::daemon::Daemon;
use crate::pam::PamService;
use crate::process::{Interaction, Run, run, run_setup};
use crate::scratch::{ScratchDir, set_mode, write_file};
use crate::user::TestUser;

const SSHD: &str = "/usr/sbin/sshd";
/// OpenSSH's software FIDO authenticator for its own tests (Debian's `openssh-tests`): it
/// signs as a security key would, with no device, no touch and no PIN check.
pub const SK_DUMMY: &str = "/usr/lib/openssh/regress/misc/sk-dummy/sk-dummy.so";
/// sshd refuses to start without its privilege separation directory; packages make it at boot.
const PRIVSEP_DIR: &str = "/run/sshd";
const START_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// A port found free can be taken by someone else before sshd binds it.
const PORT_ATTEMPTS: u32 = 5;
/// Records the prompt (NUL-ended) and prints its answer: the file `answer` for every prompt
/// if it exists, else `answer-N` for the N-th prompt, waited for (up to 30 s) until the test
/// writes it, so that a test can answer a prompt with what it learns after an earlier one.
const ASKPASS_SCRIPT: &str = "#!/bin/sh\n\
    # ssh runs this for each keyboard-interactive prompt (SSH_ASKPASS_REQUIRE=force).\n\
    dir=\"$MFAT_ASKPASS_DIR\"\n\
    printf '%s\\0' \"$1\" >> \"$dir/prompts\"\n\
    if [ -e \"$dir/answer\" ]; then cat \"$dir/answer\"; exit 0; fi\n\
    n=$(tr -cd '\\000' < \"$dir/prompts\" | wc -c)\n\
    waited=0\n\
    while [ ! -e \"$dir/answer-$n\" ] && [ $waited -lt 300 ]; do\n\
    sleep 0.1; waited=$((waited + 1))\n\
    done\n\
    cat \"$dir/answer-$n\"\n";

/// `sshd -D -e -f CONFIG` on 127.0.0.1 and ::1 at a free port, with `UsePAM yes`,
/// `AuthenticationMethods publickey,keyboard-interactive` and a PAM service of pam_mfa.so
/// (alone, or followed by pam_permit). sshd names its PAM service after its argv[0], so it
/// runs through a symlink named like the service. Also holds the client key that
/// [`Sshd::authorize`] installs.
#[derive(Debug)]
pub struct Sshd {
    scratch: ScratchDir,
    service: PamService,
    port: u16,
    process: Child,
    log: PathBuf,
    client_key: PathBuf,
    /// A second key the authorized users also hold, for "another device" cases.
    other_key: PathBuf,
    logins: AtomicU32,
}

impl Sshd {
    /// Starts sshd with `pam_mfa.so socket=<daemon's> MFA_OPTIONS`.
    pub fn start(daemon: &Daemon, mfa_options: &str) -> Sshd {
        Sshd::start_with_service(PamService::mfa(daemon.socket(), mfa_options), "")
    }

    /// Like [`Sshd::start`], with `extra` lines at the end of sshd_config (keywords the
    /// fixture does not set; for those it sets, sshd keeps the first value).
    pub fn start_with_config(daemon: &Daemon, mfa_options: &str, extra: &str) -> Sshd {
        Sshd::start_with_service(PamService::mfa(daemon.socket(), mfa_options), extra)
    }

    /// Starts sshd with `pam_mfa.so socket=<daemon's> MFA_OPTIONS` followed by pam_permit, so
    /// that a login the module ignores (`PAM_IGNORE`) gets in and one it fails does not.
    pub fn start_then_permit(daemon: &Daemon, mfa_options: &str) -> Sshd {
        Sshd::start_with_service(
            PamService::mfa_then_permit(daemon.socket(), mfa_options),
            "",
        )
    }

    /// Starts sshd with `auth_lines` as its whole auth stack (another PAM module than
    /// pam_mfa, such as pam_radius_auth) and `extra` sshd_config lines.
    pub fn start_with_auth_stack(auth_lines: &[String], extra: &str) -> Sshd {
        Sshd::start_with_service(PamService::with_auth_stack(auth_lines), extra)
    }

    fn start_with_service(service: PamService, extra: &str) -> Sshd {
        let scratch = ScratchDir::create();
        let dir = scratch.path().to_owned();
        let host_key = dir.join("host_ed25519");
        let client_key = dir.join("client_ed25519");
        let other_key = dir.join("other_ed25519");
        for key in [&host_key, &client_key, &other_key] {
            run_setup(
                "ssh-keygen",
                &[
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-f",
                    &key.to_string_lossy(),
                ],
            );
        }
        let authorized_keys = dir.join("authorized_keys");
        fs::create_dir(&authorized_keys).expect("create authorized_keys dir");
        set_mode(&authorized_keys, 0o755);
        write_file(&dir.join("askpass"), ASKPASS_SCRIPT, 0o755);
        let program = dir.join(service.name());
        symlink(SSHD, &program).expect("symlink sshd under the service name");
        fs::create_dir_all(PRIVSEP_DIR).expect("create sshd's privilege separation dir");

        let log = dir.join("sshd.log");
        let config = dir.join("sshd_config");
        for _ in 0..PORT_ATTEMPTS {
            let port = free_loopback_port();
            write_file(
                &config,
                &format!(
                    "ListenAddress 127.0.0.1:{port}\n\
                     ListenAddress [::1]:{port}\n\
                     HostKey {host_key}\n\
                     PidFile {pid_file}\n\
                     UsePAM yes\n\
                     KbdInteractiveAuthentication yes\n\
                     PasswordAuthentication no\n\
                     PubkeyAuthentication yes\n\
                     AuthenticationMethods publickey,keyboard-interactive\n\
                     ExposeAuthInfo yes\n\
                     AuthorizedKeysFile {authorized_keys}/%u\n\
                     StrictModes yes\n\
                     PermitRootLogin no\n\
                     UseDNS no\n\
                     PrintMotd no\n\
                     LogLevel VERBOSE\n\
                     {extra}",
                    host_key = host_key.display(),
                    pid_file = dir.join("sshd.pid").display(),
                    authorized_keys = authorized_keys.display(),
                ),
                0o644,
            );
            let log_file = File::create(&log).expect("create sshd log");
            let mut process = Command::new(&program)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("clone log handle"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
            scratch.record_pid("sshd", process.id());
            if wait_until_listening(&mut process, &log, port) {
                return Sshd {
                    scratch,
                    service,
                    port,
                    process,
                    log,
                    client_key,
                    other_key,
                    logins: AtomicU32::new(0),
                };
            }
            let _ = process.kill();
            let _ = process.wait();
            let output = fs::read_to_string(&log).unwrap_or_default();
            assert!(
                output.contains("Address already in use"),
                "sshd did not start:\n{output}"
            );
        }
        panic!("sshd found no free port in {PORT_ATTEMPTS} attempts");
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PAM service name sshd uses.
    pub fn service(&self) -> &str {
        self.service.name()
    }

    /// What sshd logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lets `user` pass the publickey step with the fixture's client key: a root-owned 0644
    /// file in a root-owned 0755 directory, as StrictModes wants.
    pub fn authorize(&self, user: &TestUser) {
        let public_key = [&self.client_key, &self.other_key]
            .iter()
            .map(|key| fs::read_to_string(key.with_extension("pub")).expect("read a public key"))
            .collect::<String>();
        let path = self
            .scratch
            .path()
            .join("authorized_keys")
            .join(user.name());
        write_file(&path, &public_key, 0o644);
    }

    /// Makes a FIDO key of `key_type` (`ed25519-sk`, `ecdsa-sk`) on [`SK_DUMMY`], with
    /// ssh-keygen's `-O` options (`verify-required`), and lets `user` pass the publickey
    /// step with it too, beside the keys [`Sshd::authorize`] installed (call that first).
    /// Returns the private key's path, for [`Sshd::login_with_security_key`].
    pub fn add_security_key(&self, user: &TestUser, key_type: &str, options: &[&str]) -> PathBuf {
        let number = self.logins.fetch_add(1, Ordering::Relaxed);
        let key = self.scratch.path().join(format!("sk-{number}"));
        let key_text = key.to_string_lossy();
        let mut args = vec![
            "-q", "-t", key_type, "-w", SK_DUMMY, "-N", "", "-f", &key_text,
        ];
        for option in options {
            args.extend(["-O", option]);
        }
        run_setup("ssh-keygen", &args);
        let path = self
            .scratch
            .path()
            .join("authorized_keys")
            .join(user.name());
        let mut keys = fs::read_to_string(&path).unwrap_or_default();
        keys.push_str(&fs::read_to_string(key.with_extension("pub")).expect("read the sk key"));
        write_file(&path, &keys, 0o644);
        key
    }

    /// Like [`Sshd::login`], with the security `key` as ssh's only identity and [`SK_DUMMY`]
    /// as its `SecurityKeyProvider`. askpass also answers ssh's own questions (a PIN).
    pub fn login_with_security_key(
        &self,
        key: &Path,
        user: &str,
        host: &str,
        answer: &str,
    ) -> SshLogin {
        let answers = self.answers_dir();
        let provider = format!("SecurityKeyProvider={SK_DUMMY}");
        let ssh = self.ssh_command_with(
            key,
            user,
            host,
            &answers,
            Session::Command,
            &["-o", &provider],
        );
        write_file(&answers.join("answer"), &format!("{answer}\n"), 0o600);
        let done = run(ssh, "");
        SshLogin {
            run: done,
            prompts: prompts_in(&answers),
        }
    }

    /// Runs `ssh -l USER HOST true` with the client key, answering every keyboard-interactive
    /// prompt with `answer` through SSH_ASKPASS, and returns the run with the prompts asked.
    pub fn login(&self, user: &str, host: &str, answer: &str) -> SshLogin {
        self.login_with(&self.client_key, user, host, answer)
    }

    /// Like [`Sshd::login`], with the second client key: another device of the same user.
    pub fn login_with_other_key(&self, user: &str, host: &str, answer: &str) -> SshLogin {
        self.login_with(&self.other_key, user, host, answer)
    }

    fn login_with(&self, key: &Path, user: &str, host: &str, answer: &str) -> SshLogin {
        let answers = self.answers_dir();
        let ssh = self.ssh_command_with(key, user, host, &answers, Session::Command, &[]);
        write_file(&answers.join("answer"), &format!("{answer}\n"), 0o600);
        let done = run(ssh, "");
        SshLogin {
            run: done,
            prompts: prompts_in(&answers),
        }
    }

    /// Starts `ssh -l USER HOST true` with the client key; its keyboard-interactive prompts
    /// wait for the answers the test gives through [`PendingSshLogin::answer`].
    pub fn start_login(&self, user: &str, host: &str) -> PendingSshLogin {
        let (ssh, answers) = self.ssh_command(user, host);
        PendingSshLogin {
            ssh: Interaction::spawn(ssh),
            answers,
            answered: 0,
        }
    }

    /// Like [`Sshd::start_login`], with ssh's locale set (`LC_ALL=LOCALE`): unless its
    /// character set is UTF-8, ssh writes every non-ASCII byte of a prompt or an instruction
    /// as an octal escape (`\342\226\210`), also in the prompt it hands to askpass.
    pub fn start_login_in_locale(&self, user: &str, host: &str, locale: &str) -> PendingSshLogin {
        let (mut ssh, answers) = self.ssh_command(user, host);
        ssh.env("LC_ALL", locale);
        PendingSshLogin {
            ssh: Interaction::spawn(ssh),
            answers,
            answered: 0,
        }
    }

    /// Starts `ssh -tt -l USER HOST` with the client key and ssh's locale set: an
    /// interactive session on a pty with no command, the only kind for which sshd shows its
    /// login messages (a command, or a `~/.hushlogin`, makes the login quiet). Its prompts
    /// are answered as for [`Sshd::start_login`], and the shell reads what the test sends
    /// with [`PendingSshLogin::send`] once the session is open.
    pub fn start_shell_login(&self, user: &str, host: &str, locale: &str) -> PendingSshLogin {
        let answers = self.answers_dir();
        let mut ssh =
            self.ssh_command_with(&self.client_key, user, host, &answers, Session::Shell, &[]);
        ssh.env("LC_ALL", locale);
        PendingSshLogin {
            ssh: Interaction::spawn(ssh),
            answers,
            answered: 0,
        }
    }

    /// The ssh command line and the directory its askpass reads answers from.
    fn ssh_command(&self, user: &str, host: &str) -> (Command, PathBuf) {
        let answers = self.answers_dir();
        let ssh = self.ssh_command_with(
            &self.client_key,
            user,
            host,
            &answers,
            Session::Command,
            &[],
        );
        (ssh, answers)
    }

    /// A fresh directory for one login's askpass answers and prompts.
    fn answers_dir(&self) -> PathBuf {
        let number = self.logins.fetch_add(1, Ordering::Relaxed);
        let answers = self.scratch.path().join(format!("login-{number}"));
        fs::create_dir(&answers).expect("create askpass dir");
        answers
    }

    /// `ssh` with `key` as its only identity, its askpass reading from `answers`, and
    /// `extra_options` before the host.
    fn ssh_command_with(
        &self,
        key: &Path,
        user: &str,
        host: &str,
        answers: &Path,
        session: Session,
        extra_options: &[&str],
    ) -> Command {
        let (session_flag, command) = match session {
            Session::Command => ("-n", Some("true")),
            Session::Shell => ("-tt", None),
        };
        let mut ssh = Command::new("setsid");
        ssh.args(["-w", "ssh", "-F", "/dev/null", session_flag, "-i"])
            .arg(key)
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=no",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "PreferredAuthentications=publickey,keyboard-interactive",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "ConnectTimeout=10",
            ])
            .args(extra_options)
            .args(["-p", &self.port.to_string(), "-l", user, host])
            .args(command)
            .env("SSH_ASKPASS", self.scratch.path().join("askpass"))
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("MFAT_ASKPASS_DIR", answers)
            .env_remove("DISPLAY");
        ssh
    }
}

/// What ssh asks the server to run after authentication.
#[derive(Debug, Clone, Copy)]
enum Session {
    /// `true`, with stdin from /dev/null (`-n`): no pty, no login messages.
    Command,
    /// The user's shell on a pty (`-tt`), reading ssh's stdin.
    Shell,
}

/// The keyboard-interactive prompts askpass recorded in `answers`, in order.
fn prompts_in(answers: &Path) -> Vec<String> {
    fs::read_to_string(answers.join("prompts"))
        .unwrap_or_default()
        .split_terminator('\0')
        .map(str::to_owned)
        .collect()
}

/// An `ssh` run under way whose prompts the test answers one at a time.
#[derive(Debug)]
pub struct PendingSshLogin {
    ssh: Interaction,
    answers: PathBuf,
    answered: usize,
}

impl PendingSshLogin {
    /// Waits until askpass has been asked `count` prompts; `false` if ssh ended first or the
    /// run timed out.
    pub fn wait_for_prompts(&self, count: usize) -> bool {
        self.ssh
            .wait_until(|_| prompts_in(&self.answers).len() >= count)
    }

    /// The prompts asked so far.
    pub fn prompts(&self) -> Vec<String> {
        prompts_in(&self.answers)
    }

    /// What ssh printed so far, stdout then stderr (keyboard-interactive instructions that
    /// come with no prompt go to its stderr).
    pub fn output(&self) -> String {
        format!("{}\n{}", self.ssh.stdout(), self.ssh.stderr())
    }

    /// Answers the next prompt (asked or still to come) with `answer`.
    pub fn answer(&mut self, answer: &str) {
        self.answered += 1;
        // Written aside and renamed, so that askpass never reads half an answer.
        let draft = self.answers.join(format!("draft-{}", self.answered));
        write_file(&draft, &format!("{answer}\n"), 0o600);
        fs::rename(
            &draft,
            self.answers.join(format!("answer-{}", self.answered)),
        )
        .expect("put the answer in place");
    }

    /// Writes `input` to ssh's stdin: what the shell of a [`Sshd::start_shell_login`] reads.
    pub fn send(&mut self, input: &str) {
        self.ssh.send(input);
    }

    /// Waits until `text` appears in what ssh printed; `false` if ssh ended first or the run
    /// timed out.
    pub fn wait_for_output(&self, text: &str) -> bool {
        self.ssh.wait_for(text, 1)
    }

    /// Waits for ssh to end; returns the run with the prompts asked.
    pub fn finish(self) -> SshLogin {
        let run = self.ssh.finish();
        SshLogin {
            run,
            prompts: prompts_in(&self.answers),
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// One `ssh` run and the keyboard-interactive prompts it was asked.
#[derive(Debug)]
pub struct SshLogin {
    /// The ssh run (exit 0 when `true` ran on the server).
    pub run: Run,
    /// The prompts askpass was called with, in order.
    pub prompts: Vec<String>,
}

/// A port free on both 127.0.0.1 and ::1.
fn free_loopback_port() -> u16 {
    const TRIES: u32 = 50;
    for _ in 0..TRIES {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a port on 127.0.0.1");
        let port = v4.local_addr().expect("local address").port();
        if TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1 in {TRIES} tries: is ::1 configured on lo?");
}

/// Whether sshd logged that it listens on both addresses; `false` if it exited first.
fn wait_until_listening(process: &mut Child, log: &Path, port: u16) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let output = fs::read_to_string(log).unwrap_or_default();
        if output.contains(&format!("Server listening on 127.0.0.1 port {port}"))
            && output.contains(&format!("Server listening on ::1 port {port}"))
        {
            return true;
        }
        if !matches!(process.try_wait(), Ok(None)) {
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "sshd did not listen within {START_TIMEOUT:?}:\n{output}"
        );
        thread::sleep(POLL_INTERVAL);
    }
}
