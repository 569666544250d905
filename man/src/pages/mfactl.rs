//! mfactl(8): from the CLI's clap definition, with the README's examples.

use clap::CommandFactory;

use super::{Page, command_examples};
use crate::cli_page::CliPage;
use crate::doc::{Doc, references};
use crate::error::ReadmeError;
use crate::markdown::Markdown;

const EXAMPLES: &str = "#### Admin tool";

pub fn page(readme: &Markdown<'_>, date: &str) -> Result<Page, ReadmeError> {
    let examples = readme.section(EXAMPLES)?;
    let cli = CliPage::new(mfactl::Cli::command(), "8");
    let mut doc = Doc::new("mfactl", "8", date);
    cli.head(&mut doc);
    doc.markdown(
        "Like `faillock`(8), it works on every user the daemon knows. It holds no secrets and \
         decides nothing: each request goes to the privileged socket of `mfa-daemon`(8), \
         which checks the caller's uid again and audits every action with the admin's uid \
         and the user acted on.",
    );
    cli.options(&mut doc);
    cli.commands(&mut doc);

    doc.section("EXIT STATUS");
    doc.item_markdown("0", "Success.");
    doc.item_markdown(
        "1",
        "Any error, said in one line `mfactl: ...` on standard error: not run as root, the \
         daemon cannot be reached or is not who it should be, it refused the request (an \
         unknown account, for one), a reset was not confirmed, or an import refused a user \
         (each user's line says why; the others were imported).",
    );
    doc.item_markdown("2", "Bad arguments.");

    doc.section("ENVIRONMENT");
    cli.environment(&mut doc);
    doc.item_markdown(
        "TZ",
        "The time zone that times are shown in, and that `exempt --until` dates are read in.",
    );

    doc.section("FILES");
    doc.item_markdown(
        "/run/mfa/private/mfa.sock",
        "The daemon's privileged socket (beside `--socket`), the only one mfactl uses.",
    );

    doc.section("EXAMPLES");
    command_examples(&mut doc, examples.code()?);

    doc.section("SEE ALSO");
    doc.paragraph(references(&[
        ("mfa-enroll", "1"),
        ("mfa-daemon", "8"),
        ("pam_mfa", "8"),
        ("mfa.toml", "5"),
        ("faillock", "8"),
    ]));

    Ok(Page {
        name: "mfactl",
        section: "8",
        roff: doc.finish(),
    })
}
