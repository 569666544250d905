//! The RADIUS wire format: packets, attributes and their authenticators. Pure: no I/O, no
//! clock, so it is tested against the RFCs' bytes and fuzzed.
//!
//! [`Packet::parse`] only frames (RFC 2865 §3); what a packet proves is checked apart:
//! [`verify_request`] (RFC 3579 Message-Authenticator), [`user_password`] (RFC 2865 §5.2),
//! and on the client side [`verify_response`]. Every comparison of an authenticator is
//! constant-time. Nothing here indexes past a slice's end or overflows: a packet is
//! untrusted UDP.

// The FFI to libpam lives elsewhere in this crate; what reads the network needs none.
#![forbid(unsafe_code)]

mod attribute;
mod authenticator;
mod client;
mod password;
mod wire;

#[cfg(test)]
mod tests;

pub use attribute::{Attribute, reply_messages};
pub use authenticator::{VerifyError, encode_response, verify_request};
pub use client::{encode_request, verify_response};
pub use password::{PasswordError, user_password};
pub use wire::EncodeError;

/// Bytes of the header: Code, Identifier, Length (2) and Authenticator (16).
pub const HEADER_LEN: usize = 20;
/// The largest packet RFC 2865 §3 allows, and the least a Length field may say.
pub const MAX_PACKET: usize = 4096;
/// The longest attribute value: its Length octet counts the 2-byte header too.
pub const MAX_ATTRIBUTE_VALUE: usize = 253;

/// Attribute types this server reads or writes (RFC 2865 §5, RFC 2869 §5.10, RFC 3579 §3).
pub mod attr {
    /// User-Name (RFC 2865 §5.1).
    pub const USER_NAME: u8 = 1;
    /// User-Password, hidden with the shared secret (RFC 2865 §5.2).
    pub const USER_PASSWORD: u8 = 2;
    /// CHAP-Password (RFC 2865 §5.3): not supported, only recognized to refuse it clearly.
    pub const CHAP_PASSWORD: u8 = 3;
    /// NAS-IP-Address (RFC 2865 §5.4).
    pub const NAS_IP_ADDRESS: u8 = 4;
    /// Reply-Message (RFC 2865 §5.18): text shown to the user.
    pub const REPLY_MESSAGE: u8 = 18;
    /// State (RFC 2865 §5.24): ties an answer to its Access-Challenge.
    pub const STATE: u8 = 24;
    /// Calling-Station-Id (RFC 2865 §5.31): where the user is, as the client sees it.
    pub const CALLING_STATION_ID: u8 = 31;
    /// NAS-Identifier (RFC 2865 §5.32).
    pub const NAS_IDENTIFIER: u8 = 32;
    /// Proxy-State (RFC 2865 §5.33): copied unchanged, in order, into the response.
    pub const PROXY_STATE: u8 = 33;
    /// Prompt (RFC 2869 §5.10): 0 the answer is not echoed, 1 it is.
    pub const PROMPT: u8 = 76;
    /// EAP-Message (RFC 3579 §3.1): not supported, only recognized to refuse it clearly.
    pub const EAP_MESSAGE: u8 = 79;
    /// Message-Authenticator (RFC 3579 §3.2): HMAC-MD5 over the whole packet.
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
}

/// A packet's Code (RFC 2865 §3, RFC 5997 for Status-Server).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Code {
    /// 1
    AccessRequest,
    /// 2
    AccessAccept,
    /// 3
    AccessReject,
    /// 4
    AccountingRequest,
    /// 11
    AccessChallenge,
    /// 12
    StatusServer,
    /// Any other code. [`Code::from`] never makes `Other` of a code named above.
    Other(u8),
}

impl From<u8> for Code {
    fn from(code: u8) -> Code {
        match code {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            4 => Code::AccountingRequest,
            11 => Code::AccessChallenge,
            12 => Code::StatusServer,
            other => Code::Other(other),
        }
    }
}

impl From<Code> for u8 {
    fn from(code: Code) -> u8 {
        match code {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccountingRequest => 4,
            Code::AccessChallenge => 11,
            Code::StatusServer => 12,
            Code::Other(other) => other,
        }
    }
}

