//! The seven pages, each in its own file.

mod mfa_daemon;
mod mfa_enroll;
mod mfa_radius;
mod mfa_toml;
mod mfa_web;
mod mfactl;
mod pam_mfa;

use clap_mangen::roff::bold;

use crate::doc::Doc;
use crate::error::ManError;
use crate::markdown::{Markdown, inlines};

pub use mfa_toml::EXAMPLE as EXAMPLE_CONFIG;

/// The README the module's and the config file's pages, and the CLIs' examples, come from.
pub const README: &str = include_str!("../../../README.md");

/// One page: its file name (`pam_mfa.8`) and its roff text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The page's name, e.g. `pam_mfa`.
    pub name: &'static str,
    /// Its manual section, e.g. `8`.
    pub section: &'static str,
    /// The roff source.
    pub roff: String,
}

impl Page {
    /// The file it is installed as, e.g. `pam_mfa.8`.
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.name, self.section)
    }
}

/// Every page, dated `date` (`YYYY-MM-DD`).
pub fn pages(date: &str) -> Result<Vec<Page>, ManError> {
    let readme = Markdown::new(README);
    Ok(vec![
        pam_mfa::page(&readme, date)?,
        mfa_daemon::page(date),
        mfa_web::page(date),
        mfa_radius::page(date),
        mfa_enroll::page(&readme, date)?,
        mfactl::page(&readme, date)?,
        mfa_toml::page(&readme, date)?,
    ])
}

/// The README's commented command lines (`mfa-enroll status   # apps, phones, ...`) as
/// tagged paragraphs: the command in bold, the comment below it.
fn command_examples(doc: &mut Doc, lines: &[String]) {
    for line in lines {
        let (command, comment) = line.split_once(" # ").unwrap_or((line, ""));
        doc.item([bold(command.trim())], &[inlines(comment.trim())]);
    }
}
