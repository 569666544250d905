//! The config file as a whole: defaults, the top-level keys, and where errors point. Each
//! section's own refusals are tested in the file named after it.

use std::path::Path;
use std::time::Duration;

use mfa_core::factor::totp::Algorithm;

use super::*;

mod hotp;
mod otp;
mod policy;
mod radius;
mod store;
mod web;

/// `text` as the file `/etc/mfa/test.toml`.
fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/mfa/test.toml"), text)
}

#[test]
fn empty_file_gives_defaults() {
    let c = parse("").unwrap();
    assert_eq!(format!("{c:?}"), format!("{:?}", Config::default()));
    assert_eq!(c.totp.algorithm, Algorithm::Sha1);
    assert_eq!((c.totp.digits, c.totp.period, c.totp.skew), (6, 30, 1));
    assert_eq!(c.limits.max_failures, 5);
    assert_eq!(c.limits.failure_window, Duration::from_secs(900));
}

#[test]
fn full_file_parses() {
    let c = parse(
        r#"
socket = "/tmp/x.sock"
state_dir = "/tmp/state"
issuer = "Example Corp"
max_tries = 2
answer_timeout = "2m"
[totp]
algorithm = "SHA512"
digits = 8
period = 60
skew = 2
[limits]
max_failures = 3
failure_window = "10m"
lockout = "30s"
max_lockout = "2h"
account_max_failures = 9
"#,
    )
    .unwrap();
    assert_eq!(c.totp.algorithm, Algorithm::Sha512);
    assert_eq!(c.limits.max_lockout, Duration::from_secs(7200));
    assert_eq!(c.answer_timeout, Duration::from_secs(120));
}

#[test]
fn unknown_key_names_line_and_key() {
    let e = parse("issuer = \"x\"\n[totp]\ndigts = 6\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("/etc/mfa/test.toml"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("digts"), "{msg}");
}

#[test]
fn out_of_range_digits_names_key() {
    let e = parse("[totp]\ndigits = 9\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("totp.digits"));
    assert_eq!(e.line, Some(2));
    assert!(e.to_string().contains("between 6 and 8, got 9"), "{e}");
}

#[test]
fn bad_algorithm_and_duration_are_explained() {
    let e = parse("[totp]\nalgorithm = \"MD5\"\n").unwrap_err();
    assert!(e.to_string().contains("MD5"), "{e}");
    assert_eq!(e.line, Some(2));
    let e = parse("[limits]\nlockout = \"soon\"\n").unwrap_err();
    assert!(e.to_string().contains("not a duration"), "{e}");
    assert_eq!(e.key.as_deref(), Some("lockout"));
}

#[test]
fn wrong_type_and_syntax_errors() {
    let e = parse("answer_timeout = \"2h\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("answer_timeout"));
    assert!(e.message.contains("at most 10m"), "{e}");
    let e = parse("max_tries = \"three\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("max_tries"));
    let e = parse("socket = \n").unwrap_err();
    assert_eq!(e.line, Some(1));
}

#[test]
fn log_level_is_one_of_five_names() {
    assert_eq!(parse("").unwrap().log_level, LogLevel::Info);
    assert_eq!(
        parse("log_level = \"debug\"\n").unwrap().log_level,
        LogLevel::Debug
    );
    let e = parse("issuer = \"x\"\nlog_level = \"verbose\"\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert_eq!(e.key.as_deref(), Some("log_level"), "{e}");
    assert!(
        e.message.contains("verbose") && e.message.contains("`trace`"),
        "{e}"
    );
}

#[test]
fn relative_paths_and_inconsistent_limits_are_refused() {
    let e = parse("state_dir = \"var/lib/mfa\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("state_dir"));
    let e = parse("[limits]\nlockout = \"2h\"\nmax_lockout = \"1h\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("limits.max_lockout"));
    let e = parse("[limits]\nmax_failures = 10\naccount_max_failures = 5\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("limits.account_max_failures"));
    let e = parse("issuer = \"a:b\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("issuer"));
}

#[test]
fn missing_default_file_is_defaults_but_missing_explicit_file_is_error() {
    let missing = Path::new("/nonexistent/mfa/config.toml");
    assert_eq!(
        format!("{:?}", Config::load(missing, true).unwrap()),
        format!("{:?}", Config::default())
    );
    let e = Config::load(missing, false).unwrap_err();
    assert!(e.to_string().contains("cannot read"), "{e}");
}
