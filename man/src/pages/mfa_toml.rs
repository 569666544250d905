//! mfa.toml(5): every key from the README's "Daemon configuration" table, grouped by TOML
//! table; the rest is written here.

use clap_mangen::roff::{Inline, bold, roman};

use super::Page;
use crate::doc::{Doc, references};
use crate::error::ReadmeError;
use crate::markdown::{Markdown, code_spans, inlines};

const KEYS: &str = "### Daemon configuration";

/// The example in EXAMPLES; the tests check it with `mfa-daemon --check-config`, with the
/// credential files in `$CREDENTIALS_DIRECTORY`.
pub const EXAMPLE: &str = r#"issuer = "example.com"

[limits]
max_failures = 5
lockout = "1m"

[otp]
allowed_domains = ["example.com"]

[sms]
provider = "twilio"

[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token_file = "twilio-token"    # LoadCredential=twilio-token:...
from = "+14155550100"

[email]
smtp_host = "smtp.example.com"
username = "mfa"
password_file = "smtp-password"
from = "MFA <mfa@example.com>"

[policy]
unenrolled = "enroll"
grace_period = "7d"
exempt_sources = ["192.0.2.0/24"]
remember = "12h"

[[policy.rule]]
groups = ["adm"]
unenrolled = "deny"
remember = "0s"
"#;

pub fn page(readme: &Markdown<'_>, date: &str) -> Result<Page, ReadmeError> {
    let section = readme.section(KEYS)?;
    let table = section.table()?;
    let mut doc = Doc::new("mfa.toml", "5", date);

    doc.section("NAME");
    doc.paragraph([roman("mfa.toml - configuration file of mfa-daemon")]);

    doc.section("SYNOPSIS");
    doc.paragraph([bold("/etc/mfa/config.toml")]);

    doc.section("DESCRIPTION");
    doc.markdown(
        "`mfa-daemon`(8) reads its policy, limits and delivery providers from a TOML file, \
         `/etc/mfa/config.toml` unless `--config` names another. Every key is optional: a \
         missing key, or a missing default file, means the default below. Unknown keys and \
         values out of range are errors; the message names the file, the line, the key and \
         what is wrong.",
    );
    doc.markdown(
        "`mfa-daemon --check-config FILE` checks a file before it is put in force. \
         `systemctl reload mfa-daemon` (SIGHUP) puts a changed file in force for every \
         conversation that starts from then on, without dropping a login; a file with an \
         error is refused and the running configuration stays. Changing `socket` or \
         `state_dir` needs a restart.",
    );
    doc.markdown(
        "Durations are strings such as `\"90s\"`, `\"15m\"`, `\"1h\"` or `\"7d\"`. A key \
         written `table.key` below is `key` in the TOML table `[table]`.",
    );

    doc.section("KEYS");
    let keys = table.column(KEYS, "key")?;
    let defaults = table.column(KEYS, "default")?;
    let meanings = table.column(KEYS, "meaning")?;
    let mut group = None;
    for ((key, default), meaning) in keys.into_iter().zip(defaults).zip(meanings) {
        let names = code_spans(key);
        let this_group = names.first().map(|name| table_of(name));
        if this_group.is_some() && this_group != group {
            doc.subsection(this_group.as_deref().unwrap_or_default());
            group = this_group;
        }
        doc.item(key_tag(key, default), &[inlines(meaning)]);
    }

    let after = section.after_table();
    if !after.is_empty() {
        doc.section("SOURCES AND LOCKOUTS");
        doc.blocks(after);
    }

    doc.section("CREDENTIAL FILES");
    doc.markdown(
        "Provider secrets (`twilio.auth_token_file`, `webhook.secret_file`, \
         `email.password_file`) are never written in this file. Each names a regular file of \
         one line, at most 64 KiB, whose mode has no group or other bits (0600 or 0400), \
         owned by root or by the daemon's user; otherwise the daemon does not start and \
         `--check-config` names the file. `store.url_file` and `store.key_file` are checked \
         the same way. A relative \
         name is read from `$CREDENTIALS_DIRECTORY`, where systemd's `LoadCredential=` puts \
         it, so the file under `/etc/mfa` can stay root's alone.",
    );
    doc.markdown(
        "Each `[[radius.client]]`'s `secret_file` is read by `mfa-radius`(8) alone, never \
         by the daemon: a regular file (not a symlink) of 16 to 128 bytes, one trailing \
         newline aside, owned by root or `radius.user`, mode 0600 or 0400. A relative name is \
         read from `mfa-radius.service`'s `$CREDENTIALS_DIRECTORY` (`LoadCredential=` in a \
         drop-in).",
    );
    doc.markdown(
        "Plain `http://` URLs and `email.tls = \"none\"` carry the credentials and the codes \
         in clear, so they are refused except to loopback (127.0.0.0/8, ::1, `localhost`) on a \
         port below the sysctl `net.ipv4.ip_unprivileged_port_start` (normally 1024), read at \
         start, on reload and by `--check-config`: a higher port can be bound by any local user \
         while the relay is down. Use TLS, or run a local relay on a privileged port. \
         `insecure_loopback_plaintext_for_tests = true` in `[twilio]`, `[webhook]` or \
         `[email]` lifts the port rule for test stand-ins; never set it on a real host (the \
         daemon warns at every start).",
    );

    doc.section("EXAMPLES");
    doc.markdown(
        "Codes by text message through Twilio and by email, enrollment at the next login with \
         a week's grace, no prompt from the office network, devices trusted for 12 hours \
         except for members of adm (a group Debian and RHEL both have: `--check-config` refuses a group NSS does not know):",
    );
    doc.code(&EXAMPLE.lines().collect::<Vec<_>>());
    doc.markdown("with, in the unit (`systemctl edit mfa-daemon`):");
    doc.code(&[
        "[Service]",
        "LoadCredential=twilio-token:/etc/mfa/twilio-token",
        "LoadCredential=smtp-password:/etc/mfa/smtp-password",
    ]);

    doc.section("FILES");
    doc.item_markdown(
        "/etc/mfa/config.toml",
        "The configuration. The package installs it with every key at its built-in default, \
         each explained in a comment.",
    );
    doc.item_markdown(
        "/var/lib/mfa",
        "The daemon's state (`state_dir`): one record per user, failure counts and lockouts.",
    );

    doc.section("SEE ALSO");
    doc.paragraph(references(&[
        ("mfa-daemon", "8"),
        ("pam_mfa", "8"),
        ("mfactl", "8"),
        ("mfa-enroll", "1"),
        ("mfa-web", "8"),
        ("mfa-radius", "8"),
        ("systemd.exec", "5"),
    ]));

    Ok(Page {
        name: "mfa.toml",
        section: "5",
        roff: doc.finish(),
    })
}

/// The TOML table a key is in: `[totp]` for `totp.digits`, `[policy]` for
/// `[[policy.rule]]` (an array of tables inside it).
fn table_of(key: &str) -> String {
    let key = key.trim_start_matches('[');
    key.split_once('.')
        .map_or_else(|| "Top level".to_owned(), |(table, _)| format!("[{table}]"))
}

/// `totp.digits (default: 6)`: the keys of a row in bold, and the default when it has one.
fn key_tag(key: &str, default: &str) -> Vec<Inline> {
    let mut tag = inlines(key);
    let default = default.trim();
    if !default.is_empty() && default != "\u{2014}" {
        tag.push(roman(" (default: "));
        tag.extend(inlines(default));
        tag.push(roman(")"));
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_grouped_by_their_table() {
        assert_eq!(table_of("socket"), "Top level");
        assert_eq!(table_of("otp.send_timeout"), "[otp]");
        assert_eq!(table_of("[[policy.rule]]"), "[policy]");
    }

    #[test]
    fn a_default_is_shown_unless_there_is_none() {
        assert_eq!(
            key_tag("`totp.digits`", "`6`"),
            vec![
                bold("totp.digits"),
                roman(" (default: "),
                bold("6"),
                roman(")")
            ]
        );
        assert_eq!(
            key_tag("`email.from`", "\u{2014}"),
            vec![bold("email.from")]
        );
    }
}
