//! Length-prefixed JSON frames.
//!
//! The codec is split into [`encode`], [`decode_header`] and [`decode_body`] so that the
//! blocking client and the async daemon share one implementation; [`read_frame`] and
//! [`write_frame`] wrap it for blocking I/O.

use std::fmt;
use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

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
    Malformed(serde_json::Error),
    /// The peer speaks another protocol version.
    Version {
        /// Version the peer sent.
        got: u16,
    },
    /// Connecting failed: the socket's listen queue stayed full for the whole timeout.
    Busy,
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
            FrameError::Busy => write!(
                f,
                "the socket's listen queue stayed full until the timeout (too many clients at \
                 once, or the daemon is stuck)"
            ),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Malformed(e) => Some(e),
            FrameError::Io(e) => Some(e),
            FrameError::TooLarge { .. }
            | FrameError::Empty
            | FrameError::Truncated
            | FrameError::Closed
            | FrameError::Timeout
            | FrameError::Version { .. }
            | FrameError::Busy => None,
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => FrameError::Timeout,
            io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        }
    }
}

/// Serializes `msg` in an [`Envelope`] and prefixes its length. The frame may hold a code,
/// so it is wiped when dropped.
pub fn encode<T: Serialize>(msg: &T) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    let envelope = Envelope::new(msg);
    // Measured first so that the buffer is allocated once at its final size: growing it
    // would leave an unwiped copy of the old contents behind.
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, &envelope).map_err(FrameError::Malformed)?;
    let len = counter.0;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len });
    }
    let header = u32::try_from(len).map_err(|_| FrameError::TooLarge { len })?;
    let mut frame = Zeroizing::new(Vec::with_capacity(HEADER_LEN + len));
    frame.extend_from_slice(&header.to_be_bytes());
    serde_json::to_writer(&mut *frame, &envelope).map_err(FrameError::Malformed)?;
    debug_assert_eq!(frame.len(), HEADER_LEN + len);
    Ok(frame)
}

/// Counts the bytes written to it and keeps none.
struct ByteCounter(usize);

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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
    let version: VersionOnly = serde_json::from_slice(body).map_err(FrameError::Malformed)?;
    if version.v != PROTOCOL_VERSION {
        return Err(FrameError::Version { got: version.v });
    }
    let envelope: Envelope<T> = serde_json::from_slice(body).map_err(FrameError::Malformed)?;
    Ok(envelope.msg)
}

/// Writes one frame. On a socket in a process that may not ignore SIGPIPE, use
/// [`crate::Client`] instead: it sends with `MSG_NOSIGNAL`.
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
    let mut body = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut body)?;
    decode_body(&body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{AuthRequest, Request, Response, Step};
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
        let back: Request = read_frame(&mut Cursor::new(&bytes[..])).unwrap();
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
            text: "x".repeat(MAX_FRAME_LEN).into(),
        };
        assert!(matches!(encode(&req), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn truncated_header_and_body() {
        let err = read_frame::<_, Request>(&mut Cursor::new(vec![0, 0])).unwrap_err();
        assert!(matches!(err, FrameError::Truncated), "{err}");
        let mut bytes = encode(&auth()).unwrap().to_vec();
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
            r#"{"v":1,"msg":{"answer":{"text":"1","extra":true}}}"#,
            r#"{"v":1,"msg":{"no_such_request":{}}}"#,
            r#"{"v":1,"msg":{"answer":{"text":"1"}},"more":1}"#,
            r#"{"v":1}"#,
        ] {
            let err = read_frame::<_, Request>(&mut Cursor::new(raw(body))).unwrap_err();
            assert!(matches!(err, FrameError::Malformed(_)), "{body}: {err}");
        }
    }

    #[test]
    fn wrapped_errors_are_the_source() {
        use std::error::Error as _;
        let err = read_frame::<_, Request>(&mut Cursor::new(raw("not json"))).unwrap_err();
        let source = err.source().expect("the JSON error");
        assert!(err.to_string().ends_with(&source.to_string()), "{err}");
        let err = FrameError::from(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(
            err.source().map(ToString::to_string),
            Some(io::Error::from(io::ErrorKind::PermissionDenied).to_string())
        );
        assert!(FrameError::Busy.source().is_none());
    }

    #[test]
    fn other_version_is_named() {
        let body = r#"{"v":2,"msg":{"answer":{"text":"1"}}}"#;
        let err = read_frame::<_, Request>(&mut Cursor::new(raw(body))).unwrap_err();
        assert!(matches!(err, FrameError::Version { got: 2 }));
        assert!(err.to_string().contains("version 2"));
    }

    #[test]
    fn steps_and_responses_round_trip() {
        let step = Step::Prompt {
            text: "Verification code: ".into(),
            echo: false,
        };
        let back: Step = read_frame(&mut Cursor::new(&encode(&step).unwrap()[..])).unwrap();
        assert_eq!(back, step);
        let response = Response::Ok {
            message: "done".into(),
        };
        let back: Response = read_frame(&mut Cursor::new(&encode(&response).unwrap()[..])).unwrap();
        assert_eq!(back, response);
    }

    #[test]
    fn a_refusal_reads_as_either_kind() {
        let refusal = Response::Failed {
            kind: crate::FailureKind::BadRequest,
            message: "no".into(),
        };
        let bytes = encode(&refusal).unwrap();
        let as_step: Step = read_frame(&mut Cursor::new(&bytes[..])).unwrap();
        assert!(matches!(as_step, Step::Failed { .. }));
    }
}
