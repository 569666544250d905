//! `[radius]`: where `mfa-radius` listens, which RADIUS clients it answers, and how it checks
//! passwords; and the names a RADIUS login carries to the daemon.
//!
//! Both the daemon (which answers `radius.sock` for the `[radius] user` account and checks that
//! a login names a configured client) and `mfa-radius` (which serves UDP) read this section of
//! the one config file, so its shape and its checks live here, once.
//!
//! `mfa-radius` speaks the PAM conversation on its own socket, [`radius_socket`]: a login's
//! service is [`service_name`] of the client (so `[[policy.rule]]` can name one client), and
//! its source, for attempt limits and audit, is [`source_name`]: the client and the caller it
//! reports (`Calling-Station-Id`). Neither can be a PAM service or a remote host of sshd's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// The account `mfa-radius` runs as unless `[radius] user` says otherwise.
pub const DEFAULT_RADIUS_USER: &str = "mfa-radius";
/// The PAM service `password = "pam"` checks passwords with unless `pam_service` says otherwise.
pub const DEFAULT_PAM_SERVICE: &str = "mfa-radius";
/// The socket's file name, beside the daemon's public socket.
pub const RADIUS_SOCKET: &str = "radius.sock";
/// The RADIUS authentication port (RFC 2865).
pub const RADIUS_PORT: u16 = 1812;
/// Requests per second a client may send unless `requests_per_second` says otherwise.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 50;
/// Most `requests_per_second` accepted.
pub const MAX_REQUESTS_PER_SECOND: u32 = 10_000;
/// Longest client name: it goes into every service name, source and audit line.
pub const MAX_CLIENT_NAME: usize = 32;
/// Most bytes of `Calling-Station-Id` kept in a source: a MAC address or an IPv6 address with
/// a port fits; the rest would only let a client spread one caller's guesses over many names.
pub const MAX_CALLING_STATION: usize = 64;
/// Prefix of every RADIUS login's service and source.
pub const PREFIX: &str = "radius:";

/// The RADIUS socket that goes with the daemon's public socket `public`: the same directory,
/// file name [`RADIUS_SOCKET`] (`/run/mfa/mfa.sock` → `/run/mfa/radius.sock`).
pub fn radius_socket(public: &Path) -> PathBuf {
    public.parent().map_or_else(
        || PathBuf::from(RADIUS_SOCKET),
        |dir| dir.join(RADIUS_SOCKET),
    )
}

/// The PAM service a login through client `client` is decided as: `radius:NAME`.
pub fn service_name(client: &str) -> String {
    format!("{PREFIX}{client}")
}

/// The source a login through `client` is counted and audited as: `radius:NAME`, or
/// `radius:NAME:CALLER` with the client's `Calling-Station-Id`, its bytes outside
/// `[A-Za-z0-9.:-]` written as `_` and cut at [`MAX_CALLING_STATION`] bytes.
pub fn source_name(client: &str, calling_station: Option<&[u8]>) -> String {
    let mut source = service_name(client);
    if let Some(caller) = calling_station.filter(|c| !c.is_empty()) {
        source.push(':');
        source.extend(caller.iter().take(MAX_CALLING_STATION).map(|&b| {
            if b.is_ascii_alphanumeric() || b".:-".contains(&b) {
                char::from(b)
            } else {
                '_'
            }
        }));
    }
    source
}

/// The client a service name `radius:NAME` names, if it has that shape.
pub fn client_of_service(service: &str) -> Option<&str> {
    service
        .strip_prefix(PREFIX)
        .filter(|name| client_name_problem(name).is_none())
}

/// Whether `source` is one [`source_name`] can make for `client`.
pub fn source_is_of(source: &str, client: &str) -> bool {
    let Some(rest) = source
        .strip_prefix(PREFIX)
        .and_then(|s| s.strip_prefix(client))
    else {
        return false;
    };
    match rest.strip_prefix(':') {
        None => rest.is_empty(),
        Some(caller) => {
            !caller.is_empty()
                && caller.len() <= MAX_CALLING_STATION
                && caller
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".:-_".contains(&b))
        }
    }
}

/// The `[radius]` section of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusSettings {
    /// Addresses and ports `mfa-radius` listens on (UDP).
    #[serde(default = "default_listen")]
    pub listen: Vec<SocketAddr>,
    /// The account `mfa-radius` runs as; the daemon answers its socket for it and root.
    #[serde(default = "default_user")]
    pub user: String,
    /// Who checks the password.
    #[serde(default)]
    pub password: PasswordCheck,
    /// The PAM service `password = "pam"` checks passwords with.
    #[serde(default = "default_pam_service")]
    pub pam_service: String,
    /// The RADIUS clients answered (`[[radius.client]]`); every other address is ignored.
    #[serde(default, rename = "client")]
    pub clients: Vec<RadiusClient>,
}