/// A framed packet: its header and attributes in the order received. Nothing in it is
/// verified; see [`verify_request`] and [`verify_response`].
///
/// `Debug` shows no secret-bearing value: the authenticator, User-Password, CHAP-Password,
/// Message-Authenticator and State appear as their length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    /// What the packet is.
    pub code: Code,
    /// Matches a response to its request (and a retransmission to the first copy).
    pub identifier: u8,
    /// Request or Response Authenticator (RFC 2865 §3).
    pub authenticator: [u8; 16],
    /// Every attribute, in order.
    pub attributes: Vec<Attribute>,
}

/// Why bytes are not a RADIUS packet. Each names the field and its byte offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer bytes than the header.
    #[error("packet of {received} bytes is shorter than the {HEADER_LEN}-byte header")]
    Short {
        /// Bytes received.
        received: usize,
    },
    /// The Length field is outside what RFC 2865 allows.
    #[error("Length field (offset 2) says {length}, outside {HEADER_LEN}..={MAX_PACKET}")]
    BadLength {
        /// The Length field's value.
        length: usize,
    },
    /// The Length field says more bytes than arrived.
    #[error("Length field (offset 2) says {length} bytes but only {received} were received")]
    Truncated {
        /// The Length field's value.
        length: usize,
        /// Bytes received.
        received: usize,
    },
    /// One byte is left where an attribute's two header bytes must be.
    #[error("attribute at offset {offset}: 1 byte left before the packet's end, a header needs 2")]
    AttributeHeader {
        /// Offset of the attribute's Type byte.
        offset: usize,
    },
    /// An attribute's Length octet is 0 or 1.
    #[error(
        "attribute type {kind} at offset {offset}: its Length is {length}, at least 2 is needed"
    )]
    AttributeTooShort {
        /// Offset of the attribute's Type byte.
        offset: usize,
        /// The attribute's Type.
        kind: u8,
        /// Its Length octet.
        length: u8,
    },
    /// An attribute's Length octet reaches past the packet's Length.
    #[error(
        "attribute type {kind} at offset {offset}: its Length {length} runs past the packet's end at offset {end}"
    )]
    AttributeOverrun {
        /// Offset of the attribute's Type byte.
        offset: usize,
        /// The attribute's Type.
        kind: u8,
        /// Its Length octet.
        length: u8,
        /// The packet's Length.
        end: usize,
    },
}

impl Packet {
    /// Frames `bytes` per RFC 2865 §3: the Length field is 20..=4096, at least that many
    /// bytes arrived (octets past it are padding and ignored), and every attribute has a
    /// length of at least 2 and ends inside the packet. Nothing else is checked here.
    pub fn parse(bytes: &[u8]) -> Result<Packet, PacketError> {
        let framed = wire::frame(bytes)?;
        let (code, identifier, authenticator) = wire::header(framed)?;
        let attributes = wire::Walk::new(framed)
            .map(|found| {
                found.map(|raw| Attribute {
                    kind: raw.kind,
                    value: raw.value.to_vec(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Packet {
            code: Code::from(code),
            identifier,
            authenticator,
            attributes,
        })
    }

    /// The value of the first attribute of type `kind`.
    pub fn first(&self, kind: u8) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|attribute| attribute.kind == kind)
            .map(|attribute| attribute.value.as_slice())
    }

    /// How many attributes of type `kind` the packet holds.
    pub fn count(&self, kind: u8) -> usize {
        self.attributes
            .iter()
            .filter(|attribute| attribute.kind == kind)
            .count()
    }

    /// The packet's bytes exactly as its fields say: no authenticator is computed and no
    /// attribute added, so `Packet::parse(&p.encode()?) == Ok(p)`. For tests and crafted
    /// packets; a server answers with [`encode_response`].
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut writer = wire::Writer::new(self.code, self.identifier, &self.authenticator);
        for attribute in &self.attributes {
            writer.push(attribute.kind, &attribute.value)?;
        }
        writer.finish()
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("code", &self.code)
            .field("identifier", &self.identifier)
            .field(
                "authenticator",
                &format_args!("<{} bytes>", self.authenticator.len()),
            )
            .field("attributes", &self.attributes)
            .finish()
    }
}
