//! One attribute (RFC 2865 §5) and the Reply-Message attributes that carry a text.

use super::{MAX_ATTRIBUTE_VALUE, attr};

/// One attribute: its Type and value (0..=253 bytes on the wire; longer values are refused
/// when encoding).
///
/// `Debug` shows the values of User-Password, CHAP-Password, State and
/// Message-Authenticator as their length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The Type octet (see [`attr`]).
    pub kind: u8,
    /// The value, without the two header octets.
    pub value: Vec<u8>,
}

impl Attribute {
    /// An attribute of type `kind` holding `value`.
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Attribute {
        Attribute {
            kind,
            value: value.into(),
        }
    }
}

/// Types whose values prove something or reveal a secret to whoever reads a log.
fn is_secret(kind: u8) -> bool {
    matches!(
        kind,
        attr::USER_PASSWORD | attr::CHAP_PASSWORD | attr::STATE | attr::MESSAGE_AUTHENTICATOR
    )
}

impl std::fmt::Debug for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Attribute");
        out.field("kind", &self.kind);
        if is_secret(self.kind) {
            out.field("value", &format_args!("<{} bytes>", self.value.len()));
        } else {
            out.field("value", &format_args!("b\"{}\"", self.value.escape_ascii()));
        }
        out.finish()
    }
}

/// Reply-Message attributes carrying `text`, split at 253 bytes on char boundaries (a
/// client joins them in order, RFC 2865 §5.18). An empty text gives none.
pub fn reply_messages(text: &str) -> Vec<Attribute> {
    let mut messages = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(MAX_ATTRIBUTE_VALUE);
        while !rest.is_char_boundary(cut) {
            cut = cut.saturating_sub(1);
        }
        let (chunk, tail) = rest.split_at(cut);
        messages.push(Attribute::new(attr::REPLY_MESSAGE, chunk.as_bytes()));
        rest = tail;
    }
    messages
}
