//! User-Password hiding (RFC 2865 §5.2): the password, padded with NULs to a multiple of
//! 16, XORed block by block with MD5(secret + previous block), the first block chained to
//! the Request Authenticator.

use zeroize::{Zeroize, Zeroizing};

use super::{Packet, attr, wire};

/// The longest password RFC 2865 §5.2 allows, once padded.
pub(crate) const MAX_PASSWORD: usize = 128;

/// Why a request's User-Password cannot be revealed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The request has no User-Password.
    #[error("no User-Password attribute")]
    Missing,
    /// The request has more than one User-Password.
    #[error("{count} User-Password attributes, at most one is allowed")]
    Repeated {
        /// How many.
        count: usize,
    },
    /// The hidden value's length is not 16..=128 and a multiple of 16.
    #[error("User-Password of {length} bytes: it must be 16 to 128 bytes, a multiple of 16")]
    BadLength {
        /// The hidden value's length.
        length: usize,
    },
}

/// User-Password (RFC 2865 §5.2) revealed: 16..=128 bytes, a multiple of 16; trailing NULs
/// removed. Zeroized on drop.
pub fn user_password(packet: &Packet, secret: &[u8]) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let count = packet.count(attr::USER_PASSWORD);
    if count > 1 {
        return Err(PasswordError::Repeated { count });
    }
    let hidden = packet
        .first(attr::USER_PASSWORD)
        .ok_or(PasswordError::Missing)?;
    let length = hidden.len();
    if !(16..=MAX_PASSWORD).contains(&length) || length % 16 != 0 {
        return Err(PasswordError::BadLength { length });
    }
    let mut clear = Zeroizing::new(Vec::with_capacity(length));
    let mut chain: &[u8] = &packet.authenticator;
    for block in hidden.chunks_exact(16) {
        let mut key = wire::md5(&[secret, chain]);
        clear.extend(block.iter().zip(key.iter()).map(|(c, b)| c ^ b));
        key.zeroize();
        chain = block;
    }
    while clear.last() == Some(&0) {
        clear.pop();
    }
    Ok(clear)
}

/// `password` hidden for a request with `authenticator` (the client's side of §5.2). The
/// result is `password`'s length rounded up to a multiple of 16, at least 16; the caller
/// keeps it within an attribute.
pub(crate) fn hide(password: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    let padded_len = password.len().div_ceil(16).max(1).saturating_mul(16);
    let mut padded = Zeroizing::new(password.to_vec());
    padded.resize(padded_len, 0);
    let mut hidden: Vec<u8> = Vec::with_capacity(padded_len);
    let mut chain = authenticator.to_vec();
    for block in padded.chunks_exact(16) {
        let mut key = wire::md5(&[secret, &chain]);
        let start = hidden.len();
        hidden.extend(block.iter().zip(key.iter()).map(|(p, b)| p ^ b));
        key.zeroize();
        chain = hidden.get(start..).unwrap_or_default().to_vec();
    }
    hidden
}
