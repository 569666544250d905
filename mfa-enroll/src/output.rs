//! What the tool shows on stdout: text for a person, or one JSON object per line for a script.

use std::fmt::Write as _;
use std::io::{self, Write};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use mfa_proto::{
    Channel, ContactKind, ContactStatus, HotpEnrollment, Secret, StatusReport, TotpEnrollment,
};
use serde_json::{Value, json};

use crate::error::{EnrollError, one_line};
use crate::qr;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sentences, a QR code, local times.
    Human,
    /// One JSON object per line and nothing else.
    Json,
}

/// Why a set of recovery codes is being shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodesReason {
    /// A new authenticator app was just confirmed.
    Enrolled,
    /// The user asked for a new set.
    Replaced,
}

/// Writes results in one [`Mode`].
#[derive(Debug)]
pub struct Output<W> {
    mode: Mode,
    out: W,
    show_qr: bool,
}

impl<W: Write> Output<W> {
    /// `show_qr`: whether `out` is a terminal that can show a QR code (human mode only).
    pub fn new(mode: Mode, out: W, show_qr: bool) -> Self {
        Output { mode, out, show_qr }
    }

    /// A new, not yet confirmed, authenticator secret.
    pub fn enrollment(&mut self, enrollment: &TotpEnrollment) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => self.json(&enrollment_json(enrollment)),
            Mode::Human => self.text(&enrollment_text(enrollment, self.show_qr)),
        }
    }

    /// A new, not yet stored, HOTP soft token.
    pub fn hotp_enrollment(&mut self, enrollment: &HotpEnrollment) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => self.json(&json!({
                "label": enrollment.label,
                "otpauth_uri": enrollment.otpauth_uri,
                "secret": enrollment.secret,
                "digits": enrollment.digits,
                "counter": enrollment.counter,
            })),
            Mode::Human => self.text(&hotp_enrollment_text(enrollment, self.show_qr)),
        }
    }

    /// Recovery codes, shown once.
    pub fn recovery_codes(
        &mut self,
        codes: &[Secret],
        reason: CodesReason,
    ) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => self.json(&recovery_codes_json(codes)),
            Mode::Human => self.text(&recovery_codes_text(codes, reason)),
        }
    }

    /// An app was added beside others and the unused recovery codes (`left`, if known)
    /// were kept.
    pub fn codes_kept(&mut self, left: Option<usize>) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => self.json(&recovery_codes_json(&[])),
            Mode::Human => self.text(&match left {
                Some(n) => format!(
                    "The authenticator app is now active.\nYour recovery codes are unchanged ({n} left).\n"
                ),
                None => "The authenticator app is now active.\nYour recovery codes are unchanged.\n"
                    .to_owned(),
            }),
        }
    }

    /// What is enrolled for a user; times relative to `now`, shown in `tz`.
    pub fn status(
        &mut self,
        report: &StatusReport,
        now: Timestamp,
        tz: &TimeZone,
    ) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => self.json(&serde_json::to_value(report).map_err(json_error)?),
            Mode::Human => self.text(&status_text(report, now, tz)),
        }
    }

    /// A code is on its way to a new contact; `to` is where, masked by the daemon.
    pub fn code_sent(&mut self, channel: Channel, to: &str) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => self.json(&code_sent_json(channel, to)),
            Mode::Human => self.text(&code_sent_text(channel, to)),
        }
    }

    /// A phone or address was saved.
    pub fn contact_added(&mut self, contact: &ContactStatus) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => {
                let value = serde_json::to_value(contact).map_err(json_error)?;
                self.json(&json!({ "enrolled": value }))
            }
            Mode::Human => self.text(&contact_added_text(contact)),
        }
    }

    /// The trusted devices of a status report.
    pub fn devices(
        &mut self,
        report: &StatusReport,
        now: Timestamp,
        tz: &TimeZone,
    ) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => self.json(&json!({ "trusted_devices": report.trusted_devices })),
            Mode::Human => {
                let text = devices_text(report, now, tz);
                if text.is_empty() {
                    self.text("No trusted devices.\n")
                } else {
                    self.text(&text)
                }
            }
        }
    }

    /// The one-time link that adds a passkey, valid until `expires_at` (Unix time): with
    /// its QR code on a terminal, or `{"open": ..., "expires_at": ...}`.
    pub fn passkey_link(&mut self, open: &str, expires_at: u64) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => self.json(&json!({ "open": open, "expires_at": expires_at })),
            Mode::Human => self.text(&passkey_link_text(
                open,
                expires_at,
                &TimeZone::system(),
                self.show_qr,
            )),
        }
    }

    /// The passkey was stored under `label`.
    pub fn passkey_enrolled(&mut self, label: &str) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => self.json(&json!({ "enrolled": { "kind": "passkey", "label": label } })),
            Mode::Human => self.text(&format!("Passkey \"{}\" added.\n", one_line(label))),
        }
    }

    /// One result: `json` in JSON mode, else `human` as it is.
    pub fn either(&mut self, json: &Value, human: &str) -> Result<(), EnrollError> {
        match self.mode {
            Mode::Json => self.json(json),
            Mode::Human => self.text(human),
        }
    }

    /// A request succeeded; `message` is the daemon's.
    pub fn ok(&mut self, message: &str) -> Result<(), EnrollError> {
        self.text(&ok_text(message, self.mode == Mode::Json))
    }

    fn json(&mut self, value: &Value) -> Result<(), EnrollError> {
        self.text(&format!("{value}\n"))
    }

    /// Writes and flushes at once: a script may be waiting for this line before it answers.
    fn text(&mut self, text: &str) -> Result<(), EnrollError> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(EnrollError::Output)
    }
}

