//! pam_oath's users file (`usersfile=/etc/users.oath`), as liboath reads and rewrites it.
//!
//! One token per line, fields split by any whitespace:
//! `TYPE USER PIN HEXSECRET [COUNTER [LAST-OTP [TIME]]]`, where TYPE is `HOTP`, `HOTP/E`,
//! `HOTP/E/8`, `HOTP/T30`, `HOTP/T60/8` and so on, and `#` starts a comment line. After a
//! login liboath writes back the counter of the code just used, that code, and the local time
//! (`2026-12-07T20:07:20L`).

use zeroize::Zeroizing;

use crate::{ImportError, Problem, Secret};

/// The largest users file read (tens of thousands of lines).
pub const MAX_SIZE: usize = 16 * 1024 * 1024;

/// liboath keeps at most 32 key bytes; fewer than 10 (80 bits) is a guessable key.
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 10..=32;

/// The tokens of a users file, and the users that cannot be moved over.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsersFile {
    /// Tokens that can be imported, in file order (a user may have several).
    pub tokens: Vec<OathToken>,
    /// Lines well-formed but refused, each with its reason.
    pub refused: Vec<RefusedUser>,
}

/// One importable line of the users file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OathToken {
    /// The line it came from (from 1), for the import report.
    pub line: usize,
    /// The user name.
    pub user: String,
    /// Time- or event-based, with its state.
    pub kind: OathKind,
    /// Code length: 6, 7 or 8.
    pub digits: u8,
    /// The shared secret (decoded from hex).
    pub secret: Secret,
    /// liboath's time of the last successful login, as written (local time, `...L`).
    pub last_login: Option<String>,
}

/// The token's kind and moving factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OathKind {
    /// An event (counter) token.
    Hotp {
        /// The counter of the next code to accept. liboath stores the counter of the code
        /// last used (and that code), so after a login this is the stored value plus one.
        next_counter: u64,
    },
    /// A time token.
    Totp {
        /// Seconds per code: 30 or 60.
        step: u32,
    },
}

/// A user whose line is well-formed but is not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedUser {
    /// The line (from 1).
    pub line: usize,
    /// The user name.
    pub user: String,
    /// Why.
    pub reason: Problem,
}

/// Reads a pam_oath users file. A line that liboath itself could not use (unknown type,
/// missing secret, bad hex or counter) fails the whole file, naming the line; a well-formed
/// line for a user pam-mfa cannot take over (a PIN, a short key) goes to [`UsersFile::refused`].
pub fn parse(input: &[u8]) -> Result<UsersFile, ImportError> {
    let text = crate::text::checked_text(input, MAX_SIZE)?;
    let mut file = UsersFile::default();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(number, line) {
            Ok(Line::Token(token)) => file.tokens.push(token),
            Ok(Line::Refused(refused)) => file.refused.push(refused),
            Err(problem) => return Err(ImportError::at_line(number, problem)),
        }
    }
    Ok(file)
}

enum Line {
    Token(OathToken),
    Refused(RefusedUser),
}

fn parse_line(number: usize, line: &str) -> Result<Line, Problem> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let field = |i: usize, name: &str| {
        fields
            .get(i)
            .copied()
            .ok_or_else(|| Problem::Missing(name.to_owned()))
    };
    let (step, digits) = parse_type(field(0, "the token type")?)?;
    let user = field(1, "the user name")?.to_owned();
    let pin = field(2, "the PIN field")?;
    let hex = field(3, "the secret")?;
    if fields.len() > 7 {
        return Err(bad(
            "the line",
            "at most 7 fields",
            fields.len().to_string(),
        ));
    }
    let secret = parse_secret(hex)?;
    let counter = fields.get(4).map(|c| parse_counter(c)).transpose()?;
    let last_otp = fields.get(5).copied();
    if let Some(otp) = last_otp.filter(|otp| !otp.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad(
            "the last code",
            "digits",
            format!("{} characters", otp.len()),
        ));
    }
    let last_login = fields.get(6).map(|t| parse_time(t)).transpose()?;
    let refuse = |reason| {
        Ok(Line::Refused(RefusedUser {
            line: number,
            user: user.clone(),
            reason,
        }))
    };
    if pin != "-" {
        return refuse(Problem::HasPin(user.clone()));
    }
    let secret = match secret {
        Ok(secret) => secret,
        Err(short) => return refuse(short),
    };
    let kind = match step {
        Some(step) => OathKind::Totp { step },
        None => OathKind::Hotp {
            next_counter: next_counter(counter.unwrap_or(0), last_otp.is_some())?,
        },
    };
    Ok(Line::Token(OathToken {
        line: number,
        user,
        kind,
        digits,
        secret,
        last_login,
    }))
}

/// liboath's `parse_type`: the step (None for event tokens) and the digits.
fn parse_type(field: &str) -> Result<(Option<u32>, u8), Problem> {
    let unknown = || Problem::UnknownTokenType(field.chars().take(40).collect());
    let mut parts = field.split('/');
    if parts.next() != Some("HOTP") {
        return Err(unknown());
    }
    let step = match parts.next() {
        None | Some("E") => None,
        Some("T30") => Some(30),
        Some("T60") => Some(60),
        Some(_) => return Err(unknown()),
    };
    // Plain "HOTP" takes no digits part; "HOTP/E" and "HOTP/Tnn" may.
    let digits = match (field == "HOTP", parts.next()) {
        (_, None) => 6,
        (false, Some("6")) => 6,
        (false, Some("7")) => 7,
        (false, Some("8")) => 8,
        _ => return Err(unknown()),
    };
    if parts.next().is_some() {
        return Err(unknown());
    }
    Ok((step, digits))
}

/// The outer error is a malformed file; the inner one a key too short or long to import.
fn parse_secret(hex: &str) -> Result<Result<Secret, Problem>, Problem> {
    let decoded = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| Problem::SecretEncoding { encoding: "hex" })?;
    if !SECRET_BYTES.contains(&decoded.len()) {
        return Ok(Err(Problem::SecretLength {
            bytes: decoded.len(),
            expected: "from 10 to 32 bytes are accepted",
        }));
    }
    Ok(Ok(Secret::new(decoded)))
}

fn parse_counter(field: &str) -> Result<u64, Problem> {
    field.parse().map_err(|_| {
        bad(
            "the counter",
            "a whole number",
            field.chars().take(40).collect(),
        )
    })
}

fn next_counter(stored: u64, used: bool) -> Result<u64, Problem> {
    if !used {
        return Ok(stored);
    }
    stored
        .checked_add(1)
        .ok_or_else(|| bad("the counter", "below 2^64 - 1", stored.to_string()))
}

/// liboath's `%Y-%m-%dT%H:%M:%SL`; kept as text because it is local time of the old host.
fn parse_time(field: &str) -> Result<String, Problem> {
    let shape_ok = field.len() == 20
        && field.ends_with('L')
        && field.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'L',
            _ => b.is_ascii_digit(),
        });
    if shape_ok {
        Ok(field.to_owned())
    } else {
        Err(bad(
            "the time",
            "YYYY-MM-DDTHH:MM:SSL",
            field.chars().take(40).collect(),
        ))
    }
}

fn bad(field: &str, expected: &str, value: String) -> Problem {
    Problem::BadValue {
        field: field.to_owned(),
        expected: expected.to_owned(),
        value,
    }
}
