//! Text that must not outlive its use or show up in logs: codes, recovery codes, TOTP secrets.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A code or secret in plain text. On the wire it is a plain JSON string; in memory it is
/// wiped when dropped, and `Debug` never shows it, so that a logged message cannot leak it.
///
/// Equality is not constant-time: whoever checks a code compares it their own way.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The plain text, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for Secret {}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(text)
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Secret(text.to_owned())
    }
}

/// Moves the text out of its wiped buffer without copying it.
impl From<Zeroizing<String>> for Secret {
    fn from(mut text: Zeroizing<String>) -> Self {
        Secret(std::mem::take(&mut *text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{HEADER_LEN, encode};
    use crate::message::{Request, Response, TotpEnrollment};

    #[test]
    fn debug_hides_the_answer_and_the_wire_form_is_a_plain_string() {
        let request = Request::Answer {
            text: "123456".into(),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("123456"), "{debug}");
        assert!(debug.contains("Secret(..)"), "{debug}");

        let frame = encode(&request).unwrap();
        assert_eq!(
            std::str::from_utf8(&frame[HEADER_LEN..]).unwrap(),
            r#"{"v":1,"msg":{"answer":{"text":"123456"}}}"#
        );
    }

    #[test]
    fn other_secrets_are_hidden_from_debug_too() {
        let messages = [
            format!(
                "{:?}",
                Request::EnrollTotp {
                    user: "alice".into(),
                    proof: Some("k7qm-x2pd-9rtw".into()),
                    label: None,
                }
            ),
            format!(
                "{:?}",
                Response::BypassCode {
                    code: "4012-5678-9012".into(),
                    uses: 1,
                    expires_at: 1,
                }
            ),
            format!(
                "{:?}",
                Response::TotpEnrollment(TotpEnrollment {
                    otpauth_uri: "otpauth://totp/x:alice?secret=JBSWY3DPEHPK3PXP".into(),
                    secret: "JBSWY3DPEHPK3PXP".into(),
                    algorithm: "SHA1".into(),
                    digits: 6,
                    period: 30,
                })
            ),
            format!(
                "{:?}",
                Response::RecoveryCodes {
                    codes: vec!["k7qm-x2pd-9rtw".into()],
                }
            ),
        ];
        for debug in messages {
            assert!(
                !debug.contains("k7qm") && !debug.contains("JBSWY3DP") && !debug.contains("4012"),
                "{debug}"
            );
        }
    }

    #[test]
    fn from_zeroizing_moves_the_text() {
        let secret = Secret::from(Zeroizing::new("123456".to_owned()));
        assert_eq!(secret.expose(), "123456");
    }
}
