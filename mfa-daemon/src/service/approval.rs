//! The approval phase: the sign-in waits for the user to approve it on their phone with a
//! passkey, after matching the number shown here. The prompt still takes a code instead;
//! Enter checks whether the approval came. The web page and the daemon's web socket do the
//! rest (`crate::web`, `handlers::web`); this phase only opens the request, tells the
//! user's browsers, and reads how it ended.

use std::time::Duration;

use mfa_proto::{Outcome, Secret};
use tokio::sync::watch;

use super::menu::Verifying;
use super::words::{APPROVAL_DENIED, APPROVAL_EXPIRED, APPROVAL_UNAVAILABLE, approval_prompt};
use super::{Attempt, Next, Notice, Phase, notices};
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::clock::UnixTime;
use crate::config::ApprovalChannel;
use crate::connection::Presence;
use crate::decisions::Factor;
use crate::username::UserName;
use crate::web::approvals::{NewApproval, SignIn};
use crate::web::{ApprovalEnd, ApprovalRefused, PushLimits, Web};

/// How long Enter waits for the phone before asking again. Below the PAM module's shortest
/// wait for a daemon message, so the module never gives up on a daemon that is only waiting.
const ENTER_WAIT: Duration = Duration::from_secs(4);
/// Characters of a host, service or source name a text message shows.
const SHOWN_MAX: usize = 64;

/// A sign-in waiting for the phone.
#[derive(Debug)]
pub(super) struct Approving {
    login: Verifying,
    id: String,
    number: u8,
    expires: UnixTime,
    ended: watch::Receiver<Option<ApprovalEnd>>,
}

impl Verifying {
    /// Opens an approval request for this sign-in, tells the user's browsers, and asks.
    pub(super) async fn ask_approval(self, attempt: Box<Attempt>) -> Next {
        let (Some(web), Some(user)) = (attempt.shared.web.as_ref(), self.account().cloned()) else {
            return self.next_round(attempt, vec![Notice::Error(APPROVAL_UNAVAILABLE.into())]);
        };
        let sign_in = SignIn {
            user: user.clone(),
            host: web.options.host.clone(),
            service: attempt.auth.service.clone(),
            source: attempt
                .auth
                .rhost
                .clone()
                .unwrap_or_else(|| "local".to_owned()),
        };
        let now = attempt.shared.decisions.now();
        let policy = &attempt.shared.decisions.config().policy;
        let limits = PushLimits {
            life: web.options.approval_timeout,
            per_hour: policy.max_pushes_per_hour,
            cooldown: policy.push_cooldown,
        };
        let channels = policy.approval_channels.clone();
        let per_hour = u32::try_from(policy.max_pushes_per_hour).unwrap_or(u32::MAX);
        let new = match web.approvals.request(sign_in, now, limits) {
            Ok(new) => new,
            Err(refused) => {
                audit_request(
                    &attempt,
                    AuditOutcome::Refused,
                    Some(refusal_reason(&refused)),
                );
                let text = format!("{APPROVAL_UNAVAILABLE} ({refused})");
                return self.next_round(attempt, vec![Notice::Error(text)]);
            }
        };
        let link = web.page("approve", &new.id);
        let notice = if let Some(until) = new.quiet_until {
            audit_request(&attempt, AuditOutcome::Ok, Some("notifications_paused"));
            let until = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + Duration::from_secs(until.secs()),
            );
            format!(
                "Notifications are paused until {until} (a sign-in was reported as not yours); \
                 to approve, open {link}"
            )
        } else {
            audit_request(&attempt, AuditOutcome::Ok, None);
            if channels.contains(&ApprovalChannel::Push) {
                tell_browsers(&attempt, web, &link);
            }
            send_link(&attempt, &user, web, &link, &channels, per_hour);
            format!("An approval request went to your phone; you can also open {link}")
        };
        Approving::from(self, new).ask(attempt, vec![Notice::Info(notice)])
    }
}

fn refusal_reason(refused: &ApprovalRefused) -> &'static str {
    match refused {
        ApprovalRefused::TooMany => "too_many_approval_requests",
        ApprovalRefused::Unavailable => "approvals_unavailable",
    }
}

fn audit_request(attempt: &Attempt, outcome: AuditOutcome, reason: Option<&str>) {
    attempt.shared.audit.record(&AuditEvent {
        event: AuditKind::ApprovalRequested,
        user: &attempt.user,
        service: Some(&attempt.auth.service),
        rhost: attempt.auth.rhost.as_deref(),
        source: Some(&attempt.source),
        factor: Some(Factor::Passkey.name()),
        outcome,
        reason,
        ..AuditEvent::default()
    });
}

