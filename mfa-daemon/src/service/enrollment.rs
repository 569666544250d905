//! Enrollment at login (`unenrolled = "enroll"`) for an account with no factor: a new app
//! secret shown as a QR code, the URI and the key; the login passes once a code from it is
//! typed and the recovery codes, shown once, are acknowledged. Inside the grace period an
//! empty answer skips (`PAM_IGNORE`).

use std::sync::Arc;

use zeroize::Zeroizing;

use mfa_core::policy::Policy;
use mfa_core::record::DEFAULT_APP_LABEL;
use mfa_proto::{Outcome, Secret};

use super::notices::notify_others;
use super::words::{FACTORS_CHANGED, SAVE_CODES_PROMPT, SETUP_MISMATCH, SETUP_REQUIRED, time_left};
use super::{Attempt, Next, Notice, Phase, Question};
use crate::audit::{AuditKind, AuditOutcome};
use crate::decisions::{Activation, Factor, PendingTotp};
use crate::username::UserName;

/// The offer of a new app, waiting for a code from it.
#[derive(Debug)]
pub(super) struct Offer {
    /// The account the app is for.
    account: UserName,
    pending: Arc<PendingTotp>,
    /// The QR code, URI and key, shown with the first prompt only.
    offer: Zeroizing<String>,
    prompt: String,
    /// The end of the grace period, while it runs: an empty answer skips.
    grace_until: Option<u64>,
    round: u32,
    /// Why the last answer failed, for the audit event if none passes.
    failure: &'static str,
}

/// The recovery codes of the enrollment, shown once, waiting for Enter.
#[derive(Debug)]
pub(super) struct SaveCodes;

