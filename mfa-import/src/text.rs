//! Checks shared by the text formats.

use crate::{ImportError, Location, Problem};

/// The input as text, if it is small enough and UTF-8.
pub(crate) fn checked_text(input: &[u8], limit: usize) -> Result<&str, ImportError> {
    if input.len() > limit {
        let problem = Problem::TooLarge {
            size: input.len(),
            limit,
        };
        return Err(ImportError::new(Location::Input, problem));
    }
    std::str::from_utf8(input).map_err(|_| ImportError::new(Location::Input, Problem::NotText))
}
