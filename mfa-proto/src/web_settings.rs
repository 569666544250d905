//! `[web]`: where `mfa-web` listens, the address users reach it at, and what it may trust.
//!
//! Both the daemon (which builds links from `public_url` and checks WebAuthn origins
//! against it) and `mfa-web` (which serves the pages) read this section of the one config
//! file, so its shape and its checks live here, once.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::web::DEFAULT_WEB_USER;

/// Where `mfa-web` listens unless `listen` says otherwise: loopback, so that a host that
/// turns the section on without TLS files exposes nothing; a reverse proxy in front (or
/// `listen` on a public address with TLS files) makes it reachable. 8443 is the usual
/// unprivileged HTTPS port, so the service needs no capability to bind it.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);
/// How long an approval request stays open unless `approval_timeout` says otherwise.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(60);
/// Shortest `approval_timeout`: a person needs time to unlock a phone and find the number.
pub const MIN_APPROVAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `approval_timeout`: the login waits that long, holding a connection.
pub const MAX_APPROVAL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The `[web]` section of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// Address and port `mfa-web` listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The `https://` address users reach the pages at (`http://` only for `localhost`);
    /// links are built from it and the WebAuthn origin must be it.
    pub public_url: String,
    /// The WebAuthn relying party id; `public_url`'s host unless set.
    #[serde(default)]
    pub rp_id: Option<String>,
    /// PEM certificate chain for TLS.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for TLS.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// How long an approval request stays open.
    #[serde(default = "default_approval_timeout", deserialize_with = "duration")]
    pub approval_timeout: Duration,
    /// The account `mfa-web` runs as; the daemon answers its web socket for it and root.
    #[serde(default = "default_user")]
    pub user: String,
    /// The VAPID private key (PEM) Web Push messages are signed with; no Web Push without it.
    #[serde(default)]
    pub vapid_key_file: Option<PathBuf>,
    /// Who push services may contact about this sender: `mailto:` or `https:`.
    #[serde(default)]
    pub vapid_subject: Option<String>,
    /// Take the client's address from the last hop of `X-Forwarded-For` (a reverse proxy on
    /// this host sets it); only with a loopback `listen`.
    #[serde(default)]
    pub forwarded_for: bool,
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
}

fn default_approval_timeout() -> Duration {
    DEFAULT_APPROVAL_TIMEOUT
}

fn default_user() -> String {
    DEFAULT_WEB_USER.to_owned()
}

/// A `[web]` value the checks refuse: the dotted key (`web.public_url`) and why, in words a
/// sysadmin can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidWebSetting {
    /// The dotted key.
    pub key: &'static str,
    /// What is wrong.
    pub why: String,
}

impl InvalidWebSetting {
    fn new(key: &'static str, why: impl Into<String>) -> InvalidWebSetting {
        InvalidWebSetting {
            key,
            why: why.into(),
        }
    }
}

