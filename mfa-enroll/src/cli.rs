//! Command-line arguments.

use std::path::PathBuf;

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Parser, Subcommand};

/// Enroll an authenticator app or a passkey, phones and email addresses, and manage recovery
/// codes through mfa-daemon.
///
/// Answers are read from the terminal, or line by line from standard input when it is not a
/// terminal. Exit status: 0 on success, 1 on any error, 2 for bad arguments.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "mfa-enroll", version)]
pub struct Cli {
    /// Where the daemon is and whom it runs as.
    #[command(flatten)]
    pub daemon: DaemonArgs,

    /// Print each result as one JSON object on its own line; prompts go to stderr.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How mfa-enroll and mfactl find the daemon and know it is the real one.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DaemonArgs {
    /// The daemon's public socket. Run as root, the tools use the privileged socket beside it
    /// instead: `private/` and the same name (e.g. /run/mfa/private/mfa.sock).
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "MFA_SOCKET",
        default_value = mfa_proto::DEFAULT_SOCKET
    )]
    pub socket: PathBuf,

    /// The account mfa-daemon runs as. The tools talk only to a daemon running as root or as
    /// this user.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        env = "MFA_DAEMON_USER",
        default_value = mfa_proto::DEFAULT_DAEMON_USER,
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub daemon_user: String,
}

/// The subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Enroll an authenticator app (TOTP) and get recovery codes.
    ///
    /// Each app has a label (`app` unless --label is given): a new label adds an app beside
    /// the others (up to the daemon's policy.max_authenticators), an existing label replaces
    /// that app. A user who already has a factor needs a current code or a recovery code,
    /// unless run by root.
    Totp(TotpArgs),
    /// Enroll a soft HOTP token (counter-based codes, RFC 4226) and get recovery codes.
    ///
    /// Shows an otpauth://hotp/ URI and its QR code for an app that makes counter-based
    /// codes; the token is stored once its first code is typed back. Each token has a label
    /// (`hotp` unless --label is given); an existing label replaces that token. A user who
    /// already has a factor needs a current code or a recovery code, unless run by root.
    Hotp(HotpArgs),
    /// Add a phone number that can receive codes by text message or phone call.
    ///
    /// NUMBER is in international (E.164) form: a plus sign, the country code and the
    /// number, digits only, with no spaces or dashes, e.g. +14155550123 for (415) 555-0123 in
    /// the US. A code is sent to the number and it is saved only once that code is typed
    /// back here, unless root adds it with --unverified.
    ///
    /// Needs a current code or a recovery code if a factor is already enrolled, unless run
    /// by root.
    Phone(PhoneArgs),
    /// Add an email address that can receive codes.
    ///
    /// A code is sent to the address and it is saved only once that code is typed back here,
    /// unless root adds it with --unverified.
    ///
    /// Needs a current code or a recovery code if a factor is already enrolled, unless run
    /// by root.
    Email(EmailArgs),
    /// Add a passkey: the phone's fingerprint, face or screen lock, or a security key.
    ///
    /// Prints a one-time link, and its QR code on a terminal, to open on the phone (or in
    /// this computer's browser, for a security key). The link works once, for 10 minutes,
    /// and only while this command waits; the command ends when the passkey is stored. A
    /// new label adds a passkey (up to the daemon's policy.max_authenticators, which counts
    /// apps and passkeys together), an existing label replaces that passkey. Needs the
    /// daemon's [web] pages.
    ///
    /// Needs a current code or a recovery code if a factor is already enrolled, unless run
    /// by root.
    Passkey(PasskeyArgs),
    /// Make a new set of recovery codes; the previous set stops working.
    ///
    /// Needs a current code or a recovery code, unless run by root.
    RecoveryCodes(UserArg),
    /// Remove one authenticator app, passkey, phone number or email address, or (root)
    /// everything.
    ///
    /// Alone, removes every app and passkey, all recovery codes and every phone number and
    /// email address:
    /// only root may do that, since the daemon's policy.min_factors is at least 1. A user may
    /// remove one factor while at least policy.min_factors remain. Needs a current code or a
    /// recovery code, unless run by root.
    #[command(
        subcommand_value_name = "totp|hotp|passkey|phone|email",
        subcommand_help_heading = "Remove only one"
    )]
    Remove(RemoveArgs),
    /// Make, list or remove app passwords, for programs that cannot ask for a code (mail
    /// clients, scripts over sftp, old VPN clients).
    ///
    /// An app password replaces the password and the second factor on the services it is
    /// for, where the administrator allows app passwords (policy.app_passwords) and the PAM
    /// line has the module option app_password. It is shown once; only its hash is kept.
    /// Making or removing one needs a current code or a recovery code, unless run by root.
    #[command(subcommand)]
    AppPassword(AppPasswordCommand),
    /// Show what is enrolled, how many recovery codes are left, and any lockout.
    Status(UserArg),
    /// List the devices that may skip the prompt for now (the daemon's policy.remember).
    Devices(UserArg),
    /// Make every trusted device pass a factor again at its next login.
    ///
    /// Needs a current code or a recovery code, unless run by root.
    Forget(UserArg),
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
    // Global so that `remove phone work --user bob` reads as well as
    // `remove --user bob phone work`.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub user: Option<String>,
}

