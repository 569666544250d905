//! `~/.google_authenticator`, as Debian's `google-authenticator` tool and
//! `pam_google_authenticator.so` write it (the format is the upstream `FILEFORMAT` document).
//!
//! Line 1 is the base32 secret; option lines start with `" ` (`" RATE_LIMIT 3 30`,
//! `" WINDOW_SIZE 17`, `" DISALLOW_REUSE`, `" TOTP_AUTH`, `" HOTP_COUNTER 1`, `" STEP_SIZE 30`);
//! every other line is an 8-digit scratch code. The module appends its own state to some options
//! (used time steps after `DISALLOW_REUSE`, login times after `RATE_LIMIT`): it is read past,
//! not kept, because pam-mfa keeps its own replay and attempt state.

use zeroize::Zeroizing;

use crate::{ImportError, Location, Problem, ScratchCode, Secret};

/// The largest file read; the module itself refuses files over 64 KiB.
pub const MAX_SIZE: usize = 64 * 1024;

/// The module's defaults when an option is absent.
const DEFAULT_WINDOW: u32 = 3;
const DEFAULT_STEP: u32 = 30;

/// One user's google-authenticator enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleAuthenticator {
    /// The shared secret (decoded from base32).
    pub secret: Secret,
    /// Time- or counter-based, with the parameters the user's app was set up with.
    pub kind: OtpKind,
    /// `DISALLOW_REUSE`: a TOTP code may be used once only.
    pub disallow_reuse: bool,
    /// `RATE_LIMIT n m`, if set.
    pub rate_limit: Option<RateLimit>,
    /// The unused scratch codes, in file order.
    pub scratch_codes: Vec<ScratchCode>,
}

/// How codes are derived from the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpKind {
    /// RFC 6238 codes (`TOTP_AUTH`).
    Totp {
        /// `STEP_SIZE`: seconds per code (default 30).
        step: u32,
        /// `WINDOW_SIZE`: how many codes around the current one are valid (default 3).
        window: u32,
    },
    /// RFC 4226 codes (`HOTP_COUNTER`).
    Hotp {
        /// The counter value the token will produce next.
        counter: u64,
        /// `WINDOW_SIZE`: how many codes after the expected one are accepted (default 3).
        window: u32,
    },
}

/// `RATE_LIMIT n m`: at most `attempts` logins every `seconds` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Logins allowed per interval.
    pub attempts: u32,
    /// The interval, in seconds.
    pub seconds: u32,
}

/// The options as found, before they are checked against each other.
#[derive(Default)]
struct Options {
    rate_limit: Option<RateLimit>,
    window: Option<u32>,
    step: Option<u32>,
    hotp_counter: Option<u64>,
    totp_auth: bool,
    disallow_reuse: bool,
}

/// Reads one user's `~/.google_authenticator` from its bytes.
pub fn parse(input: &[u8]) -> Result<GoogleAuthenticator, ImportError> {
    let text = crate::text::checked_text(input, MAX_SIZE)?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let (_, first) = lines
        .next()
        .ok_or_else(|| ImportError::new(Location::Input, Problem::Empty))?;
    let secret = parse_secret(first).map_err(|p| ImportError::at_line(1, p))?;
    let mut options = Options::default();
    let mut scratch_codes = Vec::new();
    for (number, line) in lines {
        if let Some(option) = line.strip_prefix("\" ") {
            options
                .read(option)
                .map_err(|p| ImportError::at_line(number, p))?;
        } else if is_scratch_code(line) {
            scratch_codes.push(ScratchCode::new(Zeroizing::new(line.to_owned())));
        } else if !line.trim().is_empty() {
            return Err(ImportError::at_line(
                number,
                Problem::NotAnOptionOrScratchCode,
            ));
        }
    }
    let kind = options.kind()?;
    Ok(GoogleAuthenticator {
        secret,
        kind,
        disallow_reuse: options.disallow_reuse,
        rate_limit: options.rate_limit,
        scratch_codes,
    })
}