/// Sends the link to every browser that subscribed, in the background: the prompt does not
/// wait for push services. A browser its push service says is gone is forgotten.
fn tell_browsers(attempt: &Attempt, web: &Web, link: &str) {
    if web.push.is_none() {
        return;
    }
    let shared = attempt.shared.clone();
    let user = attempt.user.clone();
    let payload = serde_json::json!({
        "title": format!("Sign-in to {}", web.options.host),
        "body": format!("{} wants to sign in as {user} ({}). Tap to approve or deny.",
            attempt.auth.rhost.as_deref().unwrap_or("A local session"), attempt.auth.service),
        "url": link,
    })
    .to_string();
    let ttl = web.options.approval_timeout;
    tokio::spawn(async move {
        crate::web::push::tell(&shared, &user, payload.as_bytes(), ttl).await;
    });
}

/// Sends the link by text message and email to the user's verified contacts, as far as
/// `policy.approval_channels` names those channels, in the background. The text carries the
/// link, host, service and source only: never a code, and never the number, which must be
/// read from the sign-in screen (that is what number matching checks).
fn send_link(
    attempt: &Attempt,
    user: &UserName,
    web: &Web,
    link: &str,
    channels: &[ApprovalChannel],
    per_hour: u32,
) {
    let source = attempt
        .auth
        .rhost
        .as_deref()
        .map_or_else(|| "a local session".to_owned(), shown);
    let text = format!(
        "Sign-in to {} ({}) from {source}: approve or deny at {link}",
        shown(&web.options.host),
        shown(&attempt.auth.service),
    );
    notices::send_approval_link(
        &attempt.shared,
        attempt.caller.class(),
        user,
        text,
        channels,
        per_hour,
    );
}

/// `text` as a text message may show it: printable ASCII without spaces (the PAM client
/// sets the remote host and service, and a line break in them must not start a line that
/// reads as the daemon's own), and not longer than [`SHOWN_MAX`].
fn shown(text: &str) -> String {
    text.chars()
        .take(SHOWN_MAX)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

impl Approving {
    fn from(login: Verifying, new: NewApproval) -> Approving {
        Approving {
            login,
            id: new.id,
            number: new.number,
            expires: new.expires,
            ended: new.ended,
        }
    }

    /// The sign-in stopped waiting (no answer in time, or the client went away).
    pub(super) fn withdraw(&self, attempt: &Attempt) {
        if let Some(web) = &attempt.shared.web {
            web.approvals.withdraw(&self.id);
        }
    }

    fn ask(self, attempt: Box<Attempt>, notices: Vec<Notice>) -> Next {
        let prompt = approval_prompt(self.number);
        Next::ask(attempt, notices, prompt, Phase::Approval(self))
    }

    /// Enter: how the request ended, waiting a little for it; anything else is a code, and
    /// the request is withdrawn.
    pub(super) async fn answer(
        mut self,
        attempt: Box<Attempt>,
        answer: Secret,
        presence: Presence,
    ) -> Next {
        let web = attempt.shared.web.as_ref();
        if !answer.expose().trim().is_empty() {
            if let Some(web) = web {
                web.approvals.withdraw(&self.id);
            }
            return self.login.answer_code(attempt, answer, presence).await;
        }
        let left = self.expires.secs().saturating_sub(attempt.now());
        let wait = ENTER_WAIT.min(Duration::from_secs(left));
        let end = tokio::time::timeout(wait, self.ended.wait_for(Option::is_some))
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|end| end.clone());
        match end {
            Some(ApprovalEnd::Approved(_label)) => self.login.approved(attempt).await,
            Some(_) => {
                attempt.audit(AuditOutcome::Failure, Some("passkey"), Some("denied"), None);
                Next::done(
                    vec![Notice::Error(APPROVAL_DENIED.into())],
                    Outcome::Failure,
                )
            }
            None if attempt.now() >= self.expires.secs() => {
                if let Some(web) = web {
                    web.approvals.withdraw(&self.id);
                }
                self.login.count_try();
                self.login
                    .next_round(attempt, vec![Notice::Error(APPROVAL_EXPIRED.into())])
            }
            None => self.ask(attempt, Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_the_link_text_stay_one_short_word() {
        assert_eq!(shown("203.0.113.5"), "203.0.113.5");
        assert_eq!(
            shown("evil\nApproval needed at https://x"),
            "evil?Approval?needed?at?https://x"
        );
        assert_eq!(shown(&"h".repeat(300)).len(), SHOWN_MAX);
        assert_eq!(shown("höst"), "h?st");
    }
}