/// `app-password`: what to do with app passwords.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AppPasswordCommand {
    /// Make a new app password and show it once.
    Add(AppPasswordAddArgs),
    /// List the app passwords (label, services, made, expires, last used; never the
    /// password).
    List(UserArg),
    /// Remove one app password: programs using it can no longer log in.
    Remove(AppPasswordRemoveArgs),
}

/// `app-password add`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct AppPasswordAddArgs {
    /// Its name, e.g. `thunderbird`: 1 to 32 letters, digits, dots, dashes or underscores.
    #[arg(value_parser = parse_label)]
    pub label: String,
    /// The PAM services it works on, comma-separated (e.g. `sshd,dovecot`). Default: every
    /// service where the administrator allows app passwords.
    #[arg(long, value_name = "SERVICE,...", value_delimiter = ',', value_parser = NonEmptyStringValueParser::new())]
    pub services: Vec<String>,
    /// It stops working after this long, e.g. 90d, 12h or 1y (at most 5 years). Default:
    /// it does not expire.
    #[arg(long, value_name = "DURATION", value_parser = parse_expires)]
    pub expires: Option<u64>,
    #[command(flatten)]
    pub target: UserArg,
}

/// `app-password remove`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct AppPasswordRemoveArgs {
    /// Its label, as `app-password list` shows it.
    #[arg(value_parser = parse_label)]
    pub label: String,
    #[command(flatten)]
    pub target: UserArg,
}

/// Longest `--expires`, in seconds (the daemon's limit too).
const MAX_EXPIRES_SECS: u64 = 5 * 366 * 86_400;

/// An app password's life as seconds, 1 s to 5 years.
fn parse_expires(text: &str) -> Result<u64, String> {
    let secs = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}): write e.g. 90d, 12h or 1y"))?
        .as_secs();
    if !(1..=MAX_EXPIRES_SECS).contains(&secs) {
        return Err(format!("`{text}` must be from 1s to 5 years"));
    }
    Ok(secs)
}

/// `totp`: an app to enroll.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct TotpArgs {
    /// The app's name, e.g. `phone2`: 1 to 32 letters, digits, dots, dashes or underscores.
    /// Default: `app`.
    #[arg(long, value_name = "LABEL", value_parser = parse_label)]
    pub label: Option<String>,
    #[command(flatten)]
    pub target: UserArg,
}

/// `hotp`: a soft token to enroll.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct HotpArgs {
    /// The token's name, e.g. `yubikey`: 1 to 32 letters, digits, dots, dashes or
    /// underscores. Default: `hotp`.
    #[arg(long, value_name = "LABEL", value_parser = parse_label)]
    pub label: Option<String>,
    /// Code length.
    #[arg(long, value_name = "6|8", default_value_t = 6, value_parser = parse_digits)]
    pub digits: u8,
    #[command(flatten)]
    pub target: UserArg,
}

/// `passkey`: a passkey to add.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct PasskeyArgs {
    /// The passkey's name, e.g. `iphone` or `yubikey`: 1 to 32 letters, digits, dots, dashes
    /// or underscores. Default: `passkey`.
    #[arg(long, value_name = "LABEL", value_parser = parse_label)]
    pub label: Option<String>,
    #[command(flatten)]
    pub target: UserArg,
}

