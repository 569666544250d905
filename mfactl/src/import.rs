//! `mfactl import`: reads google-authenticator, pam_oath and PSKC files (as root, so it
//! checks who owns each file before it believes it), turns each user's entry into one
//! [`Request::Import`], and shows what the daemon decided. The daemon decides everything
//! else: whether the account exists, whether it is skipped, and it hashes the codes.

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use mfa_enroll::daemon::rejection;
use mfa_import::google_authenticator::{self, GoogleAuthenticator, OtpKind};
use mfa_import::oath::{self, OathKind};
use mfa_import::pskc::{self, PskcKind, PskcToken};
use mfa_proto::{
    ImportSource, ImportStatus, ImportedApp, ImportedToken, Request, Response, Secret,
};
use nix::libc;
use nix::unistd::User;
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{GoogleAuthenticatorArgs, ImportFrom, ImportOptions, OathArgs, PskcArgs};
use crate::commands::Session;
use crate::error::{CtlError, FileError, FileProblem};

/// The file google-authenticator keeps in each home.
const GA_FILE: &str = ".google_authenticator";
/// The largest users file or PSKC file read (the parsers have their own, larger, limits).
const MAX_BATCH_FILE: u64 = 4 * 1024 * 1024;
/// The largest pre-shared key file read.
const MAX_KEY_FILE: u64 = 1024;
/// The widest per-app window kept, in steps either side (`totp.skew`'s maximum).
const MAX_SKEW: u32 = 10;
/// The longest label: mfa-core's limit.
const MAX_LABEL: usize = 32;

/// Who must own a file for it to be believed.
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// The user whose factors it holds.
    User(u32),
    /// root (a system-wide file).
    Root,
    /// Anyone: a file the admin names (PSKC batches, their keys); root reads it on purpose.
    Anyone,
}

/// The tokens assigned to one user (with the serial they were assigned by), or why not.
type Assigned<'a> = Result<Vec<(String, &'a PskcToken)>, String>;

/// One user's import: sent to the daemon, or refused before.
enum Prepared {
    Send(Request),
    Refused { user: String, reason: String },
}

/// How one user's import ended.
struct Outcome {
    user: String,
    ended: Result<(ImportStatus, String), String>,
}

impl<R: BufRead, P: Write, O: Write> Session<R, P, O> {
    /// `import`: prepares every user's request, sends each, shows one line per user (or a
    /// JSON array), and fails if any user was refused.
    pub(crate) fn import(&mut self, from: &ImportFrom) -> Result<(), CtlError> {
        let prepared = match from {
            ImportFrom::GoogleAuthenticator(args) => google_authenticator_users(args)?,
            ImportFrom::Oath(args) => oath_users(args)?,
            ImportFrom::Pskc(args) => pskc_users(args)?,
        };
        let mut outcomes = Vec::with_capacity(prepared.len());
        for one in prepared {
            outcomes.push(match one {
                Prepared::Refused { user, reason } => Outcome {
                    user,
                    ended: Err(reason),
                },
                Prepared::Send(request) => self.send_import(&request)?,
            });
        }
        let text = if self.json {
            outcomes_json(&outcomes)
        } else {
            outcomes_text(&outcomes)
        };
        self.write(&text)?;
        let refused = outcomes.iter().filter(|o| o.ended.is_err()).count();
        if refused > 0 {
            return Err(CtlError::ImportRefused {
                refused,
                total: outcomes.len(),
            });
        }
        Ok(())
    }

    fn send_import(&mut self, request: &Request) -> Result<Outcome, CtlError> {
        let given = request.user().unwrap_or_default().to_owned();
        match self.daemon.connect()?.call(request)? {
            Response::Imported {
                user,
                status,
                detail,
            } => Ok(Outcome {
                user,
                ended: Ok((status, detail)),
            }),
            Response::Failed { message, .. } => Ok(Outcome {
                user: given,
                ended: Err(message),
            }),
            other => Err(rejection(request, other).into()),
        }
    }
}

/// `import google-authenticator`: one request per named user (or per user of /etc/passwd
/// with the file, for `--all`).
fn google_authenticator_users(args: &GoogleAuthenticatorArgs) -> Result<Vec<Prepared>, CtlError> {
    let mut users = if args.all {
        users_with_a_ga_file(Path::new("/etc/passwd"))?
    } else {
        args.users.clone()
    };
    let mut seen = std::collections::HashSet::new();
    users.retain(|u| seen.insert(u.clone()));
    Ok(users
        .into_iter()
        .map(|user| match ga_request(&user, &args.options) {
            Ok(request) => Prepared::Send(request),
            Err(reason) => Prepared::Refused { user, reason },
        })
        .collect())
}

