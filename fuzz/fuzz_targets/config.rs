//! The daemon's config file.
//!
//! Every error names the file; a line it names exists in the text (1-based, at most one past
//! the last line) and, with a key, holds that key. A config that parses is within every limit
//! the daemon documents.
#![no_main]

use std::path::Path;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mfa_daemon::config::{Config, ConfigError, MAX_ANSWER_TIMEOUT};

const FILE: &str = "fuzz.toml";
/// The longest `policy.grace_period` the daemon documents.
const MAX_GRACE_PERIOD: Duration = Duration::from_secs(90 * 86_400);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(Path::new(FILE), text) {
        Ok(config) => within_limits(&config),
        Err(error) => explains_itself(&error, text),
    }
});

fn explains_itself(error: &ConfigError, text: &str) {
    let shown = error.to_string();
    assert!(shown.starts_with(&format!("config {FILE}")), "{shown}");
    assert_eq!(error.path, Path::new(FILE));
    assert!(!error.message.trim().is_empty(), "{shown}");
    let Some(line) = error.line else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        (1..=lines.len() + 1).contains(&line),
        "line {line} of a {}-line text: {shown}",
        lines.len()
    );
    assert!(shown.contains(&format!(", line {line}")), "{shown}");
    if let (Some(key), Some(named)) = (&error.key, lines.get(line - 1)) {
        let last = key.rsplit('.').next().unwrap_or(key);
        assert!(
            named.contains(last),
            "line {line} `{named}` does not hold key `{key}`: {shown}"
        );
    }
}

fn within_limits(config: &Config) {
    assert!(config.socket.is_absolute());
    assert!(config.state_dir.is_absolute());
    let issuer = &config.issuer;
    assert!((1..=64).contains(&issuer.len()), "{issuer:?}");
    assert!(
        !issuer.chars().any(|c| c == ':' || c.is_control()),
        "{issuer:?}"
    );
    assert!((1..=10).contains(&config.max_tries));
    assert!(config.answer_timeout > Duration::ZERO);
    assert!(config.answer_timeout <= MAX_ANSWER_TIMEOUT);
    let totp = &config.totp;
    assert!((6..=8).contains(&totp.digits));
    assert!((15..=300).contains(&totp.period));
    assert!(totp.skew <= 10);
    let limits = &config.limits;
    assert!((1..=1000).contains(&limits.max_failures));
    assert!(limits.failure_window > Duration::ZERO);
    assert!(limits.lockout > Duration::ZERO);
    assert!(limits.max_lockout >= limits.lockout);
    assert!((limits.max_failures..=100_000).contains(&limits.account_max_failures));
    let policy = &config.policy;
    assert!(policy.grace_period <= MAX_GRACE_PERIOD);
    assert!((1..=5).contains(&policy.min_factors));
    assert!((1..=5).contains(&policy.max_authenticators));
}