/// Who checks the password of a RADIUS login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordCheck {
    /// The client checked it itself; `User-Password` carries only the code (or a keyword).
    #[default]
    None,
    /// `User-Password` carries the password (and maybe a code after it), checked with PAM.
    Pam,
}

impl fmt::Display for PasswordCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PasswordCheck::None => "none",
            PasswordCheck::Pam => "pam",
        })
    }
}

/// One `[[radius.client]]`: a NAS (VPN concentrator, firewall, Wi-Fi controller) allowed to ask.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusClient {
    /// A short name: the service is `radius:NAME`, the source starts with it.
    pub name: String,
    /// The address or network its requests come from.
    pub address: ClientNetwork,
    /// The file holding the shared secret (0600; at least 16 characters).
    pub secret_file: PathBuf,
    /// Drop its Access-Requests that carry no Message-Authenticator (BlastRADIUS).
    #[serde(default = "yes")]
    pub require_message_authenticator: bool,
    /// Requests per second it may send (the same again as a burst); more are dropped.
    #[serde(default = "default_rate")]
    pub requests_per_second: u32,
}

/// An address, or a network in CIDR notation, that a client's requests come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientNetwork {
    /// The network's first address (host bits cleared).
    base: IpAddr,
    /// Prefix length in bits.
    prefix: u8,
}

impl ClientNetwork {
    /// Whether `ip` is in the network. An IPv4 address written as IPv6 (`::ffff:192.0.2.1`,
    /// as a dual-stack socket reports it) is the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                mask_v4(ip, self.prefix) == base && self.prefix <= 32
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => mask_v6(ip, self.prefix) == base,
            _ => false,
        }
    }

    /// The prefix length: 32 or 128 for one address.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }
}

fn mask_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let bits = u32::from(ip);
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    Ipv4Addr::from(bits & mask)
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let bits = u128::from(ip);
    let mask = u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0);
    Ipv6Addr::from(bits & mask)
}

impl fmt::Display for ClientNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// Why an `address` is not an address or a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNetwork(String);

impl fmt::Display for BadNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadNetwork {}

impl FromStr for ClientNetwork {
    type Err = BadNetwork;

    fn from_str(text: &str) -> Result<ClientNetwork, BadNetwork> {
        let bad = |why: &str| BadNetwork(format!("{why}, got `{text}`"));
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| {
            bad("must be an IPv4 or IPv6 address, or a network such as 10.0.0.0/24")
        })?;
        let ip = ip.to_canonical();
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(len) => match len.parse::<u8>() {
                Ok(n) if n <= max && n.to_string() == len => n,
                _ => return Err(bad(&format!("has a prefix length that is not 0 to {max}"))),
            },
        };
        let base = match ip {
            IpAddr::V4(v4) => IpAddr::V4(mask_v4(v4, prefix)),
            IpAddr::V6(v6) => IpAddr::V6(mask_v6(v6, prefix)),
        };
        if base != ip {
            return Err(bad(&format!(
                "has bits set past the prefix (the network is {base}/{prefix})"
            )));
        }
        Ok(ClientNetwork { base, prefix })
    }
}

impl<'de> Deserialize<'de> for ClientNetwork {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ClientNetwork, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn default_listen() -> Vec<SocketAddr> {
    vec![
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), RADIUS_PORT),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), RADIUS_PORT),
    ]
}

fn default_user() -> String {
    DEFAULT_RADIUS_USER.to_owned()
}

fn default_pam_service() -> String {
    DEFAULT_PAM_SERVICE.to_owned()
}

fn default_rate() -> u32 {
    DEFAULT_REQUESTS_PER_SECOND
}

fn yes() -> bool {
    true
}

/// A `[radius]` value the checks refuse: the dotted key (with the client's name) and why, in
/// words a sysadmin can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRadiusSetting {
    /// The dotted key: `radius.listen`, `radius.client "vpn1".secret_file`.
    pub key: String,
    /// What is wrong.
    pub why: String,
}

impl InvalidRadiusSetting {
    fn new(key: impl Into<String>, why: impl Into<String>) -> InvalidRadiusSetting {
        InvalidRadiusSetting {
            key: key.into(),
            why: why.into(),
        }
    }
}

