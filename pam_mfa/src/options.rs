//! The module's arguments from the PAM configuration line.

use std::ffi::CStr;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use mfa_proto::{DEFAULT_DAEMON_USER, DEFAULT_SOCKET, DEFAULT_TIMEOUT};

/// Longest socket path the kernel accepts (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;
/// Longest `socket=` path: its privileged twice, `private/` longer, must fit too.
const MAX_PUBLIC_SOCKET_PATH: usize = MAX_SOCKET_PATH - "private/".len();
/// Accepted range of `timeout=`, in seconds.
const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=300;

/// What to do when the daemon is absent: its socket is missing or nothing listens on it.
/// A daemon that is there but busy, slow or not who it should be always denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Deny with `PAM_AUTHINFO_UNAVAIL`: the second factor cannot be checked.
    #[default]
    Secure,
    /// `PAM_IGNORE`: let the rest of the stack decide, as if this module were not there.
    Safe,
}

impl fmt::Display for FailMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailMode::Secure => "secure",
            FailMode::Safe => "safe",
        })
    }
}

/// The parsed module arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleOptions {
    /// The daemon's public socket; root uses the privileged one derived from it.
    pub socket: PathBuf,
    /// Skip users with no factor.
    pub nullok: bool,
    /// Behaviour when the daemon is absent.
    pub failmode: FailMode,
    /// Log each conversation step.
    pub debug: bool,
    /// Connect timeout and how long to wait for each of the daemon's messages.
    pub timeout: Duration,
    /// The account the daemon runs as: with root, the only listener the module talks to.
    pub daemon_user: String,
    /// The password field ends with the code or a delivery keyword (`hunter2492039`,
    /// `hunter2,sms`); the rest is left in `PAM_AUTHTOK` for the password module.
    pub code_in_password: bool,
    /// PAM_AUTHTOK is first tried as one of the user's app passwords: if it is one, the login
    /// is done; if not, `PAM_IGNORE` (or, with `code_in_password`, that path) and the token
    /// stays for the password module.
    pub app_password: bool,
}

impl Default for ModuleOptions {
    fn default() -> Self {
        ModuleOptions {
            socket: PathBuf::from(DEFAULT_SOCKET),
            nullok: false,
            failmode: FailMode::default(),
            debug: false,
            timeout: DEFAULT_TIMEOUT,
            daemon_user: DEFAULT_DAEMON_USER.into(),
            code_in_password: false,
            app_password: false,
        }
    }
}

/// Why the module arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionError {
    /// An argument is not valid UTF-8 (shown lossily).
    NotUtf8 {
        /// The argument.
        arg: String,
    },
    /// An option this module does not know.
    Unknown {
        /// The whole argument.
        arg: String,
    },
    /// `socket`, `failmode`, `timeout` or `daemon_user` without `=VALUE`.
    MissingValue {
        /// The option.
        option: &'static str,
    },
    /// `nullok=...` or `debug=...`: these options take no value.
    UnexpectedValue {
        /// The option.
        option: &'static str,
    },
    /// A value the option does not accept.
    InvalidValue {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What the option accepts.
        expected: &'static str,
    },
    /// The same option twice, which would hide one of them.
    Duplicate {
        /// The option.
        option: &'static str,
    },
    /// `app_password` and `code_in_password` on one line. No control value serves both: an
    /// app password ends the stack, a code must not (the password module still has to
    /// run), so they go on two lines.
    AppPasswordWithCode,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::NotUtf8 { arg } => write!(f, "module option {arg:?} is not valid UTF-8"),
            OptionError::Unknown { arg } => write!(
                f,
                "unknown module option {arg:?} (known: socket=PATH, nullok, \
                 failmode=secure|safe, timeout=SECONDS, daemon_user=NAME, debug, \
                 code_in_password, app_password)"
            ),
            OptionError::MissingValue { option } => {
                write!(f, "module option {option:?} needs a value: {option}=...")
            }
            OptionError::UnexpectedValue { option } => {
                write!(f, "module option {option:?} takes no value")
            }
            OptionError::InvalidValue {
                option,
                value,
                expected,
            } => write!(
                f,
                "module option {option}={value:?} is invalid: expected {expected}"
            ),
            OptionError::Duplicate { option } => {
                write!(f, "module option {option:?} is given more than once")
            }
            OptionError::AppPasswordWithCode => f.write_str(
                "module options app_password and code_in_password cannot share a line: put \
                 `auth [success=done default=ignore] pam_mfa.so app_password` on a line of its \
                 own before `auth required pam_mfa.so code_in_password`",
            ),
        }
    }
}

impl std::error::Error for OptionError {}

