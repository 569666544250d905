//! Email codes through an SMTP relay with lettre: STARTTLS that must succeed, implicit TLS, or
//! (to a privileged loopback port only) none; AUTH when a user name is set. One connection per message, so a
//! stalled relay holds up only the send that is waiting on it.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::Outgoing;
use super::config::{DeliveryConfigError, PlaintextRule, plain_smtp};
use super::credential::read_credential;
use super::error::{SendError, SendErrorKind};
use super::message::{email_subject, email_text};
use crate::config::{EmailSection, SmtpTls};

const PROVIDER: &str = "smtp";

/// A configured relay.
pub(crate) struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
    port: u16,
    tls: SmtpTls,
    username: Option<String>,
}

impl fmt::Debug for Smtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // lettre's transport holds the password in its credentials: never print it.
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Smtp {
    /// The relay the `[email]` section describes, with its TLS and its login checked now so
    /// that a mistake stops the daemon at start or reload, not at the first send.
    pub(crate) fn new(
        section: &EmailSection,
        credentials_dir: Option<&Path>,
        send_timeout: Duration,
        plaintext: PlaintextRule,
    ) -> Result<Smtp, DeliveryConfigError> {
        let host = section.smtp_host.trim();
        if host.is_empty() {
            return Err(DeliveryConfigError::new(
                "email.smtp_host",
                "must not be empty",
            ));
        }
        let port = section.smtp_port.unwrap_or(section.tls.default_port());
        if section.tls == SmtpTls::None {
            plain_smtp(
                plaintext,
                host,
                port,
                section.insecure_loopback_plaintext_for_tests,
            )?;
        }
        let from: Mailbox = section.from.parse().map_err(|e| {
            DeliveryConfigError::new(
                "email.from",
                format!("not a mailbox ({e}): {:?}", section.from),
            )
        })?;
        // The name the certificate must carry; brackets would not match an IP SAN.
        let tls_name = host.trim_start_matches('[').trim_end_matches(']');
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(tls_name).port(port);
        let builder = with_tls(builder, section, tls_name)?;
        let builder = with_login(builder, section, credentials_dir)?;
        Ok(Smtp {
            transport: builder.timeout(Some(send_timeout)).build(),
            from,
            host: host.to_owned(),
            port,
            tls: section.tls,
            username: section.username.clone(),
        })
    }

    pub(crate) async fn send(&self, message: &Outgoing, host: &str) -> Result<(), SendError> {
        let to: Address = message
            .to
            .parse()
            .map_err(|_| SendError::new(PROVIDER, SendErrorKind::InvalidDestination))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(email_subject(&message.body, host))
            .message_id(Some(message_id(host)))
            .header(ContentType::TEXT_PLAIN)
            .body(email_text(
                &message.body,
                host,
                &message.user,
                SystemTime::now(),
            ))
            .map_err(|e| {
                SendError::new(PROVIDER, SendErrorKind::InvalidDestination).with_source(e)
            })?;
        self.transport.send(email).await.map(drop).map_err(classify)
    }
}

/// Sets the section's TLS mode on `builder`: STARTTLS or implicit TLS checked against the
/// system roots or `ca_file`, or none (where `ca_file` would be a mistake).
fn with_tls(
    builder: AsyncSmtpTransportBuilder,
    section: &EmailSection,
    tls_name: &str,
) -> Result<AsyncSmtpTransportBuilder, DeliveryConfigError> {
    Ok(match section.tls {
        SmtpTls::Starttls => builder.tls(Tls::Required(tls_parameters(section, tls_name)?)),
        SmtpTls::Tls => builder.tls(Tls::Wrapper(tls_parameters(section, tls_name)?)),
        SmtpTls::None => {
            if section.ca_file.is_some() {
                return Err(DeliveryConfigError::new(
                    "email.ca_file",
                    "is set but tls = \"none\" uses no certificate",
                ));
            }
            builder.tls(Tls::None)
        }
    })
}

/// TLS for `tls_name`, trusting `ca_file`'s certificates as well when it is set; a file
/// with no certificate in it is refused rather than read as "no extra roots".
fn tls_parameters(
    section: &EmailSection,
    tls_name: &str,
) -> Result<TlsParameters, DeliveryConfigError> {
    let mut parameters = TlsParameters::builder(tls_name.to_owned());
    if let Some(ca_file) = &section.ca_file {
        let pem = std::fs::read(ca_file).map_err(|e| {
            DeliveryConfigError::new(
                "email.ca_file",
                format!("cannot read {}: {e}", ca_file.display()),
            )
        })?;
        let no_certificate = |why: String| {
            DeliveryConfigError::new(
                "email.ca_file",
                format!("{} holds no PEM certificate: {why}", ca_file.display()),
            )
        };
        let found = CertificateDer::pem_slice_iter(&pem)
            .try_fold(0, |n, cert| cert.map(|_| n + 1))
            .map_err(|e| no_certificate(e.to_string()))?;
        if found == 0 {
            return Err(no_certificate("no BEGIN CERTIFICATE block".to_owned()));
        }
        let certificate = Certificate::from_pem(&pem).map_err(|e| no_certificate(e.to_string()))?;
        parameters = parameters.add_root_certificate(certificate);
    }
    parameters
        .build_rustls()
        .map_err(|e| DeliveryConfigError::new("email.tls", format!("cannot set up TLS: {e}")))
}

/// Sets AUTH on `builder` when the section names a user; a user name and a password file
/// come together or not at all.
fn with_login(
    builder: AsyncSmtpTransportBuilder,
    section: &EmailSection,
    credentials_dir: Option<&Path>,
) -> Result<AsyncSmtpTransportBuilder, DeliveryConfigError> {
    match (&section.username, &section.password_file) {
        (Some(username), Some(password_file)) => {
            let password = read_credential("email.password_file", password_file, credentials_dir)?;
            Ok(builder.credentials(Credentials::new(
                username.clone(),
                password.expose().to_owned(),
            )))
        }
        (None, None) => Ok(builder),
        (Some(_), None) => Err(DeliveryConfigError::new(
            "email.password_file",
            "email.username is set, so a password file is needed too",
        )),
        (None, Some(_)) => Err(DeliveryConfigError::new(
            "email.username",
            "email.password_file is set, so a user name is needed too",
        )),
    }
}

/// `<random@host>`: unique without naming anything but the host.
fn message_id(host: &str) -> String {
    let mut random = [0u8; 16];
    // A Message-ID only needs to be unique; should the OS refuse randomness, the time will do.
    if getrandom::fill(&mut random).is_err() {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        random = nanos.to_le_bytes();
    }
    format!("<{}@{host}>", data_encoding::HEXLOWER.encode(&random))
}

/// Maps a lettre error: the SMTP reply code where there is one, else how the connection failed.
fn classify(error: lettre::transport::smtp::Error) -> SendError {
    let code = error.status().map(u16::from);
    let kind = if error.is_timeout() {
        SendErrorKind::Timeout
    } else if let Some(code) = code {
        match code {
            // Authentication required, failed or too weak.
            530 | 534 | 535 | 538 => SendErrorKind::Credentials,
            // Mailbox unavailable, not local, or its name not allowed.
            550 | 551 | 553 => SendErrorKind::InvalidDestination,
            421 | 450 | 451 | 452 => SendErrorKind::RateLimited,
            _ => SendErrorKind::Provider,
        }
    } else if error.is_permanent() || error.is_transient() {
        SendErrorKind::Provider
    } else {
        SendErrorKind::Network
    };
    SendError::new(PROVIDER, kind)
        .with_code(code.map(u32::from))
        .with_source(error)
}
