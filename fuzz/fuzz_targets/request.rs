//! Requests, built field by field and as raw JSON.
//!
//! The first input byte picks the mode. Even: the rest drives `arbitrary` to build a
//! `Request` of any variant with any strings and options; it must encode to the JSON that
//! serde writes for it and decode back equal. Odd: the byte also picks a variant tag and the
//! rest is that variant's JSON object, wrapped in an envelope; whatever `decode_body`
//! accepts must be that variant, carry exactly the fields the JSON gave (unknown fields are
//! refused), and round-trip. In both modes `Debug` must not depend on any secret.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mfa_proto::{
    AuthRequest, ContactKind, Envelope, FrameError, HEADER_LEN, ImportedApp, ImportedToken,
    MAX_FRAME_LEN, NewContact, Request, Secret, decode_body, encode, read_frame,
};
use serde_json::Value;

/// Every variant's tag on the wire.
const TAGS: [&str; 15] = [
    "authenticate",
    "answer",
    "enroll_totp",
    "confirm_totp",
    "new_recovery_codes",
    "remove_factors",
    "status",
    "unlock",
    "add_contact",
    "confirm_contact",
    "remove_contact",
    "forget_devices",
    "exempt",
    "remove_totp",
    "bypass",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(built) = BuiltRequest::arbitrary_take_rest(Unstructured::new(rest)) {
            built_request_round_trips(built);
        }
    } else {
        let tag = TAGS[usize::from(mode / 2) % TAGS.len()];
        raw_body_decodes_to_what_it_says(tag, rest);
    }
});

/// The fields of each `Request` variant, for `arbitrary` to fill in.
#[derive(Debug, Arbitrary)]
enum BuiltRequest {
    Authenticate {
        user: String,
        service: String,
        rhost: Option<String>,
        tty: Option<String>,
        ruser: Option<String>,
        auth_info: Option<String>,
        nullok: bool,
    },
    Answer {
        text: String,
    },
    EnrollTotp {
        user: String,
        proof: Option<String>,
        label: Option<String>,
    },
    RemoveTotp {
        user: String,
        label: String,
        proof: Option<String>,
    },
    Bypass {
        user: String,
        uses: u8,
        valid_secs: u64,
    },
    ConfirmTotp {
        code: String,
    },
    NewRecoveryCodes {
        user: String,
        proof: Option<String>,
    },
    RemoveFactors {
        user: String,
        proof: Option<String>,
    },
    Status {
        user: String,
    },
    Unlock {
        user: String,
        source: Option<String>,
    },
    ListUsers,
    Exempt {
        user: String,
        until: Option<u64>,
    },
    AddContact {
        user: String,
        phone: bool,
        to: String,
        voice_only: bool,
        label: Option<String>,
        proof: Option<String>,
        unverified: bool,
    },
    ConfirmContact {
        code: String,
    },
    ForgetDevices {
        user: String,
        proof: Option<String>,
    },
    RemoveContact {
        user: String,
        phone: bool,
        which: String,
        proof: Option<String>,
    },
}

impl BuiltRequest {
    /// The request, and the user it names (if the variant has one).
    fn into_request(self) -> (Request, Option<String>) {
        match self {
            BuiltRequest::Authenticate {
                user,
                service,
                rhost,
                tty,
                ruser,
                auth_info,
                nullok,
            } => (
                Request::Authenticate {
                    auth: AuthRequest {
                        user: user.clone(),
                        service,
                        rhost,
                        tty,
                        ruser,
                        auth_info,
                        nullok,
                    },
                },
                Some(user),
            ),
            BuiltRequest::Answer { text } => (Request::Answer { text: text.into() }, None),
            BuiltRequest::EnrollTotp { user, proof, label } => (
                Request::EnrollTotp {
                    user: user.clone(),
                    proof: proof.map(Secret::from),
                    label,
                },
                Some(user),
            ),
            BuiltRequest::RemoveTotp { user, label, proof } => (
                Request::RemoveTotp {
                    user: user.clone(),
                    label,
                    proof: proof.map(Secret::from),
                },
                Some(user),
            ),
            BuiltRequest::Bypass {
                user,
                uses,
                valid_secs,
            } => (
                Request::Bypass {
                    user: user.clone(),
                    uses,
                    valid_secs,
                },
                Some(user),
            ),
            BuiltRequest::ConfirmTotp { code } => {
                (Request::ConfirmTotp { code: code.into() }, None)
            }
            BuiltRequest::NewRecoveryCodes { user, proof } => (
                Request::NewRecoveryCodes {
                    user: user.clone(),
                    proof: proof.map(Secret::from),
                },
                Some(user),
            ),
            BuiltRequest::RemoveFactors { user, proof } => (
                Request::RemoveFactors {
                    user: user.clone(),
                    proof: proof.map(Secret::from),
                },
                Some(user),
            ),
            BuiltRequest::Status { user } => (Request::Status { user: user.clone() }, Some(user)),
            BuiltRequest::Unlock { user, source } => (
                Request::Unlock {
                    user: user.clone(),
                    source,
                },
                Some(user),
            ),
            BuiltRequest::ListUsers => (Request::ListUsers, None),
            BuiltRequest::Exempt { user, until } => (
                Request::Exempt {
                    user: user.clone(),
                    until,
                },
                Some(user),
            ),
            BuiltRequest::AddContact {
                user,
                phone,
                to,
                voice_only,
                label,
                proof,
                unverified,
            } => (
                Request::AddContact {
                    user: user.clone(),
                    contact: if phone {
                        NewContact::Phone {
                            number: to,
                            voice_only,
                            label,
                        }
                    } else {
                        NewContact::Email { address: to, label }
                    },
                    proof: proof.map(Secret::from),
                    unverified,
                },
                Some(user),
            ),
            BuiltRequest::ForgetDevices { user, proof } => (
                Request::ForgetDevices {
                    user: user.clone(),
                    proof: proof.map(Secret::from),
                },
                Some(user),
            ),
            BuiltRequest::ConfirmContact { code } => {
                (Request::ConfirmContact { code: code.into() }, None)
            }
            BuiltRequest::RemoveContact {
                user,
                phone,
                which,
                proof,
            } => (
                Request::RemoveContact {
                    user: user.clone(),
                    kind: if phone {
                        ContactKind::Phone
                    } else {
                        ContactKind::Email
                    },
                    which,
                    proof: proof.map(Secret::from),
                },
                Some(user),
            ),
        }
    }
}

