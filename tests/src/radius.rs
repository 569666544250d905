//! The real `mfa-radius` in front of a test daemon's `radius.sock`, on loopback UDP, and the
//! two ways the suites speak RADIUS to it: FreeRADIUS's `radclient` (a real client no one
//! here wrote) and [`RadiusSocket`], which sends what radclient cannot (an empty password,
//! the same bytes twice, lengths that lie, another source address), built with
//! `mfa_radius::packet`'s client side.
//!
//! The daemon and mfa-radius read one config file: [`RadiusSetup::settings`] is the
//! `[radius]` table the daemon must be started with (it binds `radius.sock` for the radius
//! user it names); [`MfaRadius::start`] then runs the binary as that user on a copy of the
//! daemon's config.

use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use data_encoding::HEXLOWER;
use mfa_radius::packet::{self, Attribute, Code, Packet, attr};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::artifacts::radius_binary;
use crate::daemon::Daemon;
use crate::process::{Interaction, Run, run};
use crate::scratch::{ScratchDir, write_file};
use crate::user::TestUser;

/// How long mfa-radius may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Start of the line mfa-radius prints on stderr for each socket it listens on.
const LISTENING: &str = "mfa-radius: listening on ";
/// radclient's wait for an answer, in seconds: long enough for a PAM check and a daemon on
/// a busy machine, short enough that "no answer" tests do not drag.
const RADCLIENT_TIMEOUT: &str = "3";
/// How long [`RadiusSocket::receive`] waits by default.
pub const ANSWER_WAIT: Duration = Duration::from_secs(3);
/// useradd, usermod and gpasswd lock /etc/group and fail rather than wait.
const GROUP_TOOL_ATTEMPTS: u32 = 20;

/// What mfa-radius checks passwords with: nothing (the client did) or a PAM service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    /// `password = "none"`: the field is the code (or a menu choice).
    None,
    /// `password = "pam"` with `pam_service` = this service.
    Pam(String),
}

/// One `[[radius.client]]` block and the secret it shares with the server.
#[derive(Debug, Clone)]
pub struct RadiusClientSetup {
    /// `name`: `radius:NAME` is the policy service and the audit source.
    pub name: String,
    /// `address`: one address or a CIDR.
    pub address: String,
    /// The shared secret, written to the client's `secret_file`.
    pub secret: String,
    /// `require_message_authenticator` (the server's default, true, when `None`).
    pub require_message_authenticator: Option<bool>,
    /// `requests_per_second` (the server's default when `None`).
    pub requests_per_second: Option<u32>,
    /// Mode of the secret file (0600 unless a test wants a bad one).
    pub secret_mode: u32,
}

impl RadiusClientSetup {
    /// A client `name` at `address` with a fresh 32-character secret.
    pub fn new(name: &str, address: &str) -> RadiusClientSetup {
        RadiusClientSetup {
            name: name.to_owned(),
            address: address.to_owned(),
            secret: fresh_secret(),
            require_message_authenticator: None,
            requests_per_second: None,
            secret_mode: 0o600,
        }
    }

    /// Sets `require_message_authenticator = false` (clients from before BlastRADIUS).
    pub fn without_message_authenticator(self) -> RadiusClientSetup {
        RadiusClientSetup {
            require_message_authenticator: Some(false),
            ..self
        }
    }

    /// Sets `requests_per_second`.
    pub fn requests_per_second(self, rate: u32) -> RadiusClientSetup {
        RadiusClientSetup {
            requests_per_second: Some(rate),
            ..self
        }
    }

    /// Replaces the secret (for a too-short one).
    pub fn with_secret(self, secret: &str) -> RadiusClientSetup {
        RadiusClientSetup {
            secret: secret.to_owned(),
            ..self
        }
    }

    /// Writes the secret file with `mode` instead of 0600.
    pub fn with_secret_mode(self, mode: u32) -> RadiusClientSetup {
        RadiusClientSetup {
            secret_mode: mode,
            ..self
        }
    }
}

