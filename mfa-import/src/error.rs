//! The one error type of every reader: what is wrong, and where.

use std::fmt;

/// A file that cannot be imported, with the place and the reason.
///
/// Its `Display` reads "line 3: WINDOW_SIZE must be a number from 1 to 100, not \"x\"". No
/// variant holds key material: values quoted in a problem are option values, user names or
/// element names, never a secret or a code.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {problem}")]
pub struct ImportError {
    /// Where in the input the problem is.
    pub location: Location,
    /// What is wrong there.
    pub problem: Problem,
}

impl ImportError {
    pub(crate) fn new(location: Location, problem: Problem) -> Self {
        Self { location, problem }
    }

    pub(crate) fn at_line(line: usize, problem: Problem) -> Self {
        Self::new(Location::Line(line), problem)
    }
}

/// A place in an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The input as a whole (its size or encoding).
    Input,
    /// A line of a text file, counted from 1.
    Line(usize),
    /// An XML element, by name and the line it starts on (from 1).
    Element {
        /// The element's local name, e.g. `KeyPackage` or `ValueMAC`.
        name: String,
        /// The line of its start tag.
        line: u32,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input => f.write_str("input"),
            Self::Line(line) => write!(f, "line {line}"),
            Self::Element { name, line } => write!(f, "<{name}> on line {line}"),
        }
    }
}

/// What is wrong with an import file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The input is larger than the reader accepts.
    #[error("the input is {size} bytes, more than the {limit} bytes accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The most accepted.
        limit: usize,
    },
    /// The input is not UTF-8 text.
    #[error("not UTF-8 text")]
    NotText,
    /// The input has no content.
    #[error("the file is empty")]
    Empty,
    /// A secret is not in the encoding the format uses.
    #[error("the secret is not valid {encoding}")]
    SecretEncoding {
        /// `base32`, `hex` or `base64`.
        encoding: &'static str,
    },
    /// A secret is too short to be safe or too long for the format.
    #[error("the secret is {bytes} bytes; {expected}")]
    SecretLength {
        /// Its decoded length.
        bytes: usize,
        /// What is accepted.
        expected: &'static str,
    },
    /// An option or field has a value outside its range or of the wrong shape.
    #[error("{field} must be {expected}, not {value:?}")]
    BadValue {
        /// The option, field or attribute.
        field: String,
        /// What is accepted.
        expected: String,
        /// What was found (never a secret or a code).
        value: String,
    },
    /// An option the reader does not know.
    #[error("unknown option {0:?}")]
    UnknownOption(String),
    /// An option given twice.
    #[error("{0} is given twice")]
    Repeated(String),
    /// The file says both TOTP and HOTP.
    #[error("both TOTP_AUTH and HOTP_COUNTER are set")]
    TotpAndHotp,
    /// A line that is neither an option nor a scratch code.
    #[error("expected an option (\" NAME ...\") or an 8-digit scratch code")]
    NotAnOptionOrScratchCode,
    /// A required field or element is missing.
    #[error("{0} is missing")]
    Missing(String),
    /// pam_oath's token type field is not one liboath knows.
    #[error(
        "unknown token type {0:?} (expected HOTP, HOTP/E[/6|7|8], HOTP/T30[/6|7|8] or HOTP/T60[/6|7|8])"
    )]
    UnknownTokenType(String),
    /// A pam_oath user with a PIN, which pam-mfa does not keep.
    #[error("user {0} has a PIN; pam-mfa does not keep OATH PINs")]
    HasPin(String),
    /// The input is not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// A PSKC feature the reader does not support.
    #[error("unsupported {what}: {value:?}")]
    Unsupported {
        /// The kind of thing, e.g. `algorithm` or `encryption method`.
        what: &'static str,
        /// Its name or URI.
        value: String,
    },
    /// The secrets are encrypted and no key was given.
    #[error("the secrets are encrypted; a pre-shared key is needed")]
    NeedKey,
    /// The pre-shared key has the wrong length for the cipher.
    #[error("the pre-shared key is {bytes} bytes; aes128-cbc needs 16")]
    KeyLength {
        /// Its length.
        bytes: usize,
    },
    /// Decryption failed (wrong key or damaged data).
    #[error("cannot decrypt: wrong pre-shared key or damaged value")]
    Decrypt,
    /// The value's MAC does not match: wrong key, or the file was changed.
    #[error("the MAC does not match: wrong pre-shared key, or the value was changed")]
    BadMac,
}
