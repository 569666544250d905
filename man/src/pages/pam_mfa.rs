//! pam_mfa(8): the synopsis, the options and the PAM examples come from the README's
//! "Module options" and "PAM" sections; the rest is written here.

use clap_mangen::roff::{Inline, bold, italic, roman};

use super::Page;
use crate::doc::{Doc, references};
use crate::error::ReadmeError;
use crate::markdown::{Markdown, code_spans, inlines};

const OPTIONS: &str = "### Module options";
const EXAMPLES: &str = "### PAM";

pub fn page(readme: &Markdown<'_>, date: &str) -> Result<Page, ReadmeError> {
    let options = readme.section(OPTIONS)?;
    let examples = readme.section(EXAMPLES)?;
    let table = options.table()?;
    let mut doc = Doc::new("pam_mfa", "8", date);

    doc.section("NAME");
    doc.paragraph([roman(
        "pam_mfa - PAM module asking for a second factor that mfa-daemon checks",
    )]);

    doc.section("SYNOPSIS");
    doc.paragraph(synopsis(&options.first_code_span()?));

    doc.section("DESCRIPTION");
    doc.markdown(
        "`pam_mfa.so` asks the user for a second factor: a one-time code from an \
         authenticator app (TOTP), a single-use recovery code, a code sent by text message, \
         phone call or email, or a bypass code an administrator issued with `mfactl`(8).",
    );
    doc.markdown(
        "The module holds no secrets and decides nothing. It relays the conversation that \
         `mfa-daemon`(8) drives over a Unix socket \u{2014} the prompts, the menu of phones and \
         addresses, the enrollment offer \u{2014} and turns the daemon's answer into a PAM \
         result. Secrets, attempt limits and the policy (who is asked, from where, how often) \
         live in the daemon and its configuration, `mfa.toml`(5). Before it sends anything, \
         the module checks that the socket's listener runs as root or as `daemon_user`.",
    );
    doc.markdown(
        "Put it after the first factor: after the password modules, as `requisite`, or in \
         sshd behind `AuthenticationMethods publickey,keyboard-interactive`. Users enroll \
         with `mfa-enroll`(1), or at their next login with `policy.unenrolled = \"enroll\"`.",
    );

    doc.section("OPTIONS");
    let names = table.column(OPTIONS, "option")?;
    let meanings = table.column(OPTIONS, "meaning")?;
    for (name, meaning) in names.into_iter().zip(meanings) {
        let tag = code_spans(name)
            .first()
            .map_or_else(|| inlines(name), |code| option(code));
        doc.item(tag, &[inlines(meaning)]);
    }
    doc.blocks(options.after_table());

    doc.section("MODULE TYPES PROVIDED");
    doc.markdown(
        "Only `auth`. `pam_sm_setcred` returns `PAM_SUCCESS`; the account, password and \
         session hooks return `PAM_IGNORE`.",
    );

    doc.section("RETURN VALUES");
    for (code, meaning) in RETURN_VALUES {
        doc.item_markdown(code, meaning);
    }

    doc.section("EXAMPLES");
    doc.blocks(&examples.blocks);
    doc.markdown(
        "To roll out gradually, let users without a factor through until they enroll. \
         `nullok` makes the module return `PAM_IGNORE` for them, so when `pam_mfa.so` is the \
         only `auth` module of a stack (sshd with a key), follow it with `pam_permit.so`:",
    );
    doc.code(&[
        "auth required pam_mfa.so nullok",
        "auth required pam_permit.so",
    ]);
    doc.markdown(
        "On Debian and Ubuntu, `pam-auth-update --enable mfa` adds the module to \
         `/etc/pam.d/common-auth` after the password; installing the package changes no \
         PAM file.",
    );

    doc.section("FILES");
    doc.item_markdown(
        "/run/mfa/mfa.sock",
        "The daemon's public socket, used by callers that do not run as root (screen lockers).",
    );
    doc.item_markdown(
        "/run/mfa/private/mfa.sock",
        "The daemon's privileged socket, which only root can reach: the only one used when \
         the module runs as root (sshd, sudo, login, su).",
    );
    doc.item_markdown(
        "/usr/share/pam-configs/mfa",
        "The `pam-auth-update`(8) profile (Debian): `Default: no`.",
    );

    doc.section("SEE ALSO");
    doc.paragraph(references(&[
        ("mfa-daemon", "8"),
        ("mfa.toml", "5"),
        ("mfa-enroll", "1"),
        ("mfactl", "8"),
        ("pam.conf", "5"),
        ("pam", "8"),
        ("pam-auth-update", "8"),
        ("sshd_config", "5"),
    ]));
    doc.markdown("The README and CONTRACT.md in `/usr/share/doc/pam-mfa/`.");

    Ok(Page {
        name: "pam_mfa",
        section: "8",
        roff: doc.finish(),
    })
}

