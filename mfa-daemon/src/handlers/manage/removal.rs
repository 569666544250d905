//! Removing factors from `mfa-enroll`: every factor at once (root: an admin reset), or one
//! authenticator app within `policy.min_factors`.

use std::sync::Arc;

use mfa_proto::{FailureKind, Response};

use super::{audit, audit_app, failed};
use crate::app::Shared;
use crate::audit::{AuditKind, AuditOutcome};
use crate::decisions::{Removal, below_minimum};
use crate::handlers::common::internal;
use crate::service::notices::{notify_others, notify_removed};
use crate::store::CallerClass;
use crate::username::UserName;

pub(super) async fn remove(shared: &Arc<Shared>, uid: u32, user: &UserName) -> Response {
    match shared
        .for_user(uid, user, |a, user| a.remove_factors(user))
        .await
    {
        Ok(Some(removed)) => {
            // Only root gets here (min_factors is at least 1): an admin reset.
            audit(
                shared,
                AuditKind::AdminReset,
                user,
                uid,
                AuditOutcome::Ok,
                None,
            );
            if let Some(web) = &shared.web {
                web.manage.end_all(user);
            }
            notify_removed(
                shared,
                user,
                "Every verification factor was removed",
                removed,
            );
            Response::Ok {
                message: format!("removed every factor of {user}"),
            }
        }
        Ok(None) => failed(
            FailureKind::NotEnrolled,
            format!("{user} has nothing enrolled"),
        ),
        Err(e) => internal(&e),
    }
}

/// Removes one authenticator app; a non-root caller only down to `policy.min_factors`.
pub(super) async fn remove_app(
    shared: &Arc<Shared>,
    uid: u32,
    user: &UserName,
    label: &str,
) -> Response {
    let wanted = label.to_owned();
    let min = shared.decisions.policy().min_factors;
    let min_factors = (uid != 0).then_some(min);
    match shared
        .for_user(uid, user, move |a, user| {
            a.remove_app(user, &wanted, min_factors)
        })
        .await
    {
        Ok(Removal::Removed(())) => {
            audit_app(
                shared,
                AuditKind::FactorRemoved,
                user,
                uid,
                AuditOutcome::Ok,
                None,
                Some(label),
            );
            let what = format!("The authenticator app `{label}` was removed");
            notify_others(shared, CallerClass::of(uid), user, &what, None);
            Response::Ok {
                message: format!("removed the authenticator app `{label}` of {user}"),
            }
        }
        Ok(Removal::NotFound) => failed(
            FailureKind::NotEnrolled,
            format!(
                "{user} has no authenticator app labelled `{label}`; `mfa-enroll status` lists them"
            ),
        ),
        Ok(Removal::BelowMinimum(have)) => below_minimum(min, have).response(),
        Err(e) => internal(&e),
    }
}
