//! The UDP side: each datagram goes through the cheap checks in the receive loop (client,
//! rate, framing, Message-Authenticator, duplicate), then its login runs in a task of its
//! own, so that a slow daemon or PAM stack never stalls the loop.
//!
//! A datagram that fails a check gets no answer (RFC 2865 §3: silently discarded), and is
//! counted and logged at most once a minute per client or address. Every answer goes
//! through [`encode_response`], Message-Authenticator first.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mfa_proto::AuthRequest;
use mfa_proto::radius::{PasswordCheck, service_name, source_name};
use tokio::net::UdpSocket;
use zeroize::Zeroizing;

use crate::clients::{Client, Clients};
use crate::daemon::Login;
use crate::duplicates::{DUPLICATES_MAX, Duplicates, RequestKey, Seen};
use crate::limits::{LOGIN_SLOT_WAIT, LOGINS_IN_PROGRESS, LoginSlots};
use crate::logging::{DropLog, DropReason, DropSource, Sanitized};
use crate::login::{PamCheck, PasswordChecker, Relay, Verdict, into_secret};
use crate::packet::{
    Attribute, Code, MAX_ATTRIBUTE_VALUE, MAX_PACKET, Packet, PasswordError, VerifyError, attr,
    encode_response, reply_messages, user_password, verify_request,
};
use crate::sessions::{Bounds, Full, Owner, Sessions, new_state};

/// What a client that sends CHAP or EAP is told.
const ONLY_PAP: &str = "Only PAP (User-Password) is supported";
/// What a login is told when no challenge can be opened for it now.
const TRY_AGAIN: &str = "Too many sign-ins waiting; try again shortly.";
/// How often expired challenges are closed.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Everything the loop and the logins share.
pub(crate) struct Server {
    /// The clients, with their secrets and limits.
    pub(crate) clients: Clients,
    /// The daemon.
    pub(crate) relay: Relay,
    /// Who checks the password.
    pub(crate) password: PasswordCheck,
    /// The PAM check of `password = "pam"`.
    pub(crate) checker: PasswordChecker,
    /// Requests of the last 30 s and their answers.
    pub(crate) duplicates: Mutex<Duplicates>,
    /// Open challenges.
    pub(crate) sessions: Mutex<Sessions<Login>>,
    /// Logins in progress.
    pub(crate) logins: LoginSlots,
    /// Drop counts.
    pub(crate) drops: DropLog,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("relay", &self.relay)
            .field("password", &self.password)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server for `clients`; challenges live `answer_timeout`.
    pub(crate) fn new(
        clients: Clients,
        relay: Relay,
        password: PasswordCheck,
        checker: PasswordChecker,
    ) -> Server {
        let lifetime = relay.answer_timeout;
        let bounds = Bounds::for_clients(clients.len());
        Server {
            clients,
            relay,
            password,
            checker,
            duplicates: Mutex::new(Duplicates::new(DUPLICATES_MAX)),
            sessions: Mutex::new(Sessions::new(lifetime, bounds)),
            logins: LoginSlots::new(LOGINS_IN_PROGRESS),
            drops: DropLog::default(),
        }
    }
}

/// Serves `sockets` until `stop` completes; then nothing more is read or answered.
pub(crate) async fn serve(
    server: Arc<Server>,
    sockets: Vec<UdpSocket>,
    stop: impl Future<Output = ()>,
) {
    let mut loops = tokio::task::JoinSet::new();
    for socket in sockets {
        loops.spawn(receive(Arc::clone(&server), Arc::new(socket)));
    }
    loops.spawn(sweep(Arc::clone(&server)));
    stop.await;
    loops.abort_all();
}

/// Closes the challenges nobody answered in time (their daemon connections with them).
async fn sweep(server: Arc<Server>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        let expired = lock(&server.sessions).expire(Instant::now());
        drop(expired);
    }
}

