//! The UDP loop in process: a server on a loopback port, a stand-in daemon, and requests
//! built with the codec's client side. A drop is awaited through the drop count (never by
//! waiting for a silence), then the socket is checked to hold no answer.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use mfa_proto::radius::{RadiusClient, RadiusSettings};
use mfa_proto::{Outcome, Request as DaemonRequest, Step, read_frame};

use super::*;
use crate::packet::{encode_request, verify_response};
use crate::sessions::SESSIONS_MAX;
use crate::testing::{ServingDaemon, recv, relay, send};

const SECRET: &[u8] = b"a-long-enough-secret";
const CODE: &str = "492039";
/// Long enough for a loopback answer on a loaded machine; only reached when a test fails.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// The daemon's side of a login: the first answer (or the answer to the challenge an empty
/// field gets) must be [`CODE`].
fn one_code(conn: &mut UnixStream) {
    let DaemonRequest::Authenticate { auth } = recv(conn) else {
        panic!("expected authenticate")
    };
    assert_eq!(auth.service, "radius:vpn1");
    send(
        conn,
        Step::Prompt {
            text: "Verification code: ".into(),
            echo: false,
        },
    );
    // A challenge nobody answers ends with the test.
    let Ok(DaemonRequest::Answer { text }) = read_frame(conn) else {
        return;
    };
    let outcome = if text.expose() == CODE {
        Outcome::Success
    } else {
        send(
            conn,
            Step::Error {
                text: "Invalid verification code.".into(),
            },
        );
        Outcome::Failure
    };
    send(conn, Step::Done { outcome });
}

/// A server for client `vpn1` at `network`, and a UDP socket to talk to it from.
struct Running {
    server: Arc<Server>,
    to: SocketAddr,
    socket: UdpSocket,
    _dir: tempfile::TempDir,
}

async fn running(relay: Relay, tweak: impl FnOnce(&mut RadiusClient)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("vpn1.secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut client = RadiusClient {
        name: "vpn1".into(),
        address: "127.0.0.1".parse().unwrap(),
        secret_file,
        require_message_authenticator: true,
        requests_per_second: 1000,
    };
    tweak(&mut client);
    let settings = RadiusSettings {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        user: "mfa-radius".into(),
        password: PasswordCheck::None,
        pam_service: "mfa-radius".into(),
        clients: vec![client],
    };
    let me = nix::unistd::geteuid().as_raw();
    let clients = Clients::load(&settings, None, me, Instant::now()).unwrap();
    let checker: PasswordChecker = Arc::new(|_: &str, _: &[u8], _: &str| false);
    let server = Arc::new(Server::new(clients, relay, PasswordCheck::None, checker));
    let listening = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = listening.local_addr().unwrap();
    tokio::spawn(serve(
        Arc::clone(&server),
        vec![listening],
        std::future::pending(),
    ));
    Running {
        server,
        to,
        socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        _dir: dir,
    }
}

impl Running {
    async fn ask(&self, request: &[u8]) -> Vec<u8> {
        self.socket.send_to(request, self.to).await.unwrap();
        let mut buf = vec![0u8; MAX_PACKET];
        let (n, _) = tokio::time::timeout(ANSWER_WAIT, self.socket.recv_from(&mut buf))
            .await
            .expect("no answer")
            .unwrap();
        buf.truncate(n);
        buf
    }

    /// Sends `request` and waits until the server has counted one more drop; nothing may
    /// have been answered.
    async fn dropped(&self, request: &[u8]) {
        let before = self.server.drops.total();
        self.socket.send_to(request, self.to).await.unwrap();
        let counted = async {
            while self.server.drops.total() == before {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(ANSWER_WAIT, counted)
            .await
            .expect("the request was not dropped");
        let mut buf = [0u8; 64];
        assert!(self.socket.try_recv_from(&mut buf).is_err(), "answered");
    }
}

fn request(identifier: u8, password: Option<&[u8]>, extra: &[Attribute]) -> (Vec<u8>, [u8; 16]) {
    let authenticator = [identifier.wrapping_mul(7).wrapping_add(1); 16];
    let mut attributes = vec![Attribute::new(attr::USER_NAME, b"alice".to_vec())];
    attributes.extend(extra.iter().cloned());
    let bytes = encode_request(
        identifier,
        authenticator,
        password,
        &attributes,
        SECRET,
        true,
    );
    (bytes, authenticator)
}

fn reply_text(packet: &Packet) -> String {
    let text: Vec<u8> = packet
        .attributes
        .iter()
        .filter(|a| a.kind == attr::REPLY_MESSAGE)
        .flat_map(|a| a.value.clone())
        .collect();
    String::from_utf8(text).unwrap()
}

#[tokio::test]
async fn a_login_is_answered_signed_with_the_message_authenticator_first() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |_| {}).await;
    let (bytes, auth) = request(1, Some(CODE.as_bytes()), &[]);
    let answer = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessAccept);
    assert_eq!(answer.attributes[0].kind, attr::MESSAGE_AUTHENTICATOR);
    let (bytes, auth) = request(2, Some(b"000000"), &[]);
    let answer = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessReject);
    assert_eq!(reply_text(&answer), "Invalid verification code.");
}

