//! Frames as they arrive from a socket.
//!
//! Checks that `read_frame` over raw bytes agrees with `decode_header` followed by
//! `decode_body`, that every body decoding as a `Request`, `Step` or `Response` re-encodes
//! with `encode` to a frame that decodes to an equal value, that a refusal reads the same
//! as a `Step` and as a `Response` (the module and `mfa-enroll` share its wire form), and
//! that a `Response`'s `Debug` does not depend on the secrets it carries (a new
//! authenticator secret, recovery codes, a bypass code).
#![no_main]

use std::fmt::Debug;
use std::mem::discriminant;

use libfuzzer_sys::fuzz_target;
use mfa_proto::{
    FrameError, HEADER_LEN, HotpEnrollment, MAX_FRAME_LEN, Request, Response, Secret, Step,
    TotpEnrollment,
    decode_body, decode_header, encode, read_frame,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bytes a re-encoded body may grow by: defaulted fields (`"rhost":null`, `"nullok":false`,
/// ...) are written out even when the peer left them out.
const DEFAULTED_FIELDS_SLACK: usize = 256;

fuzz_target!(|data: &[u8]| {
    read_frame_agrees_with_its_parts::<Request>(data);
    read_frame_agrees_with_its_parts::<Step>(data);
    read_frame_agrees_with_its_parts::<Response>(data);

    // Whatever the header says, the rest is also tried as a body, so that the fuzzer
    // explores the JSON without having to keep the length prefix right.
    let body = data.get(HEADER_LEN..).unwrap_or_default();
    round_trips::<Request>(body);
    let step = round_trips::<Step>(body);
    let response = round_trips::<Response>(body);
    if let Some(response) = &response {
        debug_hides_secrets(response);
    }
    refusal_reads_as_either_kind(step, response);
});

/// `read_frame` is `decode_header` on the first four bytes, then `decode_body` on exactly
/// the announced number of bytes after them.
fn read_frame_agrees_with_its_parts<T: DeserializeOwned + PartialEq + Debug>(data: &[u8]) {
    let mut reader = data;
    let got = read_frame::<_, T>(&mut reader);
    let expected = match data.first_chunk::<HEADER_LEN>() {
        None if data.is_empty() => Err(FrameError::Closed),
        None => Err(FrameError::Truncated),
        Some(header) => header_agrees_with_prefix(*header).and_then(|len| {
            match data.get(HEADER_LEN..HEADER_LEN + len) {
                Some(body) => decode_body::<T>(body),
                None => Err(FrameError::Truncated),
            }
        }),
    };
    match (&got, &expected) {
        (Ok(got), Ok(expected)) => assert_eq!(got, expected),
        (Err(got), Err(expected)) => {
            assert_eq!(
                discriminant(got),
                discriminant(expected),
                "{got} vs {expected}"
            );
            assert_eq!(got.to_string(), expected.to_string());
        }
        _ => panic!("read_frame gave {got:?}, its parts give {expected:?}"),
    }
}

/// `decode_header` accepts exactly the lengths 1..=MAX_FRAME_LEN and reports the one
/// announced.
fn header_agrees_with_prefix(header: [u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let announced = u32::from_be_bytes(header) as usize;
    let decoded = decode_header(header);
    match &decoded {
        Ok(len) => {
            assert_eq!(*len, announced);
            assert!((1..=MAX_FRAME_LEN).contains(len), "{len}");
        }
        Err(FrameError::Empty) => assert_eq!(announced, 0),
        Err(FrameError::TooLarge { len }) => {
            assert_eq!(*len, announced);
            assert!(*len > MAX_FRAME_LEN);
        }
        Err(other) => panic!("decode_header failed with {other:?}"),
    }
    decoded
}

/// A body that decodes re-encodes to a valid frame holding an equal value.
fn round_trips<T: Serialize + DeserializeOwned + PartialEq + Debug>(body: &[u8]) -> Option<T> {
    let value = match decode_body::<T>(body) {
        Ok(value) => value,
        Err(FrameError::Malformed(_)) => return None,
        Err(FrameError::Version { got }) => {
            assert_ne!(got, mfa_proto::PROTOCOL_VERSION);
            return None;
        }
        Err(other) => panic!("decode_body failed with {other:?}, not Malformed or Version"),
    };
    let frame = match encode(&value) {
        Ok(frame) => frame,
        Err(FrameError::TooLarge { len }) => {
            assert!(
                body.len() + DEFAULTED_FIELDS_SLACK > MAX_FRAME_LEN && len > MAX_FRAME_LEN,
                "a {}-byte body re-encodes to {len} bytes",
                body.len()
            );
            return Some(value);
        }
        Err(other) => panic!("cannot re-encode a decoded {value:?}: {other}"),
    };
    let header = frame
        .first_chunk::<HEADER_LEN>()
        .expect("a frame has a header");
    let len = decode_header(*header).expect("encode wrote a header that decode_header refuses");
    assert_eq!(len, frame.len() - HEADER_LEN);
    let again = decode_body::<T>(&frame[HEADER_LEN..]).expect("re-encoded body does not decode");
    assert_eq!(again, value);
    let mut reader = &frame[..];
    let read = read_frame::<_, T>(&mut reader).expect("re-encoded frame does not read back");
    assert_eq!(read, value);
    assert!(reader.is_empty(), "read_frame left {} bytes", reader.len());
    Some(value)
}

/// `Step::Failed` and `Response::Failed` are one wire form: a body is one exactly when it is
/// the other, with the same fields.
fn refusal_reads_as_either_kind(step: Option<Step>, response: Option<Response>) {
    let step_refusal = match step {
        Some(Step::Failed { kind, message }) => Some((kind, message)),
        _ => None,
    };
    let response_refusal = match response {
        Some(Response::Failed { kind, message }) => Some((kind, message)),
        _ => None,
    };
    assert_eq!(step_refusal, response_refusal);
}

/// A response's `Debug` is the same with every secret blanked out.
fn debug_hides_secrets(response: &Response) {
    let blank = || Secret::from("");
    let blanked = match response.clone() {
        Response::TotpEnrollment(enrollment) => Response::TotpEnrollment(TotpEnrollment {
            otpauth_uri: blank(),
            secret: blank(),
            ..enrollment
        }),
        Response::HotpEnrollment(enrollment) => Response::HotpEnrollment(HotpEnrollment {
            otpauth_uri: blank(),
            secret: blank(),
            ..enrollment
        }),
        Response::AppPassword {
            password: _,
            label,
            services,
            expires_at,
        } => Response::AppPassword {
            password: blank(),
            label,
            services,
            expires_at,
        },
        Response::RecoveryCodes { codes } => Response::RecoveryCodes {
            codes: codes.iter().map(|_| blank()).collect(),
        },
        Response::BypassCode {
            code: _,
            uses,
            expires_at,
        } => Response::BypassCode {
            code: blank(),
            uses,
            expires_at,
        },
        other @ (Response::Status(_)
        | Response::Users(_)
        | Response::CodeSent { .. }
        | Response::ContactAdded(_)
        | Response::PasskeyLink { .. }
        | Response::PasskeyEnrolled { .. }
        | Response::Imported { .. }
        | Response::Ok { .. }
        | Response::Failed { .. }) => other,
    };
    assert_eq!(format!("{response:?}"), format!("{blanked:?}"));
}