fn built_request_round_trips(built: BuiltRequest) {
    let (request, user) = built.into_request();
    assert_eq!(request.user(), user.as_deref());
    debug_hides_secrets(&request);

    let json = serde_json::to_vec(&Envelope::new(&request)).expect("a request serializes");
    let frame = match encode(&request) {
        Ok(frame) => frame,
        Err(FrameError::TooLarge { len }) => {
            assert_eq!(len, json.len());
            assert!(len > MAX_FRAME_LEN);
            return;
        }
        Err(other) => panic!("encode failed: {other}"),
    };
    assert!(json.len() <= MAX_FRAME_LEN);
    assert_eq!(&frame[..HEADER_LEN], &(json.len() as u32).to_be_bytes());
    assert_eq!(&frame[HEADER_LEN..], &json[..]);
    let mut reader = &frame[..];
    let back: Request = read_frame(&mut reader).expect("an encoded request reads back");
    assert_eq!(back, request);
}

fn raw_body_decodes_to_what_it_says(tag: &str, inner: &[u8]) {
    let mut body = format!(r#"{{"v":1,"msg":{{"{tag}":"#).into_bytes();
    body.extend_from_slice(inner);
    body.extend_from_slice(b"}}");
    let request = match decode_body::<Request>(&body) {
        Ok(request) => request,
        Err(FrameError::Malformed(_)) => return,
        Err(other) => panic!("decode_body failed with {other:?}, not Malformed"),
    };
    debug_hides_secrets(&request);

    // The inner text alone is the variant's JSON: nothing in it reached outside its object.
    let given: Value = serde_json::from_slice(inner).expect("accepted inner JSON is not JSON");
    let written = serde_json::to_value(&request).expect("a request serializes");
    let Value::Object(written) = written else {
        panic!("request serialized as {written}");
    };
    assert_eq!(written.len(), 1);
    let fields = written
        .get(tag)
        .expect("decoded into another variant than its tag");
    assert_gives(&given, fields, variant_fields(tag));

    let frame = encode(&request).expect("a decoded request re-encodes");
    let back: Request = decode_body(&frame[HEADER_LEN..]).expect("re-encoded request decodes");
    assert_eq!(back, request);
}

/// Every field the peer gave is in what was decoded, with the same value; fields it left out
/// may have been defaulted. serde also accepts a struct as an array of its fields in
/// declaration order (`{"status":["alice"]}`); such an array is named by `fields` first.
fn assert_gives(given: &Value, decoded: &Value, fields: &[&str]) {
    match (given, decoded) {
        (Value::Array(values), Value::Object(_)) => {
            assert!(
                values.len() <= fields.len(),
                "{} values accepted for {} fields",
                values.len(),
                fields.len()
            );
            let named = fields
                .iter()
                .map(|f| (*f).to_owned())
                .zip(values.iter().cloned())
                .collect();
            assert_gives(&Value::Object(named), decoded, fields);
        }
        (Value::Object(given), Value::Object(decoded)) => {
            for (key, value) in given {
                let field = decoded
                    .get(key)
                    .unwrap_or_else(|| panic!("field `{key}` was accepted but is not in the type"));
                let inner: &[&str] = if key == "auth" { &AUTH_FIELDS } else { &[] };
                assert_gives(value, field, inner);
            }
        }
        _ => assert_eq!(given, decoded),
    }
}

/// The fields of a variant, in declaration order.
fn variant_fields(tag: &str) -> &'static [&'static str] {
    match tag {
        "authenticate" => &["auth"],
        "answer" => &["text"],
        "confirm_totp" => &["code"],
        "enroll_totp" => &["user", "proof", "label"],
        "remove_totp" => &["user", "label", "proof"],
        "bypass" => &["user", "uses", "valid_secs"],
        "exempt" => &["user", "until"],
        "new_recovery_codes" | "remove_factors" => &["user", "proof"],
        "status" => &["user"],
        "unlock" => &["user", "source"],
        "add_contact" => &["user", "contact", "proof", "unverified"],
        "confirm_contact" => &["code"],
        "remove_contact" => &["user", "kind", "which", "proof"],
        "forget_devices" => &["user", "proof"],
        other => panic!("no such tag {other}"),
    }
}

