//! `mfa-daemon`: the one authority of pam-mfa. It owns the secrets, decides every
//! authentication, enforces attempt limits and writes the audit log.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod app;
pub mod attempt_limiter;
pub mod audit;
pub mod auth;
pub mod authority;
pub mod cli;
pub mod config;
pub mod connection;
pub mod connection_limits;
pub mod delivery;
pub mod hashing;
pub mod limits;
pub mod log_throttle;
pub mod manage;
pub mod recovery;
pub mod server;
pub mod store;
pub mod totp;
pub mod username;
