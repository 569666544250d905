//! A FIDO security key as the second factor (`policy.ssh_security_keys = "second_factor"`).
//!
//! sshd, not the daemon, checks the key: its signature, the authenticator's touch and (with
//! `PubkeyAuthOptions verify-required`) its PIN or fingerprint. The daemon only reads sshd's
//! account of the login, `SSH_AUTH_INFO_0` (`ExposeAuthInfo yes`), which the module relays
//! as `auth_info`. So that account is believed only where sshd is the one giving it: a root
//! caller reporting a remote host. Anyone else could write any text there, and a login that
//! came in with no remote host was not an SSH login at all.
//!
//! Only the FIRST step counts: with `AuthenticationMethods publickey,keyboard-interactive`
//! it is the key sshd checked before it started PAM. A key named further down was at best
//! a later step of some other chain, which the admin did not make a factor.

use data_encoding::BASE64;
use mfa_core::policy::{Resolved, SecurityKeys};
use mfa_proto::Outcome;

use super::{Attempt, Next};
use crate::audit::AuditOutcome;
use crate::decisions::Factor;

/// The key types of FIDO authenticators as sshd names them: the plain keys, and
/// certificates over them. A certificate is signed by the same authenticator (the touch and
/// `verify-required` are checked the same way); the CA only vouches for whose key it is.
const SECURITY_KEY_TYPES: [&str; 4] = [
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
];

/// Ends the login with success if its first SSH step was a security key the policy lets
/// count, for an enrolled account that is not locked; `None` lets the login go on to the
/// usual questions.
///
/// Enrolled only: the key sits in a file the user (or whoever holds the account) edits,
/// and the daemon can neither list nor revoke it, so it is not a way to get a first factor
/// on record; `unenrolled = "deny"` still denies and `"enroll"` still offers enrollment.
/// A locked account goes on to the menu, where only a recovery code opens it.
pub(super) fn admit(
    attempt: &Attempt,
    policy: &Resolved,
    enrolled: bool,
    account_locked: bool,
) -> Option<Next> {
    let from_sshd = attempt.caller.is_root_witness()
        && attempt
            .auth
            .rhost
            .as_deref()
            .is_some_and(|host| !host.is_empty());
    let counts = policy.ssh_security_keys == SecurityKeys::SecondFactor
        && enrolled
        && !account_locked
        && from_sshd
        && attempt
            .auth
            .auth_info
            .as_deref()
            .and_then(first_step_key_type)
            .is_some();
    if !counts {
        return None;
    }
    let factor = Factor::SecurityKey.name();
    attempt.audit(AuditOutcome::Success, Some(factor), None, None);
    attempt.note_success(factor);
    Some(Next::done(Vec::new(), Outcome::Success))
}

/// The security key type of the first method in `auth_info` (sshd's `SSH_AUTH_INFO_0`:
/// one completed method a line, `publickey TYPE BASE64` followed by sshd's own remarks for
/// some keys), if that method was a public key of one of [`SECURITY_KEY_TYPES`]. Strict:
/// single spaces, the name exactly `publickey`, and a key blob that is base64 and names the
/// same type inside, as every SSH public key does; anything else is not a security key.
fn first_step_key_type(auth_info: &str) -> Option<&'static str> {
    let first = auth_info.split('\n').next()?;
    let mut words = first.split(' ');
    if words.next()? != "publickey" {
        return None;
    }
    let named = words.next()?;
    let key_type = SECURITY_KEY_TYPES.into_iter().find(|t| *t == named)?;
    let blob = BASE64.decode(words.next()?.as_bytes()).ok()?;
    if words.any(str::is_empty) {
        return None;
    }
    (blob_key_type(&blob)? == key_type.as_bytes()).then_some(key_type)
}

/// The type name an SSH public key blob starts with (an SSH `string`: a big-endian u32
/// length, then the bytes).
fn blob_key_type(blob: &[u8]) -> Option<&[u8]> {
    let (length, rest) = blob.split_first_chunk::<4>()?;
    let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
    rest.get(..length)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ssh-keygen -t ed25519-sk` with OpenSSH's sk-dummy, and an ordinary ed25519 key.
    const SK_ED25519: &str = "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIFExKy4CtsuiqTXNhA6UouepJOj2yoY3ncK86a/m4wuvAAAABHNzaDo=";
    const ED25519: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const SK: &str = "sk-ssh-ed25519@openssh.com";

    #[test]
    fn a_first_step_with_a_security_key_is_one() {
        let line = format!("publickey {SK} {SK_ED25519}\n");
        assert_eq!(first_step_key_type(&line), Some(SK));
        assert_eq!(first_step_key_type(line.trim_end()), Some(SK));
        let then_pam = format!("{line}keyboard-interactive/pam\n");
        assert_eq!(first_step_key_type(&then_pam), Some(SK));
        let with_remark = format!("publickey {SK} {SK_ED25519} remark\n");
        assert_eq!(first_step_key_type(&with_remark), Some(SK));
    }

    #[test]
    fn anything_else_is_not_a_security_key() {
        let ordinary = format!("publickey ssh-ed25519 {ED25519}\n");
        let cases = [
            String::new(),
            ordinary.clone(),
            // The security key is not the first step.
            format!("{ordinary}publickey {SK} {SK_ED25519}\n"),
            format!("password\npublickey {SK} {SK_ED25519}\n"),
            // A forger's short blob, and an ordinary key's blob under the sk type.
            format!("publickey {SK} AAAA\n"),
            format!("publickey {SK} {ED25519}\n"),
            format!("publickey {SK} not-base64\n"),
            format!("publickey {SK}\n"),
            format!("publickey  {SK} {SK_ED25519}\n"),
            format!("publickey {SK} {SK_ED25519}  remark\n"),
            format!("publickey\t{SK} {SK_ED25519}\n"),
            format!(" publickey {SK} {SK_ED25519}\n"),
            format!("publickey/x {SK} {SK_ED25519}\n"),
            format!("PUBLICKEY {SK} {SK_ED25519}\n"),
            format!("publickey {} {SK_ED25519}\n", SK.to_uppercase()),
            format!("\npublickey {SK} {SK_ED25519}\n"),
        ];
        for case in cases {
            assert_eq!(first_step_key_type(&case), None, "{case:?}");
        }
    }

    #[test]
    fn a_blob_shorter_than_its_type_length_is_refused() {
        assert_eq!(blob_key_type(&[0, 0, 0]), None);
        assert_eq!(blob_key_type(&[0, 0, 0, 9, b'a']), None);
        assert_eq!(blob_key_type(&[0, 0, 0, 1, b'a']), Some(&b"a"[..]));
    }
}
