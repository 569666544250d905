//! Test doubles: a PAM handle that records what the module shows and logs, and a daemon on
//! a temporary socket that speaks the real framing.

use std::collections::{HashMap, VecDeque};
use std::ffi::CStr;
use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mfa_proto::{FrameError, Request, Secret, Step, read_frame, write_frame};
use pam::constants::PamResultCode;
use tempfile::TempDir;

use crate::handler::{ConvError, ItemError, LogLevel, MessageKind, PamHandler, PamItem};

/// What the fake application showed the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Prompt { text: String, echo: bool },
    Info(String),
    Error(String),
}

/// A PAM handle with set items, scripted answers, and a record of what was shown and logged.
#[derive(Debug, Default)]
pub struct FakePam {
    pub items: HashMap<PamItem, String>,
    pub env: HashMap<&'static CStr, String>,
    /// What `pam_get_user` gives when `PAM_USER` is unset.
    pub get_user: Option<Result<String, PamResultCode>>,
    pub get_user_calls: usize,
    /// Answers to prompts, in order; a prompt with none left fails the conversation.
    pub answers: VecDeque<Result<String, ConvError>>,
    /// When set, each prompt waits for a signal here before it is answered.
    pub before_answer: Option<mpsc::Receiver<()>>,
    /// When set, showing a message fails.
    pub show_fails: bool,
    pub shown: Vec<Shown>,
    pub logs: Vec<(LogLevel, String)>,
    /// Whether the module appears to run as root (and so uses the privileged socket).
    pub root: bool,
    /// Listener uids to trust; unset, root and this test process (where the fake daemons
    /// listen).
    pub trusted: Option<[u32; 2]>,
    /// The `daemon_user` of each listener check.
    pub daemon_users: Vec<String>,
    /// `PAM_AUTHTOK`, as an earlier module (or this one) set it.
    pub authtok: Option<Vec<u8>>,
}

impl FakePam {
    /// An sshd login of alice from 127.0.0.1.
    pub fn sshd() -> FakePam {
        let mut pam = FakePam::default();
        pam.items.insert(PamItem::User, "alice".into());
        pam.items.insert(PamItem::Service, "sshd".into());
        pam.items.insert(PamItem::RHost, "127.0.0.1".into());
        pam.items.insert(PamItem::Tty, "ssh".into());
        pam
    }

    pub fn answering(mut self, answers: &[&str]) -> FakePam {
        self.answers = answers.iter().map(|a| Ok((*a).to_owned())).collect();
        self
    }

    /// Every log line at `level`.
    pub fn logged(&self, level: LogLevel) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, line)| line.as_str())
            .collect()
    }

    /// All log lines, one per line.
    pub fn log_text(&self) -> String {
        self.logs
            .iter()
            .map(|(level, line)| format!("{level:?}: {line}\n"))
            .collect()
    }
}

impl PamHandler for FakePam {
    fn item(&mut self, item: PamItem) -> Result<Option<String>, ItemError> {
        Ok(self.items.get(&item).cloned())
    }

    fn get_user(&mut self) -> Result<String, PamResultCode> {
        self.get_user_calls += 1;
        self.get_user
            .take()
            .unwrap_or(Err(PamResultCode::PAM_SYSTEM_ERR))
    }

    fn env(&mut self, name: &'static CStr) -> Result<Option<String>, ItemError> {
        Ok(self.env.get(name).cloned())
    }

    fn prompt(&mut self, text: &str, echo: bool) -> Result<Secret, ConvError> {
        self.shown.push(Shown::Prompt {
            text: text.into(),
            echo,
        });
        if let Some(signal) = &self.before_answer {
            signal.recv().unwrap();
        }
        match self.answers.pop_front() {
            Some(answer) => answer.map(Secret::from),
            None => Err(ConvError::Pam(PamResultCode::PAM_CONV_ERR)),
        }
    }