/// For a wire type that could not be turned into JSON (it always can: the daemon's reply
/// was JSON).
fn json_error(e: serde_json::Error) -> EnrollError {
    EnrollError::Output(io::Error::from(e))
}

fn code_sent_json(channel: Channel, to: &str) -> Value {
    json!({ "sent": { "channel": channel, "to": to } })
}

fn enrollment_json(enrollment: &TotpEnrollment) -> Value {
    json!({ "otpauth_uri": enrollment.otpauth_uri, "secret": enrollment.secret })
}

fn recovery_codes_json(codes: &[Secret]) -> Value {
    json!({ "recovery_codes": codes })
}

/// A done request: the daemon's message, as a line of text or as `{"ok": ...}` (mfactl's
/// too).
pub fn ok_text(message: &str, json: bool) -> String {
    if json {
        format!("{}\n", json!({ "ok": message }))
    } else {
        format!("{}\n", one_line(message))
    }
}

fn enrollment_text(e: &TotpEnrollment, show_qr: bool) -> String {
    let mut text = String::new();
    if show_qr {
        text.push_str(
            "Add this account to your authenticator app: scan the QR code,\n\
             or enter the secret by hand.\n\n",
        );
        match qr::render(e.otpauth_uri.expose()) {
            Ok(picture) => text.push_str(&picture),
            Err(why) => {
                let _ = writeln!(text, "(No QR code: {why}.)");
            }
        }
        text.push('\n');
    } else {
        text.push_str(
            "Add this account to your authenticator app: enter the secret by hand,\n\
             or turn the URI into a QR code.\n\n",
        );
    }
    let _ = write!(
        text,
        "URI:    {}\nSecret: {}\nType:   time-based, {}, {} digits, new code every {} seconds\n\n",
        one_line(e.otpauth_uri.expose()),
        one_line(e.secret.expose()),
        one_line(&e.algorithm),
        e.digits,
        e.period,
    );
    text
}

fn hotp_enrollment_text(e: &HotpEnrollment, show_qr: bool) -> String {
    let mut text = String::new();
    if show_qr {
        text.push_str(
            "Add this token to an app that makes counter-based (HOTP) codes: scan the QR\n\
             code, or enter the secret by hand.\n\n",
        );
        match qr::render(e.otpauth_uri.expose()) {
            Ok(picture) => text.push_str(&picture),
            Err(why) => {
                let _ = writeln!(text, "(No QR code: {why}.)");
            }
        }
        text.push('\n');
    } else {
        text.push_str(
            "Add this token to an app that makes counter-based (HOTP) codes: enter the\n\
             secret by hand, or turn the URI into a QR code.\n\n",
        );
    }
    let _ = write!(
        text,
        "URI:    {}\nSecret: {}\nType:   counter-based, {}, {} digits, first code number {}\n\n",
        one_line(e.otpauth_uri.expose()),
        one_line(e.secret.expose()),
        one_line(&e.algorithm),
        e.digits,
        e.counter,
    );
    text
}