/// An HOTP code length: 6 or 8, what hardware tokens make.
fn parse_digits(text: &str) -> Result<u8, String> {
    match text {
        "6" => Ok(6),
        "8" => Ok(8),
        _ => Err(format!("must be 6 or 8, got {text:?}")),
    }
}

/// An app label as the daemon accepts it.
fn parse_label(text: &str) -> Result<String, String> {
    match mfa_core_label_problem(text) {
        Some(problem) => Err(problem),
        None => Ok(text.to_owned()),
    }
}

/// The daemon's rule for app labels (mfa-core's `label_problem`, which this crate does not
/// link: it carries argon2 and the rest of the decisions).
fn mfa_core_label_problem(label: &str) -> Option<String> {
    const MAX: usize = 32;
    let fine = !label.is_empty()
        && label.len() <= MAX
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    (!fine).then(|| format!("must be 1 to {MAX} letters, digits, dots, dashes or underscores"))
}

/// `phone`: a number to add.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct PhoneArgs {
    /// The number in E.164 form, e.g. +14155550123.
    #[arg(value_name = "NUMBER", value_parser = NonEmptyStringValueParser::new())]
    pub number: String,
    /// Only call this number, never text it: for landlines and office phones that cannot
    /// receive text messages. The code is read out in a phone call.
    #[arg(long)]
    pub voice_only: bool,
    #[command(flatten)]
    pub contact: ContactArgs,
}

/// `email`: an address to add.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct EmailArgs {
    /// The address, e.g. alice@example.com.
    #[arg(value_name = "ADDRESS", value_parser = NonEmptyStringValueParser::new())]
    pub address: String,
    #[command(flatten)]
    pub contact: ContactArgs,
}

/// What `phone` and `email` share.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ContactArgs {
    /// A name for it, e.g. `work`, shown by `status` and usable with `remove`.
    #[arg(long, value_name = "TEXT", value_parser = NonEmptyStringValueParser::new())]
    pub label: Option<String>,
    /// Save it at once without sending a code (root only, e.g. to provision many users).
    /// Nothing then shows that codes reach it.
    #[arg(long)]
    pub unverified: bool,
    #[command(flatten)]
    pub target: UserArg,
}

/// `remove`: everything, or one factor.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RemoveArgs {
    /// Remove only this app, passkey, phone number or email address; without it, every factor.
    #[command(subcommand)]
    pub contact: Option<RemovedContact>,
    #[command(flatten)]
    pub target: UserArg,
}

