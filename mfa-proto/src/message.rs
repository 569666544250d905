//! Message types. Every struct and enum denies unknown fields, so a peer that speaks a newer
//! dialect gets a clear error instead of having part of its request silently ignored.

use serde::{Deserialize, Serialize};

use crate::import::{ImportSource, ImportStatus, ImportedApp, ImportedToken};
use crate::secret::Secret;

/// The protocol version this build speaks. Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 1;

/// Most bytes of a password field the module sends with [`Request::CodeInPassword`]: the
/// longest code or keyword the daemon looks for (a recovery code with dashes has 14), with
/// room to spare.
pub const FIELD_END_MAX: usize = 32;

/// What travels in one frame: the protocol version and one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    /// Protocol version of the sender; the receiver refuses any other.
    pub v: u16,
    /// The message itself.
    pub msg: T,
}

impl<T> Envelope<T> {
    /// Wraps `msg` with this build's protocol version.
    pub fn new(msg: T) -> Self {
        Envelope {
            v: PROTOCOL_VERSION,
            msg,
        }
    }
}

/// What PAM knows about one authentication, sent by the module to open the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRequest {
    /// PAM_USER: the account being authenticated.
    pub user: String,
    /// PAM_SERVICE: `sshd`, `sudo`, `login`, ...
    pub service: String,
    /// PAM_RHOST: remote host, when the service knows one.
    #[serde(default)]
    pub rhost: Option<String>,
    /// PAM_TTY.
    #[serde(default)]
    pub tty: Option<String>,
    /// PAM_RUSER: the requesting user (sudo sets it to the invoking user).
    #[serde(default)]
    pub ruser: Option<String>,
    /// sshd's `SSH_AUTH_INFO_0` (methods already passed), where exposed.
    #[serde(default)]
    pub auth_info: Option<String>,
    /// The module's `nullok` option: a user with no factor is skipped (`Outcome::Ignore`).
    #[serde(default)]
    pub nullok: bool,
}