fn passkey_link_text(open: &str, expires_at: u64, tz: &TimeZone, show_qr: bool) -> String {
    let open = one_line(open);
    let mut text = String::new();
    if show_qr {
        text.push_str("Scan this QR code with your phone's camera, or open the link below.\n\n");
        match qr::render(&open) {
            Ok(picture) => text.push_str(&picture),
            Err(why) => {
                let _ = writeln!(text, "(No QR code: {why}.)");
            }
        }
        text.push('\n');
    }
    let _ = write!(
        text,
        "Open this link on your phone, or in this computer's browser for a security key:\n\n    \
         {open}\n\nIt works once, until {}. Waiting for the passkey (Ctrl-C cancels)...\n",
        local_time(expires_at, tz)
    );
    text
}

/// `last used WHEN` or `never used`, for a factor's line in the status.
pub(crate) fn last_used(at: Option<u64>, tz: &TimeZone) -> String {
    match at {
        Some(at) => format!("last used {}", local_time(at, tz)),
        None => "never used".to_owned(),
    }
}

/// One line per HOTP token: label, digits, the next counter, when it was added and last
/// used (never the secret). Nothing when there are none.
fn hotp_text(text: &mut String, report: &StatusReport, tz: &TimeZone) {
    if report.hotp.is_empty() {
        return;
    }
    text.push_str("HOTP tokens:\n");
    for token in &report.hotp {
        let used = last_used(token.last_used, tz);
        let _ = writeln!(
            text,
            "  {}: added {} ({} digits, next counter {}), {used}",
            one_line(&token.label),
            local_time(token.enrolled_at, tz),
            token.digits,
            token.counter
        );
    }
}

/// One line per passkey: label, when it was added and last used. Nothing when there are
/// none: most hosts have no web pages for passkeys, and the line would only puzzle.
fn passkeys_text(text: &mut String, report: &StatusReport, tz: &TimeZone) {
    if report.passkeys.is_empty() {
        return;
    }
    text.push_str("Passkeys:\n");
    for key in &report.passkeys {
        let used = last_used(key.last_used, tz);
        let _ = writeln!(
            text,
            "  {}: added {}, {used}",
            one_line(&key.label),
            local_time(key.enrolled_at, tz)
        );
    }
}

fn recovery_codes_text(codes: &[Secret], reason: CodesReason) -> String {
    let mut text = String::from(match reason {
        CodesReason::Enrolled => "The authenticator app is now active.\n\n",
        CodesReason::Replaced => {
            "New recovery codes are active; the previous ones no longer work.\n\n"
        }
    });
    text.push_str("Recovery codes:\n\n");
    for code in codes {
        let _ = writeln!(text, "    {}", one_line(code.expose()));
    }
    text.push_str(
        "\nStore these codes now, offline: print them or write them down, and keep them away\n\
         from this computer. They are shown only this once, and each code works only once.\n\
         Use one to log in when your authenticator app is not at hand.\n",
    );
    text
}

fn code_sent_text(channel: Channel, to: &str) -> String {
    let to = one_line(to);
    match channel {
        Channel::Sms => format!("A code was sent by text message to {to}.\n"),
        Channel::Voice => format!("A phone call to {to} will read out a code.\n"),
        Channel::Email => format!("A code was sent by email to {to}.\n"),
    }
}

fn contact_added_text(contact: &ContactStatus) -> String {
    let kind = match contact.kind {
        ContactKind::Phone => "phone",
        ContactKind::Email => "email address",
    };
    let mut text = format!(
        "Saved {kind} {}: {} ({})",
        label_text(&contact.label),
        one_line(&contact.masked),
        channels_text(contact)
    );
    if contact.verified {
        text.push_str(".\n");
    } else {
        text.push_str(", unverified: no code was sent to check that it works.\n");
    }
    text
}

/// How codes reach `contact`, in a few words: `text, call`, `call only`, `email`.
pub fn channels_text(contact: &ContactStatus) -> String {
    let names: Vec<&str> = contact
        .channels
        .iter()
        .map(|channel| match channel {
            Channel::Sms => "text",
            Channel::Voice => "call",
            Channel::Email => "email",
        })
        .collect();
    match (contact.kind, names.as_slice()) {
        (_, []) => "no channel".to_owned(),
        (ContactKind::Phone, [one]) => format!("{one} only"),
        _ => names.join(", "),
    }
}

/// A label on one line, or `-` when there is none.
pub fn label_text(label: &str) -> String {
    let label = one_line(label);
    if label.is_empty() {
        "-".to_owned()
    } else {
        label
    }
}

