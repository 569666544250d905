//! The `code_in_password` option: the password field ends with the code (`hunter2492039`)
//! or a delivery keyword (`hunter2,sms`). The module only relays: it sends the daemon the
//! field's end, and when the daemon says how many bytes of it were the code or the keyword,
//! it sets `PAM_AUTHTOK` to the rest for the password module (`pam_unix use_first_pass`).
//! The password itself stays here: the daemon sees at most [`FIELD_END_MAX`] bytes.

use mfa_proto::{AuthRequest, FIELD_END_MAX, Request, Secret};
use zeroize::Zeroizing;

use super::Relay;
use crate::error::{AuthError, ProtocolError};
use crate::handler::PamHandler;

/// The prompt when no earlier module has read the password.
const PASSWORD_PROMPT: &str = "Password: ";

/// The password field as PAM had it, and how much of its end went to the daemon.
pub(super) struct Field {
    bytes: Zeroizing<Vec<u8>>,
    sent: usize,
    stripped: bool,
}

impl<H: PamHandler> Relay<'_, H> {
    /// The request that opens the conversation: with `code_in_password`, it carries the
    /// end of the password field (read from `PAM_AUTHTOK`, or asked for and kept there).
    pub(super) fn opening(&mut self, auth: AuthRequest) -> Result<Request, AuthError> {
        if !self.options.code_in_password {
            return Ok(Request::Authenticate { auth });
        }
        let bytes = match self.pam.authtok().map_err(AuthError::Item)? {
            Some(bytes) => bytes,
            None => {
                let bytes = self
                    .pam
                    .prompt_bytes(PASSWORD_PROMPT)
                    .map_err(AuthError::Conversation)?;
                self.pam.set_authtok(&bytes).map_err(AuthError::Item)?;
                bytes
            }
        };
        let field_end = field_end(&bytes);
        self.field = Some(Field {
            sent: field_end.expose().len(),
            bytes,
            stripped: false,
        });
        Ok(Request::CodeInPassword { auth, field_end })
    }

    /// The daemon's word that the field's last `bytes` were the code or the keyword:
    /// `PAM_AUTHTOK` becomes what comes before them.
    pub(super) fn strip_password(&mut self, bytes: u16) -> Result<(), AuthError> {
        let Some(field) = self.field.as_mut() else {
            return Err(AuthError::Protocol(ProtocolError::BadStrip {
                bytes,
                sent: 0,
            }));
        };
        let n = usize::from(bytes);
        if n > field.sent || field.stripped {
            let sent = field.sent;
            return Err(AuthError::Protocol(ProtocolError::BadStrip { bytes, sent }));
        }
        field.stripped = true;
        let keep = field.bytes.len() - n;
        let password = field.bytes.get(..keep).unwrap_or_default();
        self.pam.set_authtok(password).map_err(AuthError::Item)
    }
}

/// The last bytes of the field that are whole UTF-8 text, at most [`FIELD_END_MAX`]: a
/// password with other bytes (Latin-1) still works, as long as the code after it is text.
fn field_end(field: &[u8]) -> Secret {
    let first = field.len().saturating_sub(FIELD_END_MAX);
    (first..=field.len())
        .find_map(|start| {
            let end = field.get(start..)?;
            std::str::from_utf8(end).ok().map(Secret::from)
        })
        .unwrap_or_else(|| Secret::from(""))
}

#[cfg(test)]
mod tests {
    use mfa_proto::{Outcome, Step};
    use pam::constants::PamResultCode;

    use super::super::authenticate;
    use super::*;
    use crate::testing::{Conn, FakeDaemon, FakePam, Shown};

    /// A daemon that reads the field's end, strips `strip` bytes and ends with `outcome`;
    /// it returns the end it was sent.
    fn stripping(strip: u16, outcome: Outcome) -> FakeDaemon<String> {
        FakeDaemon::start(move |conn: &mut Conn| {
            let Request::CodeInPassword { field_end, .. } = conn.recv().unwrap() else {
                panic!("expected the field's end")
            };
            conn.send(&Step::StripPassword { bytes: strip });
            conn.done(outcome);
            field_end.expose().to_owned()
        })
    }

