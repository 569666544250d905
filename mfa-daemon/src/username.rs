//! User names that may reach a path or a log line.

/// Longest name accepted (Linux `LOGIN_NAME_MAX` is 256, useradd allows 32).
pub const MAX_LEN: usize = 64;

/// Whether `name` is a safe account name: 1 to 64 of `[A-Za-z0-9_.-]` (plus a trailing `$`
/// for machine accounts), not starting with `-` or `.`. Such a name can never be `..`, hold a
/// `/`, a NUL or a control character, or be mistaken for an option.
pub fn is_valid(name: &str) -> bool {
    let body = name.strip_suffix('$').unwrap_or(name);
    !body.is_empty()
        && name.len() <= MAX_LEN
        && !body.starts_with(['-', '.'])
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "alice",
            "bob.smith",
            "svc_backup",
            "u-1",
            "A1",
            "WS01$",
            "x",
        ] {
            assert!(is_valid(name), "{name}");
        }
    }

    #[test]
    fn dangerous_names_fail() {
        let long = "a".repeat(65);
        for name in [
            "",
            ".",
            "..",
            "../etc",
            "a/b",
            "/root",
            "-rf",
            ".hidden",
            "a b",
            "a\nb",
            "a\0b",
            "ä",
            "$",
            "a$b",
            "alice:x",
            long.as_str(),
        ] {
            assert!(!is_valid(name), "{name:?}");
        }
    }
}
