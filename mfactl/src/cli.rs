//! Command-line arguments.

use clap::builder::NonEmptyStringValueParser;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mfa_enroll::DaemonArgs;

/// Administer mfa-daemon's users. Root only: it talks to the daemon's privileged socket.
///
/// List them, show one, reset one (remove every factor), clear lockouts, exempt one for a
/// while, end the trust of their devices, or issue a bypass code.
///
/// Exit status: 0 on success, 1 on any error, 2 for bad arguments.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "mfactl", version)]
pub struct Cli {
    /// Where the daemon is and whom it runs as (mfactl, run as root, uses the privileged
    /// socket).
    #[command(flatten)]
    pub daemon: DaemonArgs,

    /// Print results as JSON, one object per line.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Every user the daemon has a record for, and every name with failures counted:
    /// factors, recovery codes left, phones and addresses (masked), lockouts.
    List,
    /// One user in detail.
    Show(Target),
    /// Remove every factor of a user: the authenticator app, the recovery codes, every phone
    /// and email address. The user's phones and addresses are told.
    ///
    /// Asks for confirmation on a terminal; without a terminal, only with --yes.
    Reset(ResetArgs),
    /// Clear every failure counter and lockout of a user, or with --source only one source's.
    Unlock(UnlockArgs),
    /// Do not ask a user for a second factor until a date (a lost phone, a trip), or with
    /// --end ask again. Stored in the user's record; audited.
    Exempt(ExemptArgs),
    /// Make every trusted device of a user pass a factor again (policy.remember).
    Forget(Target),
    /// Issue a bypass code for a user who lost their phone: 12 digits, printed once, good
    /// for --uses logins within --valid. Replaces any earlier bypass code of the user; the
    /// daemon keeps only its argon2id hash.
    Bypass(BypassArgs),
    /// Resynchronise a user's HOTP token pressed past its login window (hotp.window): press
    /// it twice and give both codes. The counter is searched 100 codes ahead and moves past
    /// the second code. Audited (never the codes).
    Resync(ResyncArgs),
    /// Import users' factors from google-authenticator-libpam, pam_oath or a PSKC file of
    /// hardware tokens. One line per user: imported, skipped (already enrolled) or refused
    /// with the reason; never a secret. A user who already has a factor is skipped unless
    /// --replace, so a second run changes nothing. Exit status 1 if any user was refused.
    #[command(subcommand)]
    Import(ImportFrom),
}

/// Where `import` reads from.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ImportFrom {
    /// Each user's ~/.google_authenticator: the secret, TOTP (its step and WINDOW_SIZE) or
    /// HOTP (its counter), and the scratch codes, which become recovery codes. The file must
    /// be the user's own, not a symbolic link, not writable by group or others, at most
    /// 64 KiB. DISALLOW_REUSE is always in force here; RATE_LIMIT is not kept (the daemon's
    /// limits apply).
    #[command(name = "google-authenticator")]
    GoogleAuthenticator(GoogleAuthenticatorArgs),
    /// pam_oath's users file (e.g. /etc/users.oath): HOTP lines become HOTP tokens with their
    /// counter, HOTP/T30 and HOTP/T60 lines authenticator apps. A user with a PIN is refused.
    /// The file must be root's, not a symbolic link, not writable by group or others.
    Oath(OathArgs),
    /// An RFC 6030 PSKC file of hardware tokens (plain or pre-shared-key encrypted, HOTP or
    /// TOTP); each --assign gives one token to one user.
    Pskc(PskcArgs),
}

/// What every import takes.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ImportOptions {
    /// Check everything and say what would be imported; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import users who already have a factor too: apps and tokens of the same label are
    /// replaced, and the recovery codes when the import has codes.
    #[arg(long)]
    pub replace: bool,
}

/// `import google-authenticator`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[group(id = "who", required = true, multiple = false)]
pub struct GoogleAuthenticatorArgs {
    /// The users whose ~/.google_authenticator to import.
    #[arg(value_name = "USER", group = "who", value_parser = NonEmptyStringValueParser::new())]
    pub users: Vec<String>,
    /// Every user in /etc/passwd whose home has a .google_authenticator.
    #[arg(long, group = "who")]
    pub all: bool,
    #[command(flatten)]
    pub options: ImportOptions,
}

/// `import oath`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct OathArgs {
    /// pam_oath's users file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub options: ImportOptions,
}

/// `import pskc`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct PskcArgs {
    /// The PSKC file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Gives the token with this serial number (its Key Id when it has none) to USER; one
    /// per token.
    #[arg(long, value_name = "SERIAL=USER", required = true, value_parser = parse_assign)]
    pub assign: Vec<(String, String)>,
    /// The pre-shared key of encrypted secrets: 32 hex digits, or the 16 bytes themselves.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    #[command(flatten)]
    pub options: ImportOptions,
}

