//! What is wrong with a config file, and where: [`Invalid`] is what a section's check finds
//! (a key and why), [`ConfigError`] is what the daemon reports (the file, the line and the
//! key). [`ConfigError::at_key`] is the one place that turns the first into the second.

use std::fmt;
use std::path::{Path, PathBuf};

/// A value a section's check refuses: the dotted key (`totp.digits`) and why, in words a
/// sysadmin can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// The dotted key, e.g. `otp.validity`.
    pub(crate) key: &'static str,
    /// What is wrong.
    pub(crate) why: String,
}

impl Invalid {
    /// `key` is refused because of `why`.
    pub(crate) fn new(key: &'static str, why: impl Into<String>) -> Invalid {
        Invalid {
            key,
            why: why.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.why)
    }
}

impl std::error::Error for Invalid {}

/// A config file that cannot be used.
#[derive(Debug)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// Line (1-based) where the problem is, when known.
    pub line: Option<usize>,
    /// The key, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about the dotted `key` of the file at `path`, on the line that sets it if
    /// there is one; `text` is the file's text when the caller has it, else it is read again.
    pub fn at_key(path: &Path, text: Option<&str>, key: &str, message: String) -> ConfigError {
        let line = match text {
            Some(text) => find_key_line(text, key),
            None => std::fs::read_to_string(path)
                .ok()
                .and_then(|text| find_key_line(&text, key)),
        };
        ConfigError {
            path: path.to_owned(),
            line,
            key: Some(key.to_owned()),
            message,
        }
    }

    /// An error about `key` of the file at `path`, on the line that sets it if there is one.
    pub fn for_key(path: &Path, key: &str, message: String) -> ConfigError {
        ConfigError::at_key(path, None, key, message)
    }

    /// What a section's check refused in `text`, the file at `path`.
    pub(super) fn invalid(path: &Path, text: &str, invalid: Invalid) -> ConfigError {
        ConfigError::at_key(path, Some(text), invalid.key, invalid.why)
    }

    /// The file at `path` cannot be read.
    pub(super) fn unreadable(path: &Path, error: &std::io::Error) -> ConfigError {
        ConfigError {
            path: path.to_owned(),
            line: None,
            key: None,
            message: format!("cannot read: {error}"),
        }
    }

    /// The TOML in `text` does not parse or does not fit the config's shape.
    pub(super) fn syntax(path: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
        let (line, key) = match error.span() {
            Some(span) => locate(text, span.start),
            None => (None, None),
        };
        ConfigError {
            path: path.to_owned(),
            line,
            key,
            message: error.message().trim().to_owned(),
        }
    }
}

/// Line number and key of the `key = value` line containing byte offset `at`.
fn locate(text: &str, at: usize) -> (Option<usize>, Option<String>) {
    let at = at.min(text.len());
    let line_no = text.get(..at).map_or(0, |s| s.matches('\n').count()) + 1;
    let key = text
        .lines()
        .nth(line_no - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_owned())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    (Some(line_no), key)
}

/// Line where a dotted key such as `totp.digits` is set, if it is set in the file.
fn find_key_line(text: &str, dotted: &str) -> Option<usize> {
    let (table, key) = match dotted.rsplit_once('.') {
        Some((t, k)) => (t, k),
        None => ("", dotted),
    };
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_owned();
        } else if let Some((k, _)) = line.split_once('=')
            && current == table
            && k.trim() == key
        {
            return Some(i + 1);
        }
    }
    None
}
