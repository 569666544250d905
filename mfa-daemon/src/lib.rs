//! `mfa-daemon`: the local daemon of pam-mfa. It owns the secrets, decides every
//! authentication, enforces attempt and send limits, and writes the audit log.
//!
//! Dependencies point one way (docs/ARCHITECTURE.md): `server` (bind, accept, connection
//! budgets) hands each connection to `handlers` (the front ends on the socket), which drive
//! `service` (the verification service: one login conversation for every front end), which
//! uses `app` (the shared state) over `decisions` (what passes, on blocking threads), `store`,
//! `delivery` and `audit`, and `mfa_core` (the rules, without I/O or clock). Nothing imports
//! the server, and `config` imports nothing of `delivery` or `store`.
#![forbid(unsafe_code)]
#![warn(clippy::too_many_lines)]

pub mod accounts;
pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connection;
pub mod decisions;
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
pub mod web;
