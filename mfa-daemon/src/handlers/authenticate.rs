//! The authentication conversation that `pam_mfa.so` relays.

use std::net::IpAddr;
use std::sync::Arc;

use mfa_proto::{AuthRequest, FrameError, Outcome, Request, Secret, Step};
use zeroize::Zeroizing;

use mfa_core::contact::{self, MenuOption};
use mfa_core::device::{self, DeviceId};
use mfa_core::factor::sent_code::CodeCheck;
use mfa_core::policy::{Ask, Context, Policy, Unenrolled};
use mfa_core::record::{DEFAULT_APP_LABEL, LastSuccess, UserRecord};
use mfa_proto::Channel;

use crate::accounts;
use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::authority::{Activation, DeviceTrust, Factor, Rejection, Subject, Verdict, unix_now};
use crate::connection::{Caller, Connection, Presence};
use crate::delivery::outbox::{NotSent, SentCheck, Ticket};
use crate::error::DaemonError;
use crate::handlers::common::{self, check_answer, lockout_message, uid_source};
use crate::handlers::contacts;
use crate::username;

/// The prompt, the same for every user so that it reveals nothing about enrollment.
pub const PROMPT: &str = "Verification code: ";
const INVALID: &str = "Invalid verification code.";
const NO_ANSWER: &str = "No code was entered in time.";
const REPLAYED: &str = "That code has already been used. Wait for the next one.";
/// The prompt after a code was sent.
pub const CODE_PROMPT: &str = "Code: ";
/// The factor a trusted device's login is audited with.
const REMEMBERED: &str = "remembered";
const EXPIRED: &str = "That code is no longer valid. Choose an option to get a new one.";
const SEND_FAILED: &str = "Could not send the code; choose another option.";
const SEND_REFUSED: &str =
    "Too many codes were sent recently. Use your app or a recovery code, or try again later.";
const SETUP_REQUIRED: &str = "Setting up a second factor is required to log in.";
const SETUP_MISMATCH: &str = "That code does not match the new key; check the app and try again.";
/// The last prompt of an enrollment at login, under the recovery codes.
const SAVE_CODES_PROMPT: &str = "Save these codes, then press Enter: ";
const ACCOUNT_LOCKED: &str =
    "Too many failed attempts on this account: only a recovery code is accepted now.";
/// Longest value accepted in the other fields of an authentication request.
const MAX_FIELD: usize = 1024;
/// Longest `SSH_AUTH_INFO_0` accepted: it lists the public keys that passed, and an RSA
/// key alone is over 700 bytes.
const MAX_AUTH_INFO: usize = 16 * 1024;
/// Longest remote host accepted: a DNS name is at most 253 bytes.
pub const MAX_RHOST: usize = 255;

/// The source failures are counted against. For root's callers (sshd, sudo, login) the
/// remote host, or `service:tty` for local logins. For any other caller its uid: what it
/// says about its host and terminal is its own word, and must not let it spread its guesses
/// over sources it invents.
pub fn source_of(auth: &AuthRequest, caller: Caller) -> String {
    if caller.uid != 0 {
        return uid_source(caller.uid);
    }
    match auth.rhost.as_deref().filter(|h| !h.is_empty()) {
        Some(rhost) => rhost.to_owned(),
        None => format!("{}:{}", auth.service, auth.tty.as_deref().unwrap_or("")),
    }
}

/// What is wrong with a request's fields, if anything: the user name must be one that can
/// be looked up, the remote host a host name or address, nothing oversized.
pub fn field_problem(auth: &AuthRequest) -> Option<String> {
    if auth.user.is_empty() || auth.user.len() > username::MAX_LEN {
        return Some(format!(
            "user must be 1 to {} bytes, got {}",
            username::MAX_LEN,
            auth.user.len()
        ));
    }
    if let Some(rhost) = auth.rhost.as_deref() {
        let host_shaped = rhost
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:%[]".contains(&b));
        if rhost.len() > MAX_RHOST || !host_shaped {
            return Some(format!(
                "rhost must be a host name or address of at most {MAX_RHOST} bytes"
            ));
        }
    }
    let others = [Some(&auth.service), auth.tty.as_ref(), auth.ruser.as_ref()];
    if others.iter().flatten().any(|f| f.len() > MAX_FIELD) {
        return Some(format!(
            "service, tty and ruser may not exceed {MAX_FIELD} bytes"
        ));
    }
    if auth
        .auth_info
        .as_ref()
        .is_some_and(|i| i.len() > MAX_AUTH_INFO)
    {
        return Some(format!("auth_info may not exceed {MAX_AUTH_INFO} bytes"));
    }
    None
}