/// `SERIAL=USER`, both non-empty.
fn parse_assign(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((serial, user)) if !serial.is_empty() && !user.is_empty() => {
            Ok((serial.to_owned(), user.to_owned()))
        }
        _ => Err(format!("`{text}` is not SERIAL=USER")),
    }
}

/// `resync`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ResyncArgs {
    /// The account.
    #[arg(value_name = "USER", value_parser = NonEmptyStringValueParser::new())]
    pub user: String,
    /// A code from the token.
    #[arg(value_name = "CODE1", value_parser = parse_code)]
    pub first: String,
    /// The code the token showed next.
    #[arg(value_name = "CODE2", value_parser = parse_code)]
    pub second: String,
    /// Which token, when the user has more than one.
    #[arg(long, value_name = "LABEL", value_parser = NonEmptyStringValueParser::new())]
    pub label: Option<String>,
}

/// An HOTP code: 6 to 8 digits.
fn parse_code(text: &str) -> Result<String, String> {
    if (6..=8).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err("must be a code of 6 to 8 digits".to_owned())
    }
}

/// `bypass`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct BypassArgs {
    #[command(flatten)]
    pub target: Target,
    /// How many logins the code allows (1 to 10).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=10))]
    pub uses: u8,
    /// How long the code works: e.g. 30m, 4h, 2d (at most 7d).
    #[arg(long, value_name = "DURATION", default_value = "4h", value_parser = parse_valid)]
    pub valid: u64,
}

/// Longest `--valid`, in seconds.
const MAX_VALID_SECS: u64 = 7 * 86_400;

/// A validity as seconds, 1 s to 7 days.
fn parse_valid(text: &str) -> Result<u64, String> {
    let secs = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}): write e.g. 30m, 4h or 2d"))?
        .as_secs();
    if !(1..=MAX_VALID_SECS).contains(&secs) {
        return Err(format!("`{text}` must be from 1s to 7d"));
    }
    Ok(secs)
}

/// `exempt`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[group(id = "when", required = true, multiple = false)]
pub struct ExemptArgs {
    #[command(flatten)]
    pub target: Target,
    /// When the exemption ends: a date (`2026-12-01`, midnight local time) or a time
    /// (`2026-12-01T14:00:00Z`, `2026-12-01 14:00`).
    #[arg(long, value_name = "WHEN", group = "when", value_parser = parse_until)]
    pub until: Option<u64>,
    /// End the user's exemption now.
    #[arg(long, group = "when")]
    pub end: bool,
}

/// A date or a time, as Unix seconds.
fn parse_until(text: &str) -> Result<u64, String> {
    let tz = jiff::tz::TimeZone::system();
    let when = if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        ts
    } else if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        dt.to_zoned(tz).map_err(|e| e.to_string())?.timestamp()
    } else if let Ok(date) = text.parse::<jiff::civil::Date>() {
        date.to_zoned(tz).map_err(|e| e.to_string())?.timestamp()
    } else {
        return Err(format!(
            "`{text}` is not a date or a time: write e.g. 2026-12-01 or 2026-12-01T14:00:00Z"
        ));
    };
    u64::try_from(when.as_second()).map_err(|_| format!("`{text}` is before 1970"))
}

/// The user a command acts on.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Target {
    /// The account (any spelling NSS knows, or a name only counted in failures).
    #[arg(value_name = "USER", value_parser = NonEmptyStringValueParser::new())]
    pub user: String,
}

