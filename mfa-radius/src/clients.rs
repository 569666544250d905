//! The configured clients with what serving them needs: the shared secret read from its
//! file, the request rate and the PAM slots.
//!
//! A secret file is read once, at start, and only if it is safe: a regular file (not a
//! symbolic link, which would let whoever can write the link's directory pick the secret),
//! readable by its owner only (mode 0600 or 0400), owned by root or by the user this
//! process runs as, holding 16 to 128 bytes after one trailing newline. A secret is never
//! logged; errors name the client and the file.

use std::io::{self, Read};
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use mfa_proto::radius::{RadiusClient, RadiusSettings};
use zeroize::Zeroizing;

use crate::limits::{PamSlots, RequestRate};

/// Fewest bytes of a secret (RFC 2865 §3 asks for at least 16 octets).
pub(crate) const SECRET_MIN: usize = 16;
/// How many times its `requests_per_second` a client's address may send before the checks.
pub(crate) const UNCHECKED_FACTOR: u32 = 10;
/// Most bytes of a secret: RFC 2865 sets no bound; 128 covers every client's field.
pub(crate) const SECRET_MAX: usize = 128;

/// What is wrong with a secret file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretProblem {
    /// A relative `secret_file` outside systemd.
    #[error(
        "is relative, which means inside $CREDENTIALS_DIRECTORY, and that is not set (run under \
         systemd with LoadCredential=, or give an absolute path)"
    )]
    NoCredentialsDirectory,
    /// `O_NOFOLLOW` met a link.
    #[error("is a symbolic link; name the file itself")]
    Symlink,
    /// Could not be opened or read.
    #[error("cannot be read: {0}")]
    Unreadable(#[source] io::Error),
    /// A directory, a device, a FIFO …
    #[error("is not a regular file")]
    NotRegular,
    /// Group or others may read it, or it is executable.
    #[error("has mode {mode:04o}; it must be 0600 or 0400 (chmod 600 FILE)")]
    Mode { mode: u32 },
    /// Someone else owns it.
    #[error(
        "is owned by uid {owner}; it must belong to root or to the user mfa-radius runs as \
         (uid {me})"
    )]
    Owner { owner: u32, me: u32 },
    /// Too short to resist guessing.
    #[error(
        "holds {len} bytes; a secret needs at least {SECRET_MIN} (a trailing newline is not \
         counted)"
    )]
    TooShort { len: usize },
    /// Longer than any client takes.
    #[error("holds more than {SECRET_MAX} bytes; a RADIUS secret is at most {SECRET_MAX}")]
    TooLong,
}

/// A client's secret file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("client \"{client}\", secret_file {}: {problem}", path.display())]
pub(crate) struct SecretError {
    /// The client's name.
    pub(crate) client: String,
    /// The file, as resolved.
    pub(crate) path: PathBuf,
    /// Why it is refused.
    #[source]
    pub(crate) problem: SecretProblem,
}

/// Where `secret_file` is: as given when absolute, else inside `credentials`.
pub(crate) fn secret_path(
    secret_file: &Path,
    credentials: Option<&Path>,
) -> Result<PathBuf, SecretProblem> {
    if secret_file.is_absolute() {
        return Ok(secret_file.to_owned());
    }
    credentials
        .map(|dir| dir.join(secret_file))
        .ok_or(SecretProblem::NoCredentialsDirectory)
}

/// Reads the secret at `path`, refusing an unsafe file; `me` is the uid this process runs
/// as (allowed to own it besides root).
pub(crate) fn read_secret(path: &Path, me: u32) -> Result<Zeroizing<Vec<u8>>, SecretProblem> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => SecretProblem::Symlink,
            _ => SecretProblem::Unreadable(e),
        })?;
    let meta = file.metadata().map_err(SecretProblem::Unreadable)?;
    if !meta.file_type().is_file() {
        return Err(SecretProblem::NotRegular);
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o7177 != 0 {
        return Err(SecretProblem::Mode { mode });
    }
    if meta.uid() != 0 && meta.uid() != me {
        return Err(SecretProblem::Owner {
            owner: meta.uid(),
            me,
        });
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(SECRET_MAX + 2));
    // One byte past the longest secret and its newline tells a too-long file.
    file.take((SECRET_MAX + 2) as u64)
        .read_to_end(&mut bytes)
        .map_err(SecretProblem::Unreadable)?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    if bytes.len() > SECRET_MAX {
        return Err(SecretProblem::TooLong);
    }
    if bytes.len() < SECRET_MIN {
        return Err(SecretProblem::TooShort { len: bytes.len() });
    }
    Ok(bytes)
}