/// One aligned line per contact. Widths count characters, so the masking dots (one
/// character, several bytes) line up.
fn contacts_text(text: &mut String, contacts: &[ContactStatus], tz: &TimeZone) {
    if contacts.is_empty() {
        text.push_str("Phones and email addresses: none\n");
        return;
    }
    text.push_str("Phones and email addresses:\n");
    let rows: Vec<[String; 4]> = contacts
        .iter()
        .map(|contact| {
            let mut added = format!("added {}", local_time(contact.added_at, tz));
            if !contact.verified {
                added.push_str(", unverified");
            }
            [
                label_text(&contact.label),
                one_line(&contact.masked),
                channels_text(contact),
                added,
            ]
        })
        .collect();
    let width = |column: usize| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (label, masked, channels) = (width(0), width(1), width(2));
    for [l, m, c, a] in &rows {
        let _ = writeln!(text, "  {l:<label$}  {m:<masked$}  {c:<channels$}  {a}");
    }
}

/// What is enrolled for a user and what is locked, one fact per line (times relative to
/// `now`, shown in `tz`): the body of `mfa-enroll status` and `mfactl show`.
pub fn status_details(report: &StatusReport, now: Timestamp, tz: &TimeZone) -> String {
    let mut text = String::new();
    let user = one_line(&report.user);
    let _ = writeln!(text, "User: {user}");
    match report.authenticators.as_slice() {
        [] => text.push_str("Authenticator app: not enrolled\n"),
        apps => {
            text.push_str("Authenticator apps:\n");
            for app in apps {
                let _ = writeln!(
                    text,
                    "  {}: enrolled {} ({}, {} digits, new code every {} seconds)",
                    one_line(&app.label),
                    local_time(app.enrolled_at, tz),
                    one_line(&app.algorithm),
                    app.digits,
                    app.period
                );
            }
        }
    }
    passkeys_text(&mut text, report, tz);
    hotp_text(&mut text, report, tz);
    app_passwords_text(&mut text, report, now, tz);
    contacts_text(&mut text, &report.contacts, tz);
    let _ = writeln!(text, "Recovery codes left: {}", report.recovery_codes_left);
    if report.lockouts.is_empty() {
        text.push_str("Lockouts: none\n");
    } else {
        text.push_str("Lockouts:\n");
        for lockout in &report.lockouts {
            let _ = writeln!(
                text,
                "  {}: locked until {}",
                one_line(&lockout.source),
                until(lockout.until, now, tz)
            );
        }
    }
    if let Some(at) = report.account_locked_until {
        let at = until(at, now, tz);
        let _ = writeln!(text, "Account: only recovery codes are accepted until {at}");
    }
    if let Some(at) = report.exempt_until {
        let at = until(at, now, tz);
        let _ = writeln!(
            text,
            "Exempt: not asked for a second factor until {at} (an admin's mfactl exempt)"
        );
    }
    if let Some(bypass) = &report.bypass {
        let (uses, at) = (bypass.uses_left, until(bypass.expires_at, now, tz));
        let _ = writeln!(text, "Bypass code: {uses} use(s) left, until {at}");
    }
    if let Some(at) = report.grace_until {
        let at = until(at, now, tz);
        let _ = writeln!(text, "Grace period: may skip enrolling at login until {at}");
    }
    match &report.last_success {
        Some(last) => {
            let _ = writeln!(
                text,
                "Last login: {} from {} ({}, {})",
                local_time(last.at, tz),
                one_line(&last.source),
                one_line(&last.service),
                one_line(&last.factor)
            );
        }
        None => text.push_str("Last login: never\n"),
    }
    text.push_str(&devices_text(report, now, tz));
    text
}

/// The trusted devices of a report, one line each (nothing when there are none).
pub fn devices_text(report: &StatusReport, now: Timestamp, tz: &TimeZone) -> String {
    let mut text = String::new();
    if report.trusted_devices.is_empty() {
        return text;
    }
    text.push_str(
        "Trusted devices (skip the prompt until):
",
    );
    for device in &report.trusted_devices {
        let what = match &device.key {
            Some(key) => format!("key {}", one_line(key)),
            None => "no key".to_owned(),
        };
        let _ = writeln!(
            text,
            "  {} from {} ({what}): {}",
            one_line(&device.service),
            one_line(&device.source),
            until(device.until, now, tz)
        );
    }
    text
}