/// Client to daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Starts an authentication conversation.
    Authenticate {
        /// Everything PAM knows.
        auth: AuthRequest,
    },
    /// Starts an authentication whose password field may end with a code or a delivery
    /// keyword (the module's `code_in_password` option). The daemon answers like
    /// [`Request::Authenticate`], and first with [`Step::StripPassword`] once it knows how
    /// much of the field was the code or the keyword.
    CodeInPassword {
        /// Everything PAM knows.
        auth: AuthRequest,
        /// The field's last characters (at most [`FIELD_END_MAX`] bytes, so the password
        /// itself mostly stays with the module).
        field_end: Secret,
    },
    /// The user's answer to the last [`Response::Prompt`].
    Answer {
        /// What the user typed.
        text: Secret,
    },
    /// Starts enrolling a new authenticator app for `user`. If the user already has one,
    /// a non-root caller must give `proof` (a current code or a recovery code).
    EnrollTotp {
        /// Account to enroll.
        user: String,
        /// A current code or a recovery code, needed to replace an enrollment.
        #[serde(default)]
        proof: Option<Secret>,
        /// The app's label (`app` when absent): a new label adds an app, an existing one
        /// replaces it.
        #[serde(default)]
        label: Option<String>,
    },
    /// Removes one authenticator app. A non-root caller may not go below `policy.min_factors`.
    RemoveTotp {
        /// Account.
        user: String,
        /// The app's label.
        label: String,
        /// A current code or a recovery code; not needed for root.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// Starts enrolling a passkey: answered with [`Response::PasskeyLink`], then, on the
    /// same connection once the link was used (or spent), [`Response::PasskeyEnrolled`] or
    /// [`Response::Failed`]. A non-root caller with a factor must give `proof`.
    EnrollPasskey {
        /// Account.
        user: String,
        /// The passkey's label (`passkey` when absent); an existing label is replaced.
        #[serde(default)]
        label: Option<String>,
        /// A current code or a recovery code; not needed for root or a first factor.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// Removes one passkey. A non-root caller may not go below `policy.min_factors`.
    RemovePasskey {
        /// Account.
        user: String,
        /// The passkey's label.
        label: String,
        /// A current code or a recovery code; not needed for root.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// Starts enrolling a soft HOTP token: answered with [`Response::HotpEnrollment`];
    /// reply with [`Request::ConfirmHotp`]. A non-root caller with a factor must give
    /// `proof`.
    EnrollHotp {
        /// Account.
        user: String,
        /// The token's label (`hotp` when absent); an existing label is replaced.
        #[serde(default)]
        label: Option<String>,
        /// Code length, 6 or 8 (6 when absent).
        #[serde(default)]
        digits: Option<u8>,
        /// A current code or a recovery code; not needed for root or a first factor.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// Stores the token from the preceding [`Response::HotpEnrollment`] on the same
    /// connection, once the user shows its first code.
    ConfirmHotp {
        /// A code from the token.
        code: Secret,
    },
    /// Removes one HOTP token. A non-root caller may not go below `policy.min_factors`.
    RemoveHotp {
        /// Account.
        user: String,
        /// The token's label.
        label: String,
        /// A current code or a recovery code; not needed for root.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// Admin (root only): resynchronises an HOTP token pressed past its login window from
    /// two consecutive codes; answered with [`Response::Ok`].
    ResyncHotp {
        /// Account.
        user: String,
        /// The token's label; may be left out when the user has one token.
        #[serde(default)]
        label: Option<String>,
        /// A code from the token.
        first: Secret,
        /// The code the token showed next.
        second: Secret,
    },
    /// Admin (root only): a new bypass code for the user (replacing any earlier one),
    /// answered with [`Response::BypassCode`].
    Bypass {
        /// Account.
        user: String,
        /// Logins it allows (1 to 10).
        uses: u8,
        /// Seconds it stays valid (at most 7 days).
        valid_secs: u64,
    },
    /// Activates the secret from the preceding [`Response::TotpEnrollment`] on the same
    /// connection, once the user shows a code the app produced.
    ConfirmTotp {
        /// A code from the authenticator app.
        code: Secret,
    },
    /// Replaces the user's recovery codes with a new set.
    NewRecoveryCodes {
        /// Account.
        user: String,
        /// A current code or a recovery code; not needed for root.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// Removes every factor of the user.
    RemoveFactors {
        /// Account.
        user: String,
        /// A current code or a recovery code; not needed for root.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// What is enrolled and whether anything is locked.
    Status {
        /// Account.
        user: String,
    },
    /// Admin (root only): clears every failure counter and lockout of the user, or with
    /// `source` only that source's.
    Unlock {
        /// Account.
        user: String,
        /// Only this source (a remote host, `service:tty` or `uid:N`); the account-wide
        /// counter is then left as it is.
        #[serde(default)]
        source: Option<String>,
    },
    /// Admin (root only): every name the daemon has a record for or counts failures of,
    /// answered with [`Response::Users`].
    ListUsers,
    /// Admin (root only): the user is not asked until `until` (Unix time); `None` ends an
    /// exemption.
    Exempt {
        /// Account.
        user: String,
        /// When the exemption ends.
        #[serde(default)]
        until: Option<u64>,
    },
    /// Starts adding a phone or an email address. The daemon sends a code to it and answers
    /// [`Response::CodeSent`]; reply with [`Request::ConfirmContact`]. With `unverified`
    /// (root only) the contact is saved at once and the answer is [`Response::ContactAdded`].
    AddContact {
        /// Account.
        user: String,
        /// The phone or address.
        contact: NewContact,
        /// A current code or a recovery code; not needed for root or a user with no factor.
        #[serde(default)]
        proof: Option<Secret>,
        /// Root only: save without sending a code (bulk provisioning).
        #[serde(default)]
        unverified: bool,
    },
    /// The code sent after [`Request::AddContact`], typed back on the same connection.
    ConfirmContact {
        /// The code as received.
        code: Secret,
    },
    /// Ends the trust of every device of the user (`policy.remember`).
    ForgetDevices {
        /// Account.
        user: String,
        /// A current code or a recovery code; not needed for root.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// Makes an app password for `user` (answered with [`Response::AppPassword`], shown
    /// once). A non-root caller with a factor must give `proof`.
    AddAppPassword {
        /// Account.
        user: String,
        /// Its label; an existing label is refused (remove it first).
        label: String,
        /// PAM services it works on; empty: every service the policy allows them on.
        #[serde(default)]
        services: Vec<String>,
        /// Seconds until it stops working; `None`: it does not expire.
        #[serde(default)]
        expires_in: Option<u64>,
        /// A current code or a recovery code; not needed for root.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// Removes one app password.
    RemoveAppPassword {
        /// Account.
        user: String,
        /// Its label.
        label: String,
        /// A current code or a recovery code; not needed for root.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// Sent by `pam_mfa.so app_password`: is `password` (PAM_AUTHTOK) one of the user's app
    /// passwords for this service? Answered with one [`Step::Done`]: `success` (it is, the
    /// login is done), `ignore` (it is not one; the daemon kept and logged nothing of it),
    /// `failure` (shaped like one but wrong: counted like a wrong code) or `locked_out`.
    AppPassword {
        /// Everything PAM knows.
        auth: AuthRequest,
        /// What PAM_AUTHTOK holds.
        password: Secret,
    },
    /// Removes one phone or email address.
    RemoveContact {
        /// Account.
        user: String,
        /// Phone or email.
        kind: ContactKind,
        /// The contact's label, its masked form as `status` shows it, or the full
        /// number or address.
        which: String,
        /// A current code or a recovery code; not needed for root.
        #[serde(default)]
        proof: Option<Secret>,
    },
    /// Admin (root only): stores factors read from another OTP system's files for one user,
    /// answered with [`Response::Imported`]. A user who already has a factor is skipped
    /// unless `replace`; `dry_run` checks everything and changes nothing.
    Import {
        /// Account.
        user: String,
        /// The system the factors come from.
        source: ImportSource,
        /// Authenticator apps (TOTP).
        #[serde(default)]
        totp: Vec<ImportedApp>,
        /// HOTP tokens.
        #[serde(default)]
        hotp: Vec<ImportedToken>,
        /// Unused one-time codes (google-authenticator's 8-digit scratch codes), stored as
        /// recovery codes (hashed).
        #[serde(default)]
        recovery_codes: Vec<Secret>,
        /// Replace apps and tokens of the same label, and the recovery codes when codes come
        /// with the import, of a user who already has a factor.
        #[serde(default)]
        replace: bool,
        /// Check only; store nothing.
        #[serde(default)]
        dry_run: bool,
    },
}

impl Request {
    /// The account a request acts for, if it names one.
    pub fn user(&self) -> Option<&str> {
        match self {
            Request::Authenticate { auth }
            | Request::CodeInPassword { auth, .. }
            | Request::AppPassword { auth, .. } => Some(&auth.user),
            Request::EnrollTotp { user, .. }
            | Request::NewRecoveryCodes { user, .. }
            | Request::RemoveFactors { user, .. }
            | Request::Status { user }
            | Request::Unlock { user, .. }
            | Request::AddContact { user, .. }
            | Request::RemoveContact { user, .. }
            | Request::ForgetDevices { user, .. }
            | Request::RemoveTotp { user, .. }
            | Request::EnrollPasskey { user, .. }
            | Request::RemovePasskey { user, .. }
            | Request::AddAppPassword { user, .. }
            | Request::RemoveAppPassword { user, .. }
            | Request::EnrollHotp { user, .. }
            | Request::RemoveHotp { user, .. }
            | Request::ResyncHotp { user, .. }
            | Request::Bypass { user, .. }
            | Request::Import { user, .. }
            | Request::Exempt { user, .. } => Some(user),
            Request::Answer { .. }
            | Request::ConfirmTotp { .. }
            | Request::ConfirmContact { .. }
            | Request::ConfirmHotp { .. }
            | Request::ListUsers => None,
        }
    }
}

/// Daemon to `pam_mfa.so` during an authentication conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Ask the user something; the client replies with [`Request::Answer`].
    Prompt {
        /// Prompt text, e.g. `Verification code: `.
        text: String,
        /// Whether the answer may be shown as it is typed.
        echo: bool,
    },
    /// A message to show; no reply.
    Info {
        /// Text to show.
        text: String,
    },
    /// An error message to show; no reply.
    Error {
        /// Text to show.
        text: String,
    },
    /// Answer to [`Request::CodeInPassword`]: the field's last `bytes` were the code or the
    /// keyword; the module sets `PAM_AUTHTOK` to what comes before them, for the password
    /// module. Comes at most once, before any prompt and before [`Step::Done`].
    StripPassword {
        /// How many bytes to take off the end of the field (never more than were sent).
        bytes: u16,
    },
    /// End of an authentication conversation.
    Done {
        /// How it ended.
        outcome: Outcome,
    },
    /// The request itself was refused (malformed, or not valid at this point); same wire
    /// form as [`Response::Failed`].
    Failed {
        /// Machine-readable reason.
        kind: FailureKind,
        /// One line for a person: what is wrong and what to do.
        message: String,
    },
}

/// Daemon to `mfa-enroll`: the answer to a management request.
///
/// Kept apart from [`Step`] so that the PAM module, which only ever receives steps, carries
/// no code for these (it is loaded into sshd, sudo and login, and size matters there).
// One response is made and sent per request; its size on the stack does not matter, and
// boxing `Status` would change every caller for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    /// A new, not yet active, authenticator secret. Reply with [`Request::ConfirmTotp`].
    TotpEnrollment(TotpEnrollment),
    /// A new, not yet stored, HOTP soft token. Reply with [`Request::ConfirmHotp`].
    HotpEnrollment(HotpEnrollment),
    /// The enrollment is active (after [`Request::ConfirmTotp`]) or a new set was made
    /// (after [`Request::NewRecoveryCodes`]): the recovery codes, shown once.
    RecoveryCodes {
        /// The codes in plain text; the daemon keeps only their hashes.
        codes: Vec<Secret>,
    },
    /// Answer to [`Request::Status`].
    Status(StatusReport),
    /// Answer to [`Request::ListUsers`]: one report per name, sorted by name.
    Users(Vec<StatusReport>),
    /// A code was sent to the new contact (after [`Request::AddContact`]); reply with
    /// [`Request::ConfirmContact`].
    CodeSent {
        /// How it was sent.
        channel: Channel,
        /// Where, masked (`+1 •••-•••-4567`, `a•••@example.com`).
        to: String,
    },
    /// The contact is saved.
    ContactAdded(ContactStatus),
    /// A bypass code (after [`Request::Bypass`]), shown once.
    BypassCode {
        /// The code, `1234-5678-9012`; the daemon keeps only its hash.
        code: Secret,
        /// Logins it allows.
        uses: u8,
        /// Unix time it stops working.
        expires_at: u64,
    },
    /// The one-time link that enrolls a passkey (after [`Request::EnrollPasskey`]): open it
    /// on the phone, or in this computer's browser for a security key.
    PasskeyLink {
        /// The page's address.
        open: String,
        /// Unix time the link stops working.
        expires_at: u64,
    },
    /// The passkey is stored.
    PasskeyEnrolled {
        /// Its label.
        label: String,
    },
    /// Answer to [`Request::Import`] (the daemon refuses with [`Response::Failed`]).
    Imported {
        /// The account, by its canonical name.
        user: String,
        /// Stored, would be stored, or skipped.
        status: ImportStatus,
        /// What was (or would be) stored, for a person: labels and counts, never a secret.
        detail: String,
    },
    /// A new app password (after [`Request::AddAppPassword`]), shown once.
    AppPassword {
        /// Its label.
        label: String,
        /// The password, `xxxx-xxxx-xxxx-xxxx-xxxx`; the daemon keeps only its hash.
        password: Secret,
        /// The services it works on; empty: every service the policy allows them on.
        services: Vec<String>,
        /// Unix time it stops working, if it expires.
        expires_at: Option<u64>,
    },
    /// A management request succeeded.
    Ok {
        /// What was done, for a person.
        message: String,
    },
    /// A request was refused or failed.
    Failed {
        /// Machine-readable reason.
        kind: FailureKind,
        /// One line for a person: what is wrong and what to do.
        message: String,
    },
}

/// How an authentication ended. The module maps each to one PAM result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A factor was verified.
    Success,
    /// Wrong codes, unknown or unenrolled user (without nullok): indistinguishable on purpose.
    Failure,
    /// Attempts from this source (or for this account) are locked out for now.
    LockedOut,
    /// `nullok` and the user has no factor: this module has no opinion.
    Ignore,
    /// The caller may not authenticate this user (peer credentials).
    NotAuthorized,
    /// The daemon could not decide safely (for example it could not record the code as used);
    /// the login fails closed.
    Error,
    /// The daemon cannot reach where records are kept (a shared database is down); the login
    /// fails closed, and the module says the authentication information is unavailable.
    Unavailable,
}

/// Machine-readable reason in [`Response::Failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The request is malformed or not valid at this point of the conversation.
    BadRequest,
    /// The caller may not act for this user, or the request needs root.
    NotAuthorized,
    /// The user has nothing enrolled that this request needs.
    NotEnrolled,
    /// The user already has a factor: give a current code or a recovery code.
    ProofRequired,
    /// The code or recovery code given is not valid.
    WrongCode,
    /// Too many failed attempts; try later.
    LockedOut,
    /// The daemon failed (storage, internal error); nothing was changed.
    Internal,
    /// Too many codes were sent to this user or from this host recently; nothing was sent.
    RateLimited,
    /// The provider could not deliver the code (or none is configured for the channel);
    /// nothing was changed.
    DeliveryFailed,
    /// The policy does not allow it (`min_factors`, `max_authenticators`); nothing was
    /// changed.
    Policy,
}

/// A new authenticator secret, not active until confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpEnrollment {
    /// `otpauth://totp/...` URI for the QR code; it contains the secret.
    pub otpauth_uri: Secret,
    /// The secret in base32, for typing into an app by hand.
    pub secret: Secret,
    /// HMAC algorithm: `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    /// Code length.
    pub digits: u8,
    /// Seconds per code.
    pub period: u32,
}

/// A new HOTP soft token, not stored until its first code is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotpEnrollment {
    /// The token's label.
    pub label: String,
    /// `otpauth://hotp/...` URI for the QR code; it contains the secret.
    pub otpauth_uri: Secret,
    /// The secret in base32, for typing into an app by hand.
    pub secret: Secret,
    /// HMAC algorithm: `SHA1`.
    pub algorithm: String,
    /// Code length.
    pub digits: u8,
    /// The counter of the first code.
    pub counter: u64,
}

/// One HOTP token, as `status` shows it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotpStatus {
    /// Its label.
    pub label: String,
    /// HMAC algorithm.
    pub algorithm: String,
    /// Code length.
    pub digits: u8,
    /// The next counter it accepts.
    pub counter: u64,
    /// Unix time of enrollment (or import).
    pub enrolled_at: u64,
    /// Unix time of the last accepted code.
    #[serde(default)]
    pub last_used: Option<u64>,
}

/// What is enrolled for a user. The default is an account with nothing enrolled, nothing
/// locked and no name, for building a report field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// Account.
    pub user: String,
    /// The authenticator apps, in enrollment order.
    #[serde(default)]
    pub authenticators: Vec<TotpStatus>,
    /// Unused recovery codes.
    pub recovery_codes_left: usize,
    /// Sources currently locked out.
    pub lockouts: Vec<Lockout>,
    /// Unix time until which only recovery codes are accepted, because the account as a
    /// whole had too many failures.
    pub account_locked_until: Option<u64>,
    /// Phones and email addresses, in enrollment order (phones first).
    #[serde(default)]
    pub contacts: Vec<ContactStatus>,
    /// Devices that may skip the prompt for now (`policy.remember`).
    #[serde(default)]
    pub trusted_devices: Vec<TrustedDeviceStatus>,
    /// Unix time until which an admin exempted the user from being asked.
    #[serde(default)]
    pub exempt_until: Option<u64>,
    /// The last login that passed.
    #[serde(default)]
    pub last_success: Option<LastSuccessStatus>,
    /// For a user with no factor under `unenrolled = "enroll"`: until when they may skip
    /// enrolling at login.
    #[serde(default)]
    pub grace_until: Option<u64>,
    /// A live bypass code.
    #[serde(default)]
    pub bypass: Option<BypassStatus>,
    /// Passkeys and security keys, in enrollment order.
    #[serde(default)]
    pub passkeys: Vec<PasskeyStatus>,
    /// App passwords (never the password or its hash), in the order they were made.
    #[serde(default)]
    pub app_passwords: Vec<AppPasswordStatus>,
    /// HOTP tokens, in enrollment order.
    #[serde(default)]
    pub hotp: Vec<HotpStatus>,
}

/// One app password, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPasswordStatus {
    /// Its label.
    pub label: String,
    /// The services it works on; empty: every service the policy allows them on.
    #[serde(default)]
    pub services: Vec<String>,
    /// Unix time it was made.
    pub created_at: u64,
    /// Unix time it stops working, if it expires.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Unix time of the last login it made.
    #[serde(default)]
    pub last_used: Option<u64>,
}