/// Everything mfa-radius needs before the daemon starts: its account, a UDP port free on
/// 127.0.0.1 and ::1, the clients with their secret files (in a scratch directory, owned by
/// the account, as the server demands), and how passwords are checked.
#[derive(Debug)]
pub struct RadiusSetup {
    clients: Vec<RadiusClientSetup>,
    password: PasswordCheck,
    ipv6: bool,
    port: u16,
    user: TestUser,
    scratch: ScratchDir,
}

impl Default for RadiusSetup {
    fn default() -> RadiusSetup {
        RadiusSetup::new()
    }
}

impl RadiusSetup {
    /// A setup with a fresh account, a free port, no clients, `password = "none"`, IPv4 only.
    pub fn new() -> RadiusSetup {
        RadiusSetup {
            clients: Vec::new(),
            password: PasswordCheck::None,
            ipv6: false,
            port: free_udp_port(),
            user: TestUser::create(),
            scratch: ScratchDir::create(),
        }
    }

    /// Adds a client and writes its secret file (owned by the radius account).
    pub fn client(mut self, client: RadiusClientSetup) -> RadiusSetup {
        let path = self.secret_file(&client.name);
        write_file(&path, &format!("{}\n", client.secret), client.secret_mode);
        chown(&path, Some(self.user.uid()), Some(self.user.gid()))
            .unwrap_or_else(|e| panic!("cannot chown {}: {e}", path.display()));
        self.clients.push(client);
        self
    }

    /// `password = "pam"` with `pam_service = SERVICE`; puts the radius account in group
    /// `shadow`, as the README says pam_unix needs (it reads /etc/shadow itself only then).
    pub fn password_by_pam(self, service: &str) -> RadiusSetup {
        add_to_group(self.user.name(), "shadow");
        RadiusSetup {
            password: PasswordCheck::Pam(service.to_owned()),
            ..self
        }
    }

    /// Listens on `[::1]:PORT` too.
    pub fn with_ipv6(self) -> RadiusSetup {
        RadiusSetup { ipv6: true, ..self }
    }

    /// The `[radius]` table and its `[[radius.client]]` blocks, for the daemon's config
    /// (after its top-level keys).
    pub fn settings(&self) -> String {
        let mut listen = vec![format!("\"127.0.0.1:{}\"", self.port)];
        if self.ipv6 {
            listen.push(format!("\"[::1]:{}\"", self.port));
        }
        let mut toml = format!(
            "[radius]\nlisten = [{}]\nuser = \"{}\"\n",
            listen.join(", "),
            self.user.name()
        );
        match &self.password {
            PasswordCheck::None => toml.push_str("password = \"none\"\n"),
            PasswordCheck::Pam(service) => {
                toml.push_str(&format!(
                    "password = \"pam\"\npam_service = \"{service}\"\n"
                ));
            }
        }
        for client in &self.clients {
            toml.push_str(&format!(
                "[[radius.client]]\nname = \"{}\"\naddress = \"{}\"\nsecret_file = \"{}\"\n",
                client.name,
                client.address,
                self.secret_file(&client.name).display()
            ));
            if let Some(require) = client.require_message_authenticator {
                toml.push_str(&format!("require_message_authenticator = {require}\n"));
            }
            if let Some(rate) = client.requests_per_second {
                toml.push_str(&format!("requests_per_second = {rate}\n"));
            }
        }
        toml
    }

    /// The secret file of client `name`.
    pub fn secret_file(&self, name: &str) -> PathBuf {
        self.scratch.path().join(format!("radius-{name}.secret"))
    }

    /// The account mfa-radius runs as.
    pub fn user(&self) -> &TestUser {
        &self.user
    }

    /// The UDP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The client `name` as set up; panics if there is none.
    pub fn client_setup(&self, name: &str) -> &RadiusClientSetup {
        self.clients
            .iter()
            .find(|client| client.name == name)
            .unwrap_or_else(|| panic!("no radius client {name} in this setup"))
    }

    /// `mfa-radius --config FILE --check-config` as the radius account, FILE holding
    /// `config` (a whole config file).
    pub fn check_config(&self, config: &str) -> Run {
        let path = self.scratch.path().join("check.toml");
        write_file(&path, config, 0o644);
        let mut command = self.as_radius_user(radius_binary());
        command.arg("--config").arg(&path).arg("--check-config");
        run(command, "")
    }

