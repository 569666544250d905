//! The server's side of the authenticators: checking a request's Message-Authenticator
//! (RFC 3579 §3.2; required by default against BlastRADIUS, CVE-2024-3596) and signing a
//! response with a Message-Authenticator first and the Response Authenticator (RFC 2865 §3).

use subtle::ConstantTimeEq;

use super::wire::{self, EncodeError, Walk};
use super::{Attribute, Code, Packet, PacketError, attr};

/// Why a packet's authenticators do not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No Message-Authenticator where one is required.
    #[error("no Message-Authenticator, and this client must send one")]
    MissingMessageAuthenticator,
    /// The Message-Authenticator is not the HMAC of the packet with the shared secret.
    #[error(
        "the Message-Authenticator does not match (wrong shared secret, or the packet was changed)"
    )]
    WrongMessageAuthenticator,
    /// A response's Response Authenticator does not match (client side).
    #[error(
        "the Response Authenticator does not match (wrong shared secret, or not an answer to this request)"
    )]
    WrongResponseAuthenticator,
    /// The bytes are not a packet (client side: a response that does not parse).
    #[error("not a RADIUS packet: {0}")]
    Packet(#[from] PacketError),
    /// The packet breaks a rule of the RFCs about its authenticators.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
}

/// Offset of the only Message-Authenticator of `framed`, checked to be 16 bytes; `None`
/// when there is none.
pub(crate) fn message_authenticator(framed: &[u8]) -> Result<Option<usize>, VerifyError> {
    let mut found = None;
    for raw in Walk::new(framed) {
        let raw = raw?;
        if raw.kind != attr::MESSAGE_AUTHENTICATOR {
            continue;
        }
        if found.is_some() {
            return Err(VerifyError::Malformed(
                "more than one Message-Authenticator",
            ));
        }
        if raw.value.len() != 16 {
            return Err(VerifyError::Malformed(
                "a Message-Authenticator that is not 16 bytes",
            ));
        }
        found = Some(raw.offset);
    }
    Ok(found)
}

/// Whether the Message-Authenticator at `offset` of `framed` is the HMAC-MD5 of the packet
/// signed with `authenticator` in its Authenticator field. Constant-time.
pub(crate) fn message_authenticator_matches(
    framed: &[u8],
    authenticator: &[u8; 16],
    offset: usize,
    secret: &[u8],
) -> bool {
    let expected = wire::hmac_md5(secret, &wire::signing_copy(framed, authenticator, offset));
    let value = offset.saturating_add(2)..offset.saturating_add(18);
    let received = framed.get(value).unwrap_or_default();
    expected.ct_eq(received).into()
}

/// The checks on an Access-Request (or Status-Server) from a client whose secret is
/// `secret`: Message-Authenticator (RFC 3579 §3.2: HMAC-MD5 keyed with the secret over the
/// packet as received with the attribute's value zeroed) compared in constant time; at most
/// one; 16 bytes; required when `require` (BlastRADIUS). `raw` = the bytes received (up to
/// Length; padding after it is ignored), of which `packet` is the parse.
pub fn verify_request(
    packet: &Packet,
    raw: &[u8],
    secret: &[u8],
    require: bool,
) -> Result<(), VerifyError> {
    let framed = wire::frame(raw)?;
    if Packet::parse(framed).as_ref() != Ok(packet) {
        return Err(VerifyError::Malformed(
            "the packet is not the parse of the bytes given",
        ));
    }
    match message_authenticator(framed)? {
        Some(offset) => {
            if message_authenticator_matches(framed, &packet.authenticator, offset, secret) {
                Ok(())
            } else {
                Err(VerifyError::WrongMessageAuthenticator)
            }
        }
        None if require => Err(VerifyError::MissingMessageAuthenticator),
        None => Ok(()),
    }
}

/// A response to `request`: Message-Authenticator FIRST (RFC 3579, computed with the
/// request's authenticator in the authenticator field), then `attributes`, then every
/// Proxy-State of the request copied in order (RFC 2865 §5.33); then the Response
/// Authenticator MD5(Code+ID+Length+RequestAuth+Attributes+Secret). Attributes that would
/// make the packet exceed 4096 bytes are an error, not truncated silently; so is a
/// Message-Authenticator among `attributes`.
pub fn encode_response(
    code: Code,
    request: &Packet,
    attributes: &[Attribute],
    secret: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    let mut writer = wire::Writer::new(code, request.identifier, &request.authenticator);
    let signature = writer.push(attr::MESSAGE_AUTHENTICATOR, &[0; 16])?;
    for attribute in attributes {
        if attribute.kind == attr::MESSAGE_AUTHENTICATOR {
            return Err(EncodeError::MessageAuthenticatorGiven);
        }
        writer.push(attribute.kind, &attribute.value)?;
    }
    let proxy_states = request
        .attributes
        .iter()
        .filter(|attribute| attribute.kind == attr::PROXY_STATE);
    for proxy_state in proxy_states {
        writer.push(attr::PROXY_STATE, &proxy_state.value)?;
    }
    let mut packet = writer.finish()?;
    wire::sign(&mut packet, secret, signature);
    let response = wire::response_authenticator(&packet, &request.authenticator, secret);
    if let Some(field) = packet.get_mut(wire::AUTHENTICATOR) {
        field.copy_from_slice(&response);
    }
    Ok(packet)
}