#[tokio::test]
async fn a_retransmission_gets_the_same_answer_and_the_code_is_checked_once() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |_| {}).await;
    let (bytes, _) = request(1, Some(CODE.as_bytes()), &[]);
    let first = r.ask(&bytes).await;
    let again = r.ask(&bytes).await;
    assert_eq!(first, again);
    assert_eq!(daemon.connections(), 1);
    // The same identifier with another authenticator is a new request.
    let user = [Attribute::new(attr::USER_NAME, b"alice".to_vec())];
    let other = encode_request(1, [200; 16], Some(CODE.as_bytes()), &user, SECRET, true);
    r.ask(&other).await;
    assert_eq!(daemon.connections(), 2);
}

#[tokio::test]
async fn unauthenticated_requests_are_dropped_before_the_daemon() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |_| {}).await;
    let user = [Attribute::new(attr::USER_NAME, b"alice".to_vec())];
    // BlastRADIUS: no Message-Authenticator.
    let bare = encode_request(1, [1; 16], Some(CODE.as_bytes()), &user, SECRET, false);
    r.dropped(&bare).await;
    // Another secret.
    let wrong = encode_request(
        2,
        [2; 16],
        Some(CODE.as_bytes()),
        &user,
        b"not-the-secret!!",
        true,
    );
    r.dropped(&wrong).await;
    // A Message-Authenticator that is not 16 bytes, or two of them.
    let mut short = encode_request(3, [3; 16], Some(CODE.as_bytes()), &user, SECRET, false);
    short.extend_from_slice(&[attr::MESSAGE_AUTHENTICATOR, 4, 0, 0]);
    short[3] += 4;
    r.dropped(&short).await;
    assert_eq!(daemon.connections(), 0);
    assert_eq!(r.server.drops.total(), 3);
}

#[tokio::test]
async fn without_the_requirement_a_bare_request_is_served() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |c| c.require_message_authenticator = false).await;
    let user = [Attribute::new(attr::USER_NAME, b"alice".to_vec())];
    let bare = encode_request(1, [1; 16], Some(CODE.as_bytes()), &user, SECRET, false);
    let answer = verify_response(&r.ask(&bare).await, &[1; 16], SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessAccept);
}

#[tokio::test]
async fn an_unknown_address_is_dropped() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |c| {
        c.address = "192.0.2.10".parse().unwrap()
    })
    .await;
    let (bytes, _) = request(1, Some(CODE.as_bytes()), &[]);
    r.dropped(&bytes).await;
    assert_eq!(daemon.connections(), 0);
}

#[tokio::test]
async fn a_flood_from_a_client_is_cut_at_its_rate() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |c| c.requests_per_second = 2).await;
    let before = Instant::now();
    let (first, _) = request(1, Some(b"000000"), &[]);
    let (second, _) = request(2, Some(b"000000"), &[]);
    r.ask(&first).await;
    r.ask(&second).await;
    if before.elapsed() < Duration::from_millis(400) {
        // The bucket (2, one back every 500 ms) is empty now.
        let (third, _) = request(3, Some(b"000000"), &[]);
        r.dropped(&third).await;
        assert_eq!(daemon.connections(), 2);
    }
}

// Packets from a client's address that are not signed with its secret (anyone can forge a
// UDP source address) do not use up its rate: after more unsigned ones than its whole
// bucket, a signed request is still answered. Taking the rate before the check, one
// forged packet a second would keep a 1-a-second client out.
#[tokio::test]
async fn forged_requests_do_not_use_up_the_clients_rate() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |c| c.requests_per_second = 2).await;
    let before = Instant::now();
    for id in 0..4u8 {
        let forged = encode_request(
            id,
            [id; 16],
            Some(CODE.as_bytes()),
            &[],
            b"not-the-secret!!",
            true,
        );
        r.dropped(&forged).await;
    }
    if before.elapsed() < Duration::from_millis(400) {
        let (signed, auth) = request(9, Some(CODE.as_bytes()), &[]);
        let answer = verify_response(&r.ask(&signed).await, &auth, SECRET).unwrap();
        assert_eq!(answer.code, Code::AccessAccept);
    }
}

#[tokio::test]
async fn status_server_is_answered_only_when_signed() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |_| {}).await;
    let answer = verify_response(&r.ask(&status_server(true)).await, &[9; 16], SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessAccept);
    r.dropped(&status_server(false)).await;
    let mut bare = status_server(false);
    bare.truncate(20);
    bare[3] = 20;
    r.dropped(&bare).await;
    assert_eq!(daemon.connections(), 0);
}