struct Attempt<'a> {
    shared: &'a Arc<Shared>,
    auth: &'a AuthRequest,
    /// The canonical account name once resolved, else the name as given.
    user: String,
    source: String,
    caller: Caller,
}

impl Attempt<'_> {
    /// Ends the attempt closed because the store failed (audited with reason `store`, or
    /// `store_unavailable` when a shared database is out of reach).
    fn store_failed(&self, unavailable: bool) -> Outcome {
        if unavailable {
            self.audit(AuditOutcome::Error, None, Some("store_unavailable"), None);
            Outcome::Unavailable
        } else {
            self.audit(AuditOutcome::Error, None, Some("store"), None);
            Outcome::Error
        }
    }

    /// An event of `kind` about this attempt, with what every such event carries; the
    /// caller fills in the rest.
    fn event(&self, kind: AuditKind, outcome: AuditOutcome) -> AuditEvent<'_> {
        AuditEvent {
            event: kind,
            user: &self.user,
            service: Some(&self.auth.service),
            // Only root's callers know the remote host; anyone else's is its own word, and
            // varying it must not make a flood's lines distinct (identical ones are throttled).
            rhost: self.auth.rhost.as_deref().filter(|_| self.caller.uid == 0),
            source: Some(&self.source),
            outcome,
            uid: Some(self.caller.uid),
            ..AuditEvent::default()
        }
    }

    /// An event about enrolling an app at login.
    fn audit_enrollment(
        &self,
        kind: AuditKind,
        outcome: AuditOutcome,
        reason: Option<&str>,
        until: Option<u64>,
    ) {
        self.shared.audit.record(&AuditEvent {
            factor: Some(Factor::Totp.name()),
            label: Some(DEFAULT_APP_LABEL),
            reason,
            until,
            ..self.event(kind, outcome)
        });
    }

    /// An event of `kind` about this attempt.
    fn audit_as(&self, kind: AuditKind, outcome: AuditOutcome, reason: Option<&str>) {
        self.shared.audit.record(&AuditEvent {
            reason,
            ..self.event(kind, outcome)
        });
    }

    /// The sign-in event for `outcome` (`sign_in_succeeded`, `sign_in_failed`, ...).
    fn audit(
        &self,
        outcome: AuditOutcome,
        factor: Option<&str>,
        reason: Option<&str>,
        until: Option<u64>,
    ) {
        let kind = match outcome {
            AuditOutcome::Success => AuditKind::SignInSucceeded,
            AuditOutcome::LockedOut => AuditKind::LockedOut,
            AuditOutcome::Ignore => AuditKind::SignInSkipped,
            AuditOutcome::Abandoned => AuditKind::SignInAbandoned,
            _ => AuditKind::SignInFailed,
        };
        self.shared.audit.record(&AuditEvent {
            factor,
            reason,
            until,
            ..self.event(kind, outcome)
        });
    }
}

/// Runs one authentication to its `Done`.
pub async fn authenticate(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    auth: AuthRequest,
) -> Result<(), FrameError> {
    if let Some(problem) = field_problem(&auth) {
        return conn
            .send(&DaemonError::BadRequest(problem).response())
            .await;
    }
    let mut attempt = Attempt {
        shared,
        source: source_of(&auth, conn.caller),
        user: auth.user.clone(),
        auth: &auth,
        caller: conn.caller,
    };
    let outcome = converse(&mut attempt, conn).await?;
    conn.send(&Step::Done { outcome }).await
}