/// The fields of `AuthRequest`, in declaration order.
const AUTH_FIELDS: [&str; 7] = [
    "user",
    "service",
    "rhost",
    "tty",
    "ruser",
    "auth_info",
    "nullok",
];

/// A request's `Debug` is the same with every secret blanked out.
fn debug_hides_secrets(request: &Request) {
    let blank = || Secret::from("");
    let blanked = match request.clone() {
        Request::Answer { .. } => Request::Answer { text: blank() },
        Request::ConfirmTotp { .. } => Request::ConfirmTotp { code: blank() },
        Request::EnrollTotp { user, proof, label } => Request::EnrollTotp {
            user,
            proof: proof.map(|_| blank()),
            label,
        },
        Request::RemoveTotp { user, label, proof } => Request::RemoveTotp {
            user,
            label,
            proof: proof.map(|_| blank()),
        },
        Request::NewRecoveryCodes { user, proof } => Request::NewRecoveryCodes {
            user,
            proof: proof.map(|_| blank()),
        },
        Request::RemoveFactors { user, proof } => Request::RemoveFactors {
            user,
            proof: proof.map(|_| blank()),
        },
        Request::ConfirmContact { .. } => Request::ConfirmContact { code: blank() },
        Request::CodeInPassword { auth, .. } => Request::CodeInPassword {
            auth,
            field_end: blank(),
        },
        Request::AddContact {
            user,
            contact,
            proof,
            unverified,
        } => Request::AddContact {
            user,
            contact,
            proof: proof.map(|_| blank()),
            unverified,
        },
        Request::ForgetDevices { user, proof } => Request::ForgetDevices {
            user,
            proof: proof.map(|_| blank()),
        },
        Request::RemoveContact {
            user,
            kind,
            which,
            proof,
        } => Request::RemoveContact {
            user,
            kind,
            which,
            proof: proof.map(|_| blank()),
        },
        Request::EnrollPasskey { user, label, proof } => Request::EnrollPasskey {
            user,
            label,
            proof: proof.map(|_| blank()),
        },
        Request::RemovePasskey { user, label, proof } => Request::RemovePasskey {
            user,
            label,
            proof: proof.map(|_| blank()),
        },
        Request::EnrollHotp {
            user,
            label,
            digits,
            proof,
        } => Request::EnrollHotp {
            user,
            label,
            digits,
            proof: proof.map(|_| blank()),
        },
        Request::ConfirmHotp { .. } => Request::ConfirmHotp { code: blank() },
        Request::RemoveHotp { user, label, proof } => Request::RemoveHotp {
            user,
            label,
            proof: proof.map(|_| blank()),
        },
        Request::ResyncHotp { user, label, .. } => Request::ResyncHotp {
            user,
            label,
            first: blank(),
            second: blank(),
        },
        Request::AddAppPassword {
            user,
            label,
            services,
            expires_in,
            proof,
        } => Request::AddAppPassword {
            user,
            label,
            services,
            expires_in,
            proof: proof.map(|_| blank()),
        },
        Request::RemoveAppPassword { user, label, proof } => Request::RemoveAppPassword {
            user,
            label,
            proof: proof.map(|_| blank()),
        },
        Request::AppPassword { auth, .. } => Request::AppPassword {
            auth,
            password: blank(),
        },
        Request::Import {
            user,
            source,
            totp,
            hotp,
            recovery_codes,
            replace,
            dry_run,
        } => Request::Import {
            user,
            source,
            totp: totp
                .into_iter()
                .map(|app| ImportedApp {
                    secret: blank(),
                    ..app
                })
                .collect(),
            hotp: hotp
                .into_iter()
                .map(|token| ImportedToken {
                    secret: blank(),
                    ..token
                })
                .collect(),
            recovery_codes: recovery_codes.iter().map(|_| blank()).collect(),
            replace,
            dry_run,
        },
        other @ (Request::Authenticate { .. }
        | Request::Status { .. }
        | Request::Unlock { .. }
        | Request::Exempt { .. }
        | Request::Bypass { .. }
        | Request::ListUsers) => other,
    };
    assert_eq!(format!("{request:?}"), format!("{blanked:?}"));
}
