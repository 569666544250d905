//! SMS and voice codes through Twilio's REST API: `Messages.json` for SMS, `Calls.json` with
//! inline TwiML for voice; HTTP Basic auth with the account SID and auth token, form-encoded.

use std::fmt;
use std::path::Path;

use reqwest::{Client, Url};
use serde::Deserialize;

use super::config::{DeliveryConfigError, PlaintextRule, is_e164, provider_url, twilio_sid};
use super::credential::{Credential, read_credential};
use super::error::{SendError, SendErrorKind};
use super::http::exchange;
use super::message::{sms_text, twiml};
use super::{Channel, Outgoing};
use crate::config::TwilioSection;

const PROVIDER: &str = "twilio";

/// Who sends: a number (or alphanumeric sender ID), or a messaging service that picks one.
#[derive(Debug)]
enum Sender {
    From(String),
    MessagingService(String),
}

/// A configured Twilio account.
pub(crate) struct Twilio {
    account_sid: String,
    auth_token: Credential,
    sender: Sender,
    messages_url: Url,
    calls_url: Url,
}

impl fmt::Debug for Twilio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Twilio")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &self.auth_token)
            .field("sender", &self.sender)
            .field("messages_url", &self.messages_url.as_str())
            .finish()
    }
}

impl Twilio {
    pub(crate) fn new(
        section: &TwilioSection,
        credentials_dir: Option<&Path>,
        plaintext: PlaintextRule,
    ) -> Result<Twilio, DeliveryConfigError> {
        twilio_sid("twilio.account_sid", "AC", &section.account_sid)?;
        let sender = match (&section.from, &section.messaging_service_sid) {
            (Some(from), None) => {
                if from.is_empty() || from.chars().any(char::is_control) {
                    return Err(DeliveryConfigError::new(
                        "twilio.from",
                        "expected a number in E.164 form such as +15005550006, or an \
                         alphanumeric sender ID",
                    ));
                }
                Sender::From(from.clone())
            }
            (None, Some(sid)) => {
                twilio_sid("twilio.messaging_service_sid", "MG", sid)?;
                Sender::MessagingService(sid.clone())
            }
            _ => {
                return Err(DeliveryConfigError::new(
                    "twilio",
                    "set exactly one of `from` and `messaging_service_sid`",
                ));
            }
        };
        let base = provider_url(
            "twilio.api_url",
            &section.api_url,
            plaintext,
            section.insecure_loopback_plaintext_for_tests,
        )?;
        let endpoint = |resource: &str| {
            let path = format!(
                "{}/2010-04-01/Accounts/{}/{resource}",
                base.path().trim_end_matches('/'),
                section.account_sid
            );
            let mut url = base.clone();
            url.set_path(&path);
            url
        };
        Ok(Twilio {
            account_sid: section.account_sid.clone(),
            auth_token: read_credential(
                "twilio.auth_token_file",
                &section.auth_token_file,
                credentials_dir,
            )?,
            messages_url: endpoint("Messages.json"),
            calls_url: endpoint("Calls.json"),
            sender,
        })
    }

    /// Voice calls need a caller number: a messaging service or an alphanumeric sender ID
    /// sends SMS only.
    pub(crate) fn can_call(&self) -> bool {
        matches!(&self.sender, Sender::From(from) if is_e164(from))
    }

    /// One attempt to send `message` (the caller retries once when Twilio asks it to slow
    /// down).
    pub(crate) async fn send(
        &self,
        client: &Client,
        message: &Outgoing,
        host: &str,
    ) -> Result<(), SendError> {
        let mut form: Vec<(&str, &str)> = vec![("To", &message.to)];
        match &self.sender {
            Sender::From(from) => form.push(("From", from)),
            Sender::MessagingService(sid) => form.push(("MessagingServiceSid", sid)),
        }
        let (url, text) = match message.channel {
            Channel::Voice => {
                if !self.can_call() {
                    return Err(SendError::new(PROVIDER, SendErrorKind::NotConfigured));
                }
                (
                    &self.calls_url,
                    zeroize::Zeroizing::new(twiml(&message.body, host)),
                )
            }
            _ => (
                &self.messages_url,
                zeroize::Zeroizing::new(sms_text(&message.body, host)),
            ),
        };
        let field = if message.channel == Channel::Voice {
            "Twiml"
        } else {
            "Body"
        };
        form.push((field, &text));
        let request = client
            .post(url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&form);
        let answer = exchange(PROVIDER, request).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        Err(classify(answer.status.as_u16(), &answer.body))
    }
}

/// Twilio's error resource; only the fields that decide anything.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<u32>,
}

/// Maps a failed answer (its status and Twilio's JSON error body) to a [`SendError`].
pub(crate) fn classify(status: u16, body: &[u8]) -> SendError {
    let code = serde_json::from_slice::<TwilioError>(body)
        .ok()
        .and_then(|e| e.code);
    let kind = match (code, status) {
        (Some(21211), _) => SendErrorKind::InvalidDestination,
        (Some(21614), _) => SendErrorKind::NotMobile,
        (Some(21608 | 21610 | 21612 | 21408), _) => SendErrorKind::Undeliverable,
        (Some(20003), _) | (_, 401 | 403) => SendErrorKind::Credentials,
        (Some(20429), _) | (_, 429) => SendErrorKind::RateLimited,
        _ => SendErrorKind::Provider,
    };
    SendError::new(PROVIDER, kind)
        .with_code(code)
        .with_status(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, body: &str) -> (SendErrorKind, Option<u32>) {
        let e = classify(status, body.as_bytes());
        (e.kind, e.provider_code)
    }

    fn twilio_body(code: u32, status: u16) -> String {
        format!(
            r#"{{"code": {code}, "message": "The 'To' number +15005550001 is not valid.",
                "more_info": "https://www.twilio.com/docs/errors/{code}", "status": {status}}}"#
        )
    }

    #[test]
    fn twilio_error_codes_map_to_kinds() {
        use SendErrorKind::*;
        for (code, status, want) in [
            (21211, 400, InvalidDestination),
            (21614, 400, NotMobile),
            (21608, 400, Undeliverable),
            (21610, 400, Undeliverable),
            (20003, 401, Credentials),
            (20429, 429, RateLimited),
            (21606, 400, Provider),
            (20500, 500, Provider),
        ] {
            assert_eq!(
                kind(status, &twilio_body(code, status)),
                (want, Some(code)),
                "{code}"
            );
        }
    }

    #[test]
    fn bodies_that_are_not_twilio_errors_fall_back_to_the_status() {
        use SendErrorKind::*;
        assert_eq!(kind(401, "Unauthorized"), (Credentials, None));
        assert_eq!(kind(429, ""), (RateLimited, None));
        assert_eq!(kind(502, "<html>bad gateway</html>"), (Provider, None));
        assert_eq!(kind(400, r#"{"message":"x"}"#), (Provider, None));
        let shown = classify(400, twilio_body(21211, 400).as_bytes()).to_string();
        assert_eq!(shown, "twilio: invalid destination (code 21211, HTTP 400)");
    }
}