impl ModuleOptions {
    /// Parses the arguments PAM passes to the module. Any problem refuses the whole line, so
    /// that a typo cannot silently weaken the configuration.
    pub fn parse(args: &[&CStr]) -> Result<ModuleOptions, OptionError> {
        let mut options = ModuleOptions::default();
        // A handful of names: a list is enough, and a hash set would pull its random keys
        // and hashing code into every process that loads the module.
        let mut seen: Vec<&'static str> = Vec::new();
        for arg in args {
            let arg = arg.to_str().map_err(|_| OptionError::NotUtf8 {
                arg: arg.to_string_lossy().into_owned(),
            })?;
            let (key, value) = match arg.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (arg, None),
            };
            let option = match key {
                "socket" => set(&mut options.socket, "socket", value, parse_socket)?,
                "nullok" => flag(&mut options.nullok, "nullok", value)?,
                "failmode" => set(&mut options.failmode, "failmode", value, parse_failmode)?,
                "timeout" => set(&mut options.timeout, "timeout", value, parse_timeout)?,
                "debug" => flag(&mut options.debug, "debug", value)?,
                "code_in_password" => {
                    flag(&mut options.code_in_password, "code_in_password", value)?
                }
                "app_password" => flag(&mut options.app_password, "app_password", value)?,
                "daemon_user" => set(
                    &mut options.daemon_user,
                    "daemon_user",
                    value,
                    parse_daemon_user,
                )?,
                _ => return Err(OptionError::Unknown { arg: arg.into() }),
            };
            if seen.contains(&option) {
                return Err(OptionError::Duplicate { option });
            }
            seen.push(option);
        }
        if options.app_password && options.code_in_password {
            return Err(OptionError::AppPasswordWithCode);
        }
        Ok(options)
    }
}

/// Sets `field` from the value `option` must have, and returns the option's name (for the
/// check that no option is given twice).
fn set<T>(
    field: &mut T,
    option: &'static str,
    value: Option<&str>,
    parse: fn(&str) -> Result<T, OptionError>,
) -> Result<&'static str, OptionError> {
    *field = parse(value.ok_or(OptionError::MissingValue { option })?)?;
    Ok(option)
}

/// Turns on the flag `option`, which takes no value, and returns its name.
fn flag(
    field: &mut bool,
    option: &'static str,
    value: Option<&str>,
) -> Result<&'static str, OptionError> {
    match value {
        None => {
            *field = true;
            Ok(option)
        }
        Some(_) => Err(OptionError::UnexpectedValue { option }),
    }
}

fn parse_socket(value: &str) -> Result<PathBuf, OptionError> {
    if value.starts_with('/') && !value.ends_with("/") && value.len() <= MAX_PUBLIC_SOCKET_PATH {
        Ok(PathBuf::from(value))
    } else {
        Err(OptionError::InvalidValue {
            option: "socket",
            value: value.into(),
            expected: "an absolute file path of at most 99 bytes",
        })
    }
}

fn parse_daemon_user(value: &str) -> Result<String, OptionError> {
    if value.is_empty() {
        Err(OptionError::InvalidValue {
            option: "daemon_user",
            value: value.into(),
            expected: "a user name",
        })
    } else {
        Ok(value.into())
    }
}

fn parse_failmode(value: &str) -> Result<FailMode, OptionError> {
    match value {
        "secure" => Ok(FailMode::Secure),
        "safe" => Ok(FailMode::Safe),
        _ => Err(OptionError::InvalidValue {
            option: "failmode",
            value: value.into(),
            expected: "secure or safe",
        }),
    }
}