async fn converse(at: &mut Attempt<'_>, conn: &mut Connection) -> Result<Outcome, FrameError> {
    let shared = at.shared;
    let name = at.auth.user.clone();
    let caller = at.caller;
    let source = at.source.clone();
    let now = unix_now();
    // Resolution, authorization and the first look at the record and the lockouts in one
    // trip to a blocking thread; nothing is read for a caller who may not see it.
    let looked_up = shared
        .blocking(move |a| {
            let account = accounts::resolve(&name);
            if !accounts::may_act_for(caller.uid, account.as_ref()) {
                return Ok(None);
            }
            let groups = match &account {
                _ if !a.policy().needs_groups() => Vec::new(),
                Some(account) => accounts::groups_for_policy(account, &a.policy()),
                None => {
                    accounts::decoy_group_lookup(&name);
                    Vec::new()
                }
            };
            let subject = match account {
                Some(account) => Subject::Account(account.name),
                None => Subject::Unknown(name),
            };
            // A store that cannot be read fails the login closed, but only once the policy
            // said the user is asked at all: users exempt by the config (a break-glass
            // account) still get in while a shared database is down.
            let stored = a
                .record(&subject)
                .and_then(|record| Ok((record, a.locks(subject.key(), &source, now)?)));
            Ok(Some((subject, groups, stored)))
        })
        .await;
    let (subject, groups, stored) = match looked_up {
        Ok(Some(found)) => found,
        Ok(None) => {
            at.audit(AuditOutcome::NotAuthorized, None, None, None);
            return Ok(Outcome::NotAuthorized);
        }
        Err(e) => {
            eprintln!("mfa-daemon: cannot look up {}: {e}", at.user);
            at.audit(AuditOutcome::Error, None, Some("internal"), None);
            return Ok(Outcome::Error);
        }
    };
    at.user = subject.key().to_owned();
    // Only root's callers (sshd) report a remote address the policy may trust.
    let source = (caller.uid == 0)
        .then(|| {
            at.auth
                .rhost
                .as_deref()
                .and_then(|h| h.parse::<IpAddr>().ok())
        })
        .flatten();
    let policy = shared.authority.policy().resolve(&Context {
        user: &at.user,
        groups: &groups,
        service: &at.auth.service,
        source,
        exempt_until: stored.as_ref().ok().and_then(|(r, _)| r.exempt_until),
        now: unix_now(),
    });
    match policy.ask {
        Ask::Yes => {}
        Ask::Exempt(why) => {
            at.audit_as(AuditKind::Exempt, AuditOutcome::Ignore, Some(why.name()));
            return Ok(Outcome::Ignore);
        }
        Ask::NotRequired => {
            at.audit_as(
                AuditKind::Exempt,
                AuditOutcome::Ignore,
                Some("not_required"),
            );
            return Ok(Outcome::Ignore);
        }
    }
    let (record, locks) = match stored {
        Ok(stored) => stored,
        Err(e) => {
            eprintln!("mfa-daemon: cannot read record of {}: {e}", at.user);
            return Ok(at.store_failed(e.is_unavailable()));
        }
    };
    let enrolled = record.is_enrolled(now);
    let skip_unenrolled = at.auth.nullok || policy.unenrolled == Unenrolled::Allow;
    if skip_unenrolled && !enrolled {
        at.audit(AuditOutcome::Ignore, None, Some("not_enrolled"), None);
        return Ok(Outcome::Ignore);
    }
    if let Some(until) = locks.source {
        at.audit(AuditOutcome::LockedOut, None, Some("source_locked"), None);
        return locked_out(conn, until).await;
    }
    if !enrolled
        && policy.unenrolled == Unenrolled::Enroll
        && matches!(subject, Subject::Account(_))
    {
        let policy = shared.authority.policy();
        return enroll_at_login(at, conn, &policy).await;
    }
    // A device is only as trustworthy as what identifies it: root's callers (sshd) report
    // the address and key themselves; anyone else's word is not taken, and a login with no
    // remote host has no device at all (its terminal is the next user's tomorrow).
    let device = (caller.uid == 0 && policy.remember > 0 && matches!(subject, Subject::Account(_)))
        .then(|| {
            DeviceId::of_login(
                at.auth.auth_info.as_deref(),
                at.auth.rhost.as_deref(),
                &at.auth.service,
            )
        })
        .flatten();
    if let Some(device) = &device
        && enrolled
        && device::is_trusted(&record.trusted, device, record.revision, now)
    {
        at.audit(AuditOutcome::Success, Some(REMEMBERED), None, None);
        note_success(at, REMEMBERED);
        return Ok(Outcome::Success);
    }
    if locks.account.is_some() {
        conn.send(&Step::Info {
            text: ACCOUNT_LOCKED.to_owned(),
        })
        .await?;
    }
    let config = shared.authority.config();
    let options = contact::menu(&record.contacts, &|c| shared.outbox.can_send(c));
    let mut tries = 0;
    // A failed or refused send and a return to the menu cost a round, so that a
    // conversation always ends, whatever is typed.
    for _round in 0..config.max_tries.saturating_mul(3) {
        if tries >= config.max_tries {
            break;
        }
        if !options.is_empty() {
            conn.send(&Step::Info {
                text: menu_text(&options),
            })
            .await?;
        }
        let prompt = match options.len() {
            0 => PROMPT.to_owned(),
            1 => "Enter a code from your app or a recovery code, or choose 1: ".to_owned(),
            n => format!("Enter a code from your app or a recovery code, or choose 1-{n}: "),
        };
        let answer = match ask(at, conn, &prompt).await? {
            Ok(answer) => answer,
            Err(outcome) => return Ok(outcome),
        };
        let verdict = match menu_choice(answer.expose(), options.len()) {
            Some(i) => {
                let option = &options[i];
                let ticket = match send_chosen(at, conn, &subject, &record, option).await? {
                    Chosen::Sent(ticket) => ticket,
                    Chosen::NotSent(text) => {
                        conn.send(&Step::Error { text }).await?;
                        continue;
                    }
                    Chosen::End(outcome) => return Ok(outcome),
                };
                conn.send(&Step::Info {
                    text: format!(
                        "A code was sent {} to {}.",
                        common::channel_phrase(option.channel),
                        option.to
                    ),
                })
                .await?;
                let code = match ask(at, conn, CODE_PROMPT).await? {
                    Ok(code) => code,
                    Err(outcome) => return Ok(outcome),
                };
                tries += 1;
                if code.expose().trim().is_empty() {
                    continue;
                }
                match conn.presence() {
                    Ok(presence) => {
                        check_sent(
                            shared,
                            &subject,
                            &at.source,
                            ticket,
                            option.channel,
                            &code,
                            presence,
                        )
                        .await
                    }
                    Err(e) => Err(e),
                }
            }
            None => {
                tries += 1;
                match conn.presence() {
                    Ok(presence) => {
                        check_answer(
                            shared,
                            caller,
                            &subject,
                            &at.source,
                            answer,
                            Some(&at.auth.service),
                            presence,
                        )
                        .await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match verdict {
            Err(e) => {
                eprintln!("mfa-daemon: cannot decide for {}: {e}", at.user);
                return Ok(at.store_failed(e.is_unavailable()));
            }
            Ok(Verdict::Accepted(factor)) => {
                at.audit(AuditOutcome::Success, Some(factor.name()), None, None);
                if let Factor::SentCode(_) = factor {
                    // An app, recovery or bypass code was kept as the last success in the
                    // write that consumed it; a sent code lives in memory.
                    note_success(at, factor.name());
                }
                if let Some(device) = device.clone() {
                    remember(at, device, record.revision, policy.remember).await;
                }
                if let Factor::RecoveryCode { left } = factor {
                    conn.send(&Step::Info {
                        text: format!(
                            "Recovery code accepted; {left} left. Run `mfa-enroll recovery-codes` for a new set."
                        ),
                    })
                    .await?;
                }
                return Ok(Outcome::Success);
            }
            Ok(Verdict::Abandoned(factor)) => {
                at.audit(
                    AuditOutcome::Abandoned,
                    Some(factor.name()),
                    Some("client_gone"),
                    None,
                );
                return Err(FrameError::Closed);
            }
            Ok(Verdict::SourceLocked { until }) => {
                at.audit(AuditOutcome::LockedOut, None, Some("source_locked"), None);
                return locked_out(conn, until).await;
            }
            Ok(Verdict::Rejected {
                reason,
                locked_until,
            }) => {
                at.audit(AuditOutcome::Failure, None, Some(reason.name()), None);
                if let Some(until) = locked_until {
                    at.audit(
                        AuditOutcome::LockedOut,
                        None,
                        Some("too_many_failures"),
                        Some(until),
                    );
                    return locked_out(conn, until).await;
                }
                let text = match reason {
                    Rejection::Invalid => INVALID,
                    Rejection::Replayed => REPLAYED,
                    Rejection::AccountLocked => ACCOUNT_LOCKED,
                    Rejection::Expired => EXPIRED,
                };
                conn.send(&Step::Error {
                    text: text.to_owned(),
                })
                .await?;
            }
        }
    }
    Ok(Outcome::Failure)
}

/// Keeps a success that consumed nothing on disk (a sent code, a trusted device, an
/// enrollment) as the user's last, in the background: the answer does not wait for this
/// write, which is only informational (a crash before it loses the line in `mfactl list`,
/// never a security decision). A failure is logged.
fn note_success(at: &Attempt<'_>, factor: &str) {
    let shared = at.shared.clone();
    let user = at.user.clone();
    let last = LastSuccess {
        at: unix_now(),
        source: at.source.clone(),
        service: at.auth.service.clone(),
        factor: factor.to_owned(),
    };
    tokio::spawn(async move {
        let name = user.clone();
        if let Err(e) = shared.blocking(move |a| a.note_success(&name, last)).await {
            eprintln!("mfa-daemon: could not keep the last login of {user}: {e}");
        }
    });
}

/// Enrollment at login (`unenrolled = "enroll"`) for an account with no factor: a new app
/// secret shown as a QR code, the URI and the key; the login passes once a code from it is
/// typed and the recovery codes, shown once, are acknowledged with Enter. Inside the grace
/// period an empty answer skips (`PAM_IGNORE`).
async fn enroll_at_login(
    at: &mut Attempt<'_>,
    conn: &mut Connection,
    policy: &Policy,
) -> Result<Outcome, FrameError> {
    let shared = at.shared;
    let now = unix_now();
    let user = at.user.clone();
    let grace_until = if policy.grace_period > 0 {
        match shared.blocking(move |a| a.first_seen(&user, now)).await {
            Ok(seen) => Some(policy.grace_until(seen)).filter(|until| now < *until),
            Err(e) => {
                eprintln!(
                    "mfa-daemon: cannot keep when {} was first seen: {e}",
                    at.user
                );
                return Ok(at.store_failed(e.is_unavailable()));
            }
        }
    } else {
        None
    };
    let user = at.user.clone();
    let begun = shared
        .blocking(move |a| a.begin_totp(&user, DEFAULT_APP_LABEL))
        .await;
    let (pending, uri) = match begun {
        Ok(begun) => begun,
        Err(e) => {
            eprintln!("mfa-daemon: cannot begin enrolling {}: {e}", at.user);
            return Ok(at.store_failed(e.is_unavailable()));
        }
    };
    let secret = pending.secret.to_base32();
    // The offer and the recovery codes are the text of the prompts that follow them, not
    // info messages: sudo asks modules for silence (PAM_SILENT), under which the module
    // shows no info, and a prompt without its key or its codes would be useless.
    let offer = Zeroizing::new(format!(
        "Your account needs a second factor. Scan this QR code with an authenticator app, \
         or type the key into it:\n{}{}\nKey: {}\n",
        qr_code(&uri),
        uri.as_str(),
        secret.as_str()
    ));
    let prompt = match grace_until {
        Some(until) => format!(
            "Code from your app (or press Enter to skip: {} left): ",
            time_left(until.saturating_sub(now))
        ),
        None => "Code from your app: ".to_owned(),
    };
    let pending = Arc::new(pending);
    // Why the last answer failed, for the audit event if none passes.
    let mut failure = "no_code";
    for round in 0..at.shared.authority.config().max_tries {
        let text = if round == 0 {
            Zeroizing::new(format!("{}{prompt}", offer.as_str()))
        } else {
            Zeroizing::new(prompt.clone())
        };
        let answer = match ask(at, conn, &text).await? {
            Ok(answer) => answer,
            Err(outcome) => return Ok(outcome),
        };
        let typed = answer.expose().trim();
        if typed.is_empty() {
            if let Some(until) = grace_until {
                at.audit_enrollment(
                    AuditKind::MfaSetupSkipped,
                    AuditOutcome::Ignore,
                    None,
                    Some(until),
                );
                return Ok(Outcome::Ignore);
            }
            failure = "no_code";
            conn.send(&Step::Error {
                text: SETUP_REQUIRED.to_owned(),
            })
            .await?;
            continue;
        }
        let now = unix_now();
        let Some(step) = shared.authority.pending_code_step(&pending, typed, now) else {
            failure = "invalid_code";
            conn.send(&Step::Error {
                text: SETUP_MISMATCH.to_owned(),
            })
            .await?;
            continue;
        };
        let user = at.user.clone();
        let activating = pending.clone();
        let activated = shared
            .blocking_hashing(at.caller, move |a| {
                a.activate_totp(&user, &activating, step, now)
            })
            .await;
        let codes = match activated {
            Ok(Activation::Done(codes)) => codes,
            Ok(Activation::Conflict) => {
                at.audit_enrollment(
                    AuditKind::MfaSetupFailed,
                    AuditOutcome::Failure,
                    Some("factors_changed"),
                    None,
                );
                conn.send(&Step::Error {
                    text: "Your factors changed meanwhile; log in again.".to_owned(),
                })
                .await?;
                return Ok(Outcome::Failure);
            }
            Err(e) => {
                eprintln!("mfa-daemon: cannot enroll {}: {e}", at.user);
                return Ok(at.store_failed(e.is_unavailable()));
            }
        };
        at.audit_enrollment(AuditKind::MfaSetupSucceeded, AuditOutcome::Ok, None, None);
        contacts::notify_others(shared, &at.user, "An authenticator app was enrolled", None);
        if !codes.is_empty() {
            // The codes are the text of a last prompt, never a bare message at the end: sshd
            // shows a message with no prompt after it twice (at the end of
            // keyboard-interactive and again among the login messages), and waiting for
            // Enter makes sure the person has seen them before the session starts. What is
            // typed is not looked at.
            let mut text = Zeroizing::new(String::from(
                "Recovery codes: each works once if you lose the app. They are shown only now; keep them somewhere safe.",
            ));
            for code in &codes {
                text.push_str("\n  ");
                text.push_str(code);
            }
            text.push('\n');
            text.push_str(SAVE_CODES_PROMPT);
            match ask_with_echo(at, conn, &text, true).await {
                Ok(Ok(_ignored)) => {}
                Ok(Err(outcome)) => return Ok(outcome),
                Err(e) => {
                    at.audit(
                        AuditOutcome::Abandoned,
                        Some(Factor::Totp.name()),
                        Some("client_gone"),
                        None,
                    );
                    return Err(e);
                }
            }
        }
        at.audit(AuditOutcome::Success, Some(Factor::Totp.name()), None, None);
        note_success(at, Factor::Totp.name());
        return Ok(Outcome::Success);
    }
    at.audit_enrollment(
        AuditKind::MfaSetupFailed,
        AuditOutcome::Failure,
        Some(failure),
        None,
    );
    Ok(Outcome::Failure)
}

/// `3 days`, `1 hour`, `5 minutes`: `secs` rounded up to the largest unit that fits.
fn time_left(secs: u64) -> String {
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

/// `data` as a QR code in Unicode half blocks, without colour escapes (PAM and ssh pass
/// text, not terminal controls). Light modules are drawn, dark ones left blank: right on
/// the dark background most SSH terminals have. Empty if the data does not fit a QR code.
fn qr_code(data: &str) -> String {
    use qrcode::render::unicode::Dense1x2;
    match qrcode::QrCode::new(data.as_bytes()) {
        Ok(code) => {
            let mut picture = code
                .render::<Dense1x2>()
                .dark_color(Dense1x2::Light)
                .light_color(Dense1x2::Dark)
                .quiet_zone(true)
                .build();
            picture.push('\n');
            picture
        }
        Err(_) => String::new(),
    }
}

/// Trusts the device a login came from, unless the factors changed since `revision`, the
/// record's revision the login was decided against (a reset or a removed app between the
/// check and this write must not leave the device trusted); a failure costs only the
/// convenience (logged).
async fn remember(at: &Attempt<'_>, device: DeviceId, revision: u64, secs: u64) {
    let user = at.user.clone();
    let key = device.key.clone();
    let trusted = at
        .shared
        .blocking(move |a| a.trust_device(&user, device, revision, secs, unix_now()))
        .await;
    match trusted {
        Ok(DeviceTrust::Trusted) => at.audit_as(
            AuditKind::DeviceTrusted,
            AuditOutcome::Ok,
            Some(if key.is_some() { "ssh_key" } else { "source" }),
        ),
        Ok(DeviceTrust::FactorsChanged) => eprintln!(
            "mfa-daemon: did not remember the device of {}: the factors changed during the login",
            at.user
        ),
        Err(e) => eprintln!(
            "mfa-daemon: could not remember the device of {}: {e}",
            at.user
        ),
    }
}

/// The menu shown above the prompt to a user with phones or email addresses.
pub fn menu_text(options: &[MenuOption]) -> String {
    let mut text = String::from("Verification options:");
    for (i, option) in options.iter().enumerate() {
        let what = match option.channel {
            Channel::Sms => "Text message to",
            Channel::Voice => "Phone call to",
            Channel::Email => "Email to",
        };
        text.push_str(&format!("\n  {}. {what} {}", i + 1, option.to));
    }
    text
}

/// The menu entry an answer chooses: a number from 1 to `options`, nothing else (an app
/// code has six digits or more, a recovery code letters and dashes).
fn menu_choice(answer: &str, options: usize) -> Option<usize> {
    let answer = answer.trim();
    if options == 0 || answer.is_empty() || answer.len() > 2 {
        return None;
    }
    let n: usize = answer.parse().ok()?;
    (1..=options).contains(&n).then(|| n - 1)
}

/// Asks one prompt, without echo; `Err(outcome)` when the conversation must end instead (no
/// answer in time).
async fn ask(
    at: &Attempt<'_>,
    conn: &mut Connection,
    text: &str,
) -> Result<Result<Secret, Outcome>, FrameError> {
    ask_with_echo(at, conn, text, false).await
}

/// Like [`ask`], with the answer echoed when `echo`.
async fn ask_with_echo(
    at: &Attempt<'_>,
    conn: &mut Connection,
    text: &str,
    echo: bool,
) -> Result<Result<Secret, Outcome>, FrameError> {
    conn.send(&Step::Prompt {
        text: text.to_owned(),
        echo,
    })
    .await?;
    match conn.read(at.shared.authority.config().answer_timeout).await {
        Ok(Request::Answer { text }) => Ok(Ok(text)),
        Err(FrameError::Timeout) => {
            at.audit(AuditOutcome::Failure, None, Some("no_answer_in_time"), None);
            conn.send(&Step::Error {
                text: NO_ANSWER.to_owned(),
            })
            .await?;
            Ok(Err(Outcome::Failure))
        }
        Err(e) => Err(e),
        Ok(_) => {
            conn.send(
                &DaemonError::BadRequest("expected an answer to the prompt".to_owned()).response(),
            )
            .await?;
            Err(FrameError::Closed)
        }
    }
}

/// What came of a menu choice.
enum Chosen {
    /// The code went out.
    Sent(Ticket),
    /// It did not; tell the user this and show the menu again.
    NotSent(String),
    /// The conversation ends (the source is locked).
    End(Outcome),
}

/// Sends a code for a menu choice, unless the source or the account is locked.
async fn send_chosen(
    at: &Attempt<'_>,
    conn: &mut Connection,
    subject: &Subject,
    record: &UserRecord,
    option: &MenuOption,
) -> Result<Chosen, FrameError> {
    let shared = at.shared;
    let now = unix_now();
    let (key, source) = (subject.key().to_owned(), at.source.clone());
    let locks = match shared
        .blocking(move |a| Ok(a.locks(&key, &source, now)?))
        .await
    {
        Ok(locks) => locks,
        Err(e) => {
            eprintln!(
                "mfa-daemon: cannot read the lockouts of {}: {e}",
                subject.key()
            );
            return Ok(Chosen::NotSent(SEND_FAILED.to_owned()));
        }
    };
    if let Some(until) = locks.source {
        at.audit(AuditOutcome::LockedOut, None, Some("source_locked"), None);
        return locked_out(conn, until).await.map(Chosen::End);
    }
    if locks.account.is_some() {
        return Ok(Chosen::NotSent(ACCOUNT_LOCKED.to_owned()));
    }
    let Some(contact) = record.contacts.get(option.contact) else {
        return Ok(Chosen::NotSent(SEND_FAILED.to_owned()));
    };
    match shared
        .outbox
        .send_code(subject.key(), &contact.destination, option.channel, now)
        .await
    {
        Ok(ticket) => {
            common::audit_code_sent(
                shared,
                subject.key(),
                &at.auth.service,
                option.channel,
                &option.to,
            );
            Ok(Chosen::Sent(ticket))
        }
        Err(why) => {
            let refused = matches!(why, NotSent::Refused(_));
            let e = common::not_sent(
                shared,
                subject.key(),
                &at.auth.service,
                option.channel,
                &option.to,
                &why,
            );
            if e.is_internal() {
                eprintln!("mfa-daemon: {e}");
            }
            Ok(Chosen::NotSent(
                if refused { SEND_REFUSED } else { SEND_FAILED }.to_owned(),
            ))
        }
    }
}

/// Checks an answer against the code sent for this conversation; a wrong one counts like
/// any wrong code.
async fn check_sent(
    shared: &Arc<Shared>,
    subject: &Subject,
    source: &str,
    ticket: Ticket,
    channel: Channel,
    answer: &Secret,
    presence: Presence,
) -> Result<Verdict, DaemonError> {
    let now = unix_now();
    let (key, from) = (subject.key().to_owned(), source.to_owned());
    let locks = shared
        .blocking(move |a| Ok(a.locks(&key, &from, now)?))
        .await?;
    if let Some(until) = locks.source {
        return Ok(Verdict::SourceLocked { until });
    }
    let decided = if locks.account.is_some() {
        Err(Rejection::AccountLocked)
    } else {
        match shared
            .outbox
            .check(subject.key(), ticket, answer.expose(), now, &|| {
                presence.still_there()
            }) {
            SentCheck::Checked(CodeCheck::Accepted) => Ok(Factor::SentCode(channel)),
            SentCheck::Abandoned => return Ok(Verdict::Abandoned(Factor::SentCode(channel))),
            SentCheck::Checked(CodeCheck::Wrong { tries_left }) if tries_left > 0 => {
                Err(Rejection::Invalid)
            }
            SentCheck::Checked(_) | SentCheck::Superseded => Err(Rejection::Expired),
        }
    };
    let subject = subject.clone();
    let source = source.to_owned();
    shared
        .blocking(move |a| a.settle_sent_code(&subject, &source, decided, now))
        .await
}

/// Tells the user how long the lockout lasts; the conversation ends `locked_out`.
async fn locked_out(conn: &mut Connection, until: u64) -> Result<Outcome, FrameError> {
    conn.send(&Step::Error {
        text: lockout_message(until, unix_now()),
    })
    .await?;
    Ok(Outcome::LockedOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(rhost: Option<&str>, tty: Option<&str>) -> AuthRequest {
        AuthRequest {
            user: "alice".into(),
            service: "sudo".into(),
            rhost: rhost.map(Into::into),
            tty: tty.map(Into::into),
            ruser: None,
            auth_info: None,
            nullok: false,
        }
    }

    const ROOT: Caller = Caller {
        uid: 0,
        door: crate::connection::Door::Privileged,
    };

    #[test]
    fn source_is_rhost_else_service_and_tty_for_root() {
        assert_eq!(
            source_of(&auth(Some("10.1.2.3"), Some("/dev/pts/1")), ROOT),
            "10.1.2.3"
        );
        assert_eq!(
            source_of(&auth(Some(""), Some("/dev/pts/1")), ROOT),
            "sudo:/dev/pts/1"
        );
        assert_eq!(source_of(&auth(None, None), ROOT), "sudo:");
    }

    #[test]
    fn a_non_root_caller_is_its_own_source_whatever_it_says() {
        let user = Caller {
            uid: 1000,
            door: crate::connection::Door::Public,
        };
        for rhost in [Some("10.1.2.3"), Some("forged.example"), None] {
            assert_eq!(
                source_of(&auth(rhost, Some("/dev/pts/9")), user),
                "uid:1000"
            );
        }
    }

    #[test]
    fn oversized_and_odd_fields_are_refused() {
        assert_eq!(field_problem(&auth(Some("10.1.2.3"), None)), None);
        assert_eq!(field_problem(&auth(Some("fe80::1%eth0"), None)), None);
        assert_eq!(
            field_problem(&auth(Some("host-1.corp.example"), None)),
            None
        );
        let long = "a".repeat(MAX_RHOST + 1);
        for rhost in [long.as_str(), "a b", "evil/../x", "x\ny"] {
            let problem = field_problem(&auth(Some(rhost), None)).unwrap();
            assert!(problem.contains("rhost"), "{problem}");
        }
        let mut a = auth(None, None);
        a.user = "u".repeat(username::MAX_LEN + 1);
        assert!(field_problem(&a).unwrap().contains("user"));
        a.user = String::new();
        assert!(field_problem(&a).is_some());
    }

    #[test]
    fn time_left_rounds_up_to_the_largest_unit() {
        for (secs, text) in [
            (1, "1 minute"),
            (60, "1 minute"),
            (61, "2 minutes"),
            (3599, "60 minutes"),
            (3600, "1 hour"),
            (3601, "2 hours"),
            (86_399, "24 hours"),
            (86_400, "1 day"),
            (3 * 86_400, "3 days"),
            (3 * 86_400 - 5, "3 days"),
        ] {
            assert_eq!(time_left(secs), text, "{secs}");
        }
    }

    #[test]
    fn lockout_message_rounds_up() {
        assert_eq!(
            lockout_message(160, 100),
            "Too many failed attempts. Try again in 1 minute."
        );
        assert_eq!(
            lockout_message(221, 100),
            "Too many failed attempts. Try again in 3 minutes."
        );
        assert_eq!(
            lockout_message(100, 100),
            "Too many failed attempts. Try again in 1 minute."
        );
    }
}
