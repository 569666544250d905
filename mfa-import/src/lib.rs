//! Readers for the files of the OTP systems sites move from: google-authenticator-libpam's
//! `~/.google_authenticator`, pam_oath's users file and RFC 6030 PSKC token batches.
//!
//! Everything here parses bytes the caller has already read: no file I/O and no clock, so the
//! caller (mfactl) decides about ownership, symlinks and time. Secrets come back in
//! [`Secret`], which zeroizes itself and never prints its value; errors say what is wrong and
//! where (a line number or an XML element), never the secret.
#![forbid(unsafe_code)]

mod error;
pub mod google_authenticator;
pub mod oath;
pub mod pskc;
mod secret;
mod text;

pub use error::{ImportError, Location, Problem};
pub use secret::{ScratchCode, Secret};