fn parse_timeout(value: &str) -> Result<Duration, OptionError> {
    match value.parse::<u64>() {
        Ok(seconds) if TIMEOUT_RANGE.contains(&seconds) => Ok(Duration::from_secs(seconds)),
        _ => Err(OptionError::InvalidValue {
            option: "timeout",
            value: value.into(),
            expected: "whole seconds from 1 to 300",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&CStr]) -> Result<ModuleOptions, OptionError> {
        ModuleOptions::parse(args)
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.socket, PathBuf::from("/run/mfa/mfa.sock"));
        assert!(!options.nullok);
        assert_eq!(options.failmode, FailMode::Secure);
        assert!(!options.debug);
        assert_eq!(options.timeout, Duration::from_secs(10));
        assert_eq!(options.daemon_user, "mfa");
    }

    #[test]
    fn every_option_is_read() {
        let options = parse(&[
            c"socket=/tmp/x/mfa.sock",
            c"nullok",
            c"failmode=safe",
            c"timeout=3",
            c"debug",
            c"daemon_user=_mfa",
        ])
        .unwrap();
        assert_eq!(
            options,
            ModuleOptions {
                socket: PathBuf::from("/tmp/x/mfa.sock"),
                nullok: true,
                failmode: FailMode::Safe,
                debug: true,
                timeout: Duration::from_secs(3),
                daemon_user: "_mfa".into(),
                code_in_password: false,
                app_password: false,
            }
        );
        assert!(parse(&[c"app_password"]).unwrap().app_password);
        assert!(parse(&[c"code_in_password"]).unwrap().code_in_password);
        let both = parse(&[c"app_password", c"code_in_password"]);
        assert_eq!(both, Err(OptionError::AppPasswordWithCode));
        assert!(both.unwrap_err().to_string().contains("a line of its own"));
        assert_eq!(
            parse(&[c"failmode=secure"]).unwrap().failmode,
            FailMode::Secure
        );
    }

    #[test]
    fn unknown_option_is_refused_and_named() {
        for arg in [
            c"nulok",
            c"use_first_pass",
            c"",
            c"Debug",
            c"socket_path=/x",
            c"daemon-user=mfa",
            c"user=mfa",
        ] {
            let err = parse(&[c"debug", arg]).unwrap_err();
            let name = arg.to_str().unwrap();
            assert_eq!(err, OptionError::Unknown { arg: name.into() });
            assert!(err.to_string().contains(&format!("{name:?}")), "{err}");
            assert!(err.to_string().contains("daemon_user=NAME"), "{err}");
        }
    }

    #[test]
    fn values_are_checked() {
        for (arg, option) in [
            (c"socket=relative/mfa.sock", "socket"),
            (c"socket=", "socket"),
            (c"socket=/run/mfa/", "socket"),
            (c"socket=/", "socket"),
            (c"daemon_user=", "daemon_user"),
            (c"failmode=open", "failmode"),
            (c"failmode=", "failmode"),
            (c"timeout=0", "timeout"),
            (c"timeout=301", "timeout"),
            (c"timeout=-1", "timeout"),
            (c"timeout=1.5", "timeout"),
            (c"timeout=ten", "timeout"),
        ] {
            let err = parse(&[arg]).unwrap_err();
            assert!(
                matches!(&err, OptionError::InvalidValue { option: o, .. } if *o == option),
                "{arg:?}: {err:?}"
            );
        }
        // The longest path whose privileged twice still fits in `sun_path`, and one more.
        let longest = format!("/{}", "s".repeat(MAX_PUBLIC_SOCKET_PATH - 1));
        let private = mfa_proto::privileged_socket(std::path::Path::new(&longest));
        assert_eq!(private.as_os_str().len(), MAX_SOCKET_PATH);
        let arg = std::ffi::CString::new(format!("socket={longest}")).unwrap();
        assert_eq!(parse(&[&arg]).unwrap().socket, PathBuf::from(&longest));
        let long = std::ffi::CString::new(format!("socket={longest}s")).unwrap();
        assert!(matches!(
            parse(&[&long]),
            Err(OptionError::InvalidValue {
                option: "socket",
                ..
            })
        ));
        let err = parse(&[c"timeout=0"]).unwrap_err();
        assert!(err.to_string().contains("1 to 300"), "{err}");
    }

    #[test]
    fn values_are_required_or_refused() {
        for (arg, option) in [
            (c"socket", "socket"),
            (c"failmode", "failmode"),
            (c"timeout", "timeout"),
            (c"daemon_user", "daemon_user"),
        ] {
            assert_eq!(parse(&[arg]), Err(OptionError::MissingValue { option }));
        }
        for (arg, option) in [
            (c"nullok=1", "nullok"),
            (c"debug=yes", "debug"),
            (c"code_in_password=1", "code_in_password"),
            (c"app_password=yes", "app_password"),
        ] {
            assert_eq!(parse(&[arg]), Err(OptionError::UnexpectedValue { option }));
        }
    }

    #[test]
    fn repeated_option_is_refused() {
        assert_eq!(
            parse(&[c"failmode=safe", c"failmode=secure"]),
            Err(OptionError::Duplicate { option: "failmode" })
        );
        assert_eq!(
            parse(&[c"nullok", c"nullok"]),
            Err(OptionError::Duplicate { option: "nullok" })
        );
        assert_eq!(
            parse(&[c"daemon_user=mfa", c"daemon_user=root"]),
            Err(OptionError::Duplicate {
                option: "daemon_user"
            })
        );
    }

    #[test]
    fn non_utf8_argument_is_refused() {
        let arg = c"socket=/tmp/\xff";
        assert!(matches!(parse(&[arg]), Err(OptionError::NotUtf8 { .. })));
    }
}
