//! The one check a link's token or id gets here: its shape. The daemon makes them (random
//! 128-bit values, base64url or hex) and is the only one that knows which exist; anything
//! else is refused before it reaches the daemon, so a path full of junk costs a lookup of
//! nothing but a few bytes' check.

/// Shortest token or id accepted: 16 characters of base64url carry 96 bits.
const MIN_LEN: usize = 16;
/// Longest accepted: room for 256 bits in hex, with some to spare.
const MAX_LEN: usize = 64;

/// `text` if it can be a token or id the daemon made: 16 to 64 characters of the base64url
/// alphabet (`A-Z a-z 0-9 - _`), no padding.
pub(crate) fn checked(text: &str) -> Option<&str> {
    let shaped = (MIN_LEN..=MAX_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    shaped.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::checked;

    #[test]
    fn only_bounded_base64url_passes() {
        assert!(checked("AAAAAAAAAAAAAAAAAAAAAA").is_some());
        assert!(checked("0123456789abcdef0123456789abcdef").is_some());
        assert!(checked(&"a".repeat(64)).is_some());
        for bad in [
            "",
            "short",
            "AAAAAAAAAAAAAAAAAAAAA=",
            "AAAAAAAAAA/AAAAAAAAAAA",
            "AAAAAAAAAA.AAAAAAAAAAA",
            "AAAAAAAAAA AAAAAAAAAAA",
            "ÄAAAAAAAAAAAAAAAAAAAAA",
            &"a".repeat(65),
        ] {
            assert!(checked(bad).is_none(), "{bad:?}");
        }
    }
}
