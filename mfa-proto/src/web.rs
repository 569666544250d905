//! The narrow protocol between `mfa-web` (the internet-facing pages) and `mfa-daemon`.
//!
//! `mfa-web` holds no user secret and verifies nothing: it carries the browser's WebAuthn
//! JSON to the daemon, which holds the credentials and checks every ceremony. So a bug in
//! the web process can at worst pass on what a browser sent; it cannot read a TOTP secret,
//! a passkey's record or another user's requests.
//!
//! It speaks on a socket of its own, [`web_socket`], which the daemon answers only for
//! root and the `[web] user` account, with the same framing as the other sockets: one
//! [`Envelope`](crate::Envelope) of [`WebRequest`] per request, one of [`WebResponse`] back.
//! A connection may carry many requests in turn.
//!
//! Every request that names a link (`token`, `id`) names a random 128-bit value the daemon
//! made and gave only to the user (on their terminal, or in a notification to their own
//! contacts); the daemon refuses any it does not hold, with [`WebFailure::NotFound`], the
//! same answer for "never existed", "expired" and "already used".

use serde::{Deserialize, Serialize};

use crate::message::{PasskeyStatus, TrustedDeviceStatus};

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

pub use crate::web_settings::{
    DEFAULT_APPROVAL_TIMEOUT, DEFAULT_LISTEN, InvalidWebSetting, MAX_APPROVAL_TIMEOUT,
    MIN_APPROVAL_TIMEOUT, PublicUrl, WebSettings,
};

/// The account `mfa-web` runs as unless `[web] user` says otherwise.
pub const DEFAULT_WEB_USER: &str = "mfa-web";

/// The web socket that goes with the daemon's public socket `public`: the same directory,
/// file name `web.sock` (`/run/mfa/mfa.sock` → `/run/mfa/web.sock`).
pub fn web_socket(public: &Path) -> PathBuf {
    let public = public.as_os_str().as_bytes();
    let dir_len = public
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |slash| slash + 1);
    let mut path = public[..dir_len].to_vec();
    path.extend_from_slice(b"web.sock");
    PathBuf::from(OsString::from_vec(path))
}

/// `mfa-web` to the daemon. `from` is the browser's address as `mfa-web` saw it (after a
/// trusted reverse proxy's header, if configured), for the audit log and per-address limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WebRequest {
    /// The enrollment page was opened: who is enrolling, and the options for
    /// `navigator.credentials.create`.
    EnrollmentOpen {
        /// The link's token, from the path `/enroll/<token>`.
        token: String,
        /// The browser's address.
        from: String,
    },
    /// The browser made a credential: check and store it.
    EnrollmentFinish {
        /// The link's token.
        token: String,
        /// The `PublicKeyCredential` from `navigator.credentials.create`, as JSON with
        /// base64url byte fields (`id`, `rawId`, `response.attestationObject`,
        /// `response.clientDataJSON`, `type`).
        credential: serde_json::Value,
        /// The browser's address.
        from: String,
    },
    /// The approval page was opened: what is being approved.
    ApprovalOpen {
        /// The request's id, from the path `/approve/<id>`.
        id: String,
        /// The browser's address.
        from: String,
    },
    /// The user typed or picked the number shown at the sign-in prompt. A wrong number
    /// denies the request; the right one gets the options for `navigator.credentials.get`,
    /// whose challenge is bound to this request.
    ApprovalNumber {
        /// The request's id.
        id: String,
        /// The number as the user gave it.
        number: u8,
        /// The browser's address.
        from: String,
    },
    /// The browser signed the challenge: check the assertion and approve.
    ApprovalFinish {
        /// The request's id.
        id: String,
        /// The `PublicKeyCredential` from `navigator.credentials.get`, as JSON with
        /// base64url byte fields (`id`, `rawId`, `response.authenticatorData`,
        /// `response.clientDataJSON`, `response.signature`, `response.userHandle`, `type`).
        assertion: serde_json::Value,
        /// The browser's address.
        from: String,
    },
    /// The user denied the request on the page.
    ApprovalDeny {
        /// The request's id.
        id: String,
        /// "This wasn't me": also tells the user's other contacts and pauses pushes.
        not_me: bool,
        /// The browser's address.
        from: String,
    },
    /// The page subscribed to Web Push while open for this link (an enrollment token, or an
    /// account page's session), for the user that link belongs to.
    PushSubscribe {
        /// The enrollment token or the account page's session.
        link: String,
        /// The browser's `PushSubscription.toJSON()`: `endpoint`, `keys.p256dh`, `keys.auth`.
        subscription: serde_json::Value,
        /// The browser's address.
        from: String,
    },
    /// The key browsers subscribe to Web Push with (VAPID public key).
    PushKey,
    /// The account page: the user named `user` wants to see their passkeys and devices.
    /// The answer is a passkey challenge, the same in shape whether or not the account
    /// exists or has a passkey.
    ManageBegin {
        /// The account name as typed.
        user: String,
        /// The browser's address.
        from: String,
    },
    /// The browser signed the account page's challenge: check it and open a session.
    ManageFinish {
        /// The token of [`WebResponse::ManageChallenge`].
        token: String,
        /// The `PublicKeyCredential` from `navigator.credentials.get` (as for
        /// [`WebRequest::ApprovalFinish`]).
        assertion: serde_json::Value,
        /// The browser's address.
        from: String,
    },
    /// What the account page shows, again (after a change elsewhere).
    ManageShow {
        /// The session of [`ManageView::session`].
        session: String,
        /// The browser's address.
        from: String,
    },
    /// Remove one passkey, trusted device or notified browser.
    ManageRemove {
        /// The session.
        session: String,
        /// What to remove.
        item: ManageItem,
        /// The browser's address.
        from: String,
    },
    /// Sign out of the account page.
    ManageEnd {
        /// The session.
        session: String,
    },
}