    /// A config file with a daemon socket in the scratch directory and [`RadiusSetup::settings`].
    pub fn standalone_config(&self) -> String {
        format!(
            "socket = \"{}\"\n{}",
            self.scratch.path().join("mfa.sock").display(),
            self.settings()
        )
    }

    /// `program` as the radius account with its supplementary groups (`shadow` in pam
    /// mode): setpriv, since std's `Command::uid` drops every supplementary group.
    fn as_radius_user(&self, program: PathBuf) -> Command {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={}", self.user.uid()))
            .arg(format!("--regid={}", self.user.gid()))
            .arg("--init-groups")
            .arg("--")
            .arg(program);
        command
    }
}

/// `mfa-radius --config CONFIG` as the setup's account, CONFIG a copy of the daemon's
/// config (it reads only `socket` and `[radius]`). Its stderr goes to a log; killed by PID on
/// drop.
#[derive(Debug)]
pub struct MfaRadius {
    process: Option<Child>,
    log: PathBuf,
    config: PathBuf,
    setup: RadiusSetup,
}

impl MfaRadius {
    /// Starts mfa-radius for `daemon` (started with `setup.settings()` in its config) and
    /// waits until it listens on every address of the setup.
    pub fn start(daemon: &Daemon, setup: RadiusSetup) -> MfaRadius {
        let config = setup.scratch.path().join("radius.toml");
        let daemon_config = fs::read_to_string(daemon.config())
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", daemon.config().display()));
        assert!(
            daemon_config.contains(&setup.settings()),
            "the daemon was not started with this setup's [radius] table"
        );
        write_file(&config, &daemon_config, 0o644);
        let log = setup.scratch.path().join("mfa-radius.log");
        let output =
            File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let child = setup
            .as_radius_user(radius_binary())
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone log handle"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mfa-radius: {e}"));
        setup.scratch.record_pid("mfa-radius", child.id());
        let mut radius = MfaRadius {
            process: Some(child),
            log,
            config,
            setup,
        };
        radius.wait_until_listening();
        radius
    }

    fn wait_until_listening(&mut self) {
        let port = self.setup.port;
        let mut wanted = vec![format!("{LISTENING}127.0.0.1:{port}")];
        if self.setup.ipv6 {
            wanted.push(format!("{LISTENING}[::1]:{port}"));
        }
        let deadline = Instant::now() + START_TIMEOUT;
        while !wanted.iter().all(|line| self.log().contains(line.as_str())) {
            assert!(
                self.is_running(),
                "mfa-radius exited before listening:\n{}",
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "mfa-radius did not print {wanted:?} within {START_TIMEOUT:?}:\n{}",
                self.log()
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Whether the process still runs (reaps it if it exited).
    pub fn is_running(&mut self) -> bool {
        match self.process.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.process = None;
                false
            }
            None => false,
        }
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// What mfa-radius wrote so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log under a heading, to append to assertion messages.
    pub fn log_section(&self) -> String {
        format!("--- mfa-radius log ---\n{}", self.log().trim_end())
    }

    /// The config file it runs with.
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// The setup it was started with.
    pub fn setup(&self) -> &RadiusSetup {
        &self.setup
    }

    /// Its IPv4 address: 127.0.0.1 at the setup's port.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.setup.port)
    }

    /// Its IPv6 address: `[::1]` at the setup's port (only with [`RadiusSetup::with_ipv6`]).
    pub fn address_v6(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), self.setup.port)
    }

    /// radclient to 127.0.0.1 with the secret of client `name`.
    pub fn radclient(&self, name: &str) -> Radclient {
        Radclient::new(self.address(), &self.setup.client_setup(name).secret)
    }

    /// radclient to `[::1]` with the secret of client `name`.
    pub fn radclient_v6(&self, name: &str) -> Radclient {
        Radclient::new(self.address_v6(), &self.setup.client_setup(name).secret)
    }

    /// A socket on `from` (any port) that speaks to the IPv4 address with the secret of
    /// client `name`.
    pub fn socket(&self, name: &str, from: IpAddr) -> RadiusSocket {
        RadiusSocket::bind(
            from,
            self.address(),
            self.setup.client_setup(name).secret.as_bytes(),
        )
    }

    /// Kills mfa-radius now (the log stays readable).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for MfaRadius {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a RADIUS server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadiusCode {
    /// Access-Accept.
    Accept,
    /// Access-Reject.
    Reject,
    /// Access-Challenge.
    Challenge,
    /// Nothing within the client's timeout.
    NoAnswer,
    /// Some other code (a bug in the server).
    Other(u8),
}

