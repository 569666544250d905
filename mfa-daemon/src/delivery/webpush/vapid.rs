//! The host's VAPID key (RFC 8292): read from its secret file, PKCS#8 or SEC1 PEM.

use std::fmt;
use std::path::Path;

use p256::SecretKey;
use p256::ecdsa::SigningKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::DecodePrivateKey;

use super::{B64, POINT_LEN, WebPushError};
use crate::secret_file::{self, SecretKind, Size};

/// A VAPID key file is PEM text, a few hundred bytes.
const VAPID_KEY_FILE: SecretKind = SecretKind {
    name: "the VAPID key",
    size: Size::Text(16 * 1024),
};

/// What is wrong with a VAPID key.
#[derive(Debug, thiserror::Error)]
pub enum KeyProblem {
    /// Neither PEM block is there.
    #[error(
        "no -----BEGIN PRIVATE KEY----- (PKCS#8) or -----BEGIN EC PRIVATE KEY----- (SEC1) \
         block: make one with `openssl ecparam -name prime256v1 -genkey -noout`"
    )]
    NotPem,
    /// A PKCS#8 block that is not a P-256 private key.
    #[error("not an EC P-256 private key in PKCS#8 form: {0}")]
    Pkcs8(#[source] p256::pkcs8::Error),
    /// A SEC1 block that is not a P-256 private key.
    #[error("not an EC P-256 private key in SEC1 form")]
    Sec1,
}

/// The host's VAPID key: signs the tokens push services check, and its public half is the
/// `applicationServerKey` browsers subscribe with.
pub struct VapidKey {
    pub(super) signing: SigningKey,
    pub(super) public: [u8; POINT_LEN],
}

impl fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public_key_base64url())
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// Reads the key from the secret file `path` (a relative name is looked up in
    /// `credentials_dir`, `$CREDENTIALS_DIRECTORY`), after the owner, mode and size checks
    /// every secret file gets.
    pub fn from_file(
        path: &Path,
        credentials_dir: Option<&Path>,
    ) -> Result<VapidKey, WebPushError> {
        let pem = secret_file::read(path, credentials_dir, VAPID_KEY_FILE)?;
        VapidKey::from_pem(&pem).map_err(|e| match e {
            WebPushError::Key(problem) => WebPushError::KeyInFile {
                path: secret_file::resolve(path, credentials_dir).unwrap_or_else(|_| path.into()),
                problem,
            },
            other => other,
        })
    }

    /// An EC P-256 private key in PEM, PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC
    /// PRIVATE KEY`, as `openssl ecparam -genkey` writes it, parameters block and all).
    pub fn from_pem(pem: &[u8]) -> Result<VapidKey, WebPushError> {
        let text = std::str::from_utf8(pem).map_err(|_| KeyProblem::NotPem)?;
        let secret = if let Some(block) = pem_block(text, "PRIVATE KEY") {
            SecretKey::from_pkcs8_pem(block).map_err(KeyProblem::Pkcs8)?
        } else if let Some(block) = pem_block(text, "EC PRIVATE KEY") {
            SecretKey::from_sec1_pem(block).map_err(|_| KeyProblem::Sec1)?
        } else {
            return Err(KeyProblem::NotPem.into());
        };
        Ok(VapidKey::from_secret(&secret))
    }

    fn from_secret(secret: &SecretKey) -> VapidKey {
        let mut public = [0; POINT_LEN];
        public.copy_from_slice(secret.public_key().to_encoded_point(false).as_bytes());
        VapidKey {
            signing: SigningKey::from(secret),
            public,
        }
    }

    /// The `applicationServerKey` for `pushManager.subscribe`, and the `k=` of every request:
    /// the uncompressed public point, base64url without padding.
    pub fn public_key_base64url(&self) -> String {
        B64.encode(&self.public)
    }
}

/// The one PEM block labelled `label` in `text`, if any: a SEC1 file from `openssl ecparam`
/// has an `EC PARAMETERS` block in front that the PEM decoder would refuse.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}
