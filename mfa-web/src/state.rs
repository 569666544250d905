//! What every handler shares: the state the router hands each request. Its own file, so
//! the routes (app.rs) and the handlers they name (api.rs, hardening.rs) depend on it
//! rather than on each other.

use std::sync::Arc;

use crate::daemon::Daemon;
use crate::rate_limit::RateLimiter;

/// What every handler may use.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    /// The daemon's web socket.
    pub(crate) daemon: Arc<Daemon>,
    /// Per-address buckets for the API.
    pub(crate) limiter: Arc<RateLimiter>,
    /// Take the client's address from the local proxy's `X-Forwarded-For`.
    pub(crate) forwarded_for: bool,
    /// `public_url`'s origin, the only one whose pages may POST.
    pub(crate) origin: Arc<str>,
    /// Send `Strict-Transport-Security`.
    pub(crate) hsts: bool,
}
