//! The `app_password` option: PAM_AUTHTOK (asked for with `Password: ` when no module
//! before set it, and then set for the modules after) goes to the daemon once, which says
//! whether it is one of the user's app passwords for this service. The module only relays:
//! it never looks at the token's shape and never logs it.

use mfa_proto::{AuthRequest, FrameError, Outcome, Request, Secret, Step};
use zeroize::Zeroizing;

use super::{Relay, Stage};
use crate::error::{AuthError, ProtocolError};
use crate::handler::PamHandler;

/// The prompt when no module before this one asked for the password (pam_unix's own words).
const PASSWORD_PROMPT: &str = "Password: ";

/// What the daemon said of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tried {
    /// It is an app password for this service: the login is done.
    Accepted,
    /// It is not (or it was refused): the token stays in PAM_AUTHTOK for the next module.
    NotOne,
}

impl<H: PamHandler> Relay<'_, H> {
    /// Sends the token to the daemon as a possible app password.
    pub(super) fn try_app_password(&mut self, auth: &AuthRequest) -> Result<Tried, AuthError> {
        let token = self.token()?;
        // A token that is not UTF-8 cannot be an app password (and cannot be sent as text).
        let Ok(text) = std::str::from_utf8(&token) else {
            self.debug(format_args!(
                "app password: the token is not UTF-8, not one"
            ));
            return Ok(Tried::NotOne);
        };
        let request = Request::AppPassword {
            auth: auth.clone(),
            password: Secret::from(text),
        };
        let (mut client, socket) = self.connect(&auth.user)?;
        match client.send(&request) {
            Ok(()) => {}
            Err(FrameError::TooLarge { .. }) => return Ok(Tried::NotOne),
            Err(err) => return Err(self.daemon_error(err, Stage::Opening, &socket)),
        }
        let step: Step = client
            .recv()
            .map_err(|err| self.daemon_error(err, Stage::Opening, &socket))?;
        match step {
            Step::Done { outcome } => {
                self.debug(format_args!("app password: {outcome:?}"));
                Ok(match outcome {
                    Outcome::Success => Tried::Accepted,
                    _ => Tried::NotOne,
                })
            }
            Step::Failed { kind, message } => Err(AuthError::Protocol(ProtocolError::Refused {
                kind,
                message,
            })),
            // The answer to this request is one `Done`, nothing else.
            _ => Err(AuthError::Protocol(ProtocolError::TooManySteps(1))),
        }
    }

    /// PAM_AUTHTOK, asked for and set when no module set it.
    fn token(&mut self) -> Result<Zeroizing<Vec<u8>>, AuthError> {
        if let Some(token) = self.pam.authtok().map_err(AuthError::Item)? {
            return Ok(token);
        }
        let token = self
            .pam
            .prompt_bytes(PASSWORD_PROMPT)
            .map_err(AuthError::Conversation)?;
        self.pam.set_authtok(&token).map_err(AuthError::Item)?;
        Ok(token)
    }
}
