//! The client's side, for tests, the bench and the fuzz seeds: building an Access-Request
//! and checking a response's authenticators.

use subtle::ConstantTimeEq;

use super::authenticator::{message_authenticator, message_authenticator_matches};
use super::password::hide;
use super::{Attribute, Code, MAX_ATTRIBUTE_VALUE, MAX_PACKET, Packet, VerifyError, attr, wire};

/// The longest hidden User-Password that fits in one attribute (a multiple of 16): lets a
/// test send a password over RFC 2865's 128 bytes and watch the server refuse it.
const MAX_HIDDEN: usize = MAX_ATTRIBUTE_VALUE / 16 * 16;

/// An Access-Request with `attributes` (a User-Password given in clear as `password` is
/// hidden here), with or without a Message-Authenticator (first, as BlastRADIUS advice
/// asks). `attributes` are written as given, so a test can craft a second User-Password or
/// Message-Authenticator; only the one this function adds is signed.
///
/// Never fails, being a test helper: what cannot be sent is cut, and said here. A value
/// over 253 bytes is cut to 253 (a password to 240 before hiding); an attribute that would
/// take the packet over 4096 bytes is left out, with all after it.
pub fn encode_request(
    identifier: u8,
    authenticator: [u8; 16],
    password: Option<&[u8]>,
    attributes: &[Attribute],
    secret: &[u8],
    message_authenticator: bool,
) -> Vec<u8> {
    let mut writer = wire::Writer::new(Code::AccessRequest, identifier, &authenticator);
    let signature = message_authenticator
        .then(|| writer.push(attr::MESSAGE_AUTHENTICATOR, &[0; 16]).ok())
        .flatten();
    if let Some(password) = password {
        let password = password.get(..MAX_HIDDEN).unwrap_or(password);
        let _fits = writer.push(attr::USER_PASSWORD, &hide(password, secret, &authenticator));
    }
    for attribute in attributes {
        let value = attribute
            .value
            .get(..MAX_ATTRIBUTE_VALUE)
            .unwrap_or(&attribute.value);
        let next = writer.len().saturating_add(2).saturating_add(value.len());
        if next > MAX_PACKET || writer.push(attribute.kind, value).is_err() {
            break;
        }
    }
    let Ok(mut packet) = writer.finish() else {
        return Vec::new();
    };
    if let Some(offset) = signature {
        wire::sign(&mut packet, secret, offset);
    }
    packet
}

/// The checks of a response to a request whose authenticator was `request_authenticator`:
/// its Response Authenticator (RFC 2865 §3) and its Message-Authenticator (RFC 3579 §3.2,
/// signed with the request's authenticator), both constant-time. The Message-Authenticator
/// is required: every answer of this server carries one, and a client that accepts an
/// answer without one is open to BlastRADIUS. The Response Authenticator is checked first,
/// so `MissingMessageAuthenticator` (or `WrongMessageAuthenticator`) means it held: a caller
/// measuring another server may accept such an answer knowingly (the bench does).
pub fn verify_response(
    response: &[u8],
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> Result<Packet, VerifyError> {
    let packet = Packet::parse(response)?;
    let framed = wire::frame(response)?;
    let expected = wire::response_authenticator(framed, request_authenticator, secret);
    if !bool::from(expected.ct_eq(&packet.authenticator)) {
        return Err(VerifyError::WrongResponseAuthenticator);
    }
    let offset = message_authenticator(framed)?.ok_or(VerifyError::MissingMessageAuthenticator)?;
    if !message_authenticator_matches(framed, request_authenticator, offset, secret) {
        return Err(VerifyError::WrongMessageAuthenticator);
    }
    Ok(packet)
}
