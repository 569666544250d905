//! The factors, each deciding only the answers meant for it. An answer typed after a code was
//! sent is checked against that code (the conversation holds its ticket), never guessed to be
//! an app code because it has six digits; at the first prompt an app code and a recovery code
//! are told apart by their forms, which cannot be confused (digits against `xxxx-xxxx-xxxx`).

pub mod bypass;
pub mod recovery;
pub mod sent_code;
pub mod totp;

use mfa_proto::Channel;

/// Which factor verified a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// The authenticator app.
    Totp,
    /// A counter-based (HOTP) token.
    Hotp,
    /// A recovery code; `left` remain.
    RecoveryCode {
        /// Unused codes left after this one.
        left: usize,
    },
    /// A code sent by this channel.
    SentCode(Channel),
    /// An admin's bypass code (`mfactl bypass`).
    BypassCode,
    /// An approval signed by a passkey on the web page.
    Passkey,
    /// A FIDO security key that passed sshd's first step (`policy.ssh_security_keys =
    /// "second_factor"`); sshd checked it, the daemon only read sshd's word for it.
    SecurityKey,
    /// An app password (module option `app_password`): it stands in for the whole login.
    AppPassword,
}

impl Factor {
    /// Name in audit events.
    pub fn name(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::Hotp => "hotp",
            Factor::RecoveryCode { .. } => "recovery_code",
            Factor::SentCode(Channel::Sms) => "sms",
            Factor::SentCode(Channel::Voice) => "voice",
            Factor::SentCode(Channel::Email) => "email",
            Factor::BypassCode => "bypass_code",
            Factor::Passkey => "passkey",
            Factor::SecurityKey => "security_key",
            Factor::AppPassword => "app_password",
        }
    }
}

/// Why an answer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not a valid code (also: unknown or unenrolled user).
    Invalid,
    /// A valid code that was already used.
    Replayed,
    /// A TOTP or sent code while the account-wide lock is on (only recovery codes count
    /// then).
    AccountLocked,
    /// A sent code that is no longer valid: used, expired, out of tries, or replaced by a
    /// newer one.
    Expired,
}

impl Rejection {
    /// Name in audit events.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::Invalid => "invalid_code",
            Rejection::Replayed => "replayed_code",
            Rejection::AccountLocked => "account_locked",
            Rejection::Expired => "expired_code",
        }
    }
}

/// What checking one answer against one factor decided, before the attempt limits hear of
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Right, and consumed.
    Accept(Factor),
    /// Right, but the client had gone: nothing consumed.
    Abandon(Factor),
    /// Wrong.
    Refuse(Rejection),
}
