//! The rules every delivery section (`crate::config`'s `[twilio]`, `[webhook]`, `[email]`)
//! must pass before the daemon starts: where a transport without TLS may go, what a provider
//! URL, a Twilio SID and a phone number look like. The sections themselves are in
//! `crate::config`; this module only reads them.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

/// A delivery setting that cannot work, found before the daemon starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfigError {
    /// The dotted key, e.g. `twilio.api_url`, or a section name such as `twilio`.
    pub key: String,
    /// What is wrong, in words a sysadmin can act on.
    pub problem: String,
}

impl DeliveryConfigError {
    pub(crate) fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        DeliveryConfigError {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for DeliveryConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

impl std::error::Error for DeliveryConfigError {}

/// Whether `host` (a URL host or an SMTP host name) is this machine's loopback: the literal
/// `localhost`, an address in 127.0.0.0/8, or `::1`. Names are not resolved, so a name that
/// happens to resolve to loopback does not count.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `number` is a phone number in E.164 form: `+` and 8 to 15 digits, the first not zero.
pub(crate) fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// The kernel setting that says where unprivileged ports begin (it applies to IPv6 too).
const UNPRIVILEGED_PORT_START: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
/// Its value when it cannot be read: the kernel's default.
const DEFAULT_UNPRIVILEGED_PORT_START: u32 = 1024;

/// Where a connection without TLS may go. Plain http and SMTP without TLS carry the provider's
/// credentials (`Authorization: Basic`, SMTP AUTH) and the codes: only a loopback host on a
/// port that no unprivileged user can bind is safe, because whoever binds the port while the
/// relay is down receives them. Test suites run stand-ins on high ports, and only a section's
/// `insecure_loopback_plaintext_for_tests` lets plain text go there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlaintextRule {
    /// The first port any user may bind (`net.ipv4.ip_unprivileged_port_start`).
    unprivileged_port_start: u32,
}

impl PlaintextRule {
    /// The rule for this machine's network namespace, as the kernel says now. A later change
    /// of the sysctl is seen at the next start, reload or `--check-config`. Where /proc/sys is
    /// hidden (the shipped unit's `ProcSubset=pid`) the kernel's default is assumed; root's
    /// `--check-config` outside the unit reads the real value.
    pub(crate) fn from_kernel() -> PlaintextRule {
        let start = std::fs::read_to_string(UNPRIVILEGED_PORT_START)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(DEFAULT_UNPRIVILEGED_PORT_START);
        PlaintextRule::with_unprivileged_port_start(start)
    }

    /// The rule when unprivileged users may bind ports from `start` up.
    pub(crate) fn with_unprivileged_port_start(start: u32) -> PlaintextRule {
        PlaintextRule {
            unprivileged_port_start: start,
        }
    }

    /// Whether plain text may go to `host`:`port`; `for_tests` is the section's
    /// `insecure_loopback_plaintext_for_tests`.
    fn check(self, host: &str, port: u16, for_tests: bool) -> Result<(), PlaintextRefusal> {
        if !is_loopback_host(host) {
            return Err(PlaintextRefusal::NotLoopback);
        }
        if for_tests || u32::from(port) < self.unprivileged_port_start {
            return Ok(());
        }
        Err(PlaintextRefusal::UnprivilegedPort {
            port,
            unprivileged_port_start: self.unprivileged_port_start,
        })
    }
}

/// Why a plain-text transport was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlaintextRefusal {
    /// The host is not this machine's loopback.
    NotLoopback,
    /// Any local user may listen on the port.
    UnprivilegedPort {
        port: u16,
        unprivileged_port_start: u32,
    },
}

impl PlaintextRefusal {
    /// What is wrong with `what` (e.g. "plain http://") at `got`, and what to do: `secure`
    /// names the protected alternative.
    fn explain(self, what: &str, secure: &str, got: &str) -> String {
        match self {
            PlaintextRefusal::NotLoopback => format!(
                "{what} is allowed only to a loopback host (127.0.0.1, ::1, localhost) on a \
                 privileged port; use {secure}, got {got}"
            ),
            PlaintextRefusal::UnprivilegedPort {
                port,
                unprivileged_port_start,
            } => format!(
                "{what} to port {port} is refused: any local user may listen on ports from \
                 {unprivileged_port_start} up (sysctl net.ipv4.ip_unprivileged_port_start) and \
                 would receive the credentials and codes while the relay is down; use \
                 {secure}, or run the local relay on a port below {unprivileged_port_start}; \
                 got {got}"
            ),
        }
    }
}