async fn receive(server: Arc<Server>, socket: Arc<UdpSocket>) {
    // One byte more than the largest packet: a longer datagram is padding past Length.
    let mut buf = vec![0u8; MAX_PACKET + 1];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let bytes = buf.get(..n).unwrap_or_default();
                on_datagram(&server, &socket, bytes, from);
            }
            Err(e) => {
                tracing::warn!("receiving on {:?}: {e}", socket.local_addr().ok());
                // Not a busy loop on a persistent error.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Steps 1-4: client, rate, framing and authenticators, duplicates; then the login's task.
fn on_datagram(server: &Arc<Server>, socket: &Arc<UdpSocket>, bytes: &[u8], from: SocketAddr) {
    let now = Instant::now();
    let ip = from.ip().to_canonical();
    let Some(client) = server.clients.for_address(ip) else {
        let source = DropSource::Address(ip);
        server.drops.note(source, DropReason::UnknownClient, now);
        return;
    };
    let dropped = |reason| {
        let source = DropSource::Client(client.name().to_owned());
        server.drops.note(source, reason, now);
    };
    // Anyone can send from a client's address (UDP), so only requests signed with its
    // secret take its rate; what comes before the check has a looser bound of its own.
    if !client.unchecked.take(now) {
        return dropped(DropReason::RateLimited);
    }
    let packet = match Packet::parse(bytes) {
        Ok(packet) => packet,
        Err(e) => {
            tracing::debug!("client {}: not a packet: {e}", client.name());
            return dropped(DropReason::Malformed);
        }
    };
    let require = match packet.code {
        Code::AccessRequest => client.settings.require_message_authenticator,
        // RFC 5997 §3: a Status-Server without a Message-Authenticator is discarded.
        Code::StatusServer => true,
        _ => return dropped(DropReason::Malformed),
    };
    match verify_request(&packet, bytes, &client.secret, require) {
        Ok(()) => {}
        Err(VerifyError::MissingMessageAuthenticator) => {
            return dropped(DropReason::NoMessageAuthenticator);
        }
        Err(VerifyError::WrongMessageAuthenticator) => {
            return dropped(DropReason::WrongMessageAuthenticator);
        }
        Err(e) => {
            tracing::debug!("client {}: {e}", client.name());
            return dropped(DropReason::Malformed);
        }
    }
    if !client.rate.take(now) {
        return dropped(DropReason::RateLimited);
    }
    if packet.code == Code::StatusServer {
        // RFC 5997 §3: alive; no duplicate detection needed, nothing changes.
        if let Ok(answer) = encode_response(Code::AccessAccept, &packet, &[], &client.secret) {
            send_now(socket, &answer, from);
        }
        return;
    }
    let key = RequestKey {
        client: client.name().to_owned(),
        from,
        identifier: packet.identifier,
        authenticator: packet.authenticator,
    };
    match lock(&server.duplicates).begin(&key, now) {
        Seen::New => {}
        Seen::InProgress => {
            tracing::debug!("client {}: retransmission while in progress", client.name());
            return;
        }
        Seen::Answered(answer) => return send_now(socket, &answer, from),
        Seen::Full => return dropped(DropReason::CacheFull),
    }
    let task = Request {
        server: Arc::clone(server),
        client: Arc::clone(client),
        socket: Arc::clone(socket),
        packet,
        from,
        key,
    };
    tokio::spawn(task.run());
}

/// Sends from the loop without waiting: a full send buffer loses the datagram, which the
/// client sends again.
fn send_now(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = socket.try_send_to(bytes, to) {
        tracing::debug!("sending to {to}: {e}");
    }
}

/// What a request is answered with.
enum Reply {
    Accept(String),
    Reject(String),
    Challenge {
        text: String,
        echo: bool,
        state: [u8; 16],
    },
    /// No answer: nothing was done (the client retries).
    Drop(DropReason),
}

impl Reply {
    fn reject() -> Reply {
        Reply::Reject(String::new())
    }
}

/// One verified Access-Request, handled in its own task.
struct Request {
    server: Arc<Server>,
    client: Arc<Client>,
    socket: Arc<UdpSocket>,
    packet: Packet,
    from: SocketAddr,
    key: RequestKey,
}

impl Request {
    async fn run(self) {
        let reply = self.reply().await;
        let answer = match reply {
            Reply::Drop(reason) => {
                lock(&self.server.duplicates).forget(&self.key);
                let source = DropSource::Client(self.client.name().to_owned());
                self.server.drops.note(source, reason, Instant::now());
                return;
            }
            reply => self.encode(reply),
        };
        lock(&self.server.duplicates).answered(&self.key, answer.clone());
        if let Err(e) = self.socket.send_to(&answer, self.from).await {
            tracing::warn!(
                "client {}: sending to {}: {e}",
                self.client.name(),
                self.from
            );
        }
    }

    /// Step 9: the answer's bytes. Text that does not fit in one packet is left out (the
    /// verdict is what matters).
    fn encode(&self, reply: Reply) -> Vec<u8> {
        let (code, text, mut attributes) = match reply {
            Reply::Accept(text) => (Code::AccessAccept, text, Vec::new()),
            Reply::Reject(text) => (Code::AccessReject, text, Vec::new()),
            // Not reached: a drop is not encoded.
            Reply::Drop(_) => (Code::AccessReject, String::new(), Vec::new()),
            Reply::Challenge { text, echo, state } => (
                Code::AccessChallenge,
                text,
                vec![
                    Attribute::new(attr::STATE, state.to_vec()),
                    Attribute::new(attr::PROMPT, u32::from(echo).to_be_bytes().to_vec()),
                ],
            ),
        };
        let secret = &self.client.secret;
        let mut with_text = reply_messages(&text);
        with_text.extend(attributes.iter().cloned());
        encode_response(code, &self.packet, &with_text, secret)
            .or_else(|e| {
                tracing::warn!("client {}: reply text left out: {e}", self.client.name());
                encode_response(code, &self.packet, &attributes, secret)
            })
            .or_else(|e| {
                // Only Proxy-State attributes can be left to overflow the packet.
                tracing::warn!("client {}: answer too long: {e}", self.client.name());
                attributes.clear();
                encode_response(Code::AccessReject, &self.packet, &attributes, secret)
            })
            .unwrap_or_default()
    }

    /// Steps 5-8.
    async fn reply(&self) -> Reply {
        let user = match user_name(&self.packet) {
            Ok(user) => user,
            Err(why) => {
                tracing::info!("client {}: rejected: {why}", self.client.name());
                return Reply::Reject(why.into());
            }
        };
        if self.packet.first(attr::CHAP_PASSWORD).is_some()
            || self.packet.first(attr::EAP_MESSAGE).is_some()
        {
            self.log(&user, "rejected: CHAP or EAP, only PAP is supported");
            return Reply::Reject(ONLY_PAP.into());
        }
        let field = match user_password(&self.packet, &self.client.secret) {
            Ok(field) => field,
            Err(PasswordError::Missing) => {
                self.log(&user, "rejected: no User-Password");
                return Reply::Reject("User-Password is required".into());
            }
            Err(e) => {
                self.log(&user, &format!("rejected: {e}"));
                return Reply::reject();
            }
        };
        // Held until the verdict: the login's daemon connection counts against the
        // daemon's cap (a challenge's is counted by the session table instead).
        let Some(_slot) = self.server.logins.take(LOGIN_SLOT_WAIT).await else {
            return Reply::Drop(DropReason::LoginsBusy);
        };
        match self.packet.first(attr::STATE) {
            Some(state) => self.answer(&user, state, field).await,
            None => self.start(&user, field).await,
        }
    }

    /// Step 6: a new login.
    async fn start(&self, user: &str, field: Zeroizing<Vec<u8>>) -> Reply {
        let name = self.client.name();
        let auth = AuthRequest {
            user: user.to_owned(),
            service: service_name(name),
            rhost: Some(source_name(
                name,
                self.packet.first(attr::CALLING_STATION_ID),
            )),
            tty: None,
            ruser: None,
            auth_info: None,
            nullok: false,
        };
        let relay = &self.server.relay;
        let verdict = match self.server.password {
            PasswordCheck::None => relay.start(auth, field).await,
            PasswordCheck::Pam => {
                let Some(slot) = self.client.pam.try_take() else {
                    return Reply::Drop(DropReason::Busy);
                };
                let check = PamCheck {
                    checker: Arc::clone(&self.server.checker),
                    rhost: auth.rhost.clone().unwrap_or_default(),
                    slot,
                };
                relay.start_with_password(auth, field, &check).await
            }
        };
        self.settle(user, verdict)
    }

    /// Step 8: the answer to a challenge.
    async fn answer(&self, user: &str, state: &[u8], field: Zeroizing<Vec<u8>>) -> Reply {
        let now = Instant::now();
        let taken =
            lock(&self.server.sessions).take(state, self.client.name(), user.as_bytes(), now);
        let login = match taken {
            Ok(login) => login,
            Err(e) => {
                self.log(user, &format!("rejected: {e}"));
                return Reply::reject();
            }
        };
        let Some(answer) = into_secret(field) else {
            self.log(user, "rejected: the answer is not UTF-8 text");
            return Reply::reject();
        };
        let verdict = self.server.relay.answer(login, user, answer).await;
        self.settle(user, verdict)
    }

    /// Steps 7 and 10: a verdict becomes a reply; a challenge opens a session.
    fn settle(&self, user: &str, verdict: Result<Verdict, crate::login::RelayError>) -> Reply {
        match verdict {
            Ok(Verdict::Accept { text }) => {
                self.log(user, "accepted");
                Reply::Accept(text)
            }
            Ok(Verdict::Reject { text }) => {
                self.log(user, "rejected");
                Reply::Reject(text)
            }
            Ok(Verdict::Challenge { text, echo, login }) => self.challenge(user, text, echo, login),
            Err(e) => {
                tracing::error!(
                    "client {}, user {}: rejected, {e}",
                    self.client.name(),
                    Sanitized(user.as_bytes())
                );
                Reply::reject()
            }
        }
    }

    fn challenge(&self, user: &str, text: String, echo: bool, login: Login) -> Reply {
        let state = match new_state() {
            Ok(state) => state,
            Err(e) => {
                tracing::error!("no random State: {e}");
                return Reply::reject();
            }
        };
        let owner = Owner {
            client: self.client.name(),
            user: user.as_bytes(),
            caller: self.packet.first(attr::CALLING_STATION_ID),
        };
        let opened = lock(&self.server.sessions).open(state, owner, login, Instant::now());
        // Over a bound the login is dropped here, which closes its daemon connection.
        let over = match opened {
            Ok(()) => {
                self.log(user, "challenged");
                return Reply::Challenge { text, echo, state };
            }
            Err(Full::Total(_)) => "in all",
            Err(Full::Client(_)) => "for this client",
            Err(Full::User(_)) => "for this user",
            Err(Full::Caller(_)) => "for this Calling-Station-Id",
        };
        self.log(
            user,
            &format!("rejected: too many challenges waiting for an answer {over}"),
        );
        Reply::Reject(TRY_AGAIN.into())
    }

    fn log(&self, user: &str, what: &str) {
        tracing::info!(
            "client {}, user {}: {what}",
            self.client.name(),
            Sanitized(user.as_bytes())
        );
    }
}

/// Step 5: the User-Name, 1 to 253 bytes of UTF-8 without control characters.
fn user_name(packet: &Packet) -> Result<String, &'static str> {
    let name = packet.first(attr::USER_NAME).ok_or("no User-Name")?;
    if packet.count(attr::USER_NAME) > 1 {
        return Err("more than one User-Name");
    }
    if name.is_empty() || name.len() > MAX_ATTRIBUTE_VALUE {
        return Err("User-Name is empty");
    }
    let name = std::str::from_utf8(name).map_err(|_| "User-Name is not UTF-8")?;
    if name.chars().any(char::is_control) {
        return Err("User-Name holds control characters");
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests;