/// One answer as a client saw it.
#[derive(Debug, Clone)]
pub struct RadiusAnswer {
    /// Its code.
    pub code: RadiusCode,
    /// Its Reply-Message attributes, in order.
    pub reply_messages: Vec<String>,
    /// Its State attribute.
    pub state: Option<Vec<u8>>,
    /// Its Prompt attribute (RFC 2869: 0 no echo, 1 echo).
    pub prompt: Option<u32>,
    /// What the client printed (radclient's output), or the packet's attributes.
    pub transcript: String,
}

impl RadiusAnswer {
    /// The Reply-Messages joined: the server splits a long text at 253 bytes.
    pub fn reply_text(&self) -> String {
        self.reply_messages.concat()
    }

    /// The State as radclient's hex (`0x...`); panics if there is none.
    pub fn state_hex(&self) -> String {
        let state = self
            .state
            .as_ref()
            .unwrap_or_else(|| panic!("no State in the answer:\n{self}"));
        format!("0x{}", HEXLOWER.encode(state))
    }

    /// The answer a packet carries.
    pub fn from_packet(packet: &Packet) -> RadiusAnswer {
        let code = match packet.code {
            Code::AccessAccept => RadiusCode::Accept,
            Code::AccessReject => RadiusCode::Reject,
            Code::AccessChallenge => RadiusCode::Challenge,
            Code::AccessRequest => RadiusCode::Other(1),
            Code::AccountingRequest => RadiusCode::Other(4),
            Code::StatusServer => RadiusCode::Other(12),
            Code::Other(code) => RadiusCode::Other(code),
        };
        let reply_messages = packet
            .attributes
            .iter()
            .filter(|a| a.kind == attr::REPLY_MESSAGE)
            .map(|a| String::from_utf8_lossy(&a.value).into_owned())
            .collect();
        let prompt = packet
            .first(attr::PROMPT)
            .and_then(|value| <[u8; 4]>::try_from(value).ok().map(u32::from_be_bytes));
        let transcript = packet
            .attributes
            .iter()
            .map(|a| format!("{} = {}", a.kind, HEXLOWER.encode(&a.value)))
            .collect::<Vec<_>>()
            .join("\n");
        RadiusAnswer {
            code,
            reply_messages,
            state: packet.first(attr::STATE).map(<[u8]>::to_vec),
            prompt,
            transcript: format!("{:?} id {}\n{transcript}", packet.code, packet.identifier),
        }
    }

    fn no_answer(transcript: String) -> RadiusAnswer {
        RadiusAnswer {
            code: RadiusCode::NoAnswer,
            reply_messages: Vec::new(),
            state: None,
            prompt: None,
            transcript,
        }
    }
}

impl fmt::Display for RadiusAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:?} {:?}", self.code, self.reply_messages)?;
        write!(f, "{}", self.transcript.trim_end())
    }
}

/// The attribute lines of one Access-Request as radclient reads them on stdin.
#[derive(Debug, Clone)]
pub struct AccessRequest {
    lines: Vec<String>,
}

impl AccessRequest {
    /// `User-Name = "USER"` and `Message-Authenticator = 0x00` (radclient computes it).
    pub fn new(user: &str) -> AccessRequest {
        AccessRequest {
            lines: vec![
                format!("User-Name = {}", quoted(user)),
                "Message-Authenticator = 0x00".to_owned(),
            ],
        }
    }

    /// Adds `User-Password = "PASSWORD"` (radclient sends none for an empty one).
    pub fn password(self, password: &str) -> AccessRequest {
        self.line(format!("User-Password = {}", quoted(password)))
    }

    /// Adds `State = 0x...`.
    pub fn state(self, state: &[u8]) -> AccessRequest {
        self.line(format!("State = 0x{}", HEXLOWER.encode(state)))
    }