fn status_text(report: &StatusReport, now: Timestamp, tz: &TimeZone) -> String {
    let mut text = status_details(report, now, tz);
    let user = one_line(&report.user);
    if report.authenticators.is_empty()
        && report.passkeys.is_empty()
        && report.hotp.is_empty()
        && report.recovery_codes_left == 0
        && report.contacts.is_empty()
    {
        text.push_str(
            "Nothing is enrolled. Run `mfa-enroll totp` to add an authenticator app,\n\
             `mfa-enroll passkey` to add a passkey, or `mfa-enroll phone` or\n\
             `mfa-enroll email` to get codes by text, call or email.\n",
        );
    } else if report.recovery_codes_left == 0 {
        text.push_str("No recovery codes left. Run `mfa-enroll recovery-codes` for a new set.\n");
    }
    if !report.lockouts.is_empty() || report.account_locked_until.is_some() {
        let _ = writeln!(
            text,
            "Root can clear lockouts with `mfa-enroll unlock --user {user}`."
        );
    }
    text
}

/// `unix` as a local date and time, e.g. `2025-01-05 14:20 CET`.
pub fn local_time(unix: u64, tz: &TimeZone) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|secs| Timestamp::from_second(secs).ok())
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string()
        })
        .unwrap_or_else(|| format!("Unix time {unix}"))
}

/// `unix` as a local time and how long until then, e.g. `2025-01-05 14:20 CET (in 3 minutes)`.
pub fn until(unix: u64, now: Timestamp, tz: &TimeZone) -> String {
    let now = u64::try_from(now.as_second()).unwrap_or(0);
    let relative = match unix.checked_sub(now) {
        None | Some(0) => "now over".to_owned(),
        // Minutes up to two hours (lockouts), then hours up to two days, then days.
        Some(secs) if secs <= 2 * 3600 => match secs.div_ceil(60) {
            1 => "in 1 minute".to_owned(),
            minutes => format!("in {minutes} minutes"),
        },
        Some(secs) if secs <= 2 * 86_400 => format!("in {} hours", secs.div_ceil(3600)),
        Some(secs) => format!("in {} days", secs.div_ceil(86_400)),
    };
    format!("{} ({relative})", local_time(unix, tz))
}

