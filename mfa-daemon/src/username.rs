//! User names as callers give them, and as they reach a path or a log line.
//!
//! A name from PAM is only a spelling: NSS decides which account it is (see
//! [`crate::accounts`]). This module bounds what may be looked up at all, and turns a
//! canonical account name into a file name that cannot escape the state directory.

/// Longest name accepted (Linux `LOGIN_NAME_MAX` is 256 including the NUL).
pub const MAX_LEN: usize = 256;

/// An account's canonical name (`pw_name`) as NSS gave it: the key of its record, its
/// attempt limits and its audit lines. Only [`crate::accounts`] makes one from what NSS
/// answered, and [`UserName::of_stored`] from a name the store already keys by, so a name
/// as a caller spelled it cannot be mistaken for one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    /// The name NSS answered with, if it may key a record (see [`is_valid`]).
    pub(crate) fn canonical(name: String) -> Option<UserName> {
        is_valid(&name).then_some(UserName(name))
    }

    /// A name the store keys a record or a counter by, if it is a valid name (the store
    /// only ever keys by canonical names; a stray key is not one).
    pub fn of_stored(name: String) -> Option<UserName> {
        UserName::canonical(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for UserName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` may be looked up: 1 to 256 bytes, no control characters, no `/` or `:`
/// (the passwd field separator), not starting with `-` or `.`. Directory users' spellings
/// (`user@domain`, `DOMAIN\user`, spaces in Active Directory names) pass.
pub fn is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LEN
        && !name.starts_with(['-', '.'])
        && !name.chars().any(|c| c.is_control() || c == '/' || c == ':')
}

/// The file name (without extension) a valid name is stored under: bytes outside
/// `[A-Za-z0-9_.$-]` are written `%XX`, so ordinary names keep their old file names and no
/// name can hold a `/`, a NUL or be `.` or `..`.
pub fn file_stem(name: &str) -> String {
    let mut stem = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'$') {
            stem.push(char::from(b));
        } else {
            stem.push_str(&format!("%{b:02X}"));
        }
    }
    stem
}

/// The name a file stem was written for by [`file_stem`], or `None` for a stem that
/// `file_stem` never writes (a stray file, a bad escape, a name that is not valid): the
/// round trip must give the stem back exactly.
pub fn from_file_stem(stem: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(stem.len());
    let mut rest = stem.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail.get(..2)?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let name = String::from_utf8(bytes).ok()?;
    (is_valid(&name) && file_stem(&name) == stem).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_and_directory_names_pass() {
        for name in [
            "alice",
            "bob.smith",
            "svc_backup",
            "u-1",
            "A1",
            "WS01$",
            "x",
            "alice@corp.example",
            "CORP\\alice",
            "John Smith",
            "ä",
        ] {
            assert!(is_valid(name), "{name}");
        }
    }

    #[test]
    fn dangerous_names_fail() {
        let long = "a".repeat(MAX_LEN + 1);
        for name in [
            "",
            ".",
            "..",
            "../etc",
            "a/b",
            "/root",
            "-rf",
            ".hidden",
            "a\nb",
            "a\0b",
            "alice:x",
            long.as_str(),
        ] {
            assert!(!is_valid(name), "{name:?}");
        }
        assert!(is_valid(&"a".repeat(MAX_LEN)));
    }

    #[test]
    fn file_stems_stay_in_one_directory_and_keep_plain_names() {
        assert_eq!(file_stem("alice"), "alice");
        assert_eq!(file_stem("WS01$"), "WS01$");
        assert_eq!(file_stem("alice@corp.example"), "alice%40corp.example");
        assert_eq!(file_stem("CORP\\alice"), "CORP%5Calice");
        assert_eq!(file_stem("a/b"), "a%2Fb");
        assert_eq!(file_stem("ä"), "%C3%A4");
        // Distinct names never share a file: `%` itself is encoded.
        assert_ne!(file_stem("a%2Fb"), file_stem("a/b"));
    }

    #[test]
    fn file_stems_decode_back_to_their_names_and_nothing_else_does() {
        for name in [
            "alice",
            "WS01$",
            "alice@corp.example",
            "CORP\\alice",
            "ä",
            "John Smith",
        ] {
            assert_eq!(from_file_stem(&file_stem(name)).as_deref(), Some(name));
        }
        for stem in [
            "", "%", "%4", "%zz", "%2f", "%+1", "%41lice", "a b", ".hidden", "%2Ealice", "a%2Fb",
            "%FF", "%00",
        ] {
            assert_eq!(from_file_stem(stem), None, "{stem:?}");
        }
    }
}
