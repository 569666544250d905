//! One conversation each: an authentication relayed by `pam_mfa.so`, a management request
//! from `mfa-enroll`, or an admin request from `mfactl`. The server hands each accepted
//! connection to [`serve`].

pub mod admin;
pub mod app_passwords;
pub mod authenticate;
pub mod common;
pub mod contacts;
pub mod hotp;
pub mod import;
pub mod manage;
pub mod passkeys;
pub mod radius;
pub mod web;

use std::sync::Arc;

use mfa_proto::{FrameError, Request};

use crate::app::Shared;
use crate::connection::{Connection, REQUEST_TIMEOUT};
use crate::error::DaemonError;
use crate::service::combined::WithoutCode;

/// Reads the first request of a connection and runs its conversation to the end.
pub async fn serve(shared: Arc<Shared>, mut conn: Connection) {
    let request = match conn.read(REQUEST_TIMEOUT).await {
        Ok(request) => request,
        Err(FrameError::Closed) => return,
        Err(e) => return refuse_frame(&shared, &mut conn, &e).await,
    };
    let result = match request {
        Request::Authenticate { auth } => {
            authenticate::authenticate(&shared, &mut conn, auth, None).await
        }
        Request::CodeInPassword { auth, field_end } => {
            let field = Some((field_end, WithoutCode::Wrong));
            authenticate::authenticate(&shared, &mut conn, auth, field).await
        }
        Request::AppPassword { auth, password } => {
            app_passwords::sign_in(&shared, &mut conn, auth, password).await
        }
        Request::Answer { .. }
        | Request::ConfirmTotp { .. }
        | Request::ConfirmContact { .. }
        | Request::ConfirmHotp { .. } => {
            conn.send(
                &DaemonError::BadRequest(
                    "this message only answers a prompt; start with a request".to_owned(),
                )
                .response(),
            )
            .await
        }
        admin @ (Request::ListUsers
        | Request::Unlock { .. }
        | Request::Exempt { .. }
        | Request::Bypass { .. }) => admin::handle(&shared, &mut conn, admin).await,
        import @ Request::Import { .. } => import::handle(&shared, &mut conn, import).await,
        resync @ Request::ResyncHotp { .. } => hotp::resync(&shared, &mut conn, resync).await,
        other => manage::handle(&shared, &mut conn, other).await,
    };
    if let Err(e) = result {
        match e {
            FrameError::Closed | FrameError::Truncated => {}
            e => refuse_frame(&shared, &mut conn, &e).await,
        }
    }
}

/// Tells the peer what was wrong with its frame (best effort) before the connection closes.
async fn refuse_frame(shared: &Shared, conn: &mut Connection, e: &FrameError) {
    let uid = conn.caller.uid;
    shared.log_throttled(
        &format!("frame:{uid}"),
        format_args!("closing connection from uid {uid}: {}", loggable(e)),
    );
    if !matches!(e, FrameError::Timeout | FrameError::Io(_)) {
        // The peer sent it, so the peer may see the parser's full explanation.
        let _ = conn
            .send(&DaemonError::BadRequest(e.to_string()).response())
            .await;
    }
}

/// A frame error as it may appear in the log: the JSON parser's message can quote what was
/// sent (`invalid type: integer 123456`), and what was sent may be a code.
fn loggable(e: &FrameError) -> String {
    match e {
        FrameError::Malformed(_) => "malformed message (details go to the client only)".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_that_quote_input_are_not_logged() {
        let body = br#"{"v":1,"msg":{"answer":{"text":987654}}}"#;
        let err = mfa_proto::decode_body::<Request>(body).unwrap_err();
        assert!(
            err.to_string().contains("987654"),
            "premise: serde quotes input: {err}"
        );
        assert!(!loggable(&err).contains("987654"));
        let too_large = FrameError::TooLarge { len: 70_000 };
        assert_eq!(loggable(&too_large), too_large.to_string());
    }
}
