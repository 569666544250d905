//! Logins from `mfa-radius` on the RADIUS socket: the PAM conversation (the same frames
//! `pam_mfa.so` relays, [`authenticate`](super::authenticate::authenticate)), for any user,
//! but only as a configured RADIUS client. The door trusts `mfa-radius` to say which client
//! asked (it checked the client's secret), never to name another service or source: a
//! login's service must be `radius:NAME` of a `[[radius.client]]` and its source that
//! client's, so policy rules, attempt limits and audit lines see RADIUS logins as such, and
//! nothing `mfa-radius` sends is taken for sshd's word (no `auth_info`, no terminal).

use std::sync::Arc;

use mfa_proto::radius::{client_of_service, source_is_of};
use mfa_proto::{AuthRequest, FrameError, Request};

use super::authenticate::authenticate;
use crate::app::Shared;
use crate::connection::{Connection, REQUEST_TIMEOUT};
use crate::error::DaemonError;
use crate::service::combined::WithoutCode;

/// Runs one RADIUS login to its end.
pub async fn serve(shared: Arc<Shared>, mut conn: Connection) {
    let (auth, field_end) = match conn.read(REQUEST_TIMEOUT).await {
        Ok(Request::Authenticate { auth }) => (auth, None),
        // mfa-radius can ask: a field with no code in it is the password alone, which it
        // checks before it sends the question as an Access-Challenge.
        Ok(Request::CodeInPassword { auth, field_end }) => {
            (auth, Some((field_end, WithoutCode::Ask)))
        }
        Ok(_) => {
            return refuse(
                &shared,
                &mut conn,
                "the RADIUS socket takes only a login (authenticate or code_in_password)"
                    .to_owned(),
            )
            .await;
        }
        Err(_) => return,
    };
    if let Some(problem) = problem(&shared, &auth) {
        return refuse(&shared, &mut conn, problem).await;
    }
    match authenticate(&shared, &mut conn, auth, field_end).await {
        Ok(()) | Err(FrameError::Closed | FrameError::Truncated) => {}
        Err(e) => tracing::debug!("RADIUS login ended early: {e}"),
    }
}

/// What is wrong with a login `mfa-radius` started, if anything.
fn problem(shared: &Shared, auth: &AuthRequest) -> Option<String> {
    let config = shared.decisions.config();
    let Some(radius) = &config.radius else {
        return Some("RADIUS is not configured here (no [radius] section)".to_owned());
    };
    let Some(client) = client_of_service(&auth.service).filter(|n| radius.client(n).is_some())
    else {
        return Some(format!(
            "service must be radius:NAME of a configured [[radius.client]], got {:?}",
            auth.service
        ));
    };
    if !auth
        .rhost
        .as_deref()
        .is_some_and(|r| source_is_of(r, client))
    {
        return Some(format!(
            "rhost must be the client's source, radius:{client}[:CALLER]"
        ));
    }
    if auth.auth_info.is_some() || auth.tty.is_some() || auth.ruser.is_some() || auth.nullok {
        return Some("a RADIUS login carries no auth_info, tty, ruser or nullok".to_owned());
    }
    None
}

async fn refuse(shared: &Shared, conn: &mut Connection, problem: String) {
    shared.log_throttled(
        "radius:refused",
        format_args!("refusing a request on the RADIUS socket: {problem}"),
    );
    let _ = conn
        .send(&DaemonError::BadRequest(problem).response())
        .await;
}
