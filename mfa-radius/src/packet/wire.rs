//! Framing shared by parsing, verifying and encoding: the header, a walk over the
//! attributes that reports where each one is (the authenticators are computed over the raw
//! bytes, with one attribute zeroed), a writer that refuses what does not fit, and the two
//! MD5 constructions.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use super::{Code, HEADER_LEN, MAX_ATTRIBUTE_VALUE, MAX_PACKET, PacketError, attr};

/// Where the Authenticator field lies in a packet.
pub(crate) const AUTHENTICATOR: std::ops::Range<usize> = 4..HEADER_LEN;

/// Why a packet cannot be written. Nothing is truncated silently.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// An attribute's value is longer than one attribute can carry.
    #[error(
        "attribute type {kind}: a value of {length} bytes is over the limit of {MAX_ATTRIBUTE_VALUE}"
    )]
    AttributeTooLong {
        /// The attribute's Type.
        kind: u8,
        /// Its value's length.
        length: usize,
    },
    /// The packet would be longer than RFC 2865 allows.
    #[error("the packet would be {length} bytes, over the limit of {MAX_PACKET}")]
    TooLong {
        /// The length it would have.
        length: usize,
    },
    /// The caller gave a Message-Authenticator: the encoder writes the only one, first.
    #[error(
        "attribute type {} (Message-Authenticator) is written by the encoder, not given",
        attr::MESSAGE_AUTHENTICATOR
    )]
    MessageAuthenticatorGiven,
}

/// `bytes` cut to the packet's Length, after checking the Length field.
pub(crate) fn frame(bytes: &[u8]) -> Result<&[u8], PacketError> {
    let Some(&[high, low]) = bytes.get(2..4) else {
        return Err(PacketError::Short {
            received: bytes.len(),
        });
    };
    if bytes.len() < HEADER_LEN {
        return Err(PacketError::Short {
            received: bytes.len(),
        });
    }
    let length = usize::from(u16::from_be_bytes([high, low]));
    if !(HEADER_LEN..=MAX_PACKET).contains(&length) {
        return Err(PacketError::BadLength { length });
    }
    bytes.get(..length).ok_or(PacketError::Truncated {
        length,
        received: bytes.len(),
    })
}

/// Code, Identifier and Authenticator of a framed packet.
pub(crate) fn header(framed: &[u8]) -> Result<(u8, u8, [u8; 16]), PacketError> {
    let short = || PacketError::Short {
        received: framed.len(),
    };
    let (&code, rest) = framed.split_first().ok_or_else(short)?;
    let &identifier = rest.first().ok_or_else(short)?;
    let authenticator = framed
        .get(AUTHENTICATOR)
        .and_then(|field| <[u8; 16]>::try_from(field).ok())
        .ok_or_else(short)?;
    Ok((code, identifier, authenticator))
}

/// One attribute as it lies in the packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawAttribute<'a> {
    /// Offset of its Type byte from the packet's start.
    pub(crate) offset: usize,
    pub(crate) kind: u8,
    pub(crate) value: &'a [u8],
}

/// The attributes of a framed packet, in order; stops after the first error.
#[derive(Debug)]
pub(crate) struct Walk<'a> {
    framed: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> Walk<'a> {
    /// `framed` is a packet cut to its Length (see [`frame`]).
    pub(crate) fn new(framed: &'a [u8]) -> Walk<'a> {
        Walk {
            framed,
            offset: HEADER_LEN,
            failed: false,
        }
    }

    fn next_attribute(&mut self) -> Result<RawAttribute<'a>, PacketError> {
        let offset = self.offset;
        let rest = self.framed.get(offset..).unwrap_or_default();
        let (kind, length) = match rest {
            [kind, length, ..] => (*kind, *length),
            _ => return Err(PacketError::AttributeHeader { offset }),
        };
        if length < 2 {
            return Err(PacketError::AttributeTooShort {
                offset,
                kind,
                length,
            });
        }
        let value = rest
            .get(2..usize::from(length))
            .ok_or(PacketError::AttributeOverrun {
                offset,
                kind,
                length,
                end: self.framed.len(),
            })?;
        self.offset = offset.saturating_add(usize::from(length));
        Ok(RawAttribute {
            offset,
            kind,
            value,
        })
    }
}

