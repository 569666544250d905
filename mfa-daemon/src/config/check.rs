//! The checks several sections share; each refuses with the key it was given.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::Invalid;

/// `value` lies in `min..=max`.
pub(super) fn range<T: PartialOrd + fmt::Display + Copy>(
    key: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<(), Invalid> {
    if value < min || value > max {
        Err(Invalid::new(
            key,
            format!("must be between {min} and {max}, got {value}"),
        ))
    } else {
        Ok(())
    }
}

/// `path` is absolute.
pub(super) fn absolute(key: &'static str, path: &Path) -> Result<(), Invalid> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            format!("must be an absolute path, got `{}`", path.display()),
        ))
    }
}

/// `d` is longer than zero.
pub(super) fn positive(key: &'static str, d: Duration) -> Result<(), Invalid> {
    if d.is_zero() {
        Err(Invalid::new(key, "must be longer than zero"))
    } else {
        Ok(())
    }
}

/// `d` in words, as the config file would write it (`"1h 30m"`).
pub(super) fn shown(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

/// A duration key (`"90s"`, `"15m"`, `"7d"`) that may be left out.
pub(super) fn optional_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// A duration key: `"90s"`, `"15m"`, `"1h"` or `"7d"`.
pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration ({e}); write e.g. \"90s\", \"15m\" or \"1h\""
        ))
    })
}