/// The names in `passwd` whose home holds a `.google_authenticator` (of any kind: a
/// symbolic link is listed, to be refused by name).
fn users_with_a_ga_file(passwd: &Path) -> Result<Vec<String>, CtlError> {
    let text = std::fs::read_to_string(passwd).map_err(|e| {
        file_error(FileError {
            path: passwd.to_owned(),
            problem: FileProblem::Io(e),
        })
    })?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let (name, home) = (fields.first()?, fields.get(5)?);
            let has = !home.is_empty() && Path::new(home).join(GA_FILE).symlink_metadata().is_ok();
            (has && !name.is_empty()).then(|| (*name).to_owned())
        })
        .collect())
}

/// The request for one user's `~/.google_authenticator`, or why not.
fn ga_request(user: &str, options: &ImportOptions) -> Result<Request, String> {
    let account = User::from_name(user)
        .map_err(|e| format!("cannot look up the account: {e}"))?
        .ok_or_else(|| "no such account (NSS)".to_owned())?;
    let path = account.dir.join(GA_FILE);
    let bytes = read_checked(
        &path,
        google_authenticator::MAX_SIZE as u64,
        Owner::User(account.uid.as_raw()),
    )
    .map_err(|e| e.to_string())?;
    let ga = google_authenticator::parse(&bytes).map_err(|e| {
        FileError {
            path: path.clone(),
            problem: FileProblem::Parse(Box::new(e)),
        }
        .to_string()
    })?;
    Ok(ga_import(user, &ga, options))
}

/// A parsed google-authenticator file as the request that imports it.
fn ga_import(user: &str, ga: &GoogleAuthenticator, options: &ImportOptions) -> Request {
    let secret = base32(ga.secret.expose());
    let (totp, hotp) = match ga.kind {
        OtpKind::Totp { step, window } => (
            vec![ImportedApp {
                label: "ga".to_owned(),
                secret,
                algorithm: "SHA1".to_owned(),
                digits: 6,
                period: step,
                // WINDOW_SIZE counts the codes accepted, the current one in the middle.
                skew: Some(
                    u8::try_from(window.saturating_sub(1) / 2)
                        .unwrap_or(u8::MAX)
                        .min(MAX_SKEW as u8),
                ),
            }],
            Vec::new(),
        ),
        OtpKind::Hotp { counter, .. } => (
            Vec::new(),
            vec![ImportedToken {
                label: "ga".to_owned(),
                secret,
                algorithm: "SHA1".to_owned(),
                digits: 6,
                counter,
            }],
        ),
    };
    Request::Import {
        user: user.to_owned(),
        source: ImportSource::GoogleAuthenticator,
        totp,
        hotp,
        recovery_codes: ga
            .scratch_codes
            .iter()
            .map(|c| Secret::from(c.expose()))
            .collect(),
        replace: options.replace,
        dry_run: options.dry_run,
    }
}

/// `import oath`: one request per user of the users file, in file order; a user with a
/// line that cannot be imported (a PIN) is refused as a whole.
fn oath_users(args: &OathArgs) -> Result<Vec<Prepared>, CtlError> {
    let bytes = read_checked(&args.file, MAX_BATCH_FILE, Owner::Root).map_err(file_error)?;
    let file = oath::parse(&bytes).map_err(|e| {
        file_error(FileError {
            path: args.file.clone(),
            problem: FileProblem::Parse(Box::new(e)),
        })
    })?;
    let mut order: Vec<String> = Vec::new();
    for user in file
        .tokens
        .iter()
        .map(|t| &t.user)
        .chain(file.refused.iter().map(|r| &r.user))
    {
        if !order.contains(user) {
            order.push(user.clone());
        }
    }
    let shown = args.file.display();
    Ok(order
        .into_iter()
        .map(|user| {
            if let Some(refused) = file.refused.iter().find(|r| r.user == user) {
                let reason = format!("{shown}: line {}: {}", refused.line, refused.reason);
                return Prepared::Refused { user, reason };
            }
            let mut totp = Vec::new();
            let mut hotp = Vec::new();
            for (n, token) in file.tokens.iter().filter(|t| t.user == user).enumerate() {
                let label = if n == 0 {
                    "oath".to_owned()
                } else {
                    format!("oath-{}", n + 1)
                };
                let secret = base32(token.secret.expose());
                match token.kind {
                    OathKind::Hotp { next_counter } => hotp.push(ImportedToken {
                        label,
                        secret,
                        algorithm: "SHA1".to_owned(),
                        digits: token.digits,
                        counter: next_counter,
                    }),
                    OathKind::Totp { step } => totp.push(ImportedApp {
                        label,
                        secret,
                        algorithm: "SHA1".to_owned(),
                        digits: token.digits,
                        period: step,
                        skew: None,
                    }),
                }
            }
            Prepared::Send(Request::Import {
                user,
                source: ImportSource::Oath,
                totp,
                hotp,
                recovery_codes: Vec::new(),
                replace: args.options.replace,
                dry_run: args.options.dry_run,
            })
        })
        .collect())
}