/// Decodes the base32 secret as the module does: case does not matter, padding is optional.
fn parse_secret(line: &str) -> Result<Secret, Problem> {
    let upper = Zeroizing::new(line.trim().trim_end_matches('=').to_ascii_uppercase());
    let decoded = data_encoding::BASE32_NOPAD
        .decode(upper.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| Problem::SecretEncoding { encoding: "base32" })?;
    // 80 bits is what the tool's oldest versions wrote; anything shorter is a guessable key.
    if !(10..=64).contains(&decoded.len()) {
        return Err(Problem::SecretLength {
            bytes: decoded.len(),
            expected: "from 10 to 64 bytes are accepted",
        });
    }
    Ok(Secret::new(decoded))
}

fn is_scratch_code(line: &str) -> bool {
    line.len() == 8 && line.bytes().all(|b| b.is_ascii_digit())
}

impl Options {
    fn read(&mut self, option: &str) -> Result<(), Problem> {
        let mut words = option.split_ascii_whitespace();
        let name = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        match name {
            "RATE_LIMIT" => {
                let attempts = number_arg(name, args.first(), 1..=100)?;
                let seconds = number_arg("RATE_LIMIT's interval", args.get(1), 1..=3600)?;
                set_once(&mut self.rate_limit, name, RateLimit { attempts, seconds })
            }
            "WINDOW_SIZE" => {
                let window = number_arg(name, args.first(), 1..=100)?;
                set_once(&mut self.window, name, window)
            }
            "STEP_SIZE" => {
                let step = number_arg(name, args.first(), 1..=60)?;
                set_once(&mut self.step, name, step)
            }
            "HOTP_COUNTER" => {
                let counter = number_arg(name, args.first(), 0..=u64::MAX)?;
                set_once(&mut self.hotp_counter, name, counter)
            }
            "TOTP_AUTH" => flag_once(&mut self.totp_auth, name),
            "DISALLOW_REUSE" => flag_once(&mut self.disallow_reuse, name),
            // The module's learned clock drift: pam-mfa keeps its own window instead.
            "TIME_SKEW" | "RESETTING_TIME_SKEW" => Ok(()),
            other => Err(Problem::UnknownOption(other.chars().take(40).collect())),
        }
    }

    /// A file with both modes or neither is refused rather than guessed: the tool never
    /// writes one, so it was edited by hand (the module would take HOTP for both).
    fn kind(&self) -> Result<OtpKind, ImportError> {
        let window = self.window.unwrap_or(DEFAULT_WINDOW);
        match (self.hotp_counter, self.totp_auth) {
            (Some(_), true) => Err(ImportError::new(Location::Input, Problem::TotpAndHotp)),
            (Some(counter), false) => Ok(OtpKind::Hotp { counter, window }),
            (None, true) => Ok(OtpKind::Totp {
                step: self.step.unwrap_or(DEFAULT_STEP),
                window,
            }),
            (None, false) => Err(ImportError::new(
                Location::Input,
                Problem::Missing("TOTP_AUTH or HOTP_COUNTER".to_owned()),
            )),
        }
    }
}

fn number_arg<T>(
    field: &str,
    arg: Option<&&str>,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, Problem>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let expected = format!("a whole number from {} to {}", range.start(), range.end());
    let Some(arg) = arg else {
        return Err(Problem::Missing(format!("{field}'s value")));
    };
    let bad = || Problem::BadValue {
        field: field.to_owned(),
        expected: expected.clone(),
        value: arg.chars().take(40).collect(),
    };
    let value: T = arg.parse().map_err(|_| bad())?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(bad())
    }
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), Problem> {
    if slot.is_some() {
        return Err(Problem::Repeated(name.to_owned()));
    }
    *slot = Some(value);
    Ok(())
}

fn flag_once(flag: &mut bool, name: &str) -> Result<(), Problem> {
    if *flag {
        return Err(Problem::Repeated(name.to_owned()));
    }
    *flag = true;
    Ok(())
}
