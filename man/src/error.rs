//! What can stop the pages from being made.

use std::fmt;
use std::path::PathBuf;

/// Why the pages could not be made or written.
#[derive(Debug)]
pub enum ManError {
    /// README.md no longer has a part a page is made from.
    Readme(ReadmeError),
    /// `SOURCE_DATE_EPOCH` is set but is not a time.
    SourceDateEpoch(String),
    /// The output directory could not be made.
    OutDir {
        /// The directory asked for.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A page could not be written.
    Write {
        /// The page's file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A part of README.md that a page needs and that is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadmeError {
    /// No heading line like this.
    NoSection(String),
    /// No table under this heading.
    NoTable(String),
    /// The table under `section` has no column headed `column`.
    NoColumn {
        /// The section's heading.
        section: String,
        /// The missing column's heading.
        column: String,
    },
    /// No code block under this heading.
    NoCodeBlock(String),
    /// No inline code in the first paragraph under this heading.
    NoCodeSpan(String),
}

impl fmt::Display for ManError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManError::Readme(e) => write!(f, "README.md: {e}"),
            ManError::SourceDateEpoch(value) => write!(
                f,
                "SOURCE_DATE_EPOCH is {value:?}, not a number of seconds since 1970"
            ),
            ManError::OutDir { path, source } => write!(
                f,
                "cannot make the output directory {}: {source}",
                path.display()
            ),
            ManError::Write { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
        }
    }
}

impl fmt::Display for ReadmeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadmeError::NoSection(heading) => write!(f, "no heading `{heading}`"),
            ReadmeError::NoTable(heading) => write!(f, "no table under `{heading}`"),
            ReadmeError::NoColumn { section, column } => {
                write!(f, "the table under `{section}` has no column `{column}`")
            }
            ReadmeError::NoCodeBlock(heading) => write!(f, "no code block under `{heading}`"),
            ReadmeError::NoCodeSpan(heading) => {
                write!(f, "no inline code in the first paragraph under `{heading}`")
            }
        }
    }
}

impl std::error::Error for ManError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ManError::Readme(e) => Some(e),
            ManError::SourceDateEpoch(_) => None,
            ManError::OutDir { source, .. } | ManError::Write { source, .. } => Some(source),
        }
    }
}

impl std::error::Error for ReadmeError {}

impl From<ReadmeError> for ManError {
    fn from(e: ReadmeError) -> Self {
        ManError::Readme(e)
    }
}