/// A client ready to be served.
#[derive(Debug)]
pub(crate) struct Client {
    /// Its settings.
    pub(crate) settings: RadiusClient,
    /// The shared secret.
    pub(crate) secret: Zeroizing<Vec<u8>>,
    /// Its request rate, taken by requests that passed the secret's check.
    pub(crate) rate: RequestRate,
    /// Datagrams from its address before any check, [`UNCHECKED_FACTOR`] times its rate: it
    /// bounds the work a flood from a forged source address costs (a Message-Authenticator
    /// each), without letting that flood use up the client's own rate.
    pub(crate) unchecked: RequestRate,
    /// Its PAM checks running at once.
    pub(crate) pam: PamSlots,
}

impl Client {
    /// The client's name.
    pub(crate) fn name(&self) -> &str {
        &self.settings.name
    }
}

/// Every configured client, found by the address a request comes from.
#[derive(Debug)]
pub(crate) struct Clients {
    settings: RadiusSettings,
    clients: Vec<Arc<Client>>,
}

impl Clients {
    /// Reads every client's secret (relative paths inside `credentials`) at `now`; the
    /// first unusable file is the error.
    pub(crate) fn load(
        settings: &RadiusSettings,
        credentials: Option<&Path>,
        me: u32,
        now: Instant,
    ) -> Result<Clients, SecretError> {
        let clients = settings
            .clients
            .iter()
            .map(|client| {
                let fail = |path: &Path, problem| SecretError {
                    client: client.name.clone(),
                    path: path.to_owned(),
                    problem,
                };
                let path = secret_path(&client.secret_file, credentials)
                    .map_err(|p| fail(&client.secret_file, p))?;
                let secret = read_secret(&path, me).map_err(|p| fail(&path, p))?;
                Ok(Arc::new(Client {
                    settings: client.clone(),
                    secret,
                    rate: RequestRate::new(client.requests_per_second, now),
                    unchecked: RequestRate::new(
                        client.requests_per_second.saturating_mul(UNCHECKED_FACTOR),
                        now,
                    ),
                    pam: PamSlots::new(),
                }))
            })
            .collect::<Result<Vec<_>, SecretError>>()?;
        Ok(Clients {
            settings: settings.clone(),
            clients,
        })
    }

    /// The client a request from `ip` belongs to (the longest matching prefix), if any. An
    /// IPv4 client is found by its IPv4-mapped IPv6 address too (a dual-stack socket).
    pub(crate) fn for_address(&self, ip: IpAddr) -> Option<&Arc<Client>> {
        let settings = self.settings.client_for(ip)?;
        self.clients
            .iter()
            .find(|c| c.settings.name == settings.name)
    }