/// `import pskc`: the assigned tokens, one request per user (a user may get several).
fn pskc_users(args: &PskcArgs) -> Result<Vec<Prepared>, CtlError> {
    let mut serials: Vec<&str> = args.assign.iter().map(|(s, _)| s.as_str()).collect();
    serials.sort_unstable();
    if let Some(twice) = serials.windows(2).find(|w| w[0] == w[1]) {
        return Err(CtlError::Usage(format!(
            "token {} is assigned twice; give each token to one user",
            twice[0]
        )));
    }
    let key = args
        .key_file
        .as_deref()
        .map(read_key)
        .transpose()
        .map_err(file_error)?;
    let bytes = read_checked(&args.file, MAX_BATCH_FILE, Owner::Anyone).map_err(file_error)?;
    let tokens = pskc::parse(&bytes, key.as_deref().map(|k| &k[..])).map_err(|e| {
        file_error(FileError {
            path: args.file.clone(),
            problem: FileProblem::Parse(Box::new(e)),
        })
    })?;
    let mut users: Vec<(String, Assigned<'_>)> = Vec::new();
    for (serial, user) in &args.assign {
        let found = tokens
            .iter()
            .find(|t| t.serial.as_deref() == Some(serial.as_str()))
            .or_else(|| {
                tokens
                    .iter()
                    .find(|t| t.serial.is_none() && t.key_id == *serial)
            })
            .ok_or_else(|| format!("{}: no token with serial {serial}", args.file.display()));
        let entry = match users.iter_mut().find(|(u, _)| u == user) {
            Some((_, entry)) => entry,
            None => {
                users.push((user.clone(), Ok(Vec::new())));
                &mut users.last_mut().expect("just pushed").1
            }
        };
        match (entry.as_mut(), found) {
            (Ok(list), Ok(token)) => list.push((serial.clone(), token)),
            (Ok(_), Err(reason)) => *entry = Err(reason),
            (Err(_), _) => {}
        }
    }
    Ok(users
        .into_iter()
        .map(|(user, found)| {
            match found.and_then(|list| pskc_request(&user, &list, &args.options)) {
                Ok(request) => Prepared::Send(request),
                Err(reason) => Prepared::Refused { user, reason },
            }
        })
        .collect())
}

fn pskc_request(
    user: &str,
    tokens: &[(String, &PskcToken)],
    options: &ImportOptions,
) -> Result<Request, String> {
    let mut totp = Vec::new();
    let mut hotp = Vec::new();
    for (serial, token) in tokens {
        let label = pskc_label(serial);
        let secret = base32(token.secret.expose());
        match token.kind {
            PskcKind::Hotp { counter } => hotp.push(ImportedToken {
                label,
                secret,
                algorithm: "SHA1".to_owned(),
                digits: token.digits,
                counter,
            }),
            PskcKind::Totp { step, start: 0 } => totp.push(ImportedApp {
                label,
                secret,
                algorithm: "SHA1".to_owned(),
                digits: token.digits,
                period: step,
                skew: None,
            }),
            PskcKind::Totp { start, .. } => {
                return Err(format!(
                    "token {serial} counts time from {start}, not from 0 (the Unix epoch); \
                     such tokens are not supported"
                ));
            }
        }
    }
    Ok(Request::Import {
        user: user.to_owned(),
        source: ImportSource::Pskc,
        totp,
        hotp,
        recovery_codes: Vec::new(),
        replace: options.replace,
        dry_run: options.dry_run,
    })
}

/// `pskc-SERIAL`, with anything a label may not hold made `_`, cut to the label limit.
fn pskc_label(serial: &str) -> String {
    let clean: String = serial
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut label = format!("pskc-{clean}");
    label.truncate(MAX_LABEL);
    label
}

/// A pre-shared key: 32 hex digits (spaces and a newline allowed) or 16 raw bytes.
fn read_key(path: &Path) -> Result<Zeroizing<Vec<u8>>, FileError> {
    let bytes = read_checked(path, MAX_KEY_FILE, Owner::Anyone)?;
    let text: Zeroizing<Vec<u8>> = Zeroizing::new(
        bytes
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|b| b.to_ascii_lowercase())
            .collect(),
    );
    if let Ok(key) = data_encoding::HEXLOWER.decode(&text)
        && key.len() == 16
    {
        return Ok(Zeroizing::new(key));
    }
    if bytes.len() == 16 {
        return Ok(bytes);
    }
    Err(FileError {
        path: path.to_owned(),
        problem: FileProblem::Key,
    })
}

