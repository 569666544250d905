//! `[radius]`: the RADIUS front end `mfa-radius`. It reads the same section, so its shape and
//! its rules live in `mfa_proto::radius::RadiusSettings`; this file only turns a refusal into
//! the daemon's [`Invalid`], whose key is a fixed name: a client's name goes into the reason.

use mfa_proto::radius::RadiusSettings;

use super::Invalid;

/// The keys a refusal can name, as the daemon's errors spell them.
const KEYS: [&str; 9] = [
    "radius.listen",
    "radius.user",
    "radius.pam_service",
    "radius.client",
    "radius.client.name",
    "radius.client.address",
    "radius.client.secret_file",
    "radius.client.requests_per_second",
    "radius",
];

/// Checks `[radius]` when the file has one.
pub(super) fn validate(radius: Option<&RadiusSettings>) -> Result<(), Invalid> {
    let Some(radius) = radius else {
        return Ok(());
    };
    radius.check().map_err(|e| {
        // `radius.client "vpn1".address` -> key `radius.client.address`, client in the reason.
        let (general, client) = match e.key.split_once(" \"") {
            Some((head, rest)) => match rest.split_once("\".") {
                Some((name, field)) => (format!("{head}.{field}"), Some(name.to_owned())),
                None => (e.key.clone(), None),
            },
            None => (e.key.clone(), None),
        };
        let key = KEYS
            .iter()
            .find(|k| **k == general)
            .copied()
            .unwrap_or("radius");
        match client {
            Some(name) => Invalid::new(key, format!("client \"{name}\": {}", e.why)),
            None => Invalid::new(key, e.why),
        }
    })
}