/// Every code the module returns (`pam_mfa/src/result_code.rs`) and when.
const RETURN_VALUES: [(&str, &str); 11] = [
    (
        "PAM_SUCCESS",
        "The user passed a factor (or a trusted device skipped the prompt).",
    ),
    (
        "PAM_AUTH_ERR",
        "Wrong codes, or an unknown or unenrolled user: the same answer on purpose.",
    ),
    (
        "PAM_MAXTRIES",
        "The user is locked out from this source, or account-wide, for now.",
    ),
    (
        "PAM_IGNORE",
        "The module has no opinion and the rest of the stack decides: `nullok` or \
         `policy.unenrolled = \"allow\"` for a user without a factor, an exempt user or \
         source, a user outside `policy.require_groups`, an enrollment skipped within the \
         grace period, or `failmode=safe` with the daemon absent.",
    ),
    (
        "PAM_PERM_DENIED",
        "The calling process may not authenticate this user.",
    ),
    (
        "PAM_AUTHINFO_UNAVAIL",
        "The daemon is absent (`failmode=secure`), or is there but cannot be used: full \
         listen queue, timeout, a broken or refused conversation, or a listener that is \
         neither root nor `daemon_user`.",
    ),
    (
        "PAM_SYSTEM_ERR",
        "The daemon could not decide safely (for example a full disk), or the module could \
         not read a PAM item or send a request.",
    ),
    (
        "PAM_SERVICE_ERR",
        "An unknown, repeated or malformed module option.",
    ),
    (
        "PAM_CONV_ERR",
        "The application's conversation function failed.",
    ),
    (
        "PAM_USER_UNKNOWN",
        "The application gave an empty user name.",
    ),
    (
        "PAM_INCOMPLETE",
        "`pam_get_user` returned `PAM_CONV_AGAIN`: call again to resume. Other errors of \
         `pam_get_user` are passed on.",
    ),
];

/// `auth required pam_mfa.so [socket=PATH] [nullok]`: the module in bold, each option as
/// [`option`] writes it.
fn synopsis(code: &str) -> Vec<Inline> {
    let mut line = Vec::new();
    for (i, word) in code.split_whitespace().enumerate() {
        if i > 0 {
            line.push(roman(" "));
        }
        match word.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
            Some(opt) => {
                line.push(roman("["));
                line.extend(option(opt));
                line.push(roman("]"));
            }
            None if word.ends_with(".so") => line.push(bold(word)),
            None => line.push(roman(word)),
        }
    }
    line
}

/// `socket=PATH` as **socket=**_PATH_, `failmode=safe` and `nullok` in bold: a value in
/// capitals is a placeholder.
fn option(text: &str) -> Vec<Inline> {
    match text.split_once('=') {
        Some((name, value)) if value.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
            vec![bold(format!("{name}=")), italic(value)]
        }
        _ => vec![bold(text)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_italic_and_choices_bold() {
        assert_eq!(
            synopsis("auth required pam_mfa.so [socket=PATH] [failmode=secure|safe] [debug]"),
            vec![
                roman("auth"),
                roman(" "),
                roman("required"),
                roman(" "),
                bold("pam_mfa.so"),
                roman(" "),
                roman("["),
                bold("socket="),
                italic("PATH"),
                roman("]"),
                roman(" "),
                roman("["),
                bold("failmode=secure|safe"),
                roman("]"),
                roman(" "),
                roman("["),
                bold("debug"),
                roman("]"),
            ]
        );
    }
}
