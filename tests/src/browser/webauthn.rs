//! Chromium's WebAuthn virtual authenticators (the CDP `WebAuthn` domain): a passkey the test
//! holds, whose credentials it can read, copy and put back, as a phone's would be cloned.

use serde_json::{Value, json};

use super::{BrowserError, Page};

/// How a virtual authenticator behaves. The default is a phone's platform authenticator:
/// CTAP2 over the internal transport, with discoverable credentials and user verification
/// (Face ID, a fingerprint, the screen lock) that succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatorOptions {
    /// Whether it stores discoverable (resident) credentials.
    pub resident_key: bool,
    /// Whether it can verify the user at all.
    pub user_verification: bool,
    /// Whether verifying the user succeeds (see [`Page::set_user_verified`]).
    pub user_verified: bool,
}

impl Default for AuthenticatorOptions {
    fn default() -> AuthenticatorOptions {
        AuthenticatorOptions {
            resident_key: true,
            user_verification: true,
            user_verified: true,
        }
    }
}

/// A virtual authenticator of one page, as Chromium names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorId(String);

/// A credential a virtual authenticator holds: CDP's `WebAuthn.Credential` as Chromium gave
/// it, every field kept (backup flags, user name, ...), so that a copy put back with
/// [`Page::add_credential`] differs only where the test changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential(Value);

impl Credential {
    /// The credential id, base64 (standard alphabet, padded) as CDP encodes binary fields.
    pub fn id(&self) -> &str {
        self.0["credentialId"].as_str().unwrap_or_default()
    }

    /// The relying party it was made for, if Chromium says.
    pub fn rp_id(&self) -> Option<&str> {
        self.0["rpId"].as_str()
    }

    /// The user handle the relying party gave at enrollment (base64), if any.
    pub fn user_handle(&self) -> Option<&str> {
        self.0["userHandle"].as_str()
    }

    /// How many signatures it has made: the counter a relying party checks for a clone.
    pub fn sign_count(&self) -> u64 {
        self.0["signCount"].as_u64().unwrap_or_default()
    }

    /// The same credential with another signature counter: a clone that lags behind.
    pub fn with_sign_count(&self, sign_count: u64) -> Credential {
        let mut copy = self.0.clone();
        copy["signCount"] = json!(sign_count);
        Credential(copy)
    }

    /// The credential as CDP describes it.
    pub fn as_json(&self) -> &Value {
        &self.0
    }

    /// A credential as [`Credential::as_json`] gave it, read back (say, from a file that
    /// carries a passkey from one browser to the next).
    pub fn from_json(credential: Value) -> Credential {
        Credential(credential)
    }
}

impl Page {
    /// Turns the WebAuthn domain on (without Chromium's own dialogs) and adds a virtual
    /// authenticator that answers every `navigator.credentials` call of this page.
    pub fn add_virtual_authenticator(
        &mut self,
        options: AuthenticatorOptions,
    ) -> Result<AuthenticatorId, BrowserError> {
        self.connection
            .call("WebAuthn.enable", json!({"enableUI": false}))?;
        let answer = self.connection.call(
            "WebAuthn.addVirtualAuthenticator",
            json!({"options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": options.resident_key,
                "hasUserVerification": options.user_verification,
                "isUserVerified": options.user_verified,
                "automaticPresenceSimulation": true,
            }}),
        )?;
        match answer["authenticatorId"].as_str() {
            Some(id) => Ok(AuthenticatorId(id.to_owned())),
            None => Err(BrowserError::Unexpected {
                method: "WebAuthn.addVirtualAuthenticator".to_owned(),
                answer: answer.to_string(),
            }),
        }
    }

    /// Removes the authenticator and every credential it holds.
    pub fn remove_virtual_authenticator(
        &mut self,
        authenticator: &AuthenticatorId,
    ) -> Result<(), BrowserError> {
        self.call_on(
            authenticator,
            "WebAuthn.removeVirtualAuthenticator",
            json!({}),
        )
    }

    /// Makes the authenticator's user verification succeed or fail from now on.
    pub fn set_user_verified(
        &mut self,
        authenticator: &AuthenticatorId,
        verified: bool,
    ) -> Result<(), BrowserError> {
        let params = json!({"isUserVerified": verified});
        self.call_on(authenticator, "WebAuthn.setUserVerified", params)
    }

    /// The credentials the authenticator holds, with their signature counters.
    pub fn credentials(
        &mut self,
        authenticator: &AuthenticatorId,
    ) -> Result<Vec<Credential>, BrowserError> {
        let method = "WebAuthn.getCredentials";
        let params = json!({"authenticatorId": authenticator.0});
        let mut answer = self.connection.call(method, params)?;
        match answer["credentials"].take() {
            Value::Array(credentials) => Ok(credentials.into_iter().map(Credential).collect()),
            _ => Err(BrowserError::Unexpected {
                method: method.to_owned(),
                answer: answer.to_string(),
            }),
        }
    }

    /// Puts `credential` into the authenticator (one with the same id must not be there).
    pub fn add_credential(
        &mut self,
        authenticator: &AuthenticatorId,
        credential: &Credential,
    ) -> Result<(), BrowserError> {
        let params = json!({"credential": credential.0});
        self.call_on(authenticator, "WebAuthn.addCredential", params)
    }

    /// Takes the credential with id `credential_id` (base64, see [`Credential::id`]) out of
    /// the authenticator.
    pub fn remove_credential(
        &mut self,
        authenticator: &AuthenticatorId,
        credential_id: &str,
    ) -> Result<(), BrowserError> {
        let params = json!({"credentialId": credential_id});
        self.call_on(authenticator, "WebAuthn.removeCredential", params)
    }

    fn call_on(
        &mut self,
        authenticator: &AuthenticatorId,
        method: &str,
        mut params: Value,
    ) -> Result<(), BrowserError> {
        params["authenticatorId"] = json!(authenticator.0);
        self.connection.call(method, params).map(drop)
    }
}