/// One passkey, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyStatus {
    /// Its label.
    pub label: String,
    /// Unix time of enrollment.
    pub enrolled_at: u64,
    /// Unix time it last approved a sign-in.
    #[serde(default)]
    pub last_used: Option<u64>,
    /// The authenticator's model (AAGUID), when it told one at enrollment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aaguid: Option<String>,
}

/// The last successful login, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastSuccessStatus {
    /// Unix time.
    pub at: u64,
    /// Remote address, `service:tty` or `uid:N`.
    pub source: String,
    /// PAM service.
    pub service: String,
    /// `totp`, `recovery_code`, `sms`, `voice`, `email`, `bypass_code` or `remembered`.
    pub factor: String,
}

/// A live bypass code, as `status` shows it (never the code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BypassStatus {
    /// Logins it still allows.
    pub uses_left: u8,
    /// Unix time it stops working.
    pub expires_at: u64,
}

/// A trusted device, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedDeviceStatus {
    /// `SHA256:…` of the SSH key, when the device is a key.
    #[serde(default)]
    pub key: Option<String>,
    /// The remote address (or `service:tty`).
    pub source: String,
    /// The PAM service.
    pub service: String,
    /// Unix time the trust began.
    pub since: u64,
    /// Unix time it ends.
    pub until: u64,
}

