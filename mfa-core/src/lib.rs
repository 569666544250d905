//! The decisions of pam-mfa without I/O: no tokio, no files, no clock (time is a
//! parameter). The factors and their challenges, sent codes, contacts, attempt limits, send
//! limits and the user record. The daemon does the I/O around them.
#![forbid(unsafe_code)]
#![warn(clippy::too_many_lines)]

pub mod app_password;
pub mod contact;
pub mod device;
pub mod factor;
pub mod hotp;
pub mod label;
pub mod lockout;
pub mod passkey;
pub mod policy;
pub mod record;
pub mod send_book;
pub mod send_limits;

pub use factor::Factor;
