//! `[web]`: the pages `mfa-web` serves for passkeys and phone approval. `mfa-web` reads the
//! same section, so its shape and its rules live in `mfa_proto::web::WebSettings`; this file
//! only turns a refusal into the daemon's [`Invalid`].

use mfa_proto::web::WebSettings;

use super::Invalid;

/// Checks `[web]` when the file has one.
pub(super) fn validate(web: Option<&WebSettings>) -> Result<(), Invalid> {
    match web {
        Some(web) => web.validate().map_err(|e| Invalid::new(e.key, e.why)),
        None => Ok(()),
    }
}
