//! The wire protocol between `pam_mfa.so`, `mfa-enroll` and `mfa-daemon`.
//!
//! Every message is one frame: a 4-byte big-endian length followed by that many bytes of JSON,
//! at most [`MAX_FRAME_LEN`]. The JSON is an [`Envelope`] carrying the protocol version and
//! one [`Request`] (client to daemon) or [`Response`] (daemon to client).
//!
//! An authentication is one connection: the client sends [`Request::Authenticate`], the daemon
//! answers with steps ([`Response::Prompt`], [`Response::Info`], [`Response::Error`]) and the
//! client answers each prompt with [`Request::Answer`], until [`Response::Done`].
#![forbid(unsafe_code)]

mod client;
mod frame;
mod message;

pub use client::{Client, DEFAULT_SOCKET, DEFAULT_TIMEOUT};
pub use frame::{
    FrameError, HEADER_LEN, MAX_FRAME_LEN, decode_body, decode_header, encode, read_frame,
    write_frame,
};
pub use message::{
    AuthRequest, Envelope, FailureKind, Lockout, Outcome, PROTOCOL_VERSION, Request, Response,
    StatusReport, TotpEnrollment, TotpStatus,
};
