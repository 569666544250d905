//! What a login request may say, and whose failures it counts as: checked before anything
//! is looked up, the same for every front end.

use mfa_proto::AuthRequest;

use crate::connection::Caller;
use crate::username;

/// Longest value accepted in the other fields of an authentication request.
const MAX_FIELD: usize = 1024;
/// Longest `SSH_AUTH_INFO_0` accepted: it lists the public keys that passed, and an RSA
/// key alone is over 700 bytes.
const MAX_AUTH_INFO: usize = 16 * 1024;
/// Longest remote host accepted: a DNS name is at most 253 bytes.
pub const MAX_RHOST: usize = 255;
/// Longest PAM service name a caller other than root may send: every service in a
/// distribution's /etc/pam.d (`cinnamon-screensaver`, `gdm-fingerprint`, `polkit-1`) is far
/// shorter.
pub const MAX_USER_SERVICE: usize = 64;
/// Longest service name root's callers may send: a file name in /etc/pam.d (`NAME_MAX`).
pub const MAX_ROOT_SERVICE: usize = 255;

/// The source of a non-root caller.
pub fn uid_source(uid: u32) -> String {
    format!("uid:{uid}")
}

/// The source failures are counted against. For root's callers (sshd, sudo, login) the
/// remote host, or `service:tty` for local logins. For any other caller its uid: what it
/// says about its host and terminal is its own word, and must not let it spread its guesses
/// over sources it invents.
pub fn source_of(auth: &AuthRequest, caller: Caller) -> String {
    if !caller.relays_for_anyone() {
        return uid_source(caller.uid);
    }
    match auth.rhost.as_deref().filter(|h| !h.is_empty()) {
        Some(rhost) => rhost.to_owned(),
        None => format!("{}:{}", auth.service, auth.tty.as_deref().unwrap_or("")),
    }
}

/// What is wrong with the PAM service a login names, if anything. It goes into every audit
/// line of the login, so a caller other than root (a screen locker, or anyone speaking the
/// protocol) must send a short file name of `/etc/pam.d`: letters, digits and `-_.+@`.
/// Root's callers name the service their application passed to `pam_start`, trusted but
/// capped in length; so does `mfa-radius`, whose `radius:NAME` its door checked.
pub fn service_problem(service: &str, caller: Caller) -> Option<String> {
    if caller.relays_for_anyone() {
        return (service.len() > MAX_ROOT_SERVICE).then(|| {
            format!(
                "service may not exceed {MAX_ROOT_SERVICE} bytes, got {}",
                service.len()
            )
        });
    }
    let file_name = service
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.+@".contains(&b));
    let shaped = file_name && !service.starts_with('.');
    (service.is_empty() || service.len() > MAX_USER_SERVICE || !shaped).then(|| {
        format!(
            "service must be a PAM service name of 1 to {MAX_USER_SERVICE} letters, digits \
             and `-_.+@` (got {} bytes)",
            service.len()
        )
    })
}

/// What is wrong with a request's fields, if anything: the user name must be one that can
/// be looked up, the remote host a host name or address, nothing oversized.
pub fn field_problem(auth: &AuthRequest) -> Option<String> {
    if auth.user.is_empty() || auth.user.len() > username::MAX_LEN {
        return Some(format!(
            "user must be 1 to {} bytes, got {}",
            username::MAX_LEN,
            auth.user.len()
        ));
    }
    if let Some(rhost) = auth.rhost.as_deref() {
        let host_shaped = rhost
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:%[]".contains(&b));
        if rhost.len() > MAX_RHOST || !host_shaped {
            return Some(format!(
                "rhost must be a host name or address of at most {MAX_RHOST} bytes"
            ));
        }
    }
    let others = [Some(&auth.service), auth.tty.as_ref(), auth.ruser.as_ref()];
    if others.iter().flatten().any(|f| f.len() > MAX_FIELD) {
        return Some(format!(
            "service, tty and ruser may not exceed {MAX_FIELD} bytes"
        ));
    }
    if auth
        .auth_info
        .as_ref()
        .is_some_and(|i| i.len() > MAX_AUTH_INFO)
    {
        return Some(format!("auth_info may not exceed {MAX_AUTH_INFO} bytes"));
    }
    None
}
