//! `mfa-web`: the pages users reach from their phone or browser to add a passkey and to
//! approve a sign-in, and the JSON API those pages call.
//!
//! It is a go-between and nothing more: it holds no secret and verifies nothing. Every API
//! call becomes one [`WebRequest`](mfa_proto::web::WebRequest) to the daemon on its web
//! socket, which holds the credentials and checks each WebAuthn ceremony; the browser's
//! JSON passes through untouched. What this process adds is what an internet-facing server
//! needs: TLS, strict headers, bounded bodies, timeouts, a connection cap, per-address rate
//! limits, and refusing malformed links before they reach the daemon.
#![forbid(unsafe_code)]
#![warn(clippy::too_many_lines)]

mod account;
mod api;
mod app;
mod assets;
mod cli;
mod client_addr;
mod config;
mod daemon;
mod error;
mod hardening;
mod link;
mod logging;
mod rate_limit;
mod server;
mod state;
mod tls;

pub use cli::main;

#[cfg(test)]
mod tests;
