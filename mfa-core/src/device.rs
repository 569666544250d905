//! Trusted devices ("remember this computer"): after a successful login, the same device may
//! skip the prompt until the trust expires. A device is the public key that passed sshd's
//! first step (from `SSH_AUTH_INFO_0`, with `ExposeAuthInfo yes`) together with the remote
//! address; without a key, the remote address and the service. A login with no remote host
//! (`su -`, `sudo -i`, a console) has no device: a terminal such as `/dev/pts/0` passes from
//! one user to the next, so trusting it would let the next holder in on the first one's code.
//! Every trust also carries the record's revision: any change of factors bumps it and so ends
//! every trust at once.

use data_encoding::BASE64_NOPAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest a device may be remembered (Miro's limit).
pub const MAX_REMEMBER_SECS: u64 = 90 * 24 * 60 * 60;
/// Most trusted devices kept per user; the oldest go first.
pub const MAX_DEVICES: usize = 20;

/// What identifies a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceId {
    /// `SHA256:…` of the SSH public key, as `ssh-keygen -l` prints it; `None` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The remote host. (Records written before local logins stopped being remembered may
    /// hold `service:tty` here; no login matches those any more.)
    pub source: String,
    /// The PAM service.
    pub service: String,
}

/// A remembered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedDevice {
    /// Which device.
    pub id: DeviceId,
    /// Unix time it was trusted.
    pub since: u64,
    /// Unix time the trust ends.
    pub until: u64,
    /// The record's revision when it was trusted; a later one means the factors changed.
    pub revision: u64,
}

impl DeviceId {
    /// The device of a login from `rhost` (the remote host a trusted caller reported): the
    /// first public key in `auth_info` (sshd's `SSH_AUTH_INFO_0`, lines like `publickey
    /// ssh-ed25519 AAAA…`), the remote host and the service. `None` without a remote host: a
    /// local login is never remembered.
    pub fn of_login(
        auth_info: Option<&str>,
        rhost: Option<&str>,
        service: &str,
    ) -> Option<DeviceId> {
        let rhost = rhost.filter(|h| !h.is_empty())?;
        let key = auth_info.and_then(|info| {
            info.lines().find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some("publickey"))
                    .then(|| words.nth(1))
                    .flatten()
                    .and_then(fingerprint)
            })
        });
        Some(DeviceId {
            key,
            source: rhost.to_owned(),
            service: service.to_owned(),
        })
    }
}

/// `SHA256:<base64 without padding>` of a base64 key blob, like `ssh-keygen -l`.
fn fingerprint(blob: &str) -> Option<String> {
    let bytes = data_encoding::BASE64.decode(blob.as_bytes()).ok()?;
    Some(format!(
        "SHA256:{}",
        BASE64_NOPAD.encode(&Sha256::digest(&bytes))
    ))
}

/// Whether `id` is trusted at `now` for a record at `revision`.
pub fn is_trusted(devices: &[TrustedDevice], id: &DeviceId, revision: u64, now: u64) -> bool {
    devices
        .iter()
        .any(|d| &d.id == id && d.revision == revision && now < d.until)
}

/// Trusts `id` from `now` for `remember_secs` (capped at 90 days): replaces an earlier trust
/// of the same device, drops expired and outdated ones, keeps at most [`MAX_DEVICES`].
pub fn trust(
    devices: &mut Vec<TrustedDevice>,
    id: DeviceId,
    revision: u64,
    now: u64,
    remember_secs: u64,
) {
    devices.retain(|d| d.id != id && d.revision == revision && now < d.until);
    devices.push(TrustedDevice {
        id,
        since: now,
        until: now.saturating_add(remember_secs.min(MAX_REMEMBER_SECS)),
        revision,
    });
    if devices.len() > MAX_DEVICES {
        devices.sort_by_key(|d| d.since);
        let excess = devices.len() - MAX_DEVICES;
        devices.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    // The test key of OpenSSH's regress suite style: any valid base64 blob works.
    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    /// The device of a login from `rhost`, which has one.
    fn device(auth_info: Option<&str>, rhost: &str, service: &str) -> DeviceId {
        DeviceId::of_login(auth_info, Some(rhost), service).expect("a remote login's device")
    }

    #[test]
    fn a_device_is_its_first_public_key_source_and_service() {
        let info = format!("password\npublickey ssh-ed25519 {KEY}\n");
        let id = device(Some(&info), "192.0.2.5", "sshd");
        let fp = id.key.clone().unwrap();
        assert!(fp.starts_with("SHA256:") && !fp.ends_with('='), "{fp}");
        assert_eq!(fp.len(), "SHA256:".len() + 43);
        let other = format!("publickey ssh-rsa {}", "AAAAB3NzaC1yc2EAAAADAQABAAAAgQC");
        assert_ne!(device(Some(&other), "192.0.2.5", "sshd").key, id.key);
        assert_eq!(device(None, "192.0.2.5", "sshd").key, None);
        assert_eq!(
            device(Some("publickey ssh-ed25519 !!!"), "h", "s").key,
            None
        );
    }

    #[test]
    fn a_login_with_no_remote_host_has_no_device() {
        // `su -` on /dev/pts/0 today and another user's `su -` on the same terminal tomorrow
        // must not be one device; neither may a key that passed without a remote host.
        let info = format!("publickey ssh-ed25519 {KEY}\n");
        for service in ["su-l", "sudo-i", "login", "sshd"] {
            assert_eq!(DeviceId::of_login(None, None, service), None);
            assert_eq!(DeviceId::of_login(Some(&info), None, service), None);
            assert_eq!(DeviceId::of_login(Some(&info), Some(""), service), None);
        }
    }

    #[test]
    fn trust_matches_the_same_device_until_it_expires_or_the_factors_change() {
        let id = device(None, "192.0.2.5", "sshd");
        let mut devices = Vec::new();
        trust(&mut devices, id.clone(), 7, NOW, 3600);
        assert!(is_trusted(&devices, &id, 7, NOW + 3599));
        assert!(!is_trusted(&devices, &id, 7, NOW + 3600));
        assert!(
            !is_trusted(&devices, &id, 8, NOW + 1),
            "a factor change ends trust"
        );
        let elsewhere = device(None, "192.0.2.6", "sshd");
        assert!(!is_trusted(&devices, &elsewhere, 7, NOW + 1));
        let other_service = device(None, "192.0.2.5", "login");
        assert!(!is_trusted(&devices, &other_service, 7, NOW + 1));
        // Re-trusting replaces; the cap holds; 90 days at most.
        trust(
            &mut devices,
            id.clone(),
            7,
            NOW + 10,
            10 * MAX_REMEMBER_SECS,
        );
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].until, NOW + 10 + MAX_REMEMBER_SECS);
        for i in 0..30 {
            trust(
                &mut devices,
                device(None, &format!("10.0.0.{i}"), "sshd"),
                7,
                NOW + 20 + i,
                3600,
            );
        }
        assert_eq!(devices.len(), MAX_DEVICES);
        assert!(is_trusted(
            &devices,
            &device(None, "10.0.0.29", "sshd"),
            7,
            NOW + 60
        ));
    }
}
