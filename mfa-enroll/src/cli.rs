//! Command-line arguments.

use std::path::PathBuf;

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Parser, Subcommand};

/// Enroll an authenticator app and manage recovery codes through mfa-daemon.
///
/// Answers are read from the terminal, or line by line from standard input when it is not a
/// terminal. Exit status: 0 on success, 1 on any error, 2 for bad arguments.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "mfa-enroll", version)]
pub struct Cli {
    /// The daemon's public socket. Run as root, mfa-enroll uses the privileged socket beside
    /// it instead: `private/` and the same name (e.g. /run/mfa/private/mfa.sock).
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "MFA_SOCKET",
        default_value = mfa_proto::DEFAULT_SOCKET
    )]
    pub socket: PathBuf,

    /// The account mfa-daemon runs as. mfa-enroll talks only to a daemon running as root or
    /// as this user.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        env = "MFA_DAEMON_USER",
        default_value = mfa_proto::DEFAULT_DAEMON_USER,
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub daemon_user: String,

    /// Print each result as one JSON object on its own line; prompts go to stderr.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Enroll an authenticator app (TOTP), replacing any existing one, and get recovery codes.
    ///
    /// Replacing an enrollment needs a current code or a recovery code, unless run by root.
    Totp(UserArg),
    /// Make a new set of recovery codes; the previous set stops working.
    ///
    /// Needs a current code or a recovery code, unless run by root.
    RecoveryCodes(UserArg),
    /// Remove the authenticator app and all recovery codes.
    ///
    /// Needs a current code or a recovery code, unless run by root.
    Remove(UserArg),
    /// Show what is enrolled, how many recovery codes are left, and any lockout.
    Status(UserArg),
    /// Clear every failure counter and lockout of a user (root only).
    Unlock {
        /// The account to unlock.
        #[arg(long, value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
        user: String,
    },
}

/// The account a command acts for.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct UserArg {
    /// Act for this account instead of the calling user (root only).
    #[arg(long, value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub user: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mfa-enroll").chain(args.iter().copied()))
    }

    #[test]
    fn every_subcommand_parses() {
        let cases = [
            (&["totp"][..], Command::Totp(UserArg { user: None })),
            (
                &["recovery-codes", "--user", "bob"][..],
                Command::RecoveryCodes(UserArg {
                    user: Some("bob".into()),
                }),
            ),
            (&["remove"][..], Command::Remove(UserArg { user: None })),
            (&["status"][..], Command::Status(UserArg { user: None })),
            (
                &["unlock", "--user", "carol"][..],
                Command::Unlock {
                    user: "carol".into(),
                },
            ),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args).unwrap().command, want, "{args:?}");
        }
    }

    #[test]
    fn socket_and_json_are_global_and_default() {
        let cli = parse(&["status", "--json", "--socket", "/tmp/x.sock"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.socket, PathBuf::from("/tmp/x.sock"));
        let cli = parse(&["--json", "--socket", "/tmp/y.sock", "totp"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.socket, PathBuf::from("/tmp/y.sock"));
        // MFA_SOCKET is not set by `cargo test`; the default applies.
        if std::env::var_os("MFA_SOCKET").is_none() {
            let cli = parse(&["status"]).unwrap();
            assert!(!cli.json);
            assert_eq!(cli.socket, PathBuf::from(mfa_proto::DEFAULT_SOCKET));
        }
    }

    #[test]
    fn daemon_user_is_global_and_defaults_to_mfa() {
        let cli = parse(&["status", "--daemon-user", "_mfa"]).unwrap();
        assert_eq!(cli.daemon_user, "_mfa");
        let cli = parse(&["--daemon-user", "daemon", "totp"]).unwrap();
        assert_eq!(cli.daemon_user, "daemon");
        if std::env::var_os("MFA_DAEMON_USER").is_none() {
            assert_eq!(parse(&["status"]).unwrap().daemon_user, "mfa");
        }
        assert_eq!(
            parse(&["status", "--daemon-user", ""])
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for args in [
            &[][..],
            &["enroll"][..],
            &["unlock"][..],
            &["unlock", "--user", ""][..],
            &["totp", "--user"][..],
            &["status", "--bogus"][..],
            &["totp", "extra"][..],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
    }

    #[test]
    fn help_and_version_exit_zero() {
        for args in [&["--help"][..], &["totp", "--help"][..], &["--version"][..]] {
            let err = parse(args).unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                ),
                "{args:?}"
            );
            assert_eq!(err.exit_code(), 0, "{args:?}");
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
