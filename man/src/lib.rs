//! `mfa-man OUTDIR`: writes the man pages of pam-mfa (roff) into OUTDIR: pam_mfa(8),
//! mfa-daemon(8), mfa-web(8), mfa-radius(8), mfa-enroll(1), mfactl(8) and mfa.toml(5).
//!
//! Each page comes from where its content already lives, so that it cannot drift: the CLIs'
//! from their clap definitions (clap_mangen writes name, synopsis and description); the PAM
//! module's options and the config file's keys from the tables in README.md, read when this
//! crate is built, so an option or key added to the README is on its page; the examples of
//! the CLIs and the PAM stacks from the README's code blocks. What only a man page says
//! (signals, exit status, files) is written in `pages/`.
#![forbid(unsafe_code)]

mod cli_page;
mod doc;
mod error;
mod markdown;
mod pages;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

pub use error::{ManError, ReadmeError};
pub use pages::{Page, README, pages};

/// The example configuration shown in mfa.toml(5).
pub const EXAMPLE_CONFIG: &str = pages::EXAMPLE_CONFIG;

/// Write pam-mfa's man pages (roff) into a directory.
#[derive(Debug, Parser)]
#[command(name = "mfa-man", version)]
struct Args {
    /// The directory to write pam_mfa.8, mfa-daemon.8, mfa-web.8, mfa-radius.8,
    /// mfa-enroll.1, mfactl.8 and mfa.toml.5 into; made if missing.
    #[arg(value_name = "OUTDIR")]
    outdir: PathBuf,
}

/// Runs the tool: exit 0 with the pages written, 1 on an error (one line `mfa-man: ...`), 2
/// for bad arguments.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let written = page_date().and_then(|date| write_pages(&args.outdir, &date));
    match written {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mfa-man: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes every page into `outdir` (made if missing); returns the files written.
pub fn write_pages(outdir: &Path, date: &str) -> Result<Vec<PathBuf>, ManError> {
    let pages = pages(date)?;
    std::fs::create_dir_all(outdir).map_err(|source| ManError::OutDir {
        path: outdir.to_owned(),
        source,
    })?;
    let mut written = Vec::new();
    for page in pages {
        let path = outdir.join(page.file_name());
        std::fs::write(&path, page.roff).map_err(|source| ManError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// The date the pages carry, `YYYY-MM-DD` in UTC: `SOURCE_DATE_EPOCH` when set (builds are
/// then reproducible), else today.
pub fn page_date() -> Result<String, ManError> {
    let now = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
            .ok_or(ManError::SourceDateEpoch(text))?,
        Err(_) => jiff::Timestamp::now(),
    };
    Ok(now.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
}