/// One thing the account page can remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ManageItem {
    /// The passkey with this label (`policy.min_factors` applies).
    Passkey {
        /// Its label.
        label: String,
    },
    /// A trusted device, as the page listed it.
    Device {
        /// `SHA256:…` of its SSH key, if it has one.
        key: Option<String>,
        /// Its remote address.
        source: String,
        /// Its PAM service.
        service: String,
    },
    /// A browser that gets sign-in notifications.
    Browser {
        /// Its id, as the page listed it.
        id: String,
    },
}

/// What the account page shows once the passkey check passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManageView {
    /// The account.
    pub user: String,
    /// This host.
    pub host: String,
    /// The session the page sends back with each request; it ends at `expires_at` or on
    /// sign-out.
    pub session: String,
    /// When the session ends, Unix time.
    pub expires_at: u64,
    /// The passkeys.
    pub passkeys: Vec<PasskeyStatus>,
    /// The devices that may skip the prompt for now (`policy.remember`).
    pub devices: Vec<TrustedDeviceStatus>,
    /// The browsers told of sign-ins by Web Push.
    pub browsers: Vec<BrowserStatus>,
}

/// A browser that gets sign-in notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserStatus {
    /// A short id of its subscription, for [`ManageItem::Browser`].
    pub id: String,
    /// The push service's host name (which browser maker's service it is).
    pub service: String,
    /// When it subscribed, Unix time.
    pub added_at: u64,
}

/// The daemon to `mfa-web`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WebResponse {
    /// Answer to [`WebRequest::EnrollmentOpen`].
    Enrollment {
        /// The account the passkey is for.
        user: String,
        /// This host's name, as the daemon knows it.
        host: String,
        /// The passkey's label, as chosen on the terminal (`mfa-enroll passkey --label`);
        /// the page shows it and cannot change it.
        label: String,
        /// The options for `navigator.credentials.create`: `{"publicKey": {...}}` with
        /// base64url byte fields (`challenge`, `user.id`, `excludeCredentials[].id`).
        options: serde_json::Value,
    },
    /// The passkey is stored (answer to [`WebRequest::EnrollmentFinish`]).
    Enrolled {
        /// Its label.
        label: String,
    },
    /// Answer to [`WebRequest::ApprovalOpen`]: what the page shows.
    Approval(ApprovalView),
    /// Answer to [`WebRequest::ApprovalNumber`] with the right number: the options for
    /// `navigator.credentials.get` (`{"publicKey": {...}}`, base64url byte fields).
    Challenge {
        /// The request options.
        options: serde_json::Value,
    },
    /// The sign-in is approved (answer to [`WebRequest::ApprovalFinish`]).
    Approved,
    /// The sign-in is denied (answer to [`WebRequest::ApprovalDeny`], or to a wrong number).
    Denied,
    /// The subscription is saved.
    Subscribed,
    /// Answer to [`WebRequest::PushKey`]: the VAPID public key, base64url (the
    /// `applicationServerKey`), or none when Web Push is not configured.
    PushKey {
        /// The key.
        key: Option<String>,
    },
    /// Answer to [`WebRequest::ManageBegin`]: the options for `navigator.credentials.get`
    /// and the token to finish with.
    ManageChallenge {
        /// For [`WebRequest::ManageFinish`].
        token: String,
        /// The request options.
        options: serde_json::Value,
    },
    /// The account page's content (answer to the other `Manage*` requests).
    Managing(Box<ManageView>),
    /// Signed out.
    Ended,
    /// Refused.
    Failed {
        /// Why, for the page to word.
        kind: WebFailure,
        /// One line for a person.
        message: String,
    },
}

/// What an approval page shows: enough for the user to recognize their own sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalView {
    /// The account signing in.
    pub user: String,
    /// The host it signs in to.
    pub host: String,
    /// The PAM service (`sshd`, `sudo`, ...).
    pub service: String,
    /// Where the sign-in comes from (the remote address, or `local`).
    pub source: String,
    /// When it was asked for, Unix time.
    pub requested_at: u64,
    /// When the request expires, Unix time.
    pub expires_at: u64,
    /// Three numbers to pick from, one of them the one shown at the sign-in prompt, in an
    /// order that says nothing about which.
    pub choices: [u8; 3],
}

/// Why the daemon refused a web request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebFailure {
    /// No such link: never made, expired, or already used.
    NotFound,
    /// The number was wrong; the request is denied.
    WrongNumber,
    /// The credential or assertion did not verify (origin, challenge, signature, another
    /// user's key, a sign count going backwards).
    NotVerified,
    /// The request is malformed.
    BadRequest,
    /// Too many requests from this address or for this user; try later.
    RateLimited,
    /// The caller is not `mfa-web`.
    NotAuthorized,
    /// The daemon failed; nothing was changed.
    Internal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_socket_is_beside_the_public_one() {
        assert_eq!(
            web_socket(Path::new("/run/mfa/mfa.sock")),
            Path::new("/run/mfa/web.sock")
        );
        assert_eq!(web_socket(Path::new("mfa.sock")), Path::new("web.sock"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let frame = r#"{"approval_open":{"id":"x","from":"127.0.0.1","user":"root"}}"#;
        assert!(serde_json::from_str::<WebRequest>(frame).is_err());
    }
}
