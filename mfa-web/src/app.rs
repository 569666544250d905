//! The routes and what they share.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

pub(crate) use crate::state::AppState;
use crate::{account, api, assets, hardening};

/// Largest request body: a WebAuthn credential or assertion is a few kilobytes.
pub(crate) const MAX_BODY: usize = 16 * 1024;

/// Every route, behind the headers and limits of [`hardening`].
pub(crate) fn router(state: AppState) -> Router {
    let hsts = state.hsts;
    let api = Router::new()
        .route("/api/enroll/{token}", post(api::enrollment_open))
        .route("/api/enroll/{token}/finish", post(api::enrollment_finish))
        .route("/api/approve/{id}", post(api::approval_open))
        .route("/api/approve/{id}/number", post(api::approval_number))
        .route("/api/approve/{id}/finish", post(api::approval_finish))
        .route("/api/approve/{id}/deny", post(api::approval_deny))
        .route("/api/push/subscribe", post(api::push_subscribe))
        .route("/api/push/key", get(api::push_key))
        .route("/api/account/begin", post(account::begin))
        .route("/api/account/finish", post(account::finish))
        .route("/api/account/show", post(account::show))
        .route("/api/account/remove", post(account::remove))
        .route("/api/account/end", post(account::end))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            hardening::guard_api,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    Router::new()
        .route("/", get(assets::index))
        .route("/enroll/{token}", get(assets::enroll_page))
        .route("/approve/{id}", get(assets::approve_page))
        .route("/app.js", get(assets::app_js))
        .route("/app.css", get(assets::app_css))
        .route("/sw.js", get(assets::service_worker))
        .route("/manifest.webmanifest", get(assets::manifest))
        .route("/icon.svg", get(assets::icon))
        .merge(api)
        .fallback(assets::not_found)
        .with_state(state)
        .layer(middleware::from_fn_with_state(hsts, hardening::headers))
}