    /// Adds `Calling-Station-Id = "ID"`.
    pub fn calling_station(self, id: &str) -> AccessRequest {
        self.line(format!("Calling-Station-Id = {}", quoted(id)))
    }

    /// Leaves out the Message-Authenticator (as clients from before BlastRADIUS do).
    pub fn without_message_authenticator(mut self) -> AccessRequest {
        self.lines
            .retain(|line| !line.starts_with("Message-Authenticator"));
        self
    }

    fn line(mut self, line: String) -> AccessRequest {
        self.lines.push(line);
        self
    }

    fn text(&self) -> String {
        format!("{}\n", self.lines.join("\n"))
    }
}

/// `radclient -x -t 3 -r 1 SERVER auth SECRET`, reading one request's attributes on stdin.
#[derive(Debug, Clone)]
pub struct Radclient {
    server: SocketAddr,
    secret: String,
}

impl Radclient {
    /// radclient to `server` with `secret`.
    pub fn new(server: SocketAddr, secret: &str) -> Radclient {
        Radclient {
            server,
            secret: secret.to_owned(),
        }
    }

    /// The same client with another secret (a wrong one).
    pub fn with_secret(&self, secret: &str) -> Radclient {
        Radclient::new(self.server, secret)
    }

    fn command(&self) -> Command {
        let mut command = Command::new("radclient");
        command.args(["-x", "-t", RADCLIENT_TIMEOUT, "-r", "1"]);
        if self.server.is_ipv6() {
            command.arg("-6");
        }
        command
            .arg(self.server.to_string())
            .arg("auth")
            .arg(&self.secret);
        command
    }

    /// Sends `request`, waits for the answer (or radclient's timeout) and parses it.
    pub fn send(&self, request: &AccessRequest) -> RadiusAnswer {
        parse_radclient(&run(self.command(), &request.text()))
    }

    /// Starts radclient with `request` and leaves it running (for races).
    pub fn spawn(&self, request: &AccessRequest) -> Interaction {
        let mut interaction = Interaction::spawn(self.command());
        interaction.send(&request.text());
        interaction
    }

    /// Waits for a radclient that [`Radclient::spawn`] started and parses its answer.
    pub fn finish(interaction: Interaction) -> RadiusAnswer {
        parse_radclient(&interaction.finish())
    }
}

/// The answer in radclient's `-x` output: a `Received Access-... Id N from ...` line and its
/// attribute lines (`\tName = value`), or none. Panics if an answer's first attribute is not
/// its Message-Authenticator: every answer must carry one first (BlastRADIUS).
pub fn parse_radclient(run: &Run) -> RadiusAnswer {
    let transcript = run.to_string();
    let mut lines = run.stdout.lines();
    let Some(heading) = lines.find(|line| line.starts_with("Received ")) else {
        return RadiusAnswer::no_answer(transcript);
    };
    let code = match heading.split_whitespace().nth(1) {
        Some("Access-Accept") => RadiusCode::Accept,
        Some("Access-Reject") => RadiusCode::Reject,
        Some("Access-Challenge") => RadiusCode::Challenge,
        _ => RadiusCode::Other(0),
    };
    let attributes: Vec<&str> = lines.take_while(|line| line.starts_with('\t')).collect();
    assert!(
        attributes
            .first()
            .is_some_and(|line| line.trim_start().starts_with("Message-Authenticator = ")),
        "the response's first attribute is not its Message-Authenticator (BlastRADIUS):\n\
         {transcript}"
    );
    let mut answer = RadiusAnswer::no_answer(transcript);
    answer.code = code;
    for line in attributes {
        let Some((name, value)) = line.trim().split_once(" = ") else {
            continue;
        };
        match name {
            "Reply-Message" => answer.reply_messages.push(unquote(value)),
            "State" => {
                let hex = value.trim_start_matches("0x");
                answer.state = HEXLOWER.decode(hex.as_bytes()).ok();
            }
            "Prompt" => {
                answer.prompt = match value {
                    "No-Echo" => Some(0),
                    "Echo" => Some(1),
                    other => other.parse().ok(),
                };
            }
            _ => {}
        }
    }
    answer
}

/// A UDP socket that plays a RADIUS client with `mfa_radius::packet`'s client side.
#[derive(Debug)]
pub struct RadiusSocket {
    socket: UdpSocket,
    server: SocketAddr,
    secret: Vec<u8>,
}

