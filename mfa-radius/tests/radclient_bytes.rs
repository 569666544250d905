//! The codec against a real client no one here wrote: FreeRADIUS's `radclient` sends an
//! Access-Request to a UDP socket of this test, the codec checks and reads it, answers with
//! `encode_response`, and radclient's verdict on that answer is read from its output.
//! radclient checks the Response Authenticator and the Message-Authenticator itself, so a
//! wrong secret on our side must make it refuse the answer. Skipped, saying why, when
//! radclient is not installed (Debian's freeradius-utils).

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use md5::{Digest, Md5};
use mfa_radius::packet::{
    Attribute, Code, Packet, attr, encode_response, reply_messages, user_password, verify_request,
};

const SECRET: &[u8] = b"radclient-test-secret";

fn radclient_installed() -> bool {
    let found = Command::new("radclient")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        eprintln!("skipped: radclient is not installed (Debian package freeradius-utils)");
    }
    found
}

/// radclient sending `attributes` (its text syntax) to a fresh socket on loopback, once,
/// waiting 3 s for an answer.
fn radclient(attributes: &str) -> (UdpSocket, Child) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let server = socket.local_addr().unwrap().to_string();
    let mut child = Command::new("radclient")
        .args(["-x", "-r", "1", "-t", "3", &server, "auth"])
        .arg(std::str::from_utf8(SECRET).unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(attributes.as_bytes()).unwrap();
    drop(stdin);
    (socket, child)
}

fn receive(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buffer = [0u8; 4096];
    let (length, from) = socket.recv_from(&mut buffer).unwrap();
    (buffer[..length].to_vec(), from)
}

fn finish(child: Child) -> (Output, String) {
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

/// Receives radclient's request, checks it as the server will, and answers it with
/// `code` and `attributes` signed with `answer_secret`.
fn answer(
    socket: &UdpSocket,
    code: Code,
    attributes: &[Attribute],
    answer_secret: &[u8],
) -> Packet {
    let (raw, from) = receive(socket);
    let request = Packet::parse(&raw).unwrap();
    assert_eq!(request.code, Code::AccessRequest);
    assert_eq!(verify_request(&request, &raw, SECRET, true), Ok(()));
    let response = encode_response(code, &request, attributes, answer_secret).unwrap();
    socket.send_to(&response, from).unwrap();
    request
}

#[test]
fn radclient_accepts_our_access_accept() {
    if !radclient_installed() {
        return;
    }
    let (socket, child) = radclient(
        "User-Name = \"x\", User-Password = \"y\", Message-Authenticator = 0x00, \
         Proxy-State = 0x6f6e65, Proxy-State = 0x74776f\n",
    );
    let reply = reply_messages("Welcome, x");
    let request = answer(&socket, Code::AccessAccept, &reply, SECRET);
    assert_eq!(request.first(attr::USER_NAME), Some(&b"x"[..]));
    assert_eq!(&user_password(&request, SECRET).unwrap()[..], b"y");
    let (output, text) = finish(child);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("Received Access-Accept Id"), "{text}");
    assert!(text.contains("Reply-Message = \"Welcome, x\""), "{text}");
}

#[test]
fn radclient_reads_our_access_challenge() {
    if !radclient_installed() {
        return;
    }
    let (socket, child) =
        radclient("User-Name = \"x\", User-Password = \"\", Message-Authenticator = 0x00\n");
    let mut attributes = reply_messages("Code from your app:");
    attributes.push(Attribute::new(attr::STATE, *b"0123456789abcdef"));
    attributes.push(Attribute::new(attr::PROMPT, [0, 0, 0, 0]));
    answer(&socket, Code::AccessChallenge, &attributes, SECRET);
    let (_, text) = finish(child);
    assert!(text.contains("Received Access-Challenge Id"), "{text}");
    assert!(
        text.contains("Reply-Message = \"Code from your app:\""),
        "{text}"
    );
    assert!(
        text.contains("State = 0x30313233343536373839616263646566"),
        "{text}"
    );
}

#[test]
fn radclient_refuses_an_answer_signed_with_another_secret() {
    if !radclient_installed() {
        return;
    }
    let (socket, child) =
        radclient("User-Name = \"x\", User-Password = \"y\", Message-Authenticator = 0x00\n");
    answer(&socket, Code::AccessAccept, &[], b"not-the-shared-secret");
    let (output, text) = finish(child);
    assert!(!output.status.success(), "{text}");
    assert!(!text.contains("Received Access-Accept Id"), "{text}");
    assert!(text.contains("Reply verification failed"), "{text}");
}

/// radclient's verdict on our Access-Accept after `tamper` changed its bytes.
fn tampered_accept(tamper: impl Fn(&mut Vec<u8>, &[u8; 16])) -> (Output, String) {
    let (socket, child) =
        radclient("User-Name = \"x\", User-Password = \"y\", Message-Authenticator = 0x00\n");
    let (raw, from) = receive(&socket);
    let request = Packet::parse(&raw).unwrap();
    let mut response = encode_response(Code::AccessAccept, &request, &[], SECRET).unwrap();
    tamper(&mut response, &request.authenticator);
    socket.send_to(&response, from).unwrap();
    finish(child)
}

#[test]
fn radclient_checks_the_message_authenticator_we_write() {
    if !radclient_installed() {
        return;
    }
    // A wrong HMAC under a right Response Authenticator: only the Message-Authenticator
    // (first attribute, value at 22..38) tells.
    let (output, text) = tampered_accept(|response, request_authenticator| {
        response[22] ^= 1;
        let mut md5 = Md5::new();
        md5.update(&response[..4]);
        md5.update(request_authenticator);
        md5.update(&response[20..]);
        md5.update(SECRET);
        response[4..20].copy_from_slice(&md5.finalize());
    });
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("invalid Message-Authenticator"), "{text}");
}

#[test]
fn radclient_checks_the_response_authenticator_we_write() {
    if !radclient_installed() {
        return;
    }
    let (output, text) = tampered_accept(|response, _| response[4] ^= 1);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("invalid Response Authenticator"), "{text}");
}