impl<'a> Iterator for Walk<'a> {
    type Item = Result<RawAttribute<'a>, PacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.framed.len() {
            return None;
        }
        let found = self.next_attribute();
        self.failed = found.is_err();
        Some(found)
    }
}

/// Builds a packet; the Length field is written by [`Writer::finish`].
#[derive(Debug)]
pub(crate) struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(code: Code, identifier: u8, authenticator: &[u8; 16]) -> Writer {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(&[u8::from(code), identifier, 0, 0]);
        bytes.extend_from_slice(authenticator);
        Writer { bytes }
    }

    /// Appends one attribute; returns its offset.
    pub(crate) fn push(&mut self, kind: u8, value: &[u8]) -> Result<usize, EncodeError> {
        let length = u8::try_from(value.len().saturating_add(2))
            .ok()
            .filter(|_| value.len() <= MAX_ATTRIBUTE_VALUE)
            .ok_or(EncodeError::AttributeTooLong {
                kind,
                length: value.len(),
            })?;
        let offset = self.bytes.len();
        let total = offset.saturating_add(usize::from(length));
        if total > MAX_PACKET {
            return Err(EncodeError::TooLong { length: total });
        }
        self.bytes.extend_from_slice(&[kind, length]);
        self.bytes.extend_from_slice(value);
        Ok(offset)
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The packet with its Length field set.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, EncodeError> {
        let length = u16::try_from(self.bytes.len())
            .ok()
            .filter(|&length| usize::from(length) <= MAX_PACKET)
            .ok_or(EncodeError::TooLong {
                length: self.bytes.len(),
            })?;
        if let Some(field) = self.bytes.get_mut(2..4) {
            field.copy_from_slice(&length.to_be_bytes());
        }
        Ok(self.bytes)
    }
}

/// HMAC-MD5 keyed with `secret` over `packet` (RFC 3579 §3.2).
pub(crate) fn hmac_md5(secret: &[u8], packet: &[u8]) -> [u8; 16] {
    // HMAC takes a key of any length (longer ones are hashed), so this cannot fail.
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(packet);
    mac.finalize().into_bytes().into()
}

/// MD5 over the concatenation of `parts`.
pub(crate) fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut digest = Md5::new();
    for part in parts {
        digest.update(part);
    }
    digest.finalize().into()
}

/// `packet` (framed) with `authenticator` in the Authenticator field and the value of the
/// Message-Authenticator at `offset` zeroed: what RFC 3579 §3.2 signs.
pub(crate) fn signing_copy(packet: &[u8], authenticator: &[u8; 16], offset: usize) -> Vec<u8> {
    let mut copy = packet.to_vec();
    if let Some(field) = copy.get_mut(AUTHENTICATOR) {
        field.copy_from_slice(authenticator);
    }
    let value = offset.saturating_add(2)..offset.saturating_add(18);
    if let Some(value) = copy.get_mut(value) {
        value.fill(0);
    }
    copy
}

/// Writes the Message-Authenticator of `packet` (its value at `offset`, already zero, and
/// its Authenticator field already what RFC 3579 says to sign with).
pub(crate) fn sign(packet: &mut [u8], secret: &[u8], offset: usize) {
    let mac = hmac_md5(secret, packet);
    if let Some(value) = packet.get_mut(offset.saturating_add(2)..offset.saturating_add(18)) {
        value.copy_from_slice(&mac);
    }
}

/// The Response Authenticator of a response `packet` (framed) to a request whose
/// authenticator was `request_authenticator` (RFC 2865 §3):
/// MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
pub(crate) fn response_authenticator(
    packet: &[u8],
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> [u8; 16] {
    let head = packet.get(..4).unwrap_or_default();
    let attributes = packet.get(HEADER_LEN..).unwrap_or_default();
    md5(&[head, request_authenticator, attributes, secret])
}