/// Begins enrolling an app for `account`, the attempt's user: the offer and the first prompt.
pub(super) async fn offer(attempt: Box<Attempt>, account: UserName, policy: &Policy) -> Next {
    let shared = attempt.shared.clone();
    let now = attempt.now();
    let user = attempt.user.clone();
    let grace_until = if policy.grace_period > 0 {
        match shared
            .blocking(attempt.caller.class(), move |a| a.first_seen(&user, now))
            .await
        {
            Ok(seen) => Some(policy.grace_until(seen)).filter(|until| now < *until),
            Err(e) => {
                tracing::error!("cannot keep when {} was first seen: {e}", attempt.user);
                let outcome = attempt.store_failed(e.is_unavailable());
                return Next::done(Vec::new(), outcome);
            }
        }
    } else {
        None
    };
    let user = attempt.user.clone();
    let begun = shared
        .blocking(attempt.caller.class(), move |a| {
            a.begin_totp(&user, DEFAULT_APP_LABEL)
        })
        .await;
    let (pending, uri) = match begun {
        Ok(begun) => begun,
        Err(e) => {
            tracing::error!("cannot begin enrolling {}: {e}", attempt.user);
            let outcome = attempt.store_failed(e.is_unavailable());
            return Next::done(Vec::new(), outcome);
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
    let offer = Offer {
        account,
        pending: Arc::new(pending),
        offer,
        prompt,
        grace_until,
        round: 0,
        failure: "no_code",
    };
    offer.next_round(attempt, Vec::new())
}

impl Offer {
    /// The prompt again (with the offer the first time), or the end once `max_tries`
    /// answers did not pass.
    fn next_round(mut self, attempt: Box<Attempt>, notices: Vec<Notice>) -> Next {
        if self.round >= attempt.shared.decisions.config().max_tries {
            attempt.audit_enrollment(
                AuditKind::MfaSetupFailed,
                AuditOutcome::Failure,
                Some(self.failure),
                None,
            );
            return Next::done(notices, Outcome::Failure);
        }
        let text = if self.round == 0 {
            Zeroizing::new(format!("{}{}", self.offer.as_str(), self.prompt))
        } else {
            Zeroizing::new(self.prompt.clone())
        };
        self.round += 1;
        Next::Ask(Box::new(Question {
            notices,
            prompt: text,
            echo: false,
            phase: Phase::Enrollment(self),
            attempt,
        }))
    }

    /// Empty skips (in the grace period) or asks again; a code from the new app activates
    /// it, and the recovery codes are shown.
    pub(super) async fn answer(mut self, attempt: Box<Attempt>, answer: Secret) -> Next {
        let typed = answer.expose().trim();
        if typed.is_empty() {
            if let Some(until) = self.grace_until {
                attempt.audit_enrollment(
                    AuditKind::MfaSetupSkipped,
                    AuditOutcome::Ignore,
                    None,
                    Some(until),
                );
                return Next::done(Vec::new(), Outcome::Ignore);
            }
            self.failure = "no_code";
            return self.next_round(attempt, vec![Notice::Error(SETUP_REQUIRED.to_owned())]);
        }
        let now = attempt.now();
        let decisions = &attempt.shared.decisions;
        let Some(step) = decisions.pending_code_step(&self.pending, typed, now) else {
            self.failure = "invalid_code";
            return self.next_round(attempt, vec![Notice::Error(SETUP_MISMATCH.to_owned())]);
        };
        let user = attempt.user.clone();
        let activating = self.pending.clone();
        let activated = attempt
            .shared
            .blocking_hashing(attempt.caller, move |a| {
                a.activate_totp(&user, &activating, step, now)
            })
            .await;
        match activated {
            Ok(Activation::Done(codes)) => enrolled(attempt, &self.account, &codes),
            Ok(Activation::Conflict) => {
                attempt.audit_enrollment(
                    AuditKind::MfaSetupFailed,
                    AuditOutcome::Failure,
                    Some("factors_changed"),
                    None,
                );
                Next::done(
                    vec![Notice::Error(FACTORS_CHANGED.to_owned())],
                    Outcome::Failure,
                )
            }
            Err(e) => {
                tracing::error!("cannot enroll {}: {e}", attempt.user);
                let outcome = attempt.store_failed(e.is_unavailable());
                Next::done(Vec::new(), outcome)
            }
        }
    }
}

/// The app is active: its enrollment is audited and told to the user's other contacts,
/// and the recovery codes, if new ones were made, are shown in a last prompt.
fn enrolled(attempt: Box<Attempt>, account: &UserName, codes: &[Zeroizing<String>]) -> Next {
    attempt.audit_enrollment(AuditKind::MfaSetupSucceeded, AuditOutcome::Ok, None, None);
    notify_others(
        &attempt.shared,
        attempt.caller.class(),
        account,
        "An authenticator app was enrolled",
        None,
    );
    if codes.is_empty() {
        return SaveCodes.answer(attempt);
    }
    // The codes are the text of a last prompt, never a bare message at the end: sshd shows
    // a message with no prompt after it twice (at the end of keyboard-interactive and again
    // among the login messages), and waiting for Enter makes sure the person has seen them
    // before the session starts. What is typed is not looked at.
    let mut text = Zeroizing::new(String::from(
        "Recovery codes: each works once if you lose the app. They are shown only now; keep them somewhere safe.",
    ));
    for code in codes {
        text.push_str("\n  ");
        text.push_str(code);
    }
    text.push('\n');
    text.push_str(SAVE_CODES_PROMPT);
    Next::Ask(Box::new(Question {
        notices: Vec::new(),
        prompt: text,
        echo: true,
        phase: Phase::SaveCodes(SaveCodes),
        attempt,
    }))
}

impl SaveCodes {
    /// The codes were seen: the login passes with the new app.
    pub(super) fn answer(self, attempt: Box<Attempt>) -> Next {
        attempt.audit(AuditOutcome::Success, Some(Factor::Totp.name()), None, None);
        attempt.note_success(Factor::Totp.name());
        Next::done(Vec::new(), Outcome::Success)
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
