//! Length-prefixed JSON frames.
//!
//! The codec is split into [`encode`], [`decode_header`] and [`decode_body`] so that the
//! blocking client and the async daemon share one implementation; [`read_frame`] and
//! [`write_frame`] wrap it for blocking I/O.

use std::fmt;
use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::message::{Envelope, PROTOCOL_VERSION};

/// Largest frame body accepted or sent, in bytes.
pub const MAX_FRAME_LEN: usize = 64 * 1024;
/// Length of the big-endian `u32` length prefix.
pub const HEADER_LEN: usize = 4;

/// Why a frame could not be read or written. After any of these the connection is closed.
#[derive(Debug)]
pub enum FrameError {
    /// The peer announced or we tried to send a body larger than [`MAX_FRAME_LEN`].
    TooLarge {
        /// Announced length.
        len: usize,
    },
    /// A zero-length body.
    Empty,
    /// The connection ended in the middle of a frame.
    Truncated,
    /// The connection ended cleanly before a new frame.
    Closed,
    /// The peer did not answer within the timeout.
    Timeout,
    /// The body is not valid JSON for the expected message.
    Malformed(String),
    /// The peer speaks another protocol version.
    Version {
        /// Version the peer sent.
        got: u16,
    },
    /// Any other I/O error.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len } => {
                write!(
                    f,
                    "frame of {len} bytes exceeds the {MAX_FRAME_LEN}-byte limit"
                )
            }
            FrameError::Empty => write!(f, "empty frame"),
            FrameError::Truncated => write!(f, "connection closed in the middle of a frame"),
            FrameError::Closed => write!(f, "connection closed"),
            FrameError::Timeout => write!(f, "timed out waiting for the peer"),
            FrameError::Malformed(why) => write!(f, "malformed message: {why}"),
            FrameError::Version { got } => write!(
                f,
                "peer speaks protocol version {got}, this build speaks {PROTOCOL_VERSION}"
            ),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => FrameError::Timeout,
            io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        }
    }
}

/// Serializes `msg` in an [`Envelope`] and prefixes its length.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(&Envelope::new(msg))
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len: body.len() });
    }
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge { len: body.len() })?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads the body length from a header, refusing empty and oversized frames before any
/// body is read or allocated.
pub fn decode_header(header: [u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len == 0 {
        Err(FrameError::Empty)
    } else if len > MAX_FRAME_LEN {
        Err(FrameError::TooLarge { len })
    } else {
        Ok(len)
    }
}

/// Parses a frame body: an [`Envelope`] of this protocol version holding a `T`.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    // The version is checked first so that a newer peer gets "wrong version", not a
    // confusing complaint about a field it added.
    #[derive(serde::Deserialize)]
    struct VersionOnly {
        v: u16,
    }
    let version: VersionOnly =
        serde_json::from_slice(body).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if version.v != PROTOCOL_VERSION {
        return Err(FrameError::Version { got: version.v });
    }
    let envelope: Envelope<T> =
        serde_json::from_slice(body).map_err(|e| FrameError::Malformed(e.to_string()))?;
    Ok(envelope.msg)
}

/// Writes one frame.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    let bytes = encode(msg)?;
    w.write_all(&bytes)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame. A connection closed before the first header byte is [`FrameError::Closed`].
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<T, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match r.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = decode_header(header)?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    decode_body(&body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{AuthRequest, Request, Response};
    use std::io::Cursor;

    fn auth() -> Request {
        Request::Authenticate {
            auth: AuthRequest {
                user: "alice".into(),
                service: "sshd".into(),
                rhost: Some("127.0.0.1".into()),
                tty: None,
                ruser: None,
                auth_info: None,
                nullok: false,
            },
        }
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&auth()).unwrap();
        let back: Request = read_frame(&mut Cursor::new(bytes)).unwrap();
        assert_eq!(back, auth());
    }

    #[test]
    fn oversized_header_is_refused_before_reading_body() {
        let mut bytes = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let err = read_frame::<_, Request>(&mut Cursor::new(bytes)).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len } if len == MAX_FRAME_LEN + 1));
        assert!(err.to_string().contains("exceeds"));
    }

    #[test]
    fn oversized_message_is_not_sent() {
        let req = Request::Answer {
            text: "x".repeat(MAX_FRAME_LEN),
        };
        assert!(matches!(encode(&req), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn truncated_header_and_body() {
        let err = read_frame::<_, Request>(&mut Cursor::new(vec![0, 0])).unwrap_err();
        assert!(matches!(err, FrameError::Truncated), "{err}");
        let mut bytes = encode(&auth()).unwrap();
        bytes.truncate(bytes.len() - 3);
        let err = read_frame::<_, Request>(&mut Cursor::new(bytes)).unwrap_err();
        assert!(matches!(err, FrameError::Truncated), "{err}");
    }

    #[test]
    fn clean_close_and_empty_frame() {
        let err = read_frame::<_, Request>(&mut Cursor::new(Vec::new())).unwrap_err();
        assert!(matches!(err, FrameError::Closed));
        let err = read_frame::<_, Request>(&mut Cursor::new(vec![0, 0, 0, 0])).unwrap_err();
        assert!(matches!(err, FrameError::Empty));
    }

    fn raw(body: &str) -> Vec<u8> {
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }

    #[test]
    fn garbage_and_unknown_fields_are_malformed() {
        for body in [
            "not json at all",
            "\u{0}\u{1}\u{2}",
            r#"{"v":1,"msg":{"type":"answer","text":"1","extra":true}}"#,
            r#"{"v":1,"msg":{"type":"no_such_request"}}"#,
            r#"{"v":1,"msg":{"type":"answer","text":"1"},"more":1}"#,
            r#"{"v":1}"#,
        ] {
            let err = read_frame::<_, Request>(&mut Cursor::new(raw(body))).unwrap_err();
            assert!(matches!(err, FrameError::Malformed(_)), "{body}: {err}");
        }
    }

    #[test]
    fn other_version_is_named() {
        let body = r#"{"v":2,"msg":{"type":"answer","text":"1"}}"#;
        let err = read_frame::<_, Request>(&mut Cursor::new(raw(body))).unwrap_err();
        assert!(matches!(err, FrameError::Version { got: 2 }));
        assert!(err.to_string().contains("version 2"));
    }

    #[test]
    fn responses_round_trip() {
        let r = Response::Prompt {
            text: "Verification code: ".into(),
            echo: false,
        };
        let back: Response = read_frame(&mut Cursor::new(encode(&r).unwrap())).unwrap();
        assert_eq!(back, r);
    }
}
