//! What the daemon keeps and checks for the web pages (`mfa-web`): one-time enrollment
//! links for passkeys, approval requests with their number, the account page's sessions,
//! and the WebAuthn verifier.
//!
//! `mfa-web` only carries what a browser sent. Every ceremony is verified here, against
//! state that never leaves the daemon: the registration or authentication state that holds
//! the challenge is kept with the one link or request it was made for, and taken out of it
//! by the first answer, so a credential or an assertion can complete that link or request
//! and no other, and only once.

pub mod approvals;
mod enrollment;
pub mod manage;
pub mod push;

use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use mfa_proto::web::WebSettings;
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder, WebauthnError};

pub use approvals::{
    Approval, ApprovalEnd, ApprovalRefused, Approvals, NewApproval, PushLimits, SignIn,
};
pub use enrollment::{EnrollEnd, EnrollLink, Links};

use crate::clock::UnixTime;
use crate::delivery::webpush::{EndpointRule, VapidKey, WebPush, WebPushError};

/// How long an enrollment link works.
pub const ENROLL_LINK_LIFE: Duration = Duration::from_secs(600);
/// Bytes of randomness in a link's token or a request's id.
const TOKEN_BYTES: usize = 16;
/// Longest token or id accepted from `mfa-web` (the base64url of [`TOKEN_BYTES`] is 22).
pub const MAX_TOKEN_LEN: usize = 64;

/// What the web pages need from the config: where users reach them, and for how long an
/// approval waits.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// The `https://` address users reach (`http://localhost…` in tests); its origin is
    /// the only one a ceremony may come from.
    pub public_url: Url,
    /// The WebAuthn relying party id: the public URL's host or a registrable suffix of it.
    pub rp_id: String,
    /// How long an approval request waits for the phone.
    pub approval_timeout: Duration,
    /// This host's name, shown on the pages.
    pub host: String,
}

/// The verifier and the open links and requests.
#[derive(Debug)]
pub struct Web {
    /// Checks attestations and assertions.
    pub verifier: Webauthn,
    /// What the config said.
    pub options: WebOptions,
    /// Passkey enrollment links.
    pub links: Links,
    /// Sign-ins waiting for an approval.
    pub approvals: Approvals,
    /// Web Push to the browsers that subscribed, when `vapid_key_file` is set.
    pub push: Option<WebPush>,
    /// The account page's challenges and sessions.
    pub manage: manage::Sessions,
}

/// The config's `[web]` cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum WebSetupError {
    /// A key the config checks is wrong after all (the config was checked by another
    /// build).
    #[error("config key `web.{}`: {}", .0.key, .0.why)]
    Setting(mfa_proto::web::InvalidWebSetting),
    /// The public URL does not parse as a URL.
    #[error("config key `web.public_url`: {0}")]
    Url(#[source] url::ParseError),
    /// The verifier refuses the relying party id or origin.
    #[error("config key `web.public_url`/`web.rp_id`: {0}")]
    Verifier(#[source] WebauthnError),
    /// The VAPID key or subject cannot be used.
    #[error("config key `web.vapid_key_file`/`web.vapid_subject`: {0}")]
    Push(#[source] WebPushError),
    /// `web.user` names no account.
    #[error(
        "config key `web.user`: no account `{0}` (create it, or name the account mfa-web runs as)"
    )]
    NoAccount(String),
    /// No random key could be made for the account page.
    #[error("cannot make a random key for the account page: {0}")]
    Random(#[source] getrandom::Error),
}

/// How long a push service may take to accept a message.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The Web Push sender `[web]` asks for, if any. Loopback push services are accepted only
/// when the pages themselves are on `localhost` (tests, the demo).
pub fn push_of(settings: &WebSettings) -> Result<Option<WebPush>, WebSetupError> {
    let (Some(file), Some(subject)) = (&settings.vapid_key_file, &settings.vapid_subject) else {
        return Ok(None);
    };
    let key = VapidKey::from_file(file, crate::secret_file::credentials_directory().as_deref())
        .map_err(WebSetupError::Push)?;
    let local = settings.public_url().is_ok_and(|u| u.host == "localhost");
    let rule = if local {
        EndpointRule::LoopbackForTests
    } else {
        EndpointRule::PublicOnly
    };
    WebPush::new(key, subject, PUSH_TIMEOUT, rule)
        .map(Some)
        .map_err(WebSetupError::Push)
}

impl WebOptions {
    /// The options of a checked `[web]` section, for this `host`.
    pub fn of(settings: &WebSettings, host: String) -> Result<WebOptions, WebSetupError> {
        let public_url = settings.public_url().map_err(WebSetupError::Setting)?;
        let rp_id = settings.effective_rp_id().map_err(WebSetupError::Setting)?;
        let public_url = Url::parse(&public_url.origin()).map_err(WebSetupError::Url)?;
        Ok(WebOptions {
            public_url,
            rp_id,
            approval_timeout: settings.approval_timeout,
            host,
        })
    }
}

impl Web {
    /// A verifier for `options`, Web Push with `push` if given, and no links or requests
    /// yet.
    pub fn new(options: WebOptions, push: Option<WebPush>) -> Result<Web, WebSetupError> {
        let verifier = WebauthnBuilder::new(&options.rp_id, &options.public_url)
            .and_then(|b| b.rp_name("pam-mfa").build())
            .map_err(WebSetupError::Verifier)?;
        Ok(Web {
            verifier,
            options,
            links: Links::default(),
            approvals: Approvals::default(),
            push,
            manage: manage::Sessions::new().map_err(WebSetupError::Random)?,
        })
    }

    /// The page address for a link or request: `public_url` + `path` + `/` + `token`.
    pub fn page(&self, path: &str, token: &str) -> String {
        let base = self.options.public_url.as_str().trim_end_matches('/');
        format!("{base}/{path}/{token}")
    }
}

/// A fresh random token for a link or request, base64url without padding.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(BASE64URL_NOPAD.encode(&bytes))
}

/// Whether `token` has the shape of one we make (checked before any lookup, so that an
/// odd string costs nothing and never reaches a log line unquoted).
pub fn token_shape_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `expires` is past at `now`.
fn expired(expires: UnixTime, now: UnixTime) -> bool {
    now.secs() >= expires.secs()
}

#[cfg(test)]
mod tests;