    fn login(pam: &mut FakePam, daemon: &FakeDaemon<String>) -> PamResultCode {
        authenticate(pam, &[&daemon.socket_arg(), c"code_in_password"], 0)
    }

    #[test]
    fn the_code_is_stripped_and_the_password_left_for_the_next_module() {
        let daemon = stripping(6, Outcome::Success);
        let mut pam = FakePam::sshd();
        pam.authtok = Some(b"hunter2492039".to_vec());
        assert_eq!(login(&mut pam, &daemon), PamResultCode::PAM_SUCCESS);
        assert_eq!(daemon.join(), "hunter2492039");
        assert_eq!(pam.authtok.as_deref(), Some(&b"hunter2"[..]));
        assert!(pam.shown.is_empty(), "{:?}", pam.shown);
    }

    #[test]
    fn with_no_token_yet_the_module_asks_for_the_password() {
        let daemon = stripping(4, Outcome::Failure);
        let mut pam = FakePam::sshd().answering(&["hunter2,sms"]);
        assert_eq!(login(&mut pam, &daemon), PamResultCode::PAM_AUTH_ERR);
        assert_eq!(daemon.join(), "hunter2,sms");
        assert_eq!(
            pam.shown,
            vec![Shown::Prompt {
                text: "Password: ".into(),
                echo: false
            }]
        );
        assert_eq!(pam.authtok.as_deref(), Some(&b"hunter2"[..]));
    }

    #[test]
    fn a_password_that_is_not_utf8_keeps_its_bytes() {
        let daemon = stripping(6, Outcome::Success);
        let mut pam = FakePam::sshd();
        pam.authtok = Some(b"passw\xf6rt492039".to_vec());
        assert_eq!(login(&mut pam, &daemon), PamResultCode::PAM_SUCCESS);
        assert_eq!(daemon.join(), "rt492039");
        assert_eq!(pam.authtok.as_deref(), Some(&b"passw\xf6rt"[..]));
    }

    #[test]
    fn a_daemon_that_strips_more_than_it_was_sent_is_refused() {
        let daemon = stripping(14, Outcome::Success);
        let mut pam = FakePam::sshd();
        pam.authtok = Some(b"pw123456".to_vec());
        let code = login(&mut pam, &daemon);
        assert_ne!(code, PamResultCode::PAM_SUCCESS);
        daemon.join();
        assert_eq!(pam.authtok.as_deref(), Some(&b"pw123456"[..]));
        assert!(
            pam.log_text().contains("strip 14 bytes"),
            "{}",
            pam.log_text()
        );
    }

    #[test]
    fn without_the_option_the_field_is_not_touched() {
        let daemon = FakeDaemon::start(|conn: &mut Conn| {
            conn.recv_auth();
            conn.done(Outcome::Success);
        });
        let mut pam = FakePam::sshd();
        pam.authtok = Some(b"hunter2492039".to_vec());
        let code = authenticate(&mut pam, &[&daemon.socket_arg()], 0);
        daemon.join();
        assert_eq!(code, PamResultCode::PAM_SUCCESS);
        assert_eq!(pam.authtok.as_deref(), Some(&b"hunter2492039"[..]));
    }

    #[test]
    fn a_short_field_is_sent_whole() {
        assert_eq!(field_end(b"hunter2492039").expose(), "hunter2492039");
        assert_eq!(field_end(b"").expose(), "");
    }

    #[test]
    fn only_the_end_of_a_long_field_is_sent() {
        let field = format!("{}492039", "p".repeat(100));
        let end = field_end(field.as_bytes());
        assert_eq!(end.expose().len(), FIELD_END_MAX);
        assert!(end.expose().ends_with("492039"));
    }

    #[test]
    fn non_utf8_bytes_stay_with_the_module() {
        // Latin-1 "passwört" then a code: the end after the last invalid byte is sent.
        let end = field_end(b"passw\xf6rt492039");
        assert_eq!(end.expose(), "rt492039");
        // A multi-byte character cut at the start of the window is left out, not mangled.
        let field = format!("{}ä{}", "p".repeat(10), "1".repeat(FIELD_END_MAX - 1));
        let end = field_end(field.as_bytes());
        assert_eq!(end.expose(), "1".repeat(FIELD_END_MAX - 1));
        assert_eq!(field_end(b"\xff").expose(), "");
    }
}