/// `reset`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub target: Target,
    /// Do not ask for confirmation (needed when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// `unlock`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub target: Target,
    /// Clear only this source, as `show` lists it (a remote host, `service:tty` or `uid:N`);
    /// the account-wide counter then stays.
    #[arg(long, value_name = "SOURCE", value_parser = NonEmptyStringValueParser::new())]
    pub source: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mfactl").chain(args.iter().copied()))
    }

    fn target(user: &str) -> Target {
        Target { user: user.into() }
    }

    #[test]
    fn every_subcommand_parses() {
        let cases = [
            (&["list"][..], Command::List),
            (
                &["bypass", "alice"][..],
                Command::Bypass(BypassArgs {
                    target: target("alice"),
                    uses: 1,
                    valid: 4 * 3600,
                }),
            ),
            (
                &["bypass", "alice", "--uses", "3", "--valid", "2d"][..],
                Command::Bypass(BypassArgs {
                    target: target("alice"),
                    uses: 3,
                    valid: 2 * 86_400,
                }),
            ),
            (&["show", "alice"][..], Command::Show(target("alice"))),
            (
                &["show", "CORP\\alice"][..],
                Command::Show(target("CORP\\alice")),
            ),
            (
                &["reset", "bob"][..],
                Command::Reset(ResetArgs {
                    target: target("bob"),
                    yes: false,
                }),
            ),
            (
                &["reset", "--yes", "bob"][..],
                Command::Reset(ResetArgs {
                    target: target("bob"),
                    yes: true,
                }),
            ),
            (
                &["reset", "bob", "-y"][..],
                Command::Reset(ResetArgs {
                    target: target("bob"),
                    yes: true,
                }),
            ),
            (
                &["unlock", "carol"][..],
                Command::Unlock(UnlockArgs {
                    target: target("carol"),
                    source: None,
                }),
            ),
            (
                &["unlock", "carol", "--source", "192.0.2.7"][..],
                Command::Unlock(UnlockArgs {
                    target: target("carol"),
                    source: Some("192.0.2.7".into()),
                }),
            ),
            (
                &["unlock", "--source", "sudo:/dev/pts/3", "carol"][..],
                Command::Unlock(UnlockArgs {
                    target: target("carol"),
                    source: Some("sudo:/dev/pts/3".into()),
                }),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args).unwrap().command, want, "{args:?}");
        }
    }

    #[test]
    fn exempt_takes_a_date_a_time_or_end_and_forget_a_user() {
        let Command::Exempt(args) = parse(&["exempt", "dave", "--until", "2026-12-01T00:00:00Z"])
            .unwrap()
            .command
        else {
            panic!("not exempt")
        };
        assert_eq!(args.until, Some(1_796_083_200));
        assert!(!args.end);
        let Command::Exempt(args) = parse(&["exempt", "dave", "--end"]).unwrap().command else {
            panic!("not exempt")
        };
        assert!(args.end && args.until.is_none());
        assert!(parse(&["exempt", "dave", "--until", "2026-12-01"]).is_ok());
        for bad in [
            &["exempt", "dave"][..],
            &["exempt", "dave", "--until", "soon"][..],
            &["exempt", "dave", "--until", "2026-12-01", "--end"][..],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse(&["forget", "erin"]).unwrap().command,
            Command::Forget(target("erin"))
        );
    }

    #[test]
    fn json_socket_and_daemon_user_are_global() {
        let cli = parse(&["list", "--json", "--socket", "/tmp/x.sock"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.daemon.socket, std::path::PathBuf::from("/tmp/x.sock"));
        let cli = parse(&["--json", "--daemon-user", "_mfa", "show", "alice"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.daemon.daemon_user, "_mfa");
        if std::env::var_os("MFA_SOCKET").is_none() && std::env::var_os("MFA_DAEMON_USER").is_none()
        {
            let cli = parse(&["list"]).unwrap();
            assert!(!cli.json);
            assert_eq!(
                cli.daemon.socket,
                std::path::PathBuf::from(mfa_proto::DEFAULT_SOCKET)
            );
            assert_eq!(cli.daemon.daemon_user, mfa_proto::DEFAULT_DAEMON_USER);
        }
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for args in [
            &[][..],
            &["lsit"][..],
            &["list", "alice"][..],
            &["show"][..],
            &["show", ""][..],
            &["show", "alice", "bob"][..],
            &["reset"][..],
            &["reset", "--yes"][..],
            &["reset", "bob", "--force"][..],
            &["unlock"][..],
            &["unlock", "carol", "--source"][..],
            &["unlock", "carol", "--source", ""][..],
            &["list", "--daemon-user", ""][..],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
    }

    #[test]
    fn import_takes_users_or_all_and_pskc_needs_an_assignment() {
        let Command::Import(ImportFrom::GoogleAuthenticator(ga)) = parse(&[
            "import",
            "google-authenticator",
            "alice",
            "bob",
            "--dry-run",
        ])
        .unwrap()
        .command
        else {
            panic!("not a google-authenticator import")
        };
        assert_eq!(ga.users, ["alice", "bob"]);
        assert!(ga.options.dry_run && !ga.options.replace && !ga.all);
        assert!(parse(&["import", "google-authenticator", "--all", "--replace"]).is_ok());
        let Command::Import(ImportFrom::Pskc(pskc)) = parse(&[
            "import",
            "pskc",
            "t.xml",
            "--assign",
            "987654321=carol",
            "--key-file",
            "k",
        ])
        .unwrap()
        .command
        else {
            panic!("not a pskc import")
        };
        assert_eq!(pskc.assign, [("987654321".to_owned(), "carol".to_owned())]);
        for bad in [
            &["import", "google-authenticator"][..],
            &["import", "google-authenticator", "alice", "--all"][..],
            &["import", "oath"][..],
            &["import", "pskc", "t.xml"][..],
            &["import", "pskc", "t.xml", "--assign", "carol"][..],
            &["import", "pskc", "t.xml", "--assign", "=carol"][..],
        ] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn help_and_version_exit_zero() {
        for args in [
            &["--help"][..],
            &["reset", "--help"][..],
            &["unlock", "--help"][..],
            &["--version"][..],
        ] {
            let err = parse(args).unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                ),
                "{args:?}"
            );
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