impl fmt::Display for InvalidWebSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`: {}", self.key, self.why)
    }
}

impl std::error::Error for InvalidWebSetting {}

/// `public_url` taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `https` (or `http` for `localhost`).
    pub scheme: &'static str,
    /// The host, a domain name in lower case.
    pub host: String,
    /// The port, when the URL names one.
    pub port: Option<u16>,
}

impl PublicUrl {
    /// The WebAuthn origin: `scheme://host[:port]`, without a trailing slash.
    pub fn origin(&self) -> String {
        match self.port {
            Some(port) => format!("{}://{}:{port}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }
}

const PUBLIC_URL: &str = "web.public_url";
const RP_ID: &str = "web.rp_id";

impl WebSettings {
    /// Every rule of the section, in the order of its keys; the first broken one is returned.
    pub fn validate(&self) -> Result<(), InvalidWebSetting> {
        let url = self.public_url()?;
        self.check_rp_id(&url)?;
        self.check_tls()?;
        if self.approval_timeout < MIN_APPROVAL_TIMEOUT
            || self.approval_timeout > MAX_APPROVAL_TIMEOUT
        {
            return Err(InvalidWebSetting::new(
                "web.approval_timeout",
                format!(
                    "must be between {} and {}, got {}",
                    humantime::format_duration(MIN_APPROVAL_TIMEOUT),
                    humantime::format_duration(MAX_APPROVAL_TIMEOUT),
                    humantime::format_duration(self.approval_timeout)
                ),
            ));
        }
        check_user(&self.user)?;
        self.check_vapid()?;
        if self.forwarded_for && !self.listen.ip().is_loopback() {
            return Err(InvalidWebSetting::new(
                "web.forwarded_for",
                format!(
                    "may only be true when web.listen is a loopback address (a reverse proxy \
                     on this host), got listen = \"{}\": anyone could forge the header",
                    self.listen
                ),
            ));
        }
        Ok(())
    }

    /// `public_url` parsed: `https://host[:port][/]`, or `http://` when the host is
    /// `localhost`. No user, path, query or fragment: the pages live at the root.
    pub fn public_url(&self) -> Result<PublicUrl, InvalidWebSetting> {
        let url = self.public_url.as_str();
        let refuse = |why: &str| InvalidWebSetting::new(PUBLIC_URL, format!("{why}, got `{url}`"));
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            ("https", rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            ("http", rest)
        } else {
            return Err(refuse("must start with https://"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(refuse(
                "must be only scheme, host and port (no user, path, query or fragment): \
                 mfa-web serves its pages at the root",
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, text)) => match text.parse::<u16>() {
                // Only plain digits as written: `:+443` and `:08443` parse too.
                Ok(port) if port != 0 && port.to_string() == text => (host, Some(port)),
                _ => return Err(refuse("has a port that is not a number from 1 to 65535")),
            },
            None => (authority, None),
        };
        check_domain(PUBLIC_URL, host, url)?;
        if scheme == "http" && !is_localhost(host) {
            return Err(refuse(
                "must start with https:// (http:// is only for localhost, for tests)",
            ));
        }
        Ok(PublicUrl {
            scheme,
            host: host.to_owned(),
            port,
        })
    }

    /// The WebAuthn relying party id: `rp_id`, or `public_url`'s host.
    pub fn effective_rp_id(&self) -> Result<String, InvalidWebSetting> {
        let url = self.public_url()?;
        self.check_rp_id(&url)?;
        Ok(self.rp_id.clone().unwrap_or(url.host))
    }

    /// The TLS certificate and key files, when both are set.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        self.tls_cert_file
            .as_deref()
            .zip(self.tls_key_file.as_deref())
    }

    /// `rp_id` is `url`'s host or a parent domain of it. Without the public suffix list a
    /// parent is only required to have two labels, which refuses a bare `com` but not
    /// `co.uk`; a browser refuses those itself, at the first ceremony.
    fn check_rp_id(&self, url: &PublicUrl) -> Result<(), InvalidWebSetting> {
        let Some(rp_id) = &self.rp_id else {
            return Ok(());
        };
        check_domain(RP_ID, rp_id, rp_id)?;
        let is_parent = url
            .host
            .strip_suffix(rp_id.as_str())
            .is_some_and(|head| head.ends_with('.'))
            && rp_id.contains('.');
        if rp_id == &url.host || is_parent {
            Ok(())
        } else {
            Err(InvalidWebSetting::new(
                RP_ID,
                format!(
                    "must be web.public_url's host `{}` or a domain it is under, got `{rp_id}`",
                    url.host
                ),
            ))
        }
    }

    fn check_tls(&self) -> Result<(), InvalidWebSetting> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => {
                return Err(InvalidWebSetting::new(
                    "web.tls_key_file",
                    "must be set together with web.tls_cert_file",
                ));
            }
            (None, Some(_)) => {
                return Err(InvalidWebSetting::new(
                    "web.tls_cert_file",
                    "must be set together with web.tls_key_file",
                ));
            }
            (Some(cert), Some(key)) => {
                absolute("web.tls_cert_file", cert)?;
                absolute("web.tls_key_file", key)?;
            }
            (None, None) if !self.listen.ip().is_loopback() => {
                return Err(InvalidWebSetting::new(
                    "web.tls_cert_file",
                    format!(
                        "is required when web.listen is not a loopback address (got \"{}\"): \
                         set web.tls_cert_file and web.tls_key_file, or listen on 127.0.0.1 \
                         behind a reverse proxy that does TLS",
                        self.listen
                    ),
                ));
            }
            (None, None) => {}
        }
        Ok(())
    }

    fn check_vapid(&self) -> Result<(), InvalidWebSetting> {
        match (&self.vapid_key_file, &self.vapid_subject) {
            (Some(key), Some(subject)) => {
                absolute("web.vapid_key_file", key)?;
                let named = ["mailto:", "https://"]
                    .iter()
                    .any(|p| subject.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
                if !named || subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(InvalidWebSetting::new(
                        "web.vapid_subject",
                        format!(
                            "must be a mailto: or https: address push services can reach you \
                             at, got `{subject}`"
                        ),
                    ));
                }
                Ok(())
            }
            (Some(_), None) => Err(InvalidWebSetting::new(
                "web.vapid_subject",
                "is required with web.vapid_key_file (push services want a mailto: or https: \
                 contact)",
            )),
            (None, Some(_)) => Err(InvalidWebSetting::new(
                "web.vapid_key_file",
                "must be set for web.vapid_subject to mean anything (Web Push is off without it)",
            )),
            (None, None) => Ok(()),
        }
    }
}

fn is_localhost(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// `host` is a domain name in lower case: labels of letters, digits and hyphens, not an IP
/// address (browsers refuse WebAuthn for an IP address).
fn check_domain(key: &'static str, host: &str, shown: &str) -> Result<(), InvalidWebSetting> {
    if host.starts_with('[') || host.parse::<Ipv4Addr>().is_ok() {
        return Err(InvalidWebSetting::new(
            key,
            format!(
                "must name a domain, not an IP address (browsers refuse passkeys on an IP \
                 address; use `localhost` for tests), got `{shown}`"
            ),
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(InvalidWebSetting::new(
            key,
            format!(
                "must have a domain name of lower-case letters, digits, hyphens and dots as its \
                 host, got `{shown}`"
            ),
        ));
    }
    Ok(())
}

/// Whether `user` has the shape of a system account name (what `useradd` and the sysusers
/// file make): 1 to 32 lower-case letters, digits, `_` and `-`, not starting with `-`.
pub(crate) fn is_account_name(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 32
        && !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_user(user: &str) -> Result<(), InvalidWebSetting> {
    if is_account_name(user) {
        Ok(())
    } else {
        Err(InvalidWebSetting::new(
            "web.user",
            format!(
                "must be an account name of 1 to 32 lower-case letters, digits, `_` and `-`, \
                 got `{user}`"
            ),
        ))
    }
}

fn absolute(key: &'static str, path: &Path) -> Result<(), InvalidWebSetting> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(InvalidWebSetting::new(
            key,
            format!("must be an absolute path, got `{}`", path.display()),
        ))
    }
}

/// A duration key: `"90s"`, `"1m"`; worded like the daemon's other duration keys.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration ({e}); write e.g. \"90s\", \"15m\" or \"1h\""
        ))
    })
}

#[cfg(test)]
mod tests;