/// One factor for `remove`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum RemovedContact {
    /// Remove one authenticator app, by its label as `status` shows it.
    Totp {
        /// The app's label.
        #[arg(value_name = "LABEL", value_parser = NonEmptyStringValueParser::new())]
        label: String,
    },
    /// Remove one HOTP token, by its label as `status` shows it.
    Hotp {
        /// The token's label.
        #[arg(value_name = "LABEL", value_parser = NonEmptyStringValueParser::new())]
        label: String,
    },
    /// Remove one passkey, by its label as `status` shows it.
    Passkey {
        /// The passkey's label.
        #[arg(value_name = "LABEL", value_parser = NonEmptyStringValueParser::new())]
        label: String,
    },
    /// Remove one phone number: by label, masked form as `status` shows it, or full number.
    Phone {
        /// Label, masked form (quoted) or full number.
        #[arg(value_name = "LABEL-OR-MASK", value_parser = NonEmptyStringValueParser::new())]
        which: String,
    },
    /// Remove one email address: by label, masked form as `status` shows it, or full address.
    Email {
        /// Label, masked form (quoted) or full address.
        #[arg(value_name = "LABEL-OR-MASK", value_parser = NonEmptyStringValueParser::new())]
        which: String,
    },
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
            (
                &["totp"][..],
                Command::Totp(TotpArgs {
                    label: None,
                    target: UserArg { user: None },
                }),
            ),
            (
                &["totp", "--label", "phone2"][..],
                Command::Totp(TotpArgs {
                    label: Some("phone2".into()),
                    target: UserArg { user: None },
                }),
            ),
            (
                &["remove", "totp", "phone2"][..],
                Command::Remove(RemoveArgs {
                    contact: Some(RemovedContact::Totp {
                        label: "phone2".into(),
                    }),
                    target: UserArg { user: None },
                }),
            ),
            (
                &["recovery-codes", "--user", "bob"][..],
                Command::RecoveryCodes(UserArg {
                    user: Some("bob".into()),
                }),
            ),
            (
                &["remove"][..],
                Command::Remove(RemoveArgs {
                    contact: None,
                    target: UserArg { user: None },
                }),
            ),
            (
                &["remove", "--user", "bob"][..],
                Command::Remove(RemoveArgs {
                    contact: None,
                    target: UserArg {
                        user: Some("bob".into()),
                    },
                }),
            ),
            (
                &["passkey"][..],
                Command::Passkey(PasskeyArgs {
                    label: None,
                    target: UserArg { user: None },
                }),
            ),
            (
                &["passkey", "--label", "iphone", "--user", "bob"][..],
                Command::Passkey(PasskeyArgs {
                    label: Some("iphone".into()),
                    target: UserArg {
                        user: Some("bob".into()),
                    },
                }),
            ),
            (
                &["remove", "passkey", "iphone"][..],
                Command::Remove(RemoveArgs {
                    contact: Some(RemovedContact::Passkey {
                        label: "iphone".into(),
                    }),
                    target: UserArg { user: None },
                }),
            ),
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

    fn contact(label: Option<&str>, unverified: bool, user: Option<&str>) -> ContactArgs {
        ContactArgs {
            label: label.map(Into::into),
            unverified,
            target: UserArg {
                user: user.map(Into::into),
            },
        }
    }

    #[test]
    fn phone_parses_in_every_form() {
        let phone = |number: &str, voice_only, contact| {
            Command::Phone(PhoneArgs {
                number: number.into(),
                voice_only,
                contact,
            })
        };
        let cases = [
            (
                &["phone", "+14155550123"][..],
                phone("+14155550123", false, contact(None, false, None)),
            ),
            (
                &["phone", "--voice-only", "+442071234567", "--label", "desk"][..],
                phone("+442071234567", true, contact(Some("desk"), false, None)),
            ),
            (
                &[
                    "phone",
                    "+14155550123",
                    "--user",
                    "bob",
                    "--unverified",
                    "--label",
                    "work",
                ][..],
                phone(
                    "+14155550123",
                    false,
                    contact(Some("work"), true, Some("bob")),
                ),
            ),
            // Not validated here: the daemon says what a number must look like.
            (
                &["phone", "555-0123"][..],
                phone("555-0123", false, contact(None, false, None)),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args).unwrap().command, want, "{args:?}");
        }
    }

    #[test]
    fn email_parses_in_every_form() {
        let email = |address: &str, contact| {
            Command::Email(EmailArgs {
                address: address.into(),
                contact,
            })
        };
        let cases = [
            (
                &["email", "alice@example.com"][..],
                email("alice@example.com", contact(None, false, None)),
            ),
            (
                &[
                    "email",
                    "--label",
                    "personal",
                    "a@example.org",
                    "--unverified",
                    "--user",
                    "alice",
                ][..],
                email(
                    "a@example.org",
                    contact(Some("personal"), true, Some("alice")),
                ),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args).unwrap().command, want, "{args:?}");
        }
    }

    #[test]
    fn remove_takes_an_optional_contact_and_user_on_either_side() {
        let remove = |contact, user: Option<&str>| {
            Command::Remove(RemoveArgs {
                contact,
                target: UserArg {
                    user: user.map(Into::into),
                },
            })
        };
        let work = || {
            Some(RemovedContact::Phone {
                which: "work".into(),
            })
        };
        let cases = [
            (&["remove", "phone", "work"][..], remove(work(), None)),
            (
                &["remove", "--user", "bob", "phone", "work"][..],
                remove(work(), Some("bob")),
            ),
            (
                &["remove", "phone", "work", "--user", "bob"][..],
                remove(work(), Some("bob")),
            ),
            (
                &["remove", "phone", "+1 •••-•••-4567"][..],
                remove(
                    Some(RemovedContact::Phone {
                        which: "+1 •••-•••-4567".into(),
                    }),
                    None,
                ),
            ),
            (
                &["remove", "email", "a•••@example.com"][..],
                remove(
                    Some(RemovedContact::Email {
                        which: "a•••@example.com".into(),
                    }),
                    None,
                ),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args).unwrap().command, want, "{args:?}");
        }
        assert_eq!(
            parse(&["remove"]).unwrap().command,
            remove(None, None),
            "`remove` alone still removes everything"
        );
    }

    #[test]
    fn socket_and_json_are_global_and_default() {
        let cli = parse(&["status", "--json", "--socket", "/tmp/x.sock"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.daemon.socket, PathBuf::from("/tmp/x.sock"));
        let cli = parse(&["--json", "--socket", "/tmp/y.sock", "totp"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.daemon.socket, PathBuf::from("/tmp/y.sock"));
        // MFA_SOCKET is not set by `cargo test`; the default applies.
        if std::env::var_os("MFA_SOCKET").is_none() {
            let cli = parse(&["status"]).unwrap();
            assert!(!cli.json);
            assert_eq!(cli.daemon.socket, PathBuf::from(mfa_proto::DEFAULT_SOCKET));
        }
    }

    #[test]
    fn daemon_user_is_global_and_defaults_to_mfa() {
        let cli = parse(&["status", "--daemon-user", "_mfa"]).unwrap();
        assert_eq!(cli.daemon.daemon_user, "_mfa");
        let cli = parse(&["--daemon-user", "daemon", "totp"]).unwrap();
        assert_eq!(cli.daemon.daemon_user, "daemon");
        if std::env::var_os("MFA_DAEMON_USER").is_none() {
            assert_eq!(parse(&["status"]).unwrap().daemon.daemon_user, "mfa");
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
            &["phone"][..],
            &["phone", ""][..],
            &["phone", "+14155550123", "+14155550124"][..],
            &["phone", "+14155550123", "--label"][..],
            &["phone", "+14155550123", "--label", ""][..],
            &["phone", "+14155550123", "--voice-only=yes"][..],
            &["email"][..],
            &["email", "a@example.com", "--voice-only"][..],
            &["email", "a@example.com", "b@example.com"][..],
            &["remove", "phone"][..],
            &["remove", "email"][..],
            &["remove", "phone", ""][..],
            &["remove", "phone", "work", "extra"][..],
            &["remove", "work"][..],
            &["remove", "totp"][..],
            &["remove", "sms", "work"][..],
            &["remove", "--voice-only"][..],
            &["passkey", "extra"][..],
            &["passkey", "--label", ""][..],
            &["passkey", "--label", "my phone"][..],
            &["remove", "passkey"][..],
            &["remove", "passkey", ""][..],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
    }

    #[test]
    fn help_and_version_exit_zero() {
        for args in [
            &["--help"][..],
            &["totp", "--help"][..],
            &["phone", "--help"][..],
            &["email", "--help"][..],
            &["remove", "--help"][..],
            &["remove", "phone", "--help"][..],
            &["passkey", "--help"][..],
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
            assert_eq!(err.exit_code(), 0, "{args:?}");
        }
    }

    #[test]
    fn contact_help_explains_the_number_and_verification() {
        use clap::CommandFactory;
        let mut cli = Cli::command();
        let long_help = |cli: &mut clap::Command, name: &str| {
            cli.find_subcommand_mut(name)
                .unwrap()
                .render_long_help()
                .to_string()
        };
        let phone = long_help(&mut cli, "phone");
        for needle in [
            "E.164",
            "+14155550123",
            "--voice-only",
            "landlines and office phones",
            "--unverified",
            "saved only once that code is typed",
            "root",
        ] {
            assert!(phone.contains(needle), "{needle:?} not in:\n{phone}");
        }
        let email = long_help(&mut cli, "email");
        for needle in [
            "saved only once that code is typed",
            "--unverified",
            "--label",
        ] {
            assert!(email.contains(needle), "{needle:?} not in:\n{email}");
        }
        assert!(!email.contains("--voice-only"), "{email}");
        let remove = long_help(&mut cli, "remove");
        for needle in ["totp", "passkey", "phone", "email", "min_factors", "--user"] {
            assert!(remove.contains(needle), "{needle:?} not in:\n{remove}");
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