/// Reads `path` without following a symbolic link at its end, after checking on the open
/// file (not the path, which could change in between) that it is a regular file of the
/// expected owner, not writable by group or others, and at most `limit` bytes.
fn read_checked(path: &Path, limit: u64, owner: Owner) -> Result<Zeroizing<Vec<u8>>, FileError> {
    let fail = |problem| FileError {
        path: path.to_owned(),
        problem,
    };
    let file = File::options()
        .read(true)
        // O_NONBLOCK: opening a FIFO must not hang; it is refused as not regular below.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => fail(FileProblem::Symlink),
            Some(libc::ENOENT) => fail(FileProblem::Missing),
            _ => fail(FileProblem::Io(e)),
        })?;
    let meta = file.metadata().map_err(|e| fail(FileProblem::Io(e)))?;
    if !meta.file_type().is_file() {
        return Err(fail(FileProblem::NotRegular));
    }
    let expected = match owner {
        Owner::User(uid) => Some((uid, format!("the user's uid {uid}"))),
        Owner::Root => Some((0, "root (0)".to_owned())),
        Owner::Anyone => None,
    };
    if let Some((uid, expected)) = expected
        && meta.uid() != uid
    {
        return Err(fail(FileProblem::Owner {
            found: meta.uid(),
            expected,
        }));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(fail(FileProblem::Writable {
            mode: meta.mode() & 0o7777,
        }));
    }
    if meta.len() > limit {
        return Err(fail(FileProblem::TooLarge { limit }));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    // The file may grow after the fstat: never read past the limit.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(FileProblem::Io(e)))?;
    if bytes.len() as u64 > limit {
        return Err(fail(FileProblem::TooLarge { limit }));
    }
    Ok(bytes)
}

fn file_error(e: FileError) -> CtlError {
    CtlError::File(Box::new(e))
}

/// Key bytes in unpadded base32, as the wire carries secrets.
fn base32(bytes: &[u8]) -> Secret {
    Secret::from(Zeroizing::new(data_encoding::BASE32_NOPAD.encode(bytes)))
}

fn status_word(status: ImportStatus) -> &'static str {
    match status {
        ImportStatus::Imported => "imported",
        ImportStatus::WouldImport => "would import",
        ImportStatus::SkippedEnrolled => "skipped",
    }
}

/// One line per user: `alice: imported: app ga (6 digits, 30 s), 5 recovery codes`.
fn outcomes_text(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .map(|o| {
            let user = mfa_enroll::one_line(&o.user);
            match &o.ended {
                Ok((ImportStatus::SkippedEnrolled, _)) => {
                    format!("{user}: skipped: already enrolled\n")
                }
                Ok((status, detail)) => format!(
                    "{user}: {}: {}\n",
                    status_word(*status),
                    mfa_enroll::one_line(detail)
                ),
                Err(reason) => format!("{user}: refused: {}\n", mfa_enroll::one_line(reason)),
            }
        })
        .collect()
}