    fn prompt_bytes(&mut self, text: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, ConvError> {
        let answer = self.prompt(text, false)?;
        Ok(zeroize::Zeroizing::new(answer.expose().as_bytes().to_vec()))
    }

    fn authtok(&mut self) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, ItemError> {
        Ok(self.authtok.clone().map(zeroize::Zeroizing::new))
    }

    fn set_authtok(&mut self, token: &[u8]) -> Result<(), ItemError> {
        self.authtok = Some(token.to_vec());
        Ok(())
    }

    fn show(&mut self, kind: MessageKind, text: &str) -> Result<(), ConvError> {
        if self.show_fails {
            return Err(ConvError::Pam(PamResultCode::PAM_CONV_ERR));
        }
        self.shown.push(match kind {
            MessageKind::Info => Shown::Info(text.into()),
            MessageKind::Error => Shown::Error(text.into()),
        });
        Ok(())
    }

    fn syslog(&mut self, level: LogLevel, message: &str) {
        self.logs.push((level, message.into()));
    }

    fn runs_as_root(&mut self) -> bool {
        self.root
    }

    fn trusted_listeners(&mut self, daemon_user: &str, _listener: u32) -> [u32; 2] {
        self.daemon_users.push(daemon_user.into());
        self.trusted.unwrap_or_else(|| [0, own_uid()])
    }
}

/// The uid this test process listens as, found without unsafe code: the owner of a file it
/// creates.
pub fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let file = tempfile::NamedTempFile::new().unwrap();
    file.as_file().metadata().unwrap().uid()
}

/// How long the fake daemon waits for the module before giving up, so that a broken test
/// fails instead of hanging.
const DAEMON_PATIENCE: Duration = Duration::from_secs(20);

/// A daemon thread serving one connection on a socket in a temporary directory.
#[derive(Debug)]
pub struct FakeDaemon<T> {
    _dir: TempDir,
    pub socket: PathBuf,
    thread: JoinHandle<T>,
}

impl<T: Send + 'static> FakeDaemon<T> {
    /// Accepts one connection on the public socket and runs `script` on it; its result comes
    /// back from `join`.
    pub fn start(script: impl FnOnce(&mut Conn) -> T + Send + 'static) -> FakeDaemon<T> {
        FakeDaemon::start_on(false, script)
    }

    /// Like [`FakeDaemon::start`], on the privileged socket when `privileged`. `socket` is
    /// the public path either way, the one the module is configured with.
    pub fn start_on(
        privileged: bool,
        script: impl FnOnce(&mut Conn) -> T + Send + 'static,
    ) -> FakeDaemon<T> {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("mfa.sock");
        let listen_at = if privileged {
            let private = mfa_proto::privileged_socket(&socket);
            std::fs::create_dir(private.parent().unwrap()).unwrap();
            private
        } else {
            socket.clone()
        };
        let listener = UnixListener::bind(&listen_at).unwrap();
        listener.set_nonblocking(true).unwrap();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + DAEMON_PATIENCE;
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        assert!(Instant::now() < deadline, "the module never connected");
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(DAEMON_PATIENCE)).unwrap();
            script(&mut Conn { stream })
        });
        FakeDaemon {
            _dir: dir,
            socket,
            thread,
        }
    }

    /// The module argument that points at this daemon.
    pub fn socket_arg(&self) -> std::ffi::CString {
        std::ffi::CString::new(format!("socket={}", self.socket.display())).unwrap()
    }

    /// Waits for the script to end and returns its result.
    pub fn join(self) -> T {
        self.thread.join().unwrap()
    }
}

/// The daemon's end of one connection.
#[derive(Debug)]
pub struct Conn {
    pub stream: UnixStream,
}

impl Conn {
    pub fn recv(&mut self) -> Result<Request, FrameError> {
        read_frame(&mut self.stream)
    }

    /// Reads the opening request.
    pub fn recv_auth(&mut self) -> mfa_proto::AuthRequest {
        match self.recv().unwrap() {
            Request::Authenticate { auth } => auth,
            other => panic!("expected authenticate, got {other:?}"),
        }
    }

    /// Reads an answer and returns its text.
    pub fn recv_answer(&mut self) -> String {
        match self.recv().unwrap() {
            Request::Answer { text } => text.expose().to_owned(),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    pub fn send<T: serde::Serialize>(&mut self, response: &T) {
        write_frame(&mut self.stream, response).unwrap();
    }

    /// Writes bytes as they are, for frames the codec would refuse to make.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn prompt(&mut self) {
        self.send(&Step::Prompt {
            text: "Verification code: ".into(),
            echo: false,
        });
    }

    pub fn done(&mut self, outcome: mfa_proto::Outcome) {
        self.send(&Step::Done { outcome });
    }

    /// Reads until the module hangs up; what ended the read.
    pub fn wait_for_hangup(&mut self) -> FrameError {
        loop {
            if let Err(e) = self.recv() {
                return e;
            }
        }
    }
}

/// A length prefix and `body`, however wrong `body` is.
pub fn raw_frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}
