//! `mfa-daemon`: the local daemon of pam-mfa. It owns the secrets, decides every
//! authentication, enforces attempt limits and writes the audit log.
#![forbid(unsafe_code)]
#![warn(clippy::too_many_lines)]

//!
//! Dependencies point one way: `server` (bind, accept, connection shares) calls `handlers`
//! (one conversation each), which use `app` (the shared state: authority, store, delivery,
//! audit) and `mfa_core` (the decisions, without I/O). Nothing imports the server.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod clock;
pub mod decisions;
pub mod cli;
pub mod config;
pub mod connection;
pub mod delivery;
pub mod error;
pub mod handlers;
pub mod hashing;
pub mod logging;
pub mod secret_file;
pub mod server;
pub mod service;
pub mod store;
pub mod username;