/// A JSON array, one object per user: `user`, `status` (`imported`, `would_import`,
/// `skipped`, `refused`) and `detail` or `reason`.
fn outcomes_json(outcomes: &[Outcome]) -> String {
    let items: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| match &o.ended {
            Ok((ImportStatus::SkippedEnrolled, _)) => {
                json!({"user": o.user, "status": "skipped", "reason": "already enrolled"})
            }
            Ok((ImportStatus::Imported, detail)) => {
                json!({"user": o.user, "status": "imported", "detail": detail})
            }
            Ok((ImportStatus::WouldImport, detail)) => {
                json!({"user": o.user, "status": "would_import", "detail": detail})
            }
            Err(reason) => json!({"user": o.user, "status": "refused", "reason": reason}),
        })
        .collect();
    format!("{}\n", serde_json::Value::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn own_uid() -> u32 {
        let file = tempfile::NamedTempFile::new().unwrap();
        file.as_file().metadata().unwrap().uid()
    }

    #[test]
    fn read_checked_refuses_links_others_files_writable_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let me = own_uid();
        let good = dir.path().join("good");
        std::fs::write(&good, b"JBSWY3DPEHPK3PXP\n").unwrap();
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            &read_checked(&good, 64, Owner::User(me)).unwrap()[..],
            b"JBSWY3DPEHPK3PXP\n"
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        let err = read_checked(&link, 64, Owner::User(me)).unwrap_err();
        assert!(matches!(err.problem, FileProblem::Symlink), "{err}");
        assert!(
            err.to_string().contains("link: is a symbolic link"),
            "{err}"
        );
        let err = read_checked(&good, 64, Owner::User(me.wrapping_add(1))).unwrap_err();
        assert!(matches!(err.problem, FileProblem::Owner { .. }), "{err}");
        let err = read_checked(&good, 4, Owner::User(me)).unwrap_err();
        assert!(matches!(err.problem, FileProblem::TooLarge { .. }), "{err}");
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o620)).unwrap();
        let err = read_checked(&good, 64, Owner::User(me)).unwrap_err();
        assert!(
            matches!(err.problem, FileProblem::Writable { mode: 0o620 }),
            "{err}"
        );
        let err = read_checked(dir.path(), 64, Owner::Anyone).unwrap_err();
        assert!(matches!(err.problem, FileProblem::NotRegular), "{err}");
        let err = read_checked(&dir.path().join("none"), 64, Owner::Anyone).unwrap_err();
        assert!(matches!(err.problem, FileProblem::Missing), "{err}");
    }

    #[test]
    fn labels_keys_and_outcomes_never_carry_a_secret() {
        assert_eq!(pskc_label("987654321"), "pskc-987654321");
        assert_eq!(pskc_label("a b/c"), "pskc-a_b_c");
        assert_eq!(pskc_label(&"9".repeat(40)).len(), MAX_LABEL);
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "12345678901234567890123456789012\n").unwrap();
        assert_eq!(read_key(&key).unwrap().len(), 16);
        std::fs::write(&key, "1234").unwrap();
        assert!(matches!(
            read_key(&key).unwrap_err().problem,
            FileProblem::Key
        ));
        let outcomes = [
            Outcome {
                user: "alice".into(),
                ended: Ok((ImportStatus::Imported, "app ga (6 digits, 30 s)".into())),
            },
            Outcome {
                user: "bob".into(),
                ended: Ok((ImportStatus::SkippedEnrolled, String::new())),
            },
            Outcome {
                user: "carol".into(),
                ended: Err("/home/carol/.google_authenticator: is a symbolic link".into()),
            },
        ];
        assert_eq!(
            outcomes_text(&outcomes),
            "alice: imported: app ga (6 digits, 30 s)\nbob: skipped: already enrolled\n\
             carol: refused: /home/carol/.google_authenticator: is a symbolic link\n"
        );
        let json: serde_json::Value = serde_json::from_str(&outcomes_json(&outcomes)).unwrap();
        assert_eq!(json[1]["status"], "skipped");
        assert_eq!(json[2]["status"], "refused");
    }

    #[test]
    fn a_ga_window_becomes_a_capped_skew() {
        let file = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n\" WINDOW_SIZE 17\n12345678\n";
        let ga = google_authenticator::parse(file).unwrap();
        let options = ImportOptions {
            dry_run: false,
            replace: false,
        };
        let Request::Import {
            totp,
            recovery_codes,
            ..
        } = ga_import("alice", &ga, &options)
        else {
            panic!("not an import")
        };
        assert_eq!(totp[0].skew, Some(8));
        assert_eq!(recovery_codes.len(), 1);
        assert!(!format!("{totp:?}{recovery_codes:?}").contains("12345678"));
    }
}
