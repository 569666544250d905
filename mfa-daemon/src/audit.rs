//! Audit events: one JSON line per enrollment, success, failure and lockout, to stderr and
//! to syslog (facility authpriv) when `/dev/log` exists. Never a code, a secret or a hash:
//! the event type has no field that could hold one.

use std::os::unix::net::UnixDatagram;
use std::path::Path;

use serde::Serialize;

const SYSLOG_SOCKET: &str = "/dev/log";
const LOG_AUTHPRIV: u8 = 10;
const LOG_WARNING: u8 = 4;
const LOG_INFO: u8 = 6;

/// One audit event.
#[derive(Debug, Default, Serialize)]
pub struct AuditEvent<'a> {
    /// `auth`, `lockout`, `enroll`, `recovery_codes`, `remove`, `unlock`, `status`.
    pub event: &'a str,
    /// Account acted on.
    pub user: &'a str,
    /// PAM service, or `mfa-enroll`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'a str>,
    /// Remote host, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rhost: Option<&'a str>,
    /// Source the attempt was counted against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'a str>,
    /// `totp` or `recovery_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factor: Option<&'a str>,
    /// `success`, `failure`, `locked_out`, `ignore`, `not_authorized`, `error`, `ok`.
    pub outcome: &'a str,
    /// Why, for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// Unix time a lockout ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// Peer uid of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

/// Where audit events go.
#[derive(Debug)]
pub struct AuditLog {
    syslog: Option<UnixDatagram>,
}

impl AuditLog {
    /// Opens syslog if `/dev/log` exists.
    pub fn open() -> AuditLog {
        let syslog = Path::new(SYSLOG_SOCKET)
            .exists()
            .then(UnixDatagram::unbound)
            .and_then(Result::ok);
        AuditLog { syslog }
    }

    /// Writes one event.
    pub fn record(&self, event: &AuditEvent<'_>) {
        let json = match serde_json::to_string(event) {
            Ok(json) => json,
            Err(e) => format!("{{\"event\":\"audit_error\",\"error\":\"{e}\"}}"),
        };
        eprintln!("audit: {json}");
        if let Some(socket) = &self.syslog {
            let severity = match event.outcome {
                "success" | "ok" | "ignore" => LOG_INFO,
                _ => LOG_WARNING,
            };
            let pri = LOG_AUTHPRIV * 8 + severity;
            let line = format!("<{pri}>mfa-daemon[{}]: {json}", std::process::id());
            // Syslog being down must not stop logins; stderr still has the event.
            let _ = socket.send_to(line.as_bytes(), SYSLOG_SOCKET);
        }
    }
}