/// What kind of contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// A phone number (E.164).
    Phone,
    /// An email address.
    Email,
}

/// How a code travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A text message.
    Sms,
    /// A phone call that reads the code out.
    Voice,
    /// An email.
    Email,
}

/// A phone or address to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NewContact {
    /// A phone number.
    Phone {
        /// E.164: `+` and 8 to 15 digits.
        number: String,
        /// Calls only (landlines, office phones): never sent a text message.
        #[serde(default)]
        voice_only: bool,
        /// A name the user chooses, e.g. `work`.
        #[serde(default)]
        label: Option<String>,
    },
    /// An email address.
    Email {
        /// The address.
        address: String,
        /// A name the user chooses.
        #[serde(default)]
        label: Option<String>,
    },
}

/// One enrolled phone or address, as `status` shows it: masked, never in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactStatus {
    /// Phone or email.
    pub kind: ContactKind,
    /// The user's name for it.
    pub label: String,
    /// The number or address, masked.
    pub masked: String,
    /// The channels it can receive codes by.
    pub channels: Vec<Channel>,
    /// False if root provisioned it without a confirmation code.
    pub verified: bool,
    /// Unix time it was added.
    pub added_at: u64,
}

/// An enrolled authenticator app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpStatus {
    /// The user's name for it.
    pub label: String,
    /// HMAC algorithm.
    pub algorithm: String,
    /// Code length.
    pub digits: u8,
    /// Seconds per code.
    pub period: u32,
    /// Unix time of enrollment.
    pub enrolled_at: u64,
}

