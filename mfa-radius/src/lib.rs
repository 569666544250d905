//! `mfa-radius`: a RADIUS server (RFC 2865, 2869, 3579, 5080) for VPNs, firewalls and Wi-Fi
//! controllers. It parses untrusted UDP, so it runs as its own user, holds no user secret,
//! and relays each login to the daemon's verification service over `radius.sock`.
//!
//! The parts: [`packet`] (the wire format, pure); `clients` (who may ask, their secrets and
//! limits); `server` (the UDP loop: client, rate, authenticators, duplicates, then one task
//! per request); `login` (the daemon's conversation as RADIUS verdicts); `sessions` (open
//! challenges and their `State`); `duplicates` (RFC 5080 retransmissions); `pam` (the
//! password check of `password = "pam"`, the only unsafe code, behind `deny(unsafe_code)`).
#![deny(unsafe_code)]
#![warn(clippy::too_many_lines)]

pub mod packet;

mod cli;
mod clients;
mod config;
mod daemon;
mod duplicates;
mod limits;
mod logging;
mod login;
mod pam;
mod server;
mod sessions;
#[cfg(test)]
mod testing;

pub use cli::main;
