//! What a login shows a user who has to set up an authenticator app before getting in
//! (`[policy] unenrolled = "enroll"`): a QR code, the `otpauth://` URI and the key, and once
//! the app's first code is accepted, the recovery codes. Read from the text a client
//! displayed, as the user reads it off the screen.

use crate::enroll::Authenticator;
use crate::text::RECOVERY_CODES_HEADING;

/// Start of the URI an authenticator app scans.
const OTPAUTH_PREFIX: &str = "otpauth://totp/";
/// Start of the line that spells out the key for typing it in by hand.
const KEY_LINE_PREFIX: &str = "Key: ";
/// The block characters a QR code drawn with Unicode half blocks is made of.
const QR_BLOCKS: [char; 3] = ['\u{2580}', '\u{2584}', '\u{2588}'];

/// The new app's key as a login offered it.
#[derive(Debug)]
pub struct EnrollmentOffer {
    /// The `otpauth://totp/...` URI shown.
    pub otpauth_uri: String,
    /// The base32 secret in the URI.
    pub uri_secret: String,
    /// What the `Key: ` line spells out, if there is one.
    pub key: Option<String>,
    /// How many lines of the text are drawn with Unicode blocks (the QR code's rows).
    pub qr_rows: usize,
    /// The user's app, set up from the URI's secret and parameters.
    pub authenticator: Authenticator,
}

impl EnrollmentOffer {
    /// Reads the offer from what a client displayed; `None` if it holds no otpauth URI with
    /// a secret.
    pub fn read(shown: &str) -> Option<EnrollmentOffer> {
        let at = shown.find(OTPAUTH_PREFIX)?;
        let otpauth_uri: String = shown[at..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !c.is_control() && *c != '"')
            .collect();
        let uri_secret = otpauth_uri
            .split_once('?')?
            .1
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| key.eq_ignore_ascii_case("secret"))?
            .1
            .to_owned();
        let key = shown
            .lines()
            .find_map(|line| line.trim_start().strip_prefix(KEY_LINE_PREFIX))
            .map(|key| key.trim().to_owned());
        let qr_rows = shown
            .lines()
            .filter(|line| line.chars().any(|c| QR_BLOCKS.contains(&c)))
            .count();
        let authenticator = Authenticator::from_enrollment(&uri_secret, &otpauth_uri);
        Some(EnrollmentOffer {
            otpauth_uri,
            uri_secret,
            key,
            qr_rows,
            authenticator,
        })
    }

    /// Whether the `Key: ` line spells the URI's secret (ignoring spaces and case, as an app
    /// that takes a typed key does).
    pub fn key_matches_uri(&self) -> bool {
        self.key.as_deref().is_some_and(|key| {
            let typed: String = key.chars().filter(|c| !c.is_whitespace()).collect();
            typed.eq_ignore_ascii_case(&self.uri_secret)
        })
    }
}

/// The recovery codes (`xxxx-xxxx-xxxx`, lower-case letters and digits) listed after the
/// `Recovery codes` heading in `shown`, in order; none without the heading.
pub fn recovery_codes_shown(shown: &str) -> Vec<String> {
    let Some(at) = shown.find(RECOVERY_CODES_HEADING) else {
        return Vec::new();
    };
    shown[at..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| is_recovery_code(word))
        .map(str::to_owned)
        .collect()
}

fn is_recovery_code(word: &str) -> bool {
    let groups: Vec<&str> = word.split('-').collect();
    groups.len() == 3
        && groups.iter().all(|group| {
            group.len() == 4
                && group
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOWN: &str = "Your account needs a second factor.\n\
        \u{2588}\u{2580}\u{2580}\u{2584} \u{2588}\n\
        \u{2588}\u{2584}\u{2584}\u{2580} \u{2588}\n\
        otpauth://totp/pam-mfa:alice?secret=JBSWY3DPEHPK3PXP&issuer=pam-mfa&period=30\n\
        Key: JBSW Y3DP EHPK 3PXP\n\
        Code from your app: ";

    #[test]
    fn the_offer_is_read_from_the_text() {
        let offer = EnrollmentOffer::read(SHOWN).unwrap();
        assert_eq!(
            offer.otpauth_uri,
            "otpauth://totp/pam-mfa:alice?secret=JBSWY3DPEHPK3PXP&issuer=pam-mfa&period=30"
        );
        assert_eq!(offer.uri_secret, "JBSWY3DPEHPK3PXP");
        assert!(offer.key_matches_uri());
        assert_eq!(offer.qr_rows, 2);
        assert!(EnrollmentOffer::read("Verification code: ").is_none());
    }

    #[test]
    fn recovery_codes_are_read_after_their_heading() {
        let shown = "abcd-efgh-2345\nRecovery codes (each works once):\n  \
                     2345-6789-abcd\n  wxyz-mnpq-rstv\nsuccessfully authenticated";
        assert_eq!(
            recovery_codes_shown(shown),
            ["2345-6789-abcd", "wxyz-mnpq-rstv"]
        );
        assert!(recovery_codes_shown("2345-6789-abcd").is_empty());
    }
}