/// The app passwords of a report, one line each (nothing when there are none): part of
/// `mfa-enroll status`, `mfactl show` and `app-password list`.
pub(crate) fn app_passwords_text(
    text: &mut String,
    report: &StatusReport,
    now: Timestamp,
    tz: &TimeZone,
) {
    if report.app_passwords.is_empty() {
        return;
    }
    text.push_str("App passwords:\n");
    for password in &report.app_passwords {
        let services = match password.services.as_slice() {
            [] => "all allowed services".to_owned(),
            list => list
                .iter()
                .map(|s| one_line(s))
                .collect::<Vec<_>>()
                .join(","),
        };
        let expires = match password.expires_at {
            Some(at) if now.as_second() >= i64::try_from(at).unwrap_or(i64::MAX) => {
                format!("expired {}", local_time(at, tz))
            }
            Some(at) => format!("expires {}", until(at, now, tz)),
            None => "does not expire".to_owned(),
        };
        let used = last_used(password.last_used, tz);
        let _ = writeln!(
            text,
            "  {}: {services}; made {}, {expires}, {used}",
            one_line(&password.label),
            local_time(password.created_at, tz),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_proto::{BypassStatus, LastSuccessStatus, Lockout, PasskeyStatus, TotpStatus};

    fn enrollment() -> TotpEnrollment {
        TotpEnrollment {
            otpauth_uri: "otpauth://totp/pam-mfa:alice?secret=JBSWY3DPEHPK3PXP&issuer=pam-mfa"
                .into(),
            secret: "JBSWY3DPEHPK3PXP".into(),
            algorithm: "SHA1".into(),
            digits: 6,
            period: 30,
        }
    }

    fn codes() -> Vec<Secret> {
        (0..10)
            .map(|i| Secret::from(format!("aaaa-bbbb-{i:04}")))
            .collect()
    }

    // 2025-01-05 14:00:00 UTC
    const NOW: i64 = 1_736_085_600;

    fn report() -> StatusReport {
        StatusReport {
            user: "alice".into(),
            authenticators: vec![TotpStatus {
                label: "app".into(),
                algorithm: "SHA1".into(),
                digits: 6,
                period: 30,
                enrolled_at: NOW as u64 - 86_400,
            }],
            recovery_codes_left: 7,
            lockouts: vec![Lockout {
                source: "127.0.0.1".into(),
                until: NOW as u64 + 12 * 60 - 5,
            }],
            account_locked_until: Some(NOW as u64 + 30),
            contacts: contacts(),
            passkeys: Vec::new(),
            hotp: Vec::new(),
            app_passwords: Vec::new(),
            trusted_devices: Vec::new(),
            exempt_until: None,
            last_success: Some(LastSuccessStatus {
                at: NOW as u64 - 3600,
                source: "10.0.0.5".into(),
                service: "sshd".into(),
                factor: "totp".into(),
            }),
            grace_until: None,
            bypass: Some(BypassStatus {
                uses_left: 2,
                expires_at: NOW as u64 + 4 * 3600,
            }),
        }
    }

    fn contacts() -> Vec<ContactStatus> {
        vec![
            ContactStatus {
                kind: ContactKind::Phone,
                label: "work".into(),
                masked: "+1 •••-•••-4567".into(),
                channels: vec![Channel::Sms, Channel::Voice],
                verified: true,
                added_at: NOW as u64 - 3600,
            },
            ContactStatus {
                kind: ContactKind::Phone,
                label: "desk".into(),
                masked: "+44 ••••-••••21".into(),
                channels: vec![Channel::Voice],
                verified: false,
                added_at: NOW as u64 - 120,
            },
            ContactStatus {
                kind: ContactKind::Email,
                label: "personal".into(),
                masked: "a•••@example.com".into(),
                channels: vec![Channel::Email],
                verified: true,
                added_at: NOW as u64,
            },
        ]
    }

    /// The human status at [`NOW`], in UTC.
    fn utc_status(report: &StatusReport) -> String {
        status_text(report, Timestamp::from_second(NOW).unwrap(), &TimeZone::UTC)
    }

    fn written(mode: Mode, show_qr: bool, f: impl FnOnce(&mut Output<Vec<u8>>)) -> String {
        let mut output = Output::new(mode, Vec::new(), show_qr);
        f(&mut output);
        String::from_utf8(output.out).unwrap()
    }

    fn json_lines(text: &str) -> Vec<Value> {
        assert!(text.ends_with('\n'), "{text:?}");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn json_shapes() {
        let now = Timestamp::from_second(NOW).unwrap();
        let text = written(Mode::Json, true, |o| {
            o.enrollment(&enrollment()).unwrap();
            o.recovery_codes(&codes(), CodesReason::Enrolled).unwrap();
            o.ok("Removed every factor of alice.").unwrap();
            o.status(&report(), now, &TimeZone::UTC).unwrap();
            o.code_sent(Channel::Sms, "+1 •••-•••-4567").unwrap();
            o.contact_added(&contacts()[0]).unwrap();
        });
        let lines = json_lines(&text);
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[0],
            json!({
                "otpauth_uri": "otpauth://totp/pam-mfa:alice?secret=JBSWY3DPEHPK3PXP&issuer=pam-mfa",
                "secret": "JBSWY3DPEHPK3PXP"
            })
        );
        assert_eq!(lines[1], json!({ "recovery_codes": codes() }));
        assert_eq!(lines[2], json!({ "ok": "Removed every factor of alice." }));
        let back: StatusReport = serde_json::from_value(lines[3].clone()).unwrap();
        assert_eq!(back, report());
        assert_eq!(lines[3]["contacts"][1]["masked"], "+44 ••••-••••21");
        assert_eq!(
            lines[4],
            json!({ "sent": { "channel": "sms", "to": "+1 •••-•••-4567" } })
        );
        assert_eq!(
            lines[5],
            json!({ "enrolled": {
                "kind": "phone",
                "label": "work",
                "masked": "+1 •••-•••-4567",
                "channels": ["sms", "voice"],
                "verified": true,
                "added_at": NOW as u64 - 3600,
            } })
        );
        assert!(!text.contains('\x1b'), "no QR in JSON mode");
    }

    #[test]
    fn human_enrollment_shows_qr_only_on_a_terminal() {
        let with = written(Mode::Human, true, |o| o.enrollment(&enrollment()).unwrap());
        assert!(with.contains("\x1b[30;47m"));
        assert!(with.contains(&qr::render(enrollment().otpauth_uri.expose()).unwrap()));
        let without = written(Mode::Human, false, |o| o.enrollment(&enrollment()).unwrap());
        assert!(!without.contains('\x1b'));
        for text in [&with, &without] {
            assert!(text.contains("URI:    otpauth://totp/pam-mfa:alice?secret=JBSWY3DPEHPK3PXP"));
            assert!(text.contains("Secret: JBSWY3DPEHPK3PXP\n"));
            assert!(text.contains("SHA1, 6 digits, new code every 30 seconds"));
        }
    }

    #[test]
    fn human_recovery_codes_come_with_the_warning() {
        let text = written(Mode::Human, true, |o| {
            o.recovery_codes(&codes(), CodesReason::Replaced).unwrap()
        });
        for code in codes() {
            assert!(text.contains(&format!("    {}\n", code.expose())));
        }
        assert!(text.contains("previous ones no longer work"));
        assert!(text.contains("offline"));
        assert!(text.contains("only this once"));
        assert!(text.contains("each code works only once"));
    }

    #[test]
    fn human_status_uses_local_time_and_minutes_left() {
        let now = Timestamp::from_second(NOW).unwrap();
        let text = status_text(&report(), now, &TimeZone::UTC);
        assert_eq!(
            text,
            "User: alice\n\
             Authenticator apps:\n  \
             app: enrolled 2025-01-04 14:00 UTC (SHA1, 6 digits, new code every 30 seconds)\n\
             Phones and email addresses:\n  \
             work      +1 •••-•••-4567   text, call  added 2025-01-05 13:00 UTC\n  \
             desk      +44 ••••-••••21   call only   added 2025-01-05 13:58 UTC, unverified\n  \
             personal  a•••@example.com  email       added 2025-01-05 14:00 UTC\n\
             Recovery codes left: 7\n\
             Lockouts:\n  \
             127.0.0.1: locked until 2025-01-05 14:11 UTC (in 12 minutes)\n\
             Account: only recovery codes are accepted until 2025-01-05 14:00 UTC (in 1 minute)\n\
             Bypass code: 2 use(s) left, until 2025-01-05 18:00 UTC (in 4 hours)\n\
             Last login: 2025-01-05 13:00 UTC from 10.0.0.5 (sshd, totp)\n\
             Root can clear lockouts with `mfa-enroll unlock --user alice`.\n"
        );
        let plus_two = TimeZone::fixed(jiff::tz::offset(2));
        assert!(status_text(&report(), now, &plus_two).contains("2025-01-05 16:11"));
    }

    #[test]
    fn human_status_of_an_empty_account_says_what_to_do() {
        let report = StatusReport {
            user: "bob".into(),
            ..StatusReport::default()
        };
        let text = utc_status(&report);
        assert!(text.contains("Authenticator app: not enrolled\n"));
        assert!(text.contains("Phones and email addresses: none\n"));
        assert!(text.contains("Lockouts: none\n"));
        assert!(text.contains("Run `mfa-enroll totp`"));
        assert!(text.contains("`mfa-enroll phone`"));
        assert!(!text.contains("unlock"));
    }

    #[test]
    fn human_status_with_only_a_phone_is_not_empty() {
        let report = StatusReport {
            user: "bob".into(),
            contacts: contacts()[..1].to_vec(),
            ..StatusReport::default()
        };
        let text = utc_status(&report);
        assert!(
            text.contains("\n  work  +1 •••-•••-4567  text, call  added "),
            "{text}"
        );
        assert!(!text.contains("Nothing is enrolled"), "{text}");
    }

    #[test]
    fn status_lists_passkeys_after_the_apps() {
        let report = StatusReport {
            user: "bob".into(),
            passkeys: vec![
                PasskeyStatus {
                    label: "iphone".into(),
                    enrolled_at: NOW as u64 - 86_400,
                    last_used: Some(NOW as u64 - 60),
                    aaguid: None,
                },
                PasskeyStatus {
                    label: "key\x1b[2J".into(),
                    enrolled_at: NOW as u64,
                    last_used: None,
                    aaguid: None,
                },
            ],
            ..StatusReport::default()
        };
        let text = utc_status(&report);
        assert!(
            text.contains(
                "Authenticator app: not enrolled\n\
                 Passkeys:\n  \
                 iphone: added 2025-01-04 14:00 UTC, last used 2025-01-05 13:59 UTC\n  \
                 key [2J: added 2025-01-05 14:00 UTC, never used\n\
                 Phones and email addresses: none\n"
            ),
            "{text}"
        );
        assert!(!text.contains("Nothing is enrolled"), "{text}");
        let now = Timestamp::from_second(NOW).unwrap();
        let json = written(Mode::Json, false, |o| {
            o.status(&report, now, &TimeZone::UTC).unwrap()
        });
        assert_eq!(
            json_lines(&json)[0]["passkeys"],
            json!([
                { "label": "iphone", "enrolled_at": NOW - 86_400, "last_used": NOW - 60 },
                { "label": "key\u{1b}[2J", "enrolled_at": NOW, "last_used": null },
            ])
        );
        // No passkey, no line: hosts without the web pages show what they always showed.
        assert!(!utc_status(&StatusReport::default()).contains("Passkeys"));
    }

    #[test]
    fn status_lists_hotp_tokens_with_their_counter_and_never_a_secret() {
        let report = StatusReport {
            user: "bob".into(),
            hotp: vec![mfa_proto::HotpStatus {
                label: "yubikey".into(),
                algorithm: "SHA1".into(),
                digits: 8,
                counter: 42,
                enrolled_at: NOW as u64 - 86_400,
                last_used: Some(NOW as u64 - 60),
            }],
            ..StatusReport::default()
        };
        let text = utc_status(&report);
        assert!(
            text.contains(
                "HOTP tokens:\n  \
                 yubikey: added 2025-01-04 14:00 UTC (8 digits, next counter 42), \
                 last used 2025-01-05 13:59 UTC\n"
            ),
            "{text}"
        );
        assert!(!text.contains("Nothing is enrolled"), "{text}");
        assert!(!utc_status(&StatusReport::default()).contains("HOTP"));
    }

    #[test]
    fn passkey_link_and_result_in_both_modes() {
        const LINK: &str = "https://mfa.example.com/enroll/AbCdEfGhIjKlMnOpQrSt";
        let expires = NOW as u64 + 600;
        let json = written(Mode::Json, true, |o| {
            o.passkey_link(LINK, expires).unwrap();
            o.passkey_enrolled("iphone").unwrap();
        });
        assert_eq!(
            json_lines(&json),
            [
                json!({ "open": LINK, "expires_at": expires }),
                json!({ "enrolled": { "kind": "passkey", "label": "iphone" } }),
            ]
        );
        assert!(!json.contains('\x1b'), "no QR in JSON mode");
        let with = written(Mode::Human, true, |o| {
            o.passkey_link(LINK, expires).unwrap()
        });
        assert!(with.contains(&qr::render(LINK).unwrap()), "{with}");
        let without = written(Mode::Human, false, |o| {
            o.passkey_link(LINK, expires).unwrap()
        });
        assert!(!without.contains('\x1b'), "{without}");
        for text in [&with, &without] {
            assert!(text.contains(&format!("\n    {LINK}\n")), "{text}");
            assert!(text.contains("It works once, until "), "{text}");
        }
        let done = written(Mode::Human, false, |o| {
            o.passkey_enrolled("iphone").unwrap()
        });
        assert_eq!(done, "Passkey \"iphone\" added.\n");
    }

    #[test]
    fn human_code_sent_names_the_channel_and_the_masked_destination() {
        let said = |channel, to| written(Mode::Human, false, |o| o.code_sent(channel, to).unwrap());
        assert_eq!(
            said(Channel::Sms, "+1 •••-•••-4567"),
            "A code was sent by text message to +1 •••-•••-4567.\n"
        );
        assert_eq!(
            said(Channel::Voice, "+44 ••••-••••21"),
            "A phone call to +44 ••••-••••21 will read out a code.\n"
        );
        assert_eq!(
            said(Channel::Email, "a•••@example.com\n\x1b[2J"),
            "A code was sent by email to a•••@example.com  [2J.\n"
        );
    }

    #[test]
    fn human_contact_added_is_masked_and_says_if_unverified() {
        let [work, desk, personal] = <[ContactStatus; 3]>::try_from(contacts()).unwrap();
        let added =
            |c: &ContactStatus| written(Mode::Human, false, |o| o.contact_added(c).unwrap());
        assert_eq!(
            added(&work),
            "Saved phone work: +1 •••-•••-4567 (text, call).\n"
        );
        assert_eq!(
            added(&desk),
            "Saved phone desk: +44 ••••-••••21 (call only), unverified: no code was sent to \
             check that it works.\n"
        );
        assert_eq!(
            added(&personal),
            "Saved email address personal: a•••@example.com (email).\n"
        );
    }

    #[test]
    fn past_and_absurd_times_do_not_break_the_text() {
        let now = Timestamp::from_second(NOW).unwrap();
        assert!(until(NOW as u64 - 10, now, &TimeZone::UTC).ends_with("(now over)"));
        assert!(until(NOW as u64 + 3600, now, &TimeZone::UTC).ends_with("(in 60 minutes)"));
        assert_eq!(
            local_time(u64::MAX, &TimeZone::UTC),
            format!("Unix time {}", u64::MAX)
        );
    }
}