    /// How many clients there are.
    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }

    /// Every client.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Client> {
        self.clients.iter().map(|c| &**c)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use mfa_proto::radius::PasswordCheck;

    use super::*;

    const SECRET: &[u8] = b"a-long-enough-secret";

    fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn me() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    #[test]
    fn a_safe_file_is_read_without_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "s", b"a-long-enough-secret\n", 0o600);
        assert_eq!(&read_secret(&path, me()).unwrap()[..], SECRET);
        let path = write(dir.path(), "r", SECRET, 0o400);
        assert_eq!(&read_secret(&path, me()).unwrap()[..], SECRET);
        // Only one newline is taken off: the rest is the secret's.
        let path = write(dir.path(), "n", b"a-long-enough-secret\n\n", 0o600);
        assert_eq!(read_secret(&path, me()).unwrap().len(), SECRET.len() + 1);
    }

    #[test]
    fn unsafe_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(dir.path(), "good", SECRET, 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        assert!(matches!(
            read_secret(&link, me()),
            Err(SecretProblem::Symlink)
        ));
        let open = write(dir.path(), "open", SECRET, 0o644);
        let e = read_secret(&open, me()).unwrap_err();
        assert!(matches!(e, SecretProblem::Mode { mode: 0o644 }), "{e}");
        assert!(e.to_string().contains("0644"), "{e}");
        let group = write(dir.path(), "group", SECRET, 0o640);
        assert!(matches!(
            read_secret(&group, me()),
            Err(SecretProblem::Mode { .. })
        ));
        assert!(matches!(
            read_secret(dir.path(), me()),
            Err(SecretProblem::NotRegular)
        ));
        let short = write(dir.path(), "short", b"fifteen-bytes!!\n", 0o600);
        let e = read_secret(&short, me()).unwrap_err();
        assert!(matches!(e, SecretProblem::TooShort { len: 15 }), "{e}");
        let long = write(dir.path(), "long", &[b'x'; SECRET_MAX + 1], 0o600);
        assert!(matches!(
            read_secret(&long, me()),
            Err(SecretProblem::TooLong)
        ));
        let longest = write(dir.path(), "longest", &[b'x'; SECRET_MAX], 0o600);
        assert_eq!(read_secret(&longest, me()).unwrap().len(), SECRET_MAX);
        assert!(matches!(
            read_secret(&dir.path().join("absent"), me()),
            Err(SecretProblem::Unreadable(_))
        ));
    }

    #[test]
    fn a_file_of_another_owner_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "s", SECRET, 0o600);
        let me = me();
        if me == 0 {
            // As root: give the file away.
            std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            let e = read_secret(&path, 0).unwrap_err();
            assert!(
                matches!(
                    e,
                    SecretProblem::Owner {
                        owner: 65534,
                        me: 0
                    }
                ),
                "{e}"
            );
        } else {
            // As a user: the file is ours, and allowed only for the uid we run as.
            assert!(matches!(
                read_secret(&path, me + 1),
                Err(SecretProblem::Owner { .. })
            ));
        }
    }

    #[test]
    fn relative_paths_are_in_the_credentials_directory() {
        assert_eq!(
            secret_path(
                Path::new("vpn1.secret"),
                Some(Path::new("/run/credentials/x"))
            )
            .unwrap(),
            Path::new("/run/credentials/x/vpn1.secret")
        );
        assert!(matches!(
            secret_path(Path::new("vpn1.secret"), None),
            Err(SecretProblem::NoCredentialsDirectory)
        ));
        assert_eq!(
            secret_path(Path::new("/etc/mfa/s"), Some(Path::new("/c"))).unwrap(),
            Path::new("/etc/mfa/s")
        );
    }

    fn client(name: &str, address: &str, secret_file: &Path) -> RadiusClient {
        RadiusClient {
            name: name.into(),
            address: address.parse().unwrap(),
            secret_file: secret_file.to_owned(),
            require_message_authenticator: true,
            requests_per_second: 50,
        }
    }

    #[test]
    fn clients_are_found_by_address_also_v4_mapped() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "s", SECRET, 0o600);
        let settings = RadiusSettings {
            listen: vec!["127.0.0.1:1812".parse().unwrap()],
            user: "mfa-radius".into(),
            password: PasswordCheck::None,
            pam_service: "mfa-radius".into(),
            clients: vec![
                client("lan", "10.0.0.0/8", Path::new("s")),
                client("vpn1", "10.1.2.3", Path::new("s")),
                client("v6", "fd00::/64", Path::new("s")),
            ],
        };
        let clients = Clients::load(&settings, Some(dir.path()), me(), Instant::now()).unwrap();
        let name = |ip: &str| clients.for_address(ip.parse().unwrap()).map(|c| c.name());
        assert_eq!(name("10.1.2.3"), Some("vpn1"));
        assert_eq!(name("::ffff:10.1.2.3"), Some("vpn1"));
        assert_eq!(name("10.1.2.4"), Some("lan"));
        assert_eq!(name("::ffff:10.9.9.9"), Some("lan"));
        assert_eq!(name("fd00::7"), Some("v6"));
        assert_eq!(name("fd00:0:0:1::7"), None);
        assert_eq!(name("192.0.2.1"), None);
        assert_eq!(name("::ffff:192.0.2.1"), None);
        // The secret is shared, not copied into an error or a log.
        assert_eq!(&clients.iter().next().unwrap().secret[..], SECRET);
    }

    #[test]
    fn the_error_names_the_client_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "open", SECRET, 0o644);
        let settings = RadiusSettings {
            listen: vec!["127.0.0.1:1812".parse().unwrap()],
            user: "mfa-radius".into(),
            password: PasswordCheck::None,
            pam_service: "mfa-radius".into(),
            clients: vec![client("vpn1", "10.1.2.3", &dir.path().join("open"))],
        };
        let e = Clients::load(&settings, None, me(), Instant::now()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("client \"vpn1\", secret_file /")
                && text.contains("open: has mode 0644"),
            "{text}"
        );
        assert!(!text.contains("a-long-enough"), "{text}");
    }
}