/// Checks that SMTP without TLS (`email.tls = "none"`) goes to a loopback host on a
/// privileged port, or to any loopback port when `for_tests` is set.
pub(crate) fn plain_smtp(
    rule: PlaintextRule,
    host: &str,
    port: u16,
    for_tests: bool,
) -> Result<(), DeliveryConfigError> {
    rule.check(host, port, for_tests).map_err(|refusal| {
        DeliveryConfigError::new(
            "email.tls",
            refusal.explain(
                "tls = \"none\"",
                "tls = \"starttls\" or \"tls\"",
                &format!("smtp_host = {host:?}, smtp_port = {port}"),
            ),
        )
    })
}

/// Parses the provider URL at `key`: https anywhere, plain http only where `rule` allows it,
/// no user name or password in it (credentials come from files), no fragment. `for_tests` is
/// the section's `insecure_loopback_plaintext_for_tests`.
pub(crate) fn provider_url(
    key: &str,
    text: &str,
    rule: PlaintextRule,
    for_tests: bool,
) -> Result<Url, DeliveryConfigError> {
    let url = Url::parse(text)
        .map_err(|e| DeliveryConfigError::new(key, format!("not a URL ({e}): {text}")))?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" => {}
        "http" => {
            let port = url.port_or_known_default().unwrap_or(80);
            rule.check(host, port, for_tests).map_err(|refusal| {
                DeliveryConfigError::new(key, refusal.explain("plain http://", "https://", text))
            })?;
        }
        other => {
            return Err(DeliveryConfigError::new(
                key,
                format!("the URL must start with https://, not {other}://"),
            ));
        }
    }
    if host.is_empty() {
        return Err(DeliveryConfigError::new(key, "the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DeliveryConfigError::new(
            key,
            "the URL must not carry a user name or password: credentials come from files",
        ));
    }
    if url.fragment().is_some() {
        return Err(DeliveryConfigError::new(
            key,
            "the URL must not have a #fragment",
        ));
    }
    Ok(url)
}

