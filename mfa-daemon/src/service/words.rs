//! What a person is told during a login, in one place: the same words reach them through
//! every front end.

use mfa_core::contact::MenuOption;
use mfa_proto::Channel;

/// The prompt, the same for every user so that it reveals nothing about enrollment.
pub const PROMPT: &str = "Verification code: ";
/// The prompt after a code was sent.
pub const CODE_PROMPT: &str = "Code: ";
pub(super) const INVALID: &str = "Invalid verification code.";
pub(super) const NO_ANSWER: &str = "No code was entered in time.";
pub(super) const REPLAYED: &str = "That code has already been used. Wait for the next one.";
pub(super) const EXPIRED: &str = "That code is no longer valid. Choose an option to get a new one.";
pub(super) const SEND_FAILED: &str = "Could not send the code; choose another option.";
pub(super) const SEND_REFUSED: &str =
    "Too many codes were sent recently. Use your app or a recovery code, or try again later.";
pub(super) const SETUP_REQUIRED: &str = "Setting up a second factor is required to log in.";
pub(super) const SETUP_MISMATCH: &str =
    "That code does not match the new key; check the app and try again.";
pub(super) const FACTORS_CHANGED: &str = "Your factors changed meanwhile; log in again.";
/// The last prompt of an enrollment at login, under the recovery codes.
pub(super) const SAVE_CODES_PROMPT: &str = "Save these codes, then press Enter: ";
pub(super) const APPROVAL_DENIED: &str = "The sign-in was denied on your phone.";
pub(super) const APPROVAL_EXPIRED: &str =
    "The approval request expired; choose it again or enter a code.";
pub(super) const APPROVAL_UNAVAILABLE: &str =
    "Approval on your phone is not available now; enter a code instead";
pub(super) const ACCOUNT_LOCKED: &str =
    "Too many failed attempts on this account: only a recovery code is accepted now.";

/// "Try again in N minutes." for a lockout ending at `until`.
pub fn lockout_message(until: u64, now: u64) -> String {
    let minutes = until.saturating_sub(now).div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("Too many failed attempts. Try again in {minutes} {unit}.")
}

/// `sms`, `voice`, `email`.
pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms",
        Channel::Voice => "voice",
        Channel::Email => "email",
    }
}

/// `by text message`, ... for a person.
pub fn channel_phrase(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "by text message",
        Channel::Voice => "by phone call",
        Channel::Email => "by email",
    }
}

/// The prompt while an approval request waits: the number to match is in the prompt
/// itself, because OpenSSH shows a message without a prompt only at the next prompt.
pub(super) fn approval_prompt(number: u8) -> String {
    format!(
        "Approve the sign-in on your phone: number {number}. Press Enter when done, or type a code: "
    )
}

/// The menu shown above the prompt to a user with a passkey (entry 1, when `approve`),
/// phones or email addresses.
pub(super) fn menu_text(approve: bool, options: &[MenuOption]) -> String {
    let mut text = String::from("Verification options:");
    if approve {
        text.push_str("\n  1. Approve on your phone");
    }
    let first = usize::from(approve) + 1;
    for (i, option) in options.iter().enumerate() {
        let what = match option.channel {
            Channel::Sms => "Text message to",
            Channel::Voice => "Phone call to",
            Channel::Email => "Email to",
        };
        text.push_str(&format!("\n  {}. {what} {}", first + i, option.to));
    }
    text
}

/// The prompt under a menu of `options` entries.
pub(super) fn menu_prompt(options: usize) -> String {
    match options {
        0 => PROMPT.to_owned(),
        1 => "Enter a code from your app or a recovery code, or choose 1: ".to_owned(),
        n => format!("Enter a code from your app or a recovery code, or choose 1-{n}: "),
    }
}

/// The menu entry an answer chooses: a number from 1 to `options`, nothing else (an app
/// code has six digits or more, a recovery code letters and dashes).
pub(super) fn menu_choice(answer: &str, options: usize) -> Option<usize> {
    let answer = answer.trim();
    if options == 0 || answer.is_empty() || answer.len() > 2 {
        return None;
    }
    let n: usize = answer.parse().ok()?;
    (1..=options).contains(&n).then(|| n - 1)
}

/// `3 days`, `1 hour`, `5 minutes`: `secs` rounded up to the largest unit that fits.
pub(super) fn time_left(secs: u64) -> String {
    let (n, unit) = if secs >= 86_400 {
        (secs.div_ceil(86_400), "day")
    } else if secs >= 3600 {
        (secs.div_ceil(3600), "hour")
    } else {
        (secs.div_ceil(60).max(1), "minute")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}