/// A Status-Server (RFC 5997) with a Message-Authenticator, signed with [`SECRET`] or left
/// zero.
fn status_server(signed: bool) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut bytes = vec![12, 9, 0, 38];
    bytes.extend_from_slice(&[9; 16]);
    bytes.extend_from_slice(&[attr::MESSAGE_AUTHENTICATOR, 18]);
    bytes.extend_from_slice(&[0; 16]);
    if signed {
        let mut mac = Hmac::<md5::Md5>::new_from_slice(SECRET).unwrap();
        mac.update(&bytes);
        let tag = mac.finalize().into_bytes();
        bytes[22..38].copy_from_slice(&tag);
    }
    bytes
}

#[tokio::test]
async fn chap_and_eap_are_refused_saying_only_pap() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |_| {}).await;
    let chap = [Attribute::new(attr::CHAP_PASSWORD, vec![1; 17])];
    let (bytes, auth) = request(1, None, &chap);
    let answer = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessReject);
    assert_eq!(reply_text(&answer), ONLY_PAP);
    assert_eq!(daemon.connections(), 0);
}

#[tokio::test]
async fn oversized_and_malformed_packets_are_dropped() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |_| {}).await;
    let (mut bytes, _) = request(1, Some(CODE.as_bytes()), &[]);
    // Length says 4097.
    bytes.resize(4097, 0);
    bytes[2..4].copy_from_slice(&4097u16.to_be_bytes());
    r.dropped(&bytes).await;
    // An attribute running past the packet's end.
    let (mut bytes, _) = request(2, Some(CODE.as_bytes()), &[]);
    bytes.extend_from_slice(&[attr::REPLY_MESSAGE, 200, b'x']);
    let len = u16::try_from(bytes.len()).unwrap();
    bytes[2..4].copy_from_slice(&len.to_be_bytes());
    r.dropped(&bytes).await;
    // A User-Name over 253 bytes cannot be sent; a User-Password over 128 is refused.
    let (bytes, auth) = request(3, Some(&[b'1'; 200]), &[]);
    let answer = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessReject);
    assert_eq!(daemon.connections(), 0);
}

#[tokio::test]
async fn a_state_is_single_use_and_only_for_its_user() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |_| {}).await;
    // An empty field (padded, as VPN clients send it) gets the prompt as a challenge.
    let (bytes, auth) = request(1, Some(b""), &[]);
    let challenge = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
    assert_eq!(challenge.code, Code::AccessChallenge);
    assert_eq!(reply_text(&challenge), "Verification code: ");
    assert_eq!(challenge.first(attr::PROMPT), Some(&[0, 0, 0, 0][..]));
    let state = challenge.first(attr::STATE).unwrap().to_vec();
    assert_eq!(state.len(), 16);
    let with_state = |id: u8, user: &[u8]| {
        let attributes = [
            Attribute::new(attr::USER_NAME, user.to_vec()),
            Attribute::new(attr::STATE, state.clone()),
        ];
        let auth = [id; 16];
        (
            encode_request(id, auth, Some(CODE.as_bytes()), &attributes, SECRET, true),
            auth,
        )
    };
    // Another user's State: refused, and the challenge stays for its owner.
    let (bytes, auth) = with_state(2, b"mallory");
    let answer = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessReject);
    let (bytes, auth) = with_state(3, b"alice");
    let answer = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessAccept);
    // Replayed in a new request after it was used.
    let (bytes, auth) = with_state(4, b"alice");
    let answer = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessReject);
    assert_eq!(daemon.connections(), 1);
}

#[tokio::test]
async fn a_daemon_that_is_down_means_reject() {
    let dir = tempfile::tempdir().unwrap();
    let r = running(relay(&dir.path().join("mfa.sock")), |_| {}).await;
    let (bytes, auth) = request(1, Some(CODE.as_bytes()), &[]);
    let answer = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessReject);
    assert_eq!(reply_text(&answer), "");
}

#[tokio::test]
async fn open_challenges_are_bounded_and_a_code_in_the_first_packet_still_passes() {
    let daemon = ServingDaemon::start(one_code);
    let r = running(daemon.relay(), |_| {}).await;
    let mut challenged = 0;
    let mut refused = 0;
    for i in 0..(SESSIONS_MAX + 4) {
        let name = format!("made-up-{i}");
        let attributes = [Attribute::new(attr::USER_NAME, name.into_bytes())];
        let auth = [u8::try_from(i % 251).unwrap(); 16];
        let id = u8::try_from(i % 256).unwrap();
        let bytes = encode_request(id, auth, Some(b""), &attributes, SECRET, true);
        let answer = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
        match answer.code {
            Code::AccessChallenge => challenged += 1,
            Code::AccessReject => {
                assert_eq!(reply_text(&answer), TRY_AGAIN);
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((challenged, refused), (SESSIONS_MAX, 4));
    let (bytes, auth) = request(255, Some(CODE.as_bytes()), &[]);
    let answer = verify_response(&r.ask(&bytes).await, &auth, SECRET).unwrap();
    assert_eq!(answer.code, Code::AccessAccept);
}