/// One locked-out source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockout {
    /// The source: remote host, or `service:tty` when there is none.
    pub source: String,
    /// Unix time when attempts are accepted again.
    pub until: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlock_without_source_still_decodes() {
        let old: Envelope<Request> =
            serde_json::from_str(r#"{"v":1,"msg":{"unlock":{"user":"bob"}}}"#).unwrap();
        assert_eq!(
            old.msg,
            Request::Unlock {
                user: "bob".into(),
                source: None
            }
        );
        let one: Envelope<Request> =
            serde_json::from_str(r#"{"v":1,"msg":{"unlock":{"user":"bob","source":"10.0.0.1"}}}"#)
                .unwrap();
        assert_eq!(
            one.msg,
            Request::Unlock {
                user: "bob".into(),
                source: Some("10.0.0.1".into())
            }
        );
    }

    #[test]
    fn list_users_wire_form() {
        let sent = serde_json::to_string(&Envelope::new(Request::ListUsers)).unwrap();
        assert_eq!(sent, r#"{"v":1,"msg":"list_users"}"#);
        assert_eq!(Request::ListUsers.user(), None);
        let reply = serde_json::to_value(Response::Users(vec![])).unwrap();
        assert_eq!(reply, serde_json::json!({ "users": [] }));
    }
}