/// An Access-Request as sent: its bytes and its Request Authenticator (to check the answer).
#[derive(Debug, Clone)]
pub struct SentRequest {
    /// The datagram.
    pub bytes: Vec<u8>,
    /// Its Request Authenticator.
    pub authenticator: [u8; 16],
}

impl RadiusSocket {
    /// Binds `from` (port 0) and sends to `server` with `secret`.
    pub fn bind(from: IpAddr, server: SocketAddr, secret: &[u8]) -> RadiusSocket {
        let socket = UdpSocket::bind(SocketAddr::new(from, 0))
            .unwrap_or_else(|e| panic!("cannot bind a UDP socket on {from}: {e}"));
        RadiusSocket {
            socket,
            server,
            secret: secret.to_vec(),
        }
    }

    /// Uses `secret` from now on (a wrong one, another client's).
    pub fn with_secret(mut self, secret: &[u8]) -> RadiusSocket {
        self.secret = secret.to_vec();
        self
    }

    /// The address it sends from.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// An Access-Request for `user` with a fresh authenticator, a Message-Authenticator, and
    /// `password` hidden as RFC 2865 says (`None`: no User-Password), then `attributes`.
    pub fn request(
        &self,
        identifier: u8,
        user: &[u8],
        password: Option<&[u8]>,
        attributes: &[Attribute],
    ) -> SentRequest {
        let mut all = vec![Attribute {
            kind: attr::USER_NAME,
            value: user.to_vec(),
        }];
        all.extend(attributes.iter().cloned());
        self.request_with(identifier, password, &all, true)
    }

    /// An Access-Request of exactly `attributes` (and the password), with or without a
    /// Message-Authenticator.
    pub fn request_with(
        &self,
        identifier: u8,
        password: Option<&[u8]>,
        attributes: &[Attribute],
        message_authenticator: bool,
    ) -> SentRequest {
        let authenticator = random_authenticator();
        let bytes = packet::encode_request(
            identifier,
            authenticator,
            password,
            attributes,
            &self.secret,
            message_authenticator,
        );
        SentRequest {
            bytes,
            authenticator,
        }
    }

    /// Sends `bytes` as one datagram.
    pub fn send_raw(&self, bytes: &[u8]) {
        self.socket
            .send_to(bytes, self.server)
            .unwrap_or_else(|e| panic!("cannot send to {}: {e}", self.server));
    }