impl fmt::Display for InvalidRadiusSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`: {}", self.key, self.why)
    }
}

impl std::error::Error for InvalidRadiusSetting {}

/// What is wrong with a client name, if anything.
fn client_name_problem(name: &str) -> Option<String> {
    let shaped = !name.is_empty()
        && name.len() <= MAX_CLIENT_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    (!shaped).then(|| {
        format!(
            "must be 1 to {MAX_CLIENT_NAME} letters, digits, `_`, `.` and `-`, got `{}`",
            name.escape_debug()
        )
    })
}

impl RadiusSettings {
    /// Every rule of the section; the first broken one is returned. The secret files are
    /// not opened here: only `mfa-radius` reads them.
    pub fn check(&self) -> Result<(), InvalidRadiusSetting> {
        if self.listen.is_empty() {
            return Err(InvalidRadiusSetting::new(
                "radius.listen",
                "must name at least one address and port",
            ));
        }
        for (i, addr) in self.listen.iter().enumerate() {
            if addr.port() == 0 {
                return Err(InvalidRadiusSetting::new(
                    "radius.listen",
                    format!("`{addr}` has port 0; give the port to listen on (1812)"),
                ));
            }
            if self.listen[..i].contains(addr) {
                return Err(InvalidRadiusSetting::new(
                    "radius.listen",
                    format!("`{addr}` is listed twice"),
                ));
            }
        }
        check_account("radius.user", &self.user)?;
        if self.password == PasswordCheck::Pam {
            check_pam_service(&self.pam_service)?;
        }
        if self.clients.is_empty() {
            return Err(InvalidRadiusSetting::new(
                "radius.client",
                "no [[radius.client]]: mfa-radius would answer no one",
            ));
        }
        for (i, client) in self.clients.iter().enumerate() {
            self.check_client(client, &self.clients[..i])?;
        }
        Ok(())
    }

    fn check_client(
        &self,
        client: &RadiusClient,
        before: &[RadiusClient],
    ) -> Result<(), InvalidRadiusSetting> {
        if let Some(why) = client_name_problem(&client.name) {
            return Err(InvalidRadiusSetting::new("radius.client.name", why));
        }
        let key = |field: &str| format!("radius.client \"{}\".{field}", client.name);
        if before.iter().any(|c| c.name == client.name) {
            return Err(InvalidRadiusSetting::new(
                key("name"),
                "two clients have this name",
            ));
        }
        if let Some(other) = before.iter().find(|c| c.address == client.address) {
            return Err(InvalidRadiusSetting::new(
                key("address"),
                format!(
                    "{} is also client \"{}\"'s: a request could not tell whose secret to use",
                    client.address, other.name
                ),
            ));
        }
        if client.secret_file.as_os_str().is_empty() {
            return Err(InvalidRadiusSetting::new(
                key("secret_file"),
                "must name the file holding the shared secret",
            ));
        }
        if client.requests_per_second == 0 || client.requests_per_second > MAX_REQUESTS_PER_SECOND {
            return Err(InvalidRadiusSetting::new(
                key("requests_per_second"),
                format!(
                    "must be 1 to {MAX_REQUESTS_PER_SECOND}, got {}",
                    client.requests_per_second
                ),
            ));
        }
        Ok(())
    }

    /// The client that requests from `ip` come from: the one whose network holds it with
    /// the longest prefix (a host inside a client's network may have its own secret).
    pub fn client_for(&self, ip: IpAddr) -> Option<&RadiusClient> {
        self.clients
            .iter()
            .filter(|c| c.address.contains(ip))
            .max_by_key(|c| c.address.prefix_len())
    }

    /// The client named `name`.
    pub fn client(&self, name: &str) -> Option<&RadiusClient> {
        self.clients.iter().find(|c| c.name == name)
    }
}

fn check_account(key: &str, user: &str) -> Result<(), InvalidRadiusSetting> {
    if crate::web_settings::is_account_name(user) {
        Ok(())
    } else {
        Err(InvalidRadiusSetting::new(
            key,
            format!(
                "must be an account name of 1 to 32 lower-case letters, digits, `_` and `-`, \
                 got `{}`",
                user.escape_debug()
            ),
        ))
    }
}

fn check_pam_service(service: &str) -> Result<(), InvalidRadiusSetting> {
    let ok = !service.is_empty()
        && service.len() <= 64
        && !service.starts_with('.')
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(InvalidRadiusSetting::new(
            "radius.pam_service",
            format!(
                "must be a file name in /etc/pam.d (1 to 64 letters, digits and `-_.+@`), got `{}`",
                service.escape_debug()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_clients: &[(&str, &str)]) -> RadiusSettings {
        RadiusSettings {
            listen: default_listen(),
            user: default_user(),
            password: PasswordCheck::None,
            pam_service: default_pam_service(),
            clients: toml_clients
                .iter()
                .map(|(name, addr)| RadiusClient {
                    name: (*name).to_owned(),
                    address: addr.parse().unwrap(),
                    secret_file: PathBuf::from("/etc/mfa/s"),
                    require_message_authenticator: true,
                    requests_per_second: 50,
                })
                .collect(),
        }
    }

    #[test]
    fn networks_parse_and_hold_their_addresses() {
        let net: ClientNetwork = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let one: ClientNetwork = "::1".parse().unwrap();
        assert_eq!(one.prefix_len(), 128);
        assert!(one.contains("::1".parse().unwrap()));
        let all: ClientNetwork = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let mapped: ClientNetwork = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(mapped.to_string(), "192.0.2.7/32");
    }

    #[test]
    fn networks_refuse_what_is_not_one() {
        for bad in [
            "10.0.0.1/24",
            "10.0.0.0/33",
            "10.0.0.0/024",
            "host",
            "10.0.0.0/",
            "fd00::/129",
        ] {
            assert!(bad.parse::<ClientNetwork>().is_err(), "{bad}");
        }
        let why = "10.0.0.1/24"
            .parse::<ClientNetwork>()
            .unwrap_err()
            .to_string();
        assert!(why.contains("10.0.0.0/24"), "{why}");
    }

    #[test]
    fn the_longest_prefix_names_the_client() {
        let s = settings(&[("lan", "10.0.0.0/8"), ("vpn", "10.0.0.5")]);
        assert_eq!(
            s.client_for("10.0.0.5".parse().unwrap()).unwrap().name,
            "vpn"
        );
        assert_eq!(
            s.client_for("10.9.0.5".parse().unwrap()).unwrap().name,
            "lan"
        );
        assert_eq!(
            s.client_for("::ffff:10.0.0.5".parse().unwrap())
                .unwrap()
                .name,
            "vpn"
        );
        assert!(s.client_for("192.0.2.1".parse().unwrap()).is_none());
    }

    #[test]
    fn check_names_the_broken_key() {
        assert_eq!(settings(&[("vpn", "10.0.0.5")]).check(), Ok(()));
        let e = settings(&[("vpn", "10.0.0.5"), ("vpn", "10.0.0.6")])
            .check()
            .unwrap_err();
        assert_eq!(e.key, "radius.client \"vpn\".name");
        let e = settings(&[("a", "10.0.0.5"), ("b", "10.0.0.5")])
            .check()
            .unwrap_err();
        assert!(e.why.contains("\"a\""), "{e}");
        let e = settings(&[("a:b", "10.0.0.5")]).check().unwrap_err();
        assert_eq!(e.key, "radius.client.name");
        let e = settings(&[]).check().unwrap_err();
        assert_eq!(e.key, "radius.client");
        let mut s = settings(&[("vpn", "10.0.0.5")]);
        s.clients[0].requests_per_second = 0;
        assert!(s.check().unwrap_err().key.ends_with("requests_per_second"));
        let mut s = settings(&[("vpn", "10.0.0.5")]);
        s.password = PasswordCheck::Pam;
        s.pam_service = "../shadow".to_owned();
        assert_eq!(s.check().unwrap_err().key, "radius.pam_service");
    }

    #[test]
    fn sources_carry_the_caller_in_a_safe_alphabet() {
        assert_eq!(source_name("vpn", None), "radius:vpn");
        assert_eq!(source_name("vpn", Some(b"")), "radius:vpn");
        assert_eq!(
            source_name("vpn", Some(b"00-11-22-33-44-55")),
            "radius:vpn:00-11-22-33-44-55"
        );
        assert_eq!(source_name("vpn", Some(b"a b\n\xff")), "radius:vpn:a_b__");
        let long = source_name("vpn", Some(&[b'9'; 300]));
        assert_eq!(long.len(), "radius:vpn:".len() + MAX_CALLING_STATION);
        for caller in [None, Some(&b"a b\n\xff"[..]), Some(&[b'9'; 300][..])] {
            assert!(source_is_of(&source_name("vpn", caller), "vpn"));
            assert!(!source_is_of(&source_name("vpn", caller), "vp"));
        }
        assert!(!source_is_of("radius:vpn2", "vpn"));
        assert!(!source_is_of("radius:vpn:", "vpn"));
        assert!(!source_is_of("10.0.0.1", "vpn"));
        assert_eq!(client_of_service("radius:vpn"), Some("vpn"));
        assert_eq!(client_of_service("radius:"), None);
        assert_eq!(client_of_service("sshd"), None);
    }

    #[test]
    fn the_socket_sits_beside_the_public_one() {
        assert_eq!(
            radius_socket(Path::new("/run/mfa/mfa.sock")),
            PathBuf::from("/run/mfa/radius.sock")
        );
    }
}
