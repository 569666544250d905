//! The wire protocol between `pam_mfa.so`, `mfa-enroll` and `mfa-daemon`.
//!
//! Every message is one frame: a 4-byte big-endian length followed by that many bytes of JSON,
//! at most [`MAX_FRAME_LEN`]. The JSON is an [`Envelope`] carrying the protocol version and
//! one [`Request`] (client to daemon), or one [`Step`] (daemon to the PAM module) or
//! [`Response`] (daemon to `mfa-enroll`). Enums are externally tagged (`{"answer":{...}}`),
//! which serde decodes without buffering.
//!
//! An authentication is one connection: the client sends [`Request::Authenticate`], the daemon
//! answers with steps ([`Step::Prompt`], [`Step::Info`], [`Step::Error`]) and the client
//! answers each prompt with [`Request::Answer`], until [`Step::Done`].
//!
//! Codes and secrets travel as [`Secret`], and every buffer that holds an encoded or received
//! frame is wiped when dropped.
#![forbid(unsafe_code)]

mod client;
mod frame;
mod import;
mod message;
pub mod radius;
mod secret;
pub mod web;
mod web_settings;

pub use client::{
    Client, DEFAULT_DAEMON_USER, DEFAULT_SOCKET, DEFAULT_TIMEOUT, ListenerError,
    check_listener_uid, privileged_socket,
};
pub use frame::{
    FrameError, HEADER_LEN, MAX_FRAME_LEN, decode_body, decode_header, encode, read_frame,
    write_frame,
};
pub use import::{ImportSource, ImportStatus, ImportedApp, ImportedToken};
pub use message::{
    AppPasswordStatus, AuthRequest, BypassStatus, Channel, ContactKind, ContactStatus, Envelope,
    FIELD_END_MAX, FailureKind, HotpEnrollment, HotpStatus, LastSuccessStatus, Lockout, NewContact,
    Outcome, PROTOCOL_VERSION, PasskeyStatus, Request, Response, StatusReport, Step,
    TotpEnrollment, TotpStatus, TrustedDeviceStatus,
};
pub use secret::Secret;
