//! Telling a user's browsers of a sign-in by Web Push.

use std::time::Duration;

use crate::app::Shared;
use crate::decisions::Subject;
use crate::delivery::webpush::{PushError, Subscription};
use crate::store::CallerClass;
use crate::username::UserName;

/// Sends `payload` to each browser `user` subscribed; a browser its push service says is
/// gone is forgotten. Failures are logged (rate-limited), never shown at the prompt.
pub async fn tell(shared: &std::sync::Arc<Shared>, user: &str, payload: &[u8], ttl: Duration) {
    let Some(push) = shared.web.as_ref().and_then(|w| w.push.as_ref()) else {
        return;
    };
    let Some(name) = UserName::of_stored(user.to_owned()) else {
        return;
    };
    let subject = Subject::Account(name.clone());
    let Ok(record) = shared
        .blocking(CallerClass::Root, move |d| Ok(d.record(&subject)?))
        .await
    else {
        return;
    };
    let now = shared.decisions.now();
    for target in record.push {
        let subscription = Subscription {
            endpoint: target.endpoint.clone(),
            p256dh: target.p256dh,
            auth: target.auth,
        };
        match push.send(&subscription, payload, ttl, now).await {
            Ok(()) => {}
            Err(PushError::Gone { .. }) => {
                let (name, endpoint) = (name.clone(), target.endpoint);
                let _ = shared
                    .blocking(CallerClass::Root, move |d| {
                        d.drop_push_target(&name, &endpoint)
                    })
                    .await;
            }
            Err(e) => shared.log_throttled(
                "web_push",
                format_args!("could not push a sign-in to a browser of {user}: {e}"),
            ),
        }
    }
}
