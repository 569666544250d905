//! mfa-enroll(1): from the CLI's clap definition, with the README's examples.

use clap::CommandFactory;

use super::{Page, command_examples};
use crate::cli_page::CliPage;
use crate::doc::{Doc, references};
use crate::error::ReadmeError;
use crate::markdown::Markdown;

const EXAMPLES: &str = "### Enrolling and managing factors";

pub fn page(readme: &Markdown<'_>, date: &str) -> Result<Page, ReadmeError> {
    let examples = readme.section(EXAMPLES)?;
    let cli = CliPage::new(mfa_enroll::Cli::command(), "1");
    let mut doc = Doc::new("mfa-enroll", "1", date);
    cli.head(&mut doc);
    doc.markdown(
        "The tool holds no secrets and decides nothing: each request goes to `mfa-daemon`(8), \
         which checks who is asking by the caller's uid. Root may act for any user with \
         `--user`; anyone else only for themselves.",
    );
    cli.options(&mut doc);
    cli.commands(&mut doc);

    doc.section("EXIT STATUS");
    doc.item_markdown("0", "Success.");
    doc.item_markdown(
        "1",
        "Any error, said in one line `mfa-enroll: ...` on standard error: the daemon cannot \
         be reached or is not who it should be, it refused the request, or an answer was \
         empty or missing.",
    );
    doc.item_markdown("2", "Bad arguments.");

    doc.section("ENVIRONMENT");
    cli.environment(&mut doc);
    doc.item_markdown(
        "TZ",
        "The time zone that lockout ends and other times are shown in.",
    );

    doc.section("FILES");
    doc.item_markdown(
        "/run/mfa/mfa.sock",
        "The daemon's public socket, used when not run as root.",
    );
    doc.item_markdown(
        "/run/mfa/private/mfa.sock",
        "The daemon's privileged socket, used when run as root.",
    );

    doc.section("EXAMPLES");
    command_examples(&mut doc, examples.code()?);

    doc.section("SEE ALSO");
    doc.paragraph(references(&[
        ("mfactl", "8"),
        ("mfa-daemon", "8"),
        ("pam_mfa", "8"),
        ("mfa.toml", "5"),
    ]));

    Ok(Page {
        name: "mfa-enroll",
        section: "1",
        roff: doc.finish(),
    })
}