    /// The next datagram from the server within `wait`, if any.
    pub fn receive(&self, wait: Duration) -> Option<Vec<u8>> {
        self.socket
            .set_read_timeout(Some(wait))
            .expect("set a read timeout");
        let mut buffer = vec![0u8; 8192];
        loop {
            match self.socket.recv_from(&mut buffer) {
                Ok((length, from)) if from == self.server => {
                    return Some(buffer[..length].to_vec());
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Sends `request` and returns the answer, its authenticators checked and its
    /// Message-Authenticator first (a response that fails either panics: the server must
    /// never send one).
    pub fn exchange(&self, request: &SentRequest) -> RadiusAnswer {
        self.send_raw(&request.bytes);
        self.answer_to(request, ANSWER_WAIT)
    }

    /// The answer to `request` within `wait`, checked, or [`RadiusCode::NoAnswer`].
    pub fn answer_to(&self, request: &SentRequest, wait: Duration) -> RadiusAnswer {
        match self.receive(wait) {
            None => RadiusAnswer::no_answer(format!("no answer within {wait:?}")),
            Some(bytes) => {
                let packet = packet::verify_response(&bytes, &request.authenticator, &self.secret)
                    .unwrap_or_else(|e| {
                        panic!(
                            "the server's response fails its authenticator checks ({e}): {}",
                            HEXLOWER.encode(&bytes)
                        )
                    });
                assert_eq!(
                    packet.attributes.first().map(|a| a.kind),
                    Some(attr::MESSAGE_AUTHENTICATOR),
                    "the response's first attribute is not its Message-Authenticator \
                     (BlastRADIUS): {}",
                    HEXLOWER.encode(&bytes)
                );
                RadiusAnswer::from_packet(&packet)
            }
        }
    }
}

/// A 16-byte Request Authenticator from the kernel's random numbers.
pub fn random_authenticator() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .unwrap_or_else(|e| panic!("cannot read /dev/urandom: {e}"));
    bytes
}

/// A shared secret: 32 lowercase hex digits.
fn fresh_secret() -> String {
    HEXLOWER.encode(&random_authenticator())
}

/// A UDP port free right now on both 127.0.0.1 and ::1.
pub fn free_udp_port() -> u16 {
    const TRIES: u32 = 50;
    for _ in 0..TRIES {
        let v4 = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a UDP port on 127.0.0.1");
        let port = v4.local_addr().expect("local address").port();
        if UdpSocket::bind((Ipv6Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no UDP port free on both 127.0.0.1 and ::1 in {TRIES} tries");
}

/// `value` as a radclient string: double quotes, with `\` and `"` escaped.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A radclient string value back to text: the quotes off, `\n`, `\t`, `\"`, `\\` and octal
/// `\NNN` escapes undone.
fn unquote(value: &str) -> String {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let mut bytes = Vec::new();
    let mut chars = inner.bytes().peekable();
    while let Some(byte) = chars.next() {
        if byte != b'\\' {
            bytes.push(byte);
            continue;
        }
        match chars.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b'r') => bytes.push(b'\r'),
            Some(b't') => bytes.push(b'\t'),
            Some(digit @ b'0'..=b'7') => {
                let mut code = u32::from(digit - b'0');
                for _ in 0..2 {
                    match chars.peek() {
                        Some(next @ b'0'..=b'7') => {
                            code = code * 8 + u32::from(next - b'0');
                            chars.next();
                        }
                        _ => break,
                    }
                }
                bytes.push(u8::try_from(code).unwrap_or(b'?'));
            }
            Some(other) => bytes.push(other),
            None => bytes.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Adds account `user` to `group` (gpasswd), retrying while another tool holds the lock.
fn add_to_group(user: &str, group: &str) {
    for _ in 0..GROUP_TOOL_ATTEMPTS {
        let mut command = Command::new("gpasswd");
        command.args(["-a", user, group]);
        let done = run(command, "");
        if done.succeeded() {
            return;
        }
        assert!(done.stderr.contains("lock"), "gpasswd failed: {done}");
        thread::sleep(Duration::from_millis(200));
    }
    panic!("gpasswd could not add {user} to {group}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radclient_strings_are_unquoted() {
        assert_eq!(unquote(r#""a\nb""#), "a\nb");
        assert_eq!(unquote(r#""say \"hi\" \\ ok""#), "say \"hi\" \\ ok");
        assert_eq!(unquote(r#""caf\303\251""#), "café");
        assert_eq!(quoted("a\"b\\c"), r#""a\"b\\c""#);
    }

    #[test]
    fn radclient_output_is_parsed() {
        let output = "Sent Access-Request Id 5 from 0.0.0.0:40067 to 127.0.0.1:18999 length 69\n\
             \tUser-Name = \"u\"\n\
             Received Access-Challenge Id 5 from 127.0.0.1:18999 to 127.0.0.1:40067 length 104\n\
             \tMessage-Authenticator = 0x2911c9655b83384ee297b37fed098d20\n\
             \tReply-Message = \"Line one\\nVerification code: \"\n\
             \tReply-Message = \"second\"\n\
             \tState = 0x000102030405060708090a0b0c0d0e0f\n\
             \tPrompt = No-Echo\n";
        let run = Run {
            command: "radclient".to_owned(),
            status: None,
            stdout: output.to_owned(),
            stderr: String::new(),
        };
        let answer = parse_radclient(&run);
        assert_eq!(answer.code, RadiusCode::Challenge);
        assert_eq!(
            answer.reply_messages,
            ["Line one\nVerification code: ", "second"]
        );
        assert_eq!(answer.state_hex(), "0x000102030405060708090a0b0c0d0e0f");
        assert_eq!(answer.prompt, Some(0));
        let none = Run {
            stdout: "(0) No reply from server for ID 2 socket 3\n".to_owned(),
            ..run
        };
        assert_eq!(parse_radclient(&none).code, RadiusCode::NoAnswer);
    }
}