/// Checks a Twilio SID: `prefix` followed by 32 hex digits (it becomes part of a URL path).
pub(crate) fn twilio_sid(key: &str, prefix: &str, sid: &str) -> Result<(), DeliveryConfigError> {
    let hex = sid.strip_prefix(prefix).unwrap_or_default();
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(DeliveryConfigError::new(
            key,
            format!("expected {prefix} followed by 32 hex digits, got {sid:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "localhost",
            "LocalHost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "example.com",
            "localhost.example.com",
            "128.0.0.1",
            "::2",
            "0.0.0.0",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    /// The kernel's default: ports from 1024 up are anyone's.
    const DEFAULT_RULE: PlaintextRule = PlaintextRule {
        unprivileged_port_start: 1024,
    };

    #[test]
    fn plain_http_only_to_a_privileged_loopback_port() {
        for ok in [
            "http://127.0.0.1:587",
            "http://[::1]:9/hook",
            "http://localhost/x",
            "http://127.0.0.1:1023",
            "https://api.twilio.com",
            "https://10.0.0.1/hook",
            "https://127.0.0.1:8443/hook",
        ] {
            assert!(
                provider_url("webhook.url", ok, DEFAULT_RULE, false).is_ok(),
                "{ok}"
            );
        }
        let refused =
            provider_url("twilio.api_url", "http://x.example", DEFAULT_RULE, false).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "twilio.api_url: plain http:// is allowed only to a loopback host (127.0.0.1, ::1, \
             localhost) on a privileged port; use https://, got http://x.example"
        );
        for bad in [
            "http://10.0.0.1",
            "http://example.com:80",
            "http://127.0.0.1.example.com",
        ] {
            for for_tests in [false, true] {
                let e = provider_url("webhook.url", bad, DEFAULT_RULE, for_tests).unwrap_err();
                assert!(e.problem.contains("loopback"), "{bad}: {e}");
            }
        }
        for bad in [
            "ftp://127.0.0.1",
            "https://user:pw@example.com",
            "https://e.com/#x",
            "nonsense",
        ] {
            let e = provider_url("webhook.url", bad, DEFAULT_RULE, true).unwrap_err();
            assert_eq!(e.key, "webhook.url");
        }
    }

    /// The attack: with the relay down, a local user binds its high port and reads the
    /// `Authorization: Basic` header and the code.
    #[test]
    fn plain_http_to_a_port_anyone_may_bind_is_refused_unless_for_tests() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:1024/",
            "http://[::1]:40000/hook",
            "http://localhost:65535",
        ] {
            let e = provider_url("twilio.api_url", url, DEFAULT_RULE, false).unwrap_err();
            assert_eq!(e.key, "twilio.api_url");
            assert!(
                e.problem.contains("any local user may listen")
                    && e.problem.contains("net.ipv4.ip_unprivileged_port_start")
                    && e.problem.contains("use https://"),
                "{url}: {e}"
            );
            assert!(provider_url("twilio.api_url", url, DEFAULT_RULE, true).is_ok());
        }
    }

    #[test]
    fn the_privileged_range_follows_the_sysctl() {
        // Containers often set net.ipv4.ip_unprivileged_port_start = 0: no port is safe.
        let nothing_privileged = PlaintextRule::with_unprivileged_port_start(0);
        let e = provider_url(
            "webhook.url",
            "http://127.0.0.1/",
            nothing_privileged,
            false,
        )
        .unwrap_err();
        assert!(e.problem.contains("port 80"), "{e}");
        assert!(provider_url("webhook.url", "http://127.0.0.1/", nothing_privileged, true).is_ok());
        let raised = PlaintextRule::with_unprivileged_port_start(10_000);
        assert!(provider_url("webhook.url", "http://127.0.0.1:8080", raised, false).is_ok());
        assert!(provider_url("webhook.url", "http://127.0.0.1:10000", raised, false).is_err());
    }

    #[test]
    fn kernel_rule_is_read_or_defaults() {
        let rule = PlaintextRule::from_kernel();
        match std::fs::read_to_string(UNPRIVILEGED_PORT_START) {
            Ok(text) => assert_eq!(
                rule.unprivileged_port_start,
                text.trim().parse::<u32>().unwrap()
            ),
            Err(_) => assert_eq!(rule, DEFAULT_RULE),
        }
    }

    #[test]
    fn plain_smtp_only_to_a_privileged_loopback_port() {
        assert!(plain_smtp(DEFAULT_RULE, "127.0.0.1", 25, false).is_ok());
        assert!(plain_smtp(DEFAULT_RULE, "::1", 25, false).is_ok());
        let e = plain_smtp(DEFAULT_RULE, "127.0.0.1", 2525, false).unwrap_err();
        assert_eq!(e.key, "email.tls");
        assert!(
            e.problem.contains("port 2525")
                && e.problem.contains("use tls = \"starttls\" or \"tls\"")
                && e.problem.contains("smtp_port = 2525"),
            "{e}"
        );
        assert!(plain_smtp(DEFAULT_RULE, "127.0.0.1", 2525, true).is_ok());
        for host in ["10.0.0.1", "mail.example.com"] {
            let e = plain_smtp(DEFAULT_RULE, host, 25, true).unwrap_err();
            assert!(e.problem.contains("only to a loopback host"), "{e}");
        }
    }

    #[test]
    fn twilio_sids() {
        let good = format!("AC{}", "0123456789abcdef".repeat(2));
        assert!(twilio_sid("twilio.account_sid", "AC", &good).is_ok());
        for bad in [
            "AC123",
            "MG0123456789abcdef0123456789abcdef",
            "AC0123456789abcdef0123456789abcde/",
            "",
        ] {
            assert!(
                twilio_sid("twilio.account_sid", "AC", bad).is_err(),
                "{bad}"
            );
        }
    }
}
