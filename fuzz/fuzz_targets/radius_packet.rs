//! The RADIUS codec (`mfa_radius::packet`): what arrives over UDP from anyone who can reach
//! the port, before any secret is known to match.
//!
//! The input is parsed as a datagram. What must hold whatever the bytes: no panic in
//! `Packet::parse`, `verify_request`, `user_password` or `encode_response`; a parsed packet
//! encodes back to exactly the bytes up to its Length and parses again equal; the checks of
//! a request give the answer its Message-Authenticators dictate (none: missing when
//! required, accepted when not; two or more: malformed); a revealed password is at most 128
//! bytes without a trailing NUL; a response is exactly as long as its parts, or refused
//! with `TooLong` exactly when that is over 4096, and then passes `verify_response` with
//! the Message-Authenticator first and the request's Proxy-States in order; `Debug` does not
//! change when the secret-bearing values are blanked. Then, as a client, the input is sliced
//! into an identifier, an authenticator, a password and a User-Name: `encode_request`'s
//! packet parses, passes `verify_request` with a required Message-Authenticator, and gives
//! the password back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_radius::packet::{
    Attribute, Code, EncodeError, HEADER_LEN, MAX_ATTRIBUTE_VALUE, MAX_PACKET, Packet, VerifyError,
    attr, encode_request, encode_response, reply_messages, user_password, verify_request,
    verify_response,
};

const SECRET: &[u8] = b"xyzzy5461";

fuzz_target!(|data: &[u8]| {
    match Packet::parse(data) {
        Ok(packet) => {
            re_encodes(&packet, data);
            checks_as_a_server(&packet, data);
            answers(&packet, data);
            debug_hides_secrets(&packet);
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
    client_round_trip(data);
});

fn re_encodes(packet: &Packet, data: &[u8]) {
    let length = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let bytes = packet.encode().expect("a parsed packet encodes");
    assert_eq!(bytes, data[..length]);
    assert_eq!(Packet::parse(&bytes).as_ref(), Ok(packet));
}

fn checks_as_a_server(packet: &Packet, data: &[u8]) {
    let required = verify_request(packet, data, SECRET, true);
    let optional = verify_request(packet, data, SECRET, false);
    match packet.count(attr::MESSAGE_AUTHENTICATOR) {
        0 => {
            assert_eq!(required, Err(VerifyError::MissingMessageAuthenticator));
            assert_eq!(optional, Ok(()));
        }
        1 => assert_eq!(required, optional),
        _ => {
            assert!(matches!(required, Err(VerifyError::Malformed(_))));
            assert_eq!(required, optional);
        }
    }
    if let Ok(password) = user_password(packet, SECRET) {
        assert!(password.len() <= 128);
        assert_ne!(password.last(), Some(&0));
        assert_eq!(packet.count(attr::USER_PASSWORD), 1);
    }
}

fn answers(request: &Packet, data: &[u8]) {
    let reply = reply_messages(&String::from_utf8_lossy(data));
    let proxy_states: Vec<&Attribute> = request
        .attributes
        .iter()
        .filter(|a| a.kind == attr::PROXY_STATE)
        .collect();
    let expected = HEADER_LEN
        + 18
        + reply
            .iter()
            .chain(proxy_states.iter().copied())
            .map(|a| 2 + a.value.len())
            .sum::<usize>();
    match encode_response(Code::AccessChallenge, request, &reply, SECRET) {
        Ok(bytes) => {
            assert_eq!(bytes.len(), expected);
            let response = verify_response(&bytes, &request.authenticator, SECRET)
                .expect("our own response verifies");
            assert_eq!(response.code, Code::AccessChallenge);
            assert_eq!(response.identifier, request.identifier);
            assert_eq!(response.attributes[0].kind, attr::MESSAGE_AUTHENTICATOR);
            let rest = &response.attributes[1..];
            assert_eq!(&rest[..reply.len()], &reply[..]);
            let copied: Vec<&Attribute> = rest[reply.len()..].iter().collect();
            assert_eq!(copied, proxy_states);
        }
        Err(error) => {
            assert!(
                expected > MAX_PACKET,
                "refused at {expected} bytes: {error}"
            );
            assert!(matches!(error, EncodeError::TooLong { .. }));
        }
    }
}

fn debug_hides_secrets(packet: &Packet) {
    let mut blanked = packet.clone();
    blanked.authenticator = [0; 16];
    for attribute in &mut blanked.attributes {
        if matches!(
            attribute.kind,
            attr::USER_PASSWORD | attr::CHAP_PASSWORD | attr::STATE | attr::MESSAGE_AUTHENTICATOR
        ) {
            attribute.value.fill(0);
        }
    }
    assert_eq!(format!("{packet:?}"), format!("{blanked:?}"));
}

fn client_round_trip(data: &[u8]) {
    let Some((&identifier, rest)) = data.split_first() else {
        return;
    };
    let Some((authenticator, rest)) = rest.split_first_chunk::<16>() else {
        return;
    };
    let (password, name) = rest.split_at(rest.len().min(128));
    let password = match password.iter().rposition(|&b| b != 0) {
        Some(last) => &password[..=last],
        None => &[],
    };
    let name = Attribute::new(
        attr::USER_NAME,
        &name[..name.len().min(MAX_ATTRIBUTE_VALUE)],
    );
    let raw = encode_request(
        identifier,
        *authenticator,
        Some(password),
        &[name],
        SECRET,
        true,
    );
    let packet = Packet::parse(&raw).expect("our request parses");
    assert_eq!(packet.code, Code::AccessRequest);
    assert_eq!(verify_request(&packet, &raw, SECRET, true), Ok(()));
    assert_eq!(
        &user_password(&packet, SECRET).expect("our password reveals")[..],
        password
    );
}
